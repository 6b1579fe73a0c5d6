/* as-lens-render.c — the logit lens figure (as-lens-render.h). */
#include "as-lens-render.h"

#include <math.h>
#include <pango/pangocairo.h>
#include <string.h>

#define BAR_STEPS 64   /* colour bar patches */

void
as_lens_figure_init (AsLensFigure *figure)
{
  memset (figure, 0, sizeof *figure);
  figure->colormap = AS_COLORMAP_VIRIDIS;
  figure->sel_slot = -1;
  figure->sel_pos = -1;
}

static double
font_px (const AsLensFigure *f)
{
  return f->font_size > 0 ? f->font_size : 12;
}

void
as_lens_layout (const AsLensFigure *f,
                AsLensLayout       *l)
{
  const double fs = font_px (f), margin = fs;
  const int layers = f->lens != NULL ? f->lens->n_layers : 0;
  const int n = f->lens != NULL ? f->lens->n : 0;
  l->cell_w = round (fs * 7);     /* about ten characters of a token */
  l->cell_h = round (fs * 1.9);
  double title_h = f->title != NULL ? round (fs * 2) : 0;
  double head_h = round (fs * 2);  /* the input tokens */
  double rows_w = round (fs * 3.5); /* "L30" */
  l->cells_x = margin + rows_w;
  l->cells_y = margin + title_h + head_h;
  l->bar_y = l->cells_y + layers * l->cell_h + round (fs * 1.2);
  l->width = l->cells_x + MAX (n, 1) * l->cell_w + margin;
  /* The colour bar's caption must fit even under one column. */
  l->width = MAX (l->width, l->cells_x + fs * 24 + margin);
  l->height = l->bar_y + round (fs * 1.1) + round (fs * 1.6) + margin;
}

int
as_lens_row_of_slot (const AsLensFigure *f,
                     int                 slot)
{
  return f->lens->n_layers - 1 - slot;
}

gboolean
as_lens_hit (const AsLensFigure *f,
             const AsLensLayout *l,
             double              x,
             double              y,
             int                *slot,
             int                *pos)
{
  if (f->lens == NULL)
    return FALSE;
  int col = (int) floor ((x - l->cells_x) / l->cell_w);
  int row = (int) floor ((y - l->cells_y) / l->cell_h);
  if (col < 0 || col >= f->lens->n || row < 0 || row >= f->lens->n_layers)
    return FALSE;
  *slot = as_lens_row_of_slot (f, row);   /* the mapping is its own inverse */
  *pos = col;
  return TRUE;
}

static void
set_rgb (cairo_t *cr,
         guint32  argb)
{
  cairo_set_source_rgb (cr, ((argb >> 16) & 0xff) / 255.0, ((argb >> 8) & 0xff) / 255.0,
                        (argb & 0xff) / 255.0);
}

/* TEXT in the box (X, Y, W, H): centred, or right-aligned with RIGHT,
 * ellipsized to the box's width. */
static void
draw_text (cairo_t     *cr,
           PangoLayout *layout,
           const char  *text,
           double       x,
           double       y,
           double       w,
           double       h,
           gboolean     right)
{
  pango_layout_set_text (layout, text, -1);
  pango_layout_set_width (layout, (int) (MAX (w, 1) * PANGO_SCALE));
  pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_END);
  pango_layout_set_alignment (layout, right ? PANGO_ALIGN_RIGHT : PANGO_ALIGN_CENTER);
  int tw, th;
  pango_layout_get_pixel_size (layout, &tw, &th);
  cairo_move_to (cr, x, y + (h - th) / 2);
  pango_cairo_show_layout (cr, layout);
}

static PangoLayout *
new_layout (cairo_t *cr,
            double   px,
            gboolean bold)
{
  PangoLayout *layout = pango_cairo_create_layout (cr);
  PangoFontDescription *font = pango_font_description_from_string ("Sans");
  pango_font_description_set_absolute_size (font, px * PANGO_SCALE);
  if (bold)
    pango_font_description_set_weight (font, PANGO_WEIGHT_BOLD);
  pango_layout_set_font_description (layout, font);
  pango_font_description_free (font);
  return layout;
}

static void
draw_cells (cairo_t            *cr,
            const AsLensFigure *f,
            const AsLensLayout *l,
            PangoLayout        *layout)
{
  const AsLogitLens *lens = f->lens;
  for (int row = 0; row < lens->n_layers; row++)
    for (int i = 0; i < lens->n; i++)
      {
        int slot = as_lens_row_of_slot (f, row);
        float p = as_logit_lens_probs (lens, slot, i)[0];
        double x = l->cells_x + i * l->cell_w, y = l->cells_y + row * l->cell_h;
        set_rgb (cr, as_colormap_argb (f->colormap, p, 0, 1));
        cairo_rectangle (cr, x, y, l->cell_w, l->cell_h);
        cairo_fill (cr);
        gboolean light = as_colormap_is_light (f->colormap, as_colormap_index (p, 0, 1));
        if (light)
          cairo_set_source_rgb (cr, 0.08, 0.08, 0.08);
        else
          cairo_set_source_rgb (cr, 1, 1, 1);
        const char *label = f->labels != NULL ? f->labels[((gsize) slot * lens->n + i) * lens->k] : NULL;
        g_autofree char *shown = as_shown_display_text (label);
        draw_text (cr, layout, shown, x + 3, y, l->cell_w - 6, l->cell_h, FALSE);
      }
  /* Thin gaps between the cells keep neighbours with one colour apart. */
  cairo_set_line_width (cr, 1);
  if (f->dark)
    cairo_set_source_rgb (cr, 0.14, 0.14, 0.15);
  else
    cairo_set_source_rgb (cr, 1, 1, 1);
  for (int i = 1; i < lens->n; i++)
    {
      cairo_move_to (cr, l->cells_x + i * l->cell_w, l->cells_y);
      cairo_rel_line_to (cr, 0, lens->n_layers * l->cell_h);
    }
  cairo_stroke (cr);
}

static void
draw_heads (cairo_t            *cr,
            const AsLensFigure *f,
            const AsLensLayout *l,
            PangoLayout        *layout,
            const double        fg[3])
{
  const AsLogitLens *lens = f->lens;
  cairo_set_source_rgb (cr, fg[0], fg[1], fg[2]);
  const double head_h = l->cell_h;
  for (int i = 0; i < lens->n && f->tokens != NULL; i++)
    {
      g_autofree char *shown = as_shown_display_text (f->tokens[i]);
      draw_text (cr, layout, shown, l->cells_x + i * l->cell_w + 2, l->cells_y - head_h - 2,
                 l->cell_w - 4, head_h, FALSE);
    }
  char text[16];
  for (int row = 0; row < lens->n_layers; row++)
    {
      g_snprintf (text, sizeof text, "L%d", lens->first + as_lens_row_of_slot (f, row) + 1);
      draw_text (cr, layout, text, 0, l->cells_y + row * l->cell_h, l->cells_x - 6, l->cell_h, TRUE);
    }
}

static void
draw_bar (cairo_t            *cr,
          const AsLensFigure *f,
          const AsLensLayout *l,
          PangoLayout        *layout,
          const double        fg[3])
{
  const double fs = font_px (f), bar_h = round (fs * 1.1), bar_w = MIN (fs * 16, l->width - l->cells_x - fs);
  for (int s = 0; s < BAR_STEPS; s++)
    {
      set_rgb (cr, as_colormap_argb (f->colormap, (s + 0.5f) / BAR_STEPS, 0, 1));
      /* Overlap by a hair so no seam shows between the patches. */
      cairo_rectangle (cr, l->cells_x + s * bar_w / BAR_STEPS, l->bar_y, bar_w / BAR_STEPS + 0.5, bar_h);
      cairo_fill (cr);
    }
  cairo_set_source_rgb (cr, fg[0], fg[1], fg[2]);
  double y = l->bar_y + bar_h;
  draw_text (cr, layout, "0", l->cells_x - fs * 2, y, fs * 4, fs * 1.6, FALSE);
  draw_text (cr, layout, "0.5", l->cells_x + bar_w / 2 - fs * 2, y, fs * 4, fs * 1.6, FALSE);
  draw_text (cr, layout, "1", l->cells_x + bar_w - fs * 2, y, fs * 4, fs * 1.6, FALSE);
  pango_layout_set_width (layout, -1);
  pango_layout_set_alignment (layout, PANGO_ALIGN_LEFT);
  pango_layout_set_text (layout, "probability of the top token", -1);
  int tw, th;
  pango_layout_get_pixel_size (layout, &tw, &th);
  cairo_move_to (cr, l->cells_x + bar_w + fs, l->bar_y + (bar_h - th) / 2);
  pango_cairo_show_layout (cr, layout);
}

void
as_lens_render (cairo_t            *cr,
                const AsLensFigure *f)
{
  AsLensLayout l;
  as_lens_layout (f, &l);
  const double fg[3] = { f->dark ? 0.92 : 0.1, f->dark ? 0.92 : 0.1, f->dark ? 0.92 : 0.1 };
  cairo_save (cr);
  if (f->dark)
    cairo_set_source_rgb (cr, 0.14, 0.14, 0.15);
  else
    cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_rectangle (cr, 0, 0, l.width, l.height);
  cairo_fill (cr);
  if (f->lens == NULL)
    {
      cairo_restore (cr);
      return;
    }
  const double fs = font_px (f);
  PangoLayout *layout = new_layout (cr, fs, FALSE);
  if (f->title != NULL)
    {
      PangoLayout *bold = new_layout (cr, fs * 1.1, TRUE);
      cairo_set_source_rgb (cr, fg[0], fg[1], fg[2]);
      pango_layout_set_text (bold, f->title, -1);
      pango_layout_set_width (bold, (int) ((l.width - 2 * fs) * PANGO_SCALE));
      pango_layout_set_ellipsize (bold, PANGO_ELLIPSIZE_END);
      cairo_move_to (cr, fs, fs);
      pango_cairo_show_layout (cr, bold);
      g_object_unref (bold);
    }
  draw_cells (cr, f, &l, layout);
  draw_heads (cr, f, &l, layout, fg);
  draw_bar (cr, f, &l, layout, fg);
  if (f->sel_slot >= 0 && f->sel_slot < f->lens->n_layers && f->sel_pos >= 0 && f->sel_pos < f->lens->n)
    {
      /* In the red the grid marks the selected token with: none of the
       * colour maps has it. */
      double x = l.cells_x + f->sel_pos * l.cell_w, y = l.cells_y + as_lens_row_of_slot (f, f->sel_slot) * l.cell_h;
      cairo_set_line_width (cr, 3);
      cairo_set_source_rgb (cr, 1, 0.30, 0.25);
      cairo_rectangle (cr, x + 1.5, y + 1.5, l.cell_w - 3, l.cell_h - 3);
      cairo_stroke (cr);
    }
  g_object_unref (layout);
  cairo_restore (cr);
}

static gboolean
draw_for_file (cairo_t     *cr,
               AsCellMode   mode,
               double       width,
               double       height,
               gpointer     data,
               GError     **error)
{
  as_lens_render (cr, data);
  return TRUE;
}

gboolean
as_lens_save (const AsLensFigure *figure,
              const char         *path,
              const char * const *protect,
              AsFigureFormat      format,
              GError            **error)
{
  if (figure->lens == NULL)
    {
      g_set_error_literal (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                           "there is no logit lens to save");
      return FALSE;
    }
  AsLensLayout l;
  as_lens_layout (figure, &l);
  return as_figure_save_drawing (path, protect, format, l.width, l.height, draw_for_file,
                                 (gpointer) figure, error);
}
