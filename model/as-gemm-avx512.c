/* as-gemm-avx512.c — the packed GEMM for CPUs with AVX-512.
 *
 * The register tile is 14 rows x 32 columns (two packed panels): 28
 * accumulators, two of B, and the A value broadcast straight from memory
 * into each FMA, so 30 of the 32 zmm registers are busy and every step of
 * the depth loop does 28 FMAs for 2 loads of B and 14 of A (AVX2's 16
 * registers allow 12 FMAs per 2 loads of B). A block's rows are cut into
 * tiles of equal height (32 rows: 11 + 11 + 10, not 14 + 14 + 4), so no
 * tile is too short to hide the FMA latency. A is packed with in-register
 * 16 x 16 transposes.
 *
 * Every element of C is the same chain of FMAs over the depth whichever
 * tile, panel pair or thread computes it, so results do not depend on the
 * thread count.
 */
#include "as-gemm-layout.h"
#include "as-kernels.h"

#include <immintrin.h>

#include "as-simd-avx512.h"

#define NR        AS_GEMM_NR
#define MR        14    /* rows of a register tile */
#define MC        112   /* rows of a block of A (8 tiles): 112 x 256 floats stay in L2 */
/* B is prefetched this many depth steps ahead (2 KiB per panel): at a few
 * tokens most of B comes from DRAM once, and a 14-row tile spends ~28
 * cycles per step. */
#define PF_DIST   48

G_STATIC_ASSERT (MC * AS_GEMM_KC <= AS_GEMM_A_SCRATCH);

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* An MR_ x (16 NP) tile of C, NP = 1 or 2 panels: the packed rows A
 * [kc][MR] (MR_ used) times B [kc][16] at B and, for NP = 2, at B + BSTEP.
 * FIRST: start from 0, else from C; LAST: apply the epilogue. M0 and M1
 * mask the columns of each panel that exist (all but the last panel are
 * full). PF_LINES cache lines from PF on are fetched into L2 on the way,
 * one per step: the block's tiles share out the next panel pair between
 * them, so B streams from memory all along instead of in bursts that
 * stall the first tile of every pair (at a few tokens every weight is
 * used by two or three tiles only, and comes from DRAM). */
static ALWAYS_INLINE void
tile (const int     mr_,
      const int     np,
      const float  *a,
      const float  *b,
      gsize         bstep,
      int           kc,
      float        *c,
      int           ldc,
      __mmask16     m0,
      __mmask16     m1,
      gboolean      first,
      gboolean      last,
      const AsGemm *g,
      int           col0,
      const float  *pf,
      int           pf_lines)
{
  __m512 acc[MR][2];
  const float *b1 = b + bstep;
#pragma GCC unroll 14
  for (int r = 0; r < mr_; r++)
    {
      acc[r][0] = _mm512_setzero_ps ();
      acc[r][1] = _mm512_setzero_ps ();
      _mm_prefetch ((const char *) (c + (gsize) r * ldc), _MM_HINT_T0);
      if (np == 2)
        _mm_prefetch ((const char *) (c + (gsize) r * ldc + NR), _MM_HINT_T0);
    }

  for (int k = 0; k < kc; k++)
    {
      if (k < pf_lines)
        _mm_prefetch ((const char *) (pf + k * NR), _MM_HINT_T1);
      _mm_prefetch ((const char *) (b + (k + PF_DIST) * NR), _MM_HINT_T0);
      __m512 b0v = _mm512_load_ps (b + k * NR);
      __m512 b1v = _mm512_setzero_ps ();
      if (np == 2)
        {
          _mm_prefetch ((const char *) (b1 + (k + PF_DIST) * NR), _MM_HINT_T0);
          b1v = _mm512_load_ps (b1 + k * NR);
        }
#pragma GCC unroll 14
      for (int r = 0; r < mr_; r++)
        {
          __m512 s = _mm512_set1_ps (a[k * MR + r]);
          acc[r][0] = _mm512_fmadd_ps (s, b0v, acc[r][0]);
          if (np == 2)
            acc[r][1] = _mm512_fmadd_ps (s, b1v, acc[r][1]);
        }
    }

  __m512 bias0 = _mm512_setzero_ps (), bias1 = _mm512_setzero_ps ();
  const gboolean with_bias = last && (g->epi == AS_GEMM_BIAS || g->epi == AS_GEMM_BIAS_GELU);
  if (with_bias)
    {
      bias0 = _mm512_maskz_loadu_ps (m0, g->bias + col0);
      if (np == 2)
        bias1 = _mm512_maskz_loadu_ps (m1, g->bias + col0 + NR);
    }
  const __m512 scale = _mm512_set1_ps (g->scale);
#pragma GCC unroll 14
  for (int r = 0; r < mr_; r++)
    {
      float *row = c + (gsize) r * ldc;
      for (int q = 0; q < np; q++)
        {
          __mmask16 m = q == 0 ? m0 : m1;
          __m512 v = acc[r][q];
          if (!first)
            v = _mm512_add_ps (v, _mm512_maskz_loadu_ps (m, row + q * NR));
          if (last)
            {
              if (g->epi == AS_GEMM_SCALE)
                v = _mm512_mul_ps (v, scale);
              else if (with_bias)
                v = _mm512_add_ps (v, q == 0 ? bias0 : bias1);
              if (g->epi == AS_GEMM_BIAS_GELU)
                v = as_gelu16 (v);
            }
          _mm512_mask_storeu_ps (row + q * NR, m, v);
        }
    }
}

/* One tile of MR_ rows over a panel pair (NP = 2) or a single panel. */
static void
tile_dispatch (int           mr_,
               int           np,
               const float  *a,
               const float  *b,
               gsize         bstep,
               int           kc,
               float        *c,
               int           ldc,
               __mmask16     m0,
               __mmask16     m1,
               gboolean      first,
               gboolean      last,
               const AsGemm *g,
               int           col0,
               const float  *pf,
               int           pf_lines)
{
#define CASE(R) \
  case R: \
    if (np == 2) tile (R, 2, a, b, bstep, kc, c, ldc, m0, m1, first, last, g, col0, pf, pf_lines); \
    else tile (R, 1, a, b, bstep, kc, c, ldc, m0, m1, first, last, g, col0, pf, pf_lines); \
    break;
  switch (mr_)
    {
    CASE (14) CASE (13) CASE (12) CASE (11) CASE (10) CASE (9) CASE (8)
    CASE (7) CASE (6) CASE (5) CASE (4) CASE (3) CASE (2) CASE (1)
    default: g_assert_not_reached ();
    }
#undef CASE
}

/* T[0..16) = the 16 x 16 block V[0..16) transposed (row r of T = column r
 * of V): pairs, then quads, then 128-bit quarters, then halves. */
static ALWAYS_INLINE void
transpose16 (__m512 v[16])
{
  __m512 t[16];
  for (int i = 0; i < 16; i += 2)
    {
      t[i] = _mm512_unpacklo_ps (v[i], v[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps (v[i], v[i + 1]);
    }
  for (int i = 0; i < 16; i += 4)
    for (int j = 0; j < 2; j++)
      {
        __m512d a = _mm512_castps_pd (t[i + j]), b = _mm512_castps_pd (t[i + j + 2]);
        v[i + j] = _mm512_castpd_ps (_mm512_unpacklo_pd (a, b));
        v[i + j + 2] = _mm512_castpd_ps (_mm512_unpackhi_pd (a, b));
      }
  for (int i = 0; i < 16; i += 8)
    for (int j = 0; j < 4; j++)
      {
        t[i + j] = _mm512_shuffle_f32x4 (v[i + j], v[i + j + 4], 0x88);
        t[i + j + 4] = _mm512_shuffle_f32x4 (v[i + j], v[i + j + 4], 0xdd);
      }
  for (int j = 0; j < 8; j++)
    {
      v[j] = _mm512_shuffle_f32x4 (t[j], t[j + 8], 0x88);
      v[j + 8] = _mm512_shuffle_f32x4 (t[j], t[j + 8], 0xdd);
    }
}

/* Where row R of a 16 x 16 block lands after transpose16: the unpacks and
 * shuffles above leave the rows of the result in this order. */
static const int transposed_row[16] = { 0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15 };

/* One tile: rows ROW[0..h) of A, depth [0, kc), into OUT [kc][MR]. Sixteen
 * depths at a time, transposed in registers: four times faster than
 * copying element by element, which mattered for P V, whose A (the
 * probabilities) is as big as the product is cheap. */
static void
pack_tile (float        *out,
           const float  *a,
           gsize         lda,
           int           h,
           int           kc)
{
  for (int k = 0; k < kc; k += 16)
    {
      const int depth = MIN (16, kc - k);
      const __mmask16 m = as_tail_mask16 (depth);
      __m512 v[16];
      for (int r = 0; r < 16; r++)
        v[r] = r < h ? _mm512_maskz_loadu_ps (m, a + (gsize) r * lda + k) : _mm512_setzero_ps ();
      transpose16 (v);
      const __mmask16 rows = as_tail_mask16 (MR);
      for (int kk = 0; kk < depth; kk++)
        _mm512_mask_storeu_ps (out + (gsize) (k + kk) * MR, rows, v[transposed_row[kk]]);
    }
}

void
as_pack_columns_avx512 (float              *slice,
                        const float *const *col,
                        int                 cols,
                        int                 kc)
{
  for (int k = 0; k < kc; k += 16)
    {
      const int depth = MIN (16, kc - k);
      const __mmask16 m = as_tail_mask16 (depth);
      __m512 v[16];
      for (int j = 0; j < 16; j++)
        v[j] = j < cols ? _mm512_maskz_loadu_ps (m, col[j] + k) : _mm512_setzero_ps ();
      transpose16 (v);
      for (int kk = 0; kk < depth; kk++)
        _mm512_store_ps (slice + (gsize) (k + kk) * NR, v[transposed_row[kk]]);
    }
}

/* Rows [I0, I1) x depth [K0, K0 + KC) of A into tiles of the heights in
 * HEIGHTS, each [kc][MR]. */
static void
pack_a (float        *dst,
        const AsGemm *g,
        int           i0,
        const int    *heights,
        int           tiles,
        int           k0,
        int           kc)
{
  int i = i0;
  for (int t = 0; t < tiles; t++)
    {
      pack_tile (dst + (gsize) t * MR * kc, g->a + (gsize) i * g->lda + k0, g->lda, heights[t], kc);
      i += heights[t];
    }
}

/* Loops, outermost first: depth blocks, blocks of up to MC rows of A
 * (packed once, kept in L2 across the panels), panel pairs (their slices
 * stay in L1/L2 while every tile of the block passes), tiles. */
void
as_gemm_panels_avx512 (const AsGemm *g,
                       int           p0,
                       int           p1,
                       float        *apack)
{
  const int k = g->b->k, n = g->b->n, panels = as_gemm_panels_for (n);
  const int kc_step = as_gemm_depth_step (k);
  if (p1 <= p0 || g->m == 0)
    return;
  for (int k0 = 0; k0 < k; k0 += kc_step)
    {
      const int kc = MIN (kc_step, k - k0);
      const gboolean first = k0 == 0, last = k0 + kc == k;
      const gsize bstep = (gsize) kc * NR;
      for (int i0 = 0; i0 < g->m; i0 += MC)
        {
          const int rows = MIN (MC, g->m - i0);
          int heights[MC / MR + 1];
          const int tiles = (rows + MR - 1) / MR;
          for (int t = 0; t < tiles; t++)
            heights[t] = rows / tiles + (t < rows % tiles);
          pack_a (apack, g, i0, heights, tiles, k0, kc);
          for (int p = p0; p < p1; p += 2)
            {
              const int np = MIN (2, p1 - p);
              const float *b = g->b->data + as_gemm_slice_offset (k0, kc, p, panels);
              const int col0 = p * NR;
              const __mmask16 m0 = as_tail_mask16 (MIN (NR, n - col0));
              const __mmask16 m1 = np == 2 ? as_tail_mask16 (MIN (NR, n - col0 - NR)) : 0;
              /* the next pair's slice, a share of its lines per tile */
              const int next_lines = p + 2 < p1 ? MIN (2, p1 - p - 2) * kc : 0;
              const float *next = next_lines > 0 ? b + 2 * bstep : b;
              int i = i0;
              for (int t = 0; t < tiles; t++)
                {
                  const int l0 = next_lines * t / tiles, l1 = next_lines * (t + 1) / tiles;
                  tile_dispatch (heights[t], np, apack + (gsize) t * MR * kc, b, bstep, kc,
                                 g->c + (gsize) i * g->ldc + col0, g->ldc, m0, m1,
                                 first, last, g, col0, next + (gsize) l0 * NR, MIN (l1 - l0, kc));
                  i += heights[t];
                }
            }
        }
    }
}
