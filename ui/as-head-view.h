/* as-head-view.h — one head's attention, large: the head view.
 *
 * Query tokens down the side, key tokens along the top (rotated), a colour
 * bar with its scale and the values printed in cells big enough for them;
 * drawn by the Cairo-only renderer (as-heatmap-render) into a texture that is
 * reused until something it shows changes, so hovering costs nothing. The
 * tooltip names the cell ("query 'it' -> key 'animal': 0.412"); clicking a
 * cell selects its query token; arrows and PageUp/PageDown move the
 * selection across heads and layers.
 *
 * What it shows is the view state's spec (as-shown.h): the selected head,
 * the mean or max of the selected layer's heads, or rollout through it, with
 * word pieces merged into words when asked. An AsAggregateBar above the
 * heatmap switches these (actions view.aggregate and view.words, inserted
 * here from the view state).
 */
#pragma once

#include <gtk/gtk.h>

#include "as-view-state.h"

G_BEGIN_DECLS

#define AS_TYPE_HEAD_VIEW (as_head_view_get_type ())
G_DECLARE_FINAL_TYPE (AsHeadView, as_head_view, AS, HEAD_VIEW, GtkWidget)

AsViewState *as_head_view_get_view_state (AsHeadView  *self);
void         as_head_view_set_view_state (AsHeadView  *self,
                                          AsViewState *state);

/* The bar of Head / Mean / Max / Rollout and Words above the heatmap. */
GtkWidget   *as_head_view_get_aggregate_bar (AsHeadView *self);

/* The tooltip text for the cell (ROW, COL) of the matrix on screen (rows
 * as shown), or NULL when there is no such cell on screen (g_free). */
char        *as_head_view_describe_cell  (AsHeadView  *self,
                                          int          row,
                                          int          col);

G_END_DECLS
