/* as-next-token-view.c — the next-token bars and the temperature slider. */
#include "as-next-token-view.h"

#include <math.h>

#include "as-sampler.h"

struct _AsNextTokenView
{
  GtkWidget       parent_instance;

  GtkLabel       *caption;
  GtkScale       *temperature;
  GtkDrawingArea *area;

  AsViewState    *state;
  AsWorker       *worker;
  /* The analysis whose logits are complete (the worker said it finished),
   * held; NULL while the one on screen is still on its way. */
  AsAnalysis     *ready;
  int             n_shown;
  int             ids[AS_ANALYSIS_NEXT_TOP];
  float           probs[AS_ANALYSIS_NEXT_TOP];  /* softmax (logits / T) */
};

G_DEFINE_FINAL_TYPE (AsNextTokenView, as_next_token_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_VIEW_STATE,
  PROP_WORKER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* The text's last few tokens, for the caption. */
static char *
text_tail (const AsAnalysis *a)
{
  GString *s = g_string_new (NULL);
  for (int i = MAX (0, a->n - 6); i < a->n && a->encoding != NULL; i++)
    g_string_append (s, a->encoding->tokens[i].text);
  return g_string_free (s, FALSE);
}

/* Recomputes the bars for the analysis on screen and the slider's T. */
static void
update (AsNextTokenView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  self->n_shown = 0;
  if (a == NULL)
    gtk_label_set_text (self->caption, "No analysis on screen.");
  else if (a != self->ready)
    gtk_label_set_text (self->caption, "Computing the next-token distribution…");
  else if (a->next_logits == NULL)
    gtk_label_set_text (self->caption,
                        "This model has no language-model head: next-token predictions are "
                        "for decoders (a GGUF file, or a GPT-2 or Llama folder).");
  else
    {
      double t = gtk_range_get_value (GTK_RANGE (self->temperature));
      self->n_shown = a->n_next;
      as_sampler_top_k_scaled (a->next_logits, a->vocab, t, a->n_next, self->ids, self->probs);
      g_autofree char *tail = text_tail (a);
      g_autofree char *text = g_strdup_printf (
        "After “…%s”: the %d most likely next tokens, softmax (logits / T) over all %d tokens "
        "of the vocabulary at T = %.2f.", tail, a->n_next, a->vocab, t);
      gtk_label_set_text (self->caption, text);
    }
  gtk_widget_queue_draw (GTK_WIDGET (self->area));
}

static const char *
label_of (AsNextTokenView *self,
          int              i)
{
  /* The bars keep the order of the logits at every T: label I is the
   * worker's label I. */
  const char *label = self->ready->next_labels[i];
  return label != NULL ? label : "?";
}

/* “label”, its line breaks and tabs drawn as ↵ and ⇥ so a token that is
 * only whitespace still shows what it is. */
static char *
quoted_label (const char *label)
{
  GString *s = g_string_new ("“");
  for (const char *p = label; *p != '\0'; p++)
    if (*p == '\n')
      g_string_append (s, "↵");
    else if (*p == '\t')
      g_string_append (s, "⇥");
    else if (*p == '\r')
      g_string_append (s, "␍");
    else
      g_string_append_c (s, *p);
  g_string_append (s, "”");
  return g_string_free (s, FALSE);
}

static void
draw (GtkDrawingArea *area,
      cairo_t        *cr,
      int             width,
      int             height,
      gpointer        data)
{
  AsNextTokenView *self = data;
  if (self->n_shown == 0)
    return;
  GdkRGBA fg;
  gtk_style_context_get_color (gtk_widget_get_style_context (GTK_WIDGET (area)), &fg);
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (area), NULL);
  const double row = MIN (34.0, height / (double) AS_ANALYSIS_NEXT_TOP);
  const double label_w = MIN (180.0, width * 0.3), value_w = 64;
  const double bar_w = MAX (10.0, width - label_w - value_w - 16);
  for (int i = 0; i < self->n_shown; i++)
    {
      double y = i * row;
      g_autofree char *quoted = quoted_label (label_of (self, i));
      pango_layout_set_text (layout, quoted, -1);
      pango_layout_set_width (layout, (int) (label_w - 8) * PANGO_SCALE);
      pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_END);
      int tw, th;
      pango_layout_get_pixel_size (layout, &tw, &th);
      gdk_cairo_set_source_rgba (cr, &fg);
      cairo_move_to (cr, label_w - 8 - tw, y + (row - th) / 2);
      pango_cairo_show_layout (cr, layout);

      /* Track, then the bar: its share of the whole distribution. */
      cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.10);
      cairo_rectangle (cr, label_w, y + row * 0.2, bar_w, row * 0.6);
      cairo_fill (cr);
      cairo_set_source_rgb (cr, 0.21, 0.52, 0.89);
      cairo_rectangle (cr, label_w, y + row * 0.2, bar_w * self->probs[i], row * 0.6);
      cairo_fill (cr);

      g_autofree char *value = g_strdup_printf ("%.1f%%", 100.0 * self->probs[i]);
      pango_layout_set_width (layout, -1);
      pango_layout_set_text (layout, value, -1);
      pango_layout_get_pixel_size (layout, &tw, &th);
      gdk_cairo_set_source_rgba (cr, &fg);
      cairo_move_to (cr, label_w + bar_w + 8, y + (row - th) / 2);
      pango_cairo_show_layout (cr, layout);
    }
  g_object_unref (layout);
}

static void
on_temperature_changed (AsNextTokenView *self)
{
  update (self);
}

static void
on_analysis_changed (AsNextTokenView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a != self->ready)
    g_clear_pointer (&self->ready, as_analysis_unref);
  update (self);
}

/* Only now are the analysis' logits written (the worker computes them after
 * the last layer): before, the bars would read a buffer being filled. */
static void
on_analysis_finished (AsNextTokenView *self,
                      AsAnalysis      *analysis)
{
  if (self->state == NULL || analysis != as_view_state_get_analysis (self->state))
    return;
  g_clear_pointer (&self->ready, as_analysis_unref);
  self->ready = as_analysis_ref (analysis);
  update (self);
}

AsViewState *
as_next_token_view_get_view_state (AsNextTokenView *self)
{
  g_return_val_if_fail (AS_IS_NEXT_TOKEN_VIEW (self), NULL);
  return self->state;
}

void
as_next_token_view_set_view_state (AsNextTokenView *self,
                                   AsViewState     *state)
{
  g_return_if_fail (AS_IS_NEXT_TOKEN_VIEW (self));
  if (self->state == state)
    return;
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_set_object (&self->state, state);
  if (state != NULL)
    g_signal_connect_swapped (state, "notify::analysis", G_CALLBACK (on_analysis_changed), self);
  on_analysis_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

AsWorker *
as_next_token_view_get_worker (AsNextTokenView *self)
{
  g_return_val_if_fail (AS_IS_NEXT_TOKEN_VIEW (self), NULL);
  return self->worker;
}

void
as_next_token_view_set_worker (AsNextTokenView *self,
                               AsWorker        *worker)
{
  g_return_if_fail (AS_IS_NEXT_TOKEN_VIEW (self));
  if (self->worker == worker)
    return;
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  g_set_object (&self->worker, worker);
  if (worker != NULL)
    g_signal_connect_swapped (worker, "analysis-finished", G_CALLBACK (on_analysis_finished), self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WORKER]);
}

GtkRange *
as_next_token_view_get_temperature (AsNextTokenView *self)
{
  g_return_val_if_fail (AS_IS_NEXT_TOKEN_VIEW (self), NULL);
  return GTK_RANGE (self->temperature);
}

int
as_next_token_view_get_n_shown (AsNextTokenView *self)
{
  g_return_val_if_fail (AS_IS_NEXT_TOKEN_VIEW (self), 0);
  return self->n_shown;
}

gboolean
as_next_token_view_get_shown (AsNextTokenView *self,
                              int              i,
                              int             *id,
                              const char     **label,
                              float           *prob)
{
  g_return_val_if_fail (AS_IS_NEXT_TOKEN_VIEW (self), FALSE);
  if (i < 0 || i >= self->n_shown)
    return FALSE;
  *id = self->ids[i];
  *label = label_of (self, i);
  *prob = self->probs[i];
  return TRUE;
}

const char *
as_next_token_view_get_caption (AsNextTokenView *self)
{
  g_return_val_if_fail (AS_IS_NEXT_TOKEN_VIEW (self), NULL);
  return gtk_label_get_text (self->caption);
}

static void
as_next_token_view_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  AsNextTokenView *self = AS_NEXT_TOKEN_VIEW (object);
  switch (prop_id)
    {
    case PROP_VIEW_STATE: g_value_set_object (value, self->state); break;
    case PROP_WORKER:     g_value_set_object (value, self->worker); break;
    default:              G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_next_token_view_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  AsNextTokenView *self = AS_NEXT_TOKEN_VIEW (object);
  switch (prop_id)
    {
    case PROP_VIEW_STATE: as_next_token_view_set_view_state (self, g_value_get_object (value)); break;
    case PROP_WORKER:     as_next_token_view_set_worker (self, g_value_get_object (value)); break;
    default:              G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_next_token_view_dispose (GObject *object)
{
  AsNextTokenView *self = AS_NEXT_TOKEN_VIEW (object);
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_clear_object (&self->worker);
  g_clear_object (&self->state);
  g_clear_pointer (&self->ready, as_analysis_unref);
  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_NEXT_TOKEN_VIEW);
  /* dispose_template unparents bound children only; the slider's row is not. */
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (as_next_token_view_parent_class)->dispose (object);
}

static void
as_next_token_view_class_init (AsNextTokenViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = as_next_token_view_dispose;
  object_class->get_property = as_next_token_view_get_property;
  object_class->set_property = as_next_token_view_set_property;
  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_WORKER] =
    g_param_spec_object ("worker", NULL, NULL, AS_TYPE_WORKER,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "nexttokenview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-next-token-view.ui");
  gtk_widget_class_bind_template_child (widget_class, AsNextTokenView, caption);
  gtk_widget_class_bind_template_child (widget_class, AsNextTokenView, temperature);
  gtk_widget_class_bind_template_child (widget_class, AsNextTokenView, area);
  gtk_widget_class_bind_template_callback (widget_class, on_temperature_changed);
}

static void
as_next_token_view_init (AsNextTokenView *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));
  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 6);
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_drawing_area_set_draw_func (self->area, draw, self, NULL);
}

GtkWidget *
as_next_token_view_new (void)
{
  return g_object_new (AS_TYPE_NEXT_TOKEN_VIEW, NULL);
}
