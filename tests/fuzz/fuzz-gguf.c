/* fuzz-gguf.c — the GGUF header, metadata and tensor table, on any bytes.
 *
 * Whatever as_gguf_open_bytes accepts must describe tensors that lie inside
 * the buffer, aligned, without overlap, with exactly the bytes their type and
 * dimensions need, and metadata whose strings are valid UTF-8; every
 * tensor of a type AttnScope reads is then de-quantised in full (ASan sees
 * any read outside the buffer), and every key is read back through the
 * typed getters, which must refuse the wrong type cleanly.
 */
#include "fuzz-common.h"

#include <math.h>
#include <string.h>

#include "as-dequant.h"
#include "as-error.h"
#include "as-gguf.h"

#define NAME "fuzz.gguf"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

static void
check_tensor (AsGguf             *gg,
              const AsGgufTensor *t,
              const uint8_t      *data,
              size_t              size)
{
  FUZZ_CHECK (t->name != NULL && t->name[0] != '\0');
  FUZZ_CHECK (strlen (t->name) <= AS_GGUF_MAX_NAME);
  FUZZ_CHECK (g_utf8_validate (t->name, -1, NULL));
  FUZZ_CHECK (as_gguf_lookup (gg, t->name) == t);
  FUZZ_CHECK (t->n_dims >= 1 && t->n_dims <= AS_GGUF_MAX_DIMS);

  guint64 count = 1;
  for (int d = 0; d < AS_GGUF_MAX_DIMS; d++)
    {
      FUZZ_CHECK (t->ne[d] >= 1);
      FUZZ_CHECK (d < t->n_dims || t->ne[d] == 1);
      FUZZ_CHECK (g_uint64_checked_mul (&count, count, (guint64) t->ne[d]));
    }
  FUZZ_CHECK (count == (guint64) t->n_elements);
  FUZZ_CHECK (t->n_rows * t->ne[0] == t->n_elements);

  guint block = 0, bytes = 0;
  FUZZ_CHECK (as_ggml_type_layout (t->type, &block, &bytes));
  FUZZ_CHECK (t->ne[0] % block == 0);
  FUZZ_CHECK ((guint64) t->n_elements / block * bytes == t->n_bytes);
  FUZZ_CHECK (t->offset % as_gguf_get_alignment (gg) == 0);
  FUZZ_CHECK (t->data >= data && t->n_bytes <= (guint64) (data + size - t->data));

  /* De-quantise in full where the type is read, and check a refusal names
   * the tensor where it is not. Huge tensors cannot be in a fuzz input:
   * n_bytes is inside it. */
  GError *error = NULL;
  float *f = as_dequant_tensor (gg, t, &error);
  if (as_dequant_supported (t->type))
    {
      FUZZ_CHECK (f != NULL && error == NULL);
      volatile float sink = 0.0f;
      for (gint64 i = 0; i < t->n_elements; i++)
        sink += isnan (f[i]) ? 0.0f : 1.0f;
      (void) sink;
      g_free (f);
    }
  else
    {
      FUZZ_CHECK (f == NULL);
      fuzz_check_error (error, NAME);
      FUZZ_CHECK (strstr (error->message, "which AttnScope does not read") != NULL);
      g_clear_error (&error);
    }
}

/* Sorted by offset, no tensor may reach into the next. */
static void
check_no_overlap (AsGguf *gg)
{
  guint n = as_gguf_get_n_tensors (gg);
  for (guint i = 0; i < n && i < 256; i++)
    for (guint j = i + 1; j < n && j < 256; j++)
      {
        const AsGgufTensor *a = as_gguf_get_tensor (gg, i), *b = as_gguf_get_tensor (gg, j);
        FUZZ_CHECK (a->offset + a->n_bytes <= b->offset || b->offset + b->n_bytes <= a->offset);
      }
}

/* Every key through the getter of its type, and one of another type. */
static void
check_key (AsGguf     *gg,
           const char *key)
{
  AsGgufValueType element;
  guint64 n_elements = 0;
  GError *error = NULL;
  FUZZ_CHECK (key != NULL && key[0] != '\0' && g_utf8_validate (key, -1, NULL));
  int type = as_gguf_find_key (gg, key, &element, &n_elements);
  FUZZ_CHECK (type >= 0 && type < AS_GGUF_N_VALUE_TYPES);
  if (type == AS_GGUF_STRING)
    {
      const char *s = as_gguf_get_string (gg, key, &error);
      FUZZ_CHECK (s != NULL && error == NULL && g_utf8_validate (s, -1, NULL));
    }
  else if (type == AS_GGUF_ARRAY && element == AS_GGUF_STRING)
    {
      gsize n = 0;
      const char *const *strings = as_gguf_get_strings (gg, key, &n, &error);
      FUZZ_CHECK (strings != NULL && error == NULL && n == n_elements && strings[n] == NULL);
      for (gsize i = 0; i < n; i++)
        FUZZ_CHECK (g_utf8_validate (strings[i], -1, NULL));
    }
  else if (type == AS_GGUF_ARRAY)
    {
      gsize n = 0;
      g_free (as_gguf_dup_i32_array (gg, key, &n, &error));
      g_clear_error (&error);
      g_free (as_gguf_dup_f32_array (gg, key, &n, &error));
      g_clear_error (&error);
    }
  else
    {
      guint64 count = 0;
      if (!as_gguf_get_count (gg, key, &count, &error))
        {
          fuzz_check_error (error, NAME);
          g_clear_error (&error);
        }
    }
  /* A string key read as a number, anything else as a string: refused. */
  guint32 u32 = 0;
  if (type == AS_GGUF_STRING)
    FUZZ_CHECK (!as_gguf_get_u32 (gg, key, &u32, &error));
  else
    FUZZ_CHECK (as_gguf_get_string (gg, key, &error) == NULL);
  fuzz_check_error (error, NAME);
  FUZZ_CHECK (strstr (error->message, key) != NULL);
  g_clear_error (&error);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  AsGguf *gg = as_gguf_open_bytes (size ? data : (const uint8_t *) "", size, NAME, &error);
  if (gg == NULL)
    {
      fuzz_check_error (error, NAME);
      FUZZ_CHECK (error->domain == AS_MODEL_ERROR);
      g_error_free (error);
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (size >= 24 && memcmp (data, "GGUF", 4) == 0);
  guint32 v = as_gguf_get_version (gg);
  FUZZ_CHECK (v == 2 || v == 3);
  guint a = as_gguf_get_alignment (gg);
  FUZZ_CHECK (a != 0 && (a & (a - 1)) == 0);

  for (guint i = 0; i < as_gguf_get_n_kv (gg); i++)
    check_key (gg, as_gguf_get_key (gg, i));
  for (guint i = 0; i < as_gguf_get_n_tensors (gg); i++)
    check_tensor (gg, as_gguf_get_tensor (gg, i), data, size);
  check_no_overlap (gg);

  FUZZ_CHECK (as_gguf_lookup (gg, "no such tensor \xff") == NULL);
  FUZZ_CHECK (as_gguf_find_key (gg, "no such key", NULL, NULL) == -1);
  as_gguf_free (gg);
  return 0;
}
