/* as-gemm.h — the fast CPU path's one matrix product: C = epilogue(A B) with
 * B "packed", cut into panels of 16 output columns, each stored [k][16] so
 * the kernel streams it.
 *
 * Weights are packed once (as_gemm_pack_stacked, a share of the panels per
 * thread); per-pass operands such as K_h and V_h are packed into the
 * caller's scratch (as_gemm_pack_b). The epilogue (bias, GELU, scale) is
 * applied while the tile of C is still in registers. Work is split by
 * panels, so a caller can share one product between threads without
 * changing any element's sums. The kernel is the one for the instruction
 * set as_cpu_isa () chose (as-kernels.h); every one reads this layout.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Floats of the scratch one call of as_gemm_panels needs for its block of A
 * (about 120 rows x 256 deep: stays in L2), 64-byte aligned. */
#define AS_GEMM_A_SCRATCH (120 * 256)

/* The right operand B [k, n] of a product, packed: depth blocks, each holding
 * every panel as [kc][16] (zero beyond column n), so a product reads each
 * block of B as one sequential stream. */
typedef struct {
  float *data;       /* [depth blocks][panels][kc][16], 64-byte aligned */
  int    k;          /* depth */
  int    n;          /* columns of the product (before padding) */
} AsPacked;

typedef enum {
  AS_GEMM_PLAIN,     /* C = A B */
  AS_GEMM_BIAS,      /* C = A B + bias */
  AS_GEMM_BIAS_GELU, /* C = gelu(A B + bias), as_fast_gelu */
  AS_GEMM_SCALE,     /* C = (A B) * scale */
} AsGemmEpilogue;

typedef struct {
  const float    *a;        /* [m, k], leading dimension lda */
  int             lda;
  int             m;
  const AsPacked *b;        /* k x n, packed */
  float          *c;        /* [m, n], leading dimension ldc */
  int             ldc;
  AsGemmEpilogue  epi;
  const float    *bias;     /* [n] for AS_GEMM_BIAS* */
  float           scale;    /* for AS_GEMM_SCALE */
} AsGemm;

/* Panels of 16 columns that N columns take. */
int         as_gemm_panels_for     (int n);

/* Floats a packed B [k, n] takes. */
gsize       as_gemm_packed_floats  (int n,
                                    int k);

/* COUNT floats, 64-byte aligned (g_aligned_free). */
float      *as_gemm_aligned_floats (gsize count);

/* Packs B [k, n] into DATA (as_gemm_packed_floats (n, k), 64-byte aligned).
 * Element (kk, j) of B is at B + kk * KSTRIDE + j * JSTRIDE: W [n, k] (an
 * nn.Linear weight, or K_h for Q K^T) has KSTRIDE 1, JSTRIDE its row length;
 * a row-major B [k, n] (V_h for P V) the other way round. */
void        as_gemm_pack_b         (AsPacked    *dst,
                                    float       *data,
                                    const float *b,
                                    gsize        kstride,
                                    gsize        jstride,
                                    int          n,
                                    int          k);

/* W [n, k] (an nn.Linear weight: out x in) packed, in memory of its own, as
 * the right operand of x W^T. */
void        as_gemm_pack_weight    (AsPacked    *dst,
                                    const float *w,
                                    int          n,
                                    int          k);
void        as_packed_clear        (AsPacked    *packed);

/* Weights [n_parts * rows, k] whose parts lie apart in memory (W_q, W_k and
 * W_v as one [3H, H] projection), read in place: no stacked copy. */
typedef struct {
  const float *part[3];   /* each [rows, k] */
  int          n_parts;
  int          rows;
  int          k;
} AsGemmStacked;

/* Panels [P0, P1) of W into DST, whose data (as_gemm_packed_floats),
 * n = n_parts * rows and k are set: threads pack disjoint shares. */
void        as_gemm_pack_stacked   (AsPacked            *dst,
                                    const AsGemmStacked *w,
                                    int                  p0,
                                    int                  p1);

/* COUNT floats for many packed weights at once, 64-byte aligned, in huge
 * pages where the system has them; *BYTES is what as_gemm_arena_free
 * needs. */
float      *as_gemm_arena_new      (gsize        count,
                                    gsize       *bytes);
void        as_gemm_arena_free     (float       *arena,
                                    gsize        bytes);

/* Panels [P0, P1) of G: C[:, 16 P0 .. 16 P1) = epilogue(A B), with
 * A_SCRATCH (AS_GEMM_A_SCRATCH floats, 64-byte aligned) for the packed A.
 * Shares that start at a multiple of as_gemm_panel_step () keep the
 * kernel's widest tile busy. */
void        as_gemm_panels         (const AsGemm *g,
                                    int           p0,
                                    int           p1,
                                    float        *a_scratch);

/* Panels of 16 columns the kernel's register tile spans (1, or 2 for
 * AVX-512's 32 columns). */
int         as_gemm_panel_step     (void);

/* The kernel that runs, for describe (): "AVX-512 14x32" (g_free). */
char       *as_gemm_kernel_describe (void);

G_END_DECLS
