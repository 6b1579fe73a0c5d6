/* as-cpu-gpt2.c — GPT-2's fast CPU backend: its weights described to the
 * shared pre-norm decoder pass (as-cpu-decoder.h: LayerNorm, learned
 * positions, biases on every projection, one gelu_new FFN layer). Its
 * decoding steps read fp32 weights.
 *
 * GPT-2's Conv1D weights are [in, out], the transpose of nn.Linear's:
 * each is packed where it is (as_cpu_decoder_pack_in_out).
 */
#include "as-cpu-decoder.h"
#include "as-gpt2.h"

/* The pass is tested against the reference (as-reference-gpt2.c) in
 * tests/test-decode.c and against transformers' goldens in
 * tests/test-gpt2.c. */
AsBackend *
as_gpt2_cpu_backend_new (const AsModel *model)
{
  const AsConfig *c = model->config;
  const AsGpt2Weights *w = as_gpt2_weights (model);
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
  for (int l = 0; l < c->n_layers; l++)
    {
      const AsGpt2LayerWeights *lw = &w->layers[l];
      as_cpu_decoder_pack_in_out (self, l, AS_CPU_DECODER_QKV, lw->qkv_w);
      as_cpu_decoder_pack_in_out (self, l, AS_CPU_DECODER_O, lw->proj_w);
      as_cpu_decoder_pack_in_out (self, l, AS_CPU_DECODER_FFN_IN, lw->fc_w);
      as_cpu_decoder_pack_in_out (self, l, AS_CPU_DECODER_DOWN, lw->fc_proj_w);
    }
  return as_cpu_decoder_backend (self);
}
