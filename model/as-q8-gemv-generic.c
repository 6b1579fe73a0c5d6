/* as-q8-gemv-generic.c — the portable int8-block product (as-q8-gemv.h),
 * compiled once for the baseline and once for AVX2 + FMA (AS_ISA_SUFFIX). */
#include "as-kernels.h"
#include "as-q8-gemv.h"

/* Lanes summed apart within a block, so the compiler can keep them in one
 * vector register (floats are not reassociated otherwise). */
#define LANES 8

/* One block: sum_i q[i] x[i] over COUNT <= 32 columns. A whole block is
 * widened to floats first and summed in LANES partial sums: two loops of
 * fixed length that the compiler turns into vector code. */
static inline float
block_dot (const gint8 *q,
           const float *x,
           int          count)
{
  float part[LANES] = { 0 };
  if (count == AS_Q8_BLOCK)
    {
      float w[AS_Q8_BLOCK];
      for (int i = 0; i < AS_Q8_BLOCK; i++)
        w[i] = (float) q[i];
      for (int i = 0; i < AS_Q8_BLOCK; i += LANES)
        for (int j = 0; j < LANES; j++)
          part[j] += w[i + j] * x[i + j];
    }
  else
    for (int i = 0; i < count; i++)
      part[i % LANES] += (float) q[i] * x[i];
  float s = 0.0f;
  for (int j = 0; j < LANES; j++)
    s += part[j];
  return s;
}

void
AS_ISA_FN (as_q8_gemv_rows) (const AsQ8Matrix *m,
                             const float      *x,
                             int               r0,
                             int               r1,
                             float            *out)
{
  const gsize stride = (gsize) m->blocks * AS_Q8_BLOCK;
  for (int r = r0; r < r1; r++)
    {
      const gint8 *q = m->q + (gsize) r * stride;              /* [blocks * 32] */
      const float *scale = m->scale + (gsize) r * m->blocks;   /* [blocks] */
      float y = 0.0f;
      for (int b = 0; b < m->blocks; b++)
        {
          const int c0 = b * AS_Q8_BLOCK;
          y += scale[b] * block_dot (q + c0, x + c0, MIN (AS_Q8_BLOCK, m->cols - c0));
        }
      out[r - r0] = y;
    }
}
