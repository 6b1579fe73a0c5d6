/* as-gguf.h — a validating reader for GGUF (llama.cpp's model format), v2 and v3.
 *
 * The bytes belong to the caller (or, for as_gguf_open, to the reader, which
 * reads the file whole into memory it owns, never mapping it: see
 * as-file-read.h). Every length, count, type and offset in the header is
 * checked against the rules below before anything is exposed, so after a
 * successful open every string is valid UTF-8, every array fits in the file,
 * and every tensor's bytes lie inside the buffer, aligned, without overlap.
 *
 * Layout (all little-endian; upstream: ggml/src/gguf.cpp, docs/gguf.md):
 *
 *   "GGUF" u32 version u64 n_tensors u64 n_kv
 *   n_kv x      { string key, u32 value_type, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
 *   padding to general.alignment (default 32)
 *   data section: each tensor at data_start + offset
 *
 * A string is u64 length + that many bytes (no NUL). An array value is u32
 * element type, u64 count, then the elements. ne[] lists the dimensions
 * fastest-varying first: a [576, 49152] tensor is 49152 rows of 576.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* ggml's own limit; no tensor of a real model has more. */
#define AS_GGUF_MAX_DIMS 4
/* ggml's GGML_MAX_NAME is 64 with the NUL: longer names cannot be loaded by
 * llama.cpp either. */
#define AS_GGUF_MAX_NAME 63
/* The spec's bound on a key. */
#define AS_GGUF_MAX_KEY 65535
/* Far above real files (a few hundred to a few thousand tensors, tens of
 * keys); a header listing more is refused before anything is allocated. */
#define AS_GGUF_MAX_TENSORS 65536
#define AS_GGUF_MAX_KV 65536
#define AS_GGUF_DEFAULT_ALIGNMENT 32

/* The 13 metadata value types, numbered as in the file. */
typedef enum {
  AS_GGUF_UINT8   = 0,
  AS_GGUF_INT8    = 1,
  AS_GGUF_UINT16  = 2,
  AS_GGUF_INT16   = 3,
  AS_GGUF_UINT32  = 4,
  AS_GGUF_INT32   = 5,
  AS_GGUF_FLOAT32 = 6,
  AS_GGUF_BOOL    = 7,
  AS_GGUF_STRING  = 8,
  AS_GGUF_ARRAY   = 9,
  AS_GGUF_UINT64  = 10,
  AS_GGUF_INT64   = 11,
  AS_GGUF_FLOAT64 = 12,
  AS_GGUF_N_VALUE_TYPES
} AsGgufValueType;

/* ggml tensor types, numbered as in the file. Gaps are ids ggml retired;
 * the reader refuses them like any unknown id. */
typedef enum {
  AS_GGML_F32     = 0,
  AS_GGML_F16     = 1,
  AS_GGML_Q4_0    = 2,
  AS_GGML_Q4_1    = 3,
  AS_GGML_Q5_0    = 6,
  AS_GGML_Q5_1    = 7,
  AS_GGML_Q8_0    = 8,
  AS_GGML_Q8_1    = 9,
  AS_GGML_Q2_K    = 10,
  AS_GGML_Q3_K    = 11,
  AS_GGML_Q4_K    = 12,
  AS_GGML_Q5_K    = 13,
  AS_GGML_Q6_K    = 14,
  AS_GGML_Q8_K    = 15,
  AS_GGML_IQ2_XXS = 16,
  AS_GGML_IQ2_XS  = 17,
  AS_GGML_IQ3_XXS = 18,
  AS_GGML_IQ1_S   = 19,
  AS_GGML_IQ4_NL  = 20,
  AS_GGML_IQ3_S   = 21,
  AS_GGML_IQ2_S   = 22,
  AS_GGML_IQ4_XS  = 23,
  AS_GGML_I8      = 24,
  AS_GGML_I16     = 25,
  AS_GGML_I32     = 26,
  AS_GGML_I64     = 27,
  AS_GGML_F64     = 28,
  AS_GGML_IQ1_M   = 29,
  AS_GGML_BF16    = 30,
  AS_GGML_TQ1_0   = 34,
  AS_GGML_TQ2_0   = 35,
  AS_GGML_MXFP4   = 39,
  AS_GGML_NVFP4   = 40,
  AS_GGML_Q1_0    = 41,
} AsGgmlType;

typedef struct {
  const char   *name;
  AsGgmlType    type;
  int           n_dims;                     /* 1 .. AS_GGUF_MAX_DIMS */
  gint64        ne[AS_GGUF_MAX_DIMS];       /* fastest first; unused dims are 1 */
  gint64        n_elements;
  gint64        n_rows;                     /* n_elements / ne[0] */
  guint64       offset;                     /* from the start of the data section */
  guint64       n_bytes;
  const guint8 *data;                       /* inside the buffer; may be unaligned */
} AsGgufTensor;

typedef struct _AsGguf AsGguf;

/* The type's name ("Q4_K"), or NULL for an id ggml does not define. */
const char *as_ggml_type_name       (guint32 type);
/* Elements per block and bytes per block (1 and the element size for plain
 * types); FALSE for an unknown id. */
gboolean    as_ggml_type_layout     (guint32  type,
                                     guint   *block_elements,
                                     guint   *block_bytes);
const char *as_gguf_value_type_name (guint32 type);

/* Validates DATA (SIZE bytes, owned by the caller, which must outlive the
 * object). DISPLAY_NAME starts every message. Errors are AS_MODEL_ERROR:
 * FORMAT for a malformed header, UNSUPPORTED for a version or feature the
 * reader does not take (v1, big-endian files, arrays of arrays),
 * RESOURCES for counts over the caps above. */
AsGguf             *as_gguf_open_bytes   (const guint8 *data,
                                          gsize         size,
                                          const char   *display_name,
                                          GError      **error);
/* Reads PATH whole (a regular file, checked on the descriptor), then as
 * as_gguf_open_bytes; the object owns the bytes. */
AsGguf             *as_gguf_open         (const char   *path,
                                          GError      **error);
void                as_gguf_free         (AsGguf       *gg);

const char         *as_gguf_get_path     (AsGguf       *gg);
guint32             as_gguf_get_version  (AsGguf       *gg);
guint               as_gguf_get_alignment (AsGguf      *gg);

/* Metadata, in file order. */
guint               as_gguf_get_n_kv     (AsGguf       *gg);
const char         *as_gguf_get_key      (AsGguf       *gg,
                                          guint         index);
/* The value type of KEY (for an array, AS_GGUF_ARRAY with its element type
 * in *ELEMENT_TYPE and its length in *N_ELEMENTS, either may be NULL);
 * -1 when absent. */
int                 as_gguf_find_key     (AsGguf       *gg,
                                          const char   *key,
                                          AsGgufValueType *element_type,
                                          guint64      *n_elements);

/* Typed lookups. Each fails (AS_MODEL_ERROR_MISMATCH, naming the file and
 * the key) when the key is absent or holds another type. */
gboolean            as_gguf_get_u32      (AsGguf *gg, const char *key, guint32 *out, GError **error);
gboolean            as_gguf_get_i32      (AsGguf *gg, const char *key, gint32 *out, GError **error);
gboolean            as_gguf_get_u64      (AsGguf *gg, const char *key, guint64 *out, GError **error);
gboolean            as_gguf_get_f32      (AsGguf *gg, const char *key, float *out, GError **error);
gboolean            as_gguf_get_f64      (AsGguf *gg, const char *key, double *out, GError **error);
gboolean            as_gguf_get_bool     (AsGguf *gg, const char *key, gboolean *out, GError **error);
/* Any integer type whose value is in [0, 2^63): writers disagree on whether
 * a count is u32, i32 or u64. */
gboolean            as_gguf_get_count    (AsGguf *gg, const char *key, guint64 *out, GError **error);
/* Valid UTF-8 without NUL bytes, owned by GG. */
const char         *as_gguf_get_string   (AsGguf *gg, const char *key, GError **error);
/* A string array (a tokenizer's tokens or merges): *N strings, then NULL,
 * owned by GG. */
const char *const  *as_gguf_get_strings  (AsGguf *gg, const char *key, gsize *n, GError **error);
/* A numeric array converted to the host's types (g_free): FLOAT32 elements
 * as floats, any integer type that fits as gint32s. */
float              *as_gguf_dup_f32_array (AsGguf *gg, const char *key, gsize *n, GError **error);
gint32             *as_gguf_dup_i32_array (AsGguf *gg, const char *key, gsize *n, GError **error);

/* Tensors, in file order. */
guint               as_gguf_get_n_tensors (AsGguf      *gg);
const AsGgufTensor *as_gguf_get_tensor   (AsGguf       *gg,
                                          guint         index);
/* NULL when absent. */
const AsGgufTensor *as_gguf_lookup       (AsGguf       *gg,
                                          const char   *name);

G_END_DECLS
