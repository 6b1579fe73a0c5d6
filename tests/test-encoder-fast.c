/* test-encoder-fast.c — the optimised CPU encoder against the reference
 * forward.
 *
 * The goldens (test-encoder.c, test-reference.c) pin both encoders to
 * transformers on the real model, and test-reference.c checks the reference
 * against an fp64 evaluation. This suite builds a small model with random
 * weights large enough to make attention peaked and GELU reach its tails,
 * and odd sizes (hidden 80, 5 heads of 16, FFN 600) so vector loops run
 * their remainders and threads get uneven shares; it checks every layer's
 * attention, the final hidden state and layer_qkv of the fast path against
 * the reference backend (as-reference.c), with 1, 2 and 3 threads. Every
 * output element is computed the same way whatever the thread count, so
 * passes with different counts on one backend must agree bit for bit.
 */
#include <cblas.h>

#include "as-backend.h"
#include "as-model.h"
#include "as-reference.h"
#include "encoder-test-util.h"

#define ATTN_TOL   1e-5
#define HIDDEN_TOL 1e-4

/* FFN 600 and 300 positions: depths above the GEMM's block of 256 (FFN
 * down, P V), row counts above its block of 120, and panels of 16 columns
 * that end part-way (80, 600, 300). */
enum { LAYERS = 2, HEADS = 5, HID = 80, FFN = 600, VOCAB = 97, POSITIONS = 300 };

static const StressShape shape = { LAYERS, HEADS, HID, FFN, VOCAB, POSITIONS };

static void
check_against_reference (double   scale,
                         gboolean causal,
                         int      threads)
{
  static const int lengths[] = { 1, 2, 3, 17, 45, 100, POSITIONS };
  int saved_threads = openblas_get_num_threads ();
  openblas_set_num_threads (threads);
  AsModel *model = stress_model_new (&shape, 7, scale);
  AsBackend *backend = as_cpu_backend_new (model);
  AsBackend *reference = as_reference_backend_new (model);
  GRand *rand = g_rand_new_with_seed (11);

  for (guint li = 0; li < G_N_ELEMENTS (lengths); li++)
    {
      int n = lengths[li];
      g_autofree int *ids = NULL, *types = NULL;
      stress_input (model, rand, n, &ids, &types);
      gsize attn_count = (gsize) LAYERS * HEADS * n * n, nH = (gsize) n * HID;
      AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .causal_mask = causal };

      g_autofree float *ref_hidden = g_new (float, nH);
      g_autofree float *hidden = g_new (float, nH);
      g_autofree float *ref_attn = forward_all (reference, &req, ref_hidden);
      g_autofree float *attn = forward_all (backend, &req, hidden);
      double attn_diff = max_abs_diff (attn, ref_attn, attn_count);
      double hidden_diff = max_abs_diff (hidden, ref_hidden, nH);

      g_autofree float *q = g_new (float, nH), *k = g_new (float, nH), *v = g_new (float, nH);
      g_autofree float *q0 = g_new (float, nH), *k0 = g_new (float, nH), *v0 = g_new (float, nH);
      g_autoptr(GError) error = NULL;
      g_assert_true (as_backend_layer_qkv (backend, &req, 1, q, k, v, &error));
      g_assert_true (as_backend_layer_qkv (reference, &req, 1, q0, k0, v0, &error));
      g_assert_no_error (error);
      double qkv_diff = MAX (max_abs_diff (q, q0, nH),
                             MAX (max_abs_diff (k, k0, nH), max_abs_diff (v, v0, nH)));

      double peak = 0;
      for (gsize i = 0; i < attn_count; i++)
        peak = MAX (peak, ref_attn[i]);
      g_test_message ("scale %.1f causal %d threads %d n=%d: attn %.3g hidden %.3g qkv %.3g "
                      "(largest probability %.3f)",
                      scale, causal, threads, n, attn_diff, hidden_diff, qkv_diff, peak);
      g_assert_cmpfloat (attn_diff, <=, ATTN_TOL);
      g_assert_cmpfloat (hidden_diff, <=, HIDDEN_TOL);
      g_assert_cmpfloat (qkv_diff, <=, HIDDEN_TOL);
    }

  g_rand_free (rand);
  as_backend_free (reference);
  as_backend_free (backend);
  as_model_free (model);
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
  AsModel *model = stress_model_new (&shape, 3, 2.0);
  AsBackend *backend = as_cpu_backend_new (model);
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
  as_model_free (model);
}

/* One backend, the thread count changed between passes (the pool grows and
 * then runs with fewer threads than it holds): identical results. */
static void
test_thread_counts (void)
{
  static const int counts[] = { 1, 3, 2, 1, 3, 2 };
  const int n = 131;
  int saved_threads = openblas_get_num_threads ();
  AsModel *model = stress_model_new (&shape, 5, 1.5);
  AsBackend *backend = as_cpu_backend_new (model);
  int ids[131], types[131] = { 0 };
  for (int i = 0; i < n; i++)
    ids[i] = (i * 13) % VOCAB;
  gsize attn_count = (gsize) LAYERS * HEADS * n * n;
  g_autofree float *first_attn = NULL;
  g_autofree float *first_hidden = NULL;
  for (guint k = 0; k < G_N_ELEMENTS (counts); k++)
    {
      openblas_set_num_threads (counts[k]);
      float *hidden = g_new (float, n * HID);
      AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
      float *attn = forward_all (backend, &req, hidden);
      if (first_attn == NULL)
        {
          first_attn = attn;
          first_hidden = hidden;
          continue;
        }
      g_test_message ("%d threads after %d", counts[k], counts[k - 1]);
      g_assert_cmpmem (attn, attn_count * sizeof (float), first_attn, attn_count * sizeof (float));
      g_assert_cmpmem (hidden, n * HID * sizeof (float), first_hidden, n * HID * sizeof (float));
      g_free (attn);
      g_free (hidden);
    }
  as_backend_free (backend);
  as_model_free (model);
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
