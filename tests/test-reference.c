/* test-reference.c — the reference forward (model/as-reference.c), and the
 * fast CPU path measured against it.
 *
 *  - golden: every input of attention-goldens.json through the reference,
 *    against transformers' eager attention (within 1e-5) and final hidden
 *    state (1e-4), made by tools/make-goldens.py; then the fast CPU backend
 *    with 1, 2 and 3 threads against the reference on the same input.
 *  - fp64: the reference against a double-precision evaluation written out
 *    below, on small models whose weights make attention peaked and GELU
 *    reach its tails: what fp32 rounding costs the reference itself.
 *  - fast: the fast CPU backend against the reference on random models of
 *    several shapes (head sizes 16 to 64, one head to twelve, widths that
 *    are not multiples of 16), 1 to 300 tokens, causal and not, 1 to 3
 *    threads; and on the default model with the causal mask.
 *  - the backend contract: layers stream in order, cancel and stop between
 *    layers, per-layer hidden states, layer_qkv, refused requests.
 * The CUDA backend, real and emulated, is compared with the reference in
 * test-gpu.c.
 */
#include <cblas.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-bert.h"
#include "as-error.h"
#include "as-model.h"
#include "as-reference.h"
#include "encoder-test-util.h"

#define ATTN_TOL   1e-5
#define HIDDEN_TOL 1e-4
#define ROWSUM_TOL 1e-5

static AsModel *model;          /* the default model, or NULL */
static AsBackend *reference;    /* on MODEL */
static AsBackend *cpu;          /* on MODEL */
static JsonArray *golden_inputs;

static gboolean
have_model (void)
{
  if (model != NULL)
    return TRUE;
  g_test_skip ("default model not downloaded (run tools/setup)");
  return FALSE;
}

/* --- the reference against transformers, and the fast path on the same inputs */

static void
test_golden_input (gconstpointer data)
{
  if (!have_model ())
    return;
  g_autofree int *ids = NULL, *types = NULL;
  int n;
  JsonObject *input = golden_input (GPOINTER_TO_UINT (data), &ids, &types, &n);
  const char *name = json_object_get_string_member (input, "name");
  g_autoptr(GError) error = NULL;
  AsAnalysis *ref = as_attention_compute_ids (reference, ids, types, n, &error);
  g_assert_no_error (error);

  AsSafetensors *st = golden_open (input);
  double attn_vs_hf = golden_attention_diff (ref, st);
  double hidden_vs_hf = golden_hidden_diff (ref, st);
  double rowsum = max_row_sum_error (ref);
  g_test_message ("%s: n=%d reference-transformers max|attn|=%.3g max|hidden|=%.3g "
                  "max|row sum - 1|=%.3g", name, n, attn_vs_hf, hidden_vs_hf, rowsum);
  g_assert_cmpfloat (attn_vs_hf, <=, ATTN_TOL);
  g_assert_cmpfloat (hidden_vs_hf, <=, HIDDEN_TOL);
  g_assert_cmpfloat (rowsum, <=, ROWSUM_TOL);

  int saved_threads = openblas_get_num_threads ();
  for (int threads = 1; threads <= 3; threads++)
    {
      openblas_set_num_threads (threads);
      AsAnalysis *fast = as_attention_compute_ids (cpu, ids, types, n, &error);
      g_assert_no_error (error);
      double attn = max_abs_diff (fast->attn, ref->attn, (gsize) ref->n_layers * ref->n_heads * n * n);
      double hidden = max_abs_diff (fast->final_hidden, ref->final_hidden, (gsize) n * ref->hidden);
      g_test_message ("%s: cpu (%d threads)-reference max|attn|=%.3g max|hidden|=%.3g",
                      name, threads, attn, hidden);
      g_assert_cmpfloat (attn, <=, ATTN_TOL);
      g_assert_cmpfloat (hidden, <=, HIDDEN_TOL);
      as_analysis_unref (fast);
    }
  openblas_set_num_threads (saved_threads);
  as_safetensors_free (st);
  as_analysis_unref (ref);
}

/* --- an fp64 evaluation, written apart from the reference --------------------- */

static void
ln64 (double      *x,      /* [n, dim] in place */
      const float *g,
      const float *b,
      int          n,
      int          dim,
      double       eps)
{
  for (int i = 0; i < n; i++)
    {
      double *row = x + (gsize) i * dim, mean = 0, var = 0;
      for (int j = 0; j < dim; j++)
        mean += row[j];
      mean /= dim;
      for (int j = 0; j < dim; j++)
        var += (row[j] - mean) * (row[j] - mean);
      var /= dim;
      for (int j = 0; j < dim; j++)
        row[j] = (row[j] - mean) / sqrt (var + eps) * g[j] + b[j];
    }
}

static void
linear64 (double       *out,   /* [n, out_dim] */
          const double *in,    /* [n, in_dim] */
          const float  *w,     /* [out_dim, in_dim] */
          const float  *b,     /* [out_dim] */
          int           n,
          int           in_dim,
          int           out_dim)
{
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out_dim; o++)
      {
        double s = b[o];
        for (int k = 0; k < in_dim; k++)
          s += in[(gsize) i * in_dim + k] * (double) w[(gsize) o * in_dim + k];
        out[(gsize) i * out_dim + o] = s;
      }
}

/* attn [layers, NH, n, n] and hidden [n, H] of M on the input. */
static void
forward64 (const AsModel *m,
           const int     *ids,
           const int     *types,
           int            n,
           gboolean       causal,
           double        *attn,
           double        *hidden)
{
  const AsConfig *c = m->config;
  const int H = c->hidden, F = c->intermediate, NH = c->n_heads, d = c->head_dim;
  const double eps = c->layer_norm_eps;
  double *x = g_new (double, n * H), *x1 = g_new (double, n * H);
  double *q = g_new (double, n * H), *k = g_new (double, n * H), *v = g_new (double, n * H);
  double *ctx = g_new (double, n * H), *ff = g_new (double, n * F);
  const AsBertWeights *bw = as_bert_weights (m);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < H; j++)
      x[i * H + j] = (double) bw->word_emb[ids[i] * H + j] + bw->type_emb[types[i] * H + j]
                     + bw->pos_emb[i * H + j];
  ln64 (x, bw->emb_ln_g, bw->emb_ln_b, n, H, eps);

  for (int l = 0; l < c->n_layers; l++)
    {
      const AsLayerWeights *w = &bw->layers[l];
      linear64 (q, x, w->q_w, w->q_b, n, H, H);
      linear64 (k, x, w->k_w, w->k_b, n, H, H);
      linear64 (v, x, w->v_w, w->v_b, n, H, H);
      for (int h = 0; h < NH; h++)
        for (int i = 0; i < n; i++)
          {
            double *p = attn + (((gsize) l * NH + h) * n + i) * n, max = -INFINITY, sum = 0;
            int valid = causal ? i + 1 : n;
            for (int j = 0; j < valid; j++)
              {
                double s = 0;
                for (int t = 0; t < d; t++)
                  s += q[i * H + h * d + t] * k[j * H + h * d + t];
                p[j] = s / sqrt (d);
                max = MAX (max, p[j]);
              }
            for (int j = 0; j < valid; j++)
              sum += p[j] = exp (p[j] - max);
            for (int j = 0; j < n; j++)
              p[j] = j < valid ? p[j] / sum : 0.0;
            for (int t = 0; t < d; t++)
              {
                double s = 0;
                for (int j = 0; j < n; j++)
                  s += p[j] * v[j * H + h * d + t];
                ctx[i * H + h * d + t] = s;
              }
          }
      linear64 (x1, ctx, w->o_w, w->o_b, n, H, H);
      for (int i = 0; i < n * H; i++)
        x1[i] += x[i];
      ln64 (x1, w->ln1_g, w->ln1_b, n, H, eps);
      linear64 (ff, x1, w->ff1_w, w->ff1_b, n, H, F);
      for (int i = 0; i < n * F; i++)
        ff[i] = 0.5 * ff[i] * (1.0 + erf (ff[i] / sqrt (2.0)));
      linear64 (x, ff, w->ff2_w, w->ff2_b, n, F, H);
      for (int i = 0; i < n * H; i++)
        x[i] += x1[i];
      ln64 (x, w->ln2_g, w->ln2_b, n, H, eps);
    }
  memcpy (hidden, x, sizeof (double) * n * H);
  g_free (x); g_free (x1); g_free (q); g_free (k); g_free (v); g_free (ctx); g_free (ff);
}

static double
max_diff64 (const float  *ours,
            const double *exact,
            gsize         count)
{
  double worst = 0;
  for (gsize i = 0; i < count; i++)
    worst = MAX (worst, fabs ((double) ours[i] - exact[i]));
  return worst;
}

/* Small cases: fp64 is slow to write twice, not to run. */
static void
test_fp64 (void)
{
  static const StressShape shapes[] = {
    { 2, 5, 80, 600, 97, 64 },     /* head size 16, FFN depth above 256 */
    { 1, 2, 128, 512, 61, 64 },    /* head size 64 */
  };
  static const int lengths[] = { 1, 5, 17, 45 };
  GRand *rand = g_rand_new_with_seed (5);
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      AsModel *m = stress_model_new (&shapes[s], 17 + s, 1.5);
      AsBackend *b = as_reference_backend_new (m);
      const AsConfig *c = m->config;
      for (guint li = 0; li < G_N_ELEMENTS (lengths); li++)
        for (int causal = 0; causal <= 1; causal++)
          {
            int n = lengths[li];
            g_autofree int *ids = NULL, *types = NULL;
            stress_input (m, rand, n, &ids, &types);
            gsize attn_count = (gsize) c->n_layers * c->n_heads * n * n, nH = (gsize) n * c->hidden;
            g_autofree double *exact_attn = g_new (double, attn_count);
            g_autofree double *exact_hidden = g_new (double, nH);
            forward64 (m, ids, types, n, causal, exact_attn, exact_hidden);
            g_autofree float *hidden = g_new (float, nH);
            AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .causal_mask = causal };
            g_autofree float *attn = forward_all (b, &req, hidden);
            double da = max_diff64 (attn, exact_attn, attn_count);
            double dh = max_diff64 (hidden, exact_hidden, nH);
            g_test_message ("shape %u n=%d causal %d: reference-fp64 max|attn|=%.3g max|hidden|=%.3g",
                            s, n, causal, da, dh);
            g_assert_cmpfloat (da, <=, ATTN_TOL);
            g_assert_cmpfloat (dh, <=, HIDDEN_TOL);
          }
      as_backend_free (b);
      as_model_free (m);
    }
  g_rand_free (rand);
}

/* --- the fast CPU path against the reference ---------------------------------- */

/* The reference once, the fast path with 1, 2 and 3 threads; returns the
 * largest differences seen through *ATTN and *HIDDEN. */
static void
compare_fast (AsModel                *m,
              AsBackend              *ref,
              AsBackend              *fast,
              const AsForwardRequest *req,
              double                 *attn,
              double                 *hidden)
{
  const AsConfig *c = m->config;
  const gsize attn_count = (gsize) c->n_layers * c->n_heads * req->n * req->n;
  const gsize nH = (gsize) req->n * c->hidden;
  g_autofree float *ref_hidden = g_new (float, nH);
  g_autofree float *ref_attn = forward_all (ref, req, ref_hidden);
  int saved_threads = openblas_get_num_threads ();
  *attn = *hidden = 0;
  for (int threads = 1; threads <= 3; threads++)
    {
      openblas_set_num_threads (threads);
      g_autofree float *fast_hidden = g_new (float, nH);
      g_autofree float *fast_attn = forward_all (fast, req, fast_hidden);
      *attn = MAX (*attn, max_abs_diff (fast_attn, ref_attn, attn_count));
      *hidden = MAX (*hidden, max_abs_diff (fast_hidden, ref_hidden, nH));
    }
  openblas_set_num_threads (saved_threads);
}

static void
test_fast_shapes (void)
{
  static const StressShape shapes[] = {
    { 2, 3, 96, 200, 50, 300 },       /* head size 32 */
    { 1, 2, 128, 512, 61, 300 },      /* head size 64 */
    { 2, 1, 40, 72, 31, 300 },        /* one head of 40; no width a multiple of 16 */
    { 2, 12, 384, 1536, 500, 128 },   /* MiniLM's widths */
  };
  static const int lengths[] = { 1, 2, 7, 16, 17, 64, 121, 128, 300 };
  GRand *rand = g_rand_new_with_seed (23);
  double worst_attn = 0, worst_hidden = 0;
  for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
    {
      AsModel *m = stress_model_new (&shapes[s], 31 + s, 1.5);
      AsBackend *ref = as_reference_backend_new (m);
      AsBackend *fast = as_cpu_backend_new (m);
      for (guint li = 0; li < G_N_ELEMENTS (lengths); li++)
        for (int causal = 0; causal <= 1; causal++)
          {
            int n = lengths[li];
            if (n > shapes[s].positions)
              continue;
            g_autofree int *ids = NULL, *types = NULL;
            stress_input (m, rand, n, &ids, &types);
            AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .causal_mask = causal };
            double attn, hidden;
            compare_fast (m, ref, fast, &req, &attn, &hidden);
            g_test_message ("shape %dx%dx%d/%d n=%d causal %d: cpu (1-3 threads)-reference "
                            "max|attn|=%.3g max|hidden|=%.3g", shapes[s].layers, shapes[s].heads,
                            shapes[s].hidden, shapes[s].ffn, n, causal, attn, hidden);
            g_assert_cmpfloat (attn, <=, ATTN_TOL);
            g_assert_cmpfloat (hidden, <=, HIDDEN_TOL);
            worst_attn = MAX (worst_attn, attn);
            worst_hidden = MAX (worst_hidden, hidden);
          }
      as_backend_free (fast);
      as_backend_free (ref);
      as_model_free (m);
    }
  g_test_message ("random shapes: worst max|attn|=%.3g max|hidden|=%.3g", worst_attn, worst_hidden);
  g_rand_free (rand);
}

/* The default model under the causal mask, on golden inputs of 87 and 132
 * tokens. */
static void
test_fast_default_causal (void)
{
  if (!have_model ())
    return;
  guint len = json_array_get_length (golden_inputs);
  for (guint k = 0; k < len; k++)
    {
      g_autofree int *ids = NULL, *types = NULL;
      int n;
      JsonObject *input = golden_input (k, &ids, &types, &n);
      const char *name = json_object_get_string_member (input, "name");
      if (g_strcmp0 (name, "medium") != 0 && g_strcmp0 (name, "long-128") != 0)
        continue;
      AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .causal_mask = TRUE };
      double attn, hidden;
      compare_fast (model, reference, cpu, &req, &attn, &hidden);
      g_test_message ("%s causal: cpu (1-3 threads)-reference max|attn|=%.3g max|hidden|=%.3g",
                      name, attn, hidden);
      g_assert_cmpfloat (attn, <=, ATTN_TOL);
      g_assert_cmpfloat (hidden, <=, HIDDEN_TOL);
    }
}

/* --- the backend contract ----------------------------------------------------- */

static const StressShape contract_shape = { 4, 3, 48, 96, 40, 32 };

typedef struct {
  int    layers_seen;
  gint   cancel;
  int    cancel_after;   /* raise the flag after this many layers; 0: never */
  int    stop_after;     /* return FALSE after this many layers; 0: never */
  float *hidden;         /* [n, H] the last layer's hidden state, when asked */
  gsize  hidden_len;
} StreamState;

static gboolean
stream_layer (int          layer,
              const float *attn,
              const float *hidden,
              gpointer     user_data)
{
  StreamState *s = user_data;
  g_assert_cmpint (layer, ==, s->layers_seen);
  s->layers_seen++;
  if (s->hidden != NULL)
    {
      g_assert_nonnull (hidden);
      memcpy (s->hidden, hidden, s->hidden_len * sizeof (float));
    }
  else
    g_assert_null (hidden);
  if (s->layers_seen == s->cancel_after)
    g_atomic_int_set (&s->cancel, 1);
  return s->layers_seen != s->stop_after;
}

static void
test_contract (void)
{
  AsModel *m = stress_model_new (&contract_shape, 3, 1.0);
  AsBackend *b = as_reference_backend_new (m);
  const AsConfig *c = m->config;
  g_assert_cmpstr (as_backend_get_name (b), ==, "reference");
  g_autofree char *desc = as_backend_describe (b);
  g_assert_nonnull (strstr (desc, "reference"));

  int ids[] = { 1, 7, 12, 39, 0, 5 }, types[] = { 0, 0, 0, 1, 1, 1 };
  const int n = G_N_ELEMENTS (ids);
  g_autoptr(GError) error = NULL;

  /* every layer in order, with its hidden state; the last one is the final */
  g_autofree float *last = g_new (float, n * c->hidden);
  g_autofree float *final = g_new (float, n * c->hidden);
  StreamState all = { .hidden = last, .hidden_len = (gsize) n * c->hidden };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .want_hidden = TRUE,
                           .on_layer = stream_layer, .user_data = &all, .cancel = &all.cancel };
  g_assert_true (as_backend_forward (b, &req, final, &error));
  g_assert_cmpint (all.layers_seen, ==, c->n_layers);
  g_assert_cmpmem (last, n * c->hidden * sizeof (float), final, n * c->hidden * sizeof (float));

  /* cancelled after two layers, before any, or stopped by the callback */
  req.want_hidden = FALSE;
  StreamState cancelled = { .cancel_after = 2 };
  req.user_data = &cancelled;
  req.cancel = &cancelled.cancel;
  g_assert_false (as_backend_forward (b, &req, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_assert_cmpint (cancelled.layers_seen, ==, 2);
  g_clear_error (&error);
  StreamState early = { .cancel = 1 };
  req.user_data = &early;
  req.cancel = &early.cancel;
  g_assert_false (as_backend_forward (b, &req, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_assert_cmpint (early.layers_seen, ==, 0);
  g_clear_error (&error);
  StreamState stopped = { .stop_after = 1 };
  req.user_data = &stopped;
  req.cancel = NULL;
  g_assert_false (as_backend_forward (b, &req, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_assert_cmpint (stopped.layers_seen, ==, 1);
  g_clear_error (&error);

  /* refused requests */
  int bad_ids[] = { 1, 40, 2 }, bad_types[] = { 0, 2, 0 }, zeros[3] = { 0 };
  AsForwardRequest bad = { .ids = bad_ids, .type_ids = zeros, .n = 3 };
  g_assert_false (as_backend_forward (b, &bad, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  bad = (AsForwardRequest) { .ids = zeros, .type_ids = bad_types, .n = 3 };
  g_assert_false (as_backend_forward (b, &bad, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  g_autofree int *many = g_new0 (int, c->max_positions + 1);
  bad = (AsForwardRequest) { .ids = many, .type_ids = many, .n = c->max_positions + 1 };
  g_assert_false (as_backend_forward (b, &bad, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  float dummy[1];
  AsForwardRequest plain = { .ids = ids, .type_ids = types, .n = n };
  g_assert_false (as_backend_layer_qkv (b, &plain, c->n_layers, dummy, dummy, dummy, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_false (as_backend_layer_qkv (b, &bad, 0, dummy, dummy, dummy, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);

  as_backend_free (b);
  as_model_free (m);
}

/* softmax(Q K^T / sqrt(d) + M) from layer_qkv reproduces each layer's
 * attention, causal or not: the teaching view's numbers are the pass's. */
static void
test_layer_qkv (void)
{
  AsModel *m = stress_model_new (&contract_shape, 4, 1.5);
  AsBackend *b = as_reference_backend_new (m);
  const AsConfig *c = m->config;
  const int H = c->hidden, d = c->head_dim, NH = c->n_heads;
  int ids[] = { 3, 1, 4, 1, 5, 9, 2, 6, 5 }, types[G_N_ELEMENTS (ids)] = { 0 };
  const int n = G_N_ELEMENTS (ids);
  for (int causal = 0; causal <= 1; causal++)
    {
      AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .causal_mask = causal };
      g_autofree float *attn = forward_all (b, &req, NULL);
      double worst = 0;
      for (int l = 0; l < c->n_layers; l++)
        {
          g_autofree float *q = g_new (float, n * H), *k = g_new (float, n * H);
          g_autofree float *v = g_new (float, n * H);
          g_autoptr(GError) error = NULL;
          g_assert_true (as_backend_layer_qkv (b, &req, l, q, k, v, &error));
          for (int h = 0; h < NH; h++)
            for (int i = 0; i < n; i++)
              {
                double p[G_N_ELEMENTS (ids)], max = -INFINITY, sum = 0;
                const int valid = causal ? i + 1 : n;
                for (int j = 0; j < valid; j++)
                  {
                    double dot = 0;
                    for (int t = 0; t < d; t++)
                      dot += (double) q[i * H + h * d + t] * k[j * H + h * d + t];
                    p[j] = dot / sqrt (d);
                    max = MAX (max, p[j]);
                  }
                for (int j = 0; j < valid; j++)
                  sum += p[j] = exp (p[j] - max);
                const float *row = attn + (((gsize) l * NH + h) * n + i) * n;
                for (int j = 0; j < n; j++)
                  worst = MAX (worst, fabs ((j < valid ? p[j] / sum : 0.0) - row[j]));
              }
        }
      g_test_message ("causal %d: max|softmax(layer_qkv) - attention|=%.3g", causal, worst);
      g_assert_cmpfloat (worst, <=, ATTN_TOL);
    }
  as_backend_free (b);
  as_model_free (m);
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
      reference = as_reference_backend_new (model);
      cpu = as_cpu_backend_new (model);
    }

  guint len = json_array_get_length (golden_inputs);
  for (guint k = 0; k < len; k++)
    {
      JsonObject *input = json_array_get_object_element (golden_inputs, k);
      g_autofree char *name = g_strdup_printf ("/reference/golden/%s",
                                               json_object_get_string_member (input, "name"));
      g_test_add_data_func (name, GUINT_TO_POINTER (k), test_golden_input);
    }
  g_test_add_func ("/reference/fp64", test_fp64);
  g_test_add_func ("/reference/fast/shapes", test_fast_shapes);
  g_test_add_func ("/reference/fast/default-causal", test_fast_default_causal);
  g_test_add_func ("/reference/contract", test_contract);
  g_test_add_func ("/reference/layer-qkv", test_layer_qkv);

  int status = g_test_run ();
  as_backend_free (cpu);
  as_backend_free (reference);
  as_model_free (model);
  goldens_free ();
  return status;
}
