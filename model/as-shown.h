/* as-shown.h — attention as shown: the matrix every view, export, the CLI
 * and the statistics agree on.
 *
 * An AsShownSpec says what to show of an input's attention
 * ([layers, heads, n, n] with its AsEncoding); as_shown_compute turns it into
 * the matrix on screen (row = query, column = key) with its row/column labels
 * and, for each shown row, the original tokens it covers. The head view, the
 * lines view, the model grid, figures (export, Copy Image, attnscope-cli
 * export) all go through here, so what is exported is what is on screen. The
 * maths (mean, max, rollout, word merge, keeping rows) is in as-aggregate.h;
 * the decisions are here, in this order:
 *
 *  1. Aggregate, over all n tokens:
 *       head     A[layer, head]
 *       mean     (1/H) Σ_h A[layer, h]                   rows sum to 1
 *       max      max_h A[layer, h]                       rows sum to >= 1
 *       rollout  R_{layer}, Ahat_l = 0.5 mean_h A_l + 0.5 I, R_l = Ahat_l R_{l-1}
 *                (layers 1 .. layer, as-aggregate.h)     rows sum to 1
 *  2. Words (optional): a token and the "##" pieces after it are one word;
 *     attention TO a word is summed over its pieces, FROM a word averaged,
 *     so rows keep their sums. Special tokens are words of their own.
 *  3. Leave out rows and columns:
 *       sentence   keep only sentence A or B of a pair (by token type id:
 *                  [CLS] and the first [SEP] belong to A, the last [SEP]
 *                  to B);
 *       hide_special  THE rule for "hide special tokens", everywhere:
 *                  the [CLS]/[SEP]-class tokens are hidden, i.e. the tokens
 *                  the template adds around the sentences (sequence -1,
 *                  whatever the model calls them; a decoder's BOS when its
 *                  tokenizer adds one, else nothing) and any special token
 *                  spelled [CLS] or [SEP]. Other special tokens inside a
 *                  sentence ([MASK], [UNK]) stand for a word and stay. If
 *                  hiding would leave no token at all (an empty input is only
 *                  [CLS] [SEP]), nothing is hidden. as_shown_is_special() is
 *                  the predicate; the statistics' [CLS]/[SEP] classes use it
 *                  too.
 *  4. Renormalise (optional): when step 3 left something out, each row is
 *     rescaled to sum to 1 over what is shown (a row with no mass left stays
 *     0). Not for max, whose rows are not distributions.
 *
 * Layers and heads are 0-based, as in the engine.
 */
#pragma once

#include <glib.h>

#include "as-aggregate.h"
#include "as-attention.h"
#include "as-tokenizer.h"

G_BEGIN_DECLS

#define AS_SHOWN_ERROR (as_shown_error_quark ())
GQuark as_shown_error_quark (void);

typedef enum {
  AS_SHOWN_ERROR_INVALID,    /* a layer, head or sentence the input lacks */
} AsShownError;

typedef enum {
  AS_SHOWN_HEAD,
  AS_SHOWN_MEAN,
  AS_SHOWN_MAX,
  AS_SHOWN_ROLLOUT,
  AS_N_SHOWN_AGGREGATES
} AsShownAggregate;

typedef enum {
  AS_SHOWN_ALL,              /* every token */
  AS_SHOWN_SENTENCE_A,
  AS_SHOWN_SENTENCE_B,
  AS_N_SHOWN_SENTENCES
} AsShownSentence;

typedef struct {
  AsShownAggregate aggregate;
  int              layer;         /* rollout: up to and including it */
  int              head;          /* AS_SHOWN_HEAD only */
  gboolean         hide_special;
  gboolean         renormalise;
  gboolean         words;
  AsShownSentence  sentence;
} AsShownSpec;

/* Tokens as shown: rows and columns are the same units. */
typedef struct {
  int        n_tokens;     /* of the input */
  int        n;            /* rows = columns shown */
  int       *first;        /* [n + 1]: row r covers tokens[first[r] .. first[r + 1] - 1] */
  int       *tokens;       /* [first[n]]: encoding indices, ascending */
  int       *row_of;       /* [n_tokens]: the row holding each token, -1 when left out */
  char     **labels;       /* [n + 1], NULL-terminated, valid UTF-8 */
  int       *sentence;     /* [n]: 0 = A, 1 = B (type id) */
  gboolean  *special;      /* [n]: the row is a [CLS]/[SEP]-class token */

  /* How rows came about, for as_shown_matrix. */
  AsWordMap *words;        /* NULL when not merging */
  int        n_units;      /* tokens, or words when merging */
  gboolean  *keep;         /* [n_units] */
  gboolean   dropped;      /* something was left out (renormalising matters) */
} AsShownTokens;

typedef struct {
  AsShownTokens *tokens;
  float         *values;   /* [tokens->n, tokens->n] */
} AsShown;

/* aggregate head, layer 0, head 0, nothing hidden or merged, renormalise. */
void            as_shown_spec_init        (AsShownSpec       *spec);

/* "head", "mean", "max", "rollout"; -1 for an unknown name. */
const char     *as_shown_aggregate_name   (AsShownAggregate   aggregate);
int             as_shown_aggregate_from_name (const char     *name);
/* "all", "a", "b"; -1 for an unknown name. */
const char     *as_shown_sentence_name    (AsShownSentence    sentence);
int             as_shown_sentence_from_name (const char      *name);

/* What SPEC shows in words, for titles and captions:
 * "layer 3 · head 5", "layer 3 · mean of 12 heads", "layer 3 · max of 12
 * heads", "rollout through layer 3", then " · words", " · sentence B". */
char           *as_shown_spec_describe    (const AsShownSpec *spec,
                                           int                n_heads);

/* The hide-special rule's predicate (see above). */
gboolean        as_shown_is_special       (const AsToken     *token);

/* Rows/columns of ENC (NULL: N_TOKENS positions labelled by their index,
 * none special) under SPEC's words, hide_special and sentence. Word labels
 * are the original spelling when TEXT_A/TEXT_B are given ("Unaffable"), else
 * the pieces without "##" ("unaffable"). tokens->n is 0 when the sentence
 * asked for is not in the input. */
AsShownTokens  *as_shown_tokens_new       (const AsEncoding  *enc,
                                           int                n_tokens,
                                           const char        *text_a,
                                           const char        *text_b,
                                           const AsShownSpec *spec);
void            as_shown_tokens_free      (AsShownTokens     *tokens);

/* FALSE, with a message, when SPEC asks for a layer or head the input does
 * not have; READY is how many layers have arrived (N_LAYERS when all). */
gboolean        as_shown_check            (const AsShownSpec *spec,
                                           int                n_layers,
                                           int                n_heads,
                                           int                ready,
                                           GError           **error);

/* OUT [tokens->n, tokens->n] from ATTN [n_layers, n_heads, n, n] where
 * n = tokens->n_tokens; reads only the layers SPEC needs. TOKENS must come
 * from the same SPEC (its words/hide/sentence). Returns FALSE as
 * as_shown_check, with READY = N_LAYERS. */
gboolean        as_shown_matrix           (const AsShownTokens *tokens,
                                           const float       *attn,
                                           int                n_layers,
                                           int                n_heads,
                                           const AsShownSpec *spec,
                                           float             *out,
                                           GError           **error);

/* A token's text as every view labels it: line breaks, tabs and returns
 * drawn as ↵, ⇥ and ␍, a token of spaces as ␣ (one per space), an empty one
 * as ∅, so that no label looks empty (g_free). LABEL may be NULL ("?"). */
char           *as_shown_display_text     (const char        *label);

/* Both at once, for A (whose encoding may be NULL). */
AsShown        *as_shown_compute          (const AsAnalysis *a,
                                           const char        *text_a,
                                           const char        *text_b,
                                           const AsShownSpec *spec,
                                           GError           **error);
void            as_shown_free             (AsShown           *shown);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsShownTokens, as_shown_tokens_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsShown, as_shown_free)

G_END_DECLS
