/* as-gemm.c — packing and the register-tiled kernel.
 *
 * OpenBLAS repacked the weight on every call (sgemm_incopy was ~9-22% of the
 * time) and zeroed C before it (sgemm_beta); here weights are packed once and
 * neither happens. The kernel keeps a 6 x 16 tile of C in registers (GCC
 * vector types, so one source serves the AVX2 + FMA clone and the baseline
 * one, picked at run time) and applies the epilogue before the tile leaves
 * them.
 */
#include "as-gemm.h"

#include <string.h>

#include "as-vector-math.h"

/* The GEMM's blocking (see as_gemm_panels). */
#define NR        16    /* columns of a packed panel and of a register tile */
#define MR        6     /* rows of a register tile: 6 x 2 accumulators + 2 + 1 = 15 ymm */
#define KC        256   /* depth of a block: a [KC][16] panel slice (16 KiB) stays in L1 */
#define MC        120   /* rows of a block of A: 120 x 256 floats (120 KiB) stay in L2 */
/* The kernel prefetches its panel slice this many depth steps (8 KiB) ahead:
 * at a few tokens each weight is used by few tiles, and the first would
 * otherwise wait on DRAM (MiniLM's 42 MB of weights do not fit in L3). */
#define PF_DIST   128

/* 8 floats; the unaligned twin for loads and stores anywhere. */
typedef float v8sf __attribute__ ((vector_size (32)));
typedef float v8sf_u __attribute__ ((vector_size (32), aligned (4)));

#define ALWAYS_INLINE inline __attribute__((always_inline))

G_STATIC_ASSERT (MC * KC == AS_GEMM_A_SCRATCH);

int
as_gemm_panels_for (int n)
{
  return (n + NR - 1) / NR;
}

gsize
as_gemm_packed_floats (int n,
                       int k)
{
  return (gsize) as_gemm_panels_for (n) * NR * k;
}

/* Depth of as_gemm_panels' blocks for a product of depth K: equal blocks of at
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

float *
as_gemm_aligned_floats (gsize count)
{
  return g_aligned_alloc (MAX (count, 1), sizeof (float), 64);
}

void
as_gemm_pack_b (AsPacked    *dst,
                float       *data,
                const float *b,
                gsize        kstride,
                gsize        jstride,
                int          n,
                int          k)
{
  const int panels = as_gemm_panels_for (n), step = depth_step (k);
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
      int           col0)
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
          if (g->epi == AS_GEMM_SCALE)
            {
              acc[r][0] *= g->scale;
              acc[r][1] *= g->scale;
            }
          else if (g->epi != AS_GEMM_PLAIN && full)
            {
              acc[r][0] += load8 (g->bias + col0);
              acc[r][1] += load8 (g->bias + col0 + 8);
            }
          else if (g->epi != AS_GEMM_PLAIN)
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

  if (last && g->epi == AS_GEMM_BIAS_GELU)
    for (int r = 0; r < mr_; r++)
      {
        float *row = c + (gsize) r * ldc;
        for (int j = 0; j < cols; j++)
          row[j] = as_fast_gelu (row[j]);
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
AS_SIMD_CLONES void
as_gemm_panels (const AsGemm *g,
                int           p0,
                int           p1,
                float        *apack)
{
  const int k = g->b->k, n = g->b->n, panels = as_gemm_panels_for (n), kc_step = depth_step (k);
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

void
as_gemm_pack_weight (AsPacked    *dst,
                     const float *w,
                     int          n,
                     int          k)
{
  as_gemm_pack_b (dst, as_gemm_aligned_floats (as_gemm_packed_floats (n, k)), w, 1, k, n, k);
}

void
as_packed_clear (AsPacked *p)
{
  g_aligned_free (p->data);
  p->data = NULL;
}

const char *
as_gemm_kernel_name (void)
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
