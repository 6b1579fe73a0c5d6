/* as-gemm.c — packing B, and which kernel runs.
 *
 * OpenBLAS repacked the weight on every call (sgemm_incopy was ~9-22% of the
 * time) and zeroed C before it (sgemm_beta); here weights are packed once and
 * neither happens. The kernels themselves are per instruction-set level
 * (as-kernels.h); they all read the layout written here.
 */
#include "as-gemm.h"

#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "as-gemm-layout.h"
#include "as-kernels.h"

#define NR AS_GEMM_NR

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

float *
as_gemm_aligned_floats (gsize count)
{
  return g_aligned_alloc (MAX (count, 1), sizeof (float), 64);
}

/* Panels [P0, P1) of B into DST's layout; column J of panel P comes from
 * COLUMN (P * 16 + J), which is read at depth kk as column[kk * KSTRIDE]. */
static void
pack_panels (const AsPacked *dst,
             const float  *(*column) (const void *src, int j),
             const void     *src,
             gsize           kstride,
             int             p0,
             int             p1)
{
  const int n = dst->n, k = dst->k, panels = as_gemm_panels_for (n);
  const int step = as_gemm_depth_step (k);
  const AsPackColumnsFunc pack_columns = as_kernels ()->pack_columns;
  for (int k0 = 0; k0 < k; k0 += step)
    {
      const int kc = MIN (step, k - k0);
      for (int p = p0; p < p1; p++)
        {
          float *slice = dst->data + as_gemm_slice_offset (k0, kc, p, panels);   /* [kc][16] */
          const int cols = MIN (NR, n - p * NR);
          const float *from[NR];
          for (int j = 0; j < cols; j++)
            from[j] = column (src, p * NR + j) + (gsize) k0 * kstride;
          if (kstride == 1)
            {
              pack_columns (slice, from, cols, kc);
              continue;
            }
          gboolean adjacent = TRUE;
          for (int j = 1; j < cols; j++)
            adjacent = adjacent && from[j] == from[0] + j;
          for (int kk = 0; kk < kc; kk++)
            {
              float *out = slice + kk * NR;
              if (adjacent && cols == NR)
                {
                  /* B's columns side by side (V_h): a row of the slice is a
                   * copy of part of a row of B */
                  const float *row = from[0] + kk * kstride;
                  for (int j = 0; j < NR; j++)
                    out[j] = row[j];
                }
              else
                for (int j = 0; j < NR; j++)
                  out[j] = j < cols ? from[j][kk * kstride] : 0.0f;
            }
        }
    }
}

typedef struct {
  const float *b;
  gsize        jstride;
} Strided;

static const float *
strided_column (const void *src,
                int         j)
{
  const Strided *s = src;
  return s->b + (gsize) j * s->jstride;
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
  dst->data = data;
  dst->n = n;
  dst->k = k;
  Strided s = { b, jstride };
  pack_panels (dst, strided_column, &s, kstride, 0, as_gemm_panels_for (n));
}

static const float *
stacked_row (const void *src,
             int         j)
{
  const AsGemmStacked *s = src;
  return s->part[j / s->rows] + (gsize) (j % s->rows) * s->k;
}

void
as_gemm_pack_stacked (AsPacked            *dst,
                      const AsGemmStacked *w,
                      int                  p0,
                      int                  p1)
{
  g_return_if_fail (dst->n == w->n_parts * w->rows && dst->k == w->k);
  pack_panels (dst, stacked_row, w, 1, p0, MIN (p1, as_gemm_panels_for (dst->n)));
}

void
as_gemm_pack_weight (AsPacked    *dst,
                     const float *w,
                     int          n,
                     int          k)
{
  dst->data = as_gemm_aligned_floats (as_gemm_packed_floats (n, k));
  dst->n = n;
  dst->k = k;
  AsGemmStacked one = { .part = { w }, .n_parts = 1, .rows = n, .k = k };
  as_gemm_pack_stacked (dst, &one, 0, as_gemm_panels_for (n));
}

void
as_packed_clear (AsPacked *p)
{
  g_aligned_free (p->data);
  p->data = NULL;
}

float *
as_gemm_arena_new (gsize  count,
                   gsize *bytes)
{
#ifdef __linux__
  /* One mapping for all the weights, in 2 MiB pages where the kernel gives
   * them: packing then takes a few dozen page faults instead of ten
   * thousand, and the GEMM's panel streams cross fewer TLB entries. */
  const gsize huge = 2u << 20;
  gsize size = (MAX (count, 1) * sizeof (float) + huge - 1) / huge * huge;
  void *p = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED)
    {
      madvise (p, size, MADV_HUGEPAGE);
      *bytes = size;
      return p;
    }
#endif
  *bytes = 0;
  return as_gemm_aligned_floats (count);
}

void
as_gemm_arena_free (float *arena,
                    gsize  bytes)
{
  if (arena == NULL)
    return;
#ifdef __linux__
  if (bytes != 0)
    {
      munmap (arena, bytes);
      return;
    }
#endif
  g_aligned_free (arena);
}

int
as_gemm_panel_step (void)
{
  return as_kernels ()->panel_step;
}

char *
as_gemm_kernel_describe (void)
{
  const AsKernels *k = as_kernels ();
  return g_strdup_printf ("%s %s", as_cpu_isa_label (k->isa), k->tile);
}
