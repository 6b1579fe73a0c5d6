/* as-bars-render.c — labelled probability bars (as-bars-render.h). */
#include "as-bars-render.h"

#include <pango/pangocairo.h>

/* Text of LAYOUT at (X, the middle of the row at Y) in BARS' colour. */
static void
show_text (cairo_t      *cr,
           PangoLayout  *layout,
           const AsBars *bars,
           double        x,
           double        y)
{
  int tw, th;
  pango_layout_get_pixel_size (layout, &tw, &th);
  cairo_set_source_rgba (cr, bars->fg[0], bars->fg[1], bars->fg[2], bars->fg[3]);
  cairo_move_to (cr, x, y + (bars->row_h - th) / 2);
  pango_cairo_show_layout (cr, layout);
}

void
as_bars_render (cairo_t      *cr,
                PangoLayout  *layout,
                const AsBars *bars,
                double        y,
                double        width)
{
  const double row = bars->row_h;
  const double label_w = MIN (180.0, width * 0.3), value_w = 64;
  const double bar_w = MAX (10.0, width - label_w - value_w - 16);
  const double *hl = bars->highlight_rgb;

  for (int i = 0; i < bars->n; i++, y += row)
    {
      const gboolean is_hl = i == bars->highlight;
      const float prob = bars->probs[i];
      if (is_hl && bars->outline)
        {
          cairo_set_source_rgba (cr, hl[0], hl[1], hl[2], 0.9);
          cairo_set_line_width (cr, 2);
          cairo_rectangle (cr, 1, y + 1, width - 2, row - 2);
          cairo_stroke (cr);
        }

      /* The label, right-aligned against the track. */
      int tw, th;
      pango_layout_set_text (layout, bars->labels[i] != NULL ? bars->labels[i] : "?", -1);
      pango_layout_set_width (layout, (int) (label_w - 8) * PANGO_SCALE);
      pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_END);
      pango_layout_get_pixel_size (layout, &tw, &th);
      show_text (cr, layout, bars, label_w - 8 - tw, y);

      /* Track, then the bar: its share of the whole distribution. */
      cairo_set_source_rgba (cr, bars->fg[0], bars->fg[1], bars->fg[2], 0.10);
      cairo_rectangle (cr, label_w, y + row * 0.2, bar_w, row * 0.6);
      cairo_fill (cr);
      if (is_hl)
        cairo_set_source_rgb (cr, hl[0], hl[1], hl[2]);
      else
        cairo_set_source_rgb (cr, 0.21, 0.52, 0.89);
      cairo_rectangle (cr, label_w, y + row * 0.2, bar_w * prob, row * 0.6);
      cairo_fill (cr);

      g_autofree char *value = g_strdup_printf (is_hl && bars->outline ? "%.1f%% ✓" : "%.1f%%",
                                                100.0 * prob);
      pango_layout_set_width (layout, -1);
      pango_layout_set_text (layout, value, -1);
      show_text (cr, layout, bars, label_w + bar_w + 8, y);
    }
}
