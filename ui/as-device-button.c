/* as-device-button.c — where the engine runs, and why not on the GPU. */
#include "as-device-button.h"

#include <glib/gi18n.h>

#include "as-gpu-loader.h"

struct _AsDeviceButton
{
  GtkWidget      parent_instance;

  GtkMenuButton *button;
  AsWorker      *worker;     /* weak: the window owns both */
  char          *tooltip;
};

G_DEFINE_FINAL_TYPE (AsDeviceButton, as_device_button, GTK_TYPE_WIDGET)

const char *
as_device_fallback_summary (int fallback)
{
  switch (fallback)
    {
    case -1:
      return NULL;
    case AS_GPU_ERROR_PLUGIN:
      return _("GPU support is not installed — using the CPU");
    case AS_GPU_ERROR_NO_DRIVER:
      return _("No NVIDIA GPU driver found — using the CPU");
    case AS_GPU_ERROR_NO_DEVICE:
      return _("No usable NVIDIA GPU found — using the CPU");
    case AS_GPU_ERROR_OUT_OF_MEMORY:
      return _("Not enough GPU memory for this model — using the CPU");
    default:
      return _("The GPU stopped working — using the CPU");
    }
}

static void
update (AsDeviceButton *self)
{
  AsWorker *w = self->worker;
  const char *kind = w != NULL ? as_worker_get_backend_kind (w) : NULL;
  const char *name = w != NULL ? as_worker_get_backend_name (w) : NULL;
  const char *summary = w != NULL ? as_device_fallback_summary (as_worker_get_backend_fallback (w)) : NULL;
  gboolean gpu = kind != NULL && g_strcmp0 (kind, "cpu") != 0;

  g_free (self->tooltip);
  /* The raw reason is long and technical: it lives behind the menu's
   * "Why Not the GPU?" item, not here. */
  self->tooltip = g_strdup_printf (_("Engine: %s%s%s\nClick to choose where it runs."),
                                   name != NULL ? name : _("not loaded yet"),
                                   summary != NULL ? "\n" : "", summary != NULL ? summary : "");
  gtk_menu_button_set_label (self->button, gpu ? "GPU" : "CPU");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->button),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  gpu ? _("Engine device: GPU") : _("Engine device: CPU"),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  summary != NULL ? summary : "",
                                  -1);
}

/* Wrapped, since engine names can be long; and never while the menu is
 * open, where it would sit on top of the items. */
static gboolean
menu_is_open (AsDeviceButton *self)
{
  GtkPopover *popover = gtk_menu_button_get_popover (self->button);
  return popover != NULL && gtk_widget_get_visible (GTK_WIDGET (popover));
}

static gboolean
on_query_tooltip (GtkWidget      *button,
                  int             x,
                  int             y,
                  gboolean        keyboard,
                  GtkTooltip     *tooltip,
                  AsDeviceButton *self)
{
  if (menu_is_open (self))
    return FALSE;
  GtkWidget *label = gtk_label_new (self->tooltip != NULL ? self->tooltip : _("Choose where the engine runs"));
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (label), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 60);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_tooltip_set_custom (tooltip, label);
  return TRUE;
}

/* Opening the menu takes a tooltip that is already up off the screen. */
static void
on_menu_visible (AsDeviceButton *self)
{
  gtk_widget_trigger_tooltip_query (GTK_WIDGET (self->button));
}

const char *
as_device_button_get_tooltip_text (AsDeviceButton *self)
{
  g_return_val_if_fail (AS_IS_DEVICE_BUTTON (self), NULL);
  return self->tooltip;
}

void
as_device_button_set_worker (AsDeviceButton *self,
                             AsWorker       *worker)
{
  g_return_if_fail (AS_IS_DEVICE_BUTTON (self));
  g_return_if_fail (self->worker == NULL);
  self->worker = worker;
  g_signal_connect_object (worker, "model-loaded", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (worker, "backend-switched", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  update (self);
}

void
as_device_button_set_menu_model (AsDeviceButton *self,
                                 GMenuModel     *model)
{
  g_return_if_fail (AS_IS_DEVICE_BUTTON (self));
  gtk_menu_button_set_menu_model (self->button, model);
  GtkPopover *popover = gtk_menu_button_get_popover (self->button);
  if (popover != NULL)
    g_signal_connect_object (popover, "notify::visible", G_CALLBACK (on_menu_visible), self,
                             G_CONNECT_SWAPPED);
}

static void
as_device_button_dispose (GObject *object)
{
  AsDeviceButton *self = AS_DEVICE_BUTTON (object);

  g_clear_pointer ((GtkWidget **) &self->button, gtk_widget_unparent);
  G_OBJECT_CLASS (as_device_button_parent_class)->dispose (object);
}

static void
as_device_button_finalize (GObject *object)
{
  g_free (AS_DEVICE_BUTTON (object)->tooltip);
  G_OBJECT_CLASS (as_device_button_parent_class)->finalize (object);
}

static void
as_device_button_class_init (AsDeviceButtonClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = as_device_button_dispose;
  object_class->finalize = as_device_button_finalize;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "devicebutton");
}

static void
as_device_button_init (AsDeviceButton *self)
{
  self->button = GTK_MENU_BUTTON (gtk_menu_button_new ());
  gtk_widget_add_css_class (GTK_WIDGET (self->button), "flat");
  gtk_widget_add_css_class (GTK_WIDGET (self->button), "backend-button");
  gtk_widget_set_has_tooltip (GTK_WIDGET (self->button), TRUE);
  g_signal_connect (self->button, "query-tooltip", G_CALLBACK (on_query_tooltip), self);
  gtk_widget_set_parent (GTK_WIDGET (self->button), GTK_WIDGET (self));
  update (self);
}

GtkWidget *
as_device_button_new (void)
{
  return g_object_new (AS_TYPE_DEVICE_BUTTON, NULL);
}
