/* as-gemm-generic.c — the packed GEMM in portable C (GCC vector types),
 * built twice: for the baseline target and for AVX2 + FMA.
 *
 * With AVX2 a 6 x 16 tile of C stays in registers: 12 accumulators of 8
 * floats plus two of B and a broadcast A fit the 16 ymm registers. SSE's
 * 16 registers hold half as many floats, so the baseline tile is 3 x 16
 * (more rows would spill the accumulators to the stack on every step). The
 * epilogue is applied before the tile leaves the registers.
 */
#include "as-gemm-layout.h"
#include "as-kernels.h"

#include <string.h>

#include "as-vector-math.h"

#define NR        AS_GEMM_NR
#ifdef __AVX2__
#define MR        6     /* rows of a register tile: 6 x 2 accumulators + 2 + 1 = 15 ymm */
#else
#define MR        3     /* 3 x 4 accumulators + 4 of B = 16 xmm */
#endif
#define MC        120   /* rows of a block of A: 120 x 256 floats (120 KiB) stay in L2 */
/* The kernel prefetches its panel slice this many depth steps (8 KiB) ahead:
 * at a few tokens each weight is used by few tiles, and the first would
 * otherwise wait on DRAM (MiniLM's 42 MB of weights do not fit in L3). */
#define PF_DIST   128

G_STATIC_ASSERT (MC * AS_GEMM_KC <= AS_GEMM_A_SCRATCH);

/* A vector of the target's width (8 floats with AVX2, 4 with SSE: wider GCC
 * vectors than the hardware has are lowered through the stack), and NV of
 * them per 16-column panel; the unaligned twin for C rows and biases. */
#ifdef __AVX2__
#define VW 8
#else
#define VW 4
#endif
#define NV (NR / VW)
typedef float vsf __attribute__ ((vector_size (VW * 4)));
typedef float vsf_u __attribute__ ((vector_size (VW * 4), aligned (4)));

#define ALWAYS_INLINE inline __attribute__((always_inline))

#define loadv(p)     (*(const vsf_u *) (p))
#define storev(p, v) (*(vsf_u *) (p) = (v))

/* One MR_ x 16 tile of C: the packed rows A [kc][MR] (MR_ of them used)
 * times the panel slice B [kc][16].
 * FIRST: the tile starts from 0, else from what C holds; LAST: the epilogue
 * is applied. COLS < 16 only in the last panel. PF_LINES cache lines from
 * PF on (this tile's share of the next panel) are fetched into L2 on the
 * way, so B streams from memory while the tiles compute instead of
 * stalling the first tile of each panel. */
static ALWAYS_INLINE void
tile (const int     mr_,
      const float  *a,
      const float  *b,
      int           kc,
      float        *c,
      int           ldc,
      int           cols,
      gboolean      first,
      gboolean      last,
      const AsGemm *g,
      int           col0,
      const float  *pf,
      int           pf_lines)
{
  vsf acc[MR][NV];
#pragma GCC unroll 6
  for (int r = 0; r < mr_; r++)
    {
      for (int v = 0; v < NV; v++)
        acc[r][v] = (vsf) { 0 };
      /* C's lines arrive while the products are summed, not after */
      __builtin_prefetch (c + (gsize) r * ldc, 1);
      __builtin_prefetch (c + (gsize) r * ldc + NR - 1, 1);
    }

  for (int k = 0; k < kc; k++)
    {
      if (k < pf_lines)
        __builtin_prefetch (pf + k * NR, 0, 2);
      __builtin_prefetch (b + (k + PF_DIST) * NR);
      vsf bv[NV];
      for (int v = 0; v < NV; v++)
        bv[v] = *(const vsf *) (b + k * NR + v * VW);
#pragma GCC unroll 6
      for (int r = 0; r < mr_; r++)
        {
          float s = a[k * MR + r];
          for (int v = 0; v < NV; v++)
            acc[r][v] += s * bv[v];
        }
    }

  const gboolean full = cols == NR;
  float bias[NR] __attribute__ ((aligned (32))) = { 0 };
  if (last && g->epi != AS_GEMM_PLAIN && g->epi != AS_GEMM_SCALE)
    memcpy (bias, g->bias + col0, sizeof (float) * cols);
#pragma GCC unroll 6
  for (int r = 0; r < mr_; r++)
    {
      float *row = c + (gsize) r * ldc;
      float part[NR] __attribute__ ((aligned (32))) = { 0 };
      const float *old = row;
      if (!first && !full)
        {
          memcpy (part, row, sizeof (float) * cols);
          old = part;
        }
      for (int v = 0; v < NV; v++)
        {
          if (!first)
            acc[r][v] += loadv (old + v * VW);
          if (last && g->epi == AS_GEMM_SCALE)
            acc[r][v] *= g->scale;
          else if (last && g->epi != AS_GEMM_PLAIN)
            acc[r][v] += *(const vsf *) (bias + v * VW);
        }
      if (full)
        for (int v = 0; v < NV; v++)
          storev (row + v * VW, acc[r][v]);
      else
        {
          for (int v = 0; v < NV; v++)
            *(vsf *) (part + v * VW) = acc[r][v];
          memcpy (row, part, sizeof (float) * cols);
        }
    }

  if (last && g->epi == AS_GEMM_BIAS_GELU)
    for (int r = 0; r < mr_; r++)
      {
        float *row = c + (gsize) r * ldc;
        for (int j = 0; j < cols; j++)
          row[j] = as_fast_gelu (row[j]);
      }
}

void
AS_ISA_FN (as_pack_columns) (float              *slice,
                             const float *const *col,
                             int                 cols,
                             int                 kc)
{
  for (int j = 0; j < NR; j++)
    {
      if (j >= cols)
        {
          for (int kk = 0; kk < kc; kk++)
            slice[kk * NR + j] = 0.0f;
          continue;
        }
      const float *from = col[j];
      for (int kk = 0; kk < kc; kk++)
        slice[kk * NR + j] = from[kk];
    }
}

/* Rows [I0, I1) x depth [K0, K0 + KC) of A into tiles of MR rows, each
 * [kc][MR]: the kernel then reads one stream instead of MR rows far apart. */
static void
pack_a (float        *dst,
        const AsGemm *g,
        int           i0,
        int           i1,
        int           k0,
        int           kc)
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

/* Loops, outermost first: depth blocks of at most KC, blocks of MC rows of
 * A (packed once, stays in L2 across the panels), panels (a [kc][16] slice
 * stays in L1 while every tile of the block passes it), tiles of MR rows. */
void
AS_ISA_FN (as_gemm_panels) (const AsGemm *g,
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
      for (int i0 = 0; i0 < g->m; i0 += MC)
        {
          const int i1 = MIN (g->m, i0 + MC);
          pack_a (apack, g, i0, i1, k0, kc);
          for (int p = p0; p < p1; p++)
            {
              const float *b = g->b->data + as_gemm_slice_offset (k0, kc, p, panels);
              const int col0 = p * NR, cols = MIN (NR, n - col0);
              const int tiles = (i1 - i0 + MR - 1) / MR;
              const int next_lines = p + 1 < p1 ? kc : 0;
              for (int i = i0; i < i1; i += MR)
                {
                  const float *a = apack + (gsize) (i - i0) * kc;
                  float *c = g->c + (gsize) i * g->ldc + col0;
                  const int t = (i - i0) / MR;
                  const int l0 = next_lines * t / tiles, l1 = next_lines * (t + 1) / tiles;
                  const float *pf = next_lines > 0 ? b + (gsize) (kc + l0) * NR : b;
                  const int lines = l1 - l0;
                  switch (MIN (MR, i1 - i))
                    {
#if MR == 6
                    case 6: tile (6, a, b, kc, c, g->ldc, cols, first, last, g, col0, pf, lines); break;
                    case 5: tile (5, a, b, kc, c, g->ldc, cols, first, last, g, col0, pf, lines); break;
                    case 4: tile (4, a, b, kc, c, g->ldc, cols, first, last, g, col0, pf, lines); break;
#endif
                    case 3: tile (3, a, b, kc, c, g->ldc, cols, first, last, g, col0, pf, lines); break;
                    case 2: tile (2, a, b, kc, c, g->ldc, cols, first, last, g, col0, pf, lines); break;
                    default: tile (1, a, b, kc, c, g->ldc, cols, first, last, g, col0, pf, lines); break;
                    }
                }
            }
        }
    }
}
