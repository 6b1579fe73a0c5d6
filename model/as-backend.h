/* as-backend.h — the interface an encoder implementation provides.
 *
 * The CPU encoder (as-cpu-encoder.c) and the CUDA plugin (gpu/) both fill an
 * AsBackendVTable. A forward pass hands each layer's attention probabilities
 * to the caller's callback as soon as that layer is done, and checks the
 * cancel flag between layers, so a UI can stream and abandon work.
 */
#pragma once

#include <glib.h>

#include "as-block-gemv.h"
#include "as-model.h"

G_BEGIN_DECLS

/* Called once per layer, in order. ATTN is [n_heads, n, n] row-major (row =
 * query, column = key), valid only during the call. HIDDEN is the layer's
 * output [n, hidden] when the request asked for hidden states, else NULL.
 * Return FALSE to stop the pass (treated like a cancellation). */
typedef gboolean (*AsLayerFunc) (int          layer,
                                 const float *attn,
                                 const float *hidden,
                                 gpointer     user_data);

/* How an ablated head's attention is replaced before it meets V
 * (as-ablation.h defines each precisely). */
typedef enum {
  AS_ABLATE_NONE,
  AS_ABLATE_ZERO,      /* the head's output is zero */
  AS_ABLATE_UNIFORM,   /* each query spreads evenly over the keys it may see */
  AS_ABLATE_MEAN,      /* each query gets the head's mean pattern */
} AsAblateMode;

/* One head to ablate: LAYER and HEAD count from 0. */
typedef struct {
  int          layer;
  int          head;
  AsAblateMode mode;
} AsHeadAblation;

typedef struct {
  const int   *ids;           /* [n] token ids */
  const int   *type_ids;      /* [n] token type ids */
  int          n;             /* tokens, 1..max_positions */
  gboolean     want_hidden;   /* pass per-layer hidden states to the callback */
  gboolean     causal_mask;   /* teaching demo: lower-triangular mask */
  AsLayerFunc  on_layer;      /* may be NULL */
  gpointer     user_data;
  /* [n_layers, n_heads, n, n], or NULL: where the caller keeps every
   * layer's attention. A backend may compute each layer in place there
   * (ATTN of on_layer then points into it) instead of handing over its
   * own buffer to be copied. */
  float       *attn_out;
  const gint  *cancel;        /* may be NULL; non-zero = stop between layers */
  /* [n_ablate] heads whose attention is replaced (as-ablation.h), or
   * NULL with n_ablate 0. The attention handed to on_layer is what met V:
   * the replacement, for those heads. */
  const AsHeadAblation *ablate;
  int          n_ablate;
} AsForwardRequest;

/* Called once per layer for each token a decoder appends (as-decode.h).
 * ROW is [n_heads, n_ctx]: the new token's attention over every token so
 * far, itself last; valid only during the call. Return FALSE to stop. */
typedef gboolean (*AsRowFunc) (int          layer,
                               const float *row,
                               int          n_ctx,
                               gpointer     user_data);

/* The weights a decoder's steps read (as-decode.h; its prompt pass reads
 * fp32 always). */
typedef enum {
  AS_DECODE_WEIGHTS_AUTO,   /* FILE where the backend reads the model file's blocks, else FP32:
                             * exact either way (what as_decoder_new takes) */
  AS_DECODE_WEIGHTS_FP32,   /* the fp32 weights the prompt pass reads */
  AS_DECODE_WEIGHTS_FILE,   /* the model file's own blocks where it holds Q8_0, Q4_0 or Q4_1
                             * (as-block-gemv.h), fp32 elsewhere: the same weights, bit for
                             * bit, in fewer bytes; only the order of the sums differs */
  AS_DECODE_WEIGHTS_INT8,   /* int8 blocks of 32 with an fp32 scale each (as-block-gemv.h),
                             * quantised from the fp32 ones when the decoder is made:
                             * every layer's products and the output embedding. A step
                             * streams about a quarter of the bytes, so it is faster;
                             * it is not exact, and callers measure how far it strays */
} AsDecodeWeights;

typedef struct _AsBackend AsBackend;

typedef struct {
  const char *name;                         /* "cpu", "cuda" */
  /* FINAL_HIDDEN [n, hidden] may be NULL. */
  gboolean  (*forward) (AsBackend              *backend,
                        const AsForwardRequest *request,
                        float                  *final_hidden,
                        GError                **error);
  /* Called through as_backend_layer_qkv, which has checked LAYER is in range.
   * Q, K, V of LAYER for the request's tokens, each [n, hidden] (heads are
   * contiguous slices of head_dim columns). Runs layers 0..LAYER. */
  gboolean  (*layer_qkv) (AsBackend              *backend,
                          const AsForwardRequest *request,
                          int                     layer,
                          float                  *q,
                          float                  *k,
                          float                  *v,
                          GError                **error);
  /* Optional, for causal models (NULL: as-decode.c reruns the whole
   * forward for each token). A key/value cache for up to CAPACITY tokens;
   * decode_prompt runs REQUEST as forward does (streaming its layers) and
   * keeps its keys and values, and its heads to ablate, which every step
   * ablates too (as_ablation_replace_last_row), or refuses them with a
   * message; decode_step appends TOKEN at the next
   * position, hands each layer's row of it to ON_ROW and checks CANCEL
   * between layers. Both leave the last token's final hidden state [hidden]
   * (after the final norm) in FINAL_HIDDEN. */
  gpointer  (*decode_new)    (AsBackend              *backend,
                              int                     capacity,
                              GError                **error);
  gboolean  (*decode_prompt) (AsBackend              *backend,
                              gpointer                cache,
                              const AsForwardRequest *request,
                              float                  *final_hidden,
                              GError                **error);
  gboolean  (*decode_step)   (AsBackend              *backend,
                              gpointer                cache,
                              int                     token,
                              AsRowFunc               on_row,
                              gpointer                user_data,
                              const gint             *cancel,
                              float                  *final_hidden,
                              GError                **error);
  void      (*decode_free)   (AsBackend              *backend,
                              gpointer                cache);
  /* Optional (NULL: steps read fp32 weights only): CACHE's steps read
   * block matrices (as-block-gemv.h) instead of fp32 weights, as WEIGHTS
   * (an AsDecodeWeights other than fp32) says: int8 copies quantised now
   * from the fp32 ones, or the model file's own blocks where it has them
   * (a matrix it holds in another type stays fp32). The prompt pass stays
   * fp32. STEP_BYTES gets the bytes of layer weights a step then reads;
   * LM_HEAD the output embedding as blocks the same way (the caller's to
   * free), or NULL where it stays fp32. */
  gboolean  (*decode_blocks) (AsBackend              *backend,
                              gpointer                cache,
                              AsDecodeWeights         weights,
                              gsize                  *step_bytes,
                              AsBlockMatrix         **lm_head,
                              GError                **error);
  char     *(*describe) (AsBackend *backend); /* human-readable, g_free */
  void      (*free)    (AsBackend *backend);
} AsBackendVTable;

struct _AsBackend {
  const AsBackendVTable *vtable;
  const AsModel         *model;               /* not owned */
};

/* The fast fp32 CPU backend of MODEL's architecture (as-architecture.h; for
 * BERT as-cpu-encoder.c: packed GEMM, own threads, vectorised exp and erf),
 * tested against the reference forward (as-reference.h). Always available. */
AsBackend *as_cpu_backend_new        (const AsModel *model);

gboolean   as_backend_forward        (AsBackend              *backend,
                                      const AsForwardRequest *request,
                                      float                  *final_hidden,
                                      GError                **error);
/* For backends, between layers: FALSE, with AS_MODEL_ERROR_CANCELLED
 * "cancelled", once the request's cancel flag is up. */
gboolean   as_forward_check_cancel   (const AsForwardRequest *request,
                                      GError                **error);
/* For backends: hands LAYER's attention [n_heads, n, n] (and, when asked
 * for, HIDDEN [n, hidden]) to the request's callback, if any; FALSE, with
 * AS_MODEL_ERROR_CANCELLED "stopped by the caller", when it says stop. */
gboolean   as_forward_deliver_layer  (const AsForwardRequest *request,
                                      int                     layer,
                                      const float            *attn,
                                      const float            *hidden,
                                      GError                **error);
gboolean   as_backend_layer_qkv      (AsBackend              *backend,
                                      const AsForwardRequest *request,
                                      int                     layer,
                                      float                  *q,
                                      float                  *k,
                                      float                  *v,
                                      GError                **error);
/* FALSE, with a message, for a request MODEL cannot run: a token count
 * outside 1..max_positions, an id or type id out of range, or a head to
 * ablate that MODEL does not have. Backends call
 * it at the top of forward and layer_qkv. */
gboolean   as_backend_check_request  (const AsModel          *model,
                                      const AsForwardRequest *request,
                                      GError                **error);
char      *as_backend_describe       (AsBackend *backend);
const char *as_backend_get_name      (AsBackend *backend);
void       as_backend_free           (AsBackend *backend);

G_END_DECLS
