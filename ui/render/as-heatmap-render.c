/* as-heatmap-render.c — one heatmap with its labels, title and colour bar.
 *
 * Cairo and Pango only. Geometry first, drawing second: token labels are
 * measured once at a reference size and every other size is derived from
 * them, so finding the largest cell size that fits costs no text layout.
 *
 * Text is laid out with hinting off, so a figure has the same geometry in
 * PNG, SVG and PDF and the label sizes scale linearly.
 */
#include "as-heatmap-render.h"

#include <math.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <string.h>

#define REF_FONT     10.0  /* labels are measured once at this size */
#define LINE_HEIGHT  1.2   /* a text line's height per unit of font size */
#define N_TICKS      5     /* colour-bar ticks: vmin, quarters, vmax */
#define LABEL_CAP    9.0   /* longest token label, in units of its font size */

/* Below this many device units (pixels, points) per cell, cells are drawn as
 * block means: a screen cannot show more than one cell per pixel, and a
 * vector file with more rectangles than a printer has dots only gets bigger. */
#define MIN_IMAGE_CELL  1.0
#define MIN_VECTOR_CELL 0.5

typedef struct {
  PangoLayout          *layout;
  PangoFontDescription *desc;
} Text;

typedef struct {
  double row;   /* widest row label at REF_FONT */
  double col;   /* widest column label at REF_FONT */
  double tick;  /* widest colour-bar tick label at REF_FONT */
  double mark;  /* the wider of the bold "A" and "B" at REF_FONT */
} LabelWidths;

/* Sizes that follow from the cell size; all in user units. */
typedef struct {
  double font;          /* title, axis titles, colour bar */
  double label_font;    /* token labels */
  double cell;
  int    row_stride;
  int    col_stride;
  double label_gap;     /* between a label and the cells */
  double tick_len;      /* tick marks beside thinned-out labels */
  double row_title_w;
  double row_labels_w;
  double title_h;
  double col_title_h;
  double col_labels_h;
  double colorbar_gap;
  double colorbar_w;    /* without the gap */
  double bottom;
  double mark_font;     /* the "A" and "B" of a sentence pair */
  double marks_w;       /* right of the cells: the rows' "A" and "B" */
  double marks_h;       /* below the cells: the columns' "A" and "B" */
} Geometry;

typedef struct {
  cairo_t             *cr;
  const AsHeatmapSpec *spec;
  Text                 text;
  LabelWidths          widths;
  double               font;
} Renderer;

/* ---- text ---------------------------------------------------------------- */

static void
text_init (Text                *text,
           cairo_t             *cr,
           const AsHeatmapSpec *spec)
{
  PangoContext *context = pango_cairo_create_context (cr);
  cairo_font_options_t *options = cairo_font_options_create ();
  /* Unhinted metrics: same layout on every surface, widths linear in size. */
  cairo_font_options_set_hint_metrics (options, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_hint_style (options, CAIRO_HINT_STYLE_NONE);
  pango_cairo_context_set_font_options (context, options);
  cairo_font_options_destroy (options);

  text->layout = pango_layout_new (context);
  pango_layout_set_single_paragraph_mode (text->layout, TRUE);
  g_object_unref (context);
  text->desc = pango_font_description_from_string (spec->font != NULL ? spec->font : "Sans");
}

static void
text_clear (Text *text)
{
  g_clear_object (&text->layout);
  g_clear_pointer (&text->desc, pango_font_description_free);
}

/* MAX_WIDTH > 0 elides the end of longer text. */
static void
text_set (Text       *text,
          const char *str,
          double      size,
          gboolean    bold,
          double      max_width)
{
  pango_font_description_set_absolute_size (text->desc, size * PANGO_SCALE);
  pango_font_description_set_weight (text->desc, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
  pango_layout_set_font_description (text->layout, text->desc);
  pango_layout_set_width (text->layout, max_width > 0 ? (int) (max_width * PANGO_SCALE) : -1);
  pango_layout_set_ellipsize (text->layout, max_width > 0 ? PANGO_ELLIPSIZE_END : PANGO_ELLIPSIZE_NONE);
  pango_layout_set_text (text->layout, str != NULL ? str : "", -1);
}

static void
text_size (Text   *text,
           double *width,
           double *height)
{
  PangoRectangle logical;
  pango_layout_get_extents (text->layout, NULL, &logical);
  if (width != NULL)
    *width = logical.width / (double) PANGO_SCALE;
  if (height != NULL)
    *height = logical.height / (double) PANGO_SCALE;
}

/* Draws the current text with its logical box's left edge at X and its
 * vertical centre at CY. */
static void
text_show (Text    *text,
           cairo_t *cr,
           double   x,
           double   cy)
{
  double h;
  text_size (text, NULL, &h);
  cairo_move_to (cr, x, cy - h / 2);
  pango_cairo_show_layout (cr, text->layout);
}

/* The same, turned 90° anticlockwise: reads upwards from (X, Y), centred on X. */
static void
text_show_rotated (Text    *text,
                   cairo_t *cr,
                   double   x,
                   double   y)
{
  cairo_save (cr);
  cairo_translate (cr, x, y);
  cairo_rotate (cr, -G_PI / 2);
  text_show (text, cr, 0, 0);
  cairo_restore (cr);
}

/* The highlighted label is drawn bold, so it is measured bold: a long word
 * highlighted must not be cut at the edge. */
static double
measure_widest (Text               *text,
                const char * const *labels,
                int                 n,
                int                 bold)
{
  double widest = 0;
  if (labels == NULL)
    return 0;
  for (int i = 0; i < n; i++)
    {
      double w;
      text_set (text, labels[i], REF_FONT, i == bold, 0);
      text_size (text, &w, NULL);
      widest = MAX (widest, w);
    }
  return widest;
}

static double
tick_value (const AsHeatmapSpec *spec,
            int                  k)
{
  return spec->vmin + (spec->vmax - spec->vmin) * k / (double) (N_TICKS - 1);
}

static void
format_tick (char                *buf,
             gsize                size,
             const AsHeatmapSpec *spec,
             int                  k)
{
  /* Enough decimals that neighbouring ticks differ: a scale fitted to
   * 0.0057 would otherwise read 0, 0, 0, 0, 0.01. */
  double step = fabs (spec->vmax - spec->vmin) / (N_TICKS - 1);
  int decimals = step > 0 ? CLAMP ((int) ceil (-log10 (step)) + 1, 2, 6) : 2;
  char format[8];
  g_snprintf (format, sizeof format, "%%.%df", decimals);
  g_ascii_formatd (buf, size, format, tick_value (spec, k));
  /* 0.50 -> 0.5, 1.00 -> 1 */
  char *dot = strchr (buf, '.');
  if (dot == NULL)
    return;
  char *end = buf + strlen (buf) - 1;
  while (end > dot && *end == '0')
    *end-- = '\0';
  if (end == dot)
    *end = '\0';
}

static double
measure_ticks (Text                *text,
               const AsHeatmapSpec *spec)
{
  double widest = 0;
  for (int k = 0; k < N_TICKS; k++)
    {
      char buf[32];
      double w;
      format_tick (buf, sizeof buf, spec, k);
      text_set (text, buf, REF_FONT, FALSE, 0);
      text_size (text, &w, NULL);
      widest = MAX (widest, w);
    }
  return widest;
}

/* ---- geometry ------------------------------------------------------------ */

static void
renderer_init (Renderer            *r,
               cairo_t             *cr,
               const AsHeatmapSpec *spec,
               double               font)
{
  r->cr = cr;
  r->spec = spec;
  r->font = font;
  text_init (&r->text, cr, spec);
  r->widths.row = measure_widest (&r->text, spec->row_labels, spec->rows, spec->highlight_row);
  r->widths.col = measure_widest (&r->text, spec->col_labels, spec->cols, spec->highlight_col);
  r->widths.tick = spec->colorbar ? measure_ticks (&r->text, spec) : 0;
  /* Marks are bold: measured as the highlighted label of two. */
  static const char * const marks[] = { "A", "B" };
  r->widths.mark = MAX (measure_widest (&r->text, marks, 2, 0), measure_widest (&r->text, marks, 2, 1));
}

/* A boundary inside the rows (columns) to draw, with its marks where the
 * rows (columns) are labelled. */
static gboolean
has_row_split (const AsHeatmapSpec *spec)
{
  return spec->split_row > 0 && spec->split_row < spec->rows;
}

static gboolean
has_col_split (const AsHeatmapSpec *spec)
{
  return spec->split_col > 0 && spec->split_col < spec->cols;
}

static void
renderer_clear (Renderer *r)
{
  text_clear (&r->text);
}

/* Labels get smaller with the cells down to a legible minimum; below that
 * only every STRIDE-th label is drawn so that they never overlap. */
static int
label_stride (double label_font,
              double cell)
{
  double line = label_font * 1.1;
  if (cell >= line)
    return 1;
  return (int) ceil (line / cell);
}

static double
colorbar_width (const AsHeatmapSpec *spec,
                double               font,
                double               tick_w)
{
  double tick_font = font * 0.85;
  double w = font + font * 0.3 + font * 0.25 + tick_w * tick_font / REF_FONT;
  if (spec->colorbar_label != NULL)
    w += font * 0.5 + font * 0.9 * LINE_HEIGHT;
  return w;
}

static void
geometry_compute (const Renderer *r,
                  double          cell,
                  Geometry       *g)
{
  const AsHeatmapSpec *spec = r->spec;
  double font = r->font;

  memset (g, 0, sizeof *g);
  g->font = font;
  g->cell = cell;
  g->label_font = CLAMP (cell * 0.8, MIN (font, MAX (4.0, font * 0.62)), font);
  g->label_gap = g->label_font * 0.35;
  g->row_stride = label_stride (g->label_font, cell);
  g->col_stride = g->row_stride;
  g->tick_len = g->row_stride > 1 ? g->label_font * 0.4 : 0;

  double cap = LABEL_CAP * g->label_font;
  double scale = g->label_font / REF_FONT;
  if (spec->row_labels != NULL)
    g->row_labels_w = MIN (r->widths.row * scale, cap) + g->label_gap + g->tick_len;
  if (spec->col_labels != NULL)
    g->col_labels_h = MIN (r->widths.col * scale, cap) + g->label_gap + g->tick_len;
  if (spec->row_title != NULL)
    g->row_title_w = font * LINE_HEIGHT + font * 0.3;
  if (spec->col_title != NULL)
    g->col_title_h = font * LINE_HEIGHT + font * 0.2;
  if (spec->title != NULL)
    g->title_h = font * 1.15 * LINE_HEIGHT + font * 0.5 +
                 (strchr (spec->title, '\n') != NULL ? font * LINE_HEIGHT : 0);
  if (spec->colorbar)
    {
      g->colorbar_gap = font;
      g->colorbar_w = colorbar_width (spec, font, r->widths.tick);
      /* The end tick labels stick out half a line above and below the bar. */
      g->bottom = font * 0.5;
      if (g->title_h + g->col_title_h + g->col_labels_h < font * 0.5)
        g->title_h = font * 0.5;
    }
  g->mark_font = font;
  if (has_row_split (spec) && spec->row_labels != NULL)
    g->marks_w = font * 0.35 + r->widths.mark * g->mark_font / REF_FONT;
  if (has_col_split (spec) && spec->col_labels != NULL)
    g->bottom = MAX (g->bottom, g->marks_h = font * 0.2 + g->mark_font * LINE_HEIGHT);
}

static void
geometry_margins (const Geometry   *g,
                  AsHeatmapMargins *m)
{
  m->left = g->row_title_w + g->row_labels_w;
  m->top = g->title_h + g->col_title_h + g->col_labels_h;
  m->right = g->marks_w + g->colorbar_gap + g->colorbar_w;
  m->bottom = g->bottom;
}

/* The largest square cell for which cells and margins fit WIDTH x HEIGHT.
 * Margins only grow with the cell, so the fitting cells form an interval
 * and bisection finds its end. */
static double
solve_cell (const Renderer *r,
            double          width,
            double          height)
{
  const AsHeatmapSpec *spec = r->spec;
  double hi = MIN (width / spec->cols, height / spec->rows);
  double lo = 0;
  for (int i = 0; i < 30 && hi - lo > 1e-3 * hi; i++)
    {
      double mid = (lo + hi) / 2;
      Geometry g;
      AsHeatmapMargins m;
      geometry_compute (r, mid, &g);
      geometry_margins (&g, &m);
      if (spec->cols * mid + m.left + m.right <= width && spec->rows * mid + m.top + m.bottom <= height)
        lo = mid;
      else
        hi = mid;
    }
  return lo;
}

/* ---- cells --------------------------------------------------------------- */

static double
device_size (cairo_t *cr,
             double   cell)
{
  double ax = cell, ay = 0, bx = 0, by = cell;
  cairo_user_to_device_distance (cr, &ax, &ay);
  cairo_user_to_device_distance (cr, &bx, &by);
  return MIN (hypot (ax, ay), hypot (bx, by));
}

static int
pool_factor (cairo_t             *cr,
             const AsHeatmapSpec *spec,
             double               cell)
{
  double min_cell = spec->cell_mode == AS_CELLS_VECTOR ? MIN_VECTOR_CELL : MIN_IMAGE_CELL;
  double dev = device_size (cr, cell);
  int pool = dev > 0 && dev < min_cell ? (int) ceil (min_cell / dev) : 1;
  int side = MAX (spec->rows, spec->cols);
  if (spec->max_blocks > 0 && side > spec->max_blocks)
    pool = MAX (pool, (side + spec->max_blocks - 1) / spec->max_blocks);
  return pool;
}

/* Colour-table index of each (POOL x POOL block of) cell(s): block means, so
 * a column that draws attention stays visible however small it gets. */
static guint8 *
cell_indices (const AsHeatmapSpec *spec,
              int                  pool,
              int                 *out_rows,
              int                 *out_cols)
{
  int rows = (spec->rows + pool - 1) / pool;
  int cols = (spec->cols + pool - 1) / pool;
  guint8 *index = g_malloc ((gsize) rows * cols);
  double *sum = g_new (double, cols);

  for (int br = 0; br < rows; br++)
    {
      int r0 = br * pool, r1 = MIN (spec->rows, r0 + pool);
      memset (sum, 0, sizeof (double) * cols);
      for (int i = r0; i < r1; i++)
        {
          const float *row = spec->values + (gsize) i * spec->cols;
          if (pool == 1)
            for (int j = 0; j < spec->cols; j++)
              sum[j] = row[j];
          else
            for (int bc = 0, j = 0; bc < cols; bc++)
              {
                float part = 0;   /* at most POOL values: float is plenty */
                for (int end = MIN (spec->cols, j + pool); j < end; j++)
                  part += row[j];
                sum[bc] += part;
              }
        }
      for (int bc = 0; bc < cols; bc++)
        {
          int c0 = bc * pool, c1 = MIN (spec->cols, c0 + pool);
          float mean = (float) (sum[bc] / ((r1 - r0) * (c1 - c0)));
          index[(gsize) br * cols + bc] = (guint8) as_colormap_index (mean, spec->vmin, spec->vmax);
        }
    }
  g_free (sum);
  *out_rows = rows;
  *out_cols = cols;
  return index;
}

/* The grey of masked cells (and of their hatching), apart from every
 * colour map's colours, on a light or a dark background. */
static void
mask_grey (gboolean  dark,
           double   *fill,
           double   *hatch)
{
  *fill = dark ? 0.24 : 0.86;
  *hatch = dark ? 0.34 : 0.70;
}

/* With CAUSAL, pixels above the diagonal (blocks of keys after their
 * queries: rows and columns are cut alike) are the mask's grey. */
static cairo_surface_t *
index_image (const guint8 *index,
             int           rows,
             int           cols,
             AsColormapId  colormap,
             gboolean      causal,
             gboolean      dark)
{
  guint32 table[256];
  as_colormap_argb_table (colormap, table);
  double fill, hatch;
  mask_grey (dark, &fill, &hatch);
  guint32 grey = (guint32) lround (fill * 255);
  guint32 masked = 0xff000000u | grey << 16 | grey << 8 | grey;
  cairo_surface_t *image = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, cols, rows);
  if (cairo_surface_status (image) != CAIRO_STATUS_SUCCESS)
    return image;
  guint8 *data = cairo_image_surface_get_data (image);
  int stride = cairo_image_surface_get_stride (image);
  for (int i = 0; i < rows; i++)
    {
      guint32 *out = (guint32 *) (gpointer) (data + (gsize) i * stride);
      const guint8 *in = index + (gsize) i * cols;
      for (int j = 0; j < cols; j++)
        out[j] = causal && j > i ? masked : table[in[j]];
    }
  cairo_surface_mark_dirty (image);
  return image;
}

static void
set_lut_colour (cairo_t      *cr,
                AsColormapId  colormap,
                int           index)
{
  const guint8 *rgb = as_colormap_lut (colormap) + 3 * index;
  cairo_set_source_rgb (cr, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
}

/* One image, scaled without smoothing: cells stay crisp squares. */
static void
paint_cells_image (cairo_t      *cr,
                   const guint8 *index,
                   int           rows,
                   int           cols,
                   AsColormapId  colormap,
                   double        block)
{
  cairo_surface_t *image = index_image (index, rows, cols, colormap, FALSE, FALSE);
  cairo_save (cr);
  cairo_scale (cr, block, block);
  cairo_set_source_surface (cr, image, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_NEAREST);
  cairo_pattern_set_extend (cairo_get_source (cr), CAIRO_EXTEND_PAD);
  cairo_paint (cr);
  cairo_restore (cr);
  cairo_surface_destroy (image);
}

typedef struct {
  int row, c0, c1;
} Run;

/* Rectangles, one path per colour: the most common colour is painted once
 * underneath, each row's runs of another colour become one rectangle, and
 * same-coloured neighbours share a path so no seams show between them. */
static void
paint_cells_vector (cairo_t      *cr,
                    const guint8 *index,
                    int           rows,
                    int           cols,
                    AsColormapId  colormap,
                    double        block)
{
  gsize count[256] = { 0 };
  gsize n = (gsize) rows * cols;
  for (gsize i = 0; i < n; i++)
    count[index[i]]++;
  int background = 0;
  for (int k = 1; k < 256; k++)
    if (count[k] > count[background])
      background = k;

  set_lut_colour (cr, colormap, background);
  cairo_rectangle (cr, 0, 0, cols * block, rows * block);
  cairo_fill (cr);

  GArray *runs[256] = { NULL };
  for (int i = 0; i < rows; i++)
    {
      const guint8 *row = index + (gsize) i * cols;
      for (int j = 0; j < cols;)
        {
          int k = row[j], start = j;
          while (j < cols && row[j] == k)
            j++;
          if (k == background)
            continue;
          if (runs[k] == NULL)
            runs[k] = g_array_new (FALSE, FALSE, sizeof (Run));
          Run run = { i, start, j };
          g_array_append_val (runs[k], run);
        }
    }

  for (int k = 0; k < 256; k++)
    {
      if (runs[k] == NULL)
        continue;
      for (guint i = 0; i < runs[k]->len; i++)
        {
          const Run *run = &g_array_index (runs[k], Run, i);
          cairo_rectangle (cr, run->c0 * block, run->row * block, (run->c1 - run->c0) * block, block);
        }
      set_lut_colour (cr, colormap, k);
      cairo_fill (cr);
      g_array_free (runs[k], TRUE);
    }
}

/* Fills the current path in the mask's grey and hatches it, so a masked
 * key reads as "cannot be seen", not as a probability of 0. One path, so
 * no seams show between rows. BLOCK is a drawn cell's side, SIDE the
 * matrix's width. Clears the path. */
static void
hatch_path (cairo_t *cr,
            gboolean dark,
            double   block,
            double   side)
{
  double fill, hatch;
  mask_grey (dark, &fill, &hatch);
  cairo_save (cr);
  cairo_set_source_rgb (cr, fill, fill, fill);
  cairo_fill_preserve (cr);
  cairo_clip (cr);
  /* Hatching at a spacing that stays visible on small cells and calm on
   * large ones. */
  double step = CLAMP (block * 0.5, 3.0, 9.0);
  cairo_set_source_rgb (cr, hatch, hatch, hatch);
  cairo_set_line_width (cr, MAX (0.5, step * 0.18));
  for (double d = 0; d < 2 * side; d += step)
    {
      cairo_move_to (cr, d, 0);
      cairo_line_to (cr, d - side, side);
    }
  cairo_stroke (cr);
  cairo_restore (cr);
}

/* Over the cells of a causal matrix: the blocks above the diagonal. */
static void
paint_mask (cairo_t             *cr,
            const AsHeatmapSpec *spec,
            int                  pool,
            double               cell)
{
  const int n = (spec->rows + pool - 1) / pool;   /* block rows */
  const double block = cell * pool, side = spec->cols * cell;
  /* A block of a larger matrix: its diagonal is shifted by the offsets. */
  const int shift = spec->row_offset - spec->col_offset;
  gboolean any = FALSE;
  for (int i = 0; i < n; i++)
    {
      /* The first column a block row cannot see, rounded to whole blocks
       * as the cells are. */
      int first = CLAMP (((i + 1) * pool + shift + pool - 1) / pool * pool, 0, spec->cols);
      if (shift < 0)
        first = CLAMP ((i + 1) * pool + shift, 0, spec->cols);
      if (first >= spec->cols)
        continue;
      cairo_rectangle (cr, first * cell, i * block, side - first * cell, block);
      any = TRUE;
    }
  if (any)
    hatch_path (cr, spec->dark, block, side);
  else
    cairo_new_path (cr);
}

/* Over the padding keys' columns, every row. */
static void
paint_padding_mask (cairo_t             *cr,
                    const AsHeatmapSpec *spec,
                    int                  pool,
                    double               cell)
{
  const double side = spec->cols * cell;
  cairo_rectangle (cr, spec->padding_from * cell, 0, side - spec->padding_from * cell,
                   spec->rows * cell);
  hatch_path (cr, spec->dark, cell * pool, MAX (side, spec->rows * cell));
}

static int
paint_cells (cairo_t             *cr,
             const AsHeatmapSpec *spec,
             double               x,
             double               y,
             double               cell)
{
  int pool = pool_factor (cr, spec, cell);
  int rows, cols;
  guint8 *index = cell_indices (spec, pool, &rows, &cols);

  cairo_save (cr);
  /* Partial blocks at the ends are cut back to the matrix's true extent. */
  cairo_rectangle (cr, x, y, spec->cols * cell, spec->rows * cell);
  cairo_clip (cr);
  cairo_translate (cr, x, y);
  if (spec->cell_mode == AS_CELLS_VECTOR)
    paint_cells_vector (cr, index, rows, cols, spec->colormap, cell * pool);
  else
    paint_cells_image (cr, index, rows, cols, spec->colormap, cell * pool);
  if (spec->causal && (spec->rows == spec->cols || spec->row_offset != 0 || spec->col_offset != 0))
    paint_mask (cr, spec, pool, cell);
  if (spec->padding_from > 0 && spec->padding_from < spec->cols)
    paint_padding_mask (cr, spec, pool, cell);
  cairo_restore (cr);
  g_free (index);
  return pool;
}

/* The widest value string a 0 .. 1 cell prints: its fit decides whether
 * values are printed at all. */
#define WIDEST_VALUE "<.01"

void
as_heatmap_format_value (char  *buf,
                         gsize  size,
                         float  v,
                         float  vmin,
                         float  vmax)
{
  if (!isfinite (v))
    {
      g_strlcpy (buf, "?", size);
      return;
    }
  if (vmin < 0 || vmax > 1 || v > 1)
    {
      g_ascii_formatd (buf, size, "%.2g", v);
      return;
    }
  /* Thresholds in float, as the values are: 0.005f itself rounds up. A
   * value that rounds to 0 or 1 is not that value, so it is not printed
   * as one: "0" next to ".05" would read as exact. */
  if (v <= 0)
    g_strlcpy (buf, "0", size);
  else if (v < 0.005f)
    g_strlcpy (buf, "<.01", size);
  else if (v == 1)
    g_strlcpy (buf, "1", size);
  else if (v >= 0.995f)
    g_strlcpy (buf, ">.99", size);
  else
    g_snprintf (buf, size, ".%02d", CLAMP ((int) lrint (v * 100.0), 1, 99));
}

static void
paint_annotations (Renderer *r,
                   double    x,
                   double    y,
                   double    cell)
{
  const AsHeatmapSpec *spec = r->spec;
  cairo_t *cr = r->cr;
  /* As large as ".00" fits the cell (it is about 1.8 sizes wide), so a
   * projected heatmap's values read from afar; never above the text size.
   * The wider "<.01" and ">.99" are drawn smaller where they would not fit:
   * the reader needs the two decimals of the values that matter most. */
  double size = MIN (cell * 0.42, r->font);
  double w, widest;

  text_set (&r->text, ".00", size, FALSE, 0);
  text_size (&r->text, &w, NULL);
  text_set (&r->text, WIDEST_VALUE, size, FALSE, 0);
  text_size (&r->text, &widest, NULL);
  double small = widest > cell * 0.92 ? size * cell * 0.92 / widest : size;
  /* Too small to read: leave the colour to speak. Vector files are zoomed
   * into, so smaller text still serves there; pixels are what they are. */
  double min_size = spec->cell_mode == AS_CELLS_VECTOR ? 3.0 : 6.0;
  if (small < min_size || w > cell * 0.92)
    return;

  for (int i = 0; i < spec->rows; i++)
    for (int j = 0; j < spec->cols; j++)
      {
        if ((spec->causal && j + spec->col_offset > i + spec->row_offset) ||
            (spec->padding_from > 0 && j >= spec->padding_from))
          continue;   /* masked: no value to read */
        float v = spec->values[(gsize) i * spec->cols + j];
        char buf[32];
        as_heatmap_format_value (buf, sizeof buf, v, spec->vmin, spec->vmax);
        if (as_colormap_is_light (spec->colormap, as_colormap_index (v, spec->vmin, spec->vmax)))
          cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
        else
          cairo_set_source_rgb (cr, 0.95, 0.95, 0.95);
        text_set (&r->text, buf, size, FALSE, 0);
        text_size (&r->text, &w, NULL);
        if (w > cell * 0.92)
          {
            text_set (&r->text, buf, small, FALSE, 0);
            text_size (&r->text, &w, NULL);
          }
        text_show (&r->text, cr, x + (j + 0.5) * cell - w / 2, y + (i + 0.5) * cell);
      }
}

/* ---- labels, titles, colour bar ------------------------------------------ */

static void
set_foreground (cairo_t  *cr,
                gboolean  dark,
                double    alpha)
{
  if (dark)
    cairo_set_source_rgba (cr, 0.92, 0.92, 0.92, alpha);
  else
    cairo_set_source_rgba (cr, 0.12, 0.12, 0.12, alpha);
}

static gboolean
label_shown (int i,
             int stride,
             int highlight)
{
  return i % stride == 0 || i == highlight;
}

static void
paint_row_labels (Renderer       *r,
                  const Geometry *g,
                  double          cells_x,
                  double          cells_y)
{
  const AsHeatmapSpec *spec = r->spec;
  cairo_t *cr = r->cr;
  double cap = LABEL_CAP * g->label_font;

  set_foreground (cr, spec->dark, 1.0);
  cairo_set_line_width (cr, MAX (0.5, g->label_font * 0.07));
  for (int i = 0; i < spec->rows; i++)
    {
      if (!label_shown (i, g->row_stride, spec->highlight_row))
        continue;
      double cy = cells_y + (i + 0.5) * g->cell;
      double w;
      text_set (&r->text, spec->row_labels[i], g->label_font, i == spec->highlight_row, cap);
      text_size (&r->text, &w, NULL);
      text_show (&r->text, cr, cells_x - g->label_gap - g->tick_len - w, cy);
      if (g->tick_len > 0)
        {
          cairo_move_to (cr, cells_x - g->tick_len, cy);
          cairo_line_to (cr, cells_x, cy);
          cairo_stroke (cr);
        }
    }
}

static void
paint_col_labels (Renderer       *r,
                  const Geometry *g,
                  double          cells_x,
                  double          cells_y)
{
  const AsHeatmapSpec *spec = r->spec;
  cairo_t *cr = r->cr;
  double cap = LABEL_CAP * g->label_font;

  set_foreground (cr, spec->dark, 1.0);
  cairo_set_line_width (cr, MAX (0.5, g->label_font * 0.07));
  for (int j = 0; j < spec->cols; j++)
    {
      if (!label_shown (j, g->col_stride, spec->highlight_col))
        continue;
      double cx = cells_x + (j + 0.5) * g->cell;
      text_set (&r->text, spec->col_labels[j], g->label_font, j == spec->highlight_col, cap);
      text_show_rotated (&r->text, cr, cx, cells_y - g->label_gap - g->tick_len);
      if (g->tick_len > 0)
        {
          cairo_move_to (cr, cx, cells_y - g->tick_len);
          cairo_line_to (cr, cx, cells_y);
          cairo_stroke (cr);
        }
    }
}

static void
paint_highlights (cairo_t             *cr,
                  const AsHeatmapSpec *spec,
                  double               x,
                  double               y,
                  double               cell)
{
  double w = spec->cols * cell, h = spec->rows * cell;
  double line = CLAMP (cell * 0.15, 1.0, 3.0);
  gboolean any = FALSE;

  if (spec->highlight_row >= 0 && spec->highlight_row < spec->rows)
    {
      cairo_rectangle (cr, x, y + spec->highlight_row * cell, w, cell);
      any = TRUE;
    }
  if (spec->highlight_col >= 0 && spec->highlight_col < spec->cols)
    {
      cairo_rectangle (cr, x + spec->highlight_col * cell, y, cell, h);
      any = TRUE;
    }
  if (!any)
    return;
  /* Dark under light: visible on every colour map. */
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_set_line_width (cr, line * 2);
  cairo_stroke_preserve (cr);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_set_line_width (cr, line);
  cairo_stroke (cr);
}

/* A sentence pair's boundary: a line between A's last row (column) and
 * B's first, light over dark so it shows on every colour map, running on
 * past the cells to the "A" and "B" that name the two sides. */
static void
paint_split (Renderer       *r,
             const Geometry *g,
             double          x,
             double          y)
{
  const AsHeatmapSpec *spec = r->spec;
  cairo_t *cr = r->cr;
  double cell = g->cell, w = spec->cols * cell, h = spec->rows * cell;
  double line = CLAMP (cell * 0.12, 1.0, 3.0);
  double sy = y + spec->split_row * cell, sx = x + spec->split_col * cell;

  if (!has_row_split (spec) && !has_col_split (spec))
    return;
  if (has_row_split (spec))
    {
      cairo_move_to (cr, x, sy);
      cairo_line_to (cr, x + w + g->marks_w, sy);
    }
  if (has_col_split (spec))
    {
      cairo_move_to (cr, sx, y);
      cairo_line_to (cr, sx, y + h + g->marks_h);
    }
  cairo_save (cr);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_BUTT);
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_set_line_width (cr, line * 2.2);
  cairo_stroke_preserve (cr);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_set_line_width (cr, line);
  cairo_stroke (cr);
  cairo_restore (cr);

  double mh;
  text_set (&r->text, "A", g->mark_font, TRUE, 0);
  text_size (&r->text, NULL, &mh);
  set_foreground (cr, spec->dark, 1.0);
  if (g->marks_w > 0)
    {
      /* Beside the line: "A" just above it, "B" just below. */
      double mx = x + w + g->font * 0.35;
      text_show (&r->text, cr, mx, sy - mh * 0.6);
      text_set (&r->text, "B", g->mark_font, TRUE, 0);
      text_show (&r->text, cr, mx, sy + mh * 0.6);
    }
  if (g->marks_h > 0)
    {
      double my = y + h + g->font * 0.2 + mh / 2, aw;
      text_set (&r->text, "A", g->mark_font, TRUE, 0);
      text_size (&r->text, &aw, NULL);
      text_show (&r->text, cr, sx - g->font * 0.3 - aw, my);
      text_set (&r->text, "B", g->mark_font, TRUE, 0);
      text_show (&r->text, cr, sx + g->font * 0.3, my);
    }
}

static void
paint_centred (Renderer   *r,
               const char *str,
               double      size,
               gboolean    bold,
               double      cx,
               double      cy,
               double      max_width)
{
  double w;
  text_set (&r->text, str, size, bold, max_width);
  text_size (&r->text, &w, NULL);
  text_show (&r->text, r->cr, cx - w / 2, cy);
}

/* SIZE, or smaller (down to 80 %) when that lets bold TEXT fit MAX_WIDTH:
 * a slightly smaller title reads better than a cut one. */
static double
fit_size (Renderer   *r,
          const char *text,
          double      size,
          double      max_width)
{
  double w;
  text_set (&r->text, text, size, TRUE, 0);
  text_size (&r->text, &w, NULL);
  return w > max_width ? MAX (size * 0.8, size * max_width / w) : size;
}

/* A title's first line is bold; what follows a newline (the input text,
 * say) goes on a second, lighter line. */
static void
paint_title (Renderer   *r,
             const char *title,
             double      cx,
             double      y,
             double      max_width)
{
  const char *newline = strchr (title, '\n');
  g_autofree char *heading = g_strndup (title, newline != NULL ? (gsize) (newline - title) : strlen (title));
  double font = r->font;

  set_foreground (r->cr, r->spec->dark, 1.0);
  paint_centred (r, heading, fit_size (r, heading, font * 1.15, max_width), TRUE, cx,
                 y + font * 1.15 * LINE_HEIGHT / 2, max_width);
  if (newline != NULL)
    {
      set_foreground (r->cr, r->spec->dark, 0.8);
      paint_centred (r, newline + 1, font, FALSE, cx,
                     y + font * 1.15 * LINE_HEIGHT + font * LINE_HEIGHT / 2, max_width);
      set_foreground (r->cr, r->spec->dark, 1.0);
    }
}

static void
paint_colorbar_gradient (cairo_t             *cr,
                         const AsHeatmapSpec *spec,
                         double               x,
                         double               y,
                         double               w,
                         double               h)
{
  if (spec->cell_mode == AS_CELLS_IMAGE)
    {
      guint8 index[256];
      for (int k = 0; k < 256; k++)
        index[k] = (guint8) (255 - k);
      cairo_save (cr);
      cairo_rectangle (cr, x, y, w, h);
      cairo_clip (cr);
      cairo_translate (cr, x, y);
      cairo_scale (cr, w, h / 256);
      cairo_surface_t *image = index_image (index, 256, 1, spec->colormap, FALSE, FALSE);
      cairo_set_source_surface (cr, image, 0, 0);
      cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_NEAREST);
      cairo_pattern_set_extend (cairo_get_source (cr), CAIRO_EXTEND_PAD);
      cairo_paint (cr);
      cairo_surface_destroy (image);
      cairo_restore (cr);
      return;
    }
  double step = h / 256;
  for (int k = 0; k < 256; k++)
    {
      /* A hair of overlap hides the seams viewers draw between slices. */
      cairo_rectangle (cr, x, y + h - (k + 1) * step, w, step + (k > 0 ? step * 0.5 : 0));
      set_lut_colour (cr, spec->colormap, k);
      cairo_fill (cr);
    }
}

static void
paint_colorbar (Renderer *r,
                double    x,
                double    y,
                double    height)
{
  const AsHeatmapSpec *spec = r->spec;
  cairo_t *cr = r->cr;
  double font = r->font;
  double bar_w = font, tick_len = font * 0.3, tick_font = font * 0.85;

  paint_colorbar_gradient (cr, spec, x, y, bar_w, height);
  set_foreground (cr, spec->dark, 0.8);
  cairo_set_line_width (cr, MAX (0.5, font * 0.06));
  cairo_rectangle (cr, x, y, bar_w, height);
  cairo_stroke (cr);

  /* Too short for five readable ticks: keep the two ends. */
  gboolean ends_only = height < N_TICKS * tick_font * LINE_HEIGHT * 1.3;
  for (int k = 0; k < N_TICKS; k++)
    {
      if (ends_only && k != 0 && k != N_TICKS - 1)
        continue;
      double ty = y + height * (1 - k / (double) (N_TICKS - 1));
      char buf[32];
      format_tick (buf, sizeof buf, spec, k);
      set_foreground (cr, spec->dark, 1.0);
      cairo_move_to (cr, x + bar_w, ty);
      cairo_line_to (cr, x + bar_w + tick_len, ty);
      cairo_stroke (cr);
      text_set (&r->text, buf, tick_font, FALSE, 0);
      text_show (&r->text, cr, x + bar_w + tick_len + font * 0.25, ty);
    }

  if (spec->colorbar_label != NULL)
    {
      double label_x = x + colorbar_width (spec, font, r->widths.tick) - font * 0.9 * LINE_HEIGHT / 2;
      double w;
      text_set (&r->text, spec->colorbar_label, font * 0.9, FALSE, height);
      text_size (&r->text, &w, NULL);
      set_foreground (cr, spec->dark, 1.0);
      text_show_rotated (&r->text, cr, label_x, y + height / 2 + w / 2);
    }
}

/* Draws everything; (X, Y) is the top-left of the margins. The title is
 * centred on the block and may use TITLE_WIDTH (at least the block's). */
static void
render_block (Renderer        *r,
              double           x,
              double           y,
              double           cell,
              double           title_width,
              AsHeatmapLayout *layout)
{
  const AsHeatmapSpec *spec = r->spec;
  cairo_t *cr = r->cr;
  Geometry g;
  AsHeatmapMargins m;
  geometry_compute (r, cell, &g);
  geometry_margins (&g, &m);

  double cells_w = spec->cols * cell, cells_h = spec->rows * cell;
  double cells_x = x + m.left, cells_y = y + m.top;
  double block_w = m.left + cells_w + m.right;
  title_width = MAX (title_width, block_w);

  int pool = paint_cells (cr, spec, cells_x, cells_y, cell);
  if (spec->annotate && pool == 1)
    paint_annotations (r, cells_x, cells_y, cell);
  /* A hairline frame: colour maps whose low end matches the background
   * (magma on dark, greys and blues on light) would lose their edges. */
  set_foreground (cr, spec->dark, 0.45);
  cairo_set_line_width (cr, MAX (0.25, g.font * 0.04));
  cairo_rectangle (cr, cells_x, cells_y, cells_w, cells_h);
  cairo_stroke (cr);
  paint_highlights (cr, spec, cells_x, cells_y, cell);
  paint_split (r, &g, cells_x, cells_y);

  set_foreground (cr, spec->dark, 1.0);
  if (spec->title != NULL)
    paint_title (r, spec->title, x + block_w / 2, y, title_width);
  if (spec->col_title != NULL)
    paint_centred (r, spec->col_title, g.font, FALSE, cells_x + cells_w / 2,
                   y + g.title_h + g.font * LINE_HEIGHT / 2, cells_w + m.right);
  if (spec->row_title != NULL)
    {
      double w;
      text_set (&r->text, spec->row_title, g.font, FALSE, cells_h);
      text_size (&r->text, &w, NULL);
      text_show_rotated (&r->text, cr, x + g.font * LINE_HEIGHT / 2, cells_y + cells_h / 2 + w / 2);
    }
  if (spec->row_labels != NULL)
    paint_row_labels (r, &g, cells_x, cells_y);
  if (spec->col_labels != NULL)
    paint_col_labels (r, &g, cells_x, cells_y);
  if (spec->colorbar)
    paint_colorbar (r, cells_x + cells_w + g.marks_w + g.colorbar_gap, cells_y, cells_h);

  if (layout != NULL)
    {
      layout->cells_x = cells_x;
      layout->cells_y = cells_y;
      layout->cell_w = layout->cell_h = cell;
      layout->colorbar_x = spec->colorbar ? cells_x + cells_w + g.marks_w + g.colorbar_gap : 0;
      layout->colorbar_y = spec->colorbar ? cells_y : 0;
      layout->colorbar_w = spec->colorbar ? g.font : 0;
      layout->colorbar_h = spec->colorbar ? cells_h : 0;
      layout->row_stride = g.row_stride;
      layout->col_stride = g.col_stride;
      layout->pool = pool;
      layout->label_font_size = g.label_font;
    }
}

/* ---- public -------------------------------------------------------------- */

void
as_heatmap_spec_init (AsHeatmapSpec *spec)
{
  memset (spec, 0, sizeof *spec);
  spec->vmin = 0.f;
  spec->vmax = 1.f;
  spec->colormap = AS_COLORMAP_VIRIDIS;
  spec->cell_mode = AS_CELLS_IMAGE;
  spec->colorbar = TRUE;
  spec->highlight_row = -1;
  spec->highlight_col = -1;
}

static gboolean
spec_is_drawable (const AsHeatmapSpec *spec)
{
  return spec->values != NULL && spec->rows > 0 && spec->cols > 0;
}

static void
layout_clear (AsHeatmapLayout *layout)
{
  if (layout != NULL)
    {
      memset (layout, 0, sizeof *layout);
      layout->row_stride = layout->col_stride = layout->pool = 1;
    }
}

void
as_heatmap_measure (cairo_t             *cr,
                    const AsHeatmapSpec *spec,
                    double               cell,
                    AsHeatmapMargins    *margins)
{
  Renderer r;
  Geometry g;
  renderer_init (&r, cr, spec, spec->font_size > 0 ? spec->font_size : 11.0);
  geometry_compute (&r, cell, &g);
  geometry_margins (&g, margins);
  renderer_clear (&r);
}

void
as_heatmap_render_at (cairo_t             *cr,
                      const AsHeatmapSpec *spec,
                      double               x,
                      double               y,
                      double               cell,
                      AsHeatmapLayout     *layout)
{
  layout_clear (layout);
  if (!spec_is_drawable (spec) || !(cell > 0))
    return;
  Renderer r;
  renderer_init (&r, cr, spec, spec->font_size > 0 ? spec->font_size : 11.0);
  cairo_save (cr);
  render_block (&r, x, y, cell, 0, layout);
  cairo_restore (cr);
  renderer_clear (&r);
}

void
as_heatmap_render (cairo_t             *cr,
                   const AsHeatmapSpec *spec,
                   double               width,
                   double               height,
                   AsHeatmapLayout     *layout)
{
  layout_clear (layout);
  if (!spec_is_drawable (spec) || !(width > 0) || !(height > 0))
    return;

  double font = spec->font_size > 0 ? spec->font_size : as_heatmap_auto_font_size (width, height);
  Renderer r;
  renderer_init (&r, cr, spec, font);
  double cell = solve_cell (&r, width, height);
  if (cell > 0)
    {
      Geometry g;
      AsHeatmapMargins m;
      geometry_compute (&r, cell, &g);
      geometry_margins (&g, &m);
      double block_w = m.left + spec->cols * cell + m.right;
      double block_h = m.top + spec->rows * cell + m.bottom;
      cairo_save (cr);
      render_block (&r, (width - block_w) / 2, (height - block_h) / 2, cell, width, layout);
      cairo_restore (cr);
    }
  renderer_clear (&r);
}

/* The K-th smallest of V [n] (0-based), V reordered: Hoare's selection,
 * linear on average, where sorting all 262,144 cells of a 512-token head
 * on the main thread took tens of milliseconds per layer shown. */
static float
select_kth (float *v,
            gsize  n,
            gsize  k)
{
  gsize lo = 0, hi = n - 1;
  while (lo < hi)
    {
      float pivot = v[lo + (hi - lo) / 2];
      gsize i = lo, j = hi;
      while (i <= j)
        {
          while (v[i] < pivot)
            i++;
          while (v[j] > pivot)
            j--;
          if (i <= j)
            {
              float t = v[i];
              v[i] = v[j], v[j] = t;
              i++;
              if (j == 0)
                break;
              j--;
            }
        }
      if (k <= j)
        hi = j;
      else if (k >= i)
        lo = i;
      else
        return v[k];
    }
  return v[k];
}

float
as_heatmap_robust_max (const float *values,
                       int          rows,
                       int          cols,
                       gboolean     causal)
{
  g_return_val_if_fail (values != NULL && rows > 0 && cols > 0, 1.f);
  /* The cells a reader sees: masked ones are not values. */
  g_autofree float *seen = g_new (float, (gsize) rows * cols);   /* [<= rows * cols] */
  gsize n = 0;
  float top = 0;
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++)
      {
        float v = values[(gsize) i * cols + j];
        if ((causal && j > i) || !isfinite (v))
          continue;
        seen[n++] = v;
        top = MAX (top, v);
      }
  if (n == 0)
    return 1.f;
  float v = as_heatmap_fit_is_robust (rows, cols)
            ? select_kth (seen, n, (gsize) floor (AS_HEATMAP_ROBUST_QUANTILE * (n - 1)))
            : top;
  return MAX (v, 1e-6f);
}

gboolean
as_heatmap_fit_is_robust (int rows,
                          int cols)
{
  /* A few hundred cells or fewer: each can be read, none saturates. */
  return (gint64) rows * cols > 400;
}

const char *
as_heatmap_fit_label (int rows,
                      int cols)
{
  return as_heatmap_fit_is_robust (rows, cols)
    ? "attention, fitted: top 2% of cells in full colour"
    : "attention, fitted to the largest value";
}

int
as_heatmap_pair_split (const int *sentence,
                       int        n)
{
  if (sentence == NULL)
    return 0;
  for (int i = 1; i < n; i++)
    if (sentence[i - 1] == 0 && sentence[i] == 1)
      return i;
  return 0;
}

double
as_heatmap_auto_font_size (double width,
                           double height)
{
  return CLAMP (MIN (width, height) / 55.0, 7.0, 14.0);
}

double
as_heatmap_colorbar_width (cairo_t             *cr,
                           const AsHeatmapSpec *spec)
{
  Text text;
  text_init (&text, cr, spec);
  double w = colorbar_width (spec, spec->font_size > 0 ? spec->font_size : 11.0, measure_ticks (&text, spec));
  text_clear (&text);
  return w;
}

void
as_heatmap_render_colorbar (cairo_t             *cr,
                            const AsHeatmapSpec *spec,
                            double               x,
                            double               y,
                            double               height)
{
  Renderer r = { 0 };
  r.cr = cr;
  r.spec = spec;
  r.font = spec->font_size > 0 ? spec->font_size : 11.0;
  text_init (&r.text, cr, spec);
  r.widths.tick = measure_ticks (&r.text, spec);
  cairo_save (cr);
  paint_colorbar (&r, x, y, height);
  cairo_restore (cr);
  renderer_clear (&r);
}

cairo_surface_t *
as_heatmap_cells_image (const AsHeatmapSpec *spec)
{
  if (!spec_is_drawable (spec))
    return cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 0, 0);
  int rows, cols;
  guint8 *index = cell_indices (spec, 1, &rows, &cols);
  cairo_surface_t *image = index_image (index, rows, cols, spec->colormap,
                                       spec->causal && rows == cols, spec->dark);
  g_free (index);
  return image;
}

gboolean
as_heatmap_hit_test (const AsHeatmapLayout *layout,
                     const AsHeatmapSpec   *spec,
                     double                 x,
                     double                 y,
                     int                   *row,
                     int                   *col)
{
  if (!(layout->cell_w > 0) || !(layout->cell_h > 0))
    return FALSE;
  double c = floor ((x - layout->cells_x) / layout->cell_w);
  double r = floor ((y - layout->cells_y) / layout->cell_h);
  if (r < 0 || c < 0 || r >= spec->rows || c >= spec->cols)
    return FALSE;
  if (row != NULL)
    *row = (int) r;
  if (col != NULL)
    *col = (int) c;
  return TRUE;
}
