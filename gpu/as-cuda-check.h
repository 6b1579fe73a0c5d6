/* as-cuda-check.h — checked CUDA and cuBLAS calls that name file and line.
 *
 * Every runtime or cuBLAS call in the plugin goes through AS_CUDA_TRY or
 * AS_CUBLAS_TRY inside a function returning AsGpuStatus. On failure the macro
 * writes "as-cuda-encoder.cu:123: cudaMalloc (...): cudaErrorMemoryAllocation
 * (out of memory)" into the AsCudaMsg and returns the matching status, so the
 * loader can tell "no driver" from "out of memory" from everything else.
 */
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>

#include "as-gpu-plugin.h"

typedef struct {
  char   *buf;   /* caller's message buffer (may be NULL) */
  size_t  len;
} AsCudaMsg;

AsGpuStatus as_cuda_status_from_error  (cudaError_t err);
AsGpuStatus as_cuda_status_from_cublas (cublasStatus_t st);
const char *as_cublas_status_name      (cublasStatus_t st);
/* Formats "FILE:LINE: CALL: NAME (description)" into MSG and returns STATUS. */
AsGpuStatus as_cuda_fail               (AsCudaMsg   *msg,
                                        AsGpuStatus  status,
                                        const char  *file,
                                        int          line,
                                        const char  *call,
                                        const char  *name,
                                        const char  *detail);
/* printf into MSG (always NUL-terminated); returns STATUS. */
AsGpuStatus as_cuda_msgf               (AsCudaMsg   *msg,
                                        AsGpuStatus  status,
                                        const char  *format,
                                        ...) __attribute__ ((format (printf, 3, 4)));

#define AS_CUDA_TRY(msg, call)                                                     \
  do {                                                                             \
    cudaError_t as_err_ = (call);                                                  \
    if (as_err_ != cudaSuccess)                                                    \
      return as_cuda_fail ((msg), as_cuda_status_from_error (as_err_),             \
                           __FILE__, __LINE__, #call,                              \
                           cudaGetErrorName (as_err_), cudaGetErrorString (as_err_)); \
  } while (0)

#define AS_CUBLAS_TRY(msg, call)                                                   \
  do {                                                                             \
    cublasStatus_t as_st_ = (call);                                                \
    if (as_st_ != CUBLAS_STATUS_SUCCESS)                                           \
      return as_cuda_fail ((msg), as_cuda_status_from_cublas (as_st_),             \
                           __FILE__, __LINE__, #call,                              \
                           as_cublas_status_name (as_st_), cublasGetStatusString (as_st_)); \
  } while (0)

/* Kernel launches go through the host wrappers of as-cuda-kernels.h, which
 * return cudaGetLastError (); check those with AS_CUDA_TRY too. */

/* A status-returning step: pass its failure (already described) up. */
#define AS_GPU_TRY(expr)                                                           \
  do {                                                                             \
    AsGpuStatus as_gs_ = (expr);                                                   \
    if (as_gs_ != AS_GPU_STATUS_OK)                                                \
      return as_gs_;                                                               \
  } while (0)

/* ------------------------------------------------------------------------ */
/* Shared by the encoder (as-cuda-encoder.cu, where they are defined) and   */
/* the decoder (as-cuda-decoder.cu).                                        */

#define CUBLAS_WS_BYTES    ((size_t) 32 << 20)  /* cuBLAS workspace, set once at load */
#define CAPACITY_STEP      64                   /* workspace grows in steps of tokens */
#define MIB(bytes)         ((double) (bytes) / (1024.0 * 1024.0))

/* Failures a test forces with $ATTNSCOPE_GPU_FORCE_FAIL. */
typedef enum {
  FORCE_NONE,
  FORCE_DRIVER,
  FORCE_DEVICE,
  FORCE_OOM_LOAD,
  FORCE_OOM_RUN,
} ForcedFailure;

ForcedFailure forced_failure       (void);
/* NO_DRIVER / NO_DEVICE when FORCE says so, else OK. */
AsGpuStatus   forced_probe_failure (ForcedFailure  force,
                                    AsCudaMsg     *msg);
const char   *precision_label      (AsGpuPrecision p);

/* What the encoder and the decoder hold of their device: its handles and
 * the one allocation of their weights. */
typedef struct {
  int              device;
  ForcedFailure    force;
  int              stub;          /* simulated for oom-run where there is no GPU */
  char             device_info[256];
  cudaStream_t     compute;       /* every kernel and GEMM */
  cudaStream_t     copy;          /* device -> pinned host copies of each layer */
  cudaEvent_t      layer_done[2]; /* by layer parity: the layer's outputs are ready */
  cudaEvent_t      copy_done[2];  /* by layer parity: their copy to the host is done */
  cublasHandle_t   blas;
  void            *weights;       /* the weights and the cuBLAS workspace */
  size_t           weight_bytes;
} AsCudaDevice;

/* For an open: probes DEVICE into D (with FORCE, the forced failure). With
 * no usable GPU, a forced oom-load still reports OUT_OF_MEMORY and a forced
 * oom-run makes D a stub (OK, d->stub set), so tests reach the loader's
 * out-of-memory paths on any machine. */
AsGpuStatus   as_cuda_device_probe (AsCudaDevice  *d,
                                    int            device,
                                    ForcedFailure  force,
                                    AsCudaMsg     *msg);
/* Streams, events and cuBLAS (TF32 math with TF32). */
AsGpuStatus   as_cuda_device_start (AsCudaDevice  *d,
                                    int            tf32,
                                    AsCudaMsg     *msg);
/* The one allocation of BYTES of weights, after checking what is free. */
AsGpuStatus   as_cuda_device_alloc_weights (AsCudaDevice *d,
                                            size_t        bytes,
                                            AsCudaMsg    *msg);
/* Waits for both streams, then releases everything start and alloc made. */
void          as_cuda_device_stop  (AsCudaDevice  *d);
/* "CUDA 13.0 + cuBLAS on …, PRECISION, weights … MiB". */
void          as_cuda_device_describe (const AsCudaDevice *d,
                                       AsGpuPrecision      precision,
                                       char               *buf,
                                       size_t              len);

/* An open's own steps, called by as_cuda_open_device. */
typedef AsGpuStatus (*AsCudaInitFunc)    (void *obj, const void *model, AsCudaMsg *msg);
typedef void        (*AsCudaReleaseFunc) (void *obj);
/* What the encoder's and the decoder's opens share once OBJ (calloc'd, its
 * shapes set, DEV inside it) exists: the forced failure, the probe of
 * DEVICE into DEV and, unless DEV is a stub, INIT (OBJ, MODEL), which makes
 * the layers' table, starts DEV and uploads the weights. On failure OBJ is
 * gone: freed when the probe failed, else RELEASE (OBJ). */
AsGpuStatus   as_cuda_open_device  (void              *obj,
                                    AsCudaDevice      *dev,
                                    int                device,
                                    AsCudaInitFunc     init,
                                    const void        *model,
                                    AsCudaReleaseFunc  release,
                                    AsCudaMsg         *msg);

/* Allocation plans: walked once to size an allocation (BASE NULL), once to
 * carve it. */
typedef struct {
  char   *base;   /* NULL while sizing */
  size_t  used;
} Arena;

void         *arena_take           (Arena         *a,
                                    size_t         bytes);
/* cudaMalloc that reports running out of memory in words, with the sizes. */
AsGpuStatus   device_alloc         (void         **ptr,
                                    size_t         bytes,
                                    const char    *what,
                                    AsCudaMsg     *msg);
/* Column-major C = alpha op(A) op(B), fp32 output; BATCH > 1 is strided. */
AsGpuStatus   as_cuda_gemm         (cublasHandle_t       blas,
                                    cudaDataType_t       ab_type,
                                    cublasComputeType_t  compute_type,
                                    cublasOperation_t    ta,
                                    cublasOperation_t    tb,
                                    int                  m,
                                    int                  n,
                                    int                  k,
                                    float                alpha,
                                    const void          *a,
                                    int                  lda,
                                    long long            stride_a,
                                    const void          *b,
                                    int                  ldb,
                                    long long            stride_b,
                                    float               *c,
                                    int                  ldc,
                                    long long            stride_c,
                                    int                  batch,
                                    AsCudaMsg           *msg);

/* The decoder's table entries (as-cuda-decoder.cu); see as-gpu-plugin.h. */
AsGpuStatus as_cuda_decoder_open       (const AsGpuDecoderDesc *model, AsGpuPrecision precision,
                                        int device, AsGpuDecoder **out, char *buf, size_t len);
AsGpuStatus as_cuda_decoder_cache_new  (AsGpuDecoder *dec, int capacity, AsGpuKvCache **out,
                                        char *buf, size_t len);
void        as_cuda_decoder_cache_free (AsGpuDecoder *dec, AsGpuKvCache *cache);
AsGpuStatus as_cuda_decoder_prompt     (AsGpuDecoder *dec, const AsGpuPrompt *prompt,
                                        char *buf, size_t len);
AsGpuStatus as_cuda_decoder_step       (AsGpuDecoder *dec, AsGpuKvCache *cache,
                                        const AsGpuStep *step, char *buf, size_t len);
void        as_cuda_decoder_describe   (AsGpuDecoder *dec, char *buf, size_t len);
void        as_cuda_decoder_close      (AsGpuDecoder *dec);
