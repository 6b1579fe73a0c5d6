/* test-session.c — the .attnscope session file, without GTK.
 *
 * Round trips keep every field exactly, texts with newlines, tabs, edge
 * spaces, escapes and odd Unicode included. Each malformed file (a key
 * wrong, missing or unknown, an unknown version, bytes that are not UTF-8,
 * a file too big, a FIFO, a directory) is refused with an error naming the
 * file and the cause, and never crashes or blocks. Saving writes whole
 * files, replaces sessions, and leaves any other file (a model's, a user's)
 * as it was.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "as-session.h"

static char *tmp_dir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

/* A session with every field away from its default. */
static AsSession *
full_session (void)
{
  AsSession *s = as_session_new ();
  s->model = g_strdup ("/opt/models/all-MiniLM-L6-v2");
  g_free (s->text);
  /* Edge spaces, a tab, CR LF, backslashes, key-file syntax, accents,
   * combining marks, right-to-left script, CJK, an emoji with ZWJ. */
  s->text = g_strdup ("  Line one\twith tab\r\nline two \\n not a newline; [group] key=value # no comment\n"
                      "é e\u0301 שלום 日本語 👩‍👩‍👧 end  ");
  g_free (s->pair);
  s->pair = g_strdup ("\nB starts with a newline and ends with one\n");
  g_free (s->compare);
  s->compare = g_strdup ("#not a comment\\");
  g_free (s->view);
  s->view = g_strdup ("teach");
  s->layer = 5;
  s->head = 11;
  s->token = 7;
  s->teach_step = AS_SESSION_MAX_TEACH_STEP;
  s->hide_special = TRUE;
  s->renormalise = TRUE;
  s->fit_scale = FALSE;
  s->words = TRUE;
  g_free (s->colormap);
  s->colormap = g_strdup ("magma");
  s->aggregate = AS_SHOWN_ROLLOUT;
  return s;
}

static void
assert_sessions_equal (const AsSession *a,
                       const AsSession *b)
{
  g_assert_cmpstr (a->model, ==, b->model);
  g_assert_cmpstr (a->text, ==, b->text);
  g_assert_cmpstr (a->pair, ==, b->pair);
  g_assert_cmpstr (a->compare, ==, b->compare);
  g_assert_cmpstr (a->view, ==, b->view);
  g_assert_cmpint (a->layer, ==, b->layer);
  g_assert_cmpint (a->head, ==, b->head);
  g_assert_cmpint (a->token, ==, b->token);
  g_assert_cmpint (a->teach_step, ==, b->teach_step);
  g_assert_cmpint (a->hide_special, ==, b->hide_special);
  g_assert_cmpint (a->renormalise, ==, b->renormalise);
  g_assert_cmpint (a->fit_scale, ==, b->fit_scale);
  g_assert_cmpint (a->words, ==, b->words);
  g_assert_cmpstr (a->colormap, ==, b->colormap);
  g_assert_cmpint (a->aggregate, ==, b->aggregate);
}

static AsSession *
round_trip (const AsSession *s,
            const char      *name)
{
  g_autofree char *path = tmp_path (name);
  g_autoptr(GError) error = NULL;
  g_assert_true (as_session_save (s, path, &error));
  g_assert_no_error (error);
  AsSession *back = as_session_load (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  return back;
}

static void
test_round_trip (void)
{
  g_autoptr(AsSession) s = full_session ();
  g_autoptr(AsSession) back = round_trip (s, "full.attnscope");
  assert_sessions_equal (s, back);

  /* The defaults survive too (empty texts, no token). */
  g_autoptr(AsSession) d = as_session_new ();
  d->model = g_strdup ("/m/SmolLM2.gguf");
  g_autoptr(AsSession) dback = round_trip (d, "defaults.attnscope");
  assert_sessions_equal (d, dback);
  g_assert_cmpint (dback->token, ==, -1);
  g_assert_true (dback->fit_scale);

  /* Every view, colour map and aggregate the format names. */
  for (const char * const *v = as_session_views (); *v != NULL; v++)
    {
      g_free (d->view);
      d->view = g_strdup (*v);
      g_autoptr(AsSession) b = round_trip (d, "view.attnscope");
      g_assert_cmpstr (b->view, ==, *v);
    }
  for (const char * const *c = as_session_colormaps (); *c != NULL; c++)
    {
      g_free (d->colormap);
      d->colormap = g_strdup (*c);
      g_autoptr(AsSession) b = round_trip (d, "colormap.attnscope");
      g_assert_cmpstr (b->colormap, ==, *c);
    }
  for (int agg = AS_SHOWN_HEAD; agg <= AS_SHOWN_ROLLOUT; agg++)
    {
      d->aggregate = agg;
      g_autoptr(AsSession) b = round_trip (d, "aggregate.attnscope");
      g_assert_cmpint (b->aggregate, ==, agg);
    }

  /* The longest text a session keeps, multi-byte characters throughout. */
  GString *big = g_string_new (NULL);
  while (big->len + strlen ("ü\n") <= AS_SESSION_TEXT_MAX)
    g_string_append (big, big->len % 3 == 0 ? "ü" : "\n");
  g_free (d->text);
  d->text = g_string_free (big, FALSE);
  g_autoptr(AsSession) bigback = round_trip (d, "big.attnscope");
  g_assert_cmpstr (bigback->text, ==, d->text);
}

/* The file as written: the magic line first, then the documented keys. */
static void
test_file_layout (void)
{
  g_autoptr(AsSession) s = full_session ();
  g_autofree char *path = tmp_path ("layout.attnscope");
  g_assert_true (as_session_save (s, path, NULL));
  g_autofree char *contents = NULL;
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_true (g_str_has_prefix (contents, AS_SESSION_MAGIC "\n[session]\nversion=1\n"));
  g_assert_nonnull (strstr (contents, "\nlayer=5\n"));
  g_assert_nonnull (strstr (contents, "\n[options]\n"));
  g_assert_nonnull (strstr (contents, "\naggregate=rollout\n"));
  /* Newlines in texts are escaped: every key sits on one line. */
  g_assert_null (strstr (contents, "\nline two"));
}

/* A relative model path is taken from the session's folder. */
static void
test_relative_model (void)
{
  g_autofree char *sub = tmp_path ("travel");
  g_assert_cmpint (g_mkdir_with_parents (sub, 0700), ==, 0);
  g_autofree char *path = g_build_filename (sub, "rel.attnscope", NULL);
  g_autoptr(AsSession) s = as_session_new ();
  s->model = g_strdup ("models/../models/tiny.gguf");
  g_assert_true (as_session_save (s, path, NULL));
  g_autoptr(GError) error = NULL;
  g_autoptr(AsSession) back = as_session_load (path, &error);
  g_assert_no_error (error);
  g_autofree char *want = g_build_filename (sub, "models", "tiny.gguf", NULL);
  g_assert_cmpstr (back->model, ==, want);
}

/* ---- malformed files ----------------------------------------------------- */

static const char valid[] =
  AS_SESSION_MAGIC "\n"
  "[session]\n"
  "version=1\n"
  "model=/m/all-MiniLM-L6-v2\n"
  "text=The cat sat.\n"
  "pair=\n"
  "compare=The dog sat.\n"
  "view=head\n"
  "layer=2\n"
  "head=3\n"
  "token=-1\n"
  "teach-step=embeddings\n"
  "[options]\n"
  "hide-special=false\n"
  "renormalise=false\n"
  "fit-scale=true\n"
  "words=false\n"
  "colormap=viridis\n"
  "aggregate=head\n";

/* VALID with the line "KEY=…" replaced by LINE (NULL: removed). */
static char *
with_line (const char *key,
           const char *line)
{
  g_auto(GStrv) lines = g_strsplit (valid, "\n", -1);
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree char *prefix = g_strconcat (key, "=", NULL);
  gboolean found = FALSE;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], prefix) && !found)
        {
          found = TRUE;
          if (line != NULL)
            g_string_append_printf (out, "%s\n", line);
          continue;
        }
      if (lines[i][0] != '\0')
        g_string_append_printf (out, "%s\n", lines[i]);
    }
  g_assert_true (found);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Loading CONTENTS (LENGTH bytes) fails with CODE, and the message names
 * the file and each of PARTS (NULL-terminated). */
static void
expect_refused_len (const char *contents,
                    gsize       length,
                    int         code,
                    ...)
{
  static int n;
  g_autofree char *name = g_strdup_printf ("bad-%d.attnscope", n++);
  g_autofree char *path = tmp_path (name);
  g_assert_true (g_file_set_contents (path, contents, (gssize) length, NULL));
  g_autoptr(GError) error = NULL;
  g_autoptr(AsSession) s = as_session_load (path, &error);
  g_assert_null (s);
  g_assert_error (error, AS_SESSION_ERROR, code);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, name));
  va_list args;
  va_start (args, code);
  for (const char *part = va_arg (args, const char *); part != NULL; part = va_arg (args, const char *))
    if (strstr (error->message, part) == NULL)
      g_error ("“%s” does not say “%s”", error->message, part);
  va_end (args);
}

#define expect_refused(contents, code, ...) \
  expect_refused_len ((contents), strlen (contents), (code), __VA_ARGS__, NULL)

static void
refuse_line (const char *key,
             const char *line,
             int         code,
             const char *part)
{
  g_autofree char *contents = with_line (key, line);
  g_autofree char *quoted = g_strdup_printf ("key “%s”", key);
  expect_refused (contents, code, quoted, part);
}

static void
test_valid_template (void)
{
  /* The template itself loads: each case below differs by one line. */
  g_autofree char *path = tmp_path ("valid.attnscope");
  g_assert_true (g_file_set_contents (path, valid, -1, NULL));
  g_autoptr(GError) error = NULL;
  g_autoptr(AsSession) s = as_session_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (s->text, ==, "The cat sat.");
  g_assert_cmpint (s->layer, ==, 2);
  g_assert_cmpint (s->head, ==, 3);
}

static void
test_bad_keys (void)
{
  refuse_line ("version", "version=2", AS_SESSION_ERROR_VERSION, "newer than this AttnScope reads");
  refuse_line ("version", "version=0", AS_SESSION_ERROR_INVALID, "outside");
  refuse_line ("version", "version=one", AS_SESSION_ERROR_INVALID, "not a whole number");
  refuse_line ("version", NULL, AS_SESSION_ERROR_INVALID, "missing");
  refuse_line ("model", NULL, AS_SESSION_ERROR_INVALID, "missing");
  refuse_line ("model", "model=", AS_SESSION_ERROR_INVALID, "empty");
  refuse_line ("text", NULL, AS_SESSION_ERROR_INVALID, "missing");
  refuse_line ("text", "text=a\\qb", AS_SESSION_ERROR_INVALID, "cannot be interpreted");
  refuse_line ("layer", "layer=4096", AS_SESSION_ERROR_INVALID, "4096 is outside 0 to 4095");
  refuse_line ("layer", "layer=99999999999999999999", AS_SESSION_ERROR_INVALID, "not a whole number");
  refuse_line ("layer", "layer=3x", AS_SESSION_ERROR_INVALID, "not a whole number");
  refuse_line ("head", "head=-1", AS_SESSION_ERROR_INVALID, "-1 is outside 0 to");
  refuse_line ("token", "token=-2", AS_SESSION_ERROR_INVALID, "outside -1 to");
  refuse_line ("teach-step", "teach-step=64", AS_SESSION_ERROR_INVALID, "“64” is not one of embeddings, query");
  refuse_line ("hide-special", "hide-special=yes", AS_SESSION_ERROR_INVALID, "neither true nor false");
  refuse_line ("fit-scale", NULL, AS_SESSION_ERROR_INVALID, "missing");
  refuse_line ("colormap", "colormap=rainbow", AS_SESSION_ERROR_INVALID, "“rainbow” is not one of viridis");
  refuse_line ("aggregate", "aggregate=sum", AS_SESSION_ERROR_INVALID, "“sum” is not one of head, mean");
  refuse_line ("view", "view=../../etc", AS_SESSION_ERROR_INVALID, "is not one of head");
  /* A typo is not silently a default; nor is a translated key. */
  g_autofree char *typo = with_line ("layer", "layr=2");
  expect_refused (typo, AS_SESSION_ERROR_INVALID, "key “layr”", "not a key of a version 1 session");
  g_autofree char *localized = with_line ("pair", "pair=\npair[fr]=Le chat.");
  expect_refused (localized, AS_SESSION_ERROR_INVALID, "key “pair[fr]”", "not a key");
}

static void
test_bad_structure (void)
{
  /* Another group, a missing group, no magic line, not a key file. */
  g_autofree char *extra = g_strconcat (valid, "[plugins]\nx=1\n", NULL);
  expect_refused (extra, AS_SESSION_ERROR_INVALID, "[plugins] is not a group");
  g_autofree char *no_options = g_strndup (valid, strstr (valid, "[options]") - valid);
  expect_refused (no_options, AS_SESSION_ERROR_INVALID, "group [options] is missing");
  expect_refused (valid + strlen (AS_SESSION_MAGIC "\n"), AS_SESSION_ERROR_INVALID,
                  "not an AttnScope session");
  expect_refused ("", AS_SESSION_ERROR_INVALID, "not an AttnScope session");
  expect_refused (AS_SESSION_MAGIC "\nthis is not a key file\n", AS_SESSION_ERROR_INVALID, "not a key file");
  expect_refused (AS_SESSION_MAGIC "\n[session\n", AS_SESSION_ERROR_INVALID, "not a key file");

  /* Bytes that are not UTF-8, in a text and in a key; a NUL. */
  g_autofree char *latin1 = with_line ("text", "text=caf\xe9");
  expect_refused (latin1, AS_SESSION_ERROR_INVALID, "not UTF-8");
  g_autofree char *bad_key = with_line ("view", "vi\xffw=head");
  expect_refused (bad_key, AS_SESSION_ERROR_INVALID, "not UTF-8");
  g_autofree char *overlong = with_line ("text", "text=\xc0\xaf");
  expect_refused (overlong, AS_SESSION_ERROR_INVALID, "not UTF-8");
  expect_refused_len (valid, sizeof valid, AS_SESSION_ERROR_INVALID, "not UTF-8", NULL);
}

static void
test_too_big (void)
{
  /* A text over the cap in a file under it. */
  g_autoptr(GString) text = g_string_new ("text=");
  for (gsize i = 0; i <= AS_SESSION_TEXT_MAX; i++)
    g_string_append_c (text, 'a');
  g_autofree char *long_text = with_line ("text", text->str);
  expect_refused (long_text, AS_SESSION_ERROR_INVALID, "key “text”", "more than the 1048576 allowed");

  /* A file over the cap: refused before it is parsed. */
  g_autoptr(GString) huge = g_string_new (valid);
  g_string_append (huge, "# ");
  while (huge->len <= AS_SESSION_FILE_MAX)
    g_string_append (huge, "padding padding padding padding\n# ");
  expect_refused_len (huge->str, huge->len, AS_SESSION_ERROR_READ, "cannot open the session", NULL);
}

static void
test_not_a_file (void)
{
  g_autoptr(GError) error = NULL;

  /* Missing. */
  g_autofree char *missing = tmp_path ("missing.attnscope");
  g_assert_null (as_session_load (missing, &error));
  g_assert_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_READ);
  g_assert_nonnull (strstr (error->message, "missing.attnscope"));
  g_clear_error (&error);

  /* A directory. */
  g_assert_null (as_session_load (tmp_dir, &error));
  g_assert_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_READ);
  g_clear_error (&error);

  /* A FIFO nobody writes to: refused at once, not waited on. */
  g_autofree char *fifo = tmp_path ("fifo.attnscope");
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  gint64 start = g_get_monotonic_time ();
  g_assert_null (as_session_load (fifo, &error));
  g_assert_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_READ);
  g_assert_nonnull (strstr (error->message, "fifo.attnscope"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_clear_error (&error);

  /* A device that never ends. */
  g_assert_null (as_session_load ("/dev/zero", &error));
  g_assert_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_READ);
}

/* ---- saving -------------------------------------------------------------- */

static void
assert_contents (const char *path,
                 const char *want)
{
  g_autofree char *contents = NULL;
  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, want);
}

static void
test_save_policy (void)
{
  g_autoptr(AsSession) s = full_session ();
  g_autoptr(GError) error = NULL;

  /* A session replaces a session. */
  g_autofree char *path = tmp_path ("replace.attnscope");
  g_assert_true (as_session_save (s, path, &error));
  s->layer = 1;
  g_assert_true (as_session_save (s, path, &error));
  g_assert_no_error (error);
  g_autoptr(AsSession) back = as_session_load (path, NULL);
  g_assert_cmpint (back->layer, ==, 1);

  /* Any other file stays as it was. */
  g_autofree char *notes = tmp_path ("notes.attnscope");
  g_assert_true (g_file_set_contents (notes, "my notes\n", -1, NULL));
  g_assert_false (as_session_save (s, notes, &error));
  g_assert_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_READ);
  g_assert_nonnull (strstr (error->message, "notes.attnscope"));
  g_assert_nonnull (strstr (error->message, "not an AttnScope session"));
  g_clear_error (&error);
  assert_contents (notes, "my notes\n");

  /* Nor is a file of the session's model replaced, even one that would
   * pass for a session. */
  g_autofree char *model_dir = tmp_path ("model");
  g_assert_cmpint (g_mkdir_with_parents (model_dir, 0700), ==, 0);
  g_autofree char *config = g_build_filename (model_dir, "config.json", NULL);
  g_assert_true (g_file_set_contents (config, AS_SESSION_MAGIC "\n", -1, NULL));
  g_free (s->model);
  s->model = g_strdup (model_dir);
  g_assert_false (as_session_save (s, config, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  assert_contents (config, AS_SESSION_MAGIC "\n");

  /* A folder that is not there: an error, and nothing written. */
  g_autofree char *nowhere = g_build_filename (tmp_dir, "no-such-folder", "x.attnscope", NULL);
  g_assert_false (as_session_save (s, nowhere, &error));
  g_assert_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_READ);
  g_assert_nonnull (strstr (error->message, "x.attnscope"));
  g_clear_error (&error);

  /* Nothing a loader would refuse is written. */
  g_autoptr(AsSession) bad = as_session_new ();
  g_autofree char *unnamed = tmp_path ("unnamed.attnscope");
  g_assert_false (as_session_save (bad, unnamed, &error));
  g_assert_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "no model"));
  g_clear_error (&error);
  bad->model = g_strdup ("/m");
  bad->layer = AS_SESSION_MAX_LAYER + 1;
  g_assert_false (as_session_save (bad, unnamed, &error));
  g_assert_error (error, AS_SESSION_ERROR, AS_SESSION_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (g_file_test (unnamed, G_FILE_TEST_EXISTS));

  /* No temporary left behind by any of it: only the files named above. */
  g_autoptr(GDir) dir = g_dir_open (tmp_dir, 0, NULL);
  for (const char *name = g_dir_read_name (dir); name != NULL; name = g_dir_read_name (dir))
    g_assert_false (name[0] == '.');
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  tmp_dir = g_dir_make_tmp ("attnscope-session-XXXXXX", NULL);
  g_assert_nonnull (tmp_dir);

  g_test_add_func ("/session/round-trip", test_round_trip);
  g_test_add_func ("/session/file-layout", test_file_layout);
  g_test_add_func ("/session/relative-model", test_relative_model);
  g_test_add_func ("/session/valid-template", test_valid_template);
  g_test_add_func ("/session/bad-keys", test_bad_keys);
  g_test_add_func ("/session/bad-structure", test_bad_structure);
  g_test_add_func ("/session/too-big", test_too_big);
  g_test_add_func ("/session/not-a-file", test_not_a_file);
  g_test_add_func ("/session/save-policy", test_save_policy);

  int status = g_test_run ();
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp_dir);
  if (system (cmd) != 0)
    g_printerr ("could not remove %s\n", tmp_dir);
  g_free (tmp_dir);
  return status;
}
