/* as-cpu-gpt2.c — GPT-2's fast CPU backend: its weights described to the
 * shared pre-norm decoder pass (as-cpu-decoder.h: LayerNorm, learned
 * positions, biases on every projection, one gelu_new FFN layer). Its
 * decoding steps read fp32 weights.
 *
 * Shapes: H hidden, F the MLP's width. GPT-2's Conv1D weights are
 * [in, out]; the packer reads nn.Linear's [out, in], so each is transposed
 * first, one layer at a time.
 */
#include "as-cpu-decoder.h"
#include "as-gpt2.h"

/* DST [cols, rows] = SRC [rows, cols] transposed. */
static void
transpose (float       *dst,
           const float *src,
           int          rows,
           int          cols)
{
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++)
      dst[(gsize) c * rows + r] = src[(gsize) r * cols + c];
}

/* The pass is tested against the reference (as-reference-gpt2.c) in
 * tests/test-decode.c and against transformers' goldens in
 * tests/test-gpt2.c. */
AsBackend *
as_gpt2_cpu_backend_new (const AsModel *model)
{
  const AsConfig *c = model->config;
  const AsGpt2Weights *w = as_gpt2_weights (model);
  const int H = c->hidden, F = c->intermediate;
  AsCpuDecoderFamily family = {
    .name = "GPT-2", .rotary = FALSE, .gated_ffn = FALSE,
    .tok_emb = w->wte, .pos_emb = w->wpe, .out_norm_g = w->lnf_g, .out_norm_b = w->lnf_b,
    .layers = g_new0 (AsCpuDecoderLayer, c->n_layers),
  };
  for (int l = 0; l < c->n_layers; l++)
    {
      const AsGpt2LayerWeights *lw = &w->layers[l];
      family.layers[l] = (AsCpuDecoderLayer) {
        .attn_norm_g = lw->ln1_g, .attn_norm_b = lw->ln1_b,
        .ffn_norm_g = lw->ln2_g, .ffn_norm_b = lw->ln2_b,
        .qkv_b = lw->qkv_b, .o_b = lw->proj_b, .ffn_in_b = lw->fc_b, .down_b = lw->fc_proj_b,
      };
    }
  AsCpuDecoder *self = as_cpu_decoder_new (model, &family);
  g_autofree float *qkv = g_new (float, (gsize) 3 * H * H);   /* [3H, H] */
  g_autofree float *o = g_new (float, (gsize) H * H);         /* [H, H] */
  g_autofree float *fc = g_new (float, (gsize) F * H);        /* [F, H] */
  g_autofree float *down = g_new (float, (gsize) H * F);      /* [H, F] */
  for (int l = 0; l < c->n_layers; l++)
    {
      const AsGpt2LayerWeights *lw = &w->layers[l];
      transpose (qkv, lw->qkv_w, H, 3 * H);
      transpose (o, lw->proj_w, H, H);
      transpose (fc, lw->fc_w, H, F);
      transpose (down, lw->fc_proj_w, F, H);
      const AsGemmStacked from[AS_CPU_DECODER_MATRICES] = {
        [AS_CPU_DECODER_QKV] = { { qkv }, 1, 3 * H, H },
        [AS_CPU_DECODER_O] = { { o }, 1, H, H },
        [AS_CPU_DECODER_FFN_IN] = { { fc }, 1, F, H },
        [AS_CPU_DECODER_DOWN] = { { down }, 1, H, F },
      };
      as_cpu_decoder_pack_layer (self, l, from);
    }
  return as_cpu_decoder_backend (self);
}
