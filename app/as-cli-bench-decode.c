/* as-cli-bench-decode.c — how fast a decoder appends tokens (see
 * as-cli-bench.h). Each step is timed on its own, from the token handed in
 * to its logits out, with every layer's row copied into the growing
 * [layers, heads, tokens] store a viewer would draw from; the greedy pick
 * (one argmax over the vocabulary) is inside the time too. */
#include "as-cli-bench.h"

#include <math.h>
#include <string.h>

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

/* One run: the prompt, then STEPS tokens; STEP_MS [steps] gets each. */
static gboolean
decode_run (AsBackend     *backend,
            const int     *ids,
            AsBenchDecode *d,
            RowStore      *store,
            float         *logits,
            double        *prompt_ms,
            double        *step_ms,
            GError       **error)
{
  g_autoptr(AsDecoder) decoder = as_decoder_new (backend, d->context + d->steps, error);
  if (decoder == NULL)
    return FALSE;
  d->cached = as_decoder_is_cached (decoder);
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
      if (!as_decoder_step (decoder, argmax (logits, V), keep_row, store, NULL, logits, error))
        return FALSE;
      step_ms[k] = as_cli_bench_now_s () * 1e3 - t0;
    }
  return TRUE;
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
  gboolean ok = TRUE;
  /* Run 0 warms the caches and the threads and is not counted. */
  for (int r = 0; ok && r <= d->runs; r++)
    ok = decode_run (backend, ids, d, &store, logits, &prompts[r], steps + (gsize) r * d->steps,
                     error);
  if (ok)
    {
      d->prompt_ms = as_cli_bench_median (prompts + 1, d->runs);
      d->step_ms = as_cli_bench_median (steps + d->steps, d->runs * d->steps);
      d->step_min_ms = steps[d->steps];
    }
  g_free (store.rows);
  return ok;
}
