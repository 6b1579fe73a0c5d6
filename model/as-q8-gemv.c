/* as-q8-gemv.c — int8-block matrices: quantising fp32 rows, and the
 * product's kernel for this process's instruction-set level. */
#include "as-q8-gemv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

AsQ8Matrix *
as_q8_matrix_new (int rows,
                  int cols)
{
  g_return_val_if_fail (rows > 0 && cols > 0, NULL);
  AsQ8Matrix *m = g_new0 (AsQ8Matrix, 1);
  m->rows = rows;
  m->cols = cols;
  m->blocks = (cols + AS_Q8_BLOCK - 1) / AS_Q8_BLOCK;
  const gsize q_bytes = (gsize) rows * m->blocks * AS_Q8_BLOCK;
  void *q = NULL;
  if (posix_memalign (&q, 64, q_bytes) == 0)
    m->q = memset (q, 0, q_bytes);
  m->scale = g_try_new0 (float, (gsize) rows * m->blocks);
  if (m->q == NULL || m->scale == NULL)
    {
      as_q8_matrix_free (m);
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
as_q8_matrix_quantize (AsQ8Matrix  *m,
                       int          row0,
                       const float *w,
                       int          count)
{
  g_return_if_fail (row0 >= 0 && count >= 0 && row0 + count <= m->rows);
  const gsize stride = (gsize) m->blocks * AS_Q8_BLOCK;
  for (int i = 0; i < count; i++)
    {
      const int r = row0 + i;
      const float *wr = w + (gsize) i * m->cols;   /* [cols] */
      for (int b = 0; b < m->blocks; b++)
        {
          const int c0 = b * AS_Q8_BLOCK;
          quantize_block (m->q + r * stride + c0, m->scale + (gsize) r * m->blocks + b, wr + c0,
                          MIN (AS_Q8_BLOCK, m->cols - c0));
        }
    }
}

void
as_q8_matrix_free (AsQ8Matrix *m)
{
  if (m == NULL)
    return;
  free (m->q);
  g_free (m->scale);
  g_free (m);
}

gsize
as_q8_matrix_bytes (const AsQ8Matrix *m)
{
  return (gsize) m->rows * m->blocks * (AS_Q8_BLOCK + sizeof (float));
}

AsQ8GemvFunc
as_q8_gemv_for (AsIsa isa)
{
  if (isa >= AS_N_ISA || !(as_cpu_isa_supported () & (1u << isa)))
    return NULL;
  switch (isa)
    {
    case AS_ISA_BASELINE:
      return as_q8_gemv_rows_baseline;
#if defined(__x86_64__) && defined(__GNUC__)
    case AS_ISA_AVX2:
      return as_q8_gemv_rows_avx2;
    case AS_ISA_AVX512:
      return as_q8_gemv_rows_avx512;
#endif
    default:
      return NULL;
    }
}

void
as_q8_gemv_rows (const AsQ8Matrix *m,
                 const float      *x,
                 int               r0,
                 int               r1,
                 float            *out)
{
  static AsQ8GemvFunc chosen;
  AsQ8GemvFunc f = g_atomic_pointer_get (&chosen);
  if (G_UNLIKELY (f == NULL))
    {
      f = as_q8_gemv_for (as_cpu_isa ());
      g_atomic_pointer_set (&chosen, f);
    }
  f (m, x, r0, r1, out);
}
