/* test-gui-reliability.c — the desktop app against hostile input, under Xvfb.
 *
 * The real application and window on the default model, as in test-gui.c;
 * every check compares what the window shows with the engine run directly on
 * the same text (tokens, ids, and the selected head's values):
 *
 *  - input extremes pasted or typed into the entry: empty, whitespace only,
 *    100,000 characters (512 tokens and a visible truncation notice),
 *    right-to-left text, emoji with ZWJ, zero-width and control characters;
 *    and invalid UTF-8 read with --text-file through the application's own
 *    command-line handler;
 *  - a typing storm of 2,400 edits at machine speed: no crash, the final view
 *    is the final text, and resident memory after it (settled, malloc_trim)
 *    within STORM_RSS_MARGIN_KB of before;
 *  - every folder of the hostile model zoo (made by test-hostile-zoo
 *    --make-zoo) opened in the window: each refused with a dialog naming the
 *    file and the problem, the previous model still loaded and analysing;
 *  - a valid long-context model (65,536 positions) and an input whose
 *    attention would take 13 GB: refused with the figures, nothing mapped,
 *    the window still usable.
 */
#include <glib/gstdio.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "as-application.h"
#include "as-attention.h"
#include "as-backend.h"
#include "as-model.h"
#include "as-window.h"
#include "gui-test-util.h"

/* The storm may leave the allocator and GTK's caches a little bigger (six
 * storms in a row in one process grew by 0.3 MB each); a leak of what one
 * analysis holds (attention of ~30 tokens is 260 KB, about 1 edit in 40
 * starts an analysis, so ~60 of them) would be 15 MB, and of anything per
 * edit more: 8 MB separates the two. */
#define STORM_EDITS        2400
#define STORM_RSS_MARGIN_KB (8 * 1024)

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;
static char *model_dir;
static char *zoo_dir;

/* ---- helpers ------------------------------------------------------------ */

static gboolean
not_loading (gpointer w)
{
  return !as_worker_is_loading (as_window_get_worker (w));
}

/* Until W's model load (asked for synchronously) has finished, and W has
 * settled on the result: the text analysed, any message shown. */
static void
wait_loaded (AsWindow *w)
{
  gui_test_wait_for (not_loading, w, 120000, "the model load to finish");
  gui_test_wait_idle (w, 120);
}

static guint64
proc_status_kb (const char *field)
{
  g_autofree char *status = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  const char *line = strstr (status, field);
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen (field), NULL, 10);
}

/* What W shows against ENGINE on W's own text: the tokens (text and id) on
 * both axes, and the selected head's values under a few cells. */
static void
check_view (AsWindow  *w,
            AsBackend *engine)
{
  const char *text_a = gtk_editable_get_text (as_window_get_entry_a (w));
  const char *text_b = gtk_editable_get_text (as_window_get_entry_b (w));
  AsViewState *state = as_window_get_view_state (w);
  AsAnalysis *a = as_view_state_get_analysis (state);
  g_assert_nonnull (a);
  g_assert_cmpstr (a->text_a, ==, text_a);
  /* What is on screen is the view state's: rows and tooltips. */
  gui_test_wait_head_current (w);

  g_autoptr(GError) error = NULL;
  AsAnalysis *ref = as_attention_compute (engine, text_a, *text_b != '\0' ? text_b : NULL, &error);
  g_assert_no_error (error);

  g_assert_cmpint (a->n, ==, ref->n);
  g_assert_cmpint (a->encoding->truncated, ==, ref->encoding->truncated);
  for (int i = 0; i < a->n; i++)
    {
      g_assert_cmpint (a->encoding->tokens[i].id, ==, ref->encoding->tokens[i].id);
      g_assert_cmpstr (a->encoding->tokens[i].text, ==, ref->encoding->tokens[i].text);
    }
  int n_vis;
  const int *visible = as_view_state_get_visible (state, &n_vis);
  const char * const *labels = as_view_state_get_labels (state);
  g_assert_cmpint (gui_test_head_rows_shown (as_window_get_head_view (w)), ==, n_vis);
  for (int i = 0; i < n_vis; i++)
    g_assert_cmpstr (labels[i], ==, ref->encoding->tokens[visible[i]].text);

  /* The pointer at a cell's centre (by the renderer's layout) is told the
   * engine's value there. */
  const float *m = as_analysis_head (ref, as_view_state_get_layer (state), as_view_state_get_head (state));
  GuiTestHeatmap *h = gui_test_head_heatmap (w);
  g_assert_nonnull (h);
  g_assert_cmpint (h->n, ==, n_vis);
  int probes[][2] = { { 0, 0 }, { n_vis - 1, 0 }, { n_vis / 2, n_vis / 3 }, { n_vis - 1, n_vis - 1 } };
  for (guint i = 0; i < G_N_ELEMENTS (probes); i++)
    {
      int row = probes[i][0], col = probes[i][1];
      double x, y;
      gui_test_heatmap_cell_center (h, row, col, &x, &y);
      g_autofree char *tip = gui_test_head_tooltip_at (w, h, x, y);
      g_assert_nonnull (tip);
      if (!as_view_state_get_renormalise (state))
        {
          float expected = m[(gsize) visible[row] * ref->n + visible[col]];
          g_assert_cmpfloat_with_epsilon (h->values[(gsize) row * n_vis + col], expected, 1e-5);
          g_autofree char *want = gui_test_head_tooltip_for (w, row, col, expected);
          g_assert_cmpstr (tip, ==, want);
        }
    }
  gui_test_heatmap_free (h);
  as_analysis_unref (ref);
}

/* The label under ROOT whose text is TEXT. */
static GtkWidget *
find_label (GtkWidget  *root,
            const char *text)
{
  if (GTK_IS_LABEL (root) && g_strcmp0 (gtk_label_get_text (GTK_LABEL (root)), text) == 0)
    return root;
  for (GtkWidget *c = gtk_widget_get_first_child (root); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found = find_label (c, text);
      if (found != NULL)
        return found;
    }
  return NULL;
}

static void
append_text (GtkEditable *entry,
             const char  *text,
             gssize       length)
{
  int pos = (int) g_utf8_strlen (gtk_editable_get_text (entry), -1);
  gtk_editable_insert_text (entry, text, length, &pos);
}

/* ---- input extremes ----------------------------------------------------- */

typedef struct {
  const char *name;
  const char *text;
} Extreme;

static const Extreme extremes[] = {
  { "empty", "" },
  { "whitespace only", " \t  \u00a0\u3000  \t " },
  { "right-to-left", "שלום עולם! مرحبا بالعالم. \u202eevil\u202c mixed עברית and English" },
  { "emoji with ZWJ", "👩‍💻 codes; 👨‍👩‍👧‍👦 family; 🏳️‍🌈 flag; 👍🏽 tone; 🇫🇷 pair" },
  { "zero-width", "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom\u2060word\u00adsoft" },
  { "control characters", "tab\there\x01\x02\x1b[31mred\x1b[0m\x7f" "\xc2\x85" "next\u2028line\x0bvt\x0c" "ff" },
  { "only control and format", "\x01\x02\x03\x1b\x7f\u200b\u200e\ufeff" },
};

static void
test_input_extremes (void)
{
  if (!gui_test_have_model (model))
    return;
  GtkEditable *entry = as_window_get_entry_a (window);
  gtk_editable_set_text (as_window_get_entry_b (window), "");

  /* Pasted: the whole text at once. */
  for (gsize i = 0; i < G_N_ELEMENTS (extremes); i++)
    {
      gtk_editable_set_text (entry, extremes[i].text);
      gui_test_wait_idle (window, 60);
      check_view (window, backend);
      AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
      g_test_message ("pasted %s: %d tokens; status \"%s\"", extremes[i].name, a->n,
                      as_window_get_status_text (window));
      g_assert_false (a->encoding->truncated);
    }

  /* Typed: one character per edit, at machine speed. */
  gtk_editable_set_text (entry, "");
  for (gsize i = 2; i < G_N_ELEMENTS (extremes); i++)
    {
      for (const char *p = extremes[i].text; *p != '\0'; p = g_utf8_next_char (p))
        {
          append_text (entry, p, g_utf8_next_char (p) - p);
          g_main_context_iteration (NULL, FALSE);
        }
      append_text (entry, " ", 1);
    }
  gui_test_wait_idle (window, 60);
  check_view (window, backend);
  g_test_message ("typed all of them: %ld characters", g_utf8_strlen (gtk_editable_get_text (entry), -1));

  /* 100,000 characters pasted: the model's 512 tokens, and the window says
   * so in the status line (warning colour) and a toast. */
  GString *paste = g_string_new (NULL);
  while (paste->len < 100000)
    g_string_append (paste, "The animal didn't cross the street because it was too tired. ");
  g_string_truncate (paste, 100000);
  gint64 t0 = g_get_monotonic_time ();
  gtk_editable_set_text (entry, paste->str);
  /* The toast, looked for from the start: it times out. */
  g_autofree char *toast = gui_test_wait_toast_containing (GTK_WIDGET (window),
                                                           "truncated to the model's limit of 512 tokens");
  g_test_message ("toast \"%s\"", toast);
  gui_test_wait_idle (window, 120);
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_assert_cmpint (a->n, ==, model->config->max_positions);
  g_assert_true (a->encoding->truncated);
  check_view (window, backend);
  const char *status = as_window_get_status_text (window);
  g_autofree char *notice = g_strdup_printf ("Truncated to the model's %d tokens (%d dropped)",
                                             model->config->max_positions, a->encoding->n_dropped);
  g_test_message ("100,000 characters: %.0f ms to the last layer; status \"%s\"",
                  (g_get_monotonic_time () - t0) / 1000.0, status);
  g_assert_true (g_str_has_prefix (status, notice));
  g_assert_cmpint (a->encoding->n_dropped, >, 10000);
  /* The label showing the notice is on screen and styled as a warning. */
  GtkWidget *status_label = find_label (GTK_WIDGET (window), status);
  g_assert_nonnull (status_label);
  g_assert_true (gtk_widget_is_drawable (status_label));
  g_assert_true (gtk_widget_has_css_class (status_label, "warning"));
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gui_test_capture_screen (NULL, "reliability-truncated.png");

  /* Back under the limit: the warning goes. */
  gtk_editable_set_text (entry, "Short again.");
  gui_test_wait_idle (window, 60);
  check_view (window, backend);
  g_assert_false (gtk_widget_has_css_class (status_label, "warning"));
  g_assert_false (g_str_has_prefix (as_window_get_status_text (window), "Truncated"));
  g_string_free (paste, TRUE);
}

/* Invalid UTF-8 from --text-file, through the application's command-line
 * handler (a second window, as `attnscope --text-file F` opens one): the
 * entry holds valid UTF-8 and the tokens are the engine's for the raw bytes. */
static void
test_invalid_utf8_file (void)
{
  if (!gui_test_have_model (model))
    return;
  static const char bytes[] = "ok \xff\xfe caf\xe9 \xc3( \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf "
                              "\xf4\x90\x80\x80 the street end";
  g_autofree char *tmp = g_dir_make_tmp ("as-rel-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (tmp, "invalid.txt", NULL);
  g_assert_true (g_file_set_contents (path, bytes, sizeof bytes - 1, NULL));

  GVariantDict options;
  g_variant_dict_init (&options, NULL);
  g_variant_dict_insert_value (&options, "text-file", g_variant_new_bytestring (path));
  g_variant_dict_insert_value (&options, "model", g_variant_new_bytestring (model_dir));
  const char *argv[] = { "attnscope", "--text-file", path, NULL };
  g_autoptr(GApplicationCommandLine) cmdline =
    g_object_new (G_TYPE_APPLICATION_COMMAND_LINE,
                  "arguments", g_variant_new_bytestring_array (argv, -1),
                  "options", g_variant_dict_end (&options),
                  NULL);
  g_assert_cmpint (G_APPLICATION_GET_CLASS (app)->command_line (G_APPLICATION (app), cmdline), ==, 0);

  AsWindow *second = NULL;
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (app)); l != NULL; l = l->next)
    if (AS_IS_WINDOW (l->data) && l->data != window)
      second = l->data;
  g_assert_nonnull (second);
  wait_loaded (second);
  gui_test_wait_idle (second, 60);

  const char *shown = gtk_editable_get_text (as_window_get_entry_a (second));
  g_assert_true (g_utf8_validate (shown, -1, NULL));
  check_view (second, backend);
  /* The engine on the raw bytes (as the CLI reads them) gives the same ids. */
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (second));
  AsEncoding *raw = as_tokenizer_encode (model->tokenizer, bytes, NULL, model->config->max_positions);
  g_assert_cmpint (raw->n_tokens, ==, a->n);
  GString *ids = g_string_new (NULL);
  for (int i = 0; i < a->n; i++)
    {
      g_assert_cmpint (raw->tokens[i].id, ==, a->encoding->tokens[i].id);
      g_string_append_printf (ids, " %s", a->encoding->tokens[i].text);
    }
  g_test_message ("invalid UTF-8 file: entry \"%s\", tokens%s", shown, ids->str);
  g_string_free (ids, TRUE);
  as_encoding_free (raw);
  gtk_window_destroy (GTK_WINDOW (second));
  g_remove (path);
  g_rmdir (tmp);
}

/* The reader behind --text-file and Open Text…: a huge file or a device
 * that never ends stops at the cap, never inside a character. */
static void
test_text_file_cap (void)
{
  g_autofree char *tmp = g_dir_make_tmp ("as-rel-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (tmp, "long.txt", NULL);
  /* "a" then two-byte characters: byte AS_TEXT_FILE_CAP (even) is the
   * second byte of one, so the text ends one byte before the cap. */
  GString *long_text = g_string_new ("a");
  while (long_text->len <= AS_TEXT_FILE_CAP + 64)
    g_string_append (long_text, "é");
  g_assert_true (g_file_set_contents (path, long_text->str, (gssize) long_text->len, NULL));

  g_autoptr(GError) error = NULL;
  gsize len = 0;
  gboolean cut = FALSE;
  g_autofree char *text = as_read_text_file (path, &len, &cut, &error);
  g_assert_no_error (error);
  g_assert_true (cut);
  g_assert_cmpuint (len, ==, AS_TEXT_FILE_CAP - 1);
  g_assert_cmpuint (strlen (text), ==, len);
  g_assert_true (g_utf8_validate_len (text, len, NULL));
  g_assert_cmpmem (text, len, long_text->str, len);

  /* Short: whole, not cut. */
  g_assert_true (g_file_set_contents (path, "short\n", -1, NULL));
  g_autofree char *short_text = as_read_text_file (path, &len, &cut, &error);
  g_assert_no_error (error);
  g_assert_false (cut);
  g_assert_cmpstr (short_text, ==, "short\n");
  g_assert_cmpuint (len, ==, 6);

  /* A device that never ends: the cap, NUL bytes and all (Open Text…
   * refuses them). */
  g_autofree char *zeros = as_read_text_file ("/dev/zero", &len, &cut, &error);
  g_assert_no_error (error);
  g_assert_true (cut);
  g_assert_cmpuint (len, ==, AS_TEXT_FILE_CAP);

  /* Missing: an error that names why. */
  g_remove (path);
  g_assert_null (as_read_text_file (path, &len, &cut, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_string_free (long_text, TRUE);
  g_rmdir (tmp);
}

/* ---- typing storm ------------------------------------------------------- */

static const char storm_words[] =
  "The animal didn't cross the street because it was too tired. Researchers "
  "look at what each head attends to, and sometimes it's [CLS] or [SEP]. 3.14 ";

/* One random edit: insert a character or a word, delete a character or a
 * range, or replace everything (a paste); the text stays under 300 bytes. */
static void
storm_edit (GtkEditable *entry,
            GRand       *rand)
{
  const char *text = gtk_editable_get_text (entry);
  int len = (int) g_utf8_strlen (text, -1);
  int op = g_rand_int_range (rand, 0, 100);
  if (len > 250)
    op = 60;
  if (op < 50)
    {
      int pos = g_rand_int_range (rand, 0, len + 1);
      int from = g_rand_int_range (rand, 0, sizeof storm_words - 1);
      int n = op < 40 ? 1 : g_rand_int_range (rand, 2, 12);
      n = MIN (n, (int) sizeof storm_words - 1 - from);
      gtk_editable_insert_text (entry, storm_words + from, n, &pos);
    }
  else if (op < 95 && len > 0)
    {
      int start = g_rand_int_range (rand, 0, len);
      int end = MIN (len, start + (op < 85 ? 1 : g_rand_int_range (rand, 2, 30)));
      gtk_editable_delete_text (entry, start, end);
    }
  else
    {
      int from = g_rand_int_range (rand, 0, sizeof storm_words - 1);
      g_autofree char *piece = g_strndup (storm_words + from, g_rand_int_range (rand, 0, 60));
      gtk_editable_set_text (entry, piece);
    }
}

/* EDITS edits with one non-blocking main-loop iteration after each (machine
 * speed: the debounce fires only in the rare longer pauses, so passes start
 * and are overtaken). */
static void
storm (GtkEditable *entry,
       GRand       *rand,
       int          edits)
{
  for (int i = 0; i < edits; i++)
    {
      storm_edit (entry, rand);
      if (g_rand_int_range (rand, 0, 40) == 0)
        gui_test_pace (g_rand_int_range (rand, 35, 80));   /* a typist's pause */
      else
        g_main_context_iteration (NULL, FALSE);
    }
}

/* Resident memory once the allocator has had time to give back what the
 * worker threads freed: nothing on screen says when that is, so this is a
 * pause (not a wait for a condition), and the caller allows for a late
 * settle. */
static guint64
settled_rss_kb (void)
{
  gui_test_wait_idle (window, 60);
  gui_test_pace (500);
  malloc_trim (0);
  return proc_status_kb ("VmRSS:");
}

static void
test_typing_storm (void)
{
  if (!gui_test_have_model (model))
    return;
  GtkEditable *entry = as_window_get_entry_a (window);
  AsWorker *worker = as_window_get_worker (window);
  GRand *rand = g_rand_new_with_seed (2024);
  gtk_editable_set_text (as_window_get_entry_b (window), "");

  /* Warm-up: glyph caches, textures and the allocator's arenas reach their
   * working size before the baseline is taken. */
  gtk_editable_set_text (entry, "Warm up.");
  storm (entry, rand, 400);
  gui_test_wait_idle (window, 60);
  guint64 before = settled_rss_kb ();
  guint gen_before = as_worker_get_generation (worker);

  gint64 t0 = g_get_monotonic_time ();
  storm (entry, rand, STORM_EDITS);
  double storm_ms = (g_get_monotonic_time () - t0) / 1000.0;
  gui_test_wait_idle (window, 120);
  check_view (window, backend);
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_assert_cmpuint (a->generation, ==, as_worker_get_generation (worker));
  /* About one storm in six leaves ~10 MB that the next settle gives back
   * (seen with six storms in a row in one process); a leak stays, so up to
   * three settles are allowed, each printed. */
  guint64 after = settled_rss_kb ();
  for (int settle = 1; settle < 3 && after > before + STORM_RSS_MARGIN_KB; settle++)
    {
      g_test_message ("typing storm: VmRSS %" G_GUINT64_FORMAT " kB after settle %d; settling again",
                      after, settle);
      gui_test_pace (1000);   /* see settled_rss_kb */
      after = settled_rss_kb ();
    }
  g_rand_free (rand);

  g_test_message ("typing storm: %d edits in %.0f ms, %u analyses requested, final text %d tokens",
                  STORM_EDITS, storm_ms, as_worker_get_generation (worker) - gen_before, a->n);
  g_test_message ("typing storm: VmRSS before %" G_GUINT64_FORMAT " kB, after %" G_GUINT64_FORMAT
                  " kB (%+" G_GINT64_FORMAT " kB; margin %d kB)",
                  before, after, (gint64) after - (gint64) before, STORM_RSS_MARGIN_KB);
#if defined(__SANITIZE_ADDRESS__)
  /* ASan keeps freed blocks in quarantine (up to 256 MB), so resident memory
   * says nothing here; LeakSanitizer checks for leaks at exit instead. */
  g_test_message ("typing storm: the RSS margin is not asserted under AddressSanitizer");
#else
  g_assert_cmpuint (after, <=, before + STORM_RSS_MARGIN_KB);
#endif
}

/* ---- the hostile zoo ---------------------------------------------------- */

static void
make_zoo (void)
{
  if (zoo_dir != NULL)
    return;
  const char *build = g_getenv ("AS_TEST_BUILD");
  g_autofree char *maker = g_build_filename (build != NULL ? build : ".", "test-hostile-zoo", NULL);
  g_autofree char *tmp = g_dir_make_tmp ("as-gui-zoo-XXXXXX", NULL);
  zoo_dir = g_build_filename (tmp, "zoo", NULL);
  const char *argv[] = { maker, "--make-zoo", zoo_dir, NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed: %s%s", maker, out, err);
  g_test_message ("%s", g_strstrip (out));
}

static GtkWindow *
take_dialog (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) w = g_list_model_get_item (toplevels, i);
      if (ADW_IS_MESSAGE_DIALOG (w))
        return w;
    }
  return NULL;
}

static gboolean
dialog_there (gpointer data)
{
  return take_dialog () != NULL;
}

static void
test_hostile_zoo (void)
{
  if (!gui_test_have_model (model))
    return;
  make_zoo ();
  AsWorker *worker = as_window_get_worker (window);
  g_autofree char *dir_before = g_strdup (as_worker_get_model_dir (worker));
  g_autofree char *manifest_path = g_build_filename (zoo_dir, "MANIFEST", NULL);
  g_autofree char *manifest = NULL;
  g_assert_true (g_file_get_contents (manifest_path, &manifest, NULL, NULL));
  g_auto(GStrv) lines = g_strsplit (manifest, "\n", -1);
  int cases = 0, refused = 0;

  for (int i = 0; lines[i] != NULL; i++)
    {
      if (lines[i][0] == '\0' || lines[i][0] == '#')
        continue;
      g_auto(GStrv) f = g_strsplit (lines[i], "\t", -1);
      g_assert_cmpint (g_strv_length (f), >=, 3);
      const char *name = f[0], *file = f[1];
      g_autofree char *dir = g_build_filename (zoo_dir, name, NULL);
      cases++;

      as_window_open_model (window, dir);
      wait_loaded (window);
      g_autofree char *what = g_strdup_printf ("the message on opening %s", name);
      gui_test_wait_for (dialog_there, NULL, 5000, what);
      GtkWindow *dialog = take_dialog ();
      const char *body = adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog));
      g_test_message ("%s: %s", name, body);
      if (strstr (body, file) == NULL)
        g_error ("%s: the message does not name %s: %s", name, file, body);
      for (int k = 3; f[k] != NULL; k++)
        if (f[k][0] != '\0' && strstr (body, f[k]) == NULL)
          g_error ("%s: the message lacks \"%s\": %s", name, f[k], body);
      g_assert_nonnull (strstr (body, "The previous model is still loaded."));
      if (strcmp (name, "st-overlap") == 0)
        {
          gui_test_wait_frames (GTK_WIDGET (dialog), 2);
          gui_test_capture_screen (NULL, "reliability-zoo-dialog.png");
        }
      gtk_window_destroy (dialog);
      g_assert_cmpstr (as_worker_get_model_dir (worker), ==, dir_before);

      /* Still the previous model, and it still analyses text correctly. */
      g_autofree char *text = g_strdup_printf ("After %s, the animal is still here.", name);
      gtk_editable_set_text (as_window_get_entry_a (window), text);
      gui_test_wait_idle (window, 60);
      check_view (window, backend);
      refused++;
    }
  g_test_message ("hostile folders refused by the app: %d of %d", refused, cases);
  g_assert_cmpint (cases, >=, 30);
  g_assert_cmpint (refused, ==, cases);
}

/* ---- resource limit ----------------------------------------------------- */

static void
test_resource_limit (void)
{
  if (!gui_test_have_model (model))
    return;
  make_zoo ();
  g_unsetenv ("ATTNSCOPE_MAX_ATTENTION_MB");
  g_autofree char *dir = g_build_filename (zoo_dir, "long-context", NULL);
  g_autoptr(GError) error = NULL;
  AsModel *long_model = as_model_load (dir, &error);
  g_assert_no_error (error);
  AsBackend *long_backend = as_cpu_backend_new (long_model);

  as_window_open_model (window, dir);
  wait_loaded (window);
  g_assert_null (take_dialog ());
  gtk_editable_set_text (as_window_get_entry_a (window), "a short text");
  gui_test_wait_idle (window, 60);
  check_view (window, long_backend);

  /* 30,002 tokens: 13 GB of attention. */
  GString *text = g_string_new (NULL);
  for (int i = 0; i < 15000; i++)
    g_string_append (text, "a b ");
  guint64 peak_before = proc_status_kb ("VmPeak:");
  gtk_editable_set_text (as_window_get_entry_a (window), text->str);
  g_autofree char *msg = gui_test_wait_toast_prefix (GTK_WIDGET (window), "Analysis failed");
  guint64 peak_after = proc_status_kb ("VmPeak:");
  g_test_message ("30,002 tokens on the long-context model: \"%s\"; VmPeak %" G_GUINT64_FORMAT
                  " kB before, %" G_GUINT64_FORMAT " kB after", msg, peak_before, peak_after);
  g_autofree char *figures = g_strdup_printf ("an input of 30002 tokens needs %.0f MB",
                                              as_attention_bytes_needed (long_model->config, 30002) / 1048576.0);
  g_assert_nonnull (strstr (msg, figures));
  g_autofree char *at_most = g_strdup_printf ("at most %d tokens", as_attention_max_tokens (long_model->config));
  g_assert_nonnull (strstr (msg, at_most));
  g_assert_cmpuint (peak_after, <, peak_before + 512 * 1024);
  /* The status line says it too, in the error colour, while the views keep
   * the previous text. */
  const char *status = as_window_get_status_text (window);
  g_assert_true (g_str_has_prefix (status, "Not analysed: an input of 30002 tokens needs"));
  GtkWidget *status_label = find_label (GTK_WIDGET (window), status);
  g_assert_nonnull (status_label);
  g_assert_true (gtk_widget_has_css_class (status_label, "error"));
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gui_test_capture_screen (NULL, "reliability-resource-limit.png");

  /* Still usable: a text that fits, then the default model again. */
  g_string_truncate (text, 4 * 500);
  gtk_editable_set_text (as_window_get_entry_a (window), text->str);
  gui_test_wait_idle (window, 60);
  check_view (window, long_backend);
  g_assert_cmpint (as_view_state_get_analysis (as_window_get_view_state (window))->n, ==, 1002);
  g_assert_false (gtk_widget_has_css_class (status_label, "error"));
  g_assert_true (g_str_has_prefix (as_window_get_status_text (window), "1002 tokens"));

  as_window_open_model (window, model_dir);
  wait_loaded (window);
  gtk_editable_set_text (as_window_get_entry_a (window), "Back to the default model.");
  gui_test_wait_idle (window, 60);
  check_view (window, backend);
  g_string_free (text, TRUE);
  as_backend_free (long_backend);
  as_model_free (long_model);
}

/* ------------------------------------------------------------------------ */

static void
remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      GDir *dir = g_dir_open (path, 0, NULL);
      const char *name;
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
        }
      if (dir != NULL)
        g_dir_close (dir);
      g_rmdir (path);
    }
  else
    g_unlink (path);
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

  model_dir = as_model_default_dir ();
  window = gui_test_start (&app, &model, &backend);

  g_test_add_func ("/reliability/input-extremes", test_input_extremes);
  g_test_add_func ("/reliability/invalid-utf8-file", test_invalid_utf8_file);
  g_test_add_func ("/reliability/text-file-cap", test_text_file_cap);
  g_test_add_func ("/reliability/typing-storm", test_typing_storm);
  g_test_add_func ("/reliability/hostile-zoo", test_hostile_zoo);
  g_test_add_func ("/reliability/resource-limit", test_resource_limit);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  if (zoo_dir != NULL)
    {
      g_autofree char *parent = g_path_get_dirname (zoo_dir);
      remove_tree (parent);
    }
  g_free (zoo_dir);
  g_free (model_dir);
  return status;
}
