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
#define AS_GPU_PLUGIN_ABI_VERSION 1
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
} AsGpuPluginApi;

/* The one exported symbol. NULL when ABI_VERSION is not the plugin's. */
typedef const AsGpuPluginApi *(*AsGpuPluginEntryFunc) (int abi_version);

#ifdef __cplusplus
}
#endif
