/* as-block-gemv-generic.c — the portable block products (as-block-gemv.h),
 * compiled once for the baseline and once for AVX2 + FMA (AS_ISA_SUFFIX). */
#include "as-kernels.h"
#include "as-block-gemv.h"

/* Lanes summed apart within a block, so the compiler can keep them in one
 * vector register (floats are not reassociated otherwise). */
#define LANES 8

/* sum_i w[i] x[i] over COUNT <= 32 columns of a block widened to floats W
 * [32], in LANES partial sums: for a whole block, two loops of fixed
 * length that the compiler turns into vector code. */
static inline float
block_dot (const float *w,
           const float *x,
           int          count)
{
  float part[LANES] = { 0 };
  if (count == AS_BLOCK)
    {
      for (int i = 0; i < AS_BLOCK; i += LANES)
        for (int j = 0; j < LANES; j++)
          part[j] += w[i + j] * x[i + j];
    }
  else
    for (int i = 0; i < count; i++)
      part[i % LANES] += w[i] * x[i];
  float s = 0.0f;
  for (int j = 0; j < LANES; j++)
    s += part[j];
  return s;
}

/* Q8: y = sum over blocks of scale * (q . x). */
void
AS_ISA_FN (as_block_gemv_q8_rows) (const AsBlockMatrix *m,
                                   const float         *x,
                                   int                  r0,
                                   int                  r1,
                                   float               *out)
{
  const gsize stride = (gsize) m->blocks * AS_BLOCK;
  for (int r = r0; r < r1; r++)
    {
      const gint8 *q = (const gint8 *) m->q + (gsize) r * stride;   /* [blocks * 32] */
      const float *scale = m->scale + (gsize) r * m->blocks;        /* [blocks] */
      float y = 0.0f;
      for (int b = 0; b < m->blocks; b++)
        {
          const int c0 = b * AS_BLOCK;
          float w[AS_BLOCK];
          for (int i = 0; i < AS_BLOCK; i++)
            w[i] = (float) q[c0 + i];
          y += scale[b] * block_dot (w, x + c0, MIN (AS_BLOCK, m->cols - c0));
        }
      out[r - r0] = y;
    }
}

/* Q4: y = sum over blocks of (d * q + m) . x, each weight formed whole
 * (exact: d * q needs at most 15 significant bits, so fused or not the
 * one rounding is the add's). */
void
AS_ISA_FN (as_block_gemv_q4_rows) (const AsBlockMatrix *m,
                                   const float         *x,
                                   int                  r0,
                                   int                  r1,
                                   float               *out)
{
  const gsize stride = (gsize) m->blocks * (AS_BLOCK / 2);
  for (int r = r0; r < r1; r++)
    {
      const guint8 *q = m->q + (gsize) r * stride;                  /* [blocks * 16] */
      const float *scale = m->scale + (gsize) r * m->blocks;        /* [blocks] */
      const float *min = m->min + (gsize) r * m->blocks;            /* [blocks] */
      float y = 0.0f;
      for (int b = 0; b < m->blocks; b++)
        {
          const guint8 *qb = q + b * (AS_BLOCK / 2);   /* [16] */
          float w[AS_BLOCK];
          for (int j = 0; j < AS_BLOCK / 2; j++)
            {
              w[j] = scale[b] * (float) (qb[j] & 0x0f) + min[b];
              w[j + AS_BLOCK / 2] = scale[b] * (float) (qb[j] >> 4) + min[b];
            }
          const int c0 = b * AS_BLOCK;
          y += block_dot (w, x + c0, MIN (AS_BLOCK, m->cols - c0));
        }
      out[r - r0] = y;
    }
}
