/* test-worker.c — the engine thread: generations, cancellation, staleness.
 *
 * Headless (GLib only). The worker posts to this thread's main context; the
 * tests iterate it and check what reached the signal handlers against the
 * worker's own trace of every delivery.
 */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-config.h"
#include "as-model.h"
#include "as-worker.h"

#define SAMPLE "The animal didn't cross the street because it was too tired."

typedef struct {
  AsWorker   *worker;
  gboolean    loaded;
  gboolean    failed;
  char       *fail_message;
  int         progress_posts;
  GPtrArray  *finished;      /* AsAnalysis, in order */
  GArray     *layers;        /* (generation << 16 | layer) per ::layer-ready */
  guint       started_gen;
  int         stale_signals; /* signals whose generation was not the newest */
  guint       failed_gen;
  char       *analysis_fail_message;
  /* Side channels (causal, compare, qkv). */
  GPtrArray  *side_finished[AS_N_CHANNELS];  /* AsAnalysis */
  GArray     *side_layers[AS_N_CHANNELS];    /* (generation << 16 | layer) */
  int         side_stale;                    /* side signals not of the newest generation */
  int         side_wrong_channel;            /* a signal detailed for one channel carrying another's */
  GPtrArray  *qkv;                           /* AsQkv, in order */
  guint       side_failed_gen[AS_N_CHANNELS];
  char       *side_fail_message;
} Fixture;

static gboolean
have_default_model (void)
{
  g_autofree char *dir = as_model_default_dir ();
  g_autofree char *st = g_build_filename (dir, "model.safetensors", NULL);
  return g_file_test (st, G_FILE_TEST_EXISTS);
}

static void
on_progress (AsWorker   *w,
             const char *dir,
             const char *stage,
             double      fraction,
             Fixture    *f)
{
  g_assert_cmpfloat (fraction, >=, 0);
  g_assert_cmpfloat (fraction, <=, 1);
  f->progress_posts++;
}

static void
on_loaded (AsWorker   *w,
           const char *dir,
           const char *name,
           Fixture    *f)
{
  f->loaded = TRUE;
}

static void
on_failed (AsWorker     *w,
           const char   *dir,
           const GError *error,
           Fixture      *f)
{
  f->failed = TRUE;
  g_free (f->fail_message);
  f->fail_message = g_strdup (error->message);
}

static GThread *test_thread;

static void
check_fresh (Fixture    *f,
             AsAnalysis *a)
{
  /* Posts are delivered on the thread that owns the main context, never on
   * the worker's. */
  g_assert_true (g_thread_self () == test_thread);
  if (a->generation != as_worker_get_generation (f->worker))
    f->stale_signals++;
}

static void
on_started (AsWorker   *w,
            AsAnalysis *a,
            Fixture    *f)
{
  check_fresh (f, a);
  f->started_gen = a->generation;
  g_assert_cmpint (a->layers_ready, ==, 0);
  g_assert_nonnull (a->encoding);
}

static void
on_layer (AsWorker   *w,
          AsAnalysis *a,
          int         layer,
          Fixture    *f)
{
  check_fresh (f, a);
  g_assert_cmpint (a->layers_ready, ==, layer + 1);
  guint key = a->generation << 16 | (guint) layer;
  g_array_append_val (f->layers, key);
}

static void
on_finished (AsWorker   *w,
             AsAnalysis *a,
             Fixture    *f)
{
  check_fresh (f, a);
  g_assert_cmpint (a->layers_ready, ==, a->n_layers);
  g_ptr_array_add (f->finished, as_analysis_ref (a));
}

static void
on_analysis_failed (AsWorker     *w,
                    guint         generation,
                    const GError *error,
                    Fixture      *f)
{
  f->failed_gen = generation;
  g_free (f->analysis_fail_message);
  f->analysis_fail_message = g_strdup (error->message);
}

static void
check_side (Fixture   *f,
            AsChannel  channel,
            guint      generation)
{
  g_assert_true (g_thread_self () == test_thread);
  if (generation != as_worker_get_channel_generation (f->worker, channel))
    f->side_stale++;
}

static void
on_side_layer (AsWorker   *w,
               int         channel,
               AsAnalysis *a,
               int         layer,
               Fixture    *f)
{
  check_side (f, channel, a->generation);
  if (a->channel != channel || a->causal != (channel == AS_CHANNEL_CAUSAL))
    f->side_wrong_channel++;
  g_assert_cmpint (a->layers_ready, ==, layer + 1);
  guint key = a->generation << 16 | (guint) layer;
  g_array_append_val (f->side_layers[channel], key);
}

static void
on_side_finished (AsWorker   *w,
                  int         channel,
                  AsAnalysis *a,
                  Fixture    *f)
{
  check_side (f, channel, a->generation);
  g_assert_cmpint (a->layers_ready, ==, a->n_layers);
  g_ptr_array_add (f->side_finished[channel], as_analysis_ref (a));
}

static void
on_side_failed (AsWorker     *w,
                int           channel,
                guint         generation,
                const GError *error,
                Fixture      *f)
{
  check_side (f, channel, generation);
  f->side_failed_gen[channel] = generation;
  g_free (f->side_fail_message);
  f->side_fail_message = g_strdup (error->message);
}

static void
on_qkv (AsWorker *w,
        AsQkv    *x,
        Fixture  *f)
{
  check_side (f, AS_CHANNEL_QKV, x->generation);
  g_ptr_array_add (f->qkv, as_qkv_ref (x));
}

/* A handler on "causal" only must never hear about "compare". */
static void
on_causal_only (AsWorker   *w,
                int         channel,
                AsAnalysis *a,
                Fixture    *f)
{
  if (channel != AS_CHANNEL_CAUSAL)
    f->side_wrong_channel++;
}

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  for (int c = 0; c < AS_N_CHANNELS; c++)
    {
      f->side_finished[c] = g_ptr_array_new_with_free_func ((GDestroyNotify) as_analysis_unref);
      f->side_layers[c] = g_array_new (FALSE, FALSE, sizeof (guint));
    }
  f->qkv = g_ptr_array_new_with_free_func ((GDestroyNotify) as_qkv_unref);
  f->worker = as_worker_new ();
  as_worker_set_trace_enabled (f->worker, TRUE);
  f->finished = g_ptr_array_new_with_free_func ((GDestroyNotify) as_analysis_unref);
  f->layers = g_array_new (FALSE, FALSE, sizeof (guint));
  g_signal_connect (f->worker, "model-progress", G_CALLBACK (on_progress), f);
  g_signal_connect (f->worker, "model-loaded", G_CALLBACK (on_loaded), f);
  g_signal_connect (f->worker, "model-failed", G_CALLBACK (on_failed), f);
  g_signal_connect (f->worker, "analysis-started", G_CALLBACK (on_started), f);
  g_signal_connect (f->worker, "layer-ready", G_CALLBACK (on_layer), f);
  g_signal_connect (f->worker, "analysis-finished", G_CALLBACK (on_finished), f);
  g_signal_connect (f->worker, "analysis-failed", G_CALLBACK (on_analysis_failed), f);
  g_signal_connect (f->worker, "channel-layer-ready", G_CALLBACK (on_side_layer), f);
  g_signal_connect (f->worker, "channel-finished", G_CALLBACK (on_side_finished), f);
  g_signal_connect (f->worker, "channel-failed", G_CALLBACK (on_side_failed), f);
  g_signal_connect (f->worker, "channel-finished::causal", G_CALLBACK (on_causal_only), f);
  g_signal_connect (f->worker, "qkv-ready", G_CALLBACK (on_qkv), f);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_object (&f->worker);
  /* Posts still queued must be dropped quietly once the worker is gone. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_ptr_array_unref (f->finished);
  g_array_unref (f->layers);
  g_free (f->fail_message);
  g_free (f->analysis_fail_message);
  for (int c = 0; c < AS_N_CHANNELS; c++)
    {
      g_ptr_array_unref (f->side_finished[c]);
      g_array_unref (f->side_layers[c]);
    }
  g_ptr_array_unref (f->qkv);
  g_free (f->side_fail_message);
}

static gboolean
timed_out (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the main context until COND holds; fails after TIMEOUT_S. */
static void
wait_for (gboolean (*cond) (Fixture *f),
          Fixture   *f,
          guint      timeout_s)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add_seconds (timeout_s, timed_out, &expired);
  while (!cond (f) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_assert_false (expired);
}

static gboolean
is_loaded (Fixture *f)
{
  return f->loaded || f->failed;
}

static gboolean
last_finished (Fixture *f)
{
  if (f->finished->len == 0)
    return FALSE;
  AsAnalysis *a = g_ptr_array_index (f->finished, f->finished->len - 1);
  return a->generation == as_worker_get_generation (f->worker);
}

static void
load_default (Fixture *f)
{
  g_autofree char *dir = as_model_default_dir ();
  as_worker_load_model (f->worker, dir);
  g_assert_true (as_worker_is_loading (f->worker));
  wait_for (is_loaded, f, 120);
  g_assert_true (f->loaded);
  g_assert_false (as_worker_is_loading (f->worker));
  g_assert_cmpint (f->progress_posts, >, 0);
  g_assert_nonnull (as_worker_get_model_name (f->worker));
}

/* ---- tests -------------------------------------------------------------- */

static void
test_bad_folder (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *tmp = g_dir_make_tmp ("as-worker-XXXXXX", NULL);
  as_worker_load_model (f->worker, tmp);
  wait_for (is_loaded, f, 60);
  g_assert_true (f->failed);
  g_assert_false (f->loaded);
  /* The message names the file and the reason. */
  g_assert_nonnull (strstr (f->fail_message, "config.json"));
  g_assert_null (as_worker_get_model_name (f->worker));

  /* No model: an analysis fails with a message, it does not crash. */
  guint gen = as_worker_analyse (f->worker, "hello", NULL);
  while (f->failed_gen != gen)
    g_main_context_iteration (NULL, TRUE);
  g_rmdir (tmp);
}

static void
test_failed_load_keeps_model (Fixture       *f,
                              gconstpointer  data)
{
  if (!have_default_model ())
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  load_default (f);
  g_autofree char *name = g_strdup (as_worker_get_model_name (f->worker));

  /* A folder with a broken config.json. */
  g_autofree char *tmp = g_dir_make_tmp ("as-worker-XXXXXX", NULL);
  g_autofree char *config = g_build_filename (tmp, "config.json", NULL);
  g_assert_true (g_file_set_contents (config, "{ not json", -1, NULL));
  f->loaded = f->failed = FALSE;
  as_worker_load_model (f->worker, tmp);
  wait_for (is_loaded, f, 60);
  g_assert_true (f->failed);
  g_assert_nonnull (strstr (f->fail_message, "config.json"));
  g_assert_cmpstr (as_worker_get_model_name (f->worker), ==, name);

  as_worker_analyse (f->worker, SAMPLE, NULL);
  wait_for (last_finished, f, 60);
  g_remove (config);
  g_rmdir (tmp);
}

static void
test_matches_engine (Fixture       *f,
                     gconstpointer  data)
{
  if (!have_default_model ())
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  load_default (f);
  guint gen = as_worker_analyse (f->worker, SAMPLE, "It was tired.");
  wait_for (last_finished, f, 60);

  AsAnalysis *a = g_ptr_array_index (f->finished, 0);
  g_assert_cmpuint (a->generation, ==, gen);
  g_assert_cmpint (f->layers->len, ==, a->n_layers);
  for (int l = 0; l < a->n_layers; l++)
    g_assert_cmpuint (g_array_index (f->layers, guint, l), ==, gen << 16 | (guint) l);
  g_assert_cmpint (f->stale_signals, ==, 0);

  /* The same text through the engine directly. */
  g_autofree char *dir = as_model_default_dir ();
  AsModel *model = as_model_load (dir, NULL);
  g_assert_nonnull (model);
  AsBackend *backend = as_cpu_backend_new (model);
  AsAnalysis *ref = as_attention_compute (backend, SAMPLE, "It was tired.", NULL);
  g_assert_nonnull (ref);
  g_assert_cmpint (ref->n, ==, a->n);
  for (int i = 0; i < a->n; i++)
    {
      g_assert_cmpint (ref->encoding->tokens[i].id, ==, a->encoding->tokens[i].id);
      g_assert_cmpint (ref->encoding->tokens[i].type_id, ==, a->encoding->tokens[i].type_id);
    }
  gsize total = (gsize) a->n_layers * a->n_heads * a->n * a->n;
  double max_diff = 0;
  for (gsize i = 0; i < total; i++)
    max_diff = MAX (max_diff, fabs (ref->attn[i] - a->attn[i]));
  g_test_message ("max |worker - engine| = %g", max_diff);
  g_assert_cmpfloat (max_diff, <, 1e-4);
  as_analysis_unref (ref);
  as_backend_free (backend);
  as_model_free (model);
}

static char *
long_text (int words)
{
  GString *s = g_string_new (NULL);
  for (int i = 0; i < words; i++)
    g_string_append_printf (s, "%s ", (i % 3) == 0 ? "street" : (i % 3) == 1 ? "animal" : "tired");
  return g_string_free (s, FALSE);
}

/* Pins the CPU and loads the default model: with a long input (slow_text)
 * each layer then takes long enough for this thread to answer the first
 * one before the pass ends, so a request made then lands mid-pass. */
static void
load_default_on_cpu (Fixture *f)
{
  g_assert_true (as_worker_set_device (f->worker, "cpu"));
  load_default (f);
  g_assert_cmpstr (as_worker_get_backend_kind (f->worker), ==, "cpu");
}

/* Close to the default model's 512 positions. */
static char *
slow_text (void)
{
  return long_text (480);
}

static gboolean
first_layer_of_started (Fixture *f)
{
  return f->layers->len > 0;
}

static void
test_newer_cancels_older (Fixture       *f,
                          gconstpointer  data)
{
  if (!have_default_model ())
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  load_default_on_cpu (f);
  as_worker_clear_trace (f->worker);

  /* A long pass, so the second request lands while the first is mid-pass. */
  g_autofree char *text = slow_text ();
  guint a = as_worker_analyse (f->worker, text, NULL);
  wait_for (first_layer_of_started, f, 60);
  guint b = as_worker_analyse (f->worker, "Short one.", NULL);
  gint64 b_time = g_get_monotonic_time ();
  wait_for (last_finished, f, 60);

  /* A finished no pass and reported none of its layers after B was asked. */
  g_assert_cmpint (f->finished->len, ==, 1);
  g_assert_cmpuint (((AsAnalysis *) g_ptr_array_index (f->finished, 0))->generation, ==, b);
  int a_layers = 0, b_layers = 0;
  for (guint i = 0; i < f->layers->len; i++)
    {
      guint key = g_array_index (f->layers, guint, i);
      if (key >> 16 == a)
        a_layers++;
      else if (key >> 16 == b)
        g_assert_cmpint (key & 0xffff, ==, b_layers++);
    }
  AsAnalysis *fin = g_ptr_array_index (f->finished, 0);
  g_assert_cmpint (a_layers, >=, 1);
  g_assert_cmpint (a_layers, <, fin->n_layers);
  g_assert_cmpint (b_layers, ==, fin->n_layers);

  GArray *trace = as_worker_get_trace (f->worker);
  for (guint i = 0; i < trace->len; i++)
    {
      AsWorkerTraceEntry *e = &g_array_index (trace, AsWorkerTraceEntry, i);
      if (e->generation == a && e->time > b_time)
        g_assert_false (e->accepted);
    }
  g_assert_cmpint (f->stale_signals, ==, 0);
}

static int
default_n_layers (void)
{
  g_autofree char *dir = as_model_default_dir ();
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  AsConfig *config = as_config_load (path, NULL);
  g_assert_nonnull (config);
  int n_layers = config->n_layers;
  as_config_free (config);
  return n_layers;
}

/* The id the next source attached to this thread's main context gets: the
 * worker posts through sources, numbered in the order they are queued. */
static guint
next_source_id (void)
{
  GSource *probe = g_idle_source_new ();
  guint id = g_source_attach (probe, NULL);
  g_source_destroy (probe);
  g_source_unref (probe);
  return id + 1;
}

/* Waits, without dispatching anything, until source ID is queued on this
 * thread's main context. */
static void
wait_for_source (guint id,
                 guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + timeout_s * G_USEC_PER_SEC;
  while (g_main_context_find_source_by_id (NULL, id) == NULL)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
}

static void
test_queued_posts_dropped (Fixture       *f,
                           gconstpointer  data)
{
  if (!have_default_model ())
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  load_default (f);
  as_worker_clear_trace (f->worker);

  /* A's whole pass is posted while this thread is not looking; B is asked
   * before any of A's posts is delivered: every one of them is stale. */
  int n_layers = default_n_layers ();
  guint first_post = next_source_id ();
  guint a = as_worker_analyse (f->worker, SAMPLE, NULL);
  /* Started, each layer, finished: the last of them is queued here. */
  wait_for_source (first_post + (guint) n_layers + 1, 60);
  guint b = as_worker_analyse (f->worker, "Another sentence.", NULL);
  wait_for (last_finished, f, 60);

  GArray *trace = as_worker_get_trace (f->worker);
  int a_posts = 0;
  for (guint i = 0; i < trace->len; i++)
    {
      AsWorkerTraceEntry *e = &g_array_index (trace, AsWorkerTraceEntry, i);
      if (e->generation == a)
        {
          a_posts++;
          g_assert_false (e->accepted);
          g_assert_cmpuint (e->latest, ==, b);
        }
    }
  g_test_message ("%d posts of the stale generation dropped", a_posts);
  g_assert_cmpint (a_posts, >, 1);
  for (guint i = 0; i < f->layers->len; i++)
    g_assert_cmpuint (g_array_index (f->layers, guint, i) >> 16, ==, b);
  g_assert_cmpint (f->stale_signals, ==, 0);
}

static void
test_rapid_edits (Fixture       *f,
                  gconstpointer  data)
{
  if (!have_default_model ())
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  load_default (f);
  as_worker_clear_trace (f->worker);

  /* 200 edits, as fast as a main loop can send them: type the sentence
   * character by character, then some deletions. */
  g_autofree char *text = NULL;
  int len = (int) strlen (SAMPLE);
  for (int i = 0; i < 200; i++)
    {
      int cut = i < len ? i + 1 : len - (i - len) % 20;
      g_free (text);
      text = g_strndup (SAMPLE, cut);
      as_worker_analyse (f->worker, text, NULL);
      g_main_context_iteration (NULL, FALSE);
    }
  wait_for (last_finished, f, 120);

  AsAnalysis *last = g_ptr_array_index (f->finished, f->finished->len - 1);
  g_assert_cmpstr (last->text_a, ==, text);
  g_assert_cmpuint (last->generation, ==, 200);
  g_assert_cmpint (f->stale_signals, ==, 0);

  GArray *trace = as_worker_get_trace (f->worker);
  int accepted = 0, dropped = 0;
  for (guint i = 0; i < trace->len; i++)
    {
      AsWorkerTraceEntry *e = &g_array_index (trace, AsWorkerTraceEntry, i);
      if (e->accepted)
        accepted++;
      else
        dropped++;
    }
  g_test_message ("200 edits: %d posts delivered, %d stale ones dropped, %u passes finished",
                  accepted, dropped, f->finished->len);
  /* Tokens of the final analysis are the tokenizer's for the final text. */
  g_autofree char *dir = as_model_default_dir ();
  AsTokenizer *tok = as_tokenizer_new_from_dir (dir, NULL);
  AsEncoding *enc = as_tokenizer_encode (tok, text, NULL, 512);
  g_assert_cmpint (enc->n_tokens, ==, last->n);
  for (int i = 0; i < enc->n_tokens; i++)
    g_assert_cmpstr (enc->tokens[i].text, ==, last->encoding->tokens[i].text);
  as_encoding_free (enc);
  as_tokenizer_free (tok);
}

static void
test_dispose_while_busy (Fixture       *f,
                         gconstpointer  data)
{
  if (!have_default_model ())
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  load_default_on_cpu (f);
  g_autofree char *text = slow_text ();
  as_worker_analyse (f->worker, text, NULL);
  /* Mid-pass: the first layer is in, the others are still to come. */
  wait_for (first_layer_of_started, f, 60);
  /* Joins the thread within one layer; queued posts find no owner. */
  gint64 t0 = g_get_monotonic_time ();
  g_clear_object (&f->worker);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 2 * G_USEC_PER_SEC);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (f->finished->len, ==, 0);
}


/* ---- side channels -------------------------------------------------------- */

static gboolean
causal_and_main_done (Fixture *f)
{
  GPtrArray *c = f->side_finished[AS_CHANNEL_CAUSAL];
  return last_finished (f) && c->len > 0 &&
         ((AsAnalysis *) g_ptr_array_index (c, c->len - 1))->generation ==
         as_worker_get_channel_generation (f->worker, AS_CHANNEL_CAUSAL);
}

static gboolean
compare_done (Fixture *f)
{
  GPtrArray *c = f->side_finished[AS_CHANNEL_COMPARE];
  return c->len > 0 &&
         ((AsAnalysis *) g_ptr_array_index (c, c->len - 1))->generation ==
         as_worker_get_channel_generation (f->worker, AS_CHANNEL_COMPARE);
}

static gboolean
compare_and_main_done (Fixture *f)
{
  return compare_done (f) && last_finished (f);
}

static gboolean
qkv_done (Fixture *f)
{
  guint want = as_worker_get_channel_generation (f->worker, AS_CHANNEL_QKV);
  return (f->qkv->len > 0 &&
          ((AsQkv *) g_ptr_array_index (f->qkv, f->qkv->len - 1))->generation == want) ||
         f->side_failed_gen[AS_CHANNEL_QKV] == want;
}

typedef struct {
  float *attn;   /* [n_layers, n_heads, n, n] */
  gsize  per_layer;
} CausalRef;

static gboolean
keep_layer (int          layer,
            const float *attn,
            const float *hidden,
            gpointer     user_data)
{
  CausalRef *r = user_data;
  memcpy (r->attn + layer * r->per_layer, attn, r->per_layer * sizeof (float));
  return TRUE;
}

/* The engine run directly on AS tokens, with the causal mask when asked. */
static float *
direct_forward (AsBackend  *backend,
                AsAnalysis *a,
                gboolean    causal)
{
  g_autofree int *ids = g_new (int, a->n);
  g_autofree int *types = g_new (int, a->n);
  for (int i = 0; i < a->n; i++)
    {
      ids[i] = a->encoding->tokens[i].id;
      types[i] = a->encoding->tokens[i].type_id;
    }
  CausalRef r = { g_new (float, (gsize) a->n_layers * a->n_heads * a->n * a->n),
                  (gsize) a->n_heads * a->n * a->n };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = a->n, .causal_mask = causal,
                           .on_layer = keep_layer, .user_data = &r };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (backend, &req, NULL, &error));
  return r.attn;
}

static double
max_diff (const float *x,
          const float *y,
          gsize        n)
{
  double m = 0;
  for (gsize i = 0; i < n; i++)
    m = MAX (m, fabs (x[i] - y[i]));
  return m;
}

static void
test_causal_channel (Fixture       *f,
                     gconstpointer  data)
{
  if (!have_default_model ())
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  load_default (f);
  guint main_gen = as_worker_analyse (f->worker, SAMPLE, NULL);
  guint causal_gen = as_worker_analyse_on (f->worker, AS_CHANNEL_CAUSAL, SAMPLE, NULL);
  wait_for (causal_and_main_done, f, 60);

  /* Two channels, two results, neither replaced the other. */
  g_assert_cmpint (f->finished->len, ==, 1);
  g_assert_cmpint (f->side_finished[AS_CHANNEL_CAUSAL]->len, ==, 1);
  AsAnalysis *m = g_ptr_array_index (f->finished, 0);
  AsAnalysis *c = g_ptr_array_index (f->side_finished[AS_CHANNEL_CAUSAL], 0);
  g_assert_cmpuint (m->generation, ==, main_gen);
  g_assert_cmpuint (c->generation, ==, causal_gen);
  g_assert_false (m->causal);
  g_assert_true (c->causal);
  g_assert_cmpint (m->channel, ==, AS_CHANNEL_MAIN);
  g_assert_cmpint (f->layers->len, ==, m->n_layers);
  g_assert_cmpint (f->side_layers[AS_CHANNEL_CAUSAL]->len, ==, c->n_layers);
  g_assert_cmpint (f->side_wrong_channel, ==, 0);
  g_assert_cmpint (f->stale_signals, ==, 0);
  g_assert_cmpint (f->side_stale, ==, 0);

  g_autofree char *dir = as_model_default_dir ();
  AsModel *model = as_model_load (dir, NULL);
  AsBackend *backend = as_cpu_backend_new (model);
  gsize total = (gsize) c->n_layers * c->n_heads * c->n * c->n;
  g_autofree float *ref_c = direct_forward (backend, c, TRUE);
  g_autofree float *ref_m = direct_forward (backend, m, FALSE);
  double dc = max_diff (ref_c, c->attn, total), dm = max_diff (ref_m, m->attn, total);
  g_test_message ("causal channel vs direct causal forward: %g; main vs direct: %g", dc, dm);
  g_assert_cmpfloat (dc, <, 1e-5);
  g_assert_cmpfloat (dm, <, 1e-5);
  /* Lower-triangular, rows summing to 1; and really different from main. */
  for (int h = 0; h < c->n_layers * c->n_heads; h++)
    for (int i = 0; i < c->n; i++)
      {
        const float *row = c->attn + ((gsize) h * c->n + i) * c->n;
        double sum = 0;
        for (int j = 0; j < c->n; j++)
          {
            if (j > i)
              g_assert_cmpfloat (row[j], ==, 0);
            sum += row[j];
          }
        g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
      }
  g_assert_cmpfloat (max_diff (c->attn, m->attn, total), >, 0.1);
  as_backend_free (backend);
  as_model_free (model);
}

static void
test_qkv (Fixture       *f,
          gconstpointer  data)
{
  if (!have_default_model ())
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  load_default (f);
  g_autofree char *dir = as_model_default_dir ();
  AsModel *model = as_model_load (dir, NULL);
  AsBackend *backend = as_cpu_backend_new (model);

  /* The position embeddings the worker copied for the main thread. */
  int n_pos, hidden;
  const float *pe = as_worker_get_position_embeddings (f->worker, &n_pos, &hidden);
  g_assert_nonnull (pe);
  g_assert_cmpint (n_pos, ==, model->config->max_positions);
  g_assert_cmpint (hidden, ==, model->config->hidden);
  int table_rows, table_cols;
  const float *table = as_model_get_position_table (model, &table_rows, &table_cols);
  g_assert_cmpint (table_rows, ==, n_pos);
  g_assert_cmpint (memcmp (pe, table, sizeof (float) * n_pos * hidden), ==, 0);

  for (int causal = 0; causal <= 1; causal++)
    {
      /* Two in a row: the first one's reply must never be seen. */
      guint first = as_worker_request_qkv (f->worker, "Something else entirely.", NULL, 1, causal);
      guint gen = as_worker_request_qkv (f->worker, SAMPLE, "It was tired.", 3, causal);
      g_assert_cmpuint (gen, ==, first + 1);
      wait_for (qkv_done, f, 60);
      AsQkv *x = g_ptr_array_index (f->qkv, f->qkv->len - 1);
      g_assert_cmpuint (x->generation, ==, gen);
      for (guint i = 0; i < f->qkv->len; i++)
        g_assert_cmpuint (((AsQkv *) g_ptr_array_index (f->qkv, i))->generation, !=, first);
      g_assert_cmpint (x->layer, ==, 3);
      g_assert_true (x->causal == causal);
      g_assert_cmpint (x->hidden, ==, model->config->hidden);
      g_assert_cmpint (x->n_heads, ==, model->config->n_heads);
      g_assert_cmpint (x->head_dim, ==, model->config->head_dim);

      /* Against the engine called directly on the same tokens. */
      g_autofree int *ids = g_new (int, x->n);
      g_autofree int *types = g_new (int, x->n);
      for (int i = 0; i < x->n; i++)
        {
          ids[i] = x->encoding->tokens[i].id;
          types[i] = x->encoding->tokens[i].type_id;
        }
      gsize size = (gsize) x->n * x->hidden;
      g_autofree float *q = g_new (float, size);   /* [n, hidden] */
      g_autofree float *k = g_new (float, size);   /* [n, hidden] */
      g_autofree float *v = g_new (float, size);   /* [n, hidden] */
      AsForwardRequest req = { .ids = ids, .type_ids = types, .n = x->n, .causal_mask = causal };
      g_assert_true (as_backend_layer_qkv (backend, &req, 3, q, k, v, NULL));
      double d = MAX (max_diff (q, x->q, size), MAX (max_diff (k, x->k, size), max_diff (v, x->v, size)));
      g_test_message ("qkv%s: max |worker - engine| = %g", causal ? " (causal)" : "", d);
      g_assert_cmpfloat (d, <, 1e-5);
    }
  g_assert_cmpint (f->side_stale, ==, 0);

  /* A layer that does not exist: a message on the qkv channel, no crash. */
  guint bad = as_worker_request_qkv (f->worker, SAMPLE, NULL, 99, FALSE);
  wait_for (qkv_done, f, 60);
  g_assert_cmpuint (f->side_failed_gen[AS_CHANNEL_QKV], ==, bad);
  g_assert_nonnull (strstr (f->side_fail_message, "layer 99"));
  /* Nothing of this reached the main channel. */
  g_assert_cmpint (f->layers->len, ==, 0);
  g_assert_cmpint (f->finished->len, ==, 0);
  as_backend_free (backend);
  as_model_free (model);
}

static gboolean
first_compare_layer (Fixture *f)
{
  return f->side_layers[AS_CHANNEL_COMPARE]->len > 0;
}

static void
test_compare_stale_and_main_undisturbed (Fixture       *f,
                                         gconstpointer  data)
{
  if (!have_default_model ())
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  load_default_on_cpu (f);
  as_worker_clear_trace (f->worker);

  /* A main analysis, then compare A; once A is mid-pass, compare B. */
  guint m = as_worker_analyse (f->worker, SAMPLE, NULL);
  g_autofree char *text = slow_text ();
  guint a = as_worker_analyse_on (f->worker, AS_CHANNEL_COMPARE, text, NULL);
  wait_for (first_compare_layer, f, 60);
  guint b = as_worker_analyse_on (f->worker, AS_CHANNEL_COMPARE,
                                  "The animal didn't cross the street because it was too wide.", NULL);
  /* A new main request while compare B may be under way: it goes first. */
  guint m2 = as_worker_analyse (f->worker, "It was too wide.", NULL);
  wait_for (compare_and_main_done, f, 120);

  /* Compare: only B finished; A's layers stopped when B was asked. */
  GPtrArray *fin = f->side_finished[AS_CHANNEL_COMPARE];
  g_assert_cmpint (fin->len, ==, 1);
  AsAnalysis *cb = g_ptr_array_index (fin, 0);
  g_assert_cmpuint (cb->generation, ==, b);
  g_assert_false (cb->causal);
  int a_layers = 0;
  for (guint i = 0; i < f->side_layers[AS_CHANNEL_COMPARE]->len; i++)
    if (g_array_index (f->side_layers[AS_CHANNEL_COMPARE], guint, i) >> 16 == a)
      a_layers++;
  g_assert_cmpint (a_layers, >=, 1);
  g_assert_cmpint (a_layers, <, cb->n_layers);
  g_assert_cmpint (f->side_stale, ==, 0);
  g_assert_cmpint (f->side_wrong_channel, ==, 0);

  /* Main: both requests ran in order on their own channel; the first
   * finished (the compare requests did not cancel it), the last is final. */
  g_assert_cmpuint (as_worker_get_generation (f->worker), ==, m2);
  AsAnalysis *last = g_ptr_array_index (f->finished, f->finished->len - 1);
  g_assert_cmpuint (last->generation, ==, m2);
  g_assert_cmpstr (last->text_a, ==, "It was too wide.");
  gboolean m_finished = FALSE;
  for (guint i = 0; i < f->finished->len; i++)
    m_finished |= ((AsAnalysis *) g_ptr_array_index (f->finished, i))->generation == m;
  g_test_message ("first main request %s; %u compare-A layers before B", m_finished ? "finished" : "was superseded by the second", a_layers);
  g_assert_cmpint (f->stale_signals, ==, 0);
  GArray *trace = as_worker_get_trace (f->worker);
  for (guint i = 0; i < trace->len; i++)
    {
      AsWorkerTraceEntry *e = &g_array_index (trace, AsWorkerTraceEntry, i);
      g_assert_true (e->generation == m || e->generation == m2);
    }

  /* B's attention is the engine's for B's text. */
  g_autofree char *dir = as_model_default_dir ();
  AsModel *model = as_model_load (dir, NULL);
  AsBackend *backend = as_cpu_backend_new (model);
  AsAnalysis *ref = as_attention_compute (backend, cb->text_a, NULL, NULL);
  g_assert_cmpint (ref->n, ==, cb->n);
  gsize total = (gsize) cb->n_layers * cb->n_heads * cb->n * cb->n;
  double d = max_diff (ref->attn, cb->attn, total);
  g_test_message ("compare channel vs engine: %g", d);
  g_assert_cmpfloat (d, <, 1e-5);
  as_analysis_unref (ref);
  as_backend_free (backend);
  as_model_free (model);
}

static gboolean
main_done_and_compare_started (Fixture *f)
{
  return last_finished (f) && first_compare_layer (f);
}

static void
test_main_preempts_side (Fixture       *f,
                         gconstpointer  data)
{
  if (!have_default_model ())
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  load_default_on_cpu (f);
  /* A long compare pass is under way when the user types: the main request
   * is answered before the compare pass ends, which still finishes after. */
  g_autofree char *text = slow_text ();
  guint c = as_worker_analyse_on (f->worker, AS_CHANNEL_COMPARE, text, NULL);
  wait_for (first_compare_layer, f, 60);
  guint m = as_worker_analyse (f->worker, "Typing.", NULL);
  wait_for (main_done_and_compare_started, f, 60);
  g_assert_cmpint (f->side_finished[AS_CHANNEL_COMPARE]->len, ==, 0);
  wait_for (compare_done, f, 120);
  AsAnalysis *ca = g_ptr_array_index (f->side_finished[AS_CHANNEL_COMPARE], 0);
  g_assert_cmpuint (ca->generation, ==, c);
  g_assert_cmpuint (((AsAnalysis *) g_ptr_array_index (f->finished, 0))->generation, ==, m);
  g_assert_cmpint (f->side_stale, ==, 0);
  g_assert_cmpint (f->stale_signals, ==, 0);
}

static gboolean
last_failed (Fixture *f)
{
  return f->failed_gen == as_worker_get_generation (f->worker);
}

/* A GGUF decoder in the app: it loads (its warm-up has no template token to
 * run on), analyses its own BPE tokens, and refuses a pair or a text with no
 * token with a message. */
static void
test_gguf_decoder (Fixture       *f,
                   gconstpointer  data)
{
  g_autofree char *models = NULL;
  g_autofree char *path = NULL;
  if (g_getenv ("ATTNSCOPE_GGUF") != NULL)
    path = g_strdup (g_getenv ("ATTNSCOPE_GGUF"));
  else
    {
      g_autofree char *dir = as_model_default_dir ();
      models = g_path_get_dirname (dir);
      path = g_build_filename (models, "SmolLM2-135M-Instruct",
                               "SmolLM2-135M-Instruct.Q4_1.gguf", NULL);
    }
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_autofree char *why = g_strdup_printf ("the SmolLM2 GGUF is not downloaded (%s)", path);
      g_test_skip (why);
      return;
    }
  as_worker_load_model (f->worker, path);
  wait_for (is_loaded, f, 120);
  g_assert_true (f->loaded);

  as_worker_analyse (f->worker, "Hello world", NULL);
  wait_for (last_finished, f, 60);
  AsAnalysis *a = g_ptr_array_index (f->finished, f->finished->len - 1);
  g_assert_cmpint (a->n, ==, 2);
  g_assert_cmpint (a->encoding->tokens[0].id, ==, 19556);
  g_assert_cmpstr (a->encoding->tokens[1].text, ==, " world");

  as_worker_analyse (f->worker, "Hello", "world");
  wait_for (last_failed, f, 60);
  g_assert_nonnull (strstr (f->analysis_fail_message, "this model takes one text"));
  as_worker_analyse (f->worker, "", NULL);
  wait_for (last_failed, f, 60);
  g_assert_nonnull (strstr (f->analysis_fail_message, "no tokens"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  test_thread = g_thread_self ();

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/worker/bad-folder", test_bad_folder);
  ADD ("/worker/failed-load-keeps-model", test_failed_load_keeps_model);
  ADD ("/worker/matches-engine", test_matches_engine);
  ADD ("/worker/newer-cancels-older", test_newer_cancels_older);
  ADD ("/worker/queued-posts-dropped", test_queued_posts_dropped);
  ADD ("/worker/rapid-edits", test_rapid_edits);
  ADD ("/worker/dispose-while-busy", test_dispose_while_busy);
  ADD ("/worker/causal-channel", test_causal_channel);
  ADD ("/worker/qkv", test_qkv);
  ADD ("/worker/compare-stale-main-undisturbed", test_compare_stale_and_main_undisturbed);
  ADD ("/worker/main-preempts-side", test_main_preempts_side);
  ADD ("/worker/gguf-decoder", test_gguf_decoder);
#undef ADD

  return g_test_run ();
}
