/* as-mlm-head.c — the masked-LM head (definitions in the header). */
#include "as-mlm-head.h"

#include "as-architecture.h"
#include "as-elementwise.h"
#include "as-error.h"
#include "as-sampler.h"
#include "as-vector-math.h"

const AsMlmHeadWeights *
as_mlm_head_get (const AsModel *model)
{
  g_return_val_if_fail (model != NULL && model->arch != NULL, NULL);
  if (model->arch->mlm_head == NULL || model->weights == NULL)
    return NULL;
  return model->arch->mlm_head (model);
}

gboolean
as_mlm_head_check (const AsModel  *model,
                   GError        **error)
{
  if (as_mlm_head_get (model) != NULL)
    return TRUE;
  g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
               "%s: no masked-LM head in this %s checkpoint (masked-token predictions need "
               "one saved with the model, as BertForMaskedLM saves cls.predictions.*)",
               model->name ? model->name : model->dir, model->arch->name);
  return FALSE;
}

/* T [H] = LayerNorm (gelu (W_dense h + b_dense)): BertPredictionHeadTransform. */
static void
transform (const AsMlmHeadWeights *head,
           const AsConfig         *c,
           const float            *hidden,
           float                  *t)
{
  const int H = c->hidden;
  as_fast_gemv_rows (head->dense_w, hidden, H, H, t);
  for (int j = 0; j < H; j++)
    t[j] = as_gelu (t[j] + head->dense_b[j]);
  as_layer_norm_row (t, t, head->ln_g, head->ln_b, H, c->layer_norm_eps);
}

void
as_mlm_head_logits (const AsModel *model,
                    const float   *hidden,
                    float         *logits)
{
  const AsMlmHeadWeights *head = as_mlm_head_get (model);
  g_return_if_fail (head != NULL);
  const AsConfig *c = model->config;
  g_autofree float *t = g_new (float, c->hidden);   /* [H] */
  transform (head, c, hidden, t);
  /* Thread-free like the decoders' one-row head: the app may fork meanwhile. */
  as_fast_gemv_rows (head->decoder_w, t, c->vocab_size, c->hidden, logits);
  for (int v = 0; v < c->vocab_size; v++)
    logits[v] += head->decoder_b[v];
}

gboolean
as_mlm_head_predict (const AsModel    *model,
                     const float      *last_hidden,
                     int               n,
                     int               position,
                     int               k,
                     AsMlmPrediction  *out,
                     GError          **error)
{
  if (!as_mlm_head_check (model, error))
    return FALSE;
  const int V = model->config->vocab_size, H = model->config->hidden;
  if (position < 0 || position >= n)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "position %d is outside the input (%d tokens)", position, n);
      return FALSE;
    }
  if (k < 1 || k > MIN (V, AS_MLM_MAX_K))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "%d predictions asked for (1 to %d)", k, MIN (V, AS_MLM_MAX_K));
      return FALSE;
    }
  g_autofree float *logits = g_new (float, V);   /* [V] */
  int ids[AS_MLM_MAX_K];                         /* [k] */
  float probs[AS_MLM_MAX_K];                     /* [k] */
  as_mlm_head_logits (model, last_hidden + (gsize) position * H, logits);
  as_sampler_top_k (logits, V, k, ids, probs);
  for (int r = 0; r < k; r++)
    out[r] = (AsMlmPrediction) { ids[r], probs[r] };
  return TRUE;
}

int
as_mlm_mask_id (const AsModel *model)
{
  if (model->tokenizer == NULL)
    return -1;
  /* BERT's spelling, then RoBERTa's. */
  int id = as_tokenizer_token_to_id (model->tokenizer, "[MASK]");
  return id >= 0 ? id : as_tokenizer_token_to_id (model->tokenizer, "<mask>");
}

int
as_mlm_mask_positions (const AsModel *model,
                       const int     *token_ids,
                       int            n,
                       int           *positions)
{
  const int mask = as_mlm_mask_id (model);
  int found = 0;
  for (int i = 0; mask >= 0 && i < n; i++)
    if (token_ids[i] == mask)
      {
        if (positions != NULL)
          positions[found] = i;
        found++;
      }
  return found;
}

AsMlmFill *
as_mlm_fill (const AsModel  *model,
             const int      *ids,
             int             n,
             const float    *last_hidden,
             int             k,
             GError        **error)
{
  g_autofree int *positions = g_new (int, MAX (n, 1));   /* [n] */
  const int n_masks = as_mlm_mask_positions (model, ids, n, positions);
  if (n_masks == 0)
    return NULL;
  g_autoptr(AsMlmFill) fill = g_new0 (AsMlmFill, 1);
  fill->n_masks = n_masks;
  fill->k = k;
  fill->positions = g_steal_pointer (&positions);
  fill->top = g_new (AsMlmPrediction, (gsize) n_masks * MAX (k, 1));   /* [n_masks, k] */
  fill->labels = g_new0 (char *, (gsize) n_masks * MAX (k, 1));        /* [n_masks, k] */
  for (int m = 0; m < n_masks; m++)
    {
      AsMlmPrediction *top = fill->top + (gsize) m * k;
      if (!as_mlm_head_predict (model, last_hidden, n, fill->positions[m], k, top, error))
        return NULL;
      for (int r = 0; r < k && model->tokenizer != NULL; r++)
        fill->labels[(gsize) m * k + r] = as_tokenizer_id_to_label (model->tokenizer, top[r].id);
    }
  return g_steal_pointer (&fill);
}

void
as_mlm_fill_free (AsMlmFill *fill)
{
  if (fill == NULL)
    return;
  for (gsize i = 0; fill->labels != NULL && i < (gsize) fill->n_masks * fill->k; i++)
    g_free (fill->labels[i]);
  g_free (fill->labels);
  g_free (fill->top);
  g_free (fill->positions);
  g_free (fill);
}
