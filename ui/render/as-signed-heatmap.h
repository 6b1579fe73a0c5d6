/* as-signed-heatmap.h — matrices of signed values (differences, vectors,
 * embeddings, cosine similarities) on a diverging scale centred on 0.
 *
 * Cairo and Pango only. The attention colour maps run from 0 to 1; a
 * difference B - A or a query vector needs negative and positive values to
 * look different and 0 to look neutral, so these use a blue-white-red scale
 * over [-range, +range] and always say what the range is.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "as-heatmap-render.h"

G_BEGIN_DECLS

/* Packed 0xAARRGGBB (opaque): blue for -RANGE, white for 0, red for +RANGE,
 * V clamped; a NaN or RANGE <= 0 gives the neutral colour. */
guint32 as_diverging_argb        (float        v,
                                  float        range);

/* The largest |value| of VALUES [n]; 0 when all are 0 (or N is 0). */
float   as_signed_range          (const float *values,
                                  gsize        n);

/* Fills the rectangle (X, Y, W, H) with VALUES [rows, cols], each cell
 * coloured by as_diverging_argb (no gaps, no labels). */
void    as_signed_cells_paint    (cairo_t     *cr,
                                  const float *values,
                                  int          rows,
                                  int          cols,
                                  float        range,
                                  double       x,
                                  double       y,
                                  double       w,
                                  double       h);

/* A vertical colour bar at (X, Y), HEIGHT tall, ticks -RANGE, 0, +RANGE and
 * LABEL (may be NULL) beside it; returns the width it took. With DRAW FALSE
 * only measures. */
double  as_signed_colorbar       (cairo_t     *cr,
                                  float        range,
                                  const char  *label,
                                  double       font_size,
                                  gboolean     dark,
                                  gboolean     draw,
                                  double       x,
                                  double       y,
                                  double       height);

/* SPEC drawn by as_heatmap_render (token labels, titles, square cells), its
 * cells painted on the diverging scale over [-RANGE, RANGE] and a signed
 * colour bar beside them. SPEC's colormap, vmin, vmax, colorbar and annotate
 * are ignored. LAYOUT may be NULL. */
void    as_signed_heatmap_render (cairo_t             *cr,
                                  const AsHeatmapSpec *spec,
                                  float                range,
                                  double               width,
                                  double               height,
                                  AsHeatmapLayout     *layout);

/* A free-aspect panel for wide matrices (positions x dimensions): TITLE on
 * top, VALUES [rows, cols] stretched to fill what is left, axis titles with
 * the first and last index (each axis counted from ROW_FIRST, COL_FIRST:
 * token positions from 1, as the app shows them, vector dimensions from 0),
 * and a signed colour bar. */
void    as_signed_panel_render   (cairo_t     *cr,
                                  const float *values,
                                  int          rows,
                                  int          cols,
                                  float        range,
                                  const char  *title,
                                  const char  *row_title,
                                  const char  *col_title,
                                  int          row_first,
                                  int          col_first,
                                  double       font_size,
                                  gboolean     dark,
                                  double       width,
                                  double       height);

G_END_DECLS
