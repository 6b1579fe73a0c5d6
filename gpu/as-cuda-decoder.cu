/* as-cuda-decoder.cu — a decoder (Llama, GPT-2) on an NVIDIA GPU, CUDA + cuBLAS.
 *
 * The same computation as model/as-reference-llama.c or
 * model/as-reference-gpt2.c (and the fast model/as-cpu-decoder.c), on the device, for a
 * prompt of n tokens or one appended token over a key/value cache. One
 * pass, with the description's switches (as-gpu-plugin.h) where the
 * families differ:
 *   x = embed[id] (+ pos[position], learned)                     gather kernel
 *   xn = Norm(x) (RMSNorm, or LayerNorm)                          norm kernel
 *   qkv[n, H + 2 KV] = xn W_qkv^T (+ b)   (W_q, W_k, W_v stacked) one GEMM (+ bias)
 *   Q, K turned by their positions (rotary, rotate_half)          rope kernel
 *   P_h = causal softmax(Q_h K_g^T / sqrt(d)), g = h / (NH/NKV)   batched GEMM per K/V head + softmax
 *   ctx_h = P_h V_g                                               batched GEMM per K/V head
 *   x' = x + (ctx W_o^T (+ b))                                    GEMM (+ bias) + add
 *   x' += FFN(Norm(x')):                                          GEMM, activation, GEMM (+ bias), add
 *     SwiGLU  (silu(xn W_gate^T) * xn W_up^T) W_down^T            (gate | up stacked)
 *     GELU    gelu_tanh(xn W_up^T + b_up) W_down^T + b_down
 * and at the end the final norm. The output embedding stays with the
 * engine, which makes logits from the final hidden state.
 *
 * Layout as in as-cuda-encoder.cu: activations row-major, read by cuBLAS
 * column-major as their transposes. Weights stay in the layout the engine
 * holds them in (nn.Linear's [out, in], or Conv1D's [in, out] for GPT-2,
 * whose c_attn is Q | K | V by column): linear () reads either. Grouped-query attention: the NH / NKV
 * query heads that share K/V head g are one strided batch whose K_g / V_g
 * operand has stride 0.
 *
 * Keys and values: a prompt reads them from its own qkv buffer (and copies
 * them into the cache when it has one); a step reads every earlier token's
 * from the cache, [capacity, KV] per layer for K and for V, row-major.
 *
 * Streaming as in the encoder: layer l's attention (and hidden state) is
 * copied to pinned memory on the copy stream while layer l+1 runs, buffers
 * double-buffered by layer parity.
 *
 * Precision: fp32 GEMMs (TF32 off) or TF32; the 16-bit operand paths are
 * the encoder's only.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as-cuda-check.h"
#include "as-cuda-kernels.h"
#include "as-gpu-plugin.h"

/* Device pointers of one layer's weights, f32, in the description's
 * layout ([out, in] below, or its transpose); an absent bias is NULL. */
typedef struct {
  const float *attn_norm;   /* [H] */
  const float *attn_norm_b; /* [H]  LayerNorm only */
  const float *qkv_w;       /* [H + 2 KV, H]  W_q, W_k, W_v stacked by output */
  const float *qkv_b;       /* [H + 2 KV] */
  const float *o_w;         /* [H, H] */
  const float *o_b;         /* [H] */
  const float *ffn_norm;    /* [H] */
  const float *ffn_norm_b;  /* [H]  LayerNorm only */
  const float *up_w;        /* [FW, H]  SwiGLU: W_gate, then W_up (FW = 2F); GELU: W_up (FW = F) */
  const float *up_b;        /* [F]  GELU only */
  const float *down_w;      /* [H, F] */
  const float *down_b;      /* [H] */
} DevLayer;

struct AsGpuKvCache {
  int    capacity;   /* tokens */
  int    len;        /* tokens held */
  float *kv;         /* device [n_layers, 2, capacity, KV]: each layer's K rows, then its V rows */
};

struct AsGpuDecoder {
  /* shapes */
  int              n_layers, n_heads, n_kv_heads, hidden, head_dim, intermediate;
  int              vocab_size, max_positions;
  float            eps;
  AsGpuNorm        norm;
  AsGpuPositions   positions;
  AsGpuFfn         ffn;
  AsGpuWeightLayout layout;
  /* setup */
  AsGpuPrecision   precision;
  cublasComputeType_t compute_type;
  AsCudaDevice     dev;           /* handles and the weights' allocation */
  /* weights, in dev.weights (with the cuBLAS workspace) */
  const float     *tok_emb;       /* [V, H] */
  const float     *pos_emb;       /* [P, H]  learned positions, or NULL */
  const float     *out_norm;      /* [H] */
  const float     *out_norm_b;    /* [H]  LayerNorm only */
  const float     *inv_freq;      /* [d/2]  rotary inverse frequencies, or NULL */
  DevLayer        *layers;        /* [n_layers], host array of device pointers */
  /* workspace for up to ROWS query tokens over up to KEYS keys */
  int              rows, keys;
  void            *ws_dev;
  void            *ws_host;
  int             *d_ids;         /* [rows] */
  float           *x[2];          /* [rows, H]   layer input / output, ping-pong */
  float           *xn;            /* [rows, H]   a normed copy of x */
  float           *qkv;           /* [rows, H + 2 KV]  Q | K | V column blocks */
  float           *ctx;           /* [rows, H]   concatenated head contexts */
  float           *tmp;           /* [rows, H]   a projection before the residual add */
  float           *gu;            /* [rows, FW]  gate | up (SwiGLU), or up then its GELU */
  float           *ff;            /* [rows, F]   silu(gate) * up; SwiGLU only */
  float           *probs[2];      /* [NH, rows, keys] by layer parity */
  int             *h_ids;         /* pinned [rows] */
  float           *h_attn[2];     /* pinned [NH, rows, keys] by layer parity */
  float           *h_hidden[2];   /* pinned [rows, H] by layer parity */
};

/* Where a pass hands its layers: a prompt's whole attention or a step's row. */
typedef struct {
  AsGpuLayerFunc  on_layer;     /* a prompt's, or NULL */
  AsGpuRowFunc    on_row;       /* a step's, or NULL */
  AsGpuCancelFunc cancelled;
  void           *user_data;
  int             want_hidden;
  int             n_ctx;        /* keys of a step's row */
} Sink;

/* ------------------------------------------------------------------------ */
/* Shapes                                                                    */

static int
kv_width (const AsGpuDecoder *e)
{
  return e->n_kv_heads * e->head_dim;
}

static int
qkv_width (const AsGpuDecoder *e)
{
  return e->hidden + 2 * kv_width (e);
}

/* Outputs of the FFN's first product: gate and up, or up alone. */
static int
ffn_width (const AsGpuDecoder *e)
{
  return e->ffn == AS_GPU_FFN_SWIGLU ? 2 * e->intermediate : e->intermediate;
}

/* Layer L's keys [capacity, KV] in CACHE; its values follow them. */
static float *
cache_keys (const AsGpuDecoder *e,
            AsGpuKvCache       *cache,
            int                 layer)
{
  return cache->kv + (size_t) layer * 2 * cache->capacity * kv_width (e);
}

static float *
cache_values (const AsGpuDecoder *e,
              AsGpuKvCache       *cache,
              int                 layer)
{
  return cache_keys (e, cache, layer) + (size_t) cache->capacity * kv_width (e);
}

/* ------------------------------------------------------------------------ */
/* Allocation plans                                                          */

static const float *
take_floats (Arena  *a,
             size_t  count)
{
  return (const float *) arena_take (a, count * sizeof (float));
}

/* An optional tensor: COUNT floats where the host has one (HOST), else NULL. */
static const float *
take_optional (Arena       *a,
               const float *host,
               size_t       count)
{
  return host != NULL ? take_floats (a, count) : NULL;
}

static void
plan_weights (AsGpuDecoder           *e,
              const AsGpuDecoderDesc *m,
              Arena                  *a,
              void                  **cublas_ws)
{
  const size_t H = (size_t) m->hidden, F = (size_t) m->intermediate;
  const size_t QKV = (size_t) qkv_width (e), FW = (size_t) ffn_width (e);
  const int rotary = e->positions == AS_GPU_POSITIONS_ROTARY;
  e->tok_emb = take_floats (a, (size_t) m->vocab_size * H);
  e->pos_emb = rotary ? NULL : take_floats (a, (size_t) m->max_positions * H);
  e->out_norm = take_floats (a, H);
  e->out_norm_b = take_optional (a, m->out_norm_b, H);
  e->inv_freq = rotary ? take_floats (a, (size_t) (m->head_dim / 2)) : NULL;
  for (int l = 0; l < m->n_layers; l++)
    {
      const AsGpuDecoderLayerWeights *w = &m->layers[l];
      DevLayer *d = &e->layers[l];
      d->attn_norm = take_floats (a, H);
      d->attn_norm_b = take_optional (a, w->attn_norm_b, H);
      d->qkv_w = take_floats (a, QKV * H);
      d->qkv_b = take_optional (a, w->qkv_b, QKV);
      d->o_w = take_floats (a, H * H);
      d->o_b = take_optional (a, w->o_b, H);
      d->ffn_norm = take_floats (a, H);
      d->ffn_norm_b = take_optional (a, w->ffn_norm_b, H);
      d->up_w = take_floats (a, FW * H);
      d->up_b = take_optional (a, w->up_b, F);
      d->down_w = take_floats (a, H * F);
      d->down_b = take_optional (a, w->down_b, H);
    }
  *cublas_ws = arena_take (a, CUBLAS_WS_BYTES);
}

static void
plan_workspace (AsGpuDecoder *e,
                int           rows,
                int           keys,
                Arena        *dev,
                Arena        *host)
{
  const size_t n = (size_t) rows, H = (size_t) e->hidden, F = (size_t) e->intermediate;
  const size_t FS = sizeof (float), P = (size_t) e->n_heads * n * (size_t) keys;
  e->d_ids = (int *) arena_take (dev, n * sizeof (int));
  e->x[0] = (float *) arena_take (dev, n * H * FS);
  e->x[1] = (float *) arena_take (dev, n * H * FS);
  e->xn = (float *) arena_take (dev, n * H * FS);
  e->qkv = (float *) arena_take (dev, n * (size_t) qkv_width (e) * FS);
  e->ctx = (float *) arena_take (dev, n * H * FS);
  e->tmp = (float *) arena_take (dev, n * H * FS);
  e->gu = (float *) arena_take (dev, n * (size_t) ffn_width (e) * FS);
  e->ff = e->ffn == AS_GPU_FFN_SWIGLU ? (float *) arena_take (dev, n * F * FS) : NULL;
  e->probs[0] = (float *) arena_take (dev, P * FS);
  e->probs[1] = (float *) arena_take (dev, P * FS);

  e->h_ids = (int *) arena_take (host, n * sizeof (int));
  e->h_attn[0] = (float *) arena_take (host, P * FS);
  e->h_attn[1] = (float *) arena_take (host, P * FS);
  e->h_hidden[0] = (float *) arena_take (host, n * H * FS);
  e->h_hidden[1] = (float *) arena_take (host, n * H * FS);
}

static void
release_workspace (AsGpuDecoder *e)
{
  if (e->ws_dev != NULL)
    (void) cudaFree (e->ws_dev);
  if (e->ws_host != NULL)
    (void) cudaFreeHost (e->ws_host);
  e->ws_dev = e->ws_host = NULL;
  e->rows = e->keys = 0;
}

static int
round_up_tokens (int n,
                 int limit)
{
  int r = (n + CAPACITY_STEP - 1) / CAPACITY_STEP * CAPACITY_STEP;
  return r > limit ? (limit > n ? limit : n) : r;
}

/* Work buffers for ROWS query tokens over KEYS keys (grown, never shrunk). */
static AsGpuStatus
reserve (AsGpuDecoder *e,
         int           rows,
         int           keys,
         AsCudaMsg    *msg)
{
  if (rows <= e->rows && keys <= e->keys)
    return AS_GPU_STATUS_OK;
  if (e->dev.force == FORCE_OOM_RUN)
    return as_cuda_msgf (msg, AS_GPU_STATUS_OUT_OF_MEMORY,
                         "the work buffers of %d tokens (forced by %s=oom-run)",
                         keys, AS_GPU_FORCE_FAIL_ENV);
  const int want_rows = round_up_tokens (rows > e->rows ? rows : e->rows, e->max_positions);
  const int want_keys = round_up_tokens (keys > e->keys ? keys : e->keys, e->max_positions);

  /* Nothing may still use the old buffers. */
  AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.compute));
  AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.copy));
  release_workspace (e);

  Arena dev = { NULL, 0 }, host = { NULL, 0 };
  plan_workspace (e, want_rows, want_keys, &dev, &host);
  char what[96];
  snprintf (what, sizeof what, "the work buffers of %d tokens over %d", want_rows, want_keys);
  AS_GPU_TRY (device_alloc (&e->ws_dev, dev.used, what, msg));
  cudaError_t err = cudaHostAlloc (&e->ws_host, host.used, cudaHostAllocDefault);
  if (err != cudaSuccess)
    {
      (void) cudaGetLastError ();
      e->ws_host = NULL;
      release_workspace (e);
      if (err == cudaErrorMemoryAllocation)
        return as_cuda_msgf (msg, AS_GPU_STATUS_OUT_OF_MEMORY,
                             "could not pin %.1f MiB of host memory for %d tokens",
                             MIB (host.used), want_keys);
      AS_CUDA_TRY (msg, err);
    }
  Arena dev_carve = { (char *) e->ws_dev, 0 }, host_carve = { (char *) e->ws_host, 0 };
  plan_workspace (e, want_rows, want_keys, &dev_carve, &host_carve);
  e->rows = want_rows;
  e->keys = want_keys;
  return AS_GPU_STATUS_OK;
}

/* ------------------------------------------------------------------------ */
/* Load                                                                      */

static AsGpuStatus
upload (AsGpuDecoder *e,
        const float  *dst,
        const float  *src,
        size_t        count,
        AsCudaMsg    *msg)
{
  AS_CUDA_TRY (msg, cudaMemcpyAsync ((void *) dst, src, count * sizeof (float),
                                     cudaMemcpyHostToDevice, e->dev.compute));
  return AS_GPU_STATUS_OK;
}

/* INV_FREQ [d/2] = 1 / theta^(2j/d), with as_rope_head's fp32 arithmetic
 * (model/as-elementwise.h) and the host's powf, which the CPU backends
 * use: the angles then differ from theirs only in the device's cosf/sinf. */
static void
rope_inverse_frequencies (float *inv_freq,
                          int    d,
                          float  theta)
{
  for (int j = 0; j < d / 2; j++)
    inv_freq[j] = 1.0f / powf (theta, (float) (2 * j) / (float) d);
}

/* N_OUT outputs of a stacked matrix W [total, in] on the device (DST),
 * from out0 on, from SRC [n_out, in]: rows of DST in the [out, in] layout,
 * columns of its transpose [in, total] in the [in, out] one. */
static AsGpuStatus
upload_outputs (AsGpuDecoder *e,
                const float  *dst,
                int           total,
                int           out0,
                const float  *src,
                int           n_out,
                int           in,
                AsCudaMsg    *msg)
{
  if (e->layout == AS_GPU_WEIGHTS_OUT_IN)
    return upload (e, dst + (size_t) out0 * in, src, (size_t) n_out * in, msg);
  const size_t FS = sizeof (float);
  AS_CUDA_TRY (msg, cudaMemcpy2DAsync ((void *) (dst + out0), (size_t) total * FS, src,
                                       (size_t) n_out * FS, (size_t) n_out * FS, (size_t) in,
                                       cudaMemcpyHostToDevice, e->dev.compute));
  return AS_GPU_STATUS_OK;
}

/* An optional tensor: uploaded where the model has it (DST set). */
static AsGpuStatus
upload_optional (AsGpuDecoder *e,
                 const float  *dst,
                 const float  *src,
                 size_t        count,
                 AsCudaMsg    *msg)
{
  return dst != NULL ? upload (e, dst, src, count, msg) : AS_GPU_STATUS_OK;
}

static AsGpuStatus
upload_layer (AsGpuDecoder                   *e,
              const AsGpuDecoderLayerWeights *w,
              const DevLayer                 *d,
              AsCudaMsg                      *msg)
{
  const int H = e->hidden, F = e->intermediate, KV = kv_width (e);
  const int QKV = qkv_width (e), FW = ffn_width (e);
  AS_GPU_TRY (upload (e, d->attn_norm, w->attn_norm, (size_t) H, msg));
  AS_GPU_TRY (upload_optional (e, d->attn_norm_b, w->attn_norm_b, (size_t) H, msg));
  if (w->qkv_w != NULL)
    AS_GPU_TRY (upload (e, d->qkv_w, w->qkv_w, (size_t) QKV * H, msg));
  else
    {
      AS_GPU_TRY (upload_outputs (e, d->qkv_w, QKV, 0, w->q_w, H, H, msg));
      AS_GPU_TRY (upload_outputs (e, d->qkv_w, QKV, H, w->k_w, KV, H, msg));
      AS_GPU_TRY (upload_outputs (e, d->qkv_w, QKV, H + KV, w->v_w, KV, H, msg));
    }
  AS_GPU_TRY (upload_optional (e, d->qkv_b, w->qkv_b, (size_t) QKV, msg));
  AS_GPU_TRY (upload (e, d->o_w, w->o_w, (size_t) H * H, msg));
  AS_GPU_TRY (upload_optional (e, d->o_b, w->o_b, (size_t) H, msg));
  AS_GPU_TRY (upload (e, d->ffn_norm, w->ffn_norm, (size_t) H, msg));
  AS_GPU_TRY (upload_optional (e, d->ffn_norm_b, w->ffn_norm_b, (size_t) H, msg));
  if (e->ffn == AS_GPU_FFN_SWIGLU)
    AS_GPU_TRY (upload_outputs (e, d->up_w, FW, 0, w->gate_w, F, H, msg));
  AS_GPU_TRY (upload_outputs (e, d->up_w, FW, FW - F, w->up_w, F, H, msg));
  AS_GPU_TRY (upload_optional (e, d->up_b, w->up_b, (size_t) F, msg));
  AS_GPU_TRY (upload (e, d->down_w, w->down_w, (size_t) H * F, msg));
  AS_GPU_TRY (upload_optional (e, d->down_b, w->down_b, (size_t) H, msg));
  return AS_GPU_STATUS_OK;
}

static AsGpuStatus
upload_weights (AsGpuDecoder           *e,
                const AsGpuDecoderDesc *m,
                const float            *inv_freq,
                AsCudaMsg              *msg)
{
  const size_t H = (size_t) m->hidden;
  AS_GPU_TRY (upload (e, e->tok_emb, m->tok_emb, (size_t) m->vocab_size * H, msg));
  AS_GPU_TRY (upload_optional (e, e->pos_emb, m->pos_emb, (size_t) m->max_positions * H, msg));
  AS_GPU_TRY (upload (e, e->out_norm, m->out_norm, H, msg));
  AS_GPU_TRY (upload_optional (e, e->out_norm_b, m->out_norm_b, H, msg));
  AS_GPU_TRY (upload_optional (e, e->inv_freq, inv_freq, (size_t) (m->head_dim / 2), msg));
  for (int l = 0; l < m->n_layers; l++)
    AS_GPU_TRY (upload_layer (e, &m->layers[l], &e->layers[l], msg));
  return AS_GPU_STATUS_OK;
}

/* as_cuda_open_device's INIT: the layers' table, the device, the weights. */
static AsGpuStatus
decoder_init (void        *obj,
              const void  *model,
              AsCudaMsg   *msg)
{
  AsGpuDecoder *e = (AsGpuDecoder *) obj;
  const AsGpuDecoderDesc *m = (const AsGpuDecoderDesc *) model;
  e->layers = (DevLayer *) calloc ((size_t) m->n_layers, sizeof (DevLayer));
  if (e->layers == NULL)
    return as_cuda_msgf (msg, AS_GPU_STATUS_OUT_OF_MEMORY, "out of host memory");
  AS_GPU_TRY (as_cuda_device_start (&e->dev, e->precision == AS_GPU_PRECISION_TF32, msg));

  void *cublas_ws = NULL;
  Arena sizing = { NULL, 0 };
  plan_weights (e, m, &sizing, &cublas_ws);
  AS_GPU_TRY (as_cuda_device_alloc_weights (&e->dev, sizing.used, msg));
  Arena carve = { (char *) e->dev.weights, 0 };
  plan_weights (e, m, &carve, &cublas_ws);
  AS_CUBLAS_TRY (msg, cublasSetWorkspace (e->dev.blas, cublas_ws, CUBLAS_WS_BYTES));

  float *inv_freq = NULL;   /* [d/2], rotary only */
  if (e->positions == AS_GPU_POSITIONS_ROTARY)
    {
      inv_freq = (float *) malloc ((size_t) (m->head_dim / 2) * sizeof (float));
      if (inv_freq == NULL)
        return as_cuda_msgf (msg, AS_GPU_STATUS_OUT_OF_MEMORY, "out of host memory");
      rope_inverse_frequencies (inv_freq, m->head_dim, m->rope_theta);
    }
  AsGpuStatus st = upload_weights (e, m, inv_freq, msg);
  cudaError_t err = cudaStreamSynchronize (e->dev.compute);
  free (inv_freq);
  if (st != AS_GPU_STATUS_OK)
    return st;
  AS_CUDA_TRY (msg, err);
  return AS_GPU_STATUS_OK;
}

void
as_cuda_decoder_close (AsGpuDecoder *e)
{
  if (e == NULL)
    return;
  as_cuda_device_stop (&e->dev);
  release_workspace (e);
  free (e->layers);
  free (e);
}

static void
decoder_release (void *obj)
{
  as_cuda_decoder_close ((AsGpuDecoder *) obj);
}

/* Why this decoder cannot run layer L's weights W, or NULL. */
static const char *
missing_layer_weight (const AsGpuDecoderDesc         *m,
                      const AsGpuDecoderLayerWeights *w)
{
  const int layer_norm = m->norm == AS_GPU_NORM_LAYER, swiglu = m->ffn == AS_GPU_FFN_SWIGLU;
  if (w->attn_norm == NULL || w->ffn_norm == NULL)
    return "a norm's gain is missing";
  if (layer_norm != (w->attn_norm_b != NULL) || layer_norm != (w->ffn_norm_b != NULL))
    return layer_norm ? "a LayerNorm has no bias" : "an RMSNorm has a bias";
  if (w->qkv_w == NULL && (w->q_w == NULL || w->k_w == NULL || w->v_w == NULL))
    return "Q, K or V's projection is missing";
  if (w->qkv_w != NULL && (w->q_w != NULL || w->k_w != NULL || w->v_w != NULL))
    return "Q, K and V come both fused and separate";
  if (w->o_w == NULL || w->up_w == NULL || w->down_w == NULL)
    return "the output, up or down projection is missing";
  if (swiglu != (w->gate_w != NULL))
    return swiglu ? "SwiGLU has no gate projection" : "a GELU MLP has a gate projection";
  if (swiglu && w->up_b != NULL)
    return "SwiGLU's up projection has a bias";
  return NULL;
}

/* A description this decoder cannot run is refused, saying why. */
static AsGpuStatus
check_description (const AsGpuDecoderDesc *m,
                   AsCudaMsg              *msg)
{
  if (m->n_layers < 1 || m->n_heads < 1 || m->n_kv_heads < 1 || m->hidden < 1 ||
      m->intermediate < 1 || m->vocab_size < 1 || m->max_positions < 1 ||
      m->head_dim < 1 || m->head_dim * m->n_heads != m->hidden ||
      m->n_heads % m->n_kv_heads != 0 || m->layers == NULL || m->tok_emb == NULL ||
      m->out_norm == NULL || !(m->norm_eps >= 0.0f))
    return as_cuda_msgf (msg, AS_GPU_STATUS_FAILED, "inconsistent decoder shapes");
  if ((unsigned) m->norm > (unsigned) AS_GPU_NORM_LAYER ||
      (unsigned) m->positions > (unsigned) AS_GPU_POSITIONS_LEARNED ||
      (unsigned) m->ffn > (unsigned) AS_GPU_FFN_GELU_TANH ||
      (unsigned) m->layout > (unsigned) AS_GPU_WEIGHTS_IN_OUT)
    return as_cuda_msgf (msg, AS_GPU_STATUS_FAILED,
                         "unknown decoder kind (norm %d, positions %d, FFN %d, layout %d)",
                         (int) m->norm, (int) m->positions, (int) m->ffn, (int) m->layout);
  if (m->positions == AS_GPU_POSITIONS_ROTARY &&
      (m->head_dim % 2 != 0 || !(m->rope_theta > 1.0f) || m->pos_emb != NULL))
    return as_cuda_msgf (msg, AS_GPU_STATUS_FAILED,
                         "rotary positions need an even head size (%d), a theta above 1 "
                         "(%g) and no position table", m->head_dim, (double) m->rope_theta);
  if (m->positions == AS_GPU_POSITIONS_LEARNED && m->pos_emb == NULL)
    return as_cuda_msgf (msg, AS_GPU_STATUS_FAILED, "learned positions without a position table");
  if (m->norm == AS_GPU_NORM_LAYER && m->hidden > AS_CUDA_MAX_LN_DIM)
    return as_cuda_msgf (msg, AS_GPU_STATUS_FAILED,
                         "hidden size %d is larger than the GPU LayerNorm handles (%d)",
                         m->hidden, AS_CUDA_MAX_LN_DIM);
  if ((m->norm == AS_GPU_NORM_LAYER) != (m->out_norm_b != NULL))
    return as_cuda_msgf (msg, AS_GPU_STATUS_FAILED, "the final norm: %s",
                         m->norm == AS_GPU_NORM_LAYER ? "a LayerNorm has no bias"
                                                      : "an RMSNorm has a bias");
  for (int l = 0; l < m->n_layers; l++)
    {
      const char *why = missing_layer_weight (m, &m->layers[l]);
      if (why != NULL)
        return as_cuda_msgf (msg, AS_GPU_STATUS_FAILED, "layer %d: %s", l, why);
    }
  return AS_GPU_STATUS_OK;
}

AsGpuStatus
as_cuda_decoder_open (const AsGpuDecoderDesc  *m,
                      AsGpuPrecision           precision,
                      int                      device,
                      AsGpuDecoder           **out,
                      char                    *buf,
                      size_t                   len)
{
  AsCudaMsg msg = { buf, len };
  if (buf != NULL && len > 0)
    buf[0] = '\0';
  *out = NULL;
  if (precision != AS_GPU_PRECISION_FP32 && precision != AS_GPU_PRECISION_TF32)
    return as_cuda_msgf (&msg, AS_GPU_STATUS_FAILED,
                         "decoders run in fp32 or tf32 on the GPU, not %s",
                         precision_label (precision));
  AS_GPU_TRY (check_description (m, &msg));

  AsGpuDecoder *e = (AsGpuDecoder *) calloc (1, sizeof *e);
  if (e == NULL)
    return as_cuda_msgf (&msg, AS_GPU_STATUS_OUT_OF_MEMORY, "out of host memory");
  e->n_layers = m->n_layers;
  e->n_heads = m->n_heads;
  e->n_kv_heads = m->n_kv_heads;
  e->hidden = m->hidden;
  e->head_dim = m->head_dim;
  e->intermediate = m->intermediate;
  e->vocab_size = m->vocab_size;
  e->max_positions = m->max_positions;
  e->eps = m->norm_eps;
  e->norm = (AsGpuNorm) m->norm;   /* in range: checked above */
  e->positions = (AsGpuPositions) m->positions;
  e->ffn = (AsGpuFfn) m->ffn;
  e->layout = (AsGpuWeightLayout) m->layout;
  e->precision = precision;
  e->compute_type = precision == AS_GPU_PRECISION_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                       : CUBLAS_COMPUTE_32F;
  AS_GPU_TRY (as_cuda_open_device (e, &e->dev, device, decoder_init, m, decoder_release, &msg));
  *out = e;
  return AS_GPU_STATUS_OK;
}

/* ------------------------------------------------------------------------ */
/* Key/value caches                                                          */

AsGpuStatus
as_cuda_decoder_cache_new (AsGpuDecoder  *e,
                           int            capacity,
                           AsGpuKvCache **out,
                           char          *buf,
                           size_t         len)
{
  AsCudaMsg msg = { buf, len };
  if (buf != NULL && len > 0)
    buf[0] = '\0';
  *out = NULL;
  if (capacity < 1 || capacity > e->max_positions)
    return as_cuda_msgf (&msg, AS_GPU_STATUS_FAILED,
                         "a cache of %d tokens asked for; this model takes 1 to %d",
                         capacity, e->max_positions);
  const size_t bytes = (size_t) e->n_layers * 2 * capacity * kv_width (e) * sizeof (float);
  if (e->dev.stub || e->dev.force == FORCE_OOM_RUN)
    return as_cuda_msgf (&msg, AS_GPU_STATUS_OUT_OF_MEMORY,
                         "a key/value cache of %d tokens, %.1f MiB (forced by %s=oom-run%s)",
                         capacity, MIB (bytes), AS_GPU_FORCE_FAIL_ENV,
                         e->dev.stub ? "; simulated, as there is no usable GPU here" : "");
  AS_CUDA_TRY (&msg, cudaSetDevice (e->dev.device));
  AsGpuKvCache *cache = (AsGpuKvCache *) calloc (1, sizeof *cache);
  if (cache == NULL)
    return as_cuda_msgf (&msg, AS_GPU_STATUS_OUT_OF_MEMORY, "out of host memory");
  cache->capacity = capacity;
  char what[64];
  snprintf (what, sizeof what, "a key/value cache of %d tokens", capacity);
  AsGpuStatus st = device_alloc ((void **) &cache->kv, bytes, what, &msg);
  /* A step's buffers now, so that decoding never runs out of memory midway. */
  if (st == AS_GPU_STATUS_OK)
    st = reserve (e, 1, capacity, &msg);
  if (st != AS_GPU_STATUS_OK)
    {
      as_cuda_decoder_cache_free (e, cache);
      return st;
    }
  *out = cache;
  return AS_GPU_STATUS_OK;
}

void
as_cuda_decoder_cache_free (AsGpuDecoder *e,
                            AsGpuKvCache *cache)
{
  if (cache == NULL)
    return;
  if (cache->kv != NULL)
    {
      (void) cudaSetDevice (e->dev.device);
      /* A pass may still read it. */
      (void) cudaStreamSynchronize (e->dev.compute);
      (void) cudaFree (cache->kv);
      (void) cudaGetLastError ();
    }
  free (cache);
}

/* ------------------------------------------------------------------------ */
/* A layer                                                                   */

/* out[n, out_dim] = in[n, in_dim] W^T (+ B [out_dim], or NULL), W
 * [out_dim, in_dim] or, in the [in, out] layout, its transpose [in_dim,
 * out_dim]; the bias is added after the product, as the CPU does. See the
 * encoder's linear for the column-major reading: the transpose read
 * column-major with ld out_dim is W itself, so it goes in untransposed. */
static AsGpuStatus
linear (AsGpuDecoder *e,
        float        *out,
        const float  *in,
        const float  *w,
        const float  *b,
        int           n,
        int           in_dim,
        int           out_dim,
        AsCudaMsg    *msg)
{
  const int out_in = e->layout == AS_GPU_WEIGHTS_OUT_IN;
  AS_GPU_TRY (as_cuda_gemm (e->dev.blas, CUDA_R_32F, e->compute_type,
                            out_in ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N,
                            out_dim, n, in_dim, 1.0f, w, out_in ? in_dim : out_dim, 0,
                            in, in_dim, 0, out, out_dim, 0, 1, msg));
  if (b != NULL)
    AS_CUDA_TRY (msg, as_cuda_add_bias (out, b, n, out_dim, e->dev.compute));
  return AS_GPU_STATUS_OK;
}

/* OUT [rows, H] = the model's norm (RMSNorm, or LayerNorm with B) of IN. */
static cudaError_t
enqueue_norm (const AsGpuDecoder *e,
              float              *out,
              const float        *in,
              const float        *g,
              const float        *b,
              int                 rows)
{
  if (e->norm == AS_GPU_NORM_LAYER)
    return as_cuda_add_layer_norm (out, in, NULL, NULL, g, b, rows, e->hidden, e->eps,
                                   e->dev.compute);
  return as_cuda_rms_norm (out, in, g, rows, e->hidden, e->eps, e->dev.compute);
}

/* qkv[n, H + 2 KV] of the layer input X_IN [n, H] at positions pos0..:
 * the norm, the stacked projection, rotary positions on Q and K. */
static AsGpuStatus
enqueue_qkv (AsGpuDecoder   *e,
             const DevLayer *w,
             const float    *x_in,
             int             n,
             int             pos0,
             AsCudaMsg      *msg)
{
  const int H = e->hidden, QKV = qkv_width (e);
  const cudaStream_t s = e->dev.compute;
  AS_CUDA_TRY (msg, enqueue_norm (e, e->xn, x_in, w->attn_norm, w->attn_norm_b, n));
  AS_GPU_TRY (linear (e, e->qkv, e->xn, w->qkv_w, w->qkv_b, n, H, QKV, msg));
  if (e->positions != AS_GPU_POSITIONS_ROTARY)
    return AS_GPU_STATUS_OK;
  AS_CUDA_TRY (msg, as_cuda_rope (e->qkv, n, e->n_heads, e->head_dim, QKV, pos0, e->inv_freq,
                                  s));
  AS_CUDA_TRY (msg, as_cuda_rope (e->qkv + H, n, e->n_kv_heads, e->head_dim, QKV, pos0,
                                  e->inv_freq, s));
  return AS_GPU_STATUS_OK;
}

/* X_OUT [n, H] += FFN(Norm(X_OUT)): SwiGLU, or the GELU MLP. */
static AsGpuStatus
enqueue_ffn (AsGpuDecoder   *e,
             const DevLayer *w,
             float          *x_out,
             int             n,
             AsCudaMsg      *msg)
{
  const int H = e->hidden, F = e->intermediate;
  const cudaStream_t s = e->dev.compute;
  AS_CUDA_TRY (msg, enqueue_norm (e, e->xn, x_out, w->ffn_norm, w->ffn_norm_b, n));
  AS_GPU_TRY (linear (e, e->gu, e->xn, w->up_w, NULL, n, H, ffn_width (e), msg));
  const float *act = e->ff;   /* [n, F] */
  if (e->ffn == AS_GPU_FFN_SWIGLU)
    AS_CUDA_TRY (msg, as_cuda_swiglu (e->ff, e->gu, n, F, s));
  else
    {
      AS_CUDA_TRY (msg, as_cuda_add_bias_gelu (e->gu, w->up_b, n, F, 1, s));
      act = e->gu;
    }
  AS_GPU_TRY (linear (e, e->tmp, act, w->down_w, w->down_b, n, F, H, msg));
  AS_CUDA_TRY (msg, as_cuda_add (x_out, x_out, e->tmp, (size_t) n * H, s));
  return AS_GPU_STATUS_OK;
}

/* The rest of the layer for N_Q query rows of qkv at positions pos0..,
 * over N_KEYS keys KEYS [n_keys, ld LDK] and values VALUES [n_keys, ld
 * LDV]: PROBS [NH, n_q, n_keys] and X_OUT [n_q, H] = X_IN + attention +
 * FFN. */
static AsGpuStatus
enqueue_rest (AsGpuDecoder   *e,
              const DevLayer *w,
              const float    *x_in,
              float          *x_out,
              float          *probs,
              int             n_q,
              int             pos0,
              const float    *keys,
              const float    *values,
              int             ld_kv,
              int             n_keys,
              AsCudaMsg      *msg)
{
  const int H = e->hidden, QKV = qkv_width (e), d = e->head_dim;
  const int group = e->n_heads / e->n_kv_heads;
  const long long per_head = (long long) n_q * n_keys;
  const cudaStream_t s = e->dev.compute;
  const float scale = 1.0f / sqrtf ((float) d);

  /* probs[h]^T (key x query, ld n_keys) = K_g (n_keys x d, op T of the d x
   * n_keys view) · Q_h^T (d x n_q view, ld QKV), for the GROUP heads h of
   * K/V head g in one batch: K_g fixed (stride 0), Q_h d columns apart. */
  for (int g = 0; g < e->n_kv_heads; g++)
    AS_GPU_TRY (as_cuda_gemm (e->dev.blas, CUDA_R_32F, e->compute_type, CUBLAS_OP_T, CUBLAS_OP_N,
                              n_keys, n_q, d, scale,
                              keys + (size_t) g * d, ld_kv, 0,
                              e->qkv + (size_t) g * group * d, QKV, d,
                              probs + (size_t) g * group * per_head, n_keys, per_head,
                              group, msg));
  AS_CUDA_TRY (msg, as_cuda_softmax_causal (probs, e->n_heads, n_q, n_keys, pos0, s));

  /* ctx_h^T (d x n_q, ld H, at column h*d) = V_g^T (d x n_keys view, ld
   * LD_KV) · P_h^T (n_keys x n_q view, ld n_keys). */
  for (int g = 0; g < e->n_kv_heads; g++)
    AS_GPU_TRY (as_cuda_gemm (e->dev.blas, CUDA_R_32F, e->compute_type, CUBLAS_OP_N, CUBLAS_OP_N,
                              d, n_q, n_keys, 1.0f,
                              values + (size_t) g * d, ld_kv, 0,
                              probs + (size_t) g * group * per_head, n_keys, per_head,
                              e->ctx + (size_t) g * group * d, H, d,
                              group, msg));

  /* x_out = x_in + (ctx W_o^T + b_o) */
  AS_GPU_TRY (linear (e, e->tmp, e->ctx, w->o_w, w->o_b, n_q, H, H, msg));
  AS_CUDA_TRY (msg, as_cuda_add (x_out, x_in, e->tmp, (size_t) n_q * H, s));
  return enqueue_ffn (e, w, x_out, n_q, msg);
}

/* Rows pos0..pos0+n-1 of layer L's keys and values in CACHE = this pass's. */
static AsGpuStatus
store_keys_values (AsGpuDecoder *e,
                   AsGpuKvCache *cache,
                   int           layer,
                   int           pos0,
                   int           n,
                   AsCudaMsg    *msg)
{
  const int H = e->hidden, KV = kv_width (e), QKV = qkv_width (e);
  const size_t row = (size_t) KV * sizeof (float), pitch = (size_t) QKV * sizeof (float);
  AS_CUDA_TRY (msg, cudaMemcpy2DAsync (cache_keys (e, cache, layer) + (size_t) pos0 * KV, row,
                                       e->qkv + H, pitch, row, (size_t) n,
                                       cudaMemcpyDeviceToDevice, e->dev.compute));
  AS_CUDA_TRY (msg, cudaMemcpy2DAsync (cache_values (e, cache, layer) + (size_t) pos0 * KV, row,
                                       e->qkv + H + KV, pitch, row, (size_t) n,
                                       cudaMemcpyDeviceToDevice, e->dev.compute));
  return AS_GPU_STATUS_OK;
}

/* ------------------------------------------------------------------------ */
/* Passes                                                                    */

static int
is_cancelled (const Sink *k)
{
  return k->cancelled != NULL && k->cancelled (k->user_data);
}

static int
is_streaming (const Sink *k)
{
  return k->on_layer != NULL || k->on_row != NULL;
}

/* Queues the copy of layer L's attention [NH, n_q, n_keys] (and hidden
 * state X [n_q, H] when asked for) to the pinned buffers of its parity. */
static AsGpuStatus
queue_copy (AsGpuDecoder *e,
            const Sink   *k,
            int           layer,
            const float  *x,
            int           n_q,
            int           n_keys,
            AsCudaMsg    *msg)
{
  const int b = layer & 1;
  AS_CUDA_TRY (msg, cudaEventRecord (e->dev.layer_done[b], e->dev.compute));
  AS_CUDA_TRY (msg, cudaStreamWaitEvent (e->dev.copy, e->dev.layer_done[b], 0));
  AS_CUDA_TRY (msg, cudaMemcpyAsync (e->h_attn[b], e->probs[b],
                                     (size_t) e->n_heads * n_q * n_keys * sizeof (float),
                                     cudaMemcpyDeviceToHost, e->dev.copy));
  if (k->want_hidden)
    AS_CUDA_TRY (msg, cudaMemcpyAsync (e->h_hidden[b], x, (size_t) n_q * e->hidden * sizeof (float),
                                       cudaMemcpyDeviceToHost, e->dev.copy));
  AS_CUDA_TRY (msg, cudaEventRecord (e->dev.copy_done[b], e->dev.copy));
  return AS_GPU_STATUS_OK;
}

/* Waits for the copy of LAYER and hands it over. */
static AsGpuStatus
deliver (AsGpuDecoder *e,
         const Sink   *k,
         int           layer,
         int          *delivered,
         AsCudaMsg    *msg)
{
  if (is_cancelled (k))
    return AS_GPU_STATUS_CANCELLED;
  const int b = layer & 1;
  AS_CUDA_TRY (msg, cudaEventSynchronize (e->dev.copy_done[b]));
  (*delivered)++;
  int go_on = k->on_layer != NULL
              ? k->on_layer (layer, e->h_attn[b], k->want_hidden ? e->h_hidden[b] : NULL,
                             k->user_data)
              : k->on_row (layer, e->h_attn[b], k->n_ctx, k->user_data);
  return go_on ? AS_GPU_STATUS_OK : AS_GPU_STATUS_STOPPED;
}

/* Every layer for N_Q tokens at positions pos0.. whose ids are in d_ids:
 * a prompt (CACHE NULL, or filled from pos0 0) or a step (reading CACHE's
 * first pos0 tokens). Leaves the last layer's output in x[*CUR]. */
static AsGpuStatus
run_layers (AsGpuDecoder      *e,
            const Sink        *k,
            AsGpuKvCache      *cache,
            int                n_q,
            int                pos0,
            int                qkv_layer,
            const AsGpuPrompt *p,
            int               *cur,
            int               *delivered,
            AsCudaMsg         *msg)
{
  const int H = e->hidden, KV = kv_width (e), QKV = qkv_width (e), d = e->head_dim;
  const int step = pos0 > 0, n_keys = pos0 + n_q;
  const int streaming = is_streaming (k) && qkv_layer < 0;
  const int last = qkv_layer >= 0 ? qkv_layer : e->n_layers - 1;

  AS_CUDA_TRY (msg, as_cuda_embed_rows (e->x[0], e->d_ids, e->tok_emb, e->pos_emb, pos0, n_q, H,
                                       e->dev.compute));
  *cur = 0;
  for (int l = 0; l <= last; l++)
    {
      if (is_cancelled (k))
        return AS_GPU_STATUS_CANCELLED;
      const int b = l & 1;
      const DevLayer *w = &e->layers[l];
      /* Layer l reuses the buffers of layer l-2: wait until they reached the host. */
      if (streaming && l >= 2)
        AS_CUDA_TRY (msg, cudaStreamWaitEvent (e->dev.compute, e->dev.copy_done[b], 0));
      AS_GPU_TRY (enqueue_qkv (e, w, e->x[*cur], n_q, pos0, msg));
      if (l == qkv_layer)
        {
          /* qkv [n, H + 2 KV] -> q [n, H], and k, v [n, H] with K/V head
           * h / group in query head h's columns. */
          const size_t pitch = (size_t) QKV * sizeof (float), out = (size_t) H * sizeof (float);
          const int group = e->n_heads / e->n_kv_heads;
          AS_CUDA_TRY (msg, cudaMemcpy2DAsync (p->q, out, e->qkv, pitch, out, (size_t) n_q,
                                               cudaMemcpyDeviceToHost, e->dev.compute));
          for (int h = 0; h < e->n_heads; h++)
            {
              const float *kh = e->qkv + H + (size_t) (h / group) * d;
              AS_CUDA_TRY (msg, cudaMemcpy2DAsync (p->k + (size_t) h * d, out, kh, pitch,
                                                   (size_t) d * sizeof (float), (size_t) n_q,
                                                   cudaMemcpyDeviceToHost, e->dev.compute));
              AS_CUDA_TRY (msg, cudaMemcpy2DAsync (p->v + (size_t) h * d, out, kh + KV, pitch,
                                                   (size_t) d * sizeof (float), (size_t) n_q,
                                                   cudaMemcpyDeviceToHost, e->dev.compute));
            }
          AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.compute));
          return AS_GPU_STATUS_OK;
        }
      if (cache != NULL)
        AS_GPU_TRY (store_keys_values (e, cache, l, pos0, n_q, msg));
      if (step)
        AS_GPU_TRY (enqueue_rest (e, w, e->x[*cur], e->x[*cur ^ 1], e->probs[b], n_q, pos0,
                                  cache_keys (e, cache, l), cache_values (e, cache, l), KV,
                                  n_keys, msg));
      else
        AS_GPU_TRY (enqueue_rest (e, w, e->x[*cur], e->x[*cur ^ 1], e->probs[b], n_q, pos0,
                                  e->qkv + H, e->qkv + H + KV, QKV, n_keys, msg));
      if (streaming)
        {
          AS_GPU_TRY (queue_copy (e, k, l, e->x[*cur ^ 1], n_q, n_keys, msg));
          /* Layer l is queued: hand over layer l-1 while it runs. */
          if (l >= 1)
            AS_GPU_TRY (deliver (e, k, l - 1, delivered, msg));
        }
      *cur ^= 1;
    }
  if (streaming)
    AS_GPU_TRY (deliver (e, k, last, delivered, msg));
  return AS_GPU_STATUS_OK;
}

/* FINAL [rows, H] (host) = the final norm of X [rows, H]. */
static AsGpuStatus
copy_final (AsGpuDecoder *e,
            const float  *x,
            int           rows,
            float        *final_hidden,
            AsCudaMsg    *msg)
{
  AS_CUDA_TRY (msg, enqueue_norm (e, e->xn, x, e->out_norm, e->out_norm_b, rows));
  AS_CUDA_TRY (msg, cudaMemcpyAsync (final_hidden, e->xn, (size_t) rows * e->hidden * sizeof (float),
                                     cudaMemcpyDeviceToHost, e->dev.compute));
  return AS_GPU_STATUS_OK;
}

/* Uploads N ids (checked against the vocabulary: the device would read
 * past the embedding otherwise). */
static AsGpuStatus
upload_ids (AsGpuDecoder *e,
            const int    *ids,
            int           n,
            AsCudaMsg    *msg)
{
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= e->vocab_size)
      return as_cuda_msgf (msg, AS_GPU_STATUS_FAILED, "token id %d out of range (vocab %d)",
                           ids[i], e->vocab_size);
  memcpy (e->h_ids, ids, (size_t) n * sizeof (int));
  AS_CUDA_TRY (msg, cudaMemcpyAsync (e->d_ids, e->h_ids, (size_t) n * sizeof (int),
                                     cudaMemcpyHostToDevice, e->dev.compute));
  return AS_GPU_STATUS_OK;
}

static AsGpuStatus
run_prompt (AsGpuDecoder      *e,
            const AsGpuPrompt *p,
            int               *delivered,
            AsCudaMsg         *msg)
{
  const Sink k = { p->on_layer, NULL, p->cancelled, p->user_data, p->want_hidden, 0 };
  AS_GPU_TRY (reserve (e, p->n, p->n, msg));
  AS_GPU_TRY (upload_ids (e, p->ids, p->n, msg));
  int cur = 0;
  AS_GPU_TRY (run_layers (e, &k, p->qkv_layer >= 0 ? NULL : p->cache, p->n, 0, p->qkv_layer, p,
                          &cur, delivered, msg));
  if (p->qkv_layer >= 0)
    return AS_GPU_STATUS_OK;
  if (p->final_hidden != NULL)
    AS_GPU_TRY (copy_final (e, e->x[cur], p->n, p->final_hidden, msg));
  AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.compute));
  AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.copy));
  if (p->cache != NULL)
    p->cache->len = p->n;
  return AS_GPU_STATUS_OK;
}

/* After a failure: nothing left in flight that still writes our buffers,
 * and out of memory only before the first layer was handed over. */
static AsGpuStatus
settle (AsGpuDecoder *e,
        AsGpuStatus   st,
        int           delivered)
{
  if (st == AS_GPU_STATUS_OK)
    return st;
  (void) cudaStreamSynchronize (e->dev.compute);
  (void) cudaStreamSynchronize (e->dev.copy);
  (void) cudaGetLastError ();
  if (st == AS_GPU_STATUS_OUT_OF_MEMORY && delivered > 0)
    st = AS_GPU_STATUS_FAILED;
  return st;
}

AsGpuStatus
as_cuda_decoder_prompt (AsGpuDecoder      *e,
                        const AsGpuPrompt *p,
                        char              *buf,
                        size_t             len)
{
  AsCudaMsg msg = { buf, len };
  if (buf != NULL && len > 0)
    buf[0] = '\0';
  if (e->dev.stub)
    return as_cuda_msgf (&msg, AS_GPU_STATUS_OUT_OF_MEMORY,
                         "the work buffers of %d tokens (forced by %s=oom-run; "
                         "simulated, as there is no usable GPU here)",
                         p->n, AS_GPU_FORCE_FAIL_ENV);
  if (p->n < 1 || p->n > e->max_positions || p->ids == NULL || p->qkv_layer >= e->n_layers ||
      (p->qkv_layer >= 0 && (p->q == NULL || p->k == NULL || p->v == NULL)))
    return as_cuda_msgf (&msg, AS_GPU_STATUS_FAILED, "invalid prompt (n %d, qkv layer %d)",
                         p->n, p->qkv_layer);
  if (p->cache != NULL && (p->cache->len != 0 || p->n > p->cache->capacity))
    return as_cuda_msgf (&msg, AS_GPU_STATUS_FAILED,
                         "a prompt of %d tokens into a cache holding %d of %d: a prompt goes "
                         "first, and must fit", p->n, p->cache->len, p->cache->capacity);

  AS_CUDA_TRY (&msg, cudaSetDevice (e->dev.device));   /* the caller's thread may be new */
  (void) cudaGetLastError ();
  int delivered = 0;
  return settle (e, run_prompt (e, p, &delivered, &msg), delivered);
}

static AsGpuStatus
run_step (AsGpuDecoder    *e,
          AsGpuKvCache    *cache,
          const AsGpuStep *s,
          int             *delivered,
          AsCudaMsg       *msg)
{
  const int pos = cache->len;
  const Sink k = { NULL, s->on_row, s->cancelled, s->user_data, 0, pos + 1 };
  AS_GPU_TRY (reserve (e, 1, pos + 1, msg));
  AS_GPU_TRY (upload_ids (e, &s->token, 1, msg));
  int cur = 0;
  AS_GPU_TRY (run_layers (e, &k, cache, 1, pos, -1, NULL, &cur, delivered, msg));
  if (s->final_hidden != NULL)
    AS_GPU_TRY (copy_final (e, e->x[cur], 1, s->final_hidden, msg));
  AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.compute));
  AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.copy));
  cache->len = pos + 1;
  return AS_GPU_STATUS_OK;
}

AsGpuStatus
as_cuda_decoder_step (AsGpuDecoder    *e,
                      AsGpuKvCache    *cache,
                      const AsGpuStep *s,
                      char            *buf,
                      size_t           len)
{
  AsCudaMsg msg = { buf, len };
  if (buf != NULL && len > 0)
    buf[0] = '\0';
  if (cache == NULL || cache->len < 1 || cache->len >= cache->capacity)
    return as_cuda_msgf (&msg, AS_GPU_STATUS_FAILED,
                         "cannot append a token to a cache holding %d of %d: %s",
                         cache != NULL ? cache->len : 0, cache != NULL ? cache->capacity : 0,
                         cache == NULL ? "no cache" : cache->len < 1 ? "no prompt yet" : "it is full");
  AS_CUDA_TRY (&msg, cudaSetDevice (e->dev.device));
  (void) cudaGetLastError ();
  int delivered = 0;
  return settle (e, run_step (e, cache, s, &delivered, &msg), delivered);
}

void
as_cuda_decoder_describe (AsGpuDecoder *e,
                          char         *buf,
                          size_t        len)
{
  as_cuda_device_describe (&e->dev, e->precision, buf, len);
}
