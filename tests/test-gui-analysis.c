/* test-gui-analysis.c — the statistics table, the grid's colouring by a
 * statistic and the lines view, in the real window under Xvfb
 * (tests/run-under-xvfb.sh).
 *
 * Every check compares what a view holds with the engine run directly on the
 * same text (as_attention_compute on the CPU backend) and the statistics
 * computed from that (as_head_stats_compute), or with hand-computed values
 * for the colour mapping. Leaves screenshots of the three views in
 * $AS_TEST_ARTIFACTS (tests/artifacts/).
 */
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "as-application.h"
#include "as-attention.h"
#include "as-backend.h"
#include "as-head-stats.h"
#include "as-lines-view.h"
#include "as-model.h"
#include "as-stats-cache.h"
#include "as-stats-table.h"
#include "as-trace.h"
#include "as-window.h"
#include "gui-test-util.h"

#define PAIR_A "The animal didn't cross the street because it was too tired."
#define PAIR_B "It was a wide street, full of cars."

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;

/* ---- helpers (the patterns of test-gui.c) ------------------------------- */

/* Sets the text, waits for every layer. */
static void
analyse (const char *text_a,
         const char *text_b)
{
  as_window_set_text (window, text_a, text_b);
  gui_test_wait_idle (window, 120);
}

/* Waits until the shared statistics cache has every layer (it computes in
 * a thread while a view holds it). */
static gboolean
stats_complete (gpointer data)
{
  int nl, nh, done;
  as_stats_cache_get (data, &nl, &nh, &done);
  return done == nl && nl > 0;
}

static void
wait_stats (void)
{
  AsStatsCache *cache = as_view_state_get_stats_cache (as_window_get_view_state (window));
  gui_test_wait_for (stats_complete, cache, 60000, "every layer's statistics");
  /* The views holding it paint what it now has. */
  gui_test_wait_frames (GTK_WIDGET (window), 1);
}

static GtkWidget *
page_child (const char *page,
            GType       type)
{
  GtkStack *stack = as_window_get_detail_stack (window);
  GtkWidget *box = gtk_stack_get_child_by_name (stack, page);
  g_assert_nonnull (box);
  for (GtkWidget *c = gtk_widget_get_first_child (box); c != NULL; c = gtk_widget_get_next_sibling (c))
    if (G_TYPE_CHECK_INSTANCE_TYPE (c, type))
      return c;
  g_assert_not_reached ();
  return NULL;
}

static gboolean
page_mapped (gpointer page)
{
  return gtk_widget_get_mapped (page);
}

static void
show_page (const char *page)
{
  GtkStack *stack = as_window_get_detail_stack (window);
  gtk_stack_set_visible_child_name (stack, page);
  gui_test_wait_for (page_mapped, gtk_stack_get_visible_child (stack), 10000, "the page to be shown");
  gui_test_wait_frames (GTK_WIDGET (window), 1);
}

/* The engine's attention and the statistics of every head, for the window's
 * current text. STATS [n_layers, n_heads]. */
static AsAnalysis *
reference (AsHeadStats **stats)
{
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_autoptr(GError) error = NULL;
  AsAnalysis *ref = as_attention_compute (backend, a->text_a, a->text_b, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ref->n, ==, a->n);
  *stats = g_new (AsHeadStats, ref->n_layers * ref->n_heads);
  g_autoptr(AsTokenClasses) classes = as_token_classes_from_encoding (ref->encoding);
  for (int l = 0; l < ref->n_layers; l++)
    for (int h = 0; h < ref->n_heads; h++)
      as_head_stats_compute (as_analysis_head (ref, l, h), ref->n, classes,
                             &(*stats)[l * ref->n_heads + h]);
  return ref;
}

static void
assert_stats_equal (const AsHeadStats *got,
                    const AsHeadStats *want)
{
  for (int s = AS_STAT_ENTROPY; s < AS_N_STATS; s++)
    g_assert_cmpfloat_with_epsilon (as_stat_value (got, s), as_stat_value (want, s), 1e-5);
}

/* ---- the colour mapping, no window needed ------------------------------- */

static void
test_normalise (void)
{
  g_assert_cmpfloat (as_stat_normalise (2.0, 1.0, 3.0), ==, 0.5);
  g_assert_cmpfloat (as_stat_normalise (1.0, 1.0, 3.0), ==, 0.0);
  g_assert_cmpfloat (as_stat_normalise (3.0, 1.0, 3.0), ==, 1.0);
  g_assert_cmpfloat (as_stat_normalise (7.0, 1.0, 3.0), ==, 1.0);    /* clamped */
  g_assert_cmpfloat (as_stat_normalise (0.2, 0.2, 0.2), ==, 0.5);    /* all heads equal */
  g_assert_true (isnan (as_stat_normalise (NAN, 0.0, 1.0)));
}

static void
test_range_and_values (void)
{
  AsHeadStats s[3] = { 0 };
  s[0].entropy = 1.5; s[1].entropy = 0.25; s[2].entropy = 2.0;
  s[0].to_sep = 0.9;                     /* vertical */
  s[1].to_prev = 0.3; s[1].to_next = 0.3; /* diagonal */
  s[2].block = NAN;
  double lo, hi;
  g_assert_true (as_stat_range (s, 3, AS_STAT_ENTROPY, &lo, &hi));
  g_assert_cmpfloat (lo, ==, 0.25);
  g_assert_cmpfloat (hi, ==, 2.0);
  g_assert_false (as_stat_range (s, 0, AS_STAT_ENTROPY, &lo, &hi));
  g_assert_cmpfloat (as_stat_value (&s[0], AS_STAT_PATTERN), ==, AS_PATTERN_VERTICAL);
  g_assert_cmpfloat (as_stat_value (&s[1], AS_STAT_PATTERN), ==, AS_PATTERN_DIAGONAL);
  g_assert_cmpfloat (as_stat_value (&s[2], AS_STAT_PATTERN), ==, AS_PATTERN_HETEROGENEOUS);
  g_assert_true (isnan (as_stat_value (&s[0], AS_STAT_NONE)));

  char buf[32];
  g_assert_cmpstr (as_stat_format (AS_STAT_ENTROPY, 1.23456, buf, sizeof buf), ==, "1.235");
  g_assert_cmpstr (as_stat_format (AS_STAT_DISTANCE, 3.14159, buf, sizeof buf), ==, "3.14");
  g_assert_cmpstr (as_stat_format (AS_STAT_PATTERN, AS_PATTERN_DIAGONAL, buf, sizeof buf), ==,
                   as_pattern_to_string (AS_PATTERN_DIAGONAL));
}

static void
test_colours (void)
{
  double c0[3], c1[3], c[3];
  /* The ends of the ramp are the extremes of the range, and they differ. */
  g_assert_true (as_stat_colour (AS_STAT_ENTROPY, 0.25, 0.25, 2.0, c0));
  as_stat_ramp_colour (0.0, c);
  g_assert_cmpmem (c0, sizeof c0, c, sizeof c);
  g_assert_true (as_stat_colour (AS_STAT_ENTROPY, 2.0, 0.25, 2.0, c1));
  as_stat_ramp_colour (1.0, c);
  g_assert_cmpmem (c1, sizeof c1, c, sizeof c);
  g_assert_cmpfloat (fabs (c0[0] - c1[0]) + fabs (c0[1] - c1[1]) + fabs (c0[2] - c1[2]), >, 0.5);
  /* No ramp colour is near white or black: a ring shows on both styles. */
  for (int k = 0; k <= 100; k++)
    {
      as_stat_ramp_colour (k / 100.0, c);
      double luma = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
      g_assert_cmpfloat (luma, >, 0.15);
      g_assert_cmpfloat (luma, <, 0.85);
    }
  /* Patterns: each its own colour, regardless of the range. */
  for (int p = 0; p < AS_N_PATTERNS; p++)
    for (int q = p + 1; q < AS_N_PATTERNS; q++)
      {
        double a[3], b[3];
        as_pattern_colour (p, a);
        as_pattern_colour (q, b);
        g_assert_cmpfloat (fabs (a[0] - b[0]) + fabs (a[1] - b[1]) + fabs (a[2] - b[2]), >, 0.2);
      }
  g_assert_false (as_stat_colour (AS_STAT_NONE, 1.0, 0.0, 2.0, c));
  g_assert_false (as_stat_colour (AS_STAT_SELF, NAN, 0.0, 2.0, c));
  /* Head colours: the first 16 all differ. */
  for (int h = 0; h < 16; h++)
    for (int k = h + 1; k < 16; k++)
      {
        double a[3], b[3];
        as_head_colour (h, a);
        as_head_colour (k, b);
        g_assert_cmpfloat (fabs (a[0] - b[0]) + fabs (a[1] - b[1]) + fabs (a[2] - b[2]), >, 0.1);
      }
}

/* ---- the statistics table ----------------------------------------------- */

static void
test_table_matches_engine (void)
{
  if (!gui_test_have_model (model))
    return;
  analyse (PAIR_A, NULL);
  show_page ("stats");
  wait_stats ();
  AsStatsTable *table = AS_STATS_TABLE (page_child ("stats", AS_TYPE_STATS_TABLE));

  AsHeadStats *want;
  AsAnalysis *ref = reference (&want);
  GListModel *rows = G_LIST_MODEL (as_stats_table_get_selection (table));
  g_assert_cmpuint (g_list_model_get_n_items (rows), ==, ref->n_layers * ref->n_heads);
  g_autofree gboolean *seen = g_new0 (gboolean, ref->n_layers * ref->n_heads);
  for (guint i = 0; i < g_list_model_get_n_items (rows); i++)
    {
      int layer, head;
      AsHeadStats got;
      g_assert_true (as_stats_table_get_row (table, i, &layer, &head, &got));
      g_assert_false (seen[layer * ref->n_heads + head]);
      seen[layer * ref->n_heads + head] = TRUE;
      assert_stats_equal (&got, &want[layer * ref->n_heads + head]);
      /* The cells print what the row holds. */
      for (int s = AS_STAT_ENTROPY; s < AS_N_STATS; s++)
        {
          char buf[32];
          g_autofree char *text = as_stats_table_cell_text (table, i, s);
          g_assert_cmpstr (text, ==, as_stat_format (s, as_stat_value (&got, s), buf, sizeof buf));
        }
      g_autofree char *layer_text = as_stats_table_cell_text (table, i, AS_STAT_NONE);
      g_autofree char *expect_layer = g_strdup_printf ("%d", layer + 1);
      g_assert_cmpstr (layer_text, ==, expect_layer);
    }
  g_free (want);
  as_analysis_unref (ref);
}

static void
test_table_sorts (void)
{
  if (!gui_test_have_model (model))
    return;
  show_page ("stats");
  wait_stats ();
  AsStatsTable *table = AS_STATS_TABLE (page_child ("stats", AS_TYPE_STATS_TABLE));
  GListModel *rows = G_LIST_MODEL (as_stats_table_get_selection (table));
  guint n = g_list_model_get_n_items (rows);
  AsStatId stats[] = { AS_STAT_ENTROPY, AS_STAT_TO_SEP, AS_STAT_DISTANCE, AS_STAT_PATTERN };

  for (guint k = 0; k < G_N_ELEMENTS (stats); k++)
    for (int dir = 0; dir < 2; dir++)
      {
        GtkSortType order = dir == 0 ? GTK_SORT_ASCENDING : GTK_SORT_DESCENDING;
        as_stats_table_sort (table, stats[k], order);
        double prev = dir == 0 ? -INFINITY : INFINITY;
        gboolean varied = FALSE;
        for (guint i = 0; i < n; i++)
          {
            int layer, head;
            AsHeadStats s;
            g_assert_true (as_stats_table_get_row (table, i, &layer, &head, &s));
            double v = as_stat_value (&s, stats[k]);
            if (dir == 0)
              g_assert_cmpfloat (v, >=, prev);
            else
              g_assert_cmpfloat (v, <=, prev);
            varied |= i > 0 && v != prev;
            prev = v;
          }
        if (stats[k] != AS_STAT_PATTERN)
          g_assert_true (varied);   /* a real order, not all equal */
      }

  /* The layer column: layer, then head. */
  as_stats_table_sort (table, AS_STAT_NONE, GTK_SORT_ASCENDING);
  for (guint i = 0; i < n; i++)
    {
      int layer, head;
      as_stats_table_get_row (table, i, &layer, &head, NULL);
      int heads = model->config->n_heads;
      g_assert_cmpint (layer * 1000 + head, ==, (int) (i / heads) * 1000 + (int) (i % heads));
    }
}

static void
test_table_selection (void)
{
  if (!gui_test_have_model (model))
    return;
  show_page ("stats");
  AsViewState *state = as_window_get_view_state (window);
  AsStatsTable *table = AS_STATS_TABLE (page_child ("stats", AS_TYPE_STATS_TABLE));
  GtkSingleSelection *sel = as_stats_table_get_selection (table);
  as_stats_table_sort (table, AS_STAT_CONFIDENCE, GTK_SORT_DESCENDING);

  /* A row selected (as a click does) selects its head in the view state. */
  for (guint pos = 5; pos < 40; pos += 17)
    {
      g_assert_true (gtk_selection_model_select_item (GTK_SELECTION_MODEL (sel), pos, TRUE));
      int layer, head;
      as_stats_table_get_row (table, pos, &layer, &head, NULL);
      g_assert_cmpint (as_view_state_get_layer (state), ==, layer);
      g_assert_cmpint (as_view_state_get_head (state), ==, head);
    }

  /* The state moves (grid click, keys): the table's selection follows. */
  as_view_state_select (state, 4, 9);
  guint pos = gtk_single_selection_get_selected (sel);
  g_assert_cmpuint (pos, !=, GTK_INVALID_LIST_POSITION);
  int layer, head;
  as_stats_table_get_row (table, pos, &layer, &head, NULL);
  g_assert_cmpint (layer, ==, 4);
  g_assert_cmpint (head, ==, 9);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.move", "(ii)", -1, 0);
  as_stats_table_get_row (table, gtk_single_selection_get_selected (sel), &layer, &head, NULL);
  g_assert_cmpint (layer, ==, 3);
  g_assert_cmpint (head, ==, 9);
}

/* ---- the grid coloured by a statistic ----------------------------------- */

static void
test_grid_colouring (void)
{
  if (!gui_test_have_model (model))
    return;
  show_page ("head");   /* the table is off screen: the grid alone holds the cache */
  analyse ("Researchers look at what each head attends to, layer by layer.", NULL);
  AsModelGrid *grid = as_window_get_model_grid (window);
  int n_thumbs = model->config->n_layers * model->config->n_heads;
  AsTraceDraw draw;
  g_assert_true (gui_test_redraw (GTK_WIDGET (grid), 'g', &draw));
  g_assert_cmpint (draw.layers, ==, model->config->n_layers);
  g_assert_cmpint (draw.items, ==, n_thumbs);
  /* Every draw of the grid from here on, to see that colouring builds none. */
  guint from = gui_test_draws_start ();

  AsHeadStats *want;
  AsAnalysis *ref = reference (&want);
  int n_heads = ref->n_layers * ref->n_heads;
  AsStatId stats[] = { AS_STAT_ENTROPY, AS_STAT_TO_SEP, AS_STAT_NEXT, AS_STAT_PATTERN };
  for (guint k = 0; k < G_N_ELEMENTS (stats); k++)
    {
      as_model_grid_set_colour_by (grid, stats[k]);
      wait_stats ();
      double lo, hi;
      g_assert_true (as_stat_range (want, n_heads, stats[k], &lo, &hi));
      int at_lo = 0, at_hi = 0;
      for (int l = 0; l < ref->n_layers; l++)
        for (int h = 0; h < ref->n_heads; h++)
          {
            double value, rgb[3], expect_rgb[3];
            double expect = as_stat_value (&want[l * ref->n_heads + h], stats[k]);
            g_assert_true (as_model_grid_get_stat_colour (grid, l, h, &value, rgb));
            g_assert_cmpfloat_with_epsilon (value, expect, 1e-5);
            g_assert_true (as_stat_colour (stats[k], expect, lo, hi, expect_rgb));
            for (int c = 0; c < 3; c++)
              g_assert_cmpfloat_with_epsilon (rgb[c], expect_rgb[c], 1e-3);
            at_lo += fabs (expect - lo) < 1e-9;
            at_hi += fabs (expect - hi) < 1e-9;
          }
      /* Min-max over all heads: some head is at each end of the ramp. */
      g_assert_cmpint (at_lo, >=, 1);
      g_assert_cmpint (at_hi, >=, 1);
      gui_test_wait_frames (GTK_WIDGET (grid), 1);
    }
  /* Colouring never rebuilt a thumbnail: every draw since placed the
   * textures it had. */
  gui_test_draws_stop ();
  GArray *draws = as_trace_get_draws ();
  int grid_draws = 0;
  for (guint i = from; i < draws->len; i++)
    {
      AsTraceDraw *d = &g_array_index (draws, AsTraceDraw, i);
      if (d->view != 'g')
        continue;
      grid_draws++;
      g_assert_cmpint (d->built, ==, 0);
      g_assert_cmpint (d->items, ==, n_thumbs);
    }
  g_assert_cmpint (grid_draws, >=, (int) G_N_ELEMENTS (stats));

  as_model_grid_set_colour_by (grid, AS_STAT_NONE);
  double v, rgb[3];
  g_assert_false (as_model_grid_get_stat_colour (grid, 0, 0, &v, rgb));
  g_free (want);
  as_analysis_unref (ref);
}

/* The stats of a 512-token input: how long the cache takes per layer (it
 * works in a thread; the main thread only copies). */
static void
test_stats_cost (void)
{
  if (!gui_test_have_model (model))
    return;
  int sizes[] = { 128, 512 };
  for (guint k = 0; k < G_N_ELEMENTS (sizes); k++)
    {
      GString *text = g_string_new (NULL);
      /* One word is one token here; [CLS] and [SEP] make up the rest. */
      for (int i = 0; i < sizes[k] - 2; i++)
        g_string_append (text, i % 10 == 9 ? ". " : "the ");
      g_autoptr(GError) error = NULL;
      AsAnalysis *ref = as_attention_compute (backend, text->str, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (ref->n, ==, sizes[k]);
      g_autoptr(AsTokenClasses) classes = as_token_classes_from_encoding (ref->encoding);
      AsHeadStats s;
      gint64 t0 = g_get_monotonic_time ();
      for (int l = 0; l < ref->n_layers; l++)
        for (int h = 0; h < ref->n_heads; h++)
          as_head_stats_compute (as_analysis_head (ref, l, h), ref->n, classes, &s);
      gint64 us = g_get_monotonic_time () - t0;
      g_test_message ("head statistics at %d tokens: %.1f ms for all %d heads, %.1f ms per layer",
                      ref->n, us / 1000.0, ref->n_layers * ref->n_heads, us / 1000.0 / ref->n_layers);
      g_string_free (text, TRUE);
      as_analysis_unref (ref);
    }
}

/* ---- the lines view ----------------------------------------------------- */

/* Lines above the threshold in the engine's matrix of LAYER for the heads in
 * SHOWN, queries in segment SQ (-1: any) and keys in SK, over the visible
 * tokens (specials dropped, rows renormalised when asked). */
static guint
expected_lines (const AsAnalysis *ref,
                int                layer,
                const gboolean    *shown,
                int                sq,
                int                sk,
                gboolean           hide,
                gboolean           renorm)
{
  int n = ref->n;
  g_autofree int *vis = g_new (int, n);
  int n_vis = 0;
  for (int i = 0; i < n; i++)
    if (!hide || !ref->encoding->tokens[i].is_special)
      vis[n_vis++] = i;
  guint count = 0;
  for (int h = 0; h < ref->n_heads; h++)
    {
      if (!shown[h])
        continue;
      const float *m = as_analysis_head (ref, layer, h);
      for (int a = 0; a < n_vis; a++)
        {
          int i = vis[a];
          double sum = 0;
          for (int b = 0; b < n_vis; b++)
            sum += m[(gsize) i * n + vis[b]];
          for (int b = 0; b < n_vis; b++)
            {
              int j = vis[b];
              double w = m[(gsize) i * n + j];
              if (renorm && sum > 0)
                w /= sum;
              int seg_i = ref->encoding->tokens[i].type_id, seg_j = ref->encoding->tokens[j].type_id;
              if ((sq < 0 || seg_i == sq) && (sk < 0 || seg_j == sk) && (float) w >= AS_LINES_MIN_WEIGHT)
                count++;
            }
        }
    }
  return count;
}

static void
test_lines_filter (void)
{
  if (!gui_test_have_model (model))
    return;
  AsViewState *state = as_window_get_view_state (window);
  show_page ("lines");
  analyse (PAIR_A, PAIR_B);
  as_view_state_select (state, 2, 0);
  as_view_state_set_token (state, -1);
  AsLinesView *lines = AS_LINES_VIEW (page_child ("lines", AS_TYPE_LINES_VIEW));

  AsHeadStats *unused;
  AsAnalysis *ref = reference (&unused);
  g_free (unused);
  gboolean shown[64];
  for (int h = 0; h < ref->n_heads; h++)
    {
      shown[h] = h % 3 != 1;   /* a few heads toggled off */
      as_lines_view_set_head_shown (lines, h, shown[h]);
    }

  struct { AsLinesFilter f; int sq, sk; } cases[] = {
    { AS_LINES_ALL, -1, -1 }, { AS_LINES_A_TO_A, 0, 0 }, { AS_LINES_A_TO_B, 0, 1 },
    { AS_LINES_B_TO_A, 1, 0 }, { AS_LINES_B_TO_B, 1, 1 },
  };
  guint parts = 0, all = 0;
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    {
      as_lines_view_set_filter (lines, cases[k].f);
      guint want = expected_lines (ref, 2, shown, cases[k].sq, cases[k].sk, FALSE, FALSE);
      /* The picture, once painted, drew exactly those. */
      g_assert_cmpuint (gui_test_lines_drawn (GTK_WIDGET (lines)), ==, want);
      g_test_message ("filter %d: %u lines", cases[k].f, want);
      if (k == 0)
        all = want;
      else
        parts += want;
      g_assert_cmpuint (want, >, 0);
    }
  g_assert_cmpuint (parts, ==, all);

  /* Hidden specials, rows renormalised: the same count as the engine's. */
  as_lines_view_set_filter (lines, AS_LINES_A_TO_B);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.hide-special", NULL);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.renormalise", NULL);
  g_assert_cmpuint (gui_test_lines_drawn (GTK_WIDGET (lines)), ==,
                    expected_lines (ref, 2, shown, 0, 1, TRUE, TRUE));
  gtk_widget_activate_action (GTK_WIDGET (window), "win.renormalise", NULL);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.hide-special", NULL);

  /* A single sentence: the filter does not apply. */
  analyse (PAIR_A, NULL);
  as_analysis_unref (ref);
  ref = reference (&unused);
  g_free (unused);
  g_assert_cmpuint (gui_test_lines_drawn (GTK_WIDGET (lines)), ==,
                    expected_lines (ref, 2, shown, -1, -1, FALSE, FALSE));

  /* A selected token draws only its lines. */
  as_view_state_set_token (state, 10);
  guint drawn = gui_test_lines_drawn (GTK_WIDGET (lines));
  g_assert_cmpuint (drawn, >, 0);
  g_assert_cmpuint (drawn, <=, (guint) ref->n * ref->n_heads);
  as_view_state_set_token (state, -1);
  as_lines_view_set_filter (lines, AS_LINES_ALL);
  as_lines_view_show_all_heads (lines, TRUE);
  as_analysis_unref (ref);
}

/* ---- screenshots -------------------------------------------------------- */

static void
test_screenshots (void)
{
  if (!gui_test_have_model (model))
    return;
  AsViewState *state = as_window_get_view_state (window);
  AsModelGrid *grid = as_window_get_model_grid (window);
  AsLinesView *lines = AS_LINES_VIEW (page_child ("lines", AS_TYPE_LINES_VIEW));

  analyse (PAIR_A, NULL);
  as_view_state_select (state, 2, 5);
  as_view_state_set_token (state, -1);

  show_page ("stats");
  wait_stats ();
  AsStatsTable *table = AS_STATS_TABLE (page_child ("stats", AS_TYPE_STATS_TABLE));
  as_stats_table_sort (table, AS_STAT_TO_SEP, GTK_SORT_DESCENDING);
  as_view_state_select (state, 2, 5);
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gui_test_capture_screen (NULL, "stats-table.png");

  show_page ("head");
  as_model_grid_set_colour_by (grid, AS_STAT_ENTROPY);
  wait_stats ();
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gui_test_capture_screen (NULL, "grid-entropy.png");
  as_model_grid_set_colour_by (grid, AS_STAT_PATTERN);
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gui_test_capture_screen (NULL, "grid-pattern.png");
  as_model_grid_set_colour_by (grid, AS_STAT_NONE);

  show_page ("lines");
  as_view_state_select (state, 2, 0);
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gui_test_capture_screen (NULL, "lines-single.png");
  as_view_state_set_token (state, 10);   /* "it" */
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gui_test_capture_screen (NULL, "lines-token.png");
  as_view_state_set_token (state, -1);

  analyse (PAIR_A, PAIR_B);
  as_lines_view_set_filter (lines, AS_LINES_A_TO_B);
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gui_test_capture_screen (NULL, "lines-pair-a-to-b.png");
  as_lines_view_set_filter (lines, AS_LINES_ALL);
  show_page ("head");
}

int
main (int   argc,
      char *argv[])
{
  gui_test_init_strict (&argc, &argv);

  g_test_add_func ("/stats-cache/normalise", test_normalise);
  g_test_add_func ("/stats-cache/range-and-values", test_range_and_values);
  g_test_add_func ("/stats-cache/colours", test_colours);

  if (!gtk_init_check ())
    {
      /* The colour mapping needs no display; the rest does. */
      if (g_test_run () != 0)
        return 1;
      printf ("# SKIP the window tests: cannot open a display (run under tests/run-under-xvfb.sh)\n");
      return 0;
    }

  window = gui_test_start (&app, &model, &backend);

  g_test_add_func ("/gui-analysis/table-matches-engine", test_table_matches_engine);
  g_test_add_func ("/gui-analysis/table-sorts", test_table_sorts);
  g_test_add_func ("/gui-analysis/table-selection", test_table_selection);
  g_test_add_func ("/gui-analysis/grid-colouring", test_grid_colouring);
  g_test_add_func ("/gui-analysis/stats-cost", test_stats_cost);
  g_test_add_func ("/gui-analysis/lines-filter", test_lines_filter);
  g_test_add_func ("/gui-analysis/screenshots", test_screenshots);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  return status;
}
