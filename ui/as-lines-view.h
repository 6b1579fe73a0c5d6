/* as-lines-view.h — the "head view" of bertviz: attention as lines.
 *
 * The visible tokens twice, queries (from) on the left and keys (to) on the
 * right; a line from query i to key j for every shown head of the selected
 * layer, in that head's colour, with opacity = the weight (as shown: hidden
 * [CLS]/[SEP], renormalised rows and words respected). When the view state
 * shows the layer's mean or max, or rollout (its AsAggregateBar above the
 * toolbar switches this), the one combined matrix is drawn instead, in the
 * accent colour, and the head toggles wait. Lines under
 * AS_LINES_MIN_WEIGHT are skipped (invisible anyway, and it keeps 128 tokens
 * fast). Hovering a token shows only its lines; clicking one (or Up/Down on
 * the focused canvas) moves the view state's token, whose lines then stay
 * shown until Escape. A row of coloured toggles picks the heads; in pair mode
 * a filter keeps lines within or across sentences A and B (by type id).
 *
 * Each paint reports to as-trace (view 'l') how many lines it drew.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-view-state.h"

G_BEGIN_DECLS

#define AS_LINES_MIN_WEIGHT 0.01f

typedef enum {
  AS_LINES_ALL,
  AS_LINES_A_TO_A,
  AS_LINES_A_TO_B,
  AS_LINES_B_TO_A,
  AS_LINES_B_TO_B,
  AS_N_LINES_FILTERS
} AsLinesFilter;

#define AS_TYPE_LINES_VIEW (as_lines_view_get_type ())
G_DECLARE_FINAL_TYPE (AsLinesView, as_lines_view, AS, LINES_VIEW, GtkWidget)

GtkWidget    *as_lines_view_new              (void);
AsViewState  *as_lines_view_get_view_state   (AsLinesView  *self);
void          as_lines_view_set_view_state   (AsLinesView  *self,
                                              AsViewState  *state);

AsLinesFilter as_lines_view_get_filter       (AsLinesView  *self);
void          as_lines_view_set_filter       (AsLinesView  *self,
                                              AsLinesFilter filter);
gboolean      as_lines_view_get_head_shown   (AsLinesView  *self,
                                              int           head);
void          as_lines_view_set_head_shown   (AsLinesView  *self,
                                              int           head,
                                              gboolean      shown);
/* All heads on (TRUE) or off (FALSE), like the All/None buttons. */
void          as_lines_view_show_all_heads   (AsLinesView  *self,
                                              gboolean      shown);

G_END_DECLS
