/* cublas_v2.h — the cuBLAS calls the plugin makes, emulated with OpenBLAS
 * (column-major, the same arguments). Tests only: see cuda_runtime.h here. */
#pragma once

#include "cuda_runtime.h"

typedef struct EmuBlas *cublasHandle_t;

typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
  CUBLAS_STATUS_LICENSE_ERROR = 16,
} cublasStatus_t;

typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 } cublasMath_t;
typedef enum { CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14 } cudaDataType_t;
typedef enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;

cublasStatus_t cublasCreate               (cublasHandle_t *handle);
cublasStatus_t cublasDestroy              (cublasHandle_t handle);
cublasStatus_t cublasSetStream            (cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublasSetMathMode          (cublasHandle_t handle, cublasMath_t mode);
cublasStatus_t cublasSetWorkspace         (cublasHandle_t handle, void *workspace, size_t bytes);
const char    *cublasGetStatusString      (cublasStatus_t status);
cublasStatus_t cublasGemmEx               (cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb,
                                           int m, int n, int k, const void *alpha,
                                           const void *a, cudaDataType_t a_type, int lda,
                                           const void *b, cudaDataType_t b_type, int ldb,
                                           const void *beta, void *c, cudaDataType_t c_type, int ldc,
                                           cublasComputeType_t compute, cublasGemmAlgo_t algo);
cublasStatus_t cublasGemmStridedBatchedEx (cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb,
                                           int m, int n, int k, const void *alpha,
                                           const void *a, cudaDataType_t a_type, int lda, long long stride_a,
                                           const void *b, cudaDataType_t b_type, int ldb, long long stride_b,
                                           const void *beta, void *c, cudaDataType_t c_type, int ldc,
                                           long long stride_c, int batch,
                                           cublasComputeType_t compute, cublasGemmAlgo_t algo);
