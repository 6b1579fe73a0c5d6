/* as-signed-heatmap.c — diverging colours, signed cells and their colour bar. */
#include "as-signed-heatmap.h"

#include <math.h>
#include <pango/pangocairo.h>

/* Seven stops from dark blue through white to dark red (the familiar RdBu
 * scheme, symmetric so equal |v| look equally strong). */
static const guint8 stops[7][3] = {
  { 5, 48, 97 }, { 33, 102, 172 }, { 146, 197, 222 }, { 247, 247, 247 },
  { 244, 165, 130 }, { 178, 24, 43 }, { 103, 0, 31 },
};

guint32
as_diverging_argb (float v,
                   float range)
{
  double t = range > 0 && !isnan (v) ? CLAMP (v / range, -1.0, 1.0) : 0.0;
  double pos = (t + 1) * 3;              /* 0 .. 6 over the stops */
  int i = MIN ((int) floor (pos), 5);
  double f = pos - i;
  guint32 argb = 0xff000000u;
  for (int c = 0; c < 3; c++)
    {
      double x = stops[i][c] + f * (stops[i + 1][c] - stops[i][c]);
      argb |= (guint32) lround (x) << (16 - 8 * c);
    }
  return argb;
}

float
as_signed_range (const float *values,
                 gsize        n)
{
  float m = 0;
  for (gsize i = 0; i < n; i++)
    if (!isnan (values[i]))
      m = MAX (m, fabsf (values[i]));
  return m;
}

void
as_signed_cells_paint (cairo_t     *cr,
                       const float *values,
                       int          rows,
                       int          cols,
                       float        range,
                       double       x,
                       double       y,
                       double       w,
                       double       h)
{
  if (rows < 1 || cols < 1 || !(w > 0) || !(h > 0))
    return;
  cairo_surface_t *img = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, cols, rows);
  int stride = cairo_image_surface_get_stride (img);
  guint8 *data = cairo_image_surface_get_data (img);
  for (int r = 0; r < rows; r++)
    {
      guint32 *px = (guint32 *) (data + (gsize) r * stride);   /* [cols] */
      for (int c = 0; c < cols; c++)
        px[c] = as_diverging_argb (values[(gsize) r * cols + c], range);
    }
  cairo_surface_mark_dirty (img);

  cairo_save (cr);
  cairo_rectangle (cr, x, y, w, h);
  cairo_clip (cr);
  cairo_translate (cr, x, y);
  cairo_scale (cr, w / cols, h / rows);
  cairo_set_source_surface (cr, img, 0, 0);
  /* Sharp cells when enlarged; averaged when there are more cells than
   * pixels, so a wide embedding matrix does not alias into stripes. */
  gboolean shrink = w < cols || h < rows;
  cairo_pattern_set_filter (cairo_get_source (cr), shrink ? CAIRO_FILTER_GOOD : CAIRO_FILTER_NEAREST);
  cairo_pattern_set_extend (cairo_get_source (cr), CAIRO_EXTEND_PAD);
  cairo_paint (cr);
  cairo_restore (cr);
  cairo_surface_destroy (img);
}

/* ---- text ------------------------------------------------------------- */

static PangoLayout *
make_layout (cairo_t    *cr,
             double      font_size,
             gboolean    bold)
{
  PangoLayout *layout = pango_cairo_create_layout (cr);
  PangoFontDescription *desc = pango_font_description_from_string ("Sans");
  pango_font_description_set_absolute_size (desc, font_size * PANGO_SCALE);
  if (bold)
    pango_font_description_set_weight (desc, PANGO_WEIGHT_BOLD);
  pango_layout_set_font_description (layout, desc);
  pango_font_description_free (desc);
  return layout;
}

static void
text_size (PangoLayout *layout,
           const char  *text,
           double      *w,
           double      *h)
{
  pango_layout_set_text (layout, text, -1);
  PangoRectangle ink, logical;
  pango_layout_get_extents (layout, &ink, &logical);
  *w = logical.width / (double) PANGO_SCALE;
  *h = logical.height / (double) PANGO_SCALE;
}

static void
text_at (cairo_t     *cr,
         PangoLayout *layout,
         const char  *text,
         double       x,
         double       y)
{
  pango_layout_set_text (layout, text, -1);
  cairo_move_to (cr, x, y);
  pango_cairo_show_layout (cr, layout);
}

static void
set_fg (cairo_t  *cr,
        gboolean  dark,
        double    alpha)
{
  if (dark)
    cairo_set_source_rgba (cr, 1, 1, 1, alpha);
  else
    cairo_set_source_rgba (cr, 0, 0, 0, alpha);
}

static void
format_tick (char   *buf,
             gsize   len,
             double  v)
{
  if (v == 0)
    g_snprintf (buf, len, "0");
  else if (fabs (v) >= 100 || fabs (v) < 0.01)
    g_snprintf (buf, len, "%+.2g", v);
  else
    g_snprintf (buf, len, "%+.3g", v);
}

double
as_signed_colorbar (cairo_t    *cr,
                    float       range,
                    const char *label,
                    double      font_size,
                    gboolean    dark,
                    gboolean    draw,
                    double      x,
                    double      y,
                    double      height)
{
  PangoLayout *layout = make_layout (cr, font_size, FALSE);
  double bar_w = font_size, tick_len = font_size * 0.35, gap = font_size * 0.3;
  double tick_w = 0, lw, lh;
  const double vals[3] = { range, 0, -range };
  char buf[32];
  for (int i = 0; i < 3; i++)
    {
      format_tick (buf, sizeof buf, vals[i]);
      text_size (layout, buf, &lw, &lh);
      tick_w = MAX (tick_w, lw);
    }
  double label_w = 0;
  if (label != NULL)
    {
      text_size (layout, label, &lw, &lh);
      label_w = lh + gap;   /* drawn rotated */
    }
  double total = bar_w + tick_len + gap + tick_w + (label != NULL ? gap + label_w : 0);

  if (draw && height > 0)
    {
      /* The bar, top = +range. */
      int steps = 128;
      for (int i = 0; i < steps; i++)
        {
          double v = range * (1 - 2.0 * (i + 0.5) / steps);
          guint32 c = as_diverging_argb ((float) v, range);
          cairo_set_source_rgb (cr, ((c >> 16) & 0xff) / 255.0, ((c >> 8) & 0xff) / 255.0, (c & 0xff) / 255.0);
          cairo_rectangle (cr, x, y + height * i / steps, bar_w, height / steps + 0.5);
          cairo_fill (cr);
        }
      set_fg (cr, dark, 0.5);
      cairo_set_line_width (cr, 1);
      cairo_rectangle (cr, x + 0.5, y + 0.5, bar_w - 1, height - 1);
      cairo_stroke (cr);
      set_fg (cr, dark, 0.85);
      for (int i = 0; i < 3; i++)
        {
          double ty = y + height * i / 2.0;
          cairo_move_to (cr, x + bar_w, ty);
          cairo_line_to (cr, x + bar_w + tick_len, ty);
          cairo_stroke (cr);
          format_tick (buf, sizeof buf, vals[i]);
          text_size (layout, buf, &lw, &lh);
          /* Inside the bar's span: the panel below may not have room. */
          text_at (cr, layout, buf, x + bar_w + tick_len + gap, CLAMP (ty - lh / 2, y, y + height - lh));
        }
      if (label != NULL)
        {
          text_size (layout, label, &lw, &lh);
          cairo_save (cr);
          cairo_translate (cr, x + bar_w + tick_len + gap + tick_w + gap, y + height / 2 + lw / 2);
          cairo_rotate (cr, -G_PI / 2);
          text_at (cr, layout, label, 0, 0);
          cairo_restore (cr);
        }
    }
  g_object_unref (layout);
  return total;
}

void
as_signed_heatmap_render (cairo_t             *cr,
                          const AsHeatmapSpec *spec,
                          float                range,
                          double               width,
                          double               height,
                          AsHeatmapLayout     *layout)
{
  AsHeatmapLayout own;
  AsHeatmapLayout *lay = layout != NULL ? layout : &own;
  AsHeatmapSpec s = *spec;
  s.colorbar = FALSE;
  s.annotate = FALSE;
  s.vmin = -range;
  s.vmax = range;
  double font = spec->font_size > 0 ? spec->font_size : CLAMP (MIN (width, height) / 55.0, 7.0, 14.0);
  double bar = as_signed_colorbar (cr, range, spec->colorbar_label, font, spec->dark, FALSE, 0, 0, 0);
  double gap = font;

  as_heatmap_render (cr, &s, width - bar - gap, height, lay);
  if (!(lay->cell_w > 0))
    return;
  double cw = lay->cell_w * spec->cols, ch = lay->cell_h * spec->rows;
  as_signed_cells_paint (cr, spec->values, spec->rows, spec->cols, range,
                         lay->cells_x, lay->cells_y, cw, ch);
  /* The renderer's highlight went under the new cells: draw it again. */
  if (spec->highlight_row >= 0 && spec->highlight_row < spec->rows)
    {
      set_fg (cr, spec->dark, 0.9);
      cairo_set_line_width (cr, 1.5);
      cairo_rectangle (cr, lay->cells_x, lay->cells_y + spec->highlight_row * lay->cell_h, cw, lay->cell_h);
      cairo_stroke (cr);
    }
  as_signed_colorbar (cr, range, spec->colorbar_label, font, spec->dark, TRUE,
                      lay->cells_x + cw + gap, lay->cells_y, ch);
  lay->colorbar_x = lay->cells_x + cw + gap;
  lay->colorbar_y = lay->cells_y;
  lay->colorbar_w = font;
  lay->colorbar_h = ch;
}

void
as_signed_panel_render (cairo_t     *cr,
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
                        double       height)
{
  if (rows < 1 || cols < 1)
    return;
  PangoLayout *bold = make_layout (cr, font_size * 1.1, TRUE);
  PangoLayout *text = make_layout (cr, font_size, FALSE);
  double tw, th, lw, lh;
  text_size (bold, title != NULL ? title : "", &tw, &th);
  char first_row[16], first_col[16], last_row[16], last_col[16];
  g_snprintf (first_row, sizeof first_row, "%d", row_first);
  g_snprintf (first_col, sizeof first_col, "%d", col_first);
  g_snprintf (last_row, sizeof last_row, "%d", row_first + rows - 1);
  g_snprintf (last_col, sizeof last_col, "%d", col_first + cols - 1);
  text_size (text, first_row, &lw, &lh);
  double rw, rh;
  text_size (text, last_row, &rw, &rh);

  double gap = font_size * 0.4;
  double left = lh + gap + rw + gap;        /* rotated row title, index labels */
  double top = th + gap;
  double bottom = lh + gap + lh;            /* index labels, column title */
  double bar = as_signed_colorbar (cr, range, NULL, font_size, dark, FALSE, 0, 0, 0);
  double x = left, y = top, w = width - left - bar - 2 * gap, h = height - top - bottom;
  if (w < 8 || h < 8)
    goto out;

  set_fg (cr, dark, 0.9);
  text_at (cr, bold, title != NULL ? title : "", 0, 0);
  as_signed_cells_paint (cr, values, rows, cols, range, x, y, w, h);
  set_fg (cr, dark, 0.4);
  cairo_set_line_width (cr, 1);
  cairo_rectangle (cr, x - 0.5, y - 0.5, w + 1, h + 1);
  cairo_stroke (cr);

  /* First and last index on each axis, and the axis titles. */
  set_fg (cr, dark, 0.75);
  text_at (cr, text, first_row, x - gap - lw, y);
  text_at (cr, text, last_row, x - gap - rw, y + h - rh);
  text_at (cr, text, first_col, x, y + h + gap / 2);
  text_size (text, last_col, &lw, &lh);
  text_at (cr, text, last_col, x + w - lw, y + h + gap / 2);
  if (col_title != NULL)
    {
      text_size (text, col_title, &lw, &lh);
      text_at (cr, text, col_title, x + (w - lw) / 2, y + h + gap / 2 + lh * 0.9);
    }
  if (row_title != NULL)
    {
      text_size (text, row_title, &lw, &lh);
      cairo_save (cr);
      cairo_translate (cr, 0, y + h / 2 + lw / 2);
      cairo_rotate (cr, -G_PI / 2);
      text_at (cr, text, row_title, 0, 0);
      cairo_restore (cr);
    }
  as_signed_colorbar (cr, range, NULL, font_size, dark, TRUE, x + w + 2 * gap, y, h);
out:
  g_object_unref (bold);
  g_object_unref (text);
}
