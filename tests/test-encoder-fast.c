/* test-encoder-fast.c — the optimised CPU encoder against a naive reference.
 *
 * The goldens (test-encoder.c) pin the encoder to transformers on the real
 * model. This suite builds a small model with random weights large enough to
 * make attention peaked and GELU reach its tails, and odd sizes (hidden 80,
 * 5 heads of 16, FFN 600) so vector loops run their remainders and threads
 * get uneven shares; it checks every layer's attention, the final hidden
 * state and layer_qkv against a plain double-precision forward pass written
 * straight from the BERT equations, with 1, 2 and 3 threads. Every output
 * element is computed the same way whatever the thread count, so passes
 * with different counts on one backend must agree bit for bit.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-error.h"
#include "as-model.h"

#define ATTN_TOL   1e-5
#define HIDDEN_TOL 1e-4

/* FFN 600 and 300 positions: depths above the GEMM's block of 256 (FFN
 * down, P V), row counts above its block of 120, and panels of 16 columns
 * that end part-way (80, 600, 300). */
enum { LAYERS = 2, HEADS = 5, HID = 80, FFN = 600, VOCAB = 97, POSITIONS = 300, TYPES = 2 };

typedef struct {
  AsModel  model;
  AsConfig config;
  GPtrArray *buffers;
} TestModel;

static float *
random_weights (TestModel *tm,
                GRand     *rand,
                gsize      count,
                double     mean,
                double     spread)
{
  float *buf = g_new (float, count);
  for (gsize i = 0; i < count; i++)
    buf[i] = (float) (mean + g_rand_double_range (rand, -spread, spread));
  g_ptr_array_add (tm->buffers, buf);
  return buf;
}

/* Uniform weights; SCALE sets how peaked attention gets and how far GELU's
 * inputs reach. */
static TestModel *
test_model_new (guint32 seed,
                double  scale)
{
  TestModel *tm = g_new0 (TestModel, 1);
  GRand *rand = g_rand_new_with_seed (seed);
  tm->buffers = g_ptr_array_new_with_free_func (g_free);
  tm->config = (AsConfig) {
    .family = AS_FAMILY_BERT, .model_type = (char *) "bert",
    .n_layers = LAYERS, .n_heads = HEADS, .hidden = HID, .head_dim = HID / HEADS,
    .intermediate = FFN, .vocab_size = VOCAB, .max_positions = POSITIONS,
    .type_vocab_size = TYPES, .layer_norm_eps = 1e-12f,
  };
  AsModel *m = &tm->model;
  m->dir = (char *) "test";
  m->name = (char *) "test";
  m->config = &tm->config;
  m->word_emb = random_weights (tm, rand, (gsize) VOCAB * HID, 0, 1);
  m->pos_emb = random_weights (tm, rand, (gsize) POSITIONS * HID, 0, 1);
  m->type_emb = random_weights (tm, rand, (gsize) TYPES * HID, 0, 1);
  m->emb_ln_g = random_weights (tm, rand, HID, 1, 0.2);
  m->emb_ln_b = random_weights (tm, rand, HID, 0, 0.2);
  m->layers = g_new0 (AsLayerWeights, LAYERS);
  double w_hh = scale / sqrt (HID), w_fh = scale / sqrt (FFN);
  for (int l = 0; l < LAYERS; l++)
    {
      AsLayerWeights *w = &m->layers[l];
      w->q_w = random_weights (tm, rand, HID * HID, 0, 2 * w_hh);
      w->q_b = random_weights (tm, rand, HID, 0, 0.5);
      w->k_w = random_weights (tm, rand, HID * HID, 0, 2 * w_hh);
      w->k_b = random_weights (tm, rand, HID, 0, 0.5);
      w->v_w = random_weights (tm, rand, HID * HID, 0, w_hh);
      w->v_b = random_weights (tm, rand, HID, 0, 0.5);
      w->o_w = random_weights (tm, rand, HID * HID, 0, w_hh);
      w->o_b = random_weights (tm, rand, HID, 0, 0.5);
      w->ln1_g = random_weights (tm, rand, HID, 1, 0.2);
      w->ln1_b = random_weights (tm, rand, HID, 0, 0.2);
      w->ff1_w = random_weights (tm, rand, FFN * HID, 0, 2 * w_hh);
      w->ff1_b = random_weights (tm, rand, FFN, 0, 0.5);
      w->ff2_w = random_weights (tm, rand, HID * FFN, 0, w_fh);
      w->ff2_b = random_weights (tm, rand, HID, 0, 0.5);
      w->ln2_g = random_weights (tm, rand, HID, 1, 0.2);
      w->ln2_b = random_weights (tm, rand, HID, 0, 0.2);
    }
  g_rand_free (rand);
  return tm;
}

static void
test_model_free (TestModel *tm)
{
  g_free (tm->model.layers);
  g_ptr_array_unref (tm->buffers);
  g_free (tm);
}

/* --- the naive reference, in double ------------------------------------------ */

static void
ref_linear (double       *out,   /* [n, out_dim] */
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
          s += in[i * in_dim + k] * (double) w[o * in_dim + k];
        out[i * out_dim + o] = s;
      }
}

static void
ref_layer_norm (double      *x,      /* [n, dim] in place */
                const float *g,
                const float *b,
                int          n,
                int          dim,
                double       eps)
{
  for (int i = 0; i < n; i++)
    {
      double *row = x + i * dim, mean = 0, var = 0;
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

/* Fills attn [layers, heads, n, n], hidden [n, H] and, for layer QKV_LAYER,
 * q/k/v [n, H] each. */
static void
reference_forward (const AsModel *m,
                   const int     *ids,
                   const int     *types,
                   int            n,
                   gboolean       causal,
                   double        *attn,
                   double        *hidden,
                   int            qkv_layer,
                   double        *q_out,
                   double        *k_out,
                   double        *v_out)
{
  const int H = HID, d = HID / HEADS;
  double *x = g_new (double, n * H), *x1 = g_new (double, n * H);
  double *q = g_new (double, n * H), *k = g_new (double, n * H), *v = g_new (double, n * H);
  double *ctx = g_new (double, n * H), *ff = g_new (double, n * FFN);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < H; j++)
      x[i * H + j] = (double) m->word_emb[ids[i] * H + j] + m->type_emb[types[i] * H + j]
                     + m->pos_emb[i * H + j];
  ref_layer_norm (x, m->emb_ln_g, m->emb_ln_b, n, H, 1e-12);

  for (int l = 0; l < LAYERS; l++)
    {
      const AsLayerWeights *w = &m->layers[l];
      ref_linear (q, x, w->q_w, w->q_b, n, H, H);
      ref_linear (k, x, w->k_w, w->k_b, n, H, H);
      ref_linear (v, x, w->v_w, w->v_b, n, H, H);
      if (l == qkv_layer)
        {
          memcpy (q_out, q, sizeof (double) * n * H);
          memcpy (k_out, k, sizeof (double) * n * H);
          memcpy (v_out, v, sizeof (double) * n * H);
        }
      for (int h = 0; h < HEADS; h++)
        for (int i = 0; i < n; i++)
          {
            double *p = attn + (((gsize) l * HEADS + h) * n + i) * n, max = -INFINITY, sum = 0;
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
      ref_linear (x1, ctx, w->o_w, w->o_b, n, H, H);
      for (int i = 0; i < n * H; i++)
        x1[i] += x[i];
      ref_layer_norm (x1, w->ln1_g, w->ln1_b, n, H, 1e-12);
      ref_linear (ff, x1, w->ff1_w, w->ff1_b, n, H, FFN);
      for (int i = 0; i < n * FFN; i++)
        ff[i] = 0.5 * ff[i] * (1.0 + erf (ff[i] / sqrt (2.0)));
      ref_linear (x, ff, w->ff2_w, w->ff2_b, n, FFN, H);
      for (int i = 0; i < n * H; i++)
        x[i] += x1[i];
      ref_layer_norm (x, w->ln2_g, w->ln2_b, n, H, 1e-12);
    }
  memcpy (hidden, x, sizeof (double) * n * H);
  g_free (x); g_free (x1); g_free (q); g_free (k); g_free (v); g_free (ctx); g_free (ff);
}

/* --- the checks ------------------------------------------------------------------ */

typedef struct {
  float *attn;     /* [layers, heads, n, n] */
  int    n;
} Collect;

static gboolean
collect (int          layer,
         const float *attn,
         const float *hidden,
         gpointer     user_data)
{
  Collect *c = user_data;
  gsize per = (gsize) HEADS * c->n * c->n;
  memcpy (c->attn + layer * per, attn, per * sizeof (float));
  return TRUE;
}

static double
max_diff (const float  *ours,
          const double *ref,
          gsize         count)
{
  double worst = 0;
  for (gsize i = 0; i < count; i++)
    worst = MAX (worst, fabs ((double) ours[i] - ref[i]));
  return worst;
}

static void
check_against_reference (double   scale,
                         gboolean causal,
                         int      threads)
{
  static const int lengths[] = { 1, 2, 3, 17, 45, 100, POSITIONS };
  int saved_threads = openblas_get_num_threads ();
  openblas_set_num_threads (threads);
  TestModel *tm = test_model_new (7, scale);
  AsBackend *backend = as_cpu_backend_new (&tm->model);
  GRand *rand = g_rand_new_with_seed (11);

  for (guint li = 0; li < G_N_ELEMENTS (lengths); li++)
    {
      int n = lengths[li];
      g_autofree int *ids = g_new (int, n);
      g_autofree int *types = g_new (int, n);
      for (int i = 0; i < n; i++)
        {
          ids[i] = g_rand_int_range (rand, 0, VOCAB);
          types[i] = i > n / 2;
        }
      gsize attn_count = (gsize) LAYERS * HEADS * n * n;
      g_autofree double *ref_attn = g_new (double, attn_count);
      g_autofree double *ref_hidden = g_new (double, n * HID);
      g_autofree double *ref_q = g_new (double, n * HID);
      g_autofree double *ref_k = g_new (double, n * HID);
      g_autofree double *ref_v = g_new (double, n * HID);
      reference_forward (&tm->model, ids, types, n, causal, ref_attn, ref_hidden,
                         1, ref_q, ref_k, ref_v);

      Collect c = { g_new (float, attn_count), n };
      g_autofree float *hidden = g_new (float, n * HID);
      AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .causal_mask = causal,
                               .on_layer = collect, .user_data = &c };
      g_autoptr(GError) error = NULL;
      g_assert_true (as_backend_forward (backend, &req, hidden, &error));
      g_assert_no_error (error);
      double attn_diff = max_diff (c.attn, ref_attn, attn_count);
      double hidden_diff = max_diff (hidden, ref_hidden, (gsize) n * HID);

      g_autofree float *q = g_new (float, n * HID);
      g_autofree float *k = g_new (float, n * HID);
      g_autofree float *v = g_new (float, n * HID);
      req.on_layer = NULL;
      g_assert_true (as_backend_layer_qkv (backend, &req, 1, q, k, v, &error));
      double qkv_diff = MAX (max_diff (q, ref_q, (gsize) n * HID),
                             MAX (max_diff (k, ref_k, (gsize) n * HID),
                                  max_diff (v, ref_v, (gsize) n * HID)));

      double peak = 0;
      for (gsize i = 0; i < attn_count; i++)
        peak = MAX (peak, ref_attn[i]);
      g_test_message ("scale %.1f causal %d threads %d n=%d: attn %.3g hidden %.3g qkv %.3g "
                      "(largest probability %.3f)",
                      scale, causal, threads, n, attn_diff, hidden_diff, qkv_diff, peak);
      g_assert_cmpfloat (attn_diff, <=, ATTN_TOL);
      g_assert_cmpfloat (hidden_diff, <=, HIDDEN_TOL);
      g_assert_cmpfloat (qkv_diff, <=, HIDDEN_TOL);
      g_free (c.attn);
    }

  g_rand_free (rand);
  as_backend_free (backend);
  test_model_free (tm);
  openblas_set_num_threads (saved_threads);
}

static void
test_reference_one_thread (void)
{
  check_against_reference (1.0, FALSE, 1);
  check_against_reference (1.5, FALSE, 1);
}

static void
test_reference_two_threads (void)
{
  check_against_reference (1.0, FALSE, 2);
  check_against_reference (1.5, FALSE, 2);
}

static void
test_reference_three_threads (void)
{
  check_against_reference (1.5, FALSE, 3);
}

static void
test_reference_causal (void)
{
  check_against_reference (1.5, TRUE, 1);
  check_against_reference (1.5, TRUE, 2);
}

/* A short pass after a long one reuses the workspace and must not see stale
 * values; the same input gives the same output every time. */
static void
test_repeatable (void)
{
  TestModel *tm = test_model_new (3, 2.0);
  AsBackend *backend = as_cpu_backend_new (&tm->model);
  int ids[POSITIONS], types[POSITIONS] = { 0 };
  for (int i = 0; i < POSITIONS; i++)
    ids[i] = (i * 31) % VOCAB;
  float first[9 * HID], again[9 * HID];
  float *long_hidden = g_new (float, POSITIONS * HID);
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = 9 };
  g_assert_true (as_backend_forward (backend, &req, first, NULL));
  req.n = POSITIONS;
  g_assert_true (as_backend_forward (backend, &req, long_hidden, NULL));
  req.n = 9;
  g_assert_true (as_backend_forward (backend, &req, again, NULL));
  g_assert_cmpmem (first, sizeof first, again, sizeof again);
  g_free (long_hidden);
  as_backend_free (backend);
  test_model_free (tm);
}

/* One backend, the thread count changed between passes (the pool grows and
 * then runs with fewer threads than it holds): identical results. */
static void
test_thread_counts (void)
{
  static const int counts[] = { 1, 3, 2, 1, 3, 2 };
  const int n = 131;
  int saved_threads = openblas_get_num_threads ();
  TestModel *tm = test_model_new (5, 1.5);
  AsBackend *backend = as_cpu_backend_new (&tm->model);
  int ids[131], types[131] = { 0 };
  for (int i = 0; i < n; i++)
    ids[i] = (i * 13) % VOCAB;
  gsize attn_count = (gsize) LAYERS * HEADS * n * n;
  g_autofree float *first_attn = NULL;
  g_autofree float *first_hidden = NULL;
  for (guint k = 0; k < G_N_ELEMENTS (counts); k++)
    {
      openblas_set_num_threads (counts[k]);
      Collect c = { g_new (float, attn_count), n };
      float *hidden = g_new (float, n * HID);
      AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n,
                               .on_layer = collect, .user_data = &c };
      g_assert_true (as_backend_forward (backend, &req, hidden, NULL));
      if (first_attn == NULL)
        {
          first_attn = c.attn;
          first_hidden = hidden;
          continue;
        }
      g_test_message ("%d threads after %d", counts[k], counts[k - 1]);
      g_assert_cmpmem (c.attn, attn_count * sizeof (float), first_attn, attn_count * sizeof (float));
      g_assert_cmpmem (hidden, n * HID * sizeof (float), first_hidden, n * HID * sizeof (float));
      g_free (c.attn);
      g_free (hidden);
    }
  as_backend_free (backend);
  test_model_free (tm);
  openblas_set_num_threads (saved_threads);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/encoder-fast/reference/one-thread", test_reference_one_thread);
  g_test_add_func ("/encoder-fast/reference/two-threads", test_reference_two_threads);
  g_test_add_func ("/encoder-fast/reference/three-threads", test_reference_three_threads);
  g_test_add_func ("/encoder-fast/reference/causal", test_reference_causal);
  g_test_add_func ("/encoder-fast/thread-counts", test_thread_counts);
  g_test_add_func ("/encoder-fast/repeatable", test_repeatable);
  return g_test_run ();
}
