/* as-recent-models.c */
#include "as-recent-models.h"

#include <errno.h>

static char *
recent_path (void)
{
  return g_build_filename (g_get_user_config_dir (), "attnscope", "recent-models.ini", NULL);
}

char **
as_recent_models_load (void)
{
  g_autofree char *path = recent_path ();
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GStrvBuilder) out = g_strv_builder_new ();

  if (g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, NULL))
    {
      g_auto(GStrv) dirs = g_key_file_get_string_list (kf, "recent", "models", NULL, NULL);
      for (guint i = 0; dirs != NULL && dirs[i] != NULL && i < AS_RECENT_MODELS_MAX; i++)
        if (g_file_test (dirs[i], G_FILE_TEST_IS_DIR))
          g_strv_builder_add (out, dirs[i]);
    }
  return g_strv_builder_end (out);
}

void
as_recent_models_add (const char *dir)
{
  g_auto(GStrv) old = as_recent_models_load ();
  g_autoptr(GPtrArray) list = g_ptr_array_new ();

  g_ptr_array_add (list, (gpointer) dir);
  for (guint i = 0; old[i] != NULL && list->len < AS_RECENT_MODELS_MAX; i++)
    if (g_strcmp0 (old[i], dir) != 0)
      g_ptr_array_add (list, old[i]);

  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_key_file_set_string_list (kf, "recent", "models", (const char * const *) list->pdata, list->len);

  g_autofree char *path = recent_path ();
  g_autofree char *folder = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;
  if (g_mkdir_with_parents (folder, 0700) != 0 ||
      !g_key_file_save_to_file (kf, path, &error))
    g_debug ("cannot save recent models to %s: %s", path,
             error != NULL ? error->message : g_strerror (errno));
}
