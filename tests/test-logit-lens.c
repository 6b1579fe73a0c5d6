/* test-logit-lens.c — the logit lens (as-logit-lens.h) and the attention-sink
 * share (as-head-stats.h) against transformers.
 *
 * tests/data/lens/NAME.json comes from tools/make-lens-goldens.py: for every
 * layer l, softmax (lm_head (norm (hidden_states[l]))) of transformers' eager
 * fp32 forward, its top 5 ids and probabilities at every position, and each
 * head's mean attention on key 0. The tiny seeded Llama GGUF always runs;
 * SmolLM2-135M when it is downloaded (skipped with the reason otherwise).
 * Also: the last layer's lens is the model's own output (an invariant, not
 * a golden), top-k order and ties, refusals (an encoder, bad K and layer)
 * and cancellation.
 */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "as-architecture.h"
#include "as-backend.h"
#include "as-error.h"
#include "as-head-stats.h"
#include "as-lm-head.h"
#include "as-logit-lens.h"
#include "as-model.h"
#include "llama-test-util.h"

#define PROB_TOL  1e-4   /* a probability against transformers */
#define TIE_TOL   1e-5   /* golden probabilities this close may swap ranks */
#define SINK_TOL  1e-5   /* a sink share against transformers */

static char *
data_path (const char *dir,
           const char *name)
{
  const char *root = g_getenv ("AS_TEST_DATA");
  g_assert_nonnull (root);
  return g_build_filename (root, dir, name, NULL);
}

static JsonParser *
read_golden (const char *name)
{
  g_autofree char *path = data_path ("lens", name);
  g_autoptr(GError) error = NULL;
  JsonParser *parser = json_parser_new ();
  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return parser;
}

static int *
golden_ids (JsonObject *g,
            int        *n)
{
  JsonArray *arr = json_object_get_array_member (g, "ids");
  *n = (int) json_array_get_length (arr);
  int *ids = g_new (int, *n);   /* [n] */
  for (int i = 0; i < *n; i++)
    ids[i] = (int) json_array_get_int_element (arr, i);
  return ids;
}

/* Probabilities descend and their sum stays within 1. */
static void
check_shape (const AsLogitLens *lens)
{
  for (int l = 0; l < lens->n_layers; l++)
    for (int i = 0; i < lens->n; i++)
      {
        const float *p = as_logit_lens_probs (lens, l, i);
        double sum = 0;
        for (int r = 0; r < lens->k; r++)
          {
            g_assert_cmpfloat (p[r], >=, 0.0f);
            if (r > 0)
              g_assert_cmpfloat (p[r], <=, p[r - 1]);
            sum += p[r];
          }
        g_assert_cmpfloat (sum, <=, 1.0 + 1e-5);
      }
}

/* Every layer's top-k against the goldens: the probability at each rank
 * within PROB_TOL, and the id at each rank equal to transformers' unless
 * two golden probabilities are within TIE_TOL (then a swap is allowed). */
static double
compare_goldens (const AsLogitLens *lens,
                 JsonObject        *g)
{
  JsonArray *layers = json_object_get_array_member (g, "layers");
  const int k = (int) json_object_get_int_member (g, "k");
  g_assert_cmpint (lens->k, ==, k);
  g_assert_cmpint (json_array_get_length (layers), ==, lens->n_layers);
  double worst = 0;
  for (int l = 0; l < lens->n_layers; l++)
    {
      JsonObject *gl = json_array_get_object_element (layers, l);
      g_assert_cmpint (json_object_get_int_member (gl, "layer"), ==, l + 1);
      JsonArray *gids = json_object_get_array_member (gl, "top_ids");
      JsonArray *gprobs = json_object_get_array_member (gl, "top_probs");
      double margin = json_object_get_double_member (gl, "min_margin_at_k");
      for (int i = 0; i < lens->n; i++)
        {
          JsonArray *want_ids = json_array_get_array_element (gids, i);
          JsonArray *want_p = json_array_get_array_element (gprobs, i);
          const int *ids = as_logit_lens_ids (lens, l, i);
          const float *p = as_logit_lens_probs (lens, l, i);
          for (int r = 0; r < k; r++)
            {
              double wp = json_array_get_double_element (want_p, r);
              int wid = (int) json_array_get_int_element (want_ids, r);
              worst = MAX (worst, fabs (p[r] - wp));
              g_assert_cmpfloat_with_epsilon (p[r], wp, PROB_TOL);
              if (ids[r] == wid)
                continue;
              /* A swap: WID is elsewhere in our list at a near-tied rank, or
               * it was last and tied with the golden rank k + 1. */
              gboolean tied = FALSE;
              for (int s = 0; s < k; s++)
                if (ids[s] == wid &&
                    fabs (json_array_get_double_element (want_p, s) - wp) <= TIE_TOL)
                  tied = TRUE;
              if (!tied && r == k - 1 && margin <= TIE_TOL)
                tied = TRUE;
              if (!tied)
                g_error ("layer %d position %d rank %d: id %d, transformers has %d (p %.6g)",
                         l + 1, i, r, ids[r], wid, wp);
            }
        }
    }
  return worst;
}

typedef struct {
  int                   n;
  int                   n_heads;
  const AsTokenClasses *classes;
  AsHeadStats          *stats;   /* [n_layers, n_heads] */
} SinkState;

static gboolean
sink_on_layer (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  SinkState *s = user_data;
  gsize nn = (gsize) s->n * s->n;
  for (int h = 0; h < s->n_heads; h++)
    as_head_stats_compute (attn + h * nn, s->n, s->classes, &s->stats[layer * s->n_heads + h]);
  return TRUE;
}

/* Each head's sink share from our own forward against the goldens. */
static double
compare_sink (AsBackend  *backend,
              const int  *ids,
              int         n,
              JsonObject *g)
{
  const AsConfig *c = backend->model->config;
  g_autoptr(AsTokenClasses) classes = as_token_classes_new (n);
  g_autofree AsHeadStats *stats = g_new0 (AsHeadStats, (gsize) c->n_layers * c->n_heads);
  g_autofree int *types = g_new0 (int, n);
  SinkState state = { n, c->n_heads, classes, stats };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n,
                           .on_layer = sink_on_layer, .user_data = &state };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (backend, &req, NULL, &error));
  g_assert_no_error (error);

  JsonArray *sink = json_object_get_array_member (g, "sink");
  g_assert_cmpint (json_array_get_length (sink), ==, c->n_layers);
  double worst = 0;
  for (int l = 0; l < c->n_layers; l++)
    {
      JsonArray *row = json_array_get_array_element (sink, l);
      g_assert_cmpint (json_array_get_length (row), ==, c->n_heads);
      for (int h = 0; h < c->n_heads; h++)
        {
          double ours = stats[l * c->n_heads + h].sink;
          double want = json_array_get_double_element (row, h);
          worst = MAX (worst, fabs (ours - want));
          /* A causal row 0 sees only key 0. */
          g_assert_cmpfloat (ours, >=, 1.0 / n - 1e-6);
          g_assert_cmpfloat (ours, <=, 1.0 + 1e-6);
        }
    }
  return worst;
}

/* The lens and sink shares of MODEL on the golden NAME. */
static void
check_model (AsModel    *model,
             const char *name)
{
  g_autoptr(JsonParser) parser = read_golden (name);
  JsonObject *g = json_node_get_object (json_parser_get_root (parser));
  g_assert_true (json_object_get_boolean_member (g, "last_hidden_state_is_normed"));
  int n = 0;
  g_autofree int *ids = golden_ids (g, &n);
  g_assert_cmpint (json_object_get_int_member (g, "n_layers"), ==, model->config->n_layers);

  AsBackend *backend = as_cpu_backend_new (model);
  g_autoptr(GError) error = NULL;
  g_autoptr(AsLogitLens) lens = as_logit_lens_run (backend, ids, n, 5, -1, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (lens->n_layers, ==, model->config->n_layers);
  g_assert_cmpint (lens->first, ==, 0);
  check_shape (lens);
  double worst = compare_goldens (lens, g);
  double worst_sink = compare_sink (backend, ids, n, g);
  g_test_message ("%s (%d tokens, %d layers): max |d| top-5 probability %.3g, sink share %.3g",
                  name, n, lens->n_layers, worst, worst_sink);
  g_assert_cmpfloat (worst_sink, <=, SINK_TOL);
  as_backend_free (backend);
}

/* --- the tiny seeded Llama ---------------------------------------------- */

static AsModel *
tiny_load (void)
{
  g_autofree char *path = data_path ("llama", "tiny.gguf");
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (path, &error);
  g_assert_no_error (error);
  return model;
}

static void
test_tiny_goldens (void)
{
  AsModel *model = tiny_load ();
  check_model (model, "tiny.json");
  as_model_free (model);
}

/* The last layer's lens is the model's own prediction: the backend's final
 * hidden state (normed inside the forward) through the LM head, softmax,
 * top k, must give the same tokens and probabilities. And asking for one
 * layer gives that layer's slot of the full run. */
static void
test_tiny_last_layer_is_output (void)
{
  AsModel *model = tiny_load ();
  const AsConfig *c = model->config;
  g_autoptr(JsonParser) parser = read_golden ("tiny.json");
  JsonObject *g = json_node_get_object (json_parser_get_root (parser));
  int n = 0;
  g_autofree int *ids = golden_ids (g, &n);
  const int k = 8;

  AsBackend *backend = as_cpu_backend_new (model);
  g_autoptr(GError) error = NULL;
  g_autoptr(AsLogitLens) all = as_logit_lens_run (backend, ids, n, k, -1, NULL, &error);
  g_assert_no_error (error);

  g_autofree float *final = g_new (float, (gsize) n * c->hidden);        /* [n, H] */
  g_autofree float *logits = g_new (float, (gsize) n * c->vocab_size);   /* [n, V] */
  g_autofree int *types = g_new0 (int, n);
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
  g_assert_true (as_backend_forward (backend, &req, final, &error));
  as_lm_head_logits (model, final, n, logits);
  int top[8];
  float p[8];
  g_autofree float *probs = g_new (float, c->vocab_size);   /* [V] */
  for (int i = 0; i < n; i++)
    {
      const float *row = logits + (gsize) i * c->vocab_size;   /* [V] */
      double max = row[0], sum = 0;
      for (int t = 1; t < c->vocab_size; t++)
        max = MAX (max, row[t]);
      for (int t = 0; t < c->vocab_size; t++)
        sum += exp (row[t] - max);
      for (int t = 0; t < c->vocab_size; t++)
        probs[t] = (float) (exp (row[t] - max) / sum);
      as_logit_lens_top_k (probs, c->vocab_size, k, top, p);
      const int *lid = as_logit_lens_ids (all, c->n_layers - 1, i);
      const float *lp = as_logit_lens_probs (all, c->n_layers - 1, i);
      for (int r = 0; r < k; r++)
        {
          g_assert_cmpint (lid[r], ==, top[r]);
          g_assert_cmpfloat_with_epsilon (lp[r], p[r], 1e-6);
        }
    }

  for (int l = 0; l < c->n_layers; l++)
    {
      g_autoptr(AsLogitLens) one = as_logit_lens_run (backend, ids, n, k, l, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (one->n_layers, ==, 1);
      g_assert_cmpint (one->first, ==, l);
      g_assert_cmpmem (one->ids, sizeof (int) * n * k, as_logit_lens_ids (all, l, 0),
                       sizeof (int) * n * k);
      g_assert_cmpmem (one->probs, sizeof (float) * n * k, as_logit_lens_probs (all, l, 0),
                       sizeof (float) * n * k);
    }
  as_backend_free (backend);
  as_model_free (model);
}

/* The whole vocabulary (k = V): the probabilities are a distribution. */
static void
test_tiny_full_vocab (void)
{
  AsModel *model = tiny_load ();
  const int V = model->config->vocab_size;
  const int ids[3] = { 5, 17, 42 };
  AsBackend *backend = as_cpu_backend_new (model);
  g_autoptr(GError) error = NULL;
  g_autoptr(AsLogitLens) lens = as_logit_lens_run (backend, ids, 3, V, 0, NULL, &error);
  g_assert_no_error (error);
  check_shape (lens);
  for (int i = 0; i < 3; i++)
    {
      const int *top = as_logit_lens_ids (lens, 0, i);
      const float *p = as_logit_lens_probs (lens, 0, i);
      double sum = 0;
      guint8 seen[64] = { 0 };
      g_assert_cmpint (V, <=, 64);
      for (int r = 0; r < V; r++)
        {
          sum += p[r];
          g_assert_false (seen[top[r]]);
          seen[top[r]] = 1;
        }
      g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
    }
  as_backend_free (backend);
  as_model_free (model);
}

static void
test_bad_arguments (void)
{
  AsModel *model = tiny_load ();
  const AsConfig *c = model->config;
  const int ids[2] = { 1, 2 };
  const int bad_ids[2] = { 1, 64 };
  AsBackend *backend = as_cpu_backend_new (model);
  struct { int k, layer; const int *ids; int n; const char *msg; } cases[] = {
    { 0, -1, ids, 2, "top-k 0 is out of range (1 to 64)" },
    { 65, -1, ids, 2, "top-k 65 is out of range (1 to 64)" },
    { 5, c->n_layers, ids, 2, "layer 2 is out of range (the model has layers 0 to 1)" },
    { 5, -1, ids, 0, "0 tokens requested" },
    { 5, -1, bad_ids, 2, "id 64 out of range" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      AsLogitLens *lens = as_logit_lens_run (backend, cases[i].ids, cases[i].n, cases[i].k,
                                             cases[i].layer, NULL, &error);
      g_assert_null (lens);
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
      if (strstr (error->message, cases[i].msg) == NULL)
        g_error ("case %" G_GSIZE_FORMAT ": '%s' lacks '%s'", i, error->message, cases[i].msg);
    }
  as_backend_free (backend);
  as_model_free (model);
}

static void
test_cancel (void)
{
  AsModel *model = tiny_load ();
  const int ids[4] = { 1, 2, 3, 4 };
  const gint cancel = 1;
  AsBackend *backend = as_cpu_backend_new (model);
  g_autoptr(GError) error = NULL;
  AsLogitLens *lens = as_logit_lens_run (backend, ids, 4, 5, -1, &cancel, &error);
  g_assert_null (lens);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  as_backend_free (backend);
  as_model_free (model);
}

static void
test_top_k_ties (void)
{
  const float row[7] = { 0.1f, 0.5f, 0.5f, 0.2f, 0.9f, 0.5f, -1.0f };
  int ids[7];
  float v[7];
  as_logit_lens_top_k (row, 7, 4, ids, v);
  const int want[4] = { 4, 1, 2, 5 };   /* equal values: the lower index first */
  for (int r = 0; r < 4; r++)
    g_assert_cmpint (ids[r], ==, want[r]);
  g_assert_cmpfloat (v[0], ==, 0.9f);
  g_assert_cmpfloat (v[3], ==, 0.5f);
  as_logit_lens_top_k (row, 7, 1, ids, v);
  g_assert_cmpint (ids[0], ==, 4);
  as_logit_lens_top_k (row, 7, 7, ids, v);
  g_assert_cmpint (ids[6], ==, 6);
  g_assert_cmpint (ids[5], ==, 0);
}

/* --- encoders are refused ------------------------------------------------ */

static void
check_refused (AsModel *model)
{
  g_autoptr(GError) error = NULL;
  g_assert_false (as_logit_lens_check (model, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "has no language-model head"));
  g_assert_nonnull (strstr (error->message, model->arch->name));
  g_clear_error (&error);
  const int ids[3] = { 101, 7592, 102 };
  AsBackend *backend = as_cpu_backend_new (model);
  AsLogitLens *lens = as_logit_lens_run (backend, ids, 3, 5, -1, NULL, &error);
  g_assert_null (lens);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  as_backend_free (backend);
}

static void
test_encoder_random_refused (void)
{
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_new_random ("minilm-l6", 3, &error);
  g_assert_no_error (error);
  check_refused (model);
  as_model_free (model);
}

static void
test_encoder_minilm_refused (void)
{
  const char *dir = g_getenv ("ATTNSCOPE_MODEL_DIR");
  g_autofree char *weights = dir ? g_build_filename (dir, "model.safetensors", NULL) : NULL;
  if (weights == NULL || !g_file_test (weights, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("all-MiniLM-L6-v2 is not downloaded (run tools/setup or set ATTNSCOPE_MODEL_DIR)");
      return;
    }
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  check_refused (model);
  as_model_free (model);
}

/* --- SmolLM2-135M ---------------------------------------------------------- */

static void
test_smollm2_goldens (void)
{
  AsModel *model = llama_smollm2_load ();
  if (model == NULL)
    return;
  check_model (model, "smollm2.json");
  as_model_free (model);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/logit-lens/top-k-ties", test_top_k_ties);
  g_test_add_func ("/logit-lens/tiny/goldens", test_tiny_goldens);
  g_test_add_func ("/logit-lens/tiny/last-layer-is-output", test_tiny_last_layer_is_output);
  g_test_add_func ("/logit-lens/tiny/full-vocab", test_tiny_full_vocab);
  g_test_add_func ("/logit-lens/tiny/bad-arguments", test_bad_arguments);
  g_test_add_func ("/logit-lens/tiny/cancel", test_cancel);
  g_test_add_func ("/logit-lens/encoder/random-refused", test_encoder_random_refused);
  g_test_add_func ("/logit-lens/encoder/minilm-refused", test_encoder_minilm_refused);
  g_test_add_func ("/logit-lens/smollm2/goldens", test_smollm2_goldens);
  return g_test_run ();
}
