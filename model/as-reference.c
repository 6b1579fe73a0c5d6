/* as-reference.c — the plain fp32 forward pass of a BERT encoder (and of
 * RoBERTa and DistilBERT, which share its weights struct, as-bert.h).
 *
 * The yardstick the fast CPU path (as-cpu-encoder.c), the CUDA backend (gpu/)
 * and any future architecture are tested against, so it is written to be
 * read: one short function per step of Hugging Face's BertModel in eager
 * mode, loops straight from the equations, every sum in fp32 in index order,
 * one thread, a fresh buffer per step. The element-wise maths (GELU,
 * LayerNorm of a row, softmax of a row, 1/sqrt(d)) is as-elementwise.h,
 * which the CUDA emulator uses too. Its own fidelity is checked against
 * transformers' outputs (tests/test-reference.c).
 *
 * Shapes: n tokens, H hidden, NH heads of d = H / NH columns, F the FFN's
 * width. Matrices are row-major; a token's vector is a row.
 */
#include "as-reference.h"

#include <string.h>

#include "as-ablation.h"
#include "as-bert.h"
#include "as-elementwise.h"
#include "as-error.h"
#include "as-layer-trace.h"

/* One pass's activations, each written by one step. */
typedef struct {
  float *x;         /* [n, H]  residual stream: the embeddings, then each layer's output */
  float *q;         /* [n, H]  queries; head h is columns h*d .. h*d+d-1 */
  float *k;         /* [n, H]  keys, same layout */
  float *v;         /* [n, H]  values, same layout */
  float *att;       /* [NH, n, n]  scores, then probabilities (row = query, column = key) */
  float *ctx;       /* [n, H]  the heads' contexts side by side, same layout as q */
  float *attn_out;  /* [n, H]  ctx W_o^T + b_o */
  float *x1;        /* [n, H]  LayerNorm(attn_out + x): the attention block's output */
  float *ff;        /* [n, F]  gelu(x1 W_1^T + b_1) */
  float *ff_out;    /* [n, H]  ff W_2^T + b_2 */
  const float  *key_mask;  /* [n] added to every row of scores (0, or -inf for a
                            * padding key), or NULL */
  AsLayerTrace *trace;     /* keeps the embeddings and layer trace->layer's
                            * stages, or NULL */
} Activations;

/* --- the steps ------------------------------------------------------------ */

/* A new [n, H]: row ROWS[i] of TABLE [*, H] for each token i (row i itself
 * when ROWS is NULL). */
static float *
gather_rows (const float *table,
             const int   *rows,
             int          n,
             int          H)
{
  float *out = g_new (float, (gsize) n * H);   /* [n, H] */
  for (int i = 0; i < n; i++)
    memcpy (out + (gsize) i * H, table + (gsize) (rows != NULL ? rows[i] : i) * H,
            sizeof (float) * H);
  return out;
}

/* x[n, H] = (word[ids[i]] + type[type_ids[i]]) + pos[i], summed in
 * transformers' order, then LayerNorm. A family without token types
 * (type_emb NULL) sums word + pos. pos[i] is token i's row whatever id the
 * checkpoint numbers its position by (as-bert.h). TRACE, when set, keeps
 * the three tables' rows, the sum and the result. */
static void
encoder_embed (float                  *x,
               const AsModel          *model,
               const AsForwardRequest *req,
               AsLayerTrace           *trace)
{
  const AsConfig *c = model->config;
  const AsBertWeights *w = as_bert_weights (model);
  const int H = c->hidden;
  const gsize nH = (gsize) req->n * H;
  for (int i = 0; i < req->n; i++)
    {
      const float *word = w->word_emb + (gsize) req->ids[i] * H;       /* [H] */
      const float *pos = w->pos_emb + (gsize) i * H;                   /* [H] */
      float *x_i = x + (gsize) i * H;                                  /* [H] */
      for (int j = 0; j < H; j++)
        x_i[j] = word[j];
      if (w->type_emb != NULL)
        {
          const float *type = w->type_emb + (gsize) req->type_ids[i] * H;   /* [H] */
          for (int j = 0; j < H; j++)
            x_i[j] += type[j];
        }
      for (int j = 0; j < H; j++)
        x_i[j] += pos[j];
    }
  if (trace != NULL)
    {
      trace->token_embed = gather_rows (w->word_emb, req->ids, req->n, H);
      trace->position_embed = gather_rows (w->pos_emb, NULL, req->n, H);
      if (w->type_emb != NULL)
        trace->type_embed = gather_rows (w->type_emb, req->type_ids, req->n, H);
    }
  as_layer_trace_keep (trace, embed_sum, x, nH);
  for (int i = 0; i < req->n; i++)
    as_layer_norm_row (x + (gsize) i * H, x + (gsize) i * H, w->emb_ln_g, w->emb_ln_b, H,
                       c->layer_norm_eps);
  as_layer_trace_keep (trace, embed_out, x, nH);
}

/* out[n, out_dim] = in[n, in_dim] W^T + b, with W [out_dim, in_dim] and
 * b [out_dim] as nn.Linear stores them. */
static void
linear (float       *out,
        const float *in,
        const float *w,
        const float *b,
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
          out_i[o] = sum + b[o];
        }
    }
}

/* att[NH, n, n]: att[h, i, j] = q_i . k_j / sqrt(d) over head h's columns,
 * plus the mask M: with CAUSAL, -inf where the key comes after the query
 * (the teaching demonstration; BERT itself is bidirectional); with
 * KEY_MASK [n], KEY_MASK[j] on every row (-inf hides padding key j, as a
 * batch's attention mask does). */
static void
attention_scores (float       *att,
                  const float *q,
                  const float *k,
                  const float *key_mask,
                  int          n,
                  int          NH,
                  int          d,
                  gboolean     causal)
{
  const int H = NH * d;
  const float scale = as_attention_scale (d);
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < n; i++)
      {
        const float *q_i = q + (gsize) i * H + h * d;   /* [d] */
        float *att_i = att + ((gsize) h * n + i) * n;   /* [n] */
        for (int j = 0; j < n; j++)
          {
            const float *k_j = k + (gsize) j * H + h * d;   /* [d] */
            float dot = 0.0f;
            for (int t = 0; t < d; t++)
              dot += q_i[t] * k_j[t];
            if (causal && j > i)
              att_i[j] = -INFINITY;
            else
              att_i[j] = key_mask != NULL ? dot * scale + key_mask[j] : dot * scale;
          }
      }
}

/* Each row of att[NH, n, n] becomes its softmax over the keys; with CAUSAL,
 * row i over keys 0..i only (the rest were -inf, and become 0). */
static void
softmax_rows (float    *att,
              int       n,
              int       NH,
              gboolean  causal)
{
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < n; i++)
      as_softmax_row (att + ((gsize) h * n + i) * n, n, causal ? i + 1 : n);
}

/* ctx[n, H]: ctx[i, head h] = sum over keys j of att[h, i, j] v[j, head h]. */
static void
attention_context (float       *ctx,
                   const float *att,
                   const float *v,
                   int          n,
                   int          NH,
                   int          d)
{
  const int H = NH * d;
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < n; i++)
      {
        const float *att_i = att + ((gsize) h * n + i) * n;   /* [n] */
        float *ctx_i = ctx + (gsize) i * H + h * d;           /* [d] */
        for (int t = 0; t < d; t++)
          ctx_i[t] = 0.0f;
        for (int j = 0; j < n; j++)
          {
            const float *v_j = v + (gsize) j * H + h * d;   /* [d] */
            for (int t = 0; t < d; t++)
              ctx_i[t] += att_i[j] * v_j[t];
          }
      }
}

/* out[count] = a + residual: the residual connection before a LayerNorm. */
static void
residual_add (float       *out,
              const float *a,
              const float *residual,
              gsize        count)
{
  for (gsize i = 0; i < count; i++)
    out[i] = a[i] + residual[i];
}

/* x[n, dim] = LayerNorm(x) * g + b, row by row, in place. */
static void
layer_norm_rows (float       *x,
                 const float *g,
                 const float *b,
                 int          n,
                 int          dim,
                 float        eps)
{
  for (int i = 0; i < n; i++)
    as_layer_norm_row (x + (gsize) i * dim, x + (gsize) i * dim, g, b, dim, eps);
}

/* x[count] = gelu(x), in place. */
static void
gelu (float *x,
      gsize  count)
{
  for (gsize i = 0; i < count; i++)
    x[i] = as_gelu (x[i]);
}

/* --- a layer -------------------------------------------------------------- */

/* Q, K, V of the layer's input a->x. */
static void
layer_qkv (Activations          *a,
           const AsLayerWeights *w,
           const AsConfig       *c,
           int                   n)
{
  const int H = c->hidden;
  linear (a->q, a->x, w->q_w, w->q_b, n, H, H);
  linear (a->k, a->x, w->k_w, w->k_b, n, H, H);
  linear (a->v, a->x, w->v_w, w->v_b, n, H, H);
}

/* The rest of layer L after Q, K, V: leaves its attention (with the
 * request's ablated heads replaced, as-ablation.h) in a->att and its
 * output in a->x. TRACE, when set, keeps every stage (its input was kept
 * before Q, K, V). */
static void
layer_rest (Activations            *a,
            const AsLayerWeights   *w,
            const AsConfig         *c,
            const AsForwardRequest *req,
            int                     l,
            AsLayerTrace           *trace)
{
  const int H = c->hidden, F = c->intermediate, NH = c->n_heads, d = c->head_dim;
  const int n = req->n;
  const gsize nH = (gsize) n * H, nF = (gsize) n * F;
  const gboolean causal = req->causal_mask;
  const float eps = c->layer_norm_eps;

  attention_scores (a->att, a->q, a->k, a->key_mask, n, NH, d, causal);
  softmax_rows (a->att, n, NH, causal);
  as_ablation_apply_layer (req, l, a->att, NH, causal);
  attention_context (a->ctx, a->att, a->v, n, NH, d);
  linear (a->attn_out, a->ctx, w->o_w, w->o_b, n, H, H);
  residual_add (a->x1, a->attn_out, a->x, nH);
  as_layer_trace_keep (trace, resid1, a->x1, nH);
  layer_norm_rows (a->x1, w->ln1_g, w->ln1_b, n, H, eps);

  linear (a->ff, a->x1, w->ff1_w, w->ff1_b, n, H, F);
  as_layer_trace_keep (trace, ffn_pre, a->ff, nF);
  gelu (a->ff, nF);
  linear (a->ff_out, a->ff, w->ff2_w, w->ff2_b, n, F, H);
  residual_add (a->x, a->ff_out, a->x1, nH);
  as_layer_trace_keep (trace, resid2, a->x, nH);
  layer_norm_rows (a->x, w->ln2_g, w->ln2_b, n, H, eps);

  /* The stages still in their buffers. */
  as_layer_trace_keep (trace, attn, a->att, (gsize) NH * n * n);
  as_layer_trace_keep (trace, context, a->ctx, nH);
  as_layer_trace_keep (trace, attn_out, a->attn_out, nH);
  as_layer_trace_keep (trace, h1, a->x1, nH);
  as_layer_trace_keep (trace, ffn_in, a->x1, nH);
  as_layer_trace_keep (trace, ffn_act, a->ff, nF);
  as_layer_trace_keep (trace, ffn_out, a->ff_out, nH);
  as_layer_trace_keep (trace, out, a->x, nH);
}

/* --- the pass ------------------------------------------------------------- */

static Activations *
activations_new (const AsConfig *c,
                 int             n)
{
  const gsize nH = (gsize) n * c->hidden;
  Activations *a = g_new0 (Activations, 1);
  a->x = g_new (float, nH);
  a->q = g_new (float, nH);
  a->k = g_new (float, nH);
  a->v = g_new (float, nH);
  a->att = g_new (float, (gsize) c->n_heads * n * n);
  a->ctx = g_new (float, nH);
  a->attn_out = g_new (float, nH);
  a->x1 = g_new (float, nH);
  a->ff = g_new (float, (gsize) n * c->intermediate);
  a->ff_out = g_new (float, nH);
  return a;
}

static void
activations_free (Activations *a)
{
  g_free (a->x); g_free (a->q); g_free (a->k); g_free (a->v); g_free (a->att);
  g_free (a->ctx); g_free (a->attn_out); g_free (a->x1); g_free (a->ff); g_free (a->ff_out);
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
  const gsize nH = (gsize) req->n * c->hidden;
  encoder_embed (a->x, model, req, a->trace);
  for (int l = 0; l <= last; l++)
    {
      AsLayerTrace *trace = a->trace != NULL && a->trace->layer == l ? a->trace : NULL;
      if (!as_forward_check_cancel (req, error))
        return FALSE;
      as_layer_trace_keep (trace, x_in, a->x, nH);
      as_layer_trace_keep (trace, attn_in, a->x, nH);
      layer_qkv (a, &as_bert_weights (model)->layers[l], c, req->n);
      if (qkv_only && l == last)
        return TRUE;
      layer_rest (a, &as_bert_weights (model)->layers[l], c, req, l, trace);
      if (!as_forward_deliver_layer (req, l, a->att, a->x, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
reference_forward (AsBackend              *backend,
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
    memcpy (final_hidden, a->x, sizeof (float) * req->n * c->hidden);
  activations_free (a);
  return ok;
}

static gboolean
reference_layer_qkv (AsBackend              *backend,
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
      const gsize nH = (gsize) req->n * c->hidden;
      memcpy (q, a->q, sizeof (float) * nH);
      memcpy (k, a->k, sizeof (float) * nH);
      memcpy (v, a->v, sizeof (float) * nH);
    }
  activations_free (a);
  return ok;
}

gboolean
as_bert_reference_layer_trace (const AsModel *model,
                               const int     *ids,
                               const int     *type_ids,
                               int            n,
                               const float   *key_mask,
                               const gint    *cancel,
                               int            layer,
                               AsLayerTrace  *trace,
                               GError       **error)
{
  const AsForwardRequest req = { .ids = ids, .type_ids = type_ids, .n = n, .cancel = cancel };
  Activations *a = activations_new (model->config, n);
  a->key_mask = key_mask;
  a->trace = trace;
  trace->pre_norm = FALSE;
  trace->norm = AS_TRACE_NORM_LAYER;
  trace->ffn = AS_TRACE_FFN_GELU;
  gboolean ok = run_layers (model, &req, a, layer, FALSE, error);
  activations_free (a);
  return ok;
}

static char *
reference_describe (AsBackend *backend)
{
  return g_strdup ("reference (plain fp32 C, one thread)");
}

static void
reference_free (AsBackend *backend)
{
  g_free (backend);
}

static const AsBackendVTable reference_vtable = {
  .name = "reference",
  .forward = reference_forward,
  .layer_qkv = reference_layer_qkv,
  .describe = reference_describe,
  .free = reference_free,
};

AsBackend *
as_bert_reference_backend_new (const AsModel *model)
{
  AsBackend *self = g_new0 (AsBackend, 1);
  self->vtable = &reference_vtable;
  self->model = model;
  return self;
}
