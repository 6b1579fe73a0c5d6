/* as-head-stats.h — per-head attention statistics with published definitions.
 *
 * For one head's attention A [n, n] (row i = query, column j = key, rows sum
 * to 1) and the classes of its n tokens, every statistic below is a mean over
 * the n query rows (Clark et al. 2019, "What Does BERT Look
 * At?"; Voita et al. 2019 for confidence):
 *
 *   to_cls, to_sep, to_punct  (1/n) Σ_i Σ_{j ∈ T} A[i,j]   T = [CLS], [SEP],
 *                             punctuation tokens
 *   to_self                   (1/n) Σ_i A[i,i]
 *   to_next                   (1/n) Σ_{i<n-1} A[i,i+1]     (the last row has
 *   to_prev                   (1/n) Σ_{i>0}   A[i,i-1]      no next token, so
 *                             an exact shifted diagonal scores (n-1)/n)
 *   entropy                   A' = 0.9999 A + 0.0001/n, mean over rows of
 *                             -Σ_j A'[i,j] ln A'[i,j]  (nats; uniform = ln n)
 *   distance                  (1/n) Σ_i Σ_j A[i,j] |i - j|  (in tokens;
 *                             uniform = (n² - 1) / (3n))
 *   confidence                (1/n) Σ_i max_j A[i,j]
 *   block                     (1/n) Σ_i Σ_{j: seg(j) = seg(i)} A[i,j], the
 *                             mass a query keeps inside its own segment of a
 *                             pair; NaN when the input has one segment
 *   sink                      (1/n) Σ_i A[i,0], the attention-sink share:
 *                             the mass every query puts on the first token
 *                             whatever it is (Xiao et al. 2023, "Efficient
 *                             Streaming Language Models with Attention
 *                             Sinks"). In a decoder row 0 sees only key 0,
 *                             so it is at least 1/n; in BERT it equals
 *                             to_cls, [CLS] being first.
 *
 * Token classes come from an AsEncoding (as_token_classes_from_encoding):
 *   [CLS]  a special token whose text is "[CLS]", or the template token at
 *          position 0;
 *   [SEP]  a special token whose text is "[SEP]", or any other template token;
 *          together, the tokens "hide special tokens" leaves out
 *          (as_shown_is_special in as-shown.h);
 *   punctuation  a non-special token whose text (a leading "##" removed) is
 *          non-empty and made only of punctuation characters: Unicode general
 *          category P* plus the ASCII symbols BERT's pre-tokenizer splits off
 *          as punctuation (33-47, 58-64, 91-96, 123-126, e.g. "$", "+", "=").
 *          These are exactly the characters that become one-character words
 *          before WordPiece, so a punctuation token is what the tokenizer
 *          isolated as punctuation.
 *   segment  the token's type id (0 = [CLS] A [SEP], 1 = B [SEP]).
 *
 * Pattern labels (Kovaleva et al. 2019, "Revealing the Dark Secrets of BERT",
 * figure 1). Kovaleva et al. labelled heatmaps by eye and then trained a CNN on
 * 400 annotated maps; they publish no numeric rule. We label from the
 * statistics above, first match wins:
 *
 *   vertical       to_cls + to_sep      >= AS_PATTERN_VERTICAL_MIN (0.5)
 *   diagonal       to_prev + to_next    >= AS_PATTERN_DIAGONAL_MIN (0.5)
 *   block          block (pairs only)   >= AS_PATTERN_BLOCK_MIN    (0.8)
 *   heterogeneous  anything else
 *
 * Why these numbers: 0.5 means "most of the attention" goes to the special
 * columns / the ±1 off-diagonals (Kovaleva et al. 2019, "Revealing the Dark
 * Secrets of BERT", describe vertical and diagonal patterns as mass on those
 * cells), which is what makes those stripes
 * dominate a heatmap. Two stripes cannot both hold more than half the mass
 * except through the cells they share, so the order rarely matters; vertical
 * goes first because Kovaleva et al. found it the most frequent class (about
 * 30% of their annotated maps) and their "vertical+diagonal" class is folded
 * into it. Block needs a higher bar: even uniform attention keeps
 * (n_A² + n_B²)/n² >= 0.5 of its mass inside the own segment, and 0.8 exceeds
 * that baseline whenever the shorter segment holds more than ~11% of the
 * tokens. Diagonal excludes the main diagonal (to_self): the pattern is
 * attention to the neighbouring token.
 */
#pragma once

#include <glib.h>

#include "as-attention.h"
#include "as-tokenizer.h"

G_BEGIN_DECLS

typedef enum {
  AS_TOKEN_CLASS_CLS   = 1 << 0,
  AS_TOKEN_CLASS_SEP   = 1 << 1,
  AS_TOKEN_CLASS_PUNCT = 1 << 2,
} AsTokenClassFlags;

typedef struct {
  int     n;           /* tokens */
  guint8 *flags;       /* [n] AsTokenClassFlags */
  int    *segment;     /* [n] 0 = sentence A, 1 = sentence B */
  int     n_segments;  /* 1 + the largest segment id */
} AsTokenClasses;

/* All tokens plain, one segment; fill flags/segment by hand (tests). */
AsTokenClasses *as_token_classes_new           (int               n);
AsTokenClasses *as_token_classes_from_encoding (const AsEncoding *enc);
void            as_token_classes_free          (AsTokenClasses   *classes);
/* Recounts n_segments after segment[] was edited by hand. */
void            as_token_classes_update        (AsTokenClasses   *classes);

/* TRUE when TEXT (a leading "##" removed) is non-empty valid UTF-8 made only
 * of punctuation characters as defined above. */
gboolean        as_text_is_punctuation         (const char       *text);

#define AS_HEAD_STATS_SMOOTHING  1e-4   /* A' = (1 - s) A + s / n */

typedef struct {
  double entropy;
  double to_cls;
  double to_sep;
  double to_punct;
  double to_self;
  double to_prev;
  double to_next;
  double distance;
  double confidence;
  double block;       /* NaN for a single segment */
  double sink;        /* attention on key 0 */
} AsHeadStats;

typedef enum {
  AS_PATTERN_HETEROGENEOUS,
  AS_PATTERN_VERTICAL,
  AS_PATTERN_DIAGONAL,
  AS_PATTERN_BLOCK,
  AS_N_PATTERNS
} AsPattern;

#define AS_PATTERN_VERTICAL_MIN  0.5
#define AS_PATTERN_DIAGONAL_MIN  0.5
#define AS_PATTERN_BLOCK_MIN     0.8

/* Statistics of one head. ATTN [n, n]; CLASSES->n must equal N. */
void        as_head_stats_compute      (const float          *attn,
                                        int                   n,
                                        const AsTokenClasses *classes,
                                        AsHeadStats          *out);
/* Every head of A. OUT [n_layers, n_heads]. CLASSES may be NULL to derive
 * them from a->encoding (which must then be set). */
void        as_head_stats_compute_all  (const AsAnalysis     *a,
                                        const AsTokenClasses *classes,
                                        AsHeadStats          *out);

AsPattern   as_head_stats_pattern      (const AsHeadStats    *stats);
const char *as_pattern_to_string       (AsPattern             pattern);

/* Running means over many inputs, one cell per (layer, head). Each input
 * weighs the same (a mean of per-input means); block is averaged over the
 * inputs that have one (pairs). Also counts each input's pattern label. */
typedef struct {
  int          n_layers;
  int          n_heads;
  gint64       n_inputs;
  AsHeadStats *sum;            /* [n_layers, n_heads] */
  gint64      *n_block;        /* [n_layers, n_heads] inputs with a block value */
  gint64      *pattern_count;  /* [n_layers, n_heads, AS_N_PATTERNS] */
} AsHeadStatsSum;

AsHeadStatsSum *as_head_stats_sum_new   (int                   n_layers,
                                         int                   n_heads);
void            as_head_stats_sum_free  (AsHeadStatsSum       *sum);
/* Adds one input's statistics for one layer: STATS [n_heads]. Call it for
 * every layer of an input, then as_head_stats_sum_next_input(). */
void            as_head_stats_sum_add_layer (AsHeadStatsSum   *sum,
                                             int               layer,
                                             const AsHeadStats *stats);
void            as_head_stats_sum_next_input (AsHeadStatsSum  *sum);
/* Mean over the inputs so far (zeros and NaN block before any). */
void            as_head_stats_sum_mean  (const AsHeadStatsSum *sum,
                                         int                   layer,
                                         int                   head,
                                         AsHeadStats          *out);
/* Fraction of inputs whose own label for (LAYER, HEAD) was PATTERN. */
double          as_head_stats_sum_pattern_share (const AsHeadStatsSum *sum,
                                                 int                   layer,
                                                 int                   head,
                                                 AsPattern             pattern);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsTokenClasses, as_token_classes_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsHeadStatsSum, as_head_stats_sum_free)

G_END_DECLS
