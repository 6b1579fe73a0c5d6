/* attnscope-cli bench — time tokenization and the forward pass, and say how
 * close the encoder comes to this machine's own SGEMM rate.
 *
 * For each length (16 … 512 tokens) it reports medians over repeated runs
 * after warm-up:
 *   tokenize     as_tokenizer_encode of a text that gives exactly n tokens
 *   first layer  from the start of the forward pass until layer 0's
 *                attention reaches the caller (what a streaming UI waits for)
 *   forward      the whole pass with every layer's attention copied into one
 *                freshly allocated [layers, heads, n, n] block in host memory
 *                (what as_attention_compute_ids does)
 *   GFLOP/s      flops(n) / forward time, with flops(n) counted per layer as
 *                  QKV projections   2·n·H·(H + 2·KV)  (KV = H without grouped-query attention)
 *                  scores  Q K^T     2·n·n·H   (all heads: n_heads · 2·n·n·d)
 *                  context P V       2·n·n·H
 *                  output dense      2·n·H·H
 *                  FFN               2·n·H·I · 2, or · 3 with a gate (SwiGLU)
 *                (softmax, LayerNorm, GELU and the embedding are not counted)
 * and, in the same run, the rate OpenBLAS reaches on a square SGEMM with the
 * same thread count, so "% SGEMM" is the fraction of this machine's limit.
 * That yardstick is OpenBLAS's native kernel for this CPU: where
 * OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE is set (some machines force the
 * Haswell kernels, at half the AVX-512 rate), it is measured in a child
 * process started without them. The CPU model, the kernel level the
 * encoder runs (as-cpu-features.h) and both OpenBLAS kernels are printed.
 *
 * Absolute times on a shared machine are noise; compare ratios from one run
 * (tools/bench-compare runs this and the transformers reference together).
 */
#include "as-cli.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "as-cli-bench.h"
#include "as-cpu-features.h"
#include "as-gpu-loader.h"
#include "as-lm-head.h"
#include "as-json-writer.h"
#include "as-output-file.h"

#ifdef AS_HAVE_RENDER
#include "as-heatmap-render.h"
#include "as-matrix-pool.h"
#endif

/* Sentence A for the tokenization rows: plain English, repeated as needed. */
static const char bench_passage[] =
  "The committee met on a grey Tuesday morning to decide whether the old "
  "railway bridge should be repaired or replaced. Engineers had measured the "
  "corrosion in its steel beams, and their report was unambiguous: without "
  "major work the structure would not survive another decade of freight "
  "traffic. Local residents, however, argued that the bridge was part of the "
  "town's identity, painted in every souvenir shop and photographed by "
  "visitors since 1911. After three hours of discussion, the chair proposed a "
  "compromise that nobody had expected: keep the historic arches, rebuild the "
  "deck with modern materials, and open a small museum in the signal house. ";

static const int default_lengths[] = { 16, 32, 64, 128, 256, 512 };

typedef struct {
  char    *shape;
  char    *lengths;
  int      threads;
  int      warmup;
  int      min_runs;
  int      max_runs;
  double   min_time;
  int      sgemm_size;
  gboolean json;
  gboolean render;
  int      thumb;       /* --render: thumbnail side, px */
  int      head_size;   /* --render: head view side, px */
  int      sgemm_child; /* hidden: only time N SGEMMs and print them (the native yardstick) */
  int      decode_context; /* decoders: prompt tokens before the timed steps (0: none) */
  int      decode_steps;
  char    *weights;     /* decoders: what the timed steps read, fp32 (default) or int8 */
} BenchOptions;

typedef struct {
  int     n;
  char   *text;          /* NULL with random ids (no tokenizer) */
  int    *ids;           /* [n] */
  int    *type_ids;      /* [n] */
  double  tokenize_ms;   /* NAN without a tokenizer */
  double  first_ms;
  double  forward_ms;
  double  forward_min_ms;
  double  gflop;
  int     runs;
} BenchRow;

typedef struct {
  double  gflops;        /* median over samples */
  double  best_gflops;
  int     size;
  int     samples;
  char   *kernel;        /* OpenBLAS's kernel for the yardstick */
  gboolean in_child;     /* measured in a child without OPENBLAS_CORETYPE / _L2_SIZE */
} SgemmResult;

double
as_cli_bench_now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static int
compare_double (const void *a,
                const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

double
as_cli_bench_median (double *v,
                     int     count)
{
  if (count == 0)
    return NAN;
  qsort (v, (size_t) count, sizeof *v, compare_double);
  return count % 2 ? v[count / 2] : 0.5 * (v[count / 2 - 1] + v[count / 2]);
}

/* The FLOP count documented at the top of this file, in GFLOP. */
static double
forward_gflop (const AsModel *model,
               int            n)
{
  /* (no single-letter I: OpenBLAS's cblas.h pulls in <complex.h>) */
  const AsConfig *c = model->config;
  double hid = c->hidden, inter = c->intermediate, tok = n;
  double kv = c->n_kv_heads > 0 ? (double) c->n_kv_heads * c->head_dim : hid;
  double ffn = model->arch->ffn_products > 0 ? model->arch->ffn_products : 2;
  double per_layer = 2 * tok * hid * (hid + 2 * kv)   /* Q, K, V */
                   + 2 * tok * tok * hid              /* scores */
                   + 2 * tok * tok * hid              /* probabilities x V */
                   + 2 * tok * hid * hid              /* attention output dense */
                   + 2 * tok * hid * inter * ffn;     /* FFN: up (and gate), down */
  return per_layer * c->n_layers / 1e9;
}

/* --- SGEMM: the machine's own limit, measured now ------------------------ */

static void
sgemm_sample (SgemmResult *r,
              double      *rates,
              int          count)
{
  const int s = r->size;
  float *a = g_new (float, (gsize) s * s);  /* [s, s] */
  float *b = g_new (float, (gsize) s * s);  /* [s, s] */
  float *c = g_new (float, (gsize) s * s);  /* [s, s] */
  for (gsize i = 0; i < (gsize) s * s; i++)
    {
      a[i] = (float) ((i * 7) % 13) * 0.01f;
      b[i] = (float) ((i * 5) % 11) * 0.01f;
    }
  double flop = 2.0 * s * s * s;
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, s, s, s,
               1.0f, a, s, b, s, 0.0f, c, s);   /* warm-up: threads, buffers */
  for (int k = 0; k < count; k++)
    {
      double t0 = as_cli_bench_now_s ();
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, s, s, s,
                   1.0f, a, s, b, s, 0.0f, c, s);
      rates[k] = flop / (as_cli_bench_now_s () - t0) / 1e9;
    }
  g_free (a);
  g_free (b);
  g_free (c);
}

/* The variables that make OpenBLAS pick other kernels than this CPU's own. */
static const char *const coretype_vars[] = { "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE" };

static gboolean
coretype_forced (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (coretype_vars); i++)
    if (g_getenv (coretype_vars[i]) != NULL)
      return TRUE;
  return FALSE;
}

/* COUNT samples of the SGEMM rate with OpenBLAS's native kernel into RATES:
 * here, or, when OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE is set, in a child
 * (this program, bench --sgemm-child) started without them, since OpenBLAS
 * reads them once when it loads. */
static gboolean
native_sgemm (SgemmResult  *r,
              int           threads,
              double       *rates,
              int           count,
              GError      **error)
{
  if (!coretype_forced ())
    {
      sgemm_sample (r, rates, count);
      g_free (r->kernel);
      r->kernel = g_strdup (openblas_get_corename ());
      r->in_child = FALSE;
      return TRUE;
    }
  g_autofree char *self = g_file_read_link ("/proc/self/exe", error);
  if (self == NULL)
    return FALSE;
  g_autofree char *n_arg = g_strdup_printf ("%d", count);
  g_autofree char *size_arg = g_strdup_printf ("%d", r->size);
  g_autofree char *threads_arg = g_strdup_printf ("%d", threads);
  const char *argv[] = { self, "bench", "--sgemm-child", n_arg, "--sgemm-size", size_arg,
                         "--threads", threads_arg, NULL };
  g_auto(GStrv) envp = g_get_environ ();
  for (guint i = 0; i < G_N_ELEMENTS (coretype_vars); i++)
    envp = g_environ_unsetenv (envp, coretype_vars[i]);
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  if (!g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                     &status, error))
    return FALSE;
  g_auto(GStrv) words = g_strsplit_set (g_strstrip (out), " \n", -1);
  if (!g_spawn_check_wait_status (status, NULL) || g_strv_length (words) != (guint) count + 1)
    {
      g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
                   "the native SGEMM measurement (a child without OPENBLAS_CORETYPE) failed: %s",
                   err != NULL && *err ? g_strstrip (err) : "no result");
      return FALSE;
    }
  for (int k = 0; k < count; k++)
    rates[k] = g_ascii_strtod (words[k + 1], NULL);
  g_free (r->kernel);
  r->kernel = g_strdup (words[0]);
  r->in_child = TRUE;
  return TRUE;
}

/* --- inputs -------------------------------------------------------------- */

static AsEncoding *
encode_words (AsTokenizer *tok,
              char       **words,
              int          n_words,
              int          max_length)
{
  char *saved = words[n_words];
  words[n_words] = NULL;
  g_autofree char *text = g_strjoinv (" ", words);
  words[n_words] = saved;
  return as_tokenizer_encode (tok, text, NULL, max_length);
}

/* The shortest prefix of the (repeated) passage that gives at least N tokens;
 * encoding it with max_length N then yields exactly N (HF truncation=True). */
static char *
text_for_length (AsTokenizer *tok,
                 int          n)
{
  GString *s = g_string_new (NULL);
  for (int k = 0; k < 8; k++)
    g_string_append (s, bench_passage);
  char **words = g_strsplit (g_strstrip (s->str), " ", -1);
  g_string_free (s, TRUE);
  int total = (int) g_strv_length (words);

  int lo = 1, hi = total;
  while (lo < hi)
    {
      int mid = (lo + hi) / 2;
      AsEncoding *enc = encode_words (tok, words, mid, 0);
      if (enc->n_tokens >= n)
        hi = mid;
      else
        lo = mid + 1;
      as_encoding_free (enc);
    }
  char *saved = words[lo];
  words[lo] = NULL;
  char *text = g_strjoinv (" ", words);
  words[lo] = saved;
  g_strfreev (words);
  return text;
}

static void
row_prepare (BenchRow       *row,
             const AsModel  *model,
             int             n,
             guint32         seed)
{
  row->n = n;
  row->ids = g_new (int, n);
  row->type_ids = g_new0 (int, n);
  row->tokenize_ms = NAN;
  if (model->tokenizer != NULL)
    {
      row->text = text_for_length (model->tokenizer, n);
      AsEncoding *enc = as_tokenizer_encode (model->tokenizer, row->text, NULL, n);
      row->n = n = MIN (n, enc->n_tokens);
      for (int i = 0; i < n; i++)
        {
          row->ids[i] = enc->tokens[i].id;
          row->type_ids[i] = enc->tokens[i].type_id;
        }
      as_encoding_free (enc);
      return;
    }
  /* Random ids: timing does not depend on them. [CLS] … [SEP] for form. */
  GRand *rand = g_rand_new_with_seed (seed + (guint32) n);
  int vocab = model->config->vocab_size;
  for (int i = 0; i < n; i++)
    row->ids[i] = g_rand_int_range (rand, MIN (1000, vocab - 1), vocab);
  row->ids[0] = MIN (101, vocab - 1);
  row->ids[n - 1] = MIN (102, vocab - 1);
  g_rand_free (rand);
}

static void
row_clear (BenchRow *row)
{
  g_free (row->text);
  g_free (row->ids);
  g_free (row->type_ids);
}

/* --- timing ---------------------------------------------------------------- */

/* Keeps going until both MIN_RUNS and MIN_TIME are reached (or MAX_RUNS). */
static gboolean
enough_runs (const BenchOptions *o,
             int                 runs,
             double              elapsed)
{
  if (runs >= o->max_runs)
    return TRUE;
  return runs >= o->min_runs && elapsed >= o->min_time;
}

static void
time_tokenize (const BenchOptions *o,
               const AsModel      *model,
               BenchRow           *row)
{
  if (row->text == NULL)
    return;
  /* One encode is tens of microseconds: time batches of them. */
  int batch = 1;
  for (;;)
    {
      double t0 = as_cli_bench_now_s ();
      for (int k = 0; k < batch; k++)
        as_encoding_free (as_tokenizer_encode (model->tokenizer, row->text, NULL, row->n));
      if (as_cli_bench_now_s () - t0 > 1e-3 || batch >= 1 << 16)
        break;
      batch *= 2;
    }
  GArray *samples = g_array_new (FALSE, FALSE, sizeof (double));
  double start = as_cli_bench_now_s ();
  while (!enough_runs (o, (int) samples->len, as_cli_bench_now_s () - start))
    {
      double t0 = as_cli_bench_now_s ();
      for (int k = 0; k < batch; k++)
        as_encoding_free (as_tokenizer_encode (model->tokenizer, row->text, NULL, row->n));
      double ms = (as_cli_bench_now_s () - t0) * 1e3 / batch;
      g_array_append_val (samples, ms);
    }
  row->tokenize_ms = as_cli_bench_median ((double *) samples->data, (int) samples->len);
  g_array_free (samples, TRUE);
}

typedef struct {
  float  *attn;          /* [layers, heads, n, n] */
  gsize   per_layer;     /* heads · n · n */
  double  t_start;
  double  t_first;       /* when layer 0 reached us */
} CollectState;

static gboolean
collect_layer (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  CollectState *s = user_data;
  if (layer == 0)
    s->t_first = as_cli_bench_now_s ();
  float *dst = s->attn + (gsize) layer * s->per_layer;
  if (attn != dst)
    memcpy (dst, attn, s->per_layer * sizeof (float));
  return TRUE;
}

/* One pass as the library's as_attention_compute_ids makes it: allocate the
 * attention block, run, keep every layer. Returns FALSE on error. */
static gboolean
forward_once (AsBackend  *backend,
              BenchRow   *row,
              double     *first_ms,
              double     *total_ms,
              GError    **error)
{
  const AsConfig *c = backend->model->config;
  CollectState s = { 0 };
  s.per_layer = (gsize) c->n_heads * row->n * row->n;
  AsForwardRequest req = {
    .ids = row->ids, .type_ids = row->type_ids, .n = row->n,
    .on_layer = collect_layer, .user_data = &s,
  };
  s.t_start = as_cli_bench_now_s ();
  /* The attention block is allocated as the app's analyses are. */
  g_autoptr(AsAnalysis) a = as_analysis_new ();
  a->n_layers = c->n_layers;
  a->n_heads = c->n_heads;
  a->n = row->n;
  gboolean have_attn = as_analysis_alloc_attention (a);
  s.attn = a->attn;
  req.attn_out = a->attn;
  float *final_hidden = g_try_new (float, (gsize) row->n * c->hidden);  /* [n, H] */
  gboolean ok = have_attn && final_hidden != NULL;
  if (!ok)
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                 "not enough memory for the attention of %d tokens", row->n);
  else
    ok = as_backend_forward (backend, &req, final_hidden, error);
  double t_end = as_cli_bench_now_s ();
  g_free (final_hidden);
  *first_ms = (s.t_first - s.t_start) * 1e3;
  *total_ms = (t_end - s.t_start) * 1e3;
  return ok;
}

static gboolean
time_forward (const BenchOptions *o,
              AsBackend          *backend,
              BenchRow           *row,
              GError            **error)
{
  double first, total;
  for (int k = 0; k < o->warmup; k++)
    if (!forward_once (backend, row, &first, &total, error))
      return FALSE;

  GArray *firsts = g_array_new (FALSE, FALSE, sizeof (double));
  GArray *totals = g_array_new (FALSE, FALSE, sizeof (double));
  double start = as_cli_bench_now_s ();
  gboolean ok = TRUE;
  while (ok && !enough_runs (o, (int) totals->len, as_cli_bench_now_s () - start))
    {
      ok = forward_once (backend, row, &first, &total, error);
      g_array_append_val (firsts, first);
      g_array_append_val (totals, total);
    }
  row->runs = (int) totals->len;
  row->first_ms = as_cli_bench_median ((double *) firsts->data, (int) firsts->len);
  row->forward_ms = as_cli_bench_median ((double *) totals->data, (int) totals->len);
  row->forward_min_ms = ((double *) totals->data)[0];  /* sorted by median() */
  row->gflop = forward_gflop (backend->model, row->n);
  g_array_free (firsts, TRUE);
  g_array_free (totals, TRUE);
  return ok;
}

/* --- output ---------------------------------------------------------------- */

typedef struct {
  const char   *model_label;
  const AsModel *model;
  char         *backend_desc;
  const char   *device;
  int           threads;
  const char   *coretype_env;
  SgemmResult   sgemm;
  double        load_ms;          /* NAN for random weights */
  double        load_cold_ms;
  double        backend_ms;       /* median of 5 builds */
  double        backend_first_ms; /* the first build in this process */
  BenchRow     *rows;
  int           n_rows;
  AsBenchDecode decode;           /* decode.context 0: not measured */
} BenchReport;

static void
json_number (FILE   *out,
             double  v)
{
  if (isfinite (v))
    fprintf (out, "%.6g", v);
  else
    fputs ("null", out);
}

static void
write_json (FILE              *out,
            const BenchReport *r,
            const BenchOptions *o)
{
  const AsConfig *c = r->model->config;
  fputs ("{\n  \"tool\": \"attnscope\",\n  \"model\": ", out);
  as_json_write_string (out, r->model_label);
  fputs (",\n  \"model_dir\": ", out);
  if (o->shape == NULL)
    as_json_write_string (out, r->model->dir);
  else
    fputs ("null", out);
  fputs (",\n  \"shape\": ", out);
  if (o->shape != NULL)
    as_json_write_string (out, o->shape);
  else
    fputs ("null", out);
  fprintf (out, ",\n  \"config\": {\"layers\": %d, \"heads\": %d, \"hidden\": %d, "
           "\"intermediate\": %d, \"vocab_size\": %d, \"max_positions\": %d, \"kv_hidden\": %d, "
           "\"ffn_products\": %d, \"causal\": %s},\n",
           c->n_layers, c->n_heads, c->hidden, c->intermediate, c->vocab_size, c->max_positions,
           c->n_kv_heads > 0 ? c->n_kv_heads * c->head_dim : c->hidden,
           r->model->arch->ffn_products > 0 ? r->model->arch->ffn_products : 2,
           r->model->arch->causal ? "true" : "false");
  fputs ("  \"device\": ", out);
  as_json_write_string (out, r->device);
  fputs (",\n  \"backend\": ", out);
  as_json_write_string (out, r->backend_desc);
  fputs (",\n  \"cpu_model\": ", out);
  as_json_write_string (out, as_cpu_model_name ());
  fputs (",\n  \"kernel_level\": ", out);
  as_json_write_string (out, as_cpu_isa_name (as_cpu_isa ()));
  fprintf (out, ",\n  \"threads\": %d,\n  \"policy\": {\"warmup\": %d, \"min_runs\": %d, "
           "\"max_runs\": %d, \"min_time\": %g},\n  \"openblas_core\": ",
           r->threads, o->warmup, o->min_runs, o->max_runs, o->min_time);
  as_json_write_string (out, r->sgemm.kernel);
  fputs (",\n  \"openblas_core_in_process\": ", out);
  as_json_write_string (out, openblas_get_corename ());
  fputs (",\n  \"openblas_config\": ", out);
  as_json_write_string (out, openblas_get_config ());
  fputs (",\n  \"openblas_coretype_env\": ", out);
  if (r->coretype_env != NULL)
    as_json_write_string (out, r->coretype_env);
  else
    fputs ("null", out);
  fprintf (out, ",\n  \"sgemm\": {\"size\": %d, \"samples\": %d, \"in_child\": %s, \"kernel\": ",
           r->sgemm.size, r->sgemm.samples, r->sgemm.in_child ? "true" : "false");
  as_json_write_string (out, r->sgemm.kernel);
  fputs (", \"gflops\": ", out);
  json_number (out, r->sgemm.gflops);
  fputs (", \"best_gflops\": ", out);
  json_number (out, r->sgemm.best_gflops);
  fputs ("},\n  \"load_ms\": ", out);
  json_number (out, r->load_ms);
  fputs (",\n  \"load_cold_ms\": ", out);
  json_number (out, r->load_cold_ms);
  fputs (",\n  \"backend_ms\": ", out);
  json_number (out, r->backend_ms);
  fputs (",\n  \"backend_first_ms\": ", out);
  json_number (out, r->backend_first_ms);
  fputs (",\n  \"flops_formula\": \"per layer 2nH*3H + 2*2nnH + 2nHH + 2*2nHI\",\n  \"rows\": [", out);
  for (int i = 0; i < r->n_rows; i++)
    {
      const BenchRow *row = &r->rows[i];
      fprintf (out, "%s\n    {\"tokens\": %d, \"runs\": %d, \"tokenize_ms\": ",
               i ? "," : "", row->n, row->runs);
      json_number (out, row->tokenize_ms);
      fputs (", \"first_layer_ms\": ", out);
      json_number (out, row->first_ms);
      fputs (", \"forward_ms\": ", out);
      json_number (out, row->forward_ms);
      fputs (", \"forward_min_ms\": ", out);
      json_number (out, row->forward_min_ms);
      fputs (", \"gflop\": ", out);
      json_number (out, row->gflop);
      fputs (", \"gflops\": ", out);
      json_number (out, row->gflop / (row->forward_ms * 1e-3));
      fputs (", \"sgemm_fraction\": ", out);
      json_number (out, row->gflop / (row->forward_ms * 1e-3) / r->sgemm.gflops);
      fputs (",\n     \"text\": ", out);
      if (row->text != NULL)
        as_json_write_string (out, row->text);
      else
        fputs ("null", out);
      fputs (",\n     \"ids\": [", out);
      for (int k = 0; k < row->n; k++)
        fprintf (out, "%s%d", k ? ", " : "", row->ids[k]);
      fputs ("],\n     \"type_ids\": [", out);
      for (int k = 0; k < row->n; k++)
        fprintf (out, "%s%d", k ? ", " : "", row->type_ids[k]);
      fputs ("]}", out);
    }
  fputs ("\n  ]", out);
  if (r->decode.context > 0)
    {
      const AsBenchDecode *d = &r->decode;
      fprintf (out, ",\n  \"decode\": {\"context\": %d, \"steps\": %d, \"runs\": %d, "
               "\"cached\": %s, \"prompt_ms\": ", d->context, d->steps, d->runs,
               d->cached ? "true" : "false");
      json_number (out, d->prompt_ms);
      fputs (", \"step_ms\": ", out);
      json_number (out, d->step_ms);
      fputs (", \"step_min_ms\": ", out);
      json_number (out, d->step_min_ms);
      fputs (", \"tokens_per_s\": ", out);
      json_number (out, 1e3 / d->step_ms);
      fputs (", \"weight_mb\": ", out);
      json_number (out, d->weight_mb);
      fputs (", \"stream_floor_ms\": ", out);
      json_number (out, d->stream_ms);
      fprintf (out, ", \"weights\": \"%s\"", as_decode_weights_to_string (d->weights));
      if (d->weights != AS_DECODE_WEIGHTS_FP32)
        {
          const AsDecodeDeviation *v = &d->deviation;
          fprintf (out, ", \"vs_fp32\": {\"steps\": %d, \"greedy_agree\": %d, "
                   "\"max_logit_diff\": ", v->steps, v->argmax_agree);
          json_number (out, v->max_logit_diff);
          fputs (", \"max_logit_range\": ", out);
          json_number (out, v->max_logit_range);
          fputs (", \"max_attention_diff\": ", out);
          json_number (out, v->max_row_diff);
          fputs ("}", out);
        }
      fputs ("}", out);
    }
  fputs ("\n}\n", out);
}

static void
write_ms (FILE   *out,
          double  v,
          int     width)
{
  if (isfinite (v))
    fprintf (out, "%*.3f", width, v);
  else
    fprintf (out, "%*s", width, "-");
}

static void
write_table (FILE              *out,
             const BenchReport *r)
{
  const AsConfig *c = r->model->config;
  fprintf (out, "AttnScope bench: %s (%d layers, %d heads, hidden %d, FFN %d)\n",
           r->model_label, c->n_layers, c->n_heads, c->hidden, c->intermediate);
  fprintf (out, "CPU: %s; kernel level %s\n", as_cpu_model_name (), as_cpu_isa_name (as_cpu_isa ()));
  fprintf (out, "backend: %s; OPENBLAS_CORETYPE=%s\n", r->backend_desc,
           r->coretype_env ? r->coretype_env : "(unset)");
  fprintf (out, "SGEMM %d^3, same run: %.1f GFLOP/s as_cli_bench_median (best %.1f), native kernel %s%s, "
           "%d threads\n", r->sgemm.size, r->sgemm.gflops, r->sgemm.best_gflops, r->sgemm.kernel,
           r->sgemm.in_child ? " (in a child without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE)" : "",
           r->threads);
  if (isfinite (r->load_ms))
    fprintf (out, "model load: %.1f ms warm (first %.1f ms); backend ready in %.1f ms "
             "(first %.1f ms); load + backend %.1f ms\n", r->load_ms, r->load_cold_ms,
             r->backend_ms, r->backend_first_ms, r->load_ms + r->backend_ms);
  else
    fprintf (out, "random weights; backend ready in %.1f ms (first %.1f ms)\n", r->backend_ms,
             r->backend_first_ms);
  fputs ("tokens  tokenize ms  first layer ms  forward ms   GFLOP  GFLOP/s  %SGEMM  runs\n", out);
  for (int i = 0; i < r->n_rows; i++)
    {
      const BenchRow *row = &r->rows[i];
      double rate = row->gflop / (row->forward_ms * 1e-3);
      fprintf (out, "%6d", row->n);
      write_ms (out, row->tokenize_ms, 13);
      write_ms (out, row->first_ms, 16);
      write_ms (out, row->forward_ms, 12);
      fprintf (out, "  %6.3f  %7.1f  %5.1f%%  %4d\n", row->gflop, rate,
               100.0 * rate / r->sgemm.gflops, row->runs);
    }
  if (r->decode.context > 0)
    {
      const AsBenchDecode *d = &r->decode;
      fprintf (out, "decoding after a %d-token prompt (%s; every layer's row kept): "
               "%.2f ms per token (best %.2f), %.1f tokens/s; prompt pass %.1f ms; "
               "%d tokens x %d runs\n", d->context,
               d->cached ? "key/value cache" : "no cache: the whole forward per token",
               d->step_ms, d->step_min_ms, 1e3 / d->step_ms, d->prompt_ms, d->steps, d->runs);
      fprintf (out, "a step reads %.0f MB of %s weights; OpenBLAS sgemv streams as much in "
               "%.2f ms here (the floor): a step takes %.2f times that\n", d->weight_mb,
               as_decode_weights_to_string (d->weights), d->stream_ms, d->step_ms / d->stream_ms);
      if (d->weights != AS_DECODE_WEIGHTS_FP32)
        fprintf (out, "%s weights against fp32 over the %d timed tokens: logits differ by at most "
                 "%.3g (fp32's span %.3g), attention rows by at most %.3g; the most likely next "
                 "token agrees at %d of %d steps\n", as_decode_weights_to_string (d->weights),
                 d->deviation.steps, d->deviation.max_logit_diff, d->deviation.max_logit_range,
                 d->deviation.max_row_diff, d->deviation.argmax_agree, d->deviation.steps);
    }
}

/* --- rendering (Cairo; only when the CLI is built with it) ----------------- */

#ifdef AS_HAVE_RENDER
/* Two sizes: the default model at 128 tokens and a BERT-base-shaped one
 * at 512 (the largest input BERT takes). */
typedef struct {
  int     layers, heads, n;
  double  pool_ms;        /* every head max-pooled to THUMB x THUMB */
  double  colour_ms;      /* every pooled thumbnail colour-mapped to an image */
  double  compose_ms;     /* the cached thumbnails placed on one grid surface */
  double  grid_ms;        /* all three from scratch, timed as one */
  double  head_ms;        /* one head view with labels, values and colour bar */
  int     runs;
} RenderRow;

/* Attention-like rows: a softmax of random scores with a stripe on the
 * diagonal and one on [CLS], so the thumbnails are not flat. [heads, n, n]
 * per layer, LAYERS layers. */
static float *
render_attention (int layers,
                  int heads,
                  int n)
{
  gsize count = (gsize) layers * heads * n * n;
  float *attn = g_try_new (float, count);
  if (attn == NULL)
    return NULL;
  GRand *rand = g_rand_new_with_seed (7);
  for (gsize r = 0; r < count / n; r++)
    {
      float *row = attn + r * n;
      int q = (int) (r % n);
      double sum = 0;
      for (int k = 0; k < n; k++)
        {
          double score = g_rand_double_range (rand, -2, 2) + (k == q ? 3 : 0) + (k == 0 ? 2 : 0);
          row[k] = (float) exp (score);
          sum += row[k];
        }
      for (int k = 0; k < n; k++)
        row[k] = (float) (row[k] / sum);
    }
  g_rand_free (rand);
  return attn;
}

/* The app's model grid (ui/as-model-grid.c) in three steps: after a new
 * analysis it pools and colours every head, then places the pictures; a
 * selection change only places the cached ones. */
typedef struct {
  const float      *attn;       /* [layers, heads, n, n] */
  int               layers, heads, n, thumb;
  float            *pooled;     /* [layers * heads, thumb, thumb] */
  cairo_surface_t **images;     /* [layers * heads] thumb x thumb ARGB32 */
  cairo_surface_t  *grid;       /* the whole grid, ARGB32 */
} GridState;

#define GRID_GAP 10   /* as ui/as-model-grid.c */

static void
grid_pool (GridState *g)
{
  const int px = g->thumb;
  for (int i = 0; i < g->layers * g->heads; i++)
    as_matrix_pool_max (g->attn + (gsize) i * g->n * g->n, g->n, g->n, px, px,
                        g->pooled + (gsize) i * px * px);
}

static void
grid_colour (GridState *g)
{
  const int px = g->thumb;
  for (int i = 0; i < g->layers * g->heads; i++)
    {
      AsHeatmapSpec spec;
      as_heatmap_spec_init (&spec);
      spec.values = g->pooled + (gsize) i * px * px;
      spec.rows = spec.cols = px;
      g_clear_pointer (&g->images[i], cairo_surface_destroy);
      g->images[i] = as_heatmap_cells_image (&spec);
    }
}

static void
grid_place (GridState *g)
{
  const int px = g->thumb;
  cairo_t *cr = cairo_create (g->grid);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  for (int i = 0; i < g->layers * g->heads; i++)
    {
      int l = i / g->heads, h = i % g->heads;
      cairo_set_source_surface (cr, g->images[i], h * (px + GRID_GAP) + GRID_GAP / 2,
                                l * (px + GRID_GAP) + GRID_GAP / 2);
      cairo_paint (cr);
    }
  cairo_destroy (cr);
  cairo_surface_flush (g->grid);
}

/* One head view as the app renders it (ui/as-head-view.c): labels, values in
 * cells that fit them, colour bar, into a fresh SIZE x SIZE surface. */
static void
head_paint (const float        *m,
            int                 n,
            const char * const *labels,
            int                 size)
{
  AsHeatmapSpec spec;
  as_heatmap_spec_init (&spec);
  spec.values = m;
  spec.rows = spec.cols = n;
  spec.row_labels = spec.col_labels = labels;
  spec.annotate = TRUE;
  spec.highlight_row = n / 3;
  spec.title = "Layer 1, head 1";
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, size, size);
  cairo_t *cr = cairo_create (surface);
  as_heatmap_render (cr, &spec, size, size, NULL);
  cairo_destroy (cr);
  cairo_surface_flush (surface);
  cairo_surface_destroy (surface);
}

typedef enum { STEP_POOL, STEP_COLOUR, STEP_COMPOSE, STEP_GRID, STEP_HEAD, N_STEPS } RenderStep;

static void
render_step (GridState          *g,
             const char * const *labels,
             RenderStep          step,
             int                 head_size)
{
  switch (step)
    {
    case STEP_POOL:
      grid_pool (g);
      break;
    case STEP_COLOUR:
      grid_colour (g);
      break;
    case STEP_COMPOSE:
      grid_place (g);
      break;
    case STEP_GRID:
      grid_pool (g);
      grid_colour (g);
      grid_place (g);
      break;
    case STEP_HEAD:
      head_paint (g->attn, g->n, labels, head_size);
      break;
    default:
      g_assert_not_reached ();
    }
}

static double
time_render_step (const BenchOptions *o,
                  GridState          *g,
                  const char * const *labels,
                  RenderStep          step,
                  int                 head_size,
                  int                *runs)
{
  for (int k = 0; k < MAX (1, o->warmup); k++)
    render_step (g, labels, step, head_size);
  GArray *samples = g_array_new (FALSE, FALSE, sizeof (double));
  double start = as_cli_bench_now_s ();
  while (!enough_runs (o, (int) samples->len, as_cli_bench_now_s () - start))
    {
      double t0 = as_cli_bench_now_s ();
      render_step (g, labels, step, head_size);
      double ms = (as_cli_bench_now_s () - t0) * 1e3;
      g_array_append_val (samples, ms);
    }
  *runs = MAX (*runs, (int) samples->len);
  double m = as_cli_bench_median ((double *) samples->data, (int) samples->len);
  g_array_free (samples, TRUE);
  return m;
}

static gboolean
render_row (const BenchOptions *o,
            RenderRow          *row,
            int                 thumb,
            int                 head_size,
            GError            **error)
{
  const int count = row->layers * row->heads;
  GridState g = { .layers = row->layers, .heads = row->heads, .n = row->n, .thumb = thumb };
  g.attn = render_attention (row->layers, row->heads, row->n);
  g.pooled = g_try_new (float, (gsize) count * thumb * thumb);
  if (g.attn == NULL || g.pooled == NULL)
    {
      g_free ((float *) g.attn);
      g_free (g.pooled);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                   "--render: not enough memory for %d x %d heads of %d tokens",
                   row->layers, row->heads, row->n);
      return FALSE;
    }
  g.images = g_new0 (cairo_surface_t *, count);
  g.grid = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, row->heads * (thumb + GRID_GAP),
                                       row->layers * (thumb + GRID_GAP));
  char **labels = g_new0 (char *, row->n + 1);
  for (int i = 0; i < row->n; i++)
    labels[i] = g_strdup_printf ("tok%d", i);

  const char * const *l = (const char * const *) labels;
  row->runs = 0;
  row->pool_ms = time_render_step (o, &g, l, STEP_POOL, head_size, &row->runs);
  row->colour_ms = time_render_step (o, &g, l, STEP_COLOUR, head_size, &row->runs);
  row->compose_ms = time_render_step (o, &g, l, STEP_COMPOSE, head_size, &row->runs);
  row->grid_ms = time_render_step (o, &g, l, STEP_GRID, head_size, &row->runs);
  row->head_ms = time_render_step (o, &g, l, STEP_HEAD, head_size, &row->runs);

  for (int i = 0; i < count; i++)
    g_clear_pointer (&g.images[i], cairo_surface_destroy);
  g_free (g.images);
  cairo_surface_destroy (g.grid);
  g_free ((float *) g.attn);
  g_free (g.pooled);
  g_strfreev (labels);
  return TRUE;
}

/* Offscreen painting with the app's own code paths (pooling, colour map,
 * heatmap renderer) at 6x12 heads / 128 tokens and 12x12 / 512. The app's
 * repaint after a selection change only places cached textures (the
 * "place" column); after a new analysis or colour map it does all of
 * "grid" (pool + colour + place). */
static int
bench_render (const BenchOptions *o,
              AsCliCommon        *common,
              GError            **error)
{
  RenderRow rows[] = { { .layers = 6, .heads = 12, .n = 128 },
                       { .layers = 12, .heads = 12, .n = 512 } };
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    if (!render_row (o, &rows[i], o->thumb, o->head_size, error))
      return 1;

  AsOutputFile *file = as_cli_open_output (common, NULL, error);
  if (file == NULL)
    return 1;
  FILE *out = as_output_file_stream (file);
  if (g_strcmp0 (common->format, "json") == 0)
    {
      fprintf (out, "{\n  \"tool\": \"attnscope\",\n  \"render\": {\"thumb_px\": %d, "
               "\"head_px\": %d},\n  \"rows\": [", o->thumb, o->head_size);
      for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
        {
          const RenderRow *r = &rows[i];
          fprintf (out, "%s\n    {\"layers\": %d, \"heads\": %d, \"tokens\": %d, \"runs\": %d, "
                   "\"pool_ms\": ", i ? "," : "", r->layers, r->heads, r->n, r->runs);
          json_number (out, r->pool_ms);
          fputs (", \"colour_ms\": ", out);
          json_number (out, r->colour_ms);
          fputs (", \"place_ms\": ", out);
          json_number (out, r->compose_ms);
          fputs (", \"grid_ms\": ", out);
          json_number (out, r->grid_ms);
          fputs (", \"head_view_ms\": ", out);
          json_number (out, r->head_ms);
          fputs ("}", out);
        }
      fputs ("\n  ]\n}\n", out);
    }
  else
    {
      fprintf (out, "AttnScope render bench (Cairo, offscreen): thumbnails %d px, head view %d px\n",
               o->thumb, o->head_size);
      fputs ("grid = every head pooled + colour-mapped + placed (new analysis);\n"
             "place = cached thumbnails placed only (selection change)\n", out);
      fputs ("heads     tokens  pool ms  colour ms  place ms  grid ms  head view ms  runs\n", out);
      for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
        {
          const RenderRow *r = &rows[i];
          char shape[16];
          g_snprintf (shape, sizeof shape, "%dx%d", r->layers, r->heads);
          fprintf (out, "%-8s %7d", shape, r->n);
          write_ms (out, r->pool_ms, 9);
          write_ms (out, r->colour_ms, 11);
          write_ms (out, r->compose_ms, 10);
          write_ms (out, r->grid_ms, 9);
          write_ms (out, r->head_ms, 14);
          fprintf (out, "  %4d\n", r->runs);
        }
    }
  return as_output_file_commit (file, error) ? 0 : 1;
}
#endif

/* --- decoding ------------------------------------------------------------- */

/* Decoders only (an encoder has no next token): the decoding row of the
 * report, after a prompt cut from the same passage as the other rows. */
static gboolean
bench_decode (const BenchOptions *o,
              AsBackend          *backend,
              AsBenchDecode      *d,
              GError            **error)
{
  const AsModel *model = backend->model;
  const gboolean decoder = model->arch->causal && as_lm_head_available (model);
  int context = o->decode_context < 0 ? 256 : o->decode_context;
  d->context = 0;
  if (!decoder || context == 0)
    {
      if (o->weights != NULL && g_strcmp0 (o->weights, "auto") != 0)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--weights %s is what decoding steps read, and %s", o->weights,
                       decoder ? "--decode-context 0 times none" : "this model is not a decoder");
          return FALSE;
        }
      if (decoder || o->decode_context <= 0)
        return TRUE;
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--decode-context: %s is not a decoder", model->name);
      return FALSE;
    }
  const int room = model->config->max_positions - o->decode_steps;
  if (o->decode_context < 0 && context > room)
    {
      /* the default, on a model of few positions: as long as fits */
      if (room < 1)
        {
          g_printerr ("attnscope-cli: note: decoding not timed: --decode-steps %d leaves no room "
                      "for a prompt in this model's %d positions\n", o->decode_steps,
                      model->config->max_positions);
          return TRUE;
        }
      g_printerr ("attnscope-cli: note: decoding timed after %d tokens: this model has %d "
                  "positions\n", room, model->config->max_positions);
      context = room;
    }
  if (context + o->decode_steps > model->config->max_positions)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--decode-context %d + --decode-steps %d is more than this model's %d positions",
                   context, o->decode_steps, model->config->max_positions);
      return FALSE;
    }
  BenchRow prompt = { 0 };
  row_prepare (&prompt, model, context, 1);
  *d = (AsBenchDecode) { .context = prompt.n, .steps = o->decode_steps, .runs = 3 };
  as_decode_weights_from_string (o->weights != NULL ? o->weights : "auto", &d->weights);
  gboolean ok = as_cli_bench_decode (backend, prompt.ids, d, error);
  if (!ok)
    d->context = 0;
  else if (g_strcmp0 (o->json ? "json" : NULL, "json") != 0)
    g_printerr ("  decoding after %d tokens: %.3f ms per token\n", d->context, d->step_ms);
  row_clear (&prompt);
  return ok;
}

/* --- main ---------------------------------------------------------------- */

static gboolean
parse_lengths (const char  *spec,
               GArray      *out,
               int          max_positions,
               GError     **error)
{
  if (spec == NULL)
    {
      for (guint i = 0; i < G_N_ELEMENTS (default_lengths); i++)
        if (default_lengths[i] <= max_positions)
          g_array_append_val (out, default_lengths[i]);
      return TRUE;
    }
  g_auto(GStrv) parts = g_strsplit (spec, ",", -1);
  for (int i = 0; parts[i] != NULL; i++)
    {
      char *end = NULL;
      gint64 v = g_ascii_strtoll (g_strstrip (parts[i]), &end, 10);
      if (end == parts[i] || *end != '\0' || v < 2 || v > max_positions)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--lengths: '%s' is not a length between 2 and %d", parts[i], max_positions);
          return FALSE;
        }
      int n = (int) v;
      g_array_append_val (out, n);
    }
  return TRUE;
}

static AsModel *
load_model_timed (AsCliCommon  *common,
                  BenchOptions *o,
                  BenchReport  *report,
                  GError      **error)
{
  report->load_ms = report->load_cold_ms = NAN;
  if (o->shape != NULL)
    return as_model_new_random (o->shape, 1, error);

  double t0 = as_cli_bench_now_s ();
  AsModel *model = as_cli_load_model (common, error);
  if (model == NULL)
    return NULL;
  report->load_cold_ms = (as_cli_bench_now_s () - t0) * 1e3;
  /* Warm cache: load again a few times, keep the median. */
  double samples[5];
  for (int k = 0; k < 5; k++)
    {
      t0 = as_cli_bench_now_s ();
      AsModel *again = as_cli_load_model (common, NULL);
      samples[k] = (as_cli_bench_now_s () - t0) * 1e3;
      as_model_free (again);
    }
  report->load_ms = as_cli_bench_median (samples, 5);
  return model;
}

int
as_cli_bench (int    argc,
              char **argv)
{
  AsCliCommon common = { 0 };
  BenchOptions o = { .threads = 0, .warmup = 2, .min_runs = 7, .max_runs = 200,
                     .min_time = 1.0, .sgemm_size = 2048,
                     .thumb = 56, .head_size = 900, .decode_context = -1,
                     .decode_steps = 32 };
  GOptionEntry entries[] = {
    { "shape", 0, 0, G_OPTION_ARG_STRING, &o.shape, "Random weights with a preset's shapes (bert-base, bert-large, minilm-l6) instead of --model", "NAME" },
    { "lengths", 0, 0, G_OPTION_ARG_STRING, &o.lengths, "Token counts (default 16,32,64,128,256,512)", "N,N,…" },
    { "threads", 0, 0, G_OPTION_ARG_INT, &o.threads, "Threads (default: OpenBLAS's, i.e. OPENBLAS_NUM_THREADS or the cores)", "N" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &o.warmup, "Untimed runs before each length (default 2)", "N" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &o.min_runs, "At least this many timed runs (default 7)", "N" },
    { "max-runs", 0, 0, G_OPTION_ARG_INT, &o.max_runs, "At most this many timed runs (default 200)", "N" },
    { "min-time", 0, 0, G_OPTION_ARG_DOUBLE, &o.min_time, "Keep timing each length for at least this long (default 1 s)", "SECONDS" },
    { "sgemm-size", 0, 0, G_OPTION_ARG_INT, &o.sgemm_size, "Square SGEMM size for the machine's rate (default 2048)", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &o.json, "Same as --format json", NULL },
    { "render", 0, 0, G_OPTION_ARG_NONE, &o.render, "Time offscreen painting of the thumbnail grid and head view instead", NULL },
    { "thumb", 0, 0, G_OPTION_ARG_INT, &o.thumb, "--render: thumbnail side in pixels (default 56, the grid's natural size)", "PX" },
    { "head-size", 0, 0, G_OPTION_ARG_INT, &o.head_size, "--render: head view side in pixels (default 900)", "PX" },
    { "decode-context", 0, 0, G_OPTION_ARG_INT, &o.decode_context, "Decoders: time appending tokens after a prompt of N tokens (default 256; 0: not)", "N" },
    { "decode-steps", 0, 0, G_OPTION_ARG_INT, &o.decode_steps, "Decoders: tokens appended per timed run (default 32)", "N" },
    { "weights", 0, 0, G_OPTION_ARG_STRING, &o.weights, "Decoders: the weights the timed steps read: auto (default: file where the model's file holds block types, else fp32), fp32 (the prompt pass's fp32 copies), file (the file's own Q8_0/Q4_0/Q4_1 blocks, the same weights bit for bit) or int8 (blocks of 32 with a scale each, quantised at start, not exact). Other than fp32, the deviation from fp32 is measured and printed", "auto|fp32|file|int8" },
    { "sgemm-child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &o.sgemm_child, "Only time N SGEMMs and print the kernel and the rates", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("— time tokenization, first layer and the full forward pass");
  GError *error = NULL;
  g_option_context_add_main_entries (ctx, entries, NULL);
  as_cli_add_model_options (ctx, &common);
  as_cli_add_device_options (ctx, &common);
  as_cli_add_output_options (ctx, &common, NULL, "table (default) or json");
  g_option_context_set_summary (ctx,
    "Medians over repeated runs after warm-up, for 16 to 512 tokens, with the\n"
    "SGEMM rate OpenBLAS reaches in the same run. Formats: table (default), json.");

  int status = 0;   /* --render's */
  AsModel *model = NULL;
  AsBackend *backend = NULL;
  GArray *lengths = g_array_new (FALSE, FALSE, sizeof (int));
  BenchReport report = { 0 };
  AsOutputFile *file = NULL;

  static const char *const formats[] = { "table", "json", NULL };
  if (!as_cli_parse (ctx, &common, &argc, &argv, &error) ||
      as_cli_format (&common, formats, &error) < 0)
    goto out;
  if (o.json && common.format != NULL && g_strcmp0 (common.format, "json") != 0)
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--json and --format %s contradict each other", common.format);
      goto out;
    }
  if (o.json)
    {
      g_free (common.format);
      common.format = g_strdup ("json");
    }
  /* --render times painting only: model, device and lengths play no part. */
  if (o.render && (o.shape != NULL || o.lengths != NULL || common.model_dir != NULL ||
                   common.device != NULL || common.precision != NULL))
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--render takes no --shape, --lengths, --model, --device or --precision");
      goto out;
    }
  if (o.shape != NULL && common.model_dir != NULL)
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--shape and --model exclude each other");
      goto out;
    }
  if (o.warmup < 0 || o.min_runs < 1 || o.max_runs < o.min_runs || o.sgemm_size < 64 ||
      o.threads < 0 || o.thumb < 1 || o.thumb > 1024 || o.head_size < 64 || o.head_size > 8192 ||
      o.decode_context < -1 || o.decode_steps < 1 || o.decode_steps > 4096)
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--warmup, --runs, --max-runs, --sgemm-size, --threads, --thumb, --head-size, "
                           "--decode-context or --decode-steps out of range");
      goto out;
    }
  AsDecodeWeights weights;
  if (o.weights != NULL && !as_decode_weights_from_string (o.weights, &weights))
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--weights: '%s' is not one of auto, fp32, file, int8", o.weights);
      goto out;
    }
  if (o.threads > 0)
    openblas_set_num_threads (o.threads);
  report.threads = openblas_get_num_threads ();
  if (o.sgemm_child > 0)
    {
      /* the native yardstick, for the parent (see native_sgemm) */
      double *rates = g_new (double, o.sgemm_child);
      SgemmResult r = { .size = o.sgemm_size };
      sgemm_sample (&r, rates, o.sgemm_child);
      g_print ("%s", openblas_get_corename ());
      for (int k = 0; k < o.sgemm_child; k++)
        g_print (" %.3f", rates[k]);
      g_print ("\n");
      g_free (rates);
      goto out;
    }
  report.coretype_env = g_getenv ("OPENBLAS_CORETYPE");
  report.device = common.device ? common.device : "auto";

#ifdef AS_HAVE_RENDER
  if (o.render)
    {
      status = bench_render (&o, &common, &error);
      goto out;
    }
#else
  if (o.render)
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "--render: this build has no Cairo renderer");
      goto out;
    }
#endif

  if ((model = load_model_timed (&common, &o, &report, &error)) == NULL)
    goto out;
  double t0 = as_cli_bench_now_s ();
  if ((backend = as_cli_open_backend (&common, model, &error)) == NULL)
    goto out;
  report.backend_first_ms = (as_cli_bench_now_s () - t0) * 1e3;
  /* Warm, as the load: build the same kind again a few times (quietly),
   * keep the median. */
  double builds[5];
  int n_builds = 0;
  const gboolean on_cpu = g_strcmp0 (backend->vtable->name, "cpu") == 0;
  for (int k = 0; k < 5; k++)
    {
      t0 = as_cli_bench_now_s ();
      AsBackend *again = on_cpu ? as_cpu_backend_new (model) : as_gpu_backend_new (model, NULL, NULL);
      if (again == NULL)
        break;
      builds[n_builds++] = (as_cli_bench_now_s () - t0) * 1e3;
      as_backend_free (again);
    }
  report.backend_ms = n_builds > 0 ? as_cli_bench_median (builds, n_builds) : report.backend_first_ms;
  /* Checked before the timing runs, so a bad -o fails at once. */
  if ((file = as_cli_open_output (&common, model, &error)) == NULL)
    goto out;
  /* What runs, not what was asked for (auto, or gpu that fell back): the
   * reference script picks PyTorch's device from this. */
  report.device = g_strcmp0 (backend->vtable->name, "cpu") == 0 ? "cpu" : "gpu";
  if (!parse_lengths (o.lengths, lengths, model->config->max_positions, &error))
    goto out;

  report.model = model;
  report.model_label = o.shape ? o.shape : model->name;
  report.backend_desc = as_backend_describe (backend);

  /* SGEMM before and after the rows: the machine's rate over the same span. */
  double rates[10];
  report.sgemm.size = o.sgemm_size;
  if (!native_sgemm (&report.sgemm, report.threads, rates, 5, &error))
    goto out;

  report.n_rows = (int) lengths->len;
  report.rows = g_new0 (BenchRow, report.n_rows);
  for (int i = 0; i < report.n_rows; i++)
    {
      BenchRow *row = &report.rows[i];
      row_prepare (row, model, g_array_index (lengths, int, i), 1);
      time_tokenize (&o, model, row);
      if (!time_forward (&o, backend, row, &error))
        goto out;
      if (!o.json && g_strcmp0 (common.format, "json") != 0)
        g_printerr ("  %d tokens: %.3f ms\n", row->n, row->forward_ms);
    }

  if (!bench_decode (&o, backend, &report.decode, &error))
    goto out;

  if (!native_sgemm (&report.sgemm, report.threads, rates + 5, 5, &error))
    goto out;
  report.sgemm.samples = 10;
  report.sgemm.best_gflops = 0;
  for (int k = 0; k < 10; k++)
    report.sgemm.best_gflops = MAX (report.sgemm.best_gflops, rates[k]);
  report.sgemm.gflops = as_cli_bench_median (rates, 10);

  if (g_strcmp0 (common.format, "json") == 0)
    write_json (as_output_file_stream (file), &report, &o);
  else
    write_table (as_output_file_stream (file), &report);
  as_output_file_commit (g_steal_pointer (&file), &error);

out:
  if (file != NULL)
    as_output_file_abort (file);
  for (int i = 0; i < report.n_rows; i++)
    row_clear (&report.rows[i]);
  g_free (report.rows);
  g_free (report.backend_desc);
  g_free (report.sgemm.kernel);
  g_array_free (lengths, TRUE);
  as_backend_free (backend);
  as_model_free (model);
  g_free (o.shape);
  g_free (o.lengths);
  g_free (o.weights);
  as_cli_common_clear (&common);
  return error != NULL ? as_cli_finish ("bench", error) : status;
}
