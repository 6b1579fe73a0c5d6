/* test-gui-export.c — the app's Export…, Copy Image and device selector,
 * under Xvfb (tests/run-under-xvfb.sh).
 *
 * The reference for an exported file is the GTK-free renderer (as-figure)
 * run on the engine's own attention for the same text with the options
 * spelled out by hand: if the window passed the wrong layer, head, colour
 * map, highlight or hiding to the export, the pixels differ.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "as-application.h"
#include "as-attention.h"
#include "as-backend.h"
#include "as-export-dialog.h"
#include "as-gpu-loader.h"
#include "as-model.h"
#include "as-window.h"
#include "gui-test-util.h"

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;
static char *tmp_dir;

/* ---- helpers ------------------------------------------------------------ */

static gboolean
export_now (AsFigureView  view,
            gboolean      annotate,
            const char   *path,
            GError      **error)
{
  return gui_test_export_now (window, view, annotate, path, error);
}

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

/* ---- tests -------------------------------------------------------------- */

/* The exported head equals the renderer on the engine's attention with the
 * window's state written out by hand. */
static void
test_export_follows_state (void)
{
  if (!gui_test_have_model (model))
    return;
  const char *text = "The animal didn't cross the street because it was too tired.";
  as_window_set_text (window, text, NULL);
  gui_test_wait_idle (window, 120);

  AsViewState *state = as_window_get_view_state (window);
  as_view_state_select (state, 2, 3);
  as_view_state_set_colormap (state, AS_COLORMAP_MAGMA);
  as_view_state_set_hide_special (state, TRUE);
  as_view_state_set_renormalise (state, TRUE);
  as_view_state_set_token (state, 4);

  g_autofree char *got = tmp_path ("head.png");
  g_autoptr(GError) error = NULL;
  g_assert_true (export_now (AS_FIGURE_HEAD, TRUE, got, &error));
  g_assert_no_error (error);

  AsAnalysis *ref = as_attention_compute (backend, text, NULL, &error);
  g_assert_no_error (error);
  AsFigureOptions o;
  as_figure_options_init (&o);
  o.view = AS_FIGURE_HEAD;
  o.layer = 2;
  o.head = 3;
  o.colormap = AS_COLORMAP_MAGMA;
  o.annotate = TRUE;
  o.hide_special = TRUE;
  o.renormalise = TRUE;
  o.highlight_token = 4;
  o.fit_scale = TRUE;   /* the app's default scale */
  o.model_name = model->name;
  o.text_a = text;
  g_autofree char *want = tmp_path ("head-ref.png");
  g_assert_true (as_figure_save (ref, &o, want, NULL, AS_FORMAT_AUTO, NULL, &error));
  g_assert_no_error (error);
  /* Attention agrees to ~1e-6, so colours agree to a unit at most. */
  g_assert_cmpint (gui_test_png_difference (got, want), <=, 1);

  /* The highlight is drawn: without it the reference differs. */
  o.highlight_token = -1;
  g_autofree char *plain = tmp_path ("head-plain.png");
  g_assert_true (as_figure_save (ref, &o, plain, NULL, AS_FORMAT_AUTO, NULL, &error));
  g_assert_cmpint (gui_test_png_difference (got, plain), >, 32);

  /* The grid, as SVG and PDF: vector files of the right kind. */
  const char *vector[] = { "grid.svg", "grid.pdf" };
  const char *magic[] = { "<?xml", "%PDF-" };
  for (guint i = 0; i < G_N_ELEMENTS (vector); i++)
    {
      g_autofree char *path = tmp_path (vector[i]);
      g_assert_true (export_now (AS_FIGURE_GRID, FALSE, path, &error));
      g_autofree char *contents = NULL;
      gsize len;
      g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
      g_assert_cmpuint (len, >, 1000);
      g_assert_true (g_str_has_prefix (contents, magic[i]));
    }
  as_analysis_unref (ref);

  as_view_state_set_token (state, -1);
  as_view_state_set_hide_special (state, FALSE);
  as_view_state_set_colormap (state, AS_COLORMAP_VIRIDIS);
}

/* Failures say why and leave nothing behind. */
static void
test_export_failures (void)
{
  if (!gui_test_have_model (model))
    return;
  g_autoptr(GError) error = NULL;

  /* A folder that is a file. */
  g_autofree char *blocker = tmp_path ("not-a-folder");
  g_assert_true (g_file_set_contents (blocker, "x", 1, NULL));
  g_autofree char *inside = g_build_filename (blocker, "head.png", NULL);
  g_assert_false (export_now (AS_FIGURE_HEAD, FALSE, inside, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "head.png"));
  g_clear_error (&error);

  /* A folder that does not exist. */
  g_autofree char *missing = tmp_path ("missing/sub/head.pdf");
  g_assert_false (export_now (AS_FIGURE_HEAD, FALSE, missing, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_autofree char *missing_dir = tmp_path ("missing");
  g_assert_false (g_file_test (missing_dir, G_FILE_TEST_EXISTS));

  /* An extension we do not write. */
  g_autofree char *jpeg = tmp_path ("head.jpg");
  g_assert_false (export_now (AS_FIGURE_HEAD, FALSE, jpeg, &error));
  g_assert_nonnull (strstr (error->message, ".png, .svg or .pdf"));
  g_clear_error (&error);
  g_assert_false (g_file_test (jpeg, G_FILE_TEST_EXISTS));

  /* A name that is one of the loaded model's files (here a hard link to its
   * config.json, made in the build folder on the model's file system: were
   * the check missing, only the link would be replaced, never the model). */
  g_autofree char *config = g_build_filename (as_view_state_get_analysis (as_window_get_view_state (window))->model_dir,
                                              "config.json", NULL);
  g_autofree char *alias = g_build_filename (g_getenv ("AS_TEST_BUILD"), "export-model-alias.png", NULL);
  g_unlink (alias);
  if (link (config, alias) == 0)
    {
      g_autofree char *before = NULL, *after = NULL;
      g_assert_true (g_file_get_contents (config, &before, NULL, NULL));
      g_assert_false (export_now (AS_FIGURE_HEAD, FALSE, alias, &error));
      g_assert_nonnull (strstr (error->message, "loaded model's file"));
      g_clear_error (&error);
      g_assert_true (g_file_get_contents (config, &after, NULL, NULL));
      g_assert_cmpstr (before, ==, after);
      g_unlink (alias);
    }
  else
    g_test_message ("no hard link to %s possible here (%s): protected-name check not run",
                    config, g_strerror (errno));

  /* Nothing half-written anywhere in the folder: only finished files. */
  g_autoptr(GDir) dir = g_dir_open (tmp_dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    g_assert_true (g_str_has_suffix (name, ".png") || g_str_has_suffix (name, ".svg") ||
                   g_str_has_suffix (name, ".pdf") || g_str_equal (name, "not-a-folder"));

  /* While layers are still streaming in, export refuses instead of saving
   * half a model. A long text (the model's 512 tokens) takes long enough
   * per layer that export is tried the moment the analysis reaches the
   * view state, with its first layers only. */
  GString *long_text = g_string_new ("Still being analysed: ");
  while (long_text->len < 4000)
    g_string_append (long_text, "The animal didn't cross the street because it was too tired. ");
  as_window_set_text (window, long_text->str, NULL);
  AsViewState *state = as_window_get_view_state (window);
  while (as_view_state_get_analysis (state) == NULL ||
         g_strcmp0 (as_view_state_get_analysis (state)->text_a, long_text->str) != 0)
    g_main_context_iteration (NULL, TRUE);
  /* Not vacuous: the analysis on screen is not complete yet. */
  AsAnalysis *early_analysis = as_view_state_get_analysis (state);
  g_test_message ("export tried with %d of %d layers ready", as_view_state_get_layers_ready (state),
                  early_analysis->n_layers);
  g_assert_cmpint (as_view_state_get_layers_ready (state), <, early_analysis->n_layers);
  g_autofree char *early = tmp_path ("early.png");
  g_assert_false (export_now (AS_FIGURE_HEAD, FALSE, early, &error));
  g_assert_nonnull (strstr (error->message, "still running"));
  g_assert_false (g_file_test (early, G_FILE_TEST_EXISTS));
  gui_test_wait_idle (window, 120);
  g_string_free (long_text, TRUE);
}

/* Copy Image puts the same figure on the clipboard. */
static void
test_copy_image (void)
{
  if (!gui_test_have_model (model))
    return;
  AsViewState *state = as_window_get_view_state (window);
  as_view_state_select (state, 1, 5);
  gtk_widget_activate_action (GTK_WIDGET (window), "win.copy-image", NULL);

  g_autoptr(GdkTexture) copied = gui_test_clipboard_texture (GTK_WIDGET (window));
  g_assert_nonnull (copied);

  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) png = as_export_render_png (state, AS_FIGURE_HEAD, &error);
  g_assert_no_error (error);
  g_autoptr(GdkTexture) expected = gdk_texture_new_from_bytes (png, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gui_test_texture_difference (copied, expected), ==, 0);
}

/* The device selector: asking for the GPU either gets it or says why not,
 * and the window keeps analysing either way. */
static void
test_device_selector (void)
{
  if (!gui_test_have_model (model))
    return;
  AsWorker *worker = as_window_get_worker (window);
  g_autoptr(GError) probe_error = NULL;
  g_autofree char *gpu = as_gpu_probe (0, &probe_error);

  /* The window starts on what ATTNSCOPE_DEVICE says (cpu in the tests). */
  g_autofree char *initial = NULL;
  g_object_get (window, "device", &initial, NULL);
  g_assert_cmpstr (initial, ==, g_getenv ("ATTNSCOPE_DEVICE") != NULL ? g_getenv ("ATTNSCOPE_DEVICE") : "auto");

  g_object_set (window, "device", "gpu", NULL);
  g_assert_cmpstr (as_worker_get_device (worker), ==, "gpu");
  gui_test_wait_idle (window, 120);
  if (gpu != NULL)
    {
      g_assert_cmpstr (as_worker_get_backend_kind (worker), ==, "cuda");
      g_assert_null (as_worker_get_backend_notice (worker));
    }
  else
    {
      g_assert_cmpstr (as_worker_get_backend_kind (worker), ==, "cpu");
      g_assert_nonnull (as_worker_get_backend_notice (worker));
      g_test_message ("no GPU: %s", as_worker_get_backend_notice (worker));
      /* The choice follows what runs (the menu shows it). */
      g_assert_cmpstr (as_worker_get_device (worker), ==, "cpu");
    }

  /* A forced failure is named, whatever the machine has. */
  g_setenv ("ATTNSCOPE_GPU_FORCE_FAIL", "plugin", TRUE);
  g_object_set (window, "device", "cpu", NULL);
  gui_test_wait_idle (window, 120);
  g_assert_cmpstr (as_worker_get_backend_kind (worker), ==, "cpu");
  if (gpu != NULL)
    g_assert_null (as_worker_get_backend_notice (worker));
  g_object_set (window, "device", "gpu", NULL);
  gui_test_wait_idle (window, 120);
  g_assert_cmpstr (as_worker_get_backend_kind (worker), ==, "cpu");
  g_assert_nonnull (strstr (as_worker_get_backend_notice (worker), "forced by ATTNSCOPE_GPU_FORCE_FAIL=plugin"));
  g_autofree char *now = NULL;
  g_object_get (window, "device", &now, NULL);
  g_assert_cmpstr (now, ==, "cpu");
  g_unsetenv ("ATTNSCOPE_GPU_FORCE_FAIL");

  /* Still analysing, correctly, on the CPU. */
  const char *text = "It was too wide.";
  as_window_set_text (window, text, NULL);
  gui_test_wait_idle (window, 120);
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_autoptr(GError) error = NULL;
  AsAnalysis *ref = as_attention_compute (backend, text, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (a->n, ==, ref->n);
  for (gsize i = 0; i < (gsize) ref->n_layers * ref->n_heads * ref->n * ref->n; i++)
    g_assert_cmpfloat_with_epsilon (a->attn[i], ref->attn[i], 1e-5);
  as_analysis_unref (ref);

  g_object_set (window, "device", "auto", NULL);
  gui_test_wait_idle (window, 120);
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

  tmp_dir = g_dir_make_tmp ("attnscope-export-XXXXXX", NULL);

  window = gui_test_start (&app, &model, &backend);

  g_test_add_func ("/gui-export/follows-state", test_export_follows_state);
  g_test_add_func ("/gui-export/failures", test_export_failures);
  g_test_add_func ("/gui-export/copy-image", test_copy_image);
  g_test_add_func ("/gui-export/device-selector", test_device_selector);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  gui_test_remove_tree (tmp_dir);
  g_free (tmp_dir);
  return status;
}
