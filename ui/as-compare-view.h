/* as-compare-view.h — two sentences, the same head, and their difference.
 *
 * Text A is the analysis on screen; text B has its own entry and is analysed
 * on the worker's compare channel, so typing in either never cancels the
 * other. Both are drawn for the selected layer and head; when they tokenize
 * to the same length, a third map shows B - A on a diverging scale centred
 * on 0, with its range.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-view-state.h"
#include "as-worker.h"

G_BEGIN_DECLS

#define AS_COMPARE_DEFAULT_TEXT "The animal didn't cross the street because it was too wide."

#define AS_TYPE_COMPARE_VIEW (as_compare_view_get_type ())
G_DECLARE_FINAL_TYPE (AsCompareView, as_compare_view, AS, COMPARE_VIEW, GtkWidget)

GtkWidget   *as_compare_view_new          (void);
/* The "view-state" (A, the layer and head) and "worker" (B, on its compare
 * channel) properties. */
AsViewState *as_compare_view_get_view_state (AsCompareView *self);
void         as_compare_view_set_view_state (AsCompareView *self,
                                             AsViewState   *state);
AsWorker    *as_compare_view_get_worker   (AsCompareView *self);
void         as_compare_view_set_worker   (AsCompareView *self,
                                           AsWorker      *worker);

/* What the view shows: the entry of text B; B's analysis (NULL until it is
 * in); the difference map B - A of the selected head, [n, n], or NULL when
 * there is none (lengths differ, or a side is still on its way); the
 * caption under the maps.
 *
 * Property "busy" (boolean, read-only, notified): B is on its way (an edit
 * of the entry waits to be sent, or B's analysis is not complete). It is
 * also the view's accessible busy state. */
GtkEditable *as_compare_view_get_entry    (AsCompareView *self);
AsAnalysis  *as_compare_view_get_analysis (AsCompareView *self);
const float *as_compare_view_get_diff     (AsCompareView *self,
                                           int           *n);
const char  *as_compare_view_get_message  (AsCompareView *self);

G_END_DECLS
