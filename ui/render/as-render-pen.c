/* as-render-pen.c — the teaching pictures' text, numbers and strips. */
#include "as-render-pen.h"

#include <math.h>

#include "as-signed-heatmap.h"

void
as_pen_init (AsPen      *pen,
             cairo_t    *cr,
             const char *font,
             gboolean    dark,
             double      width)
{
  pen->cr = cr;
  pen->dark = dark;
  pen->width = width;
  pen->text = pango_cairo_create_layout (cr);
  pen->bold = pango_cairo_create_layout (cr);
  pen->mono = pango_cairo_create_layout (cr);
  PangoFontDescription *d = pango_font_description_from_string (font != NULL ? font : "Sans");
  pango_font_description_set_absolute_size (d, AS_PEN_FONT * PANGO_SCALE);
  pango_layout_set_font_description (pen->text, d);
  pango_font_description_set_weight (d, PANGO_WEIGHT_BOLD);
  pango_layout_set_font_description (pen->bold, d);
  pango_font_description_free (d);
  d = pango_font_description_from_string ("Monospace");
  pango_font_description_set_absolute_size (d, AS_PEN_MONO_FONT * PANGO_SCALE);
  pango_layout_set_font_description (pen->mono, d);
  pango_font_description_free (d);
}

void
as_pen_clear (AsPen *pen)
{
  g_clear_object (&pen->text);
  g_clear_object (&pen->bold);
  g_clear_object (&pen->mono);
}

void
as_pen_fg (AsPen  *pen,
           double  alpha)
{
  double v = pen->dark ? 1 : 0;
  cairo_set_source_rgba (pen->cr, v, v, v, alpha);
}

double
as_pen_text (AsPen       *pen,
             PangoLayout *layout,
             const char  *markup,
             double       x,
             double       y,
             int          align)
{
  pango_layout_set_markup (layout, markup, -1);
  int w, h;
  pango_layout_get_pixel_size (layout, &w, &h);
  double left = align < 0 ? x - w : align == 0 ? x - w / 2.0 : x;
  cairo_move_to (pen->cr, left, y - h / 2.0);
  pango_cairo_show_layout (pen->cr, layout);
  return w;
}

double
as_pen_wrapped (AsPen       *pen,
                PangoLayout *layout,
                const char  *markup,
                double       x,
                double       top,
                double       width,
                gboolean     draw)
{
  pango_layout_set_markup (layout, markup, -1);
  pango_layout_set_width (layout, (int) (MAX (width, 40) * PANGO_SCALE));
  pango_layout_set_wrap (layout, PANGO_WRAP_WORD_CHAR);
  int w, h;
  pango_layout_get_pixel_size (layout, &w, &h);
  if (draw)
    {
      cairo_move_to (pen->cr, x, top);
      pango_cairo_show_layout (pen->cr, layout);
    }
  pango_layout_set_width (layout, -1);
  return h;
}

void
as_pen_rule (AsPen  *pen,
             double  y)
{
  as_pen_fg (pen, 0.5);
  cairo_set_line_width (pen->cr, 2);
  cairo_move_to (pen->cr, 10, y);
  cairo_line_to (pen->cr, pen->width - 10, y);
  cairo_stroke (pen->cr);
}

void
as_pen_strip (AsPen       *pen,
              const float *values,
              int          n,
              double       range,
              double       x,
              double       y,
              double       w,
              double       h)
{
  as_signed_cells_paint (pen->cr, values, 1, n, (float) range, x, y - h / 2, w, h);
  as_pen_fg (pen, 0.3);
  cairo_set_line_width (pen->cr, 1);
  cairo_rectangle (pen->cr, x - 0.5, y - h / 2 - 0.5, w + 1, h + 1);
  cairo_stroke (pen->cr);
}

void
as_pen_signed_bar (AsPen  *pen,
                   double  cx,
                   double  y,
                   double  half,
                   double  v,
                   double  range)
{
  double len = range > 0 ? half * CLAMP (v / range, -1, 1) : 0;
  guint32 c = as_diverging_argb ((float) v, (float) range);
  cairo_set_source_rgb (pen->cr, ((c >> 16) & 0xff) / 255.0, ((c >> 8) & 0xff) / 255.0, (c & 0xff) / 255.0);
  cairo_rectangle (pen->cr, len < 0 ? cx + len : cx, y - AS_PEN_ROW_H * 0.3, fabs (len), AS_PEN_ROW_H * 0.6);
  cairo_fill (pen->cr);
  as_pen_fg (pen, 0.35);
  cairo_set_line_width (pen->cr, 1);
  cairo_move_to (pen->cr, cx + 0.5, y - AS_PEN_ROW_H / 2);
  cairo_line_to (pen->cr, cx + 0.5, y + AS_PEN_ROW_H / 2);
  cairo_stroke (pen->cr);
}

void
as_pen_format (char   *buf,
               gsize   len,
               double  v)
{
  if (isinf (v))
    g_snprintf (buf, len, v < 0 ? "−∞" : "∞");
  else if (v != 0 && fabs (v) < 0.001)
    g_snprintf (buf, len, "%.2e", v);
  else
    g_snprintf (buf, len, "%.4f", v);
}
