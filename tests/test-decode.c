/* test-decode.c — the decoders' fast CPU backend (as-cpu-decoder.c, for
 * Llama and GPT-2) and decoding over its key/value cache (as-decode.h).
 *
 * On the tiny seeded Llama GGUF (tests/data/llama/tiny.gguf), the tiny
 * GPT-2 folder (tests/data/gpt2-tiny) and random models of each family
 * long enough to split attention into blocks always, and on
 * SmolLM2-135M-Instruct when it is downloaded (else skipped with the
 * reason):
 *  - the fast forward's attention and final hidden state against the
 *    reference backend and against transformers' (tests/data/llama/);
 *  - a decoder over the fast backend (cached) against one over the
 *    reference (whole reruns, whose rows are by construction the last rows
 *    of full forwards): prompt logits, then every layer's row and the
 *    logits for each appended token;
 *  - a step's row against the last row of the fast forward over the same
 *    tokens;
 *  - refusals: past capacity, a cancel raised mid-step (and the step after
 *    it), a token out of range, on_row saying stop.
 * With AS_DECODE_BENCH=1 and SmolLM2, /decode/bench times prompt forwards
 * and decoding (not a test: it only prints).
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "as-ablation.h"
#include "as-attention.h"
#include "as-backend.h"
#include "as-decode.h"
#include "as-error.h"
#include "as-gpt2.h"
#include "as-llama.h"
#include "as-model.h"
#include "as-reference.h"
#include "llama-test-util.h"

/* Fast against reference, attention (probabilities, in [0, 1]): absolute,
 * the bound the fast path must keep. Final hidden states, Q/K/V and
 * logits are not bounded in size, and a sum's rounding grows with its
 * terms, so they are compared relative to the largest magnitude in the
 * reference's row (at least 1): max |fast - ref| / max(1, max |ref|). */
#define ATTN_TOL        2e-5
#define HIDDEN_REL_TOL  2e-5
#define LOGIT_REL_TOL   2e-5
/* Against transformers, as tests/test-llama.c bounds the reference. */
#define GOLDEN_HIDDEN_TOL 5e-4

/* Tokens appended in the decoding comparisons. */
#define STEPS 8

/* --- the models -------------------------------------------------------------- */

static AsModel *tiny;
static AsModel *smollm2;
static AsModel *wide;
static AsModel *gpt2_tiny;
static AsModel *gpt2_wide;
static char *smollm2_skip;

static AsModel *
tiny_model (void)
{
  if (tiny == NULL)
    {
      g_autofree char *path = llama_fixture_path ("tiny.gguf");
      g_autoptr(GError) error = NULL;
      tiny = as_model_load (path, &error);
      g_assert_no_error (error);
    }
  return tiny;
}

/* Random weights, room for LONG_TOKENS: a prompt longer than a block of
 * query rows (as-cpu-decoder.c's ATTN_ROWS, 112) and split by rows between
 * threads, which the fixtures' short cases are not. */
#define LONG_TOKENS 200

static const char *wide_config =
  "{\"model_type\": \"llama\", \"num_hidden_layers\": 2, \"num_attention_heads\": 6,"
  " \"num_key_value_heads\": 2, \"hidden_size\": 48, \"intermediate_size\": 80,"
  " \"vocab_size\": 64, \"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-5,"
  " \"rope_theta\": 10000.0, \"hidden_act\": \"silu\"}";

static AsModel *
wide_model (void)
{
  if (wide != NULL)
    return wide;
  wide = test_random_model (wide_config, "wide llama (random weights)", 11);
  const AsConfig *config = wide->config;
  /* W_q and W_k 20 times larger: scores of order 10, so attention is
   * peaked, not the near-uniform rows of std-0.02 weights, and a wrong key
   * or query shows */
  const AsLlamaWeights *w = as_llama_weights (wide);
  const int H = config->hidden, KV = config->n_kv_heads * config->head_dim;
  for (int l = 0; l < config->n_layers; l++)
    {
      float *q = (float *) w->layers[l].q_w, *k = (float *) w->layers[l].k_w;
      for (int i = 0; i < H * H; i++)
        q[i] *= 20.0f;
      for (int i = 0; i < KV * H; i++)
        k[i] *= 20.0f;
    }
  return wide;
}

static AsModel *
gpt2_tiny_model (void)
{
  if (gpt2_tiny == NULL)
    {
      g_autofree char *path = g_build_filename (g_getenv ("AS_TEST_DATA"), "gpt2-tiny", NULL);
      g_autoptr(GError) error = NULL;
      gpt2_tiny = as_model_load (path, &error);
      g_assert_no_error (error);
    }
  return gpt2_tiny;
}

static const char *gpt2_wide_config =
  "{\"model_type\": \"gpt2\", \"n_layer\": 2, \"n_head\": 6, \"n_embd\": 48,"
  " \"n_inner\": 80, \"vocab_size\": 64, \"n_positions\": 256,"
  " \"layer_norm_epsilon\": 1e-5, \"activation_function\": \"gelu_new\"}";

/* out[count] = random values of about SCALE around CENTER (a fixed
 * sequence): gains, biases and positions that are not 1s and 0s, so a bias
 * or a norm in the wrong place shows. */
static void
perturb (const float *out,
         gsize        count,
         float        center,
         float        scale,
         guint32     *state)
{
  float *w = (float *) out;
  for (gsize i = 0; i < count; i++)
    {
      *state = *state * 1664525u + 1013904223u;
      w[i] = center + scale * ((float) (*state >> 8) / (float) (1u << 24) - 0.5f);
    }
}

/* A random GPT-2 as wide_model's Llama: room for LONG_TOKENS, Q and K
 * columns of c_attn 20 times larger; every gain, bias and position
 * random. */
static AsModel *
gpt2_wide_model (void)
{
  if (gpt2_wide != NULL)
    return gpt2_wide;
  gpt2_wide = test_random_model (gpt2_wide_config, "wide gpt2 (random weights)", 13);
  const AsConfig *config = gpt2_wide->config;
  const AsGpt2Weights *w = as_gpt2_weights (gpt2_wide);
  const int H = config->hidden, F = config->intermediate;
  guint32 state = 5;
  perturb (w->wpe, (gsize) config->max_positions * H, 0, 0.2f, &state);
  perturb (w->lnf_g, H, 1, 0.4f, &state);
  perturb (w->lnf_b, H, 0, 0.2f, &state);
  for (int l = 0; l < config->n_layers; l++)
    {
      const AsGpt2LayerWeights *lw = &w->layers[l];
      float *qkv = (float *) lw->qkv_w;   /* [H, 3H] */
      for (int i = 0; i < H; i++)
        for (int j = 0; j < 2 * H; j++)
          qkv[(gsize) i * 3 * H + j] *= 20.0f;
      perturb (lw->ln1_g, H, 1, 0.4f, &state);
      perturb (lw->ln1_b, H, 0, 0.2f, &state);
      perturb (lw->qkv_b, 3 * H, 0, 0.2f, &state);
      perturb (lw->proj_b, H, 0, 0.2f, &state);
      perturb (lw->ln2_g, H, 1, 0.4f, &state);
      perturb (lw->ln2_b, H, 0, 0.2f, &state);
      perturb (lw->fc_b, F, 0, 0.2f, &state);
      perturb (lw->fc_proj_b, H, 0, 0.2f, &state);
    }
  return gpt2_wide;
}

static AsModel *
smollm2_model (void)
{
  if (smollm2 == NULL && smollm2_skip == NULL)
    {
      smollm2 = llama_smollm2_load ();
      smollm2_skip = smollm2 == NULL ? g_strdup ("the SmolLM2 GGUF is not downloaded") : NULL;
      return smollm2;
    }
  if (smollm2 == NULL)
    g_test_skip (smollm2_skip);
  return smollm2;
}

/* A golden case: ids and the fixtures' name prefix. */
typedef struct {
  char *name;    /* "tiny", "short", ...; NULL: no fixtures */
  int  *ids;     /* [n] */
  int   n;
} Case;

static void
case_clear (Case *cs)
{
  g_free (cs->name);
  g_free (cs->ids);
}

static int *
ids_of (JsonArray *jids,
        int       *n)
{
  *n = (int) json_array_get_length (jids);
  int *ids = g_new (int, *n);
  for (int i = 0; i < *n; i++)
    ids[i] = (int) json_array_get_int_element (jids, i);
  return ids;
}

/* The tiny Llama's one case (tiny.json), SmolLM2's (cases.json), or ids
 * of no fixture: LONG_TOKENS for a random model, 24 for the tiny GPT-2
 * (tests/test-gpt2.c checks it against its goldens). */
static GArray *
cases_for (const AsModel *model)
{
  GArray *cases = g_array_new (FALSE, TRUE, sizeof (Case));
  g_array_set_clear_func (cases, (GDestroyNotify) case_clear);
  if (model != tiny && model != smollm2)
    {
      const int n = model == gpt2_tiny ? 24 : LONG_TOKENS;
      Case cs = { NULL, g_new (int, n), n };
      for (int i = 0; i < cs.n; i++)
        cs.ids[i] = (i * 37 + 11) % model->config->vocab_size;
      g_array_append_val (cases, cs);
      return cases;
    }
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *path = llama_fixture_path (model == tiny ? "tiny.json" : "cases.json");
  g_assert_true (json_parser_load_from_file (parser, path, &error));
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  if (model == tiny)
    {
      Case cs = { g_strdup ("tiny") };
      cs.ids = ids_of (json_object_get_array_member (root, "ids"), &cs.n);
      g_array_append_val (cases, cs);
      return cases;
    }
  JsonArray *all = json_object_get_array_member (root, "cases");
  for (guint i = 0; i < json_array_get_length (all); i++)
    {
      JsonObject *o = json_array_get_object_element (all, i);
      Case cs = { g_strdup (json_object_get_string_member (o, "name")) };
      cs.ids = ids_of (json_object_get_array_member (o, "ids"), &cs.n);
      g_array_append_val (cases, cs);
    }
  return cases;
}

/* max |a - b| / max(1, max |b|) over COUNT values. */
static double
max_rel_diff (const float *a,
              const float *b,
              gsize        count)
{
  double diff = 0, scale = 1;
  for (gsize i = 0; i < count; i++)
    {
      diff = MAX (diff, fabs ((double) a[i] - b[i]));
      scale = MAX (scale, fabs ((double) b[i]));
    }
  return diff / scale;
}

static double
max_abs_diff (const float *a,
              const float *b,
              gsize        count)
{
  double diff = 0;
  for (gsize i = 0; i < count; i++)
    diff = MAX (diff, fabs ((double) a[i] - b[i]));
  return diff;
}

/* --- (a) the fast forward ------------------------------------------------------- */

static void
check_forward (AsModel *model)
{
  const AsConfig *c = model->config;
  AsBackend *cpu = as_cpu_backend_new (model);
  AsBackend *ref = as_reference_backend_new (model);
  g_assert_cmpstr (as_backend_get_name (cpu), ==, "cpu");
  g_autofree char *desc = as_backend_describe (cpu);
  g_test_message ("%s", desc);
  g_assert_nonnull (strstr (desc, "threads"));
  g_autoptr(GArray) cases = cases_for (model);
  for (guint ci = 0; ci < cases->len; ci++)
    {
      Case *cs = &g_array_index (cases, Case, ci);
      const int n = cs->n, H = c->hidden;
      g_autofree int *types = g_new0 (int, n);
      g_autoptr(GError) error = NULL;
      AsAnalysis *fast = as_attention_compute_ids (cpu, cs->ids, types, n, &error);
      g_assert_no_error (error);
      AsAnalysis *want = as_attention_compute_ids (ref, cs->ids, types, n, &error);
      g_assert_no_error (error);
      const gsize count = (gsize) c->n_layers * c->n_heads * n * n;
      double attn = max_abs_diff (fast->attn, want->attn, count);
      double hidden = 0;
      for (int i = 0; i < n; i++)
        hidden = MAX (hidden, max_rel_diff (fast->final_hidden + (gsize) i * H,
                                            want->final_hidden + (gsize) i * H, H));
      /* causal: keys after the query exactly 0 */
      for (gsize m = 0; m < (gsize) c->n_layers * c->n_heads; m++)
        for (int i = 0; i < n; i++)
          for (int j = i + 1; j < n; j++)
            g_assert_cmpfloat (fast->attn[(m * n + i) * n + j], ==, 0.0f);

      g_test_message ("%s (%d tokens), fast vs reference: attention %.3g, final hidden %.3g "
                      "(relative)", cs->name ? cs->name : "random", n, attn, hidden);
      g_assert_cmpfloat (attn, <=, ATTN_TOL);
      g_assert_cmpfloat (hidden, <=, HIDDEN_REL_TOL);
      if (cs->name != NULL)
        {
          g_autofree char *attn_name = g_strdup_printf ("%s-attn.f32", cs->name);
          g_autofree char *hidden_name = g_strdup_printf ("%s-hidden.f32", cs->name);
          g_autofree float *golden_attn = llama_read_floats (attn_name, count);
          g_autofree float *golden_hidden = llama_read_floats (hidden_name, (gsize) n * H);
          double g_attn = max_abs_diff (fast->attn, golden_attn, count);
          double g_hidden = max_abs_diff (fast->final_hidden, golden_hidden, (gsize) n * H);
          g_test_message ("%s, fast vs transformers: attention %.3g, final hidden %.3g",
                          cs->name, g_attn, g_hidden);
          g_assert_cmpfloat (g_attn, <=, ATTN_TOL);
          g_assert_cmpfloat (g_hidden, <=, GOLDEN_HIDDEN_TOL);
        }

      /* layer_qkv as the reference's: K and V repeated per query head */
      const int layer = c->n_layers - 1;
      const gsize nH = (gsize) n * H;
      g_autofree float *q = g_new (float, 3 * nH);
      g_autofree float *q_ref = g_new (float, 3 * nH);
      AsForwardRequest req = { .ids = cs->ids, .type_ids = types, .n = n };
      g_assert_true (as_backend_layer_qkv (cpu, &req, layer, q, q + nH, q + 2 * nH, &error));
      g_assert_no_error (error);
      g_assert_true (as_backend_layer_qkv (ref, &req, layer, q_ref, q_ref + nH, q_ref + 2 * nH,
                                           &error));
      g_assert_no_error (error);
      double qkv = max_rel_diff (q, q_ref, 3 * nH);
      g_test_message ("layer %d Q, K, V: %.3g (relative)", layer, qkv);
      g_assert_cmpfloat (qkv, <=, HIDDEN_REL_TOL);

      as_analysis_unref (fast);
      as_analysis_unref (want);
    }
  as_backend_free (ref);
  as_backend_free (cpu);
}

static void
test_forward_tiny (void)
{
  check_forward (tiny_model ());
}

static void
test_forward_long (void)
{
  check_forward (wide_model ());
}

static void
test_forward_gpt2_tiny (void)
{
  check_forward (gpt2_tiny_model ());
}

static void
test_forward_gpt2_long (void)
{
  check_forward (gpt2_wide_model ());
}

static void
test_forward_smollm2 (void)
{
  AsModel *model = smollm2_model ();
  if (model != NULL)
    check_forward (model);
}

/* --- (b, c) decoding ------------------------------------------------------------- */

/* Every row a step hands over: [n_layers, NH, n_ctx]. */
typedef struct {
  float *rows;
  int    n_heads;
  int    n_ctx;
  int    calls;
  int    stop_at;     /* layer at which to say stop, or -1 */
  gint  *raise;       /* raised once layer raise_at is handed over, or NULL */
  int    raise_at;
} Rows;

static gboolean
keep_rows (int          layer,
           const float *row,
           int          n_ctx,
           gpointer     user_data)
{
  Rows *r = user_data;
  g_assert_cmpint (layer, ==, r->calls);
  g_assert_cmpint (n_ctx, ==, r->n_ctx);
  memcpy (r->rows + (gsize) layer * r->n_heads * n_ctx, row,
          sizeof (float) * r->n_heads * n_ctx);
  r->calls++;
  if (r->raise != NULL && layer == r->raise_at)
    g_atomic_int_set (r->raise, 1);
  return layer != r->stop_at;
}

static int
argmax (const float *v,
        int          n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    best = v[i] > v[best] ? i : best;
  return best;
}

static void
check_decoding (AsModel *model)
{
  const AsConfig *c = model->config;
  AsBackend *cpu = as_cpu_backend_new (model);
  AsBackend *ref = as_reference_backend_new (model);
  g_autoptr(GArray) cases = cases_for (model);
  Case *cs = &g_array_index (cases, Case, cases->len - 1);   /* the longest */
  const int n0 = cs->n, V = c->vocab_size, L = c->n_layers, NH = c->n_heads;
  const int capacity = n0 + STEPS;
  g_autoptr(GError) error = NULL;
  g_autoptr(AsDecoder) fast = as_decoder_new (cpu, capacity, &error);
  g_assert_no_error (error);
  g_autoptr(AsDecoder) slow = as_decoder_new (ref, capacity, &error);
  g_assert_no_error (error);
  g_assert_true (as_decoder_is_cached (fast));
  g_assert_false (as_decoder_is_cached (slow));

  g_autofree int *types = g_new0 (int, n0);
  AsForwardRequest req = { .ids = cs->ids, .type_ids = types, .n = n0 };
  g_autofree float *logits = g_new (float, V);
  g_autofree float *want_logits = g_new (float, V);
  g_assert_true (as_decoder_prompt (fast, &req, logits, &error));
  g_assert_no_error (error);
  g_assert_true (as_decoder_prompt (slow, &req, want_logits, &error));
  g_assert_no_error (error);
  double worst_logit = max_rel_diff (logits, want_logits, V), worst_row = 0, worst_last = 0;
  g_assert_cmpfloat (worst_logit, <=, LOGIT_REL_TOL);

  g_autofree float *rows = g_new (float, (gsize) L * NH * capacity);
  g_autofree float *want_rows = g_new (float, (gsize) L * NH * capacity);
  g_autofree int *ids = g_new (int, capacity);
  memcpy (ids, cs->ids, sizeof (int) * n0);
  for (int s = 0; s < STEPS; s++)
    {
      const int token = argmax (want_logits, V), n_ctx = n0 + s + 1;
      ids[n0 + s] = token;
      Rows got = { rows, NH, n_ctx, 0, -1 }, want = { want_rows, NH, n_ctx, 0, -1 };
      g_assert_true (as_decoder_step (fast, token, keep_rows, &got, NULL, logits, &error));
      g_assert_no_error (error);
      g_assert_true (as_decoder_step (slow, token, keep_rows, &want, NULL, want_logits, &error));
      g_assert_no_error (error);
      g_assert_cmpint (got.calls, ==, L);
      g_assert_cmpint (want.calls, ==, L);
      const gsize count = (gsize) L * NH * n_ctx;
      worst_row = MAX (worst_row, max_abs_diff (rows, want_rows, count));
      worst_logit = MAX (worst_logit, max_rel_diff (logits, want_logits, V));
      /* each row a distribution over the n_ctx tokens */
      for (gsize m = 0; m < (gsize) L * NH; m++)
        {
          double sum = 0;
          for (int j = 0; j < n_ctx; j++)
            sum += rows[m * n_ctx + j];
          g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
        }

      /* (c) the row of this step is the last row of the fast forward over
       * the same tokens */
      AsAnalysis *a = as_attention_compute_ids (cpu, ids, NULL, n_ctx, &error);
      g_assert_no_error (error);
      for (gsize m = 0; m < (gsize) L * NH; m++)
        worst_last = MAX (worst_last,
                          max_abs_diff (rows + m * n_ctx,
                                        a->attn + (m * n_ctx + n_ctx - 1) * n_ctx, n_ctx));
      as_analysis_unref (a);
    }
  g_test_message ("%d + %d tokens, cached vs reruns: rows %.3g, logits %.3g (relative); "
                  "step rows vs the fast forward's last rows %.3g",
                  n0, STEPS, worst_row, worst_logit, worst_last);
  g_assert_cmpfloat (worst_row, <=, ATTN_TOL);
  g_assert_cmpfloat (worst_logit, <=, LOGIT_REL_TOL);
  g_assert_cmpfloat (worst_last, <=, ATTN_TOL);
  g_assert_cmpint (as_decoder_get_length (fast), ==, capacity);
  g_assert_cmpmem (as_decoder_get_ids (fast), sizeof (int) * capacity, ids, sizeof (int) * capacity);

  /* (d) full: refused with a message, nothing handed over */
  Rows none = { rows, NH, capacity + 1, 0, -1 };
  g_assert_false (as_decoder_step (fast, 1, keep_rows, &none, NULL, logits, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "full"));
  g_assert_cmpint (none.calls, ==, 0);
  g_clear_error (&error);

  g_clear_pointer (&fast, as_decoder_free);
  g_clear_pointer (&slow, as_decoder_free);
  as_backend_free (ref);
  as_backend_free (cpu);
}

static void
test_decode_tiny (void)
{
  check_decoding (tiny_model ());
}

static void
test_decode_long (void)
{
  check_decoding (wide_model ());
}

static void
test_decode_gpt2_tiny (void)
{
  check_decoding (gpt2_tiny_model ());
}

static void
test_decode_gpt2_long (void)
{
  check_decoding (gpt2_wide_model ());
}

static void
test_decode_smollm2 (void)
{
  AsModel *model = smollm2_model ();
  if (model != NULL)
    check_decoding (model);
}

/* --- (f) decoding with heads ablated ------------------------------------------------ */

/* Heads switched off in the prompt and every step (as-ablation.h): one per
 * mode, the mean one in the last layer (its running sums carry over from
 * the prompt). The cached decoder against whole reruns, each of which
 * ablates the whole sequence: rows and logits; a zero head's rows all 0
 * and a uniform one's 1 / n_ctx in both; the text differs from the
 * unablated model's logits. */
static void
check_decoding_ablated (AsModel *model)
{
  const AsConfig *c = model->config;
  const int L = c->n_layers, NH = c->n_heads, V = c->vocab_size;
  const AsHeadAblation ablate[] = {
    { 0, 0, AS_ABLATE_ZERO },
    { 0, 1 % NH, AS_ABLATE_UNIFORM },
    { L - 1, NH - 1, AS_ABLATE_MEAN },
  };
  AsBackend *cpu = as_cpu_backend_new (model);
  AsBackend *ref = as_reference_backend_new (model);
  g_autoptr(GArray) cases = cases_for (model);
  Case *cs = &g_array_index (cases, Case, cases->len - 1);
  const int n0 = cs->n, capacity = n0 + STEPS;
  g_autoptr(GError) error = NULL;
  g_autoptr(AsDecoder) fast = as_decoder_new (cpu, capacity, &error);
  g_assert_no_error (error);
  g_autoptr(AsDecoder) slow = as_decoder_new (ref, capacity, &error);
  g_assert_no_error (error);
  g_autoptr(AsDecoder) plain = as_decoder_new (cpu, capacity, &error);
  g_assert_no_error (error);
  AsForwardRequest req = { .ids = cs->ids, .n = n0, .ablate = ablate,
                           .n_ablate = G_N_ELEMENTS (ablate) };
  AsForwardRequest plain_req = { .ids = cs->ids, .n = n0 };
  g_autofree float *logits = g_new (float, V);
  g_autofree float *want_logits = g_new (float, V);
  g_autofree float *plain_logits = g_new (float, V);
  g_assert_true (as_decoder_prompt (fast, &req, logits, &error));
  g_assert_no_error (error);
  g_assert_true (as_decoder_prompt (slow, &req, want_logits, &error));
  g_assert_no_error (error);
  g_assert_true (as_decoder_prompt (plain, &plain_req, plain_logits, &error));
  g_assert_no_error (error);
  double worst_logit = max_rel_diff (logits, want_logits, V), worst_row = 0, moved = 0;

  g_autofree float *rows = g_new (float, (gsize) L * NH * capacity);
  g_autofree float *want_rows = g_new (float, (gsize) L * NH * capacity);
  for (int s = 0; s < STEPS; s++)
    {
      const int token = argmax (want_logits, V), n_ctx = n0 + s + 1;
      Rows got = { rows, NH, n_ctx, 0, -1 }, want = { want_rows, NH, n_ctx, 0, -1 };
      g_assert_true (as_decoder_step (fast, token, keep_rows, &got, NULL, logits, &error));
      g_assert_no_error (error);
      g_assert_true (as_decoder_step (slow, token, keep_rows, &want, NULL, want_logits, &error));
      g_assert_no_error (error);
      g_assert_true (as_decoder_step (plain, token, NULL, NULL, NULL, plain_logits, &error));
      g_assert_no_error (error);
      worst_row = MAX (worst_row, max_abs_diff (rows, want_rows, (gsize) L * NH * n_ctx));
      worst_logit = MAX (worst_logit, max_rel_diff (logits, want_logits, V));
      moved = MAX (moved, max_rel_diff (logits, plain_logits, V));
      const float *zero = rows + (gsize) (0 * NH + 0) * n_ctx;                 /* [n_ctx] */
      const float *uniform = rows + (gsize) (0 * NH + 1 % NH) * n_ctx;         /* [n_ctx] */
      const float *zero_want = want_rows + (gsize) (0 * NH + 0) * n_ctx;       /* [n_ctx] */
      for (int j = 0; j < n_ctx; j++)
        {
          g_assert_cmpfloat (zero[j], ==, 0.0f);
          g_assert_cmpfloat (zero_want[j], ==, 0.0f);
          if (NH > 1)
            g_assert_cmpfloat (uniform[j], ==, 1.0f / (float) n_ctx);
        }
    }
  g_test_message ("%d + %d tokens, 3 heads ablated, cached vs reruns: rows %.3g, logits %.3g "
                  "(relative); logits moved by the ablation %.3g", n0, STEPS, worst_row,
                  worst_logit, moved);
  g_assert_cmpfloat (worst_row, <=, ATTN_TOL);
  g_assert_cmpfloat (worst_logit, <=, LOGIT_REL_TOL);
  g_assert_cmpfloat (moved, >, 100 * LOGIT_REL_TOL);
  g_clear_pointer (&fast, as_decoder_free);
  g_clear_pointer (&slow, as_decoder_free);
  g_clear_pointer (&plain, as_decoder_free);
  as_backend_free (ref);
  as_backend_free (cpu);
}

static void
test_ablated_llama (void)
{
  check_decoding_ablated (wide_model ());
}

static void
test_ablated_gpt2 (void)
{
  check_decoding_ablated (gpt2_wide_model ());
}

/* --- (d, e) refusals -------------------------------------------------------------- */

static AsDecoder *
prompted (AsBackend *cpu,
          int        capacity,
          float     *logits)
{
  const int ids[4] = { 3, 17, 5, 9 };
  AsForwardRequest req = { .ids = ids, .n = 4 };
  g_autoptr(GError) error = NULL;
  AsDecoder *d = as_decoder_new (cpu, capacity, &error);
  g_assert_no_error (error);
  g_assert_true (as_decoder_prompt (d, &req, logits, &error));
  g_assert_no_error (error);
  return d;
}

static void
test_refusals (void)
{
  AsModel *model = tiny_model ();
  const AsConfig *c = model->config;
  AsBackend *cpu = as_cpu_backend_new (model);
  g_autofree float *logits = g_new (float, c->vocab_size);
  g_autofree float *rows = g_new (float, (gsize) c->n_layers * c->n_heads * 8);
  g_autoptr(GError) error = NULL;

  /* an out-of-range token: refused, and the decoder goes on */
  AsDecoder *d = prompted (cpu, 8, logits);
  const int bad[] = { -1, c->vocab_size };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (as_decoder_step (d, bad[i], NULL, NULL, NULL, logits, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
      g_assert_nonnull (strstr (error->message, "out of range"));
      g_clear_error (&error);
    }
  g_assert_cmpint (as_decoder_get_length (d), ==, 4);
  g_assert_true (as_decoder_step (d, 7, NULL, NULL, NULL, logits, &error));
  g_assert_no_error (error);
  g_assert_cmpint (as_decoder_get_length (d), ==, 5);

  /* on_row saying stop at layer 0: CANCELLED, no further layer */
  Rows stop = { rows, c->n_heads, 6, 0, 0 };
  g_assert_false (as_decoder_step (d, 7, keep_rows, &stop, NULL, logits, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_assert_cmpint (stop.calls, ==, 1);
  g_clear_error (&error);
  /* the step stopped half way: the next is refused */
  g_assert_false (as_decoder_step (d, 7, NULL, NULL, NULL, logits, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_test_message ("after a stop: %s", error->message);
  g_clear_error (&error);
  as_decoder_free (d);

  /* a cancel raised mid-step (by the row callback of layer 0, so between
   * layers 0 and 1): CANCELLED, later layers not run, the next step refused */
  d = prompted (cpu, 8, logits);
  gint cancel = 0;
  Rows raise = { rows, c->n_heads, 5, 0, -1, &cancel, 0 };
  g_assert_false (as_decoder_step (d, 7, keep_rows, &raise, &cancel, logits, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_assert_cmpint (raise.calls, ==, 1);
  g_clear_error (&error);
  cancel = 0;
  g_assert_false (as_decoder_step (d, 7, NULL, NULL, &cancel, logits, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  as_decoder_free (d);

  /* the backend's own guards, below the decoder: a step before any prompt,
   * a prompt that does not fit, a step past capacity */
  const AsBackendVTable *vt = cpu->vtable;
  gpointer cache = vt->decode_new (cpu, 4, &error);
  g_assert_no_error (error);
  g_autofree float *hidden = g_new (float, c->hidden);
  g_assert_false (vt->decode_step (cpu, cache, 1, NULL, NULL, NULL, hidden, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "no prompt"));
  g_clear_error (&error);
  const int five[5] = { 1, 2, 3, 4, 5 };
  AsForwardRequest req5 = { .ids = five, .n = 5 };
  g_assert_false (vt->decode_prompt (cpu, cache, &req5, hidden, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  req5.n = 4;
  g_assert_true (vt->decode_prompt (cpu, cache, &req5, hidden, &error));
  g_assert_no_error (error);
  g_assert_false (vt->decode_step (cpu, cache, 1, NULL, NULL, NULL, hidden, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "full"));
  g_clear_error (&error);
  g_assert_false (vt->decode_step (cpu, cache, -3, NULL, NULL, NULL, hidden, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  vt->decode_free (cpu, cache);

  /* a cancel raised before the prompt stops it before any layer */
  cancel = 1;
  const int ids[3] = { 1, 2, 3 };
  AsForwardRequest req = { .ids = ids, .n = 3, .cancel = &cancel };
  d = as_decoder_new (cpu, 8, &error);
  g_assert_no_error (error);
  g_assert_false (as_decoder_prompt (d, &req, logits, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_clear_error (&error);
  as_decoder_free (d);
  as_backend_free (cpu);
}

/* --- timing (AS_DECODE_BENCH=1) ----------------------------------------------------- */

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (every thread): on a shared machine,
 * beside the wall time, it shows whether the threads had their cores. */
static double
cpu_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static gboolean
count_row (int          layer,
           const float *row,
           int          n_ctx,
           gpointer     user_data)
{
  float *sink = user_data;
  *sink += row[n_ctx - 1];
  return TRUE;
}

static void
test_bench (void)
{
  if (g_strcmp0 (g_getenv ("AS_DECODE_BENCH"), "1") != 0)
    {
      g_test_skip ("timings only with AS_DECODE_BENCH=1");
      return;
    }
  AsModel *model = smollm2_model ();
  if (model == NULL)
    return;
  const AsConfig *c = model->config;
  AsBackend *cpu = as_cpu_backend_new (model);
  AsBackend *ref = as_reference_backend_new (model);
  g_autofree char *desc = as_backend_describe (cpu);
  g_test_message ("%s", desc);
  const int lengths[] = { 128, 512 };
  g_autofree int *ids = g_new (int, 512);
  for (int i = 0; i < 512; i++)
    ids[i] = (int) (((gint64) i * 7919 + 13) % c->vocab_size);
  g_autoptr(GError) error = NULL;
  const gboolean forwards = g_strcmp0 (g_getenv ("AS_DECODE_BENCH_FORWARD"), "0") != 0;
  for (guint li = 0; forwards && li < G_N_ELEMENTS (lengths); li++)
    {
      const int n = lengths[li];
      g_autofree float *hidden = g_new (float, (gsize) n * c->hidden);
      AsForwardRequest req = { .ids = ids, .n = n };
      double best = 1e9, best_cpu = 0;
      for (int r = 0; r < 3; r++)
        {
          double t0 = now_s (), c0 = cpu_s ();
          g_assert_true (as_backend_forward (cpu, &req, hidden, &error));
          if (now_s () - t0 < best)
            {
              best = now_s () - t0;
              best_cpu = cpu_s () - c0;
            }
        }
      double t0 = now_s ();
      if (g_strcmp0 (g_getenv ("AS_DECODE_BENCH_REF"), "0") != 0)
        g_assert_true (as_backend_forward (ref, &req, hidden, &error));
      double t_ref = now_s () - t0;
      g_test_message ("prompt forward, %d tokens: fast %.3f s (best of 3; %.3f s CPU), "
                      "reference %.3f s", n, best, best_cpu, t_ref);
    }
  const int ctx = 256, steps = 32;
  g_autoptr(AsDecoder) d = as_decoder_new (cpu, ctx + steps, &error);
  g_assert_no_error (error);
  g_autofree float *logits = g_new (float, c->vocab_size);
  AsForwardRequest req = { .ids = ids, .n = ctx };
  g_assert_true (as_decoder_prompt (d, &req, logits, &error));
  float sink = 0;
  double t0 = now_s (), c0 = cpu_s ();
  for (int s = 0; s < steps; s++)
    g_assert_true (as_decoder_step (d, argmax (logits, c->vocab_size), count_row, &sink, NULL,
                                    logits, &error));
  double t = now_s () - t0;
  g_test_message ("decoding from %d tokens, rows delivered, logits included: %.1f tokens/s "
                  "(%.1f ms a token; %.1f ms CPU)", ctx, steps / t, 1e3 * t / steps,
                  1e3 * (cpu_s () - c0) / steps);
  g_clear_pointer (&d, as_decoder_free);

  /* the backend's steps alone: without the language-model head */
  const AsBackendVTable *vt = cpu->vtable;
  gpointer cache = vt->decode_new (cpu, ctx + steps, &error);
  g_autofree float *final = g_new (float, c->hidden);
  g_assert_true (vt->decode_prompt (cpu, cache, &req, final, &error));
  t0 = now_s ();
  c0 = cpu_s ();
  for (int s = 0; s < steps; s++)
    g_assert_true (vt->decode_step (cpu, cache, ids[s], count_row, &sink, NULL, final, &error));
  t = now_s () - t0;
  g_test_message ("the backend's steps alone (no logits): %.1f tokens/s (%.1f ms a token; "
                  "%.1f ms CPU)", steps / t, 1e3 * t / steps, 1e3 * (cpu_s () - c0) / steps);
  vt->decode_free (cpu, cache);
  as_backend_free (ref);
  as_backend_free (cpu);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/decode/forward/tiny", test_forward_tiny);
  g_test_add_func ("/decode/forward/long", test_forward_long);
  g_test_add_func ("/decode/forward/gpt2-tiny", test_forward_gpt2_tiny);
  g_test_add_func ("/decode/forward/gpt2-long", test_forward_gpt2_long);
  g_test_add_func ("/decode/forward/smollm2", test_forward_smollm2);
  g_test_add_func ("/decode/steps/tiny", test_decode_tiny);
  g_test_add_func ("/decode/steps/long", test_decode_long);
  g_test_add_func ("/decode/steps/gpt2-tiny", test_decode_gpt2_tiny);
  g_test_add_func ("/decode/steps/gpt2-long", test_decode_gpt2_long);
  g_test_add_func ("/decode/steps/smollm2", test_decode_smollm2);
  g_test_add_func ("/decode/ablated/llama", test_ablated_llama);
  g_test_add_func ("/decode/ablated/gpt2", test_ablated_gpt2);
  g_test_add_func ("/decode/refusals", test_refusals);
  g_test_add_func ("/decode/bench", test_bench);
  int rc = g_test_run ();
  as_model_free (tiny);
  as_model_free (smollm2);
  as_model_free (wide);
  as_model_free (gpt2_tiny);
  as_model_free (gpt2_wide);
  g_free (smollm2_skip);
  return rc;
}
