/* as-generate-bar.c — the sampling controls beside Generate. */
#include "as-generate-bar.h"

#include <math.h>
#include <string.h>

struct _AsGenerateBar
{
  GtkWidget      parent_instance;

  GtkSpinButton *controls[AS_GENERATE_N_CONTROLS];
};

G_DEFINE_FINAL_TYPE (AsGenerateBar, as_generate_bar, GTK_TYPE_WIDGET)

/* The values last set in any window, for the next one; NaN: the
 * template's default. */
static double remembered[AS_GENERATE_N_CONTROLS] = { NAN, NAN, NAN, NAN, NAN };

static void
on_value_changed (AsGenerateBar *self)
{
  for (int c = 0; c < AS_GENERATE_N_CONTROLS; c++)
    remembered[c] = gtk_spin_button_get_value (self->controls[c]);
}

void
as_generate_bar_get_sampling (AsGenerateBar    *self,
                              AsSamplerOptions *sampling)
{
  g_return_if_fail (AS_IS_GENERATE_BAR (self));
  as_sampler_options_init (sampling);
  /* The adjustments' ranges keep every value inside what the sampler
   * accepts (as_sampler_options_check). */
  sampling->temperature = gtk_spin_button_get_value (self->controls[AS_GENERATE_TEMPERATURE]);
  sampling->top_k = gtk_spin_button_get_value_as_int (self->controls[AS_GENERATE_TOP_K]);
  sampling->top_p = gtk_spin_button_get_value (self->controls[AS_GENERATE_TOP_P]);
  sampling->seed = (guint64) gtk_spin_button_get_value (self->controls[AS_GENERATE_SEED]);
}

int
as_generate_bar_get_limit (AsGenerateBar *self)
{
  g_return_val_if_fail (AS_IS_GENERATE_BAR (self), 1);
  return gtk_spin_button_get_value_as_int (self->controls[AS_GENERATE_LIMIT]);
}

GtkSpinButton *
as_generate_bar_get_control (AsGenerateBar     *self,
                             AsGenerateControl  control)
{
  g_return_val_if_fail (AS_IS_GENERATE_BAR (self), NULL);
  g_return_val_if_fail ((guint) control < AS_GENERATE_N_CONTROLS, NULL);
  return self->controls[control];
}

static void
as_generate_bar_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), AS_TYPE_GENERATE_BAR);
  /* dispose_template unparents bound children only; the labels are not. */
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (object))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (as_generate_bar_parent_class)->dispose (object);
}

static void
as_generate_bar_class_init (AsGenerateBarClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = as_generate_bar_dispose;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "generatebar");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-generate-bar.ui");
  gtk_widget_class_bind_template_child_full (widget_class, "temperature", FALSE,
                                             G_STRUCT_OFFSET (AsGenerateBar, controls[AS_GENERATE_TEMPERATURE]));
  gtk_widget_class_bind_template_child_full (widget_class, "top_k", FALSE,
                                             G_STRUCT_OFFSET (AsGenerateBar, controls[AS_GENERATE_TOP_K]));
  gtk_widget_class_bind_template_child_full (widget_class, "top_p", FALSE,
                                             G_STRUCT_OFFSET (AsGenerateBar, controls[AS_GENERATE_TOP_P]));
  gtk_widget_class_bind_template_child_full (widget_class, "seed", FALSE,
                                             G_STRUCT_OFFSET (AsGenerateBar, controls[AS_GENERATE_SEED]));
  gtk_widget_class_bind_template_child_full (widget_class, "limit", FALSE,
                                             G_STRUCT_OFFSET (AsGenerateBar, controls[AS_GENERATE_LIMIT]));
  gtk_widget_class_bind_template_callback (widget_class, on_value_changed);
}

static void
as_generate_bar_init (AsGenerateBar *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 4);
  gtk_widget_init_template (GTK_WIDGET (self));
  double values[AS_GENERATE_N_CONTROLS];
  memcpy (values, remembered, sizeof values);
  for (int c = 0; c < AS_GENERATE_N_CONTROLS; c++)
    if (!isnan (values[c]))
      gtk_spin_button_set_value (self->controls[c], values[c]);
}

GtkWidget *
as_generate_bar_new (void)
{
  return g_object_new (AS_TYPE_GENERATE_BAR, NULL);
}
