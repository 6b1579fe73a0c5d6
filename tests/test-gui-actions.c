/* test-gui-actions.c — every menu item and every documented shortcut,
 * triggered the way a person triggers them, under Xvfb.
 *
 * Menu items are clicked in their popovers (the buttons the menus show);
 * keys are real X key events from xdotool, sent to the focused window. Every
 * dialog they open is completed or cancelled, and what it did is checked.
 * Any GLib or GTK warning or critical fails the suite (gui_test_init). The
 * last test checks that nothing was left out: every item of every menu,
 * every accelerator of the shortcuts window and every key of the README's
 * table was exercised here.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "as-ablation-view.h"
#include "as-export-dialog.h"
#include "as-gpu-loader.h"
#include "as-figure.h"
#include "as-lines-view.h"
#include "as-next-token-view.h"
#include "as-teach-view.h"
#include "as-token-strip.h"
#include "gui-test-util.h"

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;
static char *tmp_dir;
static GHashTable *items_done;   /* "action target" of menu items clicked */
static GHashTable *keys_done;    /* accelerators pressed, as gtk_accelerator_name */

/* ---- triggering, and keeping count ---------------------------------------- */

/* "action target @menu": one menu item, in the menu of the N-th menu button
 * of the window (the same action can be in two menus). */
static char *
item_key (GuiTestMenuItem *item)
{
  g_autoptr(GPtrArray) items = gui_test_list_menu_items (GTK_WIDGET (window));
  g_autoptr(GPtrArray) buttons = g_ptr_array_new ();
  for (guint i = 0; i < items->len; i++)
    {
      GtkMenuButton *b = ((GuiTestMenuItem *) g_ptr_array_index (items, i))->menu_button;
      if (!g_ptr_array_find (buttons, b, NULL))
        g_ptr_array_add (buttons, b);
    }
  guint menu = 0;
  g_assert_true (g_ptr_array_find (buttons, item->menu_button, &menu));
  g_autofree char *t = item->target != NULL ? g_variant_print (item->target, FALSE) : NULL;
  return g_strdup_printf ("%s %s @%u", item->action, t != NULL ? t : "", menu);
}

/* Clicks every menu item for ACTION (TARGET: a string or NULL), in every
 * menu that has it, calling AFTER (if not NULL) after each click. */
static void
click_each (const char *action,
            const char *target,
            void      (*after) (void))
{
  g_autoptr(GVariant) t = target != NULL ? g_variant_ref_sink (g_variant_new_string (target)) : NULL;
  g_autoptr(GPtrArray) items = gui_test_list_menu_items (GTK_WIDGET (window));
  int clicked = 0;
  for (guint i = 0; i < items->len; i++)
    {
      GuiTestMenuItem *item = g_ptr_array_index (items, i);
      if (!g_str_equal (item->action, action) ||
          !((t == NULL && item->target == NULL) ||
            (t != NULL && item->target != NULL && g_variant_equal (t, item->target))))
        continue;
      g_hash_table_add (items_done, item_key (item));
      gui_test_click_menu_item (item);
      clicked++;
      if (after != NULL)
        after ();
    }
  if (clicked == 0)
    g_error ("no menu item for %s %s", action, target != NULL ? target : "");
}

static void
click (const char *action,
       const char *target)
{
  click_each (action, target, NULL);
}

static char *
normalise_accel (const char *accel)
{
  guint key;
  GdkModifierType mods;
  if (!gtk_accelerator_parse (accel, &key, &mods))
    return NULL;
  return gtk_accelerator_name (key, mods);
}

/* Presses ACCEL (GTK syntax) in WIN, the focus where it is. */
static void
press_in (GtkWindow  *win,
          const char *accel)
{
  g_assert_true (gui_test_press (win, accel));
  g_hash_table_add (keys_done, normalise_accel (accel));
}

/* Presses ACCEL in WIN, which closes it. */
static void
close_with (GtkWindow  *win,
            const char *accel)
{
  gui_test_press_to_close (win, accel, 20);
  g_hash_table_add (keys_done, normalise_accel (accel));
}

static void
press (const char *accel)
{
  press_in (GTK_WINDOW (window), accel);
}

static GtkWidget *
focus_widget (void)
{
  return gtk_root_get_focus (GTK_ROOT (window));
}

static gboolean
focus_in (GtkWidget *w)
{
  GtkWidget *f = focus_widget ();
  return f != NULL && (f == w || gtk_widget_is_ancestor (f, w));
}

/* The toast on screen (gui_test_visible_toast). */
static const char *
toast (void)
{
  return gui_test_visible_toast (GTK_WIDGET (window));
}

static gboolean
toast_says (gpointer prefix)
{
  const char *t = toast ();
  return t != NULL && g_str_has_prefix (t, prefix);
}

/* ---- view options ---------------------------------------------------------- */

static void
test_view_options (void)
{
  gui_test_wait_idle (window, 120);
  AsViewState *state = as_window_get_view_state (window);
  AdwStyleManager *sm = adw_style_manager_get_default ();

  /* From the main menu. Renormalise is enabled only with specials hidden. */
  click ("win.hide-special", NULL);
  g_assert_true (as_view_state_get_hide_special (state));
  click ("win.renormalise", NULL);
  g_assert_true (as_view_state_get_renormalise (state));
  click ("win.renormalise", NULL);
  g_assert_false (as_view_state_get_renormalise (state));
  click ("win.hide-special", NULL);
  g_assert_false (as_view_state_get_hide_special (state));
  /* Fitted by default (long inputs need it); the item turns it off and on. */
  click ("win.fit-scale", NULL);
  g_assert_false (as_view_state_get_fit_scale (state));
  click ("win.fit-scale", NULL);
  g_assert_true (as_view_state_get_fit_scale (state));
  const char *maps[] = { "magma", "blues", "greys", "viridis" };
  for (guint i = 0; i < G_N_ELEMENTS (maps); i++)
    {
      click ("win.colormap", maps[i]);
      g_assert_cmpstr (as_colormap_name (as_view_state_get_colormap (state)), ==, maps[i]);
    }
  click ("app.dark-style", NULL);
  g_assert_true (adw_style_manager_get_dark (sm));
  g_assert_true (as_view_state_get_dark (state));
  click ("app.dark-style", NULL);
  g_assert_false (adw_style_manager_get_dark (sm));

  /* The same from the keyboard, typing in the sentence entry (the menus
   * left the focus on their buttons; Ctrl+L goes back to the text). */
  press ("<Control>l");
  g_assert_true (focus_in (GTK_WIDGET (as_window_get_entry_a (window))));
  press ("<Control>h");
  g_assert_true (as_view_state_get_hide_special (state));
  press ("<Control>r");
  g_assert_true (as_view_state_get_renormalise (state));
  press ("<Control>r");
  g_assert_false (as_view_state_get_renormalise (state));
  press ("<Control>h");
  g_assert_false (as_view_state_get_hide_special (state));
  press ("<Control>f");
  g_assert_false (as_view_state_get_fit_scale (state));
  press ("<Control>f");
  g_assert_true (as_view_state_get_fit_scale (state));
  /* The keys edited nothing. */
  g_assert_cmpstr (gtk_editable_get_text (as_window_get_entry_a (window)), ==, AS_SAMPLE_SENTENCE);
}

/* ---- selection keys -------------------------------------------------------- */

static void
expect_selection (int layer,
                  int head)
{
  AsViewState *state = as_window_get_view_state (window);
  g_assert_cmpint (as_view_state_get_layer (state), ==, layer);
  g_assert_cmpint (as_view_state_get_head (state), ==, head);
}

static void
test_selection_keys (void)
{
  gui_test_wait_idle (window, 120);
  AsViewState *state = as_window_get_view_state (window);
  as_view_state_select (state, 1, 1);

  /* Anywhere, also while typing. */
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_model_grid (window)));
  press ("<Control>l");
  g_assert_true (focus_in (GTK_WIDGET (as_window_get_entry_a (window))));
  press ("Page_Down");
  expect_selection (2, 1);
  press ("Page_Up");
  expect_selection (1, 1);
  press ("<Alt>Down");
  expect_selection (2, 1);
  press ("<Alt>Up");
  expect_selection (1, 1);
  press ("<Alt>Right");
  expect_selection (1, 2);
  press ("<Alt>Left");
  expect_selection (1, 1);
  g_assert_cmpstr (gtk_editable_get_text (as_window_get_entry_a (window)), ==, AS_SAMPLE_SENTENCE);

  /* Plain arrows in the model view and in the head view. */
  GtkWidget *views[] = { GTK_WIDGET (as_window_get_model_grid (window)),
                         GTK_WIDGET (as_window_get_head_view (window)) };
  for (guint i = 0; i < G_N_ELEMENTS (views); i++)
    {
      gtk_widget_grab_focus (views[i]);
      g_assert_true (focus_in (views[i]));
      press ("Right");
      expect_selection (1, 2);
      press ("Down");
      expect_selection (2, 2);
      press ("Left");
      expect_selection (2, 1);
      press ("Up");
      expect_selection (1, 1);
    }

  /* The token strip: Left/Right pick a token; Escape in the head view
   * clears it. */
  GtkWidget *strip = gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_TOKEN_STRIP, NULL);
  g_assert_nonnull (strip);
  as_view_state_set_token (state, 3);
  gtk_widget_grab_focus (strip);
  press ("Right");
  g_assert_cmpint (as_view_state_get_token (state), ==, 4);
  press ("Left");
  g_assert_cmpint (as_view_state_get_token (state), ==, 3);
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_head_view (window)));
  press ("Escape");
  g_assert_cmpint (as_view_state_get_token (state), ==, -1);
}

/* The picture that takes the keys: the focusable drawing area in ROOT. */
static GtkWidget *
focusable_area (GtkWidget *root)
{
  if (GTK_IS_DRAWING_AREA (root) && gtk_widget_get_focusable (root))
    return root;
  for (GtkWidget *c = gtk_widget_get_first_child (root); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found = focusable_area (c);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* The keys the README gives in prose: the Lines picture (Up/Down pick a
 * token, Escape clears it) and Step by Step (Right/Left, N/P). */
/* Projector zoom, the presentation layout, full screen and the head
 * view's zoom: test-gui-present checks what they do; here, that the keys
 * the shortcuts window lists reach them. */
static void
test_projector_keys (void)
{
  gui_test_wait_idle (window, 120);
  AsViewState *state = as_window_get_view_state (window);
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  press ("<Control>plus");
  g_assert_cmpfloat (as_view_state_get_zoom (state), >, 1.0);
  press ("<Control>minus");
  g_assert_cmpfloat (as_view_state_get_zoom (state), ==, 1.0);
  press ("<Control>minus");
  g_assert_cmpfloat (as_view_state_get_zoom (state), <, 1.0);
  press ("<Control>0");
  g_assert_cmpfloat (as_view_state_get_zoom (state), ==, 1.0);
  press ("F5");
  g_assert_false (gtk_widget_get_mapped (GTK_WIDGET (as_window_get_model_grid (window))));
  press ("F5");
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (as_window_get_model_grid (window))));
  /* Full screen is the window manager's to grant (none under Xvfb): two
   * presses leave the window as it was either way. */
  gboolean full = gtk_window_is_fullscreen (GTK_WINDOW (window));
  press ("F11");
  press ("F11");
  gui_test_pace (200);
  g_assert_true (gtk_window_is_fullscreen (GTK_WINDOW (window)) == full);

  AsHeadView *hv = as_window_get_head_view (window);
  gtk_widget_grab_focus (GTK_WIDGET (hv));
  press ("plus");
  g_assert_cmpint (as_head_view_get_window (hv, NULL, NULL), >, 0);
  press ("minus");
  press ("plus");
  press ("0");
  g_assert_cmpint (as_head_view_get_window (hv, NULL, NULL), ==, 0);
}

/* Ablation and masking: test-gui-ablation and test-gui-mlm check what they
 * do; here, that the keys the shortcuts window lists reach them. */
static void
test_tool_keys (void)
{
  gui_test_wait_idle (window, 120);
  AsViewState *state = as_window_get_view_state (window);
  int layer = as_view_state_get_layer (state), head = as_view_state_get_head (state);
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  press ("<Control><Shift>h");
  g_assert_cmpint (as_ablation_view_state_mode_of (state, layer, head), !=, AS_ABLATE_NONE);
  press ("<Control><Shift>h");
  g_assert_cmpint (as_ablation_view_state_mode_of (state, layer, head), ==, AS_ABLATE_NONE);
  gui_test_wait_idle (window, 120);

  /* The default model has no masked-LM head: the keys leave the text. */
  g_autofree char *text = g_strdup (gtk_editable_get_text (as_window_get_entry_a (window)));
  press ("<Control>m");
  press ("<Control><Shift>m");
  g_assert_cmpstr (gtk_editable_get_text (as_window_get_entry_a (window)), ==, text);
  /* Switching a head off shows the Ablation page; the next tests read the
   * head view. */
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "head");
}

static void
test_view_keys (void)
{
  gui_test_wait_idle (window, 120);
  AsViewState *state = as_window_get_view_state (window);
  GtkStack *detail = as_window_get_detail_stack (window);
  as_view_state_set_token (state, -1);

  gtk_stack_set_visible_child_name (detail, "lines");
  GtkWidget *lines = gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_LINES_VIEW, NULL);
  GtkWidget *canvas = focusable_area (lines);
  g_assert_nonnull (canvas);
  gui_test_wait_until ((gboolean (*) (gpointer)) gtk_widget_get_mapped, canvas, 20);
  gtk_widget_grab_focus (canvas);
  g_assert_true (focus_in (canvas));
  press ("Down");
  g_assert_cmpint (as_view_state_get_token (state), >=, 0);
  int first = as_view_state_get_token (state);
  press ("Down");
  g_assert_cmpint (as_view_state_get_token (state), ==, first + 1);
  press ("Up");
  g_assert_cmpint (as_view_state_get_token (state), ==, first);
  press ("Escape");
  g_assert_cmpint (as_view_state_get_token (state), ==, -1);

  gtk_stack_set_visible_child_name (detail, "teach");
  GtkWidget *teach = gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_TEACH_VIEW, NULL);
  gui_test_wait_until ((gboolean (*) (gpointer)) gtk_widget_get_mapped, teach, 20);
  gtk_widget_grab_focus (teach);
  g_assert_true (focus_in (teach));
  AsTeachStep step = as_teach_view_get_step (AS_TEACH_VIEW (teach));
  press ("n");
  g_assert_cmpint (as_teach_view_get_step (AS_TEACH_VIEW (teach)), ==, step + 1);
  press ("Right");
  g_assert_cmpint (as_teach_view_get_step (AS_TEACH_VIEW (teach)), ==, step + 2);
  press ("Left");
  press ("p");
  g_assert_cmpint (as_teach_view_get_step (AS_TEACH_VIEW (teach)), ==, step);
  gtk_stack_set_visible_child_name (detail, "head");
}

/* ---- windows: shortcuts, about, close -------------------------------------- */

static void
test_help_and_about (void)
{
  click ("win.show-help-overlay", NULL);
  GtkWindow *help = gui_test_wait_toplevel (GTK_TYPE_SHORTCUTS_WINDOW, 20);
  close_with (help, "Escape");

  press ("<Control>question");
  help = gui_test_wait_toplevel (GTK_TYPE_SHORTCUTS_WINDOW, 20);
  close_with (help, "Escape");

  click ("app.about", NULL);
  GtkWindow *about = gui_test_wait_toplevel (ADW_TYPE_ABOUT_WINDOW, 20);
  g_assert_cmpstr (adw_about_window_get_application_name (ADW_ABOUT_WINDOW (about)), ==, "AttnScope");
  close_with (about, "Escape");
}

/* Ctrl+W closes the window it is pressed in, and only that one. */
static void
test_close_window (void)
{
  AsWindow *second = as_window_new (GTK_APPLICATION (app));
  gtk_window_present (GTK_WINDOW (second));
  gui_test_wait_until ((gboolean (*) (gpointer)) gtk_widget_get_mapped, second, 20);
  close_with (GTK_WINDOW (second), "<Control>w");
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (window)));
}

/* ---- export: Ctrl+E and the menu, to the file chooser and back --------------- */

/* Picks LABEL in whichever drop-down of ROOT lists it, as a user would. */
static void
pick (GtkWidget  *root,
      const char *label)
{
  if (GTK_IS_DROP_DOWN (root))
    {
      GListModel *m = gtk_drop_down_get_model (GTK_DROP_DOWN (root));
      for (guint i = 0; GTK_IS_STRING_LIST (m) && i < g_list_model_get_n_items (m); i++)
        if (g_str_equal (gtk_string_list_get_string (GTK_STRING_LIST (m), i), label))
          {
            gtk_drop_down_set_selected (GTK_DROP_DOWN (root), i);
            return;
          }
    }
  for (GtkWidget *c = gtk_widget_get_first_child (root); c != NULL; c = gtk_widget_get_next_sibling (c))
    pick (c, label);
}

static gboolean
file_exists (gpointer path)
{
  return g_file_test (path, G_FILE_TEST_IS_REGULAR);
}

/* PATH decodes, and its pixels are those of WANT. */
static void
assert_same_png (const char *path,
                 const char *want)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) ref = gdk_texture_new_from_filename (want, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (ref), >, 200);
  g_assert_cmpint (gui_test_png_difference (path, want), ==, 0);
}

static void
test_export (void)
{
  gui_test_wait_idle (window, 120);
  AsViewState *state = as_window_get_view_state (window);
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  as_view_state_select (state, 0, 0);
  press ("<Alt>Down");
  press ("<Alt>Down");
  press ("<Alt>Right");
  expect_selection (2, 1);

  /* Ctrl+E, a file name typed into the chooser, Enter. */
  press ("<Control>e");
  GtkFileChooser *chooser = gui_test_wait_chooser (20);
  g_assert_cmpstr (gtk_file_chooser_get_choice (chooser, "figure"), ==, "head");
  g_autofree char *typed = g_build_filename (tmp_dir, "typed-by-keys.png", NULL);
  gui_test_send_keys (GTK_WINDOW (chooser), "ctrl+a");
  gui_test_type_keys (GTK_WINDOW (chooser), typed);
  gui_test_capture_screen (NULL, "export-dialog.png");
  gui_test_send_keys (GTK_WINDOW (chooser), "Return");
  /* Its toast shows once those before it have timed out. */
  gui_test_wait_toast (GTK_WIDGET (window), "Saved typed-by-keys.png");
  g_assert_true (file_exists (typed));
  g_autofree char *want = gui_test_reference_figure (window, AS_FIGURE_HEAD, TRUE, tmp_dir, "reference-head.png");
  assert_same_png (typed, want);

  /* The menu item; the chooser completed with its own controls: the whole
   * grid as SVG, the extension coming from the Format choice. */
  click ("win.export", NULL);
  chooser = gui_test_wait_chooser (20);
  g_autoptr(GFile) folder = g_file_new_for_path (tmp_dir);
  g_assert_true (gtk_file_chooser_set_current_folder (chooser, folder, NULL));
  gtk_file_chooser_set_current_name (chooser, "from-menu");
  pick (GTK_WIDGET (chooser), "All layers × heads");
  pick (GTK_WIDGET (chooser), "SVG (vector)");
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
  gui_test_wait_toast (GTK_WIDGET (window), "Saved from-menu.svg");
  g_autofree char *svg = g_build_filename (tmp_dir, "from-menu.svg", NULL);
  g_autofree char *contents = NULL;
  g_assert_true (g_file_get_contents (svg, &contents, NULL, NULL));
  g_assert_true (g_str_has_prefix (contents, "<?xml"));

  /* With the model view focused Ctrl+E offers the grid; Escape cancels
   * and nothing is written. */
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_model_grid (window)));
  press ("<Control>e");
  chooser = gui_test_wait_chooser (20);
  g_assert_cmpstr (gtk_file_chooser_get_choice (chooser, "figure"), ==, "grid");
  /* No toast before; the chooser answers at once on Escape (gone means
   * answered), and a toast it caused would show at once: none. */
  gui_test_wait_no_toast (GTK_WIDGET (window));
  close_with (GTK_WINDOW (chooser), "Escape");
  g_assert_null (toast ());
}

/* ---- sessions: the menu items and keys reach their choosers ------------------ */

/* test-gui-session checks what saving and opening do; here, that each way
 * in opens its chooser, and Escape cancels it. */
static void
test_session_dialogs (void)
{
  gui_test_wait_idle (window, 120);
  click ("win.save-session", NULL);
  close_with (GTK_WINDOW (gui_test_wait_chooser (20)), "Escape");
  press ("<Control>s");
  close_with (GTK_WINDOW (gui_test_wait_chooser (20)), "Escape");
  click ("win.open-session", NULL);
  close_with (GTK_WINDOW (gui_test_wait_chooser (20)), "Escape");
  press ("<Control><Alt>o");
  close_with (GTK_WINDOW (gui_test_wait_chooser (20)), "Escape");
}

/* ---- copy image ------------------------------------------------------------- */

static void
assert_clipboard_is (AsFigureView view)
{
  g_autoptr(GdkTexture) copied = gui_test_clipboard_texture (GTK_WIDGET (window));
  g_assert_nonnull (copied);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) png = as_export_render_png (as_window_get_view_state (window), view, &error);
  g_assert_no_error (error);
  g_autoptr(GdkTexture) want = gdk_texture_new_from_bytes (png, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gui_test_texture_difference (copied, want), ==, 0);
}

static void
test_copy_image (void)
{
  gui_test_wait_idle (window, 120);
  /* Each copy's toast shows when the one before has timed out. */
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  press ("<Control><Shift>c");
  gui_test_wait_until (toast_says, "Copied the head", 20);
  assert_clipboard_is (AS_FIGURE_HEAD);

  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_model_grid (window)));
  press ("<Control><Shift>c");
  gui_test_wait_until (toast_says, "Copied the grid", 20);
  assert_clipboard_is (AS_FIGURE_GRID);

  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  click ("win.copy-image", NULL);
  gui_test_wait_until (toast_says, "Copied the head", 20);
}

/* ---- models: Open Model…, Ctrl+O, recent models ---------------------------- */

static guint loads;   /* ::model-loaded emissions */

static void
count_load (void)
{
  loads++;
}

static gboolean
loaded_since (gpointer before)
{
  return loads > GPOINTER_TO_UINT (before);
}

static gboolean
load_done (gpointer data)
{
  return !as_worker_is_loading (as_window_get_worker (window)) && as_window_is_idle (window);
}

static void
test_open_model (void)
{
  gui_test_wait_idle (window, 120);
  g_autofree char *dir = as_model_default_dir ();

  /* The menu item, cancelled with Escape: nothing changes. */
  click ("win.open-model", NULL);
  GtkFileChooser *chooser = gui_test_wait_chooser (20);
  close_with (GTK_WINDOW (chooser), "Escape");
  g_assert_false (as_worker_is_loading (as_window_get_worker (window)));

  /* Ctrl+O, completed: the folder picked is loaded. */
  press ("<Control>o");
  chooser = gui_test_wait_chooser (20);
  g_autoptr(GFile) folder = g_file_new_for_path (dir);
  g_assert_true (gtk_file_chooser_set_file (chooser, folder, NULL));
  /* The chooser checks the folder before it answers: not at once. */
  guint before = loads;
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
  /* The toast, looked for from the start: it times out. */
  g_free (gui_test_wait_toast_prefix (GTK_WIDGET (window), "Loaded all-MiniLM-L6-v2"));
  gui_test_wait_until (loaded_since, GUINT_TO_POINTER (before), 120);
  gui_test_wait_until (load_done, NULL, 120);

  /* Every recent model in both recent menus (the split button's arrow and
   * the main menu's submenu) opens. A load rebuilds the menus, so the items
   * are looked up again each time. */
  int opened = 0;
  for (;;)
    {
      g_autoptr(GPtrArray) items = gui_test_list_menu_items (GTK_WIDGET (window));
      GuiTestMenuItem *item = NULL;
      int seen = 0;
      for (guint i = 0; i < items->len && item == NULL; i++)
        {
          GuiTestMenuItem *it = g_ptr_array_index (items, i);
          if (g_str_equal (it->action, "win.open-recent") && seen++ == opened)
            item = it;
        }
      if (item == NULL)
        break;
      g_autofree char *dir_wanted = g_variant_dup_string (item->target, NULL);
      g_hash_table_add (items_done, item_key (item));
      guint loads_before = loads;
      gui_test_click_menu_item (item);
      gui_test_wait_until (loaded_since, GUINT_TO_POINTER (loads_before), 120);
      gui_test_wait_until (load_done, NULL, 120);
      g_assert_cmpstr (as_worker_get_model_dir (as_window_get_worker (window)), ==, dir_wanted);
      opened++;
    }
  g_assert_cmpint (opened, >=, 2);
}

/* Clicks PATH's item in every recent-models menu, each time waiting for the
 * load it starts. */
static void
open_recent_everywhere (const char *path)
{
  for (guint menu = 0;; menu++)
    {
      g_autoptr(GPtrArray) items = gui_test_list_menu_items (GTK_WIDGET (window));
      GuiTestMenuItem *item = NULL;
      guint seen = 0;
      for (guint i = 0; i < items->len && item == NULL; i++)
        {
          GuiTestMenuItem *it = g_ptr_array_index (items, i);
          if (g_str_equal (it->action, "win.open-recent") &&
              g_str_equal (g_variant_get_string (it->target, NULL), path) && seen++ == menu)
            item = it;
        }
      if (item == NULL)
        {
          g_assert_cmpuint (menu, >=, 2);
          return;
        }
      g_hash_table_add (items_done, item_key (item));
      guint before = loads;
      gui_test_click_menu_item (item);
      gui_test_wait_until (loaded_since, GUINT_TO_POINTER (before), 120);
      gui_test_wait_until (load_done, NULL, 120);
      g_assert_cmpstr (as_worker_get_model_dir (as_window_get_worker (window)), ==, path);
    }
}

/* FOLDER's SmolLM2 golden in the test data, parsed. */
static JsonParser *
read_golden (const char *folder)
{
  g_autofree char *path = g_build_filename (g_getenv ("AS_TEST_DATA"), folder, "smollm2.json", NULL);
  JsonParser *parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (parser, path, NULL));
  return parser;
}

static gboolean
next_token_shown (gpointer view)
{
  return as_next_token_view_get_n_shown (view) > 0;
}

/* The Next Token page on the decoder, against transformers' logits for the
 * golden sentence (the logit lens fixture's last layer, last position):
 * the same top 5 and probabilities, and at T = 0.5, as sampling at that
 * temperature divides the logits, each ratio p_i / p_1 squared. */
static void
check_next_token_panel (void)
{
  g_autoptr(JsonParser) parser = read_golden ("lens");
  JsonObject *golden = json_node_get_object (json_parser_get_root (parser));
  JsonArray *layers = json_object_get_array_member (golden, "layers");
  JsonObject *last = json_array_get_object_element (layers, json_array_get_length (layers) - 1);
  int n = json_object_get_int_member (golden, "n");
  JsonArray *want_ids = json_array_get_array_element (json_object_get_array_member (last, "top_ids"), n - 1);
  JsonArray *want_probs = json_array_get_array_element (json_object_get_array_member (last, "top_probs"), n - 1);

  gtk_editable_set_text (as_window_get_entry_a (window), json_object_get_string_member (golden, "sentence"));
  gui_test_wait_idle (window, 120);
  GtkStack *stack = as_window_get_detail_stack (window);
  gtk_stack_set_visible_child_name (stack, "next");
  AsNextTokenView *view = AS_NEXT_TOKEN_VIEW (gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_NEXT_TOKEN_VIEW, NULL));
  gui_test_wait_until (next_token_shown, view, 60);
  g_assert_cmpint (as_next_token_view_get_n_shown (view), ==, 10);
  float at_one[5];
  for (int i = 0; i < 5; i++)
    {
      int id;
      const char *label;
      g_assert_true (as_next_token_view_get_shown (view, i, &id, &label, &at_one[i]));
      g_assert_cmpint (id, ==, json_array_get_int_element (want_ids, i));
      g_assert_cmpfloat_with_epsilon (at_one[i], json_array_get_double_element (want_probs, i), 1e-4);
    }
  gui_test_capture_screen (NULL, "next-token-t1.png");

  /* Ten presses of Left on the slider, a step of 0.05 each: T 1 -> 0.5
   * (Page Down belongs to the window: the next layer). */
  GtkRange *temperature = as_next_token_view_get_temperature (view);
  gtk_widget_grab_focus (GTK_WIDGET (temperature));
  for (int k = 0; k < 10; k++)
    press ("Left");
  g_assert_cmpfloat_with_epsilon (gtk_range_get_value (temperature), 0.5, 1e-9);
  gui_test_wait_frames (GTK_WIDGET (window), 1);
  float p0 = 0;
  for (int i = 0; i < 5; i++)
    {
      int id;
      const char *label;
      float p;
      g_assert_true (as_next_token_view_get_shown (view, i, &id, &label, &p));
      g_assert_cmpint (id, ==, json_array_get_int_element (want_ids, i));
      if (i == 0)
        {
          p0 = p;
          g_assert_cmpfloat (p, >, at_one[0]);   /* sharper */
          continue;
        }
      double ratio = (double) at_one[i] / at_one[0];
      g_assert_cmpfloat_with_epsilon (p / p0, ratio * ratio, 1e-4);
    }
  g_assert_nonnull (strstr (as_next_token_view_get_caption (view), "T = 0.50"));
  gui_test_capture_screen (NULL, "next-token-t05.png");
  gtk_range_set_value (temperature, 1.0);
  gtk_stack_set_visible_child_name (stack, "head");
}

static gboolean
generation_done (gpointer data)
{
  return !as_worker_is_generating (as_window_get_worker (window)) && as_window_is_idle (window);
}

/* Ctrl+G on the decoder: the text grows by transformers' greedy
 * continuation (the generation goldens: 40 tokens), then the whole text is
 * analysed; pressed again while it runs, it stops between two tokens with
 * a prefix of that continuation. */
static void
check_generate (void)
{
  g_autoptr(JsonParser) parser = read_golden ("generate");
  JsonObject *golden = json_node_get_object (json_parser_get_root (parser));
  JsonObject *first = json_array_get_object_element (json_object_get_array_member (golden, "cases"), 0);
  g_assert_cmpint (json_object_get_int_member (golden, "new_tokens"), ==, AS_WINDOW_GENERATE_TOKENS);
  const char *prompt = json_object_get_string_member (first, "prompt");
  g_autofree char *want = g_strconcat (prompt, json_object_get_string_member (first, "text"), NULL);

  GtkEditable *entry = as_window_get_entry_a (window);
  gtk_editable_set_text (entry, prompt);
  gui_test_wait_idle (window, 120);
  gtk_widget_grab_focus (GTK_WIDGET (entry));
  press ("<Control>g");
  g_assert_true (as_worker_is_generating (as_window_get_worker (window)));
  g_assert_false (gtk_editable_get_editable (entry));
  gui_test_wait_until (generation_done, NULL, 120);
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, want);
  g_assert_true (gtk_editable_get_editable (entry));
  /* The views show the analysis of the whole text. */
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_assert_cmpstr (a->text_a, ==, want);
  gui_test_capture_screen (NULL, "generated.png");

  /* Stopped at once: what came is the continuation's beginning. */
  gtk_editable_set_text (entry, prompt);
  gui_test_wait_idle (window, 120);
  press ("<Control>g");
  press ("<Control>g");
  gui_test_wait_until (generation_done, NULL, 120);
  const char *stopped = gtk_editable_get_text (entry);
  g_assert_true (g_str_has_prefix (want, stopped));
  g_assert_cmpuint (strlen (stopped), <, strlen (want));
  g_test_message ("stopped after \"%s\"", stopped + strlen (prompt));
}

/* Open Text…: sentence A from a UTF-8 file, through the chooser as a user
 * picks it; a file that is not text is refused, the sentence kept. */
static void
test_open_text (void)
{
  gui_test_wait_idle (window, 120);
  GtkEditable *entry = as_window_get_entry_a (window);
  g_autofree char *before = g_strdup (gtk_editable_get_text (entry));
  g_autofree char *text_path = g_build_filename (tmp_dir, "lecture.txt", NULL);
  g_autofree char *binary_path = g_build_filename (tmp_dir, "picture.png", NULL);
  /* Surrounding blank lines go, as with --text-file. */
  const char *file_text = "\nThe cat sat on the mat; it was happy — très content.\n\n";
  g_assert_true (g_file_set_contents (text_path, file_text, -1, NULL));
  static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe";
  g_assert_true (g_file_set_contents (binary_path, png, sizeof png - 1, NULL));

  /* The menu item, cancelled: nothing changes. */
  click ("win.open-text", NULL);
  GtkFileChooser *chooser = gui_test_wait_chooser (20);
  g_assert_cmpint (gtk_file_chooser_get_action (chooser), ==, GTK_FILE_CHOOSER_ACTION_OPEN);
  close_with (GTK_WINDOW (chooser), "Escape");
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, before);

  /* Not text: refused in words, the sentence kept. */
  press ("<Control><Shift>t");
  gui_test_pick_file (gui_test_wait_chooser (20), binary_path);
  g_free (gui_test_wait_toast_prefix (GTK_WIDGET (window), "“picture.png” is not a UTF-8 text file"));
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, before);

  /* Text: sentence A, analysed. */
  press ("<Control><Shift>t");
  gui_test_pick_file (gui_test_wait_chooser (20), text_path);
  gui_test_wait_toast (GTK_WIDGET (window), "Opened “lecture.txt”");
  g_assert_cmpstr (gtk_editable_get_text (entry), ==, "The cat sat on the mat; it was happy — très content.");
  gui_test_wait_idle (window, 120);
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_assert_nonnull (a);
  g_assert_cmpstr (a->text_a, ==, gtk_editable_get_text (entry));

  gtk_editable_set_text (entry, before);
  gui_test_wait_idle (window, 120);
}

/* Hide [CLS]/[SEP] is offered where the text has such a token (BERT's
 * always; SmolLM2's text none): the check button sensitive or not, Ctrl+H
 * toggling the option or doing nothing. */
static void
check_hide_special_offered (gboolean offered)
{
  gui_test_wait_idle (window, 120);
  AsViewState *state = as_window_get_view_state (window);
  GtkWidget *check = gui_test_find_widget (GTK_WIDGET (window), GTK_TYPE_CHECK_BUTTON,
                                           "_Hide [CLS]/[SEP]");
  g_assert_nonnull (check);
  g_assert_cmpint (gtk_widget_get_sensitive (check), ==, offered);
  g_assert_false (as_view_state_get_hide_special (state));
  press ("<Control>l");
  press ("<Control>h");
  g_assert_cmpint (as_view_state_get_hide_special (state), ==, offered);
  if (offered)
    {
      press ("<Control>h");
      g_assert_false (as_view_state_get_hide_special (state));
    }
}

/* Open GGUF File…: the menu item cancelled, Ctrl+Shift+O completed with a
 * decoder, whose one text hides Sentence B (kept for the next model that
 * takes pairs); then the default model again. */
static void
test_open_gguf (void)
{
  gui_test_wait_idle (window, 120);
  g_autofree char *gguf = as_model_default_decoder_path ();
  if (!g_file_test (gguf, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip_printf ("the SmolLM2 GGUF is not downloaded (%s; run tools/setup)", gguf);
      click ("win.open-model-file", NULL);   /* still on the menu: cancelled */
      close_with (GTK_WINDOW (gui_test_wait_chooser (20)), "Escape");
      press ("<Control><Shift>o");
      close_with (GTK_WINDOW (gui_test_wait_chooser (20)), "Escape");
      return;
    }
  GtkWidget *entry_b = GTK_WIDGET (as_window_get_entry_b (window));
  gtk_editable_set_text (GTK_EDITABLE (entry_b), "A second sentence.");
  gui_test_wait_idle (window, 120);
  g_assert_true (gtk_widget_get_visible (entry_b));

  click ("win.open-model-file", NULL);
  GtkFileChooser *chooser = gui_test_wait_chooser (20);
  g_assert_cmpint (gtk_file_chooser_get_action (chooser), ==, GTK_FILE_CHOOSER_ACTION_OPEN);
  close_with (GTK_WINDOW (chooser), "Escape");
  g_assert_false (as_worker_is_loading (as_window_get_worker (window)));

  press ("<Control><Shift>o");
  chooser = gui_test_wait_chooser (20);
  guint before = loads;
  gui_test_pick_file (chooser, gguf);
  gui_test_wait_until (loaded_since, GUINT_TO_POINTER (before), 120);
  gui_test_wait_until (load_done, NULL, 120);
  g_assert_cmpstr (as_worker_get_model_dir (as_window_get_worker (window)), ==, gguf);
  g_assert_false (gtk_widget_get_visible (entry_b));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (entry_b)), ==, "A second sentence.");
  /* Analysed as one text: a status line, not a refusal of the pair. */
  g_assert_nonnull (as_view_state_get_analysis (as_window_get_view_state (window)));
  g_assert_null (strstr (as_window_get_status_text (window), "one text"));
  /* The decoder's own mask: a later key is masked, not a probability. */
  AsHeadView *head = as_window_get_head_view (window);
  g_autofree char *later = as_head_view_describe_cell (head, 0, 1);
  g_autofree char *earlier = as_head_view_describe_cell (head, 1, 0);
  g_assert_nonnull (strstr (later, "masked"));
  g_assert_null (strstr (earlier, "masked"));
  gui_test_capture_screen (NULL, "open-gguf.png");
  check_hide_special_offered (FALSE);
  check_next_token_panel ();
  check_generate ();

  /* 30 layers: the grid scrolls rather than shrink its thumbnails, and the
   * keys bring the selected one into view. */
  GtkWidget *grid = GTK_WIDGET (as_window_get_model_grid (window));
  GtkScrolledWindow *scroller = GTK_SCROLLED_WINDOW (gtk_widget_get_ancestor (grid, GTK_TYPE_SCROLLED_WINDOW));
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (scroller);
  g_assert_cmpfloat (gtk_adjustment_get_upper (adj), >, gtk_adjustment_get_page_size (adj));
  AsViewState *state = as_window_get_view_state (window);
  while (as_view_state_get_layer (state) < 29)
    press ("Page_Down");
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  graphene_rect_t last;
  g_assert_true (gtk_widget_compute_bounds (grid, grid, &last));
  /* The last row of thumbnails ends above the caption and legend lines. */
  g_assert_cmpfloat (gtk_adjustment_get_value (adj) + gtk_adjustment_get_page_size (adj), >=,
                     gtk_adjustment_get_upper (adj) - 80);
  gui_test_capture_screen (NULL, "open-gguf-last-layer.png");
  while (as_view_state_get_layer (state) > 0)
    press ("Page_Up");
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  g_assert_cmpfloat (gtk_adjustment_get_value (adj), ==, 0);

  /* It is a recent model now, in each recent menu; then the default model
   * again, from them too. */
  open_recent_everywhere (gguf);
  g_autofree char *dir = as_model_default_dir ();
  open_recent_everywhere (dir);
  g_assert_true (gtk_widget_get_visible (entry_b));
  check_hide_special_offered (TRUE);
  /* An encoder has no next token to show, and the page says why. */
  gui_test_wait_idle (window, 120);
  AsNextTokenView *next = AS_NEXT_TOKEN_VIEW (gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_NEXT_TOKEN_VIEW, NULL));
  g_assert_cmpint (as_next_token_view_get_n_shown (next), ==, 0);
  g_assert_nonnull (strstr (as_next_token_view_get_caption (next), "no language-model head"));
  gtk_editable_set_text (GTK_EDITABLE (entry_b), "");
  gui_test_wait_idle (window, 120);
}

/* ---- device ------------------------------------------------------------------ */

static void
read_and_close_details (void)
{
  GtkWindow *dialog = gui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, 20);
  /* The forced driver failure is reached only where the plugin was built
   * (the sanitizer build has no CUDA): otherwise the reason is the plugin. */
  g_autofree char *plugin = as_gpu_plugin_find ();
  const char *why = plugin != NULL ? "forced by ATTNSCOPE_GPU_FORCE_FAIL=driver" : "plugin";
  const char *body = adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog));
  if (strstr (body, why) == NULL)
    g_error ("the details say \"%s\", expected them to name \"%s\"", body, why);
  close_with (dialog, "Escape");
}

static void
test_device_menu (void)
{
  gui_test_wait_idle (window, 120);
  AsWorker *worker = as_window_get_worker (window);
  /* Deterministic whatever the machine has: a GPU that "has no driver". */
  g_setenv ("ATTNSCOPE_GPU_FORCE_FAIL", "driver", TRUE);

  const char *order[] = { "auto", "gpu", "cpu" };
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    {
      click ("win.device", order[i]);
      gui_test_wait_until (load_done, NULL, 120);
      g_assert_cmpstr (as_worker_get_backend_kind (worker), ==, "cpu");
    }
  /* After the GPU failed, "Why Not the GPU?" was there; now, on the CPU by
   * choice, it still explains the last failure. */
  click ("win.device", "gpu");
  gui_test_wait_until (load_done, NULL, 120);
  click_each ("win.device-details", NULL, read_and_close_details);
  g_unsetenv ("ATTNSCOPE_GPU_FORCE_FAIL");
  click ("win.device", "cpu");
  gui_test_wait_until (load_done, NULL, 120);
}

/* ---- Ctrl+Q: the real program ---------------------------------------------- */

static void
test_quit (void)
{
  if (!gui_test_have_xdotool ())
    return;
  g_autofree char *exe = g_build_filename (g_getenv ("AS_TEST_BUILD"), "..", "app", "attnscope", NULL);
  const char *argv[] = { exe, NULL };
  GuiTestChild *child = gui_test_child_spawn (argv, NULL);
  /* Another program: its window is found by its process, focused, and
   * Ctrl+Q pressed in it. */
  g_autofree char *xid = gui_test_child_window (child, "AttnScope", 60);
  if (xid != NULL)
    gui_test_send_keys_to (xid, "ctrl+q");
  if (xid == NULL || !gui_test_child_wait (child, 30))
    {
      gui_test_child_free (child);
      g_error (xid == NULL ? "attnscope showed no window" : "Ctrl+Q did not quit attnscope");
    }
  g_assert_true (g_spawn_check_wait_status (child->status, NULL));
  gui_test_child_free (child);
  g_hash_table_add (keys_done, normalise_accel ("<Control>q"));
}

/* ---- a file named on the command line ---------------------------------------- */

/* What a file manager runs (the desktop file's Exec=attnscope %f). */
typedef struct {
  GuiTestChild *child;
  const char   *recent;   /* the child's recent-models file */
  const char   *model;    /* the path it must name once the model is in */
} OpenedWait;

static gboolean
opened (const OpenedWait *w)
{
  g_autofree char *text = NULL;
  return g_file_get_contents (w->recent, &text, NULL, NULL) && strstr (text, w->model) != NULL;
}

static gboolean
opened_or_exited (gpointer data)
{
  const OpenedWait *w = data;
  return w->child->exited || opened (w);
}

/* The real program run with FILE alone: a window, MODEL loaded in it (the
 * recent-models list of a fresh configuration names it once it is in),
 * and Ctrl+Q quits it cleanly. */
static void
check_opens (const char *exe,
             const char *file,
             const char *model_path)
{
  g_autofree char *config = g_build_filename (tmp_dir, "open-config", NULL);
  g_autofree char *recent = g_build_filename (config, "attnscope", "recent-models.ini", NULL);
  g_remove (recent);
  g_autofree char *env_config = g_strdup_printf ("XDG_CONFIG_HOME=%s", config);
  const char *argv[] = { exe, file, NULL };
  const char *env[] = { env_config, NULL };
  GuiTestChild *child = gui_test_child_spawn (argv, env);
  g_autofree char *xid = gui_test_child_window (child, "AttnScope", 60);
  OpenedWait wait = { child, recent, model_path };
  if (xid != NULL)
    gui_test_wait_until (opened_or_exited, &wait, 120);
  if (xid == NULL || child->exited || !opened (&wait))
    {
      gui_test_child_free (child);
      g_error ("attnscope %s: %s", file, xid == NULL ? "no window" : child->exited ? "exited"
                                                                                    : "model not opened");
    }
  gui_test_send_keys_to (xid, "ctrl+q");
  if (!gui_test_child_wait (child, 30))
    {
      gui_test_child_free (child);
      g_error ("Ctrl+Q did not quit attnscope %s", file);
    }
  g_assert_true (g_spawn_check_wait_status (child->status, NULL));
  gui_test_child_free (child);
  g_test_message ("attnscope %s: opened %s", file, model_path);
}

static void
test_open_named_file (void)
{
  if (!gui_test_have_xdotool ())
    return;
  g_autofree char *exe = g_build_filename (g_getenv ("AS_TEST_BUILD"), "..", "app", "attnscope", NULL);
  g_autofree char *gguf = g_build_filename (g_getenv ("AS_TEST_DATA"), "gpt2-tiny", "gpt2-tiny.gguf",
                                            NULL);
  /* a GGUF file, as double-clicked */
  check_opens (exe, gguf, gguf);

  /* a session, known by its suffix, opens its model */
  g_autofree char *session = g_build_filename (tmp_dir, "Named Session.attnscope", NULL);
  g_autofree char *session_text = g_strdup_printf (
    "# AttnScope session\n[session]\nversion=1\nmodel=%s\ntext=The cat sat on the mat.\n"
    "pair=\ncompare=\nview=head\nlayer=1\nhead=2\ntoken=-1\nteach-step=embeddings\n"
    "[options]\nhide-special=false\nrenormalise=false\nfit-scale=true\nwords=false\n"
    "colormap=viridis\naggregate=head\n", gguf);
  g_assert_true (g_file_set_contents (session, session_text, -1, NULL));
  check_opens (exe, session, gguf);

  /* two files, or a file beside --model: refused with a message, no window */
  const char *twice[][5] = {
    { exe, gguf, session, NULL },
    { exe, "--model", gguf, session, NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (twice); i++)
    {
      g_autofree char *err = NULL;
      int status = 0;
      g_assert_true (g_spawn_sync (NULL, (char **) twice[i], NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                                   NULL, NULL, &err, &status, NULL));
      g_assert_false (g_spawn_check_wait_status (status, NULL));
      g_assert_nonnull (strstr (err, "name one model or session"));
    }
}

/* ---- nothing left out -------------------------------------------------------- */

/* "Ctrl+Shift+C", "Page Up", "Alt+Left", "Ctrl+?" as GTK accelerators. */
static char *
readme_key_to_accel (const char *text)
{
  g_autoptr(GString) accel = g_string_new (NULL);
  g_auto(GStrv) parts = g_strsplit (text, "+", -1);
  guint n = g_strv_length (parts);
  for (guint i = 0; i + 1 < n; i++)
    {
      if (g_str_equal (parts[i], "Ctrl"))
        g_string_append (accel, "<Control>");
      else if (g_str_equal (parts[i], "Shift"))
        g_string_append (accel, "<Shift>");
      else if (g_str_equal (parts[i], "Alt"))
        g_string_append (accel, "<Alt>");
      else
        return NULL;
    }
  const char *key = parts[n - 1];
  if (g_str_equal (key, "?"))
    key = "question";
  g_autofree char *underscored = g_strdelimit (g_strdup (key), " ", '_');
  if (strlen (underscored) == 1)
    g_string_append_c (accel, g_ascii_tolower (underscored[0]));
  else
    g_string_append (accel, underscored);
  return normalise_accel (accel->str);
}

/* The keys of the README's table ("| keys | |" to the first line that is
 * not a table row). */
static GPtrArray *
readme_keys (void)
{
  g_autofree char *path = g_build_filename (g_getenv ("AS_TEST_DATA"), "..", "..", "README.md", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  gboolean in_table = FALSE;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], "| keys |"))
        {
          in_table = TRUE;
          continue;
        }
      if (!in_table)
        continue;
      if (!g_str_has_prefix (lines[i], "|"))
        break;
      g_auto(GStrv) cells = g_strsplit (lines[i] + 1, "|", 2);
      if (strstr (cells[0], "---") != NULL)
        continue;
      g_auto(GStrv) keys = g_strsplit_set (cells[0], ",/", -1);
      for (guint k = 0; keys[k] != NULL; k++)
        {
          g_strstrip (keys[k]);
          char *accel = readme_key_to_accel (keys[k]);
          if (accel == NULL)
            g_error ("README key \"%s\" is not a key", keys[k]);
          g_ptr_array_add (out, accel);
        }
    }
  g_assert_cmpuint (out->len, >, 10);
  return out;
}

/* Every accelerator the shortcuts window shows. */
static GPtrArray *
overlay_keys (void)
{
  g_autoptr(GtkBuilder) builder =
    gtk_builder_new_from_resource ("/io/github/attnscope/AttnScope/gtk/help-overlay.ui");
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSList) objects = gtk_builder_get_objects (builder);
  for (GSList *l = objects; l != NULL; l = l->next)
    {
      if (!GTK_IS_SHORTCUTS_SHORTCUT (l->data))
        continue;
      g_autofree char *accel = NULL, *action = NULL;
      g_object_get (l->data, "accelerator", &accel, "action-name", &action, NULL);
      g_auto(GStrv) accels = action != NULL
                             ? gtk_application_get_accels_for_action (GTK_APPLICATION (app), action)
                             : g_strsplit (accel != NULL ? accel : "", " ", -1);
      if (action != NULL && accels[0] == NULL)
        g_error ("the shortcuts window lists %s, which has no accelerator", action);
      for (guint i = 0; accels[i] != NULL; i++)
        if (*accels[i] != '\0')
          g_ptr_array_add (out, normalise_accel (accels[i]));
    }
  gtk_window_destroy (GTK_WINDOW (gtk_builder_get_object (builder, "help_overlay")));
  return out;
}

static void
test_all_covered (void)
{
  g_autoptr(GPtrArray) items = gui_test_list_menu_items (GTK_WIDGET (window));
  g_assert_cmpuint (items->len, >, 15);
  for (guint i = 0; i < items->len; i++)
    {
      GuiTestMenuItem *item = g_ptr_array_index (items, i);
      g_autofree char *key = item_key (item);
      if (!g_hash_table_contains (items_done, key))
        g_error ("menu item %s was never clicked by this suite", key);
    }
  g_autoptr(GPtrArray) readme = readme_keys ();
  g_autoptr(GPtrArray) overlay = overlay_keys ();
  GPtrArray *lists[] = { readme, overlay };
  for (guint l = 0; l < G_N_ELEMENTS (lists); l++)
    for (guint i = 0; i < lists[l]->len; i++)
      if (!g_hash_table_contains (keys_done, g_ptr_array_index (lists[l], i)))
        g_error ("%s key %s was never pressed by this suite", l == 0 ? "README" : "shortcuts window",
                 (char *) g_ptr_array_index (lists[l], i));
  g_test_message ("%u menu items clicked, %u distinct keys pressed",
                  g_hash_table_size (items_done), g_hash_table_size (keys_done));
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
  items_done = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  keys_done = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  tmp_dir = g_dir_make_tmp ("attnscope-actions-XXXXXX", NULL);
  window = gui_test_start (&app, &model, &backend);
  g_signal_connect (as_window_get_worker (window), "model-loaded", G_CALLBACK (count_load), NULL);
  g_autofree char *xdotool = g_find_program_in_path ("xdotool");
  if (model == NULL || xdotool == NULL)
    {
      printf ("1..0 # SKIP needs the default model (tools/setup) and xdotool\n");
      return 0;
    }

  g_test_add_func ("/actions/view-options", test_view_options);
  g_test_add_func ("/actions/selection-keys", test_selection_keys);
  g_test_add_func ("/actions/view-keys", test_view_keys);
  g_test_add_func ("/actions/projector-keys", test_projector_keys);
  g_test_add_func ("/actions/tool-keys", test_tool_keys);
  g_test_add_func ("/actions/help-and-about", test_help_and_about);
  g_test_add_func ("/actions/close-window", test_close_window);
  g_test_add_func ("/actions/export", test_export);
  g_test_add_func ("/actions/copy-image", test_copy_image);
  g_test_add_func ("/actions/session-dialogs", test_session_dialogs);
  g_test_add_func ("/actions/open-model", test_open_model);
  g_test_add_func ("/actions/open-gguf", test_open_gguf);
  g_test_add_func ("/actions/open-text", test_open_text);
  g_test_add_func ("/actions/device-menu", test_device_menu);
  g_test_add_func ("/actions/quit", test_quit);
  g_test_add_func ("/actions/open-named-file", test_open_named_file);
  g_test_add_func ("/actions/all-covered", test_all_covered);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  gui_test_remove_tree (tmp_dir);
  g_free (tmp_dir);
  g_hash_table_unref (items_done);
  g_hash_table_unref (keys_done);
  return status;
}
