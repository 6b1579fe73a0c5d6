/* test-q8-gemv.c — int8-block weights (as-q8-gemv.h) and the decoders that
 * read them (as-decode.h, AS_DECODE_WEIGHTS_INT8).
 *
 *  - quantisation as Q8_0 defines it: scale = max |w| / 127 per block of
 *    32, every weight within half a step of scale * q, a row's tail zero;
 *  - the product of every kernel level this CPU runs (the portable one, its
 *    AVX2 build, the AVX-512 one) against a plain double sum over
 *    scale * q * x, on shapes with and without a partial last block;
 *  - a Llama decoder whose steps read int8 weights against the fp32 one on
 *    the same tokens: close (logits, attention rows, the greedy pick),
 *    and not identical (the int8 weights are what it read); refused
 *    where the backend keeps no cache.
 */
#include <math.h>
#include <string.h>

#include "as-architecture.h"
#include "as-decode-deviation.h"
#include "as-error.h"
#include "as-model.h"
#include "as-q8-gemv.h"
#include "as-reference.h"
#include "llama-test-util.h"

static float
uniform (guint32 *state)
{
  *state = *state * 1664525u + 1013904223u;
  return (float) ((*state >> 8) / 16777216.0) * 2.0f - 1.0f;   /* [-1, 1) */
}

/* W [rows, cols] with each block's magnitudes different (scales differ),
 * and one all-zero block. */
static float *
random_weights (int      rows,
                int      cols,
                guint32  seed)
{
  float *w = g_new (float, (gsize) rows * cols);
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++)
      w[(gsize) r * cols + c] = uniform (&seed) * (0.01f + (float) ((c / 32 + r) % 7));
  for (int c = 0; c < MIN (cols, 32); c++)
    w[c] = 0.0f;
  return w;
}

static void
test_quantize (void)
{
  const int rows = 5, cols = 75;   /* blocks of 32, 32 and 11 */
  g_autofree float *w = random_weights (rows, cols, 7);
  AsQ8Matrix *m = as_q8_matrix_new (rows, cols);
  as_q8_matrix_quantize (m, 0, w, rows);
  g_assert_cmpint (m->blocks, ==, 3);
  for (int r = 0; r < rows; r++)
    for (int b = 0; b < m->blocks; b++)
      {
        const int c0 = b * 32, count = MIN (32, cols - c0);
        float amax = 0.0f;
        int qmax = 0;
        for (int i = 0; i < count; i++)
          amax = MAX (amax, fabsf (w[(gsize) r * cols + c0 + i]));
        const float scale = m->scale[r * m->blocks + b];
        g_assert_cmpfloat (scale, ==, amax / 127.0f);
        for (int i = 0; i < 32; i++)
          {
            const int q = m->q[(gsize) r * m->blocks * 32 + c0 + i];
            if (i >= count)
              {
                g_assert_cmpint (q, ==, 0);
                continue;
              }
            qmax = MAX (qmax, ABS (q));
            const float wi = w[(gsize) r * cols + c0 + i];
            g_assert_cmpfloat (fabsf (wi - scale * q), <=, scale * 0.5f * (1.0f + 1e-6f));
          }
        /* the largest weight maps to ±127, a zero block to zeros */
        g_assert_cmpint (qmax, ==, amax > 0 ? 127 : 0);
      }
  g_assert_cmpuint (as_q8_matrix_bytes (m), ==, (gsize) rows * 3 * (32 + 4));
  as_q8_matrix_free (m);
}

/* OUT [rows] = the int8 matrix M times X, in double. */
static void
reference_gemv (const AsQ8Matrix *m,
                const float      *x,
                double           *out,
                double           *magnitude)
{
  for (int r = 0; r < m->rows; r++)
    {
      double y = 0.0, mag = 0.0;
      for (int c = 0; c < m->cols; c++)
        {
          const double t = (double) m->scale[r * m->blocks + c / 32] *
                           m->q[(gsize) r * m->blocks * 32 + c] * x[c];
          y += t;
          mag += fabs (t);
        }
      out[r] = y;
      magnitude[r] = mag;
    }
}

static void
check_kernel (AsQ8GemvFunc f,
              int          rows,
              int          cols)
{
  g_autofree float *w = random_weights (rows, cols, (guint32) (rows * 131 + cols));
  g_autofree float *x = g_new (float, cols);
  guint32 seed = (guint32) cols;
  for (int c = 0; c < cols; c++)
    x[c] = uniform (&seed) * 3.0f;
  AsQ8Matrix *m = as_q8_matrix_new (rows, cols);
  as_q8_matrix_quantize (m, 0, w, rows);
  g_autofree double *want = g_new (double, rows);
  g_autofree double *mag = g_new (double, rows);
  reference_gemv (m, x, want, mag);
  /* all rows, then a middle slice written from OUT's start */
  g_autofree float *got = g_new (float, rows + 1);
  got[rows] = 12345.0f;
  f (m, x, 0, rows, got);
  g_assert_cmpfloat (got[rows], ==, 12345.0f);
  for (int r = 0; r < rows; r++)
    g_assert_cmpfloat (fabs (got[r] - want[r]), <=, 1e-6 * mag[r] + 1e-30);
  if (rows > 2)
    {
      g_autofree float *part = g_new (float, rows);
      f (m, x, 1, rows - 1, part);
      for (int r = 1; r < rows - 1; r++)
        g_assert_cmpfloat (fabs (part[r - 1] - want[r]), <=, 1e-6 * mag[r] + 1e-30);
    }
  as_q8_matrix_free (m);
}

static void
test_kernels (void)
{
  static const int shapes[][2] = { { 1, 32 }, { 17, 64 }, { 9, 576 }, { 3, 1536 },
                                   { 5, 33 }, { 4, 47 }, { 6, 100 }, { 2, 1 }, { 3, 16 } };
  int levels = 0;
  for (int isa = 0; isa < AS_N_ISA; isa++)
    {
      AsQ8GemvFunc f = as_q8_gemv_for ((AsIsa) isa);
      if (f == NULL)
        {
          g_test_message ("level %s: not on this CPU", as_cpu_isa_name ((AsIsa) isa));
          continue;
        }
      levels++;
      for (guint s = 0; s < G_N_ELEMENTS (shapes); s++)
        check_kernel (f, shapes[s][0], shapes[s][1]);
    }
  g_assert_cmpint (levels, >=, 1);
  /* the one a process runs is its level's */
  g_assert_true (as_q8_gemv_for (as_cpu_isa ()) != NULL);
}

/* --- decoders ---------------------------------------------------------------- */

static AsModel *
load_tiny (void)
{
  g_autofree char *path = llama_fixture_path ("tiny.gguf");
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (path, &error);
  g_assert_no_error (error);
  return model;
}

/* The int8 decoder against fp32 on the same 40 tokens after an 8-token
 * prompt. Int8 weights move each weight by at most 1/254 of its block's
 * largest; through two layers of this seeded random model (whose scores
 * are sharper than a trained model's) that measured 1.5% of the logits'
 * span and 0.028 of attention, and the bounds are about twice that. A
 * greedy pick may flip where two logits are that close, so most (not all)
 * steps agree. */
static void
test_decoder_deviation (void)
{
  AsModel *model = load_tiny ();
  AsBackend *cpu = as_cpu_backend_new (model);
  const int V = model->config->vocab_size;
  int ids[48];
  for (int i = 0; i < 48; i++)
    ids[i] = (i * 37 + 11) % V;
  AsDecodeDeviation dev;
  g_autoptr(GError) error = NULL;
  g_assert_true (as_decode_deviation (cpu, ids, 8, 48, AS_DECODE_WEIGHTS_INT8, &dev, &error));
  g_assert_no_error (error);
  g_test_message ("int8 vs fp32: logits %.3g of span %.3g, attention %.3g, greedy %d/%d",
                  dev.max_logit_diff, dev.max_logit_range, dev.max_row_diff, dev.argmax_agree,
                  dev.steps);
  g_assert_cmpint (dev.steps, ==, 40);
  g_assert_cmpfloat (dev.max_logit_diff, >, 0.0);   /* it did read int8 weights */
  g_assert_cmpfloat (dev.max_logit_diff, <, 0.03 * dev.max_logit_range);
  g_assert_cmpfloat (dev.max_row_diff, >, 0.0);
  g_assert_cmpfloat (dev.max_row_diff, <, 0.05);
  g_assert_cmpint (dev.argmax_agree, >=, 36);

  /* fp32 against itself: nothing differs */
  g_assert_true (as_decode_deviation (cpu, ids, 8, 48, AS_DECODE_WEIGHTS_FP32, &dev, &error));
  g_assert_cmpfloat (dev.max_logit_diff, ==, 0.0);
  g_assert_cmpfloat (dev.max_row_diff, ==, 0.0);
  g_assert_cmpint (dev.argmax_agree, ==, 40);
  as_backend_free (cpu);
  as_model_free (model);
}

/* The reference backend reruns the whole forward per token (no cache):
 * int8 weights are refused by name, fp32 still runs. */
static void
test_decoder_refusal (void)
{
  AsModel *model = load_tiny ();
  AsBackend *ref = as_reference_backend_new (model);
  g_autoptr(GError) error = NULL;
  AsDecoder *d = as_decoder_new_with_weights (ref, 16, AS_DECODE_WEIGHTS_INT8, &error);
  g_assert_null (d);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "fp32 weights only"));
  g_clear_error (&error);
  d = as_decoder_new_with_weights (ref, 16, AS_DECODE_WEIGHTS_FP32, &error);
  g_assert_no_error (error);
  g_assert_cmpint (as_decoder_get_weights (d), ==, AS_DECODE_WEIGHTS_FP32);
  as_decoder_free (d);

  AsDecodeWeights w;
  g_assert_true (as_decode_weights_from_string ("int8", &w) && w == AS_DECODE_WEIGHTS_INT8);
  g_assert_true (as_decode_weights_from_string ("fp32", &w) && w == AS_DECODE_WEIGHTS_FP32);
  g_assert_false (as_decode_weights_from_string ("q4", &w));
  g_assert_cmpstr (as_decode_weights_to_string (AS_DECODE_WEIGHTS_INT8), ==, "int8");
  as_backend_free (ref);
  as_model_free (model);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/q8-gemv/quantize", test_quantize);
  g_test_add_func ("/q8-gemv/kernels", test_kernels);
  g_test_add_func ("/q8-gemv/decoder/deviation", test_decoder_deviation);
  g_test_add_func ("/q8-gemv/decoder/refusal", test_decoder_refusal);
  return g_test_run ();
}
