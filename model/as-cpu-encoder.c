/* as-cpu-encoder.c — the fp32 CPU encoder.
 *
 * Mirrors Hugging Face's BertModel in eager mode (REFERENCE.md §3):
 *   x = LayerNorm(word[id] + pos[i] + type[t])
 *   per layer: Q,K,V = x W^T + b; P_h = softmax(Q_h K_h^T / sqrt(d) + mask);
 *              ctx_h = P_h V_h; x1 = LayerNorm(ctx W_o^T + b_o + x);
 *              x = LayerNorm(gelu(x1 W_1^T + b_1) W_2^T + b_2 + x1)
 *
 * Everything is fp32, as in PyTorch; what is done for speed (issue 8):
 *  - Every product goes through one GEMM written here (gemm_panels) whose
 *    right-hand operand is "packed": cut into panels of NR = 16 output
 *    columns, each stored [K][16] so the kernel streams it. The weights are
 *    packed once when the backend is built (W_q, W_k, W_v stacked into one
 *    [3H, H] QKV projection); K_h and V_h are packed per head (n x d, cheap).
 *    OpenBLAS repacked the weight on every call (sgemm_incopy was ~9-22% of
 *    the time) and zeroed C before it (sgemm_beta); here neither happens.
 *  - The kernel keeps a 6 x 16 tile of C in registers (GCC vector types, so
 *    one source serves the AVX2 + FMA clone and the baseline one) and applies
 *    the epilogue before the tile leaves them: bias, the 1/sqrt(d) scale;
 *    GELU and bias + residual + LayerNorm follow while the data is in cache.
 *  - softmax, GELU and LayerNorm are plain loops the compiler vectorises; the
 *    x86-64-v3 (AVX2 + FMA) clone is picked at run time where available.
 *    exp and erf are evaluated with polynomials (exp_neg, erf_poly), within
 *    ~1.3 ulp of the correctly rounded value, instead of libm's scalar calls.
 *  - Threads: a pool of our own (as many as OpenBLAS would use:
 *    OPENBLAS_NUM_THREADS or the cores) runs the whole pass; each GEMM is
 *    split by output panels, heads are split across threads, LayerNorm by
 *    rows. Threads meet at barriers that spin briefly and then sleep, so the
 *    pass never waits on a scheduler round trip when both cores are free and
 *    never burns a core when they are not.
 *  - Buffers live in a workspace that grows to the longest input seen, so a
 *    pass allocates nothing once warm.
 */
#include "as-backend.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "as-error.h"

/* Hot loops get an AVX2 + FMA clone beside the baseline one (GCC, x86-64). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && \
    !defined(__SANITIZE_ADDRESS__)
#define AS_SIMD_CLONES __attribute__((target_clones ("arch=x86-64-v3", "default")))
#define AS_HAVE_CLONES 1
#else
#define AS_SIMD_CLONES
#define AS_HAVE_CLONES 0
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The GEMM's blocking (see gemm_panels). */
#define NR        16    /* columns of a packed panel and of a register tile */
#define MR        6     /* rows of a register tile: 6 x 2 accumulators + 2 + 1 = 15 ymm */
#define KC        256   /* depth of a block: a [KC][16] panel slice (16 KiB) stays in L1 */
#define MC        120   /* rows of a block of A: 120 x 256 floats (120 KiB) stay in L2 */
#define MAX_THREADS 64
/* The kernel prefetches its panel slice this many depth steps (8 KiB) ahead:
 * at a few tokens each weight is used by few tiles, and the first would
 * otherwise wait on DRAM (MiniLM's 42 MB of weights do not fit in L3). */
#define PF_DIST   128

/* 8 floats; the unaligned twin for loads and stores anywhere. */
typedef float v8sf __attribute__ ((vector_size (32)));
typedef float v8sf_u __attribute__ ((vector_size (32), aligned (4)));

/* The right operand B [k, n] of a product, packed for gemm_panels: cut into
 * depth blocks (depth_step) and panels of 16 columns (zero beyond column n).
 * Block by block, each block holding every panel as [kc][16]: a GEMM then
 * reads each block of B as one sequential stream. */
typedef struct {
  float *data;       /* [depth blocks][panels][kc][16], 64-byte aligned */
  int    k;          /* depth */
  int    n;          /* columns of the product (before padding) */
} Packed;

typedef struct {
  Packed qkv;        /* from W_q, W_k, W_v stacked: [3H, H] -> n = 3H, k = H */
  float *qkv_b;      /* [3H] their biases (owned) */
  Packed o;          /* n = H, k = H */
  Packed ff1;        /* n = I, k = H */
  Packed ff2;        /* n = H, k = I */
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
  float *pack;       /* [threads, pack_len]  per thread: a block of A [MC * KC],
                      * then K_h and V_h of one head, packed */
  gsize  pack_len;   /* floats per thread: MC*KC + 16 panels(n) d + 16 panels(d) n */
} CpuWorkspace;

struct _PassState;

/* Our threads: workers 1 .. n-1 beside the caller (thread 0). */
typedef struct {
  GMutex             lock;
  GCond              cond;
  int                sleepers;     /* threads in g_cond_wait (atomic) */
  GThread          **workers;      /* [capacity - 1] */
  int                capacity;     /* threads including the caller */
  int                size;         /* threads in the current pass */
  int                job;          /* bumped to start a pass (atomic) */
  int                arrived;      /* at the current barrier (atomic) */
  int                phase;        /* bumped when a barrier opens (atomic) */
  int                finished;     /* workers done with the pass (atomic) */
  int                done;         /* bumped when all are done (atomic) */
  gboolean           quit;
  struct _PassState *pass;
} Pool;

typedef struct {
  AsBackend    parent;
  PackedLayer *layers;  /* [n_layers] */
  CpuWorkspace ws;
  Pool         pool;
} CpuBackend;

/* What one pass shares between its threads. */
typedef struct _PassState {
  CpuBackend             *self;
  const AsForwardRequest *req;
  int                     last;      /* last layer to run */
  gboolean                qkv_only;  /* stop the last layer after Q, K, V */
  int                     n_threads;
  gboolean                stop;      /* set by thread 0 only, read after a barrier */
  GError                 *error;     /* set by thread 0 only */
} PassState;

static inline int
panels_for (int n)
{
  return (n + NR - 1) / NR;
}

/* Depth of gemm_panels' blocks for a product of depth K: equal blocks of at
 * most KC. */
static inline int
depth_step (int k)
{
  int blocks = MAX (1, (k + KC - 1) / KC);
  return (k + blocks - 1) / blocks;
}

/* Where panel P's slice of the depth block starting at K0 (KC deep) starts. */
static inline gsize
slice_offset (int k0,
              int kc,
              int p,
              int panels)
{
  return ((gsize) k0 * panels + (gsize) p * kc) * NR;
}

static float *
aligned_floats (gsize count)
{
  return g_aligned_alloc (MAX (count, 1), sizeof (float), 64);
}

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
  ws->pack_len = ((gsize) MC * KC + (gsize) panels_for (n) * NR * c->head_dim +
                  (gsize) panels_for (c->head_dim) * NR * n + 15) / 16 * 16;
  ws->pack = aligned_floats (ws->pack_len * threads);
  ws->capacity = n;
  ws->threads = threads;
}

/* --- threads ----------------------------------------------------------------- */

/* How long a thread spins on a word before it sleeps (a pause is ~65 cycles
 * on Zen 2/3, ~140 on Skylake: 5 to 15 us): long enough to cover the usual
 * imbalance between threads at a barrier, short enough that on a busy
 * machine a waiting thread soon gives its core to the one it waits for. */
#define SPIN_LIMIT 256

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

/* Returns once *WORD differs from OLD. */
static void
pool_wait (Pool      *p,
           const int *word,
           int        old)
{
  for (int spin = 0; spin < SPIN_LIMIT; spin++)
    {
      if (g_atomic_int_get (word) != old)
        return;
      cpu_relax ();
    }
  g_mutex_lock (&p->lock);
  g_atomic_int_inc (&p->sleepers);
  /* A waker bumps the word before it reads sleepers (both sequentially
   * consistent), so either it sees us here or we see its new value. */
  while (g_atomic_int_get (word) == old)
    g_cond_wait (&p->cond, &p->lock);
  g_atomic_int_add (&p->sleepers, -1);
  g_mutex_unlock (&p->lock);
}

/* Bumps *WORD and wakes whoever sleeps on it. */
static void
pool_bump (Pool *p,
           int  *word)
{
  g_atomic_int_inc (word);
  if (g_atomic_int_get (&p->sleepers) > 0)
    {
      g_mutex_lock (&p->lock);
      g_cond_broadcast (&p->cond);
      g_mutex_unlock (&p->lock);
    }
}

static void
barrier (PassState *s)
{
  Pool *p = &s->self->pool;
  if (s->n_threads == 1)
    return;
  int phase = g_atomic_int_get (&p->phase);
  if (g_atomic_int_add (&p->arrived, 1) == s->n_threads - 1)
    {
      g_atomic_int_set (&p->arrived, 0);
      pool_bump (p, &p->phase);
      return;
    }
  pool_wait (p, &p->phase, phase);
}

static void run_pass (PassState *s, int t);

typedef struct {
  Pool *pool;
  int   index;   /* 1 .. capacity-1 */
  int   job;     /* the last job started before this worker */
} WorkerStart;

static gpointer
worker_main (gpointer data)
{
  WorkerStart *start = data;
  Pool *p = start->pool;
  const int index = start->index;
  int job = start->job;
  g_free (start);

  for (;;)
    {
      pool_wait (p, &p->job, job);
      job = g_atomic_int_get (&p->job);
      if (g_atomic_int_get (&p->quit))
        return NULL;
      if (index < p->size)
        run_pass (p->pass, index);
      /* Every worker reports, the idle ones too, so the caller changes
       * pass and size for the next job only once nobody reads them. After
       * this the caller may free the pass: nothing below touches it. */
      if (g_atomic_int_add (&p->finished, 1) == p->capacity - 2)
        pool_bump (p, &p->done);
    }
}

/* Makes sure THREADS - 1 workers exist; returns how many threads can run. */
static int
pool_reserve (Pool *p,
              int   threads)
{
  threads = CLAMP (threads, 1, MAX_THREADS);
  if (threads <= p->capacity)
    return threads;
  if (p->capacity == 0)
    {
      g_mutex_init (&p->lock);
      g_cond_init (&p->cond);
      p->capacity = 1;
    }
  p->workers = g_renew (GThread *, p->workers, threads - 1);
  for (int i = p->capacity; i < threads; i++)
    {
      WorkerStart *start = g_new (WorkerStart, 1);
      *start = (WorkerStart) { p, i, g_atomic_int_get (&p->job) };
      GError *error = NULL;
      p->workers[i - 1] = g_thread_try_new ("attnscope-cpu", worker_main, start, &error);
      if (p->workers[i - 1] == NULL)
        {
          /* No more threads: run with what we have. */
          g_clear_error (&error);
          g_free (start);
          break;
        }
      p->capacity = i + 1;
    }
  return MIN (threads, p->capacity);
}

/* Runs run_pass (S, t) on threads 0 .. S->n_threads-1; returns when all
 * workers are done with it. */
static void
pool_run (Pool      *p,
          PassState *s)
{
  if (s->n_threads == 1)
    {
      run_pass (s, 0);
      return;
    }
  int done = g_atomic_int_get (&p->done);
  p->pass = s;
  p->size = s->n_threads;
  g_atomic_int_set (&p->finished, 0);
  pool_bump (p, &p->job);
  run_pass (s, 0);
  pool_wait (p, &p->done, done);
}

static void
pool_clear (Pool *p)
{
  if (p->capacity == 0)
    return;
  g_atomic_int_set (&p->quit, TRUE);
  pool_bump (p, &p->job);
  for (int i = 1; i < p->capacity; i++)
    g_thread_join (p->workers[i - 1]);
  g_free (p->workers);
  g_mutex_clear (&p->lock);
  g_cond_clear (&p->cond);
  memset (p, 0, sizeof *p);
}

/* Thread T of N_THREADS gets [*begin, *end) of COUNT items. */
static inline void
share (int  count,
       int  t,
       int  n_threads,
       int *begin,
       int *end)
{
  *begin = (int) ((gint64) count * t / n_threads);
  *end = (int) ((gint64) count * (t + 1) / n_threads);
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

/* --- the GEMM ------------------------------------------------------------------ */

typedef enum {
  EPI_NONE,          /* C = A B */
  EPI_BIAS,          /* C = A B + bias */
  EPI_BIAS_GELU,     /* C = gelu(A B + bias) */
  EPI_SCALE,         /* C = (A B) * scale */
} Epilogue;

typedef struct {
  const float  *a;        /* [m, k], leading dimension lda */
  int           lda;
  int           m;
  const Packed *b;        /* k x n, packed */
  float        *c;        /* [m, n], leading dimension ldc */
  int           ldc;
  Epilogue      epi;
  const float  *bias;     /* [n] for EPI_BIAS* */
  float         scale;    /* for EPI_SCALE */
} Gemm;

/* Packs B [k, n] into DATA ([panels(n) * 16 * k]). Element (kk, j) of B is
 * at B + kk * KSTRIDE + j * JSTRIDE: W [n, k] (an nn.Linear weight, or K_h
 * for Q K^T) has KSTRIDE 1, JSTRIDE its row length; a row-major B [k, n]
 * (V_h for P V) the other way round. */
static void
pack_b (Packed      *dst,
        float       *data,
        const float *b,
        gsize        kstride,
        gsize        jstride,
        int          n,
        int          k)
{
  const int panels = panels_for (n), step = depth_step (k);
  dst->data = data;
  dst->n = n;
  dst->k = k;
  for (int k0 = 0; k0 < k; k0 += step)
    {
      const int kc = MIN (step, k - k0);
      for (int p = 0; p < panels; p++)
        {
          float *slice = data + slice_offset (k0, kc, p, panels);   /* [kc][16] */
          const int cols = MIN (NR, n - p * NR);
          for (int j = 0; j < NR; j++)
            {
              const float *src = b + (gsize) (p * NR + j) * jstride + (gsize) k0 * kstride;
              for (int kk = 0; kk < kc; kk++)
                slice[kk * NR + j] = j < cols ? src[kk * kstride] : 0.0f;
            }
        }
    }
}

/* Unaligned 8-float access (C rows, biases); packed panels are aligned. */
#define load8(p)     (*(const v8sf_u *) (p))
#define store8(p, v) (*(v8sf_u *) (p) = (v))

/* One MR_ x 16 tile of C: the packed rows A [kc][MR] (MR_ of them used)
 * times the panel slice B [kc][16].
 * FIRST: the tile starts from 0, else from what C holds; LAST: the epilogue
 * is applied. COLS < 16 only in the last panel. */
static ALWAYS_INLINE void
tile (const int    mr_,
      const float *a,
      const float *b,
      int          kc,
      float       *c,
      int          ldc,
      int          cols,
      gboolean     first,
      gboolean     last,
      const Gemm  *g,
      int          col0)
{
  v8sf acc[MR][2];
#pragma GCC unroll 6
  for (int r = 0; r < mr_; r++)
    {
      acc[r][0] = acc[r][1] = (v8sf) { 0 };
      /* C's lines arrive while the products are summed, not after */
      __builtin_prefetch (c + (gsize) r * ldc, 1);
      __builtin_prefetch (c + (gsize) r * ldc + NR - 1, 1);
    }

  for (int k = 0; k < kc; k++)
    {
      __builtin_prefetch (b + (k + PF_DIST) * NR);
      v8sf b0 = *(const v8sf *) (b + k * NR);
      v8sf b1 = *(const v8sf *) (b + k * NR + 8);
#pragma GCC unroll 6
      for (int r = 0; r < mr_; r++)
        {
          float s = a[k * MR + r];
          acc[r][0] += s * b0;
          acc[r][1] += s * b1;
        }
    }

  float spill[MR][NR] __attribute__ ((aligned (32)));
  const gboolean full = cols == NR;
#pragma GCC unroll 6
  for (int r = 0; r < mr_; r++)
    {
      float *row = c + (gsize) r * ldc;
      if (!first)
        {
          if (full)
            {
              acc[r][0] += load8 (row);
              acc[r][1] += load8 (row + 8);
            }
          else
            {
              float old[NR] __attribute__ ((aligned (32))) = { 0 };
              memcpy (old, row, sizeof (float) * cols);
              acc[r][0] += *(const v8sf *) old;
              acc[r][1] += *(const v8sf *) (old + 8);
            }
        }
      if (last)
        {
          if (g->epi == EPI_SCALE)
            {
              acc[r][0] *= g->scale;
              acc[r][1] *= g->scale;
            }
          else if (g->epi != EPI_NONE && full)
            {
              acc[r][0] += load8 (g->bias + col0);
              acc[r][1] += load8 (g->bias + col0 + 8);
            }
          else if (g->epi != EPI_NONE)
            {
              float bias[NR] __attribute__ ((aligned (32))) = { 0 };
              memcpy (bias, g->bias + col0, sizeof (float) * cols);
              acc[r][0] += *(const v8sf *) bias;
              acc[r][1] += *(const v8sf *) (bias + 8);
            }
        }
      if (full)
        {
          store8 (row, acc[r][0]);
          store8 (row + 8, acc[r][1]);
        }
      else
        {
          *(v8sf *) spill[r] = acc[r][0];
          *(v8sf *) (spill[r] + 8) = acc[r][1];
          memcpy (row, spill[r], sizeof (float) * cols);
        }
    }

  if (last && g->epi == EPI_BIAS_GELU)
    for (int r = 0; r < mr_; r++)
      {
        float *row = c + (gsize) r * ldc;
        for (int j = 0; j < cols; j++)
          row[j] = 0.5f * row[j] * (1.0f + erf_poly (row[j] * (float) M_SQRT1_2));
      }
}

/* Rows [I0, I1) x depth [K0, K0 + KC) of A into tiles of MR rows, each
 * [kc][MR]: the kernel then reads one stream instead of MR rows far apart. */
static void
pack_a (float       *dst,
        const Gemm  *g,
        int          i0,
        int          i1,
        int          k0,
        int          kc)
{
  for (int i = i0; i < i1; i += MR)
    {
      float *t = dst + (gsize) (i - i0) * kc;   /* [kc][MR] */
      for (int r = 0; r < MIN (MR, i1 - i); r++)
        {
          const float *row = g->a + (gsize) (i + r) * g->lda + k0;
          for (int k = 0; k < kc; k++)
            t[k * MR + r] = row[k];
        }
    }
}

/* Panels [P0, P1) of G: C[:, 16 P0 .. 16 P1) = epilogue(A B), with APACK
 * ([MC * KC], 64-byte aligned) for this thread's copy of a block of A.
 * Loops, outermost first: depth blocks of at most KC, blocks of MC rows of
 * A (packed once, stays in L2 across the panels), panels (a [kc][16] slice
 * stays in L1 while every tile of the block passes it), tiles of MR rows. */
AS_SIMD_CLONES static void
gemm_panels (const Gemm *g,
             int         p0,
             int         p1,
             float      *apack)
{
  const int k = g->b->k, n = g->b->n, panels = panels_for (n), kc_step = depth_step (k);
  if (p1 <= p0 || g->m == 0)
    return;
  for (int k0 = 0; k0 < k; k0 += kc_step)
    {
      const int kc = MIN (kc_step, k - k0);
      const gboolean first = k0 == 0, last = k0 + kc == k;
      for (int i0 = 0; i0 < g->m; i0 += MC)
        {
          const int i1 = MIN (g->m, i0 + MC);
          pack_a (apack, g, i0, i1, k0, kc);
          for (int p = p0; p < p1; p++)
            {
              const float *b = g->b->data + slice_offset (k0, kc, p, panels);
              const int col0 = p * NR, cols = MIN (NR, n - col0);
              for (int i = i0; i < i1; i += MR)
                {
                  const float *a = apack + (gsize) (i - i0) * kc;
                  float *c = g->c + (gsize) i * g->ldc + col0;
                  switch (MIN (MR, i1 - i))
                    {
                    case 6: tile (6, a, b, kc, c, g->ldc, cols, first, last, g, col0); break;
                    case 5: tile (5, a, b, kc, c, g->ldc, cols, first, last, g, col0); break;
                    case 4: tile (4, a, b, kc, c, g->ldc, cols, first, last, g, col0); break;
                    case 3: tile (3, a, b, kc, c, g->ldc, cols, first, last, g, col0); break;
                    case 2: tile (2, a, b, kc, c, g->ldc, cols, first, last, g, col0); break;
                    default: tile (1, a, b, kc, c, g->ldc, cols, first, last, g, col0); break;
                    }
                }
            }
        }
    }
}

/* Thread T's share of G: whole panels. */
static void
gemm_part (const Gemm *g,
           float      *apack,
           int         t,
           int         n_threads)
{
  int p0, p1;
  share (panels_for (g->b->n), t, n_threads, &p0, &p1);
  gemm_panels (g, p0, p1, apack);
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
  bias_residual_layer_norm (x, NULL, NULL, model->emb_ln_g, model->emb_ln_b,
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
  float *apack = pack;                                     /* [MC * KC] */
  float *pack_k = pack + MC * KC;                          /* [panels(n), d, 16] */
  float *pack_v = pack_k + (gsize) panels_for (n) * NR * d;  /* [panels(d), n, 16] */
  for (int h = h0; h < h1; h++)
    {
      float *p = ws->probs + (gsize) h * n * n;      /* [n, n] */
      Packed kt, v;
      pack_b (&kt, pack_k, ws->qkv + H + h * d, 1, 3 * H, n, d);
      Gemm scores = { .a = ws->qkv + h * d, .lda = 3 * H, .m = n, .b = &kt,
                      .c = p, .ldc = n, .epi = EPI_SCALE, .scale = 1.0f / sqrtf ((float) d) };
      gemm_panels (&scores, 0, panels_for (n), apack);
      softmax_rows (p, n, n, 0, causal);
      pack_b (&v, pack_v, ws->qkv + 2 * H + h * d, 3 * H, 1, d, n);
      Gemm context = { .a = p, .lda = n, .m = n, .b = &v,
                       .c = ws->ctx + h * d, .ldc = H, .epi = EPI_NONE };
      gemm_panels (&context, 0, panels_for (d), apack);
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
  Gemm g = { .a = ws->x, .lda = pl->qkv.k, .m = n, .b = &pl->qkv,
             .c = ws->qkv, .ldc = pl->qkv.n, .epi = EPI_BIAS, .bias = pl->qkv_b };
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
  share (c->n_heads, t, nt, &h0, &h1);
  attention_heads (c, ws, scratch, n, req->causal_mask, h0, h1);
  barrier (s);

  /* x1 = LayerNorm(ctx W_o^T + b_o + x): the bias goes with the residual */
  Gemm out = { .a = ws->ctx, .lda = H, .m = n, .b = &pl->o, .c = ws->x1, .ldc = H,
               .epi = EPI_NONE };
  gemm_part (&out, scratch, t, nt);
  barrier (s);
  share (n, t, nt, &r0, &r1);
  bias_residual_layer_norm (ws->x1, w->o_b, ws->x, w->ln1_g, w->ln1_b, r0, r1, H, eps);
  barrier (s);

  /* ff = gelu(x1 W_1^T + b_1) */
  Gemm up = { .a = ws->x1, .lda = H, .m = n, .b = &pl->ff1, .c = ws->ff, .ldc = inter,
              .epi = EPI_BIAS_GELU, .bias = w->ff1_b };
  gemm_part (&up, scratch, t, nt);
  barrier (s);

  /* x = LayerNorm(ff W_2^T + b_2 + x1) */
  Gemm down = { .a = ws->ff, .lda = inter, .m = n, .b = &pl->ff2, .c = ws->x, .ldc = H,
                .epi = EPI_NONE };
  gemm_part (&down, scratch, t, nt);
  barrier (s);
  bias_residual_layer_norm (ws->x, w->ff2_b, ws->x1, w->ln2_g, w->ln2_b, r0, r1, H, eps);
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
run_pass (PassState *s,
          int        t)
{
  CpuBackend *self = s->self;
  const AsModel *model = self->parent.model;
  const AsForwardRequest *req = s->req;
  CpuWorkspace *ws = &self->ws;
  const int last = s->last;
  const gboolean qkv_only = s->qkv_only;
  int r0, r1;

  share (req->n, t, s->n_threads, &r0, &r1);
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
  s.n_threads = pool_reserve (&self->pool, wanted_threads ());
  workspace_reserve (&self->ws, model->config, req->n, s.n_threads);
  pool_run (&self->pool, &s);

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

/* Which clone of the kernels runs here. */
static const char *
kernel_name (void)
{
#if AS_HAVE_CLONES
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    return "AVX2+FMA";
  return "x86-64 baseline";
#else
  return "portable C";
#endif
}

static char *
cpu_describe (AsBackend *backend)
{
  return g_strdup_printf ("CPU (packed fp32 GEMM, %s kernels, %d threads)",
                          kernel_name (), CLAMP (wanted_threads (), 1, MAX_THREADS));
}

static void
packed_clear (Packed *p)
{
  g_aligned_free (p->data);
  p->data = NULL;
}

static void
cpu_free (AsBackend *backend)
{
  CpuBackend *self = (CpuBackend *) backend;
  pool_clear (&self->pool);
  workspace_clear (&self->ws);
  for (int l = 0; l < backend->model->config->n_layers; l++)
    {
      PackedLayer *pl = &self->layers[l];
      packed_clear (&pl->qkv);
      packed_clear (&pl->o);
      packed_clear (&pl->ff1);
      packed_clear (&pl->ff2);
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

/* W [n, k] (an nn.Linear weight: out x in) packed as the right operand of
 * x W^T. */
static void
pack_weight (Packed      *dst,
             const float *w,
             int          n,
             int          k)
{
  pack_b (dst, aligned_floats ((gsize) panels_for (n) * NR * k), w, 1, k, n, k);
}

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
  pack_weight (&pl->qkv, qkv, 3 * H, H);
  g_free (qkv);
  pl->qkv_b = g_new (float, 3 * H);
  memcpy (pl->qkv_b, w->q_b, sizeof (float) * H);
  memcpy (pl->qkv_b + H, w->k_b, sizeof (float) * H);
  memcpy (pl->qkv_b + 2 * H, w->v_b, sizeof (float) * H);
  pack_weight (&pl->o, w->o_w, H, H);
  pack_weight (&pl->ff1, w->ff1_w, inter, H);
  pack_weight (&pl->ff2, w->ff2_w, H, inter);
}

AsBackend *
as_cpu_backend_new (const AsModel *model)
{
  CpuBackend *self = g_new0 (CpuBackend, 1);
  self->parent.vtable = &cpu_vtable;
  self->parent.model = model;
  const AsConfig *c = model->config;
  self->layers = g_new0 (PackedLayer, c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    packed_layer_init (&self->layers[l], &model->layers[l], c->hidden, c->intermediate);
  return &self->parent;
}
