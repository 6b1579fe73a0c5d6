/* as-ablation.h — head ablation: switch a head off, and measure what that
 * does to the model's output.
 *
 * A request (as-backend.h) lists heads to ablate. Every backend computes a
 * head's attention probabilities P [n, n] as usual (row i = query i, over
 * the keys it may see: 0..i in a causal model or under the teaching mask,
 * all n otherwise) and, for an ablated head, replaces P by
 * as_ablation_replace before P meets V, so the head's output is
 * z_i = sum_j P'[i, j] v_j with P':
 *
 *  - zero:    P'[i, j] = 0, so z = 0: the head adds nothing to the output
 *             projection (whose bias, if any, stays: it belongs to the
 *             block, not to a head);
 *  - uniform: P'[i, j] = 1 / (number of keys query i may see) for those
 *             keys, 0 for the others;
 *  - mean:    bidirectional: P'[i, j] = (1 / n) sum over every query r of
 *             P[r, j], the same row for each query. Causal: P'[i, j] =
 *             (1 / (i + 1)) sum over r = 0..i of P[r, j], the mean of the
 *             rows up to i. That mean already lies on keys 0..i and sums to
 *             1 (each row r <= i does), so it is the whole-sequence mean
 *             renormalised over what row i may see, restricted to the rows
 *             that came before it: token i's output never depends on a
 *             later token, as in the unablated model.
 *
 * The attention a backend hands to on_layer is P' for an ablated head.
 *
 * Effect measures: a model with a language-model head (as-lm-head.h) is
 * measured by its next-token distribution at the last token, p = softmax
 * (logits): the KL divergence KL(p_before || p_after) in nats, and the
 * most likely tokens before with their probabilities before and after. A
 * model without one (an encoder) is measured by its sentence embedding,
 * the mean over tokens of the last hidden state (the pooling
 * sentence-transformers' all-MiniLM-L6-v2 uses): the cosine between before
 * and after. The score a ranking sorts by is the KL, or 1 - cosine.
 */
#pragma once

#include <glib.h>

#include "as-backend.h"

G_BEGIN_DECLS

#define AS_ABLATION_MAX_TOP 50

/* "zero", "uniform", "mean" (and "none"). */
const char   *as_ablate_mode_to_string (AsAblateMode mode);
/* The mode named NAME, or AS_ABLATE_NONE when it names none of the three. */
AsAblateMode  as_ablate_mode_from_string (const char *name);

/* FALSE, with a message, when REQ's ablation list names a layer or head
 * MODEL does not have, an unknown mode, or a count out of range. */
gboolean      as_ablation_check_request (const AsModel          *model,
                                         const AsForwardRequest *req,
                                         GError                **error);
/* How REQ ablates LAYER's head HEAD (the last entry naming it wins), or
 * AS_ABLATE_NONE. */
AsAblateMode  as_ablation_mode_of      (const AsForwardRequest *req,
                                        int                     layer,
                                        int                     head);
/* P [n, n] of one head, row i over keys 0..i when CAUSAL, else 0..n-1,
 * replaced in place by MODE's pattern (above); AS_ABLATE_NONE leaves it. */
void          as_ablation_replace      (float                  *p,
                                        int                     n,
                                        gboolean                causal,
                                        AsAblateMode            mode);
/* Decoding one token at a time (as-decode.h) ablates the same way, a row
 * at a time: the new token's ROW [n_ctx] over keys 0..n_ctx-1 (a causal
 * pattern's last row) replaced by MODE's, as as_ablation_replace would
 * replace that row. Mean needs SUM [n_ctx]: the column sums of the head's
 * rows before it, unablated (as_ablation_mean_sums of the prompt's, then
 * each row's added here, in row order as as_ablation_replace sums). */
void          as_ablation_replace_last_row (float              *row,
                                            int                 n_ctx,
                                            AsAblateMode        mode,
                                            float              *sum);
/* SUM [n] += the ROWS rows of P [rows, n] one after another: over a
 * head's whole P [n, n], the column sums a mean ablation has reached after
 * its last row. */
void          as_ablation_mean_sums    (const float            *p,
                                        int                     rows,
                                        int                     n,
                                        float                  *sum);
/* Replaces every head of LAYER that REQ ablates in ATT [n_heads, n, n]. */
void          as_ablation_apply_layer  (const AsForwardRequest *req,
                                        int                     layer,
                                        float                  *att,
                                        int                     n_heads,
                                        gboolean                causal);

/* Parses "L:H[:mode][,L:H[:mode]…]" with L and H counting from 1 as the
 * app and the CLI show them (mode zero when left out) into a new array of
 * AsHeadAblation (counting from 0; g_free) of *N_ABLATE entries, checked
 * against MODEL's layers and heads. */
AsHeadAblation *as_ablation_parse      (const AsModel          *model,
                                        const char             *spec,
                                        int                    *n_ablate,
                                        GError                **error);
/* "L:H:mode,…" counting from 1, as as_ablation_parse reads it (g_free). */
char           *as_ablation_format     (const AsHeadAblation   *ablate,
                                        int                     n_ablate);

/* What one ablation did to the output (see the top of this file). */
typedef struct {
  gboolean next_token;   /* TRUE: kl and the top tokens; FALSE: cosine */
  double   kl;           /* KL(p_before || p_after), nats */
  double   cosine;       /* cos(embedding before, after) */
  double   score;        /* kl, or 1 - cosine: larger is a bigger effect */
  int      n_top;        /* most likely next tokens before ablation */
  int      top_ids[AS_ABLATION_MAX_TOP];
  float    p_before[AS_ABLATION_MAX_TOP];
  float    p_after[AS_ABLATION_MAX_TOP];
  int      argmax_after; /* the most likely next token after; -1 for an encoder */
  float    p_argmax_after;
} AsAblationEffect;

/* The model's output on one input, as the measures read it. */
typedef struct _AsAblationOutput AsAblationOutput;

/* Runs BACKEND on IDS (TYPE_IDS may be NULL: all 0) with the N_ABLATE heads
 * of ABLATE ablated (none when 0), checking CANCEL between layers, and
 * keeps what the measures need. */
AsAblationOutput *as_ablation_output_compute (AsBackend            *backend,
                                              const int            *ids,
                                              const int            *type_ids,
                                              int                   n,
                                              const AsHeadAblation *ablate,
                                              int                   n_ablate,
                                              const gint           *cancel,
                                              GError              **error);
void              as_ablation_output_free    (AsAblationOutput     *output);
/* EFFECT of going from BEFORE to AFTER (the same model and input), with
 * the N_TOP (0..AS_ABLATION_MAX_TOP) most likely next tokens. */
void              as_ablation_effect_of      (const AsAblationOutput *before,
                                              const AsAblationOutput *after,
                                              int                     n_top,
                                              AsAblationEffect       *effect);
/* Both runs and the effect, in one call. */
gboolean          as_ablation_effect         (AsBackend            *backend,
                                              const int            *ids,
                                              const int            *type_ids,
                                              int                   n,
                                              const AsHeadAblation *ablate,
                                              int                   n_ablate,
                                              int                   n_top,
                                              AsAblationEffect     *effect,
                                              GError              **error);

/* One row of a ranked table: the effect of ablating one head alone. */
typedef struct {
  int    layer;          /* from 0 */
  int    head;           /* from 0 */
  double score;
  double kl;             /* decoders */
  double cosine;         /* encoders */
  int    argmax_after;   /* decoders: the most likely next token with it off */
} AsHeadRank;

/* Called after each head; FALSE stops the ranking (cancelled). */
typedef gboolean (*AsAblationProgress) (int      done,
                                        int      total,
                                        gpointer user_data);

/* Ablates each head of LAYER (from 0; -1: of every layer) alone with MODE,
 * one run each, and returns the AsHeadRank rows sorted by score, largest
 * first (ties by layer, then head). PROGRESS may be NULL; CANCEL (may be
 * NULL) is checked in every run. */
GArray *as_ablation_rank_heads (AsBackend          *backend,
                                const int          *ids,
                                const int          *type_ids,
                                int                 n,
                                int                 layer,
                                AsAblateMode        mode,
                                AsAblationProgress  progress,
                                gpointer            user_data,
                                const gint         *cancel,
                                GError            **error);

G_END_DECLS
