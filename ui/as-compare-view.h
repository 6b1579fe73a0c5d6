/* as-compare-view.h — two sentences, the same head, and their difference.
 *
 * Text A is the analysis on screen ("the sentence"); text B ("the
 * variant") has its own entry and is analysed on the worker's compare
 * channel, so typing in either never cancels the other. Both are drawn for
 * the selected layer and head; a third map shows B - A over the tokens the
 * two share (aligned by text, as_compare_align) on a diverging scale
 * centred on 0, with its range; the caption names the tokens without a
 * counterpart.
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
 * in); the difference map B - A of the selected head over the aligned
 * tokens, [n, n], or NULL when there is none (no token in common, or a side
 * is still on its way); which token of A and of B each of its rows is
 * (get_alignment returns n, 0 without a map); the caption under the maps.
 *
 * Property "busy" (boolean, read-only, notified): B is on its way (an edit
 * of the entry waits to be sent, or B's analysis is not complete). It is
 * also the view's accessible busy state. */
GtkEditable *as_compare_view_get_entry    (AsCompareView *self);
AsAnalysis  *as_compare_view_get_analysis (AsCompareView *self);
const float *as_compare_view_get_diff     (AsCompareView *self,
                                           int           *n);
int          as_compare_view_get_alignment (AsCompareView  *self,
                                            const int     **pair_a,
                                            const int     **pair_b);
const char  *as_compare_view_get_message  (AsCompareView *self);

/* Aligns token texts A [NA] and B [NB]: texts equal in both, in order (a
 * longest common subsequence), and between two of those, runs of the same
 * length position by position (a word swapped for another). Writes the
 * pairs, in order, to PAIR_A and PAIR_B (room for MIN (NA, NB) each) and
 * returns how many; tokens in no pair have no counterpart. */
int          as_compare_align             (const char * const *a,
                                           int                 na,
                                           const char * const *b,
                                           int                 nb,
                                           int                *pair_a,
                                           int                *pair_b);

G_END_DECLS
