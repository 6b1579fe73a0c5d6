/* test-gui-teach.c — the teaching, causal, position and compare views under
 * Xvfb (tests/run-under-xvfb.sh).
 *
 * The real window on the default model. What the views compute is checked
 * against the engine called directly on the same text: the step-by-step
 * softmax against the attention row, the raw scores and the output against
 * Q, K, V from the backend, the causal demonstration against a causal
 * forward pass, the difference map against two engine runs. With
 * AS_SHOT_DIR set, screenshots of each view are written there.
 */
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "as-application.h"
#include "as-attention.h"
#include "as-backend.h"
#include "as-compare-view.h"
#include "as-elementwise.h"
#include "as-model.h"
#include "as-position-view.h"
#include "as-teach-math.h"
#include "as-teach-view.h"
#include "as-window.h"
#include "gui-test-util.h"

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;

/* ---- helpers ------------------------------------------------------------ */

static gboolean
window_idle (gpointer data)
{
  return as_window_is_idle (window);
}

static AsTeachView *
teach_view (void)
{
  GtkStack *stack = as_window_get_detail_stack (window);
  GtkWidget *page = gtk_stack_get_child_by_name (stack, "teach");
  return AS_TEACH_VIEW (gtk_widget_get_first_child (page));
}

static AsCompareView *
compare_view (void)
{
  GtkStack *stack = as_window_get_detail_stack (window);
  GtkWidget *page = gtk_stack_get_child_by_name (stack, "compare");
  return AS_COMPARE_VIEW (gtk_widget_get_first_child (page));
}

static gboolean
is_busy (gpointer view)
{
  gboolean busy = TRUE;
  g_object_get (view, "busy", &busy, NULL);
  return busy;
}

/* The teach view has its steps checked against the engine row, and the
 * causal analysis when the switch is on: nothing on its way. */
static gboolean
teach_ready (gpointer data)
{
  AsTeachView *tv = teach_view ();
  AsAnalysis *c = as_teach_view_get_causal_analysis (tv);
  return as_window_is_idle (window) && !is_busy (tv) && as_teach_view_get_steps (tv) != NULL &&
         as_teach_view_get_check (tv) >= 0 && as_teach_view_get_trace (tv) != NULL &&
         (!as_teach_view_get_causal (tv) || (c != NULL && c->layers_ready == c->n_layers));
}

/* The compare view has B, complete, for the text in its entry. */
static gboolean
compare_ready (gpointer data)
{
  AsCompareView *cv = compare_view ();
  return as_window_is_idle (window) && !is_busy (cv) && as_compare_view_get_analysis (cv) != NULL;
}

static void
token_arrays (AsAnalysis *ref,
              int        **ids,
              int        **types)
{
  *ids = g_new (int, ref->n);
  *types = g_new (int, ref->n);
  for (int i = 0; i < ref->n; i++)
    {
      (*ids)[i] = ref->encoding->tokens[i].id;
      (*types)[i] = ref->encoding->tokens[i].type_id;
    }
}

typedef struct {
  float *attn;   /* [n_layers, n_heads, n, n] */
  gsize  per_layer;
} Keep;

static gboolean
keep_layer (int          layer,
            const float *attn,
            const float *hidden,
            gpointer     user_data)
{
  Keep *k = user_data;
  memcpy (k->attn + layer * k->per_layer, attn, k->per_layer * sizeof (float));
  return TRUE;
}

static void
save_shot (const char *name)
{
  const char *dir = g_getenv ("AS_SHOT_DIR");
  if (dir == NULL)
    return;
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  gui_test_capture_screen (dir, name);
}

/* The view's steps against the engine, for the current selection. */
static void
check_steps (const char *text)
{
  AsViewState *state = as_window_get_view_state (window);
  AsTeachView *tv = teach_view ();
  const AsAttentionSteps *st = as_teach_view_get_steps (tv);
  g_assert_nonnull (st);
  int layer = as_view_state_get_layer (state), head = as_view_state_get_head (state);
  int query = as_teach_view_get_query (tv);
  g_assert_cmpint (st->query, ==, query);

  g_autoptr(GError) error = NULL;
  AsAnalysis *ref = as_attention_compute (backend, text, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (st->n, ==, ref->n);

  /* Q, K, V from the backend directly: the raw scores, the scaling and the
   * weighted sum, recomputed here from them. */
  const AsConfig *c = model->config;
  int n = ref->n, H = c->hidden, d = H / c->n_heads;
  g_autofree int *ids = NULL, *types = NULL;
  token_arrays (ref, &ids, &types);
  g_autofree float *q = g_new (float, (gsize) n * H);   /* [n, hidden] */
  g_autofree float *k = g_new (float, (gsize) n * H);   /* [n, hidden] */
  g_autofree float *v = g_new (float, (gsize) n * H);   /* [n, hidden] */
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
  g_assert_true (as_backend_layer_qkv (backend, &req, layer, q, k, v, &error));
  g_assert_cmpint (st->head_dim, ==, d);
  g_assert_cmpfloat_with_epsilon (st->scale, 1 / sqrt (d), 1e-12);

  const float *row = as_analysis_head (ref, layer, head) + (gsize) query * n;
  double worst_p = 0, worst_s = 0, worst_z = 0;
  for (int j = 0; j < n; j++)
    {
      double dot = 0;
      for (int x = 0; x < d; x++)
        dot += (double) q[(gsize) query * H + head * d + x] * k[(gsize) j * H + head * d + x];
      worst_s = MAX (worst_s, fabs (st->scores[j] - dot));
      g_assert_cmpfloat_with_epsilon (st->scaled[j], st->scores[j] / sqrt (d), 1e-9);
      g_assert_false (st->masked[j]);
      worst_p = MAX (worst_p, fabs (st->probs[j] - row[j]));
    }
  for (int x = 0; x < d; x++)
    {
      double z = 0;
      for (int j = 0; j < n; j++)
        z += row[j] * (double) v[(gsize) j * H + head * d + x];
      worst_z = MAX (worst_z, fabs (st->output[x] - z));
    }
  g_test_message ("layer %d head %d query %d: |softmax - engine row| %.2g, |score - q.k| %.2g, "
                  "|output - sum p v| %.2g; the view's own check %.2g",
                  layer, head, query, worst_p, worst_s, worst_z, as_teach_view_get_check (tv));
  g_assert_cmpfloat (worst_p, <, 1e-5);
  g_assert_cmpfloat (worst_s, <, 1e-3);
  g_assert_cmpfloat (worst_z, <, 1e-4);
  g_assert_cmpfloat (as_teach_view_get_check (tv), >=, 0);
  g_assert_cmpfloat (as_teach_view_get_check (tv), <, 1e-5);
  as_analysis_unref (ref);
}

/* ---- tests -------------------------------------------------------------- */

static void
test_steps (void)
{
  if (!gui_test_have_model (model))
    return;
  gui_test_wait_until (window_idle, NULL, 120);
  AsViewState *state = as_window_get_view_state (window);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "teach");
  AsTeachView *tv = teach_view ();

  /* "it" (token 10 of the sample) in layer 2, head 5. */
  as_view_state_select (state, 2, 5);
  as_view_state_set_token (state, 10);
  gui_test_wait_until (teach_ready, NULL, 60);
  g_assert_cmpint (as_teach_view_get_query (tv), ==, 10);
  check_steps (AS_SAMPLE_SENTENCE);

  /* Next / Previous walk every step, from the embeddings to the masks,
   * and stop at the ends. */
  g_assert_cmpint (as_teach_view_get_step (tv), ==, AS_TEACH_STEP_EMBED);
  for (int i = 0; i < AS_N_TEACH_STEPS + 2; i++)
    gtk_widget_activate_action (GTK_WIDGET (tv), "teach.next", NULL);
  g_assert_cmpint (as_teach_view_get_step (tv), ==, AS_TEACH_STEP_PADDING);
  gtk_widget_activate_action (GTK_WIDGET (tv), "teach.previous", NULL);
  g_assert_cmpint (as_teach_view_get_step (tv), ==, AS_TEACH_STEP_LAYER_OUT);
  for (int i = 0; i < AS_N_TEACH_STEPS + 2; i++)
    gtk_widget_activate_action (GTK_WIDGET (tv), "teach.previous", NULL);
  g_assert_cmpint (as_teach_view_get_step (tv), ==, AS_TEACH_STEP_EMBED);
  as_teach_view_set_step (tv, AS_TEACH_STEP_QUERY);

  /* Another head: the same Q, K, V, new steps. Another layer: new Q, K, V. */
  as_view_state_select (state, 2, 9);
  gui_test_wait_until (teach_ready, NULL, 60);
  check_steps (AS_SAMPLE_SENTENCE);
  as_view_state_select (state, 5, 0);
  as_teach_view_set_query (tv, 4);
  gui_test_wait_until (teach_ready, NULL, 60);
  g_assert_cmpint (as_teach_view_get_steps (tv)->query, ==, 4);
  check_steps (AS_SAMPLE_SENTENCE);

  /* New text: the steps follow it. */
  as_window_set_text (window, "Attention is all you need.", NULL);
  gui_test_wait_until (teach_ready, NULL, 60);
  check_steps ("Attention is all you need.");
  /* Long (truncated to 512 tokens) and empty inputs: still the engine's
   * numbers, and no crash. */
  GString *long_text = g_string_new (NULL);
  while (long_text->len < 3000)
    g_string_append (long_text, "The animal didn't cross the street because it was too tired. ");
  as_window_set_text (window, long_text->str, NULL);
  gui_test_wait_until (teach_ready, NULL, 120);
  as_teach_view_set_query (tv, 300);
  g_assert_cmpint (as_teach_view_get_steps (tv)->n, ==, model->config->max_positions);
  g_assert_cmpint (as_teach_view_get_steps (tv)->query, ==, 300);
  check_steps (long_text->str);
  as_teach_view_set_step (tv, AS_TEACH_STEP_SOFTMAX);
  save_shot ("teach-long-softmax.png");
  as_teach_view_set_step (tv, AS_TEACH_STEP_QUERY);
  g_string_free (long_text, TRUE);
  as_window_set_text (window, "", NULL);
  gui_test_wait_until (teach_ready, NULL, 60);
  g_assert_cmpint (as_teach_view_get_steps (tv)->n, ==, 2);
  check_steps ("");

  as_window_set_text (window, AS_SAMPLE_SENTENCE, NULL);
  gui_test_wait_until (teach_ready, NULL, 60);
}

/* Real key presses through the X server, when xdotool is around: the
 * view's Left/Right and N/P bindings. */
static gboolean
press_key (const char *key)
{
  /* Returns once the X server has delivered the key events and the window
   * has handled them. */
  return gui_test_send_keys (GTK_WINDOW (window), key);
}

static gboolean
widget_mapped (gpointer w)
{
  return gtk_widget_get_mapped (w);
}

static void
test_keyboard (void)
{
  if (!gui_test_have_model (model))
    return;
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "teach");
  AsTeachView *tv = teach_view ();
  as_teach_view_set_step (tv, AS_TEACH_STEP_QUERY);
  gui_test_wait_for (widget_mapped, tv, 10000, "the teach view to be shown");
  gtk_widget_grab_focus (GTK_WIDGET (tv));
  if (!press_key ("Right"))
    {
      g_test_skip ("xdotool cannot send keys here");
      return;
    }
  g_assert_cmpint (as_teach_view_get_step (tv), ==, AS_TEACH_STEP_KEYS);
  press_key ("n");
  g_assert_cmpint (as_teach_view_get_step (tv), ==, AS_TEACH_STEP_SCORES);
  press_key ("p");
  press_key ("Left");
  g_assert_cmpint (as_teach_view_get_step (tv), ==, AS_TEACH_STEP_QUERY);
  /* Typing in the sentence entry is typing, not stepping. */
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  press_key ("Right");
  g_assert_cmpint (as_teach_view_get_step (tv), ==, AS_TEACH_STEP_QUERY);
}

static void
test_causal (void)
{
  if (!gui_test_have_model (model))
    return;
  AsViewState *state = as_window_get_view_state (window);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "teach");
  AsTeachView *tv = teach_view ();
  as_view_state_select (state, 3, 2);
  as_teach_view_set_query (tv, 6);
  as_teach_view_set_causal (tv, TRUE);
  gui_test_wait_until (teach_ready, NULL, 60);

  AsAnalysis *c = as_teach_view_get_causal_analysis (tv);
  g_assert_nonnull (c);
  g_assert_true (c->causal);
  AsAnalysis *a = as_view_state_get_analysis (state);
  g_assert_false (a->causal);
  g_assert_cmpint (c->n, ==, a->n);

  /* Lower-triangular, rows summing to 1, in every layer and head. */
  for (int m = 0; m < c->n_layers * c->n_heads; m++)
    for (int i = 0; i < c->n; i++)
      {
        const float *row = c->attn + ((gsize) m * c->n + i) * c->n;
        double sum = 0;
        for (int j = 0; j < c->n; j++)
          {
            if (j > i)
              g_assert_cmpfloat (row[j], ==, 0);
            sum += row[j];
          }
        g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
      }

  /* The same as a causal forward pass called directly; the main analysis
   * is still the bidirectional one. */
  AsAnalysis *ref = as_attention_compute (backend, AS_SAMPLE_SENTENCE, NULL, NULL);
  g_autofree int *ids = NULL, *types = NULL;
  token_arrays (ref, &ids, &types);
  gsize per_layer = (gsize) c->n_heads * c->n * c->n;
  Keep keep = { g_new (float, per_layer * c->n_layers), per_layer };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = ref->n, .causal_mask = TRUE,
                           .on_layer = keep_layer, .user_data = &keep };
  g_assert_true (as_backend_forward (backend, &req, NULL, NULL));
  double dc = 0, dm = 0, change = 0;
  for (gsize i = 0; i < per_layer * c->n_layers; i++)
    {
      dc = MAX (dc, fabs (keep.attn[i] - c->attn[i]));
      dm = MAX (dm, fabs (ref->attn[i] - a->attn[i]));
      change = MAX (change, fabs (c->attn[i] - a->attn[i]));
    }
  g_test_message ("causal demo vs direct causal forward: %.2g; main vs engine: %.2g; largest change "
                  "the mask makes: %.2f", dc, dm, change);
  g_assert_cmpfloat (dc, <, 1e-5);
  g_assert_cmpfloat (dm, <, 1e-5);
  g_assert_cmpfloat (change, >, 0.1);

  /* The steps use the mask: keys after the query get nothing, and the
   * softmax equals the causal row. */
  const AsAttentionSteps *st = as_teach_view_get_steps (tv);
  g_assert_nonnull (st);
  g_assert_true (st->causal);
  const float *row = as_analysis_head (c, 3, 2) + (gsize) st->query * c->n;
  for (int j = 0; j < st->n; j++)
    {
      g_assert_true (st->masked[j] == (j > st->query));
      if (j > st->query)
        g_assert_cmpfloat (st->probs[j], ==, 0);
      g_assert_cmpfloat (fabs (st->probs[j] - row[j]), <, 1e-5);
    }
  g_assert_cmpfloat (as_teach_view_get_check (tv), <, 1e-5);
  g_free (keep.attn);
  as_analysis_unref (ref);
}

static void
test_compare (void)
{
  if (!gui_test_have_model (model))
    return;
  AsViewState *state = as_window_get_view_state (window);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "compare");
  AsCompareView *cv = compare_view ();
  as_view_state_select (state, 4, 3);
  g_assert_cmpstr (gtk_editable_get_text (as_compare_view_get_entry (cv)), ==, AS_COMPARE_DEFAULT_TEXT);
  gui_test_wait_until (compare_ready, NULL, 60);

  int n = 0;
  const float *diff = as_compare_view_get_diff (cv, &n);
  g_assert_nonnull (diff);
  AsAnalysis *ra = as_attention_compute (backend, AS_SAMPLE_SENTENCE, NULL, NULL);
  AsAnalysis *rb = as_attention_compute (backend, AS_COMPARE_DEFAULT_TEXT, NULL, NULL);
  g_assert_cmpint (ra->n, ==, rb->n);
  g_assert_cmpint (n, ==, ra->n);
  const float *ma = as_analysis_head (ra, 4, 3), *mb = as_analysis_head (rb, 4, 3);
  double worst = 0, largest = 0;
  for (int i = 0; i < n * n; i++)
    {
      worst = MAX (worst, fabs (diff[i] - (mb[i] - ma[i])));
      largest = MAX (largest, fabs (mb[i] - ma[i]));
    }
  g_test_message ("diff map vs B - A of two engine runs: %.2g (largest |B - A| %.3f)", worst, largest);
  g_assert_cmpfloat (worst, <, 1e-5);
  g_assert_cmpfloat (largest, >, 0);
  g_assert_nonnull (strstr (as_compare_view_get_message (cv), "“tired” → “wide”"));

  /* A different length: a map over the tokens the two share (checked in
   * test-gui-present), and the caption names what has no counterpart. */
  gtk_editable_set_text (as_compare_view_get_entry (cv), "It was too wide.");
  gui_test_wait_until (compare_ready, NULL, 60);
  g_assert_nonnull (as_compare_view_get_diff (cv, &n));
  g_assert_cmpint (n, <, ra->n);
  g_assert_nonnull (strstr (as_compare_view_get_message (cv), "Only in the sentence"));
  g_assert_cmpint (as_compare_view_get_analysis (cv)->n, !=, ra->n);

  /* Typing in B never touched the main analysis. */
  AsAnalysis *a = as_view_state_get_analysis (state);
  g_assert_cmpstr (a->text_a, ==, AS_SAMPLE_SENTENCE);
  g_assert_true (as_window_is_idle (window));
  gtk_editable_set_text (as_compare_view_get_entry (cv), AS_COMPARE_DEFAULT_TEXT);
  gui_test_wait_until (compare_ready, NULL, 60);
  as_analysis_unref (ra);
  as_analysis_unref (rb);
}

static void
test_positions (void)
{
  if (!gui_test_have_model (model))
    return;
  GtkWindow *win = as_teach_view_show_positions (teach_view ());
  g_assert_nonnull (win);
  gui_test_wait_for (widget_mapped, win, 10000, "the positions window to be shown");
  gui_test_wait_frames (GTK_WIDGET (win), 1);
  AsPositionView *pv = (AsPositionView *) gui_test_find_widget (GTK_WIDGET (win), AS_TYPE_POSITION_VIEW, NULL);
  g_assert_true (AS_IS_POSITION_VIEW (pv));
  as_position_view_set_n_shown (pv, 48);
  int rows, cols;
  const float *learned = as_position_view_get_matrix (pv, FALSE, FALSE, &rows, &cols);
  g_assert_cmpint (rows, ==, 48);
  g_assert_cmpint (cols, ==, model->config->hidden);
  int table_rows, table_cols;
  const float *table = as_model_get_position_table (model, &table_rows, &table_cols);
  g_assert_cmpint (memcmp (learned, table, sizeof (float) * rows * cols), ==, 0);
  const float *sin_m = as_position_view_get_matrix (pv, TRUE, FALSE, &rows, &cols);
  int d = cols;
  for (int pos = 0; pos < rows; pos += 5)
    for (int i = 0; i < d / 2; i += 17)
      {
        double w = pow (10000.0, -2.0 * i / d);
        g_assert_cmpfloat_with_epsilon (sin_m[pos * d + 2 * i], sin (pos * w), 1e-5);
        g_assert_cmpfloat_with_epsilon (sin_m[pos * d + 2 * i + 1], cos (pos * w), 1e-5);
      }
  const float *sim = as_position_view_get_matrix (pv, FALSE, TRUE, &rows, &cols);
  g_assert_cmpint (cols, ==, 48);
  for (int i = 0; i < rows; i++)
    g_assert_cmpfloat_with_epsilon (sim[i * rows + i], 1.0, 1e-5);
  as_position_view_set_n_shown (pv, 64);
  save_shot ("teach-positions.png");
  gtk_window_destroy (win);
}

static void
test_screenshots (void)
{
  if (!gui_test_have_model (model) )
    return;
  if (g_getenv ("AS_SHOT_DIR") == NULL)
    {
      g_test_skip ("AS_SHOT_DIR not set");
      return;
    }
  AsViewState *state = as_window_get_view_state (window);
  AsTeachView *tv = teach_view ();
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "teach");
  as_teach_view_set_causal (tv, FALSE);
  as_view_state_select (state, 2, 5);
  as_view_state_set_token (state, 10);
  gui_test_wait_until (teach_ready, NULL, 60);
  as_teach_view_set_step (tv, AS_TEACH_STEP_KEYS);
  save_shot ("teach-step3-keys.png");
  as_teach_view_set_step (tv, AS_TEACH_STEP_SCALE);
  save_shot ("teach-step5-scale.png");
  as_teach_view_set_step (tv, AS_TEACH_STEP_SOFTMAX);
  save_shot ("teach-step7-softmax.png");
  as_teach_view_set_step (tv, AS_TEACH_STEP_OUTPUT);
  save_shot ("teach-step8-output.png");
  as_teach_view_set_step (tv, AS_TEACH_STEP_QUERY);
  save_shot ("teach-step2-query.png");
  AdwStyleManager *sm = adw_style_manager_get_default ();
  adw_style_manager_set_color_scheme (sm, ADW_COLOR_SCHEME_FORCE_DARK);
  as_teach_view_set_step (tv, AS_TEACH_STEP_SCORES);
  save_shot ("teach-dark-scores.png");
  adw_style_manager_set_color_scheme (sm, ADW_COLOR_SCHEME_DEFAULT);

  as_teach_view_set_causal (tv, TRUE);
  as_teach_view_set_step (tv, AS_TEACH_STEP_MASK);
  gui_test_wait_until (teach_ready, NULL, 60);
  save_shot ("teach-causal.png");
  as_teach_view_set_causal (tv, FALSE);

  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "compare");
  gui_test_wait_until (compare_ready, NULL, 60);
  save_shot ("compare.png");
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "head");
}

/* ---- the whole layer ------------------------------------------------------ */

typedef struct {
  int    layer;
  int    n;
  int    hidden;
  float *out;     /* [n, hidden] the layer's output as the fast backend gives it */
  float *attn;    /* [n_heads, n, n] its attention */
  gsize  per_layer;
} KeepLayer;

static gboolean
keep_one_layer (int          layer,
                const float *attn,
                const float *hidden,
                gpointer     user_data)
{
  KeepLayer *k = user_data;
  if (layer == k->layer)
    {
      memcpy (k->out, hidden, sizeof (float) * (gsize) k->n * k->hidden);
      memcpy (k->attn, attn, sizeof (float) * k->per_layer);
    }
  return TRUE;
}

static double
max_diff (const float *a,
          const float *b,
          gsize        n)
{
  double worst = 0;
  for (gsize i = 0; i < n; i++)
    worst = MAX (worst, fabs ((double) a[i] - b[i]));
  return worst;
}

/* The next step, as a user gets there: the Right key when xdotool can
 * send it, else the view's action. */
static void
next_step (AsTeachView *tv,
           gboolean     keys)
{
  AsTeachStep before = as_teach_view_get_step (tv);
  if (keys)
    press_key ("Right");
  else
    gtk_widget_activate_action (GTK_WIDGET (tv), "teach.next", NULL);
  g_assert_cmpint (as_teach_view_get_step (tv), ==, before + 1);
  gui_test_wait_frames (GTK_WIDGET (tv), 1);
}

static gboolean
compare_entry_is (gpointer text)
{
  AsTeachView *tv = teach_view ();
  return g_strcmp0 (as_teach_view_get_padding_text (tv), text) == 0 && teach_ready (NULL);
}

/* Every step from the embeddings to the masks on MiniLM, walked with the
 * keys; what each shows checked against the engine called directly (the
 * fast backend's attention and hidden state, Q K V), against the
 * published definitions (GELU, residual sums), and across steps (the z of
 * the selected head in the concatenation is the weighted-sum step's). */
static void
test_layer (void)
{
  if (!gui_test_have_model (model))
    return;
  AsViewState *state = as_window_get_view_state (window);
  as_window_set_text (window, AS_SAMPLE_SENTENCE, NULL);
  gui_test_wait_until (window_idle, NULL, 120);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "teach");
  AsTeachView *tv = teach_view ();
  gui_test_wait_for (widget_mapped, tv, 10000, "the teach view to be shown");
  const int layer = 2, head = 5, query = 10;
  as_view_state_select (state, layer, head);
  as_view_state_set_token (state, query);
  as_teach_view_set_causal (tv, FALSE);
  as_teach_view_set_step (tv, AS_TEACH_STEP_EMBED);
  gui_test_wait_until (teach_ready, NULL, 120);
  gtk_widget_grab_focus (GTK_WIDGET (tv));
  gboolean keys = gui_test_have_xdotool ();

  AsWorkerTrace *wt = as_teach_view_get_trace (tv);
  g_assert_nonnull (wt);
  const AsLayerTrace *t = wt->trace;
  AsAnalysis *a = as_view_state_get_analysis (state);
  const int n = a->n, H = model->config->hidden, nh = model->config->n_heads, d = H / nh;
  const gsize nH = (gsize) n * H;
  g_assert_cmpint (n, ==, 16);
  g_assert_cmpint (t->n, ==, n);
  g_assert_cmpint (t->layer, ==, layer);
  g_assert_cmpint (t->hidden, ==, H);
  g_assert_cmpint (t->n_heads, ==, nh);
  g_assert_false (t->pre_norm);

  /* The fast backend on the same tokens: the layer's attention and output. */
  g_autofree int *ids = NULL, *types = NULL;
  token_arrays (a, &ids, &types);
  KeepLayer keep = { layer, n, H, g_new (float, nH), g_new (float, (gsize) nh * n * n),
                     (gsize) nh * n * n };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .want_hidden = TRUE,
                           .on_layer = keep_one_layer, .user_data = &keep };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (backend, &req, NULL, &error));
  g_assert_no_error (error);

  for (int step = AS_TEACH_STEP_EMBED; step < AS_N_TEACH_STEPS; step++)
    {
      if (step > AS_TEACH_STEP_EMBED)
        next_step (tv, keys);
      g_assert_cmpint (as_teach_view_get_step (tv), ==, step);
      g_autofree char *counter = g_strdup_printf ("Step %d of %d", step + 1, AS_N_TEACH_STEPS);
      g_assert_cmpstr (as_teach_view_get_counter_text (tv), ==, counter);
      /* A plain line for a student, and the details under it. */
      g_assert_cmpuint (strlen (as_teach_view_get_step_plain (tv)), >, 40);
      g_assert_cmpuint (strlen (as_teach_view_get_step_text (tv)), >, 40);
      g_assert_null (strstr (as_teach_view_get_step_text (tv), "Computing"));
      g_assert_null (strstr (as_teach_view_get_step_text (tv), "Could not"));
      /* The formula line is the step's own past the attention. */
      static const char *formula_part[AS_N_TEACH_STEPS] = {
        [AS_TEACH_STEP_EMBED] = "LayerNorm(Etoken + Eposition + Esegment)",
        [AS_TEACH_STEP_SOFTMAX] = "softmax(",
        [AS_TEACH_STEP_HEADS] = "Concat(z1, …, z12) WO",
        [AS_TEACH_STEP_RESIDUAL] = "h = LayerNorm(x + MultiHead(x))",
        [AS_TEACH_STEP_FFN] = "GELU(h W1 + b1) W2 + b2",
        [AS_TEACH_STEP_LAYER_OUT] = "output = LayerNorm(h + FFN(h))",
        [AS_TEACH_STEP_PADDING] = "[PAD]",
      };
      if (formula_part[step] != NULL)
        g_assert_nonnull (strstr (as_teach_view_get_formula_text (tv), formula_part[step]));
      g_autofree char *shot = g_strdup_printf ("teach-layer-step%d.png", step + 1);
      save_shot (shot);
    }
  g_assert_cmpint (as_teach_view_get_step (tv), ==, AS_TEACH_STEP_PADDING);

  /* Step 1: token + position + segment = the sum (the definition). */
  g_assert_nonnull (t->position_embed);
  g_assert_nonnull (t->type_embed);
  double sum_err = 0;
  for (gsize x = 0; x < nH; x++)
    sum_err = MAX (sum_err, fabs (t->token_embed[x] + t->position_embed[x] + t->type_embed[x] - t->embed_sum[x]));
  g_assert_cmpfloat (sum_err, <, 1e-5);

  /* Step 9: the selected head's z in the concatenation is the weighted-sum
   * step's output, which test_steps checks against Q K V; the layer's
   * attention is the fast backend's. */
  const AsAttentionSteps *st = as_teach_view_get_steps (tv);
  g_assert_cmpint (st->query, ==, query);
  double z_err = 0;
  for (int c = 0; c < d; c++)
    z_err = MAX (z_err, fabs (t->context[(gsize) query * nh * d + head * d + c] - st->output[c]));
  double attn_err = max_diff (t->attn, keep.attn, keep.per_layer);
  g_test_message ("z of head %d vs the weighted-sum step: %.2g (the view says %.2g); attention vs the "
                  "backend: %.2g (the view says %.2g)", head, z_err,
                  as_teach_view_get_layer_check (tv, AS_TEACH_CHECK_Z), attn_err,
                  as_teach_view_get_layer_check (tv, AS_TEACH_CHECK_ATTN));
  g_assert_cmpfloat (z_err, <, 1e-5);
  g_assert_cmpfloat (attn_err, <, 1e-5);
  g_assert_cmpfloat (as_teach_view_get_layer_check (tv, AS_TEACH_CHECK_Z), >=, 0);
  g_assert_cmpfloat (as_teach_view_get_layer_check (tv, AS_TEACH_CHECK_Z), <, 1e-5);
  g_assert_cmpfloat (as_teach_view_get_layer_check (tv, AS_TEACH_CHECK_ATTN), >=, 0);
  g_assert_cmpfloat (as_teach_view_get_layer_check (tv, AS_TEACH_CHECK_ATTN), <, 1e-5);

  /* Steps 10 and 12: the residual sums; step 11: GELU(x) = x Phi(x). */
  double r_err = 0, gelu_err = 0;
  for (gsize x = 0; x < nH; x++)
    {
      r_err = MAX (r_err, fabs (t->x_in[x] + t->attn_out[x] - t->resid1[x]));
      r_err = MAX (r_err, fabs (t->h1[x] + t->ffn_out[x] - t->resid2[x]));
    }
  for (gsize x = 0; x < (gsize) n * t->intermediate; x++)
    {
      double v = t->ffn_pre[x];
      gelu_err = MAX (gelu_err, fabs (t->ffn_act[x] - 0.5 * v * (1 + erf (v / sqrt (2)))));
    }
  g_assert_cmpfloat (r_err, <, 1e-5);
  g_assert_cmpfloat (gelu_err, <, 1e-5);

  /* Step 12: the layer's output is the fast backend's hidden state. */
  double out_err = max_diff (t->out, keep.out, nH), largest = 0;
  for (gsize x = 0; x < nH; x++)
    largest = MAX (largest, fabs (keep.out[x]));
  g_test_message ("layer %d output vs the backend's hidden state: %.2g (largest |value| %.2f)",
                  layer, out_err, largest);
  g_assert_cmpfloat (out_err, <, 1e-3 * MAX (1, largest));

  /* Step 13: the sentence batched with a short default one (the Compare
   * tab still has its own default); the padded sentence attends as alone,
   * and alone is what the engine computes for it. */
  const AsPaddingDemo *p = wt->padding;
  g_assert_nonnull (p);
  g_assert_null (wt->padding_error);
  g_assert_cmpint (p->n, ==, n);
  g_assert_cmpint (p->n_seq[0], ==, n);
  g_assert_cmpint (p->n_seq[1], <, n);
  for (int j = 0; j < n; j++)
    g_assert_true (p->key_mask[1][j] == (j < p->n_seq[1] ? 0 : -INFINITY));
  double pad_check = as_teach_view_get_layer_check (tv, AS_TEACH_CHECK_PADDING);
  g_test_message ("padded batch vs each sentence alone, head %d: %.2g", head, pad_check);
  g_assert_cmpfloat (pad_check, >=, 0);
  g_assert_cmpfloat (pad_check, <, 1e-5);
  g_assert_cmpfloat (max_diff (p->attn[0], keep.attn, keep.per_layer), <, 1e-5);
  AsAnalysis *alone = as_attention_compute (backend, "The cat sat on the mat.", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (alone->n, ==, p->n_seq[1]);
  g_assert_cmpfloat (max_diff (p->attn_alone[1], as_analysis_head (alone, layer, 0),
                               (gsize) nh * alone->n * alone->n), <, 1e-5);
  as_analysis_unref (alone);

  /* Another sentence typed in the Compare tab becomes the second one. */
  AsCompareView *cv = compare_view ();
  gtk_editable_set_text (as_compare_view_get_entry (cv), "It was too wide.");
  gui_test_wait_until (compare_entry_is, (gpointer) "It was too wide.", 120);
  wt = as_teach_view_get_trace (tv);
  g_assert_nonnull (wt->padding);
  g_assert_cmpint (wt->padding->n_seq[1], ==, 7);   /* [CLS] it was too wide . [SEP] */
  g_assert_cmpfloat (as_teach_view_get_layer_check (tv, AS_TEACH_CHECK_PADDING), <, 1e-5);
  g_assert_nonnull (strstr (as_teach_view_get_step_text (tv), "It was too wide."));
  gtk_editable_set_text (as_compare_view_get_entry (cv), AS_COMPARE_DEFAULT_TEXT);
  gui_test_wait_until (compare_entry_is, (gpointer) AS_COMPARE_DEFAULT_TEXT, 120);

  /* The causal demonstration beside the step keeps the step on screen. */
  as_teach_view_set_step (tv, AS_TEACH_STEP_SOFTMAX);
  as_teach_view_set_causal (tv, TRUE);
  gui_test_wait_until (teach_ready, NULL, 120);
  save_shot ("teach-layer-causal-softmax.png");
  /* The trace is the real model: the z check waits for the switch off. */
  g_assert_cmpfloat (as_teach_view_get_layer_check (tv, AS_TEACH_CHECK_Z), <, 0);
  as_teach_view_set_causal (tv, FALSE);
  gui_test_wait_until (teach_ready, NULL, 120);
  as_teach_view_set_step (tv, AS_TEACH_STEP_QUERY);

  g_free (keep.out);
  g_free (keep.attn);
}

/* Step by Step on a decoder (SmolLM2: RoPE, 9 query heads sharing 3
 * key/value heads): the mask step is the model's own causal mask, the
 * weights are the model's attention row, k comes from the shared key/value
 * head after RoPE, and turned forward again the view's "before" vectors
 * are the engine's rotated q and k. */
static gboolean
decoder_loaded (gpointer path)
{
  AsWorker *w = as_window_get_worker (window);
  return !as_worker_is_loading (w) && g_strcmp0 (as_worker_get_model_dir (w), path) == 0 &&
         as_window_is_idle (window);
}

static void
test_decoder (void)
{
  g_autofree char *path = as_model_default_decoder_path ();
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip_printf ("the SmolLM2 GGUF is not downloaded (%s; run tools/setup)", path);
      return;
    }
  const char *text = "The cat sat on the mat because it was warm";
  g_autoptr(GError) error = NULL;
  AsModel *dec = as_model_load (path, &error);
  g_assert_no_error (error);
  AsBackend *dec_backend = as_cpu_backend_new (dec);

  as_window_open_model (window, path);
  gui_test_wait_until (decoder_loaded, path, 180);
  as_window_set_text (window, text, NULL);
  gui_test_wait_until (window_idle, NULL, 180);
  AsViewState *state = as_window_get_view_state (window);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "teach");
  AsTeachView *tv = teach_view ();
  const int layer = 3, head = 4, query = 6;
  as_view_state_select (state, layer, head);
  as_teach_view_set_query (tv, query);
  gui_test_wait_until (teach_ready, NULL, 180);
  g_assert_false (gtk_widget_get_sensitive (GTK_WIDGET (gui_test_find_widget (GTK_WIDGET (tv), GTK_TYPE_CHECK_BUTTON, NULL))));
  g_assert_false (as_teach_view_get_causal (tv));

  const AsAttentionSteps *st = as_teach_view_get_steps (tv);
  AsAnalysis *a = as_view_state_get_analysis (state);
  const AsConfig *c = dec->config;
  const int n = a->n, H = c->hidden, d = c->head_dim, group = c->n_heads / c->n_kv_heads;
  g_assert_cmpint (st->n, ==, n);
  g_assert_cmpint (st->query, ==, query);
  g_autofree int *ids = NULL, *types = NULL;
  token_arrays (a, &ids, &types);
  g_autofree float *q = g_new (float, (gsize) n * H);   /* [n, hidden] */
  g_autofree float *k = g_new (float, (gsize) n * H);   /* [n, hidden] */
  g_autofree float *v = g_new (float, (gsize) n * H);   /* [n, hidden] */
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
  g_assert_true (as_backend_layer_qkv (dec_backend, &req, layer, q, k, v, &error));
  g_assert_no_error (error);
  gsize per_layer = (gsize) c->n_heads * n * n;
  Keep keep = { g_new (float, per_layer * c->n_layers), per_layer };
  req.on_layer = keep_layer;
  req.user_data = &keep;
  g_assert_true (as_backend_forward (dec_backend, &req, NULL, &error));
  g_assert_no_error (error);
  const float *row = keep.attn + layer * per_layer + ((gsize) head * n + query) * n;

  /* The model's own mask: exactly the keys after the query. */
  for (int j = 0; j < n; j++)
    {
      g_assert_cmpint (st->masked[j], ==, j > query);
      g_assert_cmpfloat (fabs (st->probs[j] - row[j]), <, 1e-5);
      if (j > query)
        g_assert_cmpfloat (st->probs[j], ==, 0);
      /* k_j is the shared key/value head's, as every head of the group reads it. */
      for (int x = 0; x < d; x++)
        {
          g_assert_cmpfloat (st->k[(gsize) j * d + x], ==, k[(gsize) j * H + head * d + x]);
          g_assert_cmpfloat (st->k[(gsize) j * d + x], ==, k[(gsize) j * H + (head / group) * group * d + x]);
          g_assert_cmpfloat (st->v[(gsize) j * d + x], ==, v[(gsize) j * H + head * d + x]);
        }
    }
  g_assert_cmpfloat (as_teach_view_get_check (tv), <, 1e-5);
  as_teach_view_set_step (tv, AS_TEACH_STEP_MASK);
  g_assert_nonnull (strstr (as_teach_view_get_step_text (tv), "its own causal mask"));
  g_autofree char *after = g_strdup_printf ("may not look at the %d tokens after it", n - 1 - query);
  g_assert_nonnull (strstr (as_teach_view_get_step_text (tv), after));
  save_shot ("teach-decoder-mask.png");

  /* Keys: the shared head named, and RoPE undone and redone. */
  as_teach_view_set_step (tv, AS_TEACH_STEP_KEYS);
  g_autofree char *shared = g_strdup_printf ("head %d reads key/value head %d", head + 1, head / group + 1);
  g_assert_nonnull (strstr (as_teach_view_get_step_text (tv), shared));
  g_assert_nonnull (strstr (as_teach_view_get_step_text (tv), "after RoPE"));
  int key;
  const float *q_before, *k_before;
  g_assert_true (as_teach_view_get_rope (tv, &key, &q_before, &k_before));
  g_assert_cmpint (key, >=, 0);
  g_assert_cmpint (key, <=, query);
  g_autofree float *turned = g_new (float, d);
  memcpy (turned, q_before, sizeof (float) * d);
  as_rope_head (turned, d, query, c->rope_theta);
  for (int x = 0; x < d; x++)
    g_assert_cmpfloat (fabs (turned[x] - q[(gsize) query * H + head * d + x]), <, 1e-4);
  memcpy (turned, k_before, sizeof (float) * d);
  as_rope_head (turned, d, key, c->rope_theta);
  for (int x = 0; x < d; x++)
    g_assert_cmpfloat (fabs (turned[x] - k[(gsize) key * H + head * d + x]), <, 1e-4);
  save_shot ("teach-decoder-rope.png");

  /* The rest of the layer: a pre-norm layer with RoPE and no position
   * vector; the masks step shows the model's own causal mask. */
  as_teach_view_set_step (tv, AS_TEACH_STEP_EMBED);
  gui_test_wait_until (teach_ready, NULL, 180);
  AsWorkerTrace *wt = as_teach_view_get_trace (tv);
  g_assert_nonnull (wt);
  g_assert_true (wt->trace->pre_norm);
  g_assert_null (wt->trace->position_embed);
  g_assert_null (wt->padding);
  g_assert_nonnull (strstr (as_teach_view_get_formula_text (tv), "RoPE"));
  g_assert_nonnull (strstr (as_teach_view_get_step_text (tv), "RoPE"));
  as_teach_view_set_step (tv, AS_TEACH_STEP_HEADS);
  g_assert_cmpfloat (as_teach_view_get_layer_check (tv, AS_TEACH_CHECK_Z), <, 1e-4);
  g_assert_cmpfloat (as_teach_view_get_layer_check (tv, AS_TEACH_CHECK_ATTN), <, 1e-4);
  as_teach_view_set_step (tv, AS_TEACH_STEP_FFN);
  g_assert_nonnull (strstr (as_teach_view_get_formula_text (tv), "SiLU"));
  save_shot ("teach-decoder-ffn.png");
  as_teach_view_set_step (tv, AS_TEACH_STEP_PADDING);
  g_assert_nonnull (strstr (as_teach_view_get_step_text (tv), "decoder"));
  save_shot ("teach-decoder-padding.png");

  g_free (keep.attn);
  as_backend_free (dec_backend);
  as_model_free (dec);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "head");
}

int
main (int   argc,
      char *argv[])
{
  if (!gui_test_init (&argc, &argv))
    {
      printf ("1..0 # SKIP cannot open a display (run under tests/run-under-xvfb.sh)\n");
      return 0;
    }

  window = gui_test_start (&app, &model, &backend);

  g_test_add_func ("/gui-teach/steps", test_steps);
  g_test_add_func ("/gui-teach/keyboard", test_keyboard);
  g_test_add_func ("/gui-teach/layer", test_layer);
  g_test_add_func ("/gui-teach/causal", test_causal);
  g_test_add_func ("/gui-teach/compare", test_compare);
  g_test_add_func ("/gui-teach/positions", test_positions);
  g_test_add_func ("/gui-teach/screenshots", test_screenshots);
  g_test_add_func ("/gui-teach/decoder", test_decoder);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  return status;
}
