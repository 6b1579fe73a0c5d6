/* as-lines-view.c — toolbar (layer, head toggles, A/B filter) over a Cairo
 * canvas of token-to-token lines. */
#include "as-lines-view.h"

#include <glib/gi18n.h>
#include <math.h>

#include "as-aggregate-bar.h"
#include "as-stats-cache.h"
#include "as-trace.h"

#define ROW_H      22     /* one token per row, times the projector zoom */
#define PAD        10
#define LINE_GAP   8      /* between a label and its lines' end */
#define MAX_HEADS  64
#define N_ALPHA    32     /* opacity steps: lines are stroked per step */

typedef enum { SIDE_NONE, SIDE_QUERY, SIDE_KEY } Side;

struct _AsLinesView
{
  GtkWidget      parent_instance;

  AsViewState   *state;
  AsLinesFilter  filter;
  gboolean       shown[MAX_HEADS];
  gboolean       follow;           /* shown = the selected head, until a toggle is used */
  int            n_heads;          /* toggles built for */

  GtkWidget     *toolbar;
  GtkWidget     *bar;              /* head, mean, max, rollout; words */
  GtkSpinButton *layer_spin;
  GtkWidget     *heads_row;        /* toggles, All, None: one head at a time only */
  GtkWidget     *head_box;
  GtkWidget     *head_toggles[MAX_HEADS];
  GtkDropDown   *filter_dropdown;
  GtkWidget     *caption;
  GtkWidget     *scroller;
  GtkDrawingArea *canvas;
  gboolean       syncing;

  /* Pointer over a token: SIDE and its visible index. */
  Side           hover_side;
  int            hover_index;
  /* The state's token was clicked on this side. */
  Side           token_side;

  float         *matrix;           /* [n_vis, n_vis] scratch */
  gsize          matrix_len;
  int            label_w;
  cairo_surface_t *cache;          /* lines + labels with nothing hovered */
  guint          cache_lines;      /* how many lines it holds */
};

G_DEFINE_FINAL_TYPE (AsLinesView, as_lines_view, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_VIEW_STATE, N_PROPS };
static GParamSpec *properties[N_PROPS];

/* ---- which lines -------------------------------------------------------- */

static int
segment_of (AsLinesView *self,
            int          vis_index)
{
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  const int *visible = as_view_state_get_visible (self->state, NULL);
  return a->encoding->tokens[visible[vis_index]].type_id > 0 ? 1 : 0;
}

/* SEG_Q, SEG_K: 0 = A, 1 = B, -1 = either. */
static gboolean
filter_keeps (AsLinesFilter filter,
              int           seg_q,
              int           seg_k)
{
  gboolean qa = seg_q != 1, qb = seg_q != 0, ka = seg_k != 1, kb = seg_k != 0;
  switch (filter)
    {
    case AS_LINES_A_TO_A: return qa && ka;
    case AS_LINES_A_TO_B: return qa && kb;
    case AS_LINES_B_TO_A: return qb && ka;
    case AS_LINES_B_TO_B: return qb && kb;
    case AS_LINES_ALL:
    case AS_N_LINES_FILTERS:
    default:              return TRUE;
    }
}

static gboolean
is_pair (AsLinesView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  return a != NULL && a->text_b != NULL;
}

/* Heads are drawn one by one only when the state shows single heads; else
 * the one combined matrix (mean, max, rollout) is. */
static gboolean
combined (AsLinesView *self)
{
  return as_view_state_get_aggregate (self->state) != AS_SHOWN_HEAD;
}

typedef void (*LineFunc) (int query, int key, float weight, gpointer data);

/* Calls FUNC for every line of HEAD (ignored when combined) that the
 * settings draw; ONLY_SIDE and ONLY_INDEX restrict it to one token's
 * lines. */
static void
for_each_line (AsLinesView *self,
               int          head,
               Side         only_side,
               int          only_index,
               LineFunc     func,
               gpointer     data)
{
  int n_vis;
  as_view_state_get_visible (self->state, &n_vis);
  int layer = as_view_state_get_layer (self->state);
  gsize need = (gsize) n_vis * n_vis;
  if (n_vis == 0)
    return;
  if (need > self->matrix_len)
    {
      g_free (self->matrix);
      self->matrix = g_new (float, need);
      self->matrix_len = need;
    }
  if (!as_view_state_extract_shown (self->state, as_view_state_get_aggregate (self->state),
                                    layer, head, self->matrix))
    return;

  /* segment of each visible token, [n_vis] */
  g_autofree int *seg = g_new (int, n_vis);
  for (int i = 0; i < n_vis; i++)
    seg[i] = segment_of (self, i);
  AsLinesFilter filter = is_pair (self) ? self->filter : AS_LINES_ALL;

  for (int i = 0; i < n_vis; i++)
    {
      if (only_side == SIDE_QUERY && i != only_index)
        continue;
      for (int j = 0; j < n_vis; j++)
        {
          if (only_side == SIDE_KEY && j != only_index)
            continue;
          float w = self->matrix[(gsize) i * n_vis + j];
          if (w < AS_LINES_MIN_WEIGHT || !filter_keeps (filter, seg[i], seg[j]))
            continue;
          func (i, j, w, data);
        }
    }
}

/* ---- drawing ------------------------------------------------------------ */

typedef struct {
  float  q, k, w;
} Line;

static void
collect (int      query,
         int      key,
         float    weight,
         gpointer data)
{
  g_array_append_val ((GArray *) data, ((Line) { query, key, weight }));
}

/* Lines of a combined matrix: the theme's accent, not a head's colour. */
static void
combined_colour (AsLinesView *self,
                 double       rgb[3])
{
  GdkRGBA accent;
  if (!gtk_style_context_lookup_color (gtk_widget_get_style_context (GTK_WIDGET (self->canvas)),
                                       "accent_bg_color", &accent))
    gdk_rgba_parse (&accent, "#3584e4");
  rgb[0] = accent.red, rgb[1] = accent.green, rgb[2] = accent.blue;
}

static double
row_h (AsLinesView *self)
{
  return ROW_H * (self->state != NULL ? as_view_state_get_zoom (self->state) : 1.0);
}

static double
row_y (AsLinesView *self,
       int          index)
{
  return PAD + index * row_h (self) + row_h (self) / 2.0;
}

/* The active token: hovered, else the state's selected token. */
static Side
active_token (AsLinesView *self,
              int         *index)
{
  if (self->hover_side != SIDE_NONE)
    {
      *index = self->hover_index;
      return self->hover_side;
    }
  int v = as_view_state_visible_index (self->state, as_view_state_get_token (self->state));
  if (v < 0)
    return SIDE_NONE;
  *index = v;
  return self->token_side == SIDE_KEY ? SIDE_KEY : SIDE_QUERY;
}

/* A head's colour, darkened on a light background until it has 3:1
 * contrast with white (WCAG's bar for graphics): the pale ones (olive,
 * cyan, pink, grey) would wash out at low opacity. */
static void
line_colour (AsLinesView *self,
             int          head,
             double       rgb[3])
{
  as_head_colour (head, rgb);
  if (as_view_state_get_dark (self->state))
    return;
  for (int i = 0; i < 20; i++)
    {
      double lum = 0;
      const double weight[3] = { 0.2126, 0.7152, 0.0722 };
      for (int c = 0; c < 3; c++)
        lum += weight[c] * (rgb[c] <= 0.04045 ? rgb[c] / 12.92 : pow ((rgb[c] + 0.055) / 1.055, 2.4));
      if (1.05 / (lum + 0.05) >= 3.0)
        return;
      for (int c = 0; c < 3; c++)
        rgb[c] *= 0.9;
    }
}

static int
heads_shown (AsLinesView *self)
{
  int n = 0;
  for (int h = 0; h < MAX_HEADS; h++)
    n += self->shown[h];
  return n;
}

/* Returns how many lines it drew. */
static guint
draw_lines (AsLinesView *self,
            cairo_t     *cr,
            int          width,
            Side         side,
            int          index)
{
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  double x0 = PAD + self->label_w + LINE_GAP;
  double x1 = width - PAD - self->label_w - LINE_GAP;
  g_autoptr(GArray) lines = g_array_new (FALSE, FALSE, sizeof (Line));
  /* Lines sorted into opacity steps, so each step is one stroke. */
  g_autofree int *start = g_new (int, N_ALPHA + 1);
  g_autofree Line *sorted = NULL;

  cairo_set_line_width (cr, side != SIDE_NONE ? 2.0 : 1.5);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_ROUND);
  guint n_drawn = 0;
  gboolean one = combined (self);
  for (int h = 0; h < (one ? 1 : MIN (a->n_heads, MAX_HEADS)); h++)
    {
      if (!one && !self->shown[h])
        continue;
      g_array_set_size (lines, 0);
      for_each_line (self, h, side, index, collect, lines);
      n_drawn += lines->len;
      if (lines->len == 0)
        continue;

      for (int b = 0; b <= N_ALPHA; b++)
        start[b] = 0;
      for (guint i = 0; i < lines->len; i++)
        {
          Line *l = &g_array_index (lines, Line, i);
          start[MIN ((int) (l->w * N_ALPHA), N_ALPHA - 1) + 1]++;
        }
      for (int b = 0; b < N_ALPHA; b++)
        start[b + 1] += start[b];
      g_free (sorted);
      sorted = g_new (Line, lines->len);
      int fill[N_ALPHA];
      for (int b = 0; b < N_ALPHA; b++)
        fill[b] = start[b];
      for (guint i = 0; i < lines->len; i++)
        {
          Line *l = &g_array_index (lines, Line, i);
          sorted[fill[MIN ((int) (l->w * N_ALPHA), N_ALPHA - 1)]++] = *l;
        }

      double rgb[3];
      if (one)
        combined_colour (self, rgb);
      else
        line_colour (self, h, rgb);
      /* Several heads: each one's lines over a thin band of the background,
       * so where heads cross the one on top keeps its own colour instead
       * of mixing into the others'. */
      gboolean halo = !one && heads_shown (self) > 1;
      double bg = as_view_state_get_dark (self->state) ? 0.14 : 1.0;
      double line_w = cairo_get_line_width (cr);
      for (int b = 0; b < N_ALPHA; b++)
        {
          if (start[b] == start[b + 1])
            continue;
          for (int i = start[b]; i < start[b + 1]; i++)
            {
              cairo_move_to (cr, x0, row_y (self, (int) sorted[i].q));
              cairo_line_to (cr, x1, row_y (self, (int) sorted[i].k));
            }
          /* Opacity grows with the weight: for one head as its square
           * root, so that weights of a few hundredths, the most common,
           * stay visible on white; for several, as the weight itself, so
           * the strong lines of each stand out of the crowd. */
          double mid = (b + 0.5) / N_ALPHA;
          double alpha = halo ? mid : sqrt (mid);
          if (halo && alpha > 0.3)
            {
              cairo_set_line_width (cr, line_w + 2.0);
              cairo_set_source_rgba (cr, bg, bg, bg, alpha);
              cairo_stroke_preserve (cr);
              cairo_set_line_width (cr, line_w);
            }
          cairo_set_source_rgba (cr, rgb[0], rgb[1], rgb[2], alpha);
          cairo_stroke (cr);
        }
    }
  return n_drawn;
}

static void
draw_labels (AsLinesView *self,
             cairo_t     *cr,
             int          width,
             Side         side,
             int          index)
{
  const char * const *labels = as_view_state_get_labels (self->state);
  int n_vis;
  as_view_state_get_visible (self->state, &n_vis);
  GtkWidget *w = GTK_WIDGET (self->canvas);
  GdkRGBA fg, accent;
  gtk_style_context_get_color (gtk_widget_get_style_context (w), &fg);
  if (!gtk_style_context_lookup_color (gtk_widget_get_style_context (w), "accent_bg_color", &accent))
    gdk_rgba_parse (&accent, "#3584e4");

  /* Pair mode: a rule between the sentences, and the tokens the filter
   * leaves out on each side dimmed, so the filter reads at a glance. */
  gboolean pair = is_pair (self);
  AsLinesFilter filter = pair ? self->filter : AS_LINES_ALL;
  PangoLayout *layout = gtk_widget_create_pango_layout (w, NULL);
  for (int i = 0; i < n_vis; i++)
    for (int s = SIDE_QUERY; s <= SIDE_KEY; s++)
      {
        int seg = segment_of (self, i);
        gboolean kept = s == SIDE_QUERY ? filter_keeps (filter, seg, -1) : filter_keeps (filter, -1, seg);
        if (pair && i > 0 && seg != segment_of (self, i - 1))
          {
            double rx = s == SIDE_QUERY ? PAD : width - PAD - self->label_w;
            cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.35);
            cairo_rectangle (cr, rx, PAD + i * row_h (self), self->label_w, 1);
            cairo_fill (cr);
          }
        int tw, th;
        pango_layout_set_text (layout, labels[i], -1);
        pango_layout_get_pixel_size (layout, &tw, &th);
        double x = s == SIDE_QUERY ? PAD + self->label_w - tw : width - PAD - self->label_w;
        double y = row_y (self, i) - th / 2.0;
        gboolean active = side == (Side) s && index == i;
        if (active)
          {
            cairo_set_source_rgba (cr, accent.red, accent.green, accent.blue, 1.0);
            cairo_rectangle (cr, x - 4, y - 1, tw + 8, th + 2);
            cairo_fill (cr);
            cairo_set_source_rgb (cr, 1, 1, 1);
          }
        else
          cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue,
                                 fg.alpha * (!kept ? 0.3 : side == SIDE_NONE ? 1.0 : 0.75));
        cairo_move_to (cr, x, y);
        pango_cairo_show_layout (cr, layout);
      }
  g_object_unref (layout);
}

static void
draw_canvas (GtkDrawingArea *area,
             cairo_t        *cr,
             int             width,
             int             height,
             gpointer        data)
{
  AsLinesView *self = data;
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  int layer = self->state != NULL ? as_view_state_get_layer (self->state) : 0;
  if (a == NULL || layer >= as_view_state_get_layers_ready (self->state))
    return;

  int index = -1;
  guint n_lines;
  Side side = active_token (self, &index);
  if (side != SIDE_NONE)
    {
      /* Few lines: drawn directly, never cached. */
      n_lines = draw_lines (self, cr, width, side, index);
      draw_labels (self, cr, width, side, index);
    }
  else
    {
      int scale = gtk_widget_get_scale_factor (GTK_WIDGET (area));
      if (self->cache == NULL ||
          cairo_image_surface_get_width (self->cache) != width * scale ||
          cairo_image_surface_get_height (self->cache) != height * scale)
        {
          g_clear_pointer (&self->cache, cairo_surface_destroy);
          self->cache = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width * scale, height * scale);
          cairo_surface_set_device_scale (self->cache, scale, scale);
          cairo_t *ccr = cairo_create (self->cache);
          self->cache_lines = draw_lines (self, ccr, width, SIDE_NONE, -1);
          draw_labels (self, ccr, width, SIDE_NONE, -1);
          cairo_destroy (ccr);
        }
      cairo_set_source_surface (cr, self->cache, 0, 0);
      cairo_paint (cr);
      n_lines = self->cache_lines;
    }
  /* The selected layer, like the head view. */
  as_trace_drawn_full (&(AsTraceDraw) { .view = 'l', .generation = a->generation, .layers = layer + 1,
                                        .items = (int) n_lines }, a->n_layers, a->n);
}

/* ---- updates ------------------------------------------------------------ */

static void
update_accessible (AsLinesView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == NULL)
    return;
  int shown = 0;
  for (int h = 0; h < MIN (a->n_heads, MAX_HEADS); h++)
    shown += self->shown[h];
  int token = as_view_state_get_token (self->state);
  g_autofree char *what = NULL;
  if (combined (self))
    {
      AsShownSpec spec;
      as_view_state_get_spec (self->state, &spec);
      what = as_shown_spec_describe (&spec, a->n_heads);
    }
  else
    what = g_strdup_printf (_("layer %d, %d of %d heads shown"), as_view_state_get_layer (self->state) + 1,
                            shown, a->n_heads);
  g_autofree char *label =
    token >= 0 ? g_strdup_printf (_("Lines view: %s, token %d “%s”"), what, token + 1, a->encoding->tokens[token].text)
               : g_strdup_printf (_("Lines view: %s"), what);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->canvas), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
}

/* Something the picture shows changed. */
static void
invalidate (AsLinesView *self)
{
  g_clear_pointer (&self->cache, cairo_surface_destroy);
  gtk_widget_queue_draw (GTK_WIDGET (self->canvas));
  update_accessible (self);
}

static void
update_size (AsLinesView *self)
{
  int n_vis = 0;
  const char * const *labels = NULL;
  if (self->state != NULL && as_view_state_get_analysis (self->state) != NULL)
    {
      as_view_state_get_visible (self->state, &n_vis);
      labels = as_view_state_get_labels (self->state);
    }
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self->canvas), NULL);
  self->label_w = 40;
  for (int i = 0; i < n_vis; i++)
    {
      int w, h;
      pango_layout_set_text (layout, labels[i], -1);
      pango_layout_get_pixel_size (layout, &w, &h);
      self->label_w = MAX (self->label_w, w);
    }
  g_object_unref (layout);
  self->label_w = MIN (self->label_w, 200);
  gtk_drawing_area_set_content_width (self->canvas, 2 * (PAD + self->label_w + LINE_GAP) + 160);
  gtk_drawing_area_set_content_height (self->canvas, 2 * PAD + (int) ceil (n_vis * row_h (self)));
  invalidate (self);
}

static void
on_toggle (GtkToggleButton *button,
           AsLinesView     *self)
{
  if (self->syncing)
    return;
  self->follow = FALSE;   /* the user picks the heads from now on */
  for (int h = 0; h < self->n_heads; h++)
    if (self->head_toggles[h] == GTK_WIDGET (button))
      self->shown[h] = gtk_toggle_button_get_active (button);
  invalidate (self);
}

static void
draw_swatch (GtkDrawingArea *area,
             cairo_t        *cr,
             int             width,
             int             height,
             gpointer        data)
{
  AsLinesView *self = AS_LINES_VIEW (gtk_widget_get_ancestor (GTK_WIDGET (area), AS_TYPE_LINES_VIEW));
  double rgb[3];
  if (self != NULL && self->state != NULL)
    line_colour (self, GPOINTER_TO_INT (data), rgb);
  else
    as_head_colour (GPOINTER_TO_INT (data), rgb);
  cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
  cairo_rectangle (cr, 0, 0, width, height);
  cairo_fill (cr);
}

static void
rebuild_toggles (AsLinesView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  int heads = a != NULL ? MIN (a->n_heads, MAX_HEADS) : 0;
  if (heads == self->n_heads)
    return;
  for (int h = 0; h < self->n_heads; h++)
    gtk_box_remove (GTK_BOX (self->head_box), self->head_toggles[h]);
  self->n_heads = heads;
  for (int h = 0; h < heads; h++)
    {
      GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 3);
      GtkWidget *swatch = gtk_drawing_area_new ();
      gtk_drawing_area_set_content_width (GTK_DRAWING_AREA (swatch), 10);
      gtk_drawing_area_set_content_height (GTK_DRAWING_AREA (swatch), 10);
      gtk_widget_set_valign (swatch, GTK_ALIGN_CENTER);
      gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (swatch), draw_swatch, GINT_TO_POINTER (h), NULL);
      g_autofree char *num = g_strdup_printf ("%d", h + 1);
      gtk_box_append (GTK_BOX (box), swatch);
      gtk_box_append (GTK_BOX (box), gtk_label_new (num));

      GtkWidget *button = gtk_toggle_button_new ();
      gtk_button_set_child (GTK_BUTTON (button), box);
      gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (button), self->shown[h]);
      gtk_widget_add_css_class (button, "flat");
      gtk_widget_add_css_class (button, "head-toggle");
      g_autofree char *tip = g_strdup_printf (_("Show head %d's lines"), h + 1);
      gtk_widget_set_tooltip_text (button, tip);
      g_signal_connect (button, "toggled", G_CALLBACK (on_toggle), self);
      gtk_box_append (GTK_BOX (self->head_box), button);
      self->head_toggles[h] = button;
    }
}

static void
sync_layer (AsLinesView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  self->syncing = TRUE;
  /* 1-based on screen, as in the grid and titles. */
  gtk_spin_button_set_range (self->layer_spin, 1, a != NULL ? a->n_layers : 1);
  gtk_spin_button_set_value (self->layer_spin, self->state != NULL ? as_view_state_get_layer (self->state) + 1 : 1);
  self->syncing = FALSE;
}

/* The head toggles pick heads only while single heads are drawn. */
static void
on_aggregate_changed (AsLinesView *self)
{
  gtk_widget_set_sensitive (self->heads_row, self->state == NULL || !combined (self));
  invalidate (self);
}

static void follow_head (AsLinesView *self);

static void
on_zoom_changed (AsLinesView *self)
{
  update_size (self);
  invalidate (self);
}

static void
on_analysis_changed (AsLinesView *self)
{
  self->hover_side = SIDE_NONE;
  rebuild_toggles (self);
  follow_head (self);
  sync_layer (self);
  gtk_widget_set_sensitive (GTK_WIDGET (self->filter_dropdown), is_pair (self));
  update_size (self);
  on_aggregate_changed (self);
}

static void
on_layer_changed (AsLinesView *self)
{
  sync_layer (self);
  invalidate (self);
}

static void
on_layer_added (AsLinesView *self,
                int          layer)
{
  if (layer == as_view_state_get_layer (self->state))
    invalidate (self);
}

static void
on_token_changed (AsLinesView *self)
{
  if (as_view_state_get_token (self->state) < 0)
    self->token_side = SIDE_NONE;
  invalidate (self);
}

static void
on_spin_changed (AsLinesView *self)
{
  if (!self->syncing && self->state != NULL)
    as_view_state_set_layer (self->state, gtk_spin_button_get_value_as_int (self->layer_spin) - 1);
}

static void
on_filter_changed (AsLinesView *self)
{
  as_lines_view_set_filter (self, gtk_drop_down_get_selected (self->filter_dropdown));
}

/* ---- input -------------------------------------------------------------- */

static Side
token_at (AsLinesView *self,
          double       x,
          double       y,
          int         *index)
{
  if (self->state == NULL || as_view_state_get_analysis (self->state) == NULL)
    return SIDE_NONE;
  int n_vis;
  as_view_state_get_visible (self->state, &n_vis);
  int i = (int) floor ((y - PAD) / row_h (self));
  if (y < PAD || i < 0 || i >= n_vis)
    return SIDE_NONE;
  int width = gtk_widget_get_width (GTK_WIDGET (self->canvas));
  *index = i;
  if (x <= PAD + self->label_w + LINE_GAP)
    return SIDE_QUERY;
  if (x >= width - PAD - self->label_w - LINE_GAP)
    return SIDE_KEY;
  return SIDE_NONE;
}

static void
set_hover (AsLinesView *self,
           Side         side,
           int          index)
{
  if (side == self->hover_side && (side == SIDE_NONE || index == self->hover_index))
    return;
  self->hover_side = side;
  self->hover_index = index;
  gtk_widget_queue_draw (GTK_WIDGET (self->canvas));
}

static void
on_motion (GtkEventControllerMotion *motion,
           double                    x,
           double                    y,
           AsLinesView              *self)
{
  int index = -1;
  Side side = token_at (self, x, y, &index);
  set_hover (self, side, index);
}

static void
on_leave (AsLinesView *self)
{
  set_hover (self, SIDE_NONE, -1);
}

static void
on_pressed (GtkGestureClick *gesture,
            int              n_press,
            double           x,
            double           y,
            AsLinesView     *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self->canvas));
  int index = -1;
  Side side = token_at (self, x, y, &index);
  if (side == SIDE_NONE)
    return;
  const int *visible = as_view_state_get_visible (self->state, NULL);
  self->token_side = side;
  as_view_state_set_token (self->state, visible[index]);
  invalidate (self);
}

static gboolean
on_key (GtkEventControllerKey *key,
        guint                  keyval,
        guint                  keycode,
        GdkModifierType        mods,
        AsLinesView           *self)
{
  if (self->state == NULL || as_view_state_get_analysis (self->state) == NULL ||
      (mods & (GDK_CONTROL_MASK | GDK_ALT_MASK)) != 0)
    return FALSE;
  int n_vis;
  const int *visible = as_view_state_get_visible (self->state, &n_vis);
  int v = as_view_state_visible_index (self->state, as_view_state_get_token (self->state));
  if (v < 0 && self->hover_side != SIDE_NONE)
    v = self->hover_index;

  switch (keyval)
    {
    case GDK_KEY_Up:
    case GDK_KEY_Down:
      if (n_vis == 0)
        return TRUE;
      if (v < 0)
        v = keyval == GDK_KEY_Up ? n_vis - 1 : 0;
      else
        v = CLAMP (v + (keyval == GDK_KEY_Up ? -1 : 1), 0, n_vis - 1);
      if (self->token_side == SIDE_NONE)
        self->token_side = SIDE_QUERY;
      self->hover_side = SIDE_NONE;
      as_view_state_set_token (self->state, visible[v]);
      return TRUE;
    case GDK_KEY_Left:
    case GDK_KEY_Right:
      /* Which side the selected token's lines are shown from. */
      self->token_side = keyval == GDK_KEY_Left ? SIDE_QUERY : SIDE_KEY;
      invalidate (self);
      return TRUE;
    case GDK_KEY_Escape:
      as_view_state_set_token (self->state, -1);
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
on_canvas_tooltip (GtkWidget   *widget,
                   int          x,
                   int          y,
                   gboolean     keyboard,
                   GtkTooltip  *tooltip,
                   AsLinesView *self)
{
  int index = -1;
  if (keyboard || token_at (self, x, y, &index) == SIDE_NONE)
    return FALSE;
  const char * const *labels = as_view_state_get_labels (self->state);
  const int *visible = as_view_state_get_visible (self->state, NULL);
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  int seg = a->encoding->tokens[visible[index]].type_id;
  g_autofree char *text =
    g_strdup_printf ("“%s” #%d%s: %s", labels[index], visible[index] + 1,
                     is_pair (self) ? (seg > 0 ? _(", sentence B") : _(", sentence A")) : "",
                     x < gtk_widget_get_width (widget) / 2 ? _("attention from it") : _("attention to it"));
  gtk_tooltip_set_text (tooltip, text);
  return TRUE;
}

/* ---- public ------------------------------------------------------------- */

GtkWidget *
as_lines_view_new (void)
{
  return g_object_new (AS_TYPE_LINES_VIEW, NULL);
}

AsViewState *
as_lines_view_get_view_state (AsLinesView *self)
{
  g_return_val_if_fail (AS_IS_LINES_VIEW (self), NULL);
  return self->state;
}

/* While following: the selected head alone, its toggle pressed. */
static void
follow_head (AsLinesView *self)
{
  if (!self->follow || self->state == NULL)
    return;
  int head = as_view_state_get_head (self->state);
  self->syncing = TRUE;
  for (int h = 0; h < MAX_HEADS; h++)
    {
      self->shown[h] = h == head;
      if (h < self->n_heads)
        gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->head_toggles[h]), h == head);
    }
  self->syncing = FALSE;
  invalidate (self);
}

void
as_lines_view_set_view_state (AsLinesView *self,
                              AsViewState *state)
{
  g_return_if_fail (AS_IS_LINES_VIEW (self));

  if (self->state == state)
    return;
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_set_object (&self->state, state);
  as_aggregate_bar_set_view_state (AS_AGGREGATE_BAR (self->bar), state);
  if (state != NULL)
    {
      g_signal_connect_swapped (state, "notify::analysis", G_CALLBACK (on_analysis_changed), self);
      g_signal_connect_swapped (state, "notify::hide-special", G_CALLBACK (on_analysis_changed), self);
      g_signal_connect_swapped (state, "notify::words", G_CALLBACK (on_analysis_changed), self);
      g_signal_connect_swapped (state, "notify::aggregate", G_CALLBACK (on_aggregate_changed), self);
      g_signal_connect_swapped (state, "notify::renormalise", G_CALLBACK (invalidate), self);
      g_signal_connect_swapped (state, "notify::dark", G_CALLBACK (invalidate), self);
      g_signal_connect_swapped (state, "notify::layer", G_CALLBACK (on_layer_changed), self);
      g_signal_connect_swapped (state, "notify::token", G_CALLBACK (on_token_changed), self);
      g_signal_connect_swapped (state, "notify::head", G_CALLBACK (follow_head), self);
      g_signal_connect_swapped (state, "notify::zoom", G_CALLBACK (on_zoom_changed), self);
      g_signal_connect_swapped (state, "layer-added", G_CALLBACK (on_layer_added), self);
    }
  on_analysis_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

static void
as_lines_view_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      g_value_set_object (value, as_lines_view_get_view_state (AS_LINES_VIEW (object)));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_lines_view_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      as_lines_view_set_view_state (AS_LINES_VIEW (object), g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

AsLinesFilter
as_lines_view_get_filter (AsLinesView *self)
{
  g_return_val_if_fail (AS_IS_LINES_VIEW (self), AS_LINES_ALL);
  return self->filter;
}

void
as_lines_view_set_filter (AsLinesView   *self,
                          AsLinesFilter  filter)
{
  g_return_if_fail (AS_IS_LINES_VIEW (self));
  g_return_if_fail ((int) filter >= 0 && filter < AS_N_LINES_FILTERS);
  if (filter == self->filter)
    return;
  self->filter = filter;
  if (gtk_drop_down_get_selected (self->filter_dropdown) != (guint) filter)
    gtk_drop_down_set_selected (self->filter_dropdown, filter);
  invalidate (self);
}

gboolean
as_lines_view_get_head_shown (AsLinesView *self,
                              int          head)
{
  g_return_val_if_fail (AS_IS_LINES_VIEW (self), FALSE);
  return head >= 0 && head < MAX_HEADS && self->shown[head];
}

void
as_lines_view_set_head_shown (AsLinesView *self,
                              int          head,
                              gboolean     shown)
{
  g_return_if_fail (AS_IS_LINES_VIEW (self));
  g_return_if_fail (head >= 0 && head < MAX_HEADS);
  self->follow = FALSE;
  if (head < self->n_heads)
    gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->head_toggles[head]), shown);
  else
    self->shown[head] = !!shown;
  invalidate (self);
}

void
as_lines_view_show_all_heads (AsLinesView *self,
                              gboolean     shown)
{
  g_return_if_fail (AS_IS_LINES_VIEW (self));
  for (int h = 0; h < MAX_HEADS; h++)
    as_lines_view_set_head_shown (self, h, shown);
}

static void
on_all (AsLinesView *self)
{
  as_lines_view_show_all_heads (self, TRUE);
}

static void
on_none (AsLinesView *self)
{
  as_lines_view_show_all_heads (self, FALSE);
}

/* ---- GObject ------------------------------------------------------------ */

static void
as_lines_view_dispose (GObject *object)
{
  AsLinesView *self = AS_LINES_VIEW (object);

  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_clear_object (&self->state);
  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_LINES_VIEW);
  g_clear_pointer (&self->cache, cairo_surface_destroy);

  G_OBJECT_CLASS (as_lines_view_parent_class)->dispose (object);
}

static void
as_lines_view_finalize (GObject *object)
{
  g_free (AS_LINES_VIEW (object)->matrix);
  G_OBJECT_CLASS (as_lines_view_parent_class)->finalize (object);
}

static void
as_lines_view_class_init (AsLinesViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = as_lines_view_dispose;
  object_class->finalize = as_lines_view_finalize;
  object_class->get_property = as_lines_view_get_property;
  object_class->set_property = as_lines_view_set_property;
  /* The one way every view is given its state: this property, or
   * as_lines_view_set_view_state(). */
  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "linesview");

  g_type_ensure (AS_TYPE_AGGREGATE_BAR);
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-lines-view.ui");
  gtk_widget_class_bind_template_child (widget_class, AsLinesView, toolbar);
  gtk_widget_class_bind_template_child (widget_class, AsLinesView, bar);
  gtk_widget_class_bind_template_child (widget_class, AsLinesView, layer_spin);
  gtk_widget_class_bind_template_child (widget_class, AsLinesView, heads_row);
  gtk_widget_class_bind_template_child (widget_class, AsLinesView, head_box);
  gtk_widget_class_bind_template_child (widget_class, AsLinesView, filter_dropdown);
  gtk_widget_class_bind_template_child (widget_class, AsLinesView, caption);
  gtk_widget_class_bind_template_child (widget_class, AsLinesView, scroller);
  gtk_widget_class_bind_template_child (widget_class, AsLinesView, canvas);
  gtk_widget_class_bind_template_callback (widget_class, on_spin_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_filter_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_all);
  gtk_widget_class_bind_template_callback (widget_class, on_none);
  gtk_widget_class_bind_template_callback (widget_class, on_canvas_tooltip);
  gtk_widget_class_bind_template_callback (widget_class, on_motion);
  gtk_widget_class_bind_template_callback (widget_class, on_leave);
  gtk_widget_class_bind_template_callback (widget_class, on_pressed);
  gtk_widget_class_bind_template_callback (widget_class, on_key);
}

static void
as_lines_view_init (AsLinesView *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));
  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 6);
  /* One head, the selected one, until the user picks others: all twelve
   * at once are a tangle. */
  self->follow = TRUE;
  self->shown[0] = TRUE;

  gtk_widget_init_template (GTK_WIDGET (self));
  as_aggregate_bar_set_show_description (AS_AGGREGATE_BAR (self->bar), FALSE);
  gtk_drawing_area_set_draw_func (self->canvas, draw_canvas, self, NULL);
  update_size (self);
}
