/* as-head-view.c — the large heatmap of the selected head.
 *
 * What is on screen is a Frame: the rendered texture plus the values, labels
 * and layout it was drawn from, so hit-testing and tooltips always describe
 * the picture the user sees. Small matrices are rendered in the snapshot; big
 * ones (hundreds of labels take tens of milliseconds) in a thread, so typing
 * never waits for a repaint. A frame of an older generation than the view
 * state's analysis is never drawn.
 */
#include "as-head-view.h"

#include <string.h>

#include "as-aggregate-bar.h"
#include "as-heatmap-render.h"
#include "as-texture-util.h"
#include "as-trace.h"

/* Up to this many tokens the render is quick enough for the frame itself. */
#define SYNC_MAX_TOKENS 160
/* Between the aggregate bar and the heatmap: the bar's bottom margin. */
#define BAR_GAP 6

typedef struct {
  guint            serial;
  guint            generation;
  int              layer;
  int              width;       /* logical size rendered at */
  int              height;
  int              scale;
  int              n_rows;
  float           *values;      /* n_rows^2 */
  char           **labels;      /* n_rows, NULL-terminated */
  char            *font;
  AsHeatmapSpec    spec;        /* points into the fields above */
  AsHeatmapLayout  layout;
  cairo_surface_t *surface;     /* filled by the render */
  GdkTexture      *texture;     /* made on the main thread */
  gint64           render_us;
} Frame;

struct _AsHeadView
{
  GtkWidget        parent_instance;

  AsViewState     *state;
  GtkWidget       *bar;         /* what is shown: head, mean, max, rollout, words */

  gboolean         dirty;       /* the state changed since the last frame was asked for */
  guint            serial;      /* of the last frame asked for */
  gboolean         busy;        /* a frame is rendering in a thread */
  Frame           *shown;       /* on screen, or NULL */

  int              hover_row;
  int              hover_col;
};

G_DEFINE_FINAL_TYPE (AsHeadView, as_head_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_VIEW_STATE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
frame_free (Frame *f)
{
  if (f == NULL)
    return;
  g_free (f->values);
  g_strfreev (f->labels);
  g_free (f->font);
  g_clear_pointer (&f->surface, cairo_surface_destroy);
  g_clear_object (&f->texture);
  g_free (f);
}

static void
invalidate (AsHeadView *self)
{
  self->dirty = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* The heatmap's area: everything below the bar. */
static int
area_top (AsHeadView *self)
{
  return gtk_widget_get_height (self->bar) + gtk_widget_get_margin_top (self->bar) +
         gtk_widget_get_margin_bottom (self->bar);
}

static int
area_height (AsHeadView *self)
{
  return MAX (gtk_widget_get_height (GTK_WIDGET (self)) - area_top (self), 0);
}

static const char *
font_family (AsHeadView *self)
{
  PangoContext *context = gtk_widget_get_pango_context (GTK_WIDGET (self));
  PangoFontDescription *desc = pango_context_get_font_description (context);
  const char *family = desc != NULL ? pango_font_description_get_family (desc) : NULL;
  return family != NULL ? family : "Sans";
}

/* Everything the renderer needs, copied, so it can run anywhere. NULL when
 * the selected layer has not arrived yet. */
static Frame *
frame_new (AsHeadView *self,
           int         width,
           int         height,
           int         scale)
{
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  int n_vis;
  as_view_state_get_visible (self->state, &n_vis);
  if (a == NULL || n_vis == 0 || width < 32 || height < 32)
    return NULL;

  Frame *f = g_new0 (Frame, 1);
  f->serial = ++self->serial;
  f->generation = a->generation;
  f->layer = as_view_state_get_layer (self->state);
  f->width = width;
  f->height = height;
  f->scale = scale;
  f->n_rows = n_vis;
  f->values = g_new (float, (gsize) n_vis * n_vis);
  if (!as_view_state_extract_shown (self->state, as_view_state_get_aggregate (self->state),
                                    f->layer, as_view_state_get_head (self->state), f->values))
    {
      frame_free (f);
      return NULL;
    }
  as_view_state_head_spec (self->state, f->values, &f->spec);
  /* The state's labels change with the next text: the frame keeps its own. */
  f->labels = g_strdupv ((char **) as_view_state_get_labels (self->state));
  f->spec.row_labels = (const char * const *) f->labels;
  f->spec.col_labels = (const char * const *) f->labels;
  f->font = g_strdup (font_family (self));
  f->spec.font = f->font;
  return f;
}

/* Cairo and Pango only: safe on any thread (Pango uses a font map per
 * thread). */
static void
frame_render (Frame *f)
{
  gint64 t0 = g_get_monotonic_time ();
  f->surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, f->width * f->scale, f->height * f->scale);
  cairo_surface_set_device_scale (f->surface, f->scale, f->scale);
  cairo_t *cr = cairo_create (f->surface);
  as_heatmap_render (cr, &f->spec, f->width, f->height, &f->layout);
  cairo_destroy (cr);
  f->render_us = g_get_monotonic_time () - t0;
}

static void
frame_show (AsHeadView *self,
            Frame      *f)
{
  AsAnalysis *a = as_view_state_get_analysis (self->state);

  /* Older than what is on screen, or than the analysis: never shown. */
  if ((self->shown != NULL && f->serial < self->shown->serial) ||
      a == NULL || f->generation != a->generation)
    {
      frame_free (f);
      return;
    }
  f->texture = as_texture_new_for_surface (f->surface);
  g_clear_pointer (&f->surface, cairo_surface_destroy);
  frame_free (self->shown);
  self->shown = f;
  self->hover_row = self->hover_col = -1;
  as_trace_print ("head view: %d tokens, %dx%d px: rendered in %.1f ms",
                  f->n_rows, f->width, f->height, f->render_us / 1000.0);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
render_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  Frame *f = task_data;
  frame_render (f);
  g_task_return_boolean (task, TRUE);
}

static void
render_done (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  AsHeadView *self = AS_HEAD_VIEW (object);
  Frame *f = user_data;

  self->busy = FALSE;
  if (self->state != NULL)
    frame_show (self, f);
  else
    frame_free (f);
  if (self->dirty)
    gtk_widget_queue_draw (GTK_WIDGET (self));
}

static gboolean
size_changed (AsHeadView *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  return self->shown == NULL ||
         self->shown->width != gtk_widget_get_width (widget) ||
         self->shown->height != area_height (self) ||
         self->shown->scale != gtk_widget_get_scale_factor (widget);
}

/* Brings the frame up to date: at once when small, else in a thread, one at
 * a time. */
static void
update (AsHeadView *self)
{
  GtkWidget *widget = GTK_WIDGET (self);

  if (self->state == NULL || (!self->dirty && !size_changed (self)))
    return;
  if (self->busy)
    return;   /* render_done asks again */

  self->dirty = FALSE;
  Frame *f = frame_new (self, gtk_widget_get_width (widget), area_height (self),
                        gtk_widget_get_scale_factor (widget));
  if (f == NULL)
    return;
  if (f->n_rows <= SYNC_MAX_TOKENS)
    {
      frame_render (f);
      frame_show (self, f);
      return;
    }
  self->busy = TRUE;
  /* The frame goes to render_done, which shows or frees it. */
  GTask *task = g_task_new (self, NULL, render_done, f);
  g_task_set_task_data (task, f, NULL);
  g_task_run_in_thread (task, render_thread);
  g_object_unref (task);
}

/* The frame on screen, if it belongs to the analysis on screen. */
static Frame *
current_frame (AsHeadView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == NULL || self->shown == NULL || self->shown->generation != a->generation)
    return NULL;
  return self->shown;
}

static void
draw_message (AsHeadView  *self,
              GtkSnapshot *snapshot,
              const char  *text)
{
  GtkWidget *widget = GTK_WIDGET (self);
  PangoLayout *layout = gtk_widget_create_pango_layout (widget, text);
  int w, h;
  pango_layout_get_pixel_size (layout, &w, &h);
  GdkRGBA fg;
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  fg.alpha = 0.55;
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT ((gtk_widget_get_width (widget) - w) / 2,
                                                          area_top (self) + (area_height (self) - h) / 2));
  gtk_snapshot_append_layout (snapshot, layout, &fg);
  gtk_snapshot_restore (snapshot);
  g_object_unref (layout);
}

static void
as_head_view_snapshot (GtkWidget   *widget,
                       GtkSnapshot *snapshot)
{
  AsHeadView *self = AS_HEAD_VIEW (widget);
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;

  gtk_widget_snapshot_child (widget, self->bar, snapshot);
  if (a == NULL)
    return;
  update (self);

  Frame *f = current_frame (self);
  if (f == NULL)
    {
      int layer = as_view_state_get_layer (self->state);
      g_autofree char *msg = layer >= as_view_state_get_layers_ready (self->state)
        ? g_strdup_printf ("Computing layer %d…", layer + 1)
        : g_strdup ("Drawing…");
      draw_message (self, snapshot, msg);
      return;
    }

  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (0, area_top (self)));
  gtk_snapshot_append_texture (snapshot, f->texture, &GRAPHENE_RECT_INIT (0, 0, f->width, f->height));

  /* The hovered cell gets a frame: cheap, and the texture stays cached. */
  if (self->hover_row >= 0 && f->layout.cell_w >= 3)
    {
      GskRoundedRect frame;
      gsk_rounded_rect_init_from_rect (&frame,
        &GRAPHENE_RECT_INIT (f->layout.cells_x + self->hover_col * f->layout.cell_w - 1,
                             f->layout.cells_y + self->hover_row * f->layout.cell_h - 1,
                             f->layout.cell_w + 2, f->layout.cell_h + 2), 0);
      GdkRGBA c = f->spec.dark ? (GdkRGBA) { 1, 1, 1, 0.9 } : (GdkRGBA) { 0, 0, 0, 0.85 };
      gtk_snapshot_append_border (snapshot, &frame, (float[4]) { 1.5, 1.5, 1.5, 1.5 },
                                  (GdkRGBA[4]) { c, c, c, c });
    }
  gtk_snapshot_restore (snapshot);

  as_trace_drawn ('h', f->generation, f->layer + 1, a->n_layers, a->n);
}

/* ---- queries ------------------------------------------------------------ */

static gboolean
cell_at (AsHeadView *self,
         double      x,
         double      y,
         int        *row,
         int        *col)
{
  Frame *f = current_frame (self);
  if (f == NULL)
    return FALSE;
  return as_heatmap_hit_test (&f->layout, &f->spec, x, y - area_top (self), row, col);
}

char *
as_head_view_describe_cell (AsHeadView *self,
                            int         row,
                            int         col)
{
  g_return_val_if_fail (AS_IS_HEAD_VIEW (self), NULL);
  Frame *f = current_frame (self);
  if (f == NULL || row < 0 || col < 0 || row >= f->n_rows || col >= f->n_rows)
    return NULL;
  if (f->spec.causal && col > row)
    return g_strdup_printf ("query '%s' -> key '%s': masked (a later token cannot be seen)",
                            f->labels[row], f->labels[col]);
  return g_strdup_printf ("query '%s' -> key '%s': %.3f", f->labels[row], f->labels[col],
                          f->values[(gsize) row * f->n_rows + col]);
}

/* ---- input -------------------------------------------------------------- */

static gboolean
on_query_tooltip (GtkWidget  *widget,
                  int         x,
                  int         y,
                  gboolean    keyboard,
                  GtkTooltip *tooltip,
                  AsHeadView *self)
{
  int row, col;
  Frame *f = current_frame (self);
  if (f == NULL || !cell_at (self, x, y, &row, &col))
    return FALSE;
  g_autofree char *text = as_head_view_describe_cell (self, row, col);
  gtk_tooltip_set_text (tooltip, text);
  /* One tip area per cell, so the tooltip follows the pointer cell by cell. */
  gtk_tooltip_set_tip_area (tooltip, &(GdkRectangle) {
                              (int) (f->layout.cells_x + col * f->layout.cell_w),
                              (int) (area_top (self) + f->layout.cells_y + row * f->layout.cell_h),
                              MAX ((int) f->layout.cell_w, 1), MAX ((int) f->layout.cell_h, 1) });
  return TRUE;
}

static void
on_motion (GtkEventControllerMotion *motion,
           double                    x,
           double                    y,
           AsHeadView               *self)
{
  int row = -1, col = -1;
  if (!cell_at (self, x, y, &row, &col))
    row = col = -1;
  if (row != self->hover_row || col != self->hover_col)
    {
      self->hover_row = row;
      self->hover_col = col;
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
}

static void
on_leave (GtkEventControllerMotion *motion,
          AsHeadView               *self)
{
  self->hover_row = self->hover_col = -1;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_pressed (GtkGestureClick *gesture,
            int              n_press,
            double           x,
            double           y,
            AsHeadView      *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self));
  int row, col;
  if (self->state == NULL || !cell_at (self, x, y, &row, &col))
    return;
  int n_vis;
  const int *visible = as_view_state_get_visible (self->state, &n_vis);
  if (row >= n_vis)
    return;
  int token = visible[row];
  as_view_state_set_token (self->state, token == as_view_state_get_token (self->state) ? -1 : token);
}

static void
move_selection (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  AsHeadView *self = AS_HEAD_VIEW (widget);
  int dl, dh;
  g_variant_get (parameter, "(ii)", &dl, &dh);
  if (self->state != NULL)
    as_view_state_move (self->state, dl, dh);
}

static void
clear_token (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  AsHeadView *self = AS_HEAD_VIEW (widget);
  if (self->state != NULL)
    as_view_state_set_token (self->state, -1);
}

/* ---- view state --------------------------------------------------------- */

static void
update_accessible (AsHeadView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == NULL)
    return;
  AsShownSpec spec;
  as_view_state_get_spec (self->state, &spec);
  g_autofree char *what = as_shown_spec_describe (&spec, a->n_heads);
  g_autofree char *label = g_strdup_printf ("Head view: attention of %s over %d tokens", what, a->n);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
}

static void
on_state_changed (AsHeadView *self)
{
  update_accessible (self);
  invalidate (self);
}

static void
on_layer_added (AsHeadView *self,
                int         layer)
{
  if (self->state != NULL && layer == as_view_state_get_layer (self->state))
    invalidate (self);
}

GtkWidget *
as_head_view_get_aggregate_bar (AsHeadView *self)
{
  g_return_val_if_fail (AS_IS_HEAD_VIEW (self), NULL);
  return self->bar;
}

AsViewState *
as_head_view_get_view_state (AsHeadView *self)
{
  g_return_val_if_fail (AS_IS_HEAD_VIEW (self), NULL);
  return self->state;
}

void
as_head_view_set_view_state (AsHeadView  *self,
                             AsViewState *state)
{
  g_return_if_fail (AS_IS_HEAD_VIEW (self));

  if (self->state == state)
    return;
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_set_object (&self->state, state);
  as_aggregate_bar_set_view_state (AS_AGGREGATE_BAR (self->bar), state);
  gtk_widget_insert_action_group (GTK_WIDGET (self), "view",
                                  state != NULL ? as_view_state_get_actions (state) : NULL);
  if (state != NULL)
    {
      const char *props[] = { "analysis", "layer", "head", "token", "colormap",
                              "hide-special", "renormalise", "fit-scale", "dark",
                              "aggregate", "words" };
      for (guint i = 0; i < G_N_ELEMENTS (props); i++)
        {
          g_autofree char *signal = g_strconcat ("notify::", props[i], NULL);
          g_signal_connect_swapped (state, signal, G_CALLBACK (on_state_changed), self);
        }
      g_signal_connect_swapped (state, "layer-added", G_CALLBACK (on_layer_added), self);
    }
  on_state_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

static void
as_head_view_css_changed (GtkWidget         *widget,
                          GtkCssStyleChange *change)
{
  GTK_WIDGET_CLASS (as_head_view_parent_class)->css_changed (widget, change);
  invalidate (AS_HEAD_VIEW (widget));
}

static void
as_head_view_dispose (GObject *object)
{
  AsHeadView *self = AS_HEAD_VIEW (object);

  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_clear_object (&self->state);
  g_clear_pointer (&self->shown, frame_free);
  g_clear_pointer (&self->bar, gtk_widget_unparent);

  G_OBJECT_CLASS (as_head_view_parent_class)->dispose (object);
}

static void
as_head_view_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  AsHeadView *self = AS_HEAD_VIEW (object);

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
as_head_view_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  AsHeadView *self = AS_HEAD_VIEW (object);

  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      as_head_view_set_view_state (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_head_view_measure (GtkWidget      *widget,
                      GtkOrientation  orientation,
                      int             for_size,
                      int            *minimum,
                      int            *natural,
                      int            *minimum_baseline,
                      int            *natural_baseline)
{
  AsHeadView *self = AS_HEAD_VIEW (widget);
  int bar_min, bar_nat;
  gtk_widget_measure (self->bar, orientation, -1, &bar_min, &bar_nat, NULL, NULL);
  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = MAX (160, bar_min);
      *natural = MAX (640, bar_nat);
    }
  else
    {
      *minimum = bar_nat + 160;
      *natural = bar_nat + 640;
    }
}

static void
as_head_view_size_allocate (GtkWidget *widget,
                            int        width,
                            int        height,
                            int        baseline)
{
  AsHeadView *self = AS_HEAD_VIEW (widget);
  int bar_h;
  gtk_widget_measure (self->bar, GTK_ORIENTATION_VERTICAL, width, NULL, &bar_h, NULL, NULL);
  gtk_widget_size_allocate (self->bar, &(GtkAllocation) { 0, 0, width, bar_h }, -1);
}

static void
add_move_binding (GtkWidgetClass *widget_class,
                  guint           key,
                  int             dlayer,
                  int             dhead)
{
  gtk_widget_class_add_binding_action (widget_class, key, 0, "head-view.move", "(ii)", dlayer, dhead);
}

static void
as_head_view_class_init (AsHeadViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = as_head_view_dispose;
  object_class->get_property = as_head_view_get_property;
  object_class->set_property = as_head_view_set_property;

  widget_class->measure = as_head_view_measure;
  widget_class->size_allocate = as_head_view_size_allocate;
  widget_class->snapshot = as_head_view_snapshot;
  widget_class->css_changed = as_head_view_css_changed;

  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_install_action (widget_class, "head-view.move", "(ii)", move_selection);
  gtk_widget_class_install_action (widget_class, "head-view.clear-token", NULL, clear_token);
  add_move_binding (widget_class, GDK_KEY_Left, 0, -1);
  add_move_binding (widget_class, GDK_KEY_Right, 0, 1);
  add_move_binding (widget_class, GDK_KEY_Up, -1, 0);
  add_move_binding (widget_class, GDK_KEY_Down, 1, 0);
  add_move_binding (widget_class, GDK_KEY_Page_Up, -1, 0);
  add_move_binding (widget_class, GDK_KEY_Page_Down, 1, 0);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "head-view.clear-token", NULL);

  gtk_widget_class_set_css_name (widget_class, "headview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
as_head_view_init (AsHeadView *self)
{
  self->dirty = TRUE;
  self->hover_row = self->hover_col = -1;
  self->bar = as_aggregate_bar_new ();
  gtk_widget_set_margin_bottom (self->bar, BAR_GAP);
  gtk_widget_set_parent (self->bar, GTK_WIDGET (self));

  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  g_signal_connect (self, "query-tooltip", G_CALLBACK (on_query_tooltip), self);

  GtkGesture *click = gtk_gesture_click_new ();
  g_signal_connect (click, "pressed", G_CALLBACK (on_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));

  GtkEventController *motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, "Head view", -1);
}
