/* as-compare-view.c — A and B side by side, and B - A below.
 *
 * On screen A is "the sentence" (the window's text) and B "the variant"
 * (this view's entry): "A" and "B" already name a pair's two sentences.
 *
 * B is asked of the worker's compare channel 40 ms after the last edit of
 * its entry (and again when the model changes), only while the view is
 * mapped. The difference is recomputed when either side or the selection
 * changes: the tokens are aligned by text (as_compare_align) and the map
 * is B - A over the aligned pairs.
 */
#include "as-compare-view.h"

#include <glib/gi18n.h>
#include <math.h>

#include "as-heatmap-render.h"
#include "as-signed-heatmap.h"

#define DEBOUNCE_MS 40

struct _AsCompareView
{
  GtkWidget       parent_instance;

  AsViewState    *state;
  AsWorker       *worker;

  GtkEntry       *entry;
  GtkLabel       *caption;
  GtkDrawingArea *area;

  guint           debounce_id;
  gboolean        pending;     /* a request waits for the view to be shown */
  guint           b_gen;
  gboolean        b_failed;    /* the request b_gen failed */
  AsAnalysis     *b;           /* the newest of B, possibly still streaming */
  gboolean        busy;

  float          *diff;        /* [diff_n, diff_n] B - A of the selected head, or NULL */
  int             diff_n;
  int            *pair_a;      /* [diff_n] token of A on each row of the map */
  int            *pair_b;      /* [diff_n] and of B */
  float           diff_min;
  float           diff_max;
  char           *message;
};

G_DEFINE_FINAL_TYPE (AsCompareView, as_compare_view, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_VIEW_STATE, PROP_WORKER, PROP_BUSY, N_PROPS };
static GParamSpec *properties[N_PROPS];

static AsAnalysis *
analysis_a (AsCompareView *self)
{
  return self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
}

/* B belongs to the entry's text and to the model A was computed with. */
static gboolean
b_current (AsCompareView *self)
{
  AsAnalysis *a = analysis_a (self);
  return self->b != NULL && a != NULL &&
         g_strcmp0 (self->b->text_a, gtk_editable_get_text (GTK_EDITABLE (self->entry))) == 0 &&
         g_strcmp0 (self->b->model_name, a->model_name) == 0;
}

/* B is on its way: an edit waits for the debounce, or the analysis of the
 * entry's text is not complete, and has not failed. Never without an A. */
static gboolean
compute_busy (AsCompareView *self)
{
  if (analysis_a (self) == NULL || self->worker == NULL)
    return FALSE;
  if (self->debounce_id != 0)
    return TRUE;
  if (self->b_failed)
    return FALSE;
  return !(b_current (self) && self->b->generation == self->b_gen &&
           self->b->layers_ready == self->b->n_layers);
}

/* Called wherever what compute_busy reads may have changed. */
static void
sync_busy (AsCompareView *self)
{
  gboolean busy = compute_busy (self);
  if (busy == self->busy)
    return;
  self->busy = busy;
  /* Assistive technologies wait for the picture to settle. */
  gtk_accessible_update_state (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_STATE_BUSY, busy, -1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

/* ---- alignment ---------------------------------------------------------- */

int
as_compare_align (const char * const *a,
                  int                 na,
                  const char * const *b,
                  int                 nb,
                  int                *pair_a,
                  int                *pair_b)
{
  if (na <= 0 || nb <= 0)
    return 0;
  /* Longest common subsequence of the texts, suffix lengths [na + 1, nb + 1]. */
  gsize w = (gsize) nb + 1;
  g_autofree int *lcs = g_new0 (int, ((gsize) na + 1) * w);
  for (int i = na - 1; i >= 0; i--)
    for (int j = nb - 1; j >= 0; j--)
      lcs[i * w + j] = g_strcmp0 (a[i], b[j]) == 0
        ? lcs[(i + 1) * w + j + 1] + 1
        : MAX (lcs[(i + 1) * w + j], lcs[i * w + j + 1]);

  /* Walk it: equal texts pair up; between two such anchors, gaps of the
   * same length pair position by position (a word swapped for another),
   * gaps of different lengths have no counterpart. */
  int n = 0, i = 0, j = 0, gap_i = 0, gap_j = 0;
  while (i <= na && j <= nb)
    {
      gboolean end = i == na || j == nb;
      if (end || g_strcmp0 (a[i], b[j]) == 0)
        {
          int ei = end ? na : i, ej = end ? nb : j;
          if (ei - gap_i == ej - gap_j)
            for (int k = 0; k < ei - gap_i; k++, n++)
              pair_a[n] = gap_i + k, pair_b[n] = gap_j + k;
          if (end)
            break;
          pair_a[n] = i, pair_b[n] = j, n++;
          gap_i = ++i;
          gap_j = ++j;
        }
      else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])
        i++;
      else
        j++;
    }
  return n;
}

static void
append_unpaired (GString      *s,
                 AsAnalysis   *x,
                 const int    *paired,
                 int           n,
                 const char   *which)
{
  g_autofree gboolean *has = g_new0 (gboolean, x->n);
  for (int k = 0; k < n; k++)
    has[paired[k]] = TRUE;
  GString *list = g_string_new (NULL);
  for (int i = 0; i < x->n; i++)
    if (!has[i])
      g_string_append_printf (list, "%s“%s”", list->len > 0 ? ", " : "", x->encoding->tokens[i].text);
  if (list->len > 0)
    g_string_append_printf (s, _("\nOnly in the %s (no counterpart, left out of the map): %s."), which, list->str);
  g_string_free (list, TRUE);
}

/* The map over the N aligned pairs, and what it says, into MSG. */
static void
fill_difference (AsCompareView *self,
                 AsAnalysis    *a,
                 AsAnalysis    *b,
                 int            layer,
                 int            head,
                 int            n,
                 GString       *msg)
{
  const float *ma = as_analysis_head (a, layer, head);   /* [a->n, a->n] */
  const float *mb = as_analysis_head (b, layer, head);   /* [b->n, b->n] */
  self->diff_n = n;
  self->diff = g_new (float, (gsize) n * n);             /* [n, n] */
  int best = 0;
  self->diff_min = self->diff_max = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      {
        gsize k = (gsize) i * n + j;
        self->diff[k] = mb[(gsize) self->pair_b[i] * b->n + self->pair_b[j]] -
                        ma[(gsize) self->pair_a[i] * a->n + self->pair_a[j]];
        self->diff_min = MIN (self->diff_min, self->diff[k]);
        self->diff_max = MAX (self->diff_max, self->diff[k]);
        if (fabsf (self->diff[k]) > fabsf (self->diff[best]))
          best = (int) k;
      }
  int bi = best / n, bj = best % n;
  g_string_printf (msg, _("Variant − sentence, layer %d, head %d: from %+.3f to %+.3f."),
                   layer + 1, head + 1, self->diff_min, self->diff_max);
  g_string_append_printf (msg, _("\nLargest change: query “%s” → key “%s” (%.3f → %.3f)."),
                          b->encoding->tokens[self->pair_b[bi]].text,
                          b->encoding->tokens[self->pair_b[bj]].text,
                          ma[(gsize) self->pair_a[bi] * a->n + self->pair_a[bj]],
                          mb[(gsize) self->pair_b[bi] * b->n + self->pair_b[bj]]);
  /* Which paired tokens differ, when some do. */
  GString *changed = g_string_new (NULL);
  for (int i = 0; i < n; i++)
    {
      const char *ta = a->encoding->tokens[self->pair_a[i]].text;
      const char *tb = b->encoding->tokens[self->pair_b[i]].text;
      if (g_strcmp0 (ta, tb) != 0)
        g_string_append_printf (changed, "%s“%s” → “%s”", changed->len > 0 ? ", " : "", ta, tb);
    }
  if (changed->len > 0)
    g_string_append_printf (msg, _("\nTokens that differ: %s."), changed->str);
  g_string_free (changed, TRUE);
  append_unpaired (msg, a, self->pair_a, n, _("sentence"));
  append_unpaired (msg, b, self->pair_b, n, _("variant"));
}

static void
update (AsCompareView *self)
{
  g_clear_pointer (&self->diff, g_free);
  g_clear_pointer (&self->pair_a, g_free);
  g_clear_pointer (&self->pair_b, g_free);
  self->diff_n = 0;
  AsAnalysis *a = analysis_a (self);
  AsAnalysis *b = b_current (self) ? self->b : NULL;
  int layer = self->state != NULL ? as_view_state_get_layer (self->state) : 0;
  int head = self->state != NULL ? as_view_state_get_head (self->state) : 0;
  g_autoptr(GString) msg = g_string_new (NULL);

  if (a == NULL)
    g_string_assign (msg, _("No analysis of the sentence on screen (the status line says why)."));
  else if (b == NULL || layer >= b->layers_ready || layer >= a->layers_ready)
    g_string_assign (msg, _("Computing…"));
  else
    {
      const char **ta = g_new (const char *, a->n), **tb = g_new (const char *, b->n);
      for (int i = 0; i < a->n; i++)
        ta[i] = a->encoding->tokens[i].text;
      for (int j = 0; j < b->n; j++)
        tb[j] = b->encoding->tokens[j].text;
      self->pair_a = g_new (int, MIN (a->n, b->n));
      self->pair_b = g_new (int, MIN (a->n, b->n));
      int n = as_compare_align (ta, a->n, tb, b->n, self->pair_a, self->pair_b);
      g_free (ta);
      g_free (tb);
      if (n == 0)
        g_string_assign (msg, _("The sentence and the variant share no token: nothing to compare."));
      else
        fill_difference (self, a, b, layer, head, n, msg);
    }
  g_free (self->message);
  self->message = g_string_free (g_steal_pointer (&msg), FALSE);
  gtk_label_set_text (self->caption, self->message);
  gtk_widget_queue_draw (GTK_WIDGET (self->area));
  sync_busy (self);
}

static void
heatmap (cairo_t    *cr,
         AsCompareView *self,
         AsAnalysis *x,
         const char *which,
         double      w,
         double      h)
{
  int layer = as_view_state_get_layer (self->state), head = as_view_state_get_head (self->state);
  if (x == NULL || layer >= x->layers_ready)
    return;
  g_autofree const char **labels = g_new0 (const char *, x->n + 1);
  for (int i = 0; i < x->n; i++)
    labels[i] = x->encoding->tokens[i].text;
  AsHeatmapSpec spec;
  as_heatmap_spec_init (&spec);
  spec.values = as_analysis_head (x, layer, head);
  spec.rows = spec.cols = x->n;
  spec.row_labels = spec.col_labels = labels;
  spec.colormap = as_view_state_get_colormap (self->state);
  spec.dark = as_view_state_get_dark (self->state);
  spec.colorbar = TRUE;
  /* Fitted as the head view is, to the larger of the two maxima: the two
   * maps share one scale, so their colours compare. */
  spec.colorbar_label = _("attention, full 0 to 1 scale");
  if (as_view_state_get_fit_scale (self->state))
    {
      AsAnalysis *both[2] = { analysis_a (self), b_current (self) ? self->b : NULL };
      float top = 0;
      for (int s = 0; s < 2; s++)
        if (both[s] != NULL && layer < both[s]->layers_ready)
          top = MAX (top, as_heatmap_robust_max (as_analysis_head (both[s], layer, head),
                                                 both[s]->n, both[s]->n, both[s]->causal));
      spec.vmax = top > 0 ? top : 1.f;
      spec.colorbar_label = _("attention, fitted to both");
    }
  spec.font_size = 12 * as_view_state_get_zoom (self->state);
  g_autofree char *title = g_strdup_printf (_("%s: layer %d, head %d\n%s"), which, layer + 1, head + 1, x->text_a);
  spec.title = title;
  as_heatmap_render (cr, &spec, w, h, NULL);
}

static void
draw (GtkDrawingArea *area,
      cairo_t        *cr,
      int             width,
      int             height,
      gpointer        data)
{
  AsCompareView *self = data;
  AsAnalysis *a = analysis_a (self);
  if (a == NULL)
    return;
  AsAnalysis *b = b_current (self) ? self->b : NULL;
  double top_h = height * 0.5;
  heatmap (cr, self, a, _("Sentence"), width / 2.0, top_h);
  cairo_save (cr);
  cairo_translate (cr, width / 2.0, 0);
  heatmap (cr, self, b, _("Variant"), width / 2.0, top_h);
  cairo_restore (cr);

  if (self->diff == NULL)
    return;
  /* A token that differs is labelled with both: "tired/wide". */
  g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func (g_free);
  int n = self->diff_n;
  g_autofree const char **labels = g_new0 (const char *, n + 1);
  for (int i = 0; i < n; i++)
    {
      const char *ta = a->encoding->tokens[self->pair_a[i]].text;
      const char *tb = b->encoding->tokens[self->pair_b[i]].text;
      if (g_strcmp0 (ta, tb) == 0)
        labels[i] = ta;
      else
        {
          char *both = g_strdup_printf ("%s/%s", ta, tb);
          g_ptr_array_add (owned, both);
          labels[i] = both;
        }
    }
  AsHeatmapSpec spec;
  as_heatmap_spec_init (&spec);
  spec.values = self->diff;
  spec.rows = spec.cols = self->diff_n;
  spec.row_labels = spec.col_labels = labels;
  spec.dark = as_view_state_get_dark (self->state);
  spec.font_size = 12 * as_view_state_get_zoom (self->state);
  spec.colorbar_label = _("variant − sentence");
  g_autofree char *title = g_strdup_printf (_("Variant − sentence (layer %d, head %d)\nblue: less attention "
                                              "in the variant, red: more"),
                                            as_view_state_get_layer (self->state) + 1,
                                            as_view_state_get_head (self->state) + 1);
  spec.title = title;
  float range = MAX (fabsf (self->diff_min), fabsf (self->diff_max));
  if (!(range > 0))
    range = 1e-6f;   /* identical texts: an all-white map, still with a scale */
  cairo_save (cr);
  cairo_translate (cr, width * 0.15, top_h);
  as_signed_heatmap_render (cr, &spec, range, width * 0.7, height - top_h, NULL);
  cairo_restore (cr);
}

/* ---- requests ------------------------------------------------------------ */

static void
send_request (AsCompareView *self)
{
  AsAnalysis *a = analysis_a (self);
  if (self->worker == NULL || a == NULL || as_worker_get_model_name (self->worker) == NULL)
    return;
  if (!gtk_widget_get_mapped (GTK_WIDGET (self)))
    {
      self->pending = TRUE;
      return;
    }
  self->pending = FALSE;
  self->b_gen = as_worker_analyse_on (self->worker, AS_CHANNEL_COMPARE,
                                      gtk_editable_get_text (GTK_EDITABLE (self->entry)), NULL);
  self->b_failed = FALSE;
  sync_busy (self);
}

static gboolean
debounce_done (gpointer data)
{
  AsCompareView *self = data;
  self->debounce_id = 0;
  send_request (self);
  sync_busy (self);
  return G_SOURCE_REMOVE;
}

static void
on_entry_changed (AsCompareView *self)
{
  g_clear_handle_id (&self->debounce_id, g_source_remove);
  self->debounce_id = g_timeout_add (DEBOUNCE_MS, debounce_done, self);
  update (self);
}

static void
on_analysis_changed (AsCompareView *self)
{
  /* A new model makes B stale; new text in A does not. */
  gboolean waiting = self->b_gen != 0 && (self->b == NULL || self->b->generation != self->b_gen);
  if (analysis_a (self) != NULL && !b_current (self) && self->debounce_id == 0 && !waiting)
    send_request (self);
  update (self);
}

static void
on_b_layer (AsCompareView *self,
            int            channel,
            AsAnalysis    *analysis)
{
  if (analysis->generation != self->b_gen)
    return;
  if (self->b != analysis)
    {
      g_clear_pointer (&self->b, as_analysis_unref);
      self->b = as_analysis_ref (analysis);
    }
  update (self);
}

static void
on_b_failed (AsCompareView *self,
             int            channel,
             guint          generation,
             const GError  *error)
{
  if (generation != self->b_gen)
    return;
  /* An older B would pass for this one. */
  g_clear_pointer (&self->b, as_analysis_unref);
  self->b_failed = TRUE;
  update (self);
  g_free (self->message);
  self->message = g_strdup_printf (_("Could not analyse B: %s"), error->message);
  gtk_label_set_text (self->caption, self->message);
}

/* ---- public ------------------------------------------------------------ */

GtkWidget *
as_compare_view_new (void)
{
  return g_object_new (AS_TYPE_COMPARE_VIEW, NULL);
}

AsViewState *
as_compare_view_get_view_state (AsCompareView *self)
{
  g_return_val_if_fail (AS_IS_COMPARE_VIEW (self), NULL);
  return self->state;
}

void
as_compare_view_set_view_state (AsCompareView *self,
                                AsViewState   *state)
{
  g_return_if_fail (AS_IS_COMPARE_VIEW (self));

  if (self->state == state)
    return;
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_set_object (&self->state, state);
  if (state != NULL)
    {
      g_signal_connect_swapped (state, "notify::analysis", G_CALLBACK (on_analysis_changed), self);
      g_signal_connect_swapped (state, "notify::layer", G_CALLBACK (update), self);
      g_signal_connect_swapped (state, "notify::head", G_CALLBACK (update), self);
      g_signal_connect_swapped (state, "notify::layers-ready", G_CALLBACK (update), self);
      g_signal_connect_swapped (state, "notify::dark", G_CALLBACK (update), self);
      g_signal_connect_swapped (state, "notify::colormap", G_CALLBACK (update), self);
      g_signal_connect_swapped (state, "notify::zoom", G_CALLBACK (update), self);
      g_signal_connect_swapped (state, "notify::fit-scale", G_CALLBACK (update), self);
    }
  on_analysis_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

AsWorker *
as_compare_view_get_worker (AsCompareView *self)
{
  g_return_val_if_fail (AS_IS_COMPARE_VIEW (self), NULL);
  return self->worker;
}

void
as_compare_view_set_worker (AsCompareView *self,
                            AsWorker      *worker)
{
  g_return_if_fail (AS_IS_COMPARE_VIEW (self));

  if (self->worker == worker)
    return;
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  g_set_object (&self->worker, worker);
  /* Generations are the worker's own: what the old one was asked is void. */
  self->b_gen = 0;
  self->b_failed = FALSE;
  g_clear_pointer (&self->b, as_analysis_unref);
  if (worker != NULL)
    {
      g_signal_connect_swapped (worker, "channel-layer-ready::compare", G_CALLBACK (on_b_layer), self);
      g_signal_connect_swapped (worker, "channel-finished::compare", G_CALLBACK (on_b_layer), self);
      g_signal_connect_swapped (worker, "channel-failed::compare", G_CALLBACK (on_b_failed), self);
    }
  on_analysis_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WORKER]);
}

GtkEditable *
as_compare_view_get_entry (AsCompareView *self)
{
  g_return_val_if_fail (AS_IS_COMPARE_VIEW (self), NULL);
  return GTK_EDITABLE (self->entry);
}

AsAnalysis *
as_compare_view_get_analysis (AsCompareView *self)
{
  g_return_val_if_fail (AS_IS_COMPARE_VIEW (self), NULL);
  return b_current (self) ? self->b : NULL;
}

const float *
as_compare_view_get_diff (AsCompareView *self,
                          int           *n)
{
  g_return_val_if_fail (AS_IS_COMPARE_VIEW (self), NULL);
  if (n != NULL)
    *n = self->diff_n;
  return self->diff;
}

int
as_compare_view_get_alignment (AsCompareView  *self,
                               const int     **pair_a,
                               const int     **pair_b)
{
  g_return_val_if_fail (AS_IS_COMPARE_VIEW (self), 0);
  if (pair_a != NULL)
    *pair_a = self->pair_a;
  if (pair_b != NULL)
    *pair_b = self->pair_b;
  return self->diff != NULL ? self->diff_n : 0;
}

const char *
as_compare_view_get_message (AsCompareView *self)
{
  g_return_val_if_fail (AS_IS_COMPARE_VIEW (self), NULL);
  return self->message;
}

/* ---- GObject ------------------------------------------------------------- */

static void
as_compare_view_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      g_value_set_object (value, as_compare_view_get_view_state (AS_COMPARE_VIEW (object)));
      break;
    case PROP_WORKER:
      g_value_set_object (value, as_compare_view_get_worker (AS_COMPARE_VIEW (object)));
      break;
    case PROP_BUSY:
      g_value_set_boolean (value, AS_COMPARE_VIEW (object)->busy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_compare_view_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      as_compare_view_set_view_state (AS_COMPARE_VIEW (object), g_value_get_object (value));
      break;
    case PROP_WORKER:
      as_compare_view_set_worker (AS_COMPARE_VIEW (object), g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_compare_view_map (GtkWidget *widget)
{
  AsCompareView *self = AS_COMPARE_VIEW (widget);
  GTK_WIDGET_CLASS (as_compare_view_parent_class)->map (widget);
  if (self->pending || (self->b == NULL && self->b_gen == 0))
    send_request (self);
}

static void
as_compare_view_dispose (GObject *object)
{
  AsCompareView *self = AS_COMPARE_VIEW (object);
  g_clear_handle_id (&self->debounce_id, g_source_remove);
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_clear_object (&self->worker);
  g_clear_object (&self->state);
  g_clear_pointer (&self->b, as_analysis_unref);
  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_COMPARE_VIEW);
  /* dispose_template unparents bound children only; the entry's row and
   * the hint are not. */
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (as_compare_view_parent_class)->dispose (object);
}

static void
as_compare_view_finalize (GObject *object)
{
  AsCompareView *self = AS_COMPARE_VIEW (object);
  g_free (self->diff);
  g_free (self->pair_a);
  g_free (self->pair_b);
  g_free (self->message);
  G_OBJECT_CLASS (as_compare_view_parent_class)->finalize (object);
}

static void
as_compare_view_class_init (AsCompareViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  object_class->dispose = as_compare_view_dispose;
  object_class->finalize = as_compare_view_finalize;
  object_class->get_property = as_compare_view_get_property;
  object_class->set_property = as_compare_view_set_property;
  widget_class->map = as_compare_view_map;
  /* The one way every view is given its state: this property, or
   * as_compare_view_set_view_state(); and B's analyses come from "worker". */
  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_WORKER] =
    g_param_spec_object ("worker", NULL, NULL, AS_TYPE_WORKER,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* B is on its way; also the accessible busy state. */
  properties[PROP_BUSY] =
    g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "compareview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-compare-view.ui");
  gtk_widget_class_bind_template_child (widget_class, AsCompareView, entry);
  gtk_widget_class_bind_template_child (widget_class, AsCompareView, area);
  gtk_widget_class_bind_template_child (widget_class, AsCompareView, caption);
  gtk_widget_class_bind_template_callback (widget_class, on_entry_changed);
}

static void
as_compare_view_init (AsCompareView *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));
  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 6);

  gtk_widget_init_template (GTK_WIDGET (self));
  /* The default text is no edit: nothing to ask for until there is an A. */
  g_signal_handlers_block_by_func (self->entry, on_entry_changed, self);
  gtk_editable_set_text (GTK_EDITABLE (self->entry), AS_COMPARE_DEFAULT_TEXT);
  g_signal_handlers_unblock_by_func (self->entry, on_entry_changed, self);
  gtk_drawing_area_set_draw_func (self->area, draw, self, NULL);
}
