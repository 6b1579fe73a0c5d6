/* as-teach-view.h — scaled dot-product attention, one step at a time.
 *
 * For the selected layer and head and one query token, the view walks
 * through softmax(Q K^T / sqrt(d) + M) V with every number on screen: the
 * query vector, the key vectors, the raw scores, the scaling, the mask, the
 * softmax (checked against the engine's attention row) and the weighted sum
 * of the value vectors. Q, K and V come from the worker on demand (its QKV
 * channel). A switch recomputes everything with a causal mask, as a
 * demonstration, and shows that pattern beside the real one.
 */
#pragma once

#include <gtk/gtk.h>

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

/* Opens the position-embedding window (also a button in the view). */
GtkWindow        *as_teach_view_show_positions (AsTeachView *self);

G_END_DECLS
