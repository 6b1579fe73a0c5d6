/* as-next-token-view.h — what a decoder predicts after the text.
 *
 * The ten most likely next tokens of the analysis on screen, as bars of
 * softmax (logits / T) over the whole vocabulary, with a temperature slider
 * that reshapes them live: T < 1 sharpens the distribution, T > 1 flattens
 * it, the order never changes. An encoder has no language-model head; the
 * view then says so.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-view-state.h"
#include "as-worker.h"

G_BEGIN_DECLS

#define AS_TYPE_NEXT_TOKEN_VIEW (as_next_token_view_get_type ())
G_DECLARE_FINAL_TYPE (AsNextTokenView, as_next_token_view, AS, NEXT_TOKEN_VIEW, GtkWidget)

GtkWidget   *as_next_token_view_new            (void);
/* The "view-state" (the analysis on screen) and "worker" (when that
 * analysis is complete, its logits are) properties. */
AsViewState *as_next_token_view_get_view_state (AsNextTokenView *self);
void         as_next_token_view_set_view_state (AsNextTokenView *self,
                                                AsViewState     *state);
AsWorker    *as_next_token_view_get_worker     (AsNextTokenView *self);
void         as_next_token_view_set_worker     (AsNextTokenView *self,
                                                AsWorker        *worker);
/* The temperature slider (its adjustment's value is T). */
GtkRange    *as_next_token_view_get_temperature (AsNextTokenView *self);
/* What the bars show now: how many (0 while there is nothing to show),
 * and candidate I's token id, label and probability. */
int          as_next_token_view_get_n_shown    (AsNextTokenView *self);
gboolean     as_next_token_view_get_shown      (AsNextTokenView *self,
                                                int              i,
                                                int             *id,
                                                const char     **label,
                                                float           *prob);
/* The line above the bars: what they are, or why there are none. */
const char  *as_next_token_view_get_caption    (AsNextTokenView *self);

G_END_DECLS
