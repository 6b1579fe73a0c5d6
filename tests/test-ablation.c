/* test-ablation.c — head ablation (as-ablation.h) in every CPU backend.
 *
 * Zero ablation is checked against an independent computation: a head's
 * output z_h enters the layer only through its d columns of W_o, so
 * zeroing z_h is the same as zeroing those columns of W_o in an unablated
 * run (the plain reference forward sums both in the same order, so the
 * two agree exactly). The uniform and mean patterns are checked against
 * their definitions, computed here in double from the unablated pattern;
 * the fast CPU paths against the reference under every mode (the suite
 * also runs at each kernel level, ATTNSCOPE_ISA); no ablation against the
 * plain request bit for bit; the measures against KL and cosine computed
 * here from the backends' outputs; the ranked table against one run per
 * head.
 */
#include <math.h>
#include <string.h>

#include "as-ablation.h"
#include "as-attention.h"
#include "as-bert.h"
#include "as-error.h"
#include "as-llama.h"
#include "as-lm-head.h"
#include "as-model.h"
#include "as-reference.h"
#include "encoder-test-util.h"
#include "llama-test-util.h"

#define ATTN_TOL   2e-5
#define HIDDEN_TOL 5e-4

/* A BERT with a layer of 130 tokens: more than the fast pass's block of
 * 112 query rows, so an ablated head's pattern spans two blocks. */
static const StressShape shape = { 3, 4, 32, 48, 60, 160 };

static void
tokens (const AsModel *model,
        int            n,
        guint32        seed,
        int          **ids,
        int          **types)
{
  GRand *rand = g_rand_new_with_seed (seed);
  *ids = g_new (int, n);
  *types = g_new0 (int, n);
  for (int i = 0; i < n; i++)
    (*ids)[i] = g_rand_int_range (rand, 0, model->config->vocab_size);
  g_rand_free (rand);
}

/* Every layer's attention [L, NH, n, n] and the final hidden state. */
static float *
run (AsBackend            *backend,
     const int            *ids,
     const int            *types,
     int                   n,
     gboolean              causal,
     const AsHeadAblation *ablate,
     int                   n_ablate,
     float                *hidden)
{
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .causal_mask = causal,
                           .ablate = ablate, .n_ablate = n_ablate };
  return forward_all (backend, &req, hidden);
}

static gboolean
bits_equal (const float *a,
            const float *b,
            gsize        count)
{
  return memcmp (a, b, sizeof (float) * count) == 0;
}

/* Columns [h d, h d + d) of W_o [H, NH d] set to zero, in a copy that
 * replaces *O_W; returns the original. */
static const float *
zero_head_columns (const float **o_w,
                   int           H,
                   int           NHd,
                   int           h,
                   int           d)
{
  const float *original = *o_w;
  float *copy = g_memdup2 (original, sizeof (float) * H * NHd);   /* [H, NH d] */
  for (int r = 0; r < H; r++)
    for (int t = 0; t < d; t++)
      copy[(gsize) r * NHd + h * d + t] = 0.0f;
  *o_w = copy;
  return original;
}

/* Zero ablation == W_o's columns of the head zeroed, exactly. */
static void
check_zero_is_w_o_columns (AsModel      *model,
                           const float **o_w,
                           int           layer,
                           int           head,
                           gboolean      causal,
                           int           n)
{
  const AsConfig *c = model->config;
  g_autofree int *ids = NULL, *types = NULL;
  tokens (model, n, 11, &ids, &types);
  const gsize nH = (gsize) n * c->hidden, per_layer = (gsize) c->n_heads * n * n;
  AsBackend *reference = as_reference_backend_new (model);
  const AsHeadAblation zero = { layer, head, AS_ABLATE_ZERO };
  g_autofree float *h_ablated = g_new (float, nH);
  g_autofree float *attn_ablated = run (reference, ids, types, n, causal, &zero, 1, h_ablated);

  const float *original = zero_head_columns (o_w, c->hidden, c->n_heads * c->head_dim,
                                             head, c->head_dim);
  g_autofree float *h_by_hand = g_new (float, nH);
  g_autofree float *attn_by_hand = run (reference, ids, types, n, causal, NULL, 0, h_by_hand);
  g_free ((float *) *o_w);
  *o_w = original;

  g_assert_true (bits_equal (h_ablated, h_by_hand, nH));
  /* the attention differs only in the ablated head, which is all zero */
  for (int l = 0; l < c->n_layers; l++)
    for (int h = 0; h < c->n_heads; h++)
      {
        const float *a = attn_ablated + l * per_layer + (gsize) h * n * n;
        const float *b = attn_by_hand + l * per_layer + (gsize) h * n * n;
        if (l == layer && h == head)
          for (gsize i = 0; i < (gsize) n * n; i++)
            g_assert_cmpfloat (a[i], ==, 0.0f);
        else
          g_assert_true (bits_equal (a, b, (gsize) n * n));
      }
  /* and it did change the output */
  g_autofree float *h_plain = g_new (float, nH);
  g_free (run (reference, ids, types, n, causal, NULL, 0, h_plain));
  g_assert_false (bits_equal (h_ablated, h_plain, nH));
  as_backend_free (reference);
}

static void
test_zero_encoder (void)
{
  AsModel *model = stress_model_new (&shape, 5, 1.5);
  AsLayerWeights *lw = &as_bert_weights (model)->layers[1];
  check_zero_is_w_o_columns (model, &lw->o_w, 1, 2, FALSE, 20);
  check_zero_is_w_o_columns (model, &lw->o_w, 1, 0, TRUE, 20);
  as_model_free (model);
}

static void
test_zero_decoder (void)
{
  AsModel *model = llama_tiny_load ();
  AsLlamaLayerWeights *lw = &as_llama_weights (model)->layers[1];
  check_zero_is_w_o_columns (model, &lw->o_w, 1, 3, TRUE, 12);
  lw = &as_llama_weights (model)->layers[0];
  check_zero_is_w_o_columns (model, &lw->o_w, 0, 1, TRUE, 12);
  as_model_free (model);
}

/* The ablated head's reported pattern is its definition, computed here in
 * double from the unablated run's pattern of that head (the layers before
 * are the same bit for bit, so the head's own P is too). */
static void
check_patterns (AsBackend *backend,
                int        n,
                gboolean   causal,
                int        layer,
                int        head)
{
  const AsModel *model = backend->model;
  const AsConfig *c = model->config;
  g_autofree int *ids = NULL, *types = NULL;
  tokens (model, n, 23, &ids, &types);
  const gsize per_layer = (gsize) c->n_heads * n * n, nn = (gsize) n * n;
  g_autofree float *plain = run (backend, ids, types, n, causal, NULL, 0, NULL);
  const float *p = plain + layer * per_layer + head * nn;   /* [n, n] */
  for (AsAblateMode mode = AS_ABLATE_ZERO; mode <= AS_ABLATE_MEAN; mode++)
    {
      const AsHeadAblation one = { layer, head, mode };
      g_autofree float *ablated = run (backend, ids, types, n, causal, &one, 1, NULL);
      /* layers before, and the other heads of the layer, are untouched */
      g_assert_true (bits_equal (plain, ablated, layer * per_layer));
      for (int h = 0; h < c->n_heads; h++)
        if (h != head)
          g_assert_true (bits_equal (plain + layer * per_layer + h * nn,
                                     ablated + layer * per_layer + h * nn, nn));
      const float *got = ablated + layer * per_layer + head * nn;   /* [n, n] */
      for (int i = 0; i < n; i++)
        {
          const int seen = causal ? i + 1 : n;
          const int rows = mode == AS_ABLATE_MEAN && !causal ? n : i + 1;
          for (int j = 0; j < n; j++)
            {
              double want = 0.0;
              if (mode == AS_ABLATE_UNIFORM)
                want = j < seen ? 1.0 / seen : 0.0;
              else if (mode == AS_ABLATE_MEAN)
                {
                  for (int r = 0; r < rows; r++)
                    want += p[(gsize) r * n + j];
                  want /= rows;
                }
              g_assert_cmpfloat_with_epsilon (got[(gsize) i * n + j], want, 1e-6);
              if (j >= seen)
                g_assert_cmpfloat (got[(gsize) i * n + j], ==, 0.0f);
            }
        }
    }
}

static void
test_patterns (void)
{
  AsModel *encoder = stress_model_new (&shape, 3, 1.0);
  AsModel *decoder = llama_tiny_load ();
  AsBackend *backends[] = {
    as_reference_backend_new (encoder), as_cpu_backend_new (encoder),
    as_reference_backend_new (decoder), as_cpu_backend_new (decoder),
  };
  for (int b = 0; b < 2; b++)
    {
      check_patterns (backends[b], 130, FALSE, 1, 1);
      check_patterns (backends[b], 17, TRUE, 2, 3);
    }
  for (int b = 2; b < 4; b++)
    check_patterns (backends[b], 15, TRUE, 1, 2);
  for (int b = 0; b < 4; b++)
    as_backend_free (backends[b]);
  as_model_free (encoder);
  as_model_free (decoder);
}

/* The fast path under ablation == the reference under it (the fast one
 * sums in another order: close, not equal); a request listing heads with
 * mode none == the plain request, bit for bit. */
static void
check_fast (AsModel  *model,
            int       n,
            gboolean  causal)
{
  const AsConfig *c = model->config;
  g_autofree int *ids = NULL, *types = NULL;
  tokens (model, n, 31, &ids, &types);
  const gsize nH = (gsize) n * c->hidden, count = (gsize) c->n_layers * c->n_heads * n * n;
  AsBackend *reference = as_reference_backend_new (model);
  AsBackend *cpu = as_cpu_backend_new (model);
  const AsHeadAblation list[] = {
    { 0, 1, AS_ABLATE_MEAN }, { 1, 0, AS_ABLATE_ZERO }, { 1, c->n_heads - 1, AS_ABLATE_UNIFORM },
    { 0, 0, AS_ABLATE_UNIFORM }, { 1, 1, AS_ABLATE_MEAN },
  };
  g_autofree float *h_ref = g_new (float, nH), *h_cpu = g_new (float, nH);
  g_autofree float *a_ref = run (reference, ids, types, n, causal, list, G_N_ELEMENTS (list), h_ref);
  g_autofree float *a_cpu = run (cpu, ids, types, n, causal, list, G_N_ELEMENTS (list), h_cpu);
  g_assert_cmpfloat (max_abs_diff (a_ref, a_cpu, count), <=, ATTN_TOL);
  g_assert_cmpfloat (max_abs_diff (h_ref, h_cpu, nH), <=, HIDDEN_TOL);

  const AsHeadAblation none[] = { { 1, 1, AS_ABLATE_NONE } };
  AsBackend *each[] = { reference, cpu };
  for (int b = 0; b < 2; b++)
    {
      g_autofree float *h0 = g_new (float, nH), *h1 = g_new (float, nH);
      g_autofree float *a0 = run (each[b], ids, types, n, causal, NULL, 0, h0);
      g_autofree float *a1 = run (each[b], ids, types, n, causal, none, 1, h1);
      g_assert_true (bits_equal (a0, a1, count));
      g_assert_true (bits_equal (h0, h1, nH));
      /* and the ablated run did change things */
      g_autofree float *h2 = g_new (float, nH);
      g_free (run (each[b], ids, types, n, causal, list, G_N_ELEMENTS (list), h2));
      g_assert_false (bits_equal (h0, h2, nH));
    }
  as_backend_free (reference);
  as_backend_free (cpu);
}

static void
test_fast_encoder (void)
{
  AsModel *model = stress_model_new (&shape, 7, 1.0);
  check_fast (model, 130, FALSE);
  check_fast (model, 24, TRUE);
  as_model_free (model);
}

static void
test_fast_decoder (void)
{
  AsModel *model = llama_tiny_load ();
  check_fast (model, MIN (model->config->max_positions, 30), TRUE);
  as_model_free (model);
}

/* KL(p || q) of the next-token distribution at the last token, in double
 * from the final hidden states through the LM head. */
static double
kl_by_hand (const AsModel *model,
            const float   *h_before,
            const float   *h_after)
{
  const int V = model->config->vocab_size;
  g_autofree float *zb = g_new (float, V), *za = g_new (float, V);
  as_lm_head_logits (model, h_before, 1, zb);
  as_lm_head_logits (model, h_after, 1, za);
  double mb = zb[0], ma = za[0], sb = 0, sa = 0;
  for (int i = 0; i < V; i++)
    {
      mb = MAX (mb, zb[i]);
      ma = MAX (ma, za[i]);
    }
  for (int i = 0; i < V; i++)
    {
      sb += exp (zb[i] - mb);
      sa += exp (za[i] - ma);
    }
  double kl = 0;
  for (int i = 0; i < V; i++)
    {
      double lp = zb[i] - mb - log (sb), lq = za[i] - ma - log (sa);
      kl += exp (lp) * (lp - lq);
    }
  return kl;
}

static void
test_measure_decoder (void)
{
  AsModel *model = llama_tiny_load ();
  const AsConfig *c = model->config;
  const int n = 14, H = c->hidden;
  g_autofree int *ids = NULL, *types = NULL;
  tokens (model, n, 41, &ids, &types);
  AsBackend *cpu = as_cpu_backend_new (model);
  const AsHeadAblation one = { 1, 2, AS_ABLATE_UNIFORM };
  AsAblationEffect e;
  g_autoptr(GError) error = NULL;
  g_assert_true (as_ablation_effect (cpu, ids, NULL, n, &one, 1, 5, &e, &error));
  g_assert_no_error (error);
  g_assert_true (e.next_token);
  g_autofree float *hb = g_new (float, (gsize) n * H), *ha = g_new (float, (gsize) n * H);
  g_free (run (cpu, ids, types, n, TRUE, NULL, 0, hb));
  g_free (run (cpu, ids, types, n, TRUE, &one, 1, ha));
  double want = kl_by_hand (model, hb + (gsize) (n - 1) * H, ha + (gsize) (n - 1) * H);
  g_assert_cmpfloat (want, >, 1e-6);
  g_assert_cmpfloat (fabs (e.kl - want), <=, 1e-4 * want + 1e-7);
  g_assert_cmpfloat (e.score, ==, e.kl);
  g_assert_cmpint (e.n_top, ==, 5);
  for (int i = 1; i < e.n_top; i++)
    g_assert_cmpfloat (e.p_before[i - 1], >=, e.p_before[i]);
  /* no ablation: no effect */
  AsAblationEffect same;
  g_assert_true (as_ablation_effect (cpu, ids, NULL, n, NULL, 0, 3, &same, &error));
  g_assert_cmpfloat (same.kl, ==, 0.0);
  g_assert_cmpint (same.argmax_after, ==, same.top_ids[0]);
  as_backend_free (cpu);
  as_model_free (model);
}

static void
test_measure_encoder (void)
{
  AsModel *model = stress_model_new (&shape, 9, 1.0);
  const AsConfig *c = model->config;
  const int n = 16, H = c->hidden;
  g_autofree int *ids = NULL, *types = NULL;
  tokens (model, n, 43, &ids, &types);
  AsBackend *reference = as_reference_backend_new (model);
  const AsHeadAblation one = { 2, 1, AS_ABLATE_ZERO };
  AsAblationEffect e;
  g_autoptr(GError) error = NULL;
  g_assert_true (as_ablation_effect (reference, ids, types, n, &one, 1, 5, &e, &error));
  g_assert_no_error (error);
  g_assert_false (e.next_token);
  g_autofree float *hb = g_new (float, (gsize) n * H), *ha = g_new (float, (gsize) n * H);
  g_free (run (reference, ids, types, n, FALSE, NULL, 0, hb));
  g_free (run (reference, ids, types, n, FALSE, &one, 1, ha));
  double ab = 0, aa = 0, bb = 0;
  for (int j = 0; j < H; j++)
    {
      double x = 0, y = 0;
      for (int i = 0; i < n; i++)
        {
          x += hb[(gsize) i * H + j];
          y += ha[(gsize) i * H + j];
        }
      ab += x * y; aa += x * x; bb += y * y;
    }
  double want = ab / sqrt (aa * bb);
  g_assert_cmpfloat (want, <, 1.0 - 1e-6);
  g_assert_cmpfloat_with_epsilon (e.cosine, want, 1e-6);
  g_assert_cmpfloat_with_epsilon (e.score, 1.0 - want, 1e-6);
  as_backend_free (reference);
  as_model_free (model);
}

static gboolean
count_progress (int      done,
                int      total,
                gpointer user_data)
{
  int *calls = user_data;
  g_assert_cmpint (done, ==, *calls + 1);
  (*calls)++;
  return TRUE;
}

static gboolean
stop_at_two (int      done,
             int      total,
             gpointer user_data)
{
  return done < 2;
}

/* Each row of the table == that head ablated alone; sorted, largest first. */
static void
check_rank (AsBackend *backend,
            int        n,
            int        layer)
{
  const AsModel *model = backend->model;
  const AsConfig *c = model->config;
  g_autofree int *ids = NULL, *types = NULL;
  tokens (model, n, 47, &ids, &types);
  g_autoptr(GError) error = NULL;
  int calls = 0;
  GArray *rows = as_ablation_rank_heads (backend, ids, types, n, layer, AS_ABLATE_MEAN,
                                         count_progress, &calls, NULL, &error);
  g_assert_no_error (error);
  const int want_rows = (layer < 0 ? c->n_layers : 1) * c->n_heads;
  g_assert_cmpint (rows->len, ==, want_rows);
  g_assert_cmpint (calls, ==, want_rows);
  for (guint i = 0; i < rows->len; i++)
    {
      const AsHeadRank *r = &g_array_index (rows, AsHeadRank, i);
      if (layer >= 0)
        g_assert_cmpint (r->layer, ==, layer);
      if (i > 0)
        g_assert_cmpfloat (g_array_index (rows, AsHeadRank, i - 1).score, >=, r->score);
      const AsHeadAblation one = { r->layer, r->head, AS_ABLATE_MEAN };
      AsAblationEffect e;
      g_assert_true (as_ablation_effect (backend, ids, types, n, &one, 1, 1, &e, &error));
      g_assert_cmpfloat (r->score, ==, e.score);
      g_assert_cmpfloat (r->kl, ==, e.kl);
      g_assert_cmpfloat (r->cosine, ==, e.cosine);
      g_assert_cmpint (r->argmax_after, ==, e.argmax_after);
    }
  g_array_unref (rows);

  g_assert_null (as_ablation_rank_heads (backend, ids, types, n, layer, AS_ABLATE_ZERO,
                                         stop_at_two, NULL, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_null (as_ablation_rank_heads (backend, ids, types, n, c->n_layers, AS_ABLATE_ZERO,
                                         NULL, NULL, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
}

static void
test_rank (void)
{
  AsModel *encoder = stress_model_new (&shape, 13, 1.0);
  AsModel *decoder = llama_tiny_load ();
  AsBackend *a = as_cpu_backend_new (encoder), *b = as_cpu_backend_new (decoder);
  check_rank (a, 18, 1);
  check_rank (b, 12, -1);
  as_backend_free (a);
  as_backend_free (b);
  as_model_free (encoder);
  as_model_free (decoder);
}

static void
test_parse_and_refuse (void)
{
  AsModel *model = stress_model_new (&shape, 3, 1.0);
  g_autoptr(GError) error = NULL;
  int n = 0;
  g_autofree AsHeadAblation *list = as_ablation_parse (model, "2:3:mean,1:1,3:4:uniform", &n, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 3);
  g_assert_cmpint (list[0].layer, ==, 1);
  g_assert_cmpint (list[0].head, ==, 2);
  g_assert_cmpint (list[0].mode, ==, AS_ABLATE_MEAN);
  g_assert_cmpint (list[1].mode, ==, AS_ABLATE_ZERO);
  g_assert_cmpint (list[2].mode, ==, AS_ABLATE_UNIFORM);
  g_autofree char *text = as_ablation_format (list, n);
  g_assert_cmpstr (text, ==, "2:3:mean,1:1:zero,3:4:uniform");

  const char *bad[] = { "", "1", "0:1", "4:1", "1:5", "1:1:half", "1:1:zero:x", "a:b",
                        "1:1,", "-1:1", "1:1x", " 1:1" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_null (as_ablation_parse (model, bad[i], &n, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
      g_assert_cmpint (n, ==, 0);
      g_clear_error (&error);
    }

  /* a backend refuses a head the model does not have before it runs */
  int ids[4] = { 1, 2, 3, 4 }, types[4] = { 0 };
  const AsHeadAblation wrong[] = { { 3, 0, AS_ABLATE_ZERO } }, bad_mode[] = { { 0, 0, 9 } };
  AsBackend *backends[] = { as_reference_backend_new (model), as_cpu_backend_new (model) };
  for (int b = 0; b < 2; b++)
    {
      AsForwardRequest req = { .ids = ids, .type_ids = types, .n = 4, .ablate = wrong, .n_ablate = 1 };
      g_assert_false (as_backend_forward (backends[b], &req, NULL, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
      g_assert_nonnull (strstr (error->message, "layer 4, head 1"));
      g_clear_error (&error);
      req.ablate = bad_mode;
      g_assert_false (as_backend_forward (backends[b], &req, NULL, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
      g_clear_error (&error);
      req.ablate = NULL;
      g_assert_false (as_backend_forward (backends[b], &req, NULL, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
      g_clear_error (&error);
      as_backend_free (backends[b]);
    }
  as_model_free (model);
}

/* Decoding ablates one row at a time (as_ablation_replace_last_row): the
 * last row of a causal pattern replaced that way, the mean's sums those of
 * the rows before it (as_ablation_mean_sums), is bit for bit the last row
 * of the whole pattern replaced (as_ablation_replace), for every mode and
 * length; and the sums then reach those of all the rows. The fast path's
 * steps against whole reruns are tests/test-decode.c's. */
static void
test_last_row (void)
{
  GRand *rand = g_rand_new_with_seed (5);
  const AsAblateMode modes[] = { AS_ABLATE_ZERO, AS_ABLATE_UNIFORM, AS_ABLATE_MEAN };
  for (int n = 1; n <= 40; n += 13)
    for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
      {
        g_autofree float *p = g_new0 (float, (gsize) n * n);   /* [n, n] causal rows */
        for (int i = 0; i < n; i++)
          {
            float total = 0;
            for (int j = 0; j <= i; j++)
              total += p[(gsize) i * n + j] = (float) g_rand_double_range (rand, 0.01, 1.0);
            for (int j = 0; j <= i; j++)
              p[(gsize) i * n + j] /= total;
          }
        g_autofree float *last = g_memdup2 (p + (gsize) (n - 1) * n, sizeof (float) * n);   /* [n] */
        g_autofree float *sum = g_new0 (float, n);   /* [n] */
        as_ablation_mean_sums (p, n - 1, n, sum);
        as_ablation_replace_last_row (last, n, modes[m], sum);
        g_autofree float *all_sums = g_new0 (float, n);   /* [n] */
        as_ablation_mean_sums (p, n, n, all_sums);
        as_ablation_replace (p, n, TRUE, modes[m]);
        g_assert_cmpmem (last, sizeof (float) * n, p + (gsize) (n - 1) * n, sizeof (float) * n);
        if (modes[m] == AS_ABLATE_MEAN)
          g_assert_cmpmem (sum, sizeof (float) * n, all_sums, sizeof (float) * n);
      }
  g_rand_free (rand);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ablation/zero-is-w-o-columns/encoder", test_zero_encoder);
  g_test_add_func ("/ablation/zero-is-w-o-columns/decoder", test_zero_decoder);
  g_test_add_func ("/ablation/patterns", test_patterns);
  g_test_add_func ("/ablation/fast-is-reference/encoder", test_fast_encoder);
  g_test_add_func ("/ablation/fast-is-reference/decoder", test_fast_decoder);
  g_test_add_func ("/ablation/measure/decoder", test_measure_decoder);
  g_test_add_func ("/ablation/measure/encoder", test_measure_encoder);
  g_test_add_func ("/ablation/rank", test_rank);
  g_test_add_func ("/ablation/parse-and-refuse", test_parse_and_refuse);
  g_test_add_func ("/ablation/last-row", test_last_row);
  return g_test_run ();
}
