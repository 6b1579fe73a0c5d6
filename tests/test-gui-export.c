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

/* ---- saving through the window's export path ---------------------------- */

typedef struct {
  gboolean  done;
  gboolean  ok;
  GError   *error;
} SaveResult;

static void
on_saved (GObject      *source,
          GAsyncResult *result,
          gpointer      data)
{
  SaveResult *r = data;
  r->ok = as_export_save_finish (result, &r->error);
  r->done = TRUE;
}

static gboolean
export_now (AsFigureView  view,
            gboolean      annotate,
            const char   *path,
            GError      **error)
{
  SaveResult r = { 0 };
  as_export_save_async (as_window_get_view_state (window), view, annotate, path, NULL, on_saved, &r);
  while (!r.done)
    g_main_context_iteration (NULL, TRUE);
  if (r.error != NULL)
    g_propagate_error (error, r.error);
  return r.ok;
}

/* RGBA bytes of a PNG file (width * height * 4). */
static guint8 *
load_png (const char *path,
          int        *width,
          int        *height)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) t = gdk_texture_new_from_filename (path, &error);
  g_assert_no_error (error);
  *width = gdk_texture_get_width (t);
  *height = gdk_texture_get_height (t);
  guint8 *data = g_malloc ((gsize) *width * *height * 4);
  gdk_texture_download (t, data, (gsize) *width * 4);
  return data;
}

/* Largest per-channel difference between two PNG files of the same size. */
static int
png_difference (const char *a,
                const char *b)
{
  int wa, ha, wb, hb;
  g_autofree guint8 *pa = load_png (a, &wa, &ha);
  g_autofree guint8 *pb = load_png (b, &wb, &hb);
  g_assert_cmpint (wa, ==, wb);
  g_assert_cmpint (ha, ==, hb);
  int worst = 0;
  for (gsize i = 0; i < (gsize) wa * ha * 4; i++)
    worst = MAX (worst, ABS ((int) pa[i] - (int) pb[i]));
  return worst;
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
  o.model_name = model->name;
  o.text_a = text;
  g_autofree char *want = tmp_path ("head-ref.png");
  g_assert_true (as_figure_save (ref, &o, want, NULL, AS_FORMAT_AUTO, NULL, &error));
  g_assert_no_error (error);
  /* Attention agrees to ~1e-6, so colours agree to a unit at most. */
  g_assert_cmpint (png_difference (got, want), <=, 1);

  /* The highlight is drawn: without it the reference differs. */
  o.highlight_token = -1;
  g_autofree char *plain = tmp_path ("head-plain.png");
  g_assert_true (as_figure_save (ref, &o, plain, NULL, AS_FORMAT_AUTO, NULL, &error));
  g_assert_cmpint (png_difference (got, plain), >, 32);

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
   * half a model. */
  as_worker_set_layer_delay (as_window_get_worker (window), 200000);
  as_window_set_text (window, "A sentence that is still being analysed.", NULL);
  AsViewState *state = as_window_get_view_state (window);
  while (as_view_state_get_analysis (state) == NULL ||
         g_strcmp0 (as_view_state_get_analysis (state)->text_a, "A sentence that is still being analysed.") != 0)
    g_main_context_iteration (NULL, TRUE);
  g_autofree char *early = tmp_path ("early.png");
  g_assert_false (export_now (AS_FIGURE_HEAD, FALSE, early, &error));
  g_assert_nonnull (strstr (error->message, "still running"));
  g_assert_false (g_file_test (early, G_FILE_TEST_EXISTS));
  as_worker_set_layer_delay (as_window_get_worker (window), 0);
  gui_test_wait_idle (window, 120);
}

typedef struct {
  gboolean    done;
  GdkTexture *texture;
} ReadResult;

static void
on_clipboard_read (GObject      *source,
                   GAsyncResult *result,
                   gpointer      data)
{
  ReadResult *r = data;
  r->texture = gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (source), result, NULL);
  r->done = TRUE;
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

  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (window));
  ReadResult r = { 0 };
  gdk_clipboard_read_texture_async (clipboard, NULL, on_clipboard_read, &r);
  while (!r.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (r.texture);

  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) png = as_export_render_png (state, AS_FIGURE_HEAD, &error);
  g_assert_no_error (error);
  g_autoptr(GdkTexture) expected = gdk_texture_new_from_bytes (png, &error);
  g_assert_no_error (error);
  int w = gdk_texture_get_width (expected), h = gdk_texture_get_height (expected);
  g_assert_cmpint (gdk_texture_get_width (r.texture), ==, w);
  g_assert_cmpint (gdk_texture_get_height (r.texture), ==, h);
  g_autofree guint8 *a = g_malloc ((gsize) w * h * 4);
  g_autofree guint8 *b = g_malloc ((gsize) w * h * 4);
  gdk_texture_download (r.texture, a, (gsize) w * 4);
  gdk_texture_download (expected, b, (gsize) w * 4);
  g_assert_cmpmem (a, (gsize) w * h * 4, b, (gsize) w * h * 4);
  g_object_unref (r.texture);
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
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp_dir);
  if (system (cmd) != 0)
    g_printerr ("could not remove %s\n", tmp_dir);
  g_free (tmp_dir);
  return status;
}
