/* test-gui-session.c — Save Session and Open Session, as a user does them.
 *
 * A text typed, a layer, head and token picked with the keys, options
 * switched with their shortcuts, a tab clicked, a teaching step taken;
 * Ctrl+S and a name typed into the chooser; then everything changed, and
 * Ctrl+Alt+O (and the recent menu) brings every field back. A session whose
 * model is not there is refused in a dialog and changes nothing; one of
 * another model loads that model and restores a layer the first model does
 * not have. The file format's names agree with the app's: colour maps
 * and the pages of the window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as-colormap.h"
#include "as-compare-view.h"
#include "as-session.h"
#include "as-teach-view.h"
#include "as-token-strip.h"
#include "gui-test-util.h"

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;
static char *tmp_dir;

#define TEXT "The river bank was steep — très glissant."

static void
press (const char *accel)
{
  g_assert_true (gui_test_press (GTK_WINDOW (window), accel));
}

static GtkWidget *
page_child (const char *name)
{
  GtkWidget *page = gtk_stack_get_child_by_name (as_window_get_detail_stack (window), name);
  g_assert_nonnull (page);
  return gtk_widget_get_first_child (page);
}

static AsTeachView *
teach_view (void)
{
  return AS_TEACH_VIEW (page_child ("teach"));
}

static GtkEditable *
compare_entry (void)
{
  return as_compare_view_get_entry (AS_COMPARE_VIEW (page_child ("compare")));
}

/* Clicks the tab titled TITLE (its mnemonic included, as the page has it). */
static void
click_tab (const char *title)
{
  GtkWidget *tab = gui_test_find_widget (GTK_WIDGET (window), GTK_TYPE_TOGGLE_BUTTON, title);
  g_assert_nonnull (tab);
  g_assert_true (gui_test_click_at (tab, gtk_widget_get_width (tab) / 2.0,
                                    gtk_widget_get_height (tab) / 2.0, 1));
  gui_test_wait_frames (GTK_WIDGET (window), 2);
}

/* What a session should bring back, read from the window itself. */
typedef struct {
  char     *text, *compare, *view, *colormap;
  int       layer, head, token, step;
  gboolean  hide, renorm, fit, words;
  int       aggregate;
} Shown;

static void
shown_read (Shown *s)
{
  AsViewState *state = as_window_get_view_state (window);
  s->text = g_strdup (gtk_editable_get_text (as_window_get_entry_a (window)));
  s->compare = g_strdup (gtk_editable_get_text (compare_entry ()));
  s->view = g_strdup (gtk_stack_get_visible_child_name (as_window_get_detail_stack (window)));
  g_object_get (state, "colormap-name", &s->colormap, "hide-special", &s->hide, "renormalise", &s->renorm,
                "fit-scale", &s->fit, "words", &s->words, NULL);
  s->layer = as_view_state_get_layer (state);
  s->head = as_view_state_get_head (state);
  s->token = as_view_state_get_token (state);
  s->aggregate = as_view_state_get_aggregate (state);
  s->step = as_teach_view_get_step (teach_view ());
}

static void
shown_clear (Shown *s)
{
  g_free (s->text);
  g_free (s->compare);
  g_free (s->view);
  g_free (s->colormap);
}

static void
assert_shown_equal (const Shown *a,
                    const Shown *b)
{
  g_assert_cmpstr (a->text, ==, b->text);
  g_assert_cmpstr (a->compare, ==, b->compare);
  g_assert_cmpstr (a->view, ==, b->view);
  g_assert_cmpstr (a->colormap, ==, b->colormap);
  g_assert_cmpint (a->layer, ==, b->layer);
  g_assert_cmpint (a->head, ==, b->head);
  g_assert_cmpint (a->token, ==, b->token);
  g_assert_cmpint (a->step, ==, b->step);
  g_assert_cmpint (a->hide, ==, b->hide);
  g_assert_cmpint (a->renorm, ==, b->renorm);
  g_assert_cmpint (a->fit, ==, b->fit);
  g_assert_cmpint (a->words, ==, b->words);
  g_assert_cmpint (a->aggregate, ==, b->aggregate);
}

/* Replaces sentence A as a user does: Ctrl+L, select all, type its ASCII
 * start, and paste the rest. (xdotool types a character outside the X
 * keymap by remapping a key on the fly, which drops characters on a loaded
 * machine; a user pastes such text anyway.) */
static void
type_text (const char *text)
{
  const char *rest = text;
  while (*rest != '\0' && (guchar) *rest < 0x80)
    rest++;
  g_autofree char *typed = g_strndup (text, rest - text);
  press ("<Control>l");
  g_assert_true (gui_test_send_keys (GTK_WINDOW (window), "ctrl+a"));
  g_assert_true (gui_test_type_keys (GTK_WINDOW (window), typed));
  if (*rest != '\0')
    {
      GtkEditable *entry = GTK_EDITABLE (as_window_get_entry_a (window));
      int end = -1;
      gtk_editable_set_position (entry, -1);
      end = gtk_editable_get_position (entry);
      gtk_editable_insert_text (entry, rest, -1, &end);
    }
  gui_test_wait_idle (window, 120);
  g_assert_cmpstr (gtk_editable_get_text (as_window_get_entry_a (window)), ==, text);
}

/* Layer, head and token with the keys, from layer 0, head 0, no token. */
static void
select_with_keys (int layer,
                  int head,
                  int token)
{
  AsViewState *state = as_window_get_view_state (window);
  press ("<Control>l");
  as_view_state_select (state, 0, 0);
  as_view_state_set_token (state, -1);
  for (int i = 0; i < layer; i++)
    press ("<Alt>Down");
  for (int i = 0; i < head; i++)
    press ("<Alt>Right");
  GtkWidget *strip = gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_TOKEN_STRIP, NULL);
  gtk_widget_grab_focus (strip);
  for (int i = 0; i <= token; i++)
    press ("Right");
  g_assert_cmpint (as_view_state_get_layer (state), ==, layer);
  g_assert_cmpint (as_view_state_get_head (state), ==, head);
  g_assert_cmpint (as_view_state_get_token (state), ==, token);
}

static void
test_names_agree (void)
{
  /* Colour maps: the file's names are the renderer's, all of them. */
  guint n = 0;
  for (const char * const *c = as_session_colormaps (); *c != NULL; c++, n++)
    {
      int id = as_colormap_from_name (*c);
      g_assert_cmpint (id, >=, 0);
      g_assert_cmpstr (as_colormap_name (id), ==, *c);
    }
  g_assert_cmpuint (n, ==, AS_N_COLORMAPS);
  /* Every teaching step fits the file. */
  g_assert_cmpint (AS_N_TEACH_STEPS - 1, <=, AS_SESSION_MAX_TEACH_STEP);

  /* Pages: every page of the window can be named, and only those. */
  GtkStack *stack = as_window_get_detail_stack (window);
  guint pages = 0;
  for (GtkWidget *c = gtk_widget_get_first_child (GTK_WIDGET (stack)); c != NULL;
       c = gtk_widget_get_next_sibling (c), pages++)
    g_assert_true (g_strv_contains (as_session_views (), gtk_stack_page_get_name (gtk_stack_get_page (stack, c))));
  g_assert_cmpuint (pages, ==, g_strv_length ((char **) as_session_views ()));
}

static void
test_save_and_open (void)
{
  gui_test_wait_idle (window, 120);
  AsViewState *state = as_window_get_view_state (window);

  /* The work: a text, a selection, options, a tab, a step, a variant. */
  type_text (TEXT);
  select_with_keys (2, 3, 4);
  press ("<Control>h");                                     /* hide [CLS]/[SEP] */
  press ("<Control>r");                                     /* renormalise */
  press ("<Control>f");                                     /* fit scale: off */
  gui_test_activate_menu_item (GTK_WIDGET (window), "win.colormap", g_variant_new_string ("magma"));
  gtk_editable_set_text (compare_entry (), "Le banc était raide.");
  click_tab ("Step by _Step");
  as_teach_view_set_step (teach_view (), AS_TEACH_STEP_SCALE);
  gui_test_wait_idle (window, 120);
  Shown before = { 0 };
  shown_read (&before);
  g_assert_cmpstr (before.view, ==, "teach");
  g_assert_true (before.hide && before.renorm && !before.fit);
  g_assert_cmpstr (before.colormap, ==, "magma");

  /* Ctrl+S, a name typed into the chooser, Enter. */
  g_autofree char *path = g_build_filename (tmp_dir, "gui.attnscope", NULL);
  press ("<Control>s");
  GtkFileChooser *chooser = gui_test_wait_chooser (30);
  g_assert_cmpint (gtk_file_chooser_get_action (chooser), ==, GTK_FILE_CHOOSER_ACTION_SAVE);
  g_assert_true (gui_test_send_keys (GTK_WINDOW (chooser), "ctrl+a"));
  g_assert_true (gui_test_type_keys (GTK_WINDOW (chooser), path));
  gui_test_capture_screen (NULL, "session-save-dialog.png");
  g_assert_true (gui_test_send_keys (GTK_WINDOW (chooser), "Return"));
  gui_test_wait_toast (GTK_WIDGET (window), "Saved session “gui.attnscope”");

  /* The file says what the window showed. */
  g_autoptr(GError) error = NULL;
  g_autoptr(AsSession) saved = as_session_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (saved->text, ==, TEXT);
  g_assert_cmpint (saved->layer, ==, 2);
  g_assert_cmpint (saved->head, ==, 3);
  g_assert_cmpint (saved->token, ==, 4);
  g_assert_cmpint (saved->teach_step, ==, AS_TEACH_STEP_SCALE);
  g_assert_cmpstr (saved->view, ==, "teach");
  g_assert_cmpstr (saved->model, ==, as_worker_get_model_dir (as_window_get_worker (window)));

  /* Everything changed. */
  type_text ("Something else entirely.");
  select_with_keys (4, 1, 1);
  press ("<Control>h");
  press ("<Control>f");
  gui_test_activate_menu_item (GTK_WIDGET (window), "win.colormap", g_variant_new_string ("greys"));
  gtk_editable_set_text (compare_entry (), "Autre chose.");
  as_teach_view_set_step (teach_view (), AS_TEACH_STEP_QUERY);
  click_tab ("_Lines");
  gui_test_wait_idle (window, 120);
  Shown changed = { 0 };
  shown_read (&changed);
  g_assert_cmpstr (changed.view, ==, "lines");
  g_assert_cmpstr (changed.text, !=, before.text);

  /* Ctrl+Alt+O, the file picked: every field comes back once the toast
   * says the session is open. */
  press ("<Control><Alt>o");
  chooser = gui_test_wait_chooser (30);
  g_assert_cmpint (gtk_file_chooser_get_action (chooser), ==, GTK_FILE_CHOOSER_ACTION_OPEN);
  gui_test_pick_file (chooser, path);
  gui_test_wait_toast (GTK_WIDGET (window), "Opened session “gui.attnscope”");
  gui_test_wait_idle (window, 120);
  Shown after = { 0 };
  shown_read (&after);
  assert_shown_equal (&before, &after);
  AsAnalysis *a = as_view_state_get_analysis (state);
  g_assert_nonnull (a);
  g_assert_cmpstr (a->text_a, ==, TEXT);
  gui_test_capture_screen (NULL, "session-opened.png");

  /* The recent menu lists it; its item opens it the same way. */
  type_text ("Yet another text.");
  gui_test_activate_menu_item (GTK_WIDGET (window), "win.open-recent-session", g_variant_new_string (path));
  gui_test_wait_toast (GTK_WIDGET (window), "Opened session “gui.attnscope”");
  gui_test_wait_idle (window, 120);
  Shown recent = { 0 };
  shown_read (&recent);
  assert_shown_equal (&before, &recent);

  shown_clear (&before);
  shown_clear (&changed);
  shown_clear (&after);
  shown_clear (&recent);
}

/* A session whose model is gone: a dialog says so, nothing changes. */
static void
test_missing_model (void)
{
  gui_test_wait_idle (window, 120);
  g_autoptr(AsSession) s = as_session_new ();
  s->model = g_build_filename (tmp_dir, "no-such-model", NULL);
  g_free (s->text);
  s->text = g_strdup ("Never shown.");
  s->layer = 1;
  g_autofree char *path = g_build_filename (tmp_dir, "gone.attnscope", NULL);
  g_assert_true (as_session_save (s, path, NULL));

  Shown before = { 0 };
  shown_read (&before);
  press ("<Control><Alt>o");
  gui_test_pick_file (gui_test_wait_chooser (30), path);
  GtkWindow *dialog = gui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, 20);
  g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (dialog)), ==, "Could Not Open Session");
  const char *body = adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog));
  g_assert_nonnull (strstr (body, "no-such-model"));
  g_assert_nonnull (strstr (body, "Nothing was changed"));
  gui_test_capture_screen (NULL, "session-missing-model.png");
  gui_test_press_to_close (dialog, "Escape", 20);
  Shown after = { 0 };
  shown_read (&after);
  assert_shown_equal (&before, &after);
  g_assert_false (as_worker_is_loading (as_window_get_worker (window)));

  /* A file that is no session: the same, its cause named. */
  g_autofree char *junk = g_build_filename (tmp_dir, "junk.attnscope", NULL);
  g_assert_true (g_file_set_contents (junk, "\x89PNG\r\n", -1, NULL));
  g_assert_false (as_window_open_session (window, junk));
  dialog = gui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, 20);
  g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)), "not UTF-8"));
  gui_test_press_to_close (dialog, "Escape", 20);
  shown_clear (&after);
  shown_read (&after);
  assert_shown_equal (&before, &after);
  shown_clear (&before);
  shown_clear (&after);
}

/* A session of another model loads it, and its layer (past the default
 * model's six) comes back once that model's analysis is in. */
static void
test_other_model (void)
{
  g_autofree char *gguf = as_model_default_decoder_path ();
  if (!g_file_test (gguf, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip_printf ("the SmolLM2 GGUF is not downloaded (%s; run tools/setup)", gguf);
      return;
    }
  gui_test_wait_idle (window, 120);
  g_autofree char *home = g_strdup (as_worker_get_model_dir (as_window_get_worker (window)));
  g_autoptr(AsSession) s = as_session_new ();
  s->model = g_strdup (gguf);
  g_free (s->text);
  s->text = g_strdup ("Once upon a time");
  s->layer = 20;
  s->head = 8;
  s->token = 3;
  g_autofree char *path = g_build_filename (tmp_dir, "smol.attnscope", NULL);
  g_assert_true (as_session_save (s, path, NULL));

  g_assert_true (as_window_open_session (window, path));
  gui_test_wait_toast (GTK_WIDGET (window), "Opened session “smol.attnscope”");
  AsViewState *state = as_window_get_view_state (window);
  AsAnalysis *a = as_view_state_get_analysis (state);
  g_assert_nonnull (a);
  g_assert_cmpint (a->n_layers, ==, 30);
  g_assert_cmpstr (a->text_a, ==, "Once upon a time");
  g_assert_cmpint (as_view_state_get_layer (state), ==, 20);
  g_assert_cmpint (as_view_state_get_head (state), ==, 8);
  g_assert_cmpint (as_view_state_get_token (state), ==, 3);

  /* Back to the default model for whatever runs next. */
  as_window_open_model (window, home);
  gui_test_wait_idle (window, 180);
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
  tmp_dir = g_dir_make_tmp ("attnscope-gui-session-XXXXXX", NULL);
  window = gui_test_start (&app, &model, &backend);
  g_autofree char *xdotool = g_find_program_in_path ("xdotool");
  if (model == NULL || xdotool == NULL)
    {
      printf ("1..0 # SKIP needs the default model (tools/setup) and xdotool\n");
      return 0;
    }

  g_test_add_func ("/gui-session/names-agree", test_names_agree);
  g_test_add_func ("/gui-session/save-and-open", test_save_and_open);
  g_test_add_func ("/gui-session/missing-model", test_missing_model);
  g_test_add_func ("/gui-session/other-model", test_other_model);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  gui_test_remove_tree (tmp_dir);
  g_free (tmp_dir);
  return status;
}
