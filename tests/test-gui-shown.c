/* test-gui-shown.c — head means and maxima, rollout and whole words on
 * screen, in the real window under Xvfb (tests/run-under-xvfb.sh).
 *
 * The head view's bar is used as a person uses it (its buttons, which fire
 * view.aggregate and view.words); what the head view then holds, cell by
 * cell, is checked against as-shown run on the engine's own attention for
 * the same text; the export of that state against the screen and against
 * attnscope-cli export with the same options; and the hide-special rule on
 * screen, in the figure and in the CLI. Screenshots of rollout and of words
 * go to $AS_TEST_ARTIFACTS and, when $AS_TEST_SHOTS is set, there too.
 */
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "as-aggregate-bar.h"
#include "as-application.h"
#include "as-attention.h"
#include "as-backend.h"
#include "as-export-dialog.h"
#include "as-figure.h"
#include "as-lines-view.h"
#include "as-model.h"
#include "as-shown.h"
#include "as-window.h"
#include "gui-test-util.h"

#define TEXT "Unaffable people are rarely liked."

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;
static char *tmp_dir;

/* ---- helpers ------------------------------------------------------------ */

static void
analyse (const char *text_a,
         const char *text_b)
{
  as_window_set_text (window, text_a, text_b);
  gui_test_wait_idle (window, 120);
}

static gboolean
page_mapped (gpointer page)
{
  return gtk_widget_get_mapped (page);
}

static void
show_page (const char *name)
{
  GtkStack *stack = as_window_get_detail_stack (window);
  gtk_stack_set_visible_child_name (stack, name);
  gui_test_wait_for (page_mapped, gtk_stack_get_visible_child (stack), 10000, "the page to be shown");
  gui_test_wait_frames (GTK_WIDGET (window), 1);
}

static AsAggregateBar *
head_bar (void)
{
  return AS_AGGREGATE_BAR (as_head_view_get_aggregate_bar (as_window_get_head_view (window)));
}

/* Clicks a bar button as a pointer would (its "clicked", which fires the
 * button's action). */
static void
click (GtkWidget *button)
{
  g_assert_true (gtk_widget_get_mapped (button));
  g_assert_true (gtk_widget_is_sensitive (button));
  g_signal_emit_by_name (button, "clicked");
  gui_test_wait_frames (GTK_WIDGET (window), 1);
}

/* The pointer to the window's empty bottom-left corner, so no tooltip
 * covers the views in a screenshot. */
static void
park_pointer (void)
{
  g_autofree char *xdotool = g_find_program_in_path ("xdotool");
  if (xdotool == NULL)
    return;
  const char *argv[] = { xdotool, "mousemove", "20", "880", NULL };
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                NULL, NULL, NULL, NULL, NULL, NULL);
}

static void
shot (const char *name)
{
  park_pointer ();
  /* The pointer's move arrives, and the window paints what it shows. */
  gdk_display_sync (gdk_display_get_default ());
  gui_test_wait_head_current (window);
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gui_test_capture_screen (NULL, name);
  const char *extra = g_getenv ("AS_TEST_SHOTS");
  if (extra != NULL && *extra != '\0')
    {
      g_mkdir_with_parents (extra, 0755);
      gui_test_capture_screen (extra, name);
    }
}

/* as-shown on the engine's attention for the window's text, with the view
 * state's spec: what the head view must hold. */
static AsShown *
reference (AsViewState *state)
{
  AsAnalysis *a = as_view_state_get_analysis (state);
  g_autoptr(GError) error = NULL;
  AsAnalysis *ref = as_attention_compute (backend, a->text_a, a->text_b, &error);
  g_assert_no_error (error);
  AsShownSpec spec;
  as_view_state_get_spec (state, &spec);
  AsShown *shown = as_shown_compute (ref, a->text_a, a->text_b, &spec, &error);
  g_assert_no_error (error);
  as_analysis_unref (ref);
  return shown;
}

/* Every cell the head view shows (the view state's matrix, which its
 * tooltips show on screen) and every label against WANT. Returns the
 * largest difference. */
static double
check_head_view (const AsShown *want)
{
  AsHeadView *hv = as_window_get_head_view (window);
  int n = want->tokens->n;
  gui_test_wait_head_current (window);
  g_assert_cmpint (gui_test_head_rows_shown (hv), ==, n);
  GuiTestHeatmap *h = gui_test_head_heatmap (window);
  g_assert_nonnull (h);
  g_assert_cmpint (h->n, ==, n);
  double worst = 0;
  for (int r = 0; r < n; r++)
    for (int c = 0; c < n; c++)
      worst = MAX (worst, fabs (h->values[r * n + c] - want->values[r * n + c]));
  g_assert_cmpfloat (worst, <, 1e-5);
  /* The pointer at a cell's centre (by the renderer's layout) is told its
   * value. */
  for (int r = 0; r < n; r++)
    {
      int c = (r * 7) % n;
      double x, y;
      gui_test_heatmap_cell_center (h, r, c, &x, &y);
      g_autofree char *tip = gui_test_head_tooltip_at (window, h, x, y);
      g_autofree char *expect = gui_test_head_tooltip_for (window, r, c, h->values[r * n + c]);
      g_assert_cmpstr (tip, ==, expect);
      g_autofree char *prefix = g_strdup_printf ("query '%s' -> key '%s':", want->tokens->labels[r],
                                                 want->tokens->labels[c]);
      g_assert_true (g_str_has_prefix (tip, prefix));
    }
  gui_test_heatmap_free (h);
  return worst;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_rollout_by_button (void)
{
  if (!gui_test_have_model (model))
    return;
  AsViewState *state = as_window_get_view_state (window);
  analyse (TEXT, NULL);
  show_page ("head");
  as_view_state_select (state, 2, 4);
  as_view_state_set_token (state, -1);

  AsAggregateBar *bar = head_bar ();
  click (as_aggregate_bar_get_button (bar, AS_SHOWN_ROLLOUT));
  g_assert_cmpint (as_view_state_get_aggregate (state), ==, AS_SHOWN_ROLLOUT);
  g_assert_true (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (as_aggregate_bar_get_button (bar, AS_SHOWN_ROLLOUT))));
  g_assert_false (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (as_aggregate_bar_get_button (bar, AS_SHOWN_HEAD))));

  g_autoptr(AsShown) want = reference (state);
  double worst = check_head_view (want);
  g_test_message ("rollout through layer 3 on screen: largest difference from as-shown %.3g", worst);
  /* Rollout keeps the residual path: each layer's 0.5 A + 0.5 I has a
   * diagonal of at least 0.5, so through 3 layers a token keeps at least
   * 0.5^3 of its own input. */
  for (int r = 0; r < want->tokens->n; r++)
    g_assert_cmpfloat (want->values[r * want->tokens->n + r], >=, 0.125 - 1e-6);

  /* Every view says what is shown. */
  g_assert_cmpstr (as_model_grid_get_caption (as_window_get_model_grid (window)), ==,
                   "Showing: rollout through layer 3");
  g_assert_cmpstr (as_aggregate_bar_get_description (bar), ==, "rollout through layer 3");
  shot ("head-rollout.png");

  /* Mean and max through the action the buttons use. */
  gtk_widget_activate_action (GTK_WIDGET (as_window_get_head_view (window)), "view.aggregate", "s", "mean");
  g_assert_cmpint (as_view_state_get_aggregate (state), ==, AS_SHOWN_MEAN);
  g_autoptr(AsShown) mean = reference (state);
  check_head_view (mean);
  gtk_widget_activate_action (GTK_WIDGET (as_window_get_head_view (window)), "view.aggregate", "s", "max");
  g_autoptr(AsShown) max = reference (state);
  check_head_view (max);
  g_assert_cmpstr (as_model_grid_get_caption (as_window_get_model_grid (window)), ==,
                   "Showing: layer 3 · max of 12 heads");
  click (as_aggregate_bar_get_button (bar, AS_SHOWN_HEAD));
  g_assert_cmpint (as_view_state_get_aggregate (state), ==, AS_SHOWN_HEAD);
}

static void
test_words_by_button (void)
{
  if (!gui_test_have_model (model))
    return;
  AsViewState *state = as_window_get_view_state (window);
  analyse (TEXT, NULL);
  show_page ("head");
  as_view_state_select (state, 1, 4);

  AsAggregateBar *bar = head_bar ();
  GtkWidget *words = as_aggregate_bar_get_words_button (bar);
  click (words);
  g_assert_true (as_view_state_get_words (state));
  g_assert_true (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (words)));

  g_autoptr(AsShown) want = reference (state);
  /* [CLS] una ##ffa ##ble people … : "Unaffable" is one row, as typed. */
  g_assert_cmpstr (want->tokens->labels[1], ==, "Unaffable");
  g_assert_cmpint (want->tokens->n, ==, as_view_state_get_analysis (state)->n - 2);
  double worst = check_head_view (want);
  g_test_message ("head 5 of layer 2 in words on screen: largest difference from as-shown %.3g", worst);

  /* A piece highlights its word's row. */
  as_view_state_set_token (state, 2);   /* ##ffa */
  g_assert_cmpint (as_view_state_visible_index (state, 2), ==, 1);
  shot ("head-words.png");
  as_view_state_set_token (state, -1);

  /* Rollout and words together: the export's example. */
  click (as_aggregate_bar_get_button (bar, AS_SHOWN_ROLLOUT));
  g_autoptr(AsShown) both = reference (state);
  check_head_view (both);
  g_assert_cmpstr (as_model_grid_get_caption (as_window_get_model_grid (window)), ==,
                   "Showing: rollout through layer 2 · words");

  /* The lines view draws the same matrix, one set of lines. */
  show_page ("lines");
  guint expect = 0;
  for (int k = 0; k < both->tokens->n * both->tokens->n; k++)
    expect += both->values[k] >= AS_LINES_MIN_WEIGHT;
  GtkWidget *page = gtk_stack_get_child_by_name (as_window_get_detail_stack (window), "lines");
  AsLinesView *lines = AS_LINES_VIEW (gui_test_find_widget (page, AS_TYPE_LINES_VIEW, NULL));
  g_assert_cmpuint (gui_test_lines_drawn (GTK_WIDGET (lines)), ==, expect);
  shot ("lines-rollout-words.png");
  show_page ("head");

  click (as_aggregate_bar_get_button (bar, AS_SHOWN_HEAD));
  click (words);
  g_assert_false (as_view_state_get_words (state));
}

static char *
cli_path (void)
{
  const char *build = g_getenv ("AS_TEST_BUILD");
  char *cli = g_build_filename (build != NULL ? build : ".", "..", "app", "attnscope-cli", NULL);
  if (!g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    g_clear_pointer (&cli, g_free);
  return cli;
}

/* Runs attnscope-cli export with ARGS (NULL-terminated) on TEXT; its
 * standard output is returned. */
static char *
run_cli_export (const char         *text,
                const char * const *args)
{
  g_autofree char *cli = cli_path ();
  g_assert_nonnull (cli);
  GPtrArray *argv = g_ptr_array_new ();
  g_ptr_array_add (argv, cli);
  g_ptr_array_add (argv, (char *) "export");
  g_ptr_array_add (argv, (char *) "--device");
  g_ptr_array_add (argv, (char *) "cpu");
  for (int i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, (char *) text);
  g_ptr_array_add (argv, NULL);
  char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("attnscope-cli export failed: %s", err);
  g_free (err);
  g_ptr_array_unref (argv);
  return out;
}

/* The app's export of the state equals the screen, and equals
 * attnscope-cli export --aggregate rollout --layer 3 --words. */
static void
test_export_equals_screen_and_cli (void)
{
  if (!gui_test_have_model (model))
    return;
  g_autofree char *cli = cli_path ();
  if (cli == NULL)
    {
      g_test_skip ("attnscope-cli not built");
      return;
    }
  AsViewState *state = as_window_get_view_state (window);
  analyse (TEXT, NULL);
  show_page ("head");
  as_view_state_select (state, 2, 0);
  as_view_state_set_token (state, -1);
  AsAggregateBar *bar = head_bar ();
  click (as_aggregate_bar_get_button (bar, AS_SHOWN_ROLLOUT));
  click (as_aggregate_bar_get_words_button (bar));

  /* The export's options: the dialog's, with the state's spec. */
  AsFigureOptions o;
  AsShownSpec spec;
  as_export_options_from_state (state, AS_FIGURE_HEAD, &o);
  as_view_state_get_spec (state, &spec);
  as_figure_options_set_shown (&o, &spec);
  o.annotate = TRUE;
  AsAnalysis *attention = as_view_state_get_analysis (state);
  g_autoptr(GError) error = NULL;
  g_autoptr(AsShown) figure = as_figure_shown (attention, &o, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (check_head_view (figure), ==, 0);

  g_autofree char *app_png = g_build_filename (tmp_dir, "app.png", NULL);
  g_assert_true (gui_test_export_now (window, AS_FIGURE_HEAD, TRUE, app_png, &error));
  g_assert_no_error (error);
  g_autofree char *cli_png = g_build_filename (tmp_dir, "cli.png", NULL);
  const char *args[] = { "--aggregate", "rollout", "--layer", "3", "--words", "--annotate",
                         "--fit-scale", "-o", cli_png, NULL };
  g_free (run_cli_export (TEXT, args));
  int diff = gui_test_png_difference (app_png, cli_png);
  g_test_message ("app export and attnscope-cli export --aggregate rollout --layer 3 --words: "
                  "largest channel difference %d", diff);
  g_assert_cmpint (diff, <=, 1);

  click (as_aggregate_bar_get_button (bar, AS_SHOWN_HEAD));
  click (as_aggregate_bar_get_words_button (bar));
}

/* Hide special tokens: the same rows on screen, in the figure and in the
 * CLI; [MASK] stays; an input of only [CLS] [SEP] keeps them. */
static void
test_one_hide_rule (void)
{
  if (!gui_test_have_model (model))
    return;
  g_autofree char *cli = cli_path ();
  AsViewState *state = as_window_get_view_state (window);
  const char *text = "Is it [MASK]?";
  analyse (text, NULL);
  as_view_state_set_hide_special (state, TRUE);
  AsAnalysis *a = as_view_state_get_analysis (state);

  int n_vis;
  as_view_state_get_visible (state, &n_vis);
  g_assert_cmpint (n_vis, ==, a->n - 2);
  gui_test_wait_head_rows (window, n_vis);
  const char * const *labels = as_view_state_get_labels (state);
  gboolean mask = FALSE;
  for (int i = 0; i < n_vis; i++)
    mask |= g_strcmp0 (labels[i], "[MASK]") == 0;
  g_assert_true (mask);

  AsFigureOptions o;
  AsShownSpec spec;
  as_export_options_from_state (state, AS_FIGURE_HEAD, &o);
  as_view_state_get_spec (state, &spec);
  as_figure_options_set_shown (&o, &spec);
  g_autoptr(GError) error = NULL;
  g_autoptr(AsShown) figure = as_figure_shown (a, &o, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (figure->tokens->labels, labels);

  if (cli != NULL)
    {
      g_autofree char *png = g_build_filename (tmp_dir, "hidden.png", NULL);
      const char *args[] = { "--hide-special", "--print-layout", "-o", png, NULL };
      g_autofree char *layout = run_cli_export (text, args);
      g_autofree char *want = g_strdup_printf ("\"n\": %d,", n_vis);
      g_assert_nonnull (strstr (layout, want));
    }

  /* Nothing but [CLS] [SEP]: both stay on screen and in the figure. */
  analyse ("", NULL);
  as_view_state_get_visible (state, &n_vis);
  g_assert_cmpint (n_vis, ==, 2);
  as_export_options_from_state (state, AS_FIGURE_HEAD, &o);
  g_assert_true (as_figure_check (as_view_state_get_analysis (state), &o, &error));
  g_assert_no_error (error);

  as_view_state_set_hide_special (state, FALSE);
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
  tmp_dir = g_dir_make_tmp ("as-gui-shown-XXXXXX", NULL);
  window = gui_test_start (&app, &model, &backend);

  g_test_add_func ("/gui-shown/rollout-by-button", test_rollout_by_button);
  g_test_add_func ("/gui-shown/words-by-button", test_words_by_button);
  g_test_add_func ("/gui-shown/export-equals-screen-and-cli", test_export_equals_screen_and_cli);
  g_test_add_func ("/gui-shown/one-hide-rule", test_one_hide_rule);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  const char *names[] = { "app.png", "cli.png", "hidden.png" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (tmp_dir, names[i], NULL);
      g_unlink (path);
    }
  g_rmdir (tmp_dir);
  g_free (tmp_dir);
  return status;
}
