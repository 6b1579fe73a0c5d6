/* as-cpu-encoder.c — the fp32 reference encoder, CBLAS for every product.
 *
 * Mirrors Hugging Face's BertModel in eager mode (REFERENCE.md §3):
 *   x = LayerNorm(word[id] + pos[i] + type[t])
 *   per layer: Q,K,V = x W^T + b; P_h = softmax(Q_h K_h^T / sqrt(d) + mask);
 *              ctx_h = P_h V_h; x1 = LayerNorm(ctx W_o^T + b_o + x);
 *              x = LayerNorm(gelu(x1 W_1^T + b_1) W_2^T + b_2 + x1)
 *
 * Everything is fp32, as in PyTorch; what is done for speed (issue 8):
 *  - Q, K and V come from one GEMM against a [3H, H] weight the backend builds
 *    once (fused_layer_new); the other weights are used in place from the mmap.
 *  - Bias adds are fused into the pass that follows each GEMM (bias + GELU,
 *    bias + residual + LayerNorm), so each activation is touched once more.
 *  - softmax, GELU and LayerNorm are plain loops the compiler vectorises; the
 *    one x86-64-v3 (AVX2 + FMA) clone is picked at run time where available.
 *    exp and erf are evaluated with polynomials (exp_neg, erf_poly), within
 *    ~1.3 ulp of the correctly rounded value, instead of libm's scalar calls.
 *  - Threads: with OpenMP, each GEMM is split by output columns across the
 *    threads, every thread calling single-threaded OpenBLAS on its block (and
 *    applying the epilogue while the block is in cache); heads are split
 *    across threads; LayerNorm by rows. Without OpenMP, OpenBLAS's own threads
 *    run the GEMMs.
 *  - Buffers live in a workspace that grows to the longest input seen, so a
 *    pass allocates nothing once warm.
 */
#include "as-backend.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "as-error.h"

/* Hot loops get an AVX2 + FMA clone beside the baseline one (GCC, x86-64). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && \
    !defined(__SANITIZE_ADDRESS__)
#define AS_SIMD_CLONES __attribute__((target_clones ("arch=x86-64-v3", "default")))
#else
#define AS_SIMD_CLONES
#endif

/* Output columns of a GEMM handed to one thread are a multiple of this. */
#define COLUMN_ALIGN 16

typedef struct {
  int    capacity;   /* tokens the buffers hold */
  float *x;          /* [n, H]  layer input / output (residual stream) */
  float *x1;         /* [n, H]  after the attention block */
  float *qkv;        /* [n, 3H] Q | K | V; head h of Q = columns h*d .. h*d+d */
  float *ctx;        /* [n, H]  concatenated head contexts */
  float *ff;         /* [n, I]  FFN hidden activations */
  float *probs;      /* [heads, n, n]  attention probabilities of one layer */
} CpuWorkspace;

typedef struct {
  float *qkv_w;      /* [3H, H]  query, key, value weights stacked (owned) */
  float *qkv_b;      /* [3H]     their biases (owned) */
} FusedLayer;

typedef struct {
  AsBackend    parent;
  FusedLayer  *fused;  /* [n_layers] */
  CpuWorkspace ws;
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
  ws->ff = g_new (float, (gsize) n * c->intermediate);
  ws->probs = g_new (float, (gsize) c->n_heads * n * n);
  ws->capacity = n;
}

/* --- threads ----------------------------------------------------------------- */

static inline void
barrier (void)
{
#ifdef _OPENMP
#pragma omp barrier
#endif
}

/* Thread T of N_THREADS gets [*begin, *end) of COUNT items, in steps of ALIGN. */
static inline void
share (int  count,
       int  align,
       int  t,
       int  n_threads,
       int *begin,
       int *end)
{
  int chunk = (count + n_threads - 1) / n_threads;
  chunk = (chunk + align - 1) / align * align;
  *begin = MIN (count, t * chunk);
  *end = MIN (count, *begin + chunk);
}

/* --- vectorisable elementwise math --------------------------------------------- */

static inline float
float_from_bits (int32_t bits)
{
  union { int32_t i; float f; } u = { .i = bits };
  return u.f;
}

static inline int32_t
bits_from_float (float f)
{
  union { float f; int32_t i; } u = { .f = f };
  return u.i;
}

/* A where MASK is all ones, B where it is zero. (Integer selects vectorise
 * under GCC's default -ftrapping-math; float compares in a loop do not.) */
static inline float
blend (int32_t mask,
       float   a,
       float   b)
{
  return float_from_bits ((bits_from_float (a) & mask) | (bits_from_float (b) & ~mask));
}

/* exp(x) for x <= 0 (softmax after subtracting the row maximum, exp(-x^2)).
 * x = k ln2 + r with |r| <= ln2/2 (Cody–Waite split of ln2), e^r by its
 * degree-7 Taylor polynomial (truncation < 0.1 ulp), times 2^k built in the
 * exponent bits. Below -87.3 the result is 0 (true value < 1.2e-38). */
static inline float
exp_neg (float x)
{
  const float log2e = 1.44269504088896341f;
  const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  float kf = (x * log2e + 12582912.0f) - 12582912.0f;   /* round to nearest */
  float r = x - kf * ln2_hi;
  r = r - kf * ln2_lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t k = (int32_t) kf;
  k = k < -127 ? -127 : k;                               /* 2^-127 -> bits 0 = 0.0f */
  return p * float_from_bits ((k + 127) << 23);
}

/* erf(x), |error| <= 1.3 ulp (checked against double erf on a dense grid):
 *   |x| < 1:      x + x R(x^2), R a degree-6 least-squares fit of erf(x)/x - 1
 *   1 <= |x| < 3.92: 1 - exp(-x^2) Q(|x| - 2.46), Q a degree-10 fit of
 *                 erfc(x) e^(x^2)
 *   beyond:       +-1 (erfc(3.92) is below half an ulp of 1). */
static inline float
erf_poly (float x)
{
  int32_t abs_bits = bits_from_float (x) & 0x7fffffff;
  float a = float_from_bits (abs_bits);

  float s = a * a;
  float r = 7.89820988e-05f;
  r = r * s - 0.000802435388f;
  r = r * s + 0.00519005349f;
  r = r * s - 0.0268548094f;
  r = r * s + 0.112836123f;
  r = r * s - 0.376126289f;
  r = r * s + 0.128379166f;
  float near = a + a * r;

  float t = a - 2.46f;
  float q = 1.65197719e-06f;
  q = q * t - 6.91290325e-06f;
  q = q * t + 1.6914044e-05f;
  q = q * t - 5.92111573e-05f;
  q = q * t + 0.000228320045f;
  q = q * t - 0.00079097756f;
  q = q * t + 0.00261932774f;
  q = q * t - 0.00840655155f;
  q = q * t + 0.0259221811f;
  q = q * t - 0.0763816163f;
  q = q * t + 0.213820681f;
  float far = 1.0f - exp_neg (-s) * q;

  int32_t is_near = -(int32_t) (abs_bits < 0x3f800000);     /* |x| < 1 */
  int32_t is_tail = -(int32_t) (abs_bits >= 0x407ae148);    /* |x| >= 3.92 */
  float y = blend (is_near, near, blend (is_tail, 1.0f, far));
  return float_from_bits (bits_from_float (y) | (bits_from_float (x) & (int32_t) 0x80000000));
}

/* Sums of V[0..n) in 16 independent lanes (vectorises; no reassociation flag
 * needed), then the lanes and the tail in order. */
static inline float
sum_lanes (const float *v,
           int          n)
{
  float lane[16] = { 0 };
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; k++)
      lane[k] += v[j + k];
  float s = 0.0f;
  for (int k = 0; k < 16; k++)
    s += lane[k];
  for (; j < n; j++)
    s += v[j];
  return s;
}

/* Sum of (v - mean)^2, the same way. */
static inline float
sum_sq_dev_lanes (const float *v,
                  int          n,
                  float        mean)
{
  float lane[16] = { 0 };
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; k++)
      {
        float d = v[j + k] - mean;
        lane[k] += d * d;
      }
  float s = 0.0f;
  for (int k = 0; k < 16; k++)
    s += lane[k];
  for (; j < n; j++)
    {
      float d = v[j] - mean;
      s += d * d;
    }
  return s;
}

/* Floats ordered as integers: order_key(a) < order_key(b) iff a < b (no NaN).
 * The map is its own inverse. */
static inline int32_t
order_key (int32_t bits)
{
  return bits ^ ((bits >> 31) & 0x7fffffff);
}

static inline float
max_lanes (const float *v,
           int          n)
{
  int32_t lane[8];
  for (int k = 0; k < 8; k++)
    lane[k] = order_key (bits_from_float (v[0]));
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; k++)
      {
        int32_t key = order_key (bits_from_float (v[j + k]));
        lane[k] = key > lane[k] ? key : lane[k];
      }
  int32_t m = lane[0];
  for (int k = 1; k < 8; k++)
    m = lane[k] > m ? lane[k] : m;
  for (; j < n; j++)
    {
      int32_t key = order_key (bits_from_float (v[j]));
      m = key > m ? key : m;
    }
  return float_from_bits (order_key (m));
}

/* --- the passes after each GEMM ------------------------------------------------- */

/* out[rows, cols] (leading dimension LD) += b[cols]. */
AS_SIMD_CLONES static void
add_bias (float       *out,
          int          ld,
          const float *b,
          int          rows,
          int          cols)
{
  for (int i = 0; i < rows; i++)
    {
      float *row = out + (gsize) i * ld;
      for (int j = 0; j < cols; j++)
        row[j] += b[j];
    }
}

/* out = gelu(out + b), HF "gelu": the exact erf form, 0.5 x (1 + erf(x/sqrt 2)). */
AS_SIMD_CLONES static void
add_bias_gelu (float       *out,
               int          ld,
               const float *b,
               int          rows,
               int          cols)
{
  for (int i = 0; i < rows; i++)
    {
      float *row = out + (gsize) i * ld;
      for (int j = 0; j < cols; j++)
        {
          float v = row[j] + b[j];
          row[j] = 0.5f * v * (1.0f + erf_poly (v * (float) M_SQRT1_2));
        }
    }
}

/* Rows [r0, r1) of x[n, dim]: x = LayerNorm(x + b + residual) * g + beta.
 * B and RESIDUAL may be NULL. Two passes over the row (mean, then variance of
 * the deviations) as torch does, not E[x^2] - E[x]^2. */
AS_SIMD_CLONES static void
bias_residual_layer_norm (float       *x,
                          const float *b,
                          const float *residual,
                          const float *g,
                          const float *beta,
                          int          r0,
                          int          r1,
                          int          dim,
                          float        eps)
{
  for (int i = r0; i < r1; i++)
    {
      float *row = x + (gsize) i * dim;
      if (residual != NULL)
        {
          const float *res = residual + (gsize) i * dim;
          if (b != NULL)
            for (int j = 0; j < dim; j++)
              row[j] = (row[j] + b[j]) + res[j];
          else
            for (int j = 0; j < dim; j++)
              row[j] += res[j];
        }
      float mean = sum_lanes (row, dim) / dim;
      float var = sum_sq_dev_lanes (row, dim, mean) / dim;
      float inv = 1.0f / sqrtf (var + eps);
      for (int j = 0; j < dim; j++)
        row[j] = (row[j] - mean) * inv * g[j] + beta[j];
    }
}

/* Each row of p[rows, n] becomes softmax(row). With CAUSAL, row i (query
 * FIRST_ROW + i) sees keys 0..FIRST_ROW+i only; the rest are 0 (the teaching
 * demonstration; BERT itself is bidirectional). */
AS_SIMD_CLONES static void
softmax_rows (float   *p,
              int      rows,
              int      n,
              int      first_row,
              gboolean causal)
{
  for (int i = 0; i < rows; i++)
    {
      float *row = p + (gsize) i * n;
      int valid = causal ? first_row + i + 1 : n;
      float max = max_lanes (row, valid);
      for (int j = 0; j < valid; j++)
        row[j] = exp_neg (row[j] - max);
      float inv = 1.0f / sum_lanes (row, valid);
      for (int j = 0; j < valid; j++)
        row[j] *= inv;
      for (int j = valid; j < n; j++)
        row[j] = 0.0f;
    }
}

/* --- the layer, as seen by thread T of N_THREADS ----------------------------------- */

/* out[:, c0:c1] = in[n, in_dim] W[c0:c1, :]^T, W [out_dim, in_dim] row-major;
 * OUT has leading dimension LDO. */
static void
gemm_columns (float       *out,
              int          ldo,
              const float *in,
              const float *w,
              int          n,
              int          in_dim,
              int          c0,
              int          c1)
{
  if (c1 <= c0)
    return;
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans,
               n, c1 - c0, in_dim,
               1.0f, in, in_dim, w + (gsize) c0 * in_dim, in_dim,
               0.0f, out + c0, ldo);
}

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
  bias_residual_layer_norm (x, NULL, NULL, model->emb_ln_g, model->emb_ln_b,
                            r0, r1, H, c->layer_norm_eps);
}

/* probs[h] = softmax(Q_h K_h^T / sqrt(d)); ctx_h = probs[h] V_h, for heads
 * [h0, h1). */
static void
attention_heads (const AsConfig *c,
                 CpuWorkspace   *ws,
                 int             n,
                 gboolean        causal,
                 int             h0,
                 int             h1)
{
  const int H = c->hidden, d = c->head_dim;
  const float scale = 1.0f / sqrtf ((float) d);
  for (int h = h0; h < h1; h++)
    {
      float *p = ws->probs + (gsize) h * n * n;      /* [n, n] */
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans,
                   n, n, d,
                   scale, ws->qkv + h * d, 3 * H, ws->qkv + H + h * d, 3 * H,
                   0.0f, p, n);
      softmax_rows (p, n, n, 0, causal);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans,
                   n, d, n,
                   1.0f, p, n, ws->qkv + 2 * H + h * d, 3 * H,
                   0.0f, ws->ctx + h * d, H);
    }
}

/* Q, K, V for the current x: this thread's columns of the fused projection. */
static void
layer_qkv_part (const AsConfig   *c,
                const FusedLayer *f,
                CpuWorkspace     *ws,
                int               n,
                int               t,
                int               n_threads)
{
  const int H = c->hidden;
  int c0, c1;
  share (3 * H, COLUMN_ALIGN, t, n_threads, &c0, &c1);
  gemm_columns (ws->qkv, 3 * H, ws->x, f->qkv_w, n, H, c0, c1);
  if (c1 > c0)
    add_bias (ws->qkv + c0, 3 * H, f->qkv_b + c0, n, c1 - c0);
}

/* The rest of the layer after Q, K, V; ends with a barrier. */
static void
layer_rest_part (const AsConfig         *c,
                 const AsLayerWeights   *w,
                 CpuWorkspace           *ws,
                 const AsForwardRequest *req,
                 int                     t,
                 int                     n_threads)
{
  const int H = c->hidden, inter = c->intermediate, n = req->n;
  const float eps = c->layer_norm_eps;
  int h0, h1, c0, c1, r0, r1;

  share (c->n_heads, 1, t, n_threads, &h0, &h1);
  attention_heads (c, ws, n, req->causal_mask, h0, h1);
  barrier ();

  /* x1 = LayerNorm(ctx W_o^T + b_o + x) */
  share (H, COLUMN_ALIGN, t, n_threads, &c0, &c1);
  gemm_columns (ws->x1, H, ws->ctx, w->o_w, n, H, c0, c1);
  barrier ();
  share (n, 1, t, n_threads, &r0, &r1);
  bias_residual_layer_norm (ws->x1, w->o_b, ws->x, w->ln1_g, w->ln1_b, r0, r1, H, eps);
  barrier ();

  /* ff = gelu(x1 W_1^T + b_1) */
  share (inter, COLUMN_ALIGN, t, n_threads, &c0, &c1);
  gemm_columns (ws->ff, inter, ws->x1, w->ff1_w, n, H, c0, c1);
  if (c1 > c0)
    add_bias_gelu (ws->ff + c0, inter, w->ff1_b + c0, n, c1 - c0);
  barrier ();

  /* x = LayerNorm(ff W_2^T + b_2 + x1) */
  share (H, COLUMN_ALIGN, t, n_threads, &c0, &c1);
  gemm_columns (ws->x, H, ws->ff, w->ff2_w, n, inter, c0, c1);
  barrier ();
  bias_residual_layer_norm (ws->x, w->ff2_b, ws->x1, w->ln2_g, w->ln2_b, r0, r1, H, eps);
  barrier ();
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
run_pass (PassState *s,
          int        t)
{
  CpuBackend *self = s->self;
  const AsModel *model = self->parent.model;
  const AsConfig *c = model->config;
  const AsForwardRequest *req = s->req;
  CpuWorkspace *ws = &self->ws;
  int r0, r1;

  share (req->n, 1, t, s->n_threads, &r0, &r1);
  embed_rows (model, req, ws->x, r0, r1);

  for (int l = 0; l <= s->last; l++)
    {
      if (t == 0 && !s->stop && cancelled (req, &s->error))
        s->stop = TRUE;
      barrier ();
      if (s->stop)
        return;
      layer_qkv_part (c, &self->fused[l], ws, req->n, t, s->n_threads);
      barrier ();
      if (s->qkv_only && l == s->last)
        return;
      layer_rest_part (c, &model->layers[l], ws, req, t, s->n_threads);
      if (t == 0 && req->on_layer != NULL &&
          !req->on_layer (l, ws->probs, req->want_hidden ? ws->x : NULL, req->user_data))
        {
          g_set_error_literal (&s->error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED,
                               "stopped by the caller");
          s->stop = TRUE;
        }
    }
  barrier ();
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
  if (!check_request (model, req, error))
    return FALSE;
  workspace_reserve (&self->ws, model->config, req->n);

  PassState s = { .self = self, .req = req, .last = last, .qkv_only = qkv_only, .n_threads = 1 };
#ifdef _OPENMP
  /* Our threads, OpenBLAS's count: each thread calls single-threaded BLAS. */
  int blas_threads = openblas_get_num_threads ();
  s.n_threads = MAX (1, blas_threads);
  if (s.n_threads > 1)
    {
      openblas_set_num_threads (1);
#pragma omp parallel num_threads (s.n_threads)
      {
        /* The runtime may give fewer threads than asked: share by the real count. */
#pragma omp single
        s.n_threads = omp_get_num_threads ();
        run_pass (&s, omp_get_thread_num ());
      }
      openblas_set_num_threads (blas_threads);
    }
  else
#endif
    run_pass (&s, 0);

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
#ifdef _OPENMP
  const char *threading = "OpenMP threads, single-threaded BLAS calls";
#else
  const char *threading = "OpenBLAS threads";
#endif
  return g_strdup_printf ("CPU (OpenBLAS %s, %d threads; %s)",
                          openblas_get_corename (), openblas_get_num_threads (), threading);
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

/* Stacks W_q, W_k, W_v into one [3H, H] matrix (and the biases into [3H]):
 * one GEMM instead of three, with the same sums in the same order per output. */
static void
fused_layer_init (FusedLayer           *f,
                  const AsLayerWeights *w,
                  gsize                 H)
{
  f->qkv_w = g_new (float, 3 * H * H);
  f->qkv_b = g_new (float, 3 * H);
  memcpy (f->qkv_w, w->q_w, sizeof (float) * H * H);
  memcpy (f->qkv_w + H * H, w->k_w, sizeof (float) * H * H);
  memcpy (f->qkv_w + 2 * H * H, w->v_w, sizeof (float) * H * H);
  memcpy (f->qkv_b, w->q_b, sizeof (float) * H);
  memcpy (f->qkv_b + H, w->k_b, sizeof (float) * H);
  memcpy (f->qkv_b + 2 * H, w->v_b, sizeof (float) * H);
}

AsBackend *
as_cpu_backend_new (const AsModel *model)
{
  CpuBackend *self = g_new0 (CpuBackend, 1);
  self->parent.vtable = &cpu_vtable;
  self->parent.model = model;
  const AsConfig *c = model->config;
  self->fused = g_new0 (FusedLayer, c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    fused_layer_init (&self->fused[l], &model->layers[l], c->hidden);
  return &self->parent;
}
