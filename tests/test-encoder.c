/* test-encoder.c — the CPU encoder against transformers' eager attention.
 *
 * Fixtures: tests/data/attention-goldens.json + attention/NAME.safetensors,
 * made by tools/make-goldens.py. Tolerances: attention
 * probabilities within 1e-5, final hidden states within 1e-4, rows sum to 1.
 */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-bert.h"
#include "as-error.h"
#include "as-model.h"
#include "encoder-test-util.h"

#define ATTN_TOL   1e-5
#define HIDDEN_TOL 1e-4
#define ROWSUM_TOL 1e-5

static AsModel *model;
static AsBackend *backend;
static JsonArray *golden_inputs;

static gboolean
have_model (void)
{
  if (model != NULL)
    return TRUE;
  g_test_skip ("default model not downloaded (run tools/setup)");
  return FALSE;
}

static void
test_golden_input (gconstpointer data)
{
  if (!have_model ())
    return;
  g_autofree int *ids = NULL, *types = NULL;
  int n;
  JsonObject *input = golden_input (GPOINTER_TO_UINT (data), &ids, &types, &n);

  g_autoptr(GError) error = NULL;
  AsAnalysis *a = as_attention_compute_ids (backend, ids, types, n, &error);
  g_assert_no_error (error);

  AsSafetensors *golden = golden_open (input);
  double attn_diff = golden_attention_diff (a, golden);
  double hidden_diff = golden_hidden_diff (a, golden);
  double rowsum = max_row_sum_error (a);
  g_test_message ("%s: n=%d max|attn diff|=%.3g max|hidden diff|=%.3g max|row sum - 1|=%.3g",
                  json_object_get_string_member (input, "name"), n, attn_diff, hidden_diff, rowsum);
  g_assert_cmpfloat (attn_diff, <=, ATTN_TOL);
  g_assert_cmpfloat (hidden_diff, <=, HIDDEN_TOL);
  g_assert_cmpfloat (rowsum, <=, ROWSUM_TOL);

  as_safetensors_free (golden);
  as_analysis_unref (a);
}

/* Our tokenizer must give the same ids the goldens were computed on. */
static void
test_golden_tokenization (void)
{
  if (!have_model ())
    return;
  guint len = json_array_get_length (golden_inputs);
  for (guint k = 0; k < len; k++)
    {
      JsonObject *input = json_array_get_object_element (golden_inputs, k);
      /* The exact bytes: the text may hold NUL, which JSON strings in C lose. */
      gsize a_len = 0, b_len = 0;
      g_autofree guchar *a = g_base64_decode (json_object_get_string_member (input, "a_base64"), &a_len);
      JsonNode *b_node = json_object_get_member (input, "b_base64");
      g_autofree guchar *b = JSON_NODE_HOLDS_NULL (b_node) ? NULL
                             : g_base64_decode (json_node_get_string (b_node), &b_len);
      AsEncoding *enc = as_tokenizer_encode_len (model->tokenizer,
                                                 (const char *) a, (gssize) a_len,
                                                 (const char *) b, (gssize) b_len,
                                                 model->config->max_positions);
      JsonArray *ids = json_object_get_array_member (input, "ids");
      g_assert_cmpint (enc->n_tokens, ==, json_array_get_length (ids));
      for (int i = 0; i < enc->n_tokens; i++)
        g_assert_cmpint (enc->tokens[i].id, ==, json_array_get_int_element (ids, i));
      g_assert_cmpint (enc->truncated, ==, json_object_get_boolean_member (input, "truncated"));
      as_encoding_free (enc);
    }
}

typedef struct {
  int  layers_seen;
  int  last_layer;
  gint cancel;
  int  cancel_after;
} StreamState;

static gboolean
record_layer (int          layer,
              const float *attn,
              const float *hidden,
              gpointer     user_data)
{
  StreamState *s = user_data;
  g_assert_cmpint (layer, ==, s->last_layer + 1);
  s->last_layer = layer;
  s->layers_seen++;
  if (s->layers_seen == s->cancel_after)
    g_atomic_int_set (&s->cancel, 1);
  return TRUE;
}

/* Layers arrive in order, and a raised cancel flag stops between layers. */
static void
test_streaming_and_cancel (void)
{
  if (!have_model ())
    return;
  int ids[] = { 101, 7592, 1010, 2088, 999, 102 };
  int types[G_N_ELEMENTS (ids)] = { 0 };
  StreamState s = { .last_layer = -1, .cancel_after = 0 };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = G_N_ELEMENTS (ids),
                           .on_layer = record_layer, .user_data = &s, .cancel = &s.cancel };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (backend, &req, NULL, &error));
  g_assert_cmpint (s.layers_seen, ==, model->config->n_layers);

  StreamState c = { .last_layer = -1, .cancel_after = 2 };
  req.user_data = &c;
  req.cancel = &c.cancel;
  g_assert_false (as_backend_forward (backend, &req, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_assert_cmpint (c.layers_seen, ==, 2);
}

/* softmax(Q K^T / sqrt(d)) from layer_qkv reproduces the forward pass's
 * attention: the teaching view's numbers are the real ones. */
static void
test_layer_qkv_matches_attention (void)
{
  if (!have_model ())
    return;
  g_autoptr(GError) error = NULL;
  AsAnalysis *a = as_attention_compute (backend, "The cat sat on the mat.", NULL, &error);
  g_assert_no_error (error);
  int n = a->n, H = model->config->hidden, d = model->config->head_dim;
  int layer = 3, head = 5;
  g_autofree int *ids = g_new (int, n);
  g_autofree int *types = g_new (int, n);
  for (int i = 0; i < n; i++)
    {
      ids[i] = a->encoding->tokens[i].id;
      types[i] = a->encoding->tokens[i].type_id;
    }
  g_autofree float *q = g_new (float, n * H);
  g_autofree float *k = g_new (float, n * H);
  g_autofree float *v = g_new (float, n * H);
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
  g_assert_true (as_backend_layer_qkv (backend, &req, layer, q, k, v, &error));

  const float *expected = as_analysis_head (a, layer, head);
  for (int i = 0; i < n; i++)
    {
      double scores[512], max = -INFINITY, sum = 0;
      for (int j = 0; j < n; j++)
        {
          double dot = 0;
          for (int t = 0; t < d; t++)
            dot += (double) q[i * H + head * d + t] * k[j * H + head * d + t];
          scores[j] = dot / sqrt (d);
          max = MAX (max, scores[j]);
        }
      for (int j = 0; j < n; j++)
        sum += scores[j] = exp (scores[j] - max);
      for (int j = 0; j < n; j++)
        g_assert_cmpfloat_with_epsilon (scores[j] / sum, expected[i * n + j], 1e-5);
    }
  as_analysis_unref (a);
}

static gboolean
check_causal_layer (int          layer,
                    const float *attn,
                    const float *hidden,
                    gpointer     user_data)
{
  int n = GPOINTER_TO_INT (user_data);
  for (int h = 0; h < model->config->n_heads; h++)
    for (int i = 0; i < n; i++)
      {
        double sum = 0;
        for (int j = 0; j < n; j++)
          {
            float p = attn[((gsize) h * n + i) * n + j];
            if (j > i)
              g_assert_cmpfloat (p, ==, 0.0f);
            sum += p;
          }
        g_assert_cmpfloat_with_epsilon (sum, 1.0, ROWSUM_TOL);
      }
  return TRUE;
}

/* The causal-mask demonstration: nothing above the diagonal, rows still sum to 1. */
static void
test_causal_mask (void)
{
  if (!have_model ())
    return;
  int ids[] = { 101, 1996, 4937, 2938, 2006, 1996, 13523, 102 };
  int types[G_N_ELEMENTS (ids)] = { 0 };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = G_N_ELEMENTS (ids),
                           .causal_mask = TRUE, .on_layer = check_causal_layer,
                           .user_data = GINT_TO_POINTER (G_N_ELEMENTS (ids)) };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (backend, &req, NULL, &error));
}

static void
test_bad_requests (void)
{
  if (!have_model ())
    return;
  int ids[] = { 101, 999999, 102 };
  int types[] = { 0, 0, 0 };
  g_autoptr(GError) error = NULL;
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = 3 };
  g_assert_false (as_backend_forward (backend, &req, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  req.n = model->config->max_positions + 1;
  g_assert_false (as_backend_forward (backend, &req, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
}

/* Weights that are finite but overflow float32 in Q·K (scaled by 1e18, as a
 * broken fine-tune can be) give NaN attention. The pass stops at that layer
 * with an error naming it and its first head, and no non-finite layer ever
 * reaches the caller. Random weights with MiniLM's shapes: no download. */
static void
test_not_finite_attention (void)
{
  g_autoptr(GError) error = NULL;
  AsModel *big = as_model_new_random ("minilm-l6", 7, &error);
  g_assert_no_error (error);
  const int bad_layer = 2;
  const gsize HH = (gsize) big->config->hidden * big->config->hidden;
  float *q_w = (float *) as_bert_weights (big)->layers[bad_layer].q_w;
  float *k_w = (float *) as_bert_weights (big)->layers[bad_layer].k_w;
  for (gsize i = 0; i < HH; i++)
    {
      q_w[i] *= 1e18f;
      k_w[i] *= 1e18f;
    }
  AsBackend *cpu = as_cpu_backend_new (big);
  int ids[] = { 101, 7592, 1010, 2088, 999, 102 };
  int types[G_N_ELEMENTS (ids)] = { 0 };
  StreamState s = { .last_layer = -1 };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = G_N_ELEMENTS (ids),
                           .on_layer = record_layer, .user_data = &s, .cancel = &s.cancel };
  g_assert_false (as_backend_forward (cpu, &req, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_NOT_FINITE);
  g_assert_nonnull (strstr (error->message, "layer 3, head 1:"));
  g_assert_cmpint (s.layers_seen, ==, bad_layer);

  /* Without a layer callback the final hidden state is what gets checked. */
  g_clear_error (&error);
  g_autofree float *hidden = g_new (float, G_N_ELEMENTS (ids) * big->config->hidden);
  AsForwardRequest quiet = { .ids = ids, .type_ids = types, .n = G_N_ELEMENTS (ids) };
  g_assert_false (as_backend_forward (cpu, &quiet, hidden, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_NOT_FINITE);
  as_backend_free (cpu);
  as_model_free (big);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  golden_inputs = goldens_load ();

  g_autoptr(GError) error = NULL;
  g_autofree char *dir = as_model_default_dir ();
  if (g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      model = as_model_load (dir, &error);
      g_assert_no_error (error);
      backend = as_cpu_backend_new (model);
    }

  guint len = json_array_get_length (golden_inputs);
  for (guint k = 0; k < len; k++)
    {
      JsonObject *input = json_array_get_object_element (golden_inputs, k);
      g_autofree char *name = g_strdup_printf ("/encoder/golden/%s", json_object_get_string_member (input, "name"));
      g_test_add_data_func (name, GUINT_TO_POINTER (k), test_golden_input);
    }
  g_test_add_func ("/encoder/golden-tokenization", test_golden_tokenization);
  g_test_add_func ("/encoder/streaming-and-cancel", test_streaming_and_cancel);
  g_test_add_func ("/encoder/layer-qkv", test_layer_qkv_matches_attention);
  g_test_add_func ("/encoder/causal-mask", test_causal_mask);
  g_test_add_func ("/encoder/bad-requests", test_bad_requests);
  g_test_add_func ("/encoder/not-finite-attention", test_not_finite_attention);

  int status = g_test_run ();
  as_backend_free (backend);
  as_model_free (model);
  goldens_free ();
  return status;
}
