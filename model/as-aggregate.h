/* as-aggregate.h — attention combined across heads, layers and word pieces.
 *
 * The maths only: which of these a view shows, and which tokens it leaves
 * out, is decided in as-shown.h. Matrices are row-major float, row = query,
 * column = key, as everywhere in the engine. Definitions:
 *
 *   mean over heads   M[i,j] = (1/H) Σ_h A_h[i,j]        rows still sum to 1
 *   max over heads    X[i,j] = max_h A_h[i,j]            rows sum to >= 1
 *   rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in
 *   Transformers", with the residual term):
 *                     Ahat_l = 0.5 mean_h A_l + 0.5 I
 *                     R_1 = Ahat_1,  R_l = Ahat_l R_{l-1}
 *                     rows of R_l sum to 1; R_l[i,j] is how much of token j's
 *                     input reaches token i's output of layer l. With uniform
 *                     attention U in every layer, R_k = U + 2^-k (I - U).
 *   word merge (Clark et al. 2019, §4):
 *                     W[u,v] = (1/|u|) Σ_{i ∈ u} Σ_{j ∈ v} A[i,j]
 *                     attention TO a word is summed over its pieces, attention
 *                     FROM a word is averaged over its pieces; rows still sum
 *                     to 1.
 *   keep tokens       keep some rows and their columns; optionally
 *                     renormalise each kept row to sum to 1 (a row whose mass
 *                     was all on tokens left out stays all zero).
 */
#pragma once

#include <glib.h>

#include "as-tokenizer.h"

G_BEGIN_DECLS

/* ATTN [n_heads, n, n] -> OUT [n, n]. */
void as_aggregate_mean_heads (const float *attn,
                              int          n_heads,
                              int          n,
                              float       *out);
void as_aggregate_max_heads  (const float *attn,
                              int          n_heads,
                              int          n,
                              float       *out);

/* ATTN [n_layers, n_heads, n, n] (an AsAnalysis's attn) -> OUT
 * [n_layers, n, n] holding R_1 .. R_L. Computed in double precision. */
void as_aggregate_rollout      (const float *attn,
                                int          n_layers,
                                int          n_heads,
                                int          n,
                                float       *out);
/* Only R_{n_layers} (the last) into OUT [n, n]; the same arithmetic. */
void as_aggregate_rollout_last (const float *attn,
                                int          n_layers,
                                int          n_heads,
                                int          n,
                                float       *out);
/* One step, for layers arriving one at a time: LAYER_ATTN [n_heads, n, n],
 * PREV [n, n] = R_{l-1} or NULL for the first layer, OUT [n, n] = R_l.
 * OUT must not alias PREV. */
void as_aggregate_rollout_step (const float *layer_attn,
                                int          n_heads,
                                int          n,
                                const float *prev,
                                float       *out);

/* Keeps the tokens where KEEP[i] (KEEP [n]); ATTN [n, n] -> OUT [m, m] where
 * m, the number kept, is returned. */
int  as_aggregate_keep_tokens   (const float    *attn,
                                 int             n,
                                 const gboolean *keep,
                                 gboolean        renormalise,
                                 float          *out);

/* Words: a token that is not a "##" continuation starts a word and the
 * continuation pieces after it join it; every special token is a word of its
 * own (so "[CLS] un ##aff ##able , world [SEP]" has 5 words). Words are
 * contiguous runs of tokens. */
typedef struct {
  int       n_tokens;
  int       n_words;
  int      *word_of_token;  /* [n_tokens] */
  int      *first_token;    /* [n_words + 1]; word w is tokens
                               first_token[w] .. first_token[w + 1] - 1 */
  char    **labels;         /* [n_words + 1], NULL-terminated: the pieces
                               joined, "##" removed ("unaffable") */
  gboolean *is_special;     /* [n_words] */
} AsWordMap;

AsWordMap *as_word_map_from_encoding (const AsEncoding *enc);
void       as_word_map_free          (AsWordMap        *map);
/* ATTN [n_tokens, n_tokens] -> OUT [n_words, n_words]. */
void       as_word_map_merge         (const AsWordMap  *map,
                                      const float      *attn,
                                      float            *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsWordMap, as_word_map_free)

G_END_DECLS
