/* test-safetensors.c — the safetensors reader against well-formed files, one
 * malformed file per class of bug real loaders have shipped, a byte-mutation
 * loop, and the real checkpoint when it is installed.
 *
 * Every file is assembled here: an 8-byte little-endian length, the header
 * JSON, then the data. Headers are written with ' instead of " for
 * readability; json() swaps them back.
 */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "as-error.h"
#include "as-safetensors.h"

#define BAD "bad.safetensors"

/* ------------------------------------------------------------------------ */
/* Building files                                                           */

static char *
json (const char *single_quoted)
{
  char *s = g_strdup (single_quoted);
  g_strdelimit (s, "'", '"');
  return s;
}

static void
append_u64_le (GByteArray *file,
               guint64     value)
{
  guint8 bytes[8];
  for (int i = 0; i < 8; i++)
    bytes[i] = (guint8) (value >> (8 * i));
  g_byte_array_append (file, bytes, 8);
}

/* DECLARED_LEN, HEADER verbatim (HEADER_LEN bytes), then DATA_LEN bytes taken
 * from DATA or, when DATA is NULL, a counting pattern. */
static GByteArray *
build_raw (guint64     declared_len,
           const char *header,
           gsize       header_len,
           const void *data,
           gsize       data_len)
{
  GByteArray *file = g_byte_array_new ();
  append_u64_le (file, declared_len);
  g_byte_array_append (file, (const guint8 *) header, (guint) header_len);
  for (gsize i = 0; i < data_len; i++)
    {
      guint8 b = data != NULL ? ((const guint8 *) data)[i] : (guint8) i;
      g_byte_array_append (file, &b, 1);
    }
  return file;
}

/* A well-formed prefix: the length is the header's. */
static GByteArray *
build_file (const char *single_quoted_header,
            const void *data,
            gsize       data_len)
{
  g_autofree char *header = json (single_quoted_header);
  gsize len = strlen (header);
  return build_raw (len, header, len, data, data_len);
}

/* open_bytes over an exact-size heap copy, so ASan sees any overread. */
static AsSafetensors *
open_copy (const guint8 *data,
           gsize         size,
           guint8      **copy_out,
           GError      **error)
{
  *copy_out = g_memdup2 (data, size);
  return as_safetensors_open_bytes (*copy_out, size, BAD, error);
}

/* ------------------------------------------------------------------------ */
/* Checking failures                                                        */

static void
assert_message_contains (const char *message,
                         const char *needle)
{
  if (strstr (message, needle) == NULL)
    {
      g_test_message ("message \"%s\" lacks \"%s\"", message, needle);
      g_test_fail ();
    }
}

/* Opens FILE and checks the error's domain, code, that it names the file and
 * that it contains each NULL-terminated needle. */
static void
expect_failure_v (const GByteArray *file,
                  AsModelError      code,
                  va_list           needles)
{
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *copy = NULL;
  AsSafetensors *st = open_copy (file->data, file->len, &copy, &error);
  g_assert_null (st);
  g_assert_error (error, AS_MODEL_ERROR, (gint) code);
  g_test_message ("error: %s", error->message);
  assert_message_contains (error->message, BAD ": ");
  for (const char *needle = va_arg (needles, const char *); needle != NULL;
       needle = va_arg (needles, const char *))
    assert_message_contains (error->message, needle);
}

G_GNUC_NULL_TERMINATED
static void
expect_failure (GByteArray  *file,
                AsModelError code,
                ...)
{
  va_list needles;
  va_start (needles, code);
  expect_failure_v (file, code, needles);
  va_end (needles);
  g_byte_array_unref (file);
}

/* ------------------------------------------------------------------------ */
/* Malformed files, one bug class each                                      */

/* Header-level cases that only need a JSON text and a data size. */
typedef struct {
  const char  *path;
  const char  *header;      /* single-quoted JSON */
  gsize        data_len;
  AsModelError code;
  const char  *needles[4];
} JsonCase;

#define W_F32(shape, offsets) "{'w': {'dtype': 'F32', 'shape': " shape ", 'data_offsets': " offsets "}}"

static const JsonCase json_cases[] = {
  { "/malformed/invalid-json", "{'w': {'dtype': 'F32',", 0,
    AS_MODEL_ERROR_FORMAT, { "header is not valid JSON" } },
  { "/malformed/whitespace-only-header", "        ", 0,
    AS_MODEL_ERROR_FORMAT, { "header is not valid JSON", "unexpected end" } },
  { "/malformed/not-an-object", "[1, 2, 3]", 0,
    AS_MODEL_ERROR_FORMAT, { "header is not a JSON object" } },
  { "/malformed/entry-not-an-object", "{'w': 5}", 0,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "entry is not a JSON object" } },
  { "/malformed/missing-dtype", "{'w': {'shape': [1], 'data_offsets': [0, 4]}}", 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "missing 'dtype'" } },
  { "/malformed/missing-shape", "{'w': {'dtype': 'F32', 'data_offsets': [0, 4]}}", 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "missing 'shape'" } },
  { "/malformed/missing-data-offsets", "{'w': {'dtype': 'F32', 'shape': [1]}}", 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "missing 'data_offsets'" } },
  { "/malformed/dtype-not-a-string", "{'w': {'dtype': 4, 'shape': [1], 'data_offsets': [0, 4]}}", 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "'dtype' is not a string" } },
  { "/malformed/unknown-dtype", "{'w': {'dtype': 'F33', 'shape': [1], 'data_offsets': [0, 4]}}", 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "unknown dtype 'F33'" } },
  { "/malformed/sub-byte-dtype", "{'w': {'dtype': 'F4', 'shape': [2], 'data_offsets': [0, 1]}}", 1,
    AS_MODEL_ERROR_UNSUPPORTED, { "tensor 'w'", "unsupported dtype F4" } },
  { "/malformed/shape-not-an-array", W_F32 ("4", "[0, 16]"), 16,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "'shape' is not an array" } },
  { "/malformed/too-many-dims", W_F32 ("[1, 1, 1, 1, 1, 1, 1, 1, 1]", "[0, 4]"), 4,
    AS_MODEL_ERROR_UNSUPPORTED, { "tensor 'w'", "shape has 9 dims, at most 8" } },
  { "/malformed/data-offsets-length-1", W_F32 ("[1]", "[0]"), 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "data_offsets has 1 elements, expected 2" } },
  { "/malformed/data-offsets-length-3", W_F32 ("[1]", "[0, 4, 8]"), 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "data_offsets has 3 elements, expected 2" } },
  { "/malformed/data-offsets-not-an-array", W_F32 ("[1]", "'0-4'"), 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "'data_offsets' is not an array" } },
  { "/malformed/begin-greater-than-end", W_F32 ("[1]", "[8, 4]"), 8,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "data_offsets [8, 4) has begin > end" } },
  { "/malformed/negative-offset", W_F32 ("[1]", "[-4, 0]"), 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "data_offsets[0] is negative" } },
  { "/malformed/negative-dim", W_F32 ("[-1]", "[0, 4]"), 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "shape[0] is negative" } },
  { "/malformed/float-in-shape", W_F32 ("[2.0]", "[0, 8]"), 8,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "shape[0] is not an integer" } },
  { "/malformed/exponent-in-offsets", W_F32 ("[2]", "[0, 8e0]"), 8,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "data_offsets[1] is not an integer" } },
  { "/malformed/string-in-shape", W_F32 ("['2']", "[0, 8]"), 8,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "shape[0] is not an integer" } },
  /* json-glib would wrap these (the last one to +1), so they are refused on
   * the text. */
  { "/malformed/integer-above-2^53", W_F32 ("[9007199254740993]", "[0, 4]"), 4,
    AS_MODEL_ERROR_FORMAT, { "header has an unusable number", "integer beyond 2^53", "at byte 33" } },
  { "/malformed/integer-beyond-64-bits", W_F32 ("[1]", "[0, 99999999999999999999]"), 4,
    AS_MODEL_ERROR_FORMAT, { "integer beyond 2^53" } },
  { "/malformed/negative-integer-beyond-64-bits", W_F32 ("[1]", "[-99999999999999999999, 4]"), 4,
    AS_MODEL_ERROR_FORMAT, { "integer beyond 2^53" } },
  { "/malformed/size-mismatch", W_F32 ("[3]", "[0, 8]"), 8,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "shape [3] of F32 needs 12 bytes", "span 8" } },
  { "/malformed/element-count-overflow", W_F32 ("[4294967296, 4294967296]", "[0, 4]"), 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "overflows 64 bits" } },
  /* 2^62 elements fit in u64; 2^62 x 4 bytes does not. */
  { "/malformed/byte-size-overflow", W_F32 ("[2147483648, 2147483648]", "[0, 4]"), 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "overflows 64 bits" } },
  { "/malformed/first-tensor-not-at-0", W_F32 ("[1]", "[4, 8]"), 8,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "gap of 4 bytes", "must begin at 0" } },
  { "/malformed/gap-between-tensors",
    "{'a': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]},"
    " 'b': {'dtype': 'F32', 'shape': [1], 'data_offsets': [8, 12]}}", 12,
    AS_MODEL_ERROR_FORMAT, { "tensor 'b'", "gap of 4 bytes after tensor 'a'" } },
  { "/malformed/overlapping-tensors",
    "{'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]},"
    " 'b': {'dtype': 'F32', 'shape': [2], 'data_offsets': [4, 12]}}", 12,
    AS_MODEL_ERROR_FORMAT, { "tensor 'b'", "[4, 12) overlap tensor 'a' [0, 8)" } },
  { "/malformed/tensor-past-end-of-file", W_F32 ("[4]", "[0, 16]"), 8,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "run past the end of the file" } },
  { "/malformed/duplicate-tensor-name",
    "{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]},"
    " 'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [4, 8]}}", 8,
    AS_MODEL_ERROR_FORMAT, { "duplicate tensor name 'w'" } },
  /* Same name spelt with an escape: only a decoding comparison catches it. */
  { "/malformed/duplicate-tensor-name-escaped",
    "{'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]},"
    " '\\u0077': {'dtype': 'F32', 'shape': [1], 'data_offsets': [4, 8]}}", 8,
    AS_MODEL_ERROR_FORMAT, { "duplicate tensor name 'w'" } },
  { "/malformed/duplicate-key-in-entry",
    "{'w': {'dtype': 'F16', 'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}", 4,
    AS_MODEL_ERROR_FORMAT, { "tensor 'w'", "duplicate key 'dtype'" } },
  { "/malformed/metadata-non-string-value", "{'__metadata__': {'format': 1}}", 0,
    AS_MODEL_ERROR_FORMAT, { "__metadata__", "value of 'format' is not a string" } },
  { "/malformed/metadata-not-an-object", "{'__metadata__': 'pt'}", 0,
    AS_MODEL_ERROR_FORMAT, { "__metadata__ is not an object" } },
  { "/malformed/metadata-duplicate-key", "{'__metadata__': {'a': 'b', 'a': 'c'}}", 0,
    AS_MODEL_ERROR_FORMAT, { "__metadata__: duplicate key 'a'" } },
  { "/malformed/metadata-twice", "{'__metadata__': {}, '__metadata__': {}}", 0,
    AS_MODEL_ERROR_FORMAT, { "duplicate key '__metadata__'" } },
  /* json-glib accepts all of these; JSON does not. */
  { "/malformed/lenient-json/comment", "/* hi */ {}", 0,
    AS_MODEL_ERROR_FORMAT, { "header is not valid JSON", "at byte 0" } },
  { "/malformed/lenient-json/hex-number", W_F32 ("[0x1]", "[0, 4]"), 4,
    AS_MODEL_ERROR_FORMAT, { "header is not valid JSON" } },
  { "/malformed/lenient-json/leading-zero", W_F32 ("[01]", "[0, 4]"), 4,
    AS_MODEL_ERROR_FORMAT, { "header is not valid JSON" } },
  { "/malformed/lenient-json/trailing-comma", "{'__metadata__': {'a': 'b'},}", 0,
    AS_MODEL_ERROR_FORMAT, { "header is not valid JSON", "expected a string key" } },
  { "/malformed/lenient-json/trailing-garbage", "{} x", 0,
    AS_MODEL_ERROR_FORMAT, { "header is not valid JSON", "after the JSON value" } },
  { "/malformed/unpaired-surrogate", "{'\\ud800': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}", 4,
    AS_MODEL_ERROR_FORMAT, { "header is not valid JSON", "surrogate" } },
};

static void
test_json_case (gconstpointer data)
{
  const JsonCase *c = data;
  GByteArray *file = build_file (c->header, NULL, c->data_len);
  expect_failure (file, c->code, c->needles[0], c->needles[1], c->needles[2], c->needles[3], NULL);
}

/* An escaped NUL would be cut by json-glib ("a\u0000b" -> "a"). */
static void
test_escaped_nul_in_name (void)
{
  expect_failure (build_file ("{'a\\u0000b': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}",
                              NULL, 4),
                  AS_MODEL_ERROR_FORMAT, "header is not valid JSON", "escaped NUL", NULL);
}

static void
test_empty_file (void)
{
  expect_failure (g_byte_array_new (), AS_MODEL_ERROR_FORMAT, "file is empty", NULL);
}

static void
test_file_shorter_than_8_bytes (void)
{
  for (guint len = 1; len < 8; len++)
    {
      GByteArray *file = g_byte_array_new ();
      for (guint i = 0; i < len; i++)
        g_byte_array_append (file, (const guint8 *) "\x02", 1);
      g_autofree char *expected = g_strdup_printf ("file is %u bytes, too short", len);
      expect_failure (file, AS_MODEL_ERROR_FORMAT, expected, NULL);
    }
}

static void
test_header_length_beyond_file (void)
{
  expect_failure (build_raw (100, "{}", 2, NULL, 0), AS_MODEL_ERROR_FORMAT,
                  "header length 100 runs past the end of the file", "file is 10 bytes", NULL);
  /* One byte short is still short. */
  expect_failure (build_raw (3, "{}", 2, NULL, 0), AS_MODEL_ERROR_FORMAT,
                  "header length 3 runs past the end", NULL);
}

static void
test_header_length_over_limit (void)
{
  expect_failure (build_raw (100000001, "{}", 2, NULL, 0), AS_MODEL_ERROR_FORMAT,
                  "header length 100000001 exceeds the limit of 100000000 bytes", NULL);
  /* 8 + N must not wrap around. */
  expect_failure (build_raw (G_MAXUINT64, "{}", 2, NULL, 0), AS_MODEL_ERROR_FORMAT,
                  "exceeds the limit", NULL);
  expect_failure (build_raw (G_MAXUINT64 - 7, "{}", 2, NULL, 0), AS_MODEL_ERROR_FORMAT,
                  "exceeds the limit", NULL);
}

static void
test_non_utf8_header (void)
{
  const char header[] = "{\"w\xff\": {}}";
  expect_failure (build_raw (sizeof header - 1, header, sizeof header - 1, NULL, 0),
                  AS_MODEL_ERROR_FORMAT, "header is not valid UTF-8", "offset 3", NULL);
}

static void
test_nul_byte_in_header (void)
{
  const char header[] = "{}\0  ";
  expect_failure (build_raw (sizeof header - 1, header, sizeof header - 1, NULL, 0),
                  AS_MODEL_ERROR_FORMAT, "header is not valid UTF-8", "offset 2", NULL);
}

static void
test_trailing_bytes (void)
{
  expect_failure (build_file (W_F32 ("[2]", "[0, 8]"), NULL, 12), AS_MODEL_ERROR_FORMAT,
                  "data section is 12 bytes but the tensors end at 8: 4 trailing bytes", NULL);
  expect_failure (build_file ("{}", NULL, 1), AS_MODEL_ERROR_FORMAT, "1 trailing bytes", NULL);
}

static void
test_nesting_too_deep (void)
{
  GString *header = g_string_new ("{'w': ");
  for (int i = 0; i < 10000; i++)
    g_string_append_c (header, '[');
  for (int i = 0; i < 10000; i++)
    g_string_append_c (header, ']');
  g_string_append_c (header, '}');
  expect_failure (build_file (header->str, NULL, 0), AS_MODEL_ERROR_FORMAT,
                  "header is not valid JSON", "nesting too deep", NULL);
  g_string_free (header, TRUE);
}

/* I64 is a valid dtype we cannot convert: the file opens (BERT checkpoints
 * carry an I64 position_ids buffer), the tensor is not listed, and reading it
 * as f32 fails with UNSUPPORTED. Its layout is still validated. */
static void
test_unsupported_dtype_i64 (void)
{
  g_autoptr (GByteArray) file = build_file (
    "{'ids': {'dtype': 'I64', 'shape': [2], 'data_offsets': [0, 16]},"
    " 'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [16, 20]}}", NULL, 20);
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *copy = NULL;
  AsSafetensors *st = open_copy (file->data, file->len, &copy, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (as_safetensors_get_n_tensors (st), ==, 1);
  g_assert_null (as_safetensors_lookup (st, "ids"));
  g_assert_cmpstr (as_safetensors_get_unconvertible_dtype (st, "ids"), ==, "I64");
  g_assert_null (as_safetensors_get_unconvertible_dtype (st, "w"));

  gint64 shape[] = { 2 };
  float *values = as_safetensors_read_f32 (st, "ids", 1, shape, &error);
  g_assert_null (values);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  assert_message_contains (error->message, BAD ": tensor 'ids'");
  assert_message_contains (error->message, "unsupported dtype I64");
  as_safetensors_free (st);

  expect_failure (build_file ("{'ids': {'dtype': 'I64', 'shape': [2], 'data_offsets': [0, 8]}}", NULL, 8),
                  AS_MODEL_ERROR_FORMAT, "tensor 'ids'", "shape [2] of I64 needs 16 bytes", NULL);
}

/* ------------------------------------------------------------------------ */
/* Well-formed files                                                        */

static const guint16 f16_bits[] = { 0x3c00, 0xc100, 0x7bff, 0x0001, 0x7c00, 0x7e00, 0x8000 };
static const guint16 bf16_bits[] = { 0x3f80, 0xc020, 0x477f, 0x0001, 0xff80, 0x7fc0, 0x8000 };
static const float f32_values[] = { 1.0f, -2.5f, 65504.0f, 0x1p-24f };

/* F32 [2, 2], F16 [7], BF16 [7], in that order in the data. */
static GByteArray *
build_mixed_file (const char *padding)
{
  guint8 data[16 + 14 + 14];
  for (guint i = 0; i < 4; i++)
    {
      guint32 bits;
      memcpy (&bits, &f32_values[i], 4);
      for (int b = 0; b < 4; b++)
        data[4 * i + b] = (guint8) (bits >> (8 * b));
    }
  for (guint i = 0; i < 7; i++)
    {
      data[16 + 2 * i] = (guint8) f16_bits[i];
      data[16 + 2 * i + 1] = (guint8) (f16_bits[i] >> 8);
      data[30 + 2 * i] = (guint8) bf16_bits[i];
      data[30 + 2 * i + 1] = (guint8) (bf16_bits[i] >> 8);
    }
  /* Listed out of data order on purpose: get_nth returns data order. */
  g_autofree char *header = g_strconcat (
    "{'__metadata__': {'format': 'pt', 'note': 'caf\\u00e9 \\ud83d\\ude00'},"
    " 'half': {'dtype': 'F16', 'shape': [7], 'data_offsets': [16, 30]},"
    " 'brain': {'dtype': 'BF16', 'shape': [7], 'data_offsets': [30, 44]},"
    " 'full': {'dtype': 'F32', 'shape': [2, 2], 'data_offsets': [0, 16]}}",
    padding, NULL);
  return build_file (header, data, sizeof data);
}

static AsSafetensors *
open_ok (const GByteArray *file,
         guint8          **copy)
{
  g_autoptr (GError) error = NULL;
  AsSafetensors *st = open_copy (file->data, file->len, copy, &error);
  g_assert_no_error (error);
  g_assert_nonnull (st);
  return st;
}

static void
check_mixed_file (AsSafetensors *st)
{
  g_autoptr (GError) error = NULL;
  g_assert_cmpuint (as_safetensors_get_n_tensors (st), ==, 3);
  g_assert_cmpstr (as_safetensors_get_nth (st, 0)->name, ==, "full");
  g_assert_cmpstr (as_safetensors_get_nth (st, 1)->name, ==, "half");
  g_assert_cmpstr (as_safetensors_get_nth (st, 2)->name, ==, "brain");
  g_assert_cmpstr (as_safetensors_get_metadata (st, "format"), ==, "pt");
  g_assert_cmpstr (as_safetensors_get_metadata (st, "note"), ==, "caf\xc3\xa9 \xf0\x9f\x98\x80");
  g_assert_null (as_safetensors_get_metadata (st, "absent"));

  const AsTensorInfo *full = as_safetensors_lookup (st, "full");
  g_assert_nonnull (full);
  g_assert_cmpint (full->dtype, ==, AS_DTYPE_F32);
  g_assert_cmpint (full->n_dims, ==, 2);
  g_assert_cmpint (full->n_elements, ==, 4);
  gint64 shape22[] = { 2, 2 };
  g_autofree float *f = as_safetensors_read_f32 (st, "full", 2, shape22, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat (f[i], ==, f32_values[i]);

  gint64 shape7[] = { 7 };
  g_autofree float *h = as_safetensors_read_f32 (st, "half", 1, shape7, &error);
  g_assert_no_error (error);
  g_assert_cmpint (as_safetensors_lookup (st, "half")->dtype, ==, AS_DTYPE_F16);
  g_assert_cmpfloat (h[0], ==, 1.0f);
  g_assert_cmpfloat (h[1], ==, -2.5f);
  g_assert_cmpfloat (h[2], ==, 65504.0f);
  g_assert_cmpfloat (h[3], ==, 0x1p-24f);
  g_assert_true (isinf (h[4]) && h[4] > 0);
  g_assert_true (isnan (h[5]));
  g_assert_true (h[6] == 0.0f && signbit (h[6]));

  g_autofree float *b = as_safetensors_read_f32 (st, "brain", 1, shape7, &error);
  g_assert_no_error (error);
  g_assert_cmpint (as_safetensors_lookup (st, "brain")->dtype, ==, AS_DTYPE_BF16);
  g_assert_cmpfloat (b[0], ==, 1.0f);
  g_assert_cmpfloat (b[1], ==, -2.5f);
  g_assert_cmpfloat (b[2], ==, 65280.0f);
  g_assert_cmpfloat (b[3], ==, 0x1p-133f);  /* smallest bf16 subnormal */
  g_assert_true (isinf (b[4]) && b[4] < 0);
  g_assert_true (isnan (b[5]));
  g_assert_true (b[6] == 0.0f && signbit (b[6]));
}

static void
test_valid_mixed_dtypes (void)
{
  g_autoptr (GByteArray) file = build_mixed_file ("");
  g_autofree guint8 *copy = NULL;
  AsSafetensors *st = open_ok (file, &copy);
  g_assert_cmpstr (as_safetensors_get_path (st), ==, BAD);
  check_mixed_file (st);
  as_safetensors_free (st);
}

/* Writers pad the header with spaces so the data starts 8-aligned. */
static void
test_header_padded_with_spaces (void)
{
  g_autoptr (GByteArray) file = build_mixed_file ("       ");
  g_autofree guint8 *copy = NULL;
  AsSafetensors *st = open_ok (file, &copy);
  check_mixed_file (st);
  as_safetensors_free (st);
}

static void
test_read_errors (void)
{
  g_autoptr (GByteArray) file = build_mixed_file ("");
  g_autofree guint8 *copy = NULL;
  AsSafetensors *st = open_ok (file, &copy);
  g_autoptr (GError) error = NULL;

  gint64 transposed[] = { 4, 1 };
  g_assert_null (as_safetensors_read_f32 (st, "full", 2, transposed, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH);
  g_assert_cmpstr (error->message, ==, BAD ": tensor 'full' has shape [2, 2], expected [4, 1]");
  g_clear_error (&error);

  gint64 flat[] = { 4 };
  g_assert_null (as_safetensors_read_f32 (st, "full", 1, flat, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH);
  g_assert_cmpstr (error->message, ==, BAD ": tensor 'full' has shape [2, 2], expected [4]");
  g_clear_error (&error);

  g_assert_null (as_safetensors_read_f32 (st, "nope", 1, flat, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH);
  g_assert_cmpstr (error->message, ==, BAD ": tensor 'nope' is missing");
  as_safetensors_free (st);
}

/* Old files put tensors at any byte offset: a U8 tensor of 3 bytes pushes an
 * F32 tensor to offset 3, and an odd header length shifts the whole data
 * section. Under UBSan a cast-and-load would trap here. */
static void
test_unaligned_data (void)
{
  guint8 data[3 + 8] = { 7, 8, 9 };
  const float values[] = { 3.25f, -1e-3f };
  memcpy (data + 3, values, sizeof values);
  /* Pad N to a multiple of 4: the heap copy is 16-aligned, so x then sits at
   * 8 + N + 3, which is 3 mod 4. */
  GString *header = g_string_new (
    "{'pad': {'dtype': 'U8', 'shape': [3], 'data_offsets': [0, 3]},"
    " 'x': {'dtype': 'F32', 'shape': [2], 'data_offsets': [3, 11]}}");
  while (header->len % 4 != 0)
    g_string_append_c (header, ' ');
  g_autoptr (GByteArray) file = build_file (header->str, data, sizeof data);
  g_string_free (header, TRUE);
  g_autofree guint8 *copy = NULL;
  AsSafetensors *st = open_ok (file, &copy);
  const AsTensorInfo *x = as_safetensors_lookup (st, "x");
  g_assert_nonnull (x);
  g_assert_cmpuint (x->begin, ==, 3);
  g_assert_cmpuint ((guintptr) as_safetensors_get_data (st, x) % 4, !=, 0);

  float out[2];
  as_safetensors_copy_f32 (st, x, out);
  g_assert_cmpfloat (out[0], ==, 3.25f);
  g_assert_cmpfloat (out[1], ==, -1e-3f);
  as_safetensors_free (st);
}

static void
test_zero_sized_and_scalar_tensors (void)
{
  g_autoptr (GByteArray) file = build_file (
    "{'empty': {'dtype': 'F32', 'shape': [0], 'data_offsets': [0, 0]},"
    " 'empty2d': {'dtype': 'F16', 'shape': [3, 0], 'data_offsets': [4, 4]},"
    " 'huge_but_empty': {'dtype': 'F32', 'shape': [9007199254740992, 9007199254740992, 0], 'data_offsets': [4, 4]},"
    " 'scalar': {'dtype': 'F32', 'shape': [], 'data_offsets': [0, 4]}}", NULL, 4);
  g_autofree guint8 *copy = NULL;
  AsSafetensors *st = open_ok (file, &copy);
  g_assert_cmpuint (as_safetensors_get_n_tensors (st), ==, 4);
  g_assert_cmpint (as_safetensors_lookup (st, "empty")->n_elements, ==, 0);
  g_assert_cmpint (as_safetensors_lookup (st, "huge_but_empty")->n_elements, ==, 0);
  g_assert_cmpint (as_safetensors_lookup (st, "scalar")->n_elements, ==, 1);
  g_assert_cmpint (as_safetensors_lookup (st, "scalar")->n_dims, ==, 0);

  g_autoptr (GError) error = NULL;
  gint64 zero[] = { 0 };
  g_autofree float *empty = as_safetensors_read_f32 (st, "empty", 1, zero, &error);
  g_assert_no_error (error);
  g_assert_nonnull (empty);  /* an allocation, not the NULL that means failure */
  g_autofree float *scalar = as_safetensors_read_f32 (st, "scalar", 0, NULL, &error);
  g_assert_no_error (error);
  guint32 bits;  /* build_raw's counting pattern: bytes 0, 1, 2, 3 */
  memcpy (&bits, scalar, 4);
  g_assert_cmphex (bits, ==, 0x03020100);
  as_safetensors_free (st);
}

/* The entries are read off the text without a tree: escapes decode, keys
 * come in any order, members other than the three are skipped whatever they
 * hold (brackets and quotes inside strings included), any JSON whitespace. */
static void
test_walk_edge_cases (void)
{
  g_autoptr (GByteArray) file = build_file (
    "{ '__metadata__' :\t{ 'k\\'q' : 'v\\\\w', 'empty': '' } ,\r\n"
    "  'n\\u00e9\\ud83d\\ude00' :{ 'extra': {'a': [1, {'b': ']}\\'{['}], 'c': null},"
    " 'shape' : [ 2 ] , 'x': true, 'dtype':'F32', 'y': -1.5e3,"
    " 'data_offsets':[0,8] , 'z': 'a\\\\', 'w': [] },"
    "  'e': {'dtype': 'BF16', 'shape': [0, -0], 'data_offsets': [8, 8], 'o': {}}\n}",
    NULL, 8);
  g_autofree guint8 *copy = NULL;
  AsSafetensors *st = open_ok (file, &copy);
  g_assert_cmpuint (as_safetensors_get_n_tensors (st), ==, 2);
  const AsTensorInfo *t = as_safetensors_lookup (st, "n\xc3\xa9\xf0\x9f\x98\x80");
  g_assert_nonnull (t);
  g_assert_cmpint (t->n_dims, ==, 1);
  g_assert_cmpint (t->shape[0], ==, 2);
  g_assert_cmpuint (t->end, ==, 8);
  const AsTensorInfo *e = as_safetensors_lookup (st, "e");
  g_assert_nonnull (e);
  g_assert_cmpint (e->dtype, ==, AS_DTYPE_BF16);
  g_assert_cmpint (e->n_elements, ==, 0);
  g_assert_cmpstr (as_safetensors_get_metadata (st, "k\"q"), ==, "v\\w");
  g_assert_cmpstr (as_safetensors_get_metadata (st, "empty"), ==, "");
  as_safetensors_free (st);
}

/* A header of N empty F32 tensors and M metadata strings. */
static GByteArray *
build_many (guint n,
            guint m)
{
  GString *h = g_string_new ("{'__metadata__': {");
  for (guint i = 0; i < m; i++)
    g_string_append_printf (h, "%s'k%u': 'v'", i ? ", " : "", i);
  g_string_append (h, "}");
  for (guint i = 0; i < n; i++)
    g_string_append_printf (h, ", 't%u': {'dtype': 'F32', 'shape': [0], 'data_offsets': [0, 0]}", i);
  g_string_append (h, "}");
  GByteArray *file = build_file (h->str, NULL, 0);
  g_string_free (h, TRUE);
  return file;
}

/* 70,000 tensors are refused on the syntax scan's count, before anything is
 * built for them; the cap itself is accepted. */
static void
test_too_many_tensors (void)
{
  g_autoptr (GByteArray) cap = build_many (AS_SAFETENSORS_MAX_TENSORS, 0);
  g_autofree guint8 *copy = NULL;
  AsSafetensors *st = open_ok (cap, &copy);
  g_assert_cmpuint (as_safetensors_get_n_tensors (st), ==, AS_SAFETENSORS_MAX_TENSORS);
  as_safetensors_free (st);

  GByteArray *over = build_many (70000, 1);
  g_test_message ("a header of %u bytes", over->len - 8);
  gint64 start = g_get_monotonic_time ();
  expect_failure (over, AS_MODEL_ERROR_RESOURCES, "header lists 70000 tensors", "more than the 65536", NULL);
  gint64 took = g_get_monotonic_time () - start;
  g_test_message ("refused in %.1f ms", took / 1000.0);
  g_assert_cmpint (took, <, G_USEC_PER_SEC);
}

static void
test_too_much_metadata (void)
{
  expect_failure (build_many (0, 65537), AS_MODEL_ERROR_RESOURCES,
                  "__metadata__ has more than 65536 entries", NULL);
}

static void
test_no_tensors (void)
{
  g_autoptr (GByteArray) file = build_file ("{}", NULL, 0);
  g_autofree guint8 *copy = NULL;
  AsSafetensors *st = open_ok (file, &copy);
  g_assert_cmpuint (as_safetensors_get_n_tensors (st), ==, 0);
  g_assert_null (as_safetensors_lookup (st, "x"));
  as_safetensors_free (st);
}

/* ------------------------------------------------------------------------ */
/* Conversions                                                              */

/* Every half, against the textbook formula evaluated in double. */
static void
test_f16_exhaustive (void)
{
  for (guint32 h = 0; h <= 0xffff; h++)
    {
      int sign = (h >> 15) ? -1 : 1;
      int exponent = (h >> 10) & 0x1f;
      int mantissa = h & 0x3ff;
      float got = as_f16_to_f32 ((guint16) h);
      if (exponent == 0x1f)
        {
          g_assert_true (mantissa ? isnan (got) : isinf (got));
          if (!mantissa)
            g_assert_cmpint (signbit (got) != 0, ==, sign < 0);
          continue;
        }
      double expected = exponent == 0
        ? sign * ldexp (mantissa, -24)
        : sign * ldexp (1.0 + mantissa / 1024.0, exponent - 15);
      g_assert_cmpfloat ((double) got, ==, expected);
      g_assert_cmpint (signbit (got) != 0, ==, sign < 0);
    }
}

static void
test_f16_named_values (void)
{
  g_assert_cmpfloat (as_f16_to_f32 (0x3c00), ==, 1.0f);
  g_assert_cmpfloat (as_f16_to_f32 (0xc100), ==, -2.5f);
  g_assert_cmpfloat (as_f16_to_f32 (0x7bff), ==, 65504.0f);
  g_assert_cmpfloat (as_f16_to_f32 (0x0001), ==, 0x1p-24f);
  g_assert_cmpfloat (as_f16_to_f32 (0x03ff), ==, 1023 * 0x1p-24f);  /* largest subnormal */
  g_assert_cmpfloat (as_f16_to_f32 (0x0400), ==, 0x1p-14f);         /* smallest normal */
  g_assert_true (isinf (as_f16_to_f32 (0x7c00)) && as_f16_to_f32 (0x7c00) > 0);
  g_assert_true (isinf (as_f16_to_f32 (0xfc00)) && as_f16_to_f32 (0xfc00) < 0);
  g_assert_true (isnan (as_f16_to_f32 (0x7e00)));
  g_assert_true (isnan (as_f16_to_f32 (0x7c01)));  /* signalling NaN stays NaN */
  g_assert_true (as_f16_to_f32 (0x8000) == 0.0f && signbit (as_f16_to_f32 (0x8000)));
  g_assert_true (as_f16_to_f32 (0x0000) == 0.0f && !signbit (as_f16_to_f32 (0x0000)));
}

static void
test_bf16_named_values (void)
{
  g_assert_cmpfloat (as_bf16_to_f32 (0x3f80), ==, 1.0f);
  g_assert_cmpfloat (as_bf16_to_f32 (0xc020), ==, -2.5f);
  g_assert_cmpfloat (as_bf16_to_f32 (0x7f7f), ==, 0x1.fep127f);  /* largest finite */
  g_assert_cmpfloat (as_bf16_to_f32 (0x0001), ==, 0x1p-133f);
  g_assert_true (isinf (as_bf16_to_f32 (0x7f80)) && as_bf16_to_f32 (0x7f80) > 0);
  g_assert_true (isinf (as_bf16_to_f32 (0xff80)) && as_bf16_to_f32 (0xff80) < 0);
  g_assert_true (isnan (as_bf16_to_f32 (0x7fc0)));
  g_assert_true (as_bf16_to_f32 (0x8000) == 0.0f && signbit (as_bf16_to_f32 (0x8000)));
}

/* ------------------------------------------------------------------------ */
/* The path-based API                                                       */

static char *
write_temp_file (const char *dir,
                 const char *name,
                 const guint8 *data,
                 gsize        len)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  g_file_set_contents (path, (const char *) data, (gssize) len, &error);
  g_assert_no_error (error);
  return path;
}

static void
test_open_path (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-safetensors-XXXXXX", &error);
  g_assert_no_error (error);

  g_autoptr (GByteArray) file = build_mixed_file ("  ");
  g_autofree char *good = write_temp_file (dir, "good.safetensors", file->data, file->len);
  AsSafetensors *st = as_safetensors_open (good, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (as_safetensors_get_path (st), ==, good);
  check_mixed_file (st);
  as_safetensors_free (st);

  g_autofree char *empty = write_temp_file (dir, "empty.safetensors", NULL, 0);
  g_assert_null (as_safetensors_open (empty, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT);
  assert_message_contains (error->message, empty);
  assert_message_contains (error->message, "file is empty");
  g_clear_error (&error);

  /* Missing its last byte, the last tensor runs past the end. */
  g_autofree char *cut = write_temp_file (dir, "cut.safetensors", file->data, file->len - 1);
  g_assert_null (as_safetensors_open (cut, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT);
  assert_message_contains (error->message, cut);
  assert_message_contains (error->message, "run past the end of the file");
  g_clear_error (&error);

  g_autofree char *absent = g_build_filename (dir, "absent.safetensors", NULL);
  g_assert_null (as_safetensors_open (absent, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO);
  assert_message_contains (error->message, absent);
  g_clear_error (&error);

  g_remove (good);
  g_remove (empty);
  g_remove (cut);
  g_rmdir (dir);
}

/* ------------------------------------------------------------------------ */
/* The real checkpoint                                                      */

static void
assert_shape (AsSafetensors *st,
              const char    *name,
              gint64         d0,
              gint64         d1)
{
  const AsTensorInfo *info = as_safetensors_lookup (st, name);
  g_assert_nonnull (info);
  g_assert_cmpint (info->dtype, ==, AS_DTYPE_F32);
  g_assert_cmpint (info->n_dims, ==, d1 ? 2 : 1);
  g_assert_cmpint (info->shape[0], ==, d0);
  if (d1)
    g_assert_cmpint (info->shape[1], ==, d1);
}

static void
test_real_model (void)
{
  const char *dir = g_getenv ("ATTNSCOPE_MODEL_DIR");
  g_autofree char *path = dir ? g_build_filename (dir, "model.safetensors", NULL) : NULL;
  if (path == NULL || !g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("ATTNSCOPE_MODEL_DIR/model.safetensors not found (run tools/setup)");
      return;
    }

  g_autoptr (GError) error = NULL;
  AsSafetensors *st = as_safetensors_open (path, &error);
  g_assert_no_error (error);

  /* all-MiniLM-L6-v2: 104 tensors, 103 F32 plus the I64 position_ids. */
  g_assert_cmpuint (as_safetensors_get_n_tensors (st), ==, 103);
  g_assert_cmpstr (as_safetensors_get_unconvertible_dtype (st, "embeddings.position_ids"), ==, "I64");
  g_assert_cmpstr (as_safetensors_get_metadata (st, "format"), ==, "pt");
  assert_shape (st, "embeddings.word_embeddings.weight", 30522, 384);
  assert_shape (st, "embeddings.position_embeddings.weight", 512, 384);
  assert_shape (st, "encoder.layer.5.intermediate.dense.weight", 1536, 384);
  assert_shape (st, "encoder.layer.5.output.dense.weight", 384, 1536);
  assert_shape (st, "pooler.dense.bias", 384, 0);

  gint64 hidden[] = { 384 };
  g_autofree float *gamma = as_safetensors_read_f32 (st, "embeddings.LayerNorm.weight", 1, hidden, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 384; i++)
    g_assert_true (isfinite (gamma[i]) && gamma[i] != 0.0f);
  as_safetensors_free (st);
}

/* ------------------------------------------------------------------------ */
/* Mutations: any byte of any file must give a tensor table or a GError      */

/* Opens a heap copy and, if it validates, reads every tensor, so an accepted
 * but wrong layout would show up as an ASan overread. TRUE if accepted. */
static gboolean
open_mutant (const guint8 *data,
             gsize         size)
{
  g_autofree guint8 *copy = NULL;
  GError *error = NULL;
  AsSafetensors *st = open_copy (data, size, &copy, &error);
  if (st == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == AS_MODEL_ERROR);
      g_assert_true (g_str_has_prefix (error->message, BAD ": "));
      g_error_free (error);
      return FALSE;
    }
  g_assert_null (error);
  for (guint i = 0; i < as_safetensors_get_n_tensors (st); i++)
    {
      const AsTensorInfo *info = as_safetensors_get_nth (st, i);
      g_assert_cmpuint (info->end, <=, size);
      float *dst = g_new (float, MAX (info->n_elements, 1));
      as_safetensors_copy_f32 (st, info, dst);
      g_free (dst);
    }
  as_safetensors_free (st);
  return TRUE;
}

static void
test_fuzz_every_header_byte (void)
{
  static const guint8 replacements[] = {
    0x00, 0xff, 0x80, '"', '{', '}', '[', ']', ',', ':', '0', '9', '-', '.', ' ', '\\', 'e', 'u',
  };
  g_autoptr (GByteArray) file = build_mixed_file ("   ");
  guint64 header_len;
  memcpy (&header_len, file->data, 8);
  gsize header_end = 8 + (gsize) GUINT64_FROM_LE (header_len);
  g_autofree guint8 *work = g_memdup2 (file->data, file->len);
  guint accepted = 0, total = 0;

  /* The 8 length bytes included. */
  for (gsize pos = 0; pos < header_end; pos++)
    for (gsize r = 0; r < G_N_ELEMENTS (replacements); r++, total++)
      {
        work[pos] = replacements[r];
        accepted += open_mutant (work, file->len);
        work[pos] = file->data[pos];
      }
  g_test_message ("%u of %u single-byte mutants accepted", accepted, total);
}

static void
test_fuzz_truncations (void)
{
  g_autoptr (GByteArray) file = build_mixed_file ("");
  guint accepted = 0;
  for (gsize len = 0; len <= file->len; len++)
    accepted += open_mutant (file->data, len);
  /* Only the whole file is valid: every tensor must end at the end of file. */
  g_assert_cmpuint (accepted, ==, 1);
}

static void
test_fuzz_random_flips (void)
{
  g_autoptr (GByteArray) file = build_mixed_file ("");
  g_autofree guint8 *work = g_malloc (file->len);
  guint accepted = 0, total = 0;
  for (guint32 seed = 1; seed <= 4; seed++)
    {
      GRand *rand = g_rand_new_with_seed (seed);
      for (int round = 0; round < 1500; round++)
        {
          memcpy (work, file->data, file->len);
          int n_flips = g_rand_int_range (rand, 1, 5);
          for (int f = 0; f < n_flips; f++)
            work[g_rand_int_range (rand, 0, (gint32) file->len)] ^= (guint8) g_rand_int_range (rand, 1, 256);
          gsize len = g_rand_boolean (rand) ? file->len : (gsize) g_rand_int_range (rand, 0, (gint32) file->len + 1);
          accepted += open_mutant (work, len);
          total++;
        }
      g_rand_free (rand);
    }
  g_test_message ("%u of %u random mutants accepted", accepted, total);
}

/* ------------------------------------------------------------------------ */

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (json_cases); i++)
    g_test_add_data_func (json_cases[i].path, &json_cases[i], test_json_case);
  g_test_add_func ("/malformed/escaped-nul-in-name", test_escaped_nul_in_name);
  g_test_add_func ("/malformed/empty-file", test_empty_file);
  g_test_add_func ("/malformed/file-shorter-than-8-bytes", test_file_shorter_than_8_bytes);
  g_test_add_func ("/malformed/header-length-beyond-file", test_header_length_beyond_file);
  g_test_add_func ("/malformed/header-length-over-limit", test_header_length_over_limit);
  g_test_add_func ("/malformed/non-utf8-header", test_non_utf8_header);
  g_test_add_func ("/malformed/nul-byte-in-header", test_nul_byte_in_header);
  g_test_add_func ("/malformed/trailing-bytes", test_trailing_bytes);
  g_test_add_func ("/malformed/nesting-too-deep", test_nesting_too_deep);
  g_test_add_func ("/malformed/unsupported-dtype-i64", test_unsupported_dtype_i64);

  g_test_add_func ("/valid/mixed-dtypes", test_valid_mixed_dtypes);
  g_test_add_func ("/valid/header-padded-with-spaces", test_header_padded_with_spaces);
  g_test_add_func ("/valid/read-errors", test_read_errors);
  g_test_add_func ("/valid/unaligned-data", test_unaligned_data);
  g_test_add_func ("/valid/zero-sized-and-scalar", test_zero_sized_and_scalar_tensors);
  g_test_add_func ("/valid/no-tensors", test_no_tensors);
  g_test_add_func ("/valid/walk-edge-cases", test_walk_edge_cases);
  g_test_add_func ("/limits/too-many-tensors", test_too_many_tensors);
  g_test_add_func ("/limits/too-much-metadata", test_too_much_metadata);
  g_test_add_func ("/valid/open-path", test_open_path);
  g_test_add_func ("/valid/real-model", test_real_model);

  g_test_add_func ("/convert/f16-exhaustive", test_f16_exhaustive);
  g_test_add_func ("/convert/f16-named-values", test_f16_named_values);
  g_test_add_func ("/convert/bf16-named-values", test_bf16_named_values);

  g_test_add_func ("/fuzz/every-header-byte", test_fuzz_every_header_byte);
  g_test_add_func ("/fuzz/truncations", test_fuzz_truncations);
  g_test_add_func ("/fuzz/random-flips", test_fuzz_random_flips);

  return g_test_run ();
}
