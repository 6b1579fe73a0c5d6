/* test-gui-present.c — presenting with the app, under Xvfb: projector zoom
 * (Ctrl+plus, Ctrl+minus, Ctrl+0) scaling the window's text and the drawn
 * views and remembered across a restart, full screen (F11), the
 * presentation layout (F5), the head view zoomed into 512 tokens with its
 * colour scale stated, the statistics table's frozen Layer and Head
 * columns and header explanations, and the compare view's difference map
 * over sentences of different lengths.
 *
 * Keys are real X key events (xdotool) sent to the focused window. The
 * suite keeps its settings in a folder of its own, so the zoom it saves
 * never reaches the other suites.
 */
#include <gdk/x11/gdkx.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "as-compare-view.h"
#include "as-projector.h"
#include "as-stats-table.h"
#include "gui-test-util.h"

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;
static char *config_dir;

static void
press (const char *accel)
{
  g_assert_true (gui_test_press (GTK_WINDOW (window), accel));
}

/* ---- projector zoom -------------------------------------------------------- */

typedef struct {
  AsViewState *state;
  double       zoom;
} ZoomWait;

static gboolean
zoom_is (gpointer data)
{
  ZoomWait *w = data;
  return fabs (as_view_state_get_zoom (w->state) - w->zoom) < 1e-6;
}

static void
press_for_zoom (const char *accel,
                double      zoom)
{
  press (accel);
  ZoomWait w = { as_window_get_view_state (window), zoom };
  gui_test_wait_until (zoom_is, &w, 10);
}

/* The font the widget's text is laid out in, in Pango units. */
static double
text_size (GtkWidget *widget)
{
  PangoFontDescription *desc = pango_context_get_font_description (gtk_widget_get_pango_context (widget));
  return pango_font_description_get_size (desc);
}

static gboolean
head_drawn_at_zoom (gpointer data)
{
  double text;
  ZoomWait *w = data;
  return as_head_view_get_text_size (as_window_get_head_view (window), &text, NULL, NULL) &&
         fabs (as_view_state_get_zoom (w->state) - w->zoom) < 1e-6;
}

static char *
saved_settings (void)
{
  g_autofree char *path = g_build_filename (config_dir, "attnscope", "settings.ini", NULL);
  char *contents = NULL;
  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return g_strdup ("");
  return contents;
}

static void
test_zoom (void)
{
  if (!gui_test_have_model (model))
    return;
  AsViewState *state = as_window_get_view_state (window);
  gui_test_wait_idle (window, 120);
  gui_test_wait_head_current (window);
  g_assert_cmpfloat (as_view_state_get_zoom (state), ==, 1.0);

  GtkWidget *entry = GTK_WIDGET (as_window_get_entry_a (window));
  double entry_1 = text_size (entry), head_1, labels_1;
  g_assert_true (as_head_view_get_text_size (as_window_get_head_view (window), &head_1, &labels_1, NULL));

  gtk_widget_grab_focus (entry);
  press_for_zoom ("<Control>plus", 1.1);
  press_for_zoom ("<Control>equal", 1.25);
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  ZoomWait w = { state, 1.25 };
  gui_test_wait_until (head_drawn_at_zoom, &w, 10);

  /* The window's text and the head view's text grew by the factor. */
  g_assert_cmpfloat_with_epsilon (text_size (entry) / entry_1, 1.25, 0.03);
  double head_z;
  g_assert_true (as_head_view_get_text_size (as_window_get_head_view (window), &head_z, NULL, NULL));
  g_assert_cmpfloat_with_epsilon (head_z / head_1, 1.25, 1e-6);
  g_test_message ("window %d x %d px at zoom 1.25", gtk_widget_get_width (GTK_WIDGET (window)),
                  gtk_widget_get_height (GTK_WIDGET (window)));
  g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (window)), <=, 1400);
  g_autofree char *saved = saved_settings ();
  g_assert_nonnull (strstr (saved, "zoom=1.25"));
  gui_test_capture_screen (NULL, "present-zoom-125.png");

  /* A restart: a new application and window read the zoom back. */
  gui_test_stop (app, window, model, backend);
  window = gui_test_start (&app, &model, &backend);
  state = as_window_get_view_state (window);
  g_assert_cmpfloat (as_view_state_get_zoom (state), ==, 1.25);
  gui_test_wait_idle (window, 120);
  gui_test_wait_head_current (window);
  entry = GTK_WIDGET (as_window_get_entry_a (window));
  g_assert_cmpfloat_with_epsilon (text_size (entry) / entry_1, 1.25, 0.03);

  gtk_widget_grab_focus (entry);
  press_for_zoom ("<Control>minus", 1.1);
  press_for_zoom ("<Control>minus", 1.0);
  press_for_zoom ("<Control>minus", 0.9);
  press_for_zoom ("<Control>0", 1.0);
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  g_assert_cmpfloat_with_epsilon (text_size (entry) / entry_1, 1.0, 1e-6);
  g_free (saved);
  saved = saved_settings ();
  g_assert_nonnull (strstr (saved, "zoom=1\n"));

  /* Out of range: clamped; not a number: ignored. */
  for (int i = 0; i < 20; i++)
    as_view_state_zoom_step (state, 1);
  g_assert_cmpfloat (as_view_state_get_zoom (state), ==, AS_VIEW_ZOOM_MAX);
  as_view_state_set_zoom (state, NAN);
  g_assert_cmpfloat (as_view_state_get_zoom (state), ==, AS_VIEW_ZOOM_MAX);
  as_view_state_set_zoom (state, 100);
  g_assert_cmpfloat (as_view_state_get_zoom (state), ==, AS_VIEW_ZOOM_MAX);
  as_view_state_zoom_step (state, 0);
  g_assert_cmpfloat (as_view_state_get_zoom (state), ==, 1.0);
}

/* ---- full screen and the presentation layout ------------------------------ */

static gboolean
is_fullscreen (gpointer data)
{
  return gtk_window_is_fullscreen (GTK_WINDOW (window)) == GPOINTER_TO_INT (data);
}

static void
test_fullscreen (void)
{
  if (!gui_test_have_model (model))
    return;
  g_assert_false (gtk_window_is_fullscreen (GTK_WINDOW (window)));
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  press ("F11");
  /* Full screen is the window manager's to grant: a bare X server has
   * none, so the request is all that can be seen there. */
  gboolean timeout = FALSE;
  guint id = g_timeout_add (3000, gui_test_flag_timeout, &timeout);
  while (!timeout && !gtk_window_is_fullscreen (GTK_WINDOW (window)))
    g_main_context_iteration (NULL, TRUE);
  if (!timeout)
    g_source_remove (id);
  if (!gtk_window_is_fullscreen (GTK_WINDOW (window)))
    {
      g_test_skip ("no window manager to grant full screen");
      return;
    }
  press ("F11");
  gui_test_wait_until (is_fullscreen, GINT_TO_POINTER (FALSE), 10);
}

static gboolean
presenting_is (gpointer data)
{
  return as_projector_get_presenting (window) == GPOINTER_TO_INT (data);
}

static void
test_presentation (void)
{
  if (!gui_test_have_model (model))
    return;
  gui_test_wait_idle (window, 120);
  GtkWidget *grid = GTK_WIDGET (as_window_get_model_grid (window));
  GtkWidget *head = GTK_WIDGET (as_window_get_head_view (window));
  g_assert_true (gtk_widget_get_mapped (grid));
  int width = gtk_widget_get_width (head);

  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  press ("F5");
  gui_test_wait_until (presenting_is, GINT_TO_POINTER (TRUE), 10);
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  /* The grid's pane is gone and the head view took its width. */
  g_assert_false (gtk_widget_get_mapped (grid));
  g_assert_cmpint (gtk_widget_get_width (head), >, width + 200);
  gui_test_wait_head_current (window);
  gui_test_capture_screen (NULL, "present-layout.png");

  press ("F5");
  gui_test_wait_until (presenting_is, GINT_TO_POINTER (FALSE), 10);
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  g_assert_true (gtk_widget_get_mapped (grid));
  g_assert_cmpint (gtk_widget_get_width (head), ==, width);
}

/* ---- the head view at 512 tokens ------------------------------------------ */

typedef struct {
  int size;
  int row;
  int col;
} Block;

/* The frame on screen is the block: its corners have tooltips, the cells
 * just outside have none. */
static gboolean
block_drawn (gpointer data)
{
  Block *b = data;
  AsHeadView *hv = as_window_get_head_view (window);
  int row, col;
  if (as_head_view_get_window (hv, &row, &col) != b->size || row != b->row || col != b->col)
    return FALSE;
  g_autofree char *in_first = as_head_view_describe_cell (hv, row, col);
  g_autofree char *in_last = as_head_view_describe_cell (hv, row + b->size - 1, col + b->size - 1);
  g_autofree char *after = as_head_view_describe_cell (hv, row + b->size, col);
  return in_first != NULL && in_last != NULL && after == NULL;
}

static void
test_head_512 (void)
{
  if (!gui_test_have_model (model))
    return;
  AsViewState *state = as_window_get_view_state (window);
  AsHeadView *hv = as_window_get_head_view (window);
  GString *long_text = g_string_new (NULL);
  while (long_text->len < 4000)
    g_string_append (long_text, "The animal didn't cross the street because it was too tired. "
                                "Researchers look at what each head attends to. ");
  as_window_set_text (window, long_text->str, NULL);
  g_string_free (long_text, TRUE);
  as_view_state_select (state, 1, 8);
  gui_test_wait_idle (window, 300);
  int n;
  as_view_state_get_visible (state, &n);
  g_assert_cmpint (n, ==, model->config->max_positions);
  gui_test_wait_head_current (window);

  /* The default scale is fitted to the head and says so; 0 .. 1 is named
   * too. The fitted top is the head's largest weight, well under 1 here,
   * where 0 .. 1 leaves most cells in the map's darkest step. */
  g_autofree float *values = g_new (float, (gsize) n * n);
  g_assert_true (as_view_state_extract_shown (state, AS_SHOWN_HEAD, 1, 8, values));
  float top = 0;
  gsize bright_fixed = 0, bright_fitted = 0;
  for (gsize i = 0; i < (gsize) n * n; i++)
    top = MAX (top, values[i]);
  AsHeatmapSpec spec;
  as_view_state_head_spec (state, values, &spec);
  g_assert_true (as_view_state_get_fit_scale (state));
  /* The 98th percentile: 2% of the cells at or above it, computed here by
   * counting. */
  gsize above = 0;
  for (gsize i = 0; i < (gsize) n * n; i++)
    above += values[i] >= spec.vmax;
  g_assert_cmpfloat (spec.vmax, <, top);
  g_assert_cmpfloat_with_epsilon (above / (double) ((gsize) n * n), 0.02, 0.002);
  g_assert_nonnull (strstr (spec.colorbar_label, "top 2%"));
  /* Structure: cells in the upper half of the colour map. */
  for (gsize i = 0; i < (gsize) n * n; i++)
    {
      bright_fixed += as_colormap_index (values[i], 0, 1) >= 128;
      bright_fitted += as_colormap_index (values[i], 0, spec.vmax) >= 128;
    }
  g_test_message ("512 tokens: largest weight %.3f, fitted top %.4f; cells in the upper half of "
                  "the colours: %.2f%% on 0..1, %.2f%% fitted", top, spec.vmax,
                  100.0 * bright_fixed / ((gsize) n * n), 100.0 * bright_fitted / ((gsize) n * n));
  g_assert_cmpuint (bright_fitted, >, (gsize) n * n / 100);
  g_assert_cmpuint (bright_fitted, >, 5 * bright_fixed);
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  press ("<Control>f");
  g_assert_false (as_view_state_get_fit_scale (state));
  as_view_state_head_spec (state, values, &spec);
  g_assert_cmpfloat (spec.vmax, ==, 1.0);
  g_assert_nonnull (strstr (spec.colorbar_label, "0 to 1"));
  press ("<Control>f");
  g_assert_true (as_view_state_get_fit_scale (state));

  /* Export states the same scale as the screen. */
  AsFigureOptions options;
  as_export_options_from_state (state, AS_FIGURE_HEAD, &options);
  g_assert_true (options.fit_scale);

  /* Zoom in from the keyboard: + five times, about the middle. */
  gui_test_wait_head_current (window);
  double labels_all;
  int stride_all;
  g_assert_true (as_head_view_get_text_size (hv, NULL, &labels_all, &stride_all));
  gtk_widget_grab_focus (GTK_WIDGET (hv));
  int expect = n;
  for (int k = 0; k < 5; k++)
    {
      press ("plus");
      expect = (int) lround (expect / 1.5);
    }
  int row, col;
  int size = as_head_view_get_window (hv, &row, &col);
  g_assert_cmpint (size, ==, expect);
  g_assert_cmpint (row, ==, col);
  g_assert_cmpint (abs (row + size / 2 - n / 2), <=, 2);
  Block b = { size, row, col };
  gui_test_wait_until (block_drawn, &b, 30);
  gui_test_wait_frames (GTK_WIDGET (window), 1);
  /* The labels follow: fewer tokens a side, larger labels. */
  double labels_zoomed;
  int stride_zoomed;
  g_assert_true (as_head_view_get_text_size (hv, NULL, &labels_zoomed, &stride_zoomed));
  g_test_message ("labels: %.2f px, every %d-th of %d tokens; zoomed: %.2f px, every %d-th of %d",
                  labels_all, stride_all, n, labels_zoomed, stride_zoomed, size);
  g_assert_cmpfloat (labels_zoomed, >=, labels_all);
  g_assert_cmpint (stride_zoomed, <, stride_all);
  /* Cells carry the whole matrix's values and their tooltips say so. */
  g_autofree char *tip = as_head_view_describe_cell (hv, row + 3, col + 5);
  g_autofree char *want = g_strdup_printf ("%.3f", values[(gsize) (row + 3) * n + col + 5]);
  g_assert_nonnull (tip);
  g_assert_true (g_str_has_suffix (tip, want));
  gui_test_capture_screen (NULL, "present-head-512-zoomed.png");

  /* The wheel pans the block down (no Ctrl: it scrolls the rows). */
  double x, y;
  g_assert_true (gtk_widget_translate_coordinates (GTK_WIDGET (hv), GTK_WIDGET (window),
                                                   gtk_widget_get_width (GTK_WIDGET (hv)) / 2.0,
                                                   gtk_widget_get_height (GTK_WIDGET (hv)) / 2.0,
                                                   &x, &y));
  g_autofree char *at = g_strdup_printf ("%d %d", (int) x, (int) y);
  g_autofree char *xid = g_strdup_printf ("%lu", (unsigned long) gdk_x11_surface_get_xid (
                                            gtk_native_get_surface (GTK_NATIVE (window))));
  const char *argv[] = { "xdotool", "mousemove", "--window", xid, "--sync", NULL, NULL, "click", "5", NULL };
  g_auto(GStrv) xy = g_strsplit (at, " ", 2);
  argv[5] = xy[0];
  argv[6] = xy[1];
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               NULL, NULL, NULL, NULL));
  b.row = MIN (row + MAX (1, size / 8), n - size);
  gui_test_wait_until (block_drawn, &b, 30);

  /* Ctrl+wheel zooms about the pointer; 0 shows everything again. */
  const char *ctrl_wheel[] = { "xdotool", "keydown", "ctrl", "click", "4", "keyup", "ctrl", NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) ctrl_wheel, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               NULL, NULL, NULL, NULL));
  gui_test_pace (300);
  g_assert_cmpint (as_head_view_get_window (hv, NULL, NULL), <, size);
  gtk_widget_grab_focus (GTK_WIDGET (hv));
  press ("0");
  g_assert_cmpint (as_head_view_get_window (hv, NULL, NULL), ==, 0);
  gui_test_wait_head_rows (window, n);

  as_window_set_text (window, AS_SAMPLE_SENTENCE, NULL);
  gui_test_wait_idle (window, 120);
}

/* ---- the statistics table ------------------------------------------------- */

/* The N-th column view under ROOT, depth first. */
static void
collect_column_views (GtkWidget *root,
                      GPtrArray *out)
{
  if (GTK_IS_COLUMN_VIEW (root))
    {
      g_ptr_array_add (out, root);
      return;
    }
  for (GtkWidget *w = gtk_widget_get_first_child (root); w != NULL; w = gtk_widget_get_next_sibling (w))
    collect_column_views (w, out);
}

static GtkColumnView *
nth_column_view (GtkWidget *root,
                 guint      n)
{
  g_autoptr(GPtrArray) views = g_ptr_array_new ();
  collect_column_views (root, views);
  return n < views->len ? GTK_COLUMN_VIEW (g_ptr_array_index (views, n)) : NULL;
}

/* The header titles of VIEW, in column order, with their tooltips. */
static void
header_tooltips (GtkColumnView *view,
                 GPtrArray     *tips)
{
  for (GtkWidget *header = gtk_widget_get_first_child (GTK_WIDGET (view)); header != NULL;
       header = gtk_widget_get_next_sibling (header))
    if (!GTK_IS_LIST_VIEW (header))
      {
        for (GtkWidget *t = gtk_widget_get_first_child (header); t != NULL; t = gtk_widget_get_next_sibling (t))
          if (gtk_widget_get_visible (t))
            g_ptr_array_add (tips, g_strdup (gtk_widget_get_tooltip_text (t)));
        return;
      }
}

static void
test_stats_table (void)
{
  if (!gui_test_have_model (model))
    return;
  gui_test_wait_idle (window, 120);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "stats");
  GtkWidget *table = gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_STATS_TABLE, NULL);
  g_assert_nonnull (table);
  gui_test_wait_frames (GTK_WIDGET (window), 2);

  GtkColumnView *frozen = nth_column_view (table, 0);
  GtkColumnView *stats = nth_column_view (table, 1);
  g_assert_nonnull (frozen);
  g_assert_nonnull (stats);
  g_assert_true (frozen != stats);

  /* Layer and Head sit outside the view that scrolls sideways, and scroll
   * up and down with it. */
  GListModel *fcols = gtk_column_view_get_columns (frozen);
  g_assert_cmpuint (g_list_model_get_n_items (fcols), ==, 2);
  g_autoptr(GtkColumnViewColumn) c0 = g_list_model_get_item (fcols, 0);
  g_autoptr(GtkColumnViewColumn) c1 = g_list_model_get_item (fcols, 1);
  g_assert_cmpstr (gtk_column_view_column_get_title (c0), ==, "Layer");
  g_assert_cmpstr (gtk_column_view_column_get_title (c1), ==, "Head");
  GtkScrolledWindow *scroller = GTK_SCROLLED_WINDOW (gtk_widget_get_ancestor (GTK_WIDGET (stats),
                                                                             GTK_TYPE_SCROLLED_WINDOW));
  GtkScrolledWindow *frozen_scroller = GTK_SCROLLED_WINDOW (gtk_widget_get_ancestor (GTK_WIDGET (frozen),
                                                                                    GTK_TYPE_SCROLLED_WINDOW));
  g_assert_true (scroller != frozen_scroller);
  GtkAdjustment *v = gtk_scrolled_window_get_vadjustment (scroller);
  GtkAdjustment *fv = gtk_scrolled_window_get_vadjustment (frozen_scroller);
  g_assert_cmpfloat (gtk_adjustment_get_upper (v), >, gtk_adjustment_get_page_size (v));
  gtk_adjustment_set_value (v, 100);
  g_assert_cmpfloat (gtk_adjustment_get_value (fv), ==, 100);
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gtk_adjustment_set_value (v, 0);
  GtkPolicyType hpolicy;
  gtk_scrolled_window_get_policy (frozen_scroller, &hpolicy, NULL);
  g_assert_cmpint (hpolicy, ==, GTK_POLICY_NEVER);

  double x0, y0, x1, y1;
  g_assert_true (gtk_widget_translate_coordinates (GTK_WIDGET (frozen), GTK_WIDGET (window), 0, 0, &x0, &y0));
  GtkAdjustment *h = gtk_scrolled_window_get_hadjustment (scroller);
  gtk_adjustment_set_value (h, gtk_adjustment_get_upper (h));
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  g_assert_true (gtk_widget_translate_coordinates (GTK_WIDGET (frozen), GTK_WIDGET (window), 0, 0, &x1, &y1));
  g_assert_cmpfloat (x0, ==, x1);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (frozen)));
  gtk_adjustment_set_value (h, 0);
  g_test_message ("statistics at %d px: columns %.0f px wide in %.0f px", gtk_widget_get_width (GTK_WIDGET (window)),
                  gtk_adjustment_get_upper (h), gtk_adjustment_get_page_size (h));

  /* Every header explains itself; entropy says what a nat is. */
  g_autoptr(GPtrArray) tips = g_ptr_array_new_with_free_func (g_free);
  header_tooltips (frozen, tips);
  header_tooltips (stats, tips);
  g_assert_cmpuint (tips->len, ==, 2 + AS_N_STATS - 1);
  gboolean nats = FALSE;
  for (guint i = 0; i < tips->len; i++)
    {
      const char *tip = g_ptr_array_index (tips, i);
      g_assert_nonnull (tip);
      g_assert_cmpuint (strlen (tip), >, 20);
      nats |= strstr (tip, "nats") != NULL;
    }
  g_assert_true (nats);
  gui_test_capture_screen (NULL, "present-stats.png");
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "head");
}

/* ---- compare: different lengths ------------------------------------------- */

static void
test_align (void)
{
  const char *a[] = { "[CLS]", "the", "animal", "was", "too", "tired", ".", "[SEP]" };
  const char *b[] = { "[CLS]", "it", "was", "too", "wide", ".", "[SEP]" };
  int pa[8], pb[8];
  int n = as_compare_align (a, 8, b, 7, pa, pb);
  /* [CLS]; "the animal" against "it" has no counterpart (lengths differ);
   * was, too; tired/wide swapped one for one; ".", [SEP]. */
  const int want_a[] = { 0, 3, 4, 5, 6, 7 }, want_b[] = { 0, 2, 3, 4, 5, 6 };
  g_assert_cmpint (n, ==, G_N_ELEMENTS (want_a));
  for (int i = 0; i < n; i++)
    {
      g_assert_cmpint (pa[i], ==, want_a[i]);
      g_assert_cmpint (pb[i], ==, want_b[i]);
    }
  /* Equal texts pair position by position; nothing in common, nothing. */
  n = as_compare_align (a, 8, a, 8, pa, pb);
  g_assert_cmpint (n, ==, 8);
  for (int i = 0; i < n; i++)
    g_assert_true (pa[i] == i && pb[i] == i);
  const char *c[] = { "x", "y" };
  g_assert_cmpint (as_compare_align (a, 8, c, 2, pa, pb), ==, 0);
  g_assert_cmpint (as_compare_align (a, 0, c, 2, pa, pb), ==, 0);
}

static AsCompareView *
compare_view (void)
{
  return AS_COMPARE_VIEW (gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_COMPARE_VIEW, NULL));
}

static gboolean
compare_ready (gpointer data)
{
  AsCompareView *cv = compare_view ();
  gboolean busy = TRUE;
  g_object_get (cv, "busy", &busy, NULL);
  AsAnalysis *b = as_compare_view_get_analysis (cv);
  return as_window_is_idle (window) && !busy && b != NULL &&
         g_str_equal (b->text_a, (const char *) data);
}

static void
test_compare_lengths (void)
{
  if (!gui_test_have_model (model))
    return;
  gui_test_wait_idle (window, 120);
  AsViewState *state = as_window_get_view_state (window);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "compare");
  AsCompareView *cv = compare_view ();
  const char *variant = "It was too wide.";
  gtk_editable_set_text (as_compare_view_get_entry (cv), variant);
  gui_test_wait_until (compare_ready, (gpointer) variant, 60);

  AsAnalysis *a = as_view_state_get_analysis (state), *b = as_compare_view_get_analysis (cv);
  g_assert_cmpint (a->n, !=, b->n);
  int n;
  const float *diff = as_compare_view_get_diff (cv, &n);
  g_assert_nonnull (diff);
  /* The map is over the tokens the two share, aligned by text: computed
   * here again from the token texts and the two analyses. */
  g_autofree const char **ta = g_new (const char *, a->n);
  g_autofree const char **tb = g_new (const char *, b->n);
  for (int i = 0; i < a->n; i++)
    ta[i] = a->encoding->tokens[i].text;
  for (int j = 0; j < b->n; j++)
    tb[j] = b->encoding->tokens[j].text;
  g_autofree int *pa = g_new (int, MIN (a->n, b->n));
  g_autofree int *pb = g_new (int, MIN (a->n, b->n));
  int expect_n = as_compare_align (ta, a->n, tb, b->n, pa, pb);
  g_assert_cmpint (n, ==, expect_n);
  /* [CLS] it was too tired/wide . [SEP] */
  g_assert_cmpint (n, ==, b->n);
  int layer = as_view_state_get_layer (state), head = as_view_state_get_head (state);
  const float *ma = as_analysis_head (a, layer, head), *mb = as_analysis_head (b, layer, head);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      g_assert_cmpfloat_with_epsilon (diff[(gsize) i * n + j],
                                      mb[(gsize) pb[i] * b->n + pb[j]] - ma[(gsize) pa[i] * a->n + pa[j]],
                                      1e-6);
  const char *msg = as_compare_view_get_message (cv);
  g_assert_nonnull (strstr (msg, "“tired” → “wide”"));
  g_assert_nonnull (strstr (msg, "Only in the sentence"));
  g_assert_nonnull (strstr (msg, "“animal”"));
  /* The captions are lines of their own, not one run-on paragraph. */
  g_assert_nonnull (strstr (msg, ".\nLargest change"));
  /* Nothing calls the variant "Sentence B": that is the pair's field. */
  g_assert_null (gui_test_find_widget (GTK_WIDGET (cv), GTK_TYPE_LABEL, "Sentence _B"));
  g_assert_nonnull (gui_test_find_widget (GTK_WIDGET (cv), GTK_TYPE_LABEL, "Compare _with"));
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gui_test_capture_screen (NULL, "present-compare-lengths.png");

  gtk_editable_set_text (as_compare_view_get_entry (cv), AS_COMPARE_DEFAULT_TEXT);
  gui_test_wait_until (compare_ready, (gpointer) AS_COMPARE_DEFAULT_TEXT, 60);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "head");
}

int
main (int   argc,
      char *argv[])
{
  /* Before anything asks GLib for the folder: it is read once. */
  config_dir = g_dir_make_tmp ("attnscope-present-XXXXXX", NULL);
  g_setenv ("XDG_CONFIG_HOME", config_dir, TRUE);
  if (!gui_test_init (&argc, &argv))
    {
      printf ("1..0 # SKIP cannot open a display (run under tests/run-under-xvfb.sh)\n");
      return 0;
    }
  window = gui_test_start (&app, &model, &backend);
  g_autofree char *xdotool = g_find_program_in_path ("xdotool");
  if (xdotool == NULL)
    {
      printf ("1..0 # SKIP needs xdotool\n");
      return 0;
    }

  g_test_add_func ("/present/zoom", test_zoom);
  g_test_add_func ("/present/fullscreen", test_fullscreen);
  g_test_add_func ("/present/presentation", test_presentation);
  g_test_add_func ("/present/head-512", test_head_512);
  g_test_add_func ("/present/stats-table", test_stats_table);
  g_test_add_func ("/present/align", test_align);
  g_test_add_func ("/present/compare-lengths", test_compare_lengths);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  gui_test_remove_tree (config_dir);
  g_free (config_dir);
  return status;
}
