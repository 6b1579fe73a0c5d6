/* as-cpu-pass.c — a forward pass of the fast CPU encoder: the layer's steps,
 * and how the threads share them.
 *
 * A layer is two kinds of work:
 *  - attention, per head: scores, softmax and P V, a block of query rows at
 *    a time (their probabilities stay in L2 between the three); a head
 *    needs every token's K and V;
 *  - everything else is row-local: the output projection + LayerNorm, FFN
 *    up with GELU, FFN down + LayerNorm, and the next layer's Q, K, V.
 * Heads are handed out one at a time (an atomic counter). The row-local
 * part is handed out in blocks of rows, each block going through all five
 * products while its rows are in cache ("rows mode"); with too few tokens
 * for a block per thread, each product is split by output panels instead,
 * with a barrier after it ("panel mode"). Every output element is summed
 * the same way in both modes and whatever the thread count, so results
 * never depend on either.
 *
 * Thread 0 is the caller's thread: it alone checks the cancel flag and
 * calls on_layer. It does so while the other threads go on with the next
 * phase, which writes the other of two probability buffers: copying 12 MB
 * of attention per layer at 512 tokens (page faults in fresh memory
 * included) then no longer holds up the pass. Without hidden states the
 * layer is handed over as soon as its attention is done.
 */
#include "as-cpu-pass.h"

#include <string.h>

#include "as-ablation.h"
#include "as-bert.h"
#include "as-elementwise.h"
#include "as-error.h"
#include "as-vector-math.h"

/* Query rows of one head done together: at 512 keys their probabilities
 * (224 KiB) stay in L2 between scores, softmax and P V. */
#define ATTN_ROWS 112

/* Rows in a block of the row-local phase: at most the GEMM's block of A
 * (112); with several threads small enough to give each a few blocks, so a
 * thread that was busy with the callback finds work left. Rows mode needs
 * a block of at least ROW_BLOCK_MIN per thread: below that (16 or 24 tokens
 * on two threads) the panel split was faster; from there on rows mode was
 * as fast or faster at every length measured (32 to 512), even at 32
 * tokens, where each thread reads all the weights: the two read the same
 * ones at about the same time, so the second mostly hits L3. */
#define ROW_BLOCK_MAX 112
#define ROW_BLOCK_MIN 16

typedef struct {
  const AsModel          *model;
  const AsCpuLayer       *layers;
  AsCpuWorkspace         *ws;
  AsThreadPool           *pool;
  const AsForwardRequest *req;
  int                     n_threads;
  int                     last;        /* last layer to run */
  gboolean                qkv_only;    /* stop once the last layer's Q, K, V exist */
  gboolean                rows_mode;
  int                     row_blocks;  /* blocks of the row-local phases */
  gint                   *next;        /* [2 last + 3] work counters, one per phase */
  gint                    stop;        /* atomic; set by thread 0 */
  int                     owed;        /* layer thread 0 still has to hand over, or -1 */
  GError                 *error;       /* thread 0 only */
} Pass;

/* [n_heads, n, n] of LAYER: in the caller's block when it gave one (no
 * copy afterwards), else one of two buffers, so that layer L can be handed
 * over while L + 1 is computed. */
static float *
probs_of (Pass *s,
          int   layer)
{
  const AsForwardRequest *req = s->req;
  if (req->attn_out != NULL)
    return req->attn_out + (gsize) layer * s->model->config->n_heads * req->n * req->n;
  return s->ws->probs[layer & 1];
}

static float *
scratch_of (Pass *s,
            int   t)
{
  return s->ws->pack + s->ws->pack_len * t;
}

static gboolean
stopped (Pass *s)
{
  return g_atomic_int_get (&s->stop);
}

static void
barrier (Pass *s)
{
  as_thread_pool_barrier (s->pool);
}

/* Thread 0: the layer it owes goes to the caller. */
static void
hand_over (Pass *s)
{
  const int layer = s->owed;
  const AsForwardRequest *req = s->req;
  s->owed = -1;
  if (layer < 0 || stopped (s))
    return;
  if (!as_forward_deliver_layer (req, layer, probs_of (s, layer), s->ws->x, &s->error))
    g_atomic_int_set (&s->stop, TRUE);
}

/* Thread 0, between layers. */
static void
check_cancel (Pass *s)
{
  if (!stopped (s) && !as_forward_check_cancel (s->req, &s->error))
    g_atomic_int_set (&s->stop, TRUE);
}

/* The next unit of phase PHASE's work, or -1 when there is none left (or
 * the pass was stopped). */
static int
take (Pass *s,
      int   phase,
      int   units)
{
  if (stopped (s))
    return -1;
  int u = g_atomic_int_add (&s->next[phase], 1);
  return u < units ? u : -1;
}

/* --- the products -------------------------------------------------------- */

static AsGemm
qkv_product (Pass *s,
             int   l)
{
  const AsCpuLayer *pl = &s->layers[l];
  return (AsGemm) { .a = s->ws->x, .lda = pl->qkv.k, .m = s->req->n, .b = &pl->qkv,
                    .c = s->ws->qkv, .ldc = pl->qkv.n, .epi = AS_GEMM_BIAS, .bias = pl->qkv_b };
}

/* ctx W_o^T: the bias goes with the residual into the LayerNorm */
static AsGemm
out_product (Pass *s,
             int   l)
{
  const AsCpuLayer *pl = &s->layers[l];
  return (AsGemm) { .a = s->ws->ctx, .lda = pl->o.k, .m = s->req->n, .b = &pl->o,
                    .c = s->ws->x1, .ldc = pl->o.n, .epi = AS_GEMM_PLAIN };
}

/* gelu(x1 W_1^T + b_1) */
static AsGemm
up_product (Pass *s,
            int   l)
{
  const AsCpuLayer *pl = &s->layers[l];
  return (AsGemm) { .a = s->ws->x1, .lda = pl->ff1.k, .m = s->req->n, .b = &pl->ff1,
                    .c = s->ws->ff, .ldc = pl->ff1.n, .epi = AS_GEMM_BIAS_GELU,
                    .bias = as_bert_weights (s->model)->layers[l].ff1_b };
}

/* ff W_2^T: the bias goes with the residual into the LayerNorm */
static AsGemm
down_product (Pass *s,
              int   l)
{
  const AsCpuLayer *pl = &s->layers[l];
  return (AsGemm) { .a = s->ws->ff, .lda = pl->ff2.k, .m = s->req->n, .b = &pl->ff2,
                    .c = s->ws->x, .ldc = pl->ff2.n, .epi = AS_GEMM_PLAIN };
}

/* Rows [R0, R1) of G, every panel. */
static void
product_rows (AsGemm  g,
              int     r0,
              int     r1,
              float  *scratch)
{
  g.a += (gsize) r0 * g.lda;
  g.c += (gsize) r0 * g.ldc;
  g.m = r1 - r0;
  as_gemm_panels (&g, 0, as_gemm_panels_for (g.b->n), scratch);
}

/* Thread T's share of G: whole register tiles' worth of panels. */
static void
product_share (Pass   *s,
               AsGemm  g,
               int     t)
{
  const int step = as_gemm_panel_step (), panels = as_gemm_panels_for (g.b->n);
  int p0, p1;
  as_share ((panels + step - 1) / step, t, s->n_threads, &p0, &p1);
  as_gemm_panels (&g, p0 * step, MIN (p1 * step, panels), scratch_of (s, t));
}

/* --- the steps ------------------------------------------------------------ */

/* x[r0, r1) = LayerNorm((word + type) + position), as transformers sums it;
 * word + position for a family without token types (type_emb NULL). */
static void
embed_rows (Pass *s,
            int   r0,
            int   r1)
{
  const AsModel *model = s->model;
  const AsBertWeights *bw = as_bert_weights (model);
  const AsForwardRequest *req = s->req;
  const int H = model->config->hidden;
  for (int i = r0; i < r1; i++)
    {
      const float *w = bw->word_emb + (gsize) req->ids[i] * H;   /* [H] */
      const float *p = bw->pos_emb + (gsize) i * H;              /* [H] */
      float *row = s->ws->x + (gsize) i * H;                     /* [H] */
      if (bw->type_emb != NULL)
        {
          const float *t = bw->type_emb + (gsize) req->type_ids[i] * H;   /* [H] */
          for (int j = 0; j < H; j++)
            row[j] = (w[j] + t[j]) + p[j];
        }
      else
        for (int j = 0; j < H; j++)
          row[j] = w[j] + p[j];
    }
  as_fast_layer_norm_rows (s->ws->x, NULL, NULL, bw->emb_ln_g, bw->emb_ln_b,
                           r0, r1, H, model->config->layer_norm_eps);
}

/* ctx_h rows [i0, i0 + rows) = probs[h] rows V_h. */
static void
head_context_rows (Pass           *s,
                   int             h,
                   const float    *p_rows,
                   int             i0,
                   int             rows,
                   const AsPacked *v,
                   float          *apack)
{
  const AsConfig *c = s->model->config;
  const int H = c->hidden, d = c->head_dim, n = s->req->n;
  AsGemm context = { .a = p_rows, .lda = n, .m = rows, .b = v,
                     .c = s->ws->ctx + (gsize) i0 * H + h * d, .ldc = H,
                     .epi = AS_GEMM_PLAIN };
  as_gemm_panels (&context, 0, as_gemm_panels_for (d), apack);
}

/* probs[h] = softmax(Q_h K_h^T / sqrt(d) + mask); ctx_h = probs[h] V_h.
 * An ablated head's probabilities are all computed, then replaced
 * (as-ablation.h), before any meets V. */
static void
attention_head (Pass  *s,
                int    l,
                int    h,
                float *scratch)
{
  const AsConfig *c = s->model->config;
  AsCpuWorkspace *ws = s->ws;
  const int H = c->hidden, d = c->head_dim, n = s->req->n;
  const AsAblateMode ablate = as_ablation_mode_of (s->req, l, h);
  float *apack = scratch;                                       /* [AS_GEMM_A_SCRATCH] */
  float *pack_k = scratch + AS_GEMM_A_SCRATCH;                  /* [panels(n), d, 16] */
  float *pack_v = pack_k + as_gemm_packed_floats (n, d);        /* [panels(d), n, 16] */
  float *p = probs_of (s, l) + (gsize) h * n * n;               /* [n, n] */
  AsPacked kt, v;
  as_gemm_pack_b (&kt, pack_k, ws->qkv + H + h * d, 1, 3 * H, n, d);
  as_gemm_pack_b (&v, pack_v, ws->qkv + 2 * H + h * d, 3 * H, 1, d, n);
  for (int i0 = 0; i0 < n; i0 += ATTN_ROWS)
    {
      const int rows = MIN (ATTN_ROWS, n - i0);
      float *p_rows = p + (gsize) i0 * n;   /* [rows, n] */
      AsGemm scores = { .a = ws->qkv + (gsize) i0 * 3 * H + h * d, .lda = 3 * H, .m = rows,
                        .b = &kt, .c = p_rows, .ldc = n, .epi = AS_GEMM_SCALE,
                        .scale = as_attention_scale (d) };
      as_gemm_panels (&scores, 0, as_gemm_panels_for (n), apack);
      as_fast_softmax_rows (p_rows, rows, n, i0, s->req->causal_mask);
      if (ablate == AS_ABLATE_NONE)
        head_context_rows (s, h, p_rows, i0, rows, &v, apack);
    }
  if (ablate == AS_ABLATE_NONE)
    return;
  as_ablation_replace (p, n, s->req->causal_mask, ablate);
  for (int i0 = 0; i0 < n; i0 += ATTN_ROWS)
    head_context_rows (s, h, p + (gsize) i0 * n, i0, MIN (ATTN_ROWS, n - i0), &v, apack);
}

static void
layer_norm_1 (Pass *s,
              int   l,
              int   r0,
              int   r1)
{
  const AsLayerWeights *w = &as_bert_weights (s->model)->layers[l];
  as_fast_layer_norm_rows (s->ws->x1, w->o_b, s->ws->x, w->ln1_g, w->ln1_b, r0, r1,
                           s->model->config->hidden, s->model->config->layer_norm_eps);
}

static void
layer_norm_2 (Pass *s,
              int   l,
              int   r0,
              int   r1)
{
  const AsLayerWeights *w = &as_bert_weights (s->model)->layers[l];
  as_fast_layer_norm_rows (s->ws->x, w->ff2_b, s->ws->x1, w->ln2_g, w->ln2_b, r0, r1,
                           s->model->config->hidden, s->model->config->layer_norm_eps);
}

/* Rows [R0, R1) from the heads' contexts of layer L to the next layer's
 * Q, K, V (when there is a next layer to run). */
static void
rows_after_attention (Pass  *s,
                      int    l,
                      int    r0,
                      int    r1,
                      float *scratch)
{
  product_rows (out_product (s, l), r0, r1, scratch);
  layer_norm_1 (s, l, r0, r1);
  product_rows (up_product (s, l), r0, r1, scratch);
  product_rows (down_product (s, l), r0, r1, scratch);
  layer_norm_2 (s, l, r0, r1);
  if (l < s->last)
    product_rows (qkv_product (s, l + 1), r0, r1, scratch);
}

/* --- the phases, as thread T runs them ------------------------------------- */

/* Work counters: attention of layer L, the row-local phase after it, and
 * the embedding (with layer 0's Q, K, V) after the last layer's two. */
#define HEADS_PHASE(l)    (2 * (l))
#define ROWS_PHASE(l)     (2 * (l) + 1)
#define EMBED_PHASE(last) (2 * (last) + 2)

static void
embedding_phase (Pass *s,
                 int   t)
{
  const int n = s->req->n;
  int r0, r1;
  if (s->rows_mode)
    {
      for (int b; (b = take (s, EMBED_PHASE (s->last), s->row_blocks)) >= 0; )
        {
          as_share (n, b, s->row_blocks, &r0, &r1);
          embed_rows (s, r0, r1);
          product_rows (qkv_product (s, 0), r0, r1, scratch_of (s, t));
        }
      barrier (s);
      return;
    }
  as_share (n, t, s->n_threads, &r0, &r1);
  embed_rows (s, r0, r1);
  barrier (s);
  product_share (s, qkv_product (s, 0), t);
  barrier (s);
}

static void
attention_phase (Pass *s,
                 int   l,
                 int   t)
{
  if (t == 0)
    {
      hand_over (s);
      check_cancel (s);
    }
  for (int h; (h = take (s, HEADS_PHASE (l), s->model->config->n_heads)) >= 0; )
    attention_head (s, l, h, scratch_of (s, t));
  barrier (s);
}

static void
rows_phase (Pass *s,
            int   l,
            int   t)
{
  const int n = s->req->n;
  if (t == 0)
    s->owed = l;
  /* without hidden states the layer is complete for the caller now */
  if (t == 0 && !s->req->want_hidden)
    hand_over (s);
  for (int b; (b = take (s, ROWS_PHASE (l), s->row_blocks)) >= 0; )
    {
      int r0, r1;
      as_share (n, b, s->row_blocks, &r0, &r1);
      rows_after_attention (s, l, r0, r1, scratch_of (s, t));
    }
  barrier (s);
}

static void
panels_phase (Pass *s,
              int   l,
              int   t)
{
  int r0, r1;
  as_share (s->req->n, t, s->n_threads, &r0, &r1);
  /* after a stop the phase only keeps its barriers, which every thread
   * must pass alike */
#define STEP(work) do { if (!stopped (s)) { work; } barrier (s); } while (0)
  STEP (product_share (s, out_product (s, l), t));
  STEP (layer_norm_1 (s, l, r0, r1));
  STEP (product_share (s, up_product (s, l), t));
  STEP (product_share (s, down_product (s, l), t));
  STEP (layer_norm_2 (s, l, r0, r1));
  if (l < s->last)
    STEP (product_share (s, qkv_product (s, l + 1), t));
#undef STEP
  if (t == 0)
    s->owed = l;
}

/* Every thread runs every phase and barrier, stopped or not: thread 0 may
 * raise the stop flag at any time, so no thread may leave on its own
 * reading of it (the others would wait for it at the next barrier). A
 * stopped pass only skips the work. */
static void
run_pass (gpointer data,
          int      t)
{
  Pass *s = data;
  embedding_phase (s, t);
  for (int l = 0; l <= s->last && !(s->qkv_only && l == s->last); l++)
    {
      attention_phase (s, l, t);
      if (s->rows_mode)
        rows_phase (s, l, t);
      else
        panels_phase (s, l, t);
    }
  if (t == 0 && !s->qkv_only)
    hand_over (s);
}

gboolean
as_cpu_pass_run (const AsModel          *model,
                 const AsCpuLayer       *layers,
                 AsCpuWorkspace         *ws,
                 AsThreadPool           *pool,
                 int                     n_threads,
                 const AsForwardRequest *req,
                 int                     last,
                 gboolean                qkv_only,
                 GError                **error)
{
  const int n = req->n;
  Pass s = { .model = model, .layers = layers, .ws = ws, .pool = pool, .req = req,
             .n_threads = n_threads, .last = last, .qkv_only = qkv_only, .owed = -1 };
  s.rows_mode = n_threads == 1 || n >= ROW_BLOCK_MIN * n_threads;
  int block = n_threads == 1 ? ROW_BLOCK_MAX
                             : CLAMP ((n + 4 * n_threads - 1) / (4 * n_threads),
                                      ROW_BLOCK_MIN, ROW_BLOCK_MAX);
  s.row_blocks = (n + block - 1) / block;
  s.next = g_new0 (gint, EMBED_PHASE (last) + 1);
  as_thread_pool_run (pool, n_threads, run_pass, &s);
  g_free (s.next);
  if (s.error != NULL)
    {
      g_propagate_error (error, s.error);
      return FALSE;
    }
  return TRUE;
}

/* --- the workspace ----------------------------------------------------------- */

void
as_cpu_workspace_clear (AsCpuWorkspace *ws)
{
  g_free (ws->x); g_free (ws->x1); g_free (ws->qkv); g_free (ws->ctx);
  g_free (ws->ff); g_free (ws->probs[0]); g_free (ws->probs[1]);
  g_aligned_free (ws->pack);
  memset (ws, 0, sizeof *ws);
}

void
as_cpu_workspace_reserve (AsCpuWorkspace *ws,
                          const AsConfig *c,
                          int             n,
                          int             threads)
{
  if (n <= ws->capacity && threads <= ws->threads)
    return;
  n = MAX (n, ws->capacity);
  threads = MAX (threads, ws->threads);
  as_cpu_workspace_clear (ws);
  gsize nH = (gsize) n * c->hidden;
  ws->x = g_new (float, nH);
  ws->x1 = g_new (float, nH);
  ws->qkv = g_new (float, 3 * nH);
  ws->ctx = g_new (float, nH);
  ws->ff = g_new (float, (gsize) n * c->intermediate);
  for (int i = 0; i < 2; i++)
    ws->probs[i] = g_new (float, (gsize) c->n_heads * n * n);
  /* rounded to 16 floats so every thread's set starts 64-byte aligned */
  ws->pack_len = (AS_GEMM_A_SCRATCH + as_gemm_packed_floats (n, c->head_dim) +
                  as_gemm_packed_floats (c->head_dim, n) + 15) / 16 * 16;
  ws->pack = as_gemm_aligned_floats (ws->pack_len * threads);
  ws->capacity = n;
  ws->threads = threads;
}
