/* as-vector-math.c — the fast path's row passes after a GEMM: LayerNorm
 * (with the bias and residual before it) and softmax, and a matrix-vector
 * product, in portable C built twice (baseline and AVX2 + FMA, see
 * as-kernels.h). */
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


void
AS_ISA_FN (as_gemv_rows) (const float *w,
                          const float *x,
                          int          rows,
                          int          cols,
                          float       *out)
{
  for (int r = 0; r < rows; r++)
    {
      const float *w_r = w + (gsize) r * cols;   /* [cols] */
      /* Sixteen independent partial sums, so the compiler vectorises the
       * loop without reordering any one of them. */
      float lane[16] = { 0 };
      int k = 0;
      for (; k + 16 <= cols; k += 16)
        for (int j = 0; j < 16; j++)
          lane[j] += w_r[k + j] * x[k + j];
      float sum = 0.0f;
      for (int j = 0; j < 16; j++)
        sum += lane[j];
      for (; k < cols; k++)
        sum += w_r[k] * x[k];
      out[r] = sum;
    }
}
