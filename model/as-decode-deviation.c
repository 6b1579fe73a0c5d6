/* as-decode-deviation.c — a reduced-precision decoder against the fp32
 * one, step by step (see as-decode-deviation.h). */
#include "as-decode-deviation.h"

#include <math.h>
#include <string.h>

#include "as-error.h"

/* Each layer's row of one step. */
typedef struct {
  float *rows;    /* [layers, NH, capacity]: layer l, head h at (l * NH + h) * capacity */
  int    heads;
  int    capacity;
  int    n_ctx;   /* keys in the rows of this step */
} StepRows;

static gboolean
keep_rows (int          layer,
           const float *row,
           int          n_ctx,
           gpointer     user_data)
{
  StepRows *s = user_data;
  s->n_ctx = n_ctx;
  for (int h = 0; h < s->heads; h++)
    memcpy (s->rows + ((gsize) layer * s->heads + h) * s->capacity, row + (gsize) h * n_ctx,
            sizeof (float) * n_ctx);
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

/* Adds one step's differences (LOGITS [V], ROWS) to OUT. */
static void
compare_step (const float       *logits,
              const float       *fp32_logits,
              int                vocab,
              const StepRows    *rows,
              const StepRows    *fp32_rows,
              int                layers,
              AsDecodeDeviation *out)
{
  float lo = fp32_logits[0], hi = fp32_logits[0];
  for (int i = 0; i < vocab; i++)
    {
      out->max_logit_diff = MAX (out->max_logit_diff, fabs ((double) logits[i] - fp32_logits[i]));
      lo = MIN (lo, fp32_logits[i]);
      hi = MAX (hi, fp32_logits[i]);
    }
  out->max_logit_range = MAX (out->max_logit_range, (double) hi - lo);
  for (int lh = 0; lh < layers * rows->heads; lh++)
    for (int j = 0; j < rows->n_ctx; j++)
      {
        const gsize at = (gsize) lh * rows->capacity + j;
        out->max_row_diff = MAX (out->max_row_diff, fabs ((double) rows->rows[at] - fp32_rows->rows[at]));
      }
  out->argmax_agree += argmax (logits, vocab) == argmax (fp32_logits, vocab);
  out->steps++;
}

gboolean
as_decode_deviation (AsBackend          *backend,
                     const int          *ids,
                     int                 n_prompt,
                     int                 n,
                     AsDecodeWeights     weights,
                     AsDecodeDeviation  *out,
                     GError            **error)
{
  const AsConfig *c = backend->model->config;
  const int V = c->vocab_size;
  memset (out, 0, sizeof *out);
  g_autoptr(AsDecoder) fp32 = as_decoder_new_with_weights (backend, n, AS_DECODE_WEIGHTS_FP32, error);
  if (fp32 == NULL)
    return FALSE;
  g_autoptr(AsDecoder) reduced = as_decoder_new_with_weights (backend, n, weights, error);
  if (reduced == NULL)
    return FALSE;
  const gsize row_floats = (gsize) c->n_layers * c->n_heads * n;
  StepRows rows = { .heads = c->n_heads, .capacity = n }, fp32_rows = rows;
  g_autofree float *rows_buf = rows.rows = g_try_new (float, row_floats);
  g_autofree float *fp32_rows_buf = fp32_rows.rows = g_try_new (float, row_floats);
  g_autofree float *logits = g_try_new (float, V);        /* [V] */
  g_autofree float *fp32_logits = g_try_new (float, V);   /* [V] */
  if (rows_buf == NULL || fp32_rows_buf == NULL || logits == NULL || fp32_logits == NULL)
    {
      g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                           "not enough memory to compare the decoders");
      return FALSE;
    }
  AsForwardRequest prompt = { .ids = ids, .n = n_prompt };
  if (!as_decoder_prompt (fp32, &prompt, fp32_logits, error) ||
      !as_decoder_prompt (reduced, &prompt, logits, error))
    return FALSE;
  for (int i = n_prompt; i < n; i++)
    {
      if (!as_decoder_step (fp32, ids[i], keep_rows, &fp32_rows, NULL, fp32_logits, error) ||
          !as_decoder_step (reduced, ids[i], keep_rows, &rows, NULL, logits, error))
        return FALSE;
      compare_step (logits, fp32_logits, V, &rows, &fp32_rows, c->n_layers, out);
    }
  return TRUE;
}
