/* as-aggregate-bar.h — "what is shown" controls for the head and lines views.
 *
 * A row of linked buttons (Head, Mean, Max, Rollout) and a Words toggle,
 * and beside them what is on screen ("rollout through layer 3 · words").
 * The buttons are actionable (view.aggregate, view.words): the bar inserts
 * its view state's actions as the "view" group, so any number of bars, and
 * the state itself, stay in step without knowing each other.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-view-state.h"

G_BEGIN_DECLS

#define AS_TYPE_AGGREGATE_BAR (as_aggregate_bar_get_type ())
G_DECLARE_FINAL_TYPE (AsAggregateBar, as_aggregate_bar, AS, AGGREGATE_BAR, GtkWidget)

GtkWidget   *as_aggregate_bar_new             (void);
AsViewState *as_aggregate_bar_get_view_state  (AsAggregateBar *self);
void         as_aggregate_bar_set_view_state  (AsAggregateBar *self,
                                               AsViewState    *state);
/* What the note beside the buttons says (for tests). */
const char  *as_aggregate_bar_get_description (AsAggregateBar *self);
/* The button for AGGREGATE, and the Words toggle (for tests and hosts). */
GtkWidget   *as_aggregate_bar_get_button      (AsAggregateBar  *self,
                                               AsShownAggregate aggregate);
GtkWidget   *as_aggregate_bar_get_words_button (AsAggregateBar *self);
/* Whether the note is shown (default TRUE; the lines view, whose heads
 * come from its own toggles, leaves it out). */
void         as_aggregate_bar_set_show_description (AsAggregateBar *self,
                                                    gboolean        show);

G_END_DECLS
