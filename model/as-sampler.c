/* as-sampler.c — greedy, temperature, top-k and top-p choice of the next
 * token, with a generator of its own. */
#include "as-sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "as-error.h"

typedef struct {
  float value;   /* logit / temperature */
  int   id;
} AsScored;

struct _AsSampler {
  AsSamplerOptions options;
  int       vocab;
  AsRandom  rng;
  AsScored *sorted;  /* [vocab] scaled logits, most likely first */
  double   *prob;    /* [vocab] softmax over the kept set, in SORTED's order */
  int       kept;    /* how many of SORTED the last pick kept */
};

/* ---- the generator ----------------------------------------------------------- */

/* splitmix64 spreads any seed (0 included) over xoshiro's 256 bits of state. */
static guint64
splitmix64 (guint64 *x)
{
  guint64 z = (*x += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

void
as_random_seed (AsRandom *rng,
                guint64   seed)
{
  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64 (&seed);
}

static guint64
rotl (guint64 x,
      int     k)
{
  return (x << k) | (x >> (64 - k));
}

/* xoshiro256**. */
static guint64
next_u64 (AsRandom *rng)
{
  guint64 *s = rng->s;
  guint64 result = rotl (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

/* The top 53 bits: every double in [0, 1) on a 2^-53 grid, equally likely. */
double
as_random_uniform (AsRandom *rng)
{
  return (double) (next_u64 (rng) >> 11) * 0x1.0p-53;
}

/* ---- options ------------------------------------------------------------------ */

void
as_sampler_options_init (AsSamplerOptions *options)
{
  options->temperature = 0.0;
  options->top_k = 0;
  options->top_p = 1.0;
  options->seed = 0;
}

gboolean
as_sampler_options_check (const AsSamplerOptions *options,
                          GError                **error)
{
  if (!isfinite (options->temperature) || options->temperature < 0.0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "temperature %g: it must be 0 (greedy) or a positive number",
                   options->temperature);
      return FALSE;
    }
  if (options->top_k < 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "top-k %d: it must be 0 (off) or a positive number of tokens", options->top_k);
      return FALSE;
    }
  if (!(options->top_p > 0.0 && options->top_p <= 1.0))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "top-p %g: it must be above 0 and at most 1 (1: off)", options->top_p);
      return FALSE;
    }
  return TRUE;
}

AsSampler *
as_sampler_new (const AsSamplerOptions *options,
                int                     vocab,
                GError                **error)
{
  if (!as_sampler_options_check (options, error))
    return NULL;
  if (vocab < 1)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "a vocabulary of %d tokens: nothing to sample from", vocab);
      return NULL;
    }
  AsSampler *self = g_new0 (AsSampler, 1);
  self->options = *options;
  self->vocab = vocab;
  as_random_seed (&self->rng, options->seed);
  self->sorted = g_new (AsScored, vocab);
  self->prob = g_new (double, vocab);
  return self;
}

void
as_sampler_free (AsSampler *self)
{
  if (self == NULL)
    return;
  g_free (self->sorted);
  g_free (self->prob);
  g_free (self);
}

/* ---- choosing ------------------------------------------------------------------ */

/* The first index of the largest value: torch.argmax's choice among ties. */
static int
argmax (const float *v,
        int          n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best])
      best = i;
  return best;
}

/* Larger value first, then lower id: one order on every machine. */
static int
compare_desc (const void *a,
              const void *b)
{
  const AsScored *x = a, *y = b;
  if (x->value != y->value)
    return x->value > y->value ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* How many of the sorted tokens top-k keeps: the k largest and any tie
 * with the k-th. */
static int
keep_top_k (const AsScored *sorted,
            int             n,
            int             k)
{
  if (k <= 0 || k >= n)
    return n;
  float kth = sorted[k - 1].value;
  int kept = k;
  while (kept < n && sorted[kept].value >= kth)
    kept++;
  return kept;
}

/* PROB [kept] = softmax of the kept scaled logits, in sorted order. */
static void
softmax_kept (const AsScored *sorted,
              int             kept,
              double         *prob)
{
  double max = sorted[0].value;
  double sum = 0.0;
  for (int i = 0; i < kept; i++)
    sum += prob[i] = exp ((double) sorted[i].value - max);
  for (int i = 0; i < kept; i++)
    prob[i] /= sum;
}

/* How many of the most likely tokens reach probability P together (at
 * least one). */
static int
keep_top_p (const double *prob,
            int           kept,
            double        p)
{
  if (p >= 1.0)
    return kept;
  double cum = 0.0;
  for (int i = 0; i < kept; i++)
    {
      cum += prob[i];
      if (cum >= p)
        return i + 1;
    }
  return kept;
}

int
as_sampler_pick (AsSampler   *self,
                 const float *logits)
{
  const int n = self->vocab;
  if (self->options.temperature == 0.0)
    {
      int best = argmax (logits, n);
      self->sorted[0] = (AsScored) { logits[best], best };
      self->prob[0] = 1.0;
      self->kept = 1;
      return best;
    }

  for (int i = 0; i < n; i++)
    self->sorted[i] = (AsScored) { logits[i] / (float) self->options.temperature, i };
  qsort (self->sorted, n, sizeof (AsScored), compare_desc);
  int kept = keep_top_k (self->sorted, n, self->options.top_k);
  softmax_kept (self->sorted, kept, self->prob);
  kept = keep_top_p (self->prob, kept, self->options.top_p);

  /* Renormalised over what top-p kept. */
  double total = 0.0;
  for (int i = 0; i < kept; i++)
    total += self->prob[i];
  for (int i = 0; i < kept; i++)
    self->prob[i] /= total;
  self->kept = kept;

  double u = as_random_uniform (&self->rng);
  double cum = 0.0;
  for (int i = 0; i < kept; i++)
    {
      cum += self->prob[i];
      if (u < cum)
        return self->sorted[i].id;
    }
  /* Rounding left the sum a hair under 1 and U above it. */
  return self->sorted[kept - 1].id;
}

int
as_sampler_last_kept (AsSampler *self,
                      float     *probs)
{
  memset (probs, 0, sizeof (float) * self->vocab);
  for (int i = 0; i < self->kept; i++)
    probs[self->sorted[i].id] = (float) self->prob[i];
  return self->kept;
}

/* ---- the model's distribution ---------------------------------------------------- */

void
as_sampler_top_k (const float *logits,
                  int          vocab,
                  int          k,
                  int         *ids,
                  float       *probs)
{
  as_sampler_top_k_scaled (logits, vocab, 1.0, k, ids, probs);
}

void
as_sampler_top_k_scaled (const float *logits,
                         int          vocab,
                         double       temperature,
                         int          k,
                         int         *ids,
                         float       *probs)
{
  g_return_if_fail (temperature > 0);
  /* Denominator over the whole vocabulary, from the largest logit. */
  float max = logits[argmax (logits, vocab)];
  double sum = 0.0;
  for (int i = 0; i < vocab; i++)
    sum += exp (((double) logits[i] - max) / temperature);

  /* Insertion into a short sorted list: K is a handful. */
  int have = 0;
  for (int i = 0; i < vocab && k > 0; i++)
    {
      if (have == k && !(logits[i] > logits[ids[k - 1]]))
        continue;
      int at = have < k ? have++ : k - 1;
      while (at > 0 && logits[i] > logits[ids[at - 1]])
        {
          ids[at] = ids[at - 1];
          at--;
        }
      ids[at] = i;
    }
  for (int j = 0; j < have; j++)
    probs[j] = (float) (exp (((double) logits[ids[j]] - max) / temperature) / sum);
}
