/* as-cpu-llama.c — Llama's fast CPU backend: its weights described to the
 * shared pre-norm decoder pass (as-cpu-decoder.h: RMSNorm, rotary
 * positions, no biases, a gated SiLU FFN), and the block matrices its
 * decoding steps can read instead of fp32 weights (as-block-gemv.h): int8
 * copies, or a GGUF file's own Q8_0/Q4_0/Q4_1 blocks.
 *
 * Shapes: H hidden, NH query heads and NKV key/value heads of d columns,
 * KV = NKV * d, QKV = H + 2 KV, F the FFN's width, V the vocabulary.
 */
#include <string.h>

#include "as-cpu-decoder.h"
#include "as-error.h"
#include "as-llama.h"

/* The int8 copies of layer W's weights, quantised from the fp32 ones,
 * stacked as the packed ones are, into M [4]; FALSE when the memory is not
 * there. */
static gboolean
quantize_layer (const AsConfig            *c,
                const AsLlamaLayerWeights *lw,
                AsBlockMatrix            **m)
{
  const int H = c->hidden, F = c->intermediate, KV = c->n_kv_heads * c->head_dim;
  if ((m[0] = as_block_matrix_new (AS_BLOCK_Q8, H + 2 * KV, H)) == NULL ||
      (m[1] = as_block_matrix_new (AS_BLOCK_Q8, H, H)) == NULL ||
      (m[2] = as_block_matrix_new (AS_BLOCK_Q8, 2 * F, H)) == NULL ||
      (m[3] = as_block_matrix_new (AS_BLOCK_Q8, H, F)) == NULL)
    return FALSE;
  as_block_matrix_quantize (m[0], 0, lw->q_w, H);
  as_block_matrix_quantize (m[0], H, lw->k_w, KV);
  as_block_matrix_quantize (m[0], H + KV, lw->v_w, KV);
  as_block_matrix_quantize (m[1], 0, lw->o_w, H);
  as_block_matrix_quantize (m[2], 0, lw->gate_w, F);
  as_block_matrix_quantize (m[2], F, lw->up_w, F);
  as_block_matrix_quantize (m[3], 0, lw->down_w, H);
  return TRUE;
}

/* The file's tensors PARTS [n] stacked as one block matrix into *OUT, when
 * they share one block format (as_block_format_of_ggml); *OUT stays NULL
 * (fp32) otherwise. ROTARY: the Q and K projections, whose rows the file
 * holds in llama.cpp's order (as_llama_stored_row, heads of D rows). FALSE
 * when the memory is not there. */
static gboolean
read_stacked (const AsGgufTensor *const *parts,
              int                        n,
              const gboolean            *rotary,
              int                        d,
              AsBlockMatrix            **out)
{
  AsBlockFormat format = AS_BLOCK_Q8, part_format;
  int rows = 0;
  for (int i = 0; i < n; i++)
    {
      if (parts[i] == NULL || !as_block_format_of_ggml (parts[i]->type, &part_format) ||
          (i > 0 && part_format != format) || parts[i]->ne[0] != parts[0]->ne[0])
        return TRUE;
      format = part_format;
      rows += (int) parts[i]->n_rows;
    }
  AsBlockMatrix *m = as_block_matrix_new (format, rows, (int) parts[0]->ne[0]);
  if (m == NULL)
    return FALSE;
  int row0 = 0;
  for (int i = 0; i < n; i++)
    {
      const int count = (int) parts[i]->n_rows;
      g_autofree int *source = NULL;   /* [count] */
      if (rotary[i])
        {
          source = g_new (int, count);
          for (int r = 0; r < count; r++)
            source[r] = as_llama_stored_row (r, d);
        }
      as_block_matrix_read_gguf (m, row0, parts[i], source, count);
      row0 += count;
    }
  *out = m;
  return TRUE;
}

/* Layer LW's weights from the model file's own blocks, stacked as the
 * packed ones are, into M [4] (a NULL matrix stays fp32). */
static gboolean
read_layer (const AsConfig            *c,
            const AsLlamaLayerWeights *lw,
            AsBlockMatrix            **m)
{
  const AsGgufTensor *const *t = lw->stored;
  const AsGgufTensor *qkv[3] = { t[AS_LLAMA_Q], t[AS_LLAMA_K], t[AS_LLAMA_V] };
  const AsGgufTensor *gate_up[2] = { t[AS_LLAMA_GATE], t[AS_LLAMA_UP] };
  const gboolean qkv_rotary[3] = { TRUE, TRUE, FALSE }, plain[2] = { FALSE, FALSE };
  return read_stacked (qkv, 3, qkv_rotary, c->head_dim, &m[0]) &&
         read_stacked (&t[AS_LLAMA_O], 1, plain, c->head_dim, &m[1]) &&
         read_stacked (gate_up, 2, plain, c->head_dim, &m[2]) &&
         read_stacked (&t[AS_LLAMA_DOWN], 1, plain, c->head_dim, &m[3]);
}

/* MODEL's layer matrices as block matrices into M [n_layers * 4], its
 * output embedding into *LM_HEAD (as-cpu-decoder.h's read_blocks). */
static gboolean
llama_read_blocks (const AsModel    *model,
                   AsDecodeWeights   weights,
                   AsBlockMatrix   **m,
                   AsBlockMatrix   **lm_head,
                   GError          **error)
{
  const AsConfig *c = model->config;
  const AsLlamaWeights *w = as_llama_weights (model);
  for (int l = 0; l < c->n_layers; l++)
    {
      AsBlockMatrix **lm = m + l * AS_CPU_DECODER_MATRICES;
      const gboolean ok = weights == AS_DECODE_WEIGHTS_INT8 ? quantize_layer (c, &w->layers[l], lm)
                                                            : read_layer (c, &w->layers[l], lm);
      if (!ok)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                       "the %s copy of the weights does not fit in memory",
                       weights == AS_DECODE_WEIGHTS_INT8 ? "int8" : "block");
          return FALSE;
        }
    }
  gboolean ok = TRUE;
  if (weights == AS_DECODE_WEIGHTS_INT8)
    {
      if ((*lm_head = as_block_matrix_new (AS_BLOCK_Q8, c->vocab_size, c->hidden)) != NULL)
        as_block_matrix_quantize (*lm_head, 0, w->lm_head, c->vocab_size);
      ok = *lm_head != NULL;
    }
  else
    {
      const gboolean plain = FALSE;
      ok = read_stacked (&w->lm_head_stored, 1, &plain, c->head_dim, lm_head);
    }
  if (!ok)
    g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                         "the block copy of the output embedding does not fit in memory");
  return ok;
}

/* The pass is tested against the reference (as-reference-llama.c) in
 * tests/test-decode.c. W_q (H rows), W_k and W_v (KV rows each) are copied
 * side by side before packing, one layer at a time: a stacked weight's
 * parts have equal heights. */
AsBackend *
as_llama_cpu_backend_new (const AsModel *model)
{
  const AsConfig *c = model->config;
  const AsLlamaWeights *w = as_llama_weights (model);
  const int H = c->hidden, F = c->intermediate, KV = c->n_kv_heads * c->head_dim;
  const int QKV = H + 2 * KV;
  AsCpuDecoderFamily family = {
    .name = "Llama", .rotary = TRUE, .gated_ffn = TRUE,
    .tok_emb = w->tok_emb, .out_norm_g = w->out_norm,
    .layers = g_new0 (AsCpuDecoderLayer, c->n_layers),
    .read_blocks = llama_read_blocks,
  };
  for (int l = 0; l < c->n_layers; l++)
    {
      family.layers[l].attn_norm_g = w->layers[l].attn_norm;
      family.layers[l].ffn_norm_g = w->layers[l].ffn_norm;
    }
  AsCpuDecoder *self = as_cpu_decoder_new (model, &family);
  g_autofree float *qkv_w = g_new (float, (gsize) QKV * H);   /* [QKV, H] */
  for (int l = 0; l < c->n_layers; l++)
    {
      const AsLlamaLayerWeights *lw = &w->layers[l];
      memcpy (qkv_w, lw->q_w, sizeof (float) * H * H);
      memcpy (qkv_w + (gsize) H * H, lw->k_w, sizeof (float) * KV * H);
      memcpy (qkv_w + (gsize) (H + KV) * H, lw->v_w, sizeof (float) * KV * H);
      const AsGemmStacked from[AS_CPU_DECODER_MATRICES] = {
        [AS_CPU_DECODER_QKV] = { { qkv_w }, 1, QKV, H },
        [AS_CPU_DECODER_O] = { { lw->o_w }, 1, H, H },
        [AS_CPU_DECODER_FFN_IN] = { { lw->gate_w, lw->up_w }, 2, F, H },
        [AS_CPU_DECODER_DOWN] = { { lw->down_w }, 1, H, F },
      };
      as_cpu_decoder_pack_layer (self, l, from);
    }
  return as_cpu_decoder_backend (self);
}
