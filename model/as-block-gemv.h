/* as-block-gemv.h — weight matrices kept as blocks of 32 columns, for the
 * one-row products of a decoding step (as-decode.h).
 *
 * A decoding step multiplies one row by every weight matrix, so its time is
 * the time to stream the weights from memory: blocks stream a fraction of
 * fp32's bytes. Two formats:
 *
 *  - AS_BLOCK_Q8: 32 int8 values and one fp32 scale, as GGUF's Q8_0;
 *    w = scale * q. Either quantised here from fp32 weights (the int8
 *    option: scale = max |w| / 127 over the block, q = round (w / scale),
 *    not exact) or read from a Q8_0 tensor of the model's file (exact:
 *    the scale is the block's f16 one, so scale * q is the weight itself).
 *  - AS_BLOCK_Q4: 32 four-bit values, an fp32 scale d and an fp32 min m,
 *    as GGUF's Q4_1 (Q4_0 is the same with m = -8 d); w = d * q + m. Read
 *    only from the model's file. The kernels form each weight with one
 *    fused multiply-add; d * q is exact in fp32 (an f16 scale has 11
 *    significant bits, q 4), so that rounds once, where gguf-py's
 *    de-quantisation rounds, and the weight a product uses is bit for bit
 *    the fp32 weight the prompt pass (as-dequant.c) uses.
 *
 * The activations stay fp32: y[r] = sum over blocks b and i of
 * w[r][32b + i] x[32b + i]. The kernels are picked by instruction-set level
 * as the fast path's other kernels are (as-kernels.h, ATTNSCOPE_ISA): a
 * portable one (baseline, and compiled again for AVX2 + FMA) and one
 * written for AVX-512.
 */
#pragma once

#include <glib.h>

#include "as-cpu-features.h"
#include "as-gguf.h"

G_BEGIN_DECLS

#define AS_BLOCK 32

typedef enum {
  AS_BLOCK_Q8,
  AS_BLOCK_Q4,
} AsBlockFormat;

typedef struct {
  AsBlockFormat format;
  int     rows;
  int     cols;
  int     blocks;   /* per row: ceil (cols / 32) */
  guint8 *q;        /* 64-byte aligned, a row's blocks side by side, a row's tail past cols 0:
                     *   Q8: [rows, blocks * 32] int8
                     *   Q4: [rows, blocks * 16] byte j of a block holds element j in its
                     *       low nibble and element j + 16 in its high one (GGUF's order) */
  float  *scale;    /* [rows, blocks] */
  float  *min;      /* [rows, blocks] Q4 only; NULL for Q8 */
} AsBlockMatrix;

/* An empty ROWS x COLS matrix of FORMAT to fill; NULL when the memory is
 * not there. */
AsBlockMatrix *as_block_matrix_new      (AsBlockFormat        format,
                                         int                  rows,
                                         int                  cols);
/* Rows [ROW0, ROW0 + COUNT) of the Q8 matrix M quantised from the fp32 rows
 * W [COUNT, M->cols]: one matrix can stack several (W_q, W_k, W_v). */
void           as_block_matrix_quantize (AsBlockMatrix       *m,
                                         int                  row0,
                                         const float         *w,
                                         int                  count);

/* The format that holds a GGUF tensor of TYPE exactly (Q8_0: Q8; Q4_0,
 * Q4_1: Q4); FALSE for every other type. */
gboolean       as_block_format_of_ggml  (AsGgmlType           type,
                                         AsBlockFormat       *format);
/* Rows [ROW0, ROW0 + COUNT) of M from tensor T, whose type must hold M's
 * format exactly and whose rows are M->cols long: row ROW0 + i is T's row
 * SOURCE_ROWS[i] (NULL: row i). */
void           as_block_matrix_read_gguf (AsBlockMatrix      *m,
                                          int                 row0,
                                          const AsGgufTensor *t,
                                          const int          *source_rows,
                                          int                 count);
void           as_block_matrix_free     (AsBlockMatrix       *m);
/* Bytes M holds. */
gsize          as_block_matrix_bytes    (const AsBlockMatrix *m);

/* OUT [r1 - r0] = rows [r0, r1) of M times X [M->cols], with this process's
 * kernel for M's format (as_cpu_isa ()). */
void           as_block_gemv_rows       (const AsBlockMatrix *m,
                                         const float         *x,
                                         int                  r0,
                                         int                  r1,
                                         float               *out);

/* Thread T of THREADS's share of OUT [M->rows] = M X (+ BIAS [M->rows],
 * NULL: none): whole groups of 16 rows, so that threads never write the
 * same cache line of OUT. */
void           as_block_gemv_share      (const AsBlockMatrix *m,
                                         const float         *x,
                                         const float         *bias,
                                         float               *out,
                                         int                  t,
                                         int                  threads);

typedef void (*AsBlockGemvFunc) (const AsBlockMatrix *m,
                                 const float         *x,
                                 int                  r0,
                                 int                  r1,
                                 float               *out);

/* The kernel of level ISA for FORMAT, or NULL where this build or CPU has
 * none (the tests check every level). */
AsBlockGemvFunc as_block_gemv_for       (AsIsa                isa,
                                         AsBlockFormat        format);

/* Each level's kernels; the suffix names the level. */
void as_block_gemv_q8_rows_baseline (const AsBlockMatrix *m, const float *x, int r0, int r1, float *out);
void as_block_gemv_q4_rows_baseline (const AsBlockMatrix *m, const float *x, int r0, int r1, float *out);
#if defined(__x86_64__) && defined(__GNUC__)
void as_block_gemv_q8_rows_avx2     (const AsBlockMatrix *m, const float *x, int r0, int r1, float *out);
void as_block_gemv_q4_rows_avx2     (const AsBlockMatrix *m, const float *x, int r0, int r1, float *out);
void as_block_gemv_q8_rows_avx512   (const AsBlockMatrix *m, const float *x, int r0, int r1, float *out);
void as_block_gemv_q4_rows_avx512   (const AsBlockMatrix *m, const float *x, int r0, int r1, float *out);
#endif

G_END_DECLS
