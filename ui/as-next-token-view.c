/* as-next-token-view.c — the next-token bars and the temperature slider. */
#include "as-next-token-view.h"

#include "as-shown.h"

#include <glib/gi18n.h>
#include <math.h>

#include "as-bars-render.h"
#include "as-elementwise.h"
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
  /* During a generation: the token the step chose from READY's
   * distribution, or -1; its probability at the slider's T, its label and
   * its place among the bars (-1: below them). */
  int             picked;
  float           picked_prob;
  char           *picked_label;
  int             picked_rank;
};

G_DEFINE_FINAL_TYPE (AsNextTokenView, as_next_token_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_VIEW_STATE,
  PROP_WORKER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* The text's last few tokens, for the caption, labelled as the views label
 * them: the caption stays one paragraph. */
static char *
text_tail (const AsAnalysis *a)
{
  GString *s = g_string_new (NULL);
  for (int i = MAX (0, a->n - 6); i < a->n && a->encoding != NULL; i++)
    {
      g_autofree char *shown = as_shown_display_text (a->encoding->tokens[i].text);
      g_string_append (s, shown);
    }
  return g_string_free (s, FALSE);
}

/* softmax (LOGITS [vocab] / T) of ID. */
static float
scaled_prob (const float *logits,
             int          vocab,
             double       t,
             int          id)
{
  g_autofree float *p = g_new (float, vocab);   /* [vocab] */
  for (int i = 0; i < vocab; i++)
    p[i] = (float) (logits[i] / t);
  as_softmax_row (p, vocab, vocab);
  return p[id];
}

/* The picked token's place among the bars and its probability at T. */
static void
update_picked (AsNextTokenView *self,
               double           t)
{
  const AsAnalysis *a = self->ready;
  self->picked_rank = -1;
  for (int i = 0; i < self->n_shown; i++)
    if (self->ids[i] == self->picked)
      self->picked_rank = i;
  self->picked_prob = self->picked_rank >= 0 ? self->probs[self->picked_rank]
                                             : scaled_prob (a->next_logits, a->vocab, t, self->picked);
}

/* Recomputes the bars for the analysis on screen and the slider's T. */
static void
update (AsNextTokenView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  self->n_shown = 0;
  if (a == NULL)
    gtk_label_set_text (self->caption, _("No analysis on screen."));
  else if (a != self->ready)
    gtk_label_set_text (self->caption, _("Computing the next-token distribution…"));
  else if (a->next_logits == NULL)
    gtk_label_set_text (self->caption,
                        _("This model has no language-model head: next-token predictions are "
                          "for decoders (a GGUF file, or a GPT-2 or Llama folder)."));
  else
    {
      double t = gtk_range_get_value (GTK_RANGE (self->temperature));
      self->n_shown = a->n_next;
      as_sampler_top_k_scaled (a->next_logits, a->vocab, t, a->n_next, self->ids, self->probs);
      g_autofree char *tail = text_tail (a);
      g_autofree char *text = g_strdup_printf (
        _("After “…%s”: the %d most likely next tokens, softmax (logits / T) over all %d tokens "
          "of the vocabulary at T = %.2f."), tail, a->n_next, a->vocab, t);
      if (self->picked >= 0)
        {
          update_picked (self, t);
          g_autofree char *step = g_strdup_printf (_("Generating: the model picked “%s” (%.1f%% at T = %.2f). %s"),
                                                   self->picked_label, 100.0 * self->picked_prob, t, text);
          gtk_label_set_text (self->caption, step);
        }
      else
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

/* “label”, labelled as the views label tokens, so that a token that is
 * only whitespace still shows what it is. */
static char *
quoted_label (const char *label)
{
  g_autofree char *shown = as_shown_display_text (label);
  return g_strdup_printf ("“%s”", shown);
}

/* The bars, WIDTH x HEIGHT, text in FG with LAYOUT's font: on screen and
 * in exported figures alike. */
static void
paint_bars (AsNextTokenView *self,
            cairo_t         *cr,
            PangoLayout     *layout,
            const GdkRGBA   *fg,
            double           width,
            double           height)
{
  char *quoted[AS_ANALYSIS_NEXT_TOP];
  for (int i = 0; i < self->n_shown; i++)
    quoted[i] = quoted_label (label_of (self, i));
  /* The chosen token: outlined, its bar warm. */
  AsBars bars = {
    .n = self->n_shown, .labels = (const char * const *) quoted, .probs = self->probs,
    .row_h = MIN (34.0, height / (double) (AS_ANALYSIS_NEXT_TOP + 1)),
    .fg = { fg->red, fg->green, fg->blue, fg->alpha },
    .highlight = self->picked >= 0 ? self->picked_rank : -1,
    .highlight_rgb = { 0.90, 0.38, 0.0 }, .outline = TRUE,
  };
  as_bars_render (cr, layout, &bars, 0, width);
  for (int i = 0; i < self->n_shown; i++)
    g_free (quoted[i]);

  /* The picked token outside the ten gets a row of its own, apart. */
  if (self->picked >= 0 && self->picked_rank < 0)
    {
      g_autofree char *picked = quoted_label (self->picked_label);
      const char *labels[] = { picked };
      bars.n = 1, bars.labels = labels, bars.probs = &self->picked_prob, bars.highlight = 0;
      as_bars_render (cr, layout, &bars, (self->n_shown + 0.25) * bars.row_h, width);
    }
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
  paint_bars (self, cr, layout, &fg, width, height);
  g_object_unref (layout);
}

/* ---- export --------------------------------------------------------------- */

#define FIGURE_WIDTH   720.0
#define FIGURE_MARGIN  16.0

/* The caption, then the bars, black on white: what the page shows. */
static gboolean
draw_figure (cairo_t     *cr,
             AsCellMode   mode,
             double       width,
             double       height,
             gpointer     data,
             GError     **error)
{
  AsNextTokenView *self = data;
  const GdkRGBA fg = { 0, 0, 0, 1 };
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  PangoLayout *layout = pango_cairo_create_layout (cr);
  PangoFontDescription *font = pango_font_description_from_string ("Sans 10");
  pango_layout_set_font_description (layout, font);
  pango_font_description_free (font);
  pango_layout_set_width (layout, (int) ((width - 2 * FIGURE_MARGIN) * PANGO_SCALE));
  pango_layout_set_wrap (layout, PANGO_WRAP_WORD_CHAR);
  pango_layout_set_text (layout, gtk_label_get_text (self->caption), -1);
  int tw, th;
  pango_layout_get_pixel_size (layout, &tw, &th);
  gdk_cairo_set_source_rgba (cr, &fg);
  cairo_move_to (cr, FIGURE_MARGIN, FIGURE_MARGIN);
  pango_cairo_show_layout (cr, layout);
  pango_layout_set_wrap (layout, PANGO_WRAP_WORD);
  cairo_translate (cr, FIGURE_MARGIN, 2 * FIGURE_MARGIN + th);
  paint_bars (self, cr, layout, &fg, width - 2 * FIGURE_MARGIN,
              height - 3 * FIGURE_MARGIN - th);
  g_object_unref (layout);
  return TRUE;
}

gboolean
as_next_token_view_save (AsNextTokenView *self,
                         const char      *path,
                         AsFigureFormat   format,
                         GError         **error)
{
  g_return_val_if_fail (AS_IS_NEXT_TOKEN_VIEW (self), FALSE);
  if (self->n_shown == 0)
    {
      g_set_error_literal (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                           _("There are no next-token predictions on screen to export."));
      return FALSE;
    }
  /* Ten rows of 34 px, one more for a picked token below them, and the
   * caption's two lines. */
  double height = 11 * 34.0 + 3 * FIGURE_MARGIN + 40;
  return as_figure_save_drawing (path, NULL, format, FIGURE_WIDTH, height, draw_figure, self, error);
}

/* The chooser's writer (as_export_drawing_dialog_show): the format from
 * the extension. */
static gboolean
save_figure (gpointer     view,
             const char  *path,
             GError     **error)
{
  return as_next_token_view_save (view, path, AS_FORMAT_AUTO, error);
}

void
as_next_token_view_export_dialog (AsNextTokenView *self,
                                  GtkWindow       *parent,
                                  AsExportDone     done)
{
  g_return_if_fail (AS_IS_NEXT_TOKEN_VIEW (self));
  if (self->n_shown == 0)
    {
      g_autoptr(GError) error = g_error_new_literal (AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                                                     _("There are no next-token predictions on screen to export."));
      done (parent, NULL, error);
      return;
    }
  as_export_drawing_dialog_show (parent, _("Export Next-Token Predictions"), "attnscope-next-token",
                                 save_figure, self, done);
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
    {
      g_clear_pointer (&self->ready, as_analysis_unref);
      self->picked = -1;
    }
  update (self);
}

/* A generation's step: its analysis is complete when handed over, with
 * the distribution the token was picked from. */
static void
on_generation_analysis (AsNextTokenView *self,
                        AsAnalysis      *analysis,
                        int              picked)
{
  if (self->state == NULL || analysis != as_view_state_get_analysis (self->state))
    return;
  g_clear_pointer (&self->ready, as_analysis_unref);
  self->ready = as_analysis_ref (analysis);
  self->picked = picked;
  g_free (self->picked_label);
  self->picked_label = NULL;
  if (picked >= 0)
    {
      /* Its label: one of the ten's, else the token's text as the strip
       * will show it once it is run. */
      for (int i = 0; i < analysis->n_next && self->picked_label == NULL; i++)
        if (analysis->next_ids[i] == picked && analysis->next_labels[i] != NULL)
          self->picked_label = g_strdup (analysis->next_labels[i]);
      if (self->picked_label == NULL)
        self->picked_label = g_strdup_printf (_("token id %d"), picked);
    }
  update (self);
}

/* A picked token outside the ten is named by its text, which comes with
 * the step. */
static void
on_generation_step (AsNextTokenView *self,
                    guint            generation,
                    const char      *piece,
                    int              index)
{
  if (self->picked < 0 || self->picked_rank >= 0 || *piece == '\0')
    return;
  g_free (self->picked_label);
  self->picked_label = g_strdup (piece);
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
    {
      g_signal_connect_swapped (worker, "analysis-finished", G_CALLBACK (on_analysis_finished), self);
      g_signal_connect_swapped (worker, "generation-analysis", G_CALLBACK (on_generation_analysis), self);
      g_signal_connect_swapped (worker, "generation-step", G_CALLBACK (on_generation_step), self);
    }
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

gboolean
as_next_token_view_get_picked (AsNextTokenView *self,
                               int             *id,
                               float           *prob)
{
  g_return_val_if_fail (AS_IS_NEXT_TOKEN_VIEW (self), FALSE);
  if (self->picked < 0 || self->n_shown == 0)
    return FALSE;
  *id = self->picked;
  *prob = self->picked_prob;
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
  g_clear_pointer (&self->picked_label, g_free);
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
  self->picked = -1;
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_drawing_area_set_draw_func (self->area, draw, self, NULL);
}

GtkWidget *
as_next_token_view_new (void)
{
  return g_object_new (AS_TYPE_NEXT_TOKEN_VIEW, NULL);
}
