/* as-cli-bench-decode.c — how fast a decoder appends tokens (see
 * as-cli-bench.h). Each step is timed on its own, from the token handed in
 * to its logits out, with every layer's row copied into the growing
 * [layers, heads, tokens] store a viewer would draw from; the greedy pick
 * (one argmax over the vocabulary) is inside the time too. */
#include "as-cli-bench.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "as-architecture.h"
#include "as-decode.h"

/* Where the rows go: row t of layer l, head h at rows[((l * NH + h) * cap + t) * cap]. */
typedef struct {
  float *rows;      /* [layers, heads, capacity, capacity] */
  int    heads;
  int    capacity;
  int    t;         /* the position being appended */
} RowStore;

static gboolean
keep_row (int          layer,
          const float *row,
          int          n_ctx,
          gpointer     user_data)
{
  RowStore *s = user_data;
  for (int h = 0; h < s->heads; h++)
    memcpy (s->rows + (((gsize) layer * s->heads + h) * s->capacity + s->t) * s->capacity,
            row + (gsize) h * n_ctx, sizeof (float) * n_ctx);
  return TRUE;
}

static int
argmax (const float *v,
        int          count)
{
  int best = 0;
  for (int i = 1; i < count; i++)
    if (v[i] > v[best])
      best = i;
  return best;
}

/* One run: the prompt, then STEPS tokens; STEP_MS [steps] gets each, and
 * APPENDED [steps] the tokens. */
static gboolean
decode_run (AsBackend     *backend,
            const int     *ids,
            AsBenchDecode *d,
            RowStore      *store,
            float         *logits,
            double        *prompt_ms,
            double        *step_ms,
            int           *appended,
            GError       **error)
{
  g_autoptr(AsDecoder) decoder = as_decoder_new_with_weights (backend, d->context + d->steps,
                                                              d->weights, error);
  if (decoder == NULL)
    return FALSE;
  d->cached = as_decoder_is_cached (decoder);
  d->weights = as_decoder_get_weights (decoder);   /* auto resolved */
  d->weight_mb = as_decoder_get_step_weight_bytes (decoder) / 1e6;
  AsForwardRequest prompt = { .ids = ids, .n = d->context };
  double t0 = as_cli_bench_now_s () * 1e3;
  if (!as_decoder_prompt (decoder, &prompt, logits, error))
    return FALSE;
  *prompt_ms = as_cli_bench_now_s () * 1e3 - t0;
  const int V = backend->model->config->vocab_size;
  for (int k = 0; k < d->steps; k++)
    {
      t0 = as_cli_bench_now_s () * 1e3;
      store->t = d->context + k;
      appended[k] = argmax (logits, V);
      if (!as_decoder_step (decoder, appended[k], keep_row, store, NULL, logits, error))
        return FALSE;
      step_ms[k] = as_cli_bench_now_s () * 1e3 - t0;
    }
  return TRUE;
}

/* OpenBLAS's sgemv over a [rows, H] matrix of MB megabytes: how fast this
 * machine streams that much fp32 from memory, the floor of a step that
 * must read every weight once. NAN when the memory is not there. */
static double
stream_floor_ms (double mb,
                 int    hidden)
{
  const gsize rows = (gsize) (mb * 1e6 / 4 / hidden);
  g_autofree float *w = g_try_new (float, rows * hidden);   /* [rows, H] */
  g_autofree float *x = g_new (float, hidden);              /* [H] */
  g_autofree float *y = g_try_new (float, rows);            /* [rows] */
  if (w == NULL || y == NULL)
    return NAN;
  for (gsize i = 0; i < rows * hidden; i++)
    w[i] = (float) (i % 7) * 0.01f;
  for (int i = 0; i < hidden; i++)
    x[i] = 0.5f;
  double times[8];
  for (int k = 0; k < 8; k++)
    {
      double t0 = as_cli_bench_now_s ();
      cblas_sgemv (CblasRowMajor, CblasNoTrans, (int) rows, hidden, 1.0f, w, hidden, x, 1, 0.0f, y, 1);
      times[k] = (as_cli_bench_now_s () - t0) * 1e3;
    }
  return as_cli_bench_median (times + 1, 7);   /* the first one warms up */
}

gboolean
as_cli_bench_decode (AsBackend     *backend,
                     const int     *ids,
                     AsBenchDecode *d,
                     GError       **error)
{
  const AsConfig *c = backend->model->config;
  RowStore store = { .heads = c->n_heads, .capacity = d->context + d->steps };
  const gsize store_floats = (gsize) c->n_layers * c->n_heads * store.capacity * store.capacity;
  store.rows = g_try_new0 (float, store_floats);
  g_autofree float *logits = g_try_new (float, c->vocab_size);   /* [V] */
  if (store.rows == NULL || logits == NULL)
    {
      g_free (store.rows);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                   "not enough memory to keep the attention rows of %d tokens", store.capacity);
      return FALSE;
    }
  g_autofree double *prompts = g_new (double, d->runs + 1);
  g_autofree double *steps = g_new (double, (gsize) (d->runs + 1) * d->steps);
  g_autofree int *all_ids = g_new (int, d->context + d->steps);   /* prompt, then the appended */
  memcpy (all_ids, ids, sizeof (int) * d->context);
  gboolean ok = TRUE;
  /* Run 0 warms the caches and the threads and is not counted. */
  for (int r = 0; ok && r <= d->runs; r++)
    ok = decode_run (backend, ids, d, &store, logits, &prompts[r], steps + (gsize) r * d->steps,
                     all_ids + d->context, error);
  /* Reduced precision is a trade: what it costs on the tokens just timed. */
  if (ok && d->weights != AS_DECODE_WEIGHTS_FP32)
    ok = as_decode_deviation (backend, all_ids, d->context, d->context + d->steps, d->weights,
                              &d->deviation, error);
  if (ok)
    {
      d->prompt_ms = as_cli_bench_median (prompts + 1, d->runs);
      d->step_ms = as_cli_bench_median (steps + d->steps, d->runs * d->steps);
      d->step_min_ms = steps[d->steps];
      d->stream_ms = stream_floor_ms (d->weight_mb, c->hidden);
    }
  g_free (store.rows);
  return ok;
}
