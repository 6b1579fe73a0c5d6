/* as-position-view.h — a model's learned position embeddings beside the
 * sinusoidal encoding of the original Transformer.
 *
 * Four panels: the first N positions x hidden dimensions of each (signed,
 * diverging colours), and under each the cosine similarity between every
 * pair of those positions. The sinusoid is computed for the model's hidden
 * size (as-teach-math), so the two are the same shape.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-worker.h"

G_BEGIN_DECLS

#define AS_TYPE_POSITION_VIEW (as_position_view_get_type ())
G_DECLARE_FINAL_TYPE (AsPositionView, as_position_view, AS, POSITION_VIEW, GtkWidget)

GtkWidget   *as_position_view_new             (void);
/* Copies LEARNED [n_positions, hidden]; NULL shows why there is nothing. */
void         as_position_view_set_embeddings  (AsPositionView *self,
                                               const float    *learned,
                                               int             n_positions,
                                               int             hidden,
                                               const char     *model_name);
void         as_position_view_set_dark        (AsPositionView *self,
                                               gboolean        dark);
/* How many positions the panels show (clamped to 2 .. the model's). */
int          as_position_view_get_n_shown     (AsPositionView *self);
void         as_position_view_set_n_shown     (AsPositionView *self,
                                               int             n);

/* The matrix one of the four panels shows: the learned embeddings or the
 * sinusoid ([n_shown, hidden]), or with SIMILARITY their cosine
 * similarities ([n_shown, n_shown]); NULL before embeddings are set. */
const float *as_position_view_get_matrix      (AsPositionView *self,
                                               gboolean        sinusoid,
                                               gboolean        similarity,
                                               int            *rows,
                                               int            *cols);

/* A window around a new view, filled from WORKER's loaded model. */
GtkWindow   *as_position_window_new           (GtkWindow      *parent,
                                               AsWorker       *worker,
                                               gboolean        dark);

G_END_DECLS
