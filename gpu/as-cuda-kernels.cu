/* as-cuda-kernels.cu — embeddings, LayerNorm, bias + GELU (erf or tanh),
 * masked softmax; for decoders RMSNorm, rotary positions, SwiGLU and the
 * residual add.
 *
 * One block per row for the row-wise steps (LayerNorm, softmax), grid-stride
 * loops for element-wise ones. The maths is the reference forward's
 * (model/as-elementwise.h: expf / erff / sqrtf / cosf / sinf,
 * two-pass LayerNorm, no fast-math), so fp32 results differ from
 * model/as-reference.c and model/as-reference-llama.c only in the order of
 * sums and the last bit of the maths library.
 */
#include "as-cuda-kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#define ROW_THREADS  256   /* LayerNorm block */
#define SOFT_THREADS 128   /* softmax block */
#define ELT_THREADS  256
#define ELT_MAX_BLOCKS 8192

/* Sum (or max) of V over the block; every thread gets the result. BLOCKDIM
 * must be a multiple of 32 and every thread of the block must call it. */
__device__ static float
block_sum (float  v,
           float *scratch /* [33] shared */)
{
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync (0xffffffffu, v, o);
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads ();
  if (warp == 0)
    {
      const int n_warps = blockDim.x >> 5;
      float w = lane < n_warps ? scratch[lane] : 0.0f;
      for (int o = 16; o > 0; o >>= 1)
        w += __shfl_xor_sync (0xffffffffu, w, o);
      if (lane == 0)
        scratch[32] = w;
    }
  __syncthreads ();
  float total = scratch[32];
  __syncthreads ();   /* SCRATCH may be reused by the next reduction */
  return total;
}

__device__ static float
block_max (float  v,
           float *scratch /* [33] shared */)
{
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf (v, __shfl_xor_sync (0xffffffffu, v, o));
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads ();
  if (warp == 0)
    {
      const int n_warps = blockDim.x >> 5;
      float w = lane < n_warps ? scratch[lane] : -INFINITY;
      for (int o = 16; o > 0; o >>= 1)
        w = fmaxf (w, __shfl_xor_sync (0xffffffffu, w, o));
      if (lane == 0)
        scratch[32] = w;
    }
  __syncthreads ();
  float total = scratch[32];
  __syncthreads ();
  return total;
}

static int
elementwise_blocks (size_t count)
{
  size_t blocks = (count + ELT_THREADS - 1) / ELT_THREADS;
  if (blocks < 1)
    blocks = 1;
  return (int) (blocks < ELT_MAX_BLOCKS ? blocks : ELT_MAX_BLOCKS);
}

/* ------------------------------------------------------------------------ */

__global__ static void
embed_kernel (float       *x,
              const int   *ids,
              const int   *type_ids,
              const float *word_emb,
              const float *pos_emb,
              const float *type_emb,
              int          hidden)
{
  const int i = blockIdx.x;
  const float *w = word_emb + (size_t) ids[i] * hidden;
  const float *p = pos_emb + (size_t) i * hidden;
  const float *t = type_emb + (size_t) type_ids[i] * hidden;
  float *row = x + (size_t) i * hidden;
  for (int j = threadIdx.x; j < hidden; j += blockDim.x)
    row[j] = w[j] + p[j] + t[j];
}

cudaError_t
as_cuda_embed (float        *x,
               const int    *ids,
               const int    *type_ids,
               const float  *word_emb,
               const float  *pos_emb,
               const float  *type_emb,
               int           n,
               int           hidden,
               cudaStream_t  stream)
{
  embed_kernel<<<n, ROW_THREADS, 0, stream>>> (x, ids, type_ids, word_emb, pos_emb, type_emb, hidden);
  return cudaGetLastError ();
}

/* ------------------------------------------------------------------------ */

/* One block per row. The row (a + bias + residual, in that order, as the CPU
 * adds the bias in linear () and the residual in add_layer_norm ()) is staged
 * in shared memory, so OUT may alias A. Two-pass mean / variance as the CPU. */
__global__ static void
add_layer_norm_kernel (float       *out,
                       const float *a,
                       const float *bias,
                       const float *residual,
                       const float *g,
                       const float *b,
                       int          dim,
                       float        eps)
{
  extern __shared__ float row[];   /* [dim] */
  __shared__ float scratch[33];
  const size_t base = (size_t) blockIdx.x * dim;

  float sum = 0.0f;
  for (int j = threadIdx.x; j < dim; j += blockDim.x)
    {
      float v = a[base + j];
      if (bias != NULL)
        v += bias[j];
      if (residual != NULL)
        v += residual[base + j];
      row[j] = v;
      sum += v;
    }
  const float mean = block_sum (sum, scratch) / (float) dim;

  float sq = 0.0f;
  for (int j = threadIdx.x; j < dim; j += blockDim.x)
    {
      float d = row[j] - mean;
      sq += d * d;
    }
  const float var = block_sum (sq, scratch) / (float) dim;
  const float inv = 1.0f / sqrtf (var + eps);

  for (int j = threadIdx.x; j < dim; j += blockDim.x)
    out[base + j] = (row[j] - mean) * inv * g[j] + b[j];
}

cudaError_t
as_cuda_add_layer_norm (float        *out,
                        const float  *a,
                        const float  *bias,
                        const float  *residual,
                        const float  *g,
                        const float  *b,
                        int           rows,
                        int           dim,
                        float         eps,
                        cudaStream_t  stream)
{
  if (dim > AS_CUDA_MAX_LN_DIM)
    return cudaErrorInvalidValue;
  add_layer_norm_kernel<<<rows, ROW_THREADS, (size_t) dim * sizeof (float), stream>>> (
      out, a, bias, residual, g, b, dim, eps);
  return cudaGetLastError ();
}

/* ------------------------------------------------------------------------ */

__global__ static void
add_bias_kernel (float       *x,
                 const float *bias,
                 size_t       count,
                 int          dim)
{
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < count;
       i += (size_t) gridDim.x * blockDim.x)
    x[i] += bias[i % (size_t) dim];
}

cudaError_t
as_cuda_add_bias (float        *x,
                  const float  *bias,
                  int           rows,
                  int           dim,
                  cudaStream_t  stream)
{
  size_t count = (size_t) rows * dim;
  add_bias_kernel<<<elementwise_blocks (count), ELT_THREADS, 0, stream>>> (x, bias, count, dim);
  return cudaGetLastError ();
}

/* HF "gelu": the exact erf form, 0.5 x (1 + erf(x / sqrt 2)), as as_gelu;
 * "gelu_new": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as
 * as_gelu_new. */
__global__ static void
add_bias_gelu_kernel (float       *x,
                      const float *bias,
                      size_t       count,
                      int          dim,
                      int          tanh_form)
{
  const float rsqrt2 = 0.70710678118654752440f;        /* (float) M_SQRT1_2 */
  const float sqrt_2_pi = 0.79788456080286535588f;     /* sqrt(2/pi) */
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < count;
       i += (size_t) gridDim.x * blockDim.x)
    {
      float v = bias != NULL ? x[i] + bias[i % (size_t) dim] : x[i];
      x[i] = tanh_form ? 0.5f * v * (1.0f + tanhf (sqrt_2_pi * (v + 0.044715f * v * v * v)))
                       : 0.5f * v * (1.0f + erff (v * rsqrt2));
    }
}

cudaError_t
as_cuda_add_bias_gelu (float        *x,
                       const float  *bias,
                       int           rows,
                       int           dim,
                       int           tanh_form,
                       cudaStream_t  stream)
{
  size_t count = (size_t) rows * dim;
  add_bias_gelu_kernel<<<elementwise_blocks (count), ELT_THREADS, 0, stream>>> (x, bias, count, dim,
                                                                             tanh_form);
  return cudaGetLastError ();
}

/* ------------------------------------------------------------------------ */

/* One block per row of p[heads * n_queries, n_keys]; the scale 1/sqrt(d)
 * was applied by the QK^T GEMM (alpha), as the CPU does. Row r is query
 * r % n_queries at position pos0 + that; with CAUSAL it sees keys up to its
 * position only. */
__global__ static void
softmax_rows_kernel (float *p,
                     int    n_queries,
                     int    n_keys,
                     int    pos0,
                     int    causal)
{
  __shared__ float scratch[33];
  float *row = p + (size_t) blockIdx.x * n_keys;
  const int query = (int) (blockIdx.x % (unsigned) n_queries);
  const int seen = pos0 + query + 1;
  const int valid = causal && seen < n_keys ? seen : n_keys;

  float m = -INFINITY;
  for (int j = threadIdx.x; j < valid; j += blockDim.x)
    m = fmaxf (m, row[j]);
  m = block_max (m, scratch);

  float sum = 0.0f;
  for (int j = threadIdx.x; j < valid; j += blockDim.x)
    {
      float e = expf (row[j] - m);
      row[j] = e;
      sum += e;
    }
  const float inv = 1.0f / block_sum (sum, scratch);

  for (int j = threadIdx.x; j < valid; j += blockDim.x)
    row[j] *= inv;
  for (int j = valid + threadIdx.x; j < n_keys; j += blockDim.x)
    row[j] = 0.0f;
}

cudaError_t
as_cuda_softmax_rows (float        *p,
                      int           heads,
                      int           n,
                      int           causal,
                      cudaStream_t  stream)
{
  softmax_rows_kernel<<<heads * n, SOFT_THREADS, 0, stream>>> (p, n, n, 0, causal);
  return cudaGetLastError ();
}

cudaError_t
as_cuda_softmax_causal (float        *p,
                        int           heads,
                        int           n_queries,
                        int           n_keys,
                        int           pos0,
                        cudaStream_t  stream)
{
  softmax_rows_kernel<<<heads * n_queries, SOFT_THREADS, 0, stream>>> (p, n_queries, n_keys,
                                                                      pos0, 1);
  return cudaGetLastError ();
}

/* ------------------------------------------------------------------------ */

__global__ static void
to_half_kernel (__half      *dst,
                const float *src,
                size_t       count)
{
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < count;
       i += (size_t) gridDim.x * blockDim.x)
    dst[i] = __float2half_rn (src[i]);
}

__global__ static void
to_bf16_kernel (__nv_bfloat16 *dst,
                const float   *src,
                size_t         count)
{
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < count;
       i += (size_t) gridDim.x * blockDim.x)
    dst[i] = __float2bfloat16_rn (src[i]);
}

cudaError_t
as_cuda_convert (void           *dst,
                 const float    *src,
                 size_t          count,
                 AsGpuPrecision  to,
                 cudaStream_t    stream)
{
  if (to == AS_GPU_PRECISION_FP16)
    to_half_kernel<<<elementwise_blocks (count), ELT_THREADS, 0, stream>>> ((__half *) dst, src, count);
  else if (to == AS_GPU_PRECISION_BF16)
    to_bf16_kernel<<<elementwise_blocks (count), ELT_THREADS, 0, stream>>> ((__nv_bfloat16 *) dst, src, count);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError ();
}

/* ------------------------------------------------------------------------ */
/* Decoders                                                                  */

__global__ static void
embed_rows_kernel (float       *x,
                   const int   *ids,
                   const float *table,
                   const float *pos_table,
                   int          pos0,
                   int          hidden)
{
  const float *src = table + (size_t) ids[blockIdx.x] * hidden;   /* [hidden] */
  float *row = x + (size_t) blockIdx.x * hidden;                  /* [hidden] */
  if (pos_table == NULL)
    for (int j = threadIdx.x; j < hidden; j += blockDim.x)
      row[j] = src[j];
  else
    {
      const float *pos = pos_table + (size_t) (pos0 + (int) blockIdx.x) * hidden;   /* [hidden] */
      for (int j = threadIdx.x; j < hidden; j += blockDim.x)
        row[j] = src[j] + pos[j];
    }
}

cudaError_t
as_cuda_embed_rows (float        *x,
                    const int    *ids,
                    const float  *table,
                    const float  *pos_table,
                    int           pos0,
                    int           n,
                    int           hidden,
                    cudaStream_t  stream)
{
  embed_rows_kernel<<<n, ROW_THREADS, 0, stream>>> (x, ids, table, pos_table, pos0, hidden);
  return cudaGetLastError ();
}

/* One block per row; the mean of squares as as_rms_norm_row, in a block
 * sum instead of index order. Each thread reads its own elements again, so
 * OUT may be IN. */
__global__ static void
rms_norm_kernel (float       *out,
                 const float *in,
                 const float *g,
                 int          dim,
                 float        eps)
{
  __shared__ float scratch[33];
  const size_t base = (size_t) blockIdx.x * dim;
  float ss = 0.0f;
  for (int j = threadIdx.x; j < dim; j += blockDim.x)
    ss += in[base + j] * in[base + j];
  const float rstd = 1.0f / sqrtf (block_sum (ss, scratch) / (float) dim + eps);
  for (int j = threadIdx.x; j < dim; j += blockDim.x)
    out[base + j] = g[j] * (in[base + j] * rstd);
}

cudaError_t
as_cuda_rms_norm (float        *out,
                  const float  *in,
                  const float  *g,
                  int           rows,
                  int           dim,
                  float         eps,
                  cudaStream_t  stream)
{
  rms_norm_kernel<<<rows, ROW_THREADS, 0, stream>>> (out, in, g, dim, eps);
  return cudaGetLastError ();
}

/* One block per row, a thread per (head, pair); as_rope_head's arithmetic
 * from its inverse frequencies: angle = inv_freq * pos in fp32. */
__global__ static void
rope_kernel (float       *x,
             int          heads,
             int          d,
             int          ld,
             int          pos0,
             const float *inv_freq)
{
  const int half = d / 2;
  const float pos = (float) (pos0 + (int) blockIdx.x);
  float *row = x + (size_t) blockIdx.x * ld;   /* [heads * d] used */
  for (int t = threadIdx.x; t < heads * half; t += blockDim.x)
    {
      const int h = t / half, j = t % half;
      const float angle = inv_freq[j] * pos;
      const float c = cosf (angle), s = sinf (angle);
      float *head = row + (size_t) h * d;   /* [d] */
      const float x1 = head[j], x2 = head[j + half];
      head[j] = x1 * c - x2 * s;
      head[j + half] = x2 * c + x1 * s;
    }
}

cudaError_t
as_cuda_rope (float        *x,
              int           rows,
              int           heads,
              int           d,
              int           ld,
              int           pos0,
              const float  *inv_freq,
              cudaStream_t  stream)
{
  rope_kernel<<<rows, ROW_THREADS, 0, stream>>> (x, heads, d, ld, pos0, inv_freq);
  return cudaGetLastError ();
}

/* silu(x) = x / (1 + exp(-x)), as as_silu. */
__global__ static void
swiglu_kernel (float       *out,
               const float *gu,
               size_t       count,
               int          f)
{
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < count;
       i += (size_t) gridDim.x * blockDim.x)
    {
      const size_t r = i / (size_t) f, j = i % (size_t) f;
      const float gate = gu[r * 2 * f + j], up = gu[r * 2 * f + f + j];
      out[i] = gate / (1.0f + expf (-gate)) * up;
    }
}

cudaError_t
as_cuda_swiglu (float        *out,
                const float  *gu,
                int           rows,
                int           f,
                cudaStream_t  stream)
{
  size_t count = (size_t) rows * f;
  swiglu_kernel<<<elementwise_blocks (count), ELT_THREADS, 0, stream>>> (out, gu, count, f);
  return cudaGetLastError ();
}

__global__ static void
add_kernel (float       *out,
            const float *a,
            const float *b,
            size_t       count)
{
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < count;
       i += (size_t) gridDim.x * blockDim.x)
    out[i] = a[i] + b[i];
}

cudaError_t
as_cuda_add (float        *out,
             const float  *a,
             const float  *b,
             size_t        count,
             cudaStream_t  stream)
{
  add_kernel<<<elementwise_blocks (count), ELT_THREADS, 0, stream>>> (out, a, b, count);
  return cudaGetLastError ();
}
