/* as-teach-math.c — one query through one head, and position encodings.
 *
 * Double precision throughout: these numbers are printed for people to read
 * and checked against the engine's float attention, so the reference side
 * should not add rounding of its own.
 */
#include "as-teach-math.h"

#include <math.h>

#include "as-elementwise.h"
#include "as-error.h"

void
as_sinusoid_encoding (int    n_positions,
                      int    dim,
                      float *out)
{
  g_return_if_fail (n_positions >= 0 && dim > 0 && out != NULL);

  for (int pos = 0; pos < n_positions; pos++)
    for (int c = 0; c < dim; c++)
      {
        int two_i = c - (c % 2);   /* the pair (2i, 2i+1) shares a frequency */
        double angle = pos / pow (10000.0, (double) two_i / dim);
        out[(gsize) pos * dim + c] = (float) (c % 2 == 0 ? sin (angle) : cos (angle));
      }
}

void
as_cosine_similarity (const float *m,
                      int          rows,
                      int          cols,
                      float       *out)
{
  g_return_if_fail (rows >= 0 && cols >= 0 && m != NULL && out != NULL);

  g_autofree double *norm = g_new (double, MAX (rows, 1));   /* [rows] */
  for (int r = 0; r < rows; r++)
    {
      double s = 0;
      for (int c = 0; c < cols; c++)
        s += (double) m[(gsize) r * cols + c] * m[(gsize) r * cols + c];
      norm[r] = sqrt (s);
    }
  for (int a = 0; a < rows; a++)
    for (int b = a; b < rows; b++)
      {
        double dot = 0;
        for (int c = 0; c < cols; c++)
          dot += (double) m[(gsize) a * cols + c] * m[(gsize) b * cols + c];
        double d = norm[a] * norm[b];
        float sim = d > 0 ? (float) (dot / d) : 0.0f;
        out[(gsize) a * rows + b] = sim;
        out[(gsize) b * rows + a] = sim;
      }
}

AsAttentionSteps *
as_attention_steps_compute (const float  *q,
                            const float  *k,
                            const float  *v,
                            int           n,
                            int           hidden,
                            int           n_heads,
                            int           head,
                            int           query,
                            gboolean      causal,
                            GError      **error)
{
  g_return_val_if_fail (q != NULL && k != NULL && v != NULL, NULL);

  if (n < 1 || n_heads < 1 || hidden < n_heads || hidden % n_heads != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "cannot split %d hidden units into %d heads for %d tokens", hidden, n_heads, n);
      return NULL;
    }
  if (head < 0 || head >= n_heads)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "head %d out of range (the layer has %d)", head, n_heads);
      return NULL;
    }
  if (query < 0 || query >= n)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "query token %d out of range (the text has %d tokens)", query, n);
      return NULL;
    }

  int d = hidden / n_heads;
  AsAttentionSteps *s = g_new0 (AsAttentionSteps, 1);
  s->n = n;
  s->head_dim = d;
  s->query = query;
  s->causal = causal;
  s->scale = 1.0 / sqrt ((double) d);
  s->q = g_new (float, d);               /* [d] */
  s->k = g_new (float, (gsize) n * d);   /* [n, d] */
  s->v = g_new (float, (gsize) n * d);   /* [n, d] */
  s->scores = g_new (double, n);         /* [n] */
  s->scaled = g_new (double, n);         /* [n] */
  s->masked = g_new (gboolean, n);       /* [n] */
  s->exps = g_new (double, n);           /* [n] */
  s->probs = g_new (double, n);          /* [n] */
  s->output = g_new0 (double, d);        /* [d] */

  const gsize off = (gsize) head * d;
  for (int c = 0; c < d; c++)
    s->q[c] = q[(gsize) query * hidden + off + c];
  for (int j = 0; j < n; j++)
    for (int c = 0; c < d; c++)
      {
        s->k[(gsize) j * d + c] = k[(gsize) j * hidden + off + c];
        s->v[(gsize) j * d + c] = v[(gsize) j * hidden + off + c];
      }

  s->max = -INFINITY;
  for (int j = 0; j < n; j++)
    {
      double dot = 0;
      for (int c = 0; c < d; c++)
        dot += (double) s->q[c] * s->k[(gsize) j * d + c];
      s->scores[j] = dot;
      s->scaled[j] = dot * s->scale;
      /* Single inputs have no padding; the only mask is the causal demo's. */
      s->masked[j] = causal && j > query;
      if (!s->masked[j])
        s->max = MAX (s->max, s->scaled[j]);
    }

  /* Shifted by the max, as every real softmax is, so exp never overflows;
   * the result is the same as without the shift. */
  s->exp_sum = 0;
  for (int j = 0; j < n; j++)
    {
      s->exps[j] = s->masked[j] ? 0.0 : exp (s->scaled[j] - s->max);
      s->exp_sum += s->exps[j];
    }
  for (int j = 0; j < n; j++)
    {
      s->probs[j] = s->exps[j] / s->exp_sum;
      for (int c = 0; c < d; c++)
        s->output[c] += s->probs[j] * s->v[(gsize) j * d + c];
    }
  return s;
}

void
as_attention_steps_free (AsAttentionSteps *steps)
{
  if (steps == NULL)
    return;
  g_free (steps->q);
  g_free (steps->k);
  g_free (steps->v);
  g_free (steps->scores);
  g_free (steps->scaled);
  g_free (steps->masked);
  g_free (steps->exps);
  g_free (steps->probs);
  g_free (steps->output);
  g_free (steps);
}

double
as_rope_angle (int   j,
               int   d,
               int   pos,
               float theta)
{
  g_return_val_if_fail (d > 1 && j >= 0 && j < d / 2, 0);
  /* The engine's own float steps (as_rope_head), so the angle shown is the
   * one that was applied. */
  const float inv_freq = 1.0f / powf (theta, (float) (2 * j) / (float) d);
  return (double) (inv_freq * (float) pos);
}

void
as_rope_unrotate (const float *rotated,
                  int          d,
                  int          pos,
                  float        theta,
                  float       *before)
{
  g_return_if_fail (rotated != NULL && before != NULL && d > 1);
  for (int c = 0; c < d; c++)
    before[c] = rotated[c];
  /* The angle of -POS is exactly minus the angle of POS in fp32: the same
   * cosines, the opposite sines, the inverse rotation. */
  as_rope_head (before, d, -pos, theta);
}
