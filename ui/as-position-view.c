/* as-position-view.c — learned position embeddings vs the sinusoid.
 *
 * A spin button picks how many positions to show; the four matrices are
 * recomputed then (cosine similarity is N^2 x hidden, a few milliseconds
 * for 512 x 384) and drawn by as-signed-heatmap in one drawing area.
 */
#include "as-position-view.h"

#include <adwaita.h>
#include <glib/gi18n.h>
#include <math.h>
#include <stdlib.h>

#include "as-signed-heatmap.h"
#include "as-teach-math.h"

struct _AsPositionView
{
  GtkWidget       parent_instance;

  GtkSpinButton  *spin;
  GtkLabel       *caption;
  GtkDrawingArea *area;

  float          *learned;     /* [n_positions, hidden], the model's */
  int             n_positions;
  int             hidden;
  char           *model_name;
  gboolean        dark;

  int             n_shown;
  float          *sinusoid;    /* [n_shown, hidden] */
  float          *learned_sim; /* [n_shown, n_shown] */
  float          *sinusoid_sim;/* [n_shown, n_shown] */
  float           learned_range;
};

G_DEFINE_FINAL_TYPE (AsPositionView, as_position_view, GTK_TYPE_WIDGET)

static int
compare_floats (const void *a,
                const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

static void
recompute (AsPositionView *self)
{
  g_clear_pointer (&self->sinusoid, g_free);
  g_clear_pointer (&self->learned_sim, g_free);
  g_clear_pointer (&self->sinusoid_sim, g_free);
  if (self->learned != NULL)
    {
      int n = self->n_shown, h = self->hidden;
      self->sinusoid = g_new (float, (gsize) n * h);       /* [n, hidden] */
      self->learned_sim = g_new (float, (gsize) n * n);    /* [n, n] */
      self->sinusoid_sim = g_new (float, (gsize) n * n);   /* [n, n] */
      as_sinusoid_encoding (n, h, self->sinusoid);
      as_cosine_similarity (self->learned, n, h, self->learned_sim);
      as_cosine_similarity (self->sinusoid, n, h, self->sinusoid_sim);
      /* A few dimensions of learned embeddings are far larger than the rest;
       * a range from the 99th percentile of |x| keeps the others visible
       * (the extremes saturate, and the colour bar says where). */
      gsize total = (gsize) n * h;
      g_autofree float *mags = g_new (float, total);   /* [n * hidden] */
      for (gsize i = 0; i < total; i++)
        mags[i] = fabsf (self->learned[i]);
      qsort (mags, total, sizeof (float), compare_floats);
      self->learned_range = mags[MIN (total - 1, (gsize) (0.99 * total))];
      if (!(self->learned_range > 0))
        self->learned_range = 1;
      g_autofree char *text = g_strdup_printf (
        _("%s: learned position embeddings (trained with the model) against the fixed sinusoids of "
          "Vaswani et al. 2017, PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(…), d = %d. "
          "Learned colours saturate at ±%.3f (99th percentile of |value|)."),
        self->model_name != NULL ? self->model_name : _("Model"), h, self->learned_range);
      gtk_label_set_text (self->caption, text);
    }
  else
    gtk_label_set_text (self->caption, _("No model loaded, or the model has no learned position embeddings."));
  gtk_widget_queue_draw (GTK_WIDGET (self->area));
}

static void
draw (GtkDrawingArea *area,
      cairo_t        *cr,
      int             width,
      int             height,
      gpointer        data)
{
  AsPositionView *self = data;
  if (self->learned == NULL)
    return;
  int n = self->n_shown, h = self->hidden;
  double pw = width / 2.0, ph = height / 2.0, pad = 14;
  double font = CLAMP (width / 70.0, 11.0, 16.0);
  /* Positions counted from 1, as the token strip counts tokens. */
  g_autofree char *t1 = g_strdup_printf (_("Learned: positions 1–%d × %d dimensions"), n, h);
  g_autofree char *t2 = g_strdup_printf (_("Sinusoidal: positions 1–%d × %d dimensions"), n, h);
  struct {
    const float *m; int cols; float range; const char *title; const char *col_title; int col_first;
  } panels[4] = {
    { self->learned, h, self->learned_range, t1, _("dimension"), 0 },
    { self->sinusoid, h, 1.0f, t2, _("dimension"), 0 },
    { self->learned_sim, n, 1.0f, _("Learned: cosine similarity between positions"), _("position"), 1 },
    { self->sinusoid_sim, n, 1.0f, _("Sinusoidal: cosine similarity between positions"), _("position"), 1 },
  };
  for (int i = 0; i < 4; i++)
    {
      cairo_save (cr);
      cairo_translate (cr, (i % 2) * pw + pad, (i / 2) * ph + pad);
      as_signed_panel_render (cr, panels[i].m, n, panels[i].cols, panels[i].range, panels[i].title,
                              _("position"), panels[i].col_title, 1, panels[i].col_first, font, self->dark,
                              pw - 2 * pad, ph - 2 * pad);
      cairo_restore (cr);
    }
}

static void
on_spin_changed (AsPositionView *self)
{
  as_position_view_set_n_shown (self, gtk_spin_button_get_value_as_int (self->spin));
}

static void
as_position_view_dispose (GObject *object)
{
  AsPositionView *self = AS_POSITION_VIEW (object);
  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_POSITION_VIEW);
  /* dispose_template unparents bound children only; the spin's row is not. */
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (as_position_view_parent_class)->dispose (object);
}

static void
as_position_view_finalize (GObject *object)
{
  AsPositionView *self = AS_POSITION_VIEW (object);
  g_free (self->learned);
  g_free (self->model_name);
  g_free (self->sinusoid);
  g_free (self->learned_sim);
  g_free (self->sinusoid_sim);
  G_OBJECT_CLASS (as_position_view_parent_class)->finalize (object);
}

static void
as_position_view_class_init (AsPositionViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = as_position_view_dispose;
  object_class->finalize = as_position_view_finalize;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "positionview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-position-view.ui");
  gtk_widget_class_bind_template_child (widget_class, AsPositionView, spin);
  gtk_widget_class_bind_template_child (widget_class, AsPositionView, caption);
  gtk_widget_class_bind_template_child (widget_class, AsPositionView, area);
  gtk_widget_class_bind_template_callback (widget_class, on_spin_changed);
}

static void
as_position_view_init (AsPositionView *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));
  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 8);

  gtk_widget_init_template (GTK_WIDGET (self));
  /* The template's spin button holds the default. */
  self->n_shown = gtk_spin_button_get_value_as_int (self->spin);
  gtk_drawing_area_set_draw_func (self->area, draw, self, NULL);
  recompute (self);
}

GtkWidget *
as_position_view_new (void)
{
  return g_object_new (AS_TYPE_POSITION_VIEW, NULL);
}

void
as_position_view_set_embeddings (AsPositionView *self,
                                 const float    *learned,
                                 int             n_positions,
                                 int             hidden,
                                 const char     *model_name)
{
  g_return_if_fail (AS_IS_POSITION_VIEW (self));
  g_clear_pointer (&self->learned, g_free);
  g_free (self->model_name);
  self->model_name = g_strdup (model_name);
  if (learned != NULL && n_positions >= 2 && hidden >= 1)
    {
      self->learned = g_memdup2 (learned, sizeof (float) * n_positions * hidden);
      self->n_positions = n_positions;
      self->hidden = hidden;
      gtk_spin_button_set_range (self->spin, 2, n_positions);
      self->n_shown = CLAMP (self->n_shown, 2, n_positions);
    }
  recompute (self);
}

void
as_position_view_set_dark (AsPositionView *self,
                           gboolean        dark)
{
  g_return_if_fail (AS_IS_POSITION_VIEW (self));
  self->dark = dark;
  gtk_widget_queue_draw (GTK_WIDGET (self->area));
}

int
as_position_view_get_n_shown (AsPositionView *self)
{
  g_return_val_if_fail (AS_IS_POSITION_VIEW (self), 0);
  return self->n_shown;
}

void
as_position_view_set_n_shown (AsPositionView *self,
                              int             n)
{
  g_return_if_fail (AS_IS_POSITION_VIEW (self));
  n = CLAMP (n, 2, self->learned != NULL ? self->n_positions : 512);
  if (gtk_spin_button_get_value_as_int (self->spin) != n)
    gtk_spin_button_set_value (self->spin, n);   /* comes back here */
  if (n == self->n_shown && self->sinusoid != NULL)
    return;
  self->n_shown = n;
  recompute (self);
}

const float *
as_position_view_get_matrix (AsPositionView *self,
                             gboolean        sinusoid,
                             gboolean        similarity,
                             int            *rows,
                             int            *cols)
{
  g_return_val_if_fail (AS_IS_POSITION_VIEW (self), NULL);
  if (self->learned == NULL)
    return NULL;
  *rows = self->n_shown;
  *cols = similarity ? self->n_shown : self->hidden;
  if (similarity)
    return sinusoid ? self->sinusoid_sim : self->learned_sim;
  return sinusoid ? self->sinusoid : self->learned;
}

GtkWindow *
as_position_window_new (GtkWindow *parent,
                        AsWorker  *worker,
                        gboolean   dark)
{
  GtkWidget *win = adw_window_new ();
  gtk_window_set_title (GTK_WINDOW (win), _("Position Embeddings"));
  gtk_window_set_default_size (GTK_WINDOW (win), 1200, 820);
  if (parent != NULL)
    gtk_window_set_transient_for (GTK_WINDOW (win), parent);
  gtk_window_set_destroy_with_parent (GTK_WINDOW (win), TRUE);

  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new ();
  adw_header_bar_set_title_widget (ADW_HEADER_BAR (header),
                                   adw_window_title_new (_("Position Embeddings"), _("learned vs sinusoidal")));
  gtk_box_append (GTK_BOX (box), header);
  GtkWidget *view = as_position_view_new ();
  gtk_widget_set_margin_start (view, 12);
  gtk_widget_set_margin_end (view, 12);
  gtk_widget_set_margin_top (view, 8);
  gtk_widget_set_margin_bottom (view, 12);
  gtk_widget_set_vexpand (view, TRUE);
  gtk_box_append (GTK_BOX (box), view);
  adw_window_set_content (ADW_WINDOW (win), box);

  int n = 0, hidden = 0;
  const float *pe = as_worker_get_position_embeddings (worker, &n, &hidden);
  as_position_view_set_dark (AS_POSITION_VIEW (view), dark);
  as_position_view_set_embeddings (AS_POSITION_VIEW (view), pe, n, hidden,
                                   as_worker_get_model_name (worker));
  return GTK_WINDOW (win);
}
