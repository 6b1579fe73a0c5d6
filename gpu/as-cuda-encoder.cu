/* as-cuda-encoder.cu — the BERT encoder on an NVIDIA GPU, CUDA + cuBLAS.
 *
 * The same computation as model/as-cpu-encoder.c, on the
 * device:
 *   x = LayerNorm(word[id] + pos[i] + type[t])                  embed kernel + LN
 *   qkv[n, 3H] = x W_qkv^T + b   (W_q, W_k, W_v stacked)          one GEMM + bias
 *   P_h = softmax(Q_h K_h^T / sqrt(d) (+ causal mask))           strided batched GEMM + softmax
 *   ctx_h = P_h V_h                                               strided batched GEMM
 *   x1 = LayerNorm(ctx W_o^T + b_o + x)                           GEMM + fused bias/residual/LN
 *   x' = LayerNorm(gelu(x1 W_1^T + b_1) W_2^T + b_2 + x1)         GEMM + bias/GELU, GEMM + LN
 *
 * Layout: every activation is row-major [rows, cols], exactly as on the CPU.
 * cuBLAS is column-major, and a row-major [r, c] buffer read column-major with
 * ld = c is its transpose. So out[n, O] = in[n, I] W^T with W [O, I] row-major
 * is computed as out^T (O x n) = W (O x I) · in^T (I x n):
 *   gemm (transa = T on W read as I x O, transb = N on in read as I x n).
 * Per head, Q_h is the [n, d] slice at column h*d of qkv with row stride 3H.
 *
 * Streaming: attention probabilities of layer l are copied to pinned host
 * memory on a second stream after an event marks the layer done; the host
 * waits for that copy's event and calls on_layer (l) while layer l+1 already
 * runs on the compute stream. Probabilities, hidden states and pinned buffers
 * are double-buffered by layer parity; layer l+2 waits for the copy of layer l
 * before it overwrites that parity's buffers.
 *
 * Precision: fp32 GEMMs (CUBLAS_COMPUTE_32F, default math mode: no TF32) by
 * default; TF32 (CUBLAS_COMPUTE_32F_FAST_TF32); fp16 / bf16 operands (weights
 * stored in 16 bits, activations rounded before each GEMM) with fp32
 * accumulation and fp32 outputs. Softmax, LayerNorm and GELU are always fp32.
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as-cuda-check.h"
#include "as-cuda-kernels.h"
#include "as-gpu-plugin.h"

#define ARENA_ALIGN        256
#define MIN_CC_MAJOR       8

/* Device pointers of one layer's weights. GEMM operands (void *) are f32, or
 * fp16 / bf16 in the 16-bit precisions; biases and LayerNorm stay f32. */
typedef struct {
  const void  *qkv_w;   /* [3H, H]  W_q, W_k, W_v stacked by output row */
  const float *qkv_b;   /* [3H] */
  const void  *o_w;     /* [H, H] */
  const float *o_b;     /* [H] */
  const float *ln1_g;   /* [H] */
  const float *ln1_b;   /* [H] */
  const void  *ff1_w;   /* [I, H] */
  const float *ff1_b;   /* [I] */
  const void  *ff2_w;   /* [H, I] */
  const float *ff2_b;   /* [H] */
  const float *ln2_g;   /* [H] */
  const float *ln2_b;   /* [H] */
} DevLayer;

struct AsGpuEncoder {
  /* shapes */
  int              n_layers, n_heads, hidden, head_dim, intermediate, max_positions;
  float            eps;
  /* setup */
  AsGpuPrecision   precision;
  AsCudaDevice     dev;           /* handles and the weights' allocation */
  size_t           elem_size;     /* bytes of a GEMM operand: 4, or 2 in fp16/bf16 */
  cudaDataType_t   ab_type;       /* GEMM operand type */
  cublasComputeType_t compute_type;
  /* weights, in dev.weights (with the cuBLAS workspace) */
  const float     *word_emb;      /* [vocab, H] */
  const float     *pos_emb;       /* [max_positions, H] */
  const float     *type_emb;      /* [types, H] */
  const float     *emb_ln_g;      /* [H] */
  const float     *emb_ln_b;      /* [H] */
  DevLayer        *layers;        /* [n_layers], host array of device pointers */
  /* workspace for up to CAPACITY tokens: one device and one pinned allocation */
  int              capacity;
  void            *ws_dev;
  void            *ws_host;
  size_t           ws_dev_bytes, ws_host_bytes;
  int             *d_ids;         /* [cap] */
  int             *d_types;       /* [cap] */
  float           *x[2];          /* [cap, H]   layer input / output, ping-pong */
  float           *x1;            /* [cap, H]   after the attention block */
  float           *qkv;           /* [cap, 3H]  Q | K | V column blocks */
  float           *ctx;           /* [cap, H]   concatenated head contexts */
  float           *tmp;           /* [cap, H]   projection output before bias/LN */
  float           *ff;            /* [cap, I]   FFN activations */
  float           *probs[2];      /* [heads, cap, cap] by layer parity (n x n used) */
  void            *lo[2];         /* 16-bit GEMM operands: [0] qkv, [1] the rest */
  int             *h_ids;         /* pinned [cap] */
  int             *h_types;       /* pinned [cap] */
  float           *h_attn[2];     /* pinned [heads, cap, cap] by layer parity */
  float           *h_hidden[2];   /* pinned [cap, H] by layer parity */
};

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */

static const char *
base_name (const char *path)
{
  const char *slash = strrchr (path, '/');
  return slash != NULL ? slash + 1 : path;
}

AsGpuStatus
as_cuda_msgf (AsCudaMsg   *msg,
              AsGpuStatus  status,
              const char  *format,
              ...)
{
  if (msg != NULL && msg->buf != NULL && msg->len > 0)
    {
      va_list ap;
      va_start (ap, format);
      vsnprintf (msg->buf, msg->len, format, ap);
      va_end (ap);
    }
  return status;
}

AsGpuStatus
as_cuda_fail (AsCudaMsg   *msg,
              AsGpuStatus  status,
              const char  *file,
              int          line,
              const char  *call,
              const char  *name,
              const char  *detail)
{
  return as_cuda_msgf (msg, status, "%s:%d: %s: %s (%s)", base_name (file), line, call,
                       name != NULL ? name : "?", detail != NULL ? detail : "?");
}

AsGpuStatus
as_cuda_status_from_error (cudaError_t err)
{
  switch (err)
    {
    case cudaSuccess:
      return AS_GPU_STATUS_OK;
    case cudaErrorMemoryAllocation:
      return AS_GPU_STATUS_OUT_OF_MEMORY;
    case cudaErrorInsufficientDriver:
    case cudaErrorStubLibrary:
    case cudaErrorCallRequiresNewerDriver:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
    case cudaErrorUnsupportedPtxVersion:
      return AS_GPU_STATUS_NO_DRIVER;
    case cudaErrorNoDevice:
    case cudaErrorInvalidDevice:
    case cudaErrorDevicesUnavailable:
    case cudaErrorNoKernelImageForDevice:
      return AS_GPU_STATUS_NO_DEVICE;
    default:
      return AS_GPU_STATUS_FAILED;
    }
}

AsGpuStatus
as_cuda_status_from_cublas (cublasStatus_t st)
{
  if (st == CUBLAS_STATUS_SUCCESS)
    return AS_GPU_STATUS_OK;
  if (st == CUBLAS_STATUS_ALLOC_FAILED)
    return AS_GPU_STATUS_OUT_OF_MEMORY;
  return AS_GPU_STATUS_FAILED;
}

const char *
as_cublas_status_name (cublasStatus_t st)
{
  switch (st)
    {
    case CUBLAS_STATUS_SUCCESS:          return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:  return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:     return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:    return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:    return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:    return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:   return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:    return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:    return "CUBLAS_STATUS_LICENSE_ERROR";
    default:                             return "CUBLAS_STATUS_?";
    }
}

ForcedFailure
forced_failure (void)
{
  const char *v = getenv (AS_GPU_FORCE_FAIL_ENV);
  if (v == NULL)
    return FORCE_NONE;
  if (strcmp (v, "driver") == 0)
    return FORCE_DRIVER;
  if (strcmp (v, "device") == 0)
    return FORCE_DEVICE;
  if (strcmp (v, "oom-load") == 0)
    return FORCE_OOM_LOAD;
  if (strcmp (v, "oom-run") == 0)
    return FORCE_OOM_RUN;
  return FORCE_NONE;   /* "plugin" is the loader's; anything else is ignored */
}

const char *
precision_label (AsGpuPrecision p)
{
  switch (p)
    {
    case AS_GPU_PRECISION_FP32: return "fp32, TF32 off";
    case AS_GPU_PRECISION_TF32: return "TF32 tensor cores";
    case AS_GPU_PRECISION_FP16: return "fp16 GEMMs, fp32 accumulate";
    case AS_GPU_PRECISION_BF16: return "bf16 GEMMs, fp32 accumulate";
    default:                    return "?";
    }
}

/* ------------------------------------------------------------------------ */
/* Device discovery                                                          */

AsGpuStatus
forced_probe_failure (ForcedFailure  force,
                      AsCudaMsg     *msg)
{
  if (force == FORCE_DRIVER)
    return as_cuda_msgf (msg, AS_GPU_STATUS_NO_DRIVER,
                         "cudaErrorInsufficientDriver forced by %s=driver", AS_GPU_FORCE_FAIL_ENV);
  if (force == FORCE_DEVICE)
    return as_cuda_msgf (msg, AS_GPU_STATUS_NO_DEVICE,
                         "cudaErrorNoDevice forced by %s=device", AS_GPU_FORCE_FAIL_ENV);
  return AS_GPU_STATUS_OK;
}

/* Is DEVICE there and new enough (sm_80+)? Fills INFO with its name. */
static AsGpuStatus
probe_device (int        device,
              char      *info,
              size_t     info_len,
              AsCudaMsg *msg)
{
  int count = 0;
  cudaError_t err = cudaGetDeviceCount (&count);
  if (err != cudaSuccess)
    {
      (void) cudaGetLastError ();
      if (err == cudaErrorInsufficientDriver)
        return as_cuda_msgf (msg, AS_GPU_STATUS_NO_DRIVER,
                             "cudaGetDeviceCount returned %s (%s); "
                             "this build needs a driver for CUDA %d.%d or newer",
                             cudaGetErrorName (err), cudaGetErrorString (err),
                             CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
      return as_cuda_fail (msg, as_cuda_status_from_error (err), __FILE__, __LINE__,
                           "cudaGetDeviceCount", cudaGetErrorName (err), cudaGetErrorString (err));
    }
  if (count == 0)
    return as_cuda_msgf (msg, AS_GPU_STATUS_NO_DEVICE, "cudaGetDeviceCount found no device");
  if (device < 0 || device >= count)
    return as_cuda_msgf (msg, AS_GPU_STATUS_NO_DEVICE,
                         "CUDA device %d requested, but %d device%s present",
                         device, count, count == 1 ? " is" : "s are");
  cudaDeviceProp prop;
  AS_CUDA_TRY (msg, cudaGetDeviceProperties (&prop, device));
  if (prop.major < MIN_CC_MAJOR)
    return as_cuda_msgf (msg, AS_GPU_STATUS_NO_DEVICE,
                         "%s (device %d) has compute capability %d.%d; this build runs on "
                         "8.0 and newer (sm_80, sm_86, sm_89, sm_90, PTX)",
                         prop.name, device, prop.major, prop.minor);
  if (info != NULL && info_len > 0)
    snprintf (info, info_len, "%s (device %d, sm_%d%d, %.1f GiB)", prop.name, device,
              prop.major, prop.minor, (double) prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
  return AS_GPU_STATUS_OK;
}

static AsGpuStatus
encoder_probe (int     device,
               char   *info,
               size_t  info_len,
               char   *buf,
               size_t  len)
{
  AsCudaMsg msg = { buf, len };
  if (buf != NULL && len > 0)
    buf[0] = '\0';
  if (info != NULL && info_len > 0)
    info[0] = '\0';
  AS_GPU_TRY (forced_probe_failure (forced_failure (), &msg));
  return probe_device (device, info, info_len, &msg);
}

/* ------------------------------------------------------------------------ */
/* A device's handles and weights (the encoder's and the decoder's)          */

AsGpuStatus
as_cuda_device_probe (AsCudaDevice  *d,
                      int            device,
                      ForcedFailure  force,
                      AsCudaMsg     *msg)
{
  d->device = device;
  d->force = force;
  AsGpuStatus st = probe_device (device, d->device_info, sizeof d->device_info, msg);
  if (st == AS_GPU_STATUS_OK)
    return st;
  /* No GPU here: still let tests reach the loader's out-of-memory paths. */
  char why[AS_GPU_MSG_LEN];
  snprintf (why, sizeof why, "%s", msg->buf != NULL ? msg->buf : "no usable GPU");
  if (force == FORCE_OOM_LOAD)
    return as_cuda_msgf (msg, AS_GPU_STATUS_OUT_OF_MEMORY,
                         "the weights (forced by %s=oom-load; simulated, as there "
                         "is no usable GPU here: %s)",
                         AS_GPU_FORCE_FAIL_ENV, why);
  if (force == FORCE_OOM_RUN)
    {
      d->stub = 1;
      snprintf (d->device_info, sizeof d->device_info,
                "simulated for %s=oom-run (no usable GPU here)", AS_GPU_FORCE_FAIL_ENV);
      if (msg->buf != NULL && msg->len > 0)
        msg->buf[0] = '\0';
      return AS_GPU_STATUS_OK;
    }
  return st;
}

AsGpuStatus
as_cuda_device_start (AsCudaDevice *d,
                      int           tf32,
                      AsCudaMsg    *msg)
{
  AS_CUDA_TRY (msg, cudaSetDevice (d->device));
  AS_CUDA_TRY (msg, cudaStreamCreateWithFlags (&d->compute, cudaStreamNonBlocking));
  AS_CUDA_TRY (msg, cudaStreamCreateWithFlags (&d->copy, cudaStreamNonBlocking));
  for (int b = 0; b < 2; b++)
    {
      AS_CUDA_TRY (msg, cudaEventCreateWithFlags (&d->layer_done[b], cudaEventDisableTiming));
      AS_CUDA_TRY (msg, cudaEventCreateWithFlags (&d->copy_done[b], cudaEventDisableTiming));
    }
  AS_CUBLAS_TRY (msg, cublasCreate (&d->blas));
  AS_CUBLAS_TRY (msg, cublasSetStream (d->blas, d->compute));
  AS_CUBLAS_TRY (msg, cublasSetMathMode (d->blas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                       : CUBLAS_DEFAULT_MATH));
  return AS_GPU_STATUS_OK;
}

AsGpuStatus
as_cuda_device_alloc_weights (AsCudaDevice *d,
                              size_t        bytes,
                              AsCudaMsg    *msg)
{
  d->weight_bytes = bytes;
  size_t free_b = 0, total_b = 0;
  AS_CUDA_TRY (msg, cudaMemGetInfo (&free_b, &total_b));
  if (d->force == FORCE_OOM_LOAD)
    return as_cuda_msgf (msg, AS_GPU_STATUS_OUT_OF_MEMORY,
                         "the weights need %.1f MiB (forced by %s=oom-load; "
                         "%.1f MiB free of %.1f MiB)",
                         MIB (bytes), AS_GPU_FORCE_FAIL_ENV, MIB (free_b), MIB (total_b));
  if (bytes > free_b)
    return as_cuda_msgf (msg, AS_GPU_STATUS_OUT_OF_MEMORY,
                         "the weights need %.1f MiB, %.1f MiB free of %.1f MiB",
                         MIB (bytes), MIB (free_b), MIB (total_b));
  return device_alloc (&d->weights, bytes, "the weights", msg);
}

void
as_cuda_device_stop (AsCudaDevice *d)
{
  if (d->stub)
    return;
  (void) cudaSetDevice (d->device);
  if (d->compute != NULL)
    (void) cudaStreamSynchronize (d->compute);
  if (d->copy != NULL)
    (void) cudaStreamSynchronize (d->copy);
  if (d->blas != NULL)
    (void) cublasDestroy (d->blas);
  if (d->weights != NULL)
    (void) cudaFree (d->weights);
  for (int b = 0; b < 2; b++)
    {
      if (d->layer_done[b] != NULL)
        (void) cudaEventDestroy (d->layer_done[b]);
      if (d->copy_done[b] != NULL)
        (void) cudaEventDestroy (d->copy_done[b]);
    }
  if (d->compute != NULL)
    (void) cudaStreamDestroy (d->compute);
  if (d->copy != NULL)
    (void) cudaStreamDestroy (d->copy);
  (void) cudaGetLastError ();
  memset (d, 0, sizeof *d);
}

void
as_cuda_device_describe (const AsCudaDevice *d,
                         AsGpuPrecision      precision,
                         char               *buf,
                         size_t              len)
{
  if (buf == NULL || len == 0)
    return;
  if (d->stub)
    snprintf (buf, len, "CUDA, %s", d->device_info);
  else
    snprintf (buf, len, "CUDA %d.%d + cuBLAS on %s, %s, weights %.0f MiB",
              CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10, d->device_info,
              precision_label (precision), MIB (d->weight_bytes));
}

AsGpuStatus
as_cuda_open_device (void            *obj,
                     AsCudaDevice    *dev,
                     int              device,
                     AsCudaInitFunc   init,
                     const void      *model,
                     AsCudaReleaseFunc release,
                     AsCudaMsg       *msg)
{
  const ForcedFailure force = forced_failure ();
  AsGpuStatus st = forced_probe_failure (force, msg);
  if (st == AS_GPU_STATUS_OK)
    st = as_cuda_device_probe (dev, device, force, msg);
  if (st != AS_GPU_STATUS_OK)
    {
      free (obj);   /* nothing of it is on the device yet */
      return st;
    }
  if (dev->stub)
    return AS_GPU_STATUS_OK;
  st = init (obj, model, msg);
  if (st != AS_GPU_STATUS_OK)
    release (obj);
  return st;
}

/* ------------------------------------------------------------------------ */
/* Allocation plans: walked once to size an allocation, once to carve it      */

void *
arena_take (Arena  *a,
            size_t  bytes)
{
  size_t off = (a->used + ARENA_ALIGN - 1) & ~(size_t) (ARENA_ALIGN - 1);
  a->used = off + bytes;
  return a->base != NULL ? a->base + off : NULL;
}

static void
plan_weights (AsGpuEncoder         *e,
              const AsGpuModelDesc *m,
              Arena                *a,
              void                **cublas_ws)
{
  const size_t H = (size_t) m->hidden, I = (size_t) m->intermediate, F = sizeof (float);
  const size_t W = e->elem_size;
  e->word_emb = (const float *) arena_take (a, (size_t) m->vocab_size * H * F);
  e->pos_emb = (const float *) arena_take (a, (size_t) m->max_positions * H * F);
  e->type_emb = (const float *) arena_take (a, (size_t) m->type_vocab_size * H * F);
  e->emb_ln_g = (const float *) arena_take (a, H * F);
  e->emb_ln_b = (const float *) arena_take (a, H * F);
  for (int l = 0; l < m->n_layers; l++)
    {
      DevLayer *d = &e->layers[l];
      d->qkv_w = arena_take (a, 3 * H * H * W);
      d->qkv_b = (const float *) arena_take (a, 3 * H * F);
      d->o_w = arena_take (a, H * H * W);
      d->o_b = (const float *) arena_take (a, H * F);
      d->ln1_g = (const float *) arena_take (a, H * F);
      d->ln1_b = (const float *) arena_take (a, H * F);
      d->ff1_w = arena_take (a, I * H * W);
      d->ff1_b = (const float *) arena_take (a, I * F);
      d->ff2_w = arena_take (a, H * I * W);
      d->ff2_b = (const float *) arena_take (a, H * F);
      d->ln2_g = (const float *) arena_take (a, H * F);
      d->ln2_b = (const float *) arena_take (a, H * F);
    }
  *cublas_ws = arena_take (a, CUBLAS_WS_BYTES);
}

static size_t
lo_elements (const AsGpuEncoder *e,
             int                 cap)
{
  size_t n = (size_t) cap;
  size_t a = 3 * n * e->hidden;                     /* qkv */
  size_t b = n * e->intermediate;                   /* FFN input */
  size_t c = (size_t) e->n_heads * n * n;           /* probabilities */
  size_t m = a > b ? a : b;
  return m > c ? m : c;
}

static void
plan_workspace (AsGpuEncoder *e,
                int           cap,
                Arena        *dev,
                Arena        *host)
{
  const size_t n = (size_t) cap, H = (size_t) e->hidden, I = (size_t) e->intermediate;
  const size_t F = sizeof (float), P = (size_t) e->n_heads * n * n;
  e->d_ids = (int *) arena_take (dev, n * sizeof (int));
  e->d_types = (int *) arena_take (dev, n * sizeof (int));
  e->x[0] = (float *) arena_take (dev, n * H * F);
  e->x[1] = (float *) arena_take (dev, n * H * F);
  e->x1 = (float *) arena_take (dev, n * H * F);
  e->qkv = (float *) arena_take (dev, 3 * n * H * F);
  e->ctx = (float *) arena_take (dev, n * H * F);
  e->tmp = (float *) arena_take (dev, n * H * F);
  e->ff = (float *) arena_take (dev, n * I * F);
  e->probs[0] = (float *) arena_take (dev, P * F);
  e->probs[1] = (float *) arena_take (dev, P * F);
  if (e->elem_size != sizeof (float))
    {
      e->lo[0] = arena_take (dev, lo_elements (e, cap) * e->elem_size);
      e->lo[1] = arena_take (dev, lo_elements (e, cap) * e->elem_size);
    }
  else
    e->lo[0] = e->lo[1] = NULL;

  e->h_ids = (int *) arena_take (host, n * sizeof (int));
  e->h_types = (int *) arena_take (host, n * sizeof (int));
  e->h_attn[0] = (float *) arena_take (host, P * F);
  e->h_attn[1] = (float *) arena_take (host, P * F);
  e->h_hidden[0] = (float *) arena_take (host, n * H * F);
  e->h_hidden[1] = (float *) arena_take (host, n * H * F);
}

AsGpuStatus
device_alloc (void      **ptr,
              size_t      bytes,
              const char *what,
              AsCudaMsg  *msg)
{
  cudaError_t err = cudaMalloc (ptr, bytes);
  if (err == cudaErrorMemoryAllocation)
    {
      size_t free_b = 0, total_b = 0;
      (void) cudaGetLastError ();
      (void) cudaMemGetInfo (&free_b, &total_b);
      (void) cudaGetLastError ();
      *ptr = NULL;
      return as_cuda_msgf (msg, AS_GPU_STATUS_OUT_OF_MEMORY,
                           "%s need %.1f MiB, %.1f MiB free of %.1f MiB",
                           what, MIB (bytes), MIB (free_b), MIB (total_b));
    }
  AS_CUDA_TRY (msg, err);
  return AS_GPU_STATUS_OK;
}

/* ------------------------------------------------------------------------ */
/* Load                                                                      */

static AsGpuStatus
upload_f32 (AsGpuEncoder *e,
            const float  *dst,
            const float  *src,
            size_t        count,
            AsCudaMsg    *msg)
{
  AS_CUDA_TRY (msg, cudaMemcpyAsync ((void *) dst, src, count * sizeof (float),
                                     cudaMemcpyHostToDevice, e->dev.compute));
  return AS_GPU_STATUS_OK;
}

/* A GEMM operand: copied as is (f32), or through STAGING converted to 16 bits.
 * Up to three host blocks (stacked Q, K, V) of COUNT elements each. */
static AsGpuStatus
upload_operand (AsGpuEncoder *e,
                const void   *dst,
                const float  *const *srcs,
                int           n_srcs,
                size_t        count,
                float        *staging,
                AsCudaMsg    *msg)
{
  for (int i = 0; i < n_srcs; i++)
    {
      float *to = e->elem_size == sizeof (float)
                  ? (float *) dst + (size_t) i * count
                  : staging + (size_t) i * count;
      AS_CUDA_TRY (msg, cudaMemcpyAsync (to, srcs[i], count * sizeof (float),
                                         cudaMemcpyHostToDevice, e->dev.compute));
    }
  if (e->elem_size != sizeof (float))
    AS_CUDA_TRY (msg, as_cuda_convert ((void *) dst, staging, (size_t) n_srcs * count,
                                       e->precision, e->dev.compute));
  return AS_GPU_STATUS_OK;
}

static AsGpuStatus
upload_weights (AsGpuEncoder         *e,
                const AsGpuModelDesc *m,
                float                *staging,
                AsCudaMsg            *msg)
{
  const size_t H = (size_t) m->hidden, I = (size_t) m->intermediate;
  AS_GPU_TRY (upload_f32 (e, e->word_emb, m->word_emb, (size_t) m->vocab_size * H, msg));
  AS_GPU_TRY (upload_f32 (e, e->pos_emb, m->pos_emb, (size_t) m->max_positions * H, msg));
  AS_GPU_TRY (upload_f32 (e, e->type_emb, m->type_emb, (size_t) m->type_vocab_size * H, msg));
  AS_GPU_TRY (upload_f32 (e, e->emb_ln_g, m->emb_ln_g, H, msg));
  AS_GPU_TRY (upload_f32 (e, e->emb_ln_b, m->emb_ln_b, H, msg));
  for (int l = 0; l < m->n_layers; l++)
    {
      const AsGpuLayerWeights *w = &m->layers[l];
      DevLayer *d = &e->layers[l];
      const float *qkv_w[3] = { w->q_w, w->k_w, w->v_w };
      AS_GPU_TRY (upload_operand (e, d->qkv_w, qkv_w, 3, H * H, staging, msg));
      AS_GPU_TRY (upload_f32 (e, d->qkv_b, w->q_b, H, msg));
      AS_GPU_TRY (upload_f32 (e, d->qkv_b + H, w->k_b, H, msg));
      AS_GPU_TRY (upload_f32 (e, d->qkv_b + 2 * H, w->v_b, H, msg));
      AS_GPU_TRY (upload_operand (e, d->o_w, &w->o_w, 1, H * H, staging, msg));
      AS_GPU_TRY (upload_f32 (e, d->o_b, w->o_b, H, msg));
      AS_GPU_TRY (upload_f32 (e, d->ln1_g, w->ln1_g, H, msg));
      AS_GPU_TRY (upload_f32 (e, d->ln1_b, w->ln1_b, H, msg));
      AS_GPU_TRY (upload_operand (e, d->ff1_w, &w->ff1_w, 1, I * H, staging, msg));
      AS_GPU_TRY (upload_f32 (e, d->ff1_b, w->ff1_b, I, msg));
      AS_GPU_TRY (upload_operand (e, d->ff2_w, &w->ff2_w, 1, H * I, staging, msg));
      AS_GPU_TRY (upload_f32 (e, d->ff2_b, w->ff2_b, H, msg));
      AS_GPU_TRY (upload_f32 (e, d->ln2_g, w->ln2_g, H, msg));
      AS_GPU_TRY (upload_f32 (e, d->ln2_b, w->ln2_b, H, msg));
      /* STAGING is reused by the next layer: stream order keeps it safe. */
    }
  return AS_GPU_STATUS_OK;
}

/* as_cuda_open_device's INIT: the layers' table, the device, the weights. */
static AsGpuStatus
encoder_init (void        *obj,
              const void  *model,
              AsCudaMsg   *msg)
{
  AsGpuEncoder *e = (AsGpuEncoder *) obj;
  const AsGpuModelDesc *m = (const AsGpuModelDesc *) model;
  e->layers = (DevLayer *) calloc ((size_t) m->n_layers, sizeof (DevLayer));
  if (e->layers == NULL)
    return as_cuda_msgf (msg, AS_GPU_STATUS_OUT_OF_MEMORY, "out of host memory");
  AS_GPU_TRY (as_cuda_device_start (&e->dev, e->precision == AS_GPU_PRECISION_TF32, msg));

  /* Size the weights, then allocate them once. */
  void *cublas_ws = NULL;
  Arena sizing = { NULL, 0 };
  plan_weights (e, m, &sizing, &cublas_ws);
  AS_GPU_TRY (as_cuda_device_alloc_weights (&e->dev, sizing.used, msg));
  Arena carve = { (char *) e->dev.weights, 0 };
  plan_weights (e, m, &carve, &cublas_ws);
  AS_CUBLAS_TRY (msg, cublasSetWorkspace (e->dev.blas, cublas_ws, CUBLAS_WS_BYTES));

  float *staging = NULL;
  if (e->elem_size != sizeof (float))
    {
      size_t H = (size_t) m->hidden, I = (size_t) m->intermediate;
      size_t most = 3 * H * H > I * H ? 3 * H * H : I * H;
      AS_GPU_TRY (device_alloc ((void **) &staging, most * sizeof (float),
                                "the 16-bit conversion buffers", msg));
    }
  AsGpuStatus st = upload_weights (e, m, staging, msg);
  cudaError_t err = cudaStreamSynchronize (e->dev.compute);
  if (staging != NULL)
    (void) cudaFree (staging);
  if (st != AS_GPU_STATUS_OK)
    return st;
  AS_CUDA_TRY (msg, err);
  return AS_GPU_STATUS_OK;
}

static void
release_workspace (AsGpuEncoder *e)
{
  if (e->ws_dev != NULL)
    (void) cudaFree (e->ws_dev);
  if (e->ws_host != NULL)
    (void) cudaFreeHost (e->ws_host);
  e->ws_dev = e->ws_host = NULL;
  e->ws_dev_bytes = e->ws_host_bytes = 0;
  e->capacity = 0;
}

static void
encoder_close (AsGpuEncoder *e)
{
  if (e == NULL)
    return;
  as_cuda_device_stop (&e->dev);
  release_workspace (e);
  free (e->layers);
  free (e);
}

static void
encoder_release (void *obj)
{
  encoder_close ((AsGpuEncoder *) obj);
}

static AsGpuStatus
check_shapes (const AsGpuModelDesc *m,
              AsCudaMsg            *msg)
{
  if (m->n_layers < 1 || m->n_heads < 1 || m->hidden < 1 || m->intermediate < 1 ||
      m->vocab_size < 1 || m->max_positions < 1 || m->type_vocab_size < 1 ||
      m->head_dim * m->n_heads != m->hidden || m->layers == NULL)
    return as_cuda_msgf (msg, AS_GPU_STATUS_FAILED, "inconsistent model shapes");
  if (m->hidden > AS_CUDA_MAX_LN_DIM)
    return as_cuda_msgf (msg, AS_GPU_STATUS_FAILED,
                         "hidden size %d is larger than the GPU LayerNorm handles (%d)",
                         m->hidden, AS_CUDA_MAX_LN_DIM);
  return AS_GPU_STATUS_OK;
}

static AsGpuStatus
encoder_open (const AsGpuModelDesc  *m,
              AsGpuPrecision         precision,
              int                    device,
              AsGpuEncoder         **out,
              char                  *buf,
              size_t                 len)
{
  AsCudaMsg msg = { buf, len };
  if (buf != NULL && len > 0)
    buf[0] = '\0';
  *out = NULL;
  if ((int) precision < (int) AS_GPU_PRECISION_FP32 || (int) precision > (int) AS_GPU_PRECISION_BF16)
    return as_cuda_msgf (&msg, AS_GPU_STATUS_FAILED, "unknown precision %d", (int) precision);
  AS_GPU_TRY (check_shapes (m, &msg));

  AsGpuEncoder *e = (AsGpuEncoder *) calloc (1, sizeof *e);
  if (e == NULL)
    return as_cuda_msgf (&msg, AS_GPU_STATUS_OUT_OF_MEMORY, "out of host memory");
  e->n_layers = m->n_layers;
  e->n_heads = m->n_heads;
  e->hidden = m->hidden;
  e->head_dim = m->head_dim;
  e->intermediate = m->intermediate;
  e->max_positions = m->max_positions;
  e->eps = m->layer_norm_eps;
  e->precision = precision;
  switch (precision)
    {
    case AS_GPU_PRECISION_FP16:
      e->elem_size = 2, e->ab_type = CUDA_R_16F, e->compute_type = CUBLAS_COMPUTE_32F;
      break;
    case AS_GPU_PRECISION_BF16:
      e->elem_size = 2, e->ab_type = CUDA_R_16BF, e->compute_type = CUBLAS_COMPUTE_32F;
      break;
    case AS_GPU_PRECISION_TF32:
      e->elem_size = 4, e->ab_type = CUDA_R_32F, e->compute_type = CUBLAS_COMPUTE_32F_FAST_TF32;
      break;
    case AS_GPU_PRECISION_FP32:
    default:
      e->elem_size = 4, e->ab_type = CUDA_R_32F, e->compute_type = CUBLAS_COMPUTE_32F;
      break;
    }

  AS_GPU_TRY (as_cuda_open_device (e, &e->dev, device, encoder_init, m, encoder_release, &msg));
  *out = e;
  return AS_GPU_STATUS_OK;
}

/* ------------------------------------------------------------------------ */
/* Forward pass                                                              */

static AsGpuStatus
reserve (AsGpuEncoder *e,
         int           n,
         AsCudaMsg    *msg)
{
  if (n <= e->capacity)
    return AS_GPU_STATUS_OK;
  if (e->dev.force == FORCE_OOM_RUN)
    return as_cuda_msgf (msg, AS_GPU_STATUS_OUT_OF_MEMORY,
                         "the work buffers of %d tokens (forced by %s=oom-run)",
                         n, AS_GPU_FORCE_FAIL_ENV);
  int cap = (n + CAPACITY_STEP - 1) / CAPACITY_STEP * CAPACITY_STEP;
  if (cap > e->max_positions)
    cap = e->max_positions > n ? e->max_positions : n;

  /* Nothing may still use the old buffers. */
  AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.compute));
  AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.copy));
  release_workspace (e);

  Arena dev = { NULL, 0 }, host = { NULL, 0 };
  plan_workspace (e, cap, &dev, &host);
  char what[64];
  snprintf (what, sizeof what, "the work buffers of %d tokens", cap);
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
                             MIB (host.used), cap);
      AS_CUDA_TRY (msg, err);
    }
  e->ws_dev_bytes = dev.used;
  e->ws_host_bytes = host.used;
  Arena dev_carve = { (char *) e->ws_dev, 0 }, host_carve = { (char *) e->ws_host, 0 };
  plan_workspace (e, cap, &dev_carve, &host_carve);
  e->capacity = cap;
  return AS_GPU_STATUS_OK;
}

/* A GEMM operand from f32 activations X: X itself, or X rounded to 16 bits in
 * scratch SLOT. */
static AsGpuStatus
operand (AsGpuEncoder  *e,
         const float   *x,
         size_t         count,
         int            slot,
         const void   **out,
         AsCudaMsg     *msg)
{
  if (e->elem_size == sizeof (float))
    {
      *out = x;
      return AS_GPU_STATUS_OK;
    }
  AS_CUDA_TRY (msg, as_cuda_convert (e->lo[slot], x, count, e->precision, e->dev.compute));
  *out = e->lo[slot];
  return AS_GPU_STATUS_OK;
}

/* Element OFFSET of a GEMM operand, whatever its element size. */
static const void *
at (const AsGpuEncoder *e,
    const void         *base,
    size_t              offset)
{
  return (const char *) base + offset * e->elem_size;
}

AsGpuStatus
as_cuda_gemm (cublasHandle_t       blas,
              cudaDataType_t       ab_type,
              cublasComputeType_t  compute_type,
              cublasOperation_t    ta,
      cublasOperation_t  tb,
      int                m,
      int                n,
      int                k,
      float              alpha,
      const void        *a,
      int                lda,
      long long          stride_a,
      const void        *b,
      int                ldb,
      long long          stride_b,
      float             *c,
      int                ldc,
      long long          stride_c,
      int                batch,
      AsCudaMsg         *msg)
{
  const float beta = 0.0f;
  if (batch == 1)
    AS_CUBLAS_TRY (msg, cublasGemmEx (blas, ta, tb, m, n, k, &alpha,
                                      a, ab_type, lda, b, ab_type, ldb,
                                      &beta, c, CUDA_R_32F, ldc,
                                      compute_type, CUBLAS_GEMM_DEFAULT));
  else
    AS_CUBLAS_TRY (msg, cublasGemmStridedBatchedEx (blas, ta, tb, m, n, k, &alpha,
                                                    a, ab_type, lda, stride_a,
                                                    b, ab_type, ldb, stride_b,
                                                    &beta, c, CUDA_R_32F, ldc, stride_c,
                                                    batch, compute_type, CUBLAS_GEMM_DEFAULT));
  return AS_GPU_STATUS_OK;
}

/* as_cuda_gemm with E's handle and operand types. */
static AsGpuStatus
gemm (AsGpuEncoder      *e,
      cublasOperation_t  ta,
      cublasOperation_t  tb,
      int                m,
      int                n,
      int                k,
      float              alpha,
      const void        *a,
      int                lda,
      long long          stride_a,
      const void        *b,
      int                ldb,
      long long          stride_b,
      float             *c,
      int                ldc,
      long long          stride_c,
      int                batch,
      AsCudaMsg         *msg)
{
  return as_cuda_gemm (e->dev.blas, e->ab_type, e->compute_type, ta, tb, m, n, k, alpha,
                       a, lda, stride_a, b, ldb, stride_b, c, ldc, stride_c, batch, msg);
}

/* out[n, out_dim] = in[n, in_dim] W^T (no bias), W [out_dim, in_dim]:
 * column-major out^T (out_dim x n) = W (op T of the in_dim x out_dim view)
 * times in^T (the in_dim x n view). */
static AsGpuStatus
linear (AsGpuEncoder *e,
        float        *out,
        const void   *in,
        const void   *w,
        int           n,
        int           in_dim,
        int           out_dim,
        AsCudaMsg    *msg)
{
  return gemm (e, CUBLAS_OP_T, CUBLAS_OP_N, out_dim, n, in_dim, 1.0f,
               w, in_dim, 0, in, in_dim, 0, out, out_dim, 0, 1, msg);
}

/* Enqueues layer W on the compute stream: X_IN [n, H] -> X_OUT [n, H], with
 * the attention probabilities in PROBS [heads, n, n]. With QKV_ONLY it stops
 * once qkv holds this layer's projections. */
static AsGpuStatus
enqueue_layer (AsGpuEncoder   *e,
               const DevLayer *w,
               const float    *x_in,
               float          *x_out,
               float          *probs,
               int             n,
               int             causal,
               int             qkv_only,
               AsCudaMsg      *msg)
{
  const int H = e->hidden, H3 = 3 * e->hidden, I = e->intermediate;
  const int heads = e->n_heads, d = e->head_dim;
  const cudaStream_t s = e->dev.compute;
  const void *in;

  /* qkv[n, 3H] = x W_qkv^T + b_qkv: Q = columns 0..H, K = H..2H, V = 2H..3H. */
  AS_GPU_TRY (operand (e, x_in, (size_t) n * H, 1, &in, msg));
  AS_GPU_TRY (linear (e, e->qkv, in, w->qkv_w, n, H, H3, msg));
  AS_CUDA_TRY (msg, as_cuda_add_bias (e->qkv, w->qkv_b, n, H3, s));
  if (qkv_only)
    return AS_GPU_STATUS_OK;

  /* probs[h] (row-major [query, key]) = Q_h K_h^T / sqrt(d).
   * Column-major: probs[h]^T (key x query, ld n) = K_h (n x d) · Q_h^T (d x n),
   * where the d x n view of Q_h / K_h starts at column h*d, ld 3H. */
  const void *qkv;
  AS_GPU_TRY (operand (e, e->qkv, (size_t) n * H3, 0, &qkv, msg));
  const float scale = 1.0f / sqrtf ((float) d);
  AS_GPU_TRY (gemm (e, CUBLAS_OP_T, CUBLAS_OP_N, n, n, d, scale,
                    at (e, qkv, (size_t) H), H3, d,        /* K_h */
                    at (e, qkv, 0), H3, d,                 /* Q_h */
                    probs, n, (long long) n * n, heads, msg));
  AS_CUDA_TRY (msg, as_cuda_softmax_rows (probs, heads, n, causal, s));

  /* ctx_h [n, d] = P_h V_h. Column-major: ctx_h^T (d x query, ld H, at column
   * h*d) = V_h^T (d x key view, ld 3H) · P_h^T (key x query view, ld n). */
  const void *p;
  AS_GPU_TRY (operand (e, probs, (size_t) heads * n * n, 1, &p, msg));
  AS_GPU_TRY (gemm (e, CUBLAS_OP_N, CUBLAS_OP_N, d, n, n, 1.0f,
                    at (e, qkv, (size_t) 2 * H), H3, d,    /* V_h */
                    p, n, (long long) n * n,               /* P_h */
                    e->ctx, H, d, heads, msg));

  /* x1 = LayerNorm(ctx W_o^T + b_o + x) */
  AS_GPU_TRY (operand (e, e->ctx, (size_t) n * H, 1, &in, msg));
  AS_GPU_TRY (linear (e, e->tmp, in, w->o_w, n, H, H, msg));
  AS_CUDA_TRY (msg, as_cuda_add_layer_norm (e->x1, e->tmp, w->o_b, x_in, w->ln1_g, w->ln1_b,
                                            n, H, e->eps, s));

  /* ff = gelu(x1 W_1^T + b_1) */
  AS_GPU_TRY (operand (e, e->x1, (size_t) n * H, 1, &in, msg));
  AS_GPU_TRY (linear (e, e->ff, in, w->ff1_w, n, H, I, msg));
  AS_CUDA_TRY (msg, as_cuda_add_bias_gelu (e->ff, w->ff1_b, n, I, 0, s));

  /* x_out = LayerNorm(ff W_2^T + b_2 + x1) */
  AS_GPU_TRY (operand (e, e->ff, (size_t) n * I, 1, &in, msg));
  AS_GPU_TRY (linear (e, e->tmp, in, w->ff2_w, n, I, H, msg));
  AS_CUDA_TRY (msg, as_cuda_add_layer_norm (x_out, e->tmp, w->ff2_b, e->x1, w->ln2_g, w->ln2_b,
                                            n, H, e->eps, s));
  return AS_GPU_STATUS_OK;
}

static int
is_cancelled (const AsGpuRun *r)
{
  return r->cancelled != NULL && r->cancelled (r->user_data);
}

/* Waits for the copy of LAYER and hands it to on_layer. */
static AsGpuStatus
deliver (AsGpuEncoder   *e,
         const AsGpuRun *r,
         int             layer,
         int            *delivered,
         AsCudaMsg      *msg)
{
  if (is_cancelled (r))
    return AS_GPU_STATUS_CANCELLED;
  const int b = layer & 1;
  AS_CUDA_TRY (msg, cudaEventSynchronize (e->dev.copy_done[b]));
  (*delivered)++;
  if (!r->on_layer (layer, e->h_attn[b], r->want_hidden ? e->h_hidden[b] : NULL, r->user_data))
    return AS_GPU_STATUS_STOPPED;
  return AS_GPU_STATUS_OK;
}

static AsGpuStatus
run_pass (AsGpuEncoder   *e,
          const AsGpuRun *r,
          int            *delivered,
          AsCudaMsg      *msg)
{
  const int n = r->n, H = e->hidden;
  const size_t attn_bytes = (size_t) e->n_heads * n * n * sizeof (float);
  const size_t hidden_bytes = (size_t) n * H * sizeof (float);
  const int streaming = r->on_layer != NULL && !r->qkv_only;

  AS_GPU_TRY (reserve (e, n, msg));

  memcpy (e->h_ids, r->ids, (size_t) n * sizeof (int));
  memcpy (e->h_types, r->type_ids, (size_t) n * sizeof (int));
  AS_CUDA_TRY (msg, cudaMemcpyAsync (e->d_ids, e->h_ids, (size_t) n * sizeof (int),
                                     cudaMemcpyHostToDevice, e->dev.compute));
  AS_CUDA_TRY (msg, cudaMemcpyAsync (e->d_types, e->h_types, (size_t) n * sizeof (int),
                                     cudaMemcpyHostToDevice, e->dev.compute));
  AS_CUDA_TRY (msg, as_cuda_embed (e->x[0], e->d_ids, e->d_types, e->word_emb, e->pos_emb,
                                   e->type_emb, n, H, e->dev.compute));
  AS_CUDA_TRY (msg, as_cuda_add_layer_norm (e->x[0], e->x[0], NULL, NULL, e->emb_ln_g, e->emb_ln_b,
                                            n, H, e->eps, e->dev.compute));

  int cur = 0;   /* x[cur] holds the current layer input */
  for (int l = 0; l <= r->last_layer; l++)
    {
      if (is_cancelled (r))
        return AS_GPU_STATUS_CANCELLED;
      const int b = l & 1;
      const int stop_at_qkv = r->qkv_only && l == r->last_layer;
      /* Layer l reuses the buffers of layer l-2: wait until they reached the
       * host. (Today the host has already waited for that copy in deliver ()
       * before queueing layer l; this keeps the device order right on its own.) */
      if (streaming && l >= 2)
        AS_CUDA_TRY (msg, cudaStreamWaitEvent (e->dev.compute, e->dev.copy_done[b], 0));
      AS_GPU_TRY (enqueue_layer (e, &e->layers[l], e->x[cur], e->x[cur ^ 1], e->probs[b],
                                 n, r->causal_mask, stop_at_qkv, msg));
      if (stop_at_qkv)
        break;
      if (streaming)
        {
          AS_CUDA_TRY (msg, cudaEventRecord (e->dev.layer_done[b], e->dev.compute));
          AS_CUDA_TRY (msg, cudaStreamWaitEvent (e->dev.copy, e->dev.layer_done[b], 0));
          AS_CUDA_TRY (msg, cudaMemcpyAsync (e->h_attn[b], e->probs[b], attn_bytes,
                                             cudaMemcpyDeviceToHost, e->dev.copy));
          if (r->want_hidden)
            AS_CUDA_TRY (msg, cudaMemcpyAsync (e->h_hidden[b], e->x[cur ^ 1], hidden_bytes,
                                               cudaMemcpyDeviceToHost, e->dev.copy));
          AS_CUDA_TRY (msg, cudaEventRecord (e->dev.copy_done[b], e->dev.copy));
          /* Layer l is queued: hand over layer l-1 while it runs. */
          if (l >= 1)
            AS_GPU_TRY (deliver (e, r, l - 1, delivered, msg));
        }
      cur ^= 1;
    }

  if (r->qkv_only)
    {
      /* qkv [n, 3H] -> q, k, v [n, H] each. */
      float *dst[3] = { r->q, r->k, r->v };
      for (int part = 0; part < 3; part++)
        AS_CUDA_TRY (msg, cudaMemcpy2DAsync (dst[part], (size_t) H * sizeof (float),
                                             e->qkv + (size_t) part * H, (size_t) 3 * H * sizeof (float),
                                             (size_t) H * sizeof (float), (size_t) n,
                                             cudaMemcpyDeviceToHost, e->dev.compute));
      AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.compute));
      return AS_GPU_STATUS_OK;
    }

  if (streaming)
    AS_GPU_TRY (deliver (e, r, r->last_layer, delivered, msg));
  if (r->final_hidden != NULL)
    AS_CUDA_TRY (msg, cudaMemcpyAsync (r->final_hidden, e->x[cur], hidden_bytes,
                                       cudaMemcpyDeviceToHost, e->dev.compute));
  AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.compute));
  AS_CUDA_TRY (msg, cudaStreamSynchronize (e->dev.copy));
  return AS_GPU_STATUS_OK;
}

static AsGpuStatus
encoder_run (AsGpuEncoder   *e,
             const AsGpuRun *r,
             char           *buf,
             size_t          len)
{
  AsCudaMsg msg = { buf, len };
  if (buf != NULL && len > 0)
    buf[0] = '\0';
  if (e->dev.stub)
    return as_cuda_msgf (&msg, AS_GPU_STATUS_OUT_OF_MEMORY,
                         "the work buffers of %d tokens (forced by %s=oom-run; "
                         "simulated, as there is no usable GPU here)",
                         r->n, AS_GPU_FORCE_FAIL_ENV);
  if (r->n < 1 || r->n > e->max_positions || r->last_layer < 0 || r->last_layer >= e->n_layers ||
      (r->qkv_only && (r->q == NULL || r->k == NULL || r->v == NULL)))
    return as_cuda_msgf (&msg, AS_GPU_STATUS_FAILED, "invalid request (n %d, last layer %d)",
                         r->n, r->last_layer);

  AS_CUDA_TRY (&msg, cudaSetDevice (e->dev.device));   /* the caller's thread may be new */
  (void) cudaGetLastError ();
  int delivered = 0;
  AsGpuStatus st = run_pass (e, r, &delivered, &msg);
  if (st != AS_GPU_STATUS_OK)
    {
      /* Leave nothing in flight that still writes our buffers. */
      (void) cudaStreamSynchronize (e->dev.compute);
      (void) cudaStreamSynchronize (e->dev.copy);
      (void) cudaGetLastError ();
      if (st == AS_GPU_STATUS_OUT_OF_MEMORY && delivered > 0)
        st = AS_GPU_STATUS_FAILED;   /* the promise: OOM only before the first layer */
    }
  return st;
}

static void
encoder_describe (AsGpuEncoder *e,
                  char         *buf,
                  size_t        len)
{
  as_cuda_device_describe (&e->dev, e->precision, buf, len);
}

/* ------------------------------------------------------------------------ */

static const AsGpuPluginApi plugin_api = {
  AS_GPU_PLUGIN_ABI_VERSION,
  encoder_probe,
  encoder_open,
  encoder_run,
  encoder_describe,
  encoder_close,
  as_cuda_decoder_open,
  as_cuda_decoder_cache_new,
  as_cuda_decoder_cache_free,
  as_cuda_decoder_prompt,
  as_cuda_decoder_step,
  as_cuda_decoder_describe,
  as_cuda_decoder_close,
};

extern "C" __attribute__ ((visibility ("default"))) const AsGpuPluginApi *
as_gpu_plugin_get_api (int abi_version);

extern "C" __attribute__ ((visibility ("default"))) const AsGpuPluginApi *
as_gpu_plugin_get_api (int abi_version)
{
  return abi_version == AS_GPU_PLUGIN_ABI_VERSION ? &plugin_api : NULL;
}
