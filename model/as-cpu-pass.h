/* as-cpu-pass.h — one forward pass of the fast CPU encoder, shared between
 * the caller's thread and the pool's workers (as-cpu-pass.c). The backend
 * object around it, which owns the packed weights and the workspace, is
 * as-cpu-encoder.c.
 */
#pragma once

#include <glib.h>

#include "as-backend.h"
#include "as-gemm.h"
#include "as-thread-pool.h"

G_BEGIN_DECLS

typedef struct {
  AsPacked qkv;      /* from W_q, W_k, W_v stacked: [3H, H] -> n = 3H, k = H */
  float   *qkv_b;    /* [3H] their biases (owned) */
  AsPacked o;        /* n = H, k = H */
  AsPacked ff1;      /* n = I, k = H */
  AsPacked ff2;      /* n = H, k = I */
} AsCpuLayer;

/* Buffers of a pass; they grow to the longest input seen, so a warm pass
 * allocates nothing. */
typedef struct {
  int    capacity;   /* tokens the buffers hold */
  int    threads;    /* scratch sets held */
  float *x;          /* [n, H]  layer input / output (residual stream) */
  float *x1;         /* [n, H]  after the attention block */
  float *qkv;        /* [n, 3H] Q | K | V; head h of Q = columns h*d .. h*d+d */
  float *ctx;        /* [n, H]  concatenated head contexts */
  float *ff;         /* [n, I]  FFN hidden activations */
  float *probs[2];   /* [heads, n, n] each: even and odd layers' attention, so
                      * the caller reads one layer while the next is computed */
  float *pack;       /* [threads, pack_len]  per thread: a block of A, then
                      * K_h and V_h of one head, packed */
  gsize  pack_len;   /* floats per thread */
} AsCpuWorkspace;

void     as_cpu_workspace_reserve (AsCpuWorkspace   *ws,
                                   const AsConfig   *config,
                                   int               n,
                                   int               threads);
void     as_cpu_workspace_clear   (AsCpuWorkspace   *ws);

/* Runs layers 0..LAST of REQ on N_THREADS threads of POOL. With QKV_ONLY
 * the pass stops once the last layer's Q, K and V are in ws->qkv (for
 * layer_qkv); otherwise every layer goes to req->on_layer, in order, and
 * the last layer's output is left in ws->x. FALSE with ERROR when the
 * request was cancelled or the callback stopped it. */
gboolean as_cpu_pass_run          (const AsModel          *model,
                                   const AsCpuLayer       *layers,
                                   AsCpuWorkspace         *ws,
                                   AsThreadPool           *pool,
                                   int                     n_threads,
                                   const AsForwardRequest *req,
                                   int                     last,
                                   gboolean                qkv_only,
                                   GError                **error);

G_END_DECLS
