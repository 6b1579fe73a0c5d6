/* as-cuda-kernels.h — the encoder's and the decoder's non-GEMM steps on the device.
 *
 * Each function launches one kernel on STREAM and returns cudaGetLastError ()
 * (launch errors; faults inside a kernel show up at the next synchronisation).
 * All matrices are row-major, as in the reference forwards
 * (model/as-reference.c, model/as-reference-llama.c), whose steps these
 * kernels compute.
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

/* x = gelu(x + bias), x [rows, dim], BIAS [dim] or NULL: the exact erf
 * form (BERT's "gelu"), or with TANH_FORM the tanh approximation (GPT-2's
 * "gelu_new"). */
cudaError_t as_cuda_add_bias_gelu  (float        *x,
                                    const float  *bias,
                                    int           rows,
                                    int           dim,
                                    int           tanh_form,
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

/* Each of HEADS * N_QUERIES rows of p[heads, n_queries, n_keys] becomes its
 * causal softmax: row r is query r % n_queries, at position pos0 + that,
 * and sees keys 0..its position (the rest set to 0). A prompt is pos0 0 and
 * n_queries = n_keys; a decoding step one query at pos0 = n_keys - 1. */
cudaError_t as_cuda_softmax_causal (float        *p,
                                    int           heads,
                                    int           n_queries,
                                    int           n_keys,
                                    int           pos0,
                                    cudaStream_t  stream);

/* --- decoders -------------------------------------------------------------- */

/* x[n, H] = table[ids[i]] + pos_table[pos0 + i]: learned absolute
 * positions; POS_TABLE NULL for rotary models, which add none here. */
cudaError_t as_cuda_embed_rows     (float        *x,
                                    const int    *ids,
                                    const float  *table,
                                    const float  *pos_table,
                                    int           pos0,
                                    int           n,
                                    int           hidden,
                                    cudaStream_t  stream);

/* out[r] = g * (in[r] / sqrt(mean(in[r]^2) + eps)) for ROWS rows of DIM
 * (LlamaRMSNorm); OUT may be IN. */
cudaError_t as_cuda_rms_norm       (float        *out,
                                    const float  *in,
                                    const float  *g,
                                    int           rows,
                                    int           dim,
                                    float         eps,
                                    cudaStream_t  stream);

/* Rotary positions in place on HEADS heads of D columns at the start of
 * each of ROWS rows of x (row stride LD floats); row i is position pos0 + i.
 * transformers' rotate_half layout: dimension j < d/2 pairs with j + d/2,
 * turned by the angle inv_freq[j] * (pos0 + i); INV_FREQ [d/2] is
 * 1 / theta^(2j/d), computed on the host as the CPU computes it. */
cudaError_t as_cuda_rope           (float        *x,
                                    int           rows,
                                    int           heads,
                                    int           d,
                                    int           ld,
                                    int           pos0,
                                    const float  *inv_freq,
                                    cudaStream_t  stream);

/* out[rows, F] = silu(gu[:, 0..F)) * gu[:, F..2F), gu [rows, 2F]: the gate
 * and up projections side by side. */
cudaError_t as_cuda_swiglu         (float        *out,
                                    const float  *gu,
                                    int           rows,
                                    int           f,
                                    cudaStream_t  stream);

/* out[count] = a + b (the residual stream); OUT may be A. */
cudaError_t as_cuda_add            (float        *out,
                                    const float  *a,
                                    const float  *b,
                                    size_t        count,
                                    cudaStream_t  stream);
