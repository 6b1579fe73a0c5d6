/* as-dequant.c — GGUF blocks to fp32; see as-dequant.h.
 *
 * Every block is read byte by byte (the f16 scales assembled from their two
 * bytes), so tensors may sit at any address. Each function converts one block; the loops above
 * walk the blocks.
 */
#include "as-dequant.h"

#include <string.h>

#include "as-error.h"
#include "as-safetensors.h"  /* as_f16_to_f32, as_bf16_to_f32 */

/* Bit for bit with the reference whatever the compiler fuses: every product
 * that an add or subtract follows is exact in f32 (an f16 scale has 11
 * significant bits; with a 6-bit sub-scale and a quant of at most 8 bits the
 * product stays within 24), so the one rounding is that add (Q4_1, Q4_K,
 * Q5_K) or the last multiply (Q8_0, Q4_0, Q6_K), and a fused multiply-add
 * rounds at the same place. (Checked: built with
 * -march=native, where GCC emits FMAs here, the results are unchanged.) */

#define QK 32      /* elements per block of the 32-element types */
#define QK_K 256   /* elements per K-quant super-block */

static float
f16_at (const guint8 *p)
{
  return as_f16_to_f32 ((guint16) (p[0] | (p[1] << 8)));
}

/* ------------------------------------------------------------------------ */
/* 32-element blocks                                                        */

/* Q8_0, 34 bytes: f16 d, int8 q[32]; w = d * q. */
static void
block_q8_0 (const guint8 *b,
            float        *y)
{
  const float d = f16_at (b);
  for (int i = 0; i < QK; i++)
    y[i] = d * (float) (gint8) b[2 + i];
}

/* Q4_0, 18 bytes: f16 d, 16 bytes of nibbles. Byte j holds element j in its
 * low nibble and element j + 16 in its high one; w = d * (q - 8). */
static void
block_q4_0 (const guint8 *b,
            float        *y)
{
  const float d = f16_at (b);
  const guint8 *qs = b + 2;
  for (int j = 0; j < QK / 2; j++)
    {
      y[j] = d * (float) ((qs[j] & 0x0f) - 8);
      y[j + QK / 2] = d * (float) ((qs[j] >> 4) - 8);
    }
}

/* Q4_1, 20 bytes: f16 d, f16 m, nibbles as Q4_0; w = d * q + m. */
static void
block_q4_1 (const guint8 *b,
            float        *y)
{
  const float d = f16_at (b);
  const float m = f16_at (b + 2);
  const guint8 *qs = b + 4;
  for (int j = 0; j < QK / 2; j++)
    {
      y[j] = d * (float) (qs[j] & 0x0f) + m;
      y[j + QK / 2] = d * (float) (qs[j] >> 4) + m;
    }
}

/* ------------------------------------------------------------------------ */
/* K-quants: 256-element super-blocks of 8 (Q4_K, Q5_K) or 16 (Q6_K)
 * sub-blocks, each with its own quantised scale.                           */

/* Q4_K and Q5_K pack eight 6-bit scales and eight 6-bit mins in 12 bytes:
 *   bytes 0-3:  scale j (j < 4) in the low 6 bits; top 2 bits of scale j+4
 *   bytes 4-7:  min j (j < 4) in the low 6 bits;   top 2 bits of min j+4
 *   bytes 8-11: low 4 bits of scale j+4 | low 4 bits of min j+4 << 4       */
static void
scale_min_k4 (int           j,
              const guint8 *q,
              guint8       *scale,
              guint8       *min)
{
  if (j < 4)
    {
      *scale = q[j] & 63;
      *min = q[j + 4] & 63;
    }
  else
    {
      *scale = (guint8) ((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
      *min = (guint8) ((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q4_K, 144 bytes: f16 d, f16 dmin, 12 bytes of scales, 128 bytes of
 * nibbles. Each 64 elements take 32 bytes: sub-block 2i the low nibbles,
 * 2i+1 the high ones; w = (d * scale) * q - (dmin * min). */
static void
block_q4_k (const guint8 *b,
            float        *y)
{
  const float d = f16_at (b);
  const float dmin = f16_at (b + 2);
  const guint8 *scales = b + 4;
  const guint8 *qs = b + 16;
  for (int i = 0; i < 4; i++, qs += 32, y += 64)
    {
      guint8 sc0, m0, sc1, m1;
      scale_min_k4 (2 * i, scales, &sc0, &m0);
      scale_min_k4 (2 * i + 1, scales, &sc1, &m1);
      const float d0 = d * (float) sc0, dm0 = dmin * (float) m0;
      const float d1 = d * (float) sc1, dm1 = dmin * (float) m1;
      for (int l = 0; l < 32; l++)
        {
          y[l] = d0 * (float) (qs[l] & 0x0f) - dm0;
          y[l + 32] = d1 * (float) (qs[l] >> 4) - dm1;
        }
    }
}

/* Q5_K, 176 bytes: as Q4_K with 32 bytes of high bits (qh) before the
 * nibbles: bit s of qh[l] is the fifth bit of element l of sub-block s. */
static void
block_q5_k (const guint8 *b,
            float        *y)
{
  const float d = f16_at (b);
  const float dmin = f16_at (b + 2);
  const guint8 *scales = b + 4;
  const guint8 *qh = b + 16;
  const guint8 *qs = b + 48;
  for (int i = 0; i < 4; i++, qs += 32, y += 64)
    {
      guint8 sc0, m0, sc1, m1;
      scale_min_k4 (2 * i, scales, &sc0, &m0);
      scale_min_k4 (2 * i + 1, scales, &sc1, &m1);
      const float d0 = d * (float) sc0, dm0 = dmin * (float) m0;
      const float d1 = d * (float) sc1, dm1 = dmin * (float) m1;
      const guint8 u0 = (guint8) (1u << (2 * i)), u1 = (guint8) (2u << (2 * i));
      for (int l = 0; l < 32; l++)
        {
          y[l] = d0 * (float) ((qs[l] & 0x0f) + (qh[l] & u0 ? 16 : 0)) - dm0;
          y[l + 32] = d1 * (float) ((qs[l] >> 4) + (qh[l] & u1 ? 16 : 0)) - dm1;
        }
    }
}

/* Q6_K, 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), int8
 * scales[16], f16 d. Each half of 128 elements uses 64 bytes of ql and 32
 * of qh: element l + 32k (k = 0..3) takes its low nibble from ql[l] (k even)
 * or ql[l + 32] (k odd), low then high nibble for k < 2 and k >= 2, and its
 * top bits from bits 2k, 2k+1 of qh[l]; 16 elements share a scale;
 * w = (d * scale) * (q - 32). */
static void
block_q6_k (const guint8 *b,
            float        *y)
{
  const guint8 *ql = b;
  const guint8 *qh = b + 128;
  const guint8 *sc = b + 192;
  const float d = f16_at (b + 208);
  for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128)
    for (int l = 0; l < 32; l++)
      {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * (float) (gint8) sc[is] * (float) q1;
        y[l + 32] = d * (float) (gint8) sc[is + 2] * (float) q2;
        y[l + 64] = d * (float) (gint8) sc[is + 4] * (float) q3;
        y[l + 96] = d * (float) (gint8) sc[is + 6] * (float) q4;
      }
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */

typedef void (*BlockFn) (const guint8 *block, float *y);

/* The block function of TYPE, or NULL for the plain types and unsupported
 * ones. */
static BlockFn
block_fn (AsGgmlType type)
{
  switch (type)
    {
    case AS_GGML_Q8_0: return block_q8_0;
    case AS_GGML_Q4_0: return block_q4_0;
    case AS_GGML_Q4_1: return block_q4_1;
    case AS_GGML_Q4_K: return block_q4_k;
    case AS_GGML_Q5_K: return block_q5_k;
    case AS_GGML_Q6_K: return block_q6_k;
    default:           return NULL;
    }
}

gboolean
as_dequant_supported (AsGgmlType type)
{
  return type == AS_GGML_F32 || type == AS_GGML_F16 || type == AS_GGML_BF16 ||
         block_fn (type) != NULL;
}

void
as_dequant_blocks (AsGgmlType    type,
                   const guint8 *src,
                   gsize         n,
                   float        *dst)
{
  guint block = 0, bytes = 0;
  g_return_if_fail (as_dequant_supported (type));
  as_ggml_type_layout (type, &block, &bytes);
  g_return_if_fail (n % block == 0);

  switch (type)
    {
    case AS_GGML_F32:
      for (gsize i = 0; i < n; i++)
        {
          guint32 bits = (guint32) src[4 * i] | (guint32) src[4 * i + 1] << 8 |
                         (guint32) src[4 * i + 2] << 16 | (guint32) src[4 * i + 3] << 24;
          memcpy (&dst[i], &bits, 4);
        }
      return;
    case AS_GGML_F16:
      for (gsize i = 0; i < n; i++)
        dst[i] = f16_at (src + 2 * i);
      return;
    case AS_GGML_BF16:
      for (gsize i = 0; i < n; i++)
        dst[i] = as_bf16_to_f32 ((guint16) (src[2 * i] | (src[2 * i + 1] << 8)));
      return;
    default:
      break;
    }
  BlockFn fn = block_fn (type);
  for (gsize b = 0; b < n / block; b++)
    fn (src + b * bytes, dst + b * block);
}

gboolean
as_dequant_check (AsGguf             *gg,
                  const AsGgufTensor *t,
                  GError            **error)
{
  g_return_val_if_fail (gg != NULL && t != NULL, FALSE);
  if (as_dequant_supported (t->type))
    return TRUE;
  g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
               "%s: tensor '%s' has type %s, which AttnScope does not read "
               "(it reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K and Q6_K)",
               as_gguf_get_path (gg), t->name, as_ggml_type_name (t->type));
  return FALSE;
}

gboolean
as_dequant_rows (AsGguf             *gg,
                 const AsGgufTensor *t,
                 gint64              first,
                 gint64              n_rows,
                 float              *dst,
                 GError            **error)
{
  g_return_val_if_fail (gg != NULL && t != NULL, FALSE);
  g_return_val_if_fail (dst != NULL || n_rows == 0, FALSE);
  if (!as_dequant_check (gg, t, error))
    return FALSE;
  if (first < 0 || n_rows < 0 || first > t->n_rows || n_rows > t->n_rows - first)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "%s: tensor '%s': rows [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ") are outside "
                   "its %" G_GINT64_FORMAT " rows", as_gguf_get_path (gg), t->name,
                   first, first + n_rows, t->n_rows);
      return FALSE;
    }
  /* ne[0] is a whole number of blocks (the reader checked), so a row is a
   * whole number of bytes. */
  guint block = 0, bytes = 0;
  as_ggml_type_layout (t->type, &block, &bytes);
  const gsize row_bytes = (gsize) t->ne[0] / block * bytes;
  as_dequant_blocks (t->type, t->data + (gsize) first * row_bytes,
                     (gsize) (n_rows * t->ne[0]), dst);
  return TRUE;
}

float *
as_dequant_tensor (AsGguf             *gg,
                   const AsGgufTensor *t,
                   GError            **error)
{
  g_return_val_if_fail (gg != NULL && t != NULL, NULL);
  if (!as_dequant_check (gg, t, error))
    return NULL;
  /* n_elements fits in memory only if n_elements * 4 does not wrap. */
  float *dst = (guint64) t->n_elements <= G_MAXSIZE / sizeof (float)
             ? g_try_new (float, (gsize) t->n_elements) : NULL;
  if (dst == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "%s: tensor '%s' (%" G_GINT64_FORMAT " elements) does not fit in memory as fp32",
                   as_gguf_get_path (gg), t->name, t->n_elements);
      return NULL;
    }
  as_dequant_rows (gg, t, 0, t->n_rows, dst, NULL);
  return dst;
}
