/* as-kernels.c — one table per instruction-set level; the fast path calls
 * through the one as_cpu_isa () chose. */
#include "as-kernels.h"

#include "as-vector-math.h"

static const AsKernels sets[AS_N_ISA] = {
  [AS_ISA_BASELINE] = { AS_ISA_BASELINE, "3x16", 1, as_gemm_panels_baseline,
                        as_layer_norm_rows_baseline, as_softmax_rows_baseline,
                        as_pack_columns_baseline, as_gemm_rows_baseline, as_swiglu_baseline,
                        as_gelu_new_baseline },
#if AS_HAVE_X86_KERNELS
  [AS_ISA_AVX2] = { AS_ISA_AVX2, "6x16", 1, as_gemm_panels_avx2,
                    as_layer_norm_rows_avx2, as_softmax_rows_avx2, as_pack_columns_avx2,
                    as_gemm_rows_avx2, as_swiglu_avx2, as_gelu_new_avx2 },
  [AS_ISA_AVX512] = { AS_ISA_AVX512, "14x32", 2, as_gemm_panels_avx512,
                      as_layer_norm_rows_avx512, as_softmax_rows_avx512,
                      as_pack_columns_avx512, as_gemm_rows_avx512, as_swiglu_avx512,
                      as_gelu_new_avx512 },
#endif
};

const AsKernels *
as_kernels_for (AsIsa isa)
{
  if (isa >= AS_N_ISA || sets[isa].gemm_panels == NULL ||
      !(as_cpu_isa_supported () & (1u << isa)))
    return NULL;
  return &sets[isa];
}

const AsKernels *
as_kernels (void)
{
  static const AsKernels *chosen;
  const AsKernels *k = g_atomic_pointer_get (&chosen);
  if (G_UNLIKELY (k == NULL))
    {
      k = as_kernels_for (as_cpu_isa ());
      g_atomic_pointer_set (&chosen, k);
    }
  return k;
}

void
as_gemm_panels (const AsGemm *g,
                int           p0,
                int           p1,
                float        *a_scratch)
{
  as_kernels ()->gemm_panels (g, p0, p1, a_scratch);
}

void
as_fast_layer_norm_rows (float       *x,
                         const float *b,
                         const float *residual,
                         const float *g,
                         const float *beta,
                         int          r0,
                         int          r1,
                         int          dim,
                         float        eps)
{
  as_kernels ()->layer_norm_rows (x, b, residual, g, beta, r0, r1, dim, eps);
}

void
as_fast_swiglu (float       *gate,
                const float *up,
                int          n)
{
  as_kernels ()->swiglu (gate, up, n);
}

void
as_fast_gelu_new (float *x,
                  int    n)
{
  as_kernels ()->gelu_new (x, n);
}

void
as_fast_softmax_rows (float   *p,
                      int      rows,
                      int      n,
                      int      first_row,
                      gboolean causal)
{
  as_kernels ()->softmax_rows (p, rows, n, first_row, causal);
}

void
as_fast_gemv_rows (const float *w,
                   const float *x,
                   int          rows,
                   int          cols,
                   float       *out)
{
  as_kernels ()->gemm_rows (w, x, rows, cols, 1, out);
}

void
as_fast_gemm_rows (const float *w,
                   const float *x,
                   int          rows,
                   int          cols,
                   int          n,
                   float       *out)
{
  as_kernels ()->gemm_rows (w, x, rows, cols, n, out);
}
