/* as-recent-models.c */
#include "as-recent-models.h"

#include <errno.h>

#include "as-file-read.h"

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
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  /* The file is ours but anything can sit at its path: a FIFO would block
   * the window from ever appearing, a huge file would eat memory. Such a
   * file counts as no recent models, said once per run, not as a warning:
   * the app works without it, and the next save replaces it. */
  if (!g_file_test (path, G_FILE_TEST_EXISTS) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    return g_strv_builder_end (out);
  if (!as_file_read_regular (path, AS_FILE_CAP_LIST, &contents, &length, &error) ||
      !g_key_file_load_from_data (kf, contents, length, G_KEY_FILE_NONE, &error))
    {
      static gboolean said;
      if (!said)
        g_message ("ignoring the recent models list: %s", error->message);
      said = TRUE;
      return g_strv_builder_end (out);
    }

  g_auto(GStrv) dirs = g_key_file_get_string_list (kf, "recent", "models", NULL, NULL);
  for (guint i = 0; dirs != NULL && dirs[i] != NULL && i < AS_RECENT_MODELS_MAX; i++)
    if (g_file_test (dirs[i], G_FILE_TEST_IS_DIR) ||
        (g_str_has_suffix (dirs[i], ".gguf") && g_file_test (dirs[i], G_FILE_TEST_IS_REGULAR)))
      g_strv_builder_add (out, dirs[i]);
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
  gsize length = 0;
  g_autofree char *data = g_key_file_to_data (kf, &length, NULL);

  g_autofree char *path = recent_path ();
  g_autofree char *folder = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;
  /* Written to a new file and renamed over the old name: a reader never
   * sees half a list, and whatever sat at the path (a FIFO, a link) is
   * replaced, never opened or followed. */
  if (g_mkdir_with_parents (folder, 0700) != 0 ||
      !g_file_set_contents_full (path, data, (gssize) length, G_FILE_SET_CONTENTS_CONSISTENT,
                                 0600, &error))
    g_debug ("cannot save recent models to %s: %s", path,
             error != NULL ? error->message : g_strerror (errno));
}
