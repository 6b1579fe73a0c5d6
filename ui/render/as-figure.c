/* as-figure.c — figure layouts on top of the heatmap renderer, and export.
 *
 * A figure is drawn in its own user units (pixels or points, as the options
 * say) and the output surface decides how those map to the file: pixels for
 * PNG (scaled by dpi/72 when the figure is in points), points for PDF, the
 * figure's own unit for SVG. PNG cells are one nearest-neighbour image per
 * heatmap; SVG and PDF cells are rectangles, so vector output stays vector.
 */
#include "as-figure.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <string.h>

#define LINE_HEIGHT 1.2
#define MAX_PIXELS  32767   /* Cairo's image surface limit per side */
/* Vector figures draw at most about this many cells (before merging runs of
 * one colour); a grid of 144 heads at 512 tokens would otherwise write
 * 38 million rectangles. Past it, thumbnails show block means. */
#define VECTOR_CELL_BUDGET 400000

G_DEFINE_QUARK (as-figure-error-quark, as_figure_error)

/* ---- names --------------------------------------------------------------- */

static const char * const view_names[AS_N_FIGURE_VIEWS] = { "head", "layer", "grid", "mean" };
static const char * const format_names[] = { "auto", "png", "svg", "pdf" };

void
as_figure_options_init (AsFigureOptions *options)
{
  memset (options, 0, sizeof *options);
  options->view = AS_FIGURE_HEAD;
  options->colormap = AS_COLORMAP_VIRIDIS;
  options->renormalise = TRUE;
  options->unit = AS_UNIT_PX;
  options->dpi = 96;
  options->title = TRUE;
  options->highlight_token = -1;
}

const char *
as_figure_view_name (AsFigureView view)
{
  return (guint) view < AS_N_FIGURE_VIEWS ? view_names[view] : "head";
}

int
as_figure_view_from_name (const char *name)
{
  for (int i = 0; i < AS_N_FIGURE_VIEWS; i++)
    if (g_ascii_strcasecmp (name, view_names[i]) == 0)
      return i;
  return -1;
}

const char *
as_figure_format_name (AsFigureFormat format)
{
  return (guint) format <= AS_FORMAT_PDF ? format_names[format] : "auto";
}

int
as_figure_format_from_name (const char *name)
{
  for (int i = AS_FORMAT_PNG; i <= AS_FORMAT_PDF; i++)
    if (g_ascii_strcasecmp (name, format_names[i]) == 0)
      return i;
  return -1;
}

AsFigureFormat
as_figure_format_from_path (const char *path)
{
  const char *dot = path != NULL ? strrchr (path, '.') : NULL;
  if (dot == NULL || strchr (dot, '/') != NULL)
    return AS_FORMAT_AUTO;
  int format = as_figure_format_from_name (dot + 1);
  return format < 0 ? AS_FORMAT_AUTO : (AsFigureFormat) format;
}

/* ---- what the panels show ---------------------------------------------- */

void
as_figure_options_set_shown (AsFigureOptions   *o,
                             const AsShownSpec *spec)
{
  o->layer = spec->layer;
  o->head = spec->head;
  o->aggregate = spec->aggregate;
  o->hide_special = spec->hide_special;
  o->renormalise = spec->renormalise;
  o->word_level = spec->words;
  o->sentence = spec->sentence;
}

void
as_figure_options_get_shown (const AsFigureOptions *o,
                             int                    head,
                             AsShownSpec           *spec)
{
  as_shown_spec_init (spec);
  spec->layer = o->layer;
  spec->hide_special = o->hide_special;
  spec->renormalise = o->renormalise;
  spec->words = o->word_level;
  spec->sentence = o->sentence;
  if (head >= 0)
    {
      spec->aggregate = AS_SHOWN_HEAD;
      spec->head = head;
    }
  else
    {
      spec->aggregate = o->view == AS_FIGURE_MEAN ? AS_SHOWN_MEAN : o->aggregate;
      spec->head = o->head;
    }
}

/* The head view's panel is one head only with aggregate head. */
static int
single_head (const AsFigureOptions *o)
{
  return o->view == AS_FIGURE_HEAD && o->aggregate == AS_SHOWN_HEAD ? o->head : -1;
}

/* Rows and columns; labels in the typed spelling only WITH_TEXT (checks
 * need just the count). */
static AsShownTokens *
figure_tokens (const AsAnalysis      *attention,
               const AsFigureOptions *options,
               gboolean               with_text)
{
  AsShownSpec spec;
  as_figure_options_get_shown (options, -1, &spec);
  return as_shown_tokens_new (attention->encoding, attention->n,
                              with_text ? options->text_a : NULL,
                              with_text ? options->text_b : NULL, &spec);
}

/* ---- figure state -------------------------------------------------------- */

typedef struct {
  cairo_t               *cr;
  const AsAnalysis      *attention;
  const AsFigureOptions *options;
  AsShownTokens         *tokens;
  AsCellMode             mode;
  double                 width;
  double                 height;
  double                 font;
  double                 pad;
  char                  *title;
  GArray                *panels;
} Figure;

/* The matrix of HEAD (-1: the single panel's aggregate) of the options'
 * layer as drawn, [n, n] in a new buffer. */
static float *
figure_matrix (const Figure *f,
               int           layer,
               int           head)
{
  const AsAnalysis *a = f->attention;
  AsShownSpec spec;
  as_figure_options_get_shown (f->options, head, &spec);
  spec.layer = layer;
  int n = f->tokens->n;
  float *out = g_new (float, MAX ((gsize) n * n, 1));
  as_shown_matrix (f->tokens, a->attn, a->n_layers, a->n_heads, &spec, out, NULL);
  return out;
}

static void
figure_spec (const Figure  *f,
             const float   *values,
             AsHeatmapSpec *spec)
{
  as_heatmap_spec_init (spec);
  spec->values = values;
  spec->rows = spec->cols = f->tokens->n;
  spec->colormap = f->options->colormap;
  spec->cell_mode = f->mode;
  spec->annotate = f->options->annotate;
  spec->dark = f->options->dark;
  spec->font = f->options->font;
  spec->font_size = f->font;
  spec->colorbar = FALSE;
  spec->causal = f->attention->causal;
  spec->split_row = spec->split_col = as_heatmap_pair_split (f->tokens->sentence, f->tokens->n);
  int token = f->options->highlight_token;
  if (token >= 0 && token < f->tokens->n_tokens && f->tokens->row_of[token] >= 0)
    spec->highlight_row = spec->highlight_col = f->tokens->row_of[token];
  if (f->mode == AS_CELLS_VECTOR)
    {
      int panels = f->options->view == AS_FIGURE_GRID ? f->attention->n_layers * f->attention->n_heads
                 : f->options->view == AS_FIGURE_LAYER ? f->attention->n_heads : 1;
      spec->max_blocks = MAX (8, (int) sqrt (VECTOR_CELL_BUDGET / (double) panels));
    }
}

static void
add_panel (Figure                *f,
           int                    layer,
           int                    head,
           const AsHeatmapLayout *layout)
{
  if (f->panels == NULL)
    return;
  AsFigurePanel panel = { layer, head, f->tokens->n, *layout };
  g_array_append_val (f->panels, panel);
}

/* “The animal didn't …”: whitespace folded, long texts shortened. */
static void
append_quoted (GString    *s,
               const char *text,
               glong       max_chars)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  g_auto(GStrv) words = g_strsplit_set (g_strstrip (valid), " \t\r\n", -1);
  GString *folded = g_string_new (NULL);
  for (int i = 0; words[i] != NULL; i++)
    if (words[i][0] != '\0')
      g_string_append_printf (folded, "%s%s", folded->len ? " " : "", words[i]);
  if (g_utf8_strlen (folded->str, -1) > max_chars)
    {
      g_string_truncate (folded, g_utf8_offset_to_pointer (folded->str, max_chars - 1) - folded->str);
      g_string_append (folded, "…");
    }
  g_string_append_printf (s, "“%s”", folded->str);
  g_string_free (folded, TRUE);
}

static char *
figure_title (const AsAnalysis      *a,
              const AsFigureOptions *o)
{
  GString *s = g_string_new (NULL);
  if (o->model_name != NULL)
    g_string_append_printf (s, "%s · ", o->model_name);
  if (o->view == AS_FIGURE_HEAD || o->view == AS_FIGURE_MEAN)
    {
      AsShownSpec spec;
      as_figure_options_get_shown (o, -1, &spec);
      g_autofree char *what = as_shown_spec_describe (&spec, a->n_heads);
      g_string_append (s, what);
    }
  else
    {
      if (o->view == AS_FIGURE_LAYER)
        g_string_append_printf (s, "layer %d · all %d heads", o->layer + 1, a->n_heads);
      else
        g_string_append_printf (s, "%d layers × %d heads", a->n_layers, a->n_heads);
      if (o->word_level)
        g_string_append (s, " · words");
      if (o->sentence == AS_SHOWN_SENTENCE_A || o->sentence == AS_SHOWN_SENTENCE_B)
        g_string_append (s, o->sentence == AS_SHOWN_SENTENCE_A ? " · sentence A" : " · sentence B");
    }
  if (o->hide_special)
    g_string_append (s, o->renormalise ? " · special tokens hidden (rows renormalised)"
                                       : " · special tokens hidden");
  if (o->text_a != NULL)
    {
      g_string_append_c (s, '\n');
      glong max_chars = o->text_b != NULL ? 70 : 140;
      append_quoted (s, o->text_a, max_chars);
      if (o->text_b != NULL)
        {
          g_string_append (s, " / ");
          append_quoted (s, o->text_b, max_chars);
        }
    }
  return g_string_free (s, FALSE);
}

/* ---- text helper for figure-level labels --------------------------------- */

typedef struct {
  PangoLayout          *layout;
  PangoFontDescription *desc;
} FigureText;

static void
figure_text_init (FigureText   *t,
                  const Figure *f)
{
  PangoContext *context = pango_cairo_create_context (f->cr);
  cairo_font_options_t *fo = cairo_font_options_create ();
  cairo_font_options_set_hint_metrics (fo, CAIRO_HINT_METRICS_OFF);
  cairo_font_options_set_hint_style (fo, CAIRO_HINT_STYLE_NONE);
  pango_cairo_context_set_font_options (context, fo);
  cairo_font_options_destroy (fo);
  t->layout = pango_layout_new (context);
  pango_layout_set_single_paragraph_mode (t->layout, TRUE);
  g_object_unref (context);
  t->desc = pango_font_description_from_string (f->options->font ? f->options->font : "Sans");
}

static void
figure_text_clear (FigureText *t)
{
  g_object_unref (t->layout);
  pango_font_description_free (t->desc);
}

/* Sets TEXT and returns its width. */
static double
figure_text_set (FigureText *t,
                 const char *text,
                 double      size,
                 gboolean    bold,
                 double      max_width)
{
  PangoRectangle logical;
  pango_font_description_set_absolute_size (t->desc, size * PANGO_SCALE);
  pango_font_description_set_weight (t->desc, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
  pango_layout_set_font_description (t->layout, t->desc);
  pango_layout_set_width (t->layout, max_width > 0 ? (int) (max_width * PANGO_SCALE) : -1);
  pango_layout_set_ellipsize (t->layout, max_width > 0 ? PANGO_ELLIPSIZE_END : PANGO_ELLIPSIZE_NONE);
  pango_layout_set_text (t->layout, text, -1);
  pango_layout_get_extents (t->layout, NULL, &logical);
  return logical.width / (double) PANGO_SCALE;
}

/* Draws the text set last centred on (CX, CY), turned 90° anticlockwise
 * when ROTATED. */
static void
figure_text_show (FigureText *t,
                  cairo_t    *cr,
                  double      cx,
                  double      cy,
                  gboolean    rotated)
{
  PangoRectangle logical;
  pango_layout_get_extents (t->layout, NULL, &logical);
  double w = logical.width / (double) PANGO_SCALE, h = logical.height / (double) PANGO_SCALE;
  cairo_save (cr);
  cairo_translate (cr, cx, cy);
  if (rotated)
    cairo_rotate (cr, -G_PI / 2);
  cairo_move_to (cr, -w / 2, -h / 2);
  pango_cairo_show_layout (cr, t->layout);
  cairo_restore (cr);
}

static void
set_foreground (const Figure *f,
                double        alpha)
{
  double v = f->options->dark ? 0.92 : 0.12;
  cairo_set_source_rgba (f->cr, v, v, v, alpha);
}

static double
title_height (const Figure *f)
{
  if (f->title == NULL)
    return 0;
  return f->font * 1.15 * LINE_HEIGHT + f->font * 0.6 +
         (strchr (f->title, '\n') != NULL ? f->font * LINE_HEIGHT : 0);
}

/* Bold first line; the input text, after the newline, lighter below it. */
static void
paint_title (const Figure *f)
{
  if (f->title == NULL)
    return;
  const char *newline = strchr (f->title, '\n');
  g_autofree char *heading = g_strndup (f->title, newline ? (gsize) (newline - f->title) : strlen (f->title));
  double max_w = f->width - 2 * f->pad, y = f->pad + f->font * 1.15 * LINE_HEIGHT / 2;
  FigureText t;

  figure_text_init (&t, f);
  /* Shrink a long heading a little (to 80 %) before cutting it. */
  double size = f->font * 1.15, w = figure_text_set (&t, heading, size, TRUE, 0);
  if (w > max_w)
    size = MAX (size * 0.8, size * max_w / w);
  figure_text_set (&t, heading, size, TRUE, max_w);
  set_foreground (f, 1.0);
  figure_text_show (&t, f->cr, f->width / 2, y, FALSE);
  if (newline != NULL)
    {
      figure_text_set (&t, newline + 1, f->font, FALSE, max_w);
      set_foreground (f, 0.8);
      figure_text_show (&t, f->cr, f->width / 2, y + f->font * 1.15 * LINE_HEIGHT / 2 + f->font * LINE_HEIGHT / 2, FALSE);
    }
  figure_text_clear (&t);
}

static void
paint_background (const Figure *f)
{
  double v = f->options->dark ? 0.12 : 1.0;
  cairo_set_source_rgb (f->cr, v, v, v);
  cairo_paint (f->cr);
}

/* ---- views --------------------------------------------------------------- */

static void
render_single (Figure *f,
               int     head)
{
  const AsFigureOptions *o = f->options;
  float *values = figure_matrix (f, o->layer, head);
  AsHeatmapSpec spec;
  AsHeatmapLayout layout;

  figure_spec (f, values, &spec);
  spec.row_labels = (const char * const *) f->tokens->labels;
  spec.col_labels = (const char * const *) f->tokens->labels;
  spec.title = f->title;
  spec.colorbar = TRUE;
  /* The scale is always named: a fitted one reads differently from 0 .. 1. */
  spec.colorbar_label = "attention, full 0 to 1 scale";
  if (o->fit_scale)
    {
      spec.vmin = 0;
      spec.vmax = as_heatmap_robust_max (values, spec.rows, spec.cols, spec.causal);
      spec.colorbar_label = as_heatmap_fit_label (spec.rows, spec.cols);
    }
  spec.row_title = "query";
  spec.col_title = "key";

  cairo_save (f->cr);
  cairo_translate (f->cr, f->pad, f->pad);
  as_heatmap_render (f->cr, &spec, f->width - 2 * f->pad, f->height - 2 * f->pad, &layout);
  cairo_restore (f->cr);
  layout.cells_x += f->pad;
  layout.cells_y += f->pad;
  layout.colorbar_x += f->pad;
  layout.colorbar_y += f->pad;
  add_panel (f, o->layer, head, &layout);
  g_free (values);
}

/* Layer view: small multiples. Panel 0 carries the token labels, the
 * others only their head number (in one row above all panels, so the
 * numbers line up), and the heads themselves get the room. */
typedef struct {
  AsHeatmapMargins first, other;
  double           header_h;        /* the "head k" row */
  double           colorbar_w;
  double           gap;
  double           width, height;   /* of everything below the title */
} LayerGeometry;

static void
layer_panel_spec (const Figure  *f,
                  const float   *values,
                  int            head,
                  AsHeatmapSpec *spec)
{
  figure_spec (f, values, spec);
  spec->col_labels = head == 0 ? (const char * const *) f->tokens->labels : NULL;
  spec->row_labels = head == 0 ? (const char * const *) f->tokens->labels : NULL;
}

static void
layer_geometry (const Figure  *f,
                double         cell,
                LayerGeometry *g)
{
  int heads = f->attention->n_heads, n = f->tokens->n;
  AsHeatmapSpec spec;
  static const float zero = 0;

  layer_panel_spec (f, &zero, 0, &spec);
  as_heatmap_measure (f->cr, &spec, cell, &g->first);
  layer_panel_spec (f, &zero, 1, &spec);
  as_heatmap_measure (f->cr, &spec, cell, &g->other);
  if (heads == 1)
    g->other = g->first;

  g->header_h = f->font * LINE_HEIGHT + f->font * 0.3;
  g->gap = f->font;
  double first_w = g->first.left + n * cell + g->first.right;
  double other_w = g->other.left + n * cell + g->other.right;
  g->width = first_w + (heads - 1) * (g->gap + other_w) + g->gap + g->colorbar_w;
  g->height = g->header_h + MAX (g->first.top, g->other.top) + n * cell +
              MAX (g->first.bottom, g->other.bottom);
}

static double
layer_solve_cell (const Figure *f,
                  double        avail_w,
                  double        avail_h,
                  double        colorbar_w)
{
  int n = f->tokens->n;
  double lo = 0, hi = MIN (avail_w / (n * f->attention->n_heads), avail_h / n);
  for (int i = 0; i < 16; i++)
    {
      double mid = (lo + hi) / 2;
      LayerGeometry g = { .colorbar_w = colorbar_w };
      layer_geometry (f, mid, &g);
      if (g.width <= avail_w && g.height <= avail_h)
        lo = mid;
      else
        hi = mid;
    }
  return lo;
}

static void
paint_head_number (const Figure *f,
                   int           head,
                   double        cx,
                   double        cy)
{
  FigureText t;
  char text[32];
  g_snprintf (text, sizeof text, "head %d", head + 1);
  figure_text_init (&t, f);
  figure_text_set (&t, text, f->font, TRUE, 0);
  set_foreground (f, 1.0);
  figure_text_show (&t, f->cr, cx, cy, FALSE);
  figure_text_clear (&t);
}

static void
render_layer (Figure *f)
{
  const AsFigureOptions *o = f->options;
  int heads = f->attention->n_heads, n = f->tokens->n;
  AsHeatmapSpec spec;

  figure_spec (f, NULL, &spec);
  spec.colorbar_label = "attention";
  double colorbar_w = as_heatmap_colorbar_width (f->cr, &spec);
  double top = f->pad + title_height (f);
  double avail_w = f->width - 2 * f->pad, avail_h = f->height - f->pad - top;
  double cell = layer_solve_cell (f, avail_w, avail_h, colorbar_w);
  if (!(cell > 0))
    return;

  LayerGeometry g = { .colorbar_w = colorbar_w };
  layer_geometry (f, cell, &g);
  double x = f->pad + (avail_w - g.width) / 2;
  double cells_top = top + g.header_h + MAX (g.first.top, g.other.top);

  for (int h = 0; h < heads; h++)
    {
      const AsHeatmapMargins *m = h == 0 ? &g.first : &g.other;
      float *values = figure_matrix (f, o->layer, h);
      AsHeatmapLayout layout;
      layer_panel_spec (f, values, h, &spec);
      as_heatmap_render_at (f->cr, &spec, x, cells_top - m->top, cell, &layout);
      paint_head_number (f, h, x + m->left + n * cell / 2, top + f->font * LINE_HEIGHT / 2);
      add_panel (f, o->layer, h, &layout);
      g_free (values);
      x += m->left + n * cell + m->right + g.gap;
    }

  figure_spec (f, NULL, &spec);
  spec.colorbar_label = "attention";
  as_heatmap_render_colorbar (f->cr, &spec, x, cells_top, n * cell);
}

/* Grid view: thumbnails without labels, numbered rows and columns. */
typedef struct {
  double header_h;      /* "head" and the head numbers above */
  double header_w;      /* "layer" and the layer numbers on the left */
  double gap;           /* between thumbnails */
  double thumb;
  double colorbar_gap;
  double colorbar_w;
} GridGeometry;

static void
grid_geometry (const Figure *f,
               GridGeometry *g)
{
  const AsAnalysis *a = f->attention;
  AsHeatmapSpec spec;
  FigureText t;
  char number[16];

  figure_text_init (&t, f);
  g_snprintf (number, sizeof number, "%d", MAX (a->n_layers, a->n_heads));
  double number_w = figure_text_set (&t, number, f->font * 0.9, FALSE, 0);
  figure_text_clear (&t);

  figure_spec (f, NULL, &spec);
  spec.colorbar_label = "attention";
  g->colorbar_w = as_heatmap_colorbar_width (f->cr, &spec);
  g->colorbar_gap = f->font;
  g->header_h = 2 * f->font * LINE_HEIGHT + f->font * 0.2;
  g->header_w = f->font * LINE_HEIGHT + number_w + f->font * 0.8;
  g->gap = MAX (1.0, f->font * 0.35);

  double avail_w = f->width - 2 * f->pad - g->header_w - g->colorbar_gap - g->colorbar_w;
  double avail_h = f->height - 2 * f->pad - title_height (f) - g->header_h;
  g->thumb = MIN ((avail_w - (a->n_heads - 1) * g->gap) / a->n_heads,
                  (avail_h - (a->n_layers - 1) * g->gap) / a->n_layers);
}

static void
paint_grid_headers (const Figure       *f,
                    const GridGeometry *g,
                    double              x,
                    double              y)
{
  const AsAnalysis *a = f->attention;
  double step = g->thumb + g->gap;
  double grid_w = a->n_heads * step - g->gap, grid_h = a->n_layers * step - g->gap;
  FigureText t;
  char number[16];

  figure_text_init (&t, f);
  set_foreground (f, 1.0);
  figure_text_set (&t, "head", f->font, FALSE, 0);
  figure_text_show (&t, f->cr, x + grid_w / 2, y - g->header_h + f->font * LINE_HEIGHT / 2, FALSE);
  figure_text_set (&t, "layer", f->font, FALSE, 0);
  figure_text_show (&t, f->cr, x - g->header_w + f->font * LINE_HEIGHT / 2, y + grid_h / 2, TRUE);
  for (int h = 0; h < a->n_heads; h++)
    {
      g_snprintf (number, sizeof number, "%d", h + 1);
      figure_text_set (&t, number, f->font * 0.9, FALSE, 0);
      figure_text_show (&t, f->cr, x + h * step + g->thumb / 2, y - f->font * 0.2 - f->font * LINE_HEIGHT / 2, FALSE);
    }
  for (int l = 0; l < a->n_layers; l++)
    {
      g_snprintf (number, sizeof number, "%d", l + 1);
      double w = figure_text_set (&t, number, f->font * 0.9, FALSE, 0);
      figure_text_show (&t, f->cr, x - f->font * 0.4 - w / 2, y + l * step + g->thumb / 2, FALSE);
    }
  figure_text_clear (&t);
}

static void
render_grid (Figure *f)
{
  const AsAnalysis *a = f->attention;
  int n = f->tokens->n;
  GridGeometry g;
  AsHeatmapSpec spec;

  grid_geometry (f, &g);
  if (!(g.thumb > 0))
    return;
  double step = g.thumb + g.gap;
  double grid_w = a->n_heads * step - g.gap, grid_h = a->n_layers * step - g.gap;
  double total_w = g.header_w + grid_w + g.colorbar_gap + g.colorbar_w;
  double total_h = g.header_h + grid_h;
  double top = f->pad + title_height (f);
  double x = f->pad + (f->width - 2 * f->pad - total_w) / 2 + g.header_w;
  double y = top + (f->height - f->pad - top - total_h) / 2 + g.header_h;

  paint_grid_headers (f, &g, x, y);
  for (int l = 0; l < a->n_layers; l++)
    for (int h = 0; h < a->n_heads; h++)
      {
        float *values = figure_matrix (f, l, h);
        AsHeatmapLayout layout;
        double tx = x + h * step, ty = y + l * step;
        figure_spec (f, values, &spec);
        as_heatmap_render_at (f->cr, &spec, tx, ty, g.thumb / n, &layout);
        add_panel (f, l, h, &layout);
        g_free (values);
      }

  figure_spec (f, NULL, &spec);
  spec.colorbar_label = "attention";
  as_heatmap_render_colorbar (f->cr, &spec, x + grid_w + g.colorbar_gap, y, grid_h);
}

/* ---- public: checks, sizes, rendering ------------------------------------ */

gboolean
as_figure_check (const AsAnalysis       *attention,
                 const AsFigureOptions  *options,
                 GError                **error)
{
  const AsFigureOptions *o = options;
  if ((guint) o->view >= AS_N_FIGURE_VIEWS)
    {
      g_set_error (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID, "unknown view %d", o->view);
      return FALSE;
    }
  if (o->view != AS_FIGURE_GRID)
    {
      /* The layer view's panels are heads: checking head 0 checks the layer. */
      AsShownSpec spec;
      GError *local = NULL;
      as_figure_options_get_shown (o, o->view == AS_FIGURE_LAYER ? 0 : single_head (o), &spec);
      if (!as_shown_check (&spec, attention->n_layers, attention->n_heads, attention->n_layers, &local))
        {
          g_set_error_literal (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID, local->message);
          g_error_free (local);
          return FALSE;
        }
    }
  AsShownTokens *tokens = figure_tokens (attention, o, FALSE);
  int n = tokens->n;
  as_shown_tokens_free (tokens);
  if (n == 0)
    {
      g_set_error_literal (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                           attention->n == 0 ? "nothing to draw: the input has no tokens"
                           : o->sentence == AS_SHOWN_SENTENCE_B ? "nothing to draw: the input has no sentence B"
                                                                : "nothing to draw: the input has no sentence A");
      return FALSE;
    }
  return TRUE;
}

AsShown *
as_figure_shown (const AsAnalysis       *attention,
                 const AsFigureOptions  *options,
                 GError                **error)
{
  if (!as_figure_check (attention, options, error))
    return NULL;
  if (options->view != AS_FIGURE_HEAD && options->view != AS_FIGURE_MEAN)
    {
      g_set_error_literal (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                           "only the head and mean views have a single panel");
      return NULL;
    }
  Figure f = { .attention = attention, .options = options };
  f.tokens = figure_tokens (attention, options, TRUE);
  AsShown *shown = g_new0 (AsShown, 1);
  shown->values = figure_matrix (&f, options->layer, single_head (options));
  shown->tokens = f.tokens;
  return shown;
}

void
as_figure_get_size (const AsAnalysis      *attention,
                    const AsFigureOptions *options,
                    double                *width,
                    double                *height)
{
  double w, h;   /* defaults in pixels */
  switch (options->view)
    {
    case AS_FIGURE_LAYER:
      w = 250.0 * attention->n_heads + 240;
      h = 370;
      break;
    case AS_FIGURE_GRID:
      w = 100.0 * attention->n_heads + 190;
      h = 100.0 * attention->n_layers + 170;
      break;
    case AS_FIGURE_HEAD:
    case AS_FIGURE_MEAN:
    case AS_N_FIGURE_VIEWS:
    default:
      w = 900;
      h = 900;
      break;
    }
  if (options->unit == AS_UNIT_PT)
    {
      double dpi = options->dpi > 0 ? options->dpi : 96;
      w *= 72 / dpi;
      h *= 72 / dpi;
    }
  if (options->width > 0 && options->height > 0)
    w = options->width, h = options->height;
  else if (options->width > 0)
    h = options->width * h / w, w = options->width;
  else if (options->height > 0)
    w = options->height * w / h, h = options->height;
  *width = w;
  *height = h;
}

gboolean
as_figure_render (cairo_t                *cr,
                  const AsAnalysis       *attention,
                  const AsFigureOptions  *options,
                  AsCellMode              mode,
                  double                  width,
                  double                  height,
                  GArray                 *panels,
                  GError                **error)
{
  if (!as_figure_check (attention, options, error))
    return FALSE;

  Figure f = {
    .cr = cr, .attention = attention, .options = options, .mode = mode,
    .width = width, .height = height, .panels = panels,
  };
  f.tokens = figure_tokens (attention, options, TRUE);
  f.font = options->font_size > 0 ? options->font_size : CLAMP (MIN (width, height) / 40.0, 7.0, 14.0);
  f.pad = f.font;
  f.title = options->title ? figure_title (attention, options) : NULL;

  cairo_save (cr);
  paint_background (&f);
  switch (options->view)
    {
    case AS_FIGURE_HEAD:
    case AS_FIGURE_MEAN:
      render_single (&f, single_head (options));
      break;
    case AS_FIGURE_LAYER:
      paint_title (&f);
      render_layer (&f);
      break;
    case AS_FIGURE_GRID:
    case AS_N_FIGURE_VIEWS:
    default:
      paint_title (&f);
      render_grid (&f);
      break;
    }
  cairo_restore (cr);

  g_free (f.title);
  as_shown_tokens_free (f.tokens);
  return TRUE;
}

/* ---- output: through the shared atomic writer -------------------------- */

/* Cairo's write callback. A failure stops Cairo; the writer keeps its errno
 * for the message. */
static cairo_status_t
out_write (void                *closure,
           const unsigned char *data,
           unsigned int         length)
{
  FILE *stream = as_output_file_stream (closure);
  if (fwrite (data, 1, length, stream) != length)
    return CAIRO_STATUS_WRITE_ERROR;
  return CAIRO_STATUS_SUCCESS;
}

static cairo_status_t
bytes_write (void                *closure,
             const unsigned char *data,
             unsigned int         length)
{
  g_byte_array_append (closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

/* ---- output: surfaces ---------------------------------------------------- */

/* User units per output unit: pixels for PNG, points for PDF. */
static double
px_per_unit (const AsFigureOptions *o)
{
  double dpi = o->dpi > 0 ? o->dpi : 96;
  return o->unit == AS_UNIT_PT ? dpi / 72 : 1;
}

static double
pt_per_unit (const AsFigureOptions *o)
{
  double dpi = o->dpi > 0 ? o->dpi : 96;
  return o->unit == AS_UNIT_PX ? 72 / dpi : 1;
}

static void
scale_panels (GArray *panels,
              guint   first,
              double  s)
{
  for (guint i = first; panels != NULL && i < panels->len; i++)
    {
      AsHeatmapLayout *l = &g_array_index (panels, AsFigurePanel, i).layout;
      l->cells_x *= s, l->cells_y *= s, l->cell_w *= s, l->cell_h *= s;
      l->colorbar_x *= s, l->colorbar_y *= s, l->colorbar_w *= s, l->colorbar_h *= s;
      l->label_font_size *= s;
    }
}

static gboolean
check_cairo (cairo_status_t   status,
             const char      *what,
             GError         **error)
{
  if (status == CAIRO_STATUS_SUCCESS)
    return TRUE;
  g_set_error (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_FAILED, "%s: %s", what, cairo_status_to_string (status));
  return FALSE;
}

/* Draws onto SURFACE scaled by SCALE, and finishes it (which writes it). */
static gboolean
draw_on (cairo_surface_t        *surface,
         const AsAnalysis       *attention,
         const AsFigureOptions  *options,
         AsCellMode              mode,
         double                  width,
         double                  height,
         double                  scale,
         GArray                 *panels,
         GError                **error)
{
  guint first = panels != NULL ? panels->len : 0;
  cairo_t *cr = cairo_create (surface);
  cairo_scale (cr, scale, scale);
  gboolean ok = as_figure_render (cr, attention, options, mode, width, height, panels, error);
  ok = ok && check_cairo (cairo_status (cr), "drawing failed", error);
  cairo_destroy (cr);
  if (ok)
    scale_panels (panels, first, scale);
  return ok;
}

static cairo_surface_t *
png_surface (const AsFigureOptions  *options,
             double                  width,
             double                  height,
             GError                **error)
{
  double s = px_per_unit (options);
  double pw = ceil (width * s - 1e-6), ph = ceil (height * s - 1e-6);
  if (pw < 1 || ph < 1 || pw > MAX_PIXELS || ph > MAX_PIXELS)
    {
      g_set_error (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                   "image size %.0f x %.0f pixels is outside 1 to %d", pw, ph, MAX_PIXELS);
      return NULL;
    }
  return cairo_image_surface_create (CAIRO_FORMAT_RGB24, (int) pw, (int) ph);
}

static gboolean
write_png (AsOutputFile           *out,
           const AsAnalysis       *attention,
           const AsFigureOptions  *options,
           double                  width,
           double                  height,
           GArray                 *panels,
           GError                **error)
{
  cairo_surface_t *surface = png_surface (options, width, height, error);
  if (surface == NULL)
    return FALSE;
  gboolean ok = draw_on (surface, attention, options, AS_CELLS_IMAGE, width, height,
                         px_per_unit (options), panels, error);
  if (ok)
    ok = check_cairo (cairo_surface_write_to_png_stream (surface, out_write, out), "cannot encode PNG", error);
  cairo_surface_destroy (surface);
  return ok;
}

static gboolean
write_vector (AsOutputFile           *out,
              AsFigureFormat          format,
              const AsAnalysis       *attention,
              const AsFigureOptions  *options,
              double                  width,
              double                  height,
              GArray                 *panels,
              GError                **error)
{
  cairo_surface_t *surface;
  double scale = 1;
  if (format == AS_FORMAT_SVG)
    {
      /* The SVG keeps the figure's own unit: width="800px" or "600pt". */
      surface = cairo_svg_surface_create_for_stream (out_write, out, width, height);
      cairo_svg_surface_set_document_unit (surface, options->unit == AS_UNIT_PT ? CAIRO_SVG_UNIT_PT
                                                                                : CAIRO_SVG_UNIT_PX);
    }
  else
    {
      scale = pt_per_unit (options);
      surface = cairo_pdf_surface_create_for_stream (out_write, out, width * scale, height * scale);
    }
  gboolean ok = check_cairo (cairo_surface_status (surface), "cannot create the document", error) &&
                draw_on (surface, attention, options, AS_CELLS_VECTOR, width, height, scale, panels, error);
  cairo_surface_finish (surface);
  ok = ok && check_cairo (cairo_surface_status (surface), "cannot write the document", error);
  cairo_surface_destroy (surface);
  return ok;
}

gboolean
as_figure_write (const AsAnalysis       *attention,
                 const AsFigureOptions  *options,
                 AsOutputFile           *out,
                 AsFigureFormat          format,
                 GArray                 *panels,
                 GError                **error)
{
  g_return_val_if_fail (format != AS_FORMAT_AUTO, FALSE);
  if (!as_figure_check (attention, options, error))
    return FALSE;

  double width, height;
  as_figure_get_size (attention, options, &width, &height);
  gboolean ok = format == AS_FORMAT_PNG
                  ? write_png (out, attention, options, width, height, panels, error)
                  : write_vector (out, format, attention, options, width, height, panels, error);
  /* A write error inside Cairo surfaces as a Cairo status; say what it was. */
  if (!as_output_file_check (out, NULL))
    {
      g_clear_error (error);
      as_output_file_check (out, error);
      return FALSE;
    }
  return ok;
}

gboolean
as_figure_save (const AsAnalysis       *attention,
                const AsFigureOptions  *options,
                const char             *path,
                const char * const     *protect,
                AsFigureFormat          format,
                GArray                 *panels,
                GError                **error)
{
  if (format == AS_FORMAT_AUTO)
    format = as_figure_format_from_path (path);
  if (format == AS_FORMAT_AUTO)
    {
      g_set_error (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                   "cannot tell the format of %s: name it .png, .svg or .pdf, or give the format", path);
      return FALSE;
    }
  /* Checked before the file is touched, so a bad request leaves it alone. */
  if (!as_figure_check (attention, options, error))
    return FALSE;

  AsOutputFile *out = as_output_file_open (path, protect, error);
  if (out == NULL)
    return FALSE;
  if (!as_figure_write (attention, options, out, format, panels, error))
    {
      as_output_file_abort (out);
      return FALSE;
    }
  return as_output_file_commit (out, error);
}

GBytes *
as_figure_render_png (const AsAnalysis       *attention,
                      const AsFigureOptions  *options,
                      GError                **error)
{
  double width, height;
  if (!as_figure_check (attention, options, error))
    return NULL;
  as_figure_get_size (attention, options, &width, &height);
  cairo_surface_t *surface = png_surface (options, width, height, error);
  if (surface == NULL)
    return NULL;

  GByteArray *bytes = g_byte_array_new ();
  gboolean ok = draw_on (surface, attention, options, AS_CELLS_IMAGE, width, height,
                         px_per_unit (options), NULL, error) &&
                check_cairo (cairo_surface_write_to_png_stream (surface, bytes_write, bytes),
                             "cannot encode PNG", error);
  cairo_surface_destroy (surface);
  if (!ok)
    {
      g_byte_array_unref (bytes);
      return NULL;
    }
  return g_byte_array_free_to_bytes (bytes);
}

/* ---- other drawings ------------------------------------------------------ */

static gboolean
write_drawing (AsOutputFile      *out,
               AsFigureFormat     format,
               double             width,
               double             height,
               AsFigureDrawFunc   draw,
               gpointer           data,
               GError           **error)
{
  double pw = ceil (width - 1e-6), ph = ceil (height - 1e-6);
  if (pw < 1 || ph < 1 || pw > MAX_PIXELS || ph > MAX_PIXELS)
    {
      g_set_error (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                   "image size %.0f x %.0f pixels is outside 1 to %d", pw, ph, MAX_PIXELS);
      return FALSE;
    }
  cairo_surface_t *surface;
  double scale = 1;   /* output units per pixel */
  if (format == AS_FORMAT_PNG)
    surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, (int) pw, (int) ph);
  else if (format == AS_FORMAT_SVG)
    {
      surface = cairo_svg_surface_create_for_stream (out_write, out, width, height);
      cairo_svg_surface_set_document_unit (surface, CAIRO_SVG_UNIT_PX);
    }
  else
    {
      scale = 72.0 / 96;
      surface = cairo_pdf_surface_create_for_stream (out_write, out, width * scale, height * scale);
    }
  gboolean ok = check_cairo (cairo_surface_status (surface), "cannot create the document", error);
  if (ok)
    {
      cairo_t *cr = cairo_create (surface);
      cairo_scale (cr, scale, scale);
      ok = draw (cr, format == AS_FORMAT_PNG ? AS_CELLS_IMAGE : AS_CELLS_VECTOR, width, height, data, error) &&
           check_cairo (cairo_status (cr), "drawing failed", error);
      cairo_destroy (cr);
    }
  if (ok && format == AS_FORMAT_PNG)
    ok = check_cairo (cairo_surface_write_to_png_stream (surface, out_write, out), "cannot encode PNG", error);
  cairo_surface_finish (surface);
  ok = ok && check_cairo (cairo_surface_status (surface), "cannot write the document", error);
  cairo_surface_destroy (surface);
  return ok;
}

gboolean
as_figure_save_drawing (const char          *path,
                        const char * const  *protect,
                        AsFigureFormat       format,
                        double               width,
                        double               height,
                        AsFigureDrawFunc     draw,
                        gpointer             data,
                        GError             **error)
{
  if (format == AS_FORMAT_AUTO)
    format = as_figure_format_from_path (path);
  if (format == AS_FORMAT_AUTO)
    {
      g_set_error (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                   "cannot tell the format of %s: name it .png, .svg or .pdf, or give the format", path);
      return FALSE;
    }
  AsOutputFile *out = as_output_file_open (path, protect, error);
  if (out == NULL)
    return FALSE;
  gboolean ok = write_drawing (out, format, width, height, draw, data, error);
  if (ok && !as_output_file_check (out, error))
    ok = FALSE;
  if (!ok)
    {
      as_output_file_abort (out);
      return FALSE;
    }
  return as_output_file_commit (out, error);
}
