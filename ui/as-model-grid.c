/* as-model-grid.c — thumbnails as cached textures, placed in one snapshot. */
#include "as-model-grid.h"

#include <glib/gi18n.h>
#include <math.h>

#include "as-ablation-view.h"
#include "as-heatmap-render.h"
#include "as-matrix-pool.h"
#include "as-stats-cache.h"
#include "as-texture-util.h"
#include "as-trace.h"

#define GAP       10    /* room for the statistic's ring and the selection frame */
#define GROUP_GAP 12    /* more between the query heads of two key/value heads */
#define RING      4     /* width of the ring coloured by a statistic */
#define MIN_THUMB 14
#define MAX_THUMB 160
/* Below this a thumbnail shows little more than where the mass is: a deep
 * model (30 layers) gets thumbnails at least this large and its grid
 * scrolls, where the width allows them. */
#define MIN_SCROLLED_THUMB 36
/* A shallow model's thumbnails are as wide as the width allows and grow
 * taller, up to this many times their width, to fill the pane's height
 * (each is its matrix pooled to the rectangle). */
#define MAX_ASPECT 1.6

/* One head's thumbnail: its attention max-pooled to PX_H x PX_W, and that
 * colour-mapped. A colour map change only recolours; a new size re-pools. */
typedef struct {
  float      *pooled;
  int         px_w;
  int         px_h;
  GdkTexture *texture;
} Thumb;

struct _AsModelGrid
{
  GtkWidget    parent_instance;

  AsViewState *state;
  Thumb       *thumbs;       /* [layer * n_heads + head] */
  guint        resize_id;    /* rebuild once a resize has settled */

  /* Geometry for the allocated size. */
  int          n_layers;
  int          n_heads;
  int          label_w;
  int          label_h;
  int          thumb;        /* width, logical pixels */
  int          thumb_h;      /* height: THUMB, or more to fill a shallow model's pane */
  int          group;        /* query heads per key/value head: 1 without grouping */
  int          built_px;     /* device pixels the textures were built for */

  float       *scratch;      /* n_visible^2 */
  gsize        scratch_len;

  /* Colouring by a statistic: the cache is held while one is chosen. */
  AsStatId      colour_by;
  AsStatsCache *cache;
  int           legend_h;
  int           caption_h;   /* "Showing: …" under the grid, above the legend */
  char         *caption;
};

G_DEFINE_FINAL_TYPE (AsModelGrid, as_model_grid, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_VIEW_STATE,
  PROP_COLOUR_BY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* Forget the pictures; with REPOOL the pooled values too. */
static void
clear_thumbs (AsModelGrid *self,
              gboolean     repool)
{
  for (int i = 0; i < self->n_layers * self->n_heads; i++)
    {
      g_clear_object (&self->thumbs[i].texture);
      if (repool)
        g_clear_pointer (&self->thumbs[i].pooled, g_free);
    }
}

static void
update_shape (AsModelGrid *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  int layers = a != NULL ? a->n_layers : 0;
  int heads = a != NULL ? a->n_heads : 0;
  /* Grouped-query attention: n_heads / n_kv_heads query heads share one
   * key/value head, and are drawn together. */
  int group = a != NULL && a->n_kv_heads > 0 && a->n_kv_heads < heads && heads % a->n_kv_heads == 0
              ? heads / a->n_kv_heads : 1;

  clear_thumbs (self, TRUE);
  if (group != self->group)
    {
      self->group = group;
      gtk_widget_queue_resize (GTK_WIDGET (self));
    }
  if (layers != self->n_layers || heads != self->n_heads)
    {
      g_free (self->thumbs);
      self->thumbs = g_new0 (Thumb, MAX (layers * heads, 1));
      self->n_layers = layers;
      self->n_heads = heads;
      gtk_widget_queue_resize (GTK_WIDGET (self));
    }
}

static void
update_accessible (AsModelGrid *self)
{
  if (self->state == NULL || self->n_layers == 0)
    return;
  g_autofree char *label =
    g_strdup_printf (_("Model view: %d layers by %d heads%s; layer %d, head %d selected%s%s"),
                     self->n_layers, self->n_heads,
                     self->group > 1 ? _(", in groups sharing a key/value head") : "",
                     as_view_state_get_layer (self->state) + 1, as_view_state_get_head (self->state) + 1,
                     self->caption != NULL ? ". " : "", self->caption != NULL ? self->caption : "");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
}

/* What the head view and the lines view show, in words; the frame drawn
 * around the heads it comes from says the same. */
static void
update_caption (AsModelGrid *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  g_clear_pointer (&self->caption, g_free);
  if (a == NULL)
    return;
  AsShownSpec spec;
  as_view_state_get_spec (self->state, &spec);
  g_autofree char *what = as_shown_spec_describe (&spec, a->n_heads);
  self->caption = g_strdup_printf (_("Showing: %s%s"), what,
                                   spec.hide_special ? _(" · [CLS]/[SEP] hidden") : "");
}

/* ---- geometry ----------------------------------------------------------- */

/* The row of layer labels' width and the head labels' height (two lines
 * with grouping: the key/value heads above the query heads). */
static void
label_size (AsModelGrid *self,
            int         *w,
            int         *h,
            int         *line)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), "L00");
  pango_layout_get_pixel_size (layout, w, h);
  g_object_unref (layout);
  *w += 8;
  *line = *h + 4;
  *h = self->group > 1 ? 2 * *line : *line;
}

static int
n_groups (AsModelGrid *self)
{
  return self->group > 1 ? (MAX (self->n_heads, 1) + self->group - 1) / self->group : 1;
}

/* The widest thumbnails WIDTH holds, before clamping. */
static int
thumb_for_width (AsModelGrid *self,
                 int          width,
                 int          label_w)
{
  int heads = MAX (self->n_heads, 1);
  return (width - label_w - (n_groups (self) - 1) * GROUP_GAP) / heads - GAP;
}

static void
as_model_grid_measure (GtkWidget      *widget,
                       GtkOrientation  orientation,
                       int             for_size,
                       int            *minimum,
                       int            *natural,
                       int            *minimum_baseline,
                       int            *natural_baseline)
{
  AsModelGrid *self = AS_MODEL_GRID (widget);
  int lw, lh, line;
  label_size (self, &lw, &lh, &line);
  int count = orientation == GTK_ORIENTATION_HORIZONTAL ? MAX (self->n_heads, 12) : MAX (self->n_layers, 6);
  /* Vertically, a line below the thumbnails for the colouring's legend and
   * one for what is shown. */
  int margin = orientation == GTK_ORIENTATION_HORIZONTAL ? lw + (n_groups (self) - 1) * GROUP_GAP
                                                         : lh + 2 * line + 10;
  int least = MIN_THUMB;
  if (orientation == GTK_ORIENTATION_VERTICAL && for_size > 0 && self->n_heads > 0)
    {
      /* As tall as thumbnails as wide as the width allows: the scrolled
       * window around takes what does not fit (a deep model), and a
       * shallow model's grid grows into the height it is given. */
      least = CLAMP (thumb_for_width (self, for_size, lw), MIN_THUMB, MAX_THUMB);
    }
  *minimum = margin + count * (least + GAP);
  *natural = MAX (*minimum, margin + count * (56 + GAP));
}

/* The height depends on the width: as_model_grid_measure. */
static GtkSizeRequestMode
as_model_grid_get_request_mode (GtkWidget *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

static gboolean
resize_settled (gpointer data)
{
  AsModelGrid *self = data;
  self->resize_id = 0;
  clear_thumbs (self, TRUE);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  return G_SOURCE_REMOVE;
}

static void
as_model_grid_size_allocate (GtkWidget *widget,
                             int        width,
                             int        height,
                             int        baseline)
{
  AsModelGrid *self = AS_MODEL_GRID (widget);

  int line;
  label_size (self, &self->label_w, &self->label_h, &line);
  /* Always reserved, so choosing a statistic never resizes (and re-pools)
   * the thumbnails. */
  self->legend_h = line + 6;
  self->caption_h = line + 4;
  if (self->n_layers == 0)
    return;
  int by_w = thumb_for_width (self, width, self->label_w);
  int by_h = (height - self->label_h - self->legend_h - self->caption_h) / self->n_layers - GAP;
  int thumb = CLAMP (MIN (by_w, MAX (by_h, MIN_SCROLLED_THUMB)), MIN_THUMB, MAX_THUMB);
  int thumb_h = CLAMP (by_h, thumb, (int) (thumb * MAX_ASPECT));
  if (thumb != self->thumb || thumb_h != self->thumb_h)
    {
      /* While the window is being resized, the old pictures are drawn
       * scaled; they are rebuilt at the new size once it settles, so a
       * drag never waits for 144 thumbnails of 512 tokens each frame. */
      gboolean had = self->thumb > 0;
      self->thumb = thumb;
      self->thumb_h = thumb_h;
      g_clear_handle_id (&self->resize_id, g_source_remove);
      if (had)
        self->resize_id = g_timeout_add (150, resize_settled, self);
    }
}

static float
head_x (AsModelGrid *self,
        int          head)
{
  float groups_before = self->group > 1 ? head / self->group : 0;
  return self->label_w + head * (self->thumb + GAP) + groups_before * GROUP_GAP + GAP / 2;
}

static graphene_rect_t
thumb_rect (AsModelGrid *self,
            int          layer,
            int          head)
{
  return GRAPHENE_RECT_INIT (head_x (self, head),
                             self->label_h + layer * (self->thumb_h + GAP) + GAP / 2,
                             self->thumb, self->thumb_h);
}

/* The bottom of the last row of thumbnails (and their gap). */
static float
rows_bottom (AsModelGrid *self)
{
  return self->label_h + self->n_layers * (self->thumb_h + GAP);
}

static gboolean
hit (AsModelGrid *self,
     double       x,
     double       y,
     int         *layer,
     int         *head)
{
  if (self->n_layers == 0 || self->thumb == 0)
    return FALSE;
  int l = (int) floor ((y - self->label_h) / (self->thumb_h + GAP));
  int h = -1;
  for (int k = 0; k < self->n_heads; k++)
    {
      float x0 = head_x (self, k) - GAP / 2;
      if (x >= x0 && x < x0 + self->thumb + GAP)
        h = k;
    }
  if (h < 0 || h >= self->n_heads || l < 0 || l >= self->n_layers)
    return FALSE;
  *layer = l;
  *head = h;
  return TRUE;
}

/* ---- thumbnails --------------------------------------------------------- */

/* Max-pools the head's matrix (as shown: visible tokens, renormalised if
 * asked) to PX x PX. */
static float *
pool_thumb (AsModelGrid *self,
            int          layer,
            int          head,
            int          px_w,
            int          px_h)
{
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  int n_vis;
  as_view_state_get_visible (self->state, &n_vis);
  if (n_vis == 0 || layer >= as_view_state_get_layers_ready (self->state))
    return NULL;

  const float *m;
  if (n_vis == a->n)
    m = as_analysis_head (a, layer, head);   /* nothing hidden: no copy */
  else
    {
      gsize need = (gsize) n_vis * n_vis;
      if (need > self->scratch_len)
        {
          g_free (self->scratch);
          self->scratch = g_new (float, need);
          self->scratch_len = need;
        }
      as_view_state_extract (self->state, layer, head, self->scratch);
      m = self->scratch;
    }
  float *pooled = g_new (float, (gsize) px_w * px_h);   /* [px_h, px_w] */
  as_matrix_pool_max (m, n_vis, n_vis, px_h, px_w, pooled);
  return pooled;
}

static GdkTexture *
colour_thumb (AsModelGrid *self,
              Thumb       *t)
{
  AsHeatmapSpec spec;
  as_heatmap_spec_init (&spec);
  spec.values = t->pooled;
  spec.rows = t->px_h;
  spec.cols = t->px_w;
  spec.vmin = 0;
  spec.vmax = 1;
  spec.colormap = as_view_state_get_colormap (self->state);
  spec.cell_mode = AS_CELLS_IMAGE;
  AsAnalysis *analysis = as_view_state_get_analysis (self->state);
  spec.causal = analysis != NULL && analysis->causal;
  spec.dark = as_view_state_get_dark (self->state);
  cairo_surface_t *surface = as_heatmap_cells_image (&spec);
  if (surface == NULL)
    return NULL;
  GdkTexture *texture = as_texture_new_for_surface (surface);
  cairo_surface_destroy (surface);
  return texture;
}

/* Builds what is missing for the layers that are in; returns how many. */
static int
build_missing (AsModelGrid *self)
{
  int ready = MIN (as_view_state_get_layers_ready (self->state), self->n_layers);
  int scale = gtk_widget_get_scale_factor (GTK_WIDGET (self));
  int px_w = self->thumb * scale, px_h = self->thumb_h * scale;
  int built = 0;

  self->built_px = px_w;
  for (int l = 0; l < ready; l++)
    for (int h = 0; h < self->n_heads; h++)
      {
        Thumb *t = &self->thumbs[l * self->n_heads + h];
        if (t->texture != NULL)
          continue;
        if (t->pooled == NULL)
          {
            t->pooled = pool_thumb (self, l, h, px_w, px_h);
            t->px_w = px_w;
            t->px_h = px_h;
            if (t->pooled == NULL)
              continue;
          }
        t->texture = colour_thumb (self, t);
        built++;
      }
  return built;
}

/* ---- drawing ------------------------------------------------------------ */

static void
draw_labels (AsModelGrid *self,
             GtkSnapshot *snapshot,
             const GdkRGBA *color)
{
  char text[16];
  for (int l = 0; l < self->n_layers; l++)
    {
      g_snprintf (text, sizeof text, "L%d", l + 1);   /* 1-based, as titles and the CLI */
      PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);
      int w, h;
      pango_layout_get_pixel_size (layout, &w, &h);
      graphene_rect_t r = thumb_rect (self, l, 0);
      gtk_snapshot_save (snapshot);
      gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (self->label_w - w - 6,
                                                              r.origin.y + (r.size.height - h) / 2));
      gtk_snapshot_append_layout (snapshot, layout, color);
      gtk_snapshot_restore (snapshot);
      g_object_unref (layout);
    }
  for (int hd = 0; hd < self->n_heads; hd++)
    {
      g_snprintf (text, sizeof text, "H%d", hd + 1);
      PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);
      int w, h;
      pango_layout_get_pixel_size (layout, &w, &h);
      graphene_rect_t r = thumb_rect (self, 0, hd);
      /* Narrow thumbnails: label every other head so labels never collide. */
      if (w + 4 > self->thumb + GAP && hd % 2 == 1)
        {
          g_object_unref (layout);
          continue;
        }
      gtk_snapshot_save (snapshot);
      gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (r.origin.x + (r.size.width - w) / 2,
                                                              self->label_h - h - 2));
      gtk_snapshot_append_layout (snapshot, layout, color);
      gtk_snapshot_restore (snapshot);
      g_object_unref (layout);
    }
}

/* The query heads of one key/value head, left to right: heads G * group
 * to (G + 1) * group - 1, framed from the head labels to the last layer. */
static graphene_rect_t
group_rect (AsModelGrid *self,
            int          g)
{
  int first = g * self->group, last = MIN (self->n_heads, (g + 1) * self->group) - 1;
  float x0 = head_x (self, first) - GAP / 2 + 1, x1 = head_x (self, last) + self->thumb + GAP / 2 - 1;
  float y0 = self->label_h / 2.0f;
  return GRAPHENE_RECT_INIT (x0, y0, x1 - x0, rows_bottom (self) - y0);
}

/* Grouped-query attention: a panel behind each key/value head's query
 * heads, named on its top line ("K/V 1" over heads 1–3). */
static void
draw_groups (AsModelGrid   *self,
             GtkSnapshot   *snapshot,
             const GdkRGBA *color)
{
  if (self->group <= 1)
    return;
  GdkRGBA panel = *color;
  panel.alpha = 0.07;
  char text[32];
  for (int g = 0; g < n_groups (self); g++)
    {
      graphene_rect_t r = group_rect (self, g);
      GskRoundedRect box;
      gsk_rounded_rect_init_from_rect (&box, &r, 6);
      gtk_snapshot_push_rounded_clip (snapshot, &box);
      gtk_snapshot_append_color (snapshot, &panel, &r);
      gtk_snapshot_pop (snapshot);
      g_snprintf (text, sizeof text, self->thumb * self->group > 90 ? _("K/V head %d") : _("K/V %d"), g + 1);
      PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);
      int w, h;
      pango_layout_get_pixel_size (layout, &w, &h);
      gtk_snapshot_save (snapshot);
      gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (r.origin.x + (r.size.width - w) / 2, 2));
      gtk_snapshot_append_layout (snapshot, layout, color);
      gtk_snapshot_restore (snapshot);
      g_object_unref (layout);
    }
}

static void
draw_token_bands (AsModelGrid           *self,
                  GtkSnapshot           *snapshot,
                  const graphene_rect_t *r,
                  int                    v,
                  int                    n_vis)
{
  /* The band covers the pixels the token's row/column pooled into. Wide
   * bands are outlined, so the cells inside stay readable; narrow ones
   * (long texts) are a solid line. */
  float x = r->origin.x, y = r->origin.y, w = r->size.width, h = r->size.height;
  /* The row's band across the height, the column's across the width. */
  float ay = floorf ((float) v * h / n_vis), by = MAX (floorf ((float) (v + 1) * h / n_vis), ay + 1);
  float ax = floorf ((float) v * w / n_vis), bx = MAX (floorf ((float) (v + 1) * w / n_vis), ax + 1);
  GdkRGBA c = { 1.0, 0.30, 0.25, 0.95 };
  GdkRGBA colors[4] = { c, c, c, c };

  if (bx - ax >= 4 && by - ay >= 4)
    {
      GskRoundedRect row, col;
      gsk_rounded_rect_init_from_rect (&row, &GRAPHENE_RECT_INIT (x, y + ay, w, by - ay), 0);
      gsk_rounded_rect_init_from_rect (&col, &GRAPHENE_RECT_INIT (x + ax, y, bx - ax, h), 0);
      gtk_snapshot_append_border (snapshot, &row, (float[4]) { 1, 1, 1, 1 }, colors);
      gtk_snapshot_append_border (snapshot, &col, (float[4]) { 1, 1, 1, 1 }, colors);
    }
  else
    {
      c.alpha = 0.75;
      gtk_snapshot_append_color (snapshot, &c, &GRAPHENE_RECT_INIT (x, y + ay, w, by - ay));
      gtk_snapshot_append_color (snapshot, &c, &GRAPHENE_RECT_INIT (x + ax, y, bx - ax, h));
    }
}

/* The stats of the heads whose layer is done, and the range of the chosen
 * statistic over them; NULL when not colouring or nothing is done yet. */
static const AsHeadStats *
colouring (AsModelGrid *self,
           int         *done,
           double      *lo,
           double      *hi)
{
  if (self->colour_by == AS_STAT_NONE || self->cache == NULL)
    return NULL;
  int nl, nh, d;
  const AsHeadStats *stats = as_stats_cache_get (self->cache, &nl, &nh, &d);
  if (stats == NULL || nl != self->n_layers || nh != self->n_heads || d == 0)
    return NULL;
  if (!as_stat_range (stats, d * nh, self->colour_by, lo, hi))
    return NULL;
  *done = d;
  return stats;
}

static float
append_text (AsModelGrid   *self,
             GtkSnapshot   *snapshot,
             const char    *text,
             float          x,
             float          y,
             const GdkRGBA *color)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);
  int w, h;
  pango_layout_get_pixel_size (layout, &w, &h);
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (x, y - h / 2.0f));
  gtk_snapshot_append_layout (snapshot, layout, color);
  gtk_snapshot_restore (snapshot);
  g_object_unref (layout);
  return w;
}

static GdkRGBA
rgba (const double rgb[3])
{
  return (GdkRGBA) { rgb[0], rgb[1], rgb[2], 1.0 };
}

/* One line under the grid: what the ring colours mean. */
static void
draw_legend (AsModelGrid   *self,
             GtkSnapshot   *snapshot,
             const GdkRGBA *fg,
             double         lo,
             double         hi)
{
  float y = rows_bottom (self) + self->caption_h + self->legend_h / 2.0f + 2;
  float x = self->label_w + GAP / 2;
  char buf[64];
  double rgb[3];

  g_snprintf (buf, sizeof buf, "%s:", as_stat_label (self->colour_by));
  x += append_text (self, snapshot, buf, x, y, fg) + 10;
  if (as_stat_is_categorical (self->colour_by))
    {
      for (int p = 0; p < AS_N_PATTERNS; p++)
        {
          as_pattern_colour (p, rgb);
          GdkRGBA c = rgba (rgb);
          gtk_snapshot_append_color (snapshot, &c, &GRAPHENE_RECT_INIT (x, y - 6, 12, 12));
          x += 16;
          x += append_text (self, snapshot, as_pattern_to_string (p), x, y, fg) + 14;
        }
      return;
    }
  x += append_text (self, snapshot, as_stat_format (self->colour_by, lo, buf, sizeof buf), x, y, fg) + 6;
  GskColorStop stops[5];
  for (int k = 0; k < 5; k++)
    {
      as_stat_ramp_colour (k / 4.0, rgb);
      stops[k] = (GskColorStop) { k / 4.0f, rgba (rgb) };
    }
  float bar = 140;
  gtk_snapshot_append_linear_gradient (snapshot, &GRAPHENE_RECT_INIT (x, y - 6, bar, 12),
                                       &GRAPHENE_POINT_INIT (x, y), &GRAPHENE_POINT_INIT (x + bar, y),
                                       stops, 5);
  x += bar + 6;
  x += append_text (self, snapshot, as_stat_format (self->colour_by, hi, buf, sizeof buf), x, y, fg) + 10;
  GdkRGBA dim = *fg;
  dim.alpha *= 0.6;
  append_text (self, snapshot, _("lowest to highest head"), x, y, &dim);
}

/* The thumbnails the shown matrix comes from: the selected head; its
 * layer's heads for mean and max; every layer up to it for rollout. */
static graphene_rect_t
shown_rect (AsModelGrid *self)
{
  int layer = as_view_state_get_layer (self->state), head = as_view_state_get_head (self->state);
  graphene_rect_t r = thumb_rect (self, layer, head), first, last;
  switch (as_view_state_get_aggregate (self->state))
    {
    case AS_SHOWN_MEAN:
    case AS_SHOWN_MAX:
      first = thumb_rect (self, layer, 0);
      last = thumb_rect (self, layer, self->n_heads - 1);
      graphene_rect_union (&first, &last, &r);
      break;
    case AS_SHOWN_ROLLOUT:
      first = thumb_rect (self, 0, 0);
      last = thumb_rect (self, layer, self->n_heads - 1);
      graphene_rect_union (&first, &last, &r);
      break;
    case AS_SHOWN_HEAD:
    case AS_N_SHOWN_AGGREGATES:
    default:
      break;
    }
  return r;
}

static void
as_model_grid_snapshot (GtkWidget   *widget,
                        GtkSnapshot *snapshot)
{
  AsModelGrid *self = AS_MODEL_GRID (widget);
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == NULL || self->n_layers == 0 || self->thumb == 0)
    return;

  gint64 t0 = g_get_monotonic_time ();
  int built = build_missing (self);
  gint64 t1 = g_get_monotonic_time ();

  GdkRGBA fg, accent;
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  if (!gtk_style_context_lookup_color (gtk_widget_get_style_context (widget), "accent_color", &accent))
    gdk_rgba_parse (&accent, "#3584e4");
  GdkRGBA dim = fg;
  dim.alpha = 0.6;
  GdkRGBA pending = fg;
  pending.alpha = 0.07;

  draw_groups (self, snapshot, &dim);
  draw_labels (self, snapshot, &dim);

  int ready = MIN (as_view_state_get_layers_ready (self->state), self->n_layers);
  int n_vis;
  as_view_state_get_visible (self->state, &n_vis);
  int v = as_view_state_visible_index (self->state, as_view_state_get_token (self->state));

  /* Colouring only adds a ring under each thumbnail; the textures stay. */
  int done = 0;
  double lo = 0, hi = 0;
  const AsHeadStats *stats = colouring (self, &done, &lo, &hi);
  if (stats != NULL)
    draw_legend (self, snapshot, &dim, lo, hi);

  int n_thumbs = 0;   /* drawn as pictures, not as pending */
  for (int l = 0; l < self->n_layers; l++)
    for (int h = 0; h < self->n_heads; h++)
      {
        graphene_rect_t r = thumb_rect (self, l, h);
        double rgb[3];
        if (stats != NULL && l < done &&
            as_stat_colour (self->colour_by, as_stat_value (&stats[l * self->n_heads + h], self->colour_by),
                            lo, hi, rgb))
          {
            GskRoundedRect ring;
            GdkRGBA c = rgba (rgb);
            gsk_rounded_rect_init_from_rect (&ring, &GRAPHENE_RECT_INIT (r.origin.x - RING, r.origin.y - RING,
                                                                         r.size.width + 2 * RING,
                                                                         r.size.height + 2 * RING), 3);
            gtk_snapshot_push_rounded_clip (snapshot, &ring);
            gtk_snapshot_append_color (snapshot, &c, &ring.bounds);
            gtk_snapshot_pop (snapshot);
          }
        GdkTexture *tex = l < ready ? self->thumbs[l * self->n_heads + h].texture : NULL;
        if (tex == NULL)
          {
            gtk_snapshot_append_color (snapshot, &pending, &r);
            continue;
          }
        gtk_snapshot_append_texture (snapshot, tex, &r);
        n_thumbs++;
        if (as_ablation_view_state_mode_of (self->state, l, h) != AS_ABLATE_NONE)
          {
            /* a head switched off (as-ablation-view.h): veiled, framed in red */
            GdkRGBA veil = { 0.5, 0.5, 0.5, 0.6 }, red = { 0.88, 0.11, 0.14, 1 };
            GskRoundedRect box;
            gtk_snapshot_append_color (snapshot, &veil, &r);
            gsk_rounded_rect_init_from_rect (&box, &r, 0);
            gtk_snapshot_append_border (snapshot, &box, (float[4]) { 2, 2, 2, 2 },
                                        (GdkRGBA[4]) { red, red, red, red });
          }
        if (v >= 0)
          draw_token_bands (self, snapshot, &r, v, n_vis);
      }

  if (self->caption != NULL)
    append_text (self, snapshot, self->caption, self->label_w + GAP / 2,
                 rows_bottom (self) + self->caption_h / 2.0f + 2,
                 &fg);

  /* What the head view shows: a frame in the accent colour (heavier with
   * focus) around the selected head, or around every head it combines. */
  graphene_rect_t sel = shown_rect (self);
  float bw = gtk_widget_has_focus (widget) ? 3 : 2;
  /* Outside the statistic's ring when there is one, so both show. */
  float off = stats != NULL ? RING : 1;
  GskRoundedRect frame;
  gsk_rounded_rect_init_from_rect (&frame, &GRAPHENE_RECT_INIT (sel.origin.x - bw - off, sel.origin.y - bw - off,
                                                                sel.size.width + 2 * (bw + off),
                                                                sel.size.height + 2 * (bw + off)), 3);
  /* Over coloured rings the accent could be mistaken for a ring colour
   * (the pattern palette has a blue): use the text colour then. */
  GdkRGBA sel_colour = stats != NULL ? fg : accent;
  gtk_snapshot_append_border (snapshot, &frame, (float[4]) { bw, bw, bw, bw },
                              (GdkRGBA[4]) { sel_colour, sel_colour, sel_colour, sel_colour });

  gint64 paint_us = g_get_monotonic_time () - t0;
  as_trace_drawn_full (&(AsTraceDraw) { .view = 'g', .generation = a->generation, .layers = ready,
                                        .items = n_thumbs, .built = built, .paint_us = paint_us },
                       a->n_layers, a->n);
  if (as_trace_enabled ())
    as_trace_print ("grid: %d layers x %d heads, %d tokens, %d px: repaint %.2f ms (%d thumbnails built in %.2f ms)",
                    self->n_layers, self->n_heads, a->n, self->built_px,
                    (g_get_monotonic_time () - t0) / 1000.0, built, (t1 - t0) / 1000.0);
}

/* ---- input -------------------------------------------------------------- */

static void
on_pressed (GtkGestureClick *gesture,
            int              n_press,
            double           x,
            double           y,
            AsModelGrid     *self)
{
  int layer, head;
  gtk_widget_grab_focus (GTK_WIDGET (self));
  if (self->state != NULL && hit (self, x, y, &layer, &head))
    as_view_state_select (self->state, layer, head);
}

static gboolean
on_query_tooltip (GtkWidget   *widget,
                  int          x,
                  int          y,
                  gboolean     keyboard,
                  GtkTooltip  *tooltip,
                  AsModelGrid *self)
{
  int layer, head;
  if (keyboard)
    {
      layer = as_view_state_get_layer (self->state);
      head = as_view_state_get_head (self->state);
    }
  else if (!hit (self, x, y, &layer, &head))
    return FALSE;

  g_autofree char *text = self->group > 1
    ? g_strdup_printf (_("Layer %d, head %d\nShares key/value head %d with heads %d–%d"), layer + 1, head + 1,
                       head / self->group + 1, head / self->group * self->group + 1,
                       MIN (self->n_heads, (head / self->group + 1) * self->group))
    : g_strdup_printf (_("Layer %d, head %d"), layer + 1, head + 1);
  double value, rgb[3];
  if (as_model_grid_get_stat_colour (self, layer, head, &value, rgb))
    {
      char buf[32];
      g_autofree char *more = g_strdup_printf ("%s\n%s: %s", text, as_stat_label (self->colour_by),
                                               as_stat_format (self->colour_by, value, buf, sizeof buf));
      g_free (text);
      text = g_steal_pointer (&more);
    }
  gtk_tooltip_set_text (tooltip, text);
  graphene_rect_t r = thumb_rect (self, layer, head);
  gtk_tooltip_set_tip_area (tooltip, &(GdkRectangle) { r.origin.x, r.origin.y, r.size.width, r.size.height });
  return TRUE;
}

static void
move_selection (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  AsModelGrid *self = AS_MODEL_GRID (widget);
  int dl, dh;
  g_variant_get (parameter, "(ii)", &dl, &dh);
  if (self->state != NULL)
    as_view_state_move (self->state, dl, dh);
}

static void
on_focus_changed (AsModelGrid *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* ---- view state --------------------------------------------------------- */

static void
on_analysis_changed (AsModelGrid *self)
{
  update_shape (self);
  update_caption (self);
  update_accessible (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_matrix_options_changed (AsModelGrid *self)
{
  update_caption (self);
  clear_thumbs (self, TRUE);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_colormap_changed (AsModelGrid *self)
{
  clear_thumbs (self, FALSE);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* In a scrolled window (whose content the grid is: its coordinates are the
 * adjustment's), the selected head's thumbnail is scrolled into view, so
 * the arrow keys never move the selection out of sight. */
static void
scroll_to_selection (AsModelGrid *self)
{
  GtkWidget *scroller = gtk_widget_get_ancestor (GTK_WIDGET (self), GTK_TYPE_SCROLLED_WINDOW);
  if (scroller == NULL || self->thumb == 0)
    return;
  graphene_rect_t r = thumb_rect (self, as_view_state_get_layer (self->state),
                                  as_view_state_get_head (self->state));
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scroller));
  /* The first layer brings the head labels above it along. */
  double top = as_view_state_get_layer (self->state) == 0 ? 0 : r.origin.y - GAP;
  gtk_adjustment_clamp_page (adj, top, r.origin.y + r.size.height + GAP);
}

static void
on_selection_changed (AsModelGrid *self)
{
  scroll_to_selection (self);
  update_caption (self);
  update_accessible (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_layer_added (AsModelGrid *self,
                int          layer)
{
  /* Built lazily in the next snapshot, so layers that arrive within one
   * frame cost one paint. */
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_stats_updated (AsModelGrid *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* Holds the cache of STATE while a statistic is chosen. */
static void
update_cache (AsModelGrid *self)
{
  AsStatsCache *want = self->state != NULL && self->colour_by != AS_STAT_NONE
                       ? as_view_state_get_stats_cache (self->state) : NULL;
  if (want == self->cache)
    return;
  if (self->cache != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->cache, self);
      as_stats_cache_release (self->cache);
      g_clear_object (&self->cache);
    }
  if (want != NULL)
    {
      self->cache = g_object_ref (want);
      g_signal_connect_swapped (want, "updated", G_CALLBACK (on_stats_updated), self);
      as_stats_cache_hold (want);
    }
}

AsStatId
as_model_grid_get_colour_by (AsModelGrid *self)
{
  g_return_val_if_fail (AS_IS_MODEL_GRID (self), AS_STAT_NONE);
  return self->colour_by;
}

void
as_model_grid_set_colour_by (AsModelGrid *self,
                             AsStatId     stat)
{
  g_return_if_fail (AS_IS_MODEL_GRID (self));
  g_return_if_fail ((int) stat >= 0 && stat < AS_N_STATS);

  if (stat == self->colour_by)
    return;
  self->colour_by = stat;
  update_cache (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLOUR_BY]);
}

gboolean
as_model_grid_get_stat_colour (AsModelGrid *self,
                               int          layer,
                               int          head,
                               double      *value,
                               double       rgb[3])
{
  g_return_val_if_fail (AS_IS_MODEL_GRID (self), FALSE);
  int done;
  double lo, hi;
  const AsHeadStats *stats = colouring (self, &done, &lo, &hi);
  if (stats == NULL || layer < 0 || layer >= done || head < 0 || head >= self->n_heads)
    return FALSE;
  *value = as_stat_value (&stats[layer * self->n_heads + head], self->colour_by);
  return as_stat_colour (self->colour_by, *value, lo, hi, rgb);
}

AsViewState *
as_model_grid_get_view_state (AsModelGrid *self)
{
  g_return_val_if_fail (AS_IS_MODEL_GRID (self), NULL);
  return self->state;
}

void
as_model_grid_set_view_state (AsModelGrid *self,
                              AsViewState *state)
{
  g_return_if_fail (AS_IS_MODEL_GRID (self));

  if (self->state == state)
    return;
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_set_object (&self->state, state);
  update_cache (self);
  if (state != NULL)
    {
      g_signal_connect_swapped (state, "notify::analysis", G_CALLBACK (on_analysis_changed), self);
      g_signal_connect_swapped (state, "layer-added", G_CALLBACK (on_layer_added), self);
      g_signal_connect_swapped (state, "notify::hide-special", G_CALLBACK (on_matrix_options_changed), self);
      g_signal_connect_swapped (state, "notify::renormalise", G_CALLBACK (on_matrix_options_changed), self);
      g_signal_connect_swapped (state, "notify::words", G_CALLBACK (on_matrix_options_changed), self);
      g_signal_connect_swapped (state, "notify::aggregate", G_CALLBACK (on_selection_changed), self);
      g_signal_connect_swapped (state, "notify::colormap", G_CALLBACK (on_colormap_changed), self);
      g_signal_connect_swapped (state, "notify::layer", G_CALLBACK (on_selection_changed), self);
      g_signal_connect_swapped (state, "notify::head", G_CALLBACK (on_selection_changed), self);
      g_signal_connect_swapped (state, "notify::token", G_CALLBACK (gtk_widget_queue_draw), self);
    }
  on_analysis_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

int
as_model_grid_get_kv_group (AsModelGrid *self)
{
  g_return_val_if_fail (AS_IS_MODEL_GRID (self), 1);
  return self->group;
}

gboolean
as_model_grid_get_thumb_rect (AsModelGrid     *self,
                              int              layer,
                              int              head,
                              graphene_rect_t *rect)
{
  g_return_val_if_fail (AS_IS_MODEL_GRID (self), FALSE);
  if (self->thumb == 0 || layer < 0 || layer >= self->n_layers || head < 0 || head >= self->n_heads)
    return FALSE;
  *rect = thumb_rect (self, layer, head);
  return TRUE;
}

const char *
as_model_grid_get_caption (AsModelGrid *self)
{
  g_return_val_if_fail (AS_IS_MODEL_GRID (self), NULL);
  return self->caption;
}

static void
as_model_grid_dispose (GObject *object)
{
  AsModelGrid *self = AS_MODEL_GRID (object);

  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  self->colour_by = AS_STAT_NONE;
  update_cache (self);
  g_clear_object (&self->state);
  g_clear_handle_id (&self->resize_id, g_source_remove);
  clear_thumbs (self, TRUE);

  G_OBJECT_CLASS (as_model_grid_parent_class)->dispose (object);
}

static void
as_model_grid_finalize (GObject *object)
{
  AsModelGrid *self = AS_MODEL_GRID (object);

  g_free (self->thumbs);
  g_free (self->scratch);
  g_free (self->caption);

  G_OBJECT_CLASS (as_model_grid_parent_class)->finalize (object);
}

static void
as_model_grid_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  AsModelGrid *self = AS_MODEL_GRID (object);

  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      g_value_set_object (value, self->state);
      break;
    case PROP_COLOUR_BY:
      g_value_set_uint (value, self->colour_by);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_model_grid_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  AsModelGrid *self = AS_MODEL_GRID (object);

  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      as_model_grid_set_view_state (self, g_value_get_object (value));
      break;
    case PROP_COLOUR_BY:
      as_model_grid_set_colour_by (self, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
add_move_binding (GtkWidgetClass *widget_class,
                  guint           key,
                  int             dlayer,
                  int             dhead)
{
  gtk_widget_class_add_binding_action (widget_class, key, 0, "grid.move", "(ii)", dlayer, dhead);
}

static void
as_model_grid_class_init (AsModelGridClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = as_model_grid_dispose;
  object_class->finalize = as_model_grid_finalize;
  object_class->get_property = as_model_grid_get_property;
  object_class->set_property = as_model_grid_set_property;

  widget_class->measure = as_model_grid_measure;
  widget_class->get_request_mode = as_model_grid_get_request_mode;
  widget_class->size_allocate = as_model_grid_size_allocate;
  widget_class->snapshot = as_model_grid_snapshot;

  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* An AsStatId; a uint so a GtkDropDown's "selected" binds to it. */
  properties[PROP_COLOUR_BY] =
    g_param_spec_uint ("colour-by", NULL, NULL, 0, AS_N_STATS - 1, AS_STAT_NONE,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_install_action (widget_class, "grid.move", "(ii)", move_selection);
  add_move_binding (widget_class, GDK_KEY_Left, 0, -1);
  add_move_binding (widget_class, GDK_KEY_Right, 0, 1);
  add_move_binding (widget_class, GDK_KEY_Up, -1, 0);
  add_move_binding (widget_class, GDK_KEY_Down, 1, 0);
  add_move_binding (widget_class, GDK_KEY_Page_Up, -1, 0);
  add_move_binding (widget_class, GDK_KEY_Page_Down, 1, 0);

  gtk_widget_class_set_css_name (widget_class, "modelgrid");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
as_model_grid_init (AsModelGrid *self)
{
  self->thumbs = g_new0 (Thumb, 1);
  self->group = 1;

  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  g_signal_connect (self, "query-tooltip", G_CALLBACK (on_query_tooltip), self);

  GtkGesture *click = gtk_gesture_click_new ();
  g_signal_connect (click, "pressed", G_CALLBACK (on_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));

  GtkEventController *focus = gtk_event_controller_focus_new ();
  g_signal_connect_swapped (focus, "enter", G_CALLBACK (on_focus_changed), self);
  g_signal_connect_swapped (focus, "leave", G_CALLBACK (on_focus_changed), self);
  gtk_widget_add_controller (GTK_WIDGET (self), focus);

  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Model view"), -1);
}
