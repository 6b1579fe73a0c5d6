/* as-head-view.h — one head's attention, large: the head view.
 *
 * Query tokens down the side, key tokens along the top (rotated), a colour
 * bar with its scale and the values printed in cells big enough for them;
 * drawn by the Cairo-only renderer (as-heatmap-render) into a texture that is
 * reused until something it shows changes, so hovering costs nothing. The
 * tooltip names the cell ("query 'it' -> key 'animal': 0.412"); clicking a
 * cell selects its query token; arrows and PageUp/PageDown move the
 * selection across heads and layers. Long inputs zoom in (Ctrl+wheel,
 * +/−) to a block drawn with its own labels, dragged or scrolled around.
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

/* The heatmap's text size (the colour bar's; token labels shrink from it
 * with the cells), in pixels: one size times the projector zoom. */
double       as_head_view_font_size      (AsHeadView  *self);
/* The frame on screen: its text size, its token labels' size and every
 * how many tokens a label is drawn (1 = all). FALSE while nothing is
 * drawn. */
gboolean     as_head_view_get_text_size  (AsHeadView  *self,
                                          double      *text,
                                          double      *labels,
                                          int         *stride);

/* Zoom and pan (Ctrl+wheel, +/−/0, drag, wheel): a SIZE x SIZE block of
 * the matrix whose first query row is ROW and first key column COL (rows
 * as shown), labelled alone; SIZE 0 shows the whole matrix. Clamped to the
 * matrix. get returns SIZE (0 for all). */
void         as_head_view_set_window     (AsHeadView  *self,
                                          int          size,
                                          int          row,
                                          int          col);
int          as_head_view_get_window     (AsHeadView  *self,
                                          int         *row,
                                          int         *col);

G_END_DECLS
