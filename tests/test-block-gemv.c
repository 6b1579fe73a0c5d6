/* test-block-gemv.c — block weights (as-block-gemv.h) and the decoders that
 * read them (as-decode.h, AS_DECODE_WEIGHTS_INT8 and _FILE).
 *
 *  - quantisation as Q8_0 defines it: scale = max |w| / 127 per block of
 *    32, every weight within half a step of scale * q, a row's tail zero;
 *  - the Q8 product of every kernel level this CPU runs (the portable one,
 *    its AVX2 build, the AVX-512 one) against a plain double sum over
 *    scale * q * x, on shapes with and without a partial last block;
 *  - GGUF's own Q8_0, Q4_0 and Q4_1 blocks (tests/data/gguf, written by
 *    gguf-py) read as they are: every level's product with x a unit
 *    vector gives each weight bit for bit as gguf-py de-quantised it, and
 *    with random x agrees with a double sum over those floats;
 *  - a Llama decoder whose steps read int8 weights against the fp32 one on
 *    the same tokens: close (logits, attention rows, the greedy pick),
 *    and not identical (the int8 weights are what it read); refused
 *    where the backend keeps no cache;
 *  - SmolLM2's decoder reading the file's own blocks (what it picks by
 *    itself) against fp32: the sums' order apart, the same numbers; and
 *    without the memory for them, refused or, left to itself, on fp32.
 */
#include <math.h>
#include <string.h>
#include <sys/resource.h>

#include "as-architecture.h"
#include "as-decode-deviation.h"
#include "as-error.h"
#include "as-model.h"
#include "as-block-gemv.h"
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
  AsBlockMatrix *m = as_block_matrix_new (AS_BLOCK_Q8, rows, cols);
  as_block_matrix_quantize (m, 0, w, rows);
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
            const int q = (gint8) m->q[(gsize) r * m->blocks * 32 + c0 + i];
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
  g_assert_cmpuint (as_block_matrix_bytes (m), ==, (gsize) rows * 3 * (32 + 4));
  as_block_matrix_free (m);
}

/* OUT [rows] = the int8 matrix M times X, in double. */
static void
reference_gemv (const AsBlockMatrix *m,
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
                           (gint8) m->q[(gsize) r * m->blocks * 32 + c] * x[c];
          y += t;
          mag += fabs (t);
        }
      out[r] = y;
      magnitude[r] = mag;
    }
}

static void
check_kernel (AsBlockGemvFunc f,
              int          rows,
              int          cols)
{
  g_autofree float *w = random_weights (rows, cols, (guint32) (rows * 131 + cols));
  g_autofree float *x = g_new (float, cols);
  guint32 seed = (guint32) cols;
  for (int c = 0; c < cols; c++)
    x[c] = uniform (&seed) * 3.0f;
  AsBlockMatrix *m = as_block_matrix_new (AS_BLOCK_Q8, rows, cols);
  as_block_matrix_quantize (m, 0, w, rows);
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
  as_block_matrix_free (m);
}

static void
test_kernels (void)
{
  static const int shapes[][2] = { { 1, 32 }, { 17, 64 }, { 9, 576 }, { 3, 1536 },
                                   { 5, 33 }, { 4, 47 }, { 6, 100 }, { 2, 1 }, { 3, 16 } };
  int levels = 0;
  for (int isa = 0; isa < AS_N_ISA; isa++)
    {
      AsBlockGemvFunc f = as_block_gemv_for ((AsIsa) isa, AS_BLOCK_Q8);
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
  g_assert_true (as_block_gemv_for (as_cpu_isa (), AS_BLOCK_Q8) != NULL);
  g_assert_true (as_block_gemv_for (as_cpu_isa (), AS_BLOCK_Q4) != NULL);
}

/* NAME in tests/data/gguf/ whole (g_free); LENGTH gets its bytes. */
static guint8 *
gguf_fixture (const char *name,
              gsize      *length)
{
  g_assert_nonnull (g_getenv ("AS_TEST_DATA"));
  g_autofree char *path = g_build_filename (g_getenv ("AS_TEST_DATA"), "gguf", name, NULL);
  g_autoptr(GError) error = NULL;
  char *bytes = NULL;
  g_assert_true (g_file_get_contents (path, &bytes, length, &error));
  g_assert_no_error (error);
  return (guint8 *) bytes;
}

/* TYPE's blocks of tests/data/gguf, as a tensor of ROWS rows, read into a
 * block matrix (the even rows from the tensor's odd ones and back, to use
 * the row map), against the floats gguf-py de-quantised them to. */
static void
check_gguf_type (AsGgmlType  type,
                 const char *name,
                 int         rows)
{
  gsize n_bytes, n_floats;
  g_autofree char *blocks_name = g_strconcat (name, ".blocks", NULL);
  g_autofree char *floats_name = g_strconcat (name, ".f32", NULL);
  g_autofree guint8 *blocks = gguf_fixture (blocks_name, &n_bytes);
  g_autofree float *want = (float *) gguf_fixture (floats_name, &n_floats);   /* [rows, cols] */
  n_floats /= sizeof (float);
  const int cols = (int) (n_floats / rows);
  g_assert_cmpint (cols % 32, ==, 0);
  AsGgufTensor t = { .name = name, .type = type, .n_dims = 2, .ne = { cols, rows, 1, 1 },
                     .n_elements = (gint64) n_floats, .n_rows = rows, .n_bytes = n_bytes,
                     .data = blocks };
  AsBlockFormat format;
  g_assert_true (as_block_format_of_ggml (type, &format));
  AsBlockMatrix *m = as_block_matrix_new (format, rows, cols);
  g_autofree int *source = g_new (int, rows);
  for (int r = 0; r < rows; r++)
    source[r] = r ^ 1;
  as_block_matrix_read_gguf (m, 0, &t, source, rows);

  g_autofree float *x = g_new0 (float, cols);
  g_autofree float *got = g_new (float, rows);
  int levels = 0;
  for (int isa = 0; isa < AS_N_ISA; isa++)
    {
      AsBlockGemvFunc f = as_block_gemv_for ((AsIsa) isa, format);
      if (f == NULL)
        continue;
      levels++;
      /* x = e_c: the product is column c, each weight as the kernel forms
       * it; equal as floats (a Q4_0 weight of 0 comes out +0 where gguf-py
       * may give -0, which adds the same to any sum) */
      for (int c = 0; c < cols; c++)
        {
          x[c] = 1.0f;
          f (m, x, 0, rows, got);
          x[c] = 0.0f;
          for (int r = 0; r < rows; r++)
            if (got[r] != want[(gsize) source[r] * cols + c])
              g_error ("%s, level %s: weight [%d, %d] is %.9g, gguf-py's %.9g", name,
                       as_cpu_isa_name ((AsIsa) isa), r, c, got[r],
                       want[(gsize) source[r] * cols + c]);
        }
      /* random x: a double sum over gguf-py's floats */
      guint32 seed = 99;
      for (int c = 0; c < cols; c++)
        x[c] = uniform (&seed);
      f (m, x, 0, rows, got);
      for (int r = 0; r < rows; r++)
        {
          double y = 0.0, mag = 0.0;
          for (int c = 0; c < cols; c++)
            {
              const double term = (double) want[(gsize) source[r] * cols + c] * x[c];
              y += term;
              mag += fabs (term);
            }
          g_assert_cmpfloat (fabs (got[r] - y), <=, 1e-6 * mag + 1e-30);
        }
      memset (x, 0, sizeof (float) * cols);
    }
  g_assert_cmpint (levels, >=, 1);
  g_test_message ("%s: %d x %d, bit for bit at %d levels", name, rows, cols, levels);
  as_block_matrix_free (m);
}

static void
test_gguf_blocks (void)
{
  check_gguf_type (AS_GGML_Q8_0, "Q8_0", 2);
  check_gguf_type (AS_GGML_Q4_0, "Q4_0", 4);
  check_gguf_type (AS_GGML_Q4_1, "Q4_1", 2);
  AsBlockFormat format;
  g_assert_false (as_block_format_of_ggml (AS_GGML_Q4_K, &format));
  g_assert_false (as_block_format_of_ggml (AS_GGML_F32, &format));
}

/* --- decoders ---------------------------------------------------------------- */

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
  AsModel *model = llama_tiny_load ();
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
  AsModel *model = llama_tiny_load ();
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
  g_assert_true (as_decode_weights_from_string ("file", &w) && w == AS_DECODE_WEIGHTS_FILE);
  g_assert_true (as_decode_weights_from_string ("auto", &w) && w == AS_DECODE_WEIGHTS_AUTO);
  g_assert_false (as_decode_weights_from_string ("q4", &w));
  g_assert_cmpstr (as_decode_weights_to_string (AS_DECODE_WEIGHTS_INT8), ==, "int8");
  as_backend_free (ref);
  as_model_free (model);
}

/* SmolLM2 (Q4_1 layers, a Q8_0 embedding): a decoder picks the file's own
 * blocks by itself, reads fewer bytes than fp32's, and gives fp32's numbers
 * but for the order of the sums. Measured: logits within 3.8e-5 of a span
 * of 28.8, attention rows within 3.0e-6, every greedy pick the same. With
 * the Q rows left in llama.cpp's order the logits moved by 37.7 and the
 * rows by 1.0, with no greedy pick the same. */
static void
test_decoder_file_weights (void)
{
  AsModel *model = llama_smollm2_load ();
  if (model == NULL)
    return;
  AsBackend *cpu = as_cpu_backend_new (model);
  g_autoptr(GError) error = NULL;
  AsDecoder *d = as_decoder_new (cpu, 32, &error);
  g_assert_no_error (error);
  g_assert_cmpint (as_decoder_get_weights (d), ==, AS_DECODE_WEIGHTS_FILE);
  const gsize file_bytes = as_decoder_get_step_weight_bytes (d);
  as_decoder_free (d);
  d = as_decoder_new_with_weights (cpu, 32, AS_DECODE_WEIGHTS_FP32, &error);
  g_assert_no_error (error);
  const gsize fp32_bytes = as_decoder_get_step_weight_bytes (d);
  as_decoder_free (d);
  g_test_message ("a step reads %.1f MB of file blocks against %.1f MB of fp32",
                  file_bytes / 1e6, fp32_bytes / 1e6);
  g_assert_cmpuint (file_bytes * 4, <, fp32_bytes);

  const int V = model->config->vocab_size;
  int ids[24];
  for (int i = 0; i < 24; i++)
    ids[i] = (i * 7919 + 17) % V;
  AsDecodeDeviation dev;
  g_assert_true (as_decode_deviation (cpu, ids, 8, 24, AS_DECODE_WEIGHTS_FILE, &dev, &error));
  g_assert_no_error (error);
  g_test_message ("file blocks vs fp32: logits %.3g of span %.3g, attention %.3g, greedy %d/%d",
                  dev.max_logit_diff, dev.max_logit_range, dev.max_row_diff, dev.argmax_agree,
                  dev.steps);
  g_assert_cmpint (dev.steps, ==, 16);
  g_assert_cmpfloat (dev.max_logit_diff, <, 1e-5 * dev.max_logit_range);
  g_assert_cmpfloat (dev.max_row_diff, <, 2e-5);
  g_assert_cmpint (dev.argmax_agree, ==, 16);
  as_backend_free (cpu);
  as_model_free (model);
}

/* Without the memory for the blocks (an address-space limit 100 MB above
 * what SmolLM2 and its backend take; its blocks need 111.5 MB), a decoder
 * asked for file weights says so, and one left to auto decodes from the
 * fp32 copies instead. In a subprocess, for the limit; not under
 * AddressSanitizer, whose shadow memory an address-space limit breaks. */
static void
test_decoder_file_no_memory (void)
{
#if defined(__SANITIZE_ADDRESS__)
  g_test_skip ("an address-space limit and AddressSanitizer do not mix");
  return;
#endif
  g_autofree char *path = llama_smollm2_path ();
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("the SmolLM2 GGUF is not downloaded");
      return;
    }
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      return;
    }
  AsModel *model = llama_smollm2_load ();
  AsBackend *cpu = as_cpu_backend_new (model);
  g_autoptr(GError) error = NULL;
  /* the backend's threads and their arenas exist before the limit */
  g_autoptr(AsDecoder) warm = as_decoder_new_with_weights (cpu, 16, AS_DECODE_WEIGHTS_FP32, &error);
  g_assert_no_error (error);
  int ids[4] = { 504, 2644, 2643, 335 };
  AsForwardRequest prompt = { .ids = ids, .n = 4 };
  g_autofree float *logits = g_new (float, model->config->vocab_size);
  g_assert_true (as_decoder_prompt (warm, &prompt, logits, &error));
  g_clear_pointer (&warm, as_decoder_free);

  g_autofree char *status = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  const char *vm = strstr (status, "VmSize:");
  g_assert_nonnull (vm);
  const struct rlimit limit = { .rlim_cur = (rlim_t) (g_ascii_strtoull (vm + 7, NULL, 10) * 1024 +
                                                      100 * 1024 * 1024),
                                .rlim_max = RLIM_INFINITY };
  g_assert_cmpint (setrlimit (RLIMIT_AS, &limit), ==, 0);

  AsDecoder *d = as_decoder_new_with_weights (cpu, 16, AS_DECODE_WEIGHTS_FILE, &error);
  g_assert_null (d);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES);
  g_assert_nonnull (strstr (error->message, "does not fit in memory"));
  g_clear_error (&error);
  d = as_decoder_new (cpu, 16, &error);
  g_assert_no_error (error);
  g_assert_cmpint (as_decoder_get_weights (d), ==, AS_DECODE_WEIGHTS_FP32);
  g_assert_true (as_decoder_prompt (d, &prompt, logits, &error));
  g_assert_true (as_decoder_step (d, 260, NULL, NULL, NULL, logits, &error));
  g_assert_no_error (error);
  as_decoder_free (d);
}

/* A file with no block types (the tiny fixture is all F32): auto reads
 * fp32, file weights asked for by name are refused saying why. */
static void
test_decoder_file_refusal (void)
{
  AsModel *model = llama_tiny_load ();
  AsBackend *cpu = as_cpu_backend_new (model);
  g_autoptr(GError) error = NULL;
  AsDecoder *d = as_decoder_new (cpu, 16, &error);
  g_assert_no_error (error);
  g_assert_cmpint (as_decoder_get_weights (d), ==, AS_DECODE_WEIGHTS_FP32);
  as_decoder_free (d);
  d = as_decoder_new_with_weights (cpu, 16, AS_DECODE_WEIGHTS_FILE, &error);
  g_assert_null (d);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "holds no weight as Q8_0, Q4_0 or Q4_1 blocks"));
  as_backend_free (cpu);
  as_model_free (model);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/block-gemv/quantize", test_quantize);
  g_test_add_func ("/block-gemv/kernels", test_kernels);
  g_test_add_func ("/block-gemv/gguf-blocks", test_gguf_blocks);
  g_test_add_func ("/block-gemv/decoder/deviation", test_decoder_deviation);
  g_test_add_func ("/block-gemv/decoder/refusal", test_decoder_refusal);
  g_test_add_func ("/block-gemv/decoder/file-weights", test_decoder_file_weights);
  g_test_add_func ("/block-gemv/decoder/file-refusal", test_decoder_file_refusal);
  g_test_add_func ("/block-gemv/decoder/file-no-memory", test_decoder_file_no_memory);
  return g_test_run ();
}
