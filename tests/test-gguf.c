/* test-gguf.c — the GGUF reader and de-quantisation against gguf-py.
 *
 * The reference is ggml's own Python package (gguf-py): the fixtures in
 * tests/data/gguf/ come from tools/make-gguf-fixtures.py, which
 * de-quantises seeded blocks of every type AttnScope reads and writes a tiny
 * file with gguf.GGUFWriter. De-quantisation must match bit for bit: the C
 * does the same f32 operations in the same order (see as-dequant.h), so
 * there is no tolerance to state.
 *
 * Then hostile files, assembled here byte by byte, one defect each, every
 * one refused with a message naming the file, the key or tensor and the
 * problem; the tiny file cut at every byte; and, when it is downloaded, the
 * real SmolLM2-135M-Instruct Q4_1 GGUF that tools/setup fetches.
 */
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "as-dequant.h"
#include "as-error.h"
#include "as-gguf.h"

#define BAD "bad.gguf"

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                 */

static char *
data_path (const char *name)
{
  const char *dir = g_getenv ("AS_TEST_DATA");
  g_assert_nonnull (dir);
  return g_build_filename (dir, "gguf", name, NULL);
}

static GBytes *
read_fixture (const char *name)
{
  g_autofree char *path = data_path (name);
  char *contents = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;
  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (contents, len);
}

/* Little-endian f32 fixture into host floats. */
static float *
read_floats (const char *name,
             gsize      *n)
{
  g_autoptr (GBytes) bytes = read_fixture (name);
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (bytes, &len);
  g_assert_cmpuint (len % 4, ==, 0);
  *n = len / 4;
  float *out = g_new (float, MAX (*n, 1));
  for (gsize i = 0; i < *n; i++)
    {
      guint32 bits = (guint32) p[4 * i] | (guint32) p[4 * i + 1] << 8 |
                     (guint32) p[4 * i + 2] << 16 | (guint32) p[4 * i + 3] << 24;
      memcpy (&out[i], &bits, 4);
    }
  return out;
}

/* Bit for bit: NaNs compare by their bits, and -0 is not 0. */
static void
assert_same_floats (const char  *what,
                    const float *got,
                    const float *want,
                    gsize        n)
{
  for (gsize i = 0; i < n; i++)
    {
      guint32 a, b;
      memcpy (&a, &got[i], 4);
      memcpy (&b, &want[i], 4);
      if (a != b)
        g_error ("%s: element %" G_GSIZE_FORMAT " is %.9g (0x%08x), gguf-py gives %.9g (0x%08x)",
                 what, i, got[i], a, want[i], b);
    }
}

/* ------------------------------------------------------------------------ */
/* De-quantisation, type by type                                            */

static const AsGgmlType fixture_types[] = {
  AS_GGML_F32, AS_GGML_F16, AS_GGML_BF16, AS_GGML_Q8_0, AS_GGML_Q4_0,
  AS_GGML_Q4_1, AS_GGML_Q4_K, AS_GGML_Q5_K, AS_GGML_Q6_K,
};

static void
test_dequant_type (gconstpointer data)
{
  AsGgmlType type = GPOINTER_TO_INT (data);
  const char *name = as_ggml_type_name (type);
  g_autofree char *blocks_name = g_strconcat (name, ".blocks", NULL);
  g_autofree char *floats_name = g_strconcat (name, ".f32", NULL);
  g_autoptr (GBytes) blocks = read_fixture (blocks_name);
  gsize n = 0;
  g_autofree float *want = read_floats (floats_name, &n);

  guint block = 0, bytes = 0;
  g_assert_true (as_ggml_type_layout (type, &block, &bytes));
  g_assert_true (as_dequant_supported (type));
  g_assert_cmpuint (n % block, ==, 0);
  g_assert_cmpuint (g_bytes_get_size (blocks), ==, n / block * bytes);

  g_autofree float *got = g_new (float, n);
  as_dequant_blocks (type, g_bytes_get_data (blocks, NULL), n, got);
  assert_same_floats (name, got, want, n);

  /* The same bytes one past an aligned address: nothing is read through a
   * cast pointer. */
  g_autofree guint8 *shifted = g_malloc (g_bytes_get_size (blocks) + 1);
  memcpy (shifted + 1, g_bytes_get_data (blocks, NULL), g_bytes_get_size (blocks));
  memset (got, 0, n * sizeof (float));
  as_dequant_blocks (type, shifted + 1, n, got);
  assert_same_floats (name, got, want, n);
}

/* ------------------------------------------------------------------------ */
/* The tiny file written by gguf.GGUFWriter                                 */

static AsGguf *
open_tiny (void)
{
  g_autofree char *path = data_path ("tiny.gguf");
  g_autoptr (GError) error = NULL;
  AsGguf *gg = as_gguf_open (path, &error);
  g_assert_no_error (error);
  return gg;
}

static void
test_tiny_metadata (void)
{
  AsGguf *gg = open_tiny ();
  g_autoptr (GError) error = NULL;
  g_assert_cmpuint (as_gguf_get_version (gg), ==, 3);
  g_assert_cmpuint (as_gguf_get_alignment (gg), ==, 64);
  g_assert_cmpuint (as_gguf_get_n_kv (gg), ==, 20);
  g_assert_cmpstr (as_gguf_get_key (gg, 0), ==, "general.architecture");
  g_assert_cmpstr (as_gguf_get_string (gg, "general.architecture", &error), ==, "llama");

  /* One of each of the 12 scalar types, then arrays. */
  guint64 u = 0;
  gint32 i32 = 0;
  guint32 u32 = 0;
  float f = 0;
  double d = 0;
  gboolean b = FALSE;
  AsGgufValueType element;
  guint64 n_elements = 0;
  g_assert_cmpint (as_gguf_find_key (gg, "test.uint8", NULL, NULL), ==, AS_GGUF_UINT8);
  g_assert_true (as_gguf_get_count (gg, "test.uint8", &u, &error));
  g_assert_cmpuint (u, ==, 200);
  g_assert_cmpint (as_gguf_find_key (gg, "test.int8", NULL, NULL), ==, AS_GGUF_INT8);
  g_assert_cmpint (as_gguf_find_key (gg, "test.uint16", NULL, NULL), ==, AS_GGUF_UINT16);
  g_assert_true (as_gguf_get_count (gg, "test.uint16", &u, &error));
  g_assert_cmpuint (u, ==, 60000);
  g_assert_cmpint (as_gguf_find_key (gg, "test.int16", NULL, NULL), ==, AS_GGUF_INT16);
  g_assert_true (as_gguf_get_u32 (gg, "test.uint32", &u32, &error));
  g_assert_cmpuint (u32, ==, 4000000000u);
  g_assert_true (as_gguf_get_i32 (gg, "test.int32", &i32, &error));
  g_assert_cmpint (i32, ==, -2000000000);
  g_assert_true (as_gguf_get_f32 (gg, "test.float32", &f, &error));
  g_assert_cmpfloat (f, ==, 0.15625f);
  g_assert_true (as_gguf_get_bool (gg, "test.bool", &b, &error));
  g_assert_true (b);
  g_assert_cmpstr (as_gguf_get_string (gg, "test.string", &error), ==, "h\xc3\xa9llo \xe2\x9c\x93");
  g_assert_true (as_gguf_get_u64 (gg, "test.uint64", &u, &error));
  g_assert_cmpuint (u, ==, (G_GUINT64_CONSTANT (1) << 40) + 3);
  g_assert_cmpint (as_gguf_find_key (gg, "test.int64", NULL, NULL), ==, AS_GGUF_INT64);
  g_assert_true (as_gguf_get_f64 (gg, "test.float64", &d, &error));
  g_assert_cmpfloat (d, ==, 2.718281828459045);
  g_assert_no_error (error);

  /* Negative integers are no counts, and the message says which key. */
  g_assert_false (as_gguf_get_count (gg, "test.int8", &u, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH);
  g_assert_nonnull (strstr (error->message, "key 'test.int8' is -100"));
  g_clear_error (&error);
  g_assert_false (as_gguf_get_count (gg, "test.int64", &u, &error));
  g_clear_error (&error);

  gsize n = 0;
  const char *const *strings = as_gguf_get_strings (gg, "test.strings", &n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 5);
  g_assert_cmpstr (strings[0], ==, "<s>");
  g_assert_cmpstr (strings[2], ==, "\xc3\xbc");
  g_assert_cmpstr (strings[4], ==, "\xc4\xa0the");
  g_assert_null (strings[5]);
  g_assert_cmpint (as_gguf_find_key (gg, "test.strings", &element, &n_elements), ==, AS_GGUF_ARRAY);
  g_assert_cmpint (element, ==, AS_GGUF_STRING);
  g_assert_cmpuint (n_elements, ==, 5);

  g_autofree gint32 *ints = as_gguf_dup_i32_array (gg, "test.int32s", &n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 4);
  g_assert_cmpint (ints[1], ==, -2);
  g_assert_cmpint (ints[3], ==, G_MAXINT32);
  g_autofree gint32 *bytes = as_gguf_dup_i32_array (gg, "test.uint8s", &n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpint (bytes[1], ==, 255);
  g_autofree float *floats = as_gguf_dup_f32_array (gg, "test.float32s", &n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpfloat (floats[1], ==, -1.25f);
  g_assert_cmpint (as_gguf_find_key (gg, "test.bools", &element, &n_elements), ==, AS_GGUF_ARRAY);
  g_assert_cmpint (element, ==, AS_GGUF_BOOL);

  /* Wrong types and missing keys name the key and both types. */
  g_assert_false (as_gguf_get_u32 (gg, "test.string", &u32, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH);
  g_assert_nonnull (strstr (error->message, "key 'test.string' holds STRING, expected UINT32"));
  g_clear_error (&error);
  g_assert_null (as_gguf_get_strings (gg, "test.int32s", &n, &error));
  g_assert_nonnull (strstr (error->message, "holds an ARRAY of INT32, expected an ARRAY of STRING"));
  g_clear_error (&error);
  g_assert_null (as_gguf_dup_i32_array (gg, "test.float32s", &n, &error));
  g_assert_nonnull (strstr (error->message, "expected an ARRAY of integers"));
  g_clear_error (&error);
  g_assert_null (as_gguf_get_string (gg, "no.such.key", &error));
  g_assert_nonnull (strstr (error->message, "key 'no.such.key' is missing"));
  g_clear_error (&error);
  g_assert_cmpint (as_gguf_find_key (gg, "no.such.key", NULL, NULL), ==, -1);
  as_gguf_free (gg);
}

/* The tiny file's tensors: name, type, ne[0], ne[1]. Their bytes are the
 * first blocks of TYPE.blocks, so their floats the first of TYPE.f32. */
static const struct {
  const char *name;
  AsGgmlType  type;
  gint64      ne0, ne1;
} tiny_tensors[] = {
  { "plain.f32", AS_GGML_F32, 5, 3 },
  { "plain.f16", AS_GGML_F16, 8, 2 },
  { "plain.bf16", AS_GGML_BF16, 3, 4 },
  { "block.q8_0", AS_GGML_Q8_0, 64, 2 },
  { "block.q4_0", AS_GGML_Q4_0, 32, 3 },
  { "block.q4_1", AS_GGML_Q4_1, 96, 1 },
  { "kquant.q4_k", AS_GGML_Q4_K, 256, 2 },
  { "kquant.q5_k", AS_GGML_Q5_K, 512, 1 },
  { "kquant.q6_k", AS_GGML_Q6_K, 256, 3 },
};

static void
test_tiny_tensors (void)
{
  AsGguf *gg = open_tiny ();
  g_autoptr (GError) error = NULL;
  g_assert_cmpuint (as_gguf_get_n_tensors (gg), ==, G_N_ELEMENTS (tiny_tensors) + 1);
  for (gsize i = 0; i < G_N_ELEMENTS (tiny_tensors); i++)
    {
      const AsGgufTensor *t = as_gguf_get_tensor (gg, (guint) i);
      g_assert_true (t == as_gguf_lookup (gg, tiny_tensors[i].name));
      g_assert_cmpstr (t->name, ==, tiny_tensors[i].name);
      g_assert_cmpint (t->type, ==, tiny_tensors[i].type);
      g_assert_cmpint (t->n_dims, ==, 2);
      g_assert_cmpint (t->ne[0], ==, tiny_tensors[i].ne0);
      g_assert_cmpint (t->ne[1], ==, tiny_tensors[i].ne1);
      g_assert_cmpint (t->ne[2], ==, 1);
      g_assert_cmpint (t->n_rows, ==, tiny_tensors[i].ne1);
      g_assert_cmpuint (t->offset % 64, ==, 0);

      g_autofree char *floats_name = g_strconcat (as_ggml_type_name (t->type), ".f32", NULL);
      gsize n = 0;
      g_autofree float *want = read_floats (floats_name, &n);
      g_assert_cmpuint (n, >=, (gsize) t->n_elements);
      g_autofree float *got = as_dequant_tensor (gg, t, &error);
      g_assert_no_error (error);
      assert_same_floats (t->name, got, want, (gsize) t->n_elements);

      /* The last row alone. */
      g_autofree float *row = g_new (float, t->ne[0]);
      g_assert_true (as_dequant_rows (gg, t, t->n_rows - 1, 1, row, &error));
      assert_same_floats (t->name, row, want + (t->n_rows - 1) * t->ne[0], (gsize) t->ne[0]);
      g_assert_false (as_dequant_rows (gg, t, t->n_rows, 1, row, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
      g_assert_nonnull (strstr (error->message, t->name));
      g_clear_error (&error);
    }

  /* A valid type AttnScope does not de-quantise: refused by name. */
  const AsGgufTensor *q2 = as_gguf_lookup (gg, "unsupported.q2_k");
  g_assert_nonnull (q2);
  g_assert_cmpint (q2->type, ==, AS_GGML_Q2_K);
  g_assert_null (as_dequant_tensor (gg, q2, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "tensor 'unsupported.q2_k' has type Q2_K, which AttnScope does not read"));
  g_assert_true (g_str_has_suffix (error->message, "Q6_K)"));
  g_assert_null (as_gguf_lookup (gg, "no.such.tensor"));
  as_gguf_free (gg);
}

/* Version 2 differs from 3 only in what v3 allows (big-endian files, which
 * are refused anyway): the same bytes with version 2 read the same. */
static void
test_tiny_version_2 (void)
{
  g_autoptr (GBytes) tiny = read_fixture ("tiny.gguf");
  gsize size = 0;
  g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (tiny, &size), g_bytes_get_size (tiny));
  copy[4] = 2;
  g_autoptr (GError) error = NULL;
  AsGguf *gg = as_gguf_open_bytes (copy, size, "v2.gguf", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (as_gguf_get_version (gg), ==, 2);
  g_assert_cmpuint (as_gguf_get_n_tensors (gg), ==, G_N_ELEMENTS (tiny_tensors) + 1);
  as_gguf_free (gg);
}

/* ------------------------------------------------------------------------ */
/* Refusals                                                                 */

/* Opens an exact-size heap copy (so ASan sees any overread) and checks the
 * refusal: domain, code, the file named first, valid UTF-8, each needle. */
static void
expect_refusal (const guint8       *data,
                gsize               size,
                AsModelError        code,
                const char *const  *needles)
{
  g_autofree guint8 *copy = g_memdup2 (data, size);
  g_autoptr (GError) error = NULL;
  AsGguf *gg = as_gguf_open_bytes (copy, size, BAD, &error);
  if (gg != NULL)
    {
      as_gguf_free (gg);
      g_error ("a file of %" G_GSIZE_FORMAT " bytes was opened, it should have been refused", size);
    }
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_true (error->domain == AS_MODEL_ERROR);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_true (g_str_has_prefix (error->message, BAD ": "));
  if (error->code != (gint) code)
    g_error ("code %d, expected %d: %s", error->code, code, error->message);
  for (int i = 0; needles[i] != NULL; i++)
    if (strstr (error->message, needles[i]) == NULL)
      g_error ("message lacks \"%s\": %s", needles[i], error->message);
}

/* --- a byte builder --- */

static void
put_u32 (GByteArray *b,
         guint32     v)
{
  guint8 le[4] = { (guint8) v, (guint8) (v >> 8), (guint8) (v >> 16), (guint8) (v >> 24) };
  g_byte_array_append (b, le, 4);
}

static void
put_u64 (GByteArray *b,
         guint64     v)
{
  put_u32 (b, (guint32) v);
  put_u32 (b, (guint32) (v >> 32));
}

static void
put_str_len (GByteArray *b,
             const char *s,
             gsize       len)
{
  put_u64 (b, len);
  g_byte_array_append (b, (const guint8 *) s, (guint) len);
}

static void
put_str (GByteArray *b,
         const char *s)
{
  put_str_len (b, s, strlen (s));
}

static GByteArray *
begin (guint32 version,
       guint64 n_tensors,
       guint64 n_kv)
{
  GByteArray *b = g_byte_array_new ();
  g_byte_array_append (b, (const guint8 *) "GGUF", 4);
  put_u32 (b, version);
  put_u64 (b, n_tensors);
  put_u64 (b, n_kv);
  return b;
}

static void
kv_u32 (GByteArray *b,
        const char *key,
        guint32     v)
{
  put_str (b, key);
  put_u32 (b, AS_GGUF_UINT32);
  put_u32 (b, v);
}

static void
kv_string (GByteArray *b,
           const char *key,
           const char *v)
{
  put_str (b, key);
  put_u32 (b, AS_GGUF_STRING);
  put_str (b, v);
}

static void
tensor_info (GByteArray   *b,
             const char   *name,
             guint32       n_dims,
             const guint64 *ne,
             guint32       type,
             guint64       offset)
{
  put_str (b, name);
  put_u32 (b, n_dims);
  for (guint32 d = 0; d < n_dims; d++)
    put_u64 (b, ne[d]);
  put_u32 (b, type);
  put_u64 (b, offset);
}

/* Zeros up to a multiple of ALIGN, then N data bytes. */
static void
pad_and_data (GByteArray *b,
              guint       align,
              gsize       n)
{
  while (b->len % align != 0)
    g_byte_array_append (b, (const guint8 *) "", 1);
  for (gsize i = 0; i < n; i++)
    {
      guint8 v = (guint8) i;
      g_byte_array_append (b, &v, 1);
    }
}

/* The valid base most cases start from: one key, one F32 tensor "w" of 4. */
static GByteArray *
valid_base (void)
{
  static const guint64 ne[] = { 4 };
  GByteArray *b = begin (3, 1, 1);
  kv_string (b, "general.architecture", "llama");
  tensor_info (b, "w", 1, ne, AS_GGML_F32, 0);
  pad_and_data (b, 32, 16);
  return b;
}

/* One key of TYPE whose value is BYTES (N of them), no tensors. */
static GByteArray *
one_kv (const char   *key,
        guint32       type,
        const void   *bytes,
        gsize         n)
{
  GByteArray *b = begin (3, 0, 1);
  put_str (b, key);
  put_u32 (b, type);
  g_byte_array_append (b, bytes, (guint) n);
  return b;
}

/* One key holding an array of ELEMENT with COUNT, then N bytes. */
static GByteArray *
one_array (guint32     element,
           guint64     count,
           const void *bytes,
           gsize       n)
{
  GByteArray *b = begin (3, 0, 1);
  put_str (b, "a");
  put_u32 (b, AS_GGUF_ARRAY);
  put_u32 (b, element);
  put_u64 (b, count);
  g_byte_array_append (b, bytes, (guint) n);
  return b;
}

/* One tensor "t" described by the arguments, DATA_LEN data bytes. */
static GByteArray *
one_tensor (guint32        n_dims,
            const guint64 *ne,
            guint32        type,
            guint64        offset,
            gsize          data_len)
{
  GByteArray *b = begin (3, 1, 0);
  tensor_info (b, "t", n_dims, ne, type, offset);
  pad_and_data (b, 32, data_len);
  return b;
}

typedef struct {
  const char  *path;
  GByteArray *(*build) (void);
  AsModelError code;
  const char  *needles[4];
} Case;

static GByteArray *c_empty (void) { return g_byte_array_new (); }
static GByteArray *
c_bad_magic (void)
{
  GByteArray *b = valid_base ();
  b->data[3] = 'G';
  return b;
}
static GByteArray *c_version_1 (void) { GByteArray *b = valid_base (); b->data[4] = 1; return b; }
static GByteArray *c_version_4 (void) { GByteArray *b = valid_base (); b->data[4] = 4; return b; }
static GByteArray *
c_big_endian (void)
{
  GByteArray *b = valid_base ();
  b->data[4] = 0;
  b->data[7] = 3;
  return b;
}
static GByteArray *c_huge_tensor_count (void) { return begin (3, G_GUINT64_CONSTANT (1) << 63, 0); }
static GByteArray *c_huge_kv_count (void) { return begin (3, 0, G_MAXUINT64); }
static GByteArray *c_count_beyond_file (void) { return begin (3, 1000, 1000); }
static GByteArray *
c_key_length_huge (void)
{
  GByteArray *b = begin (3, 0, 1);
  put_u64 (b, G_MAXUINT64);
  return b;
}
static GByteArray *
c_key_too_long (void)
{
  GByteArray *b = begin (3, 0, 1);
  g_autofree char *key = g_strnfill (70000, 'k');
  put_str (b, key);
  put_u32 (b, AS_GGUF_UINT8);
  put_u32 (b, 0);
  return b;
}
static GByteArray *c_key_empty (void) { return one_kv ("", AS_GGUF_UINT8, "\1", 1); }
static GByteArray *c_key_bad_utf8 (void) { return one_kv ("gen\xff" "eral", AS_GGUF_UINT8, "\1", 1); }
static GByteArray *
c_key_nul (void)
{
  GByteArray *b = begin (3, 0, 1);
  put_str_len (b, "a\0b", 3);
  put_u32 (b, AS_GGUF_UINT8);
  put_u32 (b, 0);
  return b;
}
static GByteArray *
c_key_twice (void)
{
  GByteArray *b = begin (3, 0, 2);
  kv_u32 (b, "llama.block_count", 1);
  kv_u32 (b, "llama.block_count", 2);
  return b;
}
static GByteArray *c_value_type_unknown (void) { return one_kv ("a", 13, "\0\0\0\0", 4); }
static GByteArray *c_bool_2 (void) { return one_kv ("flag", AS_GGUF_BOOL, "\2", 1); }
static GByteArray *c_value_truncated (void) { return one_kv ("big", AS_GGUF_UINT64, "\1\2\3", 3); }
static GByteArray *
c_string_value_past_end (void)
{
  static const guint8 len[8] = { 0xff, 0xff, 0, 0, 0, 0, 0, 0 };
  return one_kv ("general.name", AS_GGUF_STRING, len, 8);
}
static GByteArray *
c_string_value_bad_utf8 (void)
{
  static const guint8 v[] = { 3, 0, 0, 0, 0, 0, 0, 0, 'c', 0xc3, 0x28 };
  return one_kv ("general.name", AS_GGUF_STRING, v, sizeof v);
}
static GByteArray *
c_array_of_arrays (void)
{
  static const guint8 inner[] = { AS_GGUF_UINT8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7 };
  return one_array (AS_GGUF_ARRAY, 1, inner, sizeof inner);
}
/* 10,000 levels of arrays: refused at the first, without recursing. */
static GByteArray *
c_deep_arrays (void)
{
  GByteArray *b = begin (3, 0, 1);
  put_str (b, "deep");
  put_u32 (b, AS_GGUF_ARRAY);
  for (int i = 0; i < 10000; i++)
    {
      put_u32 (b, AS_GGUF_ARRAY);
      put_u64 (b, 1);
    }
  put_u32 (b, AS_GGUF_UINT8);
  put_u64 (b, 1);
  g_byte_array_append (b, (const guint8 *) "x", 1);
  return b;
}
static GByteArray *c_array_element_unknown (void) { return one_array (99, 1, "\0", 1); }
static GByteArray *c_array_count_huge (void) { return one_array (AS_GGUF_UINT32, G_GUINT64_CONSTANT (1) << 62, "\0\0\0\0", 4); }
static GByteArray *c_string_array_count_huge (void) { return one_array (AS_GGUF_STRING, G_MAXUINT64, "\0\0\0\0\0\0\0\0", 8); }
static GByteArray *
c_string_array_bad_utf8 (void)
{
  static const guint8 v[] = { 1, 0, 0, 0, 0, 0, 0, 0, 'a', 1, 0, 0, 0, 0, 0, 0, 0, 0x80 };
  return one_array (AS_GGUF_STRING, 2, v, sizeof v);
}
static GByteArray *c_bool_array_5 (void) { return one_array (AS_GGUF_BOOL, 2, "\1\5", 2); }
static GByteArray *
c_alignment (guint32 type, guint64 value)
{
  GByteArray *b = begin (3, 0, 1);
  put_str (b, "general.alignment");
  put_u32 (b, type);
  if (type == AS_GGUF_UINT64)
    put_u64 (b, value);
  else
    put_u32 (b, (guint32) value);
  return b;
}
static GByteArray *c_alignment_48 (void) { return c_alignment (AS_GGUF_UINT32, 48); }
static GByteArray *c_alignment_0 (void) { return c_alignment (AS_GGUF_UINT32, 0); }
static GByteArray *c_alignment_u64 (void) { return c_alignment (AS_GGUF_UINT64, 32); }
/* Alignment 2^31: the data section would start far past the end. */
static GByteArray *
c_alignment_huge (void)
{
  static const guint64 ne[] = { 4 };
  GByteArray *b = begin (3, 1, 1);
  kv_u32 (b, "general.alignment", 0x80000000u);
  tensor_info (b, "w", 1, ne, AS_GGML_F32, 0);
  pad_and_data (b, 32, 16);
  return b;
}
static const guint64 ne4[] = { 4, 1, 1, 1, 1 };
static GByteArray *c_zero_dims (void) { return one_tensor (0, ne4, AS_GGML_F32, 0, 16); }
static GByteArray *c_five_dims (void) { return one_tensor (5, ne4, AS_GGML_F32, 0, 16); }
static GByteArray *
c_dim_zero (void)
{
  static const guint64 ne[] = { 4, 0 };
  return one_tensor (2, ne, AS_GGML_F32, 0, 16);
}
static GByteArray *
c_dim_above_int64 (void)
{
  static const guint64 ne[] = { G_MAXUINT64 };
  return one_tensor (1, ne, AS_GGML_F32, 0, 16);
}
static GByteArray *
c_dims_overflow (void)
{
  static const guint64 ne[] = { G_GUINT64_CONSTANT (1) << 32, G_GUINT64_CONSTANT (1) << 32 };
  return one_tensor (2, ne, AS_GGML_F32, 0, 16);
}
static GByteArray *
c_bytes_overflow (void)
{
  static const guint64 ne[] = { G_GUINT64_CONSTANT (1) << 62 };
  return one_tensor (1, ne, AS_GGML_F32, 0, 16);
}
static GByteArray *c_type_retired (void) { return one_tensor (1, ne4, 4, 0, 16); }
static GByteArray *c_type_unknown (void) { return one_tensor (1, ne4, 1000, 0, 16); }
static GByteArray *
c_partial_block (void)
{
  static const guint64 ne[] = { 16, 2 };
  return one_tensor (2, ne, AS_GGML_Q8_0, 0, 68);
}
static GByteArray *c_offset_unaligned (void) { return one_tensor (1, ne4, AS_GGML_F32, 8, 32); }
static GByteArray *c_past_end (void) { return one_tensor (1, ne4, AS_GGML_F32, 0, 12); }
static GByteArray *c_offset_huge (void) { return one_tensor (1, ne4, AS_GGML_F32, G_GUINT64_CONSTANT (1) << 63, 16); }
/* The file ends with the header (57 bytes), before the padding to 64. */
static GByteArray *
c_no_data_section (void)
{
  GByteArray *b = begin (3, 1, 0);
  tensor_info (b, "t", 1, ne4, AS_GGML_F32, 0);
  return b;
}
static GByteArray *
two_tensors (guint64 second_offset)
{
  static const guint64 ne[] = { 16 };
  GByteArray *b = begin (3, 2, 0);
  tensor_info (b, "first", 1, ne, AS_GGML_F32, 0);
  tensor_info (b, "second", 1, ne, AS_GGML_F32, second_offset);
  pad_and_data (b, 32, 128);
  return b;
}
static GByteArray *c_overlap_same (void) { return two_tensors (0); }
static GByteArray *c_overlap_partial (void) { return two_tensors (32); }
static GByteArray *
c_name_twice (void)
{
  GByteArray *b = begin (3, 2, 0);
  tensor_info (b, "w", 1, ne4, AS_GGML_F32, 0);
  tensor_info (b, "w", 1, ne4, AS_GGML_F32, 32);
  pad_and_data (b, 32, 64);
  return b;
}
static GByteArray *
c_name_too_long (void)
{
  g_autofree char *name = g_strnfill (64, 'n');
  GByteArray *b = begin (3, 1, 0);
  tensor_info (b, name, 1, ne4, AS_GGML_F32, 0);
  pad_and_data (b, 32, 16);
  return b;
}
static GByteArray *
c_name_empty (void)
{
  GByteArray *b = begin (3, 1, 0);
  tensor_info (b, "", 1, ne4, AS_GGML_F32, 0);
  pad_and_data (b, 32, 16);
  return b;
}
static GByteArray *
c_name_bad_utf8 (void)
{
  GByteArray *b = begin (3, 1, 0);
  tensor_info (b, "blk.\xed\xa0\x80.w", 1, ne4, AS_GGML_F32, 0);  /* a UTF-8 surrogate */
  pad_and_data (b, 32, 16);
  return b;
}

static const Case cases[] = {
  { "/refuse/empty-file", c_empty, AS_MODEL_ERROR_FORMAT, { "the file is 0 bytes, too short" } },
  { "/refuse/bad-magic", c_bad_magic, AS_MODEL_ERROR_FORMAT, { "not a GGUF file", "47 47 55 47" } },
  { "/refuse/version-1", c_version_1, AS_MODEL_ERROR_UNSUPPORTED, { "GGUF version 1" } },
  { "/refuse/version-4", c_version_4, AS_MODEL_ERROR_UNSUPPORTED, { "GGUF version 4 is not supported" } },
  { "/refuse/big-endian", c_big_endian, AS_MODEL_ERROR_UNSUPPORTED, { "big-endian" } },
  { "/refuse/huge-tensor-count", c_huge_tensor_count, AS_MODEL_ERROR_RESOURCES,
    { "lists 9223372036854775808 tensors", "65536" } },
  { "/refuse/huge-kv-count", c_huge_kv_count, AS_MODEL_ERROR_RESOURCES,
    { "lists 18446744073709551615 key-value pairs" } },
  { "/refuse/counts-beyond-file", c_count_beyond_file, AS_MODEL_ERROR_FORMAT,
    { "key #0", "truncated", "inside the length of the key" } },
  { "/refuse/key-length-huge", c_key_length_huge, AS_MODEL_ERROR_FORMAT,
    { "key #0", "the key is 18446744073709551615 bytes long, past the end of the file" } },
  { "/refuse/key-too-long", c_key_too_long, AS_MODEL_ERROR_FORMAT,
    { "key #0", "the key is 70000 bytes long, more than the 65535 allowed" } },
  { "/refuse/key-empty", c_key_empty, AS_MODEL_ERROR_FORMAT, { "key #0: the key is empty" } },
  { "/refuse/key-bad-utf8", c_key_bad_utf8, AS_MODEL_ERROR_FORMAT,
    { "key #0: the key is not valid UTF-8", "at byte 35" } },
  { "/refuse/key-nul", c_key_nul, AS_MODEL_ERROR_FORMAT, { "key #0: the key holds a NUL byte" } },
  { "/refuse/key-twice", c_key_twice, AS_MODEL_ERROR_FORMAT,
    { "key 'llama.block_count': the key appears twice" } },
  { "/refuse/value-type-unknown", c_value_type_unknown, AS_MODEL_ERROR_FORMAT,
    { "key 'a': unknown value type 13" } },
  { "/refuse/bool-2", c_bool_2, AS_MODEL_ERROR_FORMAT, { "key 'flag'", "BOOL of value 2" } },
  { "/refuse/value-truncated", c_value_truncated, AS_MODEL_ERROR_FORMAT,
    { "key 'big': truncated", "inside the value", "8 bytes needed" } },
  { "/refuse/string-value-past-end", c_string_value_past_end, AS_MODEL_ERROR_FORMAT,
    { "key 'general.name'", "the value is 65535 bytes long, past the end of the file" } },
  { "/refuse/string-value-bad-utf8", c_string_value_bad_utf8, AS_MODEL_ERROR_FORMAT,
    { "key 'general.name': the value is not valid UTF-8" } },
  { "/refuse/array-of-arrays", c_array_of_arrays, AS_MODEL_ERROR_UNSUPPORTED,
    { "key 'a': an array of arrays, which AttnScope does not read" } },
  { "/refuse/deep-arrays", c_deep_arrays, AS_MODEL_ERROR_UNSUPPORTED, { "key 'deep': an array of arrays" } },
  { "/refuse/array-element-unknown", c_array_element_unknown, AS_MODEL_ERROR_FORMAT,
    { "key 'a': an array of unknown value type 99" } },
  { "/refuse/array-count-huge", c_array_count_huge, AS_MODEL_ERROR_FORMAT,
    { "key 'a': truncated: an array of 4611686018427387904 UINT32 values", "runs past the end" } },
  { "/refuse/string-array-count-huge", c_string_array_count_huge, AS_MODEL_ERROR_FORMAT,
    { "key 'a': truncated", "inside the length of string 1 of the array" } },
  { "/refuse/string-array-bad-utf8", c_string_array_bad_utf8, AS_MODEL_ERROR_FORMAT,
    { "key 'a': string 1 of the array is not valid UTF-8" } },
  { "/refuse/bool-array-5", c_bool_array_5, AS_MODEL_ERROR_FORMAT,
    { "key 'a': element 1 of the array is a BOOL of value 5" } },
  { "/refuse/alignment-48", c_alignment_48, AS_MODEL_ERROR_FORMAT,
    { "key 'general.alignment': is 48, not a power of two" } },
  { "/refuse/alignment-0", c_alignment_0, AS_MODEL_ERROR_FORMAT, { "key 'general.alignment': is 0" } },
  { "/refuse/alignment-uint64", c_alignment_u64, AS_MODEL_ERROR_FORMAT,
    { "key 'general.alignment': is a UINT64, expected a UINT32" } },
  { "/refuse/alignment-huge", c_alignment_huge, AS_MODEL_ERROR_FORMAT,
    { "the header: truncated: the data section would start at byte 2147483648" } },
  { "/refuse/zero-dims", c_zero_dims, AS_MODEL_ERROR_FORMAT, { "tensor 't': has 0 dimensions" } },
  { "/refuse/five-dims", c_five_dims, AS_MODEL_ERROR_FORMAT, { "tensor 't': has 5 dimensions (1 to 4" } },
  { "/refuse/dim-zero", c_dim_zero, AS_MODEL_ERROR_FORMAT, { "tensor 't': dimension 1 is 0" } },
  { "/refuse/dim-above-int64", c_dim_above_int64, AS_MODEL_ERROR_FORMAT,
    { "tensor 't': dimension 0 is 18446744073709551615" } },
  { "/refuse/dims-overflow", c_dims_overflow, AS_MODEL_ERROR_FORMAT,
    { "tensor 't': its dimensions overflow 63 bits" } },
  { "/refuse/bytes-overflow", c_bytes_overflow, AS_MODEL_ERROR_FORMAT,
    { "tensor 't': its size in bytes overflows 64 bits" } },
  { "/refuse/type-retired", c_type_retired, AS_MODEL_ERROR_FORMAT, { "tensor 't': has unknown tensor type 4" } },
  { "/refuse/type-unknown", c_type_unknown, AS_MODEL_ERROR_FORMAT, { "tensor 't': has unknown tensor type 1000" } },
  { "/refuse/partial-block", c_partial_block, AS_MODEL_ERROR_FORMAT,
    { "tensor 't': its first dimension 16 is not a multiple of Q8_0's block of 32" } },
  { "/refuse/offset-unaligned", c_offset_unaligned, AS_MODEL_ERROR_FORMAT,
    { "tensor 't': its data offset 8 is not a multiple of the alignment 32" } },
  { "/refuse/past-end", c_past_end, AS_MODEL_ERROR_FORMAT,
    { "tensor 't': its 16 bytes at data offset 0 run past the end of the file (the data section is 12 bytes)" } },
  { "/refuse/offset-huge", c_offset_huge, AS_MODEL_ERROR_FORMAT,
    { "tensor 't'", "at data offset 9223372036854775808 run past the end" } },
  { "/refuse/no-data-section", c_no_data_section, AS_MODEL_ERROR_FORMAT,
    { "truncated: the data section would start at byte" } },
  { "/refuse/overlap-same", c_overlap_same, AS_MODEL_ERROR_FORMAT,
    { "tensor 'second': its bytes [0, 64) overlap tensor 'first' [0, 64)" } },
  { "/refuse/overlap-partial", c_overlap_partial, AS_MODEL_ERROR_FORMAT,
    { "tensor 'second': its bytes [32, 96) overlap tensor 'first' [0, 64)" } },
  { "/refuse/name-twice", c_name_twice, AS_MODEL_ERROR_FORMAT, { "tensor 'w': the name appears twice" } },
  { "/refuse/name-too-long", c_name_too_long, AS_MODEL_ERROR_FORMAT,
    { "tensor #0: the name is 64 bytes long, more than the 63 allowed" } },
  { "/refuse/name-empty", c_name_empty, AS_MODEL_ERROR_FORMAT, { "tensor #0: the name is empty" } },
  { "/refuse/name-bad-utf8", c_name_bad_utf8, AS_MODEL_ERROR_FORMAT, { "tensor #0: the name is not valid UTF-8" } },
};

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  GByteArray *b = c->build ();
  expect_refusal (b->data, b->len, c->code, c->needles);
  g_byte_array_unref (b);
}

/* The base of the table is valid, so each refusal is down to its defect. */
static void
test_valid_base (void)
{
  GByteArray *b = valid_base ();
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *copy = g_memdup2 (b->data, b->len);
  AsGguf *gg = as_gguf_open_bytes (copy, b->len, BAD, &error);
  g_assert_no_error (error);
  const AsGgufTensor *t = as_gguf_lookup (gg, "w");
  g_assert_nonnull (t);
  g_assert_true (t->data == copy + b->len - 16);
  g_assert_cmpuint (t->n_bytes, ==, 16);
  as_gguf_free (gg);
  g_byte_array_unref (b);

  /* No tensors and no padding after the header: fine. */
  b = begin (2, 0, 1);
  kv_u32 (b, "x", 1);
  g_autofree guint8 *copy2 = g_memdup2 (b->data, b->len);
  gg = as_gguf_open_bytes (copy2, b->len, BAD, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (as_gguf_get_n_tensors (gg), ==, 0);
  as_gguf_free (gg);
  g_byte_array_unref (b);
}

/* A cut inside each field of a header names that field. */
static void
test_truncated_fields (void)
{
  static const guint64 ne[] = { 32, 2 };
  GByteArray *b = begin (3, 1, 2);
  kv_string (b, "general.architecture", "llama");
  put_str (b, "tokens");
  put_u32 (b, AS_GGUF_ARRAY);
  put_u32 (b, AS_GGUF_STRING);
  put_u64 (b, 2);
  put_str (b, "ab");
  put_str (b, "cd");
  tensor_info (b, "token_embd.weight", 2, ne, AS_GGML_Q8_0, 0);
  gsize header_end = b->len;
  pad_and_data (b, 32, 68);

  /* (cut before this byte, the words the message must hold) */
  static const struct { gsize at; const char *what[3]; } cuts[] = {
    { 2, { "too short for the 4-byte GGUF magic" } },
    { 6, { "the header: truncated", "inside the version" } },
    { 10, { "the header: truncated", "inside the tensor count" } },
    { 20, { "the header: truncated", "inside the key-value count" } },
    { 28, { "key #0: truncated", "inside the length of the key" } },
    { 40, { "key #0: truncated", "the key is 20 bytes long, past the end" } },
    { 54, { "key 'general.architecture': truncated", "inside the value type" } },
    { 60, { "key 'general.architecture': truncated", "inside the length of the value" } },
    { 66, { "key 'general.architecture': truncated", "the value is 5 bytes long, past the end" } },
    { 80, { "key #1: truncated", "the key is 6 bytes long" } },
    { 85, { "key 'tokens': truncated", "inside the value type" } },
    { 89, { "key 'tokens': truncated", "inside the array's element type" } },
    { 95, { "key 'tokens': truncated", "inside the array's length" } },
    { 103, { "key 'tokens': truncated", "inside the length of string 0 of the array" } },
    { 112, { "key 'tokens': truncated", "inside the length of string 1 of the array" } },
    { 118, { "key 'tokens': truncated", "string 1 of the array is 2 bytes long, past the end" } },
    { 122, { "tensor #0: truncated", "inside the length of the name" } },
    { 135, { "tensor #0: truncated", "the name is 17 bytes long, past the end" } },
    { 146, { "tensor 'token_embd.weight': truncated", "inside the number of dimensions" } },
    { 150, { "tensor 'token_embd.weight': truncated", "inside dimension 0" } },
    { 160, { "tensor 'token_embd.weight': truncated", "inside dimension 1" } },
    { 166, { "tensor 'token_embd.weight': truncated", "inside the tensor type" } },
    { 172, { "tensor 'token_embd.weight': truncated", "inside the data offset" } },
    { 176, { "the header: truncated: the data section would start at byte 192" } },
    { 200, { "tensor 'token_embd.weight': its 68 bytes at data offset 0 run past the end",
             "the data section is 8 bytes" } },
  };
  g_assert_cmpuint (header_end, ==, 176);
  for (gsize i = 0; i < G_N_ELEMENTS (cuts); i++)
    {
      const char *needles[4] = { cuts[i].what[0], cuts[i].what[1], cuts[i].what[2], NULL };
      g_test_message ("cut at %" G_GSIZE_FORMAT, cuts[i].at);
      expect_refusal (b->data, cuts[i].at, AS_MODEL_ERROR_FORMAT, needles);
    }
  g_byte_array_unref (b);
}

/* The tiny file cut at every byte: refused until its last tensor is whole
 * (what follows is padding), never a crash or an overread. */
static void
test_tiny_cut_everywhere (void)
{
  g_autoptr (GBytes) tiny = read_fixture ("tiny.gguf");
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (tiny, &size);
  g_autoptr (GError) error = NULL;
  AsGguf *gg = as_gguf_open_bytes (data, size, "tiny", &error);
  g_assert_no_error (error);
  gsize end = 0;
  for (guint i = 0; i < as_gguf_get_n_tensors (gg); i++)
    {
      const AsGgufTensor *t = as_gguf_get_tensor (gg, i);
      end = MAX (end, (gsize) (t->data - data) + (gsize) t->n_bytes);
    }
  as_gguf_free (gg);
  g_assert_cmpuint (end, <=, size);

  for (gsize cut = 0; cut < size; cut++)
    {
      g_autofree guint8 *copy = g_memdup2 (data, cut);
      gg = as_gguf_open_bytes (copy, cut, BAD, &error);
      if (cut >= end)
        {
          g_assert_no_error (error);
          as_gguf_free (gg);
          continue;
        }
      g_assert_null (gg);
      g_assert_nonnull (error);
      g_assert_true (g_str_has_prefix (error->message, BAD ": "));
      if (strstr (error->message, "truncated") == NULL &&
          strstr (error->message, "past the end") == NULL &&
          strstr (error->message, "too short") == NULL)
        g_error ("cut at %" G_GSIZE_FORMAT ": %s", cut, error->message);
      g_clear_error (&error);
    }
}

/* Every byte of the tiny file's header set to 0x00, 0xff and a flipped bit:
 * opened or refused, never a crash, and what opens reads in full. */
static void
test_tiny_mutations (void)
{
  g_autoptr (GBytes) tiny = read_fixture ("tiny.gguf");
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (tiny, &size);
  static const int ops[] = { 0x00, 0xff, -1 };
  guint opened = 0, refused = 0;
  for (gsize at = 0; at < MIN (size, (gsize) 1200); at++)
    for (gsize k = 0; k < G_N_ELEMENTS (ops); k++)
      {
        g_autofree guint8 *copy = g_memdup2 (data, size);
        copy[at] = ops[k] < 0 ? copy[at] ^ 0x10 : (guint8) ops[k];
        g_autoptr (GError) error = NULL;
        AsGguf *gg = as_gguf_open_bytes (copy, size, BAD, &error);
        if (gg == NULL)
          {
            g_assert_true (g_str_has_prefix (error->message, BAD ": "));
            g_assert_true (g_utf8_validate (error->message, -1, NULL));
            refused++;
            continue;
          }
        opened++;
        for (guint i = 0; i < as_gguf_get_n_tensors (gg); i++)
          {
            const AsGgufTensor *t = as_gguf_get_tensor (gg, i);
            g_assert_true (t->data >= copy && t->data + t->n_bytes <= copy + size);
            float *f = as_dequant_tensor (gg, t, &error);
            g_free (f);
            g_clear_error (&error);
          }
        as_gguf_free (gg);
      }
  g_test_message ("%u opened, %u refused", opened, refused);
  g_assert_cmpuint (refused, >, 0);
}

/* ------------------------------------------------------------------------ */
/* The real SmolLM2 GGUF (tools/setup fetches it), when downloaded         */

/* ATTNSCOPE_GGUF, else beside the default model: data/models/SmolLM2-135M-
 * Instruct/SmolLM2-135M-Instruct.Q4_1.gguf. */
static char *
real_gguf_path (void)
{
  const char *env = g_getenv ("ATTNSCOPE_GGUF");
  if (env != NULL && *env != '\0')
    return g_strdup (env);
  const char *model = g_getenv ("ATTNSCOPE_MODEL_DIR");
  if (model == NULL || *model == '\0')
    return NULL;
  g_autofree char *models = g_path_get_dirname (model);
  return g_build_filename (models, "SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", NULL);
}

static void
expect_count (AsGguf     *gg,
              const char *key,
              guint64     want)
{
  g_autoptr (GError) error = NULL;
  guint64 got = 0;
  g_assert_true (as_gguf_get_count (gg, key, &got, &error));
  g_assert_no_error (error);
  if (got != want)
    g_error ("%s is %" G_GUINT64_FORMAT ", expected %" G_GUINT64_FORMAT, key, got, want);
}

static void
test_real_smollm2 (void)
{
  g_autofree char *path = real_gguf_path ();
  if (path == NULL || !g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_autofree char *why = g_strdup_printf ("the SmolLM2 GGUF is not downloaded (%s; set "
                                              "ATTNSCOPE_GGUF or run tools/setup --model)",
                                              path != NULL ? path : "no ATTNSCOPE_MODEL_DIR");
      g_test_skip (why);
      return;
    }
  g_autoptr (GError) error = NULL;
  AsGguf *gg = as_gguf_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (as_gguf_get_version (gg), ==, 3);
  g_assert_cmpuint (as_gguf_get_n_kv (gg), ==, 33);
  g_assert_cmpuint (as_gguf_get_n_tensors (gg), ==, 272);
  g_assert_cmpuint (as_gguf_get_alignment (gg), ==, 32);
  g_assert_cmpstr (as_gguf_get_string (gg, "general.architecture", &error), ==, "llama");
  expect_count (gg, "llama.block_count", 30);
  expect_count (gg, "llama.embedding_length", 576);
  expect_count (gg, "llama.feed_forward_length", 1536);
  expect_count (gg, "llama.attention.head_count", 9);
  expect_count (gg, "llama.attention.head_count_kv", 3);
  expect_count (gg, "llama.context_length", 8192);
  expect_count (gg, "llama.vocab_size", 49152);
  expect_count (gg, "llama.rope.dimension_count", 64);
  expect_count (gg, "tokenizer.ggml.bos_token_id", 1);
  expect_count (gg, "tokenizer.ggml.eos_token_id", 2);
  float f = 0;
  g_assert_true (as_gguf_get_f32 (gg, "llama.rope.freq_base", &f, &error));
  g_assert_cmpfloat (f, ==, 100000.0f);
  g_assert_true (as_gguf_get_f32 (gg, "llama.attention.layer_norm_rms_epsilon", &f, &error));
  g_assert_cmpfloat (f, ==, 1e-5f);
  gboolean b = TRUE;
  g_assert_true (as_gguf_get_bool (gg, "tokenizer.ggml.add_bos_token", &b, &error));
  g_assert_false (b);
  g_assert_cmpstr (as_gguf_get_string (gg, "tokenizer.ggml.model", &error), ==, "gpt2");
  g_assert_cmpstr (as_gguf_get_string (gg, "tokenizer.ggml.pre", &error), ==, "smollm");
  gsize n = 0;
  const char *const *tokens = as_gguf_get_strings (gg, "tokenizer.ggml.tokens", &n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 49152);
  g_assert_cmpstr (tokens[0], ==, "<|endoftext|>");
  g_assert_cmpstr (tokens[1], ==, "<|im_start|>");
  g_assert_cmpstr (tokens[2], ==, "<|im_end|>");
  as_gguf_get_strings (gg, "tokenizer.ggml.merges", &n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 48900);
  g_autofree gint32 *types = as_gguf_dup_i32_array (gg, "tokenizer.ggml.token_type", &n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 49152);
  g_assert_cmpint (types[0], ==, 3);     /* <|endoftext|>: control */
  g_assert_cmpint (types[1000], ==, 1);  /* normal */

  guint q4_1 = 0, q8_0 = 0, f32 = 0;
  for (guint i = 0; i < as_gguf_get_n_tensors (gg); i++)
    {
      AsGgmlType type = as_gguf_get_tensor (gg, i)->type;
      q4_1 += type == AS_GGML_Q4_1;
      q8_0 += type == AS_GGML_Q8_0;
      f32 += type == AS_GGML_F32;
    }
  g_assert_cmpuint (q4_1, ==, 210);
  g_assert_cmpuint (q8_0, ==, 1);
  g_assert_cmpuint (f32, ==, 61);
  g_assert_null (as_gguf_lookup (gg, "output.weight"));  /* tied to the embedding */

  /* Rows de-quantised by gguf-py, in make-gguf-fixtures.py's SMOLLM2_ROWS order. */
  static const struct { const char *name; AsGgmlType type; gint64 ne1; gint64 rows[5]; int n_rows; } checks[] = {
    { "token_embd.weight", AS_GGML_Q8_0, 49152, { 0, 1, 2, 1000, 49151 }, 5 },
    { "blk.0.attn_q.weight", AS_GGML_Q4_1, 576, { 0, 1, 575 }, 3 },
  };
  gsize n_want = 0;
  g_autofree float *want = read_floats ("smollm2.f32", &n_want);
  gsize at = 0;
  float row[576];
  for (gsize c = 0; c < G_N_ELEMENTS (checks); c++)
    {
      const AsGgufTensor *t = as_gguf_lookup (gg, checks[c].name);
      g_assert_nonnull (t);
      g_assert_cmpint (t->type, ==, checks[c].type);
      g_assert_cmpint (t->ne[0], ==, 576);
      g_assert_cmpint (t->ne[1], ==, checks[c].ne1);
      for (int r = 0; r < checks[c].n_rows; r++, at += 576)
        {
          g_assert_cmpuint (at + 576, <=, n_want);
          g_assert_true (as_dequant_rows (gg, t, checks[c].rows[r], 1, row, &error));
          g_assert_no_error (error);
          assert_same_floats (checks[c].name, row, want + at, 576);
        }
    }
  g_assert_cmpuint (at, ==, n_want);
  as_gguf_free (gg);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (fixture_types); i++)
    {
      g_autofree char *path = g_strdup_printf ("/dequant/%s", as_ggml_type_name (fixture_types[i]));
      g_test_add_data_func (path, GINT_TO_POINTER (fixture_types[i]), test_dequant_type);
    }
  g_test_add_func ("/tiny/metadata", test_tiny_metadata);
  g_test_add_func ("/tiny/tensors", test_tiny_tensors);
  g_test_add_func ("/tiny/version-2", test_tiny_version_2);
  g_test_add_func ("/tiny/cut-everywhere", test_tiny_cut_everywhere);
  g_test_add_func ("/tiny/mutations", test_tiny_mutations);
  g_test_add_func ("/refuse/valid-base", test_valid_base);
  g_test_add_func ("/refuse/truncated-fields", test_truncated_fields);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    g_test_add_data_func (cases[i].path, &cases[i], test_case);
  g_test_add_func ("/real/smollm2", test_real_smollm2);
  return g_test_run ();
}
