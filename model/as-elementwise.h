/* as-elementwise.h — the element-wise maths of a layer (BERT's, GPT-2's
 * tanh GELU; Llama's RMSNorm, SiLU and rotary positions at the end), defined
 * once.
 *
 * Plain scalar fp32 on libm (erff, expf, sqrtf), as PyTorch's eager CPU
 * kernels compute it. The reference forward (as-reference.c) and the CUDA
 * emulator (gpu/emu/, C++) call these; the fast CPU path has vectorised
 * approximations of its own (as-vector-math.h) and is tested against the
 * reference. No GLib here: the emulator is built without it.
 */
#pragma once

#include <math.h>

#ifdef __cplusplus
extern "C" {
#endif

/* GELU in its erf form (hidden_act "gelu"): x Phi(x) = x/2 (1 + erf(x/sqrt 2)). */
static inline float
as_gelu (float x)
{
  return 0.5f * x * (1.0f + erff (x * 0.70710678118654752440f));
}

/* GELU in its tanh form (GPT-2's activation_function "gelu_new", as
 * transformers' NewGELUActivation): x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
static inline float
as_gelu_new (float x)
{
  return 0.5f * x * (1.0f + tanhf (0.79788456080286535588f * (x + 0.044715f * x * x * x)));
}

/* The factor on Q K^T: 1/sqrt(head_dim). */
static inline float
as_attention_scale (int head_dim)
{
  return 1.0f / sqrtf ((float) head_dim);
}

/* out[0..dim) = (in - mean) / sqrt(var + eps) * gamma + beta, the biased
 * variance taken over the deviations from the mean (a second pass, as torch
 * does, not E[x^2] - E[x]^2). OUT may be IN. */
static inline void
as_layer_norm_row (float       *out,
                   const float *in,
                   const float *gamma,
                   const float *beta,
                   int          dim,
                   float        eps)
{
  float mean = 0.0f;
  for (int j = 0; j < dim; j++)
    mean += in[j];
  mean /= (float) dim;
  float var = 0.0f;
  for (int j = 0; j < dim; j++)
    {
      float dev = in[j] - mean;
      var += dev * dev;
    }
  var /= (float) dim;
  const float rstd = 1.0f / sqrtf (var + eps);
  for (int j = 0; j < dim; j++)
    out[j] = (in[j] - mean) * rstd * gamma[j] + beta[j];
}

/* row[0..n) = softmax over its first VALID entries (1 <= VALID <= n); the
 * entries from VALID on are masked keys and become 0. The row maximum is
 * subtracted first, so no exp overflows. */
static inline void
as_softmax_row (float *row,
                int    n,
                int    valid)
{
  float max = row[0];
  for (int j = 1; j < valid; j++)
    max = row[j] > max ? row[j] : max;
  float sum = 0.0f;
  for (int j = 0; j < valid; j++)
    {
      row[j] = expf (row[j] - max);
      sum += row[j];
    }
  const float inv = 1.0f / sum;
  for (int j = 0; j < valid; j++)
    row[j] *= inv;
  for (int j = valid; j < n; j++)
    row[j] = 0.0f;
}

/* --- decoders (Llama family) ---------------------------------------------- */

/* SiLU (Llama's hidden_act "silu"): x sigmoid(x) = x / (1 + exp(-x)), as
 * PyTorch's CPU kernel writes it. */
static inline float
as_silu (float x)
{
  return x / (1.0f + expf (-x));
}

/* RMSNorm as LlamaRMSNorm: out = gamma * (in / sqrt(mean(in^2) + eps)), the
 * mean of squares summed in index order. OUT may be IN. */
static inline void
as_rms_norm_row (float       *out,
                 const float *in,
                 const float *gamma,
                 int          dim,
                 float        eps)
{
  float ss = 0.0f;
  for (int j = 0; j < dim; j++)
    ss += in[j] * in[j];
  const float rstd = 1.0f / sqrtf (ss / (float) dim + eps);
  for (int j = 0; j < dim; j++)
    out[j] = gamma[j] * (in[j] * rstd);
}

/* Rotary position embedding of one head's vector x[0..d) at position POS,
 * in place, in transformers' (rotate_half) layout: dimension j < d/2 pairs
 * with j + d/2, both turned by the angle pos * theta^(-2j/d), computed in
 * fp32 as LlamaRotaryEmbedding does (inv_freq, then times the position). */
static inline void
as_rope_head (float *x,
              int    d,
              int    pos,
              float  theta)
{
  const int half = d / 2;
  for (int j = 0; j < half; j++)
    {
      const float inv_freq = 1.0f / powf (theta, (float) (2 * j) / (float) d);
      const float angle = inv_freq * (float) pos;
      const float c = cosf (angle), s = sinf (angle);
      const float x1 = x[j], x2 = x[j + half];
      x[j] = x1 * c - x2 * s;
      x[j + half] = x2 * c + x1 * s;
    }
}

#ifdef __cplusplus
}
#endif
