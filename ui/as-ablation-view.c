/* as-ablation-view.c — the heads switched off, their effect, and the
 * ranking of a layer's heads (model/as-ablation.h), computed by the worker.
 */
#include "as-ablation-view.h"

#include <glib/gi18n.h>

#include "as-shown.h"

struct _AsAblationView
{
  GtkWidget       parent_instance;

  GtkLabel       *caption;
  GtkLabel       *heads_label;
  GtkDropDown    *mode_dropdown;
  GtkButton      *clear_button;
  GtkLabel       *effect_label;
  GtkButton      *rank_button;
  GtkProgressBar *progress;
  GtkLabel       *rank_label;

  AsViewState    *state;
  AsWorker       *worker;
  GArray         *ablated;      /* AsHeadAblation, in the order switched off */
  guint           waiting;      /* the worker's generation of our newest request, 0: none */
  char           *text_a;       /* the text of the newest request */
  char           *text_b;
  AsWorkerAblation *result;     /* the newest result, or NULL */
};

G_DEFINE_FINAL_TYPE (AsAblationView, as_ablation_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_VIEW_STATE,
  PROP_WORKER,
  PROP_MODE,
  PROP_ABLATED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* --- text -------------------------------------------------------------------- */

/* “label”, labelled as the views label tokens (g_free). */
static char *
quoted (const char *label)
{
  g_autofree char *shown = as_shown_display_text (label);
  return g_strdup_printf ("“%s”", shown);
}

/* S padded with spaces to WIDTH characters (not bytes). */
static void
append_padded (GString    *out,
               const char *s,
               int         width)
{
  g_string_append (out, s);
  for (glong k = g_utf8_strlen (s, -1); k < width; k++)
    g_string_append_c (out, ' ');
}

static char *
effect_text (const AsWorkerAblation *w)
{
  const AsAblationEffect *e = &w->effect;
  GString *s = g_string_new (NULL);
  if (!e->next_token)
    {
      g_string_append_printf (s, _("Sentence embedding (mean of the last hidden state):\n"
                                   "cosine before / after = %.6f  (1 = unchanged)"), e->cosine);
      return g_string_free (s, FALSE);
    }
  g_string_append_printf (s, _("Next token: KL(before ‖ after) = %.4g nats\n\n"), e->kl);
  append_padded (s, _("token"), 24);
  /* Translators: column headings over percentages, padded to line up. */
  g_string_append (s, _("   before     after\n"));
  for (int i = 0; i < e->n_top; i++)
    {
      g_autofree char *q = quoted (w->top_labels[i]);
      append_padded (s, q, 24);
      g_string_append_printf (s, "  %6.2f%%   %6.2f%%\n", 100.0 * e->p_before[i], 100.0 * e->p_after[i]);
    }
  g_autofree char *after = quoted (w->argmax_label);
  g_string_append_printf (s, _("\nMost likely after: %s (%.2f%%)"), after, 100.0 * e->p_argmax_after);
  if (w->continued_on != NULL && w->continued_off != NULL)
    {
      g_autofree char *on = quoted (w->continued_on);
      g_autofree char *off = quoted (w->continued_off);
      g_string_append_printf (s, _("\n\nWhat it writes next (greedy, %d tokens):\n"
                                   "  heads on:  %s\n  heads off: %s"),
                              AS_WORKER_ABLATION_CONTINUE, on, off);
    }
  return g_string_free (s, FALSE);
}

static const char *const mode_words[] = { "on", "zero", "uniform", "mean" };

static char *
rank_text (const AsWorkerAblation *w)
{
  GString *s = g_string_new (NULL);
  if (w->rank_layer >= 0)
    g_string_append_printf (s, _("Layer %d, each head switched off alone (%s), largest effect first:\n\n"),
                            w->rank_layer + 1, mode_words[w->rank_mode]);
  else
    g_string_append_printf (s, _("Every head switched off alone (%s), largest effect first:\n\n"),
                            mode_words[w->rank_mode]);
  const gboolean next_token = w->rank->len > 0 && w->rank_labels[0] != NULL;
  /* Translators: column headings of a table, padded to line up. */
  g_string_append_printf (s, _("rank  %shead  %s\n"), w->rank_layer < 0 ? _("layer  ") : "",
                          next_token ? _("KL (nats)   most likely next token after")
                                     : _("1 − cosine"));
  for (guint i = 0; i < w->rank->len; i++)
    {
      const AsHeadRank *r = &g_array_index (w->rank, AsHeadRank, i);
      g_string_append_printf (s, "%4u  ", i + 1);
      if (w->rank_layer < 0)
        g_string_append_printf (s, "%5d  ", r->layer + 1);
      g_string_append_printf (s, "%4d  %9.6f", r->head + 1, r->score);
      if (next_token)
        {
          g_autofree char *q = quoted (w->rank_labels[i]);
          g_string_append_printf (s, "   %s", q);
        }
      g_string_append_c (s, '\n');
    }
  return g_string_free (s, FALSE);
}

static void
update_heads_label (AsAblationView *self)
{
  if (self->ablated->len == 0)
    {
      gtk_label_set_text (self->heads_label, _("No head switched off."));
      return;
    }
  GString *s = g_string_new (_("Switched off: "));
  for (guint i = 0; i < self->ablated->len; i++)
    {
      const AsHeadAblation *a = &g_array_index (self->ablated, AsHeadAblation, i);
      g_string_append_printf (s, _("%slayer %d head %d (%s)"), i ? ", " : "", a->layer + 1, a->head + 1,
                              mode_words[a->mode]);
    }
  gtk_label_set_text (self->heads_label, s->str);
  g_string_free (s, TRUE);
}

/* --- requests ---------------------------------------------------------------- */

/* The text on screen, or FALSE (caption says why). */
static gboolean
current_text (AsAblationView  *self,
              const char     **text_a,
              const char     **text_b)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == NULL || a->text_a == NULL || self->worker == NULL)
    {
      gtk_label_set_text (self->caption, _("Type a text: the effect of switching heads off is measured on it."));
      return FALSE;
    }
  *text_a = a->text_a;
  *text_b = a->text_b;
  return TRUE;
}

/* Asks the worker for the effect of the heads switched off (and, with
 * RANK_LAYER not -2, the ranking of that layer) on the text on screen. */
static void
request (AsAblationView *self,
         int             rank_layer)
{
  const char *a = NULL, *b = NULL;
  g_clear_pointer (&self->result, as_worker_ablation_unref);
  gtk_label_set_text (self->effect_label, "");
  if (rank_layer != -2)
    gtk_label_set_text (self->rank_label, "");
  if ((self->ablated->len == 0 && rank_layer == -2) || !current_text (self, &a, &b))
    {
      self->waiting = 0;
      if (self->ablated->len == 0)
        gtk_label_set_text (self->caption,
                            _("Switch a head off from the grid or the head view (right-click, or "
                              "Ctrl+Shift+H on the selected head) to see what it does to the output."));
      return;
    }
  g_free (self->text_a);
  g_free (self->text_b);
  self->text_a = g_strdup (a);
  self->text_b = g_strdup (b);
  self->waiting = as_worker_request_ablation (self->worker, a, b,
                                              (const AsHeadAblation *) self->ablated->data,
                                              self->ablated->len, rank_layer,
                                              as_ablation_view_get_mode (self));
  gtk_progress_bar_set_fraction (self->progress, 0.0);
  /* an empty text, not a percentage, while no ranking runs */
  gtk_progress_bar_set_text (self->progress, rank_layer != -2 ? _("Ranking…") : "");
  gtk_label_set_text (self->caption, _("Computing the effect…"));
}

static void
on_ablation_progress (AsAblationView *self,
                      guint           generation,
                      int             done,
                      int             total)
{
  if (generation != self->waiting || total <= 0)
    return;
  gtk_progress_bar_set_fraction (self->progress, (double) done / total);
  g_autofree char *text = g_strdup_printf (_("%d of %d heads"), done, total);
  gtk_progress_bar_set_text (self->progress, text);
}

static void
on_ablation_ready (AsAblationView   *self,
                   AsWorkerAblation *w)
{
  if (w->generation != self->waiting)
    return;
  self->waiting = 0;
  g_clear_pointer (&self->result, as_worker_ablation_unref);
  self->result = as_worker_ablation_ref (w);
  if (w->n_ablate > 0)
    {
      g_autofree char *text = effect_text (w);
      gtk_label_set_text (self->effect_label, text);
    }
  if (w->rank != NULL)
    {
      g_autofree char *text = rank_text (w);
      gtk_label_set_text (self->rank_label, text);
      gtk_progress_bar_set_fraction (self->progress, 1.0);
      gtk_progress_bar_set_text (self->progress, _("Done"));
    }
  gtk_label_set_text (self->caption,
                      w->effect.next_token || w->n_ablate == 0
                        ? _("The effect on the next-token distribution at the end of the text, "
                            "measured against the model with every head on.")
                        : _("The effect on the sentence embedding, measured against the model "
                            "with every head on."));
}

static void
on_ablation_failed (AsAblationView *self,
                    guint           generation,
                    GError         *error)
{
  if (generation != self->waiting)
    return;
  self->waiting = 0;
  g_autofree char *text = g_strdup_printf (_("Could not compute the effect: %s"), error->message);
  gtk_label_set_text (self->caption, text);
  gtk_progress_bar_set_text (self->progress, "");
}

/* A new text on screen: the effect is measured on it again, and the
 * ranking, which was of the old one, goes. */
static void
on_analysis_changed (AsAblationView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == NULL || a->text_a == NULL || self->text_a == NULL ||
      (g_strcmp0 (a->text_a, self->text_a) == 0 && g_strcmp0 (a->text_b, self->text_b) == 0))
    return;
  gtk_label_set_text (self->rank_label, "");
  if (self->ablated->len > 0)
    request (self, -2);
}

static void
on_model_loaded (AsAblationView *self)
{
  as_ablation_view_clear (self);
  gtk_label_set_text (self->rank_label, "");
}

static void
on_clear_clicked (AsAblationView *self)
{
  as_ablation_view_clear (self);
}

static void
on_rank_clicked (AsAblationView *self)
{
  as_ablation_view_rank_layer (self);
}

/* --- public ------------------------------------------------------------------- */

AsAblateMode
as_ablation_view_get_mode (AsAblationView *self)
{
  g_return_val_if_fail (AS_IS_ABLATION_VIEW (self), AS_ABLATE_ZERO);
  return AS_ABLATE_ZERO + (AsAblateMode) gtk_drop_down_get_selected (self->mode_dropdown);
}

void
as_ablation_view_set_mode (AsAblationView *self,
                           AsAblateMode    mode)
{
  g_return_if_fail (AS_IS_ABLATION_VIEW (self));
  g_return_if_fail (mode >= AS_ABLATE_ZERO && mode <= AS_ABLATE_MEAN);
  gtk_drop_down_set_selected (self->mode_dropdown, mode - AS_ABLATE_ZERO);
}

/* Where the heads switched off are kept on the view state. */
#define STATE_KEY "as-ablation-view-heads"

static AsAblateMode
mode_in (const GArray *ablated,
         int           layer,
         int           head)
{
  for (guint i = 0; ablated != NULL && i < ablated->len; i++)
    {
      const AsHeadAblation *a = &g_array_index (ablated, AsHeadAblation, i);
      if (a->layer == layer && a->head == head)
        return a->mode;
    }
  return AS_ABLATE_NONE;
}

AsAblateMode
as_ablation_view_mode_of (AsAblationView *self,
                          int             layer,
                          int             head)
{
  g_return_val_if_fail (AS_IS_ABLATION_VIEW (self), AS_ABLATE_NONE);
  return mode_in (self->ablated, layer, head);
}

AsAblateMode
as_ablation_view_state_mode_of (AsViewState *state,
                                int          layer,
                                int          head)
{
  return state != NULL ? mode_in (g_object_get_data (G_OBJECT (state), STATE_KEY), layer, head)
                       : AS_ABLATE_NONE;
}

void
as_ablation_view_toggle_head (AsAblationView *self,
                              int             layer,
                              int             head)
{
  g_return_if_fail (AS_IS_ABLATION_VIEW (self));
  gboolean removed = FALSE;
  for (guint i = 0; i < self->ablated->len && !removed; i++)
    {
      const AsHeadAblation *a = &g_array_index (self->ablated, AsHeadAblation, i);
      if (a->layer == layer && a->head == head)
        {
          g_array_remove_index (self->ablated, i);
          removed = TRUE;
        }
    }
  if (!removed)
    {
      AsHeadAblation a = { layer, head, as_ablation_view_get_mode (self) };
      g_array_append_val (self->ablated, a);
    }
  update_heads_label (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ABLATED]);
  request (self, -2);
}

void
as_ablation_view_clear (AsAblationView *self)
{
  g_return_if_fail (AS_IS_ABLATION_VIEW (self));
  g_array_set_size (self->ablated, 0);
  update_heads_label (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ABLATED]);
  request (self, -2);
}

const AsHeadAblation *
as_ablation_view_get_ablated (AsAblationView *self,
                              int            *n)
{
  g_return_val_if_fail (AS_IS_ABLATION_VIEW (self), NULL);
  *n = self->ablated->len;
  return (const AsHeadAblation *) self->ablated->data;
}

void
as_ablation_view_rank_layer (AsAblationView *self)
{
  g_return_if_fail (AS_IS_ABLATION_VIEW (self));
  request (self, self->state != NULL ? as_view_state_get_layer (self->state) : 0);
}

AsWorkerAblation *
as_ablation_view_get_result (AsAblationView *self)
{
  g_return_val_if_fail (AS_IS_ABLATION_VIEW (self), NULL);
  return self->result;
}

const char *
as_ablation_view_get_effect_text (AsAblationView *self)
{
  g_return_val_if_fail (AS_IS_ABLATION_VIEW (self), NULL);
  return gtk_label_get_text (self->effect_label);
}

const char *
as_ablation_view_get_rank_text (AsAblationView *self)
{
  g_return_val_if_fail (AS_IS_ABLATION_VIEW (self), NULL);
  return gtk_label_get_text (self->rank_label);
}

void
as_ablation_view_set_view_state (AsAblationView *self,
                                 AsViewState    *state)
{
  g_return_if_fail (AS_IS_ABLATION_VIEW (self));
  if (self->state == state)
    return;
  if (self->state != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->state, self);
      g_object_set_data (G_OBJECT (self->state), STATE_KEY, NULL);
    }
  g_set_object (&self->state, state);
  if (state != NULL)
    {
      g_signal_connect_swapped (state, "notify::analysis", G_CALLBACK (on_analysis_changed), self);
      g_object_set_data_full (G_OBJECT (state), STATE_KEY, g_array_ref (self->ablated),
                              (GDestroyNotify) g_array_unref);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

void
as_ablation_view_set_worker (AsAblationView *self,
                             AsWorker       *worker)
{
  g_return_if_fail (AS_IS_ABLATION_VIEW (self));
  if (self->worker == worker)
    return;
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  g_set_object (&self->worker, worker);
  if (worker != NULL)
    {
      g_signal_connect_swapped (worker, "ablation-progress", G_CALLBACK (on_ablation_progress), self);
      g_signal_connect_swapped (worker, "ablation-ready", G_CALLBACK (on_ablation_ready), self);
      g_signal_connect_swapped (worker, "ablation-failed", G_CALLBACK (on_ablation_failed), self);
      g_signal_connect_swapped (worker, "model-loaded", G_CALLBACK (on_model_loaded), self);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WORKER]);
}

/* --- GObject ------------------------------------------------------------------ */

static void
as_ablation_view_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  AsAblationView *self = AS_ABLATION_VIEW (object);
  switch (prop_id)
    {
    case PROP_VIEW_STATE: g_value_set_object (value, self->state); break;
    case PROP_WORKER:     g_value_set_object (value, self->worker); break;
    case PROP_MODE:       g_value_set_int (value, as_ablation_view_get_mode (self)); break;
    case PROP_ABLATED:    g_value_set_int (value, self->ablated->len); break;
    default:              G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_ablation_view_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  AsAblationView *self = AS_ABLATION_VIEW (object);
  switch (prop_id)
    {
    case PROP_VIEW_STATE: as_ablation_view_set_view_state (self, g_value_get_object (value)); break;
    case PROP_WORKER:     as_ablation_view_set_worker (self, g_value_get_object (value)); break;
    case PROP_MODE:       as_ablation_view_set_mode (self, g_value_get_int (value)); break;
    default:              G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_ablation_view_dispose (GObject *object)
{
  AsAblationView *self = AS_ABLATION_VIEW (object);
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  if (self->state != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->state, self);
      g_object_set_data (G_OBJECT (self->state), STATE_KEY, NULL);
    }
  g_clear_object (&self->worker);
  g_clear_object (&self->state);
  g_clear_pointer (&self->result, as_worker_ablation_unref);
  g_clear_pointer (&self->text_a, g_free);
  g_clear_pointer (&self->text_b, g_free);
  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_ABLATION_VIEW);
  /* dispose_template unparents bound children only; the rows are not. */
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (as_ablation_view_parent_class)->dispose (object);
}

static void
as_ablation_view_finalize (GObject *object)
{
  AsAblationView *self = AS_ABLATION_VIEW (object);
  g_array_unref (self->ablated);
  G_OBJECT_CLASS (as_ablation_view_parent_class)->finalize (object);
}

static void
as_ablation_view_class_init (AsAblationViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = as_ablation_view_dispose;
  object_class->finalize = as_ablation_view_finalize;
  object_class->get_property = as_ablation_view_get_property;
  object_class->set_property = as_ablation_view_set_property;
  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_WORKER] =
    g_param_spec_object ("worker", NULL, NULL, AS_TYPE_WORKER,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MODE] =
    g_param_spec_int ("mode", NULL, NULL, AS_ABLATE_ZERO, AS_ABLATE_MEAN, AS_ABLATE_ZERO,
                      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  /* How many heads are switched off; notified on every change of the set. */
  properties[PROP_ABLATED] =
    g_param_spec_int ("ablated", NULL, NULL, 0, G_MAXINT, 0,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "ablationview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-ablation-view.ui");
  gtk_widget_class_bind_template_child (widget_class, AsAblationView, caption);
  gtk_widget_class_bind_template_child (widget_class, AsAblationView, heads_label);
  gtk_widget_class_bind_template_child (widget_class, AsAblationView, mode_dropdown);
  gtk_widget_class_bind_template_child (widget_class, AsAblationView, clear_button);
  gtk_widget_class_bind_template_child (widget_class, AsAblationView, effect_label);
  gtk_widget_class_bind_template_child (widget_class, AsAblationView, rank_button);
  gtk_widget_class_bind_template_child (widget_class, AsAblationView, progress);
  gtk_widget_class_bind_template_child (widget_class, AsAblationView, rank_label);
  gtk_widget_class_bind_template_callback (widget_class, on_clear_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_rank_clicked);
}

static void
as_ablation_view_init (AsAblationView *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));
  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 8);
  self->ablated = g_array_new (FALSE, FALSE, sizeof (AsHeadAblation));
  gtk_widget_init_template (GTK_WIDGET (self));
  update_heads_label (self);
  gtk_progress_bar_set_text (self->progress, "");
  request (self, -2);
}

GtkWidget *
as_ablation_view_new (void)
{
  return g_object_new (AS_TYPE_ABLATION_VIEW, NULL);
}
