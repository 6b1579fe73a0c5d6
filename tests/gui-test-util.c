/* gui-test-util.c — the app suites' shared start-up and waiting. */
#include "gui-test-util.h"

AsWindow *
gui_test_start (AsApplication **app,
                AsModel       **model,
                AsBackend     **backend)
{
  g_autofree char *dir = as_model_default_dir ();
  *model = as_model_load (dir, NULL);
  *backend = *model != NULL ? as_cpu_backend_new (*model) : NULL;

  /* Registering runs startup without entering g_application_run. */
  *app = as_application_new ();
  g_application_set_flags (G_APPLICATION (*app), G_APPLICATION_NON_UNIQUE);
  g_assert_true (g_application_register (G_APPLICATION (*app), NULL, NULL));
  AsWindow *window = as_window_new (GTK_APPLICATION (*app));
  as_window_open_model (window, dir);
  gtk_window_present (GTK_WINDOW (window));
  return window;
}

void
gui_test_stop (AsApplication *app,
               AsWindow      *window,
               AsModel       *model,
               AsBackend     *backend)
{
  gtk_window_destroy (GTK_WINDOW (window));
  if (backend != NULL)
    as_backend_free (backend);
  if (model != NULL)
    as_model_free (model);
  g_object_unref (app);
}

gboolean
gui_test_have_model (AsModel *model)
{
  if (model != NULL)
    return TRUE;
  g_test_skip ("default model not downloaded (run tools/setup)");
  return FALSE;
}

gboolean
gui_test_flag_timeout (gpointer flag)
{
  *(gboolean *) flag = TRUE;
  return G_SOURCE_REMOVE;
}

void
gui_test_spin (guint ms)
{
  gboolean done = FALSE;
  g_timeout_add (ms, gui_test_flag_timeout, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

void
gui_test_wait_until (gboolean (*cond) (gpointer),
                     gpointer   data,
                     guint      timeout_s)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add_seconds (timeout_s, gui_test_flag_timeout, &expired);
  while (!cond (data) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_assert_false (expired);
  gui_test_spin (150);
}

static gboolean
window_settled (gpointer data)
{
  AsWindow *window = data;
  return as_window_is_idle (window) && !as_worker_is_loading (as_window_get_worker (window));
}

void
gui_test_wait_idle (AsWindow *window,
                    guint     timeout_s)
{
  gui_test_wait_until (window_settled, window, timeout_s);
}

char *
gui_test_artifacts_dir (void)
{
  const char *dir = g_getenv ("AS_TEST_ARTIFACTS");
  char *out = g_strdup (dir != NULL ? dir : "artifacts");
  g_mkdir_with_parents (out, 0755);
  return out;
}

void
gui_test_capture_screen (const char *dir,
                         const char *name)
{
  g_autofree char *import = g_find_program_in_path ("import");
  if (import == NULL)
    return;
  g_autofree char *artifacts = dir == NULL ? gui_test_artifacts_dir () : NULL;
  g_autofree char *path = g_build_filename (dir != NULL ? dir : artifacts, name, NULL);
  /* The window's 1400 x 900 corner of the (larger) virtual screen. */
  const char *argv[] = { import, "-window", "root", "-crop", "1400x900+0+0", path, NULL };
  int status = 0;
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, NULL);
  g_test_message ("screen captured to %s (status %d)", path, status);
}
