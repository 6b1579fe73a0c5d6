/* as-dequant.h — GGUF tensors to fp32, in plain reference C.
 *
 * Block layouts as ggml defines them (ggml-common.h, ggml-quants.c) and
 * gguf-py's quants.py reproduces. The maths is theirs, operation for
 * operation in f32, so the floats are bit-for-bit those of
 * gguf.quants.dequantize (see as-dequant.c for why fused multiply-adds
 * cannot change that); the tests hold them to it.
 *
 * Read: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K. Every other type
 * the reader knows is refused by name.
 */
#pragma once

#include <glib.h>

#include "as-gguf.h"

G_BEGIN_DECLS

/* Whether TYPE can be de-quantised. */
gboolean as_dequant_supported (AsGgmlType type);

/* Converts N elements of TYPE (a whole number of blocks) at SRC, which may be
 * unaligned, into DST. TYPE must be supported. */
void     as_dequant_blocks    (AsGgmlType    type,
                               const guint8 *src,
                               gsize         n,
                               float        *dst);

/* FALSE with "FILE: tensor 'X' has type Q2_K, which AttnScope does not read"
 * (AS_MODEL_ERROR_UNSUPPORTED) unless T's type is supported. */
gboolean as_dequant_check     (AsGguf             *gg,
                               const AsGgufTensor *t,
                               GError            **error);

/* Rows [FIRST, FIRST + N_ROWS) of T (a row is ne[0] elements) into DST,
 * N_ROWS x ne[0] floats. Fails on an unsupported type or rows out of range. */
gboolean as_dequant_rows      (AsGguf             *gg,
                               const AsGgufTensor *t,
                               gint64              first,
                               gint64              n_rows,
                               float              *dst,
                               GError            **error);

/* The whole tensor as a new array of n_elements floats (g_free); NULL with
 * an error for an unsupported type or when it does not fit in memory. */
float   *as_dequant_tensor    (AsGguf             *gg,
                               const AsGgufTensor *t,
                               GError            **error);

G_END_DECLS
