/* as-vector-math.c — the fast path's row passes after a GEMM: LayerNorm
 * (with the bias and residual before it), softmax, SwiGLU, GPT-2's GELU, and the products of
 * a matrix's rows with a few vectors, in portable C built twice (baseline
 * and AVX2 + FMA, see as-kernels.h). */
#include "as-vector-math.h"

#include "as-kernels.h"

void
AS_ISA_FN (as_layer_norm_rows) (float       *x,
                                const float *b,
                                const float *residual,
                                const float *g,
                                const float *beta,
                                int          r0,
                                int          r1,
                                int          dim,
                                float        eps)
{
  for (int i = r0; i < r1; i++)
    {
      float *row = x + (gsize) i * dim;
      if (residual != NULL)
        {
          const float *res = residual + (gsize) i * dim;
          if (b != NULL)
            for (int j = 0; j < dim; j++)
              row[j] = (row[j] + b[j]) + res[j];
          else
            for (int j = 0; j < dim; j++)
              row[j] += res[j];
        }
      float mean = as_sum_lanes (row, dim) / dim;
      float var = as_sum_sq_dev_lanes (row, dim, mean) / dim;
      float inv = 1.0f / sqrtf (var + eps);
      for (int j = 0; j < dim; j++)
        row[j] = (row[j] - mean) * inv * g[j] + beta[j];
    }
}

void
AS_ISA_FN (as_swiglu) (float       *gate,
                       const float *up,
                       int          n)
{
  for (int j = 0; j < n; j++)
    gate[j] = as_fast_silu (gate[j]) * up[j];
}

void
AS_ISA_FN (as_gelu_new) (float *x,
                         int    n)
{
  for (int j = 0; j < n; j++)
    x[j] = as_fast_gelu_tanh (x[j]);
}

void
AS_ISA_FN (as_softmax_rows) (float   *p,
                             int      rows,
                             int      n,
                             int      first_row,
                             gboolean causal)
{
  for (int i = 0; i < rows; i++)
    {
      float *row = p + (gsize) i * n;
      int valid = causal ? first_row + i + 1 : n;
      float max = as_max_lanes (row, valid);
      for (int j = 0; j < valid; j++)
        row[j] = as_exp_neg (row[j] - max);
      float inv = 1.0f / as_sum_lanes (row, valid);
      for (int j = 0; j < valid; j++)
        row[j] *= inv;
      for (int j = valid; j < n; j++)
        row[j] = 0.0f;
    }
}


/* The matrix-row products: one row of W times XR rows of X stays in
 * registers, each dot product in 16 lanes (NV vectors of VW floats): 6
 * ymm accumulators with AVX2, 12 xmm with SSE. More rows of W per tile
 * would reuse each X load, but reading W rows side by side streams it
 * from memory at half the rate one row at a time does (measured), and at
 * a few X rows that stream is the bound. Wider GCC vectors than the
 * hardware has would go through the stack. */
#ifdef __AVX2__
#define VW 8
#else
#define VW 4
#endif
#define NV (16 / VW)
#define XR 3
/* Rows of X kept in L2 while W streams past them: 192 KiB of them. */
#define X_BLOCK_BYTES (192 * 1024)

typedef float vsf __attribute__ ((vector_size (VW * 4)));
typedef float vsf_u __attribute__ ((vector_size (VW * 4), aligned (4)));

#define ALWAYS_INLINE inline __attribute__((always_inline))
#define loadv(p) (*(const vsf_u *) (p))

/* OUT[i * ldo] = W . X[i] for i < XR_: W [cols], X [XR_, cols]. Lane j of
 * a dot product sums the products at k = j mod 16 below the last whole
 * 16; the lanes are added in order, then the tail in order: the sum is the
 * same whatever tile the X row falls in. */
static ALWAYS_INLINE void
dot_tile (const int    xr_,
          const float *w,
          const float *x,
          int          cols,
          float       *out,
          int          ldo)
{
  vsf acc[XR][NV];   /* [XR, 16] lanes */
  for (int i = 0; i < xr_; i++)
    for (int v = 0; v < NV; v++)
      acc[i][v] = (vsf) { 0 };
  int k = 0;
  for (; k + 16 <= cols; k += 16)
    for (int v = 0; v < NV; v++)
      {
        vsf wv = loadv (w + k + v * VW);
        for (int i = 0; i < xr_; i++)
          acc[i][v] += wv * loadv (x + (gsize) i * cols + k + v * VW);
      }
  for (int i = 0; i < xr_; i++)
    {
      const float *x_i = x + (gsize) i * cols;   /* [cols] */
      float sum = 0.0f;
      for (int v = 0; v < NV; v++)
        for (int j = 0; j < VW; j++)
          sum += acc[i][v][j];
      for (int kk = k; kk < cols; kk++)
        sum = as_mul_add (w[kk], x_i[kk], sum);
      out[(gsize) i * ldo] = sum;
    }
}

void
AS_ISA_FN (as_gemm_rows) (const float *w,
                          const float *x,
                          int          rows,
                          int          cols,
                          int          n,
                          float       *out)
{
  /* A block of X rows is reused by every row of W while it sits in L2;
   * each row of W is read from memory once per block and reused by all of
   * the block's tiles from L1. */
  const int x_block = MAX (XR, X_BLOCK_BYTES / (int) sizeof (float) / MAX (cols, 1) / XR * XR);
  for (int i0 = 0; i0 < n; i0 += x_block)
    {
      const int xn = MIN (x_block, n - i0);
      const float *xb = x + (gsize) i0 * cols;   /* [xn, cols] */
      float *ob = out + (gsize) i0 * rows;       /* [xn, rows] */
      for (int r = 0; r < rows; r++)
        {
          const float *w_r = w + (gsize) r * cols;   /* [cols] */
          int i = 0;
          for (; i + XR <= xn; i += XR)
            dot_tile (XR, w_r, xb + (gsize) i * cols, cols, ob + (gsize) i * rows + r, rows);
          switch (xn - i)
            {
            case 2: dot_tile (2, w_r, xb + (gsize) i * cols, cols, ob + (gsize) i * rows + r, rows); break;
            case 1: dot_tile (1, w_r, xb + (gsize) i * cols, cols, ob + (gsize) i * rows + r, rows); break;
            default: break;
            }
        }
    }
}
