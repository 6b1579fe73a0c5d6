/* gui-test-util.c — the app suites' shared start-up and waiting. */
#include "gui-test-util.h"

#include <gdk/x11/gdkx.h>
#include <signal.h>
#include <string.h>

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
  /* The pointer off the window: a tooltip under it would show up in
   * screenshots and snapshots. */
  g_autofree char *xdotool = g_find_program_in_path ("xdotool");
  if (xdotool != NULL && GDK_IS_X11_DISPLAY (gdk_display_get_default ()))
    {
      const char *argv[] = { xdotool, "mousemove", "1590", "990", NULL };
      g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, NULL, NULL);
    }
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
  if (expired)
    {
      /* What the screen showed when it did not happen, for the log. */
      g_autofree char *name = g_strdup_printf ("timeout%s.png", g_test_get_path ());
      g_strdelimit (name + 1, "/", '-');
      gui_test_capture_screen (NULL, name);
    }
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

/* ---- failing on warnings -------------------------------------------------- */

static GLogWriterOutput
strict_writer (GLogLevelFlags   level,
               const GLogField *fields,
               gsize            n_fields,
               gpointer         data)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    {
      const char *domain = NULL, *message = NULL;
      for (gsize i = 0; i < n_fields; i++)
        if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
          domain = fields[i].value;
        else if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
          message = fields[i].value;
      g_test_fail_printf ("%s%s%s", domain != NULL ? domain : "", domain != NULL ? ": " : "",
                          message != NULL ? message : "(no message)");
      /* Fatal too: the test stops where it happened, with a backtrace. */
      level |= G_LOG_FLAG_FATAL;
    }
  return g_log_writer_default (level, fields, n_fields, data);
}

void
gui_test_init_strict (int    *argc,
                      char ***argv)
{
  g_test_init (argc, argv, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  g_log_set_writer_func (strict_writer, NULL, NULL);
  /* The file chooser saves its settings; without a session bus, dconf
   * would warn about it. Tests keep settings in memory. */
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
}

gboolean
gui_test_init (int    *argc,
               char ***argv)
{
  gui_test_init_strict (argc, argv);
  return gtk_init_check ();
}

/* ---- toplevels ------------------------------------------------------------ */

GtkWindow *
gui_test_find_toplevel (GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels ();
  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) w = g_list_model_get_item (toplevels, i);
      if (G_TYPE_CHECK_INSTANCE_TYPE (w, type) && gtk_widget_get_visible (GTK_WIDGET (w)) &&
          gtk_widget_get_mapped (GTK_WIDGET (w)))
        return w;
    }
  return NULL;
}

typedef struct {
  GType      type;
  GtkWindow *found;
} ToplevelWait;

static gboolean
toplevel_there (gpointer data)
{
  ToplevelWait *w = data;
  w->found = gui_test_find_toplevel (w->type);
  return w->found != NULL;
}

GtkWindow *
gui_test_wait_toplevel (GType type,
                        guint timeout_s)
{
  ToplevelWait w = { type, NULL };
  gui_test_wait_until (toplevel_there, &w, timeout_s);
  return w.found;
}

static gboolean
toplevel_gone (gpointer data)
{
  GtkWidget **weak = data;
  return *weak == NULL || !gtk_widget_get_visible (*weak);
}

void
gui_test_press_to_close (GtkWindow  *window,
                         const char *accel,
                         guint       timeout_s)
{
  /* Closing may destroy it, even before the keys are all sent: watched
   * through a weak pointer from before the first key. */
  GtkWidget *weak = GTK_WIDGET (window);
  g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
  gui_test_press (window, accel);
  gui_test_wait_until (toplevel_gone, &weak, timeout_s);
  if (weak != NULL)
    g_object_remove_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
}

/* ---- real key events ------------------------------------------------------ */

gboolean
gui_test_have_xdotool (void)
{
  g_autofree char *xdotool = g_find_program_in_path ("xdotool");
  if (xdotool == NULL)
    {
      g_test_skip ("xdotool not installed (tools/setup installs it)");
      return FALSE;
    }
  if (!GDK_IS_X11_DISPLAY (gdk_display_get_default ()))
    {
      g_test_skip ("not an X11 display (GDK_BACKEND=x11 under Xvfb)");
      return FALSE;
    }
  return TRUE;
}

typedef struct {
  gboolean done;
  int      status;
} ChildWait;

static void
on_child_exit (GPid     pid,
               int      status,
               gpointer data)
{
  ChildWait *w = data;
  w->status = status;
  w->done = TRUE;
  g_spawn_close_pid (pid);
}

/* Runs xdotool with ARGS after focusing WINDOW, the main loop running (the
 * window must answer the focus change and take the events). */
static gboolean
xdotool_on (GtkWindow  *window,
            const char *command,
            const char *arg)
{
  if (!gui_test_have_xdotool ())
    return FALSE;
  GdkSurface *surface = gtk_native_get_surface (GTK_NATIVE (window));
  g_assert_nonnull (surface);
  g_autofree char *xid = g_strdup_printf ("%lu", (unsigned long) gdk_x11_surface_get_xid (surface));
  /* No window manager under Xvfb: the focus is set directly (windowfocus,
   * not windowactivate, which needs one), and --sync waits until the X
   * server has it. The keys then go through XTEST to the focused window,
   * as a keyboard's would. */
  g_autoptr(GStrvBuilder) args = g_strv_builder_new ();
  const char *head[] = { "xdotool", "windowfocus", "--sync", xid, command, "--delay", "40", NULL };
  g_strv_builder_addv (args, head);
  if (g_str_equal (command, "key"))
    {
      /* One argument per key press: "alt+Down Page_Up" is two. */
      g_auto(GStrv) keys = g_strsplit (arg, " ", -1);
      for (guint i = 0; keys[i] != NULL; i++)
        if (*keys[i] != '\0')
          g_strv_builder_add (args, keys[i]);
    }
  else
    g_strv_builder_add (args, arg);
  g_auto(GStrv) argv = g_strv_builder_end (args);
  GPid pid;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_async (NULL, argv, NULL,
                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                NULL, NULL, &pid, &error));
  g_assert_no_error (error);
  ChildWait w = { FALSE, 0 };
  g_child_watch_add (pid, on_child_exit, &w);
  while (!w.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (g_spawn_check_wait_status (w.status, NULL));
  /* Let the events that are now queued in the X server arrive. (WINDOW
   * may be gone: Escape closes dialogs.) */
  gdk_display_sync (gdk_display_get_default ());
  while (g_main_context_iteration (NULL, FALSE))
    ;
  return TRUE;
}

gboolean
gui_test_send_keys (GtkWindow  *window,
                    const char *keys)
{
  return xdotool_on (window, "key", keys);
}

gboolean
gui_test_type_keys (GtkWindow  *window,
                    const char *text)
{
  return xdotool_on (window, "type", text);
}

gboolean
gui_test_press (GtkWindow  *window,
                const char *accel)
{
  guint keyval;
  GdkModifierType mods;
  g_assert_true (gtk_accelerator_parse (accel, &keyval, &mods));
  g_autoptr(GString) keys = g_string_new (NULL);
  if (mods & GDK_CONTROL_MASK)
    g_string_append (keys, "ctrl+");
  if (mods & GDK_SHIFT_MASK)
    g_string_append (keys, "shift+");
  if (mods & GDK_ALT_MASK)
    g_string_append (keys, "alt+");
  /* GDK's key names are X keysym names. */
  g_string_append (keys, gdk_keyval_name (keyval));
  return gui_test_send_keys (window, keys->str);
}

/* ---- menus ---------------------------------------------------------------- */

/* The popover menu draws each item as a (private) GtkModelButton whose
 * "text" is the item's label; the action lives in the menu model. Items
 * are matched to buttons by label, in order, within one menu button. */
static gboolean
is_model_button (GtkWidget *w)
{
  return g_str_equal (G_OBJECT_TYPE_NAME (w), "GtkModelButton");
}

static void
collect_buttons (GtkWidget *w,
                 GPtrArray *out)
{
  if (is_model_button (w))
    g_ptr_array_add (out, w);
  for (GtkWidget *c = gtk_widget_get_first_child (w); c != NULL; c = gtk_widget_get_next_sibling (c))
    collect_buttons (c, out);
}

/* Equal but for mnemonic underscores, which a popover may drop. */
static gboolean
same_label (const char *a,
            const char *b)
{
  if (a == NULL || b == NULL)
    return FALSE;
  g_autoptr(GString) x = g_string_new (a), y = g_string_new (b);
  g_string_replace (x, "_", "", 0);
  g_string_replace (y, "_", "", 0);
  return g_str_equal (x->str, y->str);
}

static void
menu_item_free (gpointer data)
{
  GuiTestMenuItem *item = data;
  g_free (item->action);
  g_free (item->label);
  g_clear_pointer (&item->target, g_variant_unref);
  g_free (item);
}

static void
collect_model (GMenuModel    *model,
               GtkMenuButton *button,
               GPtrArray     *buttons,
               GPtrArray     *out)
{
  for (int i = 0; i < g_menu_model_get_n_items (model); i++)
    {
      GMenuModel *link;
      if ((link = g_menu_model_get_item_link (model, i, G_MENU_LINK_SECTION)) != NULL ||
          (link = g_menu_model_get_item_link (model, i, G_MENU_LINK_SUBMENU)) != NULL)
        {
          collect_model (link, button, buttons, out);
          g_object_unref (link);
          continue;
        }
      char *action = NULL, *label = NULL;
      if (!g_menu_model_get_item_attribute (model, i, G_MENU_ATTRIBUTE_ACTION, "s", &action))
        continue;
      g_menu_model_get_item_attribute (model, i, G_MENU_ATTRIBUTE_LABEL, "s", &label);
      GuiTestMenuItem *item = g_new0 (GuiTestMenuItem, 1);
      item->menu_button = button;
      item->action = action;
      item->label = label;
      item->target = g_menu_model_get_item_attribute_value (model, i, G_MENU_ATTRIBUTE_TARGET, NULL);
      for (guint b = 0; b < buttons->len; b++)
        {
          g_autofree char *text = NULL;
          g_object_get (g_ptr_array_index (buttons, b), "text", &text, NULL);
          if (same_label (text, label))
            {
              item->widget = g_ptr_array_steal_index (buttons, b);
              break;
            }
        }
      /* An item that hides itself (hidden-when) has no button meanwhile. */
      g_autofree char *hidden_when = NULL;
      g_menu_model_get_item_attribute (model, i, "hidden-when", "s", &hidden_when);
      if (item->widget == NULL && hidden_when == NULL)
        g_error ("the menu item \"%s\" (%s) is not in its popover", label, action);
      g_ptr_array_add (out, item);
    }
}

static void
collect_items (GtkWidget *w,
               GPtrArray *out)
{
  if (GTK_IS_MENU_BUTTON (w) && gtk_menu_button_get_menu_model (GTK_MENU_BUTTON (w)) != NULL)
    {
      g_autoptr(GPtrArray) buttons = g_ptr_array_new ();
      collect_buttons (GTK_WIDGET (gtk_menu_button_get_popover (GTK_MENU_BUTTON (w))), buttons);
      collect_model (gtk_menu_button_get_menu_model (GTK_MENU_BUTTON (w)), GTK_MENU_BUTTON (w), buttons, out);
      return;
    }
  for (GtkWidget *c = gtk_widget_get_first_child (w); c != NULL; c = gtk_widget_get_next_sibling (c))
    collect_items (c, out);
}

GPtrArray *
gui_test_list_menu_items (GtkWidget *root)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (menu_item_free);
  collect_items (root, out);
  return out;
}

static gboolean
widget_mapped (gpointer w)
{
  return gtk_widget_get_mapped (w);
}

static gboolean
widget_unmapped (gpointer w)
{
  return !gtk_widget_get_mapped (w);
}

void
gui_test_click_menu_item (GuiTestMenuItem *item)
{
  gtk_menu_button_popup (item->menu_button);
  gui_test_wait_until (widget_mapped, gtk_menu_button_get_popover (item->menu_button), 10);
  if (item->widget == NULL)
    g_error ("menu item \"%s\" (%s) is hidden", item->label, item->action);
  if (!gtk_widget_is_sensitive (item->widget))
    g_error ("menu item \"%s\" (%s) is disabled", item->label, item->action);
  gtk_widget_activate (item->widget);
  gtk_menu_button_popdown (item->menu_button);
  /* Closing gives the focus back to the menu button: done before the
   * caller presses keys that depend on the focus. */
  gui_test_wait_until (widget_unmapped, gtk_menu_button_get_popover (item->menu_button), 10);
}

void
gui_test_activate_menu_item (GtkWidget  *root,
                             const char *action,
                             GVariant   *target)
{
  if (target != NULL)
    g_variant_ref_sink (target);
  g_autoptr(GPtrArray) items = gui_test_list_menu_items (root);
  GuiTestMenuItem *found = NULL;
  for (guint i = 0; i < items->len && found == NULL; i++)
    {
      GuiTestMenuItem *item = g_ptr_array_index (items, i);
      if (g_str_equal (item->action, action) &&
          ((item->target == NULL && target == NULL) ||
           (item->target != NULL && target != NULL && g_variant_equal (item->target, target))))
        found = item;
    }
  g_autofree char *what = target != NULL ? g_variant_print (target, FALSE) : g_strdup ("");
  if (target != NULL)
    g_variant_unref (target);
  if (found == NULL)
    g_error ("no menu item for %s %s", action, what);
  gui_test_click_menu_item (found);
}

gboolean
gui_test_menu_item_ticked (GtkWidget *item)
{
  gboolean active = FALSE;
  g_object_get (item, "active", &active, NULL);
  return active;
}

GtkWidget *
gui_test_find_widget (GtkWidget  *root,
                      GType       type,
                      const char *label)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (root, type))
    {
      if (label == NULL)
        return root;
      GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (root), "label");
      g_autofree char *text = NULL;
      if (pspec != NULL && pspec->value_type == G_TYPE_STRING)
        g_object_get (root, "label", &text, NULL);
      if (g_strcmp0 (text, label) == 0)
        return root;
    }
  for (GtkWidget *c = gtk_widget_get_first_child (root); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found = gui_test_find_widget (c, type, label);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* ---- other programs --------------------------------------------------------- */

static void
on_test_child_exit (GPid     pid,
                    int      status,
                    gpointer data)
{
  GuiTestChild *child = data;
  child->status = status;
  child->exited = TRUE;
  g_spawn_close_pid (pid);
}

GuiTestChild *
gui_test_child_spawn (const char * const *argv,
                      const char * const *env)
{
  g_auto(GStrv) envp = g_get_environ ();
  for (guint i = 0; env != NULL && env[i] != NULL; i++)
    {
      g_auto(GStrv) kv = g_strsplit (env[i], "=", 2);
      envp = g_environ_setenv (envp, kv[0], kv[1], TRUE);
    }
  GuiTestChild *child = g_new0 (GuiTestChild, 1);
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_async (NULL, (char **) argv, envp, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                                NULL, NULL, &child->pid, &error));
  g_assert_no_error (error);
  g_child_watch_add (child->pid, on_test_child_exit, child);
  return child;
}

gboolean
gui_test_child_wait (GuiTestChild *child,
                     guint         timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  while (!child->exited && g_get_monotonic_time () < end)
    {
      gboolean tick = FALSE;
      guint id = g_timeout_add (100, gui_test_flag_timeout, &tick);
      while (!child->exited && !tick)
        g_main_context_iteration (NULL, TRUE);
      if (!tick)
        g_source_remove (id);
    }
  return child->exited;
}

char *
gui_test_child_window (GuiTestChild *child,
                       const char   *title,
                       guint         timeout_s)
{
  g_autofree char *pid = g_strdup_printf ("%d", (int) child->pid);
  g_autofree char *pattern = g_strdup_printf ("^%s$", title);
  /* --all: by default xdotool matches windows meeting any one condition. */
  const char *argv[] = { "xdotool", "search", "--all", "--onlyvisible", "--pid", pid, "--name", pattern, NULL };
  gint64 end = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  /* Asked again until it answers: the program may still be starting (or
   * blocked, which is what some tests look for). */
  while (!child->exited && g_get_monotonic_time () < end)
    {
      g_autofree char *out = NULL;
      g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                    NULL, NULL, &out, NULL, NULL, NULL);
      if (out != NULL && g_ascii_isdigit (out[0]))
        return g_strndup (out, strcspn (out, "\n"));
      gui_test_spin (100);
    }
  return NULL;
}

void
gui_test_send_keys_to (const char *xid,
                       const char *keys)
{
  g_autoptr(GStrvBuilder) args = g_strv_builder_new ();
  const char *head[] = { "xdotool", "windowfocus", "--sync", xid, "key", "--delay", "40", NULL };
  g_strv_builder_addv (args, head);
  g_auto(GStrv) split = g_strsplit (keys, " ", -1);
  g_strv_builder_addv (args, (const char **) split);
  g_auto(GStrv) argv = g_strv_builder_end (args);
  int status = 0;
  g_assert_true (g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
}

void
gui_test_child_free (GuiTestChild *child)
{
  if (!child->exited)
    {
      kill (child->pid, SIGTERM);
      gui_test_child_wait (child, 10);
    }
  /* The watch holds CHILD until it fires: free only once it has. */
  if (child->exited)
    g_free (child);
}
