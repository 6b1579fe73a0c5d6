/* as-teach-text.h — the words of the teaching view.
 *
 * Each step's title and plain-language line, its formula (Pango markup)
 * and the details under them, written from the numbers the view holds.
 * No widgets: the view gathers what a step reads into an AsTeachTextInput
 * and sets its labels from what these return, and anything else (a test,
 * an export) can say the same words.
 */
#pragma once

#include <glib.h>

#include "as-analysis.h"
#include "as-layer-trace.h"
#include "as-teach-math.h"
#include "as-teach-render.h"

G_BEGIN_DECLS

/* What the words of a step read; everything borrowed from the caller. */
typedef struct {
  AsTeachStep             step;
  const AsAnalysis       *analysis;       /* the text's, or NULL before one */
  int                     layer;          /* the layer selected, from 0 */
  int                     head;           /* the head selected, from 0 */
  int                     query;          /* the query token (clamped where read) */
  gboolean                causal;         /* the causal demonstration is on */
  gboolean                dark;           /* the formula's marker for a dark theme */

  /* The attention steps (Q, K, V). */
  const AsAttentionSteps *steps;          /* NULL while Q, K, V are on their way */
  const char             *error;          /* why Q, K, V failed, or NULL */
  int                     n_heads;        /* of the Q, K, V on hand; 0 without */
  int                     n_kv_heads;     /* < n_heads: grouped-query attention */
  int                     n_rows;         /* keys shown; < steps->n: said so */
  gboolean                rope;           /* q and one k are shown before RoPE too */
  int                     rope_key;       /* that key, when ROPE */

  /* The whole layer (the trace). */
  const AsLayerTrace     *trace;          /* the one on hand, maybe for another text; or NULL */
  gboolean                trace_current;  /* TRACE belongs to the text, layer and padding text now selected */
  const char             *trace_error;    /* why the trace failed, or NULL */
  const AsPaddingDemo    *padding;        /* with TRACE: the padded batch, or NULL */
  const char             *padding_error;  /* with TRACE: why there is no PADDING, or NULL */
  const char             *padding_text;   /* the second sentence PADDING was computed with */
} AsTeachTextInput;

/* "k. Title" (newly allocated) and the plain-language line under it (a
 * translated static string, not to be freed). */
char       *as_teach_text_title   (const AsTeachTextInput *in);
const char *as_teach_text_plain   (const AsTeachTextInput *in);
/* The formula of the step, as Pango markup: for the attention steps the
 * attention formula with the step's part highlighted. Newly allocated. */
char       *as_teach_text_formula (const AsTeachTextInput *in);
/* What the step says, in detail, on the numbers in IN. Newly allocated. */
char       *as_teach_text_details (const AsTeachTextInput *in);

G_END_DECLS
