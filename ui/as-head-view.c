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

#include <glib/gi18n.h>
#include <string.h>

#include "as-aggregate-bar.h"
#include "as-heatmap-render.h"
#include "as-texture-util.h"
#include "as-trace.h"

/* Up to this many tokens the render is quick enough for the frame itself. */
#define SYNC_MAX_TOKENS 160
/* Between the aggregate bar and the heatmap: the bar's bottom margin. */
#define BAR_GAP 6
/* Zoomed in, the fewest tokens a side shows, and the factor one step (a
 * key, a wheel notch) zooms by. */
#define MIN_WINDOW 8
/* Colour bar and title text at zoom 1, in pixels: the size of the app's
 * other drawn views; token labels shrink from it with the cells. */
#define BASE_FONT 12.0
#define ZOOM_FACTOR 1.5

typedef struct {
  guint            serial;
  guint            generation;
  int              layer;
  int              width;       /* logical size rendered at */
  int              height;
  int              scale;
  int              n_rows;      /* of the block drawn */
  int              n_cols;
  int              r0, c0;      /* its first row and column in the whole matrix */
  int              n_full;      /* rows (= columns) of the whole matrix */
  float           *values;      /* [n_rows, n_cols] */
  char           **row_labels;  /* n_rows, NULL-terminated */
  char           **col_labels;  /* n_cols, NULL-terminated */
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

  int              hover_row;   /* in the whole matrix */
  int              hover_col;

  /* Zoom and pan: a WIN x WIN block from (WIN_R0, WIN_C0); WIN 0 = all. */
  int              win;
  int              win_r0;
  int              win_c0;
  int              drag_r0;     /* the block's corner when a drag began */
  int              drag_c0;
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
  g_strfreev (f->row_labels);
  g_strfreev (f->col_labels);
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

/* The heatmap's area: everything below the bar, less a line that says
 * where a zoomed-in block lies. */
static int
area_top (AsHeadView *self)
{
  return gtk_widget_get_height (self->bar) + gtk_widget_get_margin_top (self->bar) +
         gtk_widget_get_margin_bottom (self->bar);
}

static int
footer_height (AsHeadView *self)
{
  if (self->win == 0)
    return 0;
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), "Tg");
  int h;
  pango_layout_get_pixel_size (layout, NULL, &h);
  g_object_unref (layout);
  return h + 4;
}

static int
area_height (AsHeadView *self)
{
  return MAX (gtk_widget_get_height (GTK_WIDGET (self)) - area_top (self) - footer_height (self), 0);
}

/* The block shown, clamped to a matrix of N rows: WIN 0 (all) once it
 * covers the whole. */
static void
clamp_window (AsHeadView *self,
              int         n)
{
  if (self->win > 0 && self->win >= n)
    self->win = 0;
  if (self->win == 0)
    {
      self->win_r0 = self->win_c0 = 0;
      return;
    }
  self->win = MAX (self->win, MIN (MIN_WINDOW, n));
  self->win_r0 = CLAMP (self->win_r0, 0, n - self->win);
  self->win_c0 = CLAMP (self->win_c0, 0, n - self->win);
}

static int
shown_rows (AsHeadView *self)
{
  int n = 0;
  if (self->state != NULL)
    as_view_state_get_visible (self->state, &n);
  return n;
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

  g_autofree float *full = g_new (float, (gsize) n_vis * n_vis);   /* [n_vis, n_vis] */
  int layer = as_view_state_get_layer (self->state);
  if (!as_view_state_extract_shown (self->state, as_view_state_get_aggregate (self->state),
                                    layer, as_view_state_get_head (self->state), full))
    return NULL;

  clamp_window (self, n_vis);
  Frame *f = g_new0 (Frame, 1);
  f->serial = ++self->serial;
  f->generation = a->generation;
  f->layer = layer;
  f->width = width;
  f->height = height;
  f->scale = scale;
  f->n_full = n_vis;
  f->r0 = self->win_r0;
  f->c0 = self->win_c0;
  f->n_rows = f->n_cols = self->win > 0 ? self->win : n_vis;
  /* The whole matrix sets the colour scale, so panning keeps the colours. */
  as_view_state_head_spec (self->state, full, &f->spec);
  f->values = g_new (float, (gsize) f->n_rows * f->n_cols);
  for (int i = 0; i < f->n_rows; i++)
    memcpy (f->values + (gsize) i * f->n_cols, full + (gsize) (f->r0 + i) * n_vis + f->c0,
            sizeof (float) * f->n_cols);
  /* The state's labels change with the next text: the frame keeps its own. */
  const char * const *labels = as_view_state_get_labels (self->state);
  f->row_labels = g_new0 (char *, f->n_rows + 1);
  f->col_labels = g_new0 (char *, f->n_cols + 1);
  for (int i = 0; i < f->n_rows; i++)
    f->row_labels[i] = g_strdup (labels[f->r0 + i]);
  for (int j = 0; j < f->n_cols; j++)
    f->col_labels[j] = g_strdup (labels[f->c0 + j]);
  f->spec.values = f->values;
  f->spec.rows = f->n_rows;
  f->spec.cols = f->n_cols;
  f->spec.row_labels = (const char * const *) f->row_labels;
  f->spec.col_labels = (const char * const *) f->col_labels;
  f->spec.row_offset = f->r0;
  f->spec.col_offset = f->c0;
  /* A pair's boundary among the rows shown, moved into the block drawn
   * (outside it: none to draw). */
  const AsShownTokens *shown = as_view_state_get_tokens (self->state);
  int split = shown != NULL && shown->n == n_vis ? as_heatmap_pair_split (shown->sentence, shown->n) : 0;
  f->spec.split_row = split > f->r0 && split < f->r0 + f->n_rows ? split - f->r0 : 0;
  f->spec.split_col = split > f->c0 && split < f->c0 + f->n_cols ? split - f->c0 : 0;
  int hr = f->spec.highlight_row - f->r0, hc = f->spec.highlight_col - f->c0;
  f->spec.highlight_row = f->spec.highlight_row >= 0 && hr >= 0 && hr < f->n_rows ? hr : -1;
  f->spec.highlight_col = f->spec.highlight_col >= 0 && hc >= 0 && hc < f->n_cols ? hc : -1;
  f->font = g_strdup (font_family (self));
  f->spec.font = f->font;
  f->spec.font_size = as_head_view_font_size (self);
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
                  f->n_full, f->width, f->height, f->render_us / 1000.0);
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
  if (MAX (f->n_rows, f->n_cols) <= SYNC_MAX_TOKENS)
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
        ? g_strdup_printf (_("Computing layer %d…"), layer + 1)
        : g_strdup (_("Drawing…"));
      draw_message (self, snapshot, msg);
      return;
    }

  int width = gtk_widget_get_width (widget), height = area_height (self);
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (0, area_top (self)));
  /* A frame still rendering for a new size: the old one shrinks to fit
   * meanwhile, so no label or colour bar is ever cut off. */
  double fit = MIN (1.0, MIN (width / (double) f->width, height / (double) f->height));
  gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  gtk_snapshot_append_texture (snapshot, f->texture,
                               &GRAPHENE_RECT_INIT (0, 0, f->width * fit, f->height * fit));
  gtk_snapshot_pop (snapshot);

  /* The hovered cell gets a frame: cheap, and the texture stays cached. */
  int hr = self->hover_row - f->r0, hc = self->hover_col - f->c0;
  if (self->hover_row >= 0 && hr >= 0 && hc >= 0 && hr < f->n_rows && hc < f->n_cols &&
      f->layout.cell_w >= 3 && fit == 1.0)
    {
      GskRoundedRect frame;
      gsk_rounded_rect_init_from_rect (&frame,
        &GRAPHENE_RECT_INIT (f->layout.cells_x + hc * f->layout.cell_w - 1,
                             f->layout.cells_y + hr * f->layout.cell_h - 1,
                             f->layout.cell_w + 2, f->layout.cell_h + 2), 0);
      GdkRGBA c = f->spec.dark ? (GdkRGBA) { 1, 1, 1, 0.9 } : (GdkRGBA) { 0, 0, 0, 0.85 };
      gtk_snapshot_append_border (snapshot, &frame, (float[4]) { 1.5, 1.5, 1.5, 1.5 },
                                  (GdkRGBA[4]) { c, c, c, c });
    }
  gtk_snapshot_restore (snapshot);

  if (f->r0 != 0 || f->c0 != 0 || f->n_rows != f->n_full)
    {
      g_autofree char *where =
        g_strdup_printf (_("Zoomed in: queries %d–%d, keys %d–%d of %d · drag or scroll to move · "
                           "Ctrl+wheel or +/− to zoom · 0 shows all"),
                         f->r0 + 1, f->r0 + f->n_rows, f->c0 + 1, f->c0 + f->n_cols, f->n_full);
      PangoLayout *layout = gtk_widget_create_pango_layout (widget, where);
      pango_layout_set_width (layout, width * PANGO_SCALE);
      pango_layout_set_ellipsize (layout, PANGO_ELLIPSIZE_END);
      GdkRGBA fg;
      gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
      fg.alpha = 0.75;
      gtk_snapshot_save (snapshot);
      gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (0, area_top (self) + height + 2));
      gtk_snapshot_append_layout (snapshot, layout, &fg);
      gtk_snapshot_restore (snapshot);
      g_object_unref (layout);
    }

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
  int r, c;
  if (f == NULL || !as_heatmap_hit_test (&f->layout, &f->spec, x, y - area_top (self), &r, &c))
    return FALSE;
  *row = f->r0 + r;
  *col = f->c0 + c;
  return TRUE;
}

char *
as_head_view_describe_cell (AsHeadView *self,
                            int         row,
                            int         col)
{
  g_return_val_if_fail (AS_IS_HEAD_VIEW (self), NULL);
  Frame *f = current_frame (self);
  if (f == NULL)
    return NULL;
  int r = row - f->r0, c = col - f->c0;
  if (r < 0 || c < 0 || r >= f->n_rows || c >= f->n_cols)
    return NULL;
  if (f->spec.causal && col > row)
    return g_strdup_printf (_("query '%s' -> key '%s': masked (a later token cannot be seen)"),
                            f->row_labels[r], f->col_labels[c]);
  return g_strdup_printf (_("query '%s' -> key '%s': %.3f"), f->row_labels[r], f->col_labels[c],
                          f->values[(gsize) r * f->n_cols + c]);
}

double
as_head_view_font_size (AsHeadView *self)
{
  g_return_val_if_fail (AS_IS_HEAD_VIEW (self), BASE_FONT);
  return BASE_FONT * (self->state != NULL ? as_view_state_get_zoom (self->state) : 1.0);
}

gboolean
as_head_view_get_text_size (AsHeadView *self,
                            double     *text,
                            double     *labels,
                            int        *stride)
{
  g_return_val_if_fail (AS_IS_HEAD_VIEW (self), FALSE);
  Frame *f = current_frame (self);
  if (f == NULL)
    return FALSE;
  if (text != NULL)
    *text = f->spec.font_size;
  if (labels != NULL)
    *labels = f->layout.label_font_size;
  if (stride != NULL)
    *stride = f->layout.row_stride;
  return TRUE;
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
                              (int) (f->layout.cells_x + (col - f->c0) * f->layout.cell_w),
                              (int) (area_top (self) + f->layout.cells_y + (row - f->r0) * f->layout.cell_h),
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

/* ---- zoom and pan ------------------------------------------------------- */

void
as_head_view_set_window (AsHeadView *self,
                         int         size,
                         int         row,
                         int         col)
{
  g_return_if_fail (AS_IS_HEAD_VIEW (self));
  self->win = MAX (size, 0);
  self->win_r0 = row;
  self->win_c0 = col;
  int n = shown_rows (self);
  if (n > 0)
    clamp_window (self, n);
  gtk_widget_queue_resize (GTK_WIDGET (self));
  invalidate (self);
}

int
as_head_view_get_window (AsHeadView *self,
                         int        *row,
                         int        *col)
{
  g_return_val_if_fail (AS_IS_HEAD_VIEW (self), 0);
  int n = shown_rows (self);
  if (n > 0)
    clamp_window (self, n);
  if (row != NULL)
    *row = self->win_r0;
  if (col != NULL)
    *col = self->win_c0;
  return self->win;
}

/* Zooms by FACTOR (> 1 in) keeping the cell (ROW, COL) of the whole matrix
 * where it is on screen; FACTOR 0 shows everything. */
static void
zoom_about (AsHeadView *self,
            double      factor,
            double      row,
            double      col)
{
  int n = shown_rows (self);
  if (n == 0)
    return;
  int size = self->win > 0 ? self->win : n;
  if (factor <= 0)
    {
      as_head_view_set_window (self, 0, 0, 0);
      return;
    }
  int next = CLAMP ((int) lround (size / factor), MIN (MIN_WINDOW, n), n);
  if (next == size)
    return;
  double frac_r = (row - self->win_r0) / size, frac_c = (col - self->win_c0) / size;
  as_head_view_set_window (self, next >= n ? 0 : next,
                           (int) lround (row - frac_r * next), (int) lround (col - frac_c * next));
}

/* The centre of the block shown, or the selected token's cell. */
static void
zoom_centre (AsHeadView *self,
             double     *row,
             double     *col)
{
  int n = shown_rows (self);
  int size = self->win > 0 ? self->win : n;
  int sel = self->state != NULL
    ? as_view_state_visible_index (self->state, as_view_state_get_token (self->state)) : -1;
  *row = sel >= 0 ? sel + 0.5 : self->win_r0 + size / 2.0;
  *col = sel >= 0 ? sel + 0.5 : self->win_c0 + size / 2.0;
}

static void
zoom_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  AsHeadView *self = AS_HEAD_VIEW (widget);
  int direction = g_variant_get_int32 (parameter);
  double row, col;
  zoom_centre (self, &row, &col);
  zoom_about (self, direction > 0 ? ZOOM_FACTOR : direction < 0 ? 1 / ZOOM_FACTOR : 0, row, col);
}

/* Cell coordinates of (X, Y) in the whole matrix, outside the cells too. */
static gboolean
cell_coords (AsHeadView *self,
             double      x,
             double      y,
             double     *row,
             double     *col)
{
  Frame *f = current_frame (self);
  if (f == NULL || !(f->layout.cell_w > 0))
    return FALSE;
  *col = f->c0 + (x - f->layout.cells_x) / f->layout.cell_w;
  *row = f->r0 + (y - area_top (self) - f->layout.cells_y) / f->layout.cell_h;
  return TRUE;
}

static gboolean
on_scroll (GtkEventControllerScroll *scroll,
           double                    dx,
           double                    dy,
           AsHeadView               *self)
{
  GdkModifierType mods = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (scroll));
  if (mods & GDK_CONTROL_MASK)
    {
      double x = 0, y = 0, row, col;
      GdkEvent *event = gtk_event_controller_get_current_event (GTK_EVENT_CONTROLLER (scroll));
      if (event == NULL || !gdk_event_get_position (event, &x, &y) ||
          !cell_coords (self, x, y, &row, &col))
        zoom_centre (self, &row, &col);
      if (dy != 0)
        zoom_about (self, dy < 0 ? ZOOM_FACTOR : 1 / ZOOM_FACTOR, row, col);
      return TRUE;
    }
  if (self->win == 0)
    return FALSE;   /* nothing to pan: the page scrolls */
  if (mods & GDK_SHIFT_MASK)
    dx += dy, dy = 0;
  int step = MAX (1, self->win / 8);
  as_head_view_set_window (self, self->win, self->win_r0 + (int) lround (dy * step),
                           self->win_c0 + (int) lround (dx * step));
  return TRUE;
}

static void
on_drag_begin (GtkGestureDrag *drag,
               double          x,
               double          y,
               AsHeadView     *self)
{
  self->drag_r0 = self->win_r0;
  self->drag_c0 = self->win_c0;
  if (self->win == 0)
    gtk_gesture_set_state (GTK_GESTURE (drag), GTK_EVENT_SEQUENCE_DENIED);
}

static void
on_drag_update (GtkGestureDrag *drag,
                double          dx,
                double          dy,
                AsHeadView     *self)
{
  Frame *f = current_frame (self);
  if (f == NULL || self->win == 0 || !(f->layout.cell_w > 0))
    return;
  int dr = (int) lround (dy / f->layout.cell_h), dc = (int) lround (dx / f->layout.cell_w);
  if (self->drag_r0 - dr != self->win_r0 || self->drag_c0 - dc != self->win_c0)
    as_head_view_set_window (self, self->win, self->drag_r0 - dr, self->drag_c0 - dc);
}

/* ---- clicks ------------------------------------------------------------- */

static void
on_pressed (GtkGestureClick *gesture,
            int              n_press,
            double           x,
            double           y,
            AsHeadView      *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self));
}

/* On release, so that a drag (which cancels the click) only pans. */
static void
on_released (GtkGestureClick *gesture,
             int              n_press,
             double           x,
             double           y,
             AsHeadView      *self)
{
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
  g_autofree char *label = g_strdup_printf (_("Head view: attention of %s over %d tokens"), what, a->n);
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
                              "aggregate", "words", "zoom" };
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
  gtk_widget_class_install_action (widget_class, "head-view.zoom", "i", zoom_action);
  static const struct { guint key; int direction; } zoom_keys[] = {
    { GDK_KEY_plus, 1 }, { GDK_KEY_equal, 1 }, { GDK_KEY_KP_Add, 1 },
    { GDK_KEY_minus, -1 }, { GDK_KEY_KP_Subtract, -1 }, { GDK_KEY_0, 0 }, { GDK_KEY_KP_0, 0 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (zoom_keys); i++)
    gtk_widget_class_add_binding_action (widget_class, zoom_keys[i].key, 0, "head-view.zoom", "i",
                                         zoom_keys[i].direction);

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
  g_signal_connect (click, "released", G_CALLBACK (on_released), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));

  GtkGesture *drag = gtk_gesture_drag_new ();
  g_signal_connect (drag, "drag-begin", G_CALLBACK (on_drag_begin), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (on_drag_update), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drag));

  GtkEventController *scroll = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_BOTH_AXES |
                                                                GTK_EVENT_CONTROLLER_SCROLL_DISCRETE);
  g_signal_connect (scroll, "scroll", G_CALLBACK (on_scroll), self);
  gtk_widget_add_controller (GTK_WIDGET (self), scroll);

  GtkEventController *motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);

  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Head view"), -1);
}
