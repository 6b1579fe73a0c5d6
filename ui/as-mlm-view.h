/* as-mlm-view.h — what an encoder would put in place of a masked token.
 *
 * For a model saved with its masked-LM head (as-mlm-head.h): the user
 * selects a token in the strip and masks it (win.mask-token: the button
 * here, the strip's context menu, Ctrl+M); the text is analysed again with
 * that token written as [MASK], so every view shows the masked input's
 * attention, and this view shows the ten most probable tokens for each
 * [MASK] as bars, the masked token's own bar marked. Unmasking
 * (win.unmask-token, Ctrl+Shift+M) restores the text. For a model without
 * the head the mask action is off and the view says why.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-view-state.h"
#include "as-worker.h"

G_BEGIN_DECLS

#define AS_TYPE_MLM_VIEW (as_mlm_view_get_type ())
G_DECLARE_FINAL_TYPE (AsMlmView, as_mlm_view, AS, MLM_VIEW, GtkWidget)

GtkWidget   *as_mlm_view_new             (void);
/* The "view-state" (the analysis and the selected token) and "worker"
 * (whether the model has the head; the predictions come with the
 * finished analysis) properties. */
void         as_mlm_view_set_view_state  (AsMlmView   *self,
                                          AsViewState *state);
void         as_mlm_view_set_worker      (AsMlmView   *self,
                                          AsWorker    *worker);
/* The entries whose text is masked: sentence A and B. */
void         as_mlm_view_set_entries     (AsMlmView   *self,
                                          GtkEditable *entry_a,
                                          GtkEditable *entry_b);

/* Whether the selected token can be masked now ("can-mask", notified when
 * it changes); if not, *WHY (may be NULL) says why, for a tooltip. */
gboolean     as_mlm_view_can_mask        (AsMlmView   *self,
                                          const char **why);
/* Whether there is a masked text to restore ("can-unmask"). */
gboolean     as_mlm_view_can_unmask      (AsMlmView   *self);
/* Writes [MASK] in place of the selected token in its entry (the text is
 * analysed again as after any edit); FALSE when it cannot be masked. */
gboolean     as_mlm_view_mask_selected   (AsMlmView   *self);
/* Puts back the text as it was before the first mask. */
void         as_mlm_view_unmask          (AsMlmView   *self);

/* What the view shows: the number of [MASK]s with predictions (0 while
 * there are none), and prediction R of mask M. */
int          as_mlm_view_get_n_masks     (AsMlmView   *self);
gboolean     as_mlm_view_get_prediction  (AsMlmView   *self,
                                          int          m,
                                          int          r,
                                          int         *position,
                                          int         *id,
                                          const char **label,
                                          float       *prob);
/* The heading over mask M's predictions: its position, counted from 1, and
 * the token it replaced; NULL when there is no mask M (g_free). */
char        *as_mlm_view_describe_mask   (AsMlmView   *self,
                                          int          m);
/* The line above the bars: what they are, or why there are none. */
const char  *as_mlm_view_get_caption     (AsMlmView   *self);

G_END_DECLS
