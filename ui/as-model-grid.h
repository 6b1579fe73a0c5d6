/* as-model-grid.h — the model view: a layers x heads grid of thumbnails.
 *
 * Each thumbnail is the head's attention max-pooled to the thumbnail's pixel
 * size, colour-mapped once into a texture when its layer arrives, and drawn
 * 1:1; a repaint only places textures. Click or arrow keys select a head;
 * PageUp/PageDown move across layers. The selected token's row and column
 * are highlighted in every thumbnail.
 *
 * "Colour by" a head statistic rings each thumbnail in that head's colour
 * (as-stats-cache: min-max over all heads, a palette for the pattern) with
 * a one-line legend below; the thumbnails themselves are not rebuilt.
 *
 * Thumbnails are single heads with the view state's rows (hidden specials,
 * words). The line under the grid says what the head view shows
 * ("Showing: layer 3 · mean of 12 heads · words"), and the accent frame
 * surrounds the heads it comes from: the selected one, its layer's row for
 * mean and max, every layer up to it for rollout.
 *
 * Each snapshot reports to as-trace (view 'g') the layers and thumbnails it
 * drew, how many of those it had to build, and how long it took.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-stats-cache.h"
#include "as-view-state.h"

G_BEGIN_DECLS

#define AS_TYPE_MODEL_GRID (as_model_grid_get_type ())
G_DECLARE_FINAL_TYPE (AsModelGrid, as_model_grid, AS, MODEL_GRID, GtkWidget)

AsViewState *as_model_grid_get_view_state (AsModelGrid *self);
void         as_model_grid_set_view_state (AsModelGrid *self,
                                           AsViewState *state);

/* Property "colour-by" (uint, an AsStatId). */
AsStatId     as_model_grid_get_colour_by  (AsModelGrid *self);
void         as_model_grid_set_colour_by  (AsModelGrid *self,
                                           AsStatId     stat);
/* What the ring of LAYER, HEAD shows: the statistic's value and colour.
 * FALSE when not colouring or that head's statistics are not in yet. */
gboolean     as_model_grid_get_stat_colour (AsModelGrid *self,
                                            int          layer,
                                            int          head,
                                            double      *value,
                                            double       rgb[3]);

/* The "Showing: …" line (NULL without an analysis). */
const char  *as_model_grid_get_caption    (AsModelGrid *self);
/* Query heads drawn together per key/value head (grouped-query attention:
 * n_heads / n_kv_heads); 1 when every head has its own. */
int          as_model_grid_get_kv_group   (AsModelGrid *self);
/* Where the thumbnail of LAYER, HEAD is drawn, in the grid's coordinates;
 * FALSE before the grid is laid out or out of range. */
gboolean     as_model_grid_get_thumb_rect (AsModelGrid     *self,
                                           int              layer,
                                           int              head,
                                           graphene_rect_t *rect);

G_END_DECLS
