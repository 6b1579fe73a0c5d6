/* test-gui.c — the desktop app under Xvfb (tests/run-under-xvfb.sh).
 *
 * Starts the real application and main window on the default model, types
 * into the sentence entry, and checks what the views show against the engine
 * run directly on the same text. Every draw is logged (as-trace) and every
 * worker delivery too, so the rapid-typing test can prove that no layer of a
 * superseded generation was ever drawn. Leaves a screenshot of the window in
 * tests/artifacts/.
 */
#include <glib/gstdio.h>
#include <stdio.h>
#include <math.h>
#include <string.h>

#include "as-application.h"
#include "as-attention.h"
#include "as-backend.h"
#include "as-model.h"
#include "as-trace.h"
#include "as-window.h"
#include "gui-test-util.h"

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;

/* ---- helpers ------------------------------------------------------------ */

/* Types TEXT at the end of entry A, one character per edit. */
static void
type_text (const char *text,
           guint       pause_ms)
{
  GtkEditable *entry = as_window_get_entry_a (window);
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    {
      int pos = -1;
      gtk_editable_set_position (entry, -1);
      pos = gtk_editable_get_position (entry);
      gtk_editable_insert_text (entry, p, g_utf8_next_char (p) - p, &pos);
      if (pause_ms > 0)
        gui_test_pace (pause_ms);   /* typing speed */
      else
        g_main_context_iteration (NULL, FALSE);
    }
}

/* The head view against the engine on TEXT_A/TEXT_B: tokens, the selected
 * head's value under a few cells, and the tooltip text. */
static void
check_against_engine (const char *text_a,
                      const char *text_b)
{
  AsViewState *state = as_window_get_view_state (window);
  AsAnalysis *a = as_view_state_get_analysis (state);
  g_assert_nonnull (a);
  g_assert_cmpstr (a->text_a, ==, text_a);
  /* What is on screen is the view state's: rows and tooltips. */
  gui_test_wait_head_current (window);

  g_autoptr(GError) error = NULL;
  AsAnalysis *ref = as_attention_compute (backend, text_a, text_b, &error);
  g_assert_no_error (error);

  /* Tokens: as the model sees them, on both axes. */
  g_assert_cmpint (a->n, ==, ref->n);
  int n_vis;
  const int *visible = as_view_state_get_visible (state, &n_vis);
  const char * const *labels = as_view_state_get_labels (state);
  g_assert_cmpint (gui_test_head_rows_shown (as_window_get_head_view (window)), ==, n_vis);
  for (int i = 0; i < n_vis; i++)
    g_assert_cmpstr (labels[i], ==, ref->encoding->tokens[visible[i]].text);

  /* Cells where the renderer's layout puts them: the pointer at a cell's
   * centre is told that cell's value, the engine's. */
  int layer = as_view_state_get_layer (state);
  int head = as_view_state_get_head (state);
  const float *m = as_analysis_head (ref, layer, head);
  GuiTestHeatmap *h = gui_test_head_heatmap (window);
  g_assert_nonnull (h);
  g_assert_cmpint (h->n, ==, n_vis);
  int probes[][2] = { { 0, 0 }, { n_vis - 1, 0 }, { n_vis / 2, n_vis / 3 }, { 0, n_vis - 1 },
                      { n_vis - 1, n_vis - 1 } };
  for (guint i = 0; i < G_N_ELEMENTS (probes); i++)
    {
      int row = probes[i][0], col = probes[i][1];
      double x, y;
      gui_test_heatmap_cell_center (h, row, col, &x, &y);
      g_autofree char *tip = gui_test_head_tooltip_at (window, h, x, y);
      float expected = m[(gsize) visible[row] * ref->n + visible[col]];
      if (!as_view_state_get_renormalise (state))
        {
          g_assert_cmpfloat_with_epsilon (h->values[(gsize) row * n_vis + col], expected, 1e-5);
          g_autofree char *expect_tip = gui_test_head_tooltip_for (window, row, col, expected);
          g_assert_cmpstr (tip, ==, expect_tip);
        }
      else
        g_assert_nonnull (tip);
    }
  gui_test_heatmap_free (h);
  as_analysis_unref (ref);
}

/* ---- tests -------------------------------------------------------------- */

static void
test_starts_with_sample (void)
{
  if (!gui_test_have_model (model))
    return;
  gui_test_wait_idle (window, 120);
  AsViewState *state = as_window_get_view_state (window);
  g_assert_cmpint (as_view_state_get_layer (state), ==, 0);
  g_assert_cmpint (as_view_state_get_head (state), ==, 0);
  check_against_engine (AS_SAMPLE_SENTENCE, NULL);
  /* Every thumbnail of every layer built and on screen. */
  AsTraceDraw grid;
  g_assert_true (gui_test_redraw (GTK_WIDGET (as_window_get_model_grid (window)), 'g', &grid));
  g_assert_cmpint (grid.layers, ==, model->config->n_layers);
  g_assert_cmpint (grid.items, ==, model->config->n_layers * model->config->n_heads);
}

static void
test_typing_and_selection (void)
{
  if (!gui_test_have_model (model))
    return;
  GtkEditable *entry = as_window_get_entry_a (window);
  gtk_editable_set_text (entry, "");
  type_text ("It was too tired to cross.", 15);
  gui_test_wait_idle (window, 60);
  check_against_engine ("It was too tired to cross.", NULL);

  /* Keyboard paths: the grid's arrows and the window's Page Down. */
  AsViewState *state = as_window_get_view_state (window);
  GtkWidget *grid = GTK_WIDGET (as_window_get_model_grid (window));
  gtk_widget_activate_action (grid, "grid.move", "(ii)", 0, 1);
  gtk_widget_activate_action (grid, "grid.move", "(ii)", 0, 1);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.move", "(ii)", 1, 0);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.move", "(ii)", 1, 0);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.move", "(ii)", 1, 0);
  g_assert_cmpint (as_view_state_get_layer (state), ==, 3);
  g_assert_cmpint (as_view_state_get_head (state), ==, 2);
  /* Clamped at the edges. */
  for (int i = 0; i < 40; i++)
    gtk_widget_activate_action (grid, "grid.move", "(ii)", 1, 1);
  g_assert_cmpint (as_view_state_get_layer (state), ==, model->config->n_layers - 1);
  g_assert_cmpint (as_view_state_get_head (state), ==, model->config->n_heads - 1);
  check_against_engine ("It was too tired to cross.", NULL);

  /* Pair mode. */
  gtk_editable_set_text (as_window_get_entry_b (window), "The street.");
  as_view_state_select (state, 2, 5);
  gui_test_wait_idle (window, 60);
  check_against_engine ("It was too tired to cross.", "The street.");
  gtk_editable_set_text (as_window_get_entry_b (window), "");
  gui_test_wait_idle (window, 60);
}

static void
test_hide_special (void)
{
  if (!gui_test_have_model (model))
    return;
  AsViewState *state = as_window_get_view_state (window);
  AsAnalysis *a = as_view_state_get_analysis (state);
  /* Renormalising means nothing until specials are hidden: disabled. */
  gtk_widget_activate_action (GTK_WIDGET (window), "win.renormalise", NULL);
  g_assert_false (as_view_state_get_renormalise (state));

  gtk_widget_activate_action (GTK_WIDGET (window), "win.hide-special", NULL);
  g_assert_true (as_view_state_get_hide_special (state));
  gui_test_wait_head_rows (window, a->n - 2);
  check_against_engine (a->text_a, a->text_b);

  /* Renormalised rows sum to 1 over the tokens shown. */
  gtk_widget_activate_action (GTK_WIDGET (window), "win.renormalise", NULL);
  g_assert_true (as_view_state_get_renormalise (state));
  gui_test_wait_head_current (window);
  GuiTestHeatmap *h = gui_test_head_heatmap (window);
  g_assert_nonnull (h);
  g_assert_cmpint (h->n, ==, a->n - 2);
  for (int r = 0; r < h->n; r++)
    {
      double sum = 0;
      for (int c = 0; c < h->n; c++)
        sum += h->values[(gsize) r * h->n + c];
      g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-4);
    }
  gui_test_heatmap_free (h);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.renormalise", NULL);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.hide-special", NULL);
  g_assert_false (as_view_state_get_hide_special (state));

  /* Colour maps: the menu's action and the view state agree. */
  gtk_widget_activate_action (GTK_WIDGET (window), "win.colormap", "s", "greys");
  g_assert_cmpint (as_view_state_get_colormap (state), ==, AS_COLORMAP_GREYS);
  gui_test_wait_frames (GTK_WIDGET (window), 1);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.colormap", "s", "viridis");
}

static void
test_rapid_edits (void)
{
  if (!gui_test_have_model (model))
    return;
  AsWorker *worker = as_window_get_worker (window);
  GtkEditable *entry = as_window_get_entry_a (window);
  gui_test_wait_idle (window, 60);
  as_worker_clear_trace (worker);
  as_trace_clear ();
  /* Draws of what was on screen before are not this test's business. */
  guint before = as_worker_get_generation (worker);

  /* 200 edits at uneven speed: bursts inside the debounce, pauses longer
   * than it, so requests overtake passes that are under way. */
  const char *sentence = "The animal didn't cross the street because it was too tired, said the keeper.";
  GRand *rand = g_rand_new_with_seed (42);
  g_autofree char *text = g_strdup ("");
  int len = (int) strlen (sentence);
  for (int i = 0; i < 200; i++)
    {
      int cut = i < len ? i + 1 : len - (i - len) % 25;
      g_free (text);
      text = g_strndup (sentence, cut);
      gtk_editable_set_text (entry, text);
      guint pause = g_rand_int_range (rand, 0, 4) == 0 ? g_rand_int_range (rand, 30, 90) : g_rand_int_range (rand, 0, 8);
      if (pause > 0)
        gui_test_pace (pause);   /* uneven typing: the point of the test */
      else
        g_main_context_iteration (NULL, FALSE);
    }
  g_rand_free (rand);
  gui_test_wait_idle (window, 120);

  /* The final display is the final text. */
  check_against_engine (text, NULL);
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_assert_cmpuint (a->generation, ==, as_worker_get_generation (worker));

  /* No stale layer drawn: every layer any view drew had been accepted by
   * the worker as the newest generation when it arrived, and the views
   * never went back to an older generation. */
  GArray *trace = as_worker_get_trace (worker);
  GArray *draws = as_trace_get_draws ();
  guint last_gen[256] = { 0 };
  int requests = 0, dropped = 0, checked = 0;
  for (guint i = 0; i < trace->len; i++)
    if (!g_array_index (trace, AsWorkerTraceEntry, i).accepted)
      dropped++;
  for (guint i = 0; i < draws->len; i++)
    {
      AsTraceDraw *d = &g_array_index (draws, AsTraceDraw, i);
      g_assert_cmpuint (d->generation, >=, last_gen[(guchar) d->view]);
      last_gen[(guchar) d->view] = d->generation;
      if (d->view == 't' || d->generation <= before)
        continue;
      /* Grid: layers 0..layers-1; head and lines views: layer layers-1. */
      int from = d->view == 'g' ? 0 : d->layers - 1;
      for (int l = from; l < d->layers; l++)
        {
          gboolean found = FALSE;
          for (guint j = 0; j < trace->len && !found; j++)
            {
              AsWorkerTraceEntry *e = &g_array_index (trace, AsWorkerTraceEntry, j);
              if (e->generation == d->generation && e->layer == l && e->time <= d->time)
                {
                  g_assert_true (e->accepted);
                  found = TRUE;
                }
            }
          if (!found)
            g_error ("view '%c' drew layer %d of generation %u, which the worker never delivered",
                     d->view, l, d->generation);
          checked++;
        }
    }
  requests = (int) as_worker_get_generation (worker);
  g_test_message ("200 edits: %d requests so far, %d stale posts dropped, %u draws, %d drawn layers checked",
                  requests, dropped, draws->len, checked);
  g_assert_cmpint (draws->len, >, 0);
}

static void
test_bad_model_keeps_previous (void)
{
  if (!gui_test_have_model (model))
    return;
  AsWorker *worker = as_window_get_worker (window);
  g_autofree char *name = g_strdup (as_worker_get_model_name (worker));
  g_autofree char *tmp = g_dir_make_tmp ("as-gui-XXXXXX", NULL);
  g_autofree char *config = g_build_filename (tmp, "config.json", NULL);
  g_assert_true (g_file_set_contents (config, "{\"hidden_size\": -3}", -1, NULL));

  as_window_open_model (window, tmp);
  while (as_worker_is_loading (worker))
    g_main_context_iteration (NULL, TRUE);

  /* The message dialog names the file; close it. */
  GtkWindow *w = gui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, 30);
  g_assert_cmpstr (as_worker_get_model_name (worker), ==, name);
  const char *body = adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (w));
  g_test_message ("dialog: %s", body);
  g_assert_nonnull (strstr (body, "config.json"));
  gui_test_wait_frames (GTK_WIDGET (w), 2);
  gui_test_capture_screen (NULL, "bad-model.png");
  gtk_window_destroy (w);

  /* Still usable. */
  gtk_editable_set_text (as_window_get_entry_a (window), "Still here.");
  gui_test_wait_idle (window, 60);
  check_against_engine ("Still here.", NULL);
  g_remove (config);
  g_rmdir (tmp);
}

static void
test_shortcuts_and_about (void)
{
  /* The shortcuts window comes from the GResource, with its accelerators. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.show-help-overlay", NULL));
  GtkWindow *help = gui_test_wait_toplevel (GTK_TYPE_SHORTCUTS_WINDOW, 30);
  g_assert_nonnull (help);
  gtk_window_close (help);

  g_action_group_activate_action (G_ACTION_GROUP (app), "about", NULL);
  GtkWindow *about = gui_test_wait_toplevel (ADW_TYPE_ABOUT_WINDOW, 30);
  g_assert_nonnull (about);
  g_assert_cmpstr (adw_about_window_get_application_icon (ADW_ABOUT_WINDOW (about)), ==, AS_APPLICATION_ID);
  gtk_window_destroy (about);

  /* The accelerators the menus show. */
  g_auto(GStrv) accels = gtk_application_get_accels_for_action (GTK_APPLICATION (app), "win.open-model");
  g_assert_cmpstr (accels[0], ==, "<Control>o");
  /* The app icon is in the icon theme (from the GResource). */
  GtkIconTheme *theme = gtk_icon_theme_get_for_display (gdk_display_get_default ());
  g_assert_true (gtk_icon_theme_has_icon (theme, AS_APPLICATION_ID));
}

static void
save_window_png (const char *path)
{
  GtkWidget *w = GTK_WIDGET (window);
  int width = gtk_widget_get_width (w), height = gtk_widget_get_height (w);
  GdkPaintable *paintable = gtk_widget_paintable_new (w);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  GskRenderNode *node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (window));
  GdkTexture *texture = gsk_renderer_render_texture (renderer, node,
                                                     &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_object_unref (texture);
  gsk_render_node_unref (node);
  g_object_unref (paintable);
}

static gboolean
state_is_dark (gpointer state)
{
  return as_view_state_get_dark (state);
}

static void
test_screenshot (void)
{
  if (!gui_test_have_model (model))
    return;
  gtk_editable_set_text (as_window_get_entry_b (window), "");
  as_window_set_text (window, AS_SAMPLE_SENTENCE, NULL);
  AsViewState *state = as_window_get_view_state (window);
  as_view_state_select (state, 2, 5);
  gui_test_wait_idle (window, 60);
  /* Highlight "it" (token 10) like a click on the strip would. */
  as_view_state_set_token (state, 10);
  gui_test_wait_head_current (window);
  gui_test_wait_frames (GTK_WIDGET (window), 1);

  g_autofree char *out_dir = gui_test_artifacts_dir ();
  g_autofree char *png = g_build_filename (out_dir, "main-window.png", NULL);
  save_window_png (png);
  g_test_message ("window rendered to %s", png);
  gui_test_capture_screen (NULL, "screen.png");

  /* The PNG is a real picture of the window, not a blank. */
  g_autoptr(GdkTexture) tex = gdk_texture_new_from_filename (png, NULL);
  g_assert_nonnull (tex);
  g_assert_cmpint (gdk_texture_get_width (tex), >=, 800);
  as_view_state_set_token (state, -1);

  /* The same in dark style. */
  AdwStyleManager *sm = adw_style_manager_get_default ();
  adw_style_manager_set_color_scheme (sm, ADW_COLOR_SCHEME_FORCE_DARK);
  gui_test_wait_for (state_is_dark, state, 10000, "the view state to follow the dark style");
  gui_test_wait_head_current (window);
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  g_autofree char *dark = g_build_filename (out_dir, "main-window-dark.png", NULL);
  save_window_png (dark);
  adw_style_manager_set_color_scheme (sm, ADW_COLOR_SCHEME_DEFAULT);

  /* A long text: 512 tokens (truncated), colour scale fitted to the head. */
  GString *long_text = g_string_new (NULL);
  while (long_text->len < 4000)
    g_string_append (long_text, "The animal didn't cross the street because it was too tired. "
                                "Researchers look at what each head attends to. ");
  as_window_set_text (window, long_text->str, NULL);
  g_string_free (long_text, TRUE);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.fit-scale", NULL);
  as_view_state_select (state, 1, 8);
  gui_test_wait_idle (window, 300);
  AsAnalysis *a = as_view_state_get_analysis (state);
  g_assert_cmpint (a->n, ==, model->config->max_positions);
  g_assert_true (a->encoding->truncated);
  /* The 512-token head view renders in a thread. */
  gui_test_wait_head_current (window);
  gui_test_wait_frames (GTK_WIDGET (window), 1);
  g_autofree char *long_png = g_build_filename (out_dir, "main-window-512.png", NULL);
  save_window_png (long_png);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.fit-scale", NULL);
}

int
main (int   argc,
      char *argv[])
{
  if (!gui_test_init (&argc, &argv))
    {
      printf ("1..0 # SKIP cannot open a display (run under tests/run-under-xvfb.sh)\n");
      return 0;
    }

  as_trace_set_enabled (TRUE);

  /* The real application: registering it runs startup (resources, CSS,
   * actions, accelerators) without entering g_application_run. */
  window = gui_test_start (&app, &model, &backend);
  as_worker_set_trace_enabled (as_window_get_worker (window), TRUE);

  g_test_add_func ("/gui/starts-with-sample", test_starts_with_sample);
  g_test_add_func ("/gui/typing-and-selection", test_typing_and_selection);
  g_test_add_func ("/gui/hide-special", test_hide_special);
  g_test_add_func ("/gui/rapid-edits", test_rapid_edits);
  g_test_add_func ("/gui/bad-model-keeps-previous", test_bad_model_keeps_previous);
  g_test_add_func ("/gui/shortcuts-and-about", test_shortcuts_and_about);
  g_test_add_func ("/gui/screenshot", test_screenshot);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  return status;
}
