/* as-teach-render.c — the numbers of one teaching step, drawn with Cairo.
 *
 * Rows are keys (one per token, or the chosen subset for long inputs); the
 * query's row is shaded. Vectors are colour strips on the diverging scale
 * of as-signed-heatmap, weights bars on the attention colour map.
 */
#include "as-teach-render.h"

#include <glib/gi18n.h>
#include <math.h>

#include "as-render-pen.h"
#include "as-signed-heatmap.h"

#define ROW_H      AS_PEN_ROW_H
#define LABEL_W    130.0

static const char *
frame_token (const AsTeachFrame *f,
             int                 j)
{
  return f->tokens != NULL && j >= 0 && j < f->steps->n ? f->tokens[j] : "?";
}

/* ---- drawing ------------------------------------------------------------- */

/* The token's label at the start of row Y; the query token in bold. */
static void
row_label (AsPen              *pen,
           const AsTeachFrame *f,
           int                 j,
           double              y)
{
  g_autofree char *esc = g_markup_escape_text (frame_token (f, j), -1);
  /* With rows left out, repeated tokens need their position to be told apart. */
  if (f->steps != NULL && f->n_rows < f->steps->n)
    {
      char *with_index = g_strdup_printf ("<small>%d</small> %s", j + 1, esc);
      g_free (esc);
      esc = with_index;
    }
  gboolean is_query = f->steps != NULL && j == f->steps->query;
  if (is_query)
    {
      cairo_set_source_rgba (pen->cr, 0.98, 0.85, 0.3, pen->dark ? 0.25 : 0.45);
      cairo_rectangle (pen->cr, 0, y - ROW_H / 2, pen->width, ROW_H);
      cairo_fill (pen->cr);
    }
  as_pen_fg (pen, 0.9);
  as_pen_text (pen, is_query ? pen->bold : pen->text, esc, LABEL_W - 10, y, -1);
}

/* ---- drawing: the steps --------------------------------------------------- */

static void
draw_query (AsPen                  *pen,
            const AsAttentionSteps *st)
{
  int d = st->head_dim;
  double range = as_signed_range (st->q, d);
  double x = 20, w = pen->width - 40;
  as_pen_strip (pen, st->q, d, range, x, 40, w, 48);
  char buf[64];
  as_pen_fg (pen, 0.7);
  for (int c = 0; c < d; c += MAX (1, d / 8))
    {
      g_snprintf (buf, sizeof buf, "%d", c);
      as_pen_text (pen, pen->text, buf, x + (c + 0.5) * w / d, 80, 0);
    }
  /* Every number, eight to a line. */
  int per_line = 8;
  double col_w = w / per_line;
  for (int c = 0; c < d; c++)
    {
      int line = c / per_line, col = c % per_line;
      double cx = x + col * col_w + col_w - 8, cy = 115 + line * 27;
      double v = st->q[c];
      guint32 argb = as_diverging_argb ((float) v, (float) range);
      cairo_set_source_rgb (pen->cr, ((argb >> 16) & 0xff) / 255.0, ((argb >> 8) & 0xff) / 255.0,
                            (argb & 0xff) / 255.0);
      cairo_rectangle (pen->cr, x + col * col_w + 2, cy - 11, 8, 22);
      cairo_fill (pen->cr);
      g_snprintf (buf, sizeof buf, "%+.3f", v);
      as_pen_fg (pen, 0.9);
      as_pen_text (pen, pen->mono, buf, cx, cy, -1);
    }
  double norm = 0;
  for (int c = 0; c < d; c++)
    norm += (double) st->q[c] * st->q[c];
  g_snprintf (buf, sizeof buf, _("|q| = %.3f    colours: blue −%.2f … white 0 … red +%.2f"),
              sqrt (norm), range, range);
  as_pen_fg (pen, 0.7);
  as_pen_text (pen, pen->text, buf, x, 115 + ((d + per_line - 1) / per_line) * 27 + 10, 1);
}

/* Says that rows were left out, when they were. */
static void
draw_rows_note (AsPen              *pen,
                const AsTeachFrame *f,
                double              y)
{
  if (f->steps == NULL || f->n_rows >= f->steps->n)
    return;
  g_autofree char *note = g_strdup_printf (_("Showing the %d keys with the largest weights of %d tokens."),
                                           f->n_rows, f->steps->n);
  as_pen_fg (pen, 0.6);
  as_pen_text (pen, pen->text, note, 10, y, 1);
}

static void
draw_keys (AsPen                  *pen,
           const AsTeachFrame     *f,
           const AsAttentionSteps *st)
{
  int d = st->head_dim;
  double range = MAX (as_signed_range (st->k, (gsize) st->n * d), as_signed_range (st->q, d));
  double x = LABEL_W, w = pen->width - LABEL_W - 110;
  char buf[64];

  /* q on top, for comparison. */
  double y = ROW_H / 2 + 4;
  as_pen_fg (pen, 0.9);
  as_pen_text (pen, pen->bold, "q", LABEL_W - 10, y, -1);
  as_pen_strip (pen, st->q, d, range, x, y, w, ROW_H * 0.7);
  for (int r = 0; r < f->n_rows; r++)
    {
      int j = f->rows[r];
      y = ROW_H * (r + 1.5) + 14;
      row_label (pen, f, j, y);
      as_pen_strip (pen, st->k + (gsize) j * d, d, range, x, y, w, ROW_H * 0.7);
      double norm = 0;
      for (int c = 0; c < d; c++)
        norm += (double) st->k[(gsize) j * d + c] * st->k[(gsize) j * d + c];
      g_snprintf (buf, sizeof buf, "|k|=%.2f", sqrt (norm));
      as_pen_fg (pen, 0.75);
      as_pen_text (pen, pen->mono, buf, pen->width - 8, y, -1);
    }
  g_snprintf (buf, sizeof buf, _("One strip per vector of %d numbers: blue −%.2f … red +%.2f."),
              d, range, range);
  as_pen_fg (pen, 0.7);
  as_pen_text (pen, pen->text, buf, 10, ROW_H * (f->n_rows + 1.5) + 30, 1);
  draw_rows_note (pen, f, ROW_H * (f->n_rows + 2.5) + 30);
}

static gboolean
has_rope (const AsTeachFrame *f)
{
  return f->rope_theta > 0 && f->q_before != NULL && f->k_before != NULL && f->steps != NULL &&
         f->rope_key >= 0 && f->rope_key < f->steps->n && f->steps->head_dim >= 2;
}

/* The height of the RoPE panel under the keys. */
#define ROPE_H (ROW_H * 6 + 190)

/* One pair of dimensions as a dial: the vector (x1, x2) before RoPE
 * (dashed) and after it (solid), for the query and for the key. */
static void
draw_dial (AsPen       *pen,
           double       cx,
           double       cy,
           double       radius,
           const float  q[2][2],
           const float  k[2][2])
{
  double scale = 1e-9;
  for (int t = 0; t < 2; t++)
    scale = MAX (scale, MAX (hypot (q[t][0], q[t][1]), hypot (k[t][0], k[t][1])));
  cairo_t *cr = pen->cr;
  as_pen_fg (pen, 0.25);
  cairo_set_line_width (cr, 1);
  cairo_arc (cr, cx, cy, radius, 0, 2 * G_PI);
  cairo_stroke (cr);
  const double colours[2][3] = { { 0.85, 0.55, 0.05 }, { 0.2, 0.45, 0.85 } };   /* q amber, k blue */
  for (int who = 0; who < 2; who++)
    for (int t = 0; t < 2; t++)
      {
        const float *p = who == 0 ? q[t] : k[t];
        double ex = cx + radius * p[0] / scale, ey = cy - radius * p[1] / scale;
        cairo_set_source_rgb (cr, colours[who][0], colours[who][1], colours[who][2]);
        cairo_set_line_width (cr, t == 0 ? 2 : 3.5);
        if (t == 0)
          cairo_set_dash (cr, (double[]) { 5, 4 }, 2, 0);
        cairo_move_to (cr, cx, cy);
        cairo_line_to (cr, ex, ey);
        cairo_stroke (cr);
        cairo_set_dash (cr, NULL, 0, 0);
        cairo_arc (cr, ex, ey, t == 0 ? 3 : 5, 0, 2 * G_PI);
        cairo_fill (cr);
      }
}

/* Under the keys, for a model with RoPE: q of the query token i and k of
 * one key j, before and after their rotation, and the first pair of
 * dimensions as a dial. The score only sees the angle between them, which
 * depends on i - j alone. */
static void
draw_rope (AsPen                  *pen,
           const AsTeachFrame     *f,
           const AsAttentionSteps *st,
           double                  top)
{
  const int d = st->head_dim, half = d / 2, i = st->query, j = f->rope_key;
  const float *k_after = st->k + (gsize) j * d;
  double range = MAX (MAX (as_signed_range (f->q_before, d), as_signed_range (st->q, d)),
                      MAX (as_signed_range (f->k_before, d), as_signed_range (k_after, d)));
  double x = LABEL_W + 60, w = pen->width - x - 20;
  char buf[160];
  g_autofree char *qtok = g_markup_escape_text (frame_token (f, i), -1);
  g_autofree char *ktok = g_markup_escape_text (frame_token (f, j), -1);

  as_pen_fg (pen, 0.5);
  cairo_set_line_width (pen->cr, 2);
  cairo_move_to (pen->cr, 10, top);
  cairo_line_to (pen->cr, pen->width - 10, top);
  cairo_stroke (pen->cr);
  as_pen_fg (pen, 0.95);
  g_snprintf (buf, sizeof buf, _("<b>RoPE</b>: q of “%s” (token %d) and k of “%s” (token %d), turned by their positions"),
              qtok, i + 1, ktok, j + 1);
  as_pen_text (pen, pen->text, buf, 10, top + ROW_H * 0.8, 1);
  const char *names[4] = { _("q before"), _("q after"), _("k before"), _("k after") };
  const float *vecs[4] = { f->q_before, st->q, f->k_before, k_after };
  for (int r = 0; r < 4; r++)
    {
      double y = top + ROW_H * (r + 2) + (r >= 2 ? 8 : 0);
      as_pen_fg (pen, 0.9);
      as_pen_text (pen, r % 2 == 1 ? pen->bold : pen->text, names[r], x - 10, y, -1);
      as_pen_strip (pen, vecs[r], d, range, x, y, w, ROW_H * 0.7);
    }

  /* Pair 0 turns fastest: angle = position x theta^0. */
  double aq = as_rope_angle (0, d, i, f->rope_theta), ak = as_rope_angle (0, d, j, f->rope_theta);
  double slow = as_rope_angle (half - 1, d, i, f->rope_theta) - as_rope_angle (half - 1, d, j, f->rope_theta);
  float q2[2][2] = { { f->q_before[0], f->q_before[half] }, { st->q[0], st->q[half] } };
  float k2[2][2] = { { f->k_before[0], f->k_before[half] }, { k_after[0], k_after[half] } };
  double dial_y = top + ROW_H * 6.2 + 70, radius = 62;
  draw_dial (pen, LABEL_W, dial_y, radius, q2, k2);
  double tx = LABEL_W + radius + 30, tw = pen->width - tx - 10;
  as_pen_fg (pen, 0.9);
  g_autofree char *said = g_strdup_printf (
    /* Translators: the arguments: the paired dimension, the two positions, those positions again
     * and their difference, the angle in degrees, the slowest pair's two dimensions and its angle. */
    _("Dimensions 0 and %d as one point: q (amber) is turned by %d rad, k (blue) by %d rad "
    "(the model counts positions from 0). "
    "q · k only sees the difference, %d − %d = %d rad (%.0f°); in the slowest pair (%d, %d) it is "
    "%.2g rad, so near and far tokens differ."),
    half, i, j, i, j, i - j, fmod (fabs (aq - ak) * 180 / G_PI, 360.0), half - 1, d - 1, slow);
  double used = as_pen_wrapped (pen, pen->text, said, tx, dial_y - radius, tw, TRUE);
  as_pen_fg (pen, 0.6);
  g_snprintf (buf, sizeof buf, _("Pair m of %d turns by position × %g<sup>−2m/%d</sup>. Dashed: before; solid: after."),
              half, (double) f->rope_theta, d);
  as_pen_wrapped (pen, pen->text, buf, tx, dial_y - radius + used + 6, tw, TRUE);
}

static double
max_abs_finite (const double *v,
                const gboolean *skip,
                int           n)
{
  double m = 0;
  for (int j = 0; j < n; j++)
    if (skip == NULL || !skip[j])
      m = MAX (m, fabs (v[j]));
  return m;
}

/* Columns of numbers, then a bar, one row per key. */
static void
draw_table (AsPen                  *pen,
            const AsTeachFrame     *f,
            const AsAttentionSteps *st)
{
  char a[48], b[48], c[48];
  const float *row = f->engine_row;
  double bar_x, half;
  double top = 24;
  double x0 = LABEL_W + 10;

  /* Column headers, each over its column (right edges as the numbers). */
  as_pen_fg (pen, 0.8);
  switch (f->step)
    {
    case AS_TEACH_STEP_SCORES:
      as_pen_text (pen, pen->text, "<b>q · k_j</b>", x0 + 100, top, -1);
      break;
    case AS_TEACH_STEP_SCALE:
      as_pen_text (pen, pen->text, "<b>q · k_j</b>", x0 + 100, top, -1);
      g_snprintf (a, sizeof a, "× %.4g", st->scale);
      as_pen_text (pen, pen->text, a, x0 + 170, top, 0);
      as_pen_text (pen, pen->text, "<b>= s_j</b>", x0 + 330, top, -1);
      break;
    case AS_TEACH_STEP_MASK:
      as_pen_text (pen, pen->text, "<b>s_j</b>", x0 + 80, top, -1);
      as_pen_text (pen, pen->text, "<b>+ M_j</b>", x0 + 160, top, -1);
      as_pen_text (pen, pen->text, "<b>= s_j + M_j</b>", x0 + 200, top, 1);
      break;
    default:
      {
        double sum = 0;
        for (int j = 0; j < st->n; j++)
          sum += st->probs[j];
        /* The check first, where the class sees it without scrolling. */
        g_autofree char *line = NULL;
        if (f->check < 0)
          line = g_strdup_printf (_("Σ p_j = %.6f   (the model's row is still on its way)"), sum);
        else if (f->check < 1e-5)
          line = g_strdup_printf (_("Σ p_j = %.6f  <span foreground=\"%s\"><b>✓ = the model's "
                                  "row</b></span> (|Δ| ≤ %.0e)"), sum,
                                  pen->dark ? "#8ff0a4" : "#1a7f37", MAX (f->check, 1e-9));
        else
          line = g_strdup_printf (_("Σ p_j = %.6f   <span foreground=\"#e01b24\"><b>✗ differs from the "
                                  "model's row by %.2e</b></span>"), sum, f->check);
        as_pen_fg (pen, 0.9);
        as_pen_text (pen, pen->text, line, 10, top, 1);
        top += ROW_H;
        as_pen_fg (pen, 0.8);
        as_pen_text (pen, pen->text, "<b>exp(s_j − m)</b>", x0 + 100, top, -1);
        as_pen_text (pen, pen->text, "<b>p_j</b>", x0 + 190, top, -1);
        if (row != NULL)
          as_pen_text (pen, pen->text, _("model"), x0 + 280, top, -1);
      }
      break;
    }

  double range_scores = max_abs_finite (st->scores, NULL, st->n);
  double range_scaled = max_abs_finite (st->scaled, f->step == AS_TEACH_STEP_MASK ? st->masked : NULL, st->n);
  for (int r = 0; r < f->n_rows; r++)
    {
      int j = f->rows[r];
      double y = top + ROW_H * (r + 1.2);
      row_label (pen, f, j, y);
      double x = LABEL_W + 10;
      gboolean masked = st->masked[j];
      as_pen_fg (pen, 0.95);
      switch (f->step)
        {
        case AS_TEACH_STEP_SCORES:
          as_pen_format (a, sizeof a, st->scores[j]);
          as_pen_text (pen, pen->mono, a, x + 100, y, -1);
          bar_x = x + 110 + (pen->width - x - 120) / 2;
          half = (pen->width - x - 130) / 2;
          as_pen_signed_bar (pen, bar_x, y, half, st->scores[j], range_scores);
          break;
        case AS_TEACH_STEP_SCALE:
          as_pen_format (a, sizeof a, st->scores[j]);
          as_pen_format (b, sizeof b, st->scaled[j]);
          as_pen_text (pen, pen->mono, a, x + 100, y, -1);
          as_pen_fg (pen, 0.55);
          as_pen_text (pen, pen->mono, "→", x + 170, y, 0);
          as_pen_fg (pen, 0.95);
          as_pen_text (pen, pen->mono, b, x + 330, y, -1);
          bar_x = x + 340 + (pen->width - x - 350) / 2;
          half = (pen->width - x - 360) / 2;
          as_pen_signed_bar (pen, bar_x, y, half, st->scaled[j], range_scaled);
          break;
        case AS_TEACH_STEP_MASK:
          as_pen_format (a, sizeof a, st->scaled[j]);
          as_pen_text (pen, pen->mono, a, x + 80, y, -1);
          as_pen_fg (pen, masked ? 0.95 : 0.55);
          as_pen_text (pen, pen->mono, masked ? "−∞" : "0", x + 160, y, -1);
          if (masked)
            g_snprintf (b, sizeof b, _("−∞  (masked)"));
          else
            as_pen_format (b, sizeof b, st->scaled[j]);
          as_pen_fg (pen, masked ? 0.45 : 0.95);
          as_pen_text (pen, pen->mono, b, x + 200, y, 1);
          if (!masked)
            {
              bar_x = x + 330 + (pen->width - x - 340) / 2;
              half = (pen->width - x - 350) / 2;
              as_pen_signed_bar (pen, bar_x, y, half, st->scaled[j], range_scaled);
            }
          break;
        default:
          as_pen_format (a, sizeof a, st->exps[j]);
          g_snprintf (b, sizeof b, "%.4f", st->probs[j]);
          as_pen_fg (pen, masked ? 0.45 : 0.95);
          as_pen_text (pen, pen->mono, a, x + 100, y, -1);
          as_pen_fg (pen, 0.95);
          as_pen_text (pen, pen->bold, b, x + 190, y, -1);
          if (row != NULL)
            {
              g_snprintf (c, sizeof c, "%.4f", row[j]);
              as_pen_fg (pen, 0.6);
              as_pen_text (pen, pen->mono, c, x + 280, y, -1);
            }
          {
            /* The weight as a bar on the attention colour map, 0 .. 1. */
            double bx = x + 295, bw = pen->width - bx - 10;
            AsColormapId cmap = f->colormap;
            guint32 argb = as_colormap_argb (cmap, (float) st->probs[j], 0, 1);
            as_pen_fg (pen, 0.12);
            cairo_rectangle (pen->cr, bx, y - ROW_H * 0.3, bw, ROW_H * 0.6);
            cairo_fill (pen->cr);
            cairo_set_source_rgb (pen->cr, ((argb >> 16) & 0xff) / 255.0, ((argb >> 8) & 0xff) / 255.0,
                                  (argb & 0xff) / 255.0);
            cairo_rectangle (pen->cr, bx, y - ROW_H * 0.3, bw * st->probs[j], ROW_H * 0.6);
            cairo_fill (pen->cr);
          }
          break;
        }
    }
  draw_rows_note (pen, f, top + ROW_H * (f->n_rows + 1.2));
}

static void
draw_output (AsPen                  *pen,
             const AsTeachFrame     *f,
             const AsAttentionSteps *st)
{
  int d = st->head_dim;
  gsize size = (gsize) st->n * d;
  g_autofree float *weighted = g_new (float, size);   /* [n, d]: p_j v_j */
  g_autofree float *out = g_new (float, d);           /* [d] */
  for (gsize i = 0; i < size; i++)
    weighted[i] = (float) (st->probs[i / d] * st->v[i]);
  for (int c = 0; c < d; c++)
    out[c] = (float) st->output[c];
  double range = MAX (as_signed_range (weighted, size), as_signed_range (out, d));
  double x = LABEL_W + 70, w = pen->width - x - 10;
  char buf[64];

  /* The result first, so it is on screen without scrolling; the rows it
   * is the column sums of follow. */
  double y = ROW_H * 0.6;
  as_pen_fg (pen, 0.95);
  as_pen_text (pen, pen->bold, "z = Σ p_j v_j", x - 10, y, -1);
  as_pen_strip (pen, out, d, range, x, y, w, ROW_H * 0.8);
  GString *first = g_string_new ("z = (");
  for (int c = 0; c < MIN (d, 5); c++)
    g_string_append_printf (first, "%s%+.3f", c > 0 ? ", " : "", out[c]);
  /* Translators: ends the list of the output z's first numbers; %s is “, …” when more follow, or
   * nothing. */
  g_string_append_printf (first, _("%s)   colours ±%.2f"), d > 5 ? ", …" : "", range);
  as_pen_fg (pen, 0.75);
  as_pen_text (pen, pen->mono, first->str, 20, y + ROW_H * 0.95, 1);
  g_string_free (first, TRUE);

  y += ROW_H * 2.1;
  as_pen_fg (pen, 0.5);
  cairo_set_line_width (pen->cr, 2);
  cairo_move_to (pen->cr, 10, y - ROW_H * 0.5);
  cairo_line_to (pen->cr, x + w, y - ROW_H * 0.5);
  cairo_stroke (pen->cr);
  as_pen_fg (pen, 0.8);
  as_pen_text (pen, pen->text, "<b>p_j</b>", LABEL_W + 50, y, -1);
  as_pen_text (pen, pen->text, _("<b>p_j v_j</b>  (each row; z is their sum down the columns)"), x, y, 1);
  for (int r = 0; r < f->n_rows; r++)
    {
      int j = f->rows[r];
      double ry = y + ROW_H * (r + 1);
      row_label (pen, f, j, ry);
      g_snprintf (buf, sizeof buf, "%.3f", st->probs[j]);
      as_pen_fg (pen, 0.9);
      as_pen_text (pen, pen->mono, buf, LABEL_W + 60, ry, -1);
      as_pen_strip (pen, weighted + (gsize) j * d, d, range, x, ry, w, ROW_H * 0.7);
    }
  draw_rows_note (pen, f, y + ROW_H * (f->n_rows + 1));
}

gboolean
as_teach_step_is_attention (AsTeachStep step)
{
  return step >= AS_TEACH_STEP_QUERY && step <= AS_TEACH_STEP_OUTPUT;
}

double
as_teach_render_height (const AsTeachFrame *f)
{
  if (f->steps == NULL || !as_teach_step_is_attention (f->step))
    return 0;
  int rows = f->n_rows + (f->n_rows < f->steps->n ? 1 : 0);
  switch (f->step)
    {
    case AS_TEACH_STEP_QUERY:  return 360;
    case AS_TEACH_STEP_KEYS:   return ROW_H * (rows + 3) + 40 + (has_rope (f) ? ROPE_H : 0);
    case AS_TEACH_STEP_OUTPUT: return ROW_H * (rows + 3.5) + 20;
    default:                   return ROW_H * (rows + 2) + 40;
    }
}

void
as_teach_render (cairo_t            *cr,
                 const AsTeachFrame *f,
                 double              width)
{
  if (f->steps == NULL || !as_teach_step_is_attention (f->step))
    return;
  AsPen pen;
  as_pen_init (&pen, cr, f->font, f->dark, width);
  switch (f->step)
    {
    case AS_TEACH_STEP_QUERY:
      draw_query (&pen, f->steps);
      break;
    case AS_TEACH_STEP_KEYS:
      draw_keys (&pen, f, f->steps);
      if (has_rope (f))
        draw_rope (&pen, f, f->steps, ROW_H * (f->n_rows + 3) + 30);
      break;
    case AS_TEACH_STEP_OUTPUT:
      draw_output (&pen, f, f->steps);
      break;
    default:
      draw_table (&pen, f, f->steps);
      break;
    }
  as_pen_clear (&pen);
}
