/* as-layer-render.c — embeddings, heads, residuals, FFN and masks, drawn.
 *
 * Each step is a column of labelled vector strips (the selected token's
 * vectors, on the blue-white-red scale of as-signed-heatmap), a few of
 * their numbers, and what the step adds: head thumbnails, the activation
 * curve, the padded batch. Every drawing function returns the height it
 * used, so the height a step needs is measured by drawing it once off
 * screen: the two can never disagree.
 */
#include "as-layer-render.h"

#include <glib/gi18n.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "as-elementwise.h"
#include "as-heatmap-render.h"
#include "as-render-pen.h"
#include "as-signed-heatmap.h"

#define ROW_H     AS_PEN_ROW_H
#define LABEL_W   210.0   /* the vector names, right-aligned before the strips */
#define NOTE_W    172.0   /* |v| after each strip */
#define DIMS      8       /* numbers printed of each vector */
/* Strip colours: the largest 2% of |values| saturate, so one outlier
 * dimension (BERT has some) does not wash every other cell out to white. */
#define RANGE_QUANTILE 0.98

typedef struct {
  const char  *name;   /* markup */
  const float *v;
  int          n;
  gboolean     own;    /* on its own colour range (a norm's output: another size) */
} Vec;

static const char *
frame_token (const AsLayerFrame *f,
             int                 j)
{
  return f->tokens != NULL && j >= 0 && j < f->trace->n ? f->tokens[j] : "?";
}

static const float *
row_of (const float *m,
        int          token,
        int          width)
{
  return m != NULL ? m + (gsize) token * width : NULL;
}

static double
norm2 (const float *v,
       int          n)
{
  double s = 0;
  for (int i = 0; i < n; i++)
    s += (double) v[i] * v[i];
  return sqrt (s);
}

static void
mean_std (const float *v,
          int          n,
          double      *mean,
          double      *std)
{
  double m = 0, s = 0;
  for (int i = 0; i < n; i++)
    m += v[i];
  m /= MAX (n, 1);
  for (int i = 0; i < n; i++)
    s += (v[i] - m) * (v[i] - m);
  *mean = m;
  *std = sqrt (s / MAX (n, 1));
}

static int
compare_float (const void *a,
               const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

/* The colour range shared by VECS: the RANGE_QUANTILE of their |values|. */
static double
vecs_range (const Vec *vecs,
            int        count)
{
  gsize total = 0;
  for (int i = 0; i < count; i++)
    total += vecs[i].v != NULL && !vecs[i].own ? vecs[i].n : 0;
  if (total == 0)
    return 0;
  g_autofree float *mags = g_new (float, total);   /* [total] */
  gsize k = 0;
  for (int i = 0; i < count; i++)
    for (int c = 0; vecs[i].v != NULL && !vecs[i].own && c < vecs[i].n; c++)
      mags[k++] = isfinite (vecs[i].v[c]) ? fabsf (vecs[i].v[c]) : 0;
  qsort (mags, total, sizeof (float), compare_float);
  double r = mags[MIN (total - 1, (gsize) (RANGE_QUANTILE * (total - 1) + 0.5))];
  return r > 0 ? r : mags[total - 1];
}

/* "✓ <what> (|Δ| ≤ x)" in green, "✗ … differs by x" in red, or a grey
 * "still on its way" when CHECK is negative. */
static char *
check_markup (AsPen      *pen,
              const char *what,
              double      check)
{
  if (check < 0)
    /* Translators: %s says what is checked, e.g. “the trace's attention = the model's”. */
    return g_strdup_printf (_("<span foreground=\"#888888\">%s: still on its way</span>"), what);
  if (check < 1e-4)
    /* Translators: the first %s is a colour, the second what was checked. */
    return g_strdup_printf (_("<span foreground=\"%s\"><b>✓ %s</b></span> (max |Δ| = %.1e)"),
                            pen->dark ? "#8ff0a4" : "#1a7f37", what, check);
  return g_strdup_printf (_("<span foreground=\"#e01b24\"><b>✗ %s: differs by %.2e</b></span>"), what, check);
}

/* A line of markup at the left, wrapped; returns the height used. */
static double
note (AsPen      *pen,
      const char *markup,
      double      top,
      double      alpha)
{
  as_pen_fg (pen, alpha);
  return as_pen_wrapped (pen, pen->text, markup, 10, top, pen->width - 20, TRUE) + 6;
}

/* One vector as a named strip with its length after it, at Y. */
static void
vec_row (AsPen     *pen,
         const Vec *vec,
         double     range,
         double     y)
{
  char buf[48];
  as_pen_fg (pen, 0.9);
  as_pen_text (pen, pen->text, vec->name, LABEL_W - 10, y, -1);
  double x = LABEL_W, w = pen->width - LABEL_W - NOTE_W;
  if (vec->own)
    {
      Vec alone = *vec;
      alone.own = FALSE;
      range = vecs_range (&alone, 1);
    }
  as_pen_strip (pen, vec->v, vec->n, range, x, y, w, ROW_H * 0.7);
  if (vec->own)
    g_snprintf (buf, sizeof buf, "|v| %.2f ±%.1f", norm2 (vec->v, vec->n), range);
  else
    g_snprintf (buf, sizeof buf, "|v| %.2f", norm2 (vec->v, vec->n));
  as_pen_fg (pen, 0.7);
  as_pen_text (pen, pen->mono, buf, pen->width - 8, y, -1);
}

/* VECS as strips from TOP on a shared range, then the range said; returns
 * the height used. */
static double
vec_rows (AsPen     *pen,
          const Vec *vecs,
          int        count,
          double     top)
{
  double range = vecs_range (vecs, count);
  double y = top + ROW_H * 0.5;
  gboolean any_own = FALSE;
  for (int i = 0; i < count; i++, y += ROW_H * 1.05)
    {
      vec_row (pen, &vecs[i], range, y);
      any_own |= vecs[i].own;
    }
  char buf[200];
  /* Translators: %s is “ (a norm's output: its own ±)” or nothing. */
  g_snprintf (buf, sizeof buf, _("One cell per number: blue −%.2f … white 0 … red +%.2f%s; the largest 2%% "
              "saturate."), range, range, any_own ? _(" (a norm's output: its own ±)") : "");
  y -= ROW_H * 0.5;
  return y - top + note (pen, buf, y, 0.6);
}

/* The first DIMS numbers of each of VECS (of width H, the same for all), a
 * row each; returns the height used. */
static double
dims_table (AsPen     *pen,
            const Vec *vecs,
            int        count,
            double     top)
{
  char buf[48];
  int dims = CLAMP ((int) ((pen->width - LABEL_W - 10) / 82), 1, DIMS);
  double col_w = (pen->width - LABEL_W - 10) / dims;
  double y = top + ROW_H * 0.5;
  as_pen_fg (pen, 0.6);
  as_pen_text (pen, pen->text, _("dimension"), LABEL_W - 10, y, -1);
  for (int c = 0; c < dims; c++)
    {
      g_snprintf (buf, sizeof buf, "%d", c);
      as_pen_text (pen, pen->text, buf, LABEL_W + (c + 1) * col_w - 6, y, -1);
    }
  for (int i = 0; i < count; i++)
    {
      y += ROW_H * 0.85;
      as_pen_fg (pen, 0.8);
      as_pen_text (pen, pen->text, vecs[i].name, LABEL_W - 10, y, -1);
      as_pen_fg (pen, 0.95);
      for (int c = 0; c < MIN (dims, vecs[i].n); c++)
        {
          g_snprintf (buf, sizeof buf, "%+.3f", vecs[i].v[c]);
          as_pen_text (pen, pen->mono, buf, LABEL_W + (c + 1) * col_w - 6, y, -1);
        }
    }
  return y + ROW_H * 0.5 - top;
}

/* ---- the input: embeddings ------------------------------------------------ */

static double
draw_embed (AsPen              *pen,
            const AsLayerFrame *f)
{
  const AsLayerTrace *t = f->trace;
  const int H = t->hidden, i = f->token;
  g_autofree char *tok = g_markup_escape_text (frame_token (f, i), -1);
  g_autofree char *tok_name = g_strdup_printf (_("token “%s”"), tok);
  g_autofree char *pos_name = g_strdup_printf (_("+ position %d"), i + 1);
  gboolean has_norm = memcmp (t->embed_sum, t->embed_out, sizeof (float) * (gsize) t->n * H) != 0;
  Vec vecs[5];
  int count = 0;
  vecs[count++] = (Vec) { tok_name, row_of (t->token_embed, i, H), H };
  if (t->position_embed != NULL)
    vecs[count++] = (Vec) { pos_name, row_of (t->position_embed, i, H), H };
  if (t->type_embed != NULL)
    vecs[count++] = (Vec) { _("+ segment"), row_of (t->type_embed, i, H), H };
  vecs[count++] = (Vec) { _("<b>= sum</b>"), row_of (t->embed_sum, i, H), H };
  if (has_norm)
    vecs[count++] = (Vec) { "<b>LayerNorm →</b>", row_of (t->embed_out, i, H), H, TRUE };

  double y = 0;
  y += vec_rows (pen, vecs, count, y);
  if (t->position_embed == NULL)
    {
      g_autofree char *rope = g_strdup_printf (
        _("<i>No position vector is added:</i> this model tells positions apart by rotating q and k "
        "in every layer (RoPE; the keys step shows the rotation of “%s” at position %d)."), tok, i + 1);
      y += note (pen, rope, y, 0.85);
    }
  double m, s, m2, s2;
  mean_std (row_of (t->embed_sum, i, H), H, &m, &s);
  mean_std (row_of (t->embed_out, i, H), H, &m2, &s2);
  g_autofree char *stats = has_norm
    ? g_strdup_printf (_("The sum has mean %.3f and spread (standard deviation) %.3f. LayerNorm subtracts "
                       "the mean, divides by the spread, then scales and shifts each number by learned "
                       "γ and β: after it, mean %.3f, spread %.3f. This is the input of layer 1."),
                       m, s, m2, s2)
    : g_strdup_printf (_("The sum (mean %.3f, spread %.3f) goes into layer 1 as it is: this model "
                       "normalises inside each layer, before attention and before the FFN."), m, s);
  y += note (pen, stats, y, 0.85);
  y += dims_table (pen, vecs, count, y);
  return y;
}

/* ---- all heads: concatenate and project ---------------------------------- */

/* One head's pattern as a square thumbnail of SIZE at (X, Y). */
static void
thumbnail (AsPen              *pen,
           const AsLayerFrame *f,
           const float        *values,
           int                 n,
           double              x,
           double              y,
           double              size)
{
  AsHeatmapSpec spec;
  as_heatmap_spec_init (&spec);
  spec.values = values;
  spec.rows = spec.cols = n;
  spec.vmin = 0;
  spec.vmax = as_heatmap_robust_max (values, n, n, f->model_causal);
  if (!(spec.vmax > 0))
    spec.vmax = 1;
  spec.colormap = f->colormap;
  spec.dark = f->dark;
  spec.causal = f->model_causal;
  cairo_surface_t *image = as_heatmap_cells_image (&spec);
  int w = cairo_image_surface_get_width (image), h = cairo_image_surface_get_height (image);
  if (w > 0 && h > 0)
    {
      cairo_save (pen->cr);
      cairo_rectangle (pen->cr, x, y, size, size);
      cairo_clip (pen->cr);
      cairo_translate (pen->cr, x, y);
      cairo_scale (pen->cr, size / w, size / h);
      cairo_set_source_surface (pen->cr, image, 0, 0);
      cairo_pattern_set_filter (cairo_get_source (pen->cr), CAIRO_FILTER_NEAREST);
      cairo_paint (pen->cr);
      cairo_restore (pen->cr);
    }
  cairo_surface_destroy (image);
}

static double
draw_heads (AsPen              *pen,
            const AsLayerFrame *f)
{
  const AsLayerTrace *t = f->trace;
  const int H = t->hidden, d = t->head_dim, nh = t->n_heads, i = f->token, n = t->n;
  const int cw = nh * d;
  const float *ctx = row_of (t->context, i, cw);
  const float *out = row_of (t->attn_out, i, H);
  char buf[96];
  double y = 0;

  g_autofree char *what = g_strdup_printf (_("z of head %d here = the output z of the weighted-sum step"),
                                           f->head + 1);
  g_autofree char *check = check_markup (pen, what, f->z_check);
  y += note (pen, check, y, 0.95);

  Vec vecs[2] = { { _("concatenated z"), ctx, cw }, { "<b>× W_O → attn_out</b>", out, H } };
  double range = vecs_range (vecs, 2);
  double x = LABEL_W, w = pen->width - LABEL_W - NOTE_W;

  /* Every head's z, side by side, the selected one framed. */
  double slot = w / nh, gap = MIN (8, slot * 0.15);
  y += ROW_H * 0.5;
  as_pen_fg (pen, 0.9);
  as_pen_text (pen, pen->text, _("each head's z"), LABEL_W - 10, y + ROW_H * 0.55, -1);
  for (int h = 0; h < nh; h++)
    {
      double hx = x + h * slot;
      g_snprintf (buf, sizeof buf, h == f->head ? "<b>%d</b>" : "%d", h + 1);
      as_pen_fg (pen, h == f->head ? 0.95 : 0.6);
      as_pen_text (pen, pen->text, buf, hx + (slot - gap) / 2, y, 0);
      as_pen_strip (pen, ctx + h * d, d, range, hx, y + ROW_H * 0.55, slot - gap, ROW_H * 0.7);
      if (h == f->head)
        {
          cairo_set_source_rgb (pen->cr, 0.95, 0.7, 0.1);
          cairo_set_line_width (pen->cr, 3);
          cairo_rectangle (pen->cr, hx - 3, y + ROW_H * 0.2 - 3, slot - gap + 6, ROW_H * 0.7 + 6);
          cairo_stroke (pen->cr);
        }
    }
  y += ROW_H * 1.3;
  g_snprintf (buf, sizeof buf, _("%d heads × %d = %d numbers; colours ±%.2f"), nh, d, cw, range);
  as_pen_fg (pen, 0.6);
  as_pen_text (pen, pen->text, buf, LABEL_W, y, 1);
  y += ROW_H * 0.6;
  for (int r = 0; r < 2; r++, y += ROW_H * 1.1)
    {
      vec_row (pen, &vecs[r], range, y + ROW_H * 0.5);
      if (r == 0)
        for (int h = 1; h < nh; h++)
          {
            /* Where one head's columns end and the next one's begin. */
            as_pen_fg (pen, 0.8);
            cairo_set_line_width (pen->cr, 1);
            cairo_move_to (pen->cr, x + h * w / nh, y + ROW_H * 0.1);
            cairo_line_to (pen->cr, x + h * w / nh, y + ROW_H * 0.9);
            cairo_stroke (pen->cr);
          }
    }

  /* Why several heads: this layer's patterns. */
  y += 4;
  as_pen_rule (pen, y);
  y += 8;
  g_autofree char *why = g_strdup_printf (
    _("<b>Why several heads?</b> Each has its own W_Q, W_K, W_V and looks for something else. "
    "The %d heads of this layer on this sentence:"), nh);
  y += note (pen, why, y, 0.9);
  const float *attn = f->heads_attn != NULL ? f->heads_attn : t->attn;
  double size = MIN (110, (pen->width - 20) / nh - 8);
  for (int h = 0; h < nh; h++)
    {
      double tx = 10 + h * (size + 8);
      thumbnail (pen, f, attn + (gsize) h * n * n, n, tx, y, size);
      if (h == f->head)
        {
          cairo_set_source_rgb (pen->cr, 0.95, 0.7, 0.1);
          cairo_set_line_width (pen->cr, 3);
          cairo_rectangle (pen->cr, tx - 2, y - 2, size + 4, size + 4);
          cairo_stroke (pen->cr);
        }
      g_snprintf (buf, sizeof buf, h == f->head ? "<b>%d</b>" : "%d", h + 1);
      as_pen_fg (pen, 0.8);
      as_pen_text (pen, pen->text, buf, tx + size / 2, y + size + ROW_H * 0.45, 0);
    }
  y += size + ROW_H;
  g_autofree char *same = check_markup (pen, _("the trace's attention = the model's, every head of this layer"),
                                        f->attn_check);
  y += note (pen, same, y, 0.9);
  return y;
}

/* ---- residual and norm ---------------------------------------------------- */

static double
draw_residual (AsPen              *pen,
               const AsLayerFrame *f)
{
  const AsLayerTrace *t = f->trace;
  const int H = t->hidden, i = f->token;
  const char *norm = t->norm == AS_TRACE_NORM_RMS ? "RMSNorm" : "LayerNorm";
  g_autofree char *norm_in = g_strdup_printf ("%s(x)", norm);
  g_autofree char *norm_out = g_strdup_printf ("<b>%s → h</b>", norm);
  Vec vecs[4];
  int count = 0;
  vecs[count++] = (Vec) { _("x (layer input)"), row_of (t->x_in, i, H), H };
  if (t->pre_norm)
    vecs[count++] = (Vec) { norm_in, row_of (t->attn_in, i, H), H, TRUE };
  vecs[count++] = (Vec) { "+ attn_out", row_of (t->attn_out, i, H), H };
  vecs[count++] = (Vec) { t->pre_norm ? "<b>= h</b>" : "= x + attn_out", row_of (t->resid1, i, H), H };
  if (!t->pre_norm)
    vecs[count++] = (Vec) { norm_out, row_of (t->h1, i, H), H, TRUE };

  double y = vec_rows (pen, vecs, count, 0);
  double nx = norm2 (row_of (t->x_in, i, H), H), na = norm2 (row_of (t->attn_out, i, H), H);
  double m, s;
  mean_std (row_of (t->resid1, i, H), H, &m, &s);
  double ratio = nx > 0 ? na / nx : 0.0;
  g_autofree char *stats = g_strdup_printf (
    "|attn_out| / |x| = %.2f: %s %s", ratio,
    ratio < 1 ? _("attention adds a correction to the token's vector, it does not replace it.")
              : _("attention adds a large change, but the token's own vector stays in the sum."),
    t->pre_norm ? _("Nothing is normalised here: this model normalises each part's input instead, so the "
                  "residual stream itself is never rescaled.")
                : "");
  y += note (pen, stats, y, 0.85);
  if (!t->pre_norm)
    {
      double m2, s2;
      mean_std (row_of (t->h1, i, H), H, &m2, &s2);
      /* Translators: %s is the norm's name, LayerNorm or RMSNorm. */
      g_autofree char *ln = g_strdup_printf (_("The sum has mean %.3f and spread %.3f; after %s mean %.3f, "
                                             "spread %.3f (then scaled by γ, shifted by β)."),
                                             m, s, norm, m2, s2);
      y += note (pen, ln, y, 0.85);
    }
  y += dims_table (pen, vecs, count, y);
  return y;
}

/* ---- the feed-forward network --------------------------------------------- */

static double
activation (const AsLayerTrace *t,
            double              x)
{
  return t->ffn == AS_TRACE_FFN_SWIGLU ? as_silu ((float) x) : as_gelu ((float) x);
}

/* The activation's curve over [-4, 4], TOKEN's pre-activations as dots on
 * it; W x H at (X, Y). */
static void
draw_curve (AsPen              *pen,
            const AsLayerTrace *t,
            const float        *pre,
            double              x,
            double              y,
            double              w,
            double              h)
{
  const double lo = -4, hi = 4, ylo = -1, yhi = 4;
  cairo_t *cr = pen->cr;
#define PX(v) (x + ((v) - lo) / (hi - lo) * w)
#define PY(v) (y + h - ((v) - ylo) / (yhi - ylo) * h)
  as_pen_fg (pen, 0.06);
  cairo_rectangle (cr, x, y, w, h);
  cairo_fill (cr);
  as_pen_fg (pen, 0.4);
  cairo_set_line_width (cr, 1);
  cairo_move_to (cr, x, PY (0));
  cairo_line_to (cr, x + w, PY (0));
  cairo_move_to (cr, PX (0), y);
  cairo_line_to (cr, PX (0), y + h);
  cairo_stroke (cr);
  /* Dots first, so the curve stays readable on top. */
  cairo_set_source_rgba (cr, 0.85, 0.35, 0.05, 0.35);
  for (int c = 0; c < t->intermediate; c++)
    {
      double v = CLAMP (pre[c], lo, hi);
      cairo_arc (cr, PX (v), PY (CLAMP (activation (t, v), ylo, yhi)), 3, 0, 2 * G_PI);
      cairo_fill (cr);
    }
  cairo_set_source_rgb (cr, 0.2, 0.45, 0.85);
  cairo_set_line_width (cr, 3);
  for (int k = 0; k <= 200; k++)
    {
      double v = lo + (hi - lo) * k / 200;
      if (k == 0)
        cairo_move_to (cr, PX (v), PY (activation (t, v)));
      else
        cairo_line_to (cr, PX (v), PY (activation (t, v)));
    }
  cairo_stroke (cr);
  as_pen_fg (pen, 0.7);
  as_pen_text (pen, pen->text, "−4", PX (lo) + 4, PY (0) + 12, 1);
  as_pen_text (pen, pen->text, "4", PX (hi) - 4, PY (0) + 12, -1);
  as_pen_text (pen, pen->text, t->ffn == AS_TRACE_FFN_SWIGLU ? "SiLU(x)" : "GELU(x)", PX (0) + 8, y + 12, 1);
#undef PX
#undef PY
}

static double
draw_ffn (AsPen              *pen,
          const AsLayerFrame *f)
{
  const AsLayerTrace *t = f->trace;
  const int H = t->hidden, I = t->intermediate, i = f->token;
  gboolean swiglu = t->ffn == AS_TRACE_FFN_SWIGLU;
  Vec vecs[5];
  int count = 0;
  vecs[count++] = (Vec) { _("input"), row_of (t->ffn_in, i, H), H };
  vecs[count++] = (Vec) { swiglu ? "× W_gate" : "× W₁ + b₁", row_of (t->ffn_pre, i, I), I };
  if (swiglu)
    vecs[count++] = (Vec) { "× W_up", row_of (t->ffn_up, i, I), I };
  vecs[count++] = (Vec) { swiglu ? "<b>SiLU(gate) · up</b>" : "<b>GELU(·)</b>", row_of (t->ffn_act, i, I), I };
  vecs[count++] = (Vec) { swiglu ? "× W_down" : "× W₂ + b₂", row_of (t->ffn_out, i, H), H };
  double y = vec_rows (pen, vecs, count, 0);

  /* The curve, and what it did to this token's numbers. */
  double cw = MIN (380, pen->width * 0.4), ch = 190;
  y += 6;
  draw_curve (pen, t, row_of (t->ffn_pre, i, I), 10, y, cw, ch);
  double near_zero = 0, negative = 0;
  g_autofree char *tok = g_markup_escape_text (frame_token (f, i), -1);
  as_layer_ffn_sparsity (t, i, &near_zero, &negative);
  g_autofree char *said = g_strdup_printf (
    /* Translators: the arguments: the FFN's width, “gate ” or nothing, the token, SiLU or GELU,
     * the clause “; each result is then multiplied by its up number” or nothing, two percentages
     * with the width, the width again, the subscript of W (_down or ₂), the hidden size. */
    _("Dots: the %d %snumbers of “%s” before the activation, placed on its curve. "
    "%s keeps positive inputs almost as they are and squashes negative ones towards 0%s.\n"
    "<b>%.0f%%</b> of the %d activations are negative, <b>%.0f%%</b> near zero (under 5%% of the largest): "
    "for each token only a few of the %d “detectors” fire, and W%s mixes those back into %d numbers."),
    I, swiglu ? _("gate ") : "", tok, swiglu ? "SiLU" : "GELU",
    swiglu ? _("; each result is then multiplied by its up number") : "", negative * 100, I, near_zero * 100, I,
    swiglu ? "_down" : "₂", H);
  as_pen_fg (pen, 0.85);
  double used = as_pen_wrapped (pen, pen->text, said, cw + 30, y, pen->width - cw - 40, TRUE);
  y += MAX (ch, used) + 10;
  return y;
}

/* ---- the layer's output --------------------------------------------------- */

static double
draw_layer_out (AsPen              *pen,
                const AsLayerFrame *f)
{
  const AsLayerTrace *t = f->trace;
  const int H = t->hidden, i = f->token;
  const char *norm = t->norm == AS_TRACE_NORM_RMS ? "RMSNorm" : "LayerNorm";
  g_autofree char *norm_out = g_strdup_printf (_("<b>%s → output</b>"), norm);
  Vec vecs[5];
  int count = 0;
  vecs[count++] = (Vec) { _("x (layer input)"), row_of (t->x_in, i, H), H };
  vecs[count++] = (Vec) { _("h (after attention)"), row_of (t->h1, i, H), H };
  vecs[count++] = (Vec) { "+ FFN(h)", row_of (t->ffn_out, i, H), H };
  if (t->pre_norm)
    vecs[count++] = (Vec) { _("<b>= output</b>"), row_of (t->out, i, H), H };
  else
    {
      vecs[count++] = (Vec) { "= h + FFN(h)", row_of (t->resid2, i, H), H };
      vecs[count++] = (Vec) { norm_out, row_of (t->out, i, H), H, TRUE };
    }
  double y = vec_rows (pen, vecs, count, 0);
  double cosine = as_layer_in_out_cosine (t, i);
  g_autofree char *tok = g_markup_escape_text (frame_token (f, i), -1);
  g_autofree char *big = g_strdup_printf (
    _("<span size=\"x-large\">cos(x, output) = <b>%.3f</b></span>    |x| = %.2f, |output| = %.2f"),
    cosine, norm2 (row_of (t->x_in, i, H), H), norm2 (row_of (t->out, i, H), H));
  y += note (pen, big, y, 0.95);
  g_autofree char *said = g_strdup_printf (
    /* Translators: the first %s is “nudged”, “changed” or “rewrote much of”, the second the token;
     * the last %s is “ (or the model's final hidden state after the last layer)”. */
    _("1 would mean the same direction, 0 nothing in common: the layer %s “%s”'s vector. "
    "The output is the input of layer %d%s."),
    cosine > 0.9 ? _("nudged") : cosine > 0.5 ? _("changed") : _("rewrote much of"), tok,
    t->layer + 2, _(" (or the model's final hidden state after the last layer)"));
  y += note (pen, said, y, 0.85);
  g_autofree char *same = check_markup (pen, _("this layer's attention in the trace = the model's"),
                                        f->attn_check);
  y += note (pen, same, y, 0.9);
  y += dims_table (pen, vecs, count, y);
  return y;
}

/* ---- masks: padding and causal -------------------------------------------- */

/* A square heatmap with token labels, W wide, at (X, Y), CAUSAL or with
 * the keys from PADDING_FROM on hatched (0: none); returns its height. */
static double
small_heatmap (AsPen              *pen,
               const AsLayerFrame *f,
               const float        *values,
               int                 n,
               const char * const *labels,
               gboolean            causal,
               int                 padding_from,
               const char         *title,
               double              x,
               double              y,
               double              w)
{
  AsHeatmapSpec spec;
  as_heatmap_spec_init (&spec);
  spec.values = values;
  spec.rows = spec.cols = n;
  spec.row_labels = labels;
  spec.col_labels = labels;
  spec.vmin = 0;
  spec.vmax = 1;
  spec.colormap = f->colormap;
  spec.dark = f->dark;
  spec.causal = causal;
  spec.padding_from = padding_from;
  spec.title = title;
  spec.font_size = CLAMP (w * 0.06, 9, 16);
  double h = w + 30;
  cairo_save (pen->cr);
  cairo_translate (pen->cr, x, y);
  as_heatmap_render (pen->cr, &spec, w, h, NULL);
  cairo_restore (pen->cr);
  return h;
}

/* 1 where a query may look, for a causal mask drawn as a heatmap (the
 * masked cells hatched). [n, n] */
static float *
causal_allowed (int n)
{
  float *m = g_new (float, (gsize) n * n);   /* [n, n] */
  for (int r = 0; r < n; r++)
    for (int c = 0; c < n; c++)
      m[(gsize) r * n + c] = c <= r ? 1.0f : 0.0f;
  return m;
}

/* The batch, a row per sequence (padding greyed), and its key-mask rows. */
static double
draw_batch (AsPen              *pen,
            const AsLayerFrame *f,
            double              top)
{
  const AsPaddingDemo *p = f->padding;
  double x0 = 130, cell = MIN (100, (pen->width - x0 - 10) / p->n);
  double y = top + ROW_H * 0.5;
  PangoLayout *small = pango_layout_copy (pen->text);
  PangoFontDescription *desc = pango_font_description_copy (pango_layout_get_font_description (pen->text));
  pango_font_description_set_absolute_size (desc, MIN (AS_PEN_FONT, cell * 0.34) * PANGO_SCALE);
  pango_layout_set_font_description (small, desc);
  pango_font_description_free (desc);
  pango_layout_set_ellipsize (small, PANGO_ELLIPSIZE_END);
  for (int s = 0; s < 2; s++)
    for (int row = 0; row < 2; row++, y += ROW_H)
      {
        char buf[64];
        g_snprintf (buf, sizeof buf, row == 0 ? _("sentence %d") : _("its key mask"), s + 1);
        as_pen_fg (pen, row == 0 ? 0.9 : 0.6);
        as_pen_text (pen, pen->text, buf, x0 - 10, y, -1);
        for (int j = 0; j < p->n; j++)
          {
            gboolean pad = j >= p->n_seq[s];
            double cx = x0 + j * cell;
            if (pad)
              {
                as_pen_fg (pen, 0.15);
                cairo_rectangle (pen->cr, cx + 1, y - ROW_H / 2 + 2, cell - 2, ROW_H - 4);
                cairo_fill (pen->cr);
              }
            const char *label;
            g_autofree char *esc = NULL;
            if (row == 1)
              label = pad ? "−∞" : "0";
            else
              {
                /* PADDING_TOKENS[s] has n_seq[s] labels: none for padding. */
                const char *t = !pad && f->padding_tokens[s] != NULL ? f->padding_tokens[s][j] : NULL;
                esc = g_markup_escape_text (pad ? "[PAD]" : t != NULL ? t : "?", -1);
                label = esc;
              }
            pango_layout_set_width (small, (int) ((cell - 4) * PANGO_SCALE));
            as_pen_fg (pen, pad ? 0.55 : 0.9);
            as_pen_text (pen, small, label, cx + cell / 2, y, 0);
          }
      }
  g_object_unref (small);
  return y - ROW_H * 0.5 - top;
}

static double
draw_padding (AsPen              *pen,
              const AsLayerFrame *f)
{
  const AsLayerTrace *t = f->trace;
  double y = 0;
  double w3 = MIN ((pen->width - 40) / 3, 270);
  char title[160];

  if (f->model_causal)
    {
      /* A decoder: its own mask, and the head that lives with it. */
      int n = t->n;
      g_autofree float *allowed = causal_allowed (n);   /* [n, n] */
      double w2 = MIN ((pen->width - 30) / 2, 340);
      g_snprintf (title, sizeof title, _("its causal mask\nhatched: −∞ (a later key)"));
      small_heatmap (pen, f, allowed, n, f->tokens, TRUE, 0, title, 10, y, w2);
      const float *attn = (f->heads_attn != NULL ? f->heads_attn : t->attn) + (gsize) f->head * n * n;
      g_snprintf (title, sizeof title, _("head %d of layer %d\nwith that mask"), f->head + 1, t->layer + 1);
      y += small_heatmap (pen, f, attn, n, f->tokens, TRUE, 0, title, 20 + w2, y, w2);
      y += note (pen, _("Padding works the same way: in a batch, sentences are padded to one length, and "
                 "the padding keys get −∞ in every row — on top of the causal −∞ above the diagonal."),
                 y + 6, 0.85) + 6;
      return y;
    }
  if (f->padding == NULL)
    {
      y += note (pen, f->padding_note != NULL ? f->padding_note : _("The padded batch is on its way…"), y, 0.7);
      return y;
    }

  const AsPaddingDemo *p = f->padding;
  y += draw_batch (pen, f, y) + 8;
  /* The sequence that has padding (the shorter one), padded and alone. */
  int s = p->n_seq[0] < p->n_seq[1] ? 0 : 1, ns = p->n_seq[s], h = CLAMP (f->head, 0, p->n_heads - 1);
  g_autofree const char **padded_labels = g_new0 (const char *, p->n + 1);
  for (int j = 0; j < p->n; j++)
    {
      const char *label = j < ns && f->padding_tokens[s] != NULL ? f->padding_tokens[s][j] : NULL;
      padded_labels[j] = j >= ns ? "[PAD]" : label != NULL ? label : "?";
    }
  g_snprintf (title, sizeof title, _("sentence %d, padded\nhead %d; hatched: −∞ ([PAD] keys)"), s + 1, h + 1);
  double used = small_heatmap (pen, f, p->attn[s] + (gsize) h * p->n * p->n, p->n, padded_labels,
                               FALSE, ns, title, 10, y, w3);
  g_snprintf (title, sizeof title, _("sentence %d alone\nhead %d"), s + 1, h + 1);
  small_heatmap (pen, f, p->attn_alone[s] + (gsize) h * ns * ns, ns, padded_labels, FALSE, 0, title,
                 20 + w3, y, w3);
  g_autofree float *allowed = causal_allowed (ns);   /* [ns, ns] */
  small_heatmap (pen, f, allowed, ns, padded_labels, TRUE, 0, _("a causal mask\nhatched: −∞"),
                 30 + 2 * w3, y, w3);
  y += used + 8;
  double d0 = as_layer_padding_difference (p, 0, h), d1 = as_layer_padding_difference (p, 1, h);
  g_autofree char *check = check_markup (pen, _("on its real tokens each sentence attends exactly as alone"),
                                         MAX (d0, d1));
  y += note (pen, check, y, 0.95);
  y += note (pen, p->n_seq[0] == p->n_seq[1]
                  ? _("The two sentences have the same length here, so nothing is padded: type a shorter or "
                    "longer sentence in the Compare tab.")
                  : _("The padding mask hides whole columns (keys), in every row; the causal mask hides "
                    "everything to the right of the diagonal, a different amount in each row. The rows "
                    "of padding queries are computed too, and thrown away."), y, 0.8);
  return y;
}

/* ---- public --------------------------------------------------------------- */

gboolean
as_layer_step_is_layer (AsTeachStep step)
{
  return step == AS_TEACH_STEP_EMBED || (step >= AS_TEACH_STEP_HEADS && step < AS_N_TEACH_STEPS);
}

static gboolean
frame_ok (const AsLayerFrame *f)
{
  return f->trace != NULL && as_layer_step_is_layer (f->step) && f->token >= 0 && f->token < f->trace->n &&
         f->head >= 0 && f->head < f->trace->n_heads;
}

static double
draw_step (cairo_t            *cr,
           const AsLayerFrame *f,
           double              width)
{
  AsPen pen;
  as_pen_init (&pen, cr, f->font, f->dark, width);
  double h = 0;
  switch (f->step)
    {
    case AS_TEACH_STEP_EMBED:     h = draw_embed (&pen, f); break;
    case AS_TEACH_STEP_HEADS:     h = draw_heads (&pen, f); break;
    case AS_TEACH_STEP_RESIDUAL:  h = draw_residual (&pen, f); break;
    case AS_TEACH_STEP_FFN:       h = draw_ffn (&pen, f); break;
    case AS_TEACH_STEP_LAYER_OUT: h = draw_layer_out (&pen, f); break;
    case AS_TEACH_STEP_PADDING:   h = draw_padding (&pen, f); break;
    default:                      break;
    }
  as_pen_clear (&pen);
  return h;
}

double
as_layer_render_height (const AsLayerFrame *f,
                        double              width)
{
  if (!frame_ok (f))
    return 0;
  /* Drawn once where nobody sees it: the same code gives the height. */
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 1, 1);
  cairo_t *cr = cairo_create (surface);
  double h = draw_step (cr, f, width);
  cairo_destroy (cr);
  cairo_surface_destroy (surface);
  return ceil (h + 10);
}

void
as_layer_render (cairo_t            *cr,
                 const AsLayerFrame *f,
                 double              width)
{
  if (!frame_ok (f))
    return;
  cairo_save (cr);
  draw_step (cr, f, width);
  cairo_restore (cr);
}

double
as_layer_padding_difference (const AsPaddingDemo *demo,
                             int                  seq,
                             int                  head)
{
  if (demo == NULL || seq < 0 || seq > 1 || head < 0 || head >= demo->n_heads)
    return -1;
  const int n = demo->n, ns = demo->n_seq[seq];
  const float *padded = demo->attn[seq] + (gsize) head * n * n;       /* [n, n] */
  const float *alone = demo->attn_alone[seq] + (gsize) head * ns * ns; /* [ns, ns] */
  double worst = 0;
  for (int i = 0; i < ns; i++)
    for (int j = 0; j < n; j++)
      {
        double v = padded[(gsize) i * n + j];
        worst = MAX (worst, fabs (j < ns ? v - alone[(gsize) i * ns + j] : v));
      }
  return worst;
}

gboolean
as_layer_ffn_sparsity (const AsLayerTrace *t,
                       int                 token,
                       double             *near_zero,
                       double             *negative)
{
  if (t == NULL || t->ffn_act == NULL || token < 0 || token >= t->n || t->intermediate <= 0)
    return FALSE;
  const float *a = row_of (t->ffn_act, token, t->intermediate);   /* [I] */
  double largest = 0;
  for (int c = 0; c < t->intermediate; c++)
    largest = MAX (largest, fabs (a[c]));
  int near = 0, neg = 0;
  for (int c = 0; c < t->intermediate; c++)
    {
      near += fabs (a[c]) < 0.05 * largest;
      neg += a[c] < 0;
    }
  *near_zero = (double) near / t->intermediate;
  *negative = (double) neg / t->intermediate;
  return TRUE;
}

double
as_layer_in_out_cosine (const AsLayerTrace *t,
                        int                 token)
{
  if (t == NULL || token < 0 || token >= t->n)
    return 0;
  const float *x = row_of (t->x_in, token, t->hidden), *y = row_of (t->out, token, t->hidden);
  double dot = 0;
  for (int c = 0; c < t->hidden; c++)
    dot += (double) x[c] * y[c];
  double nx = norm2 (x, t->hidden), ny = norm2 (y, t->hidden);
  return nx > 0 && ny > 0 ? dot / (nx * ny) : 0;
}
