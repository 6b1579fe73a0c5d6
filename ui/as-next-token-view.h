/* as-next-token-view.h — what a decoder predicts after the text.
 *
 * The ten most likely next tokens of the analysis on screen, as bars of
 * softmax (logits / T) over the whole vocabulary, with a temperature slider
 * that reshapes them live: T < 1 sharpens the distribution, T > 1 flattens
 * it, the order never changes. While a decoder generates, the bars follow
 * each step, and the token the step picked is highlighted. An encoder has
 * no language-model head; the view then says so.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-export-dialog.h"
#include "as-figure.h"
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
/* During a generation, the token the step on screen picked (highlighted
 * among the bars, or in a row below them) and its probability at the
 * slider's T; FALSE otherwise. */
gboolean     as_next_token_view_get_picked     (AsNextTokenView *self,
                                                int             *id,
                                                float           *prob);
/* The caption and the bars as a figure, PATH as FORMAT (AUTO: from the
 * extension), black on white; FALSE with the reason (nothing on screen, a
 * file that cannot be written). */
gboolean     as_next_token_view_save           (AsNextTokenView *self,
                                                const char      *path,
                                                AsFigureFormat   format,
                                                GError         **error);
/* Asks for a file and a format (as_export_drawing_dialog_show), then
 * saves; DONE is called with the path written or the error (none when the
 * user cancels). */
void         as_next_token_view_export_dialog  (AsNextTokenView *self,
                                                GtkWindow       *parent,
                                                AsExportDone     done);
/* The line above the bars: what they are, or why there are none. */
const char  *as_next_token_view_get_caption    (AsNextTokenView *self);

G_END_DECLS
