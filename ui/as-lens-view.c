/* as-lens-view.c — the logit lens page. */
#include "as-lens-view.h"

#include <glib/gi18n.h>

#include "as-lens-render.h"
#include "as-model.h"

struct _AsLensView
{
  GtkWidget          parent_instance;

  GtkLabel          *caption;
  GtkScrolledWindow *scroller;
  GtkDrawingArea    *area;
  GtkLabel          *top_text;

  AsViewState       *state;
  AsWorker          *worker;
  /* The lens of ANALYSIS (held), or NULL while the one on screen has none. */
  AsAnalysis        *analysis;
  AsWorkerLens      *lens;
  const char       **tokens;    /* [n] into ANALYSIS' encoding: the column heads */
  int                sel_slot;
  int                sel_pos;
};

G_DEFINE_FINAL_TYPE (AsLensView, as_lens_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_VIEW_STATE,
  PROP_WORKER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* The figure as the screen shows it now (the analysis' title, when one is
 * asked for, points into it). */
static void
figure_of (AsLensView   *self,
           AsLensFigure *f,
           gboolean      with_title,
           char        **title)
{
  as_lens_figure_init (f);
  f->lens = self->lens != NULL ? self->lens->lens : NULL;
  f->labels = self->lens != NULL ? (const char * const *) self->lens->labels : NULL;
  f->tokens = self->tokens;
  f->colormap = self->state != NULL ? as_view_state_get_colormap (self->state) : AS_COLORMAP_VIRIDIS;
  f->dark = self->state != NULL && as_view_state_get_dark (self->state);
  f->sel_slot = self->sel_slot;
  f->sel_pos = self->sel_pos;
  /* On screen at the projector zoom; a file at the figure's own size. */
  f->font_size = !with_title && self->state != NULL ? 12 * as_view_state_get_zoom (self->state) : 12;
  *title = NULL;
  if (with_title && self->analysis != NULL)
    *title = g_strdup_printf (_("Logit lens · %s · “%s”"),
                              self->analysis->model_name != NULL ? self->analysis->model_name : _("model"),
                              self->analysis->text_a != NULL ? self->analysis->text_a : "");
  f->title = *title;
}

static const char *
cell_label (AsLensView *self,
            int         slot,
            int         pos,
            int         r)
{
  const AsLogitLens *lens = self->lens->lens;
  return self->lens->labels[((gsize) slot * lens->n + pos) * lens->k + r];
}

/* The selected cell's top tokens, in words, for the line below and for
 * screen readers. */
static void
update_top_text (AsLensView *self)
{
  if (self->lens == NULL || self->lens->lens == NULL || self->sel_slot < 0)
    {
      gtk_label_set_text (self->top_text, "");
      return;
    }
  const AsLogitLens *lens = self->lens->lens;
  g_autofree char *after = as_shown_display_text (self->tokens != NULL ? self->tokens[self->sel_pos] : NULL);
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, _("Layer %d, after “%s” (token %d): "), lens->first + self->sel_slot + 1, after,
                          self->sel_pos + 1);
  const float *probs = as_logit_lens_probs (lens, self->sel_slot, self->sel_pos);
  for (int r = 0; r < lens->k; r++)
    {
      g_autofree char *shown = as_shown_display_text (cell_label (self, self->sel_slot, self->sel_pos, r));
      g_string_append_printf (s, "%s%d “%s” %.1f%%", r > 0 ? " · " : "", r + 1, shown, 100.0 * probs[r]);
    }
  gtk_label_set_text (self->top_text, s->str);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->area), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  s->str, -1);
  g_string_free (s, TRUE);
}

static void
update_size (AsLensView *self)
{
  AsLensFigure f;
  g_autofree char *title = NULL;
  figure_of (self, &f, FALSE, &title);
  AsLensLayout l;
  as_lens_layout (&f, &l);
  gtk_drawing_area_set_content_width (self->area, f.lens != NULL ? (int) l.width : 1);
  gtk_drawing_area_set_content_height (self->area, f.lens != NULL ? (int) l.height : 1);
}

static void
update_caption (AsLensView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == NULL)
    gtk_label_set_text (self->caption, _("No analysis on screen."));
  else if (self->worker != NULL && !as_worker_get_model_generates (self->worker))
    gtk_label_set_text (self->caption,
                        _("The logit lens reads a decoder's predictions at every layer: it needs a model "
                          "with a language-model head (a GGUF file, or a GPT-2 or Llama folder)."));
  else if (self->lens == NULL)
    gtk_label_set_text (self->caption, _("Computing the logit lens…"));
  else if (self->lens->lens == NULL)
    {
      g_autofree char *text = g_strdup_printf (_("No logit lens: %s"), self->lens->error);
      gtk_label_set_text (self->caption, text);
    }
  else
    gtk_label_set_text (self->caption,
                        _("What the model would predict next if it stopped after each layer: each cell "
                          "is the most likely next token after the word above it, coloured by its "
                          "probability. The top row is the model's own prediction. Click a cell for its "
                          "top 10."));
}

static void
update (AsLensView *self)
{
  update_caption (self);
  update_size (self);
  update_top_text (self);
  gtk_widget_queue_draw (GTK_WIDGET (self->area));
}

static void
draw (GtkDrawingArea *area,
      cairo_t        *cr,
      int             width,
      int             height,
      gpointer        data)
{
  AsLensView *self = data;
  if (self->lens == NULL || self->lens->lens == NULL)
    return;
  AsLensFigure f;
  g_autofree char *title = NULL;
  figure_of (self, &f, FALSE, &title);
  as_lens_render (cr, &f);
}

static void
clear_lens (AsLensView *self)
{
  g_clear_pointer (&self->lens, as_worker_lens_unref);
  g_clear_pointer (&self->analysis, as_analysis_unref);
  g_clear_pointer (&self->tokens, g_free);
  self->sel_slot = self->sel_pos = -1;
}

static void
on_analysis_changed (AsLensView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a != self->analysis)
    clear_lens (self);
  update (self);
}

/* Keeps the selected cell in sight. */
static void
scroll_to_selection (AsLensView *self)
{
  double x, y;
  AsLensFigure f;
  g_autofree char *title = NULL;
  figure_of (self, &f, FALSE, &title);
  if (f.lens == NULL || !as_lens_view_cell_center (self, f.lens->first + self->sel_slot, self->sel_pos, &x, &y))
    return;
  AsLensLayout l;
  as_lens_layout (&f, &l);
  gtk_adjustment_clamp_page (gtk_scrolled_window_get_hadjustment (self->scroller),
                             x - l.cell_w, x + l.cell_w);
  gtk_adjustment_clamp_page (gtk_scrolled_window_get_vadjustment (self->scroller),
                             y - l.cell_h, y + l.cell_h);
}

static void
on_lens_ready (AsLensView   *self,
               AsAnalysis   *analysis,
               AsWorkerLens *lens)
{
  if (self->state == NULL || analysis != as_view_state_get_analysis (self->state))
    return;
  clear_lens (self);
  self->analysis = as_analysis_ref (analysis);
  self->lens = as_worker_lens_ref (lens);
  if (lens->lens != NULL)
    {
      int n = lens->lens->n;
      self->tokens = g_new0 (const char *, n);
      for (int i = 0; i < n && analysis->encoding != NULL && i < analysis->encoding->n_tokens; i++)
        self->tokens[i] = analysis->encoding->tokens[i].text;
      /* The model's own prediction after the whole text. */
      self->sel_slot = lens->lens->n_layers - 1;
      self->sel_pos = n - 1;
    }
  update (self);
  scroll_to_selection (self);
}

static void
on_colours_changed (AsLensView *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self->area));
}

static void
on_model_loaded (AsLensView *self)
{
  update (self);
}

/* ---- input -------------------------------------------------------------- */

static void
on_pressed (GtkGestureClick *gesture,
            int              n_press,
            double           x,
            double           y,
            AsLensView      *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self->area));
  AsLensFigure f;
  g_autofree char *title = NULL;
  figure_of (self, &f, FALSE, &title);
  AsLensLayout l;
  as_lens_layout (&f, &l);
  int slot, pos;
  if (as_lens_hit (&f, &l, x, y, &slot, &pos))
    as_lens_view_select (self, f.lens->first + slot, pos);
}

static gboolean
on_key_pressed (GtkEventControllerKey *controller,
                guint                  keyval,
                guint                  keycode,
                GdkModifierType        state,
                AsLensView            *self)
{
  if (self->lens == NULL || self->lens->lens == NULL || (state & (GDK_CONTROL_MASK | GDK_ALT_MASK)))
    return FALSE;
  const AsLogitLens *lens = self->lens->lens;
  int slot = self->sel_slot, pos = self->sel_pos;
  switch (keyval)
    {
    /* The last layer is the top row: up goes deeper into the model. */
    case GDK_KEY_Up:    case GDK_KEY_KP_Up:    slot++; break;
    case GDK_KEY_Down:  case GDK_KEY_KP_Down:  slot--; break;
    case GDK_KEY_Left:  case GDK_KEY_KP_Left:  pos--; break;
    case GDK_KEY_Right: case GDK_KEY_KP_Right: pos++; break;
    case GDK_KEY_Home:  pos = 0; break;
    case GDK_KEY_End:   pos = lens->n - 1; break;
    case GDK_KEY_Page_Up:   slot = lens->n_layers - 1; break;
    case GDK_KEY_Page_Down: slot = 0; break;
    default: return FALSE;
    }
  as_lens_view_select (self, lens->first + CLAMP (slot, 0, lens->n_layers - 1), CLAMP (pos, 0, lens->n - 1));
  return TRUE;
}

static gboolean
on_query_tooltip (GtkWidget  *widget,
                  int         x,
                  int         y,
                  gboolean    keyboard,
                  GtkTooltip *tooltip,
                  AsLensView *self)
{
  AsLensFigure f;
  g_autofree char *title = NULL;
  figure_of (self, &f, FALSE, &title);
  AsLensLayout l;
  as_lens_layout (&f, &l);
  int slot, pos;
  if (keyboard || !as_lens_hit (&f, &l, x, y, &slot, &pos))
    return FALSE;
  g_autofree char *shown = as_shown_display_text (cell_label (self, slot, pos, 0));
  g_autofree char *text = g_strdup_printf (_("Layer %d, token %d: “%s” %.1f%%"), f.lens->first + slot + 1, pos + 1,
                                           shown, 100.0 * as_logit_lens_probs (f.lens, slot, pos)[0]);
  gtk_tooltip_set_text (tooltip, text);
  return TRUE;
}

/* ---- export ------------------------------------------------------------- */

gboolean
as_lens_view_save (AsLensView  *self,
                   const char  *path,
                   GError     **error)
{
  g_return_val_if_fail (AS_IS_LENS_VIEW (self), FALSE);
  AsLensFigure f;
  g_autofree char *title = NULL;
  figure_of (self, &f, TRUE, &title);
  /* A figure must never replace a file of the model it was made with. */
  g_auto(GStrv) protect = self->analysis != NULL && self->analysis->model_dir != NULL
                          ? as_model_list_files_in (self->analysis->model_dir) : NULL;
  return as_lens_save (&f, path, (const char * const *) protect, AS_FORMAT_AUTO, error);
}

/* The chooser's writer (as_export_drawing_dialog_show). */
static gboolean
save_figure (gpointer     view,
             const char  *path,
             GError     **error)
{
  return as_lens_view_save (view, path, error);
}

void
as_lens_view_export_dialog (AsLensView   *self,
                            GtkWindow    *parent,
                            AsExportDone  done)
{
  g_return_if_fail (AS_IS_LENS_VIEW (self));
  if (self->lens == NULL || self->lens->lens == NULL)
    {
      g_autoptr(GError) error = g_error_new_literal (AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                                                     _("There is no logit lens on screen to export."));
      done (parent, NULL, error);
      return;
    }
  as_export_drawing_dialog_show (parent, _("Export Logit Lens"), "attnscope-logit-lens", save_figure, self, done);
}

/* ---- public API ------------------------------------------------------- */

AsWorkerLens *
as_lens_view_get_lens (AsLensView *self)
{
  g_return_val_if_fail (AS_IS_LENS_VIEW (self), NULL);
  return self->lens;
}

gboolean
as_lens_view_get_selected (AsLensView *self,
                           int        *layer,
                           int        *pos)
{
  g_return_val_if_fail (AS_IS_LENS_VIEW (self), FALSE);
  if (self->lens == NULL || self->lens->lens == NULL)
    return FALSE;
  *layer = self->lens->lens->first + self->sel_slot;
  *pos = self->sel_pos;
  return TRUE;
}

void
as_lens_view_select (AsLensView *self,
                     int         layer,
                     int         pos)
{
  g_return_if_fail (AS_IS_LENS_VIEW (self));
  if (self->lens == NULL || self->lens->lens == NULL)
    return;
  const AsLogitLens *lens = self->lens->lens;
  int slot = layer - lens->first;
  if (slot < 0 || slot >= lens->n_layers || pos < 0 || pos >= lens->n)
    return;
  self->sel_slot = slot;
  self->sel_pos = pos;
  update_top_text (self);
  scroll_to_selection (self);
  gtk_widget_queue_draw (GTK_WIDGET (self->area));
}

gboolean
as_lens_view_cell_center (AsLensView *self,
                          int         layer,
                          int         pos,
                          double     *x,
                          double     *y)
{
  g_return_val_if_fail (AS_IS_LENS_VIEW (self), FALSE);
  AsLensFigure f;
  g_autofree char *title = NULL;
  figure_of (self, &f, FALSE, &title);
  if (f.lens == NULL)
    return FALSE;
  int slot = layer - f.lens->first;
  if (slot < 0 || slot >= f.lens->n_layers || pos < 0 || pos >= f.lens->n)
    return FALSE;
  AsLensLayout l;
  as_lens_layout (&f, &l);
  *x = l.cells_x + (pos + 0.5) * l.cell_w;
  *y = l.cells_y + (as_lens_row_of_slot (&f, slot) + 0.5) * l.cell_h;
  return TRUE;
}

GtkWidget *
as_lens_view_get_area (AsLensView *self)
{
  g_return_val_if_fail (AS_IS_LENS_VIEW (self), NULL);
  return GTK_WIDGET (self->area);
}

const char *
as_lens_view_get_caption (AsLensView *self)
{
  g_return_val_if_fail (AS_IS_LENS_VIEW (self), NULL);
  return gtk_label_get_text (self->caption);
}

const char *
as_lens_view_get_top_text (AsLensView *self)
{
  g_return_val_if_fail (AS_IS_LENS_VIEW (self), NULL);
  return gtk_label_get_text (self->top_text);
}

void
as_lens_view_set_view_state (AsLensView  *self,
                             AsViewState *state)
{
  g_return_if_fail (AS_IS_LENS_VIEW (self));
  if (self->state == state)
    return;
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_set_object (&self->state, state);
  if (state != NULL)
    {
      g_signal_connect_swapped (state, "notify::analysis", G_CALLBACK (on_analysis_changed), self);
      g_signal_connect_swapped (state, "notify::colormap", G_CALLBACK (on_colours_changed), self);
      g_signal_connect_swapped (state, "notify::dark", G_CALLBACK (on_colours_changed), self);
      g_signal_connect_swapped (state, "notify::zoom", G_CALLBACK (update), self);
    }
  on_analysis_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

void
as_lens_view_set_worker (AsLensView *self,
                         AsWorker   *worker)
{
  g_return_if_fail (AS_IS_LENS_VIEW (self));
  if (self->worker == worker)
    return;
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  g_set_object (&self->worker, worker);
  if (worker != NULL)
    {
      g_signal_connect_swapped (worker, "lens-ready", G_CALLBACK (on_lens_ready), self);
      g_signal_connect_swapped (worker, "model-loaded", G_CALLBACK (on_model_loaded), self);
    }
  update (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WORKER]);
}

static void
as_lens_view_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  AsLensView *self = AS_LENS_VIEW (object);
  switch (prop_id)
    {
    case PROP_VIEW_STATE: g_value_set_object (value, self->state); break;
    case PROP_WORKER:     g_value_set_object (value, self->worker); break;
    default:              G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_lens_view_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  AsLensView *self = AS_LENS_VIEW (object);
  switch (prop_id)
    {
    case PROP_VIEW_STATE: as_lens_view_set_view_state (self, g_value_get_object (value)); break;
    case PROP_WORKER:     as_lens_view_set_worker (self, g_value_get_object (value)); break;
    default:              G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_lens_view_dispose (GObject *object)
{
  AsLensView *self = AS_LENS_VIEW (object);
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_clear_object (&self->worker);
  g_clear_object (&self->state);
  clear_lens (self);
  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_LENS_VIEW);
  G_OBJECT_CLASS (as_lens_view_parent_class)->dispose (object);
}

static void
as_lens_view_class_init (AsLensViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = as_lens_view_dispose;
  object_class->get_property = as_lens_view_get_property;
  object_class->set_property = as_lens_view_set_property;
  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_WORKER] =
    g_param_spec_object ("worker", NULL, NULL, AS_TYPE_WORKER,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "lensview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-lens-view.ui");
  gtk_widget_class_bind_template_child (widget_class, AsLensView, caption);
  gtk_widget_class_bind_template_child (widget_class, AsLensView, scroller);
  gtk_widget_class_bind_template_child (widget_class, AsLensView, area);
  gtk_widget_class_bind_template_child (widget_class, AsLensView, top_text);
}

static void
as_lens_view_init (AsLensView *self)
{
  self->sel_slot = self->sel_pos = -1;
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));
  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 6);
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_drawing_area_set_draw_func (self->area, draw, self, NULL);

  GtkGesture *click = gtk_gesture_click_new ();
  g_signal_connect (click, "pressed", G_CALLBACK (on_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self->area), GTK_EVENT_CONTROLLER (click));
  GtkEventController *keys = gtk_event_controller_key_new ();
  g_signal_connect (keys, "key-pressed", G_CALLBACK (on_key_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self->area), keys);
  gtk_widget_set_has_tooltip (GTK_WIDGET (self->area), TRUE);
  g_signal_connect (self->area, "query-tooltip", G_CALLBACK (on_query_tooltip), self);
}

GtkWidget *
as_lens_view_new (void)
{
  return g_object_new (AS_TYPE_LENS_VIEW, NULL);
}
