/* as-cpu-encoder.c — the fast fp32 CPU encoder: the layer's steps, split
 * between threads.
 *
 * Mirrors Hugging Face's BertModel in eager mode:
 *   x = LayerNorm(word[id] + pos[i] + type[t])
 *   per layer: Q,K,V = x W^T + b; P_h = softmax(Q_h K_h^T / sqrt(d) + mask);
 *              ctx_h = P_h V_h; x1 = LayerNorm(ctx W_o^T + b_o + x);
 *              x = LayerNorm(gelu(x1 W_1^T + b_1) W_2^T + b_2 + x1)
 * and is checked against the plain reference forward (as-reference.c).
 *
 * Everything is fp32, as in PyTorch; what is done for speed:
 *  - Every product is the packed GEMM of as-gemm.c. The weights are packed
 *    once when the backend is built (W_q, W_k, W_v stacked into one [3H, H]
 *    QKV projection); K_h and V_h are packed per head (n x d, cheap). The
 *    GEMM applies bias, the 1/sqrt(d) scale and GELU in its epilogue; bias +
 *    residual + LayerNorm follow while the data is in cache.
 *  - softmax, GELU and LayerNorm use the vectorised maths of
 *    as-vector-math.h (polynomial exp and erf).
 *  - Threads: a pool of our own (as-thread-pool.c; as many threads as
 *    OpenBLAS would use: OPENBLAS_NUM_THREADS or the cores) runs the whole
 *    pass; each GEMM is split by output panels, heads are split across
 *    threads, LayerNorm by rows. Every output element is summed the same way
 *    whatever the thread count.
 *  - Buffers live in a workspace that grows to the longest input seen, so a
 *    pass allocates nothing once warm.
 */
#include "as-backend.h"

#include <cblas.h>
#include <string.h>

#include "as-elementwise.h"
#include "as-error.h"
#include "as-gemm.h"
#include "as-thread-pool.h"
#include "as-vector-math.h"

typedef struct {
  AsPacked qkv;      /* from W_q, W_k, W_v stacked: [3H, H] -> n = 3H, k = H */
  float   *qkv_b;    /* [3H] their biases (owned) */
  AsPacked o;        /* n = H, k = H */
  AsPacked ff1;      /* n = I, k = H */
  AsPacked ff2;      /* n = H, k = I */
} PackedLayer;

typedef struct {
  int    capacity;   /* tokens the buffers hold */
  int    threads;    /* scratch sets held */
  float *x;          /* [n, H]  layer input / output (residual stream) */
  float *x1;         /* [n, H]  after the attention block */
  float *qkv;        /* [n, 3H] Q | K | V; head h of Q = columns h*d .. h*d+d */
  float *ctx;        /* [n, H]  concatenated head contexts */
  float *ff;         /* [n, I]  FFN hidden activations */
  float *probs;      /* [heads, n, n]  attention probabilities of one layer */
  float *pack;       /* [threads, pack_len]  per thread: a block of A, then
                      * K_h and V_h of one head, packed */
  gsize  pack_len;   /* floats per thread: A block + packed K_h [d, n] + packed V_h [n, d] */
} CpuWorkspace;

typedef struct {
  AsBackend     parent;
  PackedLayer  *layers;  /* [n_layers] */
  CpuWorkspace  ws;
  AsThreadPool *pool;
} CpuBackend;

/* What one pass shares between its threads. */
typedef struct {
  CpuBackend             *self;
  const AsForwardRequest *req;
  int                     last;      /* last layer to run */
  gboolean                qkv_only;  /* stop the last layer after Q, K, V */
  int                     n_threads;
  gboolean                stop;      /* set by thread 0 only, read after a barrier */
  GError                 *error;     /* set by thread 0 only */
} PassState;

static void
workspace_clear (CpuWorkspace *ws)
{
  g_free (ws->x); g_free (ws->x1); g_free (ws->qkv); g_free (ws->ctx);
  g_free (ws->ff); g_free (ws->probs);
  g_aligned_free (ws->pack);
  memset (ws, 0, sizeof *ws);
}

static void
workspace_reserve (CpuWorkspace   *ws,
                   const AsConfig *c,
                   int             n,
                   int             threads)
{
  if (n <= ws->capacity && threads <= ws->threads)
    return;
  n = MAX (n, ws->capacity);
  threads = MAX (threads, ws->threads);
  workspace_clear (ws);
  gsize nH = (gsize) n * c->hidden;
  ws->x = g_new (float, nH);
  ws->x1 = g_new (float, nH);
  ws->qkv = g_new (float, 3 * nH);
  ws->ctx = g_new (float, nH);
  ws->ff = g_new (float, (gsize) n * c->intermediate);
  ws->probs = g_new (float, (gsize) c->n_heads * n * n);
  /* rounded to 16 floats so every thread's set starts 64-byte aligned */
  ws->pack_len = (AS_GEMM_A_SCRATCH + as_gemm_packed_floats (n, c->head_dim) +
                  as_gemm_packed_floats (c->head_dim, n) + 15) / 16 * 16;
  ws->pack = as_gemm_aligned_floats (ws->pack_len * threads);
  ws->capacity = n;
  ws->threads = threads;
}

static void
barrier (PassState *s)
{
  as_thread_pool_barrier (s->self->pool);
}

/* Thread T's share of G: whole panels. */
static void
gemm_part (const AsGemm *g,
           float        *a_scratch,
           int           t,
           int           n_threads)
{
  int p0, p1;
  as_share (as_gemm_panels_for (g->b->n), t, n_threads, &p0, &p1);
  as_gemm_panels (g, p0, p1, a_scratch);
}

/* --- the layer, as seen by thread T of N_THREADS ----------------------------------- */

static void
embed_rows (const AsModel          *model,
            const AsForwardRequest *req,
            float                  *x,
            int                     r0,
            int                     r1)
{
  const AsConfig *c = model->config;
  const int H = c->hidden;
  for (int i = r0; i < r1; i++)
    {
      const float *w = model->word_emb + (gsize) req->ids[i] * H;
      const float *p = model->pos_emb + (gsize) i * H;
      const float *t = model->type_emb + (gsize) req->type_ids[i] * H;
      float *row = x + (gsize) i * H;
      for (int j = 0; j < H; j++)
        row[j] = (w[j] + t[j]) + p[j];   /* HF: (word + type) + position */
    }
  as_fast_layer_norm_rows (x, NULL, NULL, model->emb_ln_g, model->emb_ln_b,
                           r0, r1, H, c->layer_norm_eps);
}

/* probs[h] = softmax(Q_h K_h^T / sqrt(d)); ctx_h = probs[h] V_h, for heads
 * [h0, h1), with PACK (this thread's scratch) for A, K_h and V_h. */
static void
attention_heads (const AsConfig *c,
                 CpuWorkspace   *ws,
                 float          *pack,
                 int             n,
                 gboolean        causal,
                 int             h0,
                 int             h1)
{
  const int H = c->hidden, d = c->head_dim;
  float *apack = pack;                                          /* [AS_GEMM_A_SCRATCH] */
  float *pack_k = pack + AS_GEMM_A_SCRATCH;                     /* [panels(n), d, 16] */
  float *pack_v = pack_k + as_gemm_packed_floats (n, d);        /* [panels(d), n, 16] */
  for (int h = h0; h < h1; h++)
    {
      float *p = ws->probs + (gsize) h * n * n;      /* [n, n] */
      AsPacked kt, v;
      as_gemm_pack_b (&kt, pack_k, ws->qkv + H + h * d, 1, 3 * H, n, d);
      AsGemm scores = { .a = ws->qkv + h * d, .lda = 3 * H, .m = n, .b = &kt,
                        .c = p, .ldc = n, .epi = AS_GEMM_SCALE, .scale = as_attention_scale (d) };
      as_gemm_panels (&scores, 0, as_gemm_panels_for (n), apack);
      as_fast_softmax_rows (p, n, n, 0, causal);
      as_gemm_pack_b (&v, pack_v, ws->qkv + 2 * H + h * d, 3 * H, 1, d, n);
      AsGemm context = { .a = p, .lda = n, .m = n, .b = &v,
                         .c = ws->ctx + h * d, .ldc = H, .epi = AS_GEMM_PLAIN };
      as_gemm_panels (&context, 0, as_gemm_panels_for (d), apack);
    }
}

/* Q, K, V for the current x: this thread's panels of the fused projection. */
static void
layer_qkv_part (const PackedLayer *pl,
                CpuWorkspace      *ws,
                int                n,
                int                t,
                int                n_threads)
{
  AsGemm g = { .a = ws->x, .lda = pl->qkv.k, .m = n, .b = &pl->qkv,
               .c = ws->qkv, .ldc = pl->qkv.n, .epi = AS_GEMM_BIAS, .bias = pl->qkv_b };
  gemm_part (&g, ws->pack + ws->pack_len * t, t, n_threads);
}

/* The rest of the layer after Q, K, V; ends with a barrier. */
static void
layer_rest_part (PassState            *s,
                 const PackedLayer    *pl,
                 const AsLayerWeights *w,
                 int                   t)
{
  const AsConfig *c = s->self->parent.model->config;
  CpuWorkspace *ws = &s->self->ws;
  const AsForwardRequest *req = s->req;
  const int H = c->hidden, inter = c->intermediate, n = req->n, nt = s->n_threads;
  const float eps = c->layer_norm_eps;
  int h0, h1, r0, r1;

  float *scratch = ws->pack + ws->pack_len * t;
  as_share (c->n_heads, t, nt, &h0, &h1);
  attention_heads (c, ws, scratch, n, req->causal_mask, h0, h1);
  barrier (s);

  /* x1 = LayerNorm(ctx W_o^T + b_o + x): the bias goes with the residual */
  AsGemm out = { .a = ws->ctx, .lda = H, .m = n, .b = &pl->o, .c = ws->x1, .ldc = H,
                 .epi = AS_GEMM_PLAIN };
  gemm_part (&out, scratch, t, nt);
  barrier (s);
  as_share (n, t, nt, &r0, &r1);
  as_fast_layer_norm_rows (ws->x1, w->o_b, ws->x, w->ln1_g, w->ln1_b, r0, r1, H, eps);
  barrier (s);

  /* ff = gelu(x1 W_1^T + b_1) */
  AsGemm up = { .a = ws->x1, .lda = H, .m = n, .b = &pl->ff1, .c = ws->ff, .ldc = inter,
                .epi = AS_GEMM_BIAS_GELU, .bias = w->ff1_b };
  gemm_part (&up, scratch, t, nt);
  barrier (s);

  /* x = LayerNorm(ff W_2^T + b_2 + x1) */
  AsGemm down = { .a = ws->ff, .lda = inter, .m = n, .b = &pl->ff2, .c = ws->x, .ldc = H,
                  .epi = AS_GEMM_PLAIN };
  gemm_part (&down, scratch, t, nt);
  barrier (s);
  as_fast_layer_norm_rows (ws->x, w->ff2_b, ws->x1, w->ln2_g, w->ln2_b, r0, r1, H, eps);
  barrier (s);
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

/* The whole pass as thread T sees it. Thread 0 is the caller's thread: it
 * alone checks the cancel flag and calls on_layer; the others wait at the
 * barrier that follows. */
static void
run_pass (gpointer data,
          int      t)
{
  PassState *s = data;
  CpuBackend *self = s->self;
  const AsModel *model = self->parent.model;
  const AsForwardRequest *req = s->req;
  CpuWorkspace *ws = &self->ws;
  const int last = s->last;
  const gboolean qkv_only = s->qkv_only;
  int r0, r1;

  as_share (req->n, t, s->n_threads, &r0, &r1);
  embed_rows (model, req, ws->x, r0, r1);

  for (int l = 0; l <= last; l++)
    {
      if (t == 0 && !s->stop && cancelled (req, &s->error))
        s->stop = TRUE;
      barrier (s);
      if (s->stop)
        return;
      layer_qkv_part (&self->layers[l], ws, req->n, t, s->n_threads);
      barrier (s);
      if (qkv_only && l == last)
        return;
      layer_rest_part (s, &self->layers[l], &model->layers[l], t);
      if (t == 0 && req->on_layer != NULL &&
          !req->on_layer (l, ws->probs, req->want_hidden ? ws->x : NULL, req->user_data))
        {
          g_set_error_literal (&s->error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED,
                               "stopped by the caller");
          s->stop = TRUE;
        }
    }
  barrier (s);
}

/* Threads for a pass: OpenBLAS's count (OPENBLAS_NUM_THREADS, or the
 * cores), so one setting governs both. */
static int
wanted_threads (void)
{
  return MAX (1, openblas_get_num_threads ());
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
  if (!as_backend_check_request (model, req, error))
    return FALSE;

  PassState s = { .self = self, .req = req, .last = last, .qkv_only = qkv_only };
  s.n_threads = as_thread_pool_reserve (self->pool, wanted_threads ());
  workspace_reserve (&self->ws, model->config, req->n, s.n_threads);
  as_thread_pool_run (self->pool, s.n_threads, run_pass, &s);

  if (s.error != NULL)
    {
      g_propagate_error (error, s.error);
      return FALSE;
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
      const float *row = self->ws.qkv + (gsize) i * 3 * H;   /* [3H] */
      memcpy (q + (gsize) i * H, row, sizeof (float) * H);
      memcpy (k + (gsize) i * H, row + H, sizeof (float) * H);
      memcpy (v + (gsize) i * H, row + 2 * H, sizeof (float) * H);
    }
  return TRUE;
}

static char *
cpu_describe (AsBackend *backend)
{
  return g_strdup_printf ("CPU (packed fp32 GEMM, %s kernels, %d threads)",
                          as_gemm_kernel_name (),
                          CLAMP (wanted_threads (), 1, AS_THREAD_POOL_MAX_THREADS));
}

static void
cpu_free (AsBackend *backend)
{
  CpuBackend *self = (CpuBackend *) backend;
  as_thread_pool_free (self->pool);
  workspace_clear (&self->ws);
  for (int l = 0; l < backend->model->config->n_layers; l++)
    {
      PackedLayer *pl = &self->layers[l];
      as_packed_clear (&pl->qkv);
      as_packed_clear (&pl->o);
      as_packed_clear (&pl->ff1);
      as_packed_clear (&pl->ff2);
      g_free (pl->qkv_b);
    }
  g_free (self->layers);
  g_free (self);
}

static const AsBackendVTable cpu_vtable = {
  .name = "cpu",
  .forward = cpu_forward,
  .layer_qkv = cpu_layer_qkv,
  .describe = cpu_describe,
  .free = cpu_free,
};

/* The layer's weights in panels; W_q, W_k and W_v side by side as one
 * [3H, H] projection (one GEMM instead of three, the same sums per output). */
static void
packed_layer_init (PackedLayer          *pl,
                   const AsLayerWeights *w,
                   int                   H,
                   int                   inter)
{
  float *qkv = g_new (float, (gsize) 3 * H * H);   /* [3H, H] */
  memcpy (qkv, w->q_w, sizeof (float) * H * H);
  memcpy (qkv + (gsize) H * H, w->k_w, sizeof (float) * H * H);
  memcpy (qkv + (gsize) 2 * H * H, w->v_w, sizeof (float) * H * H);
  as_gemm_pack_weight (&pl->qkv, qkv, 3 * H, H);
  g_free (qkv);
  pl->qkv_b = g_new (float, 3 * H);
  memcpy (pl->qkv_b, w->q_b, sizeof (float) * H);
  memcpy (pl->qkv_b + H, w->k_b, sizeof (float) * H);
  memcpy (pl->qkv_b + 2 * H, w->v_b, sizeof (float) * H);
  as_gemm_pack_weight (&pl->o, w->o_w, H, H);
  as_gemm_pack_weight (&pl->ff1, w->ff1_w, inter, H);
  as_gemm_pack_weight (&pl->ff2, w->ff2_w, H, inter);
}

AsBackend *
as_cpu_backend_new (const AsModel *model)
{
  CpuBackend *self = g_new0 (CpuBackend, 1);
  self->parent.vtable = &cpu_vtable;
  self->parent.model = model;
  self->pool = as_thread_pool_new ();
  const AsConfig *c = model->config;
  self->layers = g_new0 (PackedLayer, c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    packed_layer_init (&self->layers[l], &model->layers[l], c->hidden, c->intermediate);
  return &self->parent;
}
