/* as-heatmap-render.h — draw attention heatmaps with Cairo and Pango only.
 *
 * No GTK here: the app's widgets, the exporter (PNG/SVG/PDF) and the CLI all
 * draw through these functions, so a figure looks the same everywhere.
 *
 * Two ways to paint cells: AS_CELLS_IMAGE builds one RGBA image from a
 * colour-map lookup table and scales it with CAIRO_FILTER_NEAREST (fast, for
 * the screen); AS_CELLS_VECTOR emits one rectangle per cell (vector output
 * stays vector in SVG and PDF).
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "as-colormap.h"

G_BEGIN_DECLS

typedef enum {
  AS_CELLS_IMAGE,
  AS_CELLS_VECTOR,
} AsCellMode;

/* One matrix and how to draw it. VALUES is [rows, cols] row-major. */
typedef struct {
  const float        *values;
  int                 rows;
  int                 cols;
  const char * const *row_labels;   /* [rows] or NULL: query tokens */
  const char * const *col_labels;   /* [cols] or NULL: key tokens (drawn rotated) */
  float               vmin;         /* colour scale, usually 0 .. 1 */
  float               vmax;
  AsColormapId        colormap;
  AsCellMode          cell_mode;
  gboolean            annotate;     /* print values in cells large enough */
  gboolean            colorbar;     /* draw the colour bar with its scale */
  gboolean            dark;         /* dark background, light text */
  const char         *title;        /* NULL for none; a newline starts a lighter 2nd line */
  int                 highlight_row;/* -1 for none */
  int                 highlight_col;/* -1 for none */
  const char         *font;         /* Pango font family, NULL = "Sans" */
  /* Set by as_heatmap_spec_init: */
  double              font_size;    /* title/colour-bar text in user units; 0 = from the size */
  const char         *colorbar_label; /* beside the colour bar, e.g. "attention"; NULL none */
  const char         *row_title;    /* axis title left of the row labels ("query"); NULL none */
  const char         *col_title;    /* axis title above the column labels ("key"); NULL none */
  gboolean            causal;       /* a causal model's matrix: the cells above the
                                     * diagonal (a key after its query) are masked,
                                     * drawn hatched in grey and never as a value */
  int                 row_offset;   /* with CAUSAL, a block of a larger matrix: the */
  int                 col_offset;   /* index of its first row and column there, so
                                     * the mask falls where that matrix has it */
  int                 padding_from; /* > 0: the columns from this one on are padding
                                     * keys a mask hides from every query: hatched like
                                     * CAUSAL's cells, never a value. 0 = none */
  int                 max_blocks;   /* draw at most this many cells per side, larger
                                     * matrices as block means (bounds vector file
                                     * size); 0 = no limit */
  int                 split_row;    /* a sentence pair: the first row and column of */
  int                 split_col;    /* sentence B (as_heatmap_pair_split); a line is
                                     * drawn before it, marked "A" and "B" beside the
                                     * labels. 0 = not a pair, or no boundary shown */
} AsHeatmapSpec;

/* Where things landed, for hit-testing (tooltips, clicks). */
typedef struct {
  double cells_x, cells_y;          /* top-left of the cell area */
  double cell_w, cell_h;            /* size of one cell */
  double colorbar_x, colorbar_y, colorbar_w, colorbar_h;
  int    row_stride, col_stride;    /* every Nth token label is drawn (1 = all) */
  int    pool;                      /* cells drawn as POOL x POOL block means (1 = none) */
  double label_font_size;           /* token labels, user units */
} AsHeatmapLayout;

/* Room that the title, labels and colour bar need around the cells. */
typedef struct {
  double left, top, right, bottom;
} AsHeatmapMargins;

void     as_heatmap_spec_init   (AsHeatmapSpec   *spec);

/* Draws SPEC into the rectangle (0, 0, WIDTH, HEIGHT) of CR. LAYOUT may be NULL. */
void     as_heatmap_render      (cairo_t              *cr,
                                 const AsHeatmapSpec  *spec,
                                 double                width,
                                 double                height,
                                 AsHeatmapLayout      *layout);

/* The top of a fitted colour scale for VALUES [ROWS, COLS] (with CAUSAL,
 * the cells above the diagonal left out): the largest value for small
 * matrices (up to 400 cells, where every cell can be read), else the 98th
 * percentile, as seaborn's robust=True and xarray's robust plots choose it:
 * at hundreds of tokens one strong cell (a row on [CLS]) would otherwise
 * leave everything else in the darkest colour. Cells above it take the
 * top colour. */
#define AS_HEATMAP_ROBUST_QUANTILE 0.98
float    as_heatmap_robust_max  (const float *values,
                                 int          rows,
                                 int          cols,
                                 gboolean     causal);
/* Whether a ROWS x COLS matrix is fitted to its percentile (TRUE) or its
 * largest value, and the colour bar's label that says which. */
gboolean as_heatmap_fit_is_robust (int rows,
                                   int cols);
const char *
         as_heatmap_fit_label   (int rows,
                                 int cols);

/* Where sentence B starts among N shown rows whose sentences (0 = A,
 * 1 = B) are SENTENCE [N]: the first row of B that follows a row of A, 0
 * when the rows are not both A and B (one sentence, or one kept). Derived
 * from the rows as shown, so hidden specials and word merging move it. */
int      as_heatmap_pair_split  (const int   *sentence,
                                 int          n);

/* A cell's value as printed in it: two decimals without the leading zero
 * (".05") on a 0 .. 1 scale (VMIN >= 0, VMAX <= 1), where a value that
 * would round to 0 or 1 without being it reads "<.01" or ">.99" (only an
 * exact 0 or 1 prints as "0" or "1"); two significant digits on any other
 * scale. BUF holds at least 16 bytes. */
void     as_heatmap_format_value (char  *buf,
                                  gsize  size,
                                  float  v,
                                  float  vmin,
                                  float  vmax);

/* The text size as_heatmap_render uses for a WIDTH x HEIGHT area when the
 * spec's font_size is 0. */
double   as_heatmap_auto_font_size (double width,
                                    double height);

/* The margins SPEC needs around a block of square cells of size CELL. */
void     as_heatmap_measure     (cairo_t              *cr,
                                 const AsHeatmapSpec  *spec,
                                 double                cell,
                                 AsHeatmapMargins     *margins);

/* Draws SPEC with square cells of size CELL; (X, Y) is the top-left corner
 * of the margins returned by as_heatmap_measure(), so panels drawn with the
 * same CELL line up. LAYOUT may be NULL. */
void     as_heatmap_render_at   (cairo_t              *cr,
                                 const AsHeatmapSpec  *spec,
                                 double                x,
                                 double                y,
                                 double                cell,
                                 AsHeatmapLayout      *layout);

/* Width a colour bar (bar, ticks, tick labels, SPEC's colorbar_label) takes. */
double   as_heatmap_colorbar_width (cairo_t             *cr,
                                    const AsHeatmapSpec *spec);
/* Draws the colour bar of SPEC (its colour map, vmin..vmax, cell_mode, dark)
 * with its bar's top-left at (X, Y), HEIGHT tall. */
void     as_heatmap_render_colorbar (cairo_t             *cr,
                                     const AsHeatmapSpec *spec,
                                     double               x,
                                     double               y,
                                     double               height);

/* Just the cells, as an RGBA image of ROWS x COLS pixels (for thumbnails). */
cairo_surface_t *
         as_heatmap_cells_image (const AsHeatmapSpec  *spec);

/* Cell under (X, Y) in LAYOUT; FALSE when outside the cells. */
gboolean as_heatmap_hit_test    (const AsHeatmapLayout *layout,
                                 const AsHeatmapSpec   *spec,
                                 double                 x,
                                 double                 y,
                                 int                   *row,
                                 int                   *col);

G_END_DECLS
