/* as-vector-math-avx512.c — LayerNorm, softmax, SwiGLU and GPT-2's GELU rows and the matrix-row
 * products on 16 floats at a time (the AVX-512 set of as-kernels.h); the
 * same passes, polynomials and sums as as-vector-math.c. Row tails are masked, never read past the row. */
#include "as-kernels.h"

#include <immintrin.h>

#include "as-simd-avx512.h"
#include "as-vector-math.h"

/* x[0..n) with lanes beyond N read as 0. */
static inline __m512
load_tail (const float *x,
           int          j,
           int          n)
{
  return _mm512_maskz_loadu_ps (as_tail_mask16 (MIN (16, n - j)), x + j);
}

static inline void
store_tail (float  *x,
            int     j,
            int     n,
            __m512  v)
{
  _mm512_mask_storeu_ps (x + j, as_tail_mask16 (MIN (16, n - j)), v);
}

void
as_swiglu_avx512 (float       *gate,
                  const float *up,
                  int          n)
{
  for (int j = 0; j < n; j += 16)
    store_tail (gate, j, n, _mm512_mul_ps (as_silu16 (load_tail (gate, j, n)),
                                           load_tail (up, j, n)));
}

void
as_gelu_new_avx512 (float *x,
                    int    n)
{
  for (int j = 0; j < n; j += 16)
    store_tail (x, j, n, as_gelu_tanh16 (load_tail (x, j, n)));
}

void
as_layer_norm_rows_avx512 (float       *x,
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
      const float *res = residual != NULL ? residual + (gsize) i * dim : NULL;
      /* (x + b) + residual, summed as the reference does, then the mean */
      __m512 sum = _mm512_setzero_ps ();
      for (int j = 0; j < dim; j += 16)
        {
          __m512 v = load_tail (row, j, dim);
          if (res != NULL)
            {
              if (b != NULL)
                v = _mm512_add_ps (v, load_tail (b, j, dim));
              v = _mm512_add_ps (v, load_tail (res, j, dim));
              store_tail (row, j, dim, v);
            }
          sum = _mm512_add_ps (sum, v);
        }
      const float mean = _mm512_reduce_add_ps (sum) / dim;
      const __m512 mean_v = _mm512_set1_ps (mean);
      __m512 sq = _mm512_setzero_ps ();
      for (int j = 0; j < dim; j += 16)
        {
          __mmask16 m = as_tail_mask16 (MIN (16, dim - j));
          __m512 d = _mm512_maskz_sub_ps (m, _mm512_maskz_loadu_ps (m, row + j), mean_v);
          sq = _mm512_fmadd_ps (d, d, sq);
        }
      const float var = _mm512_reduce_add_ps (sq) / dim;
      const __m512 inv = _mm512_set1_ps (1.0f / sqrtf (var + eps));
      for (int j = 0; j < dim; j += 16)
        {
          __m512 d = _mm512_sub_ps (load_tail (row, j, dim), mean_v);
          __m512 y = _mm512_fmadd_ps (_mm512_mul_ps (d, inv), load_tail (g, j, dim),
                                      load_tail (beta, j, dim));
          store_tail (row, j, dim, y);
        }
    }
}

/* Row passes go four vectors at a time: the exp polynomial is a chain of
 * a dozen dependent FMAs, and four independent chains keep the FMA units
 * busy where one would wait on each result. */
#define UNROLL 4

void
as_softmax_rows_avx512 (float   *p,
                        int      rows,
                        int      n,
                        int      first_row,
                        gboolean causal)
{
  for (int i = 0; i < rows; i++)
    {
      float *row = p + (gsize) i * n;
      const int valid = causal ? first_row + i + 1 : n;
      const int whole = valid / (16 * UNROLL) * (16 * UNROLL);

      __m512 mx[UNROLL];
      for (int u = 0; u < UNROLL; u++)
        mx[u] = _mm512_set1_ps (-INFINITY);
      for (int j = 0; j < whole; j += 16 * UNROLL)
        for (int u = 0; u < UNROLL; u++)
          mx[u] = _mm512_max_ps (mx[u], _mm512_loadu_ps (row + j + 16 * u));
      for (int j = whole; j < valid; j += 16)
        {
          __mmask16 m = as_tail_mask16 (MIN (16, valid - j));
          mx[0] = _mm512_mask_max_ps (mx[0], m, mx[0], _mm512_maskz_loadu_ps (m, row + j));
        }
      for (int u = 1; u < UNROLL; u++)
        mx[0] = _mm512_max_ps (mx[0], mx[u]);
      const __m512 max = _mm512_set1_ps (_mm512_reduce_max_ps (mx[0]));

      __m512 sum[UNROLL];
      for (int u = 0; u < UNROLL; u++)
        sum[u] = _mm512_setzero_ps ();
      for (int j = 0; j < whole; j += 16 * UNROLL)
        for (int u = 0; u < UNROLL; u++)
          {
            __m512 e = as_exp_neg16 (_mm512_sub_ps (_mm512_loadu_ps (row + j + 16 * u), max));
            _mm512_storeu_ps (row + j + 16 * u, e);
            sum[u] = _mm512_add_ps (sum[u], e);
          }
      for (int j = whole; j < valid; j += 16)
        {
          __mmask16 m = as_tail_mask16 (MIN (16, valid - j));
          __m512 e = as_exp_neg16 (_mm512_sub_ps (_mm512_maskz_loadu_ps (m, row + j), max));
          e = _mm512_maskz_mov_ps (m, e);
          _mm512_mask_storeu_ps (row + j, m, e);
          sum[0] = _mm512_add_ps (sum[0], e);
        }
      for (int u = 1; u < UNROLL; u++)
        sum[0] = _mm512_add_ps (sum[0], sum[u]);

      const __m512 inv = _mm512_set1_ps (1.0f / _mm512_reduce_add_ps (sum[0]));
      for (int j = 0; j < whole; j += 16 * UNROLL)
        for (int u = 0; u < UNROLL; u++)
          _mm512_storeu_ps (row + j + 16 * u, _mm512_mul_ps (_mm512_loadu_ps (row + j + 16 * u), inv));
      for (int j = whole; j < n; j += 16)
        {
          __mmask16 all = as_tail_mask16 (MIN (16, n - j));
          __mmask16 keep = j < valid ? as_tail_mask16 (MIN (16, valid - j)) : 0;
          __m512 v = _mm512_maskz_loadu_ps (keep, row + j);
          _mm512_mask_storeu_ps (row + j, all, _mm512_mul_ps (v, inv));
        }
    }
}

/* The matrix-row products as in as-vector-math.c, one zmm per dot product:
 * a 4 x 4 tile (rows of W by rows of X) is 16 accumulators plus four of W
 * and one of X (of 32). */
#define TW 4
#define TX 4
#define X_BLOCK_BYTES (192 * 1024)   /* rows of X kept in L2 while W streams */

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* OUT[i * ldo + r] = W[r] . X[i] for r < WR_, i < XR_, with the lanes of
 * the portable sets: lane j sums k = j mod 16 below the last whole 16, the
 * lanes are added in order, then the tail. */
static ALWAYS_INLINE void
dot_tile (const int    wr_,
          const int    xr_,
          const float *w,
          const float *x,
          int          cols,
          float       *out,
          int          ldo)
{
  __m512 acc[TW][TX];   /* [TW, TX] x 16 lanes */
  for (int r = 0; r < wr_; r++)
    for (int i = 0; i < xr_; i++)
      acc[r][i] = _mm512_setzero_ps ();
  int k = 0;
  for (; k + 16 <= cols; k += 16)
    {
      __m512 wv[TW];
      for (int r = 0; r < wr_; r++)
        wv[r] = _mm512_loadu_ps (w + (gsize) r * cols + k);
      for (int i = 0; i < xr_; i++)
        {
          __m512 xv = _mm512_loadu_ps (x + (gsize) i * cols + k);
          for (int r = 0; r < wr_; r++)
            acc[r][i] = _mm512_fmadd_ps (wv[r], xv, acc[r][i]);
        }
    }
  for (int r = 0; r < wr_; r++)
    for (int i = 0; i < xr_; i++)
      {
        const float *w_r = w + (gsize) r * cols, *x_i = x + (gsize) i * cols;
        float lane[16];
        _mm512_storeu_ps (lane, acc[r][i]);
        float sum = 0.0f;
        for (int j = 0; j < 16; j++)
          sum += lane[j];
        for (int kk = k; kk < cols; kk++)
          sum = as_mul_add (w_r[kk], x_i[kk], sum);
        out[(gsize) i * ldo + r] = sum;
      }
}

/* Rows [0, WR_) of W against X [n, cols], TX rows of X at a time. */
static ALWAYS_INLINE void
dot_rows (const int    wr_,
          const float *w,
          const float *x,
          int          cols,
          int          n,
          float       *out,
          int          ldo)
{
  int i = 0;
  for (; i + TX <= n; i += TX)
    dot_tile (wr_, TX, w, x + (gsize) i * cols, cols, out + (gsize) i * ldo, ldo);
  switch (n - i)
    {
    case 3: dot_tile (wr_, 3, w, x + (gsize) i * cols, cols, out + (gsize) i * ldo, ldo); break;
    case 2: dot_tile (wr_, 2, w, x + (gsize) i * cols, cols, out + (gsize) i * ldo, ldo); break;
    case 1: dot_tile (wr_, 1, w, x + (gsize) i * cols, cols, out + (gsize) i * ldo, ldo); break;
    default: break;
    }
}

void
as_gemm_rows_avx512 (const float *w,
                     const float *x,
                     int          rows,
                     int          cols,
                     int          n,
                     float       *out)
{
  const int x_block = MAX (TX, X_BLOCK_BYTES / (int) sizeof (float) / MAX (cols, 1) / TX * TX);
  for (int i0 = 0; i0 < n; i0 += x_block)
    {
      const int xn = MIN (x_block, n - i0);
      const float *xb = x + (gsize) i0 * cols;   /* [xn, cols] */
      float *ob = out + (gsize) i0 * rows;       /* [xn, rows] */
      /* Up to one tile of X rows the product is bound by streaming W,
       * which the AVX2 set's one row at a time does faster than four rows
       * side by side or one zmm chain (measured), with the same sums; past
       * it, four rows of W per tile reuse each load of X four times. */
      if (xn <= TX)
        {
          as_gemm_rows_avx2 (w, xb, rows, cols, xn, ob);
          continue;
        }
      int r = 0;
      for (; r + TW <= rows; r += TW)
        dot_rows (TW, w + (gsize) r * cols, xb, cols, xn, ob + r, rows);
      switch (rows - r)
        {
        case 3: dot_rows (3, w + (gsize) r * cols, xb, cols, xn, ob + r, rows); break;
        case 2: dot_rows (2, w + (gsize) r * cols, xb, cols, xn, ob + r, rows); break;
        case 1: dot_rows (1, w + (gsize) r * cols, xb, cols, xn, ob + r, rows); break;
        default: break;
        }
    }
}
