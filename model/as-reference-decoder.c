/* as-reference-decoder.c — the plain fp32 forward pass the decoder families
 * share (as-reference-decoder.h): causal attention, written from the
 * equations as as-reference.c is (every sum in fp32 in index order, one
 * thread), and the pass around a family's steps.
 */
#include "as-reference-decoder.h"

#include <string.h>

#include "as-ablation.h"
#include "as-elementwise.h"
#include "as-error.h"
#include "as-layer-trace.h"

/* --- attention -------------------------------------------------------------- */

/* att[NH, n, n]: att[h, i, j] = q_i . k_j / sqrt(d), q over query head h's
 * columns and k over those of its K/V head h / (NH / NKV); -inf where the
 * key comes after the query (causal). */
static void
attention_scores (float       *att,
                  const float *q,
                  const float *k,
                  int          n,
                  int          NH,
                  int          NKV,
                  int          d)
{
  const int H = NH * d, KV = NKV * d, group = NH / NKV;
  const float scale = as_attention_scale (d);
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < n; i++)
      {
        const float *q_i = q + (gsize) i * H + h * d;   /* [d] */
        float *att_i = att + ((gsize) h * n + i) * n;   /* [n] */
        for (int j = 0; j < n; j++)
          {
            const float *k_j = k + (gsize) j * KV + (h / group) * d;   /* [d] */
            float dot = 0.0f;
            for (int t = 0; t < d; t++)
              dot += q_i[t] * k_j[t];
            att_i[j] = j > i ? -INFINITY : dot * scale;
          }
      }
}

/* Each row i of att[NH, n, n] becomes its softmax over keys 0..i; the
 * masked keys after i become 0. */
static void
softmax_rows (float *att,
              int    n,
              int    NH)
{
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < n; i++)
      as_softmax_row (att + ((gsize) h * n + i) * n, n, i + 1);
}

/* ctx[n, H]: ctx[i, head h] = sum over keys j of att[h, i, j] v[j, K/V head
 * of h]. */
static void
attention_context (float       *ctx,
                   const float *att,
                   const float *v,
                   int          n,
                   int          NH,
                   int          NKV,
                   int          d)
{
  const int H = NH * d, KV = NKV * d, group = NH / NKV;
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < n; i++)
      {
        const float *att_i = att + ((gsize) h * n + i) * n;   /* [n] */
        float *ctx_i = ctx + (gsize) i * H + h * d;           /* [d] */
        for (int t = 0; t < d; t++)
          ctx_i[t] = 0.0f;
        for (int j = 0; j < n; j++)
          {
            const float *v_j = v + (gsize) j * KV + (h / group) * d;   /* [d] */
            for (int t = 0; t < d; t++)
              ctx_i[t] += att_i[j] * v_j[t];
          }
      }
}

void
as_decoder_attention (const AsConfig       *c,
                      AsDecoderActivations *a,
                      int                   layer,
                      int                   n)
{
  attention_scores (a->att, a->q, a->k, n, c->n_heads, c->n_kv_heads, c->head_dim);
  softmax_rows (a->att, n, c->n_heads);
  if (a->req != NULL)
    as_ablation_apply_layer (a->req, layer, a->att, c->n_heads, TRUE);
  attention_context (a->ctx, a->att, a->v, n, c->n_heads, c->n_kv_heads, c->head_dim);
}

void
as_decoder_residual_add (float       *x,
                         const float *add,
                         gsize        count)
{
  for (gsize i = 0; i < count; i++)
    x[i] = x[i] + add[i];
}

/* --- the pass --------------------------------------------------------------- */

static AsDecoderActivations *
activations_new (const AsConfig       *c,
                 const AsDecoderSteps *steps,
                 int                   n)
{
  const gsize nH = (gsize) n * c->hidden;
  const gsize nKV = (gsize) n * c->n_kv_heads * c->head_dim;
  const gsize nF = (gsize) n * c->intermediate;
  AsDecoderActivations *a = g_new0 (AsDecoderActivations, 1);
  a->x = g_new (float, nH);
  a->xn = g_new (float, nH);
  a->q = g_new (float, nH);
  a->k = g_new (float, nKV);
  a->v = g_new (float, nKV);
  a->att = g_new (float, (gsize) c->n_heads * n * n);
  a->ctx = g_new (float, nH);
  a->attn_out = g_new (float, nH);
  a->ff = g_new (float, nF);
  a->ff_gate = steps->gated_ffn ? g_new (float, nF) : NULL;
  a->ff_out = g_new (float, nH);
  return a;
}

static void
activations_free (AsDecoderActivations *a)
{
  g_free (a->x); g_free (a->xn); g_free (a->q); g_free (a->k); g_free (a->v);
  g_free (a->att); g_free (a->ctx); g_free (a->attn_out); g_free (a->ff);
  g_free (a->ff_gate); g_free (a->ff_out);
  g_free (a);
}

typedef struct {
  AsBackend             parent;
  AsBackendVTable       vtable;        /* parent.vtable points here */
  const AsDecoderSteps *steps;
  char                 *description;
} DecoderBackend;

/* LAYER's stages still in A once it has run (a pre-norm layer: its output
 * is its second residual sum), when TRACE is set. */
static void
keep_layer_stages (AsLayerTrace               *trace,
                   const AsConfig             *c,
                   const AsDecoderActivations *a,
                   int                         n)
{
  const gsize nH = (gsize) n * c->hidden, nF = (gsize) n * c->intermediate;
  as_layer_trace_keep (trace, attn, a->att, (gsize) c->n_heads * n * n);
  as_layer_trace_keep (trace, context, a->ctx, nH);
  as_layer_trace_keep (trace, attn_out, a->attn_out, nH);
  as_layer_trace_keep (trace, ffn_act, a->ff, nF);
  as_layer_trace_keep (trace, ffn_out, a->ff_out, nH);
  as_layer_trace_keep (trace, resid2, a->x, nH);
  as_layer_trace_keep (trace, out, a->x, nH);
}

/* Runs STEPS' layers 0..LAST of MODEL on the request, checking the cancel
 * flag before each and handing each finished layer to on_layer. With
 * QKV_ONLY the last layer stops after Q, K, V. With TRACE, keeps the
 * embeddings and the stages of layer TRACE->layer there. */
static gboolean
run_layers (const AsModel          *model,
            const AsDecoderSteps   *steps,
            const AsForwardRequest *req,
            AsDecoderActivations   *a,
            int                     last,
            gboolean                qkv_only,
            AsLayerTrace           *trace,
            GError                **error)
{
  const gsize nH = (gsize) req->n * model->config->hidden;
  a->req = req;
  a->trace = trace;
  steps->embed (model, req, a);
  for (int l = 0; l <= last; l++)
    {
      a->trace = trace != NULL && trace->layer == l ? trace : NULL;
      if (!as_forward_check_cancel (req, error))
        return FALSE;
      as_layer_trace_keep (a->trace, x_in, a->x, nH);
      steps->layer_qkv (model, l, a, req->n);
      if (qkv_only && l == last)
        return TRUE;
      steps->layer_rest (model, l, a, req->n);
      keep_layer_stages (a->trace, model->config, a, req->n);
      if (!as_forward_deliver_layer (req, l, a->att, a->x, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
as_decoder_layer_trace (const AsModel        *model,
                        const AsDecoderSteps *steps,
                        const int            *ids,
                        int                   n,
                        const gint           *cancel,
                        int                   layer,
                        AsLayerTrace         *trace,
                        GError              **error)
{
  const AsForwardRequest req = { .ids = ids, .n = n, .cancel = cancel };
  AsDecoderActivations *a = activations_new (model->config, steps, n);
  trace->pre_norm = TRUE;
  gboolean ok = run_layers (model, steps, &req, a, layer, FALSE, trace, error);
  activations_free (a);
  return ok;
}

/* FINAL_HIDDEN is the base model's last_hidden_state: the stream after the
 * final norm (the logits are it times the output embedding^T). */
static gboolean
decoder_forward (AsBackend              *backend,
                 const AsForwardRequest *req,
                 float                  *final_hidden,
                 GError                **error)
{
  DecoderBackend *self = (DecoderBackend *) backend;
  const AsModel *model = backend->model;
  if (!as_backend_check_request (model, req, error))
    return FALSE;
  AsDecoderActivations *a = activations_new (model->config, self->steps, req->n);
  gboolean ok = run_layers (model, self->steps, req, a, model->config->n_layers - 1, FALSE,
                            NULL, error);
  if (ok && final_hidden != NULL)
    model->arch->final_norm (model, a->x, req->n, final_hidden);
  activations_free (a);
  return ok;
}

/* K and V come back repeated to one slice per query head, [n, hidden] like
 * Q, so that query head h's scores are Q_h K_h^T / sqrt(d). */
static gboolean
decoder_layer_qkv (AsBackend              *backend,
                   const AsForwardRequest *req,
                   int                     layer,
                   float                  *q,
                   float                  *k,
                   float                  *v,
                   GError                **error)
{
  DecoderBackend *self = (DecoderBackend *) backend;
  const AsModel *model = backend->model;
  if (!as_backend_check_request (model, req, error))
    return FALSE;
  const AsConfig *c = model->config;
  AsForwardRequest quiet = *req;
  quiet.on_layer = NULL;
  AsDecoderActivations *a = activations_new (c, self->steps, req->n);
  gboolean ok = run_layers (model, self->steps, &quiet, a, layer, TRUE, NULL, error);
  if (ok)
    {
      const int H = c->hidden, d = c->head_dim, KV = c->n_kv_heads * d;
      const int group = c->n_heads / c->n_kv_heads;
      memcpy (q, a->q, sizeof (float) * req->n * H);
      for (int i = 0; i < req->n; i++)
        for (int h = 0; h < c->n_heads; h++)
          {
            const gsize from = (gsize) i * KV + (h / group) * d, to = (gsize) i * H + h * d;
            memcpy (k + to, a->k + from, sizeof (float) * d);
            memcpy (v + to, a->v + from, sizeof (float) * d);
          }
    }
  activations_free (a);
  return ok;
}

static char *
decoder_describe (AsBackend *backend)
{
  return g_strdup (((DecoderBackend *) backend)->description);
}

static void
decoder_backend_free (AsBackend *backend)
{
  DecoderBackend *self = (DecoderBackend *) backend;
  g_free (self->description);
  g_free (self);
}

AsBackend *
as_decoder_backend_new (const AsModel        *model,
                        const AsDecoderSteps *steps,
                        const char           *name,
                        const char           *description)
{
  DecoderBackend *self = g_new0 (DecoderBackend, 1);
  self->vtable = (AsBackendVTable) {
    .name = name,
    .forward = decoder_forward,
    .layer_qkv = decoder_layer_qkv,
    .describe = decoder_describe,
    .free = decoder_backend_free,
  };
  self->parent.vtable = &self->vtable;
  self->parent.model = model;
  self->steps = steps;
  self->description = g_strdup (description);
  return &self->parent;
}
