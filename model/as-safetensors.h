/* as-safetensors.h — a validating reader for the safetensors format.
 *
 * The file is read whole into memory the reader owns (never mapped: a mapped
 * file that shrinks faults the process, and one rewritten in place changes
 * weights already checked). The header is parsed and checked against every
 * rule of the format (upstream: huggingface/safetensors,
 * safetensors/src/tensor.rs) before any tensor is touched, so a hostile file
 * cannot make us read outside its bytes, and its size bounds the memory the
 * header takes. Tensors are read as f32 (F16/BF16 converted).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AS_SAFETENSORS_MAX_DIMS 8
/* Far above any real checkpoint (thousands of tensors at most); a header
 * listing more is refused before anything is built for its entries. */
#define AS_SAFETENSORS_MAX_TENSORS 65536

typedef enum {
  AS_DTYPE_F32,
  AS_DTYPE_F16,
  AS_DTYPE_BF16,
} AsDtype;

typedef struct {
  char   *name;
  AsDtype dtype;
  int     n_dims;
  gint64  shape[AS_SAFETENSORS_MAX_DIMS];
  gint64  n_elements;
  guint64 begin;        /* byte offset relative to the data section */
  guint64 end;          /* exclusive */
} AsTensorInfo;

typedef struct _AsSafetensors AsSafetensors;

/* Reads and validates PATH, which must be a regular file (checked on the
 * opened descriptor). The header length is checked before the rest is read;
 * the file itself has no cap but the memory there is. Errors are
 * AS_MODEL_ERROR and name the file. */
AsSafetensors      *as_safetensors_open        (const char    *path,
                                                GError       **error);
/* Same rules over a caller-owned buffer (tests, fuzzing). DISPLAY_NAME is used
 * in messages. The buffer must outlive the returned object. */
AsSafetensors      *as_safetensors_open_bytes  (const guint8  *data,
                                                gsize          size,
                                                const char    *display_name,
                                                GError       **error);
void                as_safetensors_free        (AsSafetensors *st);

const char         *as_safetensors_get_path    (AsSafetensors *st);
/* The F32/F16/BF16 tensors, in data order. Tensors of other valid dtypes (the
 * I64 position_ids buffer of BERT checkpoints, say) are validated like the
 * rest but not listed here; see as_safetensors_get_unconvertible_dtype. */
guint               as_safetensors_get_n_tensors (AsSafetensors *st);
const AsTensorInfo *as_safetensors_get_nth     (AsSafetensors *st,
                                                guint          index);
/* NULL when absent. */
const AsTensorInfo *as_safetensors_lookup      (AsSafetensors *st,
                                                const char    *name);
/* The dtype name ("I64") of a tensor present in the file with a dtype that
 * cannot be read as f32, or NULL (absent, or F32/F16/BF16). */
const char         *as_safetensors_get_unconvertible_dtype (AsSafetensors *st,
                                                            const char    *name);
/* Metadata value from "__metadata__", or NULL. */
const char         *as_safetensors_get_metadata (AsSafetensors *st,
                                                 const char    *key);

/* Pointer to the raw bytes of a tensor inside the file's bytes (may be
 * unaligned). */
const guint8       *as_safetensors_get_data    (AsSafetensors      *st,
                                                const AsTensorInfo *info);

/* TRUE when the F32 tensor INFO is known to hold no NaN or infinity: the
 * file was read by as_safetensors_open, which looked at every 4-byte word
 * while reading, and none in the chunks the tensor spans has an exponent of
 * all ones. FALSE says nothing (another dtype, not looked at, or a chunk
 * with such a word): check the values. */
gboolean            as_safetensors_f32_known_finite (AsSafetensors      *st,
                                                     const AsTensorInfo *info);

/* Converts the tensor to f32 into DST (n_elements floats). Never fails for a
 * validated tensor; kept as gboolean for symmetry with future dtypes. */
void                as_safetensors_copy_f32    (AsSafetensors      *st,
                                                const AsTensorInfo *info,
                                                float              *dst);

/* Looks NAME up, checks it has exactly the N_DIMS dims in SHAPE, and returns
 * a newly allocated f32 copy (g_free). Errors name file, tensor and reason. */
float              *as_safetensors_read_f32    (AsSafetensors *st,
                                                const char    *name,
                                                int            n_dims,
                                                const gint64  *shape,
                                                GError       **error);

/* IEEE half / bfloat16 to float, exact (subnormals, inf, NaN). */
float               as_f16_to_f32              (guint16 h);
float               as_bf16_to_f32             (guint16 b);

G_END_DECLS
