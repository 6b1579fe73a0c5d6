/* as-recent-models.c */
#include "as-recent-models.h"

#include <errno.h>

#include "as-file-read.h"

/* One list of the file: its key, and which paths still count. */
typedef struct {
  const char *key;
  gboolean  (*usable) (const char *path);
} RecentList;

static gboolean
is_model (const char *path)
{
  return g_file_test (path, G_FILE_TEST_IS_DIR) ||
         (g_str_has_suffix (path, ".gguf") && g_file_test (path, G_FILE_TEST_IS_REGULAR));
}

static gboolean
is_session (const char *path)
{
  return g_file_test (path, G_FILE_TEST_IS_REGULAR);
}

static const RecentList models = { "models", is_model };
static const RecentList sessions = { "sessions", is_session };

static char *
recent_path (void)
{
  return g_build_filename (g_get_user_config_dir (), "attnscope", "recent-models.ini", NULL);
}

/* The file, or an empty key file when there is none or it cannot be used. */
static GKeyFile *
load_file (void)
{
  g_autofree char *path = recent_path ();
  GKeyFile *kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  /* The file is ours but anything can sit at its path: a FIFO would block
   * the window from ever appearing, a huge file would eat memory. Such a
   * file counts as no recent models, said once per run, not as a warning:
   * the app works without it, and the next save replaces it. */
  if (!g_file_test (path, G_FILE_TEST_EXISTS) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    return kf;
  if (!as_file_read_regular (path, AS_FILE_CAP_LIST, &contents, &length, &error) ||
      !g_key_file_load_from_data (kf, contents, length, G_KEY_FILE_NONE, &error))
    {
      static gboolean said;
      if (!said)
        g_message ("ignoring the recent models list: %s", error->message);
      said = TRUE;
      g_key_file_unref (kf);
      return g_key_file_new ();
    }
  return kf;
}

static char **
list_from (GKeyFile         *kf,
           const RecentList *list)
{
  g_autoptr(GStrvBuilder) out = g_strv_builder_new ();
  g_auto(GStrv) paths = g_key_file_get_string_list (kf, "recent", list->key, NULL, NULL);
  for (guint i = 0; paths != NULL && paths[i] != NULL && i < AS_RECENT_MODELS_MAX; i++)
    if (list->usable (paths[i]))
      g_strv_builder_add (out, paths[i]);
  return g_strv_builder_end (out);
}

static char **
load_list (const RecentList *list)
{
  g_autoptr(GKeyFile) kf = load_file ();
  return list_from (kf, list);
}

static void
add_to_list (const RecentList *list,
             const char       *path)
{
  g_autoptr(GKeyFile) kf = load_file ();
  g_auto(GStrv) old = list_from (kf, list);
  g_autoptr(GPtrArray) items = g_ptr_array_new ();

  g_ptr_array_add (items, (gpointer) path);
  for (guint i = 0; old[i] != NULL && items->len < AS_RECENT_MODELS_MAX; i++)
    if (g_strcmp0 (old[i], path) != 0)
      g_ptr_array_add (items, old[i]);

  /* The other list is kept as it was read. */
  g_key_file_set_string_list (kf, "recent", list->key, (const char * const *) items->pdata, items->len);
  gsize length = 0;
  g_autofree char *data = g_key_file_to_data (kf, &length, NULL);

  g_autofree char *file = recent_path ();
  g_autofree char *folder = g_path_get_dirname (file);
  g_autoptr(GError) error = NULL;
  /* Written to a new file and renamed over the old name: a reader never
   * sees half a list, and whatever sat at the path (a FIFO, a link) is
   * replaced, never opened or followed. */
  if (g_mkdir_with_parents (folder, 0700) != 0 ||
      !g_file_set_contents_full (file, data, (gssize) length, G_FILE_SET_CONTENTS_CONSISTENT,
                                 0600, &error))
    g_debug ("cannot save recent models to %s: %s", file,
             error != NULL ? error->message : g_strerror (errno));
}

char **
as_recent_models_load (void)
{
  return load_list (&models);
}

void
as_recent_models_add (const char *dir)
{
  add_to_list (&models, dir);
}

char **
as_recent_sessions_load (void)
{
  return load_list (&sessions);
}

void
as_recent_sessions_add (const char *path)
{
  add_to_list (&sessions, path);
}
