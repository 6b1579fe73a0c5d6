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
 *
 * The whole suite runs at the kernel level ATTNSCOPE_ISA names (meson runs
 * it once per level, tests/run-at-isa.sh). Besides, /encoder-fast/kernels/
 * checks every level this CPU has, in this one process, kernel by kernel
 * against the plain fp32 maths of as-elementwise.h: the GEMM with each
 * epilogue (odd sizes, every tile height, depths over a block), softmax
 * rows (causal too) and LayerNorm rows, and the matrix-row products (the
 * language-model head) against sums in double. And ATTNSCOPE_ISA itself: a
 * value that is unknown, or a level the CPU lacks, is refused.
 */
#include <cblas.h>
#include <math.h>

#include "as-backend.h"
#include "as-cpu-features.h"
#include "as-elementwise.h"
#include "as-error.h"
#include "as-gemm.h"
#include "as-kernels.h"
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

/* --- the kernels of each level, one at a time -------------------------------- */

static void
fill_random (GRand *rand,
             float *v,
             gsize  n,
             double scale)
{
  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rand, -scale, scale);
}

/* C = epilogue (A W^T) in plain fp32 loops, with W [n, k] as nn.Linear
 * stores it; the sums in double, so the difference is the kernel's rounding. */
static void
plain_product (const float    *a,
               const float    *w,
               const float    *bias,
               float          *c,
               int             m,
               int             n,
               int             k,
               AsGemmEpilogue  epi,
               float           scale)
{
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++)
      {
        double sum = 0;
        for (int t = 0; t < k; t++)
          sum += (double) a[(gsize) i * k + t] * w[(gsize) j * k + t];
        float v = (float) sum;
        if (epi == AS_GEMM_SCALE)
          v *= scale;
        else if (epi != AS_GEMM_PLAIN)
          v += bias[j];
        c[(gsize) i * n + j] = epi == AS_GEMM_BIAS_GELU ? as_gelu (v) : v;
      }
}

static void
check_gemm (const AsKernels *kern,
            GRand           *rand,
            int              m,
            int              n,
            int              k,
            AsGemmEpilogue   epi)
{
  g_autofree float *a = g_new (float, (gsize) m * k);
  g_autofree float *w = g_new (float, (gsize) n * k);
  g_autofree float *bias = g_new (float, n);
  g_autofree float *want = g_new (float, (gsize) m * n);
  g_autofree float *got = g_new (float, (gsize) m * n);
  fill_random (rand, a, (gsize) m * k, 1.0);
  fill_random (rand, w, (gsize) n * k, 1.0);
  fill_random (rand, bias, n, 1.0);
  plain_product (a, w, bias, want, m, n, k, epi, 0.125f);

  AsPacked packed;
  as_gemm_pack_weight (&packed, w, n, k);
  float *scratch = as_gemm_aligned_floats (AS_GEMM_A_SCRATCH);
  AsGemm g = { .a = a, .lda = k, .m = m, .b = &packed, .c = got, .ldc = n, .epi = epi,
               .bias = bias, .scale = 0.125f };
  /* in shares, as threads do: every panel boundary a share can have */
  const int panels = as_gemm_panels_for (n);
  for (int p = 0; p < panels; p += kern->panel_step)
    kern->gemm_panels (&g, p, MIN (panels, p + kern->panel_step), scratch);
  g_aligned_free (scratch);
  as_packed_clear (&packed);

  /* fp32 sums of k products of values up to 1: relative to sqrt(k) */
  double worst = 0;
  for (gsize i = 0; i < (gsize) m * n; i++)
    worst = MAX (worst, fabs ((double) got[i] - want[i]));
  double bound = 4e-7 * k;
  g_test_message ("%s: gemm %d x %d x %d epilogue %d: largest difference %.3g (bound %.3g)",
                  as_cpu_isa_name (kern->isa), m, n, k, epi, worst, bound);
  g_assert_cmpfloat (worst, <=, bound);
}

static void
check_rows (const AsKernels *kern,
            GRand           *rand,
            int              rows,
            int              n)
{
  g_autofree float *x = g_new (float, (gsize) rows * n);
  g_autofree float *res = g_new (float, (gsize) rows * n);
  g_autofree float *want = g_new (float, (gsize) rows * n);
  g_autofree float *b = g_new (float, n), *gam = g_new (float, n), *beta = g_new (float, n);
  fill_random (rand, x, (gsize) rows * n, 30.0);
  fill_random (rand, res, (gsize) rows * n, 3.0);
  fill_random (rand, b, n, 1.0);
  fill_random (rand, gam, n, 2.0);
  fill_random (rand, beta, n, 1.0);
  double sm_worst = 0, ln_worst = 0;

  for (int causal = 0; causal < 2; causal++)
    {
      memcpy (want, x, sizeof (float) * rows * n);
      for (int i = 0; i < rows; i++)
        as_softmax_row (want + (gsize) i * n, n, causal ? i + 1 : n);
      g_autofree float *got = g_memdup2 (x, sizeof (float) * rows * n);
      kern->softmax_rows (got, rows, n, 0, causal);   /* rows <= n */
      for (gsize i = 0; i < (gsize) rows * n; i++)
        sm_worst = MAX (sm_worst, fabs ((double) got[i] - want[i]));
    }

  for (gsize i = 0; i < (gsize) rows * n; i++)
    want[i] = (x[i] + b[i % n]) + res[i];
  for (int i = 0; i < rows; i++)
    as_layer_norm_row (want + (gsize) i * n, want + (gsize) i * n, gam, beta, n, 1e-12f);
  g_autofree float *got = g_memdup2 (x, sizeof (float) * rows * n);
  kern->layer_norm_rows (got, b, res, gam, beta, 0, rows, n, 1e-12f);
  for (gsize i = 0; i < (gsize) rows * n; i++)
    ln_worst = MAX (ln_worst, fabs ((double) got[i] - want[i]));

  g_test_message ("%s: %d rows of %d: softmax %.3g, layer norm %.3g", as_cpu_isa_name (kern->isa),
                  rows, n, sm_worst, ln_worst);
  g_assert_cmpfloat (sm_worst, <=, 1e-6);
  g_assert_cmpfloat (ln_worst, <=, 1e-5);
}

/* The products of W's rows with N rows of X against sums in double: column
 * counts around the 16-lane blocks, row counts around the register tiles,
 * and N = 1..9 (every tile width and its remainders) or past the block of
 * X rows kept in L2. Each output must also be, bit for bit, the product of
 * its row alone (N = 1): the sum does not depend on the tile it falls in
 * (for AVX-512, where a few rows go to the AVX2 code, nor on the set). */
static void
check_gemm_rows (const AsKernels *kern,
                 GRand           *rand,
                 int              rows,
                 int              cols,
                 int              n)
{
  g_autofree float *w = g_new (float, (gsize) rows * cols);   /* [rows, cols] */
  g_autofree float *x = g_new (float, (gsize) n * cols);      /* [n, cols] */
  g_autofree float *got = g_new (float, (gsize) n * rows);    /* [n, rows] */
  g_autofree float *one = g_new (float, rows);                /* [rows] */
  for (gsize i = 0; i < (gsize) rows * cols; i++)
    w[i] = (float) g_rand_double_range (rand, -1, 1);
  for (gsize i = 0; i < (gsize) n * cols; i++)
    x[i] = (float) g_rand_double_range (rand, -1, 1);
  kern->gemm_rows (w, x, rows, cols, n, got);
  double worst = 0;
  for (int i = 0; i < n; i++)
    {
      const float *x_i = x + (gsize) i * cols;
      kern->gemm_rows (w, x_i, rows, cols, 1, one);
      for (int r = 0; r < rows; r++)
        {
          double want = 0;
          for (int k = 0; k < cols; k++)
            want += (double) w[(gsize) r * cols + k] * x_i[k];
          const float g = got[(gsize) i * rows + r];
          worst = MAX (worst, fabs (g - want) / sqrt ((double) cols));
          if (memcmp (&g, &one[r], sizeof g) != 0)
            g_error ("%s: %d rows of %d, n %d: out[%d, %d] = %.9g, alone %.9g",
                     as_cpu_isa_name (kern->isa), rows, cols, n, i, r, g, one[r]);
        }
    }
  if (worst > 1e-6)
    g_error ("%s: %d rows of %d, n %d: off by %.3g (scaled) from the double sums",
             as_cpu_isa_name (kern->isa), rows, cols, n, worst);
}

static void
test_kernels (gconstpointer data)
{
  const AsIsa isa = GPOINTER_TO_INT (data);
  const AsKernels *kern = as_kernels_for (isa);
  if (kern == NULL)
    {
      g_autofree char *why = g_strdup_printf ("this CPU cannot run %s kernels",
                                              as_cpu_isa_label (isa));
      g_test_skip (why);
      return;
    }
  GRand *rand = g_rand_new_with_seed (17);
  static const AsGemmEpilogue epis[] = { AS_GEMM_PLAIN, AS_GEMM_BIAS, AS_GEMM_BIAS_GELU,
                                         AS_GEMM_SCALE };
  /* every tile height 1..29, widths that end part-way through a panel and
   * a panel pair, depths below, at and over a block of 256 */
  static const int shapes[][3] = { { 1, 16, 8 }, { 2, 17, 33 }, { 5, 31, 64 }, { 13, 47, 100 },
                                   { 14, 64, 256 }, { 15, 80, 257 }, { 29, 33, 600 },
                                   { 40, 96, 32 }, { 117, 50, 300 }, { 130, 200, 384 } };
  for (guint s_ = 0; s_ < G_N_ELEMENTS (shapes); s_++)
    for (guint e = 0; e < G_N_ELEMENTS (epis); e++)
      check_gemm (kern, rand, shapes[s_][0], shapes[s_][1], shapes[s_][2], epis[e]);
  static const int rows[][2] = { { 1, 1 }, { 3, 15 }, { 5, 16 }, { 7, 63 }, { 9, 64 }, { 4, 65 },
                                 { 6, 384 }, { 3, 513 } };
  for (guint r = 0; r < G_N_ELEMENTS (rows); r++)
    check_rows (kern, rand, rows[r][0], rows[r][1]);
  static const int gemm_rows[][2] = { { 1, 1 }, { 3, 15 }, { 2, 16 }, { 5, 17 }, { 7, 576 },
                                      { 4, 1001 }, { 13, 100 }, { 37, 33 } };
  for (guint g = 0; g < G_N_ELEMENTS (gemm_rows); g++)
    for (int n = 1; n <= 9; n++)
      check_gemm_rows (kern, rand, gemm_rows[g][0], gemm_rows[g][1], n);
  check_gemm_rows (kern, rand, 6, 1001, 101);   /* past two L2 blocks of X (48 rows of 1001) */
  g_rand_free (rand);
}

/* ATTNSCOPE_ISA: the levels by name, auto, and what is refused. */
static void
test_isa_choice (void)
{
  const guint all = (1u << AS_ISA_BASELINE) | (1u << AS_ISA_AVX2) | (1u << AS_ISA_AVX512);
  const guint no512 = (1u << AS_ISA_BASELINE) | (1u << AS_ISA_AVX2);
  AsIsa isa;
  g_autoptr(GError) error = NULL;
  g_assert_true (as_cpu_isa_parse (NULL, all, &isa, &error));
  g_assert_cmpint (isa, ==, AS_ISA_AVX512);
  g_assert_true (as_cpu_isa_parse ("auto", no512, &isa, &error));
  g_assert_cmpint (isa, ==, AS_ISA_AVX2);
  g_assert_true (as_cpu_isa_parse ("", 0, &isa, &error));
  g_assert_cmpint (isa, ==, AS_ISA_BASELINE);
  g_assert_true (as_cpu_isa_parse ("avx2", all, &isa, &error));
  g_assert_cmpint (isa, ==, AS_ISA_AVX2);
  g_assert_true (as_cpu_isa_parse ("baseline", all, &isa, &error));
  g_assert_cmpint (isa, ==, AS_ISA_BASELINE);
  g_assert_no_error (error);

  g_assert_false (as_cpu_isa_parse ("avx512", no512, &isa, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "ATTNSCOPE_ISA=avx512"));
  g_assert_nonnull (strstr (error->message, "avx2, baseline"));
  g_clear_error (&error);
  g_assert_false (as_cpu_isa_parse ("AVX512", all, &isa, &error));
  g_assert_nonnull (strstr (error->message, "unknown kernel level"));
  g_test_message ("%s", error->message);

  /* what this run uses, and that it is what the backend names */
  const AsIsa used = as_cpu_isa ();
  g_assert_true (as_cpu_isa_supported () & (1u << used));
  AsModel *model = stress_model_new (&shape, 3, 1.0);
  AsBackend *backend = as_cpu_backend_new (model);
  g_autofree char *desc = as_backend_describe (backend);
  g_test_message ("%s on %s", desc, as_cpu_model_name ());
  g_assert_nonnull (strstr (desc, as_cpu_isa_label (used)));
  as_backend_free (backend);
  as_model_free (model);
}

/* A refused ATTNSCOPE_ISA stops the program with the reason. */
static void
test_isa_refused (void)
{
  if (g_test_subprocess ())
    {
      g_setenv ("ATTNSCOPE_ISA", "avx1024", TRUE);
      as_cpu_isa ();
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*ATTNSCOPE_ISA=avx1024: unknown kernel level*");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (int isa = 0; isa < AS_N_ISA; isa++)
    {
      g_autofree char *path = g_strdup_printf ("/encoder-fast/kernels/%s",
                                               as_cpu_isa_name ((AsIsa) isa));
      g_test_add_data_func (path, GINT_TO_POINTER (isa), test_kernels);
    }
  g_test_add_func ("/encoder-fast/isa/choice", test_isa_choice);
  g_test_add_func ("/encoder-fast/isa/refused", test_isa_refused);
  g_test_add_func ("/encoder-fast/reference/one-thread", test_reference_one_thread);
  g_test_add_func ("/encoder-fast/reference/two-threads", test_reference_two_threads);
  g_test_add_func ("/encoder-fast/reference/three-threads", test_reference_three_threads);
  g_test_add_func ("/encoder-fast/reference/causal", test_reference_causal);
  g_test_add_func ("/encoder-fast/thread-counts", test_thread_counts);
  g_test_add_func ("/encoder-fast/repeatable", test_repeatable);
  return g_test_run ();
}
