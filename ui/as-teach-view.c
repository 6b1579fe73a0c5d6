/* as-teach-view.c — one layer of the model, step by step.
 *
 * The walk: how the layer's input is built from embeddings; one head's
 * softmax(Q K^T / sqrt(d) + M) V with every number; then every head
 * together and W_O, the residual and norm, the feed-forward network, the
 * layer's output, and a padding mask beside a causal one.
 *
 * Layout, top to bottom: the formula of the current step (for the
 * attention steps, the attention formula with the step highlighted); the
 * query-token picker and Previous/Next; the causal switch; then, scrolling
 * only when the window is small, the step's title, its plain-language line
 * and its details, and a canvas with the step's numbers, with the causal
 * demonstration (two heatmaps) beside it when it is on. The words (titles,
 * formulas, explanations) are as-teach-text's; this file fills the labels.
 *
 * Data: Q, K, V of the selected layer (QKV channel) and the layer's trace
 * with the padding demonstration (trace channel) are asked of the worker
 * when the text, the layer or the causal switch changes, and only while
 * the view is mapped; head and query changes only recompute the steps
 * here. Replies are matched by generation, so an old reply never shows.
 */
#include "as-teach-view.h"

#include <glib/gi18n.h>
#include <math.h>
#include <stdlib.h>

#include "as-compare-view.h"
#include "as-heatmap-render.h"
#include "as-layer-render.h"
#include "as-position-view.h"
#include "as-teach-text.h"

/* The second sentence of the padding demonstration when the Compare tab
 * still has its own default (as long as the sample, so nothing to pad). */
#define PADDING_DEFAULT_TEXT "The cat sat on the mat."

/* The causal demonstration beside the step, at zoom 1: its two heatmaps
 * one above the other, narrow enough to leave the step most of the room. */
#define PAIR_WIDTH  300
#define PAIR_HEIGHT 470

/* A step taller than the room under its text is drawn smaller so that it
 * fits without scrolling, down to this share of its size (and never below
 * its size without the projector zoom); beyond that it scrolls (hundreds
 * of tokens: the keys' table is long whatever happens). */
#define MIN_FIT 0.5

/* Longer inputs show the keys with the largest weights only: a table of
 * hundreds of rows teaches nothing and makes a huge canvas. */
#define MAX_ROWS   40

/* Coalesces a burst of changes (typing, holding Page Down) into one request. */
#define REQUEST_DELAY_MS 60

struct _AsTeachView
{
  GtkWidget         parent_instance;

  AsViewState      *state;
  AsWorker         *worker;

  GtkLabel         *formula;
  GtkDropDown      *token_dropdown;
  GtkStringList    *token_list;
  GtkButton        *prev_button;
  GtkButton        *next_button;
  GtkLabel         *step_counter;
  GtkCheckButton   *causal_check;
  GtkWidget        *causal_box;
  GtkDrawingArea   *pair_area;
  GtkLabel         *step_title;
  GtkLabel         *step_plain;
  GtkLabel         *step_text;
  GtkDrawingArea   *canvas;
  GtkWidget        *scroller;

  AsTeachStep       step;
  int               query;
  gboolean          causal;
  gboolean          syncing_dropdown;  /* filling the list: ignore its notify */

  guint             request_id;
  gboolean          request_pending;   /* asked while unmapped */
  guint             qkv_gen;           /* the QKV generation we wait for */
  AsQkv            *qkv;
  guint             causal_gen;
  AsAnalysis       *causal_analysis;
  char             *error;

  AsAttentionSteps *steps;
  double            check;             /* max |probs - engine row|, -1 unknown */
  int              *rows;              /* [n_rows] keys shown, in token order */
  int               n_rows;
  /* RoPE: the query's and one key's vectors before their rotation. */
  int               rope_key;
  float            *q_before;          /* [head_dim] */
  float            *k_before;          /* [head_dim] */
  char             *causal_tooltip;    /* the switch's own, while a decoder's replaces it */
  gboolean          busy;

  /* The whole layer (trace channel). */
  guint             trace_gen;
  char             *requested_padding; /* the padding text asked with TRACE_GEN */
  AsWorkerTrace    *trace;
  char             *trace_padding_text;/* the padding text TRACE was computed with */
  char             *trace_error;
  char             *padding_text;      /* property "padding-text" */
  const char      **padding_labels[2]; /* [padding->n] each sequence's, or NULL */
  double            z_check;           /* max |trace z - steps z|, -1 unknown */
  double            attn_check;        /* max |trace attention - the grid's|, -1 unknown */
  double            padding_check;     /* max of as_layer_padding_difference, -1 unknown */
  double            fit;               /* the canvas's scale on top of the zoom, MIN_FIT .. 1 */
};

G_DEFINE_FINAL_TYPE (AsTeachView, as_teach_view, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_VIEW_STATE, PROP_WORKER, PROP_BUSY, PROP_PADDING_TEXT, N_PROPS };
static GParamSpec *properties[N_PROPS];

/* ---- small helpers -------------------------------------------------------- */

static gboolean
dark (AsTeachView *self)
{
  return self->state != NULL && as_view_state_get_dark (self->state);
}

/* Q, K, V on hand belong to the text, layer and mask now selected. */
static gboolean
qkv_current (AsTeachView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  AsQkv *x = self->qkv;
  return a != NULL && x != NULL && x->n == a->n &&
         g_strcmp0 (x->model_name, a->model_name) == 0 &&
         x->layer == as_view_state_get_layer (self->state) &&
         x->causal == self->causal &&
         g_strcmp0 (x->text_a, a->text_a) == 0 && g_strcmp0 (x->text_b, a->text_b) == 0;
}

/* The model masks later tokens itself (a decoder): the steps use its own
 * mask, and the demonstration has nothing to add. */
static gboolean
model_causal (AsTeachView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  return a != NULL && a->causal;
}

static gboolean
causal_current (AsTeachView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  AsAnalysis *c = self->causal_analysis;
  return a != NULL && c != NULL && c->n == a->n &&
         g_strcmp0 (c->model_name, a->model_name) == 0 &&
         g_strcmp0 (c->text_a, a->text_a) == 0 && g_strcmp0 (c->text_b, a->text_b) == 0;
}

/* The second sentence of the padding demonstration: the Compare tab's,
 * once the user has typed one there, else a short default. None for a
 * decoder (it refuses; the step shows its own causal mask). */
static const char *
padding_text (AsTeachView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  const char *t = self->padding_text;
  if (a == NULL || a->causal)
    return NULL;
  if (t == NULL || *t == '\0' || g_str_equal (t, AS_COMPARE_DEFAULT_TEXT) || g_strcmp0 (t, a->text_a) == 0)
    return PADDING_DEFAULT_TEXT;
  return t;
}

/* The layer trace on hand belongs to the text, layer and padding text now
 * selected. */
static gboolean
trace_current (AsTeachView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  AsWorkerTrace *x = self->trace;
  return a != NULL && x != NULL && x->trace != NULL && x->trace->n == a->n &&
         g_strcmp0 (x->model_name, a->model_name) == 0 &&
         x->layer == as_view_state_get_layer (self->state) &&
         g_strcmp0 (x->text_a, a->text_a) == 0 && g_strcmp0 (x->text_b, a->text_b) == 0 &&
         g_strcmp0 (self->trace_padding_text, padding_text (self)) == 0;
}

/* The engine's attention row the softmax must equal: the streamed analysis,
 * or with the causal switch on, the causal channel's. NULL until it is in. */
static const float *
engine_row (AsTeachView *self)
{
  AsAnalysis *a = self->causal ? self->causal_analysis : as_view_state_get_analysis (self->state);
  int layer = as_view_state_get_layer (self->state);
  if (a == NULL || (self->causal && !causal_current (self)) || layer >= a->layers_ready ||
      self->steps == NULL || a->n != self->steps->n)
    return NULL;
  return as_analysis_head (a, layer, as_view_state_get_head (self->state)) +
         (gsize) self->steps->query * a->n;
}

/* Something is on its way: a request waits for its delay, or the steps, the
 * engine row they are checked against or (with the switch on) the causal
 * analysis are not all in, and nothing failed. Never without an analysis. */
static gboolean
compute_busy (AsTeachView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == NULL || self->worker == NULL)
    return FALSE;
  if (self->request_id != 0)
    return TRUE;
  if (self->error != NULL)
    return FALSE;
  AsAnalysis *c = self->causal && causal_current (self) ? self->causal_analysis : NULL;
  gboolean trace_done = trace_current (self) || self->trace_error != NULL;
  return !(self->steps != NULL && self->check >= 0 && trace_done &&
           (!self->causal || (c != NULL && c->layers_ready == c->n_layers)));
}

/* Called wherever what compute_busy reads may have changed. */
static void
sync_busy (AsTeachView *self)
{
  gboolean busy = compute_busy (self);
  if (busy == self->busy)
    return;
  self->busy = busy;
  /* Assistive technologies wait for the numbers to settle. */
  gtk_accessible_update_state (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_STATE_BUSY, busy, -1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

/* ---- the formula and the labels ------------------------------------------ */

/* What the step's words read, borrowed from the view for one call. */
static void
text_input (AsTeachView      *self,
            AsTeachTextInput *in)
{
  AsWorkerTrace *w = self->trace;
  *in = (AsTeachTextInput) {
    .step = self->step,
    .analysis = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL,
    .layer = self->state != NULL ? as_view_state_get_layer (self->state) : 0,
    .head = self->state != NULL ? as_view_state_get_head (self->state) : 0,
    .query = self->query,
    .causal = self->causal,
    .dark = dark (self),
    .steps = self->steps,
    .error = self->error,
    .n_heads = self->qkv != NULL ? self->qkv->n_heads : 0,
    .n_kv_heads = self->qkv != NULL ? self->qkv->n_kv_heads : 0,
    .n_rows = self->n_rows,
    .rope = self->q_before != NULL,
    .rope_key = self->rope_key,
    .trace = w != NULL ? w->trace : NULL,
    .trace_current = trace_current (self),
    .trace_error = self->trace_error,
    .padding = w != NULL ? w->padding : NULL,
    .padding_error = w != NULL ? w->padding_error : NULL,
    .padding_text = self->trace_padding_text,
  };
}

static void
update_labels (AsTeachView *self)
{
  AsTeachTextInput in;
  text_input (self, &in);
  g_autofree char *formula = as_teach_text_formula (&in);
  gtk_label_set_markup (self->formula, formula);
  g_autofree char *counter = g_strdup_printf (_("Step %d of %d"), self->step + 1, AS_N_TEACH_STEPS);
  gtk_label_set_text (self->step_counter, counter);
  gtk_widget_set_sensitive (GTK_WIDGET (self->prev_button), self->step > 0);
  gtk_widget_set_sensitive (GTK_WIDGET (self->next_button), self->step < AS_N_TEACH_STEPS - 1);

  g_autofree char *title = as_teach_text_title (&in);
  gtk_label_set_text (self->step_title, title);
  gtk_label_set_text (self->step_plain, as_teach_text_plain (&in));
  g_autofree char *text = as_teach_text_details (&in);
  gtk_label_set_text (self->step_text, text);
}

/* ---- recomputation ------------------------------------------------------- */

static int
compare_weight_desc (gconstpointer a,
                     gconstpointer b,
                     gpointer      data)
{
  const double *p = data;
  double x = p[*(const int *) a], y = p[*(const int *) b];
  return (x < y) - (x > y);
}

static int
compare_int (gconstpointer a,
             gconstpointer b)
{
  return *(const int *) a - *(const int *) b;
}

/* All keys, or for long inputs the MAX_ROWS with the largest weights (the
 * query itself always among them), back in token order. */
static void
choose_rows (AsTeachView *self)
{
  g_clear_pointer (&self->rows, g_free);
  self->n_rows = 0;
  const AsAttentionSteps *st = self->steps;
  if (st == NULL)
    return;
  self->rows = g_new (int, st->n);   /* [n] */
  for (int j = 0; j < st->n; j++)
    self->rows[j] = j;
  if (st->n <= MAX_ROWS)
    {
      self->n_rows = st->n;
      return;
    }
  g_qsort_with_data (self->rows, st->n, sizeof (int), compare_weight_desc, st->probs);
  self->n_rows = MAX_ROWS;
  gboolean has_query = FALSE;
  for (int r = 0; r < MAX_ROWS; r++)
    has_query |= self->rows[r] == st->query;
  if (!has_query)
    self->rows[MAX_ROWS - 1] = st->query;
  qsort (self->rows, MAX_ROWS, sizeof (int), compare_int);
}

/* The key whose rotation is shown beside the query's: the highlighted
 * token when the query may see it, else the other key it weighs most. */
static int
choose_rope_key (AsTeachView *self)
{
  const AsAttentionSteps *st = self->steps;
  int token = self->state != NULL ? as_view_state_get_token (self->state) : -1;
  if (token >= 0 && token < st->n && !st->masked[token] && token != st->query)
    return token;
  /* Another token than the query where there is one: a key at the
   * query's own place is turned by the same angles, and shows nothing. */
  int best = st->query;
  for (int j = 0; j < st->n; j++)
    if (j != st->query && !st->masked[j] && (best == st->query || st->probs[j] > st->probs[best]))
      best = j;
  return best;
}

/* For a model with RoPE (the engine's Q and K are rotated), q and one k
 * turned back to before the rotation. */
static void
update_rope (AsTeachView *self)
{
  g_clear_pointer (&self->q_before, g_free);
  g_clear_pointer (&self->k_before, g_free);
  const AsAttentionSteps *st = self->steps;
  if (st == NULL || self->qkv == NULL || !(self->qkv->rope_theta > 0))
    return;
  int d = st->head_dim;
  self->rope_key = choose_rope_key (self);
  self->q_before = g_new (float, d);   /* [d] */
  self->k_before = g_new (float, d);   /* [d] */
  as_rope_unrotate (st->q, d, st->query, self->qkv->rope_theta, self->q_before);
  as_rope_unrotate (st->k + (gsize) self->rope_key * d, d, self->rope_key, self->qkv->rope_theta,
                    self->k_before);
}

static void
frame_rope (AsTeachView  *self,
            AsTeachFrame *f)
{
  if (self->q_before == NULL)
    return;
  f->rope_theta = self->qkv->rope_theta;
  f->q_before = self->q_before;
  f->k_before = self->k_before;
  f->rope_key = self->rope_key;
}

/* The labels of the padded batch's two sequences, [padding->n] each (NULL
 * past a sequence's real tokens). */
static void
update_padding_labels (AsTeachView *self)
{
  for (int s = 0; s < 2; s++)
    g_clear_pointer (&self->padding_labels[s], g_free);
  const AsPaddingDemo *p = self->trace != NULL ? self->trace->padding : NULL;
  if (p == NULL || self->trace->encoding == NULL)
    return;
  for (int s = 0; s < 2; s++)
    {
      self->padding_labels[s] = g_new0 (const char *, p->n + 1);   /* [n] */
      for (int j = 0; j < p->n_seq[s] && j < p->n; j++)
        {
          if (s == 0 && j < self->trace->encoding->n_tokens)
            self->padding_labels[s][j] = self->trace->encoding->tokens[j].text;
          else if (s == 1 && self->trace->padding_tokens != NULL)
            self->padding_labels[s][j] = self->trace->padding_tokens[j];
        }
    }
}

/* The numbers the layer steps check: the trace's z of the selected head
 * against the steps' weighted sum (not with the causal demonstration: the
 * trace is the real model), its attention against the grid's, and the
 * padded batch against each sentence alone. */
static void
update_checks (AsTeachView *self)
{
  self->z_check = self->attn_check = self->padding_check = -1;
  if (!trace_current (self))
    return;
  const AsLayerTrace *t = self->trace->trace;
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  int head = as_view_state_get_head (self->state), layer = as_view_state_get_layer (self->state);
  const AsAttentionSteps *st = self->steps;
  if (st != NULL && !self->causal && st->n == t->n && st->head_dim == t->head_dim && head < t->n_heads)
    {
      const float *z = t->context + (gsize) st->query * t->n_heads * t->head_dim + head * t->head_dim;
      self->z_check = 0;
      for (int c = 0; c < t->head_dim; c++)
        self->z_check = MAX (self->z_check, fabs (z[c] - st->output[c]));
    }
  if (layer < a->layers_ready && a->n_heads == t->n_heads)
    {
      const float *grid = as_analysis_head (a, layer, 0);   /* [n_heads, n, n] */
      gsize size = (gsize) t->n_heads * t->n * t->n;
      self->attn_check = 0;
      for (gsize x = 0; x < size; x++)
        self->attn_check = MAX (self->attn_check, fabs (t->attn[x] - grid[x]));
    }
  const AsPaddingDemo *p = self->trace->padding;
  if (p != NULL && head < p->n_heads)
    self->padding_check = MAX (as_layer_padding_difference (p, 0, head),
                               as_layer_padding_difference (p, 1, head));
}

/* The frame of a step past the attention, on the trace shown. FALSE
 * while there is none. */
static gboolean
layer_frame (AsTeachView  *self,
             AsLayerFrame *f)
{
  if (!trace_current (self))
    return FALSE;
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  const AsLayerTrace *t = self->trace->trace;
  int layer = as_view_state_get_layer (self->state);
  *f = (AsLayerFrame) {
    .step = self->step,
    .trace = t,
    .token = CLAMP (self->query, 0, t->n - 1),
    .head = CLAMP (as_view_state_get_head (self->state), 0, t->n_heads - 1),
    .z_check = self->z_check,
    .attn_check = self->attn_check,
    .heads_attn = layer < a->layers_ready ? as_analysis_head (a, layer, 0) : NULL,
    .colormap = as_view_state_get_colormap (self->state),
    .dark = dark (self),
    .model_causal = a->causal,
    .padding = self->trace->padding,
    .padding_tokens = { self->padding_labels[0], self->padding_labels[1] },
    .padding_note = self->trace->padding_error,
  };
  return TRUE;
}

/* The height the step's picture needs at WIDTH (both in picture units),
 * or 0 while there is nothing to draw. */
static double
natural_height (AsTeachView *self,
                double       width)
{
  if (as_teach_step_is_attention (self->step))
    {
      AsTeachFrame f = { .step = self->step, .steps = self->steps, .n_rows = self->n_rows };
      frame_rope (self, &f);
      return self->steps != NULL ? as_teach_render_height (&f) : 0;
    }
  AsLayerFrame f;
  return layer_frame (self, &f) ? as_layer_render_height (&f, width) : 0;
}

/* The room the scroller leaves the canvas under the step's labels, in
 * pixels; negative before the view is laid out. */
static double
canvas_room (AsTeachView *self)
{
  int room = gtk_widget_get_height (self->scroller), width = gtk_widget_get_width (GTK_WIDGET (self->canvas));
  if (room <= 0 || width <= 0)
    return -1;
  GtkWidget *labels[] = { GTK_WIDGET (self->step_title), GTK_WIDGET (self->step_plain),
                          GTK_WIDGET (self->step_text) };
  for (guint i = 0; i < G_N_ELEMENTS (labels); i++)
    {
      int min, nat;
      gtk_widget_measure (labels[i], GTK_ORIENTATION_VERTICAL, width, &min, &nat, NULL, NULL);
      room -= nat + 4;   /* the column's spacing */
    }
  return room - 4;
}

/* The canvas is as tall as the step needs at the projector zoom (the
 * picture scales as a whole), made smaller to fit the room under the
 * text; the scroller does the rest. */
static void
update_canvas_height (AsTeachView *self)
{
  double zoom = self->state != NULL ? as_view_state_get_zoom (self->state) : 1.0;
  int width = gtk_widget_get_width (GTK_WIDGET (self->canvas));
  if (width <= 0)
    width = 900;
  double natural = natural_height (self, width / zoom), room = canvas_room (self);
  /* Zoomed in for a projector, the picture is never drawn smaller than
   * without the zoom: the class scrolls instead. */
  double min_fit = zoom > 1 ? MIN (1, MAX (MIN_FIT, 1 / zoom)) : MIN_FIT;
  self->fit = 1;
  if (room > 0 && natural * zoom > room)
    {
      self->fit = MAX (min_fit, room / (natural * zoom));
      if (!as_teach_step_is_attention (self->step))
        {
          /* Drawn smaller, a layer picture is wider in its own units and
           * its wrapped text takes fewer lines: the largest scale that
           * fits, by bisection (the drawn height grows with the scale). */
          double lo = min_fit, hi = 1;
          for (int k = 0; k < 7; k++)
            {
              double mid = (lo + hi) / 2;
              if (natural_height (self, width / (zoom * mid)) * zoom * mid <= room)
                lo = mid;
              else
                hi = mid;
            }
          self->fit = lo;
        }
      natural = natural_height (self, width / (zoom * self->fit));
    }
  int height = natural > 0 ? (int) ceil (natural * zoom * self->fit) : 120;
  if (gtk_drawing_area_get_content_height (self->canvas) != height)
    gtk_drawing_area_set_content_height (self->canvas, height);
}

static void
on_canvas_resize (GtkDrawingArea *area,
                  int             width,
                  int             height,
                  AsTeachView    *self)
{
  /* The layer pictures wrap their text: their height follows the width. */
  update_canvas_height (self);
}

/* The scroller's height changed (the window, the toolbar's wrapping). */
static void
on_room_changed (AsTeachView *self)
{
  update_canvas_height (self);
  gtk_widget_queue_draw (GTK_WIDGET (self->canvas));
}

static void
recompute (AsTeachView *self)
{
  g_clear_pointer (&self->steps, as_attention_steps_free);
  self->check = -1;
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a != NULL && qkv_current (self))
    {
      int query = CLAMP (self->query, 0, a->n - 1);
      g_autoptr(GError) error = NULL;
      AsQkv *x = self->qkv;
      self->steps = as_attention_steps_compute (x->q, x->k, x->v, x->n, x->hidden, x->n_heads,
                                                as_view_state_get_head (self->state), query,
                                                self->causal || model_causal (self), &error);
      if (self->steps == NULL)
        {
          g_free (self->error);
          self->error = g_strdup (error->message);
        }
      const float *row = engine_row (self);
      if (self->steps != NULL && row != NULL)
        {
          self->check = 0;
          for (int j = 0; j < self->steps->n; j++)
            self->check = MAX (self->check, fabs (self->steps->probs[j] - row[j]));
        }
    }
  choose_rows (self);
  update_rope (self);
  update_checks (self);
  update_labels (self);
  update_canvas_height (self);

  /* The demonstration beside the step grows with the projector zoom. */
  double zoom = self->state != NULL ? as_view_state_get_zoom (self->state) : 1.0;
  gtk_drawing_area_set_content_width (self->pair_area, (int) (PAIR_WIDTH * zoom));
  gtk_drawing_area_set_content_height (self->pair_area, (int) (PAIR_HEIGHT * zoom));
  gtk_widget_queue_draw (GTK_WIDGET (self->canvas));
  gtk_widget_queue_draw (GTK_WIDGET (self->pair_area));
  sync_busy (self);
}

static void send_requests (AsTeachView *self);

static gboolean
request_timeout (gpointer data)
{
  AsTeachView *self = data;
  self->request_id = 0;
  send_requests (self);
  sync_busy (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_request (AsTeachView *self)
{
  g_clear_handle_id (&self->request_id, g_source_remove);
  self->request_id = g_timeout_add (REQUEST_DELAY_MS, request_timeout, self);
}

static void
send_requests (AsTeachView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (self->worker == NULL || a == NULL)
    return;
  /* Hidden behind another page: ask when shown, not on every keystroke. */
  if (!gtk_widget_get_mapped (GTK_WIDGET (self)))
    {
      self->request_pending = TRUE;
      return;
    }
  self->request_pending = FALSE;
  g_clear_pointer (&self->error, g_free);
  if (!qkv_current (self))
    self->qkv_gen = as_worker_request_qkv (self->worker, a->text_a, a->text_b,
                                           as_view_state_get_layer (self->state), self->causal);
  if (self->causal && !causal_current (self))
    self->causal_gen = as_worker_analyse_on (self->worker, AS_CHANNEL_CAUSAL, a->text_a, a->text_b);
  if (!trace_current (self))
    {
      g_clear_pointer (&self->trace_error, g_free);
      g_free (self->requested_padding);
      self->requested_padding = g_strdup (padding_text (self));
      self->trace_gen = as_worker_request_layer_trace (self->worker, a->text_a, a->text_b,
                                                       as_view_state_get_layer (self->state),
                                                       self->requested_padding);
    }
  recompute (self);
}

/* ---- worker replies ------------------------------------------------------- */

static void
on_qkv_ready (AsTeachView *self,
              AsQkv       *qkv)
{
  if (qkv->generation != self->qkv_gen)
    return;
  g_clear_pointer (&self->qkv, as_qkv_unref);
  self->qkv = as_qkv_ref (qkv);
  recompute (self);
}

static void
on_trace_ready (AsTeachView   *self,
                AsWorkerTrace *trace)
{
  if (trace->generation != self->trace_gen)
    return;
  g_clear_pointer (&self->trace, as_worker_trace_unref);
  self->trace = as_worker_trace_ref (trace);
  g_free (self->trace_padding_text);
  self->trace_padding_text = g_strdup (self->requested_padding);
  update_padding_labels (self);
  recompute (self);
}

static void
on_causal_layer (AsTeachView *self,
                 int          channel,
                 AsAnalysis  *analysis)
{
  if (analysis->generation != self->causal_gen)
    return;
  if (self->causal_analysis != analysis)
    {
      g_clear_pointer (&self->causal_analysis, as_analysis_unref);
      self->causal_analysis = as_analysis_ref (analysis);
    }
  recompute (self);
}

static void
on_channel_failed (AsTeachView  *self,
                   int           channel,
                   guint         generation,
                   const GError *error)
{
  if ((channel == AS_CHANNEL_QKV && generation == self->qkv_gen) ||
      (channel == AS_CHANNEL_CAUSAL && generation == self->causal_gen))
    {
      g_free (self->error);
      self->error = g_strdup (error->message);
      update_labels (self);
      sync_busy (self);
    }
  if (channel == AS_CHANNEL_TRACE && generation == self->trace_gen)
    {
      g_free (self->trace_error);
      self->trace_error = g_strdup (error->message);
      recompute (self);
    }
}

/* ---- the view state ------------------------------------------------------- */

static void
sync_token_list (AsTeachView *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  int n = a != NULL ? a->n : 0;
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < n; i++)
    g_ptr_array_add (items, g_strdup_printf ("%d · %s", i + 1, a->encoding->tokens[i].text));
  g_ptr_array_add (items, NULL);

  self->syncing_dropdown = TRUE;
  guint old = g_list_model_get_n_items (G_LIST_MODEL (self->token_list));
  gtk_string_list_splice (self->token_list, 0, old, (const char * const *) items->pdata);
  if (n > 0)
    {
      self->query = CLAMP (self->query, 0, n - 1);
      gtk_drop_down_set_selected (self->token_dropdown, self->query);
    }
  self->syncing_dropdown = FALSE;
}

static void
on_analysis_changed (AsTeachView *self)
{
  /* A decoder always runs with its causal mask: the steps show that one,
   * and the demonstration of it on a bidirectional model is off. */
  gboolean own_mask = model_causal (self);
  if (own_mask && self->causal)
    as_teach_view_set_causal (self, FALSE);
  gtk_widget_set_sensitive (GTK_WIDGET (self->causal_check), !own_mask);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->causal_check),
                               own_mask ? _("This model is a decoder: it always masks the tokens after the query, "
                                          "and the steps show its own mask") : self->causal_tooltip);
  sync_token_list (self);
  schedule_request (self);
  recompute (self);
}

static void
on_layer_changed (AsTeachView *self)
{
  schedule_request (self);
  recompute (self);
}

static void
on_token_changed (AsTeachView *self)
{
  int token = as_view_state_get_token (self->state);
  if (token >= 0 && token != self->query)
    as_teach_view_set_query (self, token);
}

static void
on_dropdown_selected (AsTeachView *self)
{
  if (self->syncing_dropdown)
    return;
  guint sel = gtk_drop_down_get_selected (self->token_dropdown);
  if (sel != GTK_INVALID_LIST_POSITION)
    {
      as_teach_view_set_query (self, (int) sel);
      /* The other views highlight the same token. */
      if (self->state != NULL)
        as_view_state_set_token (self->state, (int) sel);
    }
}

static void
on_causal_toggled (AsTeachView *self)
{
  as_teach_view_set_causal (self, gtk_check_button_get_active (self->causal_check));
}

/* ---- drawing ---------------------------------------------------------------- */

static void
draw_canvas (GtkDrawingArea *area,
             cairo_t        *cr,
             int             width,
             int             height,
             gpointer        data)
{
  AsTeachView *self = data;
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == NULL)
    return;
  if (!as_teach_step_is_attention (self->step))
    {
      AsLayerFrame lf;
      if (!layer_frame (self, &lf))
        return;
      g_autofree const char **labels = g_new0 (const char *, a->n + 1);
      for (int i = 0; i < a->n; i++)
        labels[i] = a->encoding->tokens[i].text;
      lf.tokens = labels;
      double scale = as_view_state_get_zoom (self->state) * self->fit;
      cairo_scale (cr, scale, scale);
      as_layer_render (cr, &lf, width / scale);
      return;
    }
  if (self->steps == NULL || a->n != self->steps->n)
    return;
  g_autofree const char **tokens = g_new0 (const char *, a->n + 1);
  for (int i = 0; i < a->n; i++)
    tokens[i] = a->encoding->tokens[i].text;
  AsTeachFrame f = {
    .step = self->step,
    .steps = self->steps,
    .rows = self->rows,
    .n_rows = self->n_rows,
    .tokens = tokens,
    .engine_row = engine_row (self),
    .check = self->check,
    .colormap = as_view_state_get_colormap (self->state),
    .dark = dark (self),
  };
  frame_rope (self, &f);
  double scale = as_view_state_get_zoom (self->state) * self->fit;
  cairo_scale (cr, scale, scale);
  as_teach_render (cr, &f, width / scale);
}

/* The real pattern and the causal one, side by side. */
static void
draw_pair (GtkDrawingArea *area,
           cairo_t        *cr,
           int             width,
           int             height,
           gpointer        data)
{
  AsTeachView *self = data;
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == NULL)
    return;
  int layer = as_view_state_get_layer (self->state), head = as_view_state_get_head (self->state);
  g_autofree const char **labels = g_new0 (const char *, a->n + 1);
  for (int i = 0; i < a->n; i++)
    labels[i] = a->encoding->tokens[i].text;

  for (int side = 0; side < 2; side++)
    {
      AsAnalysis *src = side == 0 ? a : (causal_current (self) ? self->causal_analysis : NULL);
      cairo_save (cr);
      /* Beside the step the area is tall: one above the other. */
      gboolean stacked = height > width;
      double pw = stacked ? width : width / 2.0, ph = stacked ? height / 2.0 : height;
      cairo_translate (cr, stacked ? 0 : side * pw, stacked ? side * ph : 0);
      if (src == NULL || layer >= src->layers_ready)
        {
          PangoLayout *l = gtk_widget_create_pango_layout (GTK_WIDGET (area), _("Computing…"));
          cairo_set_source_rgba (cr, 0.5, 0.5, 0.5, 1);
          cairo_move_to (cr, 20, ph / 2.0);
          pango_cairo_show_layout (cr, l);
          g_object_unref (l);
          cairo_restore (cr);
          continue;
        }
      AsHeatmapSpec spec;
      as_heatmap_spec_init (&spec);
      spec.values = as_analysis_head (src, layer, head);
      spec.rows = spec.cols = src->n;
      spec.row_labels = labels;
      spec.col_labels = labels;
      spec.colormap = as_view_state_get_colormap (self->state);
      spec.dark = dark (self);
      spec.colorbar = TRUE;   /* on both, so the two have the same cell size */
      spec.font_size = 12 * as_view_state_get_zoom (self->state);
      spec.highlight_row = self->steps != NULL ? self->steps->query : -1;
      g_autofree char *title = g_strdup_printf (side == 0 ? _("Real: bidirectional\nlayer %d, head %d")
                                                          : _("Causal mask (demonstration)\nlayer %d, head %d"),
                                                layer + 1, head + 1);
      spec.title = title;
      as_heatmap_render (cr, &spec, pw, ph, NULL);
      cairo_restore (cr);
    }
}

/* ---- actions ---------------------------------------------------------------- */

static void
step_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  AsTeachView *self = AS_TEACH_VIEW (widget);
  int delta = g_str_equal (action_name, "teach.next") ? 1 : -1;
  as_teach_view_set_step (self, CLAMP ((int) self->step + delta, 0, AS_N_TEACH_STEPS - 1));
}

static void
positions_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  as_teach_view_show_positions (AS_TEACH_VIEW (widget));
}

/* ---- GObject ---------------------------------------------------------------- */

static void
as_teach_view_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      g_value_set_object (value, as_teach_view_get_view_state (AS_TEACH_VIEW (object)));
      break;
    case PROP_WORKER:
      g_value_set_object (value, as_teach_view_get_worker (AS_TEACH_VIEW (object)));
      break;
    case PROP_BUSY:
      g_value_set_boolean (value, AS_TEACH_VIEW (object)->busy);
      break;
    case PROP_PADDING_TEXT:
      g_value_set_string (value, AS_TEACH_VIEW (object)->padding_text);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_teach_view_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      as_teach_view_set_view_state (AS_TEACH_VIEW (object), g_value_get_object (value));
      break;
    case PROP_WORKER:
      as_teach_view_set_worker (AS_TEACH_VIEW (object), g_value_get_object (value));
      break;
    case PROP_PADDING_TEXT:
      as_teach_view_set_padding_text (AS_TEACH_VIEW (object), g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_teach_view_map (GtkWidget *widget)
{
  AsTeachView *self = AS_TEACH_VIEW (widget);
  GTK_WIDGET_CLASS (as_teach_view_parent_class)->map (widget);
  if (self->request_pending)
    send_requests (self);
}

static void
as_teach_view_dispose (GObject *object)
{
  AsTeachView *self = AS_TEACH_VIEW (object);

  g_clear_handle_id (&self->request_id, g_source_remove);
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_clear_object (&self->worker);
  g_clear_object (&self->state);
  g_clear_pointer (&self->qkv, as_qkv_unref);
  g_clear_pointer (&self->causal_analysis, as_analysis_unref);
  g_clear_pointer (&self->steps, as_attention_steps_free);
  g_clear_pointer (&self->rows, g_free);
  g_clear_pointer (&self->q_before, g_free);
  g_clear_pointer (&self->k_before, g_free);
  g_clear_pointer (&self->causal_tooltip, g_free);
  g_clear_pointer (&self->error, g_free);
  g_clear_pointer (&self->trace, as_worker_trace_unref);
  g_clear_pointer (&self->requested_padding, g_free);
  g_clear_pointer (&self->trace_padding_text, g_free);
  g_clear_pointer (&self->trace_error, g_free);
  g_clear_pointer (&self->padding_text, g_free);
  for (int s = 0; s < 2; s++)
    g_clear_pointer (&self->padding_labels[s], g_free);

  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_TEACH_VIEW);
  /* dispose_template unparents bound children only; the toolbar is not. */
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);

  G_OBJECT_CLASS (as_teach_view_parent_class)->dispose (object);
}

static void
on_pressed (GtkGestureClick *click,
            int              n_press,
            double           x,
            double           y,
            AsTeachView     *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self));
}

static void
as_teach_view_class_init (AsTeachViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = as_teach_view_dispose;
  object_class->get_property = as_teach_view_get_property;
  object_class->set_property = as_teach_view_set_property;
  widget_class->map = as_teach_view_map;
  /* The one way every view is given its state: this property, or
   * as_teach_view_set_view_state(); Q, K and V come from "worker". */
  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_WORKER] =
    g_param_spec_object ("worker", NULL, NULL, AS_TYPE_WORKER,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* Q, K, V or the causal analysis are on their way; also the accessible
   * busy state. */
  properties[PROP_BUSY] =
    g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* The second sentence of the padding demonstration (the window binds
   * the Compare tab's entry to it). */
  properties[PROP_PADDING_TEXT] =
    g_param_spec_string ("padding-text", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "teachview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-teach-view.ui");
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, formula);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, token_dropdown);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, token_list);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, prev_button);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, next_button);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, step_counter);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, causal_check);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, causal_box);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, pair_area);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, step_title);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, step_plain);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, step_text);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, canvas);
  gtk_widget_class_bind_template_child (widget_class, AsTeachView, scroller);
  gtk_widget_class_bind_template_callback (widget_class, on_dropdown_selected);
  gtk_widget_class_bind_template_callback (widget_class, on_causal_toggled);
  gtk_widget_class_bind_template_callback (widget_class, on_pressed);
  gtk_widget_class_bind_template_callback (widget_class, on_canvas_resize);

  gtk_widget_class_install_action (widget_class, "teach.next", NULL, step_action);
  gtk_widget_class_install_action (widget_class, "teach.previous", NULL, step_action);
  gtk_widget_class_install_action (widget_class, "teach.positions", NULL, positions_action);
  /* Anywhere inside the view (not while typing in the sentence entry). */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Right, 0, "teach.next", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, 0, "teach.next", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Left, 0, "teach.previous", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_p, 0, "teach.previous", NULL);
}

static void
as_teach_view_init (AsTeachView *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  gtk_orientable_set_orientation (GTK_ORIENTABLE (gtk_widget_get_layout_manager (widget)),
                                  GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (gtk_widget_get_layout_manager (widget)), 6);
  self->check = -1;
  self->z_check = self->attn_check = self->padding_check = -1;
  self->fit = 1;
  self->query = 1;

  gtk_widget_init_template (widget);
  self->causal_tooltip = g_strdup (gtk_widget_get_tooltip_text (GTK_WIDGET (self->causal_check)));
  gtk_drawing_area_set_draw_func (self->pair_area, draw_pair, self, NULL);
  gtk_drawing_area_set_draw_func (self->canvas, draw_canvas, self, NULL);
  g_signal_connect_swapped (gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (self->scroller)),
                            "notify::page-size", G_CALLBACK (on_room_changed), self);
  update_labels (self);
}

/* ---- public --------------------------------------------------------------- */

const char *
as_teach_view_get_step_text (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), NULL);
  return gtk_label_get_text (self->step_text);
}

gboolean
as_teach_view_get_rope (AsTeachView  *self,
                        int          *key,
                        const float **q_before,
                        const float **k_before)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), FALSE);
  if (self->q_before == NULL)
    return FALSE;
  *key = self->rope_key;
  *q_before = self->q_before;
  *k_before = self->k_before;
  return TRUE;
}

GtkWidget *
as_teach_view_new (void)
{
  return g_object_new (AS_TYPE_TEACH_VIEW, NULL);
}

AsViewState *
as_teach_view_get_view_state (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), NULL);
  return self->state;
}

void
as_teach_view_set_view_state (AsTeachView *self,
                              AsViewState *state)
{
  g_return_if_fail (AS_IS_TEACH_VIEW (self));

  if (self->state == state)
    return;
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_set_object (&self->state, state);
  if (state != NULL)
    {
      g_signal_connect_swapped (state, "notify::analysis", G_CALLBACK (on_analysis_changed), self);
      g_signal_connect_swapped (state, "notify::layer", G_CALLBACK (on_layer_changed), self);
      g_signal_connect_swapped (state, "notify::head", G_CALLBACK (recompute), self);
      g_signal_connect_swapped (state, "notify::token", G_CALLBACK (on_token_changed), self);
      g_signal_connect_swapped (state, "notify::layers-ready", G_CALLBACK (recompute), self);
      g_signal_connect_swapped (state, "notify::dark", G_CALLBACK (recompute), self);
      g_signal_connect_swapped (state, "notify::zoom", G_CALLBACK (recompute), self);
      g_signal_connect_swapped (state, "notify::colormap", G_CALLBACK (recompute), self);
    }
  on_analysis_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

AsWorker *
as_teach_view_get_worker (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), NULL);
  return self->worker;
}

void
as_teach_view_set_worker (AsTeachView *self,
                          AsWorker    *worker)
{
  g_return_if_fail (AS_IS_TEACH_VIEW (self));

  if (self->worker == worker)
    return;
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  g_set_object (&self->worker, worker);
  /* Generations are the worker's own: replies to the old one never come. */
  self->qkv_gen = 0;
  self->causal_gen = 0;
  self->trace_gen = 0;
  if (worker != NULL)
    {
      g_signal_connect_swapped (worker, "qkv-ready", G_CALLBACK (on_qkv_ready), self);
      g_signal_connect_swapped (worker, "layer-trace-ready", G_CALLBACK (on_trace_ready), self);
      g_signal_connect_swapped (worker, "channel-layer-ready::causal", G_CALLBACK (on_causal_layer), self);
      g_signal_connect_swapped (worker, "channel-finished::causal", G_CALLBACK (on_causal_layer), self);
      g_signal_connect_swapped (worker, "channel-failed", G_CALLBACK (on_channel_failed), self);
    }
  schedule_request (self);
  sync_busy (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WORKER]);
}

AsTeachStep
as_teach_view_get_step (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), 0);
  return self->step;
}

void
as_teach_view_set_step (AsTeachView *self,
                        AsTeachStep  step)
{
  g_return_if_fail (AS_IS_TEACH_VIEW (self));
  g_return_if_fail (step < AS_N_TEACH_STEPS);
  if (step == self->step)
    return;
  self->step = step;
  recompute (self);
  /* Start each step at its top. */
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (self->scroller));
  gtk_adjustment_set_value (adj, 0);
}

int
as_teach_view_get_query (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), -1);
  return self->query;
}

void
as_teach_view_set_query (AsTeachView *self,
                         int          token)
{
  g_return_if_fail (AS_IS_TEACH_VIEW (self));
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a != NULL)
    token = CLAMP (token, 0, a->n - 1);
  self->query = MAX (token, 0);
  self->syncing_dropdown = TRUE;
  if ((guint) self->query < g_list_model_get_n_items (G_LIST_MODEL (self->token_list)))
    gtk_drop_down_set_selected (self->token_dropdown, self->query);
  self->syncing_dropdown = FALSE;
  recompute (self);
}

gboolean
as_teach_view_get_causal (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), FALSE);
  return self->causal;
}

void
as_teach_view_set_causal (AsTeachView *self,
                          gboolean     causal)
{
  g_return_if_fail (AS_IS_TEACH_VIEW (self));
  causal = !!causal;
  if (gtk_check_button_get_active (self->causal_check) != causal)
    gtk_check_button_set_active (self->causal_check, causal);   /* comes back here */
  if (causal == self->causal)
    return;
  self->causal = causal;
  gtk_widget_set_visible (self->causal_box, causal);
  send_requests (self);
  recompute (self);
}

const AsAttentionSteps *
as_teach_view_get_steps (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), NULL);
  return self->steps;
}

double
as_teach_view_get_check (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), -1);
  return self->check;
}

AsAnalysis *
as_teach_view_get_causal_analysis (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), NULL);
  return self->causal && causal_current (self) ? self->causal_analysis : NULL;
}

GtkWindow *
as_teach_view_show_positions (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), NULL);
  if (self->worker == NULL)
    return NULL;
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWindow *win = as_position_window_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                           self->worker, dark (self));
  gtk_window_present (win);
  return win;
}

const char *
as_teach_view_get_step_plain (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), NULL);
  return gtk_label_get_text (self->step_plain);
}

const char *
as_teach_view_get_counter_text (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), NULL);
  return gtk_label_get_text (self->step_counter);
}

const char *
as_teach_view_get_formula_text (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), NULL);
  return gtk_label_get_text (self->formula);
}

AsWorkerTrace *
as_teach_view_get_trace (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), NULL);
  return trace_current (self) ? self->trace : NULL;
}

double
as_teach_view_get_layer_check (AsTeachView      *self,
                               AsTeachLayerCheck which)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), -1);
  switch (which)
    {
    case AS_TEACH_CHECK_Z:       return self->z_check;
    case AS_TEACH_CHECK_ATTN:    return self->attn_check;
    case AS_TEACH_CHECK_PADDING: return self->padding_check;
    default:                     g_return_val_if_reached (-1);
    }
}

const char *
as_teach_view_get_padding_text (AsTeachView *self)
{
  g_return_val_if_fail (AS_IS_TEACH_VIEW (self), NULL);
  return self->padding_text;
}

void
as_teach_view_set_padding_text (AsTeachView *self,
                                const char  *text)
{
  g_return_if_fail (AS_IS_TEACH_VIEW (self));
  if (g_strcmp0 (self->padding_text, text) == 0)
    return;
  g_free (self->padding_text);
  self->padding_text = g_strdup (text);
  schedule_request (self);
  recompute (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PADDING_TEXT]);
}
