/* test-aggregate.c — mean/max over heads, rollout, word merge and keeping
 * tokens, against hand-computed values and invariants. */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "as-aggregate.h"
#include "as-attention.h"
#include "as-model.h"

/* Random attention: each row a softmax of uniform(-3, 3) logits. ATTN
 * [count, n, n]. */
static float *
random_attention (GRand *rng,
                  int    count,
                  int    n)
{
  float *a = g_new (float, (gsize) count * n * n);   /* [count, n, n] */
  for (gsize r = 0; r < (gsize) count * n; r++)
    {
      float *row = a + r * n;
      double total = 0;
      for (int j = 0; j < n; j++)
        {
          row[j] = (float) exp (g_rand_double_range (rng, -3, 3));
          total += row[j];
        }
      for (int j = 0; j < n; j++)
        row[j] = (float) (row[j] / total);
    }
  return a;
}

static void
assert_rows_sum_to (const float *m,
                    int          rows,
                    int          cols,
                    double       want,
                    double       tol)
{
  for (int i = 0; i < rows; i++)
    {
      double s = 0;
      for (int j = 0; j < cols; j++)
        s += m[(gsize) i * cols + j];
      if (fabs (s - want) > tol)
        g_error ("row %d sums to %.9g, not %.9g", i, s, want);
    }
}

static void
assert_matrix (const float  *got,
               const double *want,
               int           count,
               double        tol)
{
  for (int k = 0; k < count; k++)
    if (fabs (got[k] - want[k]) > tol)
      g_error ("cell %d: got %.9g, want %.9g", k, got[k], want[k]);
}

static void
test_mean_max_heads (void)
{
  const float a[2 * 4] = {
    1.0f, 0.0f,  0.5f, 0.5f,     /* head 0 */
    0.0f, 1.0f,  0.25f, 0.75f,   /* head 1 */
  };
  float out[4];
  as_aggregate_mean_heads (a, 2, 2, out);
  const double mean[4] = { 0.5, 0.5, 0.375, 0.625 };
  assert_matrix (out, mean, 4, 1e-7);
  as_aggregate_max_heads (a, 2, 2, out);
  const double max[4] = { 1.0, 1.0, 0.5, 0.75 };
  assert_matrix (out, max, 4, 0);

  /* three heads, one cell each: mean of 0.1, 0.2, 0.6; max 0.6 */
  const float b[3] = { 0.1f, 0.2f, 0.6f };
  as_aggregate_mean_heads (b, 3, 1, out);
  g_assert_cmpfloat_with_epsilon (out[0], 0.3, 1e-7);
  as_aggregate_max_heads (b, 3, 1, out);
  g_assert_cmpfloat (out[0], ==, 0.6f);

  g_autoptr(GRand) rng = g_rand_new_with_seed (7);
  g_autofree float *r = random_attention (rng, 12, 9);
  float m[81];
  as_aggregate_mean_heads (r, 12, 9, m);
  assert_rows_sum_to (m, 9, 9, 1.0, 1e-5);
  as_aggregate_max_heads (r, 12, 9, m);
  for (int i = 0; i < 9; i++)
    {
      double s = 0;
      for (int j = 0; j < 9; j++)
        s += m[i * 9 + j];
      g_assert_cmpfloat (s, >=, 1.0 - 1e-6);
    }
}

static void
test_rollout_first_layer (void)
{
  /* R_1 = Ahat_1 = 0.5 mean_h A_1 + 0.5 I, written out cell by cell. */
  const int L = 3, H = 4, n = 7;
  g_autoptr(GRand) rng = g_rand_new_with_seed (1);
  g_autofree float *a = random_attention (rng, L * H, n);  /* [L, H, n, n] */
  g_autofree float *r = g_new (float, L * n * n);          /* [L, n, n] */
  as_aggregate_rollout (a, L, H, n, r);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      {
        double m = 0;
        for (int h = 0; h < H; h++)
          m += a[(h * n + i) * n + j];
        double want = 0.5 * m / H + (i == j ? 0.5 : 0.0);
        g_assert_cmpfloat_with_epsilon (r[i * n + j], want, 1e-7);
      }
}

static void
test_rollout_rows_sum (void)
{
  const int L = 6, H = 12, n = 23;
  g_autoptr(GRand) rng = g_rand_new_with_seed (2);
  g_autofree float *a = random_attention (rng, L * H, n);
  g_autofree float *r = g_new (float, L * n * n);
  as_aggregate_rollout (a, L, H, n, r);
  for (int l = 0; l < L; l++)
    {
      assert_rows_sum_to (r + l * n * n, n, n, 1.0, 1e-5);
      for (int k = 0; k < n * n; k++)
        g_assert_cmpfloat (r[l * n * n + k], >=, 0.0f);
    }
}

static void
test_rollout_uniform_closed_form (void)
{
  /* Uniform attention U in every layer: R_k = U + 2^-k (I - U), k = 1..6. */
  const int L = 6, H = 3;
  for (int n = 1; n <= 17; n += 4)
    {
      g_autofree float *a = g_new (float, L * H * n * n);
      for (int k = 0; k < L * H * n * n; k++)
        a[k] = 1.0f / n;
      g_autofree float *r = g_new (float, L * n * n);
      as_aggregate_rollout (a, L, H, n, r);
      for (int k = 1; k <= L; k++)
        for (int i = 0; i < n; i++)
          for (int j = 0; j < n; j++)
            {
              double u = 1.0 / n;
              double want = u + ldexp (1.0, -k) * ((i == j ? 1.0 : 0.0) - u);
              g_assert_cmpfloat_with_epsilon (r[((k - 1) * n + i) * n + j], want, 1e-6);
            }
    }
}

static void
test_rollout_order (void)
{
  /* Layer 1 (one head) attends to token 0, layer 2 to token 1:
   *   Ahat_1 = [[1, 0], [.5, .5]], Ahat_2 = [[.5, .5], [0, 1]]
   *   R_2 = Ahat_2 Ahat_1 = [[.75, .25], [.5, .5]]
   * (the other order, Ahat_1 Ahat_2, would give [[.5, .5], [.25, .75]]). */
  const float a[2 * 4] = {
    1, 0, 1, 0,
    0, 1, 0, 1,
  };
  float r[2 * 4];
  as_aggregate_rollout (a, 2, 1, 2, r);
  const double want[8] = { 1, 0, 0.5, 0.5, 0.75, 0.25, 0.5, 0.5 };
  assert_matrix (r, want, 8, 1e-7);

  /* the step-by-step form gives the same matrices */
  float s1[4], s2[4];
  as_aggregate_rollout_step (a, 1, 2, NULL, s1);
  as_aggregate_rollout_step (a + 4, 1, 2, s1, s2);
  assert_matrix (s1, want, 4, 1e-7);
  assert_matrix (s2, want + 4, 4, 1e-7);
}

static void
test_rollout_step_matches (void)
{
  const int L = 4, H = 5, n = 11;
  g_autoptr(GRand) rng = g_rand_new_with_seed (3);
  g_autofree float *a = random_attention (rng, L * H, n);
  g_autofree float *r = g_new (float, L * n * n);
  as_aggregate_rollout (a, L, H, n, r);
  g_autofree float *prev = g_new (float, n * n);
  g_autofree float *cur = g_new (float, n * n);
  for (int l = 0; l < L; l++)
    {
      as_aggregate_rollout_step (a + l * H * n * n, H, n, l == 0 ? NULL : prev, cur);
      for (int k = 0; k < n * n; k++)
        g_assert_cmpfloat_with_epsilon (cur[k], r[l * n * n + k], 1e-6);
      float *t = prev;
      prev = cur;
      cur = t;
    }
}

/* [CLS] un ##aff ##able , world [SEP] */
static AsToken unaffable_tokens[] = {
  { 101, (char *) "[CLS]", 0, -1, -1, -1, TRUE, FALSE },
  { 4895, (char *) "un", 0, 0, 0, 2, FALSE, FALSE },
  { 10354, (char *) "##aff", 0, 0, 2, 5, FALSE, TRUE },
  { 3085, (char *) "##able", 0, 0, 5, 9, FALSE, TRUE },
  { 1010, (char *) ",", 0, 0, 9, 10, FALSE, FALSE },
  { 2088, (char *) "world", 0, 0, 11, 16, FALSE, FALSE },
  { 102, (char *) "[SEP]", 0, -1, -1, -1, TRUE, FALSE },
};

static void
test_word_map (void)
{
  AsEncoding enc = { unaffable_tokens, 7, FALSE, 0 };
  g_autoptr(AsWordMap) map = as_word_map_from_encoding (&enc);
  g_assert_cmpint (map->n_tokens, ==, 7);
  g_assert_cmpint (map->n_words, ==, 5);
  const char *labels[] = { "[CLS]", "unaffable", ",", "world", "[SEP]", NULL };
  g_assert_cmpstrv (map->labels, labels);
  const int word_of[] = { 0, 1, 1, 1, 2, 3, 4 };
  const int first[] = { 0, 1, 4, 5, 6, 7 };
  for (int i = 0; i < 7; i++)
    g_assert_cmpint (map->word_of_token[i], ==, word_of[i]);
  for (int w = 0; w <= 5; w++)
    g_assert_cmpint (map->first_token[w], ==, first[w]);
  g_assert_true (map->is_special[0] && map->is_special[4]);
  g_assert_false (map->is_special[1] || map->is_special[2] || map->is_special[3]);

  /* A stray "##" piece right after [CLS]/[SEP] starts its own word; a special
   * token never joins the word before it. */
  AsToken odd[] = {
    { 101, (char *) "[CLS]", 0, -1, -1, -1, TRUE, FALSE },
    { 1, (char *) "##x", 0, 0, 0, 1, FALSE, TRUE },
    { 2, (char *) "##y", 0, 0, 1, 2, FALSE, TRUE },
    { 103, (char *) "[MASK]", 0, 0, 3, 9, TRUE, FALSE },
    { 102, (char *) "[SEP]", 0, -1, -1, -1, TRUE, FALSE },
    { 3, (char *) "##z", 1, 1, 0, 1, FALSE, TRUE },
    { 102, (char *) "[SEP]", 1, -1, -1, -1, TRUE, FALSE },
  };
  AsEncoding enc2 = { odd, 7, FALSE, 0 };
  g_autoptr(AsWordMap) m2 = as_word_map_from_encoding (&enc2);
  const char *labels2[] = { "[CLS]", "xy", "[MASK]", "[SEP]", "z", "[SEP]", NULL };
  g_assert_cmpstrv (m2->labels, labels2);

  AsEncoding empty = { NULL, 0, FALSE, 0 };
  g_autoptr(AsWordMap) m3 = as_word_map_from_encoding (&empty);
  g_assert_cmpint (m3->n_words, ==, 0);
  g_assert_null (m3->labels[0]);
}

static void
test_word_merge (void)
{
  AsEncoding enc = { unaffable_tokens, 7, FALSE, 0 };
  g_autoptr(AsWordMap) map = as_word_map_from_encoding (&enc);
  const int n = 7;
  float a[7 * 7] = {
    /* [CLS] */  0.1f, 0.2f, 0.3f, 0.1f, 0.1f, 0.1f, 0.1f,
    /* un */     0.5f, 0, 0, 0, 0, 0, 0.5f,
    /* ##aff */  0, 0.4f, 0.4f, 0.2f, 0, 0, 0,
    /* ##able */ 0, 0, 0, 0, 0, 1.0f, 0,
    0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0,
  };
  for (int i = 4; i < n; i++)
    for (int j = 0; j < n; j++)
      a[i * n + j] = 1.0f / 7;
  float w[25];
  as_word_map_merge (map, a, w);
  /* TO a word: summed over its pieces. FROM a word: averaged over pieces:
   *   "unaffable" row = mean of (.5,0,0,0,.5), (0,1,0,0,0), (0,0,0,1,0). */
  const double s = 1.0 / 7;
  const double want[25] = {
    0.1, 0.6, 0.1, 0.1, 0.1,
    0.5 / 3, 1.0 / 3, 0, 1.0 / 3, 0.5 / 3,
    s, 3 * s, s, s, s,
    s, 3 * s, s, s, s,
    s, 3 * s, s, s, s,
  };
  assert_matrix (w, want, 25, 1e-7);
  assert_rows_sum_to (w, 5, 5, 1.0, 1e-6);

  /* random attention: rows still sum to 1, and the whole mass is kept */
  g_autoptr(GRand) rng = g_rand_new_with_seed (4);
  g_autofree float *r = random_attention (rng, 1, n);
  as_word_map_merge (map, r, w);
  assert_rows_sum_to (w, 5, 5, 1.0, 1e-6);
  /* the column sums of W weighted by piece counts equal A's column mass */
  double col_a = 0, col_w = 0;
  for (int i = 0; i < n; i++)
    for (int j = 1; j <= 3; j++)
      col_a += r[i * n + j];
  for (int u = 0; u < 5; u++)
    col_w += w[u * 5 + 1] * (map->first_token[u + 1] - map->first_token[u]);
  g_assert_cmpfloat_with_epsilon (col_w, col_a, 1e-6);
}

static void
test_keep_tokens (void)
{
  /* [CLS] a b [SEP], keeping a and b */
  const float a[16] = {
    0.7f, 0.1f, 0.1f, 0.1f,
    0.4f, 0.3f, 0.1f, 0.2f,
    0.5f, 0.0f, 0.0f, 0.5f,
    0.25f, 0.25f, 0.25f, 0.25f,
  };
  const gboolean inner[4] = { FALSE, TRUE, TRUE, FALSE };
  float out[16];
  g_assert_cmpint (as_aggregate_keep_tokens (a, 4, inner, FALSE, out), ==, 2);
  const double raw[4] = { 0.3, 0.1, 0.0, 0.0 };
  assert_matrix (out, raw, 4, 1e-7);
  g_assert_cmpint (as_aggregate_keep_tokens (a, 4, inner, TRUE, out), ==, 2);
  const double norm[4] = { 0.75, 0.25, 0.0, 0.0 };   /* row b had no mass left */
  assert_matrix (out, norm, 4, 1e-7);

  const gboolean keep[4] = { TRUE, FALSE, FALSE, TRUE };
  g_assert_cmpint (as_aggregate_keep_tokens (a, 4, keep, TRUE, out), ==, 2);
  const double outer[4] = { 0.875, 0.125, 0.5, 0.5 };
  assert_matrix (out, outer, 4, 1e-7);

  /* everything kept, no renormalising: an exact copy */
  const gboolean all[4] = { TRUE, TRUE, TRUE, TRUE };
  g_assert_cmpint (as_aggregate_keep_tokens (a, 4, all, FALSE, out), ==, 4);
  g_assert_cmpmem (out, sizeof a, a, sizeof a);
}

/* as_aggregate_rollout_last is the last matrix of as_aggregate_rollout,
 * bit for bit, for every depth. */
static void
test_rollout_last (void)
{
  const int L = 5, H = 3, n = 13;
  g_autoptr(GRand) rng = g_rand_new_with_seed (9);
  g_autofree float *a = random_attention (rng, L * H, n);
  g_autofree float *all = g_new (float, L * n * n);
  g_autofree float *last = g_new (float, n * n);
  for (int depth = 1; depth <= L; depth++)
    {
      as_aggregate_rollout (a, depth, H, n, all);
      as_aggregate_rollout_last (a, depth, H, n, last);
      g_assert_cmpmem (last, n * n * sizeof (float), all + (depth - 1) * n * n, n * n * sizeof (float));
    }
}

/* The real default model (skipped when it is not downloaded). */
static void
test_real_model (void)
{
  g_autofree char *dir = as_model_default_dir ();
  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  if (!g_file_test (weights, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  AsBackend *backend = as_cpu_backend_new (model);
  AsAnalysis *a = as_attention_compute (backend, "Hello, unaffable world!", NULL, &error);
  g_assert_no_error (error);
  int n = a->n, L = a->n_layers, H = a->n_heads;

  /* [CLS] hello , una ##ffa ##ble world ! [SEP] */
  g_autoptr(AsWordMap) map = as_word_map_from_encoding (a->encoding);
  const char *labels[] = { "[CLS]", "hello", ",", "unaffable", "world", "!", "[SEP]", NULL };
  g_assert_cmpstrv (map->labels, labels);
  int w = map->n_words;
  g_autofree float *merged = g_new (float, w * w);
  for (int k = 0; k < L * H; k++)
    {
      as_word_map_merge (map, a->attn + (gsize) k * n * n, merged);
      assert_rows_sum_to (merged, w, w, 1.0, 1e-5);
    }

  g_autofree float *r = g_new (float, L * n * n);
  as_aggregate_rollout (a->attn, L, H, n, r);
  for (int l = 0; l < L; l++)
    assert_rows_sum_to (r + l * n * n, n, n, 1.0, 1e-5);

  g_autofree gboolean *inner = g_new (gboolean, n);
  for (int i = 0; i < n; i++)
    inner[i] = i > 0 && i < n - 1;
  g_autofree float *kept = g_new (float, n * n);
  g_assert_cmpint (as_aggregate_keep_tokens (a->attn, n, inner, TRUE, kept), ==, n - 2);
  assert_rows_sum_to (kept, n - 2, n - 2, 1.0, 1e-5);

  as_analysis_unref (a);
  as_backend_free (backend);
  as_model_free (model);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/aggregate/mean-max-heads", test_mean_max_heads);
  g_test_add_func ("/aggregate/rollout-first-layer", test_rollout_first_layer);
  g_test_add_func ("/aggregate/rollout-rows-sum", test_rollout_rows_sum);
  g_test_add_func ("/aggregate/rollout-uniform-closed-form", test_rollout_uniform_closed_form);
  g_test_add_func ("/aggregate/rollout-order", test_rollout_order);
  g_test_add_func ("/aggregate/rollout-step", test_rollout_step_matches);
  g_test_add_func ("/aggregate/word-map", test_word_map);
  g_test_add_func ("/aggregate/word-merge", test_word_merge);
  g_test_add_func ("/aggregate/keep-tokens", test_keep_tokens);
  g_test_add_func ("/aggregate/rollout-last", test_rollout_last);
  g_test_add_func ("/aggregate/real-model", test_real_model);
  return g_test_run ();
}
