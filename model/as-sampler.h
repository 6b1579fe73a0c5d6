/* as-sampler.h — the next token from a decoder's logits.
 *
 * Defined as transformers' generate defines it: greedy (temperature 0) is
 * the argmax, the lowest id among ties (torch.argmax's choice). Otherwise
 * the logits are divided by the temperature; top-k keeps the tokens whose
 * scaled logit is at least the k-th largest (ties with it stay, as
 * TopKLogitsWarper keeps them); top-p keeps, of what is left, the smallest
 * set of most likely tokens whose softmax probability sums to at least p
 * (always one token at least, as TopPLogitsWarper); one token is then drawn
 * from the softmax over the kept set. Greedy ignores top-k and top-p, as
 * generate with do_sample=False does.
 *
 * Draws come from the sampler's own xoshiro256** generator seeded through
 * splitmix64, so the same seed and the same logits give the same tokens on
 * every machine.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  double  temperature;  /* 0: greedy; else > 0 */
  int     top_k;        /* 0: off; else >= 1 */
  double  top_p;        /* 1: off; else in (0, 1] */
  guint64 seed;
} AsSamplerOptions;

typedef struct _AsSampler AsSampler;

/* Greedy, no filters, seed 0. */
void       as_sampler_options_init (AsSamplerOptions       *options);
/* FALSE, with a message naming the option, for a temperature that is
 * negative or not finite, a negative top-k, a top-p outside (0, 1]. */
gboolean   as_sampler_options_check (const AsSamplerOptions *options,
                                     GError                **error);

/* For logits of VOCAB entries; NULL with the reason for bad OPTIONS. */
AsSampler *as_sampler_new          (const AsSamplerOptions *options,
                                    int                     vocab,
                                    GError                **error);
/* The next token from LOGITS [vocab], which must be finite. */
int        as_sampler_pick         (AsSampler              *self,
                                    const float            *logits);
/* How many tokens the filters of the last pick kept (1 for greedy), and
 * their probabilities renormalised over the kept set: PROBS [vocab] gets 0
 * for every token that was filtered out. For tests and displays. */
int        as_sampler_last_kept    (AsSampler              *self,
                                    float                  *probs);
void       as_sampler_free         (AsSampler              *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsSampler, as_sampler_free)

/* The model's own distribution: IDS [k] and PROBS [k] get the K most
 * likely tokens of softmax (LOGITS [vocab]) at temperature 1, most likely
 * first, lower id first among equals. K <= VOCAB. */
void       as_sampler_top_k        (const float            *logits,
                                    int                     vocab,
                                    int                     k,
                                    int                    *ids,
                                    float                  *probs);
/* The same for softmax (LOGITS / TEMPERATURE), TEMPERATURE > 0: what
 * sampling at that temperature draws from before top-k and top-p. */
void       as_sampler_top_k_scaled (const float            *logits,
                                    int                     vocab,
                                    double                  temperature,
                                    int                     k,
                                    int                    *ids,
                                    float                  *probs);

/* The generator alone, for tests: a uniform double in [0, 1). */
typedef struct {
  guint64 s[4];
} AsRandom;

void       as_random_seed          (AsRandom               *rng,
                                    guint64                 seed);
double     as_random_uniform       (AsRandom               *rng);

G_END_DECLS
