/* as-q8-gemv-avx512.c — the int8-block product (as-q8-gemv.h) for
 * AVX-512: a block's 32 int8 weights widened to two vectors of 16 floats,
 * multiplied by x, summed, scaled into one of two accumulators (blocks
 * alternate, so consecutive blocks do not wait on each other's sum). */
#include "as-q8-gemv.h"

#include <immintrin.h>

/* ACC += scale * (q[0..31] . x[0..31]), lanes past COUNT (< 32 only for a
 * row's last block) neither read from x nor counted. */
static inline __m512
block_fma (__m512       acc,
           const gint8 *q,
           const float *x,
           float        scale,
           int          count)
{
  __m512 x0, x1;
  if (count == AS_Q8_BLOCK)
    {
      x0 = _mm512_loadu_ps (x);
      x1 = _mm512_loadu_ps (x + 16);
    }
  else
    {
      const __mmask16 m0 = (__mmask16) (count >= 16 ? 0xffff : (1u << count) - 1);
      const __mmask16 m1 = (__mmask16) (count <= 16 ? 0 : (1u << (count - 16)) - 1);
      x0 = _mm512_maskz_loadu_ps (m0, x);
      x1 = _mm512_maskz_loadu_ps (m1, x + 16);
    }
  const __m512 w0 = _mm512_cvtepi32_ps (_mm512_cvtepi8_epi32 (_mm_loadu_si128 ((const __m128i *) q)));
  const __m512 w1 = _mm512_cvtepi32_ps (_mm512_cvtepi8_epi32 (_mm_loadu_si128 ((const __m128i *) (q + 16))));
  const __m512 dot = _mm512_fmadd_ps (w1, x1, _mm512_mul_ps (w0, x0));
  return _mm512_fmadd_ps (dot, _mm512_set1_ps (scale), acc);
}

void
as_q8_gemv_rows_avx512 (const AsQ8Matrix *m,
                        const float      *x,
                        int               r0,
                        int               r1,
                        float            *out)
{
  const gsize stride = (gsize) m->blocks * AS_Q8_BLOCK;
  const int full = m->cols / AS_Q8_BLOCK;   /* blocks with 32 columns of x */
  for (int r = r0; r < r1; r++)
    {
      const gint8 *q = m->q + (gsize) r * stride;              /* [blocks * 32] */
      const float *scale = m->scale + (gsize) r * m->blocks;   /* [blocks] */
      __m512 acc0 = _mm512_setzero_ps (), acc1 = _mm512_setzero_ps ();
      int b = 0;
      for (; b + 2 <= full; b += 2)
        {
          acc0 = block_fma (acc0, q + b * AS_Q8_BLOCK, x + b * AS_Q8_BLOCK, scale[b], AS_Q8_BLOCK);
          acc1 = block_fma (acc1, q + (b + 1) * AS_Q8_BLOCK, x + (b + 1) * AS_Q8_BLOCK,
                            scale[b + 1], AS_Q8_BLOCK);
        }
      for (; b < m->blocks; b++)
        acc0 = block_fma (acc0, q + b * AS_Q8_BLOCK, x + b * AS_Q8_BLOCK, scale[b],
                          MIN (AS_Q8_BLOCK, m->cols - b * AS_Q8_BLOCK));
      out[r - r0] = _mm512_reduce_add_ps (_mm512_add_ps (acc0, acc1));
    }
}
