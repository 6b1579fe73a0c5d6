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
