/* as-page-tabs.c */
#include "as-page-tabs.h"

struct _AsPageTabs
{
  GtkWidget          parent_instance;
  GtkStack          *stack;
  GtkSelectionModel *pages;     /* the stack's, one item per page */
  GPtrArray         *buttons;   /* GtkToggleButton, at the page's index */
  gboolean           syncing;   /* a button set from the stack, not by the user */
};

G_DEFINE_FINAL_TYPE (AsPageTabs, as_page_tabs, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_STACK, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void
sync_active (AsPageTabs *self)
{
  self->syncing = TRUE;
  for (guint i = 0; i < self->buttons->len; i++)
    gtk_toggle_button_set_active (g_ptr_array_index (self->buttons, i),
                                  gtk_selection_model_is_selected (self->pages, i));
  self->syncing = FALSE;
}

static void
on_button_toggled (GtkToggleButton *button,
                   AsPageTabs      *self)
{
  if (self->syncing || !gtk_toggle_button_get_active (button))
    return;
  guint index;
  if (g_ptr_array_find (self->buttons, button, &index))
    gtk_selection_model_select_item (self->pages, index, TRUE);
}

static void
clear_buttons (AsPageTabs *self)
{
  for (guint i = 0; i < self->buttons->len; i++)
    gtk_widget_unparent (g_ptr_array_index (self->buttons, i));
  g_ptr_array_set_size (self->buttons, 0);
}

static void
rebuild (AsPageTabs *self)
{
  clear_buttons (self);
  if (self->pages == NULL)
    return;
  GtkToggleButton *group = NULL;
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->pages));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GObject) item = g_list_model_get_item (G_LIST_MODEL (self->pages), i);
      GtkStackPage *page = GTK_STACK_PAGE (item);
      const char *title = gtk_stack_page_get_title (page);
      GtkWidget *button = gtk_stack_page_get_use_underline (page)
                          ? gtk_toggle_button_new_with_mnemonic (title != NULL ? title : "")
                          : gtk_toggle_button_new_with_label (title != NULL ? title : "");
      gtk_widget_set_focus_on_click (button, FALSE);
      if (group != NULL)
        gtk_toggle_button_set_group (GTK_TOGGLE_BUTTON (button), group);
      else
        group = GTK_TOGGLE_BUTTON (button);
      g_object_bind_property (page, "visible", button, "visible", G_BINDING_SYNC_CREATE);
      g_signal_connect (button, "toggled", G_CALLBACK (on_button_toggled), self);
      gtk_widget_set_parent (button, GTK_WIDGET (self));
      g_ptr_array_add (self->buttons, button);
    }
  sync_active (self);
}

static void
on_items_changed (AsPageTabs *self)
{
  rebuild (self);
}

void
as_page_tabs_set_stack (AsPageTabs *self,
                        GtkStack   *stack)
{
  g_return_if_fail (AS_IS_PAGE_TABS (self));
  if (self->stack == stack)
    return;
  if (self->pages != NULL)
    g_signal_handlers_disconnect_by_data (self->pages, self);
  g_clear_object (&self->pages);
  g_set_object (&self->stack, stack);
  if (stack != NULL)
    {
      self->pages = gtk_stack_get_pages (stack);
      g_signal_connect_swapped (self->pages, "items-changed", G_CALLBACK (on_items_changed), self);
      g_signal_connect_swapped (self->pages, "selection-changed", G_CALLBACK (sync_active), self);
    }
  rebuild (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STACK]);
}

GtkStack *
as_page_tabs_get_stack (AsPageTabs *self)
{
  g_return_val_if_fail (AS_IS_PAGE_TABS (self), NULL);
  return self->stack;
}

static void
as_page_tabs_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  AsPageTabs *self = AS_PAGE_TABS (object);
  switch (prop_id)
    {
    case PROP_STACK: g_value_set_object (value, self->stack); break;
    default:         G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_page_tabs_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  AsPageTabs *self = AS_PAGE_TABS (object);
  switch (prop_id)
    {
    case PROP_STACK: as_page_tabs_set_stack (self, g_value_get_object (value)); break;
    default:         G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_page_tabs_dispose (GObject *object)
{
  AsPageTabs *self = AS_PAGE_TABS (object);
  as_page_tabs_set_stack (self, NULL);
  clear_buttons (self);
  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_PAGE_TABS);
  G_OBJECT_CLASS (as_page_tabs_parent_class)->dispose (object);
}

static void
as_page_tabs_finalize (GObject *object)
{
  AsPageTabs *self = AS_PAGE_TABS (object);
  g_ptr_array_unref (self->buttons);
  G_OBJECT_CLASS (as_page_tabs_parent_class)->finalize (object);
}

static void
as_page_tabs_class_init (AsPageTabsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = as_page_tabs_dispose;
  object_class->finalize = as_page_tabs_finalize;
  object_class->get_property = as_page_tabs_get_property;
  object_class->set_property = as_page_tabs_set_property;
  properties[PROP_STACK] =
    g_param_spec_object ("stack", NULL, NULL, GTK_TYPE_STACK,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "pagetabs");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_TAB_LIST);
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-page-tabs.ui");
}

static void
as_page_tabs_init (AsPageTabs *self)
{
  self->buttons = g_ptr_array_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
as_page_tabs_new (void)
{
  return g_object_new (AS_TYPE_PAGE_TABS, NULL);
}
