/* as-kernels.h — the fast path's kernels at each instruction-set level, and
 * the set this process runs (as_cpu_isa () picks it once).
 *
 * The baseline and AVX2 + FMA sets are one portable source each
 * (as-gemm-generic.c, as-vector-math.c) compiled twice with different
 * flags; the AVX-512 set is written for it (as-gemm-avx512.c,
 * as-vector-math-avx512.c). Every set is checked against the reference
 * forward (tests run the encoder suites once per level).
 */
#pragma once

#include <glib.h>

#include "as-cpu-features.h"
#include "as-gemm.h"

G_BEGIN_DECLS

typedef void (*AsGemmPanelsFunc)     (const AsGemm *g,
                                      int           p0,
                                      int           p1,
                                      float        *a_scratch);
typedef void (*AsLayerNormRowsFunc)  (float       *x,
                                      const float *b,
                                      const float *residual,
                                      const float *g,
                                      const float *beta,
                                      int          r0,
                                      int          r1,
                                      int          dim,
                                      float        eps);
typedef void (*AsSoftmaxRowsFunc)    (float       *p,
                                      int          rows,
                                      int          n,
                                      int          first_row,
                                      gboolean     causal);
/* SLICE [kc][16] of a packed panel from 16 columns of B, each contiguous
 * over the depth: slice[kk * 16 + j] = col[j][kk] for j < COLS, 0 for the
 * rest (a transpose: weights and K_h are stored that way). */
typedef void (*AsPackColumnsFunc)    (float              *slice,
                                      const float *const *col,
                                      int                 cols,
                                      int                 kc);

/* GATE [n] = silu(GATE) * UP [n] (as_fast_swiglu). */
typedef void (*AsSwigluFunc)         (float       *gate,
                                      const float *up,
                                      int          n);
/* X [n] = gelu_new(X) (as_fast_gelu_new). */
typedef void (*AsGeluNewFunc)        (float       *x,
                                      int          n);
/* OUT [n, rows] = X [n, cols] W [rows, cols]^T (as_fast_gemm_rows). */
typedef void (*AsGemmRowsFunc)       (const float *w,
                                      const float *x,
                                      int          rows,
                                      int          cols,
                                      int          n,
                                      float       *out);
typedef struct {
  AsIsa                isa;
  const char          *tile;          /* the GEMM's register tile, rows x columns */
  int                  panel_step;    /* panels one tile spans: thread shares are multiples of it */
  AsGemmPanelsFunc     gemm_panels;
  AsLayerNormRowsFunc  layer_norm_rows;
  AsSoftmaxRowsFunc    softmax_rows;
  AsPackColumnsFunc    pack_columns;
  AsGemmRowsFunc       gemm_rows;
  AsSwigluFunc         swiglu;
  AsGeluNewFunc        gelu_new;
} AsKernels;

/* The set for as_cpu_isa (). */
const AsKernels *as_kernels        (void);

/* The set for ISA, or NULL where this build or CPU has none. */
const AsKernels *as_kernels_for    (AsIsa isa);

/* Each level's functions; the suffix names the level. */
#define AS_KERNEL_DECLS(suffix) \
  void as_gemm_panels_##suffix (const AsGemm *g, int p0, int p1, float *a_scratch); \
  void as_layer_norm_rows_##suffix (float *x, const float *b, const float *residual, \
                                    const float *g, const float *beta, int r0, int r1, \
                                    int dim, float eps); \
  void as_softmax_rows_##suffix (float *p, int rows, int n, int first_row, gboolean causal); \
  void as_pack_columns_##suffix (float *slice, const float *const *col, int cols, int kc); \
  void as_gemm_rows_##suffix (const float *w, const float *x, int rows, int cols, int n, \
                              float *out); \
  void as_swiglu_##suffix (float *gate, const float *up, int n); \
  void as_gelu_new_##suffix (float *x, int n);

AS_KERNEL_DECLS (baseline)
#if defined(__x86_64__) && defined(__GNUC__)
#define AS_HAVE_X86_KERNELS 1
AS_KERNEL_DECLS (avx2)
AS_KERNEL_DECLS (avx512)
#else
#define AS_HAVE_X86_KERNELS 0
#endif

/* In the portable sources: NAME with this compilation's suffix (baseline
 * unless the build says AS_ISA_SUFFIX=avx2). */
#ifndef AS_ISA_SUFFIX
#define AS_ISA_SUFFIX baseline
#endif
#define AS_ISA_CONCAT2(a, b) a##_##b
#define AS_ISA_CONCAT(a, b) AS_ISA_CONCAT2 (a, b)
#define AS_ISA_FN(name) AS_ISA_CONCAT (name, AS_ISA_SUFFIX)

G_END_DECLS
