/* as-gpu-plugin.h — the plain C boundary between the engine and the CUDA plugin.
 *
 * The engine defines this interface (so it lives in model/) and the plugin
 * implements it: gpu/ includes this header, the engine never includes gpu/.
 *
 * The plugin (gpu/, a shared_module) is compiled by nvcc and links only the
 * CUDA runtime and cuBLAS: no GLib, no engine code, no GTK. It exports one
 * symbol, AS_GPU_PLUGIN_ENTRY, which returns this table of functions. The
 * engine's loader (model/as-gpu-loader.c) opens the module with GModule and
 * wraps the table in an AsBackend, so every error message, request check and
 * the CPU fallback live on the engine side, in C.
 *
 * Everything that crosses the boundary is plain C: ints, floats, pointers to
 * host memory and caller-owned message buffers. Strings written into MSG are
 * always NUL-terminated and name the file:line and call that failed.
 */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bump when any struct or function below changes. */
#define AS_GPU_PLUGIN_ABI_VERSION 3
#define AS_GPU_PLUGIN_ENTRY       "as_gpu_plugin_get_api"
/* Tests force each failure: plugin (loader side), driver, device, oom-load,
 * oom-run (plugin side). */
#define AS_GPU_FORCE_FAIL_ENV     "ATTNSCOPE_GPU_FORCE_FAIL"
/* Size callers give for MSG buffers. */
#define AS_GPU_MSG_LEN            1024

typedef enum {
  AS_GPU_PRECISION_FP32 = 0,  /* fp32 GEMMs, TF32 off: matches the CPU to 1e-5 */
  AS_GPU_PRECISION_TF32,      /* fp32 storage, TF32 tensor-core GEMMs */
  AS_GPU_PRECISION_FP16,      /* fp16 GEMM operands (weights stored fp16), fp32 accumulate */
  AS_GPU_PRECISION_BF16,      /* bf16 GEMM operands (weights stored bf16), fp32 accumulate */
} AsGpuPrecision;

typedef enum {
  AS_GPU_STATUS_OK = 0,
  AS_GPU_STATUS_NO_DRIVER,      /* no libcuda / driver too old (cudaErrorInsufficientDriver) */
  AS_GPU_STATUS_NO_DEVICE,      /* no CUDA device, or none this build can run on */
  AS_GPU_STATUS_OUT_OF_MEMORY,  /* device or pinned host memory exhausted */
  AS_GPU_STATUS_CANCELLED,      /* the cancel check said stop (between layers) */
  AS_GPU_STATUS_STOPPED,        /* on_layer returned 0 */
  AS_GPU_STATUS_FAILED,         /* any other CUDA or cuBLAS error */
} AsGpuStatus;

/* Host pointers to f32 weights, Linear weights [out, in] row-major. */
typedef struct {
  const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;
  const float *o_w, *o_b, *ln1_g, *ln1_b;
  const float *ff1_w, *ff1_b, *ff2_w, *ff2_b, *ln2_g, *ln2_b;
} AsGpuLayerWeights;

typedef struct {
  int    n_layers;
  int    n_heads;
  int    hidden;
  int    head_dim;
  int    intermediate;
  int    vocab_size;
  int    max_positions;
  int    type_vocab_size;
  float  layer_norm_eps;
  const float *word_emb;   /* [vocab_size, hidden] */
  const float *pos_emb;    /* [max_positions, hidden] */
  const float *type_emb;   /* [type_vocab_size, hidden] */
  const float *emb_ln_g;   /* [hidden] */
  const float *emb_ln_b;   /* [hidden] */
  const AsGpuLayerWeights *layers; /* [n_layers] */
} AsGpuModelDesc;

/* ATTN [n_heads, n, n], HIDDEN [n, hidden] or NULL; valid during the call.
 * Return non-zero to go on, 0 to stop. */
typedef int (*AsGpuLayerFunc)  (int layer, const float *attn, const float *hidden, void *user_data);
/* Non-zero when the caller wants the pass to stop (checked between layers). */
typedef int (*AsGpuCancelFunc) (void *user_data);

/* One pass. The caller has checked ids, type ids and n against the model. */
typedef struct {
  const int      *ids;          /* [n] */
  const int      *type_ids;     /* [n] */
  int             n;
  int             causal_mask;
  int             want_hidden;  /* copy each layer's output for on_layer */
  int             last_layer;   /* run layers 0..last_layer */
  int             qkv_only;     /* stop after Q, K, V of last_layer and copy them out */
  AsGpuLayerFunc  on_layer;     /* may be NULL */
  AsGpuCancelFunc cancelled;    /* may be NULL */
  void           *user_data;
  float          *q, *k, *v;    /* [n, hidden] each, with qkv_only */
  float          *final_hidden; /* [n, hidden] or NULL, without qkv_only */
} AsGpuRun;

typedef struct AsGpuEncoder AsGpuEncoder;

/* --- decoders (Llama and GPT-2 families) ---------------------------------- *
 * One decoder with switches: the norm (RMSNorm, or LayerNorm with a bias),
 * the positions (rotary on Q and K, or a learned table added to the token
 * embedding), the FFN (SwiGLU, or a GELU MLP in its tanh form), biases on
 * the projections where a checkpoint has them, and the weights' layout
 * (nn.Linear's [out, in], or GPT-2 Conv1D's [in, out]).
 *
 * Shapes: H hidden, NH query heads and NKV key/value heads of d = H / NH
 * columns (each K/V head serves NH / NKV query heads), KV = NKV * d, F the
 * FFN's width, V the vocabulary, P the positions. Host pointers to f32
 * weights, de-quantised by the engine; a matrix "[out, in]" below is stored
 * so with AS_GPU_WEIGHTS_OUT_IN and as its transpose [in, out] with
 * AS_GPU_WEIGHTS_IN_OUT. Rotary Q and K rows are in transformers' layout
 * (rotate_half: dimension j pairs with j + d/2). The output embedding stays
 * with the engine: a pass ends with the final hidden states after the final
 * norm, which the engine's language-model head (model/as-lm-head.h) turns
 * into logits as for the CPU backends, tied or not. */
typedef enum {
  AS_GPU_NORM_RMS = 0,         /* g * x / sqrt(mean(x^2) + eps)  (LlamaRMSNorm) */
  AS_GPU_NORM_LAYER,           /* (x - mean) / sqrt(var + eps) * g + b  (nn.LayerNorm) */
} AsGpuNorm;

typedef enum {
  AS_GPU_POSITIONS_ROTARY = 0, /* Q and K turned by rope_theta */
  AS_GPU_POSITIONS_LEARNED,    /* x = tok_emb[id] + pos_emb[position] */
} AsGpuPositions;

typedef enum {
  AS_GPU_FFN_SWIGLU = 0,       /* (silu(x W_gate^T) * x W_up^T) W_down^T */
  AS_GPU_FFN_GELU_TANH,        /* gelu_tanh(x W_up^T + b_up) W_down^T + b_down */
} AsGpuFfn;

typedef enum {
  AS_GPU_WEIGHTS_OUT_IN = 0,   /* nn.Linear: [out, in] row-major */
  AS_GPU_WEIGHTS_IN_OUT,       /* Conv1D: [in, out] row-major */
} AsGpuWeightLayout;

/* Optional pointers (biases, the LayerNorm's b) are NULL where absent. */
typedef struct {
  const float *attn_norm;    /* [H]      the norm before attention: g */
  const float *attn_norm_b;  /* [H]      its b (LayerNorm) */
  const float *q_w;          /* [H, H]   separate projections, or NULL with qkv_w */
  const float *k_w;          /* [KV, H] */
  const float *v_w;          /* [KV, H] */
  const float *qkv_w;        /* [H + 2 KV, H]  Q, K, V fused (GPT-2's c_attn), or NULL */
  const float *qkv_b;        /* [H + 2 KV]     Q | K | V biases */
  const float *o_w;          /* [H, H] */
  const float *o_b;          /* [H] */
  const float *ffn_norm;     /* [H]      the norm before the FFN: g */
  const float *ffn_norm_b;   /* [H]      its b (LayerNorm) */
  const float *gate_w;       /* [F, H]   SwiGLU only */
  const float *up_w;         /* [F, H] */
  const float *up_b;         /* [F] */
  const float *down_w;       /* [H, F] */
  const float *down_b;       /* [H] */
} AsGpuDecoderLayerWeights;

typedef struct {
  int    n_layers;
  int    n_heads;
  int    n_kv_heads;
  int    hidden;
  int    head_dim;
  int    intermediate;
  int    vocab_size;
  int    max_positions;
  /* The kinds, as plain ints: a value from a newer or broken engine is
   * refused by the plugin, which must read it without assuming it is one
   * of the enum's (and an enum's size is the compiler's choice). */
  int    norm;             /* an AsGpuNorm */
  int    positions;        /* an AsGpuPositions */
  int    ffn;              /* an AsGpuFfn */
  int    layout;           /* an AsGpuWeightLayout */
  float  norm_eps;
  float  rope_theta;       /* rotary only */
  const float *tok_emb;    /* [V, H]   token embedding */
  const float *pos_emb;    /* [P, H]   learned positions only */
  const float *out_norm;   /* [H]      the final norm: g */
  const float *out_norm_b; /* [H]      its b (LayerNorm) */
  const AsGpuDecoderLayerWeights *layers;   /* [n_layers] */
} AsGpuDecoderDesc;

typedef struct AsGpuDecoder AsGpuDecoder;   /* the weights on one device */
typedef struct AsGpuKvCache AsGpuKvCache;   /* keys and values of one sequence */

/* A prompt forward: causal, positions 0..n-1. The caller has checked ids
 * and n against the model. */
typedef struct {
  const int      *ids;          /* [n] */
  int             n;
  int             want_hidden;  /* hand each layer's output [n, H] to on_layer */
  int             qkv_layer;    /* >= 0: stop once Q, K, V of this layer are in q, k, v */
  AsGpuLayerFunc  on_layer;     /* ATTN [NH, n, n]; may be NULL */
  AsGpuCancelFunc cancelled;    /* may be NULL */
  void           *user_data;
  AsGpuKvCache   *cache;        /* empty, keeps every layer's keys and values; or NULL */
  float          *q, *k, *v;    /* [n, H] each with qkv_layer; K and V repeated per query head */
  float          *final_hidden; /* [n, H] after the final norm, or NULL */
} AsGpuPrompt;

/* ROW [NH, n_ctx]: the new token's attention over every token so far,
 * itself last. Non-zero to go on, 0 to stop. */
typedef int (*AsGpuRowFunc) (int layer, const float *row, int n_ctx, void *user_data);

/* One token appended at the cache's next position. */
typedef struct {
  int             token;
  AsGpuRowFunc    on_row;       /* may be NULL */
  AsGpuCancelFunc cancelled;    /* may be NULL */
  void           *user_data;
  float          *final_hidden; /* [H] after the final norm, or NULL */
} AsGpuStep;

typedef struct {
  int abi_version;
  /* Can DEVICE run this build? Writes "NVIDIA H100 …, sm_90, 80 GiB" to INFO. */
  AsGpuStatus (*probe)    (int device, char *info, size_t info_len, char *msg, size_t msg_len);
  /* Uploads the weights (once) and prepares streams and cuBLAS. */
  AsGpuStatus (*open)     (const AsGpuModelDesc *model, AsGpuPrecision precision, int device,
                           AsGpuEncoder **out, char *msg, size_t msg_len);
  /* OUT_OF_MEMORY is reported only before the first layer is handed over, so
   * the caller can run the same request again elsewhere. */
  AsGpuStatus (*run)      (AsGpuEncoder *encoder, const AsGpuRun *run, char *msg, size_t msg_len);
  void        (*describe) (AsGpuEncoder *encoder, char *buf, size_t len);
  void        (*close)    (AsGpuEncoder *encoder);

  /* Decoders. Uploads the weights (once); fp32 and TF32 only. A
   * description the plugin cannot run is refused (FAILED, MSG says why). */
  AsGpuStatus (*decoder_open)     (const AsGpuDecoderDesc *model, AsGpuPrecision precision,
                                   int device, AsGpuDecoder **out, char *msg, size_t msg_len);
  /* A key/value cache for up to CAPACITY tokens (1..max_positions). */
  AsGpuStatus (*cache_new)        (AsGpuDecoder *decoder, int capacity, AsGpuKvCache **out,
                                   char *msg, size_t msg_len);
  void        (*cache_free)       (AsGpuDecoder *decoder, AsGpuKvCache *cache);
  /* OUT_OF_MEMORY only before the first layer is handed over, as run. */
  AsGpuStatus (*decoder_prompt)   (AsGpuDecoder *decoder, const AsGpuPrompt *prompt,
                                   char *msg, size_t msg_len);
  /* Appends STEP's token to CACHE (which holds a prompt and has room); the
   * cache grows only when the whole step succeeded. */
  AsGpuStatus (*decoder_step)     (AsGpuDecoder *decoder, AsGpuKvCache *cache,
                                   const AsGpuStep *step, char *msg, size_t msg_len);
  void        (*decoder_describe) (AsGpuDecoder *decoder, char *buf, size_t len);
  void        (*decoder_close)    (AsGpuDecoder *decoder);
} AsGpuPluginApi;

/* The one exported symbol. NULL when ABI_VERSION is not the plugin's. */
typedef const AsGpuPluginApi *(*AsGpuPluginEntryFunc) (int abi_version);

#ifdef __cplusplus
}
#endif
