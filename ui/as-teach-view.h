/* as-teach-view.h — scaled dot-product attention, one step at a time.
 *
 * For the selected layer and head and one query token, the view walks
 * through the whole layer with every number on screen: how its input is
 * built from embeddings; softmax(Q K^T / sqrt(d) + M) V step by step (the
 * query vector, the key vectors, the raw scores, the scaling, the mask, the
 * softmax checked against the engine's attention row, the weighted sum of
 * the value vectors); every head together and W_O; the residual and norm;
 * the feed-forward network; the layer's output; and a padding mask beside
 * a causal one. Q, K and V come from the worker on demand (its QKV
 * channel), the rest from its layer trace (trace channel). A switch
 * recomputes everything with a causal mask, as a demonstration, and shows
 * that pattern beside the real one.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-layer-render.h"
#include "as-teach-math.h"
#include "as-teach-render.h"
#include "as-view-state.h"
#include "as-worker.h"

G_BEGIN_DECLS

#define AS_TYPE_TEACH_VIEW (as_teach_view_get_type ())
G_DECLARE_FINAL_TYPE (AsTeachView, as_teach_view, AS, TEACH_VIEW, GtkWidget)


GtkWidget        *as_teach_view_new            (void);
/* The "view-state" (text, layer, head, token) and "worker" (Q, K, V and the
 * causal demonstration, on its side channels) properties. */
AsViewState      *as_teach_view_get_view_state (AsTeachView *self);
void              as_teach_view_set_view_state (AsTeachView *self,
                                                AsViewState *state);
AsWorker         *as_teach_view_get_worker     (AsTeachView *self);
void              as_teach_view_set_worker     (AsTeachView *self,
                                                AsWorker    *worker);

AsTeachStep       as_teach_view_get_step       (AsTeachView *self);
void              as_teach_view_set_step       (AsTeachView *self,
                                                AsTeachStep  step);
/* The query token: follows the view state's token when one is selected. */
int               as_teach_view_get_query      (AsTeachView *self);
void              as_teach_view_set_query      (AsTeachView *self,
                                                int          token);
gboolean          as_teach_view_get_causal     (AsTeachView *self);
void              as_teach_view_set_causal     (AsTeachView *self,
                                                gboolean     causal);

/* What the view shows: the steps (NULL while Q, K, V are on their way), the
 * largest |softmax - engine attention row| that the softmax step reports
 * (negative until both are in), and the causal demonstration's analysis
 * (NULL when off or not yet in).
 *
 * Property "busy" (boolean, read-only, notified): something is on its way
 * (Q, K, V, the engine row, the causal analysis). It is also the view's
 * accessible busy state. */
const AsAttentionSteps *
                  as_teach_view_get_steps      (AsTeachView *self);
double            as_teach_view_get_check      (AsTeachView *self);
AsAnalysis       *as_teach_view_get_causal_analysis (AsTeachView *self);
/* What the step says, in words (the text under its title). */
const char       *as_teach_view_get_step_text  (AsTeachView *self);
/* For a model with RoPE: the key whose rotation is shown, and q and that
 * k before their rotation ([head_dim] each, owned by the view); FALSE
 * without RoPE or steps. */
gboolean          as_teach_view_get_rope       (AsTeachView  *self,
                                                int          *key,
                                                const float **q_before,
                                                const float **k_before);

/* The step's plain-language line (above its details), the "Step k of N"
 * counter and the formula, as on screen. */
const char       *as_teach_view_get_step_plain   (AsTeachView *self);
const char       *as_teach_view_get_counter_text (AsTeachView *self);
const char       *as_teach_view_get_formula_text (AsTeachView *self);

/* The layer trace the steps past the attention show (the selected layer of
 * the text on screen, with the padding demonstration), or NULL while it is
 * on its way. */
AsWorkerTrace    *as_teach_view_get_trace        (AsTeachView *self);

/* The checks those steps print, negative while unknown. */
typedef enum {
  AS_TEACH_CHECK_Z,        /* max |the trace's z of the selected head - the weighted-sum step's| */
  AS_TEACH_CHECK_ATTN,     /* max |the trace's attention - the grid's|, the layer's every head */
  AS_TEACH_CHECK_PADDING,  /* max as_layer_padding_difference of the two sentences, selected head */
} AsTeachLayerCheck;
double            as_teach_view_get_layer_check  (AsTeachView       *self,
                                                  AsTeachLayerCheck  which);

/* Property "padding-text": the second sentence of the padding
 * demonstration (the window binds the Compare tab's sentence to it); the
 * tab's own default or nothing means a short sentence of the view's own. */
const char       *as_teach_view_get_padding_text (AsTeachView *self);
void              as_teach_view_set_padding_text (AsTeachView *self,
                                                  const char  *text);

/* Opens the position-embedding window (also a button in the view). */
GtkWindow        *as_teach_view_show_positions (AsTeachView *self);

G_END_DECLS
