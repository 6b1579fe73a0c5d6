/* as-mlm-view.c — masking a token, and the predictions at each [MASK]. */
#include "as-mlm-view.h"

#include <glib/gi18n.h>
#include <string.h>

#include "as-bars-render.h"
#include "as-mlm-head.h"

#define ROW_H     26.0   /* one prediction's bar */
#define HEADER_H  30.0   /* a mask's heading */

static const char *const no_head_reason =
  N_("This model has no masked-LM head: masked-token predictions need an encoder saved "
     "with one (cls.predictions.*, as bert-base-uncased has).");

struct _AsMlmView
{
  GtkWidget       parent_instance;

  GtkButton      *mask_button;
  GtkButton      *unmask_button;
  GtkLabel       *caption;
  GtkDrawingArea *area;

  AsViewState    *state;
  AsWorker       *worker;
  GtkEditable    *entries[2];     /* sentence A, B */
  /* The analysis whose predictions are complete (the worker said it
   * finished), held; NULL while the one on screen is on its way. */
  AsAnalysis     *ready;
  /* The texts before the first mask, NULL when nothing is masked (or the
   * user edited the text since). */
  char           *original[2];
  /* What each mask replaced: "position" -> the token's vocabulary
   * spelling (one token becomes one [MASK], so positions hold). */
  GHashTable     *masked;
  gboolean        editing;        /* our own set_text is running */
  gboolean        can_mask;
  const char     *why_not;
};

G_DEFINE_FINAL_TYPE (AsMlmView, as_mlm_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_VIEW_STATE,
  PROP_WORKER,
  PROP_CAN_MASK,
  PROP_CAN_UNMASK,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static AsAnalysis *
on_screen (AsMlmView *self)
{
  return self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
}

/* The analysis on screen is of the entries' text as it is now: its token
 * spans can be cut from that text. */
static gboolean
analysis_is_current (AsMlmView        *self,
                     const AsAnalysis *a)
{
  for (int s = 0; s < 2; s++)
    {
      const char *shown = s == 0 ? a->text_a : a->text_b;
      const char *now = self->entries[s] != NULL ? gtk_editable_get_text (self->entries[s]) : "";
      if (g_strcmp0 (shown != NULL ? shown : "", now) != 0)
        return FALSE;
    }
  return TRUE;
}

/* The selected token, if it is one of the text's own (not [CLS]/[SEP])
 * that can be masked now; else NULL, *WHY saying why. */
static const AsToken *
maskable_token (AsMlmView   *self,
                const char **why)
{
  AsAnalysis *a = on_screen (self);
  const int t = self->state != NULL ? as_view_state_get_token (self->state) : -1;
  if (self->worker == NULL || !as_worker_get_model_fills (self->worker))
    *why = _(no_head_reason);
  else if (a == NULL || a->encoding == NULL || t < 0 || t >= a->encoding->n_tokens)
    *why = _("Select a token in the strip first: click it, or move to it with Left and Right.");
  else if (!analysis_is_current (self, a))
    *why = _("The analysis of the text as it is now is still on its way.");
  else if (a->encoding->tokens[t].sequence < 0 || a->encoding->tokens[t].start < 0)
    *why = _("[CLS] and [SEP] come from the template, not from the text: select a token of the text.");
  else if (g_strcmp0 (a->encoding->tokens[t].text, "[MASK]") == 0)
    *why = _("This token is masked already.");
  else
    {
      *why = NULL;
      return &a->encoding->tokens[t];
    }
  return NULL;
}

static void
update_actions (AsMlmView *self)
{
  const char *why;
  gboolean can = maskable_token (self, &why) != NULL;
  self->why_not = why;
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->mask_button),
                               can ? _("Write [MASK] in place of the selected token and analyse "
                                       "the text again (Ctrl+M, or right-click a token)") : why);
  if (can != self->can_mask)
    {
      self->can_mask = can;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_MASK]);
    }
}

static void
update (AsMlmView *self)
{
  AsAnalysis *a = on_screen (self);
  if (self->worker == NULL || !as_worker_get_model_fills (self->worker))
    gtk_label_set_text (self->caption, _(no_head_reason));
  else if (a == NULL)
    gtk_label_set_text (self->caption, _("No analysis on screen."));
  else if (a != self->ready)
    gtk_label_set_text (self->caption, _("Analysing the text…"));
  else if (a->mlm == NULL)
    gtk_label_set_text (self->caption,
                        _("Select a token in the strip and mask it (the button above, Ctrl+M, or "
                          "right-click the token): the text is analysed again with [MASK] in its "
                          "place, and here are the tokens the model would put there."));
  else
    {
      g_autofree char *text = g_strdup_printf (
        _("At each [MASK]: the %d most probable tokens, softmax over the whole vocabulary. "
          "The other views show the attention of the masked text."), a->mlm->k);
      gtk_label_set_text (self->caption, text);
    }
  int n_masks = as_mlm_view_get_n_masks (self);
  gtk_drawing_area_set_content_height (self->area,
                                       n_masks > 0 ? (int) (n_masks * (HEADER_H + AS_WORKER_MLM_TOP * ROW_H)) : 1);
  gtk_widget_queue_draw (GTK_WIDGET (self->area));
  update_actions (self);
}

static void
draw_mask (AsMlmView       *self,
           cairo_t         *cr,
           PangoLayout     *layout,
           const GdkRGBA   *fg,
           const AsMlmFill *fill,
           int              m,
           double           y,
           int              width)
{
  int tw, th;

  const char *replaced = g_hash_table_lookup (self->masked, GINT_TO_POINTER (fill->positions[m]));
  g_autofree char *heading = as_mlm_view_describe_mask (self, m);
  pango_layout_set_width (layout, -1);
  pango_layout_set_text (layout, heading, -1);
  pango_layout_get_pixel_size (layout, &tw, &th);
  gdk_cairo_set_source_rgba (cr, fg);
  cairo_move_to (cr, 0, y + (HEADER_H - th) / 2);
  pango_cairo_show_layout (cr, layout);
  y += HEADER_H;

  g_autoptr(GPtrArray) quoted = g_ptr_array_new_with_free_func (g_free);
  g_autofree float *probs = g_new (float, fill->k);   /* [k] */
  int was = -1;
  for (int r = 0; r < fill->k; r++)
    {
      const char *label = fill->labels[(gsize) m * fill->k + r];
      /* The token that was masked stands out among the guesses. */
      if (was < 0 && label != NULL && g_strcmp0 (label, replaced) == 0)
        was = r;
      g_ptr_array_add (quoted, g_strdup_printf ("%s“%s”", r == was ? "✓ " : "", label != NULL ? label : "?"));
      probs[r] = fill->top[(gsize) m * fill->k + r].prob;
    }
  AsBars bars = {
    .n = fill->k, .labels = (const char * const *) quoted->pdata, .probs = probs, .row_h = ROW_H,
    .fg = { fg->red, fg->green, fg->blue, fg->alpha },
    .highlight = was, .highlight_rgb = { 0.18, 0.63, 0.30 },
  };
  as_bars_render (cr, layout, &bars, y, width);
}

static void
draw (GtkDrawingArea *area,
      cairo_t        *cr,
      int             width,
      int             height,
      gpointer        data)
{
  AsMlmView *self = data;
  const int n_masks = as_mlm_view_get_n_masks (self);
  if (n_masks == 0)
    return;
  GdkRGBA fg;
  gtk_style_context_get_color (gtk_widget_get_style_context (GTK_WIDGET (area)), &fg);
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (area), NULL);
  for (int m = 0; m < n_masks; m++)
    draw_mask (self, cr, layout, &fg, self->ready->mlm, m,
               m * (HEADER_H + AS_WORKER_MLM_TOP * ROW_H), width);
  g_object_unref (layout);
}

static void
on_analysis_changed (AsMlmView *self)
{
  if (on_screen (self) != self->ready)
    g_clear_pointer (&self->ready, as_analysis_unref);
  update (self);
}

/* Only now are the predictions there (the worker computes them after the
 * last layer). */
static void
on_analysis_finished (AsMlmView  *self,
                      AsAnalysis *analysis)
{
  if (analysis != on_screen (self))
    return;
  g_clear_pointer (&self->ready, as_analysis_unref);
  self->ready = as_analysis_ref (analysis);
  update (self);
}

static void
forget_original (AsMlmView *self)
{
  g_hash_table_remove_all (self->masked);
  if (self->original[0] == NULL)
    return;
  g_clear_pointer (&self->original[0], g_free);
  g_clear_pointer (&self->original[1], g_free);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_UNMASK]);
}

/* An edit of the user's own: the masked text is theirs now. */
static void
on_entry_changed (AsMlmView *self)
{
  if (!self->editing)
    forget_original (self);
  update_actions (self);
}

static void
on_model_loaded (AsMlmView *self)
{
  forget_original (self);
  update (self);
}

gboolean
as_mlm_view_can_mask (AsMlmView   *self,
                      const char **why)
{
  g_return_val_if_fail (AS_IS_MLM_VIEW (self), FALSE);
  const char *reason;
  gboolean can = maskable_token (self, &reason) != NULL;
  if (why != NULL)
    *why = reason;
  return can;
}

gboolean
as_mlm_view_can_unmask (AsMlmView *self)
{
  g_return_val_if_fail (AS_IS_MLM_VIEW (self), FALSE);
  return self->original[0] != NULL;
}

gboolean
as_mlm_view_mask_selected (AsMlmView *self)
{
  g_return_val_if_fail (AS_IS_MLM_VIEW (self), FALSE);
  const char *why;
  const AsToken *tok = maskable_token (self, &why);
  if (tok == NULL)
    return FALSE;
  GtkEditable *entry = self->entries[tok->sequence == 1 ? 1 : 0];
  const char *text = gtk_editable_get_text (entry);
  if ((gsize) tok->end > strlen (text) || tok->start > tok->end)
    return FALSE;
  if (self->original[0] == NULL)
    {
      for (int s = 0; s < 2; s++)
        self->original[s] = g_strdup (self->entries[s] != NULL ? gtk_editable_get_text (self->entries[s]) : "");
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_UNMASK]);
    }
  g_hash_table_insert (self->masked, GINT_TO_POINTER ((int) (tok - on_screen (self)->encoding->tokens)),
                       g_strdup (tok->text));
  g_autofree char *masked = g_strdup_printf ("%.*s[MASK]%s", tok->start, text, text + tok->end);
  self->editing = TRUE;
  gtk_editable_set_text (entry, masked);
  self->editing = FALSE;
  update_actions (self);
  return TRUE;
}

void
as_mlm_view_unmask (AsMlmView *self)
{
  g_return_if_fail (AS_IS_MLM_VIEW (self));
  if (self->original[0] == NULL)
    return;
  self->editing = TRUE;
  for (int s = 0; s < 2; s++)
    if (self->entries[s] != NULL && g_strcmp0 (gtk_editable_get_text (self->entries[s]), self->original[s]) != 0)
      gtk_editable_set_text (self->entries[s], self->original[s]);
  self->editing = FALSE;
  forget_original (self);
  update_actions (self);
}

int
as_mlm_view_get_n_masks (AsMlmView *self)
{
  g_return_val_if_fail (AS_IS_MLM_VIEW (self), 0);
  AsAnalysis *a = on_screen (self);
  if (a == NULL || a != self->ready || a->mlm == NULL)
    return 0;
  return a->mlm->n_masks;
}

gboolean
as_mlm_view_get_prediction (AsMlmView   *self,
                            int          m,
                            int          r,
                            int         *position,
                            int         *id,
                            const char **label,
                            float       *prob)
{
  g_return_val_if_fail (AS_IS_MLM_VIEW (self), FALSE);
  if (m < 0 || m >= as_mlm_view_get_n_masks (self) || r < 0 || r >= self->ready->mlm->k)
    return FALSE;
  const AsMlmFill *fill = self->ready->mlm;
  const AsMlmPrediction *p = &fill->top[(gsize) m * fill->k + r];
  *position = fill->positions[m];
  *id = p->id;
  *label = fill->labels[(gsize) m * fill->k + r];
  *prob = p->prob;
  return TRUE;
}

char *
as_mlm_view_describe_mask (AsMlmView *self,
                           int        m)
{
  g_return_val_if_fail (AS_IS_MLM_VIEW (self), NULL);
  if (m < 0 || m >= as_mlm_view_get_n_masks (self))
    return NULL;
  /* Counted from 1, as the token strip counts tokens. */
  int position = self->ready->mlm->positions[m];
  const char *replaced = g_hash_table_lookup (self->masked, GINT_TO_POINTER (position));
  return replaced != NULL ? g_strdup_printf (_("[MASK] at position %d, in place of “%s”"), position + 1, replaced)
                          : g_strdup_printf (_("[MASK] at position %d"), position + 1);
}

const char *
as_mlm_view_get_caption (AsMlmView *self)
{
  g_return_val_if_fail (AS_IS_MLM_VIEW (self), NULL);
  return gtk_label_get_text (self->caption);
}

void
as_mlm_view_set_view_state (AsMlmView   *self,
                            AsViewState *state)
{
  g_return_if_fail (AS_IS_MLM_VIEW (self));
  if (self->state == state)
    return;
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_set_object (&self->state, state);
  if (state != NULL)
    {
      g_signal_connect_swapped (state, "notify::analysis", G_CALLBACK (on_analysis_changed), self);
      g_signal_connect_swapped (state, "notify::token", G_CALLBACK (update_actions), self);
    }
  on_analysis_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

void
as_mlm_view_set_worker (AsMlmView *self,
                        AsWorker  *worker)
{
  g_return_if_fail (AS_IS_MLM_VIEW (self));
  if (self->worker == worker)
    return;
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  g_set_object (&self->worker, worker);
  if (worker != NULL)
    {
      g_signal_connect_swapped (worker, "analysis-finished", G_CALLBACK (on_analysis_finished), self);
      g_signal_connect_swapped (worker, "model-loaded", G_CALLBACK (on_model_loaded), self);
    }
  update (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WORKER]);
}

void
as_mlm_view_set_entries (AsMlmView   *self,
                         GtkEditable *entry_a,
                         GtkEditable *entry_b)
{
  g_return_if_fail (AS_IS_MLM_VIEW (self));
  GtkEditable *entries[2] = { entry_a, entry_b };
  for (int s = 0; s < 2; s++)
    {
      if (self->entries[s] != NULL)
        g_signal_handlers_disconnect_by_data (self->entries[s], self);
      g_set_object (&self->entries[s], entries[s]);
      if (entries[s] != NULL)
        g_signal_connect_swapped (entries[s], "changed", G_CALLBACK (on_entry_changed), self);
    }
  forget_original (self);
  update_actions (self);
}

static void
as_mlm_view_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  AsMlmView *self = AS_MLM_VIEW (object);
  switch (prop_id)
    {
    case PROP_VIEW_STATE: g_value_set_object (value, self->state); break;
    case PROP_WORKER:     g_value_set_object (value, self->worker); break;
    case PROP_CAN_MASK:   g_value_set_boolean (value, self->can_mask); break;
    case PROP_CAN_UNMASK: g_value_set_boolean (value, self->original[0] != NULL); break;
    default:              G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_mlm_view_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  AsMlmView *self = AS_MLM_VIEW (object);
  switch (prop_id)
    {
    case PROP_VIEW_STATE: as_mlm_view_set_view_state (self, g_value_get_object (value)); break;
    case PROP_WORKER:     as_mlm_view_set_worker (self, g_value_get_object (value)); break;
    default:              G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_mlm_view_dispose (GObject *object)
{
  AsMlmView *self = AS_MLM_VIEW (object);
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  for (int s = 0; s < 2; s++)
    {
      if (self->entries[s] != NULL)
        g_signal_handlers_disconnect_by_data (self->entries[s], self);
      g_clear_object (&self->entries[s]);
      g_clear_pointer (&self->original[s], g_free);
    }
  g_clear_pointer (&self->masked, g_hash_table_unref);
  g_clear_object (&self->worker);
  g_clear_object (&self->state);
  g_clear_pointer (&self->ready, as_analysis_unref);
  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_MLM_VIEW);
  /* dispose_template unparents bound children only; the button row is not. */
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (as_mlm_view_parent_class)->dispose (object);
}

static void
as_mlm_view_class_init (AsMlmViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = as_mlm_view_dispose;
  object_class->get_property = as_mlm_view_get_property;
  object_class->set_property = as_mlm_view_set_property;
  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_WORKER] =
    g_param_spec_object ("worker", NULL, NULL, AS_TYPE_WORKER,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_MASK] =
    g_param_spec_boolean ("can-mask", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_UNMASK] =
    g_param_spec_boolean ("can-unmask", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "mlmview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-mlm-view.ui");
  gtk_widget_class_bind_template_child (widget_class, AsMlmView, mask_button);
  gtk_widget_class_bind_template_child (widget_class, AsMlmView, unmask_button);
  gtk_widget_class_bind_template_child (widget_class, AsMlmView, caption);
  gtk_widget_class_bind_template_child (widget_class, AsMlmView, area);
}

static void
as_mlm_view_init (AsMlmView *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));
  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 6);
  gtk_widget_init_template (GTK_WIDGET (self));
  self->masked = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  gtk_drawing_area_set_draw_func (self->area, draw, self, NULL);
  update (self);
}

GtkWidget *
as_mlm_view_new (void)
{
  return g_object_new (AS_TYPE_MLM_VIEW, NULL);
}
