/* as-gguf.c — a validating reader for GGUF v2/v3; see as-gguf.h.
 *
 * One pass over the header with a bounds-checked cursor. Nothing is
 * allocated ahead from a count in the file: the lists grow as entries are
 * actually read, so memory stays within a small multiple of the bytes read
 * (a hostile count runs into the end of the file first), and a file cut
 * anywhere is reported at the very field it was cut in. Every string is
 * checked as UTF-8 before it is copied; the tensors are checked together at
 * the end (inside the data section, aligned, not overlapping). Strings are
 * copied into one GStringChunk so they are NUL-terminated; numeric arrays
 * stay in the caller's bytes and are converted on request.
 */
#include "as-gguf.h"

#include <string.h>

#include "as-error.h"
#include "as-file-read.h"

#define GGUF_MAGIC "GGUF"
#define ALIGNMENT_KEY "general.alignment"

/* ------------------------------------------------------------------------ */
/* Types                                                                    */

typedef struct {
  guint32     id;
  const char *name;
  guint       block_elements;
  guint       block_bytes;
} TypeDesc;

/* Every type ggml defines (ggml.h, GGML_TYPE_*; sizes as ggml's type traits). */
static const TypeDesc type_table[] = {
  { AS_GGML_F32,     "F32",       1,   4 },
  { AS_GGML_F16,     "F16",       1,   2 },
  { AS_GGML_Q4_0,    "Q4_0",     32,  18 },
  { AS_GGML_Q4_1,    "Q4_1",     32,  20 },
  { AS_GGML_Q5_0,    "Q5_0",     32,  22 },
  { AS_GGML_Q5_1,    "Q5_1",     32,  24 },
  { AS_GGML_Q8_0,    "Q8_0",     32,  34 },
  { AS_GGML_Q8_1,    "Q8_1",     32,  36 },
  { AS_GGML_Q2_K,    "Q2_K",    256,  84 },
  { AS_GGML_Q3_K,    "Q3_K",    256, 110 },
  { AS_GGML_Q4_K,    "Q4_K",    256, 144 },
  { AS_GGML_Q5_K,    "Q5_K",    256, 176 },
  { AS_GGML_Q6_K,    "Q6_K",    256, 210 },
  { AS_GGML_Q8_K,    "Q8_K",    256, 292 },
  { AS_GGML_IQ2_XXS, "IQ2_XXS", 256,  66 },
  { AS_GGML_IQ2_XS,  "IQ2_XS",  256,  74 },
  { AS_GGML_IQ3_XXS, "IQ3_XXS", 256,  98 },
  { AS_GGML_IQ1_S,   "IQ1_S",   256,  50 },
  { AS_GGML_IQ4_NL,  "IQ4_NL",   32,  18 },
  { AS_GGML_IQ3_S,   "IQ3_S",   256, 110 },
  { AS_GGML_IQ2_S,   "IQ2_S",   256,  82 },
  { AS_GGML_IQ4_XS,  "IQ4_XS",  256, 136 },
  { AS_GGML_I8,      "I8",        1,   1 },
  { AS_GGML_I16,     "I16",       1,   2 },
  { AS_GGML_I32,     "I32",       1,   4 },
  { AS_GGML_I64,     "I64",       1,   8 },
  { AS_GGML_F64,     "F64",       1,   8 },
  { AS_GGML_IQ1_M,   "IQ1_M",   256,  56 },
  { AS_GGML_BF16,    "BF16",      1,   2 },
  { AS_GGML_TQ1_0,   "TQ1_0",   256,  54 },
  { AS_GGML_TQ2_0,   "TQ2_0",   256,  66 },
  { AS_GGML_MXFP4,   "MXFP4",    32,  17 },
  { AS_GGML_NVFP4,   "NVFP4",    64,  36 },
  { AS_GGML_Q1_0,    "Q1_0",    128,  18 },
};

static const TypeDesc *
find_type (guint32 id)
{
  for (gsize i = 0; i < G_N_ELEMENTS (type_table); i++)
    if (type_table[i].id == id)
      return &type_table[i];
  return NULL;
}

const char *
as_ggml_type_name (guint32 type)
{
  const TypeDesc *t = find_type (type);
  return t != NULL ? t->name : NULL;
}

gboolean
as_ggml_type_layout (guint32  type,
                     guint   *block_elements,
                     guint   *block_bytes)
{
  const TypeDesc *t = find_type (type);
  if (t == NULL)
    return FALSE;
  if (block_elements != NULL)
    *block_elements = t->block_elements;
  if (block_bytes != NULL)
    *block_bytes = t->block_bytes;
  return TRUE;
}

static const char *const value_type_names[AS_GGUF_N_VALUE_TYPES] = {
  "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
  "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};

/* Bytes of a scalar value; 0 for STRING and ARRAY. */
static const guint8 value_type_size[AS_GGUF_N_VALUE_TYPES] = {
  1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8,
};

const char *
as_gguf_value_type_name (guint32 type)
{
  return type < AS_GGUF_N_VALUE_TYPES ? value_type_names[type] : NULL;
}

/* ------------------------------------------------------------------------ */
/* The object                                                               */

typedef struct {
  const char      *key;
  AsGgufValueType  type;
  AsGgufValueType  element_type;  /* arrays */
  guint64          n;             /* arrays: element count */
  guint64          bits;          /* scalars: the value's bytes, as a little-endian integer */
  const char      *string;        /* STRING */
  const char     **strings;       /* ARRAY of STRING: n of them */
  const guint8    *raw;           /* ARRAY of scalars: the elements in the buffer */
} Kv;

/* Lookups map a key or name to its index + 1, so the arrays may grow. */
struct _AsGguf {
  char         *display_name;
  guint8       *owned;          /* the file's bytes when opened from a path */
  guint32       version;
  guint         alignment;
  GStringChunk *text;           /* every key, name and string value */
  GArray       *kvs;            /* Kv, in file order */
  GHashTable   *kv_by_key;
  GArray       *tensors;        /* AsGgufTensor, in file order */
  GHashTable   *tensor_by_name;
};

static const Kv *
find_kv (AsGguf     *gg,
         const char *key)
{
  guint i = GPOINTER_TO_UINT (g_hash_table_lookup (gg->kv_by_key, key));
  return i > 0 ? &g_array_index (gg->kvs, Kv, i - 1) : NULL;
}

static void
kv_clear (gpointer p)
{
  Kv *kv = p;
  g_clear_pointer (&kv->strings, g_free);
}

/* Every message starts with the file, so it can be acted on out of context. */
G_GNUC_PRINTF (4, 5)
static void
set_error (GError     **error,
           AsModelError code,
           const char  *file,
           const char  *format,
           ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, AS_MODEL_ERROR, code, "%s: %s", file, reason);
}

/* ------------------------------------------------------------------------ */
/* The cursor                                                               */

/* Where the cursor is, for messages: "key 'x'", "tensor 'y'", or before the
 * name is known "key #3" / "tensor #7". */
typedef struct {
  const guint8 *data;
  gsize         size;
  gsize         pos;
  const char   *file;
  const char   *kind;     /* "key", "tensor" or NULL (the fixed header) */
  const char   *name;     /* NULL until read */
  guint64       index;
  GError      **error;
} Cursor;

static char *
where (const Cursor *c)
{
  if (c->kind == NULL)
    return g_strdup ("the header");
  if (c->name != NULL)
    return g_strdup_printf ("%s '%s'", c->kind, c->name);
  return g_strdup_printf ("%s #%" G_GUINT64_FORMAT, c->kind, c->index);
}

G_GNUC_PRINTF (3, 4)
static gboolean
fail (Cursor      *c,
      AsModelError code,
      const char  *format,
      ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_autofree char *at = where (c);
  set_error (c->error, code, c->file, "%s: %s", at, reason);
  return FALSE;
}

/* N bytes at the cursor, or NULL after a message naming FIELD. */
static const guint8 *
take (Cursor     *c,
      gsize       n,
      const char *field)
{
  if (n > c->size - c->pos)
    {
      fail (c, AS_MODEL_ERROR_FORMAT,
            "truncated: the file ends at byte %" G_GSIZE_FORMAT " inside %s "
            "(%" G_GSIZE_FORMAT " bytes needed at byte %" G_GSIZE_FORMAT ")",
            c->size, field, n, c->pos);
      return NULL;
    }
  const guint8 *p = c->data + c->pos;
  c->pos += n;
  return p;
}

static guint64
le_bits (const guint8 *p,
         guint         n)
{
  guint64 v = 0;
  for (guint i = 0; i < n; i++)
    v |= (guint64) p[i] << (8 * i);
  return v;
}

static gboolean
read_u32 (Cursor     *c,
          const char *field,
          guint32    *out)
{
  const guint8 *p = take (c, 4, field);
  if (p == NULL)
    return FALSE;
  *out = (guint32) le_bits (p, 4);
  return TRUE;
}

static gboolean
read_u64 (Cursor     *c,
          const char *field,
          guint64    *out)
{
  const guint8 *p = take (c, 8, field);
  if (p == NULL)
    return FALSE;
  *out = le_bits (p, 8);
  return TRUE;
}

/* A string: u64 length (at most MAX_LEN), then the bytes, which must be
 * UTF-8 without NUL (they become C strings and reach labels and messages). */
static gboolean
read_string (Cursor        *c,
             const char    *field,
             guint64        max_len,
             const guint8 **bytes,
             gsize         *len)
{
  guint64 n = 0;
  g_autofree char *length_field = g_strconcat ("the length of ", field, NULL);
  if (!read_u64 (c, length_field, &n))
    return FALSE;
  if (n > c->size - c->pos)
    return fail (c, AS_MODEL_ERROR_FORMAT,
                 "truncated: %s is %" G_GUINT64_FORMAT " bytes long, past the end of the file "
                 "(%" G_GSIZE_FORMAT " bytes left at byte %" G_GSIZE_FORMAT ")",
                 field, n, c->size - c->pos, c->pos);
  if (n > max_len)
    return fail (c, AS_MODEL_ERROR_FORMAT, "%s is %" G_GUINT64_FORMAT " bytes long, "
                 "more than the %" G_GUINT64_FORMAT " allowed", field, n, max_len);
  const char *s = (const char *) c->data + c->pos;
  const char *bad = NULL;
  if (memchr (s, '\0', (gsize) n) != NULL)
    return fail (c, AS_MODEL_ERROR_FORMAT, "%s holds a NUL byte", field);
  if (!g_utf8_validate_len (s, (gsize) n, &bad))
    return fail (c, AS_MODEL_ERROR_FORMAT, "%s is not valid UTF-8 (bad byte at byte %" G_GSIZE_FORMAT ")",
                 field, c->pos + (gsize) (bad - s));
  *bytes = c->data + c->pos;
  *len = (gsize) n;
  c->pos += (gsize) n;
  return TRUE;
}


/* ------------------------------------------------------------------------ */
/* The fixed header                                                         */

static gboolean
read_preamble (Cursor  *c,
               guint32 *version,
               guint64 *n_tensors,
               guint64 *n_kv)
{
  if (c->size < 4)
    return fail (c, AS_MODEL_ERROR_FORMAT, "the file is %" G_GSIZE_FORMAT " bytes, too short "
                 "for the 4-byte GGUF magic", c->size);
  if (memcmp (c->data, GGUF_MAGIC, 4) != 0)
    return fail (c, AS_MODEL_ERROR_FORMAT, "not a GGUF file (it starts with bytes "
                 "%02x %02x %02x %02x, not \"GGUF\")",
                 c->data[0], c->data[1], c->data[2], c->data[3]);
  c->pos = 4;
  if (!read_u32 (c, "the version", version))
    return FALSE;
  if (*version == 1)
    return fail (c, AS_MODEL_ERROR_UNSUPPORTED, "GGUF version 1 (32-bit counts, from 2023) is "
                 "not supported; convert the model again with a current llama.cpp");
  /* A big-endian file (allowed since v3) has its version byte-swapped. */
  if (GUINT32_SWAP_LE_BE (*version) == 2 || GUINT32_SWAP_LE_BE (*version) == 3)
    return fail (c, AS_MODEL_ERROR_UNSUPPORTED, "a big-endian GGUF file, which AttnScope does not read");
  if (*version != 2 && *version != 3)
    return fail (c, AS_MODEL_ERROR_UNSUPPORTED, "GGUF version %u is not supported (only 2 and 3)",
                 *version);
  if (!read_u64 (c, "the tensor count", n_tensors) || !read_u64 (c, "the key-value count", n_kv))
    return FALSE;
  if (*n_tensors > AS_GGUF_MAX_TENSORS)
    return fail (c, AS_MODEL_ERROR_RESOURCES, "lists %" G_GUINT64_FORMAT " tensors, more than "
                 "the %u a file may hold", *n_tensors, (guint) AS_GGUF_MAX_TENSORS);
  if (*n_kv > AS_GGUF_MAX_KV)
    return fail (c, AS_MODEL_ERROR_RESOURCES, "lists %" G_GUINT64_FORMAT " key-value pairs, more "
                 "than the %u a file may hold", *n_kv, (guint) AS_GGUF_MAX_KV);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Key-value pairs                                                          */

/* A STRING value, copied into GG's text. */
static gboolean
read_string_value (Cursor      *c,
                   AsGguf      *gg,
                   const char  *field,
                   const char **out)
{
  const guint8 *bytes = NULL;
  gsize len = 0;
  if (!read_string (c, field, G_MAXUINT64, &bytes, &len))
    return FALSE;
  *out = g_string_chunk_insert_len (gg->text, (const char *) bytes, (gssize) len);
  return TRUE;
}

static gboolean
read_scalar (Cursor          *c,
             AsGgufValueType  type,
             const char      *field,
             guint64         *bits)
{
  const guint8 *p = take (c, value_type_size[type], field);
  if (p == NULL)
    return FALSE;
  *bits = le_bits (p, value_type_size[type]);
  if (type == AS_GGUF_BOOL && *bits > 1)
    return fail (c, AS_MODEL_ERROR_FORMAT, "%s is a BOOL of value %u (only 0 and 1 are valid)",
                 field, (guint) *bits);
  return TRUE;
}

/* The pointer list grows as strings are read: each takes at least 8 bytes
 * of the file, so a hostile count meets the end of the file long before the
 * list is large. */
static gboolean
read_string_array (Cursor *c,
                   AsGguf *gg,
                   Kv     *kv)
{
  GPtrArray *list = g_ptr_array_new ();
  for (guint64 i = 0; i < kv->n; i++)
    {
      char field[64];
      const char *s = NULL;
      g_snprintf (field, sizeof field, "string %" G_GUINT64_FORMAT " of the array", i);
      if (!read_string_value (c, gg, field, &s))
        {
          g_ptr_array_free (list, TRUE);
          return FALSE;
        }
      g_ptr_array_add (list, (gpointer) s);
    }
  g_ptr_array_add (list, NULL);  /* NULL-terminated, and never NULL itself */
  kv->strings = (const char **) g_ptr_array_free (list, FALSE);
  return TRUE;
}

static gboolean
read_array (Cursor *c,
            AsGguf *gg,
            Kv     *kv)
{
  guint32 element = 0;
  if (!read_u32 (c, "the array's element type", &element) ||
      !read_u64 (c, "the array's length", &kv->n))
    return FALSE;
  if (element == AS_GGUF_ARRAY)
    return fail (c, AS_MODEL_ERROR_UNSUPPORTED, "an array of arrays, which AttnScope does not read "
                 "(no model metadata nests them)");
  if (element >= AS_GGUF_N_VALUE_TYPES)
    return fail (c, AS_MODEL_ERROR_FORMAT, "an array of unknown value type %u", element);
  kv->element_type = element;
  if (element == AS_GGUF_STRING)
    return read_string_array (c, gg, kv);

  guint size = value_type_size[element];
  if (kv->n > (c->size - c->pos) / size)
    return fail (c, AS_MODEL_ERROR_FORMAT, "truncated: an array of %" G_GUINT64_FORMAT " %s values "
                 "(%u bytes each) runs past the end of the file (%" G_GSIZE_FORMAT " bytes left "
                 "at byte %" G_GSIZE_FORMAT ")",
                 kv->n, value_type_names[element], size, c->size - c->pos, c->pos);
  kv->raw = c->data + c->pos;
  if (element == AS_GGUF_BOOL)
    for (guint64 i = 0; i < kv->n; i++)
      if (kv->raw[i] > 1)
        return fail (c, AS_MODEL_ERROR_FORMAT, "element %" G_GUINT64_FORMAT " of the array is a "
                     "BOOL of value %u (only 0 and 1 are valid)", i, kv->raw[i]);
  c->pos += (gsize) (kv->n * size);
  return TRUE;
}

static gboolean
read_kv (Cursor *c,
         AsGguf *gg,
         Kv     *kv)
{
  const guint8 *bytes = NULL;
  gsize len = 0;
  if (!read_string (c, "the key", AS_GGUF_MAX_KEY, &bytes, &len))
    return FALSE;
  if (len == 0)
    return fail (c, AS_MODEL_ERROR_FORMAT, "the key is empty");
  kv->key = g_string_chunk_insert_len (gg->text, (const char *) bytes, (gssize) len);
  c->name = kv->key;
  if (g_hash_table_contains (gg->kv_by_key, kv->key))
    return fail (c, AS_MODEL_ERROR_FORMAT, "the key appears twice");

  guint32 type = 0;
  if (!read_u32 (c, "the value type", &type))
    return FALSE;
  if (type >= AS_GGUF_N_VALUE_TYPES)
    return fail (c, AS_MODEL_ERROR_FORMAT, "unknown value type %u", type);
  kv->type = type;
  return type == AS_GGUF_STRING ? read_string_value (c, gg, "the value", &kv->string)
       : type == AS_GGUF_ARRAY  ? read_array (c, gg, kv)
       : read_scalar (c, type, "the value", &kv->bits);
}

/* general.alignment, when present, must be a UINT32 power of two. */
static gboolean
read_alignment (Cursor *c,
                AsGguf *gg)
{
  gg->alignment = AS_GGUF_DEFAULT_ALIGNMENT;
  const Kv *kv = find_kv (gg, ALIGNMENT_KEY);
  if (kv == NULL)
    return TRUE;
  c->kind = "key";
  c->name = ALIGNMENT_KEY;
  if (kv->type != AS_GGUF_UINT32)
    return fail (c, AS_MODEL_ERROR_FORMAT, "is a %s, expected a UINT32", value_type_names[kv->type]);
  guint32 a = (guint32) kv->bits;
  if (a == 0 || (a & (a - 1)) != 0)
    return fail (c, AS_MODEL_ERROR_FORMAT, "is %u, not a power of two", a);
  gg->alignment = a;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Tensor infos                                                             */

static gboolean
read_dims (Cursor       *c,
           AsGgufTensor *t)
{
  guint32 n_dims = 0;
  if (!read_u32 (c, "the number of dimensions", &n_dims))
    return FALSE;
  if (n_dims == 0 || n_dims > AS_GGUF_MAX_DIMS)
    return fail (c, AS_MODEL_ERROR_FORMAT, "has %u dimensions (1 to %d are valid)",
                 n_dims, AS_GGUF_MAX_DIMS);
  t->n_dims = (int) n_dims;
  guint64 count = 1;
  for (int d = 0; d < AS_GGUF_MAX_DIMS; d++)
    t->ne[d] = 1;
  for (guint32 d = 0; d < n_dims; d++)
    {
      guint64 ne = 0;
      char field[32];
      g_snprintf (field, sizeof field, "dimension %u", d);
      if (!read_u64 (c, field, &ne))
        return FALSE;
      if (ne == 0 || ne > (guint64) G_MAXINT64)
        return fail (c, AS_MODEL_ERROR_FORMAT, "dimension %u is %" G_GUINT64_FORMAT
                     " (must be 1 to 2^63 - 1)", d, ne);
      t->ne[d] = (gint64) ne;
      if (!g_uint64_checked_mul (&count, count, ne) || count > (guint64) G_MAXINT64)
        return fail (c, AS_MODEL_ERROR_FORMAT, "its dimensions overflow 63 bits when multiplied");
    }
  t->n_elements = (gint64) count;
  t->n_rows = t->n_elements / t->ne[0];
  return TRUE;
}

/* The type must be known and divide the first dimension into whole blocks;
 * the byte size is then exact. */
static gboolean
read_type (Cursor       *c,
           AsGgufTensor *t)
{
  guint32 type = 0;
  if (!read_u32 (c, "the tensor type", &type))
    return FALSE;
  const TypeDesc *desc = find_type (type);
  if (desc == NULL)
    return fail (c, AS_MODEL_ERROR_FORMAT, "has unknown tensor type %u", type);
  t->type = type;
  if (t->ne[0] % desc->block_elements != 0)
    return fail (c, AS_MODEL_ERROR_FORMAT, "its first dimension %" G_GINT64_FORMAT " is not a "
                 "multiple of %s's block of %u", t->ne[0], desc->name, desc->block_elements);
  guint64 blocks = (guint64) t->n_elements / desc->block_elements;
  if (!g_uint64_checked_mul (&t->n_bytes, blocks, desc->block_bytes))
    return fail (c, AS_MODEL_ERROR_FORMAT, "its size in bytes overflows 64 bits");
  return TRUE;
}

static gboolean
read_tensor_info (Cursor       *c,
                  AsGguf       *gg,
                  AsGgufTensor *t)
{
  const guint8 *bytes = NULL;
  gsize len = 0;
  if (!read_string (c, "the name", AS_GGUF_MAX_NAME, &bytes, &len))
    return FALSE;
  if (len == 0)
    return fail (c, AS_MODEL_ERROR_FORMAT, "the name is empty");
  t->name = g_string_chunk_insert_len (gg->text, (const char *) bytes, (gssize) len);
  c->name = t->name;
  if (g_hash_table_contains (gg->tensor_by_name, t->name))
    return fail (c, AS_MODEL_ERROR_FORMAT, "the name appears twice");
  if (!read_dims (c, t) || !read_type (c, t) || !read_u64 (c, "the data offset", &t->offset))
    return FALSE;
  if (t->offset % gg->alignment != 0)
    return fail (c, AS_MODEL_ERROR_FORMAT, "its data offset %" G_GUINT64_FORMAT " is not a "
                 "multiple of the alignment %u", t->offset, gg->alignment);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The data section                                                         */

static int
compare_by_offset (gconstpointer a,
                   gconstpointer b)
{
  const AsGgufTensor *x = *(const AsGgufTensor *const *) a;
  const AsGgufTensor *y = *(const AsGgufTensor *const *) b;
  if (x->offset != y->offset)
    return x->offset < y->offset ? -1 : 1;
  /* Same offset: file order (they are in one array), so the message about
   * the overlap is the same on every libc. */
  return x < y ? -1 : x > y;
}

/* Every tensor inside [0, DATA_SIZE) and none overlapping: what lets every
 * later access trust t->data and t->n_bytes. */
static gboolean
check_tensor_bytes (Cursor       *c,
                    AsGguf       *gg,
                    const guint8 *data_section,
                    guint64       data_size)
{
  const guint n = gg->tensors->len;
  AsGgufTensor *tensors = (AsGgufTensor *) (void *) gg->tensors->data;
  c->kind = "tensor";
  for (guint i = 0; i < n; i++)
    {
      AsGgufTensor *t = &tensors[i];
      c->name = t->name;
      if (t->offset > data_size || t->n_bytes > data_size - t->offset)
        return fail (c, AS_MODEL_ERROR_FORMAT, "its %" G_GUINT64_FORMAT " bytes at data offset %"
                     G_GUINT64_FORMAT " run past the end of the file (the data section is %"
                     G_GUINT64_FORMAT " bytes)", t->n_bytes, t->offset, data_size);
      t->data = data_section + t->offset;
    }
  g_autofree AsGgufTensor **order = g_new (AsGgufTensor *, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    order[i] = &tensors[i];
  qsort (order, n, sizeof *order, compare_by_offset);
  for (guint i = 1; i < n; i++)
    {
      const AsGgufTensor *prev = order[i - 1], *t = order[i];
      if (t->offset < prev->offset + prev->n_bytes)
        {
          c->name = t->name;
          return fail (c, AS_MODEL_ERROR_FORMAT, "its bytes [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                       ") overlap tensor '%s' [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ")",
                       t->offset, t->offset + t->n_bytes, prev->name,
                       prev->offset, prev->offset + prev->n_bytes);
        }
    }
  return TRUE;
}

/* The data section starts at the end of the header rounded up to the
 * alignment; with no tensors there need not be one. */
static gboolean
locate_data (Cursor  *c,
             AsGguf  *gg)
{
  guint64 start = ((guint64) c->pos + gg->alignment - 1) / gg->alignment * gg->alignment;
  c->kind = NULL;
  if (gg->tensors->len > 0 && start > c->size)
    return fail (c, AS_MODEL_ERROR_FORMAT, "truncated: the data section would start at byte %"
                 G_GUINT64_FORMAT " (the header ends at byte %" G_GSIZE_FORMAT ", padded to %u), "
                 "past the end of the file (%" G_GSIZE_FORMAT " bytes)",
                 start, c->pos, gg->alignment, c->size);
  if (gg->tensors->len == 0)
    return TRUE;
  return check_tensor_bytes (c, gg, c->data + start, c->size - start);
}

/* ------------------------------------------------------------------------ */
/* Open                                                                     */

static gboolean
parse (AsGguf       *gg,
       const guint8 *data,
       gsize         size,
       GError      **error)
{
  Cursor c = { data, size, 0, gg->display_name, NULL, NULL, 0, error };
  guint64 n_tensors = 0, n_kv = 0;
  if (!read_preamble (&c, &gg->version, &n_tensors, &n_kv))
    return FALSE;

  c.kind = "key";
  for (guint64 i = 0; i < n_kv; i++)
    {
      Kv kv = { 0 };
      c.name = NULL;
      c.index = i;
      if (!read_kv (&c, gg, &kv))
        {
          kv_clear (&kv);
          return FALSE;
        }
      g_array_append_val (gg->kvs, kv);
      g_hash_table_insert (gg->kv_by_key, (gpointer) kv.key, GUINT_TO_POINTER (gg->kvs->len));
    }
  if (!read_alignment (&c, gg))
    return FALSE;

  c.kind = "tensor";
  for (guint64 i = 0; i < n_tensors; i++)
    {
      AsGgufTensor t = { 0 };
      c.name = NULL;
      c.index = i;
      if (!read_tensor_info (&c, gg, &t))
        return FALSE;
      g_array_append_val (gg->tensors, t);
      g_hash_table_insert (gg->tensor_by_name, (gpointer) t.name, GUINT_TO_POINTER (gg->tensors->len));
    }
  return locate_data (&c, gg);
}

AsGguf *
as_gguf_open_bytes (const guint8 *data,
                    gsize         size,
                    const char   *display_name,
                    GError      **error)
{
  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (display_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  AsGguf *gg = g_new0 (AsGguf, 1);
  gg->display_name = g_strdup (display_name);
  gg->text = g_string_chunk_new (4096);
  gg->kvs = g_array_new (FALSE, TRUE, sizeof (Kv));
  g_array_set_clear_func (gg->kvs, kv_clear);
  gg->kv_by_key = g_hash_table_new (g_str_hash, g_str_equal);
  gg->tensors = g_array_new (FALSE, TRUE, sizeof (AsGgufTensor));
  gg->tensor_by_name = g_hash_table_new (g_str_hash, g_str_equal);
  if (!parse (gg, data != NULL ? data : (const guint8 *) "", size, error))
    {
      as_gguf_free (gg);
      return NULL;
    }
  return gg;
}

AsGguf *
as_gguf_open (const char  *path,
              GError     **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  char *bytes = NULL;
  gsize size = 0;
  if (!as_file_read_regular (path, AS_FILE_CAP_NONE, &bytes, &size, error))
    return NULL;
  AsGguf *gg = as_gguf_open_bytes ((const guint8 *) bytes, size, path, error);
  if (gg == NULL)
    {
      g_free (bytes);
      return NULL;
    }
  gg->owned = (guint8 *) bytes;
  return gg;
}

void
as_gguf_free (AsGguf *gg)
{
  if (gg == NULL)
    return;
  g_clear_pointer (&gg->kvs, g_array_unref);
  g_clear_pointer (&gg->tensors, g_array_unref);
  g_clear_pointer (&gg->kv_by_key, g_hash_table_unref);
  g_clear_pointer (&gg->tensor_by_name, g_hash_table_unref);
  if (gg->text != NULL)
    g_string_chunk_free (gg->text);
  g_free (gg->owned);
  g_free (gg->display_name);
  g_free (gg);
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */

const char *
as_gguf_get_path (AsGguf *gg)
{
  g_return_val_if_fail (gg != NULL, NULL);
  return gg->display_name;
}

guint32
as_gguf_get_version (AsGguf *gg)
{
  g_return_val_if_fail (gg != NULL, 0);
  return gg->version;
}

guint
as_gguf_get_alignment (AsGguf *gg)
{
  g_return_val_if_fail (gg != NULL, 0);
  return gg->alignment;
}

guint
as_gguf_get_n_kv (AsGguf *gg)
{
  g_return_val_if_fail (gg != NULL, 0);
  return gg->kvs->len;
}

const char *
as_gguf_get_key (AsGguf *gg,
                 guint   index)
{
  g_return_val_if_fail (gg != NULL && index < gg->kvs->len, NULL);
  return g_array_index (gg->kvs, Kv, index).key;
}

int
as_gguf_find_key (AsGguf          *gg,
                  const char      *key,
                  AsGgufValueType *element_type,
                  guint64         *n_elements)
{
  g_return_val_if_fail (gg != NULL && key != NULL, -1);
  const Kv *kv = find_kv (gg, key);
  if (kv == NULL)
    return -1;
  if (element_type != NULL)
    *element_type = kv->element_type;
  if (n_elements != NULL)
    *n_elements = kv->n;
  return (int) kv->type;
}

/* KEY's pair if it holds TYPE (for an array, of ELEMENT), else NULL and an
 * error naming what it holds. */
static const Kv *
lookup_typed (AsGguf          *gg,
              const char      *key,
              AsGgufValueType  type,
              AsGgufValueType  element,
              GError         **error)
{
  const Kv *kv = find_kv (gg, key);
  if (kv == NULL)
    {
      set_error (error, AS_MODEL_ERROR_MISMATCH, gg->display_name, "key '%s' is missing", key);
      return NULL;
    }
  if (kv->type == type && (type != AS_GGUF_ARRAY || kv->element_type == element))
    return kv;
  g_autofree char *want = type == AS_GGUF_ARRAY
    ? g_strdup_printf ("an ARRAY of %s", value_type_names[element]) : g_strdup (value_type_names[type]);
  g_autofree char *have = kv->type == AS_GGUF_ARRAY
    ? g_strdup_printf ("an ARRAY of %s", value_type_names[kv->element_type])
    : g_strdup (value_type_names[kv->type]);
  set_error (error, AS_MODEL_ERROR_MISMATCH, gg->display_name,
             "key '%s' holds %s, expected %s", key, have, want);
  return NULL;
}

#define SCALAR_GETTER(fn, ctype, vtype, convert)                              \
  gboolean                                                                    \
  fn (AsGguf *gg, const char *key, ctype *out, GError **error)                \
  {                                                                           \
    g_return_val_if_fail (gg != NULL && key != NULL && out != NULL, FALSE);   \
    const Kv *kv = lookup_typed (gg, key, vtype, 0, error);                   \
    if (kv == NULL)                                                           \
      return FALSE;                                                           \
    guint64 bits = kv->bits;                                                  \
    convert;                                                                  \
    return TRUE;                                                              \
  }

static float
float_of_bits (guint32 bits)
{
  float f;
  memcpy (&f, &bits, sizeof f);
  return f;
}

static double
double_of_bits (guint64 bits)
{
  double f;
  memcpy (&f, &bits, sizeof f);
  return f;
}

SCALAR_GETTER (as_gguf_get_u32, guint32, AS_GGUF_UINT32, *out = (guint32) bits)
SCALAR_GETTER (as_gguf_get_i32, gint32, AS_GGUF_INT32, *out = (gint32) (guint32) bits)
SCALAR_GETTER (as_gguf_get_u64, guint64, AS_GGUF_UINT64, *out = bits)
SCALAR_GETTER (as_gguf_get_f32, float, AS_GGUF_FLOAT32, *out = float_of_bits ((guint32) bits))
SCALAR_GETTER (as_gguf_get_f64, double, AS_GGUF_FLOAT64, *out = double_of_bits (bits))
SCALAR_GETTER (as_gguf_get_bool, gboolean, AS_GGUF_BOOL, *out = bits != 0)

/* The integer in BITS, of TYPE, sign-extended; FALSE if TYPE is not an
 * integer type. */
static gboolean
integer_value (AsGgufValueType type,
               guint64         bits,
               gint64         *value,
               gboolean       *is_unsigned)
{
  *is_unsigned = FALSE;
  switch (type)
    {
    case AS_GGUF_INT8:   *value = (gint8) bits; return TRUE;
    case AS_GGUF_INT16:  *value = (gint16) bits; return TRUE;
    case AS_GGUF_INT32:  *value = (gint32) bits; return TRUE;
    case AS_GGUF_INT64:  *value = (gint64) bits; return TRUE;
    case AS_GGUF_UINT8:
    case AS_GGUF_UINT16:
    case AS_GGUF_UINT32:
    case AS_GGUF_UINT64: *value = (gint64) bits; *is_unsigned = TRUE; return TRUE;
    default: return FALSE;
    }
}

gboolean
as_gguf_get_count (AsGguf      *gg,
                   const char  *key,
                   guint64     *out,
                   GError     **error)
{
  g_return_val_if_fail (gg != NULL && key != NULL && out != NULL, FALSE);
  const Kv *kv = find_kv (gg, key);
  if (kv == NULL)
    {
      set_error (error, AS_MODEL_ERROR_MISMATCH, gg->display_name, "key '%s' is missing", key);
      return FALSE;
    }
  gint64 value = 0;
  gboolean is_unsigned = FALSE;
  if (!integer_value (kv->type, kv->bits, &value, &is_unsigned))
    {
      set_error (error, AS_MODEL_ERROR_MISMATCH, gg->display_name,
                 "key '%s' holds %s, expected an integer", key, value_type_names[kv->type]);
      return FALSE;
    }
  /* A UINT64 above 2^63 reads as negative here, and is refused with them. */
  if (value < 0)
    {
      set_error (error, AS_MODEL_ERROR_MISMATCH, gg->display_name,
                 "key '%s' is %s%" G_GINT64_FORMAT ", expected a count", key,
                 is_unsigned ? "above 2^63: " : "", value);
      return FALSE;
    }
  *out = (guint64) value;
  return TRUE;
}

const char *
as_gguf_get_string (AsGguf      *gg,
                    const char  *key,
                    GError     **error)
{
  g_return_val_if_fail (gg != NULL && key != NULL, NULL);
  const Kv *kv = lookup_typed (gg, key, AS_GGUF_STRING, 0, error);
  return kv != NULL ? kv->string : NULL;
}

const char *const *
as_gguf_get_strings (AsGguf      *gg,
                     const char  *key,
                     gsize       *n,
                     GError     **error)
{
  g_return_val_if_fail (gg != NULL && key != NULL && n != NULL, NULL);
  const Kv *kv = lookup_typed (gg, key, AS_GGUF_ARRAY, AS_GGUF_STRING, error);
  if (kv == NULL)
    return NULL;
  *n = (gsize) kv->n;
  return (const char *const *) kv->strings;
}

float *
as_gguf_dup_f32_array (AsGguf      *gg,
                       const char  *key,
                       gsize       *n,
                       GError     **error)
{
  g_return_val_if_fail (gg != NULL && key != NULL && n != NULL, NULL);
  const Kv *kv = lookup_typed (gg, key, AS_GGUF_ARRAY, AS_GGUF_FLOAT32, error);
  if (kv == NULL)
    return NULL;
  float *out = g_new (float, MAX (kv->n, 1));
  for (guint64 i = 0; i < kv->n; i++)
    out[i] = float_of_bits ((guint32) le_bits (kv->raw + 4 * i, 4));
  *n = (gsize) kv->n;
  return out;
}

gint32 *
as_gguf_dup_i32_array (AsGguf      *gg,
                       const char  *key,
                       gsize       *n,
                       GError     **error)
{
  g_return_val_if_fail (gg != NULL && key != NULL && n != NULL, NULL);
  const Kv *kv = find_kv (gg, key);
  gint64 v = 0;
  gboolean is_unsigned = FALSE;
  if (kv == NULL || kv->type != AS_GGUF_ARRAY ||
      !integer_value (kv->element_type, 0, &v, &is_unsigned))
    {
      if (kv == NULL)
        set_error (error, AS_MODEL_ERROR_MISMATCH, gg->display_name, "key '%s' is missing", key);
      else
        set_error (error, AS_MODEL_ERROR_MISMATCH, gg->display_name,
                   "key '%s' holds %s%s, expected an ARRAY of integers", key,
                   kv->type == AS_GGUF_ARRAY ? "an ARRAY of " : "",
                   value_type_names[kv->type == AS_GGUF_ARRAY ? kv->element_type : kv->type]);
      return NULL;
    }
  guint size = value_type_size[kv->element_type];
  gint32 *out = g_new (gint32, MAX (kv->n, 1));
  for (guint64 i = 0; i < kv->n; i++)
    {
      integer_value (kv->element_type, le_bits (kv->raw + size * i, size), &v, &is_unsigned);
      gboolean fits = is_unsigned ? (guint64) v <= G_MAXINT32 : v >= G_MININT32 && v <= G_MAXINT32;
      if (!fits)
        {
          set_error (error, AS_MODEL_ERROR_MISMATCH, gg->display_name,
                     "key '%s': element %" G_GUINT64_FORMAT " does not fit in 32 bits", key, i);
          g_free (out);
          return NULL;
        }
      out[i] = (gint32) v;
    }
  *n = (gsize) kv->n;
  return out;
}

guint
as_gguf_get_n_tensors (AsGguf *gg)
{
  g_return_val_if_fail (gg != NULL, 0);
  return gg->tensors->len;
}

const AsGgufTensor *
as_gguf_get_tensor (AsGguf *gg,
                    guint   index)
{
  g_return_val_if_fail (gg != NULL && index < gg->tensors->len, NULL);
  return &g_array_index (gg->tensors, AsGgufTensor, index);
}

const AsGgufTensor *
as_gguf_lookup (AsGguf     *gg,
                const char *name)
{
  g_return_val_if_fail (gg != NULL && name != NULL, NULL);
  guint i = GPOINTER_TO_UINT (g_hash_table_lookup (gg->tensor_by_name, name));
  return i > 0 ? &g_array_index (gg->tensors, AsGgufTensor, i - 1) : NULL;
}
