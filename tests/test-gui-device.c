/* test-gui-device.c — the device menu tells the truth, under Xvfb.
 *
 * Asking for the GPU where it cannot be used keeps the CPU: the menu's
 * radio items must then show the CPU, the button say CPU, the toast say in
 * plain words why (the raw reason one "Details" click away, in a dialog),
 * and the button's tooltip must not cover its own open menu. Each way the
 * GPU can fail is forced with ATTNSCOPE_GPU_FORCE_FAIL; the real path (no
 * GPU on most test machines) is checked too.
 */
#include <stdio.h>
#include <string.h>

#include "as-device-button.h"
#include "as-gpu-loader.h"
#include "gui-test-util.h"

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;

/* The header bar's device button: the menu button whose own menu (not a
 * submenu of the main menu) has the device choice. */
static GtkMenuButton *
device_button (AsWindow *win)
{
  g_autoptr(GPtrArray) items = gui_test_list_menu_items (GTK_WIDGET (win));
  GtkMenuButton *found = NULL;
  for (guint i = 0; i < items->len; i++)
    {
      GuiTestMenuItem *item = g_ptr_array_index (items, i);
      GMenuModel *menu = gtk_menu_button_get_menu_model (item->menu_button);
      if (g_str_equal (item->action, "win.device") && g_menu_model_get_n_items (menu) <= 3)
        found = item->menu_button;
    }
  g_assert_nonnull (found);
  return found;
}

static gboolean
settled (gpointer win)
{
  return !as_worker_is_loading (as_window_get_worker (win)) && as_window_is_idle (win);
}

/* The tick of every "win.device" radio item, in both menus (the button's
 * and the main menu's Device submenu), is on TARGET alone. */
static void
assert_ticked (AsWindow   *win,
               const char *target)
{
  g_autoptr(GPtrArray) items = gui_test_list_menu_items (GTK_WIDGET (win));
  int ticked = 0, radios = 0;
  for (guint i = 0; i < items->len; i++)
    {
      GuiTestMenuItem *item = g_ptr_array_index (items, i);
      if (!g_str_equal (item->action, "win.device"))
        continue;
      radios++;
      gboolean on = gui_test_menu_item_ticked (item->widget);
      gboolean want = g_str_equal (g_variant_get_string (item->target, NULL), target);
      if (on != want)
        g_error ("device menu item \"%s\" is %s, the engine runs on %s", item->label,
                 on ? "ticked" : "not ticked", target);
      ticked += on;
    }
  g_assert_cmpint (radios, ==, 6);
  g_assert_cmpint (ticked, ==, 2);
}

/* Clicks the Details button of the toast on screen and returns the dialog
 * it opens. */
static GtkWindow *
open_toast_details (AsWindow *win)
{
  GtkWidget *button = gui_test_find_widget (GTK_WIDGET (win), GTK_TYPE_BUTTON, "_Details");
  g_assert_nonnull (button);
  g_assert_true (gtk_widget_get_mapped (button));
  gtk_widget_activate (button);
  return gui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, 20);
}

/* The tooltip answers on a closed menu and stays away from an open one. */
static void
assert_tooltip_spares_menu (GtkMenuButton *mb)
{
  GtkTooltip *tooltip = g_object_new (GTK_TYPE_TOOLTIP, NULL);
  gboolean shown = FALSE;
  g_signal_emit_by_name (mb, "query-tooltip", 5, 5, FALSE, tooltip, &shown);
  g_assert_true (shown);
  gtk_menu_button_popup (mb);
  gui_test_wait_until ((gboolean (*) (gpointer)) gtk_widget_get_mapped, gtk_menu_button_get_popover (mb), 10);
  gui_test_capture_screen (NULL, "device-menu-open.png");
  shown = TRUE;
  g_signal_emit_by_name (mb, "query-tooltip", 5, 5, FALSE, tooltip, &shown);
  g_assert_false (shown);
  gtk_menu_button_popdown (mb);
  g_object_unref (tooltip);
}

typedef struct {
  const char *force;
  const char *summary;
} Failure;

static const Failure failures[] = {
  { "plugin", "GPU support is not installed — using the CPU" },
  { "driver", "No NVIDIA GPU driver found — using the CPU" },
  { "device", "No usable NVIDIA GPU found — using the CPU" },
  { "oom-load", "Not enough GPU memory for this model — using the CPU" },
  { "oom-run", "Not enough GPU memory for this model — using the CPU" },
};

static void
test_forced_failures (void)
{
  gui_test_wait_idle (window, 120);
  GtkMenuButton *mb = device_button (window);
  /* Without the plugin every failure is that one. */
  g_autofree char *plugin = as_gpu_plugin_find ();

  for (guint i = 0; i < G_N_ELEMENTS (failures); i++)
    {
      const char *summary = plugin != NULL ? failures[i].summary : failures[0].summary;
      g_test_message ("ATTNSCOPE_GPU_FORCE_FAIL=%s", failures[i].force);
      g_setenv ("ATTNSCOPE_GPU_FORCE_FAIL", failures[i].force, TRUE);
      gui_test_activate_menu_item (GTK_WIDGET (mb), "win.device", g_variant_new_string ("gpu"));
      /* The toast, looked for from the start: it times out. */
      gui_test_wait_toast (GTK_WIDGET (window), summary);
      gui_test_wait_until (settled, window, 120);

      /* What runs is what the button, the menus and the action say. */
      g_assert_cmpstr (as_worker_get_backend_kind (as_window_get_worker (window)), ==, "cpu");
      g_assert_cmpstr (gtk_menu_button_get_label (mb), ==, "CPU");
      g_autofree char *state = NULL;
      g_object_get (window, "device", &state, NULL);
      g_assert_cmpstr (state, ==, "cpu");
      assert_ticked (window, "cpu");

      /* In words, whole; the raw reason behind Details. */
      g_assert_null (strstr (gui_test_visible_toast (GTK_WIDGET (window)), "…"));
      if (i == 1)
        gui_test_capture_screen (NULL, "device-toast.png");
      GtkWindow *dialog = open_toast_details (window);
      if (i == 1)
        gui_test_capture_screen (NULL, "device-details.png");
      const char *body = adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog));
      g_test_message ("details: %s", body);
      g_assert_nonnull (strstr (body, summary));
      if (plugin != NULL)
        {
          g_autofree char *forced = g_strdup_printf ("ATTNSCOPE_GPU_FORCE_FAIL=%s", failures[i].force);
          g_assert_nonnull (strstr (body, forced));
        }
      gui_test_press_to_close (dialog, "Escape", 20);

      assert_tooltip_spares_menu (mb);

      /* The menu's "Why Not the GPU?" opens the same explanation. */
      gui_test_activate_menu_item (GTK_WIDGET (mb), "win.device-details", NULL);
      dialog = gui_test_wait_toplevel (ADW_TYPE_MESSAGE_DIALOG, 20);
      g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)), summary));
      gui_test_press_to_close (dialog, "Escape", 20);
    }
  g_unsetenv ("ATTNSCOPE_GPU_FORCE_FAIL");
}

static gboolean
toast_is_known_failure (gpointer win)
{
  const char *t = gui_test_visible_toast (win);
  for (guint i = 0; t != NULL && i < G_N_ELEMENTS (failures); i++)
    if (g_str_equal (t, failures[i].summary))
      return TRUE;
  return FALSE;
}

/* Nothing forced: a GPU is used when there is one, and the menu says so
 * either way. */
static void
test_real_device (void)
{
  gui_test_wait_idle (window, 120);
  GtkMenuButton *mb = device_button (window);
  g_autoptr(GError) error = NULL;
  g_autofree char *gpu = as_gpu_probe (0, &error);

  gui_test_activate_menu_item (GTK_WIDGET (mb), "win.device", g_variant_new_string ("gpu"));
  gui_test_wait_until (settled, window, 120);
  if (gpu != NULL)
    {
      g_assert_cmpstr (gtk_menu_button_get_label (mb), ==, "GPU");
      assert_ticked (window, "gpu");
    }
  else
    {
      g_assert_cmpstr (gtk_menu_button_get_label (mb), ==, "CPU");
      assert_ticked (window, "cpu");
      /* The toast on screen (once those before it time out) is one of the
       * known failures. */
      gui_test_wait_for (toast_is_known_failure, window, 60000, "a toast naming a known GPU failure");
      g_test_message ("no GPU here (%s): %s", error->message, gui_test_visible_toast (GTK_WIDGET (window)));
    }

  /* Automatic stays Automatic, whatever runs. */
  gui_test_activate_menu_item (GTK_WIDGET (mb), "win.device", g_variant_new_string ("auto"));
  gui_test_wait_until (settled, window, 120);
  assert_ticked (window, "auto");
  g_assert_cmpstr (gtk_menu_button_get_label (mb), ==, gpu != NULL ? "GPU" : "CPU");
  gui_test_activate_menu_item (GTK_WIDGET (mb), "win.device", g_variant_new_string ("cpu"));
  gui_test_wait_until (settled, window, 120);
  assert_ticked (window, "cpu");
}

/* Started with ATTNSCOPE_DEVICE=gpu on a machine that cannot: the first
 * window already shows the CPU and says why. */
static void
test_start_on_gpu (void)
{
  g_setenv ("ATTNSCOPE_DEVICE", "gpu", TRUE);
  g_setenv ("ATTNSCOPE_GPU_FORCE_FAIL", "driver", TRUE);
  AsWindow *second = as_window_new (GTK_APPLICATION (app));
  g_unsetenv ("ATTNSCOPE_DEVICE");
  g_autofree char *dir = as_model_default_dir ();
  as_window_open_model (second, dir);
  gtk_window_present (GTK_WINDOW (second));
  g_autofree char *plugin = as_gpu_plugin_find ();
  gui_test_wait_toast (GTK_WIDGET (second), plugin != NULL ? failures[1].summary : failures[0].summary);
  gui_test_wait_until (settled, second, 120);
  g_unsetenv ("ATTNSCOPE_GPU_FORCE_FAIL");

  assert_ticked (second, "cpu");
  g_assert_cmpstr (gtk_menu_button_get_label (device_button (second)), ==, "CPU");
  gui_test_capture_screen (NULL, "device-fallback-toast.png");
  gui_test_press_to_close (GTK_WINDOW (second), "<Control>w", 20);
}

/* The status line says what a user acts on, in words: the tokens, the
 * model's shape and the time on "the CPU"; the engine's kernels and threads
 * are the device button's tooltip, not the line's. */
static void
test_status_and_tooltip (void)
{
  AsWorker *worker = as_window_get_worker (window);
  g_assert_true (as_worker_set_device (worker, "cpu"));
  gui_test_wait_until (settled, window, 120);
  gtk_editable_set_text (as_window_get_entry_a (window), "The cat sat on the mat.");
  gui_test_wait_until (settled, window, 120);

  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_assert_nonnull (a);
  const char *status = as_window_get_status_text (window);
  g_test_message ("status: %s", status);
  g_autofree char *head = g_strdup_printf ("%d tokens · %d layers × %d heads · ", a->n,
                                           model->config->n_layers, model->config->n_heads);
  g_autofree char *got_head = g_strndup (status, strlen (head));
  g_assert_cmpstr (got_head, ==, head);
  char *end = NULL;
  double ms = g_ascii_strtod (status + strlen (head), &end);
  g_assert_cmpfloat (ms, >, 0);
  g_assert_cmpstr (end, ==, " ms on the CPU");
  g_assert_null (strstr (status, as_worker_get_model_name (worker)));
  g_assert_null (strstr (status, "kernels"));
  g_assert_null (strstr (status, "threads"));

  /* The details left out are one hover away, on the device button. */
  const char *engine = as_worker_get_backend_name (worker);
  g_assert_nonnull (strstr (engine, "kernels"));
  GtkWidget *button = gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_DEVICE_BUTTON, NULL);
  g_assert_nonnull (button);
  const char *tip = as_device_button_get_tooltip_text (AS_DEVICE_BUTTON (button));
  g_test_message ("device tooltip: %s", tip);
  g_assert_nonnull (strstr (tip, engine));
  GtkTooltip *tooltip = g_object_new (GTK_TYPE_TOOLTIP, NULL);
  gboolean shown = FALSE;
  g_signal_emit_by_name (device_button (window), "query-tooltip", 5, 5, FALSE, tooltip, &shown);
  g_assert_true (shown);
  g_object_unref (tooltip);
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

  g_test_add_func ("/device/forced-failures", test_forced_failures);
  g_test_add_func ("/device/real-device", test_real_device);
  g_test_add_func ("/device/start-on-gpu", test_start_on_gpu);
  g_test_add_func ("/device/status-and-tooltip", test_status_and_tooltip);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  return status;
}
