/* fuzz-safetensors.c — the safetensors header and offsets, on any bytes.
 *
 * Whatever as_safetensors_open_bytes accepts must describe tensors that lie
 * inside the buffer and match their shape and dtype exactly; every tensor is
 * then read back in full (ASan sees any read outside the buffer).
 */
#include "fuzz-common.h"

#include <math.h>
#include <string.h>

#include "as-error.h"
#include "as-safetensors.h"

#define NAME "fuzz.safetensors"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

static gsize
dtype_size (AsDtype dtype)
{
  return dtype == AS_DTYPE_F32 ? 4 : 2;
}

static void
check_tensor (AsSafetensors      *st,
              const AsTensorInfo *info,
              const uint8_t      *data,
              size_t              size,
              guint64             data_start)
{
  FUZZ_CHECK (info->name != NULL);
  FUZZ_CHECK (info->n_dims >= 0 && info->n_dims <= AS_SAFETENSORS_MAX_DIMS);
  FUZZ_CHECK (info->begin <= info->end);
  FUZZ_CHECK (data_start + info->end <= size);

  gint64 count = 1;
  for (int d = 0; d < info->n_dims; d++)
    {
      FUZZ_CHECK (info->shape[d] >= 0);
      count *= info->shape[d];
    }
  FUZZ_CHECK (count == info->n_elements);
  FUZZ_CHECK ((guint64) info->n_elements * dtype_size (info->dtype) == info->end - info->begin);
  FUZZ_CHECK (as_safetensors_lookup (st, info->name) == info);
  FUZZ_CHECK (as_safetensors_get_unconvertible_dtype (st, info->name) == NULL);

  const guint8 *bytes = as_safetensors_get_data (st, info);
  FUZZ_CHECK (bytes == data + data_start + info->begin);

  /* Through the public reader, with the tensor's own shape… */
  GError *error = NULL;
  float *copy = as_safetensors_read_f32 (st, info->name, info->n_dims, info->shape, &error);
  FUZZ_CHECK (copy != NULL && error == NULL);
  /* …and the conversion touches every element: a NaN here is fine, reading
   * past the tensor is not (ASan). */
  volatile float sink = 0.0f;
  for (gint64 i = 0; i < info->n_elements; i++)
    sink += isnan (copy[i]) ? 0.0f : 1.0f;
  (void) sink;
  g_free (copy);

  /* A wrong shape is refused with a message naming the file and tensor. */
  gint64 wrong[1] = { info->n_elements + 1 };
  copy = as_safetensors_read_f32 (st, info->name, 1, wrong, &error);
  FUZZ_CHECK (copy == NULL);
  fuzz_check_error (error, NAME);
  FUZZ_CHECK (strstr (error->message, info->name) != NULL);
  g_clear_error (&error);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  AsSafetensors *st = as_safetensors_open_bytes (size ? data : (const uint8_t *) "", size, NAME, &error);
  if (st == NULL)
    {
      fuzz_check_error (error, NAME);
      FUZZ_CHECK (error->domain == AS_MODEL_ERROR);
      g_error_free (error);
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (size >= 8);

  guint64 header_len;
  memcpy (&header_len, data, 8);
  header_len = GUINT64_FROM_LE (header_len);
  FUZZ_CHECK (header_len <= size - 8);

  guint n = as_safetensors_get_n_tensors (st);
  for (guint i = 0; i < n; i++)
    check_tensor (st, as_safetensors_get_nth (st, i), data, size, 8 + header_len);

  /* Lookups of absent names and metadata never fail hard. */
  FUZZ_CHECK (as_safetensors_lookup (st, "no such tensor \xff") == NULL);
  const char *format = as_safetensors_get_metadata (st, "format");
  FUZZ_CHECK (format == NULL || g_utf8_validate (format, -1, NULL));
  float *missing = as_safetensors_read_f32 (st, "no such tensor", 0, NULL, &error);
  FUZZ_CHECK (missing == NULL);
  fuzz_check_error (error, NAME);
  g_clear_error (&error);

  as_safetensors_free (st);
  return 0;
}
