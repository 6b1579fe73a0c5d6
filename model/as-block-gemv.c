/* as-block-gemv.c — block matrices: quantising fp32 rows, reading a GGUF
 * tensor's own blocks, and the product's kernel for this process's
 * instruction-set level. */
#include "as-block-gemv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "as-safetensors.h"   /* as_f16_to_f32 */
#include "as-thread-pool.h"   /* as_share */

/* Bytes of q per row's block. */
static int
q_bytes_per_block (AsBlockFormat format)
{
  return format == AS_BLOCK_Q4 ? AS_BLOCK / 2 : AS_BLOCK;
}

AsBlockMatrix *
as_block_matrix_new (AsBlockFormat format,
                     int           rows,
                     int           cols)
{
  g_return_val_if_fail (rows > 0 && cols > 0, NULL);
  AsBlockMatrix *m = g_new0 (AsBlockMatrix, 1);
  m->format = format;
  m->rows = rows;
  m->cols = cols;
  m->blocks = (cols + AS_BLOCK - 1) / AS_BLOCK;
  const gsize q_bytes = (gsize) rows * m->blocks * q_bytes_per_block (format);
  void *q = NULL;
  if (posix_memalign (&q, 64, q_bytes) == 0)
    m->q = memset (q, 0, q_bytes);
  m->scale = g_try_new0 (float, (gsize) rows * m->blocks);
  if (format == AS_BLOCK_Q4)
    m->min = g_try_new0 (float, (gsize) rows * m->blocks);
  if (m->q == NULL || m->scale == NULL || (format == AS_BLOCK_Q4 && m->min == NULL))
    {
      as_block_matrix_free (m);
      return NULL;
    }
  return m;
}

/* Block Q [32] and its scale from W [count]: scale = max |w| / 127,
 * q = w / scale rounded to the nearest (ties to even, as gguf-py's Q8_0). */
static void
quantize_block (gint8       *q,
                float       *scale,
                const float *w,
                int          count)
{
  float amax = 0.0f;
  for (int i = 0; i < count; i++)
    amax = MAX (amax, fabsf (w[i]));
  const float d = amax / 127.0f;
  const float inv = d > 0.0f ? 1.0f / d : 0.0f;
  /* Adding and taking away 1.5 * 2^23 leaves a float of magnitude below
   * 2^22 rounded to an integer, ties to even (IEEE's default rounding): as
   * nearbyintf, without a library call per weight. */
  const float round = 12582912.0f;
  for (int i = 0; i < count; i++)
    {
      const float shifted = w[i] * inv + round;   /* not folded: floats are not reassociated */
      q[i] = (gint8) CLAMP (shifted - round, -127.0f, 127.0f);
    }
  *scale = d;
}

void
as_block_matrix_quantize (AsBlockMatrix *m,
                          int            row0,
                          const float   *w,
                          int            count)
{
  g_return_if_fail (m->format == AS_BLOCK_Q8);
  g_return_if_fail (row0 >= 0 && count >= 0 && row0 + count <= m->rows);
  const gsize stride = (gsize) m->blocks * AS_BLOCK;
  for (int i = 0; i < count; i++)
    {
      const int r = row0 + i;
      const float *wr = w + (gsize) i * m->cols;   /* [cols] */
      for (int b = 0; b < m->blocks; b++)
        {
          const int c0 = b * AS_BLOCK;
          quantize_block ((gint8 *) m->q + r * stride + c0, m->scale + (gsize) r * m->blocks + b,
                          wr + c0, MIN (AS_BLOCK, m->cols - c0));
        }
    }
}

gboolean
as_block_format_of_ggml (AsGgmlType     type,
                         AsBlockFormat *format)
{
  switch (type)
    {
    case AS_GGML_Q8_0:
      *format = AS_BLOCK_Q8;
      return TRUE;
    case AS_GGML_Q4_0:
    case AS_GGML_Q4_1:
      *format = AS_BLOCK_Q4;
      return TRUE;
    default:
      return FALSE;
    }
}

static float
f16_at (const guint8 *p)
{
  return as_f16_to_f32 ((guint16) (p[0] | (p[1] << 8)));
}

/* One GGUF block at SRC (layouts as as-dequant.c reads them) into block B
 * of row R of M. */
static void
read_block (AsBlockMatrix *m,
            int            r,
            int            b,
            AsGgmlType     type,
            const guint8  *src)
{
  const gsize at = (gsize) r * m->blocks + b;
  guint8 *q = m->q + at * q_bytes_per_block (m->format);
  switch (type)
    {
    case AS_GGML_Q8_0:   /* f16 d, int8 q[32]; w = d * q */
      m->scale[at] = f16_at (src);
      memcpy (q, src + 2, AS_BLOCK);
      break;
    case AS_GGML_Q4_0:   /* f16 d, nibbles; w = d * (q - 8) = d * q + (-8 d), exactly */
      m->scale[at] = f16_at (src);
      m->min[at] = -8.0f * m->scale[at];
      memcpy (q, src + 2, AS_BLOCK / 2);
      break;
    case AS_GGML_Q4_1:   /* f16 d, f16 m, nibbles; w = d * q + m */
      m->scale[at] = f16_at (src);
      m->min[at] = f16_at (src + 2);
      memcpy (q, src + 4, AS_BLOCK / 2);
      break;
    default:
      g_assert_not_reached ();
    }
}

void
as_block_matrix_read_gguf (AsBlockMatrix      *m,
                           int                 row0,
                           const AsGgufTensor *t,
                           const int          *source_rows,
                           int                 count)
{
  AsBlockFormat format;
  guint block_elements, block_bytes;
  g_return_if_fail (as_block_format_of_ggml (t->type, &format) && format == m->format);
  g_return_if_fail (t->ne[0] == m->cols && row0 >= 0 && row0 + count <= m->rows);
  as_ggml_type_layout (t->type, &block_elements, &block_bytes);
  g_return_if_fail (block_elements == AS_BLOCK);
  const gsize row_bytes = (gsize) m->blocks * block_bytes;
  for (int i = 0; i < count; i++)
    {
      const gint64 from = source_rows != NULL ? source_rows[i] : i;
      g_return_if_fail (from >= 0 && from < t->n_rows);
      const guint8 *src = t->data + (gsize) from * row_bytes;
      for (int b = 0; b < m->blocks; b++)
        read_block (m, row0 + i, b, t->type, src + (gsize) b * block_bytes);
    }
}

void
as_block_matrix_free (AsBlockMatrix *m)
{
  if (m == NULL)
    return;
  free (m->q);
  g_free (m->scale);
  g_free (m->min);
  g_free (m);
}

gsize
as_block_matrix_bytes (const AsBlockMatrix *m)
{
  const gsize per_block = q_bytes_per_block (m->format) +
                          (m->format == AS_BLOCK_Q4 ? 2 : 1) * sizeof (float);
  return (gsize) m->rows * m->blocks * per_block;
}

AsBlockGemvFunc
as_block_gemv_for (AsIsa         isa,
                   AsBlockFormat format)
{
  if (isa >= AS_N_ISA || !(as_cpu_isa_supported () & (1u << isa)))
    return NULL;
  const gboolean q4 = format == AS_BLOCK_Q4;
  switch (isa)
    {
    case AS_ISA_BASELINE:
      return q4 ? as_block_gemv_q4_rows_baseline : as_block_gemv_q8_rows_baseline;
#if defined(__x86_64__) && defined(__GNUC__)
    case AS_ISA_AVX2:
      return q4 ? as_block_gemv_q4_rows_avx2 : as_block_gemv_q8_rows_avx2;
    case AS_ISA_AVX512:
      return q4 ? as_block_gemv_q4_rows_avx512 : as_block_gemv_q8_rows_avx512;
#endif
    default:
      return NULL;
    }
}

void
as_block_gemv_rows (const AsBlockMatrix *m,
                    const float         *x,
                    int                  r0,
                    int                  r1,
                    float               *out)
{
  static AsBlockGemvFunc chosen[2];
  AsBlockGemvFunc f = g_atomic_pointer_get (&chosen[m->format]);
  if (G_UNLIKELY (f == NULL))
    {
      f = as_block_gemv_for (as_cpu_isa (), m->format);
      g_atomic_pointer_set (&chosen[m->format], f);
    }
  f (m, x, r0, r1, out);
}

void
as_block_gemv_share (const AsBlockMatrix *m,
                     const float         *x,
                     const float         *bias,
                     float               *out,
                     int                  t,
                     int                  threads)
{
  int g0, g1;
  as_share ((m->rows + 15) / 16, t, threads, &g0, &g1);
  const int r0 = MIN (g0 * 16, m->rows), r1 = MIN (g1 * 16, m->rows);
  as_block_gemv_rows (m, x, r0, r1, out + r0);
  if (bias != NULL)
    for (int r = r0; r < r1; r++)
      out[r] += bias[r];
}
