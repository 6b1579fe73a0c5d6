/* as-teach-math.h — the arithmetic the teaching views show, without GTK.
 *
 * Scaled dot-product attention for one query token of one head, kept step by
 * step (scores, scaling, mask, softmax, weighted sum) so a view can print
 * every intermediate number; and the sinusoidal position encoding of
 * Vaswani et al. (2017, §3.5) with a cosine-similarity helper, to set beside
 * a model's learned position embeddings.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* OUT [n_positions, dim]: PE(pos, 2i) = sin(pos / 10000^(2i/dim)),
 * PE(pos, 2i+1) = cos(pos / 10000^(2i/dim)). An odd DIM ends on a sine. */
void      as_sinusoid_encoding  (int          n_positions,
                                 int          dim,
                                 float       *out);

/* OUT [rows, rows]: the cosine similarity of every pair of rows of
 * M [rows, cols]; a pair involving an all-zero row gives 0. */
void      as_cosine_similarity  (const float *m,
                                 int          rows,
                                 int          cols,
                                 float       *out);

/* One query's pass through one head, every intermediate kept. */
typedef struct {
  int       n;         /* keys (tokens) */
  int       head_dim;  /* d */
  int       query;     /* the query token */
  gboolean  causal;    /* keys after QUERY masked */
  double    scale;     /* 1 / sqrt(d) */
  float    *q;         /* [d] the query vector q_i of this head */
  float    *k;         /* [n, d] the key vectors k_j */
  float    *v;         /* [n, d] the value vectors v_j */
  double   *scores;    /* [n] q_i · k_j */
  double   *scaled;    /* [n] scores * scale */
  gboolean *masked;    /* [n] TRUE where the mask sets the score to -inf */
  double   *exps;      /* [n] exp(scaled_j - max), 0 where masked */
  double    exp_sum;   /* the softmax's denominator (over the shifted exps) */
  double    max;       /* the largest unmasked scaled score (the shift) */
  double   *probs;     /* [n] the softmax: this query's attention row */
  double   *output;    /* [d] sum_j probs_j v_j */
} AsAttentionSteps;

/* From Q, K, V [n, hidden] (as the engine's layer_qkv gives them; head H is
 * columns H*head_dim .. (H+1)*head_dim-1), the steps for token QUERY. NULL
 * (with ERROR) when HEAD, QUERY or the shapes are out of range. */
AsAttentionSteps *as_attention_steps_compute (const float  *q,
                                              const float  *k,
                                              const float  *v,
                                              int           n,
                                              int           hidden,
                                              int           n_heads,
                                              int           head,
                                              int           query,
                                              gboolean      causal,
                                              GError      **error);
void              as_attention_steps_free    (AsAttentionSteps *steps);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsAttentionSteps, as_attention_steps_free)

/* Rotary position embedding (RoPE, Su et al. 2021) as a Llama applies it
 * to a query or key of one head (as_rope_head in as-elementwise.h): pair
 * (j, j + d/2) turned by the angle pos * theta^(-2j/d). */

/* The angle pair J (0 <= J < D/2) is turned by at POS, in radians, as the
 * engine computes it (fp32). */
double    as_rope_angle         (int          j,
                                 int          d,
                                 int          pos,
                                 float        theta);
/* BEFORE [d]: ROTATED [d] (a vector the model rotated for position POS)
 * turned back by the same angles: what the projection gave before RoPE.
 * A rotation keeps lengths, so this is exact up to rounding. */
void      as_rope_unrotate      (const float *rotated,
                                 int          d,
                                 int          pos,
                                 float        theta,
                                 float       *before);

G_END_DECLS
