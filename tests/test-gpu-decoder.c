/* test-gpu-decoder.c — Llama and GPT-2 decoders on the CUDA plugin
 * (gpu/as-cuda-decoder.cu) against the CPU backend (as-cpu-decoder.c, for
 * Llama and GPT-2) and transformers.
 *
 * Two targets, as in test-gpu.c: "device", the plugin the loader finds (the
 * real GPU; skipped with the loader's reason where none is usable, a failure
 * with ATTNSCOPE_REQUIRE_GPU=1), and "emulated", the plugin's host code over
 * the CPU emulation of CUDA + cuBLAS (gpu/emu/), which runs everywhere.
 *
 * On the tiny seeded GGUF (tests/data/llama/tiny.gguf), a wider random
 * Llama (6 query / 2 key-value heads, a 200-token prompt: the work buffers
 * grow past their first size) and SmolLM2-135M when it is downloaded (a
 * short prompt on the emulator, which is slow on it):
 *  - a prompt's every layer (attention [NH, n, n] and hidden state, streamed
 *    in order), its final hidden states and one layer's Q, K, V against the
 *    CPU backend's: attention within 1e-5 absolute, the rest within 2e-5 of
 *    the row's largest magnitude; and the tiny model's and SmolLM2's
 *    attention against transformers' goldens (SmolLM2 on a real sentence:
 *    on arbitrary ids its 30 layers, with activations in the hundreds, put
 *    GPU and CPU up to 1.6e-5 apart, each rounding its own way);
 *  - an AsDecoder over the GPU (cached on the device) against one over the
 *    CPU: prompt logits, then for each greedily chosen token every layer's
 *    attention row and the logits; both choose the same tokens;
 *  - each forced failure (driver, device, oom-load, oom-run) and a 16-bit
 *    precision fall back to the CPU with a notice, and decoding then gives
 *    exactly the CPU's numbers;
 *  - `attnscope-cli generate --device gpu` (falling back is an error there):
 *    the CPU's tokens and, in its output file, its attention rows;
 *  - TF32 GEMMs: the deviation measured, loosely bounded;
 *  - GPT-2 (the tiny GGUF, tests/data/gpt2-tiny/gpt2-tiny.gguf: LayerNorm,
 *    learned positions, biases, the tanh GELU, c_attn fused in Conv1D's
 *    layout) the same way: a prompt's layers, final hidden states and Q, K,
 *    V, and a greedy continuation's rows, logits and tokens, against the CPU
 *    within the same tolerances;
 *  - descriptions the plugin cannot run (a missing bias, table or gate, an
 *    unknown kind, bad shapes) refused by its decoder_open with a message;
 *  - cancelling and stopping a prompt and a step; heads to ablate refused.
 */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <gmodule.h>
#include <json-glib/json-glib.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-decode.h"
#include "as-error.h"
#include "as-gpu-loader.h"
#include "as-gpu-plugin.h"
#include "as-llama.h"
#include "as-model.h"
#include "llama-test-util.h"

#define ATTN_TOL        1e-5
#define REL_TOL         2e-5
#define GOLDEN_HIDDEN_TOL 5e-4
#define STEPS           8
#define LONG_TOKENS     200
#define GOLDEN_ATTN_TOL 2e-5    /* the bound against transformers */
#define GPT2_TOKENS     24

typedef struct {
  const char *label;        /* "device" or "emulated" */
  char       *plugin_dir;   /* $ATTNSCOPE_PLUGIN_DIR while testing it; NULL: as the test started */
} Target;

static Target targets[2];
static char *initial_plugin_dir;
static gboolean require_gpu;
static AsModel *tiny, *wide, *smollm2, *gpt2;
static gboolean smollm2_tried;

/* --- targets and models --------------------------------------------------- */

static void
enter (const Target *t)
{
  const char *dir = t->plugin_dir != NULL ? t->plugin_dir : initial_plugin_dir;
  if (dir != NULL)
    g_setenv ("ATTNSCOPE_PLUGIN_DIR", dir, TRUE);
  else
    g_unsetenv ("ATTNSCOPE_PLUGIN_DIR");
}

static gboolean
is_emulated (const Target *t)
{
  return t == &targets[1];
}

/* The GPU backend of T on MODEL, or NULL with the test skipped (failed for
 * the device target under ATTNSCOPE_REQUIRE_GPU) and the reason. */
static AsBackend *
gpu_on (const Target *t,
        AsModel      *model)
{
  enter (t);
  g_autoptr(GError) error = NULL;
  AsBackend *gpu = as_gpu_backend_new (model, NULL, &error);
  if (gpu != NULL)
    {
      g_assert_true (as_backend_is_gpu (gpu));
      return gpu;
    }
  g_autofree char *why = g_strdup_printf ("no usable GPU: %s", error->message);
  if (require_gpu && !is_emulated (t))
    g_test_fail_printf ("%s (and ATTNSCOPE_REQUIRE_GPU is set)", why);
  else
    g_test_skip (why);
  return NULL;
}

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

static const char *wide_config =
  "{\"model_type\": \"llama\", \"num_hidden_layers\": 2, \"num_attention_heads\": 6,"
  " \"num_key_value_heads\": 2, \"hidden_size\": 48, \"intermediate_size\": 80,"
  " \"vocab_size\": 64, \"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-5,"
  " \"rope_theta\": 10000.0, \"hidden_act\": \"silu\"}";

/* Random weights with W_q, W_k 20 times larger: peaked attention, where a
 * wrong key, position or head shows. */
static AsModel *
wide_model (void)
{
  if (wide != NULL)
    return wide;
  wide = test_random_model (wide_config, "wide llama (random weights)", 7);
  const AsConfig *config = wide->config;
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

/* The tiny GPT-2 as llama.cpp's converter writes it (GGUF). */
static AsModel *
gpt2_model (void)
{
  if (gpt2 == NULL)
    {
      g_autofree char *path = g_build_filename (g_getenv ("AS_TEST_DATA"), "gpt2-tiny",
                                                "gpt2-tiny.gguf", NULL);
      g_autoptr(GError) error = NULL;
      gpt2 = as_model_load (path, &error);
      g_assert_no_error (error);
    }
  return gpt2;
}

static AsModel *
smollm2_model (void)
{
  if (!smollm2_tried)
    {
      smollm2_tried = TRUE;
      smollm2 = llama_smollm2_load ();   /* skips the test when absent */
      return smollm2;
    }
  if (smollm2 == NULL)
    g_test_skip ("the SmolLM2 GGUF is not downloaded");
  return smollm2;
}

/* The prompt a model is tested on: the tiny fixture's ids; for the others
 * N ids spread over the vocabulary. */
static int *
prompt_ids (AsModel *model,
            int      n_wanted,
            int     *n)
{
  if (model == tiny)
    {
      static const int ids[12] = { 17, 60, 59, 3, 1, 25, 3, 0, 46, 13, 38, 2 };
      *n = G_N_ELEMENTS (ids);
      return g_memdup2 (ids, sizeof ids);
    }
  if (model == smollm2 && n_wanted <= 7)
    {
      /* the "short" case of tests/data/llama/cases.json, whose attention
       * transformers wrote to short-attn.f32 */
      static const int ids[7] = { 504, 2644, 2643, 335, 260, 1171, 30 };
      *n = G_N_ELEMENTS (ids);
      return g_memdup2 (ids, sizeof ids);
    }
  *n = n_wanted;
  int *ids = g_new (int, n_wanted);
  for (int i = 0; i < n_wanted; i++)
    ids[i] = (i * 7919 + 11) % model->config->vocab_size;
  return ids;
}

/* --- comparisons ------------------------------------------------------------ */

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

/* The worst over ROWS rows of DIM: max |a - b| / max(1, max |b|) of the row. */
static double
max_rel_diff_rows (const float *a,
                   const float *b,
                   gsize        rows,
                   gsize        dim)
{
  double worst = 0;
  for (gsize r = 0; r < rows; r++)
    {
      double diff = 0, scale = 1;
      for (gsize j = 0; j < dim; j++)
        {
          diff = MAX (diff, fabs ((double) a[r * dim + j] - b[r * dim + j]));
          scale = MAX (scale, fabs ((double) b[r * dim + j]));
        }
      worst = MAX (worst, diff / scale);
    }
  return worst;
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

/* --- a prompt's layers ----------------------------------------------------- */

/* Every layer a forward hands over: attention [L, NH, n, n], hidden [L, n, H]. */
typedef struct {
  float *attn;
  float *hidden;
  gsize  attn_size;     /* NH * n * n */
  gsize  hidden_size;   /* n * H */
  int    calls;
} Layers;

static gboolean
keep_layer (int          layer,
            const float *attn,
            const float *hidden,
            gpointer     user_data)
{
  Layers *k = user_data;
  g_assert_cmpint (layer, ==, k->calls);
  g_assert_nonnull (hidden);
  memcpy (k->attn + layer * k->attn_size, attn, sizeof (float) * k->attn_size);
  memcpy (k->hidden + layer * k->hidden_size, hidden, sizeof (float) * k->hidden_size);
  k->calls++;
  return TRUE;
}

/* Runs IDS through BACKEND keeping every layer and the final hidden states. */
static void
run_forward (AsBackend *backend,
             const int *ids,
             int        n,
             Layers    *out,
             float     *final_hidden)
{
  const AsConfig *c = backend->model->config;
  out->attn_size = (gsize) c->n_heads * n * n;
  out->hidden_size = (gsize) n * c->hidden;
  out->attn = g_new (float, c->n_layers * out->attn_size);
  out->hidden = g_new (float, c->n_layers * out->hidden_size);
  out->calls = 0;
  AsForwardRequest req = { .ids = ids, .n = n, .want_hidden = TRUE,
                           .on_layer = keep_layer, .user_data = out };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (backend, &req, final_hidden, &error));
  g_assert_no_error (error);
  g_assert_cmpint (out->calls, ==, c->n_layers);
}

static void
check_forward (const Target *t,
               AsModel      *model,
               int           n_wanted)
{
  if (model == NULL)
    return;
  AsBackend *gpu = gpu_on (t, model);
  if (gpu == NULL)
    return;
  const AsConfig *c = model->config;
  const int L = c->n_layers, NH = c->n_heads, H = c->hidden;
  AsBackend *cpu = as_cpu_backend_new (model);
  int n;
  g_autofree int *ids = prompt_ids (model, n_wanted, &n);
  Layers got, want;
  g_autofree float *final = g_new (float, (gsize) n * H);
  g_autofree float *want_final = g_new (float, (gsize) n * H);
  run_forward (gpu, ids, n, &got, final);
  run_forward (cpu, ids, n, &want, want_final);

  const gsize n_attn = L * got.attn_size;
  double attn = max_abs_diff (got.attn, want.attn, n_attn);
  double hidden = max_rel_diff_rows (got.hidden, want.hidden, (gsize) L * n, H);
  double fin = max_rel_diff_rows (final, want_final, n, H);
  /* causal: keys after the query exactly 0 */
  for (gsize m = 0; m < (gsize) L * NH; m++)
    for (int i = 0; i < n; i++)
      for (int j = i + 1; j < n; j++)
        g_assert_cmpfloat (got.attn[(m * n + i) * n + j], ==, 0.0f);
  g_test_message ("%s, %s, %d tokens, GPU vs CPU: attention %.3g, layer hidden %.3g, "
                  "final hidden %.3g (relative)", t->label, model->name, n, attn, hidden, fin);
  g_assert_cmpfloat (attn, <=, ATTN_TOL);
  g_assert_cmpfloat (hidden, <=, REL_TOL);
  g_assert_cmpfloat (fin, <=, REL_TOL);

  if (model == smollm2 && n == 7)
    {
      g_autofree float *golden_attn = llama_read_floats ("short-attn.f32", n_attn);
      double g_attn = max_abs_diff (got.attn, golden_attn, n_attn);
      g_test_message ("SmolLM2, GPU vs transformers: attention %.3g", g_attn);
      g_assert_cmpfloat (g_attn, <=, GOLDEN_ATTN_TOL);
    }

  if (model == tiny)
    {
      g_autofree float *golden_attn = llama_read_floats ("tiny-attn.f32", n_attn);
      g_autofree float *golden_hidden = llama_read_floats ("tiny-hidden.f32", (gsize) n * H);
      double g_attn = max_abs_diff (got.attn, golden_attn, n_attn);
      double g_hidden = max_abs_diff (final, golden_hidden, (gsize) n * H);
      g_test_message ("tiny, GPU vs transformers: attention %.3g, final hidden %.3g",
                      g_attn, g_hidden);
      g_assert_cmpfloat (g_attn, <=, ATTN_TOL);
      g_assert_cmpfloat (g_hidden, <=, GOLDEN_HIDDEN_TOL);
    }

  /* one layer's Q, K, V (K and V repeated per query head), as the CPU's */
  const gsize nH = (gsize) n * H;
  g_autofree float *qkv = g_new (float, 3 * nH);
  g_autofree float *want_qkv = g_new (float, 3 * nH);
  AsForwardRequest req = { .ids = ids, .n = n };
  g_autoptr(GError) error = NULL;
  const int layer = L - 1;
  g_assert_true (as_backend_layer_qkv (gpu, &req, layer, qkv, qkv + nH, qkv + 2 * nH, &error));
  g_assert_no_error (error);
  g_assert_true (as_backend_layer_qkv (cpu, &req, layer, want_qkv, want_qkv + nH,
                                       want_qkv + 2 * nH, &error));
  g_assert_no_error (error);
  double q = max_rel_diff_rows (qkv, want_qkv, 3 * (gsize) n, H);
  g_test_message ("layer %d Q, K, V: %.3g (relative)", layer, q);
  g_assert_cmpfloat (q, <=, REL_TOL);
  g_assert_true (as_backend_is_gpu (gpu));

  g_free (got.attn);
  g_free (got.hidden);
  g_free (want.attn);
  g_free (want.hidden);
  as_backend_free (cpu);
  as_backend_free (gpu);
}

static void
test_forward_tiny (gconstpointer data)
{
  check_forward (data, tiny_model (), 0);
}

static void
test_forward_wide (gconstpointer data)
{
  check_forward (data, wide_model (), LONG_TOKENS);
}

static void
test_forward_smollm2 (gconstpointer data)
{
  check_forward (data, smollm2_model (), is_emulated (data) ? 7 : 64);
}

static void
test_forward_gpt2 (gconstpointer data)
{
  check_forward (data, gpt2_model (), GPT2_TOKENS);
}

/* --- decoding ---------------------------------------------------------------- */

/* Every row a step hands over: [L, NH, n_ctx]. */
typedef struct {
  float *rows;
  int    n_heads;
  int    n_ctx;
  int    calls;
  int    stop_at;   /* layer at which to say stop, or -1 */
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
  memcpy (r->rows + (gsize) layer * r->n_heads * n_ctx, row, sizeof (float) * r->n_heads * n_ctx);
  r->calls++;
  return layer != r->stop_at;
}

/* The greedy continuation of IDS over BACKEND by an AsDecoder: every step's
 * rows [STEPS][L, NH, n_ctx] and logits [STEPS + 1][V] (the prompt's first),
 * and the chosen tokens [STEPS]. */
typedef struct {
  float *rows[STEPS];
  float *logits;
  int    tokens[STEPS];
} Continuation;

static void
continuation_clear (Continuation *k)
{
  for (int s = 0; s < STEPS; s++)
    g_free (k->rows[s]);
  g_free (k->logits);
}

static void
decode_greedy (AsBackend    *backend,
               const int    *ids,
               int           n,
               Continuation *out)
{
  const AsConfig *c = backend->model->config;
  const int V = c->vocab_size, L = c->n_layers, NH = c->n_heads;
  g_autoptr(GError) error = NULL;
  g_autoptr(AsDecoder) dec = as_decoder_new (backend, n + STEPS, &error);
  g_assert_no_error (error);
  /* the GPU keeps keys and values on the device, the CPU in its cache */
  g_assert_true (as_decoder_is_cached (dec));
  out->logits = g_new (float, (gsize) (STEPS + 1) * V);
  AsForwardRequest req = { .ids = ids, .n = n };
  g_assert_true (as_decoder_prompt (dec, &req, out->logits, &error));
  g_assert_no_error (error);
  for (int s = 0; s < STEPS; s++)
    {
      const int n_ctx = n + s + 1;
      out->tokens[s] = argmax (out->logits + (gsize) s * V, V);
      out->rows[s] = g_new (float, (gsize) L * NH * n_ctx);
      Rows r = { out->rows[s], NH, n_ctx, 0, -1 };
      g_assert_true (as_decoder_step (dec, out->tokens[s], keep_rows, &r, NULL,
                                      out->logits + (gsize) (s + 1) * V, &error));
      g_assert_no_error (error);
      g_assert_cmpint (r.calls, ==, L);
    }
}

/* Worst differences of GOT from WANT: rows (absolute), logits (relative). */
static void
compare_continuations (const AsConfig     *c,
                       int                 n,
                       const Continuation *got,
                       const Continuation *want,
                       double             *rows,
                       double             *logits)
{
  *rows = 0;
  for (int s = 0; s < STEPS; s++)
    *rows = MAX (*rows, max_abs_diff (got->rows[s], want->rows[s],
                                      (gsize) c->n_layers * c->n_heads * (n + s + 1)));
  *logits = max_rel_diff_rows (got->logits, want->logits, STEPS + 1, c->vocab_size);
}

static void
check_decoding (const Target *t,
                AsModel      *model,
                int           n_wanted)
{
  if (model == NULL)
    return;
  AsBackend *gpu = gpu_on (t, model);
  if (gpu == NULL)
    return;
  const AsConfig *c = model->config;
  AsBackend *cpu = as_cpu_backend_new (model);
  int n;
  g_autofree int *ids = prompt_ids (model, n_wanted, &n);
  Continuation got = { 0 }, want = { 0 };
  decode_greedy (gpu, ids, n, &got);
  decode_greedy (cpu, ids, n, &want);
  g_assert_true (as_backend_is_gpu (gpu));

  double rows, logits;
  compare_continuations (c, n, &got, &want, &rows, &logits);
  g_test_message ("%s, %s, %d + %d tokens, GPU vs CPU decoder: rows %.3g, logits %.3g "
                  "(relative)", t->label, model->name, n, STEPS, rows, logits);
  g_assert_cmpfloat (rows, <=, ATTN_TOL);
  g_assert_cmpfloat (logits, <=, REL_TOL);
  g_assert_cmpmem (got.tokens, sizeof got.tokens, want.tokens, sizeof want.tokens);
  /* each row a distribution over the tokens so far */
  for (int s = 0; s < STEPS; s++)
    for (int m = 0; m < c->n_layers * c->n_heads; m++)
      {
        double sum = 0;
        for (int j = 0; j < n + s + 1; j++)
          sum += got.rows[s][(gsize) m * (n + s + 1) + j];
        g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
      }

  continuation_clear (&got);
  continuation_clear (&want);
  as_backend_free (cpu);
  as_backend_free (gpu);
}

static void
test_decode_tiny (gconstpointer data)
{
  check_decoding (data, tiny_model (), 0);
}

static void
test_decode_wide (gconstpointer data)
{
  check_decoding (data, wide_model (), LONG_TOKENS);
}

static void
test_decode_smollm2 (gconstpointer data)
{
  check_decoding (data, smollm2_model (), is_emulated (data) ? 7 : 64);
}

static void
test_decode_gpt2 (gconstpointer data)
{
  check_decoding (data, gpt2_model (), GPT2_TOKENS);
}

/* --- cancelling and stopping -------------------------------------------------- */

static gboolean
raise_flag (int          layer,
            const float *attn,
            const float *hidden,
            gpointer     user_data)
{
  g_atomic_int_set ((gint *) user_data, 1);
  return TRUE;
}

static void
test_cancel (gconstpointer data)
{
  AsModel *model = tiny_model ();
  AsBackend *gpu = gpu_on (data, model);
  if (gpu == NULL)
    return;
  const int V = model->config->vocab_size, NH = model->config->n_heads;
  int n;
  g_autofree int *ids = prompt_ids (model, 0, &n);
  g_autofree float *logits = g_new (float, V);
  g_autoptr(GError) error = NULL;

  /* a prompt cancelled after its first layer */
  gint cancel = 0;
  g_autoptr(AsDecoder) dec = as_decoder_new (gpu, n + 2, &error);
  g_assert_no_error (error);
  AsForwardRequest req = { .ids = ids, .n = n, .on_layer = raise_flag, .user_data = &cancel,
                           .cancel = &cancel };
  g_assert_false (as_decoder_prompt (dec, &req, logits, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_clear_error (&error);
  g_clear_pointer (&dec, as_decoder_free);

  /* a step stopped by its row callback: refused, and so is the next step */
  dec = as_decoder_new (gpu, n + 2, &error);
  g_assert_no_error (error);
  AsForwardRequest plain = { .ids = ids, .n = n };
  g_assert_true (as_decoder_prompt (dec, &plain, logits, &error));
  g_assert_no_error (error);
  g_autofree float *rows = g_new (float, (gsize) model->config->n_layers * NH * (n + 1));
  Rows r = { rows, NH, n + 1, 0, 0 };
  g_assert_false (as_decoder_step (dec, 1, keep_rows, &r, NULL, logits, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_assert_cmpint (r.calls, ==, 1);
  g_clear_error (&error);
  g_assert_false (as_decoder_step (dec, 1, NULL, NULL, NULL, logits, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);

  /* a step cancelled before it starts */
  g_clear_pointer (&dec, as_decoder_free);
  dec = as_decoder_new (gpu, n + 2, &error);
  g_assert_no_error (error);
  g_assert_true (as_decoder_prompt (dec, &plain, logits, &error));
  g_assert_no_error (error);
  cancel = 1;
  g_assert_false (as_decoder_step (dec, 1, NULL, NULL, &cancel, logits, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_clear_error (&error);

  /* heads to ablate: refused, not run unablated */
  const AsHeadAblation head = { 0, 1, AS_ABLATE_ZERO };
  AsForwardRequest ablated = { .ids = ids, .n = n, .ablate = &head, .n_ablate = 1 };
  g_assert_false (as_backend_forward (gpu, &ablated, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  g_clear_error (&error);

  g_assert_true (as_backend_is_gpu (gpu));
  g_clear_pointer (&dec, as_decoder_free);
  as_backend_free (gpu);
}

/* --- fallback ----------------------------------------------------------------- */

static void
record_notice (const char *notice,
               gpointer    user_data)
{
  char **out = user_data;
  g_free (*out);
  *out = g_strdup (notice);
}

/* A decoder over BACKEND gives exactly the CPU backend's numbers. */
static void
check_decodes_as_cpu (AsBackend *backend)
{
  AsModel *model = (AsModel *) backend->model;
  AsBackend *cpu = as_cpu_backend_new (model);
  int n;
  g_autofree int *ids = prompt_ids (model, 0, &n);
  Continuation got = { 0 }, want = { 0 };
  decode_greedy (backend, ids, n, &got);
  decode_greedy (cpu, ids, n, &want);
  double rows, logits;
  compare_continuations (model->config, n, &got, &want, &rows, &logits);
  g_assert_cmpfloat (rows, ==, 0.0);
  g_assert_cmpfloat (logits, ==, 0.0);
  continuation_clear (&got);
  continuation_clear (&want);
  as_backend_free (cpu);
}

typedef struct {
  const Target *target;
  const char   *force;   /* ATTNSCOPE_GPU_FORCE_FAIL, or NULL for fp16 */
} FallbackCase;

static void
test_fallback (gconstpointer data)
{
  const FallbackCase *fc = data;
  enter (fc->target);
  g_autofree char *plugin = as_gpu_plugin_find ();
  if (plugin == NULL)
    {
      g_test_skip ("the plugin is not built here");
      return;
    }
  AsModel *model = tiny_model ();
  AsGpuOptions options;
  as_gpu_options_init (&options);
  char *notice_during = NULL;
  options.on_notice = record_notice;
  options.notice_data = &notice_during;
  if (fc->force != NULL)
    g_setenv ("ATTNSCOPE_GPU_FORCE_FAIL", fc->force, TRUE);
  else
    options.precision = AS_PRECISION_FP16;

  g_autofree char *notice = NULL;
  g_autoptr(GError) error = NULL;
  AsBackend *b = as_backend_open (model, AS_DEVICE_GPU, &options, &notice, &error);
  g_assert_no_error (error);
  g_assert_nonnull (b);
  if (g_strcmp0 (fc->force, "oom-run") == 0)
    {
      /* The weights fit; the first buffers do not: the decoder's cache
       * falls back when it is made, a plain forward when it runs. */
      g_assert_null (notice);
      g_assert_true (as_backend_is_gpu (b));
      check_decodes_as_cpu (b);
      g_assert_false (as_backend_is_gpu (b));
      g_assert_cmpstr (as_backend_get_name (b), ==, "cpu");
      g_assert_nonnull (notice_during);
      g_test_message ("%s", notice_during);
      g_assert_nonnull (strstr (notice_during, "not enough GPU memory"));
      g_autofree char *desc = as_backend_describe (b);
      g_assert_nonnull (strstr (desc, "switched from the GPU"));
    }
  else
    {
      g_assert_nonnull (notice);
      g_test_message ("%s", notice);
      g_assert_false (as_backend_is_gpu (b));
      g_assert_cmpstr (as_backend_get_name (b), ==, "cpu");
      const char *expect = fc->force == NULL ? "fp32 or tf32"
                         : strcmp (fc->force, "driver") == 0 ? "no usable NVIDIA driver"
                         : strcmp (fc->force, "device") == 0 ? "no usable CUDA device"
                         : "not enough GPU memory";
      g_assert_nonnull (strstr (notice, expect));
      check_decodes_as_cpu (b);
    }
  as_backend_free (b);
  g_unsetenv ("ATTNSCOPE_GPU_FORCE_FAIL");
  g_free (notice_during);

  /* oom-run on a plain forward: the request comes back from the CPU */
  if (g_strcmp0 (fc->force, "oom-run") == 0)
    {
      g_setenv ("ATTNSCOPE_GPU_FORCE_FAIL", fc->force, TRUE);
      notice_during = NULL;
      b = as_backend_open (model, AS_DEVICE_GPU, &options, NULL, &error);
      g_assert_no_error (error);
      AsBackend *cpu = as_cpu_backend_new (model);
      int n;
      g_autofree int *ids = prompt_ids (model, 0, &n);
      Layers got, want;
      g_autofree float *final = g_new (float, (gsize) n * model->config->hidden);
      g_autofree float *want_final = g_new (float, (gsize) n * model->config->hidden);
      run_forward (b, ids, n, &got, final);
      run_forward (cpu, ids, n, &want, want_final);
      g_assert_false (as_backend_is_gpu (b));
      g_assert_cmpmem (got.attn, sizeof (float) * model->config->n_layers * got.attn_size,
                       want.attn, sizeof (float) * model->config->n_layers * want.attn_size);
      g_assert_nonnull (notice_during);
      g_free (got.attn);
      g_free (got.hidden);
      g_free (want.attn);
      g_free (want.hidden);
      g_free (notice_during);
      as_backend_free (cpu);
      as_backend_free (b);
      g_unsetenv ("ATTNSCOPE_GPU_FORCE_FAIL");
    }
}

/* --- descriptions the plugin cannot run ------------------------------------- */

/* The plugin's own table, opened past the loader (whose requests are always
 * well formed), or NULL with the test skipped. */
static const AsGpuPluginApi *
open_plugin (const Target  *t,
             GModule      **module)
{
  enter (t);
  g_autofree char *path = as_gpu_plugin_find ();
  if (path == NULL)
    {
      g_test_skip ("the plugin is not built here");
      return NULL;
    }
  *module = g_module_open (path, G_MODULE_BIND_LOCAL);
  g_assert_nonnull (*module);
  gpointer entry = NULL;
  g_assert_true (g_module_symbol (*module, AS_GPU_PLUGIN_ENTRY, &entry));
  g_assert_null (((AsGpuPluginEntryFunc) entry) (AS_GPU_PLUGIN_ABI_VERSION - 1));
  const AsGpuPluginApi *api = ((AsGpuPluginEntryFunc) entry) (AS_GPU_PLUGIN_ABI_VERSION);
  g_assert_nonnull (api);
  return api;
}

/* Damages D (and its layers L) the WHICH-th way; returns what the refusal
 * must say, or NULL past the last case. */
static const char *
damage_description (int                       which,
                    AsGpuDecoderDesc         *d,
                    AsGpuDecoderLayerWeights *l)
{
  switch (which)
    {
    case 0: d->pos_emb = NULL; return "learned positions without a position table";
    case 1: l[1].attn_norm_b = NULL; return "layer 1: a LayerNorm has no bias";
    case 2: d->ffn = AS_GPU_FFN_SWIGLU; return "layer 0: SwiGLU has no gate projection";
    case 3: l[0].gate_w = l[0].up_w; return "layer 0: a GELU MLP has a gate projection";
    case 4: d->positions = AS_GPU_POSITIONS_ROTARY; return "rotary positions need";
    case 5: d->norm = 7; return "unknown decoder kind (norm 7";
    case 6: d->layout = -1; return "unknown decoder kind";
    case 7: l[1].q_w = l[1].qkv_w; return "layer 1: Q, K and V come both fused and separate";
    case 8: l[0].qkv_w = NULL; return "layer 0: Q, K or V's projection is missing";
    case 9: l[1].down_w = NULL; return "layer 1: the output, up or down projection is missing";
    case 10: d->out_norm_b = NULL; return "the final norm: a LayerNorm has no bias";
    case 11: d->norm = AS_GPU_NORM_RMS; return "the final norm: an RMSNorm has a bias";
    case 12: d->head_dim = 7; return "inconsistent decoder shapes";
    case 13: d->n_kv_heads = 3; return "inconsistent decoder shapes";
    case 14: d->layers = NULL; return "inconsistent decoder shapes";
    case 15: d->hidden = 8196; d->head_dim = 8196 / d->n_heads;   /* past its 8192 columns */
      return "larger than the GPU LayerNorm handles";
    default: return NULL;
    }
}

/* GPT-2's description with one thing wrong at a time: the plugin refuses
 * each (FAILED, nothing opened) and says what is wrong; the description
 * itself opens. */
static void
test_refused_descriptions (gconstpointer data)
{
  const Target *t = data;
  GModule *module = NULL;
  const AsGpuPluginApi *api = open_plugin (t, &module);
  if (api == NULL)
    return;
  AsModel *model = gpt2_model ();
  AsGpuDecoderDesc good;
  g_autofree AsGpuDecoderLayerWeights *layers = NULL;
  model->arch->gpu_describe_decoder (model, &good, (gpointer *) &layers);
  const gsize layer_bytes = sizeof *layers * good.n_layers;
  g_autofree AsGpuDecoderLayerWeights *copy = g_malloc (layer_bytes);
  int cases = 0;
  for (;; cases++)
    {
      AsGpuDecoderDesc d = good;
      memcpy (copy, layers, layer_bytes);
      d.layers = copy;
      const char *expect = damage_description (cases, &d, copy);
      if (expect == NULL)
        break;
      char msg[AS_GPU_MSG_LEN] = "";
      AsGpuDecoder *dec = (AsGpuDecoder *) &d;   /* must come back NULL */
      AsGpuStatus st = api->decoder_open (&d, AS_GPU_PRECISION_FP32, 0, &dec, msg, sizeof msg);
      g_test_message ("case %d: %s", cases, msg);
      g_assert_cmpint (st, ==, AS_GPU_STATUS_FAILED);
      g_assert_null (dec);
      g_assert_nonnull (strstr (msg, expect));
    }
  g_assert_cmpint (cases, ==, 16);

  /* undamaged: opens wherever a GPU (or the emulator) is there */
  char msg[AS_GPU_MSG_LEN] = "";
  AsGpuDecoder *dec = NULL;
  AsGpuStatus st = api->decoder_open (&good, AS_GPU_PRECISION_FP32, 0, &dec, msg, sizeof msg);
  if (is_emulated (t))
    g_assert_cmpint (st, ==, AS_GPU_STATUS_OK);
  g_test_message ("undamaged: status %d %s", st, msg);
  if (st == AS_GPU_STATUS_OK)
    {
      g_assert_nonnull (dec);
      api->decoder_close (dec);
    }
  else
    g_assert_true (st == AS_GPU_STATUS_NO_DRIVER || st == AS_GPU_STATUS_NO_DEVICE);
  g_module_close (module);
}

/* --- the CLI ---------------------------------------------------------------------- */

/* `attnscope-cli generate --device DEVICE -o OUT` on the tiny model; with
 * REQUIRE, falling back to the CPU is an error. */
static void
run_generate (const char *device,
              gboolean    require,
              const char *out)
{
  g_autofree char *cli = g_build_filename (g_getenv ("AS_TEST_BUILD"), "..", "app",
                                           "attnscope-cli", NULL);
  g_autofree char *model = llama_fixture_path ("tiny.gguf");
  g_autofree char *dev = g_strdup_printf ("--device=%s", device);
  const char *argv[] = { cli, "generate", "-m", model, dev, "--ids=17,60,59,3,1,25",
                         "-n", "8", "--json", "-o", out, NULL };
  g_auto(GStrv) envp = g_get_environ ();
  envp = g_environ_setenv (envp, AS_REQUIRE_GPU_ENV, require ? "1" : "0", TRUE);
  g_autofree char *err = NULL;
  int status = -1;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("generate --device %s: stderr: %s", device, err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_cmpstr (err, ==, "");   /* no switch to the CPU, no notice */
}

static JsonArray *
steps_of (JsonParser *parser,
          const char *path)
{
  g_autoptr(GError) error = NULL;
  g_assert_true (json_parser_load_from_file (parser, path, &error));
  g_assert_no_error (error);
  return json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                       "steps");
}

/* The CLI's generation on the GPU: the CPU's tokens, and its attention rows
 * in the output file within 1e-5. */
static void
test_cli_generate (gconstpointer data)
{
  const Target *t = data;
  AsBackend *gpu = gpu_on (t, tiny_model ());
  if (gpu == NULL)
    return;
  as_backend_free (gpu);
  g_autofree char *cli = g_build_filename (g_getenv ("AS_TEST_BUILD"), "..", "app",
                                           "attnscope-cli", NULL);
  if (!g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("attnscope-cli not built");
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("attnscope-gen-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *on_gpu = g_build_filename (dir, "gpu.json", NULL);
  g_autofree char *on_cpu = g_build_filename (dir, "cpu.json", NULL);
  run_generate ("gpu", TRUE, on_gpu);
  run_generate ("cpu", FALSE, on_cpu);

  g_autoptr(JsonParser) gp = json_parser_new ();
  g_autoptr(JsonParser) cp = json_parser_new ();
  JsonArray *got = steps_of (gp, on_gpu), *want = steps_of (cp, on_cpu);
  g_assert_cmpuint (json_array_get_length (got), ==, json_array_get_length (want));
  g_assert_cmpuint (json_array_get_length (got), >, 0);
  double worst = 0;
  for (guint i = 0; i < json_array_get_length (got); i++)
    {
      JsonObject *g = json_array_get_object_element (got, i);
      JsonObject *w = json_array_get_object_element (want, i);
      g_assert_cmpint (json_object_get_int_member (g, "id"), ==,
                       json_object_get_int_member (w, "id"));
      JsonArray *ga = json_object_get_array_member (g, "attention");
      JsonArray *wa = json_object_get_array_member (w, "attention");
      g_assert_cmpuint (json_array_get_length (ga), ==, json_array_get_length (wa));
      for (guint l = 0; l < json_array_get_length (ga); l++)
        {
          JsonArray *gl = json_array_get_array_element (ga, l);
          JsonArray *wl = json_array_get_array_element (wa, l);
          for (guint h = 0; h < json_array_get_length (gl); h++)
            {
              JsonArray *gr = json_array_get_array_element (gl, h);
              JsonArray *wr = json_array_get_array_element (wl, h);
              g_assert_cmpuint (json_array_get_length (gr), ==, json_array_get_length (wr));
              for (guint j = 0; j < json_array_get_length (gr); j++)
                worst = MAX (worst, fabs (json_array_get_double_element (gr, j) -
                                          json_array_get_double_element (wr, j)));
            }
        }
    }
  g_test_message ("generate, GPU vs CPU attention rows in the file: %.3g", worst);
  g_assert_cmpfloat (worst, <=, ATTN_TOL);
  g_unlink (on_gpu);
  g_unlink (on_cpu);
  g_rmdir (dir);
}

/* --- TF32 ------------------------------------------------------------------------ */

/* TF32 GEMMs: the deviation from fp32 is measured and reported; rows stay
 * distributions and near the fp32 ones. */
static void
test_tf32 (gconstpointer data)
{
  const Target *t = data;
  AsModel *model = wide_model ();
  enter (t);
  AsGpuOptions options;
  as_gpu_options_init (&options);
  options.precision = AS_PRECISION_TF32;
  g_autoptr(GError) error = NULL;
  AsBackend *gpu = as_gpu_backend_new (model, &options, &error);
  if (gpu == NULL)
    {
      g_autofree char *why = g_strdup_printf ("no usable GPU: %s", error->message);
      if (require_gpu && !is_emulated (t))
        g_test_fail_printf ("%s (and ATTNSCOPE_REQUIRE_GPU is set)", why);
      else
        g_test_skip (why);
      return;
    }
  g_autofree char *desc = as_backend_describe (gpu);
  g_assert_nonnull (strstr (desc, "TF32"));
  AsBackend *cpu = as_cpu_backend_new (model);
  int n;
  g_autofree int *ids = prompt_ids (model, 64, &n);
  Continuation got = { 0 }, want = { 0 };
  decode_greedy (gpu, ids, n, &got);
  decode_greedy (cpu, ids, n, &want);
  double rows, logits;
  compare_continuations (model->config, n, &got, &want, &rows, &logits);
  g_test_message ("%s, TF32 vs the CPU's fp32: rows %.3g, logits %.3g (relative)",
                  t->label, rows, logits);
  g_assert_cmpfloat (rows, >, 0.0);   /* TF32 did round something */
  g_assert_cmpfloat (rows, <=, 0.05);
  g_assert_cmpfloat (logits, <=, 0.05);
  continuation_clear (&got);
  continuation_clear (&want);
  as_backend_free (cpu);
  as_backend_free (gpu);
}

/* --- main ---------------------------------------------------------------------- */

static void
add_target_tests (Target *t)
{
  char path[256];
#define ADD(name, fn) \
  (g_snprintf (path, sizeof path, "/gpu-decoder/%s/%s", t->label, name), \
   g_test_add_data_func (path, t, fn))
  ADD ("forward/tiny", test_forward_tiny);
  ADD ("forward/wide", test_forward_wide);
  ADD ("forward/smollm2", test_forward_smollm2);
  ADD ("decode/tiny", test_decode_tiny);
  ADD ("decode/wide", test_decode_wide);
  ADD ("decode/smollm2", test_decode_smollm2);
  ADD ("forward/gpt2", test_forward_gpt2);
  ADD ("decode/gpt2", test_decode_gpt2);
  ADD ("cancel", test_cancel);
  ADD ("cli-generate", test_cli_generate);
  ADD ("precision/tf32", test_tf32);
  ADD ("refused-descriptions", test_refused_descriptions);
#undef ADD
  static const char *const forces[] = { "driver", "device", "oom-load", "oom-run", NULL };
  for (guint i = 0; i < G_N_ELEMENTS (forces); i++)
    {
      FallbackCase *fc = g_new (FallbackCase, 1);
      *fc = (FallbackCase) { t, forces[i] };
      g_snprintf (path, sizeof path, "/gpu-decoder/%s/fallback/%s", t->label,
                  forces[i] != NULL ? forces[i] : "fp16");
      g_test_add_data_func_full (path, fc, test_fallback, g_free);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* Read once for the skips; the library must not see it, or the fallback
   * tests could not fall back. */
  require_gpu = as_gpu_required ();
  g_unsetenv (AS_REQUIRE_GPU_ENV);
  g_unsetenv ("ATTNSCOPE_GPU_FORCE_FAIL");
  g_unsetenv ("ATTNSCOPE_GPU_PRECISION");
  g_unsetenv ("ATTNSCOPE_GPU_DEVICE");
  initial_plugin_dir = g_strdup (g_getenv ("ATTNSCOPE_PLUGIN_DIR"));
  targets[0] = (Target) { "device", NULL };
  targets[1] = (Target) { "emulated",
                          g_build_filename (g_getenv ("AS_TEST_BUILD"), "..", "gpu", "emu", NULL) };
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    add_target_tests (&targets[i]);
  int status = g_test_run ();
  as_model_free (tiny);
  as_model_free (wide);
  as_model_free (smollm2);
  as_model_free (gpt2);
  g_free (targets[1].plugin_dir);
  g_free (initial_plugin_dir);
  return status;
}
