/* as-vector-math.h — the fast CPU path's element-wise maths, written so GCC
 * vectorises it without -ffast-math.
 *
 * exp and erf are polynomials (within ~1.3 ulp of the correctly rounded
 * value) instead of libm's scalar calls; branches are integer selects; sums
 * and maxima run in independent lanes, then the lanes in order. The fast
 * path is checked against the reference forward (as-reference.c), whose
 * element-wise maths is as-elementwise.h.
 *
 * The row passes at the end are built from these (as-vector-math.c, compiled
 * for the baseline target and for AVX2 + FMA); the AVX-512 set has the same
 * polynomials in its own vectors (as-simd-avx512.h). Each call goes to the
 * set as_cpu_isa () chose (as-kernels.h).
 */
#pragma once

#include <glib.h>
#include <math.h>
#include <stdint.h>

G_BEGIN_DECLS

static inline float
as_float_from_bits (int32_t bits)
{
  union { int32_t i; float f; } u = { .i = bits };
  return u.f;
}

static inline int32_t
as_bits_from_float (float f)
{
  union { float f; int32_t i; } u = { .f = f };
  return u.i;
}

/* A where MASK is all ones, B where it is zero. (Integer selects vectorise
 * under GCC's default -ftrapping-math; float compares in a loop do not.) */
static inline float
as_blend (int32_t mask,
          float   a,
          float   b)
{
  return as_float_from_bits ((as_bits_from_float (a) & mask) | (as_bits_from_float (b) & ~mask));
}

/* exp(x) for x <= 0 (softmax after subtracting the row maximum, exp(-x^2)).
 * x = k ln2 + r with |r| <= ln2/2 (Cody–Waite split of ln2), e^r by its
 * degree-7 Taylor polynomial (truncation < 0.1 ulp), times 2^k built in the
 * exponent bits. Below -87.3 the result is 0 (true value < 1.2e-38). */
static inline float
as_exp_neg (float x)
{
  const float log2e = 1.44269504088896341f;
  const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  float kf = (x * log2e + 12582912.0f) - 12582912.0f;   /* round to nearest */
  float r = x - kf * ln2_hi;
  r = r - kf * ln2_lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t k = (int32_t) kf;
  k = k < -127 ? -127 : k;                               /* 2^-127 -> bits 0 = 0.0f */
  return p * as_float_from_bits ((k + 127) << 23);
}

/* erf(x), |error| <= 1.3 ulp (checked against double erf on a dense grid):
 *   |x| < 1:      x + x R(x^2), R a degree-6 least-squares fit of erf(x)/x - 1
 *   1 <= |x| < 3.92: 1 - exp(-x^2) Q(|x| - 2.46), Q a degree-10 fit of
 *                 erfc(x) e^(x^2)
 *   beyond:       +-1 (erfc(3.92) is below half an ulp of 1). */
static inline float
as_erf_poly (float x)
{
  int32_t abs_bits = as_bits_from_float (x) & 0x7fffffff;
  float a = as_float_from_bits (abs_bits);

  float s = a * a;
  float r = 7.89820988e-05f;
  r = r * s - 0.000802435388f;
  r = r * s + 0.00519005349f;
  r = r * s - 0.0268548094f;
  r = r * s + 0.112836123f;
  r = r * s - 0.376126289f;
  r = r * s + 0.128379166f;
  float near = a + a * r;

  float t = a - 2.46f;
  float q = 1.65197719e-06f;
  q = q * t - 6.91290325e-06f;
  q = q * t + 1.6914044e-05f;
  q = q * t - 5.92111573e-05f;
  q = q * t + 0.000228320045f;
  q = q * t - 0.00079097756f;
  q = q * t + 0.00261932774f;
  q = q * t - 0.00840655155f;
  q = q * t + 0.0259221811f;
  q = q * t - 0.0763816163f;
  q = q * t + 0.213820681f;
  float far = 1.0f - as_exp_neg (-s) * q;

  int32_t is_near = -(int32_t) (abs_bits < 0x3f800000);     /* |x| < 1 */
  int32_t is_tail = -(int32_t) (abs_bits >= 0x407ae148);    /* |x| >= 3.92 */
  float y = as_blend (is_near, near, as_blend (is_tail, 1.0f, far));
  return as_float_from_bits (as_bits_from_float (y) | (as_bits_from_float (x) & (int32_t) 0x80000000));
}

/* Sums of V[0..n) in 16 independent lanes (vectorises; no reassociation flag
 * needed), then the lanes and the tail in order. */
static inline float
as_sum_lanes (const float *v,
              int          n)
{
  float lane[16] = { 0 };
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; k++)
      lane[k] += v[j + k];
  float s = 0.0f;
  for (int k = 0; k < 16; k++)
    s += lane[k];
  for (; j < n; j++)
    s += v[j];
  return s;
}

/* Sum of (v - mean)^2, the same way. */
static inline float
as_sum_sq_dev_lanes (const float *v,
                     int          n,
                     float        mean)
{
  float lane[16] = { 0 };
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; k++)
      {
        float d = v[j + k] - mean;
        lane[k] += d * d;
      }
  float s = 0.0f;
  for (int k = 0; k < 16; k++)
    s += lane[k];
  for (; j < n; j++)
    {
      float d = v[j] - mean;
      s += d * d;
    }
  return s;
}

/* C + A * B, rounded once where the target has FMA, so that code built
 * for AVX2 and for AVX-512 gives the same bits whatever GCC chooses to
 * contract (it fuses some steps of an unrolled loop and not others). */
static inline float
as_mul_add (float a,
            float b,
            float c)
{
#ifdef __FMA__
  return fmaf (a, b, c);
#else
  return c + a * b;
#endif
}

/* Floats ordered as integers: key(a) < key(b) iff a < b (no NaN). The map
 * is its own inverse. */
static inline int32_t
as_order_key (int32_t bits)
{
  return bits ^ ((bits >> 31) & 0x7fffffff);
}

/* The largest of V[0..n) (n >= 1), in 8 lanes of order keys. */
static inline float
as_max_lanes (const float *v,
              int          n)
{
  int32_t lane[8];
  for (int k = 0; k < 8; k++)
    lane[k] = as_order_key (as_bits_from_float (v[0]));
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; k++)
      {
        int32_t key = as_order_key (as_bits_from_float (v[j + k]));
        lane[k] = key > lane[k] ? key : lane[k];
      }
  int32_t m = lane[0];
  for (int k = 1; k < 8; k++)
    m = lane[k] > m ? lane[k] : m;
  for (; j < n; j++)
    {
      int32_t key = as_order_key (as_bits_from_float (v[j]));
      m = key > m ? key : m;
    }
  return as_float_from_bits (as_order_key (m));
}

/* GELU (erf form) with as_erf_poly. */
static inline float
as_fast_gelu (float x)
{
  return 0.5f * x * (1.0f + as_erf_poly (x * (float) M_SQRT1_2));
}

/* SiLU with the polynomial exp, branch-free so it vectorises:
 * x / (1 + e^-x) for x >= 0, x e^x / (1 + e^x) below, both from
 * e = exp(-|x|) <= 1. */
static inline float
as_fast_silu (float x)
{
  const int32_t negative = as_bits_from_float (x) >> 31;   /* all ones when x < 0 */
  const float e = as_exp_neg (-as_float_from_bits (as_bits_from_float (x) & 0x7fffffff));
  return x * as_blend (negative, e, 1.0f) / (1.0f + e);
}

/* GATE [n] = silu(GATE) * UP [n]: SwiGLU's gating (Llama's FFN). */
void as_fast_swiglu          (float       *gate,
                              const float *up,
                              int          n);

/* GELU in its tanh form (as_gelu_new) with the polynomial exp:
 * x/2 (1 + tanh(y/2)) is x sigmoid(y), y = 2 sqrt(2/pi) (x + 0.044715 x^3),
 * which has x's sign; as as_fast_silu, x / (1 + e) for x >= 0 and
 * x e / (1 + e) below, with e = exp(-min(|y|, 100)). */
static inline float
as_fast_gelu_tanh (float x)
{
  const int32_t negative = as_bits_from_float (x) >> 31;   /* all ones when x < 0 */
  const float y = 1.5957691216057308f * (x + 0.044715f * x * x * x);
  float a = as_float_from_bits (as_bits_from_float (y) & 0x7fffffff);
  a = a < 100.0f ? a : 100.0f;   /* e is 0 by then; an x^3 that overflowed stays finite */
  const float e = as_exp_neg (-a);
  return x * as_blend (negative, e, 1.0f) / (1.0f + e);
}

/* X [n] = gelu_new(X) (as_fast_gelu_tanh): GPT-2's FFN. */
void as_fast_gelu_new        (float       *x,
                              int          n);

/* Rows [r0, r1) of x[n, dim]: x = LayerNorm(x + b + residual) * g + beta.
 * B and RESIDUAL may be NULL. Two passes over the row (mean, then variance of
 * the deviations) as torch does, not E[x^2] - E[x]^2. */
void as_fast_layer_norm_rows (float       *x,
                              const float *b,
                              const float *residual,
                              const float *g,
                              const float *beta,
                              int          r0,
                              int          r1,
                              int          dim,
                              float        eps);

/* Each row of p[rows, n] becomes softmax(row). With CAUSAL, row i (query
 * FIRST_ROW + i) sees keys 0..FIRST_ROW+i only; the rest are 0 (the teaching
 * demonstration; BERT itself is bidirectional). */
void as_fast_softmax_rows    (float       *p,
                              int          rows,
                              int          n,
                              int          first_row,
                              gboolean     causal);

/* OUT [rows] = W [rows, cols] X [cols], on the calling thread only: a
 * matrix-vector product that starts no thread, for code that runs while
 * the process may fork (OpenBLAS's threaded sgemv deadlocks in its fork
 * handler when it is in flight on another thread). as_fast_gemm_rows with
 * one row of X. */
void as_fast_gemv_rows       (const float *w,
                              const float *x,
                              int          rows,
                              int          cols,
                              float       *out);

/* OUT [n, rows] = X [n, cols] W [rows, cols]^T, on the calling thread only,
 * for the same reason. Each row of W is read from memory once per block of
 * X rows (as many as fit in L2) and multiplied by several X rows while it
 * is in registers. Every dot product sums in 16 lanes (lane j takes
 * k = j mod 16 below the last whole 16), the lanes in order, then the
 * tail: OUT[i] is the same bit for bit whatever N and whichever X rows it
 * is computed with, and equals as_fast_gemv_rows of X[i]. */
void as_fast_gemm_rows       (const float *w,
                              const float *x,
                              int          rows,
                              int          cols,
                              int          n,
                              float       *out);

G_END_DECLS
