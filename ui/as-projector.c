/* as-projector.c — zoom, full screen and the presentation layout. */
#include "as-projector.h"

#include <adwaita.h>

#include "as-head-view.h"
#include "as-view-state.h"

#define PRESENTING_KEY "as-projector-presenting"
#define PROVIDER_KEY "as-projector-css"

/* The grid's pane: the start child of the paned the head view sits in. */
static GtkWidget *
side_pane (AsWindow *window)
{
  GtkWidget *paned = gtk_widget_get_ancestor (GTK_WIDGET (as_window_get_head_view (window)),
                                              GTK_TYPE_PANED);
  return paned != NULL ? gtk_paned_get_start_child (GTK_PANED (paned)) : NULL;
}

gboolean
as_projector_get_presenting (AsWindow *window)
{
  g_return_val_if_fail (AS_IS_WINDOW (window), FALSE);
  return GPOINTER_TO_INT (g_object_get_data (G_OBJECT (window), PRESENTING_KEY));
}

void
as_projector_set_presenting (AsWindow *window,
                             gboolean  presenting)
{
  g_return_if_fail (AS_IS_WINDOW (window));

  g_object_set_data (G_OBJECT (window), PRESENTING_KEY, GINT_TO_POINTER (!!presenting));
  GtkWidget *pane = side_pane (window);
  if (pane != NULL)
    gtk_widget_set_visible (pane, !presenting);
}

/* Every label, entry and button of the window follows the zoom through
 * one font-size rule on its content; the drawn views read the factor from
 * the view state themselves. */
static void
apply_zoom (AsWindow *window)
{
  GtkCssProvider *provider = g_object_get_data (G_OBJECT (window), PROVIDER_KEY);
  double zoom = as_view_state_get_zoom (as_window_get_view_state (window));
  /* The theme's own classes give sizes in points; here they are made
   * relative (its ratios to body text) so that they follow too. */
  g_autofree char *css = g_strdup_printf (".as-zoomable { font-size: %d%%; }\n"
                                          ".as-zoomable .caption, .as-zoomable .caption-heading "
                                          "{ font-size: 0.82em; }\n"
                                          ".as-zoomable .heading, .as-zoomable .body "
                                          "{ font-size: 1em; }\n"
                                          ".as-zoomable .title-4 { font-size: 1.18em; }\n"
                                          ".as-zoomable .title-3 { font-size: 1.36em; }\n",
                                          (int) (zoom * 100 + 0.5));
  gtk_css_provider_load_from_data (provider, css, -1);
}

static void
zoom_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  AsViewState *state = as_window_get_view_state (AS_WINDOW (widget));
  if (g_str_equal (action_name, "win.zoom-in"))
    as_view_state_zoom_step (state, 1);
  else if (g_str_equal (action_name, "win.zoom-out"))
    as_view_state_zoom_step (state, -1);
  else
    as_view_state_zoom_step (state, 0);
}

static void
present_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  AsWindow *window = AS_WINDOW (widget);
  as_projector_set_presenting (window, !as_projector_get_presenting (window));
}

void
as_projector_install_actions (GtkWidgetClass *window_class)
{
  gtk_widget_class_install_action (window_class, "win.zoom-in", NULL, zoom_action);
  gtk_widget_class_install_action (window_class, "win.zoom-out", NULL, zoom_action);
  gtk_widget_class_install_action (window_class, "win.zoom-reset", NULL, zoom_action);
  gtk_widget_class_install_action (window_class, "win.present", NULL, present_action);
  /* GtkWindow's own property: the window manager may leave full screen
   * too, and the action's state follows it. */
  gtk_widget_class_install_property_action (window_class, "win.fullscreen", "fullscreened");

  static const struct {
    guint            key;
    GdkModifierType  mods;
    const char      *action;
  } keys[] = {
    { GDK_KEY_plus, GDK_CONTROL_MASK, "win.zoom-in" },
    { GDK_KEY_equal, GDK_CONTROL_MASK, "win.zoom-in" },
    { GDK_KEY_plus, GDK_CONTROL_MASK | GDK_SHIFT_MASK, "win.zoom-in" },
    { GDK_KEY_KP_Add, GDK_CONTROL_MASK, "win.zoom-in" },
    { GDK_KEY_minus, GDK_CONTROL_MASK, "win.zoom-out" },
    { GDK_KEY_KP_Subtract, GDK_CONTROL_MASK, "win.zoom-out" },
    { GDK_KEY_0, GDK_CONTROL_MASK, "win.zoom-reset" },
    { GDK_KEY_KP_0, GDK_CONTROL_MASK, "win.zoom-reset" },
    { GDK_KEY_F11, 0, "win.fullscreen" },
    { GDK_KEY_F5, 0, "win.present" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    gtk_widget_class_add_binding_action (window_class, keys[i].key, keys[i].mods, keys[i].action, NULL);
}

static void
provider_remove (gpointer data)
{
  GtkCssProvider *provider = data;
  GdkDisplay *display = gdk_display_get_default ();
  if (display != NULL)
    gtk_style_context_remove_provider_for_display (display, GTK_STYLE_PROVIDER (provider));
  g_object_unref (provider);
}

void
as_projector_attach (AsWindow *window)
{
  g_return_if_fail (AS_IS_WINDOW (window));
  AsViewState *state = as_window_get_view_state (window);

  GtkCssProvider *provider = gtk_css_provider_new ();
  /* Above the application's style sheet, so a view's own relative sizes
   * (em, %) scale with it. */
  gtk_style_context_add_provider_for_display (gtk_widget_get_display (GTK_WIDGET (window)),
                                              GTK_STYLE_PROVIDER (provider),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION + 1);
  g_object_set_data_full (G_OBJECT (window), PROVIDER_KEY, provider, provider_remove);
  GtkWidget *content = adw_application_window_get_content (ADW_APPLICATION_WINDOW (window));
  if (content != NULL)
    gtk_widget_add_css_class (content, "as-zoomable");

  as_view_state_remember_settings (state);
  g_signal_connect_object (state, "notify::zoom", G_CALLBACK (apply_zoom), window, G_CONNECT_SWAPPED);
  apply_zoom (window);
}
