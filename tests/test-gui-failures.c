/* test-gui-failures.c — what the window does when things go wrong, under
 * Xvfb.
 *
 * A model whose attention overflows to NaN or infinity must give a message,
 * never a picture of the NaNs (drawn as 0, "-nan" in tooltips) or the
 * previous text's picture passing for this one. A recent-models file that
 * is a FIFO (or a link to a device) must not keep the window from
 * appearing, and is replaced, never followed, when the list is saved.
 */
#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "as-compare-view.h"
#include "gui-test-util.h"

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;
static char *tmp_dir;

/* ---- a model that overflows --------------------------------------------- */

static void
copy_file (const char *from_dir,
           const char *to_dir,
           const char *name)
{
  g_autofree char *from = g_build_filename (from_dir, name, NULL);
  g_autofree char *to = g_build_filename (to_dir, name, NULL);
  g_autoptr(GFile) src = g_file_new_for_path (from);
  g_autoptr(GFile) dst = g_file_new_for_path (to);
  g_autoptr(GError) error = NULL;
  if (!g_file_test (from, G_FILE_TEST_EXISTS))
    return;
  g_assert_true (g_file_copy (src, dst, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
}

/* Multiplies the F32 tensor whose name ends in SUFFIX by FACTOR, in the
 * safetensors image DATA (8-byte little-endian header length, a JSON
 * header of dtype/shape/data_offsets relative to the data after it). */
static void
scale_tensor (char       *data,
              gsize       length,
              const char *suffix,
              float       factor)
{
  guint64 header_len = GUINT64_FROM_LE (*(guint64 *) data);
  g_assert_cmpuint (8 + header_len, <=, length);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_assert_true (json_parser_load_from_data (parser, data + 8, (gssize) header_len, &error));
  JsonObject *header = json_node_get_object (json_parser_get_root (parser));
  g_autoptr(GList) names = json_object_get_members (header);
  for (GList *l = names; l != NULL; l = l->next)
    {
      if (!g_str_has_suffix (l->data, suffix))
        continue;
      JsonObject *t = json_object_get_object_member (header, l->data);
      g_assert_cmpstr (json_object_get_string_member (t, "dtype"), ==, "F32");
      JsonArray *off = json_object_get_array_member (t, "data_offsets");
      gsize begin = 8 + header_len + (gsize) json_array_get_int_element (off, 0);
      gsize end = 8 + header_len + (gsize) json_array_get_int_element (off, 1);
      g_assert_cmpuint (end, <=, length);
      for (gsize at = begin; at + 4 <= end; at += 4)
        {
          float v;
          memcpy (&v, data + at, 4);   /* the data need not be aligned */
          v *= factor;
          memcpy (data + at, &v, 4);
        }
      return;
    }
  g_error ("no tensor ending in %s", suffix);
}

/* The default model with layer 1's query and key weights scaled by 1e18:
 * the scores overflow float, so layer 1's attention is NaN. */
static char *
make_overflow_model (void)
{
  g_autofree char *src = as_model_default_dir ();
  char *dir = g_build_filename (tmp_dir, "overflow-model", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  const char *small[] = { "config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json" };
  for (guint i = 0; i < G_N_ELEMENTS (small); i++)
    copy_file (src, dir, small[i]);

  g_autofree char *weights = g_build_filename (src, "model.safetensors", NULL);
  g_autofree char *data = NULL;
  gsize length;
  g_assert_true (g_file_get_contents (weights, &data, &length, NULL));
  scale_tensor (data, length, "layer.0.attention.self.query.weight", 1e18f);
  scale_tensor (data, length, "layer.0.attention.self.key.weight", 1e18f);
  g_autofree char *out = g_build_filename (dir, "model.safetensors", NULL);
  g_assert_true (g_file_set_contents (out, data, (gssize) length, NULL));
  return dir;
}

static gboolean
settled (gpointer data)
{
  return !as_worker_is_loading (as_window_get_worker (window)) && as_window_is_idle (window);
}

/* B's own failure, or no A to compare with: never a picture. */
static gboolean
compare_has_message (gpointer view)
{
  const char *m = as_compare_view_get_message (view);
  return m != NULL && (strstr (m, "not finite") != NULL || g_str_has_prefix (m, "No analysis of the sentence"));
}

static GtkWidget *
label_starting (const char *prefix)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();
  g_ptr_array_add (stack, window);
  while (stack->len > 0)
    {
      GtkWidget *w = g_ptr_array_steal_index (stack, stack->len - 1);
      if (GTK_IS_LABEL (w) && g_str_has_prefix (gtk_label_get_text (GTK_LABEL (w)), prefix))
        return w;
      /* Not into tooltips and popovers: their own surfaces. */
      for (GtkWidget *c = gtk_widget_get_first_child (w); c != NULL; c = gtk_widget_get_next_sibling (c))
        if (!GTK_IS_NATIVE (c))
          g_ptr_array_add (stack, c);
    }
  return NULL;
}

/* The status page shown in place of the views, or NULL. */
static AdwStatusPage *
failure_page (void)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();
  g_ptr_array_add (stack, window);
  while (stack->len > 0)
    {
      GtkWidget *w = g_ptr_array_steal_index (stack, stack->len - 1);
      if (ADW_IS_STATUS_PAGE (w) && gtk_widget_get_mapped (w))
        return ADW_STATUS_PAGE (w);
      for (GtkWidget *c = gtk_widget_get_first_child (w); c != NULL; c = gtk_widget_get_next_sibling (c))
        g_ptr_array_add (stack, c);
    }
  return NULL;
}

static void
test_not_finite (void)
{
  gui_test_wait_idle (window, 120);
  g_autofree char *dir = make_overflow_model ();
  AsViewState *state = as_window_get_view_state (window);

  as_window_open_model (window, dir);
  /* The toast, looked for from the start: it times out. */
  gui_test_wait_toast (GTK_WIDGET (window), "This model's attention is not finite on this text: nothing to show");
  gui_test_wait_until (settled, NULL, 120);

  /* A message, in words and with where it happened… */
  const char *status = as_window_get_status_text (window);
  g_test_message ("status: %s", status);
  g_assert_true (g_str_has_prefix (status, "Not analysed: layer 1, head "));
  g_assert_nonnull (strstr (status, "not finite"));
  GtkWidget *status_label = label_starting ("Not analysed:");
  g_assert_nonnull (status_label);
  g_assert_true (gtk_widget_has_css_class (status_label, "error"));
  /* In place of the views, what happened and what to do. */
  g_assert_nonnull (failure_page ());
  g_assert_true (g_str_has_prefix (adw_status_page_get_description (ADW_STATUS_PAGE (failure_page ())),
                                   "Layer 1, head "));

  /* …and no picture: not of the NaNs, not of the previous text. */
  g_assert_null (as_view_state_get_analysis (state));
  g_assert_cmpint (gui_test_head_rows_shown (as_window_get_head_view (window)), ==, 0);
  AsModelGrid *grid = as_window_get_model_grid (window);
  AsTraceDraw draw;
  g_assert_false (gui_test_redraw (GTK_WIDGET (grid), 'g', &draw));
  g_assert_null (as_model_grid_get_caption (grid));
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "compare");
  GtkWidget *compare = gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_COMPARE_VIEW, NULL);
  gui_test_wait_until (compare_has_message, compare, 60);
  /* No B to show, no difference, and nothing on its way. */
  g_assert_null (as_compare_view_get_analysis (AS_COMPARE_VIEW (compare)));
  g_assert_null (as_compare_view_get_diff (AS_COMPARE_VIEW (compare), NULL));
  gboolean busy = TRUE;
  g_object_get (compare, "busy", &busy, NULL);
  g_assert_false (busy);
  gui_test_capture_screen (NULL, "failure-not-finite-compare.png");
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "head");
  gui_test_capture_screen (NULL, "failure-not-finite.png");

  /* Nothing to export, and it says so instead of opening a file chooser. */
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  g_assert_true (gui_test_press (GTK_WINDOW (window), "<Control>e"));
  /* Its toast shows once those before it have timed out. */
  gui_test_wait_toast (GTK_WIDGET (window), "Export failed: There is no analysis on screen to export.");
  g_assert_null (gui_test_find_toplevel (GTK_TYPE_FILE_CHOOSER_DIALOG));

  /* Another text: the same. */
  gtk_editable_set_text (as_window_get_entry_a (window), "Still overflowing.");
  gui_test_wait_until (settled, NULL, 120);
  g_assert_true (g_str_has_prefix (as_window_get_status_text (window), "Not analysed: layer 1"));
  g_assert_null (as_view_state_get_analysis (state));

  /* A good model again: pictures and a plain status line are back. */
  g_autofree char *good = as_model_default_dir ();
  as_window_open_model (window, good);
  gui_test_wait_until (settled, NULL, 120);
  g_assert_nonnull (as_view_state_get_analysis (state));
  g_assert_nonnull (strstr (as_window_get_status_text (window), " tokens · 6 layers × 12 heads"));
  g_assert_false (gtk_widget_has_css_class (status_label, "error"));
  g_assert_null (failure_page ());
  gtk_editable_set_text (as_window_get_entry_a (window), AS_SAMPLE_SENTENCE);
  gui_test_wait_idle (window, 120);
}

/* ---- a recent-models file that is not a file ------------------------------- */

typedef struct {
  const char   *path;   /* the recent-models file */
  const char   *model;  /* what it must name once saved */
  GuiTestChild *child;
} SavedWait;

static gboolean
saved_as_regular (const SavedWait *w)
{
  struct stat st;
  if (lstat (w->path, &st) != 0 || !S_ISREG (st.st_mode))
    return FALSE;
  g_autofree char *text = NULL;
  return g_file_get_contents (w->path, &text, NULL, NULL) && strstr (text, w->model) != NULL;
}

/* Saved, or the program gone (which the caller reports with its output). */
static gboolean
saved_or_exited (gpointer data)
{
  const SavedWait *w = data;
  return w->child->exited || saved_as_regular (w);
}

static void
fail_with_output (GuiTestChild *child,
                  const char   *log,
                  const char   *what)
{
  g_autofree char *out = NULL;
  g_file_get_contents (log, &out, NULL, NULL);
  g_printerr ("attnscope's output:\n%s\n", out != NULL ? out : "(none)");
  gboolean exited = child->exited;
  gui_test_child_free (child);
  g_error ("%s (the program %s)", what, exited ? "had exited" : "was still running");
}

static void
test_recent_not_a_file (void)
{
  if (!gui_test_have_xdotool ())
    return;
  g_autofree char *exe = g_build_filename (g_getenv ("AS_TEST_BUILD"), "..", "app", "attnscope", NULL);
  g_autofree char *model_dir = as_model_default_dir ();
  const char *kinds[] = { "fifo", "link-to-dev-zero" };

  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_test_message ("recent-models.ini is a %s", kinds[k]);
      g_autofree char *config = g_build_filename (tmp_dir, kinds[k], NULL);
      g_autofree char *folder = g_build_filename (config, "attnscope", NULL);
      g_autofree char *path = g_build_filename (folder, "recent-models.ini", NULL);
      g_assert_cmpint (g_mkdir_with_parents (folder, 0700), ==, 0);
      if (k == 0)
        g_assert_cmpint (mkfifo (path, 0600), ==, 0);
      else
        g_assert_cmpint (symlink ("/dev/zero", path), ==, 0);
      g_autofree char *log = g_build_filename (config, "stderr.log", NULL);

      /* The real program, its output kept for reading. */
      g_autofree char *env_config = g_strdup_printf ("XDG_CONFIG_HOME=%s", config);
      g_autofree char *cmd = g_strdup_printf ("exec '%s' 2>'%s' >&2", exe, log);
      const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
      const char *env[] = { env_config, NULL };
      GuiTestChild *child = gui_test_child_spawn (argv, env);

      g_autofree char *xid = gui_test_child_window (child, "AttnScope", 60);
      if (xid == NULL)
        {
          gui_test_child_free (child);
          g_error ("no window within 60 s with recent-models.ini a %s", kinds[k]);
        }

      /* Saved once the model is in: a regular file now, the FIFO or link
       * replaced rather than written through. */
      SavedWait saved = { path, model_dir, child };
      gui_test_wait_until (saved_or_exited, &saved, 120);
      if (!saved_as_regular (&saved))
        fail_with_output (child, log, "the recent models list was not saved as a regular file");
      struct stat st;
      g_assert_cmpint (stat ("/dev/zero", &st), ==, 0);
      g_assert_true (S_ISCHR (st.st_mode));

      gui_test_send_keys_to (xid, "ctrl+q");
      if (!gui_test_child_wait (child, 30))
        {
          gui_test_child_free (child);
          g_error ("Ctrl+Q did not quit within 30 s");
        }
      g_assert_true (g_spawn_check_wait_status (child->status, NULL));
      gui_test_child_free (child);

      /* Said once, as a message, not a warning. */
      g_autofree char *out = NULL;
      g_assert_true (g_file_get_contents (log, &out, NULL, NULL));
      g_test_message ("its output: %s", out);
      const char *first = strstr (out, "ignoring the recent models list");
      g_assert_nonnull (first);
      g_assert_null (strstr (first + 1, "ignoring the recent models list"));
      g_assert_null (strstr (out, "WARNING"));
      g_assert_null (strstr (out, "CRITICAL"));
    }
}

/* ---- no model at all ------------------------------------------------------ */

static AdwStatusPage *
find_status_page (GtkWidget  *root,
                  const char *title)
{
  if (ADW_IS_STATUS_PAGE (root) && g_strcmp0 (adw_status_page_get_title (ADW_STATUS_PAGE (root)), title) == 0)
    return ADW_STATUS_PAGE (root);
  for (GtkWidget *c = gtk_widget_get_first_child (root); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      AdwStatusPage *found = find_status_page (c, title);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* The description gets the reason the first load failed in front. */
static gboolean
says_why (gpointer page)
{
  return strstr (adw_status_page_get_description (page), "\n\n") != NULL;
}

/* A button on PAGE that a user sees, labelled LABEL, for ACTION. */
static GtkWidget *
assert_page_button (AdwStatusPage *page,
                    const char    *label,
                    const char    *action)
{
  GtkWidget *button = gui_test_find_widget (GTK_WIDGET (page), GTK_TYPE_BUTTON, label);
  g_assert_nonnull (button);
  g_assert_true (gtk_widget_get_mapped (button));
  g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (button)), ==, action);
  return button;
}

/* The first window of a user without the default model (its folder not
 * there): the page says where to get it in a user's words, not a
 * developer's command, and offers both ways to open a model. */
static void
test_no_model (void)
{
  AsWindow *second = as_window_new (GTK_APPLICATION (app));
  g_autofree char *missing = g_build_filename (tmp_dir, "all-MiniLM-L6-v2", NULL);
  as_window_open_model (second, missing);
  gtk_window_present (GTK_WINDOW (second));

  AdwStatusPage *page = find_status_page (GTK_WIDGET (second), "No Model Loaded");
  g_assert_nonnull (page);
  gui_test_wait_until (says_why, page, 60);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (page)));
  const char *text = adw_status_page_get_description (page);
  g_test_message ("no-model page: %s", text);
  g_assert_nonnull (strstr (text, missing));   /* the reason: that folder */
  g_assert_nonnull (strstr (text, "all-MiniLM-L6-v2"));
  g_assert_nonnull (strstr (text, "Hugging Face"));
  g_assert_null (strstr (text, "tools/setup"));
  gui_test_capture_screen (NULL, "no-model.png");

  GtkWidget *open = assert_page_button (page, "_Open Model…", "win.open-model");
  assert_page_button (page, "Open _GGUF File…", "win.open-model-file");

  /* The button does open the chooser, for a folder. */
  gtk_widget_activate (open);
  GtkWindow *chooser = gui_test_wait_toplevel (GTK_TYPE_FILE_CHOOSER_DIALOG, 20);
  g_assert_cmpint (gtk_file_chooser_get_action (GTK_FILE_CHOOSER (chooser)), ==,
                   GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER);
  gui_test_press_to_close (chooser, "Escape", 20);
  gui_test_press_to_close (GTK_WINDOW (second), "<Control>w", 20);
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
  window = gui_test_start (&app, &model, &backend);
  if (model == NULL)
    {
      printf ("1..0 # SKIP default model not downloaded (run tools/setup)\n");
      return 0;
    }
  tmp_dir = g_dir_make_tmp ("attnscope-failures-XXXXXX", NULL);

  g_test_add_func ("/failures/not-finite", test_not_finite);
  g_test_add_func ("/failures/recent-not-a-file", test_recent_not_a_file);
  g_test_add_func ("/failures/no-model", test_no_model);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  gui_test_remove_tree (tmp_dir);
  g_free (tmp_dir);
  return status;
}
