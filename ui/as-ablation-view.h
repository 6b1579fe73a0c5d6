/* as-ablation-view.h — switch heads off and see what that does.
 *
 * The heads the user switched off (from the grid or the head view: the
 * window's "win.ablate-head" action, its menu and shortcut, toggle the
 * selected head), each replaced as the mode chooses (zero, uniform, mean:
 * model/as-ablation.h), and the effect of switching them all off on the
 * text on screen, computed by the worker: for a decoder the change in the
 * next-token distribution (KL divergence, the most likely tokens before
 * and after), for an encoder the cosine between the sentence embeddings
 * before and after. "Rank heads in this layer" ablates each head of the
 * selected layer alone, in the worker, with a progress bar, and lists them
 * by effect.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-view-state.h"
#include "as-worker.h"

G_BEGIN_DECLS

#define AS_TYPE_ABLATION_VIEW (as_ablation_view_get_type ())
G_DECLARE_FINAL_TYPE (AsAblationView, as_ablation_view, AS, ABLATION_VIEW, GtkWidget)

GtkWidget        *as_ablation_view_new            (void);
/* The "view-state" (the text and the selected layer) and "worker"
 * properties. */
void              as_ablation_view_set_view_state (AsAblationView *self,
                                                   AsViewState    *state);
void              as_ablation_view_set_worker     (AsAblationView *self,
                                                   AsWorker       *worker);
/* The "mode" new heads are switched off with (AsAblateMode as an int). */
AsAblateMode      as_ablation_view_get_mode       (AsAblationView *self);
void              as_ablation_view_set_mode       (AsAblationView *self,
                                                   AsAblateMode    mode);
/* Switches LAYER's HEAD off with the mode (or on again, when it is off)
 * and computes the effect on the text on screen. Notifies "ablated". */
void              as_ablation_view_toggle_head    (AsAblationView *self,
                                                   int             layer,
                                                   int             head);
/* Switches every head on again. */
void              as_ablation_view_clear          (AsAblationView *self);
/* The heads switched off now, [*n] (owned by SELF). */
const AsHeadAblation *as_ablation_view_get_ablated (AsAblationView *self,
                                                    int            *n);
/* How LAYER's HEAD is switched off, or AS_ABLATE_NONE. */
AsAblateMode      as_ablation_view_mode_of        (AsAblationView *self,
                                                   int             layer,
                                                   int             head);
/* How LAYER's HEAD is switched off by the ablation view of STATE (the
 * heads are kept on the view state, so that the grid can mark them), or
 * AS_ABLATE_NONE. */
AsAblateMode      as_ablation_view_state_mode_of  (AsViewState    *state,
                                                   int             layer,
                                                   int             head);
/* Ranks the selected layer's heads (the "Rank heads in this layer" button). */
void              as_ablation_view_rank_layer     (AsAblationView *self);
/* The worker's last result on screen (effect and/or ranking), or NULL
 * while one is on its way or there is none. */
AsWorkerAblation *as_ablation_view_get_result     (AsAblationView *self);
/* The effect as the page shows it, and the ranked table as text. */
const char       *as_ablation_view_get_effect_text (AsAblationView *self);
const char       *as_ablation_view_get_rank_text  (AsAblationView *self);

G_END_DECLS
