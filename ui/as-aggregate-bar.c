/* as-aggregate-bar.c — the aggregate buttons, the Words toggle and a note. */
#include "as-aggregate-bar.h"

struct _AsAggregateBar
{
  GtkWidget    parent_instance;

  AsViewState *state;
  GtkWidget   *buttons;
  GtkWidget   *head_button;
  GtkWidget   *mean_button;
  GtkWidget   *max_button;
  GtkWidget   *rollout_button;
  GtkWidget   *words_button;
  GtkLabel    *description;
};

G_DEFINE_FINAL_TYPE (AsAggregateBar, as_aggregate_bar, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_VIEW_STATE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
update_description (AsAggregateBar *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == NULL)
    {
      gtk_label_set_text (self->description, "");
      return;
    }
  AsShownSpec spec;
  as_view_state_get_spec (self->state, &spec);
  g_autofree char *text = as_shown_spec_describe (&spec, a->n_heads);
  gtk_label_set_text (self->description, text);
}

AsViewState *
as_aggregate_bar_get_view_state (AsAggregateBar *self)
{
  g_return_val_if_fail (AS_IS_AGGREGATE_BAR (self), NULL);
  return self->state;
}

void
as_aggregate_bar_set_view_state (AsAggregateBar *self,
                                 AsViewState    *state)
{
  g_return_if_fail (AS_IS_AGGREGATE_BAR (self));

  if (self->state == state)
    return;
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_set_object (&self->state, state);
  gtk_widget_insert_action_group (GTK_WIDGET (self), "view",
                                  state != NULL ? as_view_state_get_actions (state) : NULL);
  if (state != NULL)
    {
      const char *props[] = { "analysis", "layer", "head", "aggregate", "words" };
      for (guint i = 0; i < G_N_ELEMENTS (props); i++)
        {
          g_autofree char *signal = g_strconcat ("notify::", props[i], NULL);
          g_signal_connect_swapped (state, signal, G_CALLBACK (update_description), self);
        }
    }
  update_description (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

const char *
as_aggregate_bar_get_description (AsAggregateBar *self)
{
  g_return_val_if_fail (AS_IS_AGGREGATE_BAR (self), NULL);
  return gtk_label_get_text (self->description);
}

GtkWidget *
as_aggregate_bar_get_button (AsAggregateBar   *self,
                             AsShownAggregate  aggregate)
{
  g_return_val_if_fail (AS_IS_AGGREGATE_BAR (self), NULL);
  switch (aggregate)
    {
    case AS_SHOWN_MEAN:    return self->mean_button;
    case AS_SHOWN_MAX:     return self->max_button;
    case AS_SHOWN_ROLLOUT: return self->rollout_button;
    case AS_SHOWN_HEAD:
    case AS_N_SHOWN_AGGREGATES:
    default:               return self->head_button;
    }
}

GtkWidget *
as_aggregate_bar_get_words_button (AsAggregateBar *self)
{
  g_return_val_if_fail (AS_IS_AGGREGATE_BAR (self), NULL);
  return self->words_button;
}

void
as_aggregate_bar_set_show_description (AsAggregateBar *self,
                                       gboolean        show)
{
  g_return_if_fail (AS_IS_AGGREGATE_BAR (self));
  gtk_widget_set_visible (GTK_WIDGET (self->description), show);
}

GtkWidget *
as_aggregate_bar_new (void)
{
  return g_object_new (AS_TYPE_AGGREGATE_BAR, NULL);
}

static void
as_aggregate_bar_dispose (GObject *object)
{
  AsAggregateBar *self = AS_AGGREGATE_BAR (object);

  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_clear_object (&self->state);
  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_AGGREGATE_BAR);

  G_OBJECT_CLASS (as_aggregate_bar_parent_class)->dispose (object);
}

static void
as_aggregate_bar_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  AsAggregateBar *self = AS_AGGREGATE_BAR (object);

  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      g_value_set_object (value, self->state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_aggregate_bar_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  AsAggregateBar *self = AS_AGGREGATE_BAR (object);

  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      as_aggregate_bar_set_view_state (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_aggregate_bar_class_init (AsAggregateBarClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = as_aggregate_bar_dispose;
  object_class->get_property = as_aggregate_bar_get_property;
  object_class->set_property = as_aggregate_bar_set_property;

  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/attnscope/AttnScope/as-aggregate-bar.ui");
  gtk_widget_class_bind_template_child (widget_class, AsAggregateBar, buttons);
  gtk_widget_class_bind_template_child (widget_class, AsAggregateBar, head_button);
  gtk_widget_class_bind_template_child (widget_class, AsAggregateBar, mean_button);
  gtk_widget_class_bind_template_child (widget_class, AsAggregateBar, max_button);
  gtk_widget_class_bind_template_child (widget_class, AsAggregateBar, rollout_button);
  gtk_widget_class_bind_template_child (widget_class, AsAggregateBar, words_button);
  gtk_widget_class_bind_template_child (widget_class, AsAggregateBar, description);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "aggregatebar");
}

static void
as_aggregate_bar_init (AsAggregateBar *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
