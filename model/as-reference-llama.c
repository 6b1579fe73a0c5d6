/* as-reference-llama.c — the plain fp32 forward pass of a Llama decoder.
 *
 * The yardstick for Llama-family models, in the manner of as-reference.c:
 * one short function per step of transformers' LlamaModel in eager mode,
 * loops straight from the equations, every sum in fp32 in index order, one
 * thread, a fresh buffer per step. The element-wise maths (RMSNorm of a
 * row, SiLU, rotary positions, softmax of a row, 1/sqrt(d)) is
 * as-elementwise.h. Its fidelity is checked against transformers' outputs
 * on SmolLM2-135M (tests/test-llama.c).
 *
 * It is also Llama's "cpu" backend for now: a fast path (packed GEMM and
 * threads, as BERT's as-cpu-encoder.c) is later work.
 *
 * Shapes: n tokens, H hidden, NH query heads and NKV key/value heads of
 * d = H / NH columns (each K/V head serves NH / NKV query heads: grouped-
 * query attention), KV = NKV * d, F the FFN's width. Matrices are
 * row-major; a token's vector is a row.
 */
#include <string.h>

#include "as-elementwise.h"
#include "as-error.h"
#include "as-llama.h"

/* One pass's activations, each written by one step. */
typedef struct {
  float *x;         /* [n, H]   residual stream: the embeddings, then each layer's output */
  float *xn;        /* [n, H]   RMSNorm of the stream, the input of a block */
  float *q;         /* [n, H]   queries, rotated; head h is columns h*d .. h*d+d-1 */
  float *k;         /* [n, KV]  keys, rotated; K/V head g is columns g*d .. g*d+d-1 */
  float *v;         /* [n, KV]  values, same layout */
  float *att;       /* [NH, n, n]  scores, then probabilities (row = query, column = key) */
  float *ctx;       /* [n, H]   the heads' contexts side by side, same layout as q */
  float *attn_out;  /* [n, H]   ctx W_o^T */
  float *gate;      /* [n, F]   xn W_gate^T, then silu(that) * up */
  float *up;        /* [n, F]   xn W_up^T */
  float *ff_out;    /* [n, H]   gate W_down^T */
} Activations;

/* --- the steps -------------------------------------------------------------- */

/* x[n, H] = embed[ids[i]]: no positions here (they are rotary). */
static void
decoder_embed (float                  *x,
               const AsModel          *model,
               const AsForwardRequest *req)
{
  const int H = model->config->hidden;
  const AsLlamaWeights *w = as_llama_weights (model);
  for (int i = 0; i < req->n; i++)
    memcpy (x + (gsize) i * H, w->tok_emb + (gsize) req->ids[i] * H, sizeof (float) * H);
}

/* out[n, dim] = RMSNorm(in) * g, row by row. */
static void
rms_norm (float       *out,
          const float *in,
          const float *g,
          int          n,
          int          dim,
          float        eps)
{
  for (int i = 0; i < n; i++)
    as_rms_norm_row (out + (gsize) i * dim, in + (gsize) i * dim, g, dim, eps);
}

/* out[n, out_dim] = in[n, in_dim] W^T, with W [out_dim, in_dim] as
 * nn.Linear stores it (Llama's projections have no bias). */
static void
linear (float       *out,
        const float *in,
        const float *w,
        int          n,
        int          in_dim,
        int          out_dim)
{
  for (int i = 0; i < n; i++)
    {
      const float *in_i = in + (gsize) i * in_dim;   /* [in_dim] */
      float *out_i = out + (gsize) i * out_dim;      /* [out_dim] */
      for (int o = 0; o < out_dim; o++)
        {
          const float *w_o = w + (gsize) o * in_dim;   /* [in_dim] */
          float sum = 0.0f;
          for (int k = 0; k < in_dim; k++)
            sum += in_i[k] * w_o[k];
          out_i[o] = sum;
        }
    }
}

/* Rotary positions: every head of x[n, heads * d] at token i turned by
 * position i, in place. */
static void
rope (float *x,
      int    n,
      int    heads,
      int    d,
      float  theta)
{
  for (int i = 0; i < n; i++)
    for (int h = 0; h < heads; h++)
      as_rope_head (x + ((gsize) i * heads + h) * d, d, i, theta);
}

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

/* x[count] += a[count]: the residual connection. */
static void
residual_add (float       *x,
              const float *a,
              gsize        count)
{
  for (gsize i = 0; i < count; i++)
    x[i] = x[i] + a[i];
}

/* gate[count] = silu(gate) * up: SwiGLU's gating. */
static void
swiglu (float       *gate,
        const float *up,
        gsize        count)
{
  for (gsize i = 0; i < count; i++)
    gate[i] = as_silu (gate[i]) * up[i];
}

/* --- a layer ---------------------------------------------------------------- */

/* Q, K, V of the layer's input a->x: RMSNorm, projections, and rotary
 * positions on Q and K. */
static void
layer_qkv (Activations               *a,
           const AsLlamaLayerWeights *w,
           const AsConfig            *c,
           int                        n)
{
  const int H = c->hidden, KV = c->n_kv_heads * c->head_dim;
  rms_norm (a->xn, a->x, w->attn_norm, n, H, c->layer_norm_eps);
  linear (a->q, a->xn, w->q_w, n, H, H);
  linear (a->k, a->xn, w->k_w, n, H, KV);
  linear (a->v, a->xn, w->v_w, n, H, KV);
  rope (a->q, n, c->n_heads, c->head_dim, c->rope_theta);
  rope (a->k, n, c->n_kv_heads, c->head_dim, c->rope_theta);
}

/* The rest of the layer after Q, K, V: leaves its attention in a->att and
 * its output in a->x. */
static void
layer_rest (Activations               *a,
            const AsLlamaLayerWeights *w,
            const AsConfig            *c,
            int                        n)
{
  const int H = c->hidden, F = c->intermediate, NH = c->n_heads, NKV = c->n_kv_heads;
  const int d = c->head_dim;

  attention_scores (a->att, a->q, a->k, n, NH, NKV, d);
  softmax_rows (a->att, n, NH);
  attention_context (a->ctx, a->att, a->v, n, NH, NKV, d);
  linear (a->attn_out, a->ctx, w->o_w, n, H, H);
  residual_add (a->x, a->attn_out, (gsize) n * H);

  rms_norm (a->xn, a->x, w->ffn_norm, n, H, c->layer_norm_eps);
  linear (a->gate, a->xn, w->gate_w, n, H, F);
  linear (a->up, a->xn, w->up_w, n, H, F);
  swiglu (a->gate, a->up, (gsize) n * F);
  linear (a->ff_out, a->gate, w->down_w, n, F, H);
  residual_add (a->x, a->ff_out, (gsize) n * H);
}

/* --- the pass --------------------------------------------------------------- */

static Activations *
activations_new (const AsConfig *c,
                 int             n)
{
  const gsize nH = (gsize) n * c->hidden;
  const gsize nKV = (gsize) n * c->n_kv_heads * c->head_dim;
  const gsize nF = (gsize) n * c->intermediate;
  Activations *a = g_new0 (Activations, 1);
  a->x = g_new (float, nH);
  a->xn = g_new (float, nH);
  a->q = g_new (float, nH);
  a->k = g_new (float, nKV);
  a->v = g_new (float, nKV);
  a->att = g_new (float, (gsize) c->n_heads * n * n);
  a->ctx = g_new (float, nH);
  a->attn_out = g_new (float, nH);
  a->gate = g_new (float, nF);
  a->up = g_new (float, nF);
  a->ff_out = g_new (float, nH);
  return a;
}

static void
activations_free (Activations *a)
{
  g_free (a->x); g_free (a->xn); g_free (a->q); g_free (a->k); g_free (a->v);
  g_free (a->att); g_free (a->ctx); g_free (a->attn_out); g_free (a->gate);
  g_free (a->up); g_free (a->ff_out);
  g_free (a);
}

/* Runs layers 0..LAST on the request, checking the cancel flag before each
 * and handing each finished layer to on_layer. With QKV_ONLY the last layer
 * stops after Q, K, V. */
static gboolean
run_layers (const AsModel          *model,
            const AsForwardRequest *req,
            Activations            *a,
            int                     last,
            gboolean                qkv_only,
            GError                **error)
{
  const AsConfig *c = model->config;
  const AsLlamaWeights *w = as_llama_weights (model);
  decoder_embed (a->x, model, req);
  for (int l = 0; l <= last; l++)
    {
      if (!as_forward_check_cancel (req, error))
        return FALSE;
      layer_qkv (a, &w->layers[l], c, req->n);
      if (qkv_only && l == last)
        return TRUE;
      layer_rest (a, &w->layers[l], c, req->n);
      if (!as_forward_deliver_layer (req, l, a->att, a->x, error))
        return FALSE;
    }
  return TRUE;
}

/* FINAL_HIDDEN is LlamaModel's last_hidden_state: the stream after the
 * final RMSNorm (the logits are it times lm_head^T). */
static gboolean
llama_forward (AsBackend              *backend,
               const AsForwardRequest *req,
               float                  *final_hidden,
               GError                **error)
{
  const AsModel *model = backend->model;
  if (!as_backend_check_request (model, req, error))
    return FALSE;
  const AsConfig *c = model->config;
  Activations *a = activations_new (c, req->n);
  gboolean ok = run_layers (model, req, a, c->n_layers - 1, FALSE, error);
  if (ok && final_hidden != NULL)
    rms_norm (final_hidden, a->x, as_llama_weights (model)->out_norm, req->n, c->hidden,
              c->layer_norm_eps);
  activations_free (a);
  return ok;
}

/* K and V come back repeated to one slice per query head, [n, hidden] like
 * Q, so that query head h's scores are Q_h K_h^T / sqrt(d) (all after the
 * rotary positions). */
static gboolean
llama_layer_qkv (AsBackend              *backend,
                 const AsForwardRequest *req,
                 int                     layer,
                 float                  *q,
                 float                  *k,
                 float                  *v,
                 GError                **error)
{
  const AsModel *model = backend->model;
  if (!as_backend_check_request (model, req, error))
    return FALSE;
  const AsConfig *c = model->config;
  AsForwardRequest quiet = *req;
  quiet.on_layer = NULL;
  Activations *a = activations_new (c, req->n);
  gboolean ok = run_layers (model, &quiet, a, layer, TRUE, error);
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
llama_reference_describe (AsBackend *backend)
{
  return g_strdup ("reference (plain fp32 C, one thread)");
}

static char *
llama_cpu_describe (AsBackend *backend)
{
  return g_strdup ("cpu (Llama: the plain fp32 reference forward, one thread)");
}

static void
llama_backend_free (AsBackend *backend)
{
  g_free (backend);
}

static const AsBackendVTable reference_vtable = {
  .name = "reference",
  .forward = llama_forward,
  .layer_qkv = llama_layer_qkv,
  .describe = llama_reference_describe,
  .free = llama_backend_free,
};

/* The same pass under the name "cpu" until Llama has a fast path. */
static const AsBackendVTable cpu_vtable = {
  .name = "cpu",
  .forward = llama_forward,
  .layer_qkv = llama_layer_qkv,
  .describe = llama_cpu_describe,
  .free = llama_backend_free,
};

static AsBackend *
backend_new (const AsModel         *model,
             const AsBackendVTable *vtable)
{
  AsBackend *self = g_new0 (AsBackend, 1);
  self->vtable = vtable;
  self->model = model;
  return self;
}

AsBackend *
as_llama_reference_backend_new (const AsModel *model)
{
  return backend_new (model, &reference_vtable);
}

AsBackend *
as_llama_cpu_backend_new (const AsModel *model)
{
  return backend_new (model, &cpu_vtable);
}
