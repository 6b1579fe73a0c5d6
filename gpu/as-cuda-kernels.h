/* as-cuda-kernels.h — the encoder's non-GEMM steps on the device.
 *
 * Each function launches one kernel on STREAM and returns cudaGetLastError ()
 * (launch errors; faults inside a kernel show up at the next synchronisation).
 * All matrices are row-major, as in the reference forward
 * (model/as-reference.c), whose steps these kernels compute.
 */
#pragma once

#include <cuda_runtime.h>
#include <stddef.h>

#include "as-gpu-plugin.h"

/* LayerNorm rows are staged in shared memory: at most this many columns. */
#define AS_CUDA_MAX_LN_DIM 8192    /* 32 KiB of the 48 KiB a block gets by default */

/* x[n, H] = word[ids[i]] + pos[i] + type[type_ids[i]] (before LayerNorm). */
cudaError_t as_cuda_embed          (float        *x,
                                    const int    *ids,
                                    const int    *type_ids,
                                    const float  *word_emb,
                                    const float  *pos_emb,
                                    const float  *type_emb,
                                    int           n,
                                    int           hidden,
                                    cudaStream_t  stream);

/* out[r] = LayerNorm(a[r] + bias + residual[r]) * g + b for each of ROWS rows
 * of DIM; BIAS [dim] and RESIDUAL [rows, dim] may be NULL; OUT may be A. */
cudaError_t as_cuda_add_layer_norm (float        *out,
                                    const float  *a,
                                    const float  *bias,
                                    const float  *residual,
                                    const float  *g,
                                    const float  *b,
                                    int           rows,
                                    int           dim,
                                    float         eps,
                                    cudaStream_t  stream);

/* x[rows, dim] += bias[dim] (broadcast over rows). */
cudaError_t as_cuda_add_bias       (float        *x,
                                    const float  *bias,
                                    int           rows,
                                    int           dim,
                                    cudaStream_t  stream);

/* x = gelu_erf(x + bias), x [rows, dim]. */
cudaError_t as_cuda_add_bias_gelu  (float        *x,
                                    const float  *bias,
                                    int           rows,
                                    int           dim,
                                    cudaStream_t  stream);

/* Each row of p[heads, n, n] becomes its softmax; with CAUSAL, keys after the
 * query (column > row) are masked out and set to 0. */
cudaError_t as_cuda_softmax_rows   (float        *p,
                                    int           heads,
                                    int           n,
                                    int           causal,
                                    cudaStream_t  stream);

/* dst[count] (fp16 or bf16, by TO) = src[count] rounded to nearest. */
cudaError_t as_cuda_convert        (void         *dst,
                                    const float  *src,
                                    size_t        count,
                                    AsGpuPrecision to,
                                    cudaStream_t  stream);
