/* as-cpu-encoder.c — the fast fp32 CPU encoder: the layer's steps, split
 * between threads.
 *
 * Mirrors Hugging Face's BertModel in eager mode:
 *   x = LayerNorm(word[id] + pos[i] + type[t])
 *   per layer: Q,K,V = x W^T + b; P_h = softmax(Q_h K_h^T / sqrt(d) + mask);
 *              ctx_h = P_h V_h; x1 = LayerNorm(ctx W_o^T + b_o + x);
 *              x = LayerNorm(gelu(x1 W_1^T + b_1) W_2^T + b_2 + x1)
 * (RoBERTa and DistilBERT too: their weights are BERT's struct, as-bert.h;
 * without a type table the type term is left out) and is checked against
 * the plain reference forward (as-reference.c).
 *
 * Everything is fp32, as in PyTorch; what is done for speed:
 *  - Every product is the packed GEMM of as-gemm.c, with the kernels for
 *    the CPU's widest vectors (as-kernels.h: AVX-512, AVX2 + FMA or
 *    baseline, picked once). The weights are packed when the backend is
 *    built, by all the pool's threads into one huge-page arena (W_q, W_k,
 *    W_v read in place as one [3H, H] QKV projection); K_h and V_h are
 *    packed per head (n x d, cheap). The GEMM applies bias, the 1/sqrt(d)
 *    scale and GELU in its epilogue; bias + residual + LayerNorm follow
 *    while the data is in cache.
 *  - softmax, GELU and LayerNorm use the vectorised maths of
 *    as-vector-math.h (polynomial exp and erf).
 *  - Threads: a pool of our own (as-thread-pool.c; as many threads as
 *    OpenBLAS would use: OPENBLAS_NUM_THREADS or the cores) runs the whole
 *    pass; how they share it, and how a layer is handed to the caller while
 *    the next is computed, is as-cpu-pass.c. Every output element is summed
 *    the same way whatever the thread count.
 *  - Buffers live in a workspace that grows to the longest input seen, so a
 *    pass allocates nothing once warm.
 */
#include "as-backend.h"

#include <cblas.h>
#include <string.h>

#include "as-bert.h"
#include "as-cpu-pass.h"
#include "as-error.h"
#include "as-gemm.h"
#include "as-thread-pool.h"

typedef struct {
  AsBackend       parent;
  AsCpuLayer     *layers;       /* [n_layers], their weights in ARENA */
  float          *arena;        /* every packed weight */
  gsize           arena_bytes;
  AsCpuWorkspace  ws;
  AsThreadPool   *pool;
} CpuBackend;

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
  int threads = as_thread_pool_reserve (self->pool, wanted_threads ());
  as_cpu_workspace_reserve (&self->ws, model->config, req->n, threads);
  return as_cpu_pass_run (model, self->layers, &self->ws, self->pool, threads, req, last,
                          qkv_only, error);
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
  g_autofree char *kernel = as_gemm_kernel_describe ();
  return g_strdup_printf ("CPU (packed fp32 GEMM, %s kernels, %d threads)", kernel,
                          CLAMP (wanted_threads (), 1, AS_THREAD_POOL_MAX_THREADS));
}

static void
cpu_free (AsBackend *backend)
{
  CpuBackend *self = (CpuBackend *) backend;
  as_thread_pool_free (self->pool);
  as_cpu_workspace_clear (&self->ws);
  for (int l = 0; l < backend->model->config->n_layers; l++)
    g_free (self->layers[l].qkv_b);
  as_gemm_arena_free (self->arena, self->arena_bytes);
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

/* The packed weights of every layer: where each goes in the arena, and what
 * it is packed from. */
typedef struct {
  CpuBackend    *self;
  AsGemmStacked *from;     /* [n_layers * 4]: QKV, output, FFN up, FFN down */
} PackJob;

#define MATRICES_PER_LAYER 4

static AsPacked *
packed_matrix (AsCpuLayer *pl,
               int          m)
{
  AsPacked *all[MATRICES_PER_LAYER] = { &pl->qkv, &pl->o, &pl->ff1, &pl->ff2 };
  return all[m];
}

/* Thread T's share of the panels of every matrix: each thread touches its
 * own pages first and reads its own part of the weights once. */
static void
pack_share (gpointer data,
            int      t)
{
  PackJob *job = data;
  CpuBackend *self = job->self;
  const int layers = self->parent.model->config->n_layers;
  const int nt = as_thread_pool_size (self->pool);
  for (int l = 0; l < layers; l++)
    for (int m = 0; m < MATRICES_PER_LAYER; m++)
      {
        AsPacked *dst = packed_matrix (&self->layers[l], m);
        int p0, p1;
        as_share (as_gemm_panels_for (dst->n), t, nt, &p0, &p1);
        as_gemm_pack_stacked (dst, &job->from[l * MATRICES_PER_LAYER + m], p0, p1);
      }
}

/* Lays out every layer's packed matrices in one arena and packs them with
 * the pool's threads. W_q, W_k and W_v are one [3H, H] projection (one GEMM
 * instead of three, the same sums per output). */
static void
pack_weights (CpuBackend *self)
{
  const AsModel *model = self->parent.model;
  const AsConfig *c = model->config;
  const int H = c->hidden, inter = c->intermediate, layers = c->n_layers;
  PackJob job = { self, g_new0 (AsGemmStacked, (gsize) layers * MATRICES_PER_LAYER) };
  gsize total = 0;
  for (int l = 0; l < layers; l++)
    {
      const AsLayerWeights *w = &as_bert_weights (model)->layers[l];
      AsGemmStacked *from = &job.from[l * MATRICES_PER_LAYER];
      from[0] = (AsGemmStacked) { { w->q_w, w->k_w, w->v_w }, 3, H, H };
      from[1] = (AsGemmStacked) { { w->o_w }, 1, H, H };
      from[2] = (AsGemmStacked) { { w->ff1_w }, 1, inter, H };
      from[3] = (AsGemmStacked) { { w->ff2_w }, 1, H, inter };
      for (int m = 0; m < MATRICES_PER_LAYER; m++)
        {
          AsPacked *dst = packed_matrix (&self->layers[l], m);
          dst->n = from[m].n_parts * from[m].rows;
          dst->k = from[m].k;
          /* 16 floats apart, so every matrix starts 64-byte aligned */
          total += (as_gemm_packed_floats (dst->n, dst->k) + 15) / 16 * 16;
        }
      AsCpuLayer *pl = &self->layers[l];
      pl->qkv_b = g_new (float, 3 * H);
      memcpy (pl->qkv_b, w->q_b, sizeof (float) * H);
      memcpy (pl->qkv_b + H, w->k_b, sizeof (float) * H);
      memcpy (pl->qkv_b + 2 * H, w->v_b, sizeof (float) * H);
    }
  self->arena = as_gemm_arena_new (total, &self->arena_bytes);
  gsize at = 0;
  for (int l = 0; l < layers; l++)
    for (int m = 0; m < MATRICES_PER_LAYER; m++)
      {
        AsPacked *dst = packed_matrix (&self->layers[l], m);
        dst->data = self->arena + at;
        at += (as_gemm_packed_floats (dst->n, dst->k) + 15) / 16 * 16;
      }
  int threads = as_thread_pool_reserve (self->pool, wanted_threads ());
  as_thread_pool_run (self->pool, threads, pack_share, &job);
  g_free (job.from);
}

AsBackend *
as_bert_cpu_backend_new (const AsModel *model)
{
  CpuBackend *self = g_new0 (CpuBackend, 1);
  self->parent.vtable = &cpu_vtable;
  self->parent.model = model;
  self->pool = as_thread_pool_new ();
  self->layers = g_new0 (AsCpuLayer, model->config->n_layers);
  pack_weights (self);
  return &self->parent;
}
