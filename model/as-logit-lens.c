/* as-logit-lens.c — the logit lens (definitions in the header). */
#include "as-logit-lens.h"

#include <math.h>

#include "as-architecture.h"
#include "as-error.h"
#include "as-lm-head.h"

gboolean
as_logit_lens_check (const AsModel  *model,
                     GError        **error)
{
  if (as_lm_head_available (model))
    return TRUE;
  g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
               "%s: a %s model has no language-model head; the logit lens needs a decoder "
               "(e.g. a Llama GGUF)", model->name ? model->name : model->dir, model->arch->name);
  return FALSE;
}

void
as_logit_lens_top_k (const float *row,
                     int          len,
                     int          k,
                     int         *top_ids,
                     float       *top_values)
{
  g_return_if_fail (k >= 1 && k <= len);
  int filled = 0;
  for (int j = 0; j < len; j++)
    {
      float v = row[j];
      if (filled == k && !(v > top_values[k - 1]))
        continue;
      /* Strictly greater moves up, so among equals the earlier index stays first. */
      int p = filled < k ? filled : k - 1;
      while (p > 0 && v > top_values[p - 1])
        {
          top_values[p] = top_values[p - 1];
          top_ids[p] = top_ids[p - 1];
          p--;
        }
      top_values[p] = v;
      top_ids[p] = j;
      if (filled < k)
        filled++;
    }
}

/* The K most probable tokens of one row of LOGITS [V]: the top K logits,
 * then exp (logit - max) / Σ exp (logit - max). The sum runs in double: over
 * a vocabulary of tens of thousands a float running sum, once near 1, drops
 * every term under half an ulp (6e-8) and so overstates each probability
 * (by about 1e-4 on SmolLM2's 49152 tokens). */
static void
row_top_k (const float *logits,
           int          V,
           int          k,
           int         *top_ids,
           float       *top_probs)
{
  as_logit_lens_top_k (logits, V, k, top_ids, top_probs);   /* logits for now */
  const float max = top_probs[0];
  double sum = 0;
  for (int j = 0; j < V; j++)
    sum += exp ((double) logits[j] - max);
  for (int r = 0; r < k; r++)
    top_probs[r] = (float) (exp ((double) top_probs[r] - max) / sum);
}

/* Lens of ROWS residual rows into their top K, with NORMED [rows, H] and
 * LOGITS [rows, V] as scratch. */
static void
lens_block (const AsModel *model,
            const float   *hidden,
            int            rows,
            int            k,
            float         *normed,
            float         *logits,
            int           *top_ids,
            float         *top_probs)
{
  const int V = model->config->vocab_size;
  model->arch->final_norm (model, hidden, rows, normed);   /* [rows, H] */
  as_lm_head_logits (model, normed, rows, logits);         /* [rows, V] */
  for (int i = 0; i < rows; i++)
    row_top_k (logits + (gsize) i * V, V, k, top_ids + (gsize) i * k, top_probs + (gsize) i * k);
}

void
as_logit_lens_layer (const AsModel *model,
                     const float   *hidden,
                     int            n,
                     int            k,
                     int           *top_ids,
                     float         *top_probs)
{
  g_return_if_fail (as_lm_head_available (model));
  const int H = model->config->hidden, V = model->config->vocab_size;
  g_return_if_fail (k >= 1 && k <= MIN (V, AS_LOGIT_LENS_MAX_K));
  const int block = MIN (n, AS_LOGIT_LENS_ROWS);
  float *normed = g_new (float, (gsize) block * H);   /* [block, H] */
  float *logits = g_new (float, (gsize) block * V);   /* [block, V] */
  for (int i0 = 0; i0 < n; i0 += block)
    {
      int rows = MIN (block, n - i0);
      lens_block (model, hidden + (gsize) i0 * H, rows, k, normed, logits,
                  top_ids + (gsize) i0 * k, top_probs + (gsize) i0 * k);
    }
  g_free (normed);
  g_free (logits);
}

void
as_logit_lens_free (AsLogitLens *lens)
{
  if (lens == NULL)
    return;
  g_free (lens->ids);
  g_free (lens->probs);
  g_free (lens);
}

typedef struct {
  const AsModel *model;
  AsLogitLens   *lens;
} LensState;

static gboolean
lens_on_layer (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  LensState *s = user_data;
  AsLogitLens *lens = s->lens;
  int slot = layer - lens->first;
  if (slot < 0 || slot >= lens->n_layers || hidden == NULL)
    return TRUE;
  gsize off = (gsize) slot * lens->n * lens->k;
  as_logit_lens_layer (s->model, hidden, lens->n, lens->k, lens->ids + off, lens->probs + off);
  return TRUE;
}

AsLogitLens *
as_logit_lens_run (AsBackend   *backend,
                   const int   *ids,
                   int          n,
                   int          k,
                   int          layer,
                   const gint  *cancel,
                   GError     **error)
{
  const AsModel *model = backend->model;
  const AsConfig *c = model->config;
  if (!as_logit_lens_check (model, error))
    return NULL;
  const int k_max = MIN (c->vocab_size, AS_LOGIT_LENS_MAX_K);
  if (k < 1 || k > k_max)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "top-k %d is out of range (1 to %d)", k, k_max);
      return NULL;
    }
  if (layer >= c->n_layers)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "layer %d is out of range (the model has layers 0 to %d)", layer, c->n_layers - 1);
      return NULL;
    }
  if (n < 1 || n > c->max_positions)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "%d tokens requested; this model takes 1 to %d", n, c->max_positions);
      return NULL;
    }

  AsLogitLens *lens = g_new0 (AsLogitLens, 1);
  lens->n_layers = layer < 0 ? c->n_layers : 1;
  lens->first = layer < 0 ? 0 : layer;
  lens->n = n;
  lens->k = k;
  gsize cells = (gsize) lens->n_layers * n * k;
  lens->ids = g_new0 (int, cells);       /* [n_layers, n, k] */
  lens->probs = g_new0 (float, cells);   /* [n_layers, n, k] */

  int *types = g_new0 (int, n);          /* [n] */
  LensState state = { model, lens };
  AsForwardRequest req = {
    .ids = ids, .type_ids = types, .n = n, .want_hidden = TRUE,
    .on_layer = lens_on_layer, .user_data = &state, .cancel = cancel,
  };
  gboolean ok = as_backend_forward (backend, &req, NULL, error);
  g_free (types);
  if (!ok)
    {
      as_logit_lens_free (lens);
      return NULL;
    }
  return lens;
}
