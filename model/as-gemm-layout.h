/* as-gemm-layout.h — where things are in a packed B (as-gemm.h), for the
 * packing code and every instruction-set version of the kernel.
 */
#pragma once

#include <glib.h>

/* Columns of a packed panel. Every kernel reads this one layout (the
 * AVX-512 one two or three panels at a time), so weights are packed the
 * same way whatever ATTNSCOPE_ISA says. */
#define AS_GEMM_NR 16

/* Deepest block of the depth: a packed B is cut into equal blocks of at
 * most this many rows, each holding every panel. */
#define AS_GEMM_KC 256

/* Depth of the blocks for a product of depth K: equal blocks of at most
 * AS_GEMM_KC. */
static inline int
as_gemm_depth_step (int k)
{
  int blocks = MAX (1, (k + AS_GEMM_KC - 1) / AS_GEMM_KC);
  return (k + blocks - 1) / blocks;
}

/* Where panel P's slice [kc][16] of the depth block starting at K0 (KC
 * deep) starts; panel P + 1's follows it directly. */
static inline gsize
as_gemm_slice_offset (int k0,
                      int kc,
                      int p,
                      int panels)
{
  return ((gsize) k0 * panels + (gsize) p * kc) * AS_GEMM_NR;
}
