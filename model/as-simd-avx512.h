/* as-simd-avx512.h — exp and erf of as-vector-math.h on 16 floats at once,
 * for the AVX-512 kernels only (their files are the only ones built with
 * AVX-512 enabled; nothing else may include this).
 *
 * Same reductions and the same polynomial coefficients as the scalar
 * versions; the Horner steps are fused multiply-adds, so results may differ
 * from them in the last bit. Both are checked against the reference forward.
 */
#pragma once

#include <immintrin.h>
#include <math.h>

/* exp(x) for x <= 0: x = k ln2 + r, e^r by its degree-7 Taylor polynomial,
 * times 2^k made in the exponent bits; 0 below about -87.3. As in
 * as_exp_neg, x is not clamped: far below that (around -1e15 and beyond,
 * where the reduction breaks down) the result is NaN, and NaN stays NaN, so
 * a head whose scores are that far apart (weights that overflow Q K^T in
 * all but name) is refused by the encoder's finiteness check at every
 * kernel level alike. */
static inline __m512
as_exp_neg16 (__m512 x)
{
  /* k = round(x log2 e): adding 1.5 * 2^23 leaves k in the low mantissa
   * bits, which also make 2^k below without a conversion */
  const __m512 shifter = _mm512_set1_ps (12582912.0f);
  __m512 kr = _mm512_fmadd_ps (x, _mm512_set1_ps (1.44269504088896341f), shifter);
  __m512 kf = _mm512_sub_ps (kr, shifter);
  __m512 r = _mm512_fnmadd_ps (kf, _mm512_set1_ps (0.693359375f), x);
  r = _mm512_fnmadd_ps (kf, _mm512_set1_ps (-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps (1.0f / 5040.0f);
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 720.0f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 120.0f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 24.0f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 6.0f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (0.5f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f));
  /* k from the bits; below -127 (and for inputs too large for the shifter
   * trick, whose bits are then meaningless) the scale is clamped to 0 */
  __m512i k = _mm512_sub_epi32 (_mm512_castps_si512 (kr), _mm512_castps_si512 (shifter));
  __mmask16 tiny = _mm512_cmp_ps_mask (kf, _mm512_set1_ps (-127.0f), _CMP_LT_OQ);
  __m512i bits = _mm512_slli_epi32 (_mm512_add_epi32 (k, _mm512_set1_epi32 (127)), 23);
  bits = _mm512_mask_mov_epi32 (bits, tiny, _mm512_setzero_si512 ());
  return _mm512_mul_ps (p, _mm512_castsi512_ps (bits));
}

/* erf(x): x + x R(x^2) below 1, 1 - exp(-x^2) Q(|x| - 2.46) up to 3.92,
 * +-1 beyond (see as_erf_poly). */
static inline __m512
as_erf16 (__m512 x)
{
  const __m512i abs_mask = _mm512_set1_epi32 (0x7fffffff);
  __m512i xi = _mm512_castps_si512 (x);
  __m512 a = _mm512_castsi512_ps (_mm512_and_si512 (xi, abs_mask));
  __m512 s = _mm512_mul_ps (a, a);

  __m512 r = _mm512_set1_ps (7.89820988e-05f);
  r = _mm512_fmadd_ps (r, s, _mm512_set1_ps (-0.000802435388f));
  r = _mm512_fmadd_ps (r, s, _mm512_set1_ps (0.00519005349f));
  r = _mm512_fmadd_ps (r, s, _mm512_set1_ps (-0.0268548094f));
  r = _mm512_fmadd_ps (r, s, _mm512_set1_ps (0.112836123f));
  r = _mm512_fmadd_ps (r, s, _mm512_set1_ps (-0.376126289f));
  r = _mm512_fmadd_ps (r, s, _mm512_set1_ps (0.128379166f));
  __m512 near = _mm512_fmadd_ps (a, r, a);

  __m512 t = _mm512_sub_ps (a, _mm512_set1_ps (2.46f));
  __m512 q = _mm512_set1_ps (1.65197719e-06f);
  q = _mm512_fmadd_ps (q, t, _mm512_set1_ps (-6.91290325e-06f));
  q = _mm512_fmadd_ps (q, t, _mm512_set1_ps (1.6914044e-05f));
  q = _mm512_fmadd_ps (q, t, _mm512_set1_ps (-5.92111573e-05f));
  q = _mm512_fmadd_ps (q, t, _mm512_set1_ps (0.000228320045f));
  q = _mm512_fmadd_ps (q, t, _mm512_set1_ps (-0.00079097756f));
  q = _mm512_fmadd_ps (q, t, _mm512_set1_ps (0.00261932774f));
  q = _mm512_fmadd_ps (q, t, _mm512_set1_ps (-0.00840655155f));
  q = _mm512_fmadd_ps (q, t, _mm512_set1_ps (0.0259221811f));
  q = _mm512_fmadd_ps (q, t, _mm512_set1_ps (-0.0763816163f));
  q = _mm512_fmadd_ps (q, t, _mm512_set1_ps (0.213820681f));
  __m512 far = _mm512_fnmadd_ps (as_exp_neg16 (_mm512_sub_ps (_mm512_setzero_ps (), s)), q,
                                 _mm512_set1_ps (1.0f));

  __mmask16 is_near = _mm512_cmp_ps_mask (a, _mm512_set1_ps (1.0f), _CMP_LT_OQ);
  __mmask16 is_tail = _mm512_cmp_ps_mask (a, _mm512_set1_ps (3.92f), _CMP_GE_OQ);
  __m512 y = _mm512_mask_blend_ps (is_tail, far, _mm512_set1_ps (1.0f));
  y = _mm512_mask_blend_ps (is_near, y, near);
  __m512i sign = _mm512_andnot_si512 (abs_mask, xi);
  return _mm512_castsi512_ps (_mm512_or_si512 (_mm512_castps_si512 (y), sign));
}

/* GELU, erf form. */
static inline __m512
as_gelu16 (__m512 x)
{
  __m512 e = as_erf16 (_mm512_mul_ps (x, _mm512_set1_ps ((float) M_SQRT1_2)));
  __m512 half_x = _mm512_mul_ps (x, _mm512_set1_ps (0.5f));
  return _mm512_fmadd_ps (half_x, e, half_x);
}

/* SiLU as as_fast_silu: x / (1 + e) for x >= 0, x e / (1 + e) below,
 * with e = exp(-|x|). */
static inline __m512
as_silu16 (__m512 x)
{
  const __m512 a = _mm512_abs_ps (x);
  const __m512 e = as_exp_neg16 (_mm512_sub_ps (_mm512_setzero_ps (), a));
  const __mmask16 negative = _mm512_movepi32_mask (_mm512_castps_si512 (x));
  const __m512 num = _mm512_mask_blend_ps (negative, _mm512_set1_ps (1.0f), e);
  return _mm512_div_ps (_mm512_mul_ps (x, num), _mm512_add_ps (_mm512_set1_ps (1.0f), e));
}

/* GELU's tanh form as as_fast_gelu_tanh: x sigmoid(y), y of x's sign. */
static inline __m512
as_gelu_tanh16 (__m512 x)
{
  const __m512 x3 = _mm512_mul_ps (_mm512_mul_ps (x, x), x);
  const __m512 y = _mm512_mul_ps (_mm512_set1_ps (1.5957691216057308f),
                                  _mm512_add_ps (x, _mm512_mul_ps (_mm512_set1_ps (0.044715f), x3)));
  const __m512 a = _mm512_min_ps (_mm512_abs_ps (y), _mm512_set1_ps (100.0f));
  const __m512 e = as_exp_neg16 (_mm512_sub_ps (_mm512_setzero_ps (), a));
  const __mmask16 negative = _mm512_movepi32_mask (_mm512_castps_si512 (x));
  const __m512 num = _mm512_mask_blend_ps (negative, _mm512_set1_ps (1.0f), e);
  return _mm512_div_ps (_mm512_mul_ps (x, num), _mm512_add_ps (_mm512_set1_ps (1.0f), e));
}

/* The lanes of a row's last N < 16 floats. */
static inline __mmask16
as_tail_mask16 (int n)
{
  return (__mmask16) ((1u << n) - 1);
}
