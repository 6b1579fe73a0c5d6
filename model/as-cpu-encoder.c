/* as-cpu-encoder.c — the fp32 reference encoder, CBLAS for every product.
 *
 * Mirrors Hugging Face's BertModel in eager mode (REFERENCE.md §3):
 *   x = LayerNorm(word[id] + pos[i] + type[t])
 *   per layer: Q,K,V = x W^T + b; P_h = softmax(Q_h K_h^T / sqrt(d) + mask);
 *              ctx_h = P_h V_h; x1 = LayerNorm(ctx W_o^T + b_o + x);
 *              x = LayerNorm(gelu(x1 W_1^T + b_1) W_2^T + b_2 + x1)
 * Buffers live in a workspace that grows to the longest input seen, so a pass
 * allocates nothing once warm.
 */
#include "as-backend.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "as-error.h"

typedef struct {
  int    capacity;   /* tokens the buffers hold */
  float *x;          /* [n, H]  layer input / output (residual stream) */
  float *x1;         /* [n, H]  after the attention block */
  float *qkv;        /* [n, 3H] Q | K | V; head h of Q = columns h*d .. h*d+d */
  float *ctx;        /* [n, H]  concatenated head contexts */
  float *tmp;        /* [n, H]  projection output before the residual */
  float *ff;         /* [n, I]  FFN hidden activations */
  float *probs;      /* [heads, n, n]  attention probabilities of one layer */
} CpuWorkspace;

typedef struct {
  float *qkv_w;      /* [3H, H]  query, key, value weights stacked */
  float *qkv_b;      /* [3H] */
} FusedLayer;

typedef struct {
  AsBackend    parent;
  FusedLayer  *fused;  /* [n_layers] */
  CpuWorkspace ws;
} CpuBackend;

static void
workspace_clear (CpuWorkspace *ws)
{
  g_free (ws->x); g_free (ws->x1); g_free (ws->qkv); g_free (ws->ctx); g_free (ws->tmp); g_free (ws->ff);
  g_free (ws->probs);
  memset (ws, 0, sizeof *ws);
}

static void
workspace_reserve (CpuWorkspace   *ws,
                   const AsConfig *c,
                   int             n)
{
  if (n <= ws->capacity)
    return;
  workspace_clear (ws);
  gsize nH = (gsize) n * c->hidden;
  ws->x = g_new (float, nH);
  ws->x1 = g_new (float, nH);
  ws->qkv = g_new (float, 3 * nH);
  ws->ctx = g_new (float, nH);
  ws->tmp = g_new (float, nH);
  ws->ff = g_new (float, (gsize) n * c->intermediate);
  ws->probs = g_new (float, (gsize) c->n_heads * n * n);
  ws->capacity = n;
}

/* out[n, out_dim] = in[n, in_dim] W^T + b, with W [out_dim, in_dim]. */
static void
linear (float       *out,
        const float *in,
        const float *w,
        const float *b,
        int          n,
        int          in_dim,
        int          out_dim)
{
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans,
               n, out_dim, in_dim,
               1.0f, in, in_dim, w, in_dim,
               0.0f, out, out_dim);
  for (int i = 0; i < n; i++)
    {
      float *row = out + (gsize) i * out_dim;
      for (int j = 0; j < out_dim; j++)
        row[j] += b[j];
    }
}

/* x[n, dim] = LayerNorm(x + residual) * g + b, in place (residual may be NULL). */
static void
add_layer_norm (float       *x,
                const float *residual,
                const float *g,
                const float *b,
                int          n,
                int          dim,
                float        eps)
{
  for (int i = 0; i < n; i++)
    {
      float *row = x + (gsize) i * dim;
      if (residual != NULL)
        {
          const float *res = residual + (gsize) i * dim;
          for (int j = 0; j < dim; j++)
            row[j] += res[j];
        }
      float mean = 0.0f;
      for (int j = 0; j < dim; j++)
        mean += row[j];
      mean /= dim;
      float var = 0.0f;
      for (int j = 0; j < dim; j++)
        {
          float d = row[j] - mean;
          var += d * d;
        }
      var /= dim;
      float inv = 1.0f / sqrtf (var + eps);
      for (int j = 0; j < dim; j++)
        row[j] = (row[j] - mean) * inv * g[j] + b[j];
    }
}

/* HF "gelu" is the exact erf form, not the tanh approximation. */
static void
gelu_inplace (float *x,
              gsize  count)
{
  for (gsize i = 0; i < count; i++)
    x[i] = 0.5f * x[i] * (1.0f + erff (x[i] * (float) M_SQRT1_2));
}

/* Each row of p[n, n] becomes softmax(row); with CAUSAL, keys after the query
 * are masked out (the teaching demonstration; BERT itself is bidirectional). */
static void
softmax_rows (float   *p,
              int      n,
              gboolean causal)
{
  for (int i = 0; i < n; i++)
    {
      float *row = p + (gsize) i * n;
      int valid = causal ? i + 1 : n;
      float max = row[0];
      for (int j = 1; j < valid; j++)
        max = row[j] > max ? row[j] : max;
      float sum = 0.0f;
      for (int j = 0; j < valid; j++)
        {
          row[j] = expf (row[j] - max);
          sum += row[j];
        }
      float inv = 1.0f / sum;
      for (int j = 0; j < valid; j++)
        row[j] *= inv;
      for (int j = valid; j < n; j++)
        row[j] = 0.0f;
    }
}

static void
embed (const AsModel          *model,
       const AsForwardRequest *req,
       float                  *x)
{
  const AsConfig *c = model->config;
  const int H = c->hidden;
  for (int i = 0; i < req->n; i++)
    {
      const float *w = model->word_emb + (gsize) req->ids[i] * H;
      const float *p = model->pos_emb + (gsize) i * H;
      const float *t = model->type_emb + (gsize) req->type_ids[i] * H;
      float *row = x + (gsize) i * H;
      for (int j = 0; j < H; j++)
        row[j] = w[j] + p[j] + t[j];
    }
  add_layer_norm (x, NULL, model->emb_ln_g, model->emb_ln_b, req->n, H, c->layer_norm_eps);
}

static void
project_qkv (const AsConfig   *c,
             const FusedLayer *f,
             CpuWorkspace     *ws,
             int               n)
{
  linear (ws->qkv, ws->x, f->qkv_w, f->qkv_b, n, c->hidden, 3 * c->hidden);
}

/* probs[h] = softmax(Q_h K_h^T / sqrt(d)); ctx_h = probs[h] V_h. */
static void
attention_heads (const AsConfig *c,
                 CpuWorkspace   *ws,
                 int             n,
                 gboolean        causal)
{
  const int H = c->hidden, d = c->head_dim;
  const float scale = 1.0f / sqrtf ((float) d);
  for (int h = 0; h < c->n_heads; h++)
    {
      float *p = ws->probs + (gsize) h * n * n;
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans,
                   n, n, d,
                   scale, ws->qkv + h * d, 3 * H, ws->qkv + H + h * d, 3 * H,
                   0.0f, p, n);
      softmax_rows (p, n, causal);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans,
                   n, d, n,
                   1.0f, p, n, ws->qkv + 2 * H + h * d, 3 * H,
                   0.0f, ws->ctx + h * d, H);
    }
}

static void
output_and_ffn (const AsConfig       *c,
                const AsLayerWeights *w,
                CpuWorkspace         *ws,
                int                   n)
{
  const int H = c->hidden, inter = c->intermediate;
  linear (ws->x1, ws->ctx, w->o_w, w->o_b, n, H, H);
  add_layer_norm (ws->x1, ws->x, w->ln1_g, w->ln1_b, n, H, c->layer_norm_eps);
  linear (ws->ff, ws->x1, w->ff1_w, w->ff1_b, n, H, inter);
  gelu_inplace (ws->ff, (gsize) n * inter);
  linear (ws->x, ws->ff, w->ff2_w, w->ff2_b, n, inter, H);
  add_layer_norm (ws->x, ws->x1, w->ln2_g, w->ln2_b, n, H, c->layer_norm_eps);
}

static gboolean
check_request (const AsModel          *model,
               const AsForwardRequest *req,
               GError                **error)
{
  const AsConfig *c = model->config;
  if (req->n < 1 || req->n > c->max_positions)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "%d tokens requested; this model takes 1 to %d", req->n, c->max_positions);
      return FALSE;
    }
  for (int i = 0; i < req->n; i++)
    if (req->ids[i] < 0 || req->ids[i] >= c->vocab_size ||
        req->type_ids[i] < 0 || req->type_ids[i] >= c->type_vocab_size)
      {
        g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                     "token %d: id %d / type %d out of range (vocab %d, types %d)",
                     i, req->ids[i], req->type_ids[i], c->vocab_size, c->type_vocab_size);
        return FALSE;
      }
  return TRUE;
}

static gboolean
cancelled (const AsForwardRequest *req,
           GError                **error)
{
  if (req->cancel == NULL || g_atomic_int_get (req->cancel) == 0)
    return FALSE;
  g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED, "cancelled");
  return TRUE;
}

/* Runs layers 0..last. With QKV_ONLY, the last layer stops after its Q/K/V
 * projections (for layer_qkv); otherwise every layer reports to on_layer. */
static gboolean
run_layers (CpuBackend             *self,
            const AsForwardRequest *req,
            int                     last,
            gboolean                qkv_only,
            GError                **error)
{
  const AsModel *model = self->parent.model;
  const AsConfig *c = model->config;
  CpuWorkspace *ws = &self->ws;
  const int n = req->n;

  if (!check_request (model, req, error))
    return FALSE;
  workspace_reserve (ws, c, n);
  embed (model, req, ws->x);

  for (int l = 0; l <= last; l++)
    {
      if (cancelled (req, error))
        return FALSE;
      const AsLayerWeights *w = &model->layers[l];
      project_qkv (c, &self->fused[l], ws, n);
      if (qkv_only && l == last)
        return TRUE;
      attention_heads (c, ws, n, req->causal_mask);
      output_and_ffn (c, w, ws, n);
      if (req->on_layer != NULL &&
          !req->on_layer (l, ws->probs, req->want_hidden ? ws->x : NULL, req->user_data))
        {
          g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED, "stopped by the caller");
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
cpu_forward (AsBackend              *backend,
             const AsForwardRequest *req,
             float                  *final_hidden,
             GError                **error)
{
  CpuBackend *self = (CpuBackend *) backend;
  const AsConfig *c = backend->model->config;
  if (!run_layers (self, req, c->n_layers - 1, FALSE, error))
    return FALSE;
  if (final_hidden != NULL)
    memcpy (final_hidden, self->ws.x, sizeof (float) * req->n * c->hidden);
  return TRUE;
}

static gboolean
cpu_layer_qkv (AsBackend              *backend,
               const AsForwardRequest *req,
               int                     layer,
               float                  *q,
               float                  *k,
               float                  *v,
               GError                **error)
{
  CpuBackend *self = (CpuBackend *) backend;
  const AsConfig *c = backend->model->config;
  if (layer < 0 || layer >= c->n_layers)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "layer %d out of range (model has %d)", layer, c->n_layers);
      return FALSE;
    }
  AsForwardRequest quiet = *req;
  quiet.on_layer = NULL;
  if (!run_layers (self, &quiet, layer, TRUE, error))
    return FALSE;
  const int H = c->hidden;
  for (int i = 0; i < req->n; i++)
    {
      const float *row = self->ws.qkv + (gsize) i * 3 * H;
      memcpy (q + (gsize) i * H, row, sizeof (float) * H);
      memcpy (k + (gsize) i * H, row + H, sizeof (float) * H);
      memcpy (v + (gsize) i * H, row + 2 * H, sizeof (float) * H);
    }
  return TRUE;
}

static char *
cpu_describe (AsBackend *backend)
{
  return g_strdup_printf ("CPU (OpenBLAS %s, %d threads)",
                          openblas_get_corename (), openblas_get_num_threads ());
}

static void
cpu_free (AsBackend *backend)
{
  CpuBackend *self = (CpuBackend *) backend;
  workspace_clear (&self->ws);
  for (int l = 0; l < backend->model->config->n_layers; l++)
    {
      g_free (self->fused[l].qkv_w);
      g_free (self->fused[l].qkv_b);
    }
  g_free (self->fused);
  g_free (self);
}

static const AsBackendVTable cpu_vtable = {
  .name = "cpu",
  .forward = cpu_forward,
  .layer_qkv = cpu_layer_qkv,
  .describe = cpu_describe,
  .free = cpu_free,
};

AsBackend *
as_cpu_backend_new (const AsModel *model)
{
  CpuBackend *self = g_new0 (CpuBackend, 1);
  self->parent.vtable = &cpu_vtable;
  self->parent.model = model;
  const AsConfig *c = model->config;
  const gsize H = c->hidden;
  self->fused = g_new0 (FusedLayer, c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    {
      const AsLayerWeights *w = &model->layers[l];
      FusedLayer *f = &self->fused[l];
      f->qkv_w = g_new (float, 3 * H * H);
      f->qkv_b = g_new (float, 3 * H);
      memcpy (f->qkv_w, w->q_w, sizeof (float) * H * H);
      memcpy (f->qkv_w + H * H, w->k_w, sizeof (float) * H * H);
      memcpy (f->qkv_w + 2 * H * H, w->v_w, sizeof (float) * H * H);
      memcpy (f->qkv_b, w->q_b, sizeof (float) * H);
      memcpy (f->qkv_b + H, w->k_b, sizeof (float) * H);
      memcpy (f->qkv_b + 2 * H, w->v_b, sizeof (float) * H);
    }
  return &self->parent;
}
