/* as-layer-trace.c — one layer with every stage kept, and the padding
 * demonstration (as-layer-trace.h).
 *
 * The numbers come from the architecture's own reference pass
 * (as-architecture.h's layer_trace: as-reference.c for the BERT family,
 * as-reference-llama.c, as-reference-gpt2.c), which keeps each stage as it
 * computes it; this file checks the request, sizes the trace and builds the
 * padded batch.
 */
#include "as-layer-trace.h"

#include <math.h>
#include <string.h>

#include "as-error.h"
#include "as-tokenizer.h"

void
as_layer_trace_keep_at (AsLayerTrace *trace,
                        glong         offset,
                        const float  *src,
                        gsize         count)
{
  if (trace == NULL)
    return;
  float **stage = G_STRUCT_MEMBER_P (trace, offset);
  g_free (*stage);
  *stage = g_memdup2 (src, count * sizeof (float));
}

void
as_layer_trace_free (AsLayerTrace *trace)
{
  if (trace == NULL)
    return;
  float **stages[] = {
    &trace->token_embed, &trace->position_embed, &trace->type_embed, &trace->embed_sum,
    &trace->embed_out, &trace->x_in, &trace->attn_in, &trace->attn, &trace->context,
    &trace->attn_out, &trace->resid1, &trace->h1, &trace->ffn_in, &trace->ffn_pre,
    &trace->ffn_up, &trace->ffn_act, &trace->ffn_out, &trace->resid2, &trace->out,
  };
  for (gsize i = 0; i < G_N_ELEMENTS (stages); i++)
    g_free (*stages[i]);
  g_free (trace);
}

/* FALSE, with a message, unless MODEL can trace LAYER: its family has a
 * layer_trace and the layer exists. */
static gboolean
check_layer (const AsModel *model,
             int            layer,
             GError       **error)
{
  if (model->arch->layer_trace == NULL)
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                          "%s models have no layer trace", model->arch->name);
  if (layer < 0 || layer >= model->config->n_layers)
    return as_model_fail (error, AS_MODEL_ERROR_INPUT,
                          "layer %d does not exist; this model has layers 0 to %d", layer,
                          model->config->n_layers - 1);
  return TRUE;
}

/* REQUEST as MODEL checks any pass's, without its ablations (a trace shows
 * the model as it is). */
static gboolean
check_tokens (const AsModel          *model,
              const AsForwardRequest *request,
              GError                **error)
{
  AsForwardRequest plain = { .ids = request->ids, .type_ids = request->type_ids,
                             .n = request->n };
  return as_backend_check_request (model, &plain, error);
}

/* LAYER's reference pass on IDS [n] (TYPE_IDS [n]) with KEY_MASK [n] or
 * NULL, into a new trace; NULL when CANCEL stopped it. */
static AsLayerTrace *
run_trace (const AsModel *model,
           const int     *ids,
           const int     *type_ids,
           int            n,
           const float   *key_mask,
           const gint    *cancel,
           int            layer,
           GError       **error)
{
  const AsConfig *c = model->config;
  AsLayerTrace *trace = g_new0 (AsLayerTrace, 1);
  trace->layer = layer;
  trace->n = n;
  trace->hidden = c->hidden;
  trace->n_heads = c->n_heads;
  trace->n_kv_heads = c->n_kv_heads > 0 ? c->n_kv_heads : c->n_heads;
  trace->head_dim = c->head_dim;
  trace->intermediate = c->intermediate;
  trace->norm_eps = c->layer_norm_eps;
  if (!model->arch->layer_trace (model, ids, type_ids, n, key_mask, cancel, layer, trace, error))
    g_clear_pointer (&trace, as_layer_trace_free);
  return trace;
}

AsLayerTrace *
as_layer_trace_compute (const AsModel          *model,
                        const AsForwardRequest *request,
                        int                     layer,
                        GError                **error)
{
  if (!check_layer (model, layer, error) || !check_tokens (model, request, error))
    return NULL;
  return run_trace (model, request->ids, request->type_ids, request->n, NULL, request->cancel,
                    layer, error);
}

/* ---- the padding demonstration ------------------------------------------- */

void
as_padding_demo_free (AsPaddingDemo *demo)
{
  if (demo == NULL)
    return;
  for (int s = 0; s < 2; s++)
    {
      g_free (demo->ids[s]);
      g_free (demo->key_mask[s]);
      g_free (demo->attn[s]);
      g_free (demo->attn_alone[s]);
    }
  g_free (demo);
}

/* The id a batch pads with: the tokenizer's padding token ("[PAD]" in
 * WordPiece vocabularies, "<pad>" in RoBERTa's), else 0, which is [PAD] in
 * BERT's vocabularies and is hidden by the mask whatever it is. */
static int
padding_id (const AsModel *model)
{
  static const char *const names[] = { "[PAD]", "<pad>" };
  for (gsize i = 0; model->tokenizer != NULL && i < G_N_ELEMENTS (names); i++)
    {
      int id = as_tokenizer_token_to_id (model->tokenizer, names[i]);
      if (id >= 0 && id < model->config->vocab_size)
        return id;
    }
  return 0;
}

/* LAYER's attention [NH, n, n] of the N_SEQ tokens of REQ padded to N with
 * PAD_ID, type 0 as a batch pads them, and alone; fills DEMO's sequence S.
 * FALSE when CANCEL stopped it. */
static gboolean
run_padded (AsPaddingDemo          *demo,
            int                     s,
            const AsModel          *model,
            const AsForwardRequest *req,
            const gint             *cancel,
            int                     layer,
            GError                **error)
{
  const int n = demo->n;
  int *type_ids = g_new0 (int, n);          /* [n] */
  demo->ids[s] = g_new (int, n);            /* [n] */
  demo->key_mask[s] = g_new (float, n);     /* [n] */
  demo->n_seq[s] = req->n;
  for (int i = 0; i < n; i++)
    {
      const gboolean real = i < req->n;
      demo->ids[s][i] = real ? req->ids[i] : demo->pad_id;
      if (real && req->type_ids != NULL)
        type_ids[i] = req->type_ids[i];
      demo->key_mask[s][i] = real ? 0.0f : -INFINITY;
    }
  g_autoptr(AsLayerTrace) padded = run_trace (model, demo->ids[s], type_ids, n,
                                              demo->key_mask[s], cancel, layer, error);
  g_free (type_ids);
  if (padded == NULL)
    return FALSE;
  g_autoptr(AsLayerTrace) alone = run_trace (model, req->ids, req->type_ids, req->n, NULL,
                                             cancel, layer, error);
  if (alone == NULL)
    return FALSE;
  demo->attn[s] = g_steal_pointer (&padded->attn);
  demo->attn_alone[s] = g_steal_pointer (&alone->attn);
  return TRUE;
}

AsPaddingDemo *
as_padding_demo_compute (const AsModel          *model,
                         const AsForwardRequest *a,
                         const AsForwardRequest *b,
                         int                     layer,
                         GError                **error)
{
  if (model->arch->causal)
    {
      as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                     "%s models mask later tokens themselves; a padding mask is shown "
                     "on encoders only", model->arch->name);
      return NULL;
    }
  if (!check_layer (model, layer, error) || !check_tokens (model, a, error) ||
      !check_tokens (model, b, error))
    return NULL;

  AsPaddingDemo *demo = g_new0 (AsPaddingDemo, 1);
  demo->layer = layer;
  demo->n_heads = model->config->n_heads;
  demo->n = MAX (a->n, b->n);
  demo->pad_id = padding_id (model);
  if (!run_padded (demo, 0, model, a, a->cancel, layer, error) ||
      !run_padded (demo, 1, model, b, a->cancel, layer, error))
    g_clear_pointer (&demo, as_padding_demo_free);
  return demo;
}
