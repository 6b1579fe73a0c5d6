/* as-cpu-decoder.c — the fast fp32 CPU forward of a pre-norm decoder (Llama,
 * GPT-2: as-cpu-decoder.h), and its key/value cache for decoding token by
 * token.
 *
 * The same steps as the families' references (as-reference-llama.c,
 * as-reference-gpt2.c), which it is tested against (tests/test-decode.c):
 *   per layer: xn = Norm(x); Q|K|V = xn [W_q|W_k|W_v]^T (+ b), rotary
 *              positions on Q and K where the family has them;
 *              P_h = causal softmax(Q_h K_g^T / sqrt(d)) with g the K/V
 *              head of query head h; ctx_h = P_h V_g;
 *              x += ctx W_o^T (+ b); xn = Norm(x);
 *              x += act(xn W_in^T (+ b)) W_down^T (+ b), act(gate|up) =
 *              silu(gate) * up for a gated FFN, else gelu_new
 * Norm is RMSNorm (Llama) or LayerNorm (GPT-2); learned positions are
 * added to the token embeddings.
 * What is done for speed:
 *  - Every product is the packed GEMM of as-gemm.h, its panels shared
 *    between the pool's threads (as-thread-pool.h), the bias added by its
 *    epilogue. The weights are packed once: W_q|W_k|W_v as one [QKV, H]
 *    projection, W_gate|W_up as one [2F, H], W_o and W_down alone. A
 *    decoding step's products have one row: the kernel then streams each
 *    packed weight once from memory, both threads on disjoint panels.
 *  - Attention in a prompt pass, per query head: K and V of its K/V head
 *    packed, scores a block of query rows at a time (only the keys the
 *    block can see), the vectorised causal softmax (as-vector-math.h), P V.
 *  - The rotary angles of a position are computed once per pass for all
 *    heads and layers, by as_rope_head itself (see rope_angles).
 *  - SiLU and GELU's tanh form use the polynomial exp of as-vector-math.h.
 *  - The cache keeps each layer's keys transposed per K/V head, so a step's
 *    scores and context are sums over contiguous memory, in the reference's
 *    order.
 *
 * Shapes: n tokens, H hidden, NH query heads and NKV key/value heads of d
 * columns, group = NH / NKV, KV = NKV * d, QKV = H + 2 KV, F the FFN's
 * width, FW its first product's (2F gated, else F), C a cache's capacity.
 */
#include "as-cpu-decoder.h"

#include <cblas.h>
#include <string.h>

#include "as-ablation.h"
#include "as-elementwise.h"
#include "as-error.h"
#include "as-gemm.h"
#include "as-block-gemv.h"
#include "as-thread-pool.h"
#include "as-vector-math.h"

/* Query rows of one head done together in a prompt pass: their
 * probabilities stay in L2 between scores, softmax and P V. */
#define ATTN_ROWS 112

/* Rows below which an element-wise step runs on the caller's thread
 * alone: waking the pool costs more than the work. */
#define ROWS_PARALLEL_MIN 8

/* Rows per thread from which a product is split by rows rather than by
 * panels (as-cpu-pass.c found the same threshold for BERT). */
#define PRODUCT_ROWS_MIN 16

/* A layer's matrices, packed (as-cpu-decoder.h's AS_CPU_DECODER_QKV …):
 * [QKV, H], [H, H], [FW, H], [H, F]. */
typedef struct {
  AsPacked m[AS_CPU_DECODER_MATRICES];
} PackedLayer;

/* A pass's activations; they grow to the longest input seen. */
typedef struct {
  int    capacity;   /* tokens the buffers hold */
  float *x;          /* [n, H]   residual stream */
  float *xn;         /* [n, H]   the normed stream, a block's input */
  float *qkv;        /* [n, QKV] Q | K | V, Q and K rotated; head h of Q = columns h*d.. */
  float *ctx;        /* [n, H]   the heads' contexts side by side */
  float *tmp;        /* [n, H]   ctx W_o^T, then the FFN's output */
  float *gu;         /* [n, FW]  gate | up, then silu(gate) * up in the gate half;
                      * or the one product, then its gelu_new */
  float *rope;       /* [n, d]   per token: cos of each pair's angle, then sin */
  float *probs;      /* [NH, n, n]  a layer's attention when the caller keeps none */
  float *scratch;    /* [threads, scratch_len]  a block of A, K_h and V_h packed */
  gsize  scratch_len;
} Workspace;

struct AsCpuDecoder {
  AsBackend          parent;
  AsBackendVTable    vtable;      /* the parent's */
  AsCpuDecoderFamily family;
  PackedLayer       *layers;      /* [n_layers], their weights in ARENA */
  float             *arena;
  gsize              arena_bytes;
  AsThreadPool      *pool;
  int                threads;
  Workspace          ws;          /* prompt passes' */
  Workspace          step_ws;     /* one token's (capacity 1) */
};

/* Keys and values of every token so far, every layer. */
typedef struct {
  int    capacity;   /* C */
  int    len;        /* tokens in */
  float *k;          /* [n_layers, NKV, d, C]  keys, rotated, transposed per K/V head */
  float *v;          /* [n_layers, C, KV]      values */
  float *row;        /* [NH, C]  a step's attention row */
  AsForwardRequest ablation; /* only its ablate [n_ablate] (a copy): the heads the prompt
                              * ablated, which every step ablates too (as-ablation.h) */
  float *mean_sum;   /* [n_layers, NH, C]  column sums of each mean-ablated head's rows so
                      * far, unablated; NULL when no head is */
  AsBlockMatrix **blocks; /* [n_layers * AS_CPU_DECODER_MATRICES]  block matrices
                          * (as-block-gemv.h) of each layer's matrices that steps
                          * read; NULL (the whole array, or one matrix): fp32 */
  int    n_blocks;
} DecodeCache;

/* Threads for a pass: OpenBLAS's count (OPENBLAS_NUM_THREADS, or the
 * cores), as for BERT's fast path, so one setting governs both. */
static int
wanted_threads (void)
{
  return CLAMP (openblas_get_num_threads (), 1, AS_THREAD_POOL_MAX_THREADS);
}

/* FW: the width of the FFN's first product. */
static int
ffn_width (const AsCpuDecoder *self)
{
  const int F = self->parent.model->config->intermediate;
  return self->family.gated_ffn ? 2 * F : F;
}

/* --- the workspace ---------------------------------------------------------- */

static void
workspace_clear (Workspace *ws)
{
  g_free (ws->x); g_free (ws->xn); g_free (ws->qkv); g_free (ws->ctx); g_free (ws->tmp);
  g_free (ws->gu); g_free (ws->rope); g_free (ws->probs);
  g_aligned_free (ws->scratch);
  memset (ws, 0, sizeof *ws);
}

static void
workspace_reserve (Workspace      *ws,
                   const AsConfig *c,
                   int             ffn_width,
                   int             n,
                   int             threads)
{
  if (n <= ws->capacity)
    return;
  workspace_clear (ws);
  const int H = c->hidden, d = c->head_dim, KV = c->n_kv_heads * d;
  ws->x = g_new (float, (gsize) n * H);
  ws->xn = g_new (float, (gsize) n * H);
  ws->qkv = g_new (float, (gsize) n * (H + 2 * KV));
  ws->ctx = g_new (float, (gsize) n * H);
  ws->tmp = g_new (float, (gsize) n * H);
  ws->gu = g_new (float, (gsize) n * ffn_width);
  ws->rope = g_new (float, (gsize) n * d);
  ws->probs = g_new (float, (gsize) c->n_heads * n * n);
  /* rounded to 16 floats so every thread's set starts 64-byte aligned */
  ws->scratch_len = (AS_GEMM_A_SCRATCH + as_gemm_packed_floats (n, d) +
                     as_gemm_packed_floats (d, n) + 15) / 16 * 16;
  ws->scratch = as_gemm_aligned_floats (ws->scratch_len * threads);
  ws->capacity = n;
}

/* --- a pass ----------------------------------------------------------------- */

typedef struct Pass Pass;
typedef void (*RowsFunc) (Pass *s, int r0, int r1);

struct Pass {
  AsCpuDecoder              *self;
  const AsConfig            *c;
  const AsCpuDecoderFamily  *fam;
  Workspace                 *ws;
  const int                 *ids;      /* [n] */
  int                        n;        /* tokens computed in this pass */
  int                        pos0;     /* position of the first */
  int                        layer;    /* the layer being computed */
  float                     *probs;    /* [NH, n, n] layer's attention; NULL in a step */
  const AsForwardRequest    *req;      /* a prompt's request (its heads to ablate); NULL in a step */
  DecodeCache               *cache;    /* keys and values go there too; NULL: none */
  AsBlockMatrix            **blocks;   /* a step's block weights (DecodeCache); NULL: fp32 */
  const AsBlockMatrix       *block_w;  /* the block product being shared */
  AsGemm                     gemm;     /* the product being shared */
  gint                       next;     /* atomic: the next head to take */
  RowsFunc                   rows;     /* the element-wise step being shared */
};

static float *
scratch_of (Pass *s,
            int   t)
{
  return s->ws->scratch + s->ws->scratch_len * t;
}

/* Thread T's share of the product: whole register tiles' worth of panels
 * for few rows (a step's one row: each thread streams its part of the
 * weight), a block of rows, every panel, for many (each thread's C stays
 * its own). Every element is summed the same way in both. */
static void
share_product (gpointer data,
               int      t)
{
  Pass *s = data;
  const int panels = as_gemm_panels_for (s->gemm.b->n);
  if (s->gemm.m >= PRODUCT_ROWS_MIN * s->self->threads)
    {
      AsGemm g = s->gemm;
      int r0, r1;
      as_share (g.m, t, s->self->threads, &r0, &r1);
      g.a += (gsize) r0 * g.lda;
      g.c += (gsize) r0 * g.ldc;
      g.m = r1 - r0;
      as_gemm_panels (&g, 0, panels, scratch_of (s, t));
      return;
    }
  const int step = as_gemm_panel_step ();
  int p0, p1;
  as_share ((panels + step - 1) / step, t, s->self->threads, &p0, &p1);
  as_gemm_panels (&s->gemm, p0 * step, MIN (p1 * step, panels), scratch_of (s, t));
}

/* Thread T's share of a step's block product. */
static void
share_block_product (gpointer data,
                     int      t)
{
  Pass *s = data;
  as_block_gemv_share (s->block_w, s->gemm.a, s->gemm.bias, s->gemm.c, t, s->self->threads);
}

/* C [n, B->n] (leading dimension LDC) = A [n, B->k] (leading dimension
 * LDA) B + BIAS [B->n] (NULL: none), B the current layer's matrix M
 * (AS_CPU_DECODER_QKV …), shared between the threads (share_product); a
 * step with block weights reads M's block matrix instead where it has one
 * (one row: C [B->n]). */
static void
product (Pass        *s,
         const float *a,
         int          lda,
         int          m,
         const float *bias,
         float       *c,
         int          ldc)
{
  const AsPacked *b = &s->self->layers[s->layer].m[m];
  if (s->blocks != NULL &&
      (s->block_w = s->blocks[s->layer * AS_CPU_DECODER_MATRICES + m]) != NULL)
    {
      s->gemm = (AsGemm) { .a = a, .c = c, .bias = bias };
      as_thread_pool_run (s->self->pool, s->self->threads, share_block_product, s);
      return;
    }
  s->gemm = (AsGemm) { .a = a, .lda = lda, .m = s->n, .b = b, .c = c, .ldc = ldc,
                       .epi = bias != NULL ? AS_GEMM_BIAS : AS_GEMM_PLAIN, .bias = bias };
  as_thread_pool_run (s->self->pool, s->self->threads, share_product, s);
}

static void
share_rows (gpointer data,
            int      t)
{
  Pass *s = data;
  int r0, r1;
  as_share (s->n, t, s->self->threads, &r0, &r1);
  s->rows (s, r0, r1);
}

/* FN on every token's row, split between the threads when there are
 * enough rows to be worth it. */
static void
rows (Pass     *s,
      RowsFunc  fn)
{
  if (s->n < ROWS_PARALLEL_MIN || s->self->threads == 1)
    {
      fn (s, 0, s->n);
      return;
    }
  s->rows = fn;
  as_thread_pool_run (s->self->pool, s->self->threads, share_rows, s);
}

/* --- the element-wise steps (rows [r0, r1)) ---------------------------------- */

/* The cosines and sines of position POS's rotary angles, CS [d] (cos of
 * pair j at j, its sin at d/2 + j), as as_rope_head computes them: it
 * turns (1, 0) of every pair into exactly (cos, sin). */
static void
rope_angles (float *cs,
             int    d,
             int    pos,
             float  theta)
{
  for (int j = 0; j < d; j++)
    cs[j] = j < d / 2 ? 1.0f : 0.0f;
  as_rope_head (cs, d, pos, theta);
}

/* One head's x [d] turned by the angles CS [d] (rope_angles), with
 * as_rope_head's arithmetic. */
static void
rope_turn (float       *x,
           const float *cs,
           int          d)
{
  const int half = d / 2;
  for (int j = 0; j < half; j++)
    {
      const float c = cs[j], s = cs[half + j];
      const float x1 = x[j], x2 = x[j + half];
      x[j] = x1 * c - x2 * s;
      x[j + half] = x2 * c + x1 * s;
    }
}

/* x[i] = the embedding of token i (plus its position's, if learned); for
 * rotary positions, the angles of its position, for every layer. */
static void
embed_rows (Pass *s,
            int   r0,
            int   r1)
{
  const AsCpuDecoderFamily *f = s->fam;
  const int H = s->c->hidden, d = s->c->head_dim;
  for (int i = r0; i < r1; i++)
    {
      float *x = s->ws->x + (gsize) i * H;                          /* [H] */
      const float *tok = f->tok_emb + (gsize) s->ids[i] * H;       /* [H] */
      if (f->rotary)
        {
          memcpy (x, tok, sizeof (float) * H);
          rope_angles (s->ws->rope + (gsize) i * d, d, s->pos0 + i, s->c->rope_theta);
          continue;
        }
      const float *pos = f->pos_emb + (gsize) (s->pos0 + i) * H;   /* [H] */
      for (int j = 0; j < H; j++)
        x[j] = tok[j] + pos[j];
    }
}

/* out [H] = the family's norm of in [H]: LayerNorm with a bias B, else
 * RMSNorm. */
static void
norm_row (const AsConfig *c,
          float          *out,
          const float    *in,
          const float    *g,
          const float    *b)
{
  if (b != NULL)
    as_layer_norm_row (out, in, g, b, c->hidden, c->layer_norm_eps);
  else
    as_rms_norm_row (out, in, g, c->hidden, c->layer_norm_eps);
}

static void
attn_norm_rows (Pass *s,
                int   r0,
                int   r1)
{
  const int H = s->c->hidden;
  const AsCpuDecoderLayer *l = &s->fam->layers[s->layer];
  for (int i = r0; i < r1; i++)
    norm_row (s->c, s->ws->xn + (gsize) i * H, s->ws->x + (gsize) i * H, l->attn_norm_g,
              l->attn_norm_b);
}

/* Q and K of rows [r0, r1) rotated to their positions (for rotary
 * positions); with a cache, their keys and values kept there. */
static void
position_rows (Pass *s,
               int   r0,
               int   r1)
{
  const AsConfig *c = s->c;
  const int d = c->head_dim, H = c->hidden, KV = c->n_kv_heads * d, QKV = H + 2 * KV;
  for (int i = r0; i < r1; i++)
    {
      float *row = s->ws->qkv + (gsize) i * QKV;   /* [QKV] */
      if (s->fam->rotary)
        {
          const float *cs = s->ws->rope + (gsize) i * d;   /* [d] */
          for (int h = 0; h < c->n_heads + c->n_kv_heads; h++)
            rope_turn (row + h * d, cs, d);
        }
      DecodeCache *cache = s->cache;
      if (cache == NULL)
        continue;
      const int pos = s->pos0 + i, C = cache->capacity;
      float *k_l = cache->k + (gsize) s->layer * KV * C;   /* [NKV, d, C] */
      for (int t = 0; t < KV; t++)
        k_l[(gsize) t * C + pos] = row[H + t];
      memcpy (cache->v + ((gsize) s->layer * C + pos) * KV, row + H + KV, sizeof (float) * KV);
    }
}

/* x += ctx W_o^T (in tmp); xn = Norm(x) for the FFN. */
static void
ffn_norm_rows (Pass *s,
               int   r0,
               int   r1)
{
  const int H = s->c->hidden;
  const AsCpuDecoderLayer *l = &s->fam->layers[s->layer];
  for (int i = r0; i < r1; i++)
    {
      float *x = s->ws->x + (gsize) i * H;            /* [H] */
      const float *a = s->ws->tmp + (gsize) i * H;    /* [H] */
      for (int j = 0; j < H; j++)
        x[j] = x[j] + a[j];
      norm_row (s->c, s->ws->xn + (gsize) i * H, x, l->ffn_norm_g, l->ffn_norm_b);
    }
}

/* The FFN's activation on each row of gu: gate = silu(gate) * up in the
 * gate half (gated), or gelu_new of the whole row. */
static void
activation_rows (Pass *s,
                 int   r0,
                 int   r1)
{
  const int F = s->c->intermediate;
  if (!s->fam->gated_ffn)
    {
      for (int i = r0; i < r1; i++)
        as_fast_gelu_new (s->ws->gu + (gsize) i * F, F);
      return;
    }
  for (int i = r0; i < r1; i++)
    {
      float *gate = s->ws->gu + (gsize) i * 2 * F;   /* [F] */
      const float *up = gate + F;                    /* [F] */
      as_fast_swiglu (gate, up, F);
    }
}

/* x += the FFN's output (in tmp). */
static void
residual_rows (Pass *s,
               int   r0,
               int   r1)
{
  const int H = s->c->hidden;
  for (gsize e = (gsize) r0 * H; e < (gsize) r1 * H; e++)
    s->ws->x[e] = s->ws->x[e] + s->ws->tmp[e];
}

/* --- attention --------------------------------------------------------------- */

/* ctx_h rows [i0, i0 + block) = probs[h] rows V_g. */
static void
head_context_rows (Pass           *s,
                   int             h,
                   const float    *p_rows,
                   int             i0,
                   int             block,
                   const AsPacked *v,
                   float          *apack)
{
  const int n = s->n, d = s->c->head_dim, H = s->c->hidden;
  AsGemm context = { .a = p_rows, .lda = n, .m = block, .b = v,
                     .c = s->ws->ctx + (gsize) i0 * H + h * d, .ldc = H,
                     .epi = AS_GEMM_PLAIN };
  as_gemm_panels (&context, 0, as_gemm_panels_for (d), apack);
}

/* Prompt pass, query head H: probs[h] = causal softmax(Q_h K_g^T / sqrt(d)),
 * ctx_h = probs[h] V_g, with K_g and V_g packed from this pass's qkv. */
static void
attention_head (Pass  *s,
                int    h,
                float *scratch)
{
  const AsAblateMode ablate = s->req != NULL ? as_ablation_mode_of (s->req, s->layer, h)
                                             : AS_ABLATE_NONE;
  const AsConfig *c = s->c;
  const int n = s->n, d = c->head_dim, H = c->hidden, KV = c->n_kv_heads * d;
  const int QKV = H + 2 * KV, g = h / (c->n_heads / c->n_kv_heads);
  float *apack = scratch;                                  /* [AS_GEMM_A_SCRATCH] */
  float *pack_k = scratch + AS_GEMM_A_SCRATCH;             /* [panels(n), d, 16] */
  float *pack_v = pack_k + as_gemm_packed_floats (n, d);   /* [panels(d), n, 16] */
  float *p = s->probs + (gsize) h * n * n;                 /* [n, n] */
  const float *qkv = s->ws->qkv;
  AsPacked kt, v;
  as_gemm_pack_b (&kt, pack_k, qkv + H + g * d, 1, QKV, n, d);
  as_gemm_pack_b (&v, pack_v, qkv + H + KV + g * d, QKV, 1, d, n);
  for (int i0 = 0; i0 < n; i0 += ATTN_ROWS)
    {
      const int block = MIN (ATTN_ROWS, n - i0);
      float *p_rows = p + (gsize) i0 * n;   /* [block, n] */
      AsGemm scores = { .a = qkv + (gsize) i0 * QKV + h * d, .lda = QKV, .m = block,
                        .b = &kt, .c = p_rows, .ldc = n, .epi = AS_GEMM_SCALE,
                        .scale = as_attention_scale (d) };
      /* the block sees keys 0 .. i0 + block - 1 only */
      as_gemm_panels (&scores, 0, as_gemm_panels_for (i0 + block), apack);
      as_fast_softmax_rows (p_rows, block, n, i0, TRUE);
      if (ablate == AS_ABLATE_NONE)
        head_context_rows (s, h, p_rows, i0, block, &v, apack);
    }
  /* an ablated head's whole pattern is replaced (as-ablation.h) before it
   * meets V; a mean-ablated one's column sums go on in the steps */
  if (ablate == AS_ABLATE_NONE)
    return;
  if (ablate == AS_ABLATE_MEAN && s->cache != NULL)
    as_ablation_mean_sums (p, n, n, s->cache->mean_sum + ((gsize) s->layer * c->n_heads + h)
                                                         * s->cache->capacity);
  as_ablation_replace (p, n, TRUE, ablate);
  for (int i0 = 0; i0 < n; i0 += ATTN_ROWS)
    head_context_rows (s, h, p + (gsize) i0 * n, i0, MIN (ATTN_ROWS, n - i0), &v, apack);
}

/* A step, query head H over the cache's len + 1 keys: its row of the
 * attention in cache->row, its context in ctx. Each score and context
 * element is summed in the reference's order (over d, over the keys). */
static void
attention_head_cached (Pass *s,
                       int   h)
{
  const AsConfig *c = s->c;
  DecodeCache *cache = s->cache;
  const int d = c->head_dim, KV = c->n_kv_heads * d, C = cache->capacity;
  const int g = h / (c->n_heads / c->n_kv_heads), n_ctx = cache->len + 1;
  const float *q = s->ws->qkv + h * d;                                          /* [d] */
  const float *k_g = cache->k + ((gsize) s->layer * KV + (gsize) g * d) * C;    /* [d, C] */
  const float *v_l = cache->v + (gsize) s->layer * C * KV + g * d;              /* [C, KV] */
  float *row = cache->row + (gsize) h * n_ctx;                                  /* [n_ctx] */
  for (int j = 0; j < n_ctx; j++)
    row[j] = 0.0f;
  for (int t = 0; t < d; t++)
    {
      const float qt = q[t];
      const float *k_t = k_g + (gsize) t * C;   /* [C] */
      for (int j = 0; j < n_ctx; j++)
        row[j] += qt * k_t[j];
    }
  const float scale = as_attention_scale (d);
  for (int j = 0; j < n_ctx; j++)
    row[j] *= scale;
  as_fast_softmax_rows (row, 1, n_ctx, 0, FALSE);
  const AsAblateMode ablate = as_ablation_mode_of (&cache->ablation, s->layer, h);
  if (ablate != AS_ABLATE_NONE)
    as_ablation_replace_last_row (row, n_ctx, ablate,
                                  cache->mean_sum != NULL
                                    ? cache->mean_sum + ((gsize) s->layer * c->n_heads + h) * C
                                    : NULL);
  float *ctx = s->ws->ctx + h * d;   /* [d] */
  for (int t = 0; t < d; t++)
    ctx[t] = 0.0f;
  for (int j = 0; j < n_ctx; j++)
    {
      const float pj = row[j];
      const float *v_j = v_l + (gsize) j * KV;   /* [d] */
      for (int t = 0; t < d; t++)
        ctx[t] += pj * v_j[t];
    }
}

static void
share_heads (gpointer data,
             int      t)
{
  Pass *s = data;
  for (int h; (h = g_atomic_int_add (&s->next, 1)) < s->c->n_heads; )
    attention_head (s, h, scratch_of (s, t));
}

/* A step's attention (one query over the cache: a few microseconds a
 * head) runs on the caller's thread; a prompt's is shared by heads. */
static void
attention (Pass *s)
{
  if (s->probs == NULL)
    {
      for (int h = 0; h < s->c->n_heads; h++)
        attention_head_cached (s, h);
      return;
    }
  s->next = 0;
  as_thread_pool_run (s->self->pool, s->self->threads, share_heads, s);
}

/* --- a layer ------------------------------------------------------------------ */

static void
layer_qkv (Pass *s)
{
  const PackedLayer *pl = &s->self->layers[s->layer];
  const int H = s->c->hidden;
  rows (s, attn_norm_rows);
  product (s, s->ws->xn, H, AS_CPU_DECODER_QKV, s->fam->layers[s->layer].qkv_b, s->ws->qkv,
           pl->m[AS_CPU_DECODER_QKV].n);
  if (s->fam->rotary || s->cache != NULL)
    rows (s, position_rows);
}

/* After Q, K, V: attention, then the rest of the layer into x. */
static void
layer_rest (Pass *s)
{
  const PackedLayer *pl = &s->self->layers[s->layer];
  const AsCpuDecoderLayer *l = &s->fam->layers[s->layer];
  const int H = s->c->hidden, FW = pl->m[AS_CPU_DECODER_FFN_IN].n;
  attention (s);
  product (s, s->ws->ctx, H, AS_CPU_DECODER_O, l->o_b, s->ws->tmp, H);
  rows (s, ffn_norm_rows);
  product (s, s->ws->xn, H, AS_CPU_DECODER_FFN_IN, l->ffn_in_b, s->ws->gu, FW);
  rows (s, activation_rows);
  product (s, s->ws->gu, FW, AS_CPU_DECODER_DOWN, l->down_b, s->ws->tmp, H);
  rows (s, residual_rows);
}

/* --- the prompt pass ---------------------------------------------------------- */

/* Layers 0..LAST of REQ into self->ws, each handed to the request's
 * callback; with QKV_ONLY the last stops once its Q, K, V are in ws->qkv.
 * With CACHE, every layer's keys and values are kept there. */
static gboolean
run_prompt (AsCpuDecoder            *self,
            const AsForwardRequest  *req,
            int                      last,
            gboolean                 qkv_only,
            DecodeCache             *cache,
            GError                 **error)
{
  const AsModel *model = self->parent.model;
  const AsConfig *c = model->config;
  const int n = req->n;
  workspace_reserve (&self->ws, c, ffn_width (self), n, self->threads);
  Pass s = { .self = self, .c = c, .fam = &self->family, .ws = &self->ws,
             .ids = req->ids, .n = n, .pos0 = 0, .cache = cache, .req = req };
  rows (&s, embed_rows);
  for (int l = 0; l <= last; l++)
    {
      if (!as_forward_check_cancel (req, error))
        return FALSE;
      s.layer = l;
      layer_qkv (&s);
      if (qkv_only && l == last)
        return TRUE;
      s.probs = req->attn_out != NULL
                  ? req->attn_out + (gsize) l * c->n_heads * n * n
                  : self->ws.probs;
      layer_rest (&s);
      if (!as_forward_deliver_layer (req, l, s.probs, self->ws.x, error))
        return FALSE;
    }
  return TRUE;
}

/* FINAL [count, H] = the final norm of X [count, H]. */
static void
final_norm (AsCpuDecoder *self,
            float        *final,
            const float  *x,
            int           count)
{
  const AsConfig *c = self->parent.model->config;
  for (int i = 0; i < count; i++)
    norm_row (c, final + (gsize) i * c->hidden, x + (gsize) i * c->hidden,
              self->family.out_norm_g, self->family.out_norm_b);
}

static gboolean
decoder_cpu_forward (AsBackend               *backend,
                     const AsForwardRequest  *req,
                     float                   *final_hidden,
                     GError                 **error)
{
  AsCpuDecoder *self = (AsCpuDecoder *) backend;
  const AsModel *model = backend->model;
  if (!as_backend_check_request (model, req, error))
    return FALSE;
  if (!run_prompt (self, req, model->config->n_layers - 1, FALSE, NULL, error))
    return FALSE;
  if (final_hidden != NULL)
    final_norm (self, final_hidden, self->ws.x, req->n);
  return TRUE;
}

/* K and V come back repeated to one slice per query head, [n, H] like Q,
 * as the reference gives them. */
static gboolean
decoder_cpu_layer_qkv (AsBackend               *backend,
                       const AsForwardRequest  *req,
                       int                      layer,
                       float                   *q,
                       float                   *k,
                       float                   *v,
                       GError                 **error)
{
  AsCpuDecoder *self = (AsCpuDecoder *) backend;
  const AsModel *model = backend->model;
  if (!as_backend_check_request (model, req, error))
    return FALSE;
  AsForwardRequest quiet = *req;
  quiet.on_layer = NULL;
  quiet.attn_out = NULL;
  if (!run_prompt (self, &quiet, layer, TRUE, NULL, error))
    return FALSE;
  const AsConfig *c = model->config;
  const int H = c->hidden, d = c->head_dim, KV = c->n_kv_heads * d, QKV = H + 2 * KV;
  const int group = c->n_heads / c->n_kv_heads;
  for (int i = 0; i < req->n; i++)
    {
      const float *row = self->ws.qkv + (gsize) i * QKV;   /* [QKV] */
      memcpy (q + (gsize) i * H, row, sizeof (float) * H);
      for (int h = 0; h < c->n_heads; h++)
        {
          const gsize to = (gsize) i * H + h * d;
          memcpy (k + to, row + H + (h / group) * d, sizeof (float) * d);
          memcpy (v + to, row + H + KV + (h / group) * d, sizeof (float) * d);
        }
    }
  return TRUE;
}

/* --- decoding ------------------------------------------------------------------ */

static void
decode_cache_free (DecodeCache *cache)
{
  if (cache == NULL)
    return;
  g_free (cache->k);
  g_free (cache->v);
  g_free (cache->row);
  g_free ((gpointer) cache->ablation.ablate);
  g_free (cache->mean_sum);
  for (int i = 0; i < cache->n_blocks; i++)
    as_block_matrix_free (cache->blocks[i]);
  g_free (cache->blocks);
  g_free (cache);
}

static gpointer
decoder_cpu_decode_new (AsBackend  *backend,
                        int         capacity,
                        GError    **error)
{
  const AsConfig *c = backend->model->config;
  if (capacity < 1 || capacity > c->max_positions)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "a cache of %d tokens asked for; this model takes 1 to %d",
                   capacity, c->max_positions);
      return NULL;
    }
  const gsize kv = (gsize) c->n_layers * capacity * c->n_kv_heads * c->head_dim;
  DecodeCache *cache = g_new0 (DecodeCache, 1);
  cache->capacity = capacity;
  cache->k = g_try_new (float, kv);
  cache->v = g_try_new (float, kv);
  cache->row = g_try_new (float, (gsize) c->n_heads * capacity);
  if (cache->k == NULL || cache->v == NULL || cache->row == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "a key/value cache of %d tokens (%.0f MiB) does not fit in memory",
                   capacity, 2.0 * kv * sizeof (float) / (1 << 20));
      decode_cache_free (cache);
      return NULL;
    }
  return cache;
}

static void
decoder_cpu_decode_free (AsBackend *backend,
                         gpointer   cache)
{
  decode_cache_free (cache);
}

/* The heads REQ ablates, for the steps to ablate too; room for the column
 * sums of those it replaces by their mean. */
static gboolean
keep_ablation (DecodeCache            *cache,
               const AsConfig         *c,
               const AsForwardRequest *req,
               GError                **error)
{
  /* a prompt stopped before may have left its own */
  g_clear_pointer ((gpointer *) &cache->ablation.ablate, g_free);
  g_clear_pointer (&cache->mean_sum, g_free);
  cache->ablation.n_ablate = 0;
  if (req->n_ablate == 0)
    return TRUE;
  cache->ablation.ablate = g_memdup2 (req->ablate, sizeof (AsHeadAblation) * req->n_ablate);
  cache->ablation.n_ablate = req->n_ablate;
  gboolean mean = FALSE;
  for (int i = 0; i < req->n_ablate; i++)
    mean |= req->ablate[i].mode == AS_ABLATE_MEAN;
  if (!mean)
    return TRUE;
  const gsize count = (gsize) c->n_layers * c->n_heads * cache->capacity;
  if ((cache->mean_sum = g_try_new0 (float, count)) == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "the running means of the ablated heads (%.0f MiB) do not fit in memory",
                   (double) count * sizeof (float) / (1 << 20));
      return FALSE;
    }
  return TRUE;
}

/* The prompt's forward, keeping every layer's keys and values; the last
 * token's final hidden state [H] into FINAL_HIDDEN. */
static gboolean
decoder_cpu_decode_prompt (AsBackend               *backend,
                           gpointer                 cache_p,
                           const AsForwardRequest  *req,
                           float                   *final_hidden,
                           GError                 **error)
{
  AsCpuDecoder *self = (AsCpuDecoder *) backend;
  DecodeCache *cache = cache_p;
  const AsModel *model = backend->model;
  if (!as_backend_check_request (model, req, error))
    return FALSE;
  if (cache->len != 0 || req->n > cache->capacity)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "a prompt of %d tokens into a cache holding %d of %d: a prompt goes "
                   "first, and must fit", req->n, cache->len, cache->capacity);
      return FALSE;
    }
  if (!keep_ablation (cache, model->config, req, error))
    return FALSE;
  if (!run_prompt (self, req, model->config->n_layers - 1, FALSE, cache, error))
    return FALSE;
  cache->len = req->n;
  final_norm (self, final_hidden, self->ws.x + (gsize) (req->n - 1) * model->config->hidden, 1);
  return TRUE;
}

/* TOKEN at position cache->len through every layer (one-row products),
 * its attention row in each layer to ON_ROW. The cache's length grows only
 * once the whole step is done. */
static gboolean
decoder_cpu_decode_step (AsBackend   *backend,
                         gpointer     cache_p,
                         int          token,
                         AsRowFunc    on_row,
                         gpointer     user_data,
                         const gint  *cancel,
                         float       *final_hidden,
                         GError     **error)
{
  AsCpuDecoder *self = (AsCpuDecoder *) backend;
  DecodeCache *cache = cache_p;
  const AsModel *model = backend->model;
  const AsConfig *c = model->config;
  if (cache->len == 0 || cache->len >= cache->capacity)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "cannot append a token to a cache holding %d of %d: %s", cache->len,
                   cache->capacity, cache->len == 0 ? "no prompt yet" : "it is full");
      return FALSE;
    }
  if (token < 0 || token >= c->vocab_size)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "token id %d out of range (vocab %d)", token, c->vocab_size);
      return FALSE;
    }
  workspace_reserve (&self->step_ws, c, ffn_width (self), 1, self->threads);
  const AsForwardRequest flag = { .cancel = cancel };
  const int n_ctx = cache->len + 1;
  Pass s = { .self = self, .c = c, .fam = &self->family, .ws = &self->step_ws,
             .ids = &token, .n = 1, .pos0 = cache->len, .cache = cache, .blocks = cache->blocks };
  embed_rows (&s, 0, 1);
  for (int l = 0; l < c->n_layers; l++)
    {
      if (!as_forward_check_cancel (&flag, error))
        return FALSE;
      s.layer = l;
      layer_qkv (&s);
      layer_rest (&s);
      if (on_row != NULL && !on_row (l, cache->row, n_ctx, user_data))
        {
          g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED,
                               "stopped by the caller");
          return FALSE;
        }
    }
  cache->len = n_ctx;
  final_norm (self, final_hidden, s.ws->x, 1);
  return TRUE;
}

/* --- the backend ---------------------------------------------------------------- */

/* The cache's steps read block matrices of the layers' weights
 * (as-block-gemv.h), as the family reads them. */
static gboolean
decoder_cpu_decode_blocks (AsBackend        *backend,
                           gpointer          cache_p,
                           AsDecodeWeights   weights,
                           gsize            *step_bytes,
                           AsBlockMatrix   **lm_head,
                           GError          **error)
{
  AsCpuDecoder *self = (AsCpuDecoder *) backend;
  DecodeCache *cache = cache_p;
  const AsConfig *c = backend->model->config;
  g_return_val_if_fail (cache->blocks == NULL && weights != AS_DECODE_WEIGHTS_FP32, FALSE);
  cache->n_blocks = c->n_layers * AS_CPU_DECODER_MATRICES;
  cache->blocks = g_new0 (AsBlockMatrix *, cache->n_blocks);
  *lm_head = NULL;
  if (!self->family.read_blocks (backend->model, weights, cache->blocks, lm_head, error))
    return FALSE;
  *step_bytes = 0;
  for (int l = 0; l < c->n_layers; l++)
    for (int m = 0; m < AS_CPU_DECODER_MATRICES; m++)
      {
        const AsBlockMatrix *b = cache->blocks[l * AS_CPU_DECODER_MATRICES + m];
        const AsPacked *p = &self->layers[l].m[m];
        *step_bytes += b != NULL ? as_block_matrix_bytes (b) : (gsize) p->n * p->k * sizeof (float);
      }
  return TRUE;
}

static char *
decoder_cpu_describe (AsBackend *backend)
{
  AsCpuDecoder *self = (AsCpuDecoder *) backend;
  g_autofree char *kernel = as_gemm_kernel_describe ();
  return g_strdup_printf ("CPU (%s: packed fp32 GEMM, %s kernels, %d thread%s, "
                          "key/value cache)", self->family.name, kernel, self->threads,
                          self->threads == 1 ? "" : "s");
}

static void
decoder_cpu_free (AsBackend *backend)
{
  AsCpuDecoder *self = (AsCpuDecoder *) backend;
  as_thread_pool_free (self->pool);
  workspace_clear (&self->ws);
  workspace_clear (&self->step_ws);
  as_gemm_arena_free (self->arena, self->arena_bytes);
  g_free (self->layers);
  g_free (self->family.layers);
  g_free (self);
}

static const AsBackendVTable decoder_cpu_vtable = {
  .name = "cpu",
  .forward = decoder_cpu_forward,
  .layer_qkv = decoder_cpu_layer_qkv,
  .decode_new = decoder_cpu_decode_new,
  .decode_prompt = decoder_cpu_decode_prompt,
  .decode_step = decoder_cpu_decode_step,
  .decode_free = decoder_cpu_decode_free,
  .decode_blocks = decoder_cpu_decode_blocks,
  .describe = decoder_cpu_describe,
  .free = decoder_cpu_free,
};

/* --- packing the weights ---------------------------------------------------------- */

typedef struct {
  AsCpuDecoder        *self;
  PackedLayer         *layer;
  const AsGemmStacked *from;   /* [AS_CPU_DECODER_MATRICES] */
} PackJob;

/* Thread T's share of the panels of each of a layer's matrices. */
static void
pack_share (gpointer data,
            int      t)
{
  PackJob *job = data;
  for (int m = 0; m < AS_CPU_DECODER_MATRICES; m++)
    {
      AsPacked *dst = &job->layer->m[m];
      int p0, p1;
      as_share (as_gemm_panels_for (dst->n), t, job->self->threads, &p0, &p1);
      as_gemm_pack_stacked (dst, &job->from[m], p0, p1);
    }
}

void
as_cpu_decoder_pack_layer (AsCpuDecoder        *self,
                           int                  layer,
                           const AsGemmStacked *from)
{
  g_return_if_fail (layer >= 0 && layer < self->parent.model->config->n_layers);
  for (int m = 0; m < AS_CPU_DECODER_MATRICES; m++)
    g_return_if_fail (from[m].n_parts * from[m].rows == self->layers[layer].m[m].n &&
                      from[m].k == self->layers[layer].m[m].k);
  PackJob job = { self, &self->layers[layer], from };
  as_thread_pool_run (self->pool, self->threads, pack_share, &job);
}

void
as_cpu_decoder_pack_in_out (AsCpuDecoder *self,
                            int           layer,
                            int           m,
                            const float  *w)
{
  g_return_if_fail (layer >= 0 && layer < self->parent.model->config->n_layers);
  g_return_if_fail (m >= 0 && m < AS_CPU_DECODER_MATRICES);
  AsPacked *dst = &self->layers[layer].m[m];
  /* element (in kk, out j) of W [k, n] is at kk * n + j */
  as_gemm_pack_b (dst, dst->data, w, dst->n, 1, dst->n, dst->k);
}

/* Room for every layer's packed matrices in one arena. */
static void
reserve_arena (AsCpuDecoder *self)
{
  const AsConfig *c = self->parent.model->config;
  const int H = c->hidden, F = c->intermediate, KV = c->n_kv_heads * c->head_dim;
  const int shape[AS_CPU_DECODER_MATRICES][2] = {
    { H + 2 * KV, H }, { H, H }, { ffn_width (self), H }, { H, F },
  };
  gsize total = 0;
  for (int l = 0; l < c->n_layers; l++)
    for (int m = 0; m < AS_CPU_DECODER_MATRICES; m++)
      {
        AsPacked *dst = &self->layers[l].m[m];
        dst->n = shape[m][0];
        dst->k = shape[m][1];
        /* 16 floats apart, so every matrix starts 64-byte aligned */
        total += (as_gemm_packed_floats (dst->n, dst->k) + 15) / 16 * 16;
      }
  self->arena = as_gemm_arena_new (total, &self->arena_bytes);
  gsize at = 0;
  for (int l = 0; l < c->n_layers; l++)
    for (int m = 0; m < AS_CPU_DECODER_MATRICES; m++)
      {
        AsPacked *dst = &self->layers[l].m[m];
        dst->data = self->arena + at;
        at += (as_gemm_packed_floats (dst->n, dst->k) + 15) / 16 * 16;
      }
}

AsCpuDecoder *
as_cpu_decoder_new (const AsModel            *model,
                    const AsCpuDecoderFamily *family)
{
  AsCpuDecoder *self = g_new0 (AsCpuDecoder, 1);
  /* a family that reads no blocks: its steps read fp32 weights */
  self->vtable = decoder_cpu_vtable;
  if (family->read_blocks == NULL)
    self->vtable.decode_blocks = NULL;
  self->parent.vtable = &self->vtable;
  self->parent.model = model;
  self->family = *family;
  self->pool = as_thread_pool_new ();
  self->threads = as_thread_pool_reserve (self->pool, wanted_threads ());
  self->layers = g_new0 (PackedLayer, model->config->n_layers);
  reserve_arena (self);
  return self;
}

AsBackend *
as_cpu_decoder_backend (AsCpuDecoder *self)
{
  return &self->parent;
}
