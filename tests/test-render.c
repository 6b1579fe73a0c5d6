/* test-render.c — the Cairo heatmap renderer and figures, no model needed.
 *
 * Attention here is made up (softmax of seeded random scores) or written by
 * hand where the answer must be known exactly.
 */
#include <cairo.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "as-colormap.h"
#include "as-figure.h"
#include "as-heatmap-render.h"

/* ---- fixtures ------------------------------------------------------------ */

static void
set_token (AsToken    *t,
           const char *text,
           int         sequence,
           int         start,
           int         end,
           gboolean    special,
           gboolean    continuation)
{
  t->id = 0;
  t->text = g_strdup (text);
  t->type_id = sequence == 1 ? 1 : 0;
  t->sequence = sequence;
  t->start = start;
  t->end = end;
  t->is_special = special;
  t->is_continuation = continuation;
}

/* [CLS] w0 w1 … [SEP]; every third word piece after the first is a "##"
 * continuation, so word-level merging has something to do. */
static AsEncoding *
make_encoding (int n)
{
  AsEncoding *enc = g_new0 (AsEncoding, 1);
  enc->n_tokens = n;
  enc->tokens = g_new0 (AsToken, n);
  for (int i = 0; i < n; i++)
    {
      g_autofree char *text = NULL;
      gboolean special = i == 0 || i == n - 1;
      gboolean cont = !special && i > 1 && i % 3 == 0;
      text = special ? g_strdup (i == 0 ? "[CLS]" : "[SEP]")
                     : g_strdup_printf (cont ? "##p%d" : "w%d", i);
      set_token (&enc->tokens[i], text, special ? -1 : 0, -1, -1, special, cont);
    }
  return enc;
}

static void
fill_softmax_rows (float  *m,
                   int     n,
                   GRand  *rand)
{
  for (int i = 0; i < n; i++)
    {
      float *row = m + (gsize) i * n;
      double sum = 0;
      for (int j = 0; j < n; j++)
        {
          row[j] = (float) exp (g_rand_double_range (rand, -4, 4));
          sum += row[j];
        }
      for (int j = 0; j < n; j++)
        row[j] = (float) (row[j] / sum);
    }
}

static AsAnalysis *
make_attention (int     n_layers,
                int     n_heads,
                int     n,
                guint32 seed)
{
  AsAnalysis *a = as_analysis_new ();
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  a->encoding = make_encoding (n);
  a->n_layers = n_layers;
  a->n_heads = n_heads;
  a->n = n;
  a->layers_ready = n_layers;
  a->attn = g_new (float, (gsize) n_layers * n_heads * n * n);
  for (int l = 0; l < n_layers; l++)
    for (int h = 0; h < n_heads; h++)
      fill_softmax_rows ((float *) as_analysis_head (a, l, h), n, rand);
  return a;
}

static void
free_attention (AsAnalysis *a)
{
  for (int i = 0; i < a->encoding->n_tokens; i++)
    g_free (a->encoding->tokens[i].text);
  g_free (a->encoding->tokens);
  /* Built by hand above, so freed by hand; the rest goes with the analysis. */
  g_clear_pointer (&a->encoding, g_free);
  as_analysis_unref (a);
}

static guint32
pixel_at (cairo_surface_t *s,
          double           x,
          double           y)
{
  cairo_surface_flush (s);
  int stride = cairo_image_surface_get_stride (s);
  const guint8 *data = cairo_image_surface_get_data (s);
  return ((const guint32 *) (gconstpointer) (data + (gsize) (int) y * stride))[(int) x] | 0xff000000u;
}

static int
channel_diff (guint32 a,
              guint32 b)
{
  int worst = 0;
  for (int shift = 0; shift < 24; shift += 8)
    worst = MAX (worst, abs ((int) ((a >> shift) & 0xff) - (int) ((b >> shift) & 0xff)));
  return worst;
}

/* A 5 x 7 matrix covering the scale, with labels, drawn in MODE. */
static const float small_values[5 * 7] = {
  0.00f, 0.10f, 0.20f, 0.30f, 0.40f, 0.50f, 0.60f,
  0.70f, 0.80f, 0.90f, 1.00f, 0.05f, 0.15f, 0.25f,
  0.35f, 0.45f, 0.55f, 0.65f, 0.75f, 0.85f, 0.95f,
  0.01f, 0.02f, 0.03f, 0.04f, 0.06f, 0.07f, 0.08f,
  0.33f, 0.66f, 0.99f, 0.12f, 0.34f, 0.56f, 0.78f,
};
static const char * const small_rows[] = { "[CLS]", "the", "anim", "##al", "[SEP]" };
static const char * const small_cols[] = { "a", "b", "c", "d", "e", "f", "g" };

static void
small_spec (AsHeatmapSpec *spec,
            AsCellMode     mode)
{
  as_heatmap_spec_init (spec);
  spec->values = small_values;
  spec->rows = 5;
  spec->cols = 7;
  spec->row_labels = small_rows;
  spec->col_labels = small_cols;
  spec->cell_mode = mode;
  spec->title = "a title\nits second line";
  spec->colorbar_label = "attention";
}

static cairo_surface_t *
render_small (AsCellMode       mode,
              AsHeatmapLayout *layout)
{
  AsHeatmapSpec spec;
  small_spec (&spec, mode);
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 500, 400);
  cairo_t *cr = cairo_create (s);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  as_heatmap_render (cr, &spec, 500, 400, layout);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  return s;
}

/* ---- colour maps --------------------------------------------------------- */

static void
test_colormap_tables (void)
{
  const guint8 *v = as_colormap_lut (AS_COLORMAP_VIRIDIS);
  /* matplotlib's viridis runs from (68, 1, 84) to (253, 231, 37). */
  g_assert_cmpint (v[0], ==, 68);
  g_assert_cmpint (v[1], ==, 1);
  g_assert_cmpint (v[2], ==, 84);
  g_assert_cmpint (v[765], ==, 253);
  g_assert_cmpint (v[766], ==, 231);
  g_assert_cmpint (v[767], ==, 37);

  const guint8 *g = as_colormap_lut (AS_COLORMAP_GREYS);
  for (int i = 0; i < 256; i++)
    {
      g_assert_cmpint (g[3 * i], ==, g[3 * i + 1]);
      g_assert_cmpint (g[3 * i], ==, g[3 * i + 2]);
      if (i > 0)
        g_assert_cmpint (g[3 * i], <=, g[3 * (i - 1)]);
    }

  for (int id = 0; id < AS_N_COLORMAPS; id++)
    g_assert_cmpint (as_colormap_from_name (as_colormap_name (id)), ==, id);
  g_assert_cmpint (as_colormap_from_name ("gray"), ==, AS_COLORMAP_GREYS);
  g_assert_cmpint (as_colormap_from_name ("jet"), ==, -1);

  g_assert_cmpint (as_colormap_index (-1, 0, 1), ==, 0);
  g_assert_cmpint (as_colormap_index (2, 0, 1), ==, 255);
  g_assert_cmpint (as_colormap_index (NAN, 0, 1), ==, 0);
  g_assert_cmpint (as_colormap_index (0.5f, 0, 1), ==, 128);
  g_assert_cmphex (as_colormap_argb (AS_COLORMAP_VIRIDIS, 0, 0, 1), ==, 0xff440154u);
}

/* ---- cells --------------------------------------------------------------- */

static void
test_image_colours_match_lut (void)
{
  AsHeatmapLayout layout;
  cairo_surface_t *s = render_small (AS_CELLS_IMAGE, &layout);
  g_assert_cmpfloat (layout.cell_w, >, 10);
  g_assert_cmpint (layout.pool, ==, 1);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 7; j++)
      {
        double x = layout.cells_x + (j + 0.5) * layout.cell_w;
        double y = layout.cells_y + (i + 0.5) * layout.cell_h;
        guint32 want = as_colormap_argb (AS_COLORMAP_VIRIDIS, small_values[i * 7 + j], 0, 1);
        g_assert_cmphex (pixel_at (s, x, y), ==, want);
      }
  cairo_surface_destroy (s);
}

static void
test_vector_matches_image (void)
{
  AsHeatmapLayout image_layout, vector_layout;
  cairo_surface_t *image = render_small (AS_CELLS_IMAGE, &image_layout);
  cairo_surface_t *vector = render_small (AS_CELLS_VECTOR, &vector_layout);
  g_assert_cmpfloat_with_epsilon (image_layout.cells_x, vector_layout.cells_x, 1e-9);
  g_assert_cmpfloat_with_epsilon (image_layout.cell_w, vector_layout.cell_w, 1e-9);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 7; j++)
      {
        double x = image_layout.cells_x + (j + 0.5) * image_layout.cell_w;
        double y = image_layout.cells_y + (i + 0.5) * image_layout.cell_h;
        g_assert_cmpint (channel_diff (pixel_at (image, x, y), pixel_at (vector, x, y)), <=, 1);
      }
  cairo_surface_destroy (image);
  cairo_surface_destroy (vector);
}

static void
test_cells_image (void)
{
  AsHeatmapSpec spec;
  small_spec (&spec, AS_CELLS_IMAGE);
  spec.colormap = AS_COLORMAP_MAGMA;
  cairo_surface_t *s = as_heatmap_cells_image (&spec);
  g_assert_cmpint (cairo_image_surface_get_width (s), ==, 7);
  g_assert_cmpint (cairo_image_surface_get_height (s), ==, 5);
  g_assert_cmphex (pixel_at (s, 3, 1), ==, as_colormap_argb (AS_COLORMAP_MAGMA, 1.0f, 0, 1));
  cairo_surface_destroy (s);
}

enum { MASK_N = 5 };

/* VALUES [MASK_N, MASK_N] drawn CAUSAL or with the keys from PADDING_FROM
 * masked, in both cell modes: each masked cell in the mask's grey
 * (hatched with a lighter one), never in the colour of its 0; the rest in
 * their colours. */
static void
check_masked_cells (const float *values,
                    gboolean     causal,
                    int          padding_from)
{
  const int N = MASK_N;
  AsCellMode modes[] = { AS_CELLS_IMAGE, AS_CELLS_VECTOR };
  for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
    {
      AsHeatmapSpec spec;
      as_heatmap_spec_init (&spec);
      spec.values = values;
      spec.rows = spec.cols = N;
      spec.cell_mode = modes[m];
      spec.causal = causal;
      spec.padding_from = padding_from;
      spec.annotate = TRUE;
      cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 300, 300);
      cairo_t *cr = cairo_create (s);
      cairo_set_source_rgb (cr, 1, 1, 1);
      cairo_paint (cr);
      AsHeatmapLayout layout;
      as_heatmap_render (cr, &spec, 300, 300, &layout);
      cairo_destroy (cr);
      for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
          {
            /* A corner of the cell: clear of the values printed in it. */
            double x = layout.cells_x + (j + 0.15) * layout.cell_w;
            double y = layout.cells_y + (i + 0.15) * layout.cell_h;
            guint32 p = pixel_at (s, x, y);
            int r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, b = p & 0xff;
            if ((causal && j > i) || (padding_from > 0 && j >= padding_from))
              {
                g_assert_cmpint (abs (r - g), <=, 1);
                g_assert_cmpint (abs (g - b), <=, 1);
                g_assert_cmpint (r, >=, 0.65 * 255);   /* the mask's light greys */
                g_assert_cmpint (r, <=, 0.90 * 255);
              }
            else
              g_assert_cmpint (channel_diff (p, as_colormap_argb (AS_COLORMAP_VIRIDIS,
                                                                   values[i * N + j], 0, 1)), <=, 1);
          }
      cairo_surface_destroy (s);
    }
}

/* A causal model's matrix: keys after the query are masked, in both cell
 * modes and in thumbnails. */
static void
test_causal_mask (void)
{
  const int N = MASK_N;
  float values[MASK_N * MASK_N] = { 0 };
  for (int i = 0; i < N; i++)
    for (int j = 0; j <= i; j++)
      values[i * N + j] = 1.0f / (i + 1);
  check_masked_cells (values, TRUE, 0);

  AsHeatmapSpec spec;
  as_heatmap_spec_init (&spec);
  spec.values = values;
  spec.rows = spec.cols = N;
  spec.causal = TRUE;
  cairo_surface_t *thumb = as_heatmap_cells_image (&spec);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++)
      if (j > i)
        g_assert_cmphex (pixel_at (thumb, j, i) & 0xffffff, ==, 0xdbdbdb);
      else
        g_assert_cmphex (pixel_at (thumb, j, i), ==,
                         as_colormap_argb (AS_COLORMAP_VIRIDIS, values[i * N + j], 0, 1));
  cairo_surface_destroy (thumb);
}

/* A padded batch's row: the keys from padding_from on are hidden from
 * every query by the mask. */
static void
test_padding_mask (void)
{
  const int N = MASK_N, real = 3;
  float values[MASK_N * MASK_N] = { 0 };
  for (int i = 0; i < N; i++)
    for (int j = 0; j < real; j++)
      values[i * N + j] = (j + 1) / 6.0f;
  check_masked_cells (values, FALSE, real);
}

static void
test_hit_testing (void)
{
  AsHeatmapSpec spec;
  AsHeatmapLayout layout;
  small_spec (&spec, AS_CELLS_IMAGE);
  cairo_surface_destroy (render_small (AS_CELLS_IMAGE, &layout));

  int row = -1, col = -1;
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 7; j++)
      {
        g_assert_true (as_heatmap_hit_test (&layout, &spec, layout.cells_x + (j + 0.5) * layout.cell_w,
                                            layout.cells_y + (i + 0.5) * layout.cell_h, &row, &col));
        g_assert_cmpint (row, ==, i);
        g_assert_cmpint (col, ==, j);
      }
  /* Just inside the last cell, just outside the first. */
  g_assert_true (as_heatmap_hit_test (&layout, &spec, layout.cells_x + 7 * layout.cell_w - 0.01,
                                      layout.cells_y + 5 * layout.cell_h - 0.01, &row, &col));
  g_assert_cmpint (row, ==, 4);
  g_assert_cmpint (col, ==, 6);
  g_assert_false (as_heatmap_hit_test (&layout, &spec, layout.cells_x - 0.01, layout.cells_y + 1, &row, &col));
  g_assert_false (as_heatmap_hit_test (&layout, &spec, layout.cells_x + 1, layout.cells_y - 0.01, &row, &col));
  g_assert_false (as_heatmap_hit_test (&layout, &spec, layout.colorbar_x + 1, layout.colorbar_y + 1, &row, &col));
  g_assert_false (as_heatmap_hit_test (&layout, &spec, layout.cells_x + 7 * layout.cell_w + 0.01,
                                       layout.cells_y + 1, &row, &col));
}

/* 512 tokens in 200 pixels: cells are drawn as 3 x 3 block means, and a
 * block's colour is the colour of its mean, not of one sampled cell. */
static void
test_small_cells_are_block_means (void)
{
  int n = 512;
  float *values = g_new0 (float, (gsize) n * n);
  for (int i = 0; i < n; i++)
    values[(gsize) i * n + 5] = 0.9f;   /* one strong column, like [SEP] */
  AsHeatmapSpec spec;
  as_heatmap_spec_init (&spec);
  spec.values = values;
  spec.rows = spec.cols = n;
  spec.colorbar = FALSE;

  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 200, 200);
  cairo_t *cr = cairo_create (s);
  AsHeatmapLayout layout;
  as_heatmap_render (cr, &spec, 200, 200, &layout);
  cairo_destroy (cr);

  g_assert_cmpint (layout.pool, ==, 3);
  /* Column 5 falls in block 1 (columns 3..5): mean 0.9 / 3 = 0.3. */
  double x = layout.cells_x + 1.5 * 3 * layout.cell_w, y = layout.cells_y + 30;
  g_assert_cmpint (channel_diff (pixel_at (s, x, y), as_colormap_argb (AS_COLORMAP_VIRIDIS, 0.3f, 0, 1)), <=, 1);
  cairo_surface_destroy (s);
  g_free (values);
}

/* ---- token groups -------------------------------------------------------- */

static void
check_rows_sum_to_one (const float *m,
                       int          n)
{
  for (int i = 0; i < n; i++)
    {
      double sum = 0;
      for (int j = 0; j < n; j++)
        sum += m[(gsize) i * n + j];
      g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
    }
}

/* [CLS] un ##aff ##able world [SEP] from "Unaffable world". */
static AsEncoding *
make_word_encoding (void)
{
  AsEncoding *enc = g_new0 (AsEncoding, 1);
  enc->n_tokens = 6;
  enc->tokens = g_new0 (AsToken, 6);
  set_token (&enc->tokens[0], "[CLS]", -1, -1, -1, TRUE, FALSE);
  set_token (&enc->tokens[1], "un", 0, 0, 2, FALSE, FALSE);
  set_token (&enc->tokens[2], "##aff", 0, 2, 5, FALSE, TRUE);
  set_token (&enc->tokens[3], "##able", 0, 5, 9, FALSE, TRUE);
  set_token (&enc->tokens[4], "world", 0, 10, 15, FALSE, FALSE);
  set_token (&enc->tokens[5], "[SEP]", -1, -1, -1, TRUE, FALSE);
  return enc;
}

static void
free_encoding (AsEncoding *enc)
{
  for (int i = 0; i < enc->n_tokens; i++)
    g_free (enc->tokens[i].text);
  g_free (enc->tokens);
  g_free (enc);
}

/* Rows sum to 1; each entry a multiple of 1/20 so the answer is exact. */
static const float word_attn[6 * 6] = {
  0.50f, 0.10f, 0.10f, 0.10f, 0.10f, 0.10f,
  0.20f, 0.20f, 0.20f, 0.20f, 0.10f, 0.10f,
  0.10f, 0.30f, 0.10f, 0.10f, 0.30f, 0.10f,
  0.00f, 0.40f, 0.20f, 0.00f, 0.30f, 0.10f,
  0.05f, 0.05f, 0.05f, 0.05f, 0.30f, 0.50f,
  0.25f, 0.25f, 0.00f, 0.00f, 0.25f, 0.25f,
};

/* One layer, one head of ATTN over ENC (borrowed: free with g_free). */
static AsAnalysis
borrow_attention (AsEncoding  *enc,
                  const float *attn)
{
  AsAnalysis a = { .encoding = enc, .n_layers = 1, .n_heads = 1, .n = enc->n_tokens,
                   .attn = (float *) attn, .layers_ready = 1 };
  return a;
}

/* The head figure's single panel with these options. */
static AsShown *
shown_panel (const AsAnalysis *a,
             const char        *text,
             gboolean           words,
             gboolean           hide,
             gboolean           renormalise)
{
  AsFigureOptions o;
  as_figure_options_init (&o);
  o.text_a = text;
  o.word_level = words;
  o.hide_special = hide;
  o.renormalise = renormalise;
  g_autoptr(GError) error = NULL;
  AsShown *shown = as_figure_shown (a, &o, &error);
  g_assert_no_error (error);
  return shown;
}

static void
test_word_level_merge (void)
{
  AsEncoding *enc = make_word_encoding ();
  AsAnalysis a = borrow_attention (enc, word_attn);
  AsShown *g = shown_panel (&a, "Unaffable world", TRUE, FALSE, TRUE);
  g_assert_cmpint (g->tokens->n, ==, 4);
  g_assert_cmpstr (g->tokens->labels[0], ==, "[CLS]");
  g_assert_cmpstr (g->tokens->labels[1], ==, "Unaffable");
  g_assert_cmpstr (g->tokens->labels[2], ==, "world");
  g_assert_cmpstr (g->tokens->labels[3], ==, "[SEP]");
  g_assert_null (g->tokens->labels[4]);
  /* Every piece of the word maps back to its row. */
  g_assert_cmpint (g->tokens->row_of[2], ==, 1);
  g_assert_cmpint (g->tokens->row_of[3], ==, 1);

  /* TO "unaffable": columns 1..3 summed; FROM it: rows 1..3 averaged.
   * Row "unaffable" = mean of (0.2, 0.6, 0.1, 0.1), (0.1, 0.5, 0.3, 0.1),
   * (0.0, 0.6, 0.3, 0.1) = (0.1, 17/30, 0.7/3, 0.1). */
  const float want[16] = {
    0.50f, 0.30f, 0.10f, 0.10f,
    0.10f, 17.f / 30, 0.7f / 3, 0.10f,
    0.05f, 0.15f, 0.30f, 0.50f,
    0.25f, 0.25f, 0.25f, 0.25f,
  };
  for (int k = 0; k < 16; k++)
    g_assert_cmpfloat_with_epsilon (g->values[k], want[k], 1e-6);
  check_rows_sum_to_one (g->values, 4);
  as_shown_free (g);

  /* Without the text, the label is the pieces glued together. */
  g = shown_panel (&a, NULL, TRUE, FALSE, TRUE);
  g_assert_cmpstr (g->tokens->labels[1], ==, "unaffable");
  as_shown_free (g);
  free_encoding (enc);
}

static void
test_hide_special (void)
{
  AsEncoding *enc = make_word_encoding ();
  AsAnalysis a = borrow_attention (enc, word_attn);
  AsShown *g = shown_panel (&a, NULL, FALSE, TRUE, TRUE);
  g_assert_cmpint (g->tokens->n, ==, 4);
  g_assert_cmpstr (g->tokens->labels[0], ==, "un");
  g_assert_cmpstr (g->tokens->labels[3], ==, "world");
  g_assert_cmpint (g->tokens->row_of[0], ==, -1);
  g_assert_cmpint (g->tokens->row_of[5], ==, -1);
  check_rows_sum_to_one (g->values, 4);
  /* Row "un" without [CLS]/[SEP] was (0.2, 0.2, 0.2, 0.1) of 0.7. */
  g_assert_cmpfloat_with_epsilon (g->values[0], 0.2f / 0.7f, 1e-6);
  g_assert_cmpfloat_with_epsilon (g->values[3], 0.1f / 0.7f, 1e-6);
  as_shown_free (g);

  g = shown_panel (&a, NULL, FALSE, TRUE, FALSE);
  g_assert_cmpfloat_with_epsilon (g->values[0], 0.2f, 1e-7);
  g_assert_cmpfloat_with_epsilon (g->values[3], 0.1f, 1e-7);
  as_shown_free (g);

  /* Both: words without specials, rows still sum to 1. */
  g = shown_panel (&a, "Unaffable world", TRUE, TRUE, TRUE);
  g_assert_cmpint (g->tokens->n, ==, 2);
  check_rows_sum_to_one (g->values, 2);
  as_shown_free (g);
  free_encoding (enc);
}

static void
test_groups_on_random_attention (void)
{
  AsAnalysis *a = make_attention (1, 1, 40, 7);
  for (int mode = 0; mode < 3; mode++)
    {
      gboolean words = mode != 1, hide = mode != 0;
      AsShown *g = shown_panel (a, NULL, words, hide, TRUE);
      check_rows_sum_to_one (g->values, g->tokens->n);
      as_shown_free (g);
    }
  free_attention (a);
}

/* ---- figures ------------------------------------------------------------- */

static guint
render_view (const AsAnalysis *a,
             AsFigureView       view,
             AsCellMode         mode,
             double             width,
             double             height,
             double            *seconds)
{
  AsFigureOptions o;
  as_figure_options_init (&o);
  o.view = view;
  o.layer = a->n_layers - 1;
  o.head = a->n_heads - 1;
  o.model_name = "test-model";
  o.text_a = "some text";
  GArray *panels = g_array_new (FALSE, FALSE, sizeof (AsFigurePanel));
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, (int) width, (int) height);
  cairo_t *cr = cairo_create (s);
  g_autoptr(GError) error = NULL;

  gint64 start = g_get_monotonic_time ();
  gboolean ok = as_figure_render (cr, a, &o, mode, width, height, panels, &error);
  cairo_surface_flush (s);
  if (seconds != NULL)
    *seconds = (g_get_monotonic_time () - start) / 1e6;

  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  cairo_surface_destroy (s);
  guint n = panels->len;
  g_array_unref (panels);
  return n;
}

/* Renders O at W x H; returns how many panels were single heads. */
static guint
render_view_options (const AsAnalysis      *a,
                     const AsFigureOptions *o,
                     double                 w,
                     double                 h)
{
  GArray *panels = g_array_new (FALSE, FALSE, sizeof (AsFigurePanel));
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, (int) w, (int) h);
  cairo_t *cr = cairo_create (s);
  g_autoptr(GError) error = NULL;
  g_assert_true (as_figure_render (cr, a, o, AS_CELLS_IMAGE, w, h, panels, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (panels->len, ==, 1);
  guint heads = g_array_index (panels, AsFigurePanel, 0).head >= 0;
  cairo_destroy (cr);
  cairo_surface_destroy (s);
  g_array_unref (panels);
  return heads;
}

static void
test_every_view (void)
{
  AsAnalysis *a = make_attention (3, 4, 20, 11);
  for (int mode = AS_CELLS_IMAGE; mode <= AS_CELLS_VECTOR; mode++)
    {
      g_assert_cmpuint (render_view (a, AS_FIGURE_HEAD, mode, 600, 600, NULL), ==, 1);
      g_assert_cmpuint (render_view (a, AS_FIGURE_MEAN, mode, 600, 600, NULL), ==, 1);
      g_assert_cmpuint (render_view (a, AS_FIGURE_LAYER, mode, 1200, 400, NULL), ==, 4);
      g_assert_cmpuint (render_view (a, AS_FIGURE_GRID, mode, 800, 600, NULL), ==, 12);
      /* Tiny and absurd sizes draw what fits, without crashing. */
      g_assert_cmpuint (render_view (a, AS_FIGURE_LAYER, mode, 30, 20, NULL), <=, 4);
      render_view (a, AS_FIGURE_GRID, mode, 5, 5, NULL);
    }
  free_attention (a);
}

static void
test_mean_panel_is_head_average (void)
{
  AsAnalysis *a = make_attention (2, 3, 6, 5);
  AsFigureOptions o;
  as_figure_options_init (&o);
  o.view = AS_FIGURE_MEAN;
  o.layer = 1;
  o.title = FALSE;
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 400, 400);
  cairo_t *cr = cairo_create (s);
  GArray *panels = g_array_new (FALSE, FALSE, sizeof (AsFigurePanel));
  g_assert_true (as_figure_render (cr, a, &o, AS_CELLS_IMAGE, 400, 400, panels, NULL));
  const AsFigurePanel *p = &g_array_index (panels, AsFigurePanel, 0);
  g_assert_cmpint (p->head, ==, -1);
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++)
      {
        float mean = 0;
        for (int h = 0; h < 3; h++)
          mean += as_analysis_head (a, 1, h)[i * 6 + j] / 3;
        guint32 got = pixel_at (s, p->layout.cells_x + (j + 0.5) * p->layout.cell_w,
                                p->layout.cells_y + (i + 0.5) * p->layout.cell_h);
        g_assert_cmpint (channel_diff (got, as_colormap_argb (AS_COLORMAP_VIRIDIS, mean, 0, 1)), <=, 1);
      }
  g_array_unref (panels);
  cairo_destroy (cr);
  cairo_surface_destroy (s);
  free_attention (a);
}

/* The head view draws any aggregate: its panel is as-shown's matrix for the
 * options' spec, and the mean view is the same as aggregate mean. */
static void
test_aggregate_panels (void)
{
  AsAnalysis *a = make_attention (3, 4, 9, 13);
  g_autoptr(GError) error = NULL;
  for (int agg = 0; agg < AS_N_SHOWN_AGGREGATES; agg++)
    for (int words = 0; words < 2; words++)
      {
        AsShownSpec spec;
        as_shown_spec_init (&spec);
        spec.aggregate = agg;
        spec.layer = 2;
        spec.head = 1;
        spec.words = words;
        spec.hide_special = words;   /* and a mix with hidden rows */
        AsFigureOptions o;
        as_figure_options_init (&o);
        as_figure_options_set_shown (&o, &spec);
        AsShownSpec back;
        as_figure_options_get_shown (&o, -1, &back);
        g_assert_cmpmem (&back, sizeof back, &spec, sizeof spec);

        g_autoptr(AsShown) fig = as_figure_shown (a, &o, &error);
        g_assert_no_error (error);
        g_autoptr(AsShown) want = as_shown_compute (a, NULL, NULL, &spec, &error);
        g_assert_no_error (error);
        g_assert_cmpint (fig->tokens->n, ==, want->tokens->n);
        g_assert_cmpmem (fig->values, (gsize) fig->tokens->n * fig->tokens->n * sizeof (float),
                         want->values, (gsize) want->tokens->n * want->tokens->n * sizeof (float));
        /* One panel, and not a single head unless the aggregate is one. */
        g_assert_cmpuint (render_view_options (a, &o, 500, 500), ==, agg == AS_SHOWN_HEAD ? 1 : 0);
      }

  /* --view mean and aggregate mean draw the same values. */
  AsFigureOptions mean, head_mean;
  as_figure_options_init (&mean);
  mean.view = AS_FIGURE_MEAN;
  mean.layer = 1;
  as_figure_options_init (&head_mean);
  head_mean.layer = 1;
  head_mean.aggregate = AS_SHOWN_MEAN;
  g_autoptr(AsShown) m1 = as_figure_shown (a, &mean, &error);
  g_autoptr(AsShown) m2 = as_figure_shown (a, &head_mean, &error);
  g_assert_cmpmem (m1->values, 9 * 9 * sizeof (float), m2->values, 9 * 9 * sizeof (float));

  /* A head out of range only matters when one head is drawn. */
  head_mean.head = 99;
  g_assert_true (as_figure_check (a, &head_mean, &error));
  head_mean.aggregate = AS_SHOWN_HEAD;
  g_assert_false (as_figure_check (a, &head_mean, &error));
  g_assert_nonnull (strstr (error->message, "head 100"));
  free_attention (a);
}

static void
test_bad_options (void)
{
  AsAnalysis *a = make_attention (2, 3, 6, 5);
  AsFigureOptions o;
  g_autoptr(GError) error = NULL;
  as_figure_options_init (&o);
  o.layer = 2;
  g_assert_false (as_figure_check (a, &o, &error));
  g_assert_error (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "layer 3"));
  g_clear_error (&error);

  o.layer = 0;
  o.head = 3;
  g_assert_false (as_figure_check (a, &o, &error));
  g_assert_nonnull (strstr (error->message, "head 4"));
  g_clear_error (&error);

  /* Only [CLS] [SEP]: hiding them would leave nothing, so they stay. */
  AsAnalysis *b = make_attention (1, 1, 2, 5);
  o.head = 0;
  o.hide_special = TRUE;
  g_assert_true (as_figure_check (b, &o, &error));
  g_assert_no_error (error);
  AsShown *shown = as_figure_shown (b, &o, &error);
  g_assert_no_error (error);
  g_assert_cmpint (shown->tokens->n, ==, 2);
  as_shown_free (shown);

  /* A sentence the input does not have. */
  o.sentence = AS_SHOWN_SENTENCE_B;
  g_assert_false (as_figure_check (b, &o, &error));
  g_assert_nonnull (strstr (error->message, "no sentence B"));
  g_clear_error (&error);
  free_attention (b);
  free_attention (a);
}

static void
test_png_bytes (void)
{
  AsAnalysis *a = make_attention (2, 2, 10, 3);
  AsFigureOptions o;
  as_figure_options_init (&o);
  o.width = 300;
  o.unit = AS_UNIT_PX;
  g_autoptr(GError) error = NULL;
  GBytes *png = as_figure_render_png (a, &o, &error);
  g_assert_no_error (error);
  gsize len;
  const guint8 *data = g_bytes_get_data (png, &len);
  g_assert_cmpuint (len, >, 100);
  g_assert_cmpmem (data, 8, "\x89PNG\r\n\x1a\n", 8);
  /* IHDR: width 300, height 300 (the default aspect is square). */
  g_assert_cmpuint (GUINT32_FROM_BE (*(const guint32 *) (gconstpointer) (data + 16)), ==, 300);
  g_assert_cmpuint (GUINT32_FROM_BE (*(const guint32 *) (gconstpointer) (data + 20)), ==, 300);
  g_bytes_unref (png);
  free_attention (a);
}

static void
test_save_failure_leaves_nothing (void)
{
  AsAnalysis *a = make_attention (1, 1, 5, 3);
  AsFigureOptions o;
  as_figure_options_init (&o);
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("as-render-XXXXXX", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing", "out.png", NULL);

  g_assert_false (as_figure_save (a, &o, missing, NULL, AS_FORMAT_AUTO, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);

  g_autofree char *unknown = g_build_filename (dir, "out.gif", NULL);
  g_assert_false (as_figure_save (a, &o, unknown, NULL, AS_FORMAT_AUTO, NULL, &error));
  g_clear_error (&error);

  /* Nothing was left behind, not even a temporary file. */
  GDir *d = g_dir_open (dir, 0, NULL);
  g_assert_null (g_dir_read_name (d));
  g_dir_close (d);

  g_autofree char *good = g_build_filename (dir, "out.pdf", NULL);
  g_assert_true (as_figure_save (a, &o, good, NULL, AS_FORMAT_AUTO, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (good, G_FILE_TEST_IS_REGULAR));
  g_unlink (good);
  g_rmdir (dir);
  free_attention (a);
}

/* Screen-sized grids, image mode, as the app draws them. Timings are
 * reported, not asserted: the test machine's speed is not ours to know. */
static void
test_grid_timing (void)
{
  static const struct { int layers, heads, n; double w, h; } cases[] = {
    { 6, 12, 128, 1400, 800 },
    { 12, 12, 512, 1400, 1400 },
  };
  /* The first text drawn in a process loads fonts; keep that out. */
  AsAnalysis *warm = make_attention (1, 1, 4, 1);
  render_view (warm, AS_FIGURE_GRID, AS_CELLS_IMAGE, 200, 200, NULL);
  free_attention (warm);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      AsAnalysis *a = make_attention (cases[i].layers, cases[i].heads, cases[i].n, 1);
      double seconds;
      guint panels = render_view (a, AS_FIGURE_GRID, AS_CELLS_IMAGE, cases[i].w, cases[i].h, &seconds);
      g_assert_cmpuint (panels, ==, (guint) (cases[i].layers * cases[i].heads));
      g_test_message ("grid %dx%d heads at %d tokens, %.0fx%.0f px, image mode: %.1f ms",
                      cases[i].layers, cases[i].heads, cases[i].n, cases[i].w, cases[i].h, seconds * 1e3);
      render_view (a, AS_FIGURE_HEAD, AS_CELLS_IMAGE, 900, 900, &seconds);
      g_test_message ("head at %d tokens, 900x900 px, image mode: %.1f ms", cases[i].n, seconds * 1e3);
      free_attention (a);
    }
}

/* ---- values and sentence pairs ------------------------------------------ */

/* A value that rounds to 0 or 1 is not printed as 0 or 1: only exact ones
 * are; the rest keep two decimals. Thresholds are the float values. */
static void
test_value_strings (void)
{
  static const struct { float v; const char *want; } cases[] = {
    { 0.0f, "0" },
    { 0.001f, "<.01" },
    { 0.0049f, "<.01" },
    { 0.005f, ".01" },
    { 0.05f, ".05" },
    { 0.5f, ".50" },
    { 0.994f, ".99" },
    { 0.995f, ">.99" },
    { 0.996f, ">.99" },
    { 0.99999f, ">.99" },
    { 1.0f, "1" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      char buf[32];
      as_heatmap_format_value (buf, sizeof buf, cases[i].v, 0, 1);
      g_assert_cmpstr (buf, ==, cases[i].want);
      /* A scale fitted to the largest value is still a 0 .. 1 scale. */
      as_heatmap_format_value (buf, sizeof buf, cases[i].v, 0, 0.3f);
      g_assert_cmpstr (buf, ==, cases[i].want);
    }
  /* Any other scale: two significant digits. */
  char buf[32];
  as_heatmap_format_value (buf, sizeof buf, -0.25f, -1, 1);
  g_assert_cmpstr (buf, ==, "-0.25");
}

static void
test_pair_split_index (void)
{
  static const int pair[] = { 0, 0, 0, 0, 1, 1, 1 };
  static const int only_a[] = { 0, 0, 0 };
  static const int only_b[] = { 1, 1 };
  g_assert_cmpint (as_heatmap_pair_split (pair, 7), ==, 4);
  g_assert_cmpint (as_heatmap_pair_split (only_a, 3), ==, 0);
  g_assert_cmpint (as_heatmap_pair_split (only_b, 2), ==, 0);
  g_assert_cmpint (as_heatmap_pair_split (NULL, 3), ==, 0);
  g_assert_cmpint (as_heatmap_pair_split (pair, 0), ==, 0);
}

/* [CLS] the cat [SEP] it was [SEP]: "The cat" / "It was", type ids
 * 0 0 0 0 1 1 1 (the last [SEP] is B's). */
static AsEncoding *
make_pair_encoding (void)
{
  AsEncoding *enc = g_new0 (AsEncoding, 1);
  enc->n_tokens = 7;
  enc->tokens = g_new0 (AsToken, 7);
  set_token (&enc->tokens[0], "[CLS]", -1, -1, -1, TRUE, FALSE);
  set_token (&enc->tokens[1], "the", 0, 0, 3, FALSE, FALSE);
  set_token (&enc->tokens[2], "cat", 0, 4, 7, FALSE, FALSE);
  set_token (&enc->tokens[3], "[SEP]", -1, -1, -1, TRUE, FALSE);
  set_token (&enc->tokens[4], "it", 1, 0, 2, FALSE, FALSE);
  set_token (&enc->tokens[5], "was", 1, 3, 6, FALSE, FALSE);
  set_token (&enc->tokens[6], "[SEP]", -1, -1, -1, TRUE, FALSE);
  enc->tokens[6].type_id = 1;
  return enc;
}

/* Whether the pixel on the boundary before column (row) K of the cells of
 * P is the divider's light core while the cells on both sides keep their
 * flat colour CELL. */
static gboolean
divider_at (cairo_surface_t     *s,
            const AsFigurePanel *p,
            int                  k,
            gboolean             vertical,
            guint32              cell)
{
  const AsHeatmapLayout *l = &p->layout;
  /* Across the middle of the first row (column), clear of the labels. */
  double along = (vertical ? l->cells_y : l->cells_x) + 0.5 * l->cell_w;
  double at = (vertical ? l->cells_x : l->cells_y) + k * l->cell_w;
  double before = at - 0.35 * l->cell_w, after = at + 0.35 * l->cell_w;
  guint32 on = vertical ? pixel_at (s, at, along) : pixel_at (s, along, at);
  guint32 b = vertical ? pixel_at (s, before, along) : pixel_at (s, along, before);
  guint32 a = vertical ? pixel_at (s, after, along) : pixel_at (s, along, after);
  g_assert_cmpint (channel_diff (b, cell), <=, 1);
  g_assert_cmpint (channel_diff (a, cell), <=, 1);
  return channel_diff (on, 0xffffffffu) <= 20;
}

/* A pair's figure has a line between A's [SEP] and B's first token, where
 * the rows as shown put it: hiding the specials moves it, keeping one
 * sentence (or a single sentence) has none. Uniform attention, so any
 * other line would show. */
static void
test_pair_divider (void)
{
  AsEncoding *enc = make_pair_encoding ();
  float attn[7 * 7];
  for (int k = 0; k < 7 * 7; k++)
    attn[k] = 1.0f / 7;
  AsAnalysis a = borrow_attention (enc, attn);
  static const struct { gboolean hide; AsShownSentence sentence; int n, split; } cases[] = {
    { FALSE, AS_SHOWN_ALL, 7, 4 },
    { TRUE, AS_SHOWN_ALL, 4, 2 },        /* the cat | it was */
    { FALSE, AS_SHOWN_SENTENCE_A, 4, 0 },
    { FALSE, AS_SHOWN_SENTENCE_B, 3, 0 },
  };
  for (int mode = AS_CELLS_IMAGE; mode <= AS_CELLS_VECTOR; mode++)
    for (gsize c = 0; c < G_N_ELEMENTS (cases); c++)
      {
        AsFigureOptions o;
        as_figure_options_init (&o);
        o.text_a = "The cat";
        o.text_b = "It was";
        o.hide_special = cases[c].hide;
        o.renormalise = FALSE;
        o.sentence = cases[c].sentence;
        o.annotate = FALSE;
        cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 500, 500);
        cairo_t *cr = cairo_create (s);
        GArray *panels = g_array_new (FALSE, FALSE, sizeof (AsFigurePanel));
        g_autoptr(GError) error = NULL;
        g_assert_true (as_figure_render (cr, &a, &o, mode, 500, 500, panels, &error));
        g_assert_no_error (error);
        const AsFigurePanel *p = &g_array_index (panels, AsFigurePanel, 0);
        g_assert_cmpint (p->n, ==, cases[c].n);
        guint32 cell = as_colormap_argb (AS_COLORMAP_VIRIDIS, 1.0f / 7, 0, 1);
        for (int k = 1; k < p->n; k++)
          {
            g_assert_cmpint (divider_at (s, p, k, TRUE, cell), ==, k == cases[c].split);
            g_assert_cmpint (divider_at (s, p, k, FALSE, cell), ==, k == cases[c].split);
          }
        g_array_unref (panels);
        cairo_destroy (cr);
        cairo_surface_destroy (s);
      }

  /* One sentence: no line anywhere. */
  AsEncoding *single = make_word_encoding ();
  float flat[6 * 6];
  for (int k = 0; k < 6 * 6; k++)
    flat[k] = 1.0f / 6;
  AsAnalysis b = borrow_attention (single, flat);
  AsFigureOptions o;
  as_figure_options_init (&o);
  o.annotate = FALSE;
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 500, 500);
  cairo_t *cr = cairo_create (s);
  GArray *panels = g_array_new (FALSE, FALSE, sizeof (AsFigurePanel));
  g_assert_true (as_figure_render (cr, &b, &o, AS_CELLS_IMAGE, 500, 500, panels, NULL));
  const AsFigurePanel *p = &g_array_index (panels, AsFigurePanel, 0);
  guint32 cell = as_colormap_argb (AS_COLORMAP_VIRIDIS, 1.0f / 6, 0, 1);
  for (int k = 1; k < p->n; k++)
    {
      g_assert_false (divider_at (s, p, k, TRUE, cell));
      g_assert_false (divider_at (s, p, k, FALSE, cell));
    }
  g_array_unref (panels);
  cairo_destroy (cr);
  cairo_surface_destroy (s);
  free_encoding (single);
  free_encoding (enc);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/render/colormap/tables", test_colormap_tables);
  g_test_add_func ("/render/cells/image-matches-lut", test_image_colours_match_lut);
  g_test_add_func ("/render/cells/vector-matches-image", test_vector_matches_image);
  g_test_add_func ("/render/cells/cells-image", test_cells_image);
  g_test_add_func ("/render/cells/block-means", test_small_cells_are_block_means);
  g_test_add_func ("/render/cells/causal-mask", test_causal_mask);
  g_test_add_func ("/render/cells/padding-mask", test_padding_mask);
  g_test_add_func ("/render/hit-test", test_hit_testing);
  g_test_add_func ("/render/values/strings", test_value_strings);
  g_test_add_func ("/render/pair/split-index", test_pair_split_index);
  g_test_add_func ("/render/pair/divider", test_pair_divider);
  g_test_add_func ("/render/groups/word-level", test_word_level_merge);
  g_test_add_func ("/render/groups/hide-special", test_hide_special);
  g_test_add_func ("/render/groups/random", test_groups_on_random_attention);
  g_test_add_func ("/render/figure/every-view", test_every_view);
  g_test_add_func ("/render/figure/mean", test_mean_panel_is_head_average);
  g_test_add_func ("/render/figure/aggregate-panels", test_aggregate_panels);
  g_test_add_func ("/render/figure/bad-options", test_bad_options);
  g_test_add_func ("/render/figure/png-bytes", test_png_bytes);
  g_test_add_func ("/render/figure/save-failure", test_save_failure_leaves_nothing);
  g_test_add_func ("/render/figure/grid-timing", test_grid_timing);
  return g_test_run ();
}
