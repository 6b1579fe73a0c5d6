/* as-q8-gemv.h — weights kept as int8 blocks, for the optional reduced-
 * precision decoding path (as-decode.h, AS_DECODE_WEIGHTS_INT8).
 *
 * A decoding step multiplies one row by every weight matrix, so its time is
 * the time to stream the weights from memory; int8 weights stream four
 * times fewer bytes than fp32. Each row is cut into blocks of 32 columns,
 * each block stored as 32 int8 values and one fp32 scale, as GGUF's Q8_0
 * does (scale = max |w| / 127 over the block, q = round (w / scale)), with
 * the scale kept in fp32 and the blocks of a row side by side, apart from
 * the scales, so that a row streams as plain int8. The activations stay
 * fp32: y[r] = sum over blocks b of scale[r][b] * sum_i q[r][32b + i] x[32b + i].
 *
 * The product is picked by instruction-set level as the fast path's other
 * kernels are (as-kernels.h, ATTNSCOPE_ISA): a portable one (baseline, and
 * compiled again for AVX2 + FMA) and one written for AVX-512.
 */
#pragma once

#include <glib.h>

#include "as-cpu-features.h"

G_BEGIN_DECLS

#define AS_Q8_BLOCK 32

typedef struct {
  int     rows;
  int     cols;
  int     blocks;   /* per row: ceil (cols / 32) */
  gint8  *q;        /* [rows, blocks * 32]  64-byte aligned; a row's tail past cols is 0 */
  float  *scale;    /* [rows, blocks] */
} AsQ8Matrix;

/* An empty ROWS x COLS matrix to quantise into; NULL when the memory is not
 * there. */
AsQ8Matrix *as_q8_matrix_new      (int               rows,
                                   int               cols);
/* Rows [ROW0, ROW0 + COUNT) of M from the fp32 rows W [COUNT, M->cols]:
 * one matrix can stack several (W_q, W_k, W_v). */
void        as_q8_matrix_quantize (AsQ8Matrix       *m,
                                   int               row0,
                                   const float      *w,
                                   int               count);
void        as_q8_matrix_free     (AsQ8Matrix       *m);
/* Bytes M holds. */
gsize       as_q8_matrix_bytes    (const AsQ8Matrix *m);

/* OUT [r1 - r0] = rows [r0, r1) of M times X [M->cols], with this process's
 * kernel (as_cpu_isa ()). */
void        as_q8_gemv_rows       (const AsQ8Matrix *m,
                                   const float      *x,
                                   int               r0,
                                   int               r1,
                                   float            *out);

typedef void (*AsQ8GemvFunc) (const AsQ8Matrix *m,
                              const float      *x,
                              int               r0,
                              int               r1,
                              float            *out);

/* The kernel of level ISA, or NULL where this build or CPU has none (the
 * tests check every level). */
AsQ8GemvFunc as_q8_gemv_for       (AsIsa             isa);

/* Each level's kernel; the suffix names the level. */
void as_q8_gemv_rows_baseline (const AsQ8Matrix *m, const float *x, int r0, int r1, float *out);
#if defined(__x86_64__) && defined(__GNUC__)
void as_q8_gemv_rows_avx2     (const AsQ8Matrix *m, const float *x, int r0, int r1, float *out);
void as_q8_gemv_rows_avx512   (const AsQ8Matrix *m, const float *x, int r0, int r1, float *out);
#endif

G_END_DECLS
