/* as-head-view.c — the large heatmap of the selected head. */
#include "as-head-view.h"

#include <string.h>

#include "as-heatmap-render.h"
#include "as-texture-util.h"
#include "as-trace.h"

struct _AsHeadView
{
  GtkWidget        parent_instance;

  AsViewState     *state;

  /* What the texture shows; DIRTY when any of it changed. */
  gboolean         dirty;
  gboolean         has_values;
  float           *values;     /* n_rows^2 */
  gsize            values_len;
  int              n_rows;
  AsHeatmapSpec    spec;
  AsHeatmapLayout  layout;
  GdkTexture      *texture;
  int              tex_width;  /* logical size it was rendered at */
  int              tex_height;
  int              tex_scale;
  guint            generation; /* of the analysis it shows */

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
invalidate (AsHeadView *self)
{
  self->dirty = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Pulls the selected head's matrix out of the view state. */
static void
update_values (AsHeadView *self)
{
  self->has_values = FALSE;
  self->n_rows = 0;
  if (self->state == NULL || as_view_state_get_analysis (self->state) == NULL)
    return;

  int n_vis;
  as_view_state_get_visible (self->state, &n_vis);
  gsize need = (gsize) MAX (n_vis, 1) * MAX (n_vis, 1);
  if (need > self->values_len)
    {
      g_free (self->values);
      self->values = g_new (float, need);
      self->values_len = need;
    }
  self->n_rows = n_vis;
  self->has_values = as_view_state_extract (self->state,
                                            as_view_state_get_layer (self->state),
                                            as_view_state_get_head (self->state),
                                            self->values);
}

static const char *
font_family (AsHeadView *self)
{
  PangoContext *context = gtk_widget_get_pango_context (GTK_WIDGET (self));
  PangoFontDescription *desc = pango_context_get_font_description (context);
  const char *family = desc != NULL ? pango_font_description_get_family (desc) : NULL;
  return family != NULL ? family : "Sans";
}

static void
render (AsHeadView *self,
        int         width,
        int         height,
        int         scale)
{
  update_values (self);
  g_clear_object (&self->texture);
  self->tex_width = width;
  self->tex_height = height;
  self->tex_scale = scale;
  self->dirty = FALSE;
  if (!self->has_values || width < 32 || height < 32)
    return;

  AsAnalysis *a = as_view_state_get_analysis (self->state);
  const char * const *labels = as_view_state_get_labels (self->state);
  int sel = as_view_state_visible_index (self->state, as_view_state_get_token (self->state));

  as_heatmap_spec_init (&self->spec);
  self->spec.values = self->values;
  self->spec.rows = self->n_rows;
  self->spec.cols = self->n_rows;
  self->spec.row_labels = labels;
  self->spec.col_labels = labels;
  self->spec.vmin = 0;
  self->spec.vmax = 1;
  self->spec.colormap = as_view_state_get_colormap (self->state);
  self->spec.cell_mode = AS_CELLS_IMAGE;
  self->spec.annotate = TRUE;
  self->spec.colorbar = TRUE;
  self->spec.dark = as_view_state_get_dark (self->state);
  self->spec.highlight_row = sel;
  self->spec.highlight_col = sel;
  self->spec.font = font_family (self);

  gint64 t0 = g_get_monotonic_time ();
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width * scale, height * scale);
  cairo_surface_set_device_scale (surface, scale, scale);
  cairo_t *cr = cairo_create (surface);
  memset (&self->layout, 0, sizeof self->layout);
  as_heatmap_render (cr, &self->spec, width, height, &self->layout);
  cairo_destroy (cr);
  self->texture = as_texture_new_for_surface (surface);
  cairo_surface_destroy (surface);
  self->generation = a->generation;

  as_trace_print ("head view: %d tokens, %dx%d px: rendered in %.1f ms",
                  self->n_rows, width, height, (g_get_monotonic_time () - t0) / 1000.0);
}

static void
ensure_rendered (AsHeadView *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  int w = gtk_widget_get_width (widget);
  int h = gtk_widget_get_height (widget);
  int scale = gtk_widget_get_scale_factor (widget);
  if (self->dirty || w != self->tex_width || h != self->tex_height || scale != self->tex_scale)
    render (self, w, h, scale);
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
                                                          (gtk_widget_get_height (widget) - h) / 2));
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

  if (a == NULL)
    return;
  ensure_rendered (self);
  if (self->texture == NULL)
    {
      g_autofree char *msg = g_strdup_printf ("Computing layer %d…", as_view_state_get_layer (self->state));
      draw_message (self, snapshot, msg);
      return;
    }

  gtk_snapshot_append_texture (snapshot, self->texture,
                               &GRAPHENE_RECT_INIT (0, 0, self->tex_width, self->tex_height));

  /* The hovered cell gets a frame: cheap, and the texture stays cached. */
  if (self->hover_row >= 0 && self->layout.cell_w >= 3)
    {
      GskRoundedRect frame;
      gsk_rounded_rect_init_from_rect (&frame,
        &GRAPHENE_RECT_INIT (self->layout.cells_x + self->hover_col * self->layout.cell_w - 1,
                             self->layout.cells_y + self->hover_row * self->layout.cell_h - 1,
                             self->layout.cell_w + 2, self->layout.cell_h + 2), 0);
      GdkRGBA c = self->spec.dark ? (GdkRGBA) { 1, 1, 1, 0.9 } : (GdkRGBA) { 0, 0, 0, 0.85 };
      gtk_snapshot_append_border (snapshot, &frame, (float[4]) { 1.5, 1.5, 1.5, 1.5 },
                                  (GdkRGBA[4]) { c, c, c, c });
    }

  as_trace_drawn ('h', self->generation, as_view_state_get_layer (self->state) + 1,
                  a->n_layers, a->n);
}

/* ---- queries ------------------------------------------------------------ */

static gboolean
cell_at (AsHeadView *self,
         double      x,
         double      y,
         int        *row,
         int        *col)
{
  if (self->texture == NULL || self->dirty)
    return FALSE;
  return as_heatmap_hit_test (&self->layout, &self->spec, x, y, row, col);
}

int
as_head_view_get_n_rows (AsHeadView *self)
{
  g_return_val_if_fail (AS_IS_HEAD_VIEW (self), 0);
  ensure_rendered (self);
  return self->has_values ? self->n_rows : 0;
}

gboolean
as_head_view_get_cell_center (AsHeadView *self,
                              int         row,
                              int         col,
                              double     *x,
                              double     *y)
{
  g_return_val_if_fail (AS_IS_HEAD_VIEW (self), FALSE);
  ensure_rendered (self);
  if (self->texture == NULL || row < 0 || col < 0 || row >= self->n_rows || col >= self->n_rows)
    return FALSE;
  *x = self->layout.cells_x + (col + 0.5) * self->layout.cell_w;
  *y = self->layout.cells_y + (row + 0.5) * self->layout.cell_h;
  return TRUE;
}

gboolean
as_head_view_value_at (AsHeadView *self,
                       double      x,
                       double      y,
                       int        *row,
                       int        *col,
                       float      *value)
{
  g_return_val_if_fail (AS_IS_HEAD_VIEW (self), FALSE);
  ensure_rendered (self);
  int r, c;
  if (!cell_at (self, x, y, &r, &c))
    return FALSE;
  *row = r;
  *col = c;
  *value = self->values[(gsize) r * self->n_rows + c];
  return TRUE;
}

char *
as_head_view_describe_cell (AsHeadView *self,
                            int         row,
                            int         col)
{
  g_return_val_if_fail (AS_IS_HEAD_VIEW (self), NULL);
  if (!self->has_values || row < 0 || col < 0 || row >= self->n_rows || col >= self->n_rows)
    return NULL;
  const char * const *labels = as_view_state_get_labels (self->state);
  return g_strdup_printf ("query '%s' -> key '%s': %.3f", labels[row], labels[col],
                          self->values[(gsize) row * self->n_rows + col]);
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
  if (!cell_at (self, x, y, &row, &col))
    return FALSE;
  g_autofree char *text = as_head_view_describe_cell (self, row, col);
  gtk_tooltip_set_text (tooltip, text);
  /* One tip area per cell, so the tooltip follows the pointer cell by cell. */
  gtk_tooltip_set_tip_area (tooltip, &(GdkRectangle) {
                              (int) (self->layout.cells_x + col * self->layout.cell_w),
                              (int) (self->layout.cells_y + row * self->layout.cell_h),
                              MAX ((int) self->layout.cell_w, 1), MAX ((int) self->layout.cell_h, 1) });
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
  g_autofree char *label =
    g_strdup_printf ("Head view: attention of layer %d, head %d over %d tokens",
                     as_view_state_get_layer (self->state), as_view_state_get_head (self->state), a->n);
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
  if (state != NULL)
    {
      const char *props[] = { "analysis", "layer", "head", "token", "colormap",
                              "hide-special", "renormalise", "dark" };
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
  g_clear_object (&self->texture);

  G_OBJECT_CLASS (as_head_view_parent_class)->dispose (object);
}

static void
as_head_view_finalize (GObject *object)
{
  AsHeadView *self = AS_HEAD_VIEW (object);

  g_free (self->values);

  G_OBJECT_CLASS (as_head_view_parent_class)->finalize (object);
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
  *minimum = 160;
  *natural = 640;
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
  object_class->finalize = as_head_view_finalize;
  object_class->get_property = as_head_view_get_property;
  object_class->set_property = as_head_view_set_property;

  widget_class->measure = as_head_view_measure;
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
