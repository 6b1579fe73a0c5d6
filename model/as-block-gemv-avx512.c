/* as-block-gemv-avx512.c — the block products (as-block-gemv.h) for
 * AVX-512: a block's 32 weights widened to two vectors of 16 floats,
 * multiplied by x and summed into one of two accumulators (blocks
 * alternate, so consecutive blocks do not wait on each other's sum). */
#include "as-block-gemv.h"

#include <immintrin.h>

/* X [32] as two vectors; lanes past COUNT (< 32 only for a row's last
 * block) read as 0, so they add nothing whatever the weight there. */
static inline void
load_x (const float *x,
        int          count,
        __m512      *x0,
        __m512      *x1)
{
  if (count == AS_BLOCK)
    {
      *x0 = _mm512_loadu_ps (x);
      *x1 = _mm512_loadu_ps (x + 16);
      return;
    }
  const __mmask16 m0 = (__mmask16) (count >= 16 ? 0xffff : (1u << count) - 1);
  const __mmask16 m1 = (__mmask16) (count <= 16 ? 0 : (1u << (count - 16)) - 1);
  *x0 = _mm512_maskz_loadu_ps (m0, x);
  *x1 = _mm512_maskz_loadu_ps (m1, x + 16);
}

/* ACC += scale * (q[0..31] . x[0..31]). */
static inline __m512
q8_block_fma (__m512       acc,
              const gint8 *q,
              const float *x,
              float        scale,
              int          count)
{
  __m512 x0, x1;
  load_x (x, count, &x0, &x1);
  const __m512 w0 = _mm512_cvtepi32_ps (_mm512_cvtepi8_epi32 (_mm_loadu_si128 ((const __m128i *) q)));
  const __m512 w1 = _mm512_cvtepi32_ps (_mm512_cvtepi8_epi32 (_mm_loadu_si128 ((const __m128i *) (q + 16))));
  const __m512 dot = _mm512_fmadd_ps (w1, x1, _mm512_mul_ps (w0, x0));
  return _mm512_fmadd_ps (dot, _mm512_set1_ps (scale), acc);
}

void
as_block_gemv_q8_rows_avx512 (const AsBlockMatrix *m,
                              const float         *x,
                              int                  r0,
                              int                  r1,
                              float               *out)
{
  const gsize stride = (gsize) m->blocks * AS_BLOCK;
  const int full = m->cols / AS_BLOCK;   /* blocks with 32 columns of x */
  for (int r = r0; r < r1; r++)
    {
      const gint8 *q = (const gint8 *) m->q + (gsize) r * stride;   /* [blocks * 32] */
      const float *scale = m->scale + (gsize) r * m->blocks;        /* [blocks] */
      __m512 acc0 = _mm512_setzero_ps (), acc1 = _mm512_setzero_ps ();
      int b = 0;
      for (; b + 2 <= full; b += 2)
        {
          acc0 = q8_block_fma (acc0, q + b * AS_BLOCK, x + b * AS_BLOCK, scale[b], AS_BLOCK);
          acc1 = q8_block_fma (acc1, q + (b + 1) * AS_BLOCK, x + (b + 1) * AS_BLOCK,
                               scale[b + 1], AS_BLOCK);
        }
      for (; b < m->blocks; b++)
        acc0 = q8_block_fma (acc0, q + b * AS_BLOCK, x + b * AS_BLOCK, scale[b],
                             MIN (AS_BLOCK, m->cols - b * AS_BLOCK));
      out[r - r0] = _mm512_reduce_add_ps (_mm512_add_ps (acc0, acc1));
    }
}

/* ACC += (d * q[0..31] + m) . x[0..31], each weight formed by one fused
 * multiply-add (exact up to its one rounding, as-block-gemv.h). Byte j of
 * Q holds element j (low nibble) and j + 16 (high). */
static inline __m512
q4_block_fma (__m512        acc,
              const guint8 *q,
              const float  *x,
              float         d,
              float         min,
              int           count)
{
  __m512 x0, x1;
  load_x (x, count, &x0, &x1);
  const __m512i bytes = _mm512_cvtepu8_epi32 (_mm_loadu_si128 ((const __m128i *) q));
  const __m512 lo = _mm512_cvtepi32_ps (_mm512_and_si512 (bytes, _mm512_set1_epi32 (0x0f)));
  const __m512 hi = _mm512_cvtepi32_ps (_mm512_srli_epi32 (bytes, 4));
  const __m512 vd = _mm512_set1_ps (d), vm = _mm512_set1_ps (min);
  acc = _mm512_fmadd_ps (_mm512_fmadd_ps (vd, lo, vm), x0, acc);
  return _mm512_fmadd_ps (_mm512_fmadd_ps (vd, hi, vm), x1, acc);
}

void
as_block_gemv_q4_rows_avx512 (const AsBlockMatrix *m,
                              const float         *x,
                              int                  r0,
                              int                  r1,
                              float               *out)
{
  const gsize stride = (gsize) m->blocks * (AS_BLOCK / 2);
  const int full = m->cols / AS_BLOCK;
  for (int r = r0; r < r1; r++)
    {
      const guint8 *q = m->q + (gsize) r * stride;             /* [blocks * 16] */
      const float *scale = m->scale + (gsize) r * m->blocks;   /* [blocks] */
      const float *min = m->min + (gsize) r * m->blocks;       /* [blocks] */
      __m512 acc0 = _mm512_setzero_ps (), acc1 = _mm512_setzero_ps ();
      int b = 0;
      for (; b + 2 <= full; b += 2)
        {
          acc0 = q4_block_fma (acc0, q + b * (AS_BLOCK / 2), x + b * AS_BLOCK, scale[b], min[b],
                               AS_BLOCK);
          acc1 = q4_block_fma (acc1, q + (b + 1) * (AS_BLOCK / 2), x + (b + 1) * AS_BLOCK,
                               scale[b + 1], min[b + 1], AS_BLOCK);
        }
      for (; b < m->blocks; b++)
        acc0 = q4_block_fma (acc0, q + b * (AS_BLOCK / 2), x + b * AS_BLOCK, scale[b], min[b],
                             MIN (AS_BLOCK, m->cols - b * AS_BLOCK));
      out[r - r0] = _mm512_reduce_add_ps (_mm512_add_ps (acc0, acc1));
    }
}
