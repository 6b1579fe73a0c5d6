/* as-lens-render.h — the logit lens as a figure: layers x positions.
 *
 * Each cell is the token the residual stream after that layer would predict
 * next at that position (as-logit-lens.h), written in the cell, with the
 * cell coloured by its probability on a 0–1 colour map. The last layer (the
 * model's own prediction) is the top row, the first layer the bottom row, so
 * reading upwards follows the stream through the model. One drawing for the
 * screen (the lens view) and for PNG, SVG and PDF files.
 *
 * Layers are counted from 0 here (slots of the AsLogitLens); labels show
 * them from 1, as the rest of the app does.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "as-colormap.h"
#include "as-figure.h"
#include "as-heatmap-render.h"
#include "as-logit-lens.h"

G_BEGIN_DECLS

typedef struct {
  const AsLogitLens *lens;
  const char * const *labels;   /* [n_layers, n, k] what each of LENS's ids stands for */
  const char * const *tokens;   /* [n] the input tokens (column heads), or NULL */
  AsColormapId        colormap;
  gboolean            dark;
  double              font_size; /* pixels; 0: 12 */
  int                 sel_slot;  /* the outlined cell: layer slot and position, -1 none */
  int                 sel_pos;
  const char         *title;     /* a line above, or NULL */
} AsLensFigure;

/* Where things are, in pixels, for a figure at its natural size. */
typedef struct {
  double width, height;          /* the whole figure */
  double cells_x, cells_y;       /* top-left of the top-left cell */
  double cell_w, cell_h;
  double bar_y;                  /* the colour bar's top */
} AsLensLayout;

void      as_lens_figure_init    (AsLensFigure       *figure);
void      as_lens_layout         (const AsLensFigure *figure,
                                  AsLensLayout       *layout);
/* The row on screen of layer slot SLOT (the last layer is row 0), and back. */
int       as_lens_row_of_slot    (const AsLensFigure *figure,
                                  int                 slot);
/* The cell under (X, Y): its layer slot and position; FALSE outside. */
gboolean  as_lens_hit            (const AsLensFigure *figure,
                                  const AsLensLayout *layout,
                                  double              x,
                                  double              y,
                                  int                *slot,
                                  int                *pos);
/* Draws the figure, background included, at its natural size. */
void      as_lens_render         (cairo_t            *cr,
                                  const AsLensFigure *figure);
/* Writes it to PATH (.png, .svg or .pdf, or FORMAT) as as_figure_save_drawing. */
gboolean  as_lens_save           (const AsLensFigure *figure,
                                  const char         *path,
                                  const char * const *protect,
                                  AsFigureFormat      format,
                                  GError            **error);

G_END_DECLS
