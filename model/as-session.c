/* as-session.c — the .attnscope file: GKeyFile in, checked; GKeyFile out, whole. */
#include "as-session.h"

#include <string.h>

#include "as-file-read.h"
#include "as-model.h"
#include "as-output-file.h"

G_DEFINE_QUARK (as-session-error-quark, as_session_error)

#define GROUP_SESSION "session"
#define GROUP_OPTIONS "options"

/* The detail pages of the window, by their stack names. */
/* The file's names of the teaching steps, in AsTeachStep order. */
static const char * const teach_steps[] = {
  "embeddings", "query", "keys", "scores", "scale", "mask", "softmax", "output",
  "heads", "residual", "ffn", "layer-output", "padding", NULL
};
G_STATIC_ASSERT (G_N_ELEMENTS (teach_steps) == AS_SESSION_N_TEACH_STEPS + 1);

static const char * const views[] = {
  "head", "lines", "stats", "teach", "compare", "next", "lens", "mlm", "ablate", NULL
};

/* The colour maps, by the names as-colormap.h gives them (the tests check
 * that the two lists agree). */
static const char * const colormaps[] = { "viridis", "magma", "blues", "greys", NULL };

/* Every key a version-1 file may hold; any other is refused, so a typo
 * ("layr=3") is not silently a default. */
static const char * const session_keys[] = {
  "version", "model", "text", "pair", "compare", "view", "layer", "head", "token", "teach-step", NULL
};
static const char * const option_keys[] = {
  "hide-special", "renormalise", "fit-scale", "words", "colormap", "aggregate", NULL
};

const char * const *
as_session_views (void)
{
  return views;
}

const char * const *
as_session_teach_steps (void)
{
  return teach_steps;
}

const char * const *
as_session_colormaps (void)
{
  return colormaps;
}

AsSession *
as_session_new (void)
{
  AsSession *s = g_new0 (AsSession, 1);
  s->text = g_strdup ("");
  s->pair = g_strdup ("");
  s->compare = g_strdup ("");
  s->view = g_strdup ("head");
  s->token = -1;
  s->fit_scale = TRUE;
  s->colormap = g_strdup ("viridis");
  s->aggregate = AS_SHOWN_HEAD;
  return s;
}

void
as_session_free (AsSession *session)
{
  if (session == NULL)
    return;
  g_free (session->model);
  g_free (session->text);
  g_free (session->pair);
  g_free (session->compare);
  g_free (session->view);
  g_free (session->colormap);
  g_free (session);
}

/* ---- loading ------------------------------------------------------------- */

/* The parsed file and its name: every message says which file, and which
 * key, is wrong. */
typedef struct {
  GKeyFile   *kf;
  const char *name;   /* the file, for messages (UTF-8) */
} Reader;

static gboolean G_GNUC_PRINTF (5, 6)
fail_key (const Reader  *r,
          const char    *group,
          const char    *key,
          GError       **error,
          const char    *format,
          ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *why = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_INVALID,
               "“%s”: key “%s” in [%s]: %s", r->name, key, group, why);
  return FALSE;
}

static gboolean
check_known_keys (const Reader        *r,
                  const char          *group,
                  const char * const  *known,
                  GError             **error)
{
  g_auto(GStrv) keys = g_key_file_get_keys (r->kf, group, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    if (!g_strv_contains (known, keys[i]))
      return fail_key (r, group, keys[i], error, "not a key of a version %d session", AS_SESSION_VERSION);
  return TRUE;
}

/* A required string of at most MAX bytes (escapes undone). */
static char *
read_string (const Reader  *r,
             const char    *group,
             const char    *key,
             gsize          max,
             GError       **error)
{
  if (!g_key_file_has_key (r->kf, group, key, NULL))
    {
      fail_key (r, group, key, error, "missing");
      return NULL;
    }
  g_autoptr(GError) local = NULL;
  g_autofree char *value = g_key_file_get_string (r->kf, group, key, &local);
  if (local != NULL)
    {
      fail_key (r, group, key, error, "%s", local->message);
      return NULL;
    }
  if (strlen (value) > max)
    {
      fail_key (r, group, key, error, "%" G_GSIZE_FORMAT " bytes, more than the %" G_GSIZE_FORMAT " allowed",
                strlen (value), max);
      return NULL;
    }
  return g_steal_pointer (&value);
}

/* A required name from NAMES. */
static char *
read_name (const Reader        *r,
           const char          *group,
           const char          *key,
           const char * const  *names,
           GError             **error)
{
  g_autofree char *value = read_string (r, group, key, 64, error);
  if (value == NULL)
    return NULL;
  if (!g_strv_contains (names, value))
    {
      g_autofree char *list = g_strjoinv (", ", (char **) names);
      fail_key (r, group, key, error, "“%s” is not one of %s", value, list);
      return NULL;
    }
  return g_steal_pointer (&value);
}

/* A required integer in LO .. HI, written as plain decimal digits. */
static gboolean
read_int (const Reader  *r,
          const char    *group,
          const char    *key,
          int            lo,
          int            hi,
          int           *out,
          GError       **error)
{
  g_autofree char *value = read_string (r, group, key, 64, error);
  if (value == NULL)
    return FALSE;
  gint64 v = 0;
  g_autoptr(GError) local = NULL;
  if (!g_ascii_string_to_signed (value, 10, G_MININT64, G_MAXINT64, &v, &local))
    return fail_key (r, group, key, error, "“%s” is not a whole number", value);
  if (v < lo || v > hi)
    return fail_key (r, group, key, error, "%" G_GINT64_FORMAT " is outside %d to %d", v, lo, hi);
  *out = (int) v;
  return TRUE;
}

static gboolean
read_bool (const Reader  *r,
           const char    *group,
           const char    *key,
           gboolean      *out,
           GError       **error)
{
  g_autofree char *value = read_string (r, group, key, 64, error);
  if (value == NULL)
    return FALSE;
  if (g_str_equal (value, "true"))
    *out = TRUE;
  else if (g_str_equal (value, "false"))
    *out = FALSE;
  else
    return fail_key (r, group, key, error, "“%s” is neither true nor false", value);
  return TRUE;
}

/* The bytes are UTF-8 without NUL, and start with the magic line. */
static gboolean
check_text (const char  *data,
            gsize        length,
            const char  *name,
            GError     **error)
{
  const char *bad = NULL;
  const char *nul = memchr (data, '\0', length);
  if (nul != NULL || !g_utf8_validate_len (data, length, &bad))
    {
      g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_INVALID,
                   "“%s”: not UTF-8 text (bad byte at offset %" G_GSIZE_FORMAT ")", name,
                   (gsize) ((nul != NULL ? nul : bad) - data));
      return FALSE;
    }
  if (length < strlen (AS_SESSION_MAGIC "\n") || memcmp (data, AS_SESSION_MAGIC "\n", strlen (AS_SESSION_MAGIC "\n")) != 0)
    {
      g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_INVALID,
                   "“%s”: not an AttnScope session (its first line is not “%s”)", name, AS_SESSION_MAGIC);
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_version (const Reader  *r,
              GError       **error)
{
  int version = 0;
  if (!read_int (r, GROUP_SESSION, "version", 1, G_MAXINT, &version, error))
    return FALSE;
  if (version != AS_SESSION_VERSION)
    {
      g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_VERSION,
                   "“%s”: key “version” in [session]: version %d is newer than this AttnScope "
                   "reads (%d); open it with a newer AttnScope", r->name, version, AS_SESSION_VERSION);
      return FALSE;
    }
  return TRUE;
}

/* The model path, absolute: a relative one is taken from the session's
 * folder, so a session can travel with its model. */
static char *
read_model (const Reader  *r,
            const char    *base_dir,
            GError       **error)
{
  g_autofree char *model = read_string (r, GROUP_SESSION, "model", 4096, error);
  if (model == NULL)
    return NULL;
  if (*model == '\0')
    {
      fail_key (r, GROUP_SESSION, "model", error, "empty: a session names its model");
      return NULL;
    }
  if (g_path_is_absolute (model))
    return g_steal_pointer (&model);
  g_autofree char *joined = g_build_filename (base_dir, model, NULL);
  g_autoptr(GFile) file = g_file_new_for_path (joined);
  return g_file_get_path (file);
}

static gboolean
read_teach_step (const Reader  *r,
                 AsSession     *s,
                 GError       **error)
{
  g_autofree char *name = read_name (r, GROUP_SESSION, "teach-step", teach_steps, error);
  if (name == NULL)
    return FALSE;
  for (s->teach_step = 0; g_strcmp0 (teach_steps[s->teach_step], name) != 0; s->teach_step++)
    ;
  return TRUE;
}

static gboolean
read_session_keys (const Reader  *r,
                   const char    *base_dir,
                   AsSession     *s,
                   GError       **error)
{
  char *view = NULL;
  if (!check_known_keys (r, GROUP_SESSION, session_keys, error) ||
      !read_version (r, error) ||
      (s->model = read_model (r, base_dir, error)) == NULL)
    return FALSE;

  struct { const char *key; char **field; } texts[] = {
    { "text", &s->text }, { "pair", &s->pair }, { "compare", &s->compare },
  };
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      char *value = read_string (r, GROUP_SESSION, texts[i].key, AS_SESSION_TEXT_MAX, error);
      if (value == NULL)
        return FALSE;
      g_free (*texts[i].field);
      *texts[i].field = value;
    }
  if ((view = read_name (r, GROUP_SESSION, "view", views, error)) == NULL)
    return FALSE;
  g_free (s->view);
  s->view = view;
  return read_int (r, GROUP_SESSION, "layer", 0, AS_SESSION_MAX_LAYER, &s->layer, error) &&
         read_int (r, GROUP_SESSION, "head", 0, AS_SESSION_MAX_HEAD, &s->head, error) &&
         read_int (r, GROUP_SESSION, "token", -1, AS_SESSION_MAX_TOKEN, &s->token, error) &&
         read_teach_step (r, s, error);
}

static gboolean
read_option_keys (const Reader  *r,
                  AsSession     *s,
                  GError       **error)
{
  static const char * const aggregates[] = { "head", "mean", "max", "rollout", NULL };
  g_autofree char *aggregate = NULL;
  char *colormap = NULL;

  if (!check_known_keys (r, GROUP_OPTIONS, option_keys, error) ||
      !read_bool (r, GROUP_OPTIONS, "hide-special", &s->hide_special, error) ||
      !read_bool (r, GROUP_OPTIONS, "renormalise", &s->renormalise, error) ||
      !read_bool (r, GROUP_OPTIONS, "fit-scale", &s->fit_scale, error) ||
      !read_bool (r, GROUP_OPTIONS, "words", &s->words, error) ||
      (colormap = read_name (r, GROUP_OPTIONS, "colormap", colormaps, error)) == NULL)
    return FALSE;
  g_free (s->colormap);
  s->colormap = colormap;
  if ((aggregate = read_name (r, GROUP_OPTIONS, "aggregate", aggregates, error)) == NULL)
    return FALSE;
  s->aggregate = (AsShownAggregate) as_shown_aggregate_from_name (aggregate);
  return TRUE;
}

AsSession *
as_session_parse (const char  *data,
                  gsize        length,
                  const char  *name,
                  const char  *base_dir,
                  GError     **error)
{
  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (name != NULL && base_dir != NULL, NULL);

  if (length > AS_SESSION_FILE_MAX)
    {
      g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_INVALID,
                   "“%s”: %" G_GSIZE_FORMAT " bytes, more than a session can be (%" G_GSIZE_FORMAT ")",
                   name, length, AS_SESSION_FILE_MAX);
      return NULL;
    }
  if (!check_text (data, length, name, error))
    return NULL;

  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) local = NULL;
  /* Translations are kept so that they are refused as unknown keys in
   * every locale, not dropped in some and read in others. */
  if (!g_key_file_load_from_data (kf, data, length, G_KEY_FILE_KEEP_TRANSLATIONS, &local))
    {
      g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_INVALID, "“%s”: not a key file: %s",
                   name, local->message);
      return NULL;
    }
  g_auto(GStrv) groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    if (!g_str_equal (groups[i], GROUP_SESSION) && !g_str_equal (groups[i], GROUP_OPTIONS))
      {
        g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_INVALID,
                     "“%s”: [%s] is not a group of a session", name, groups[i]);
        return NULL;
      }
  if (!g_key_file_has_group (kf, GROUP_SESSION) || !g_key_file_has_group (kf, GROUP_OPTIONS))
    {
      g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_INVALID, "“%s”: group [%s] is missing",
                   name, g_key_file_has_group (kf, GROUP_SESSION) ? GROUP_OPTIONS : GROUP_SESSION);
      return NULL;
    }

  Reader r = { kf, name };
  g_autoptr(AsSession) s = as_session_new ();
  if (!read_session_keys (&r, base_dir, s, error) || !read_option_keys (&r, s, error))
    return NULL;
  return g_steal_pointer (&s);
}

AsSession *
as_session_load (const char  *path,
                 GError     **error)
{
  g_return_val_if_fail (path != NULL, NULL);

  g_autofree char *name = g_filename_display_name (path);
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_autoptr(GError) local = NULL;
  if (!as_file_read_regular (path, AS_SESSION_FILE_MAX, &contents, &length, &local))
    {
      /* as_file_read_regular names the path and the cause. */
      g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_READ, "cannot open the session: %s",
                   local->message);
      return NULL;
    }
  g_autofree char *dir = g_path_get_dirname (path);
  return as_session_parse (contents, length, name, dir, error);
}

/* ---- saving -------------------------------------------------------------- */

/* What a save would check on load, so no file is written that cannot be
 * opened again. */
static gboolean
check_saveable (const AsSession  *s,
                const char       *name,
                GError          **error)
{
  const char *why = NULL;
  if (s->model == NULL || *s->model == '\0')
    why = "no model to name";
  else if (!g_utf8_validate (s->model, -1, NULL))
    why = "the model's path is not UTF-8";
  else if (!g_utf8_validate (s->text, -1, NULL) || !g_utf8_validate (s->pair, -1, NULL) ||
           !g_utf8_validate (s->compare, -1, NULL))
    why = "a text is not UTF-8";
  else if (strlen (s->text) > AS_SESSION_TEXT_MAX || strlen (s->pair) > AS_SESSION_TEXT_MAX ||
           strlen (s->compare) > AS_SESSION_TEXT_MAX)
    why = "a text is longer than a session keeps (1 MiB)";
  else if (!g_strv_contains (views, s->view) || !g_strv_contains (colormaps, s->colormap) ||
           s->layer < 0 || s->layer > AS_SESSION_MAX_LAYER || s->head < 0 || s->head > AS_SESSION_MAX_HEAD ||
           s->token < -1 || s->token > AS_SESSION_MAX_TOKEN ||
           s->teach_step < 0 || s->teach_step > AS_SESSION_MAX_TEACH_STEP ||
           as_shown_aggregate_name (s->aggregate) == NULL)
    why = "a value is out of range";
  if (why != NULL)
    g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_INVALID, "cannot save “%s”: %s", name, why);
  return why == NULL;
}

/* An existing regular file is replaced only when it is a session: a Save
 * dialog confirmed replacing the user's session, not any file that has
 * that name. */
static gboolean
check_replaceable (const char  *path,
                   const char  *name,
                   GError     **error)
{
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return TRUE;
  g_autofree char *contents = NULL;
  gsize length = 0;
  if (as_file_read_regular (path, AS_SESSION_FILE_MAX, &contents, &length, NULL) &&
      g_str_has_prefix (contents, AS_SESSION_MAGIC "\n"))
    return TRUE;
  g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_READ,
               "“%s” exists and is not an AttnScope session: it was left as it is; "
               "choose another name", name);
  return FALSE;
}

static char *
session_to_data (const AsSession *s,
                 gsize           *length)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_key_file_set_integer (kf, GROUP_SESSION, "version", AS_SESSION_VERSION);
  g_key_file_set_string (kf, GROUP_SESSION, "model", s->model);
  g_key_file_set_string (kf, GROUP_SESSION, "text", s->text);
  g_key_file_set_string (kf, GROUP_SESSION, "pair", s->pair);
  g_key_file_set_string (kf, GROUP_SESSION, "compare", s->compare);
  g_key_file_set_string (kf, GROUP_SESSION, "view", s->view);
  g_key_file_set_integer (kf, GROUP_SESSION, "layer", s->layer);
  g_key_file_set_integer (kf, GROUP_SESSION, "head", s->head);
  g_key_file_set_integer (kf, GROUP_SESSION, "token", s->token);
  g_key_file_set_string (kf, GROUP_SESSION, "teach-step", teach_steps[s->teach_step]);
  g_key_file_set_boolean (kf, GROUP_OPTIONS, "hide-special", s->hide_special);
  g_key_file_set_boolean (kf, GROUP_OPTIONS, "renormalise", s->renormalise);
  g_key_file_set_boolean (kf, GROUP_OPTIONS, "fit-scale", s->fit_scale);
  g_key_file_set_boolean (kf, GROUP_OPTIONS, "words", s->words);
  g_key_file_set_string (kf, GROUP_OPTIONS, "colormap", s->colormap);
  g_key_file_set_string (kf, GROUP_OPTIONS, "aggregate", as_shown_aggregate_name (s->aggregate));
  gsize n = 0;
  g_autofree char *body = g_key_file_to_data (kf, &n, NULL);
  char *data = g_strconcat (AS_SESSION_MAGIC "\n", body, NULL);
  *length = strlen (data);
  return data;
}

gboolean
as_session_save (const AsSession  *session,
                 const char       *path,
                 GError          **error)
{
  g_return_val_if_fail (session != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  g_autofree char *name = g_filename_display_name (path);
  if (!check_saveable (session, name, error) || !check_replaceable (path, name, error))
    return FALSE;

  gsize length = 0;
  g_autofree char *data = session_to_data (session, &length);
  /* A session must never take the place of a file its model is read from. */
  g_auto(GStrv) protect = as_model_list_files_in (session->model);
  g_autoptr(GError) local = NULL;
  AsOutputFile *out = as_output_file_open (path, (const char * const *) protect, &local);
  if (out != NULL)
    {
      fwrite (data, 1, length, as_output_file_stream (out));
      if (as_output_file_commit (out, &local))
        return TRUE;
    }
  g_set_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_READ, "cannot save the session: %s", local->message);
  return FALSE;
}
