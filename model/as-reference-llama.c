/* as-reference-llama.c — the plain fp32 forward pass of a Llama decoder.
 *
 * The yardstick for Llama-family models, in the manner of as-reference.c:
 * one short function per step of transformers' LlamaModel in eager mode,
 * loops straight from the equations, every sum in fp32 in index order, one
 * thread, a fresh buffer per step. The element-wise maths (RMSNorm of a
 * row, SiLU, rotary positions, softmax of a row, 1/sqrt(d)) is
 * as-elementwise.h. Its fidelity is checked against transformers' outputs
 * on SmolLM2-135M (tests/test-llama.c). The pass around these steps
 * (attention, the layers in order, the backend) is the decoders' shared one,
 * as-reference-decoder.c. Llama's fast "cpu" backend is as-cpu-llama.c.
 *
 * Shapes: n tokens, H hidden, NH query heads and NKV key/value heads of
 * d = H / NH columns (each K/V head serves NH / NKV query heads: grouped-
 * query attention), KV = NKV * d, F the FFN's width. Matrices are
 * row-major; a token's vector is a row.
 */
#include <string.h>

#include "as-elementwise.h"
#include "as-error.h"
#include "as-layer-trace.h"
#include "as-llama.h"
#include "as-reference-decoder.h"
#include "as-reference.h"

/* --- the steps -------------------------------------------------------------- */

/* a->x[n, H] = embed[ids[i]]: no positions here (they are rotary). */
static void
llama_embed (const AsModel          *model,
             const AsForwardRequest *req,
             AsDecoderActivations   *a)
{
  const int H = model->config->hidden;
  const AsLlamaWeights *w = as_llama_weights (model);
  const gsize nH = (gsize) req->n * H;
  for (int i = 0; i < req->n; i++)
    memcpy (a->x + (gsize) i * H, w->tok_emb + (gsize) req->ids[i] * H, sizeof (float) * H);
  /* The token rows are the whole input: no sum, no norm. */
  as_layer_trace_keep (a->trace, token_embed, a->x, nH);
  as_layer_trace_keep (a->trace, embed_sum, a->x, nH);
  as_layer_trace_keep (a->trace, embed_out, a->x, nH);
}

/* out[n, dim] = RMSNorm(in) * g, row by row. */
static void
rms_norm (float       *out,
          const float *in,
          const float *g,
          int          n,
          int          dim,
          float        eps)
{
  for (int i = 0; i < n; i++)
    as_rms_norm_row (out + (gsize) i * dim, in + (gsize) i * dim, g, dim, eps);
}

/* out[n, out_dim] = in[n, in_dim] W^T, with W [out_dim, in_dim] as
 * nn.Linear stores it (Llama's projections have no bias). */
static void
linear (float       *out,
        const float *in,
        const float *w,
        int          n,
        int          in_dim,
        int          out_dim)
{
  for (int i = 0; i < n; i++)
    {
      const float *in_i = in + (gsize) i * in_dim;   /* [in_dim] */
      float *out_i = out + (gsize) i * out_dim;      /* [out_dim] */
      for (int o = 0; o < out_dim; o++)
        {
          const float *w_o = w + (gsize) o * in_dim;   /* [in_dim] */
          float sum = 0.0f;
          for (int k = 0; k < in_dim; k++)
            sum += in_i[k] * w_o[k];
          out_i[o] = sum;
        }
    }
}

/* Rotary positions: every head of x[n, heads * d] at token i turned by
 * position i, in place. */
static void
rope (float *x,
      int    n,
      int    heads,
      int    d,
      float  theta)
{
  for (int i = 0; i < n; i++)
    for (int h = 0; h < heads; h++)
      as_rope_head (x + ((gsize) i * heads + h) * d, d, i, theta);
}

/* gate[count] = silu(gate) * up: SwiGLU's gating. */
static void
swiglu (float       *gate,
        const float *up,
        gsize        count)
{
  for (gsize i = 0; i < count; i++)
    gate[i] = as_silu (gate[i]) * up[i];
}

/* --- a layer ---------------------------------------------------------------- */

/* Q, K, V of the layer's input a->x: RMSNorm, projections, and rotary
 * positions on Q and K. */
static void
llama_layer_qkv (const AsModel        *model,
                 int                   layer,
                 AsDecoderActivations *a,
                 int                   n)
{
  const AsConfig *c = model->config;
  const AsLlamaLayerWeights *w = &as_llama_weights (model)->layers[layer];
  const int H = c->hidden, KV = c->n_kv_heads * c->head_dim;
  rms_norm (a->xn, a->x, w->attn_norm, n, H, c->layer_norm_eps);
  as_layer_trace_keep (a->trace, attn_in, a->xn, (gsize) n * H);
  linear (a->q, a->xn, w->q_w, n, H, H);
  linear (a->k, a->xn, w->k_w, n, H, KV);
  linear (a->v, a->xn, w->v_w, n, H, KV);
  rope (a->q, n, c->n_heads, c->head_dim, c->rope_theta);
  rope (a->k, n, c->n_kv_heads, c->head_dim, c->rope_theta);
}

/* The rest of the layer after Q, K, V: leaves its attention in a->att and
 * its output in a->x. */
static void
llama_layer_rest (const AsModel        *model,
                  int                   layer,
                  AsDecoderActivations *a,
                  int                   n)
{
  const AsConfig *c = model->config;
  const AsLlamaLayerWeights *w = &as_llama_weights (model)->layers[layer];
  const int H = c->hidden, F = c->intermediate;
  const gsize nH = (gsize) n * H, nF = (gsize) n * F;

  as_decoder_attention (c, a, layer, n);
  linear (a->attn_out, a->ctx, w->o_w, n, H, H);
  as_decoder_residual_add (a->x, a->attn_out, nH);
  as_layer_trace_keep (a->trace, resid1, a->x, nH);
  as_layer_trace_keep (a->trace, h1, a->x, nH);

  rms_norm (a->xn, a->x, w->ffn_norm, n, H, c->layer_norm_eps);
  as_layer_trace_keep (a->trace, ffn_in, a->xn, nH);
  linear (a->ff, a->xn, w->gate_w, n, H, F);         /* [n, F]  the gate */
  linear (a->ff_gate, a->xn, w->up_w, n, H, F);      /* [n, F]  up */
  as_layer_trace_keep (a->trace, ffn_pre, a->ff, nF);
  as_layer_trace_keep (a->trace, ffn_up, a->ff_gate, nF);
  swiglu (a->ff, a->ff_gate, nF);
  linear (a->ff_out, a->ff, w->down_w, n, F, H);
  as_decoder_residual_add (a->x, a->ff_out, (gsize) n * H);
}

/* --- the pass --------------------------------------------------------------- */

static const AsDecoderSteps llama_steps = {
  .gated_ffn = TRUE,
  .embed = llama_embed,
  .layer_qkv = llama_layer_qkv,
  .layer_rest = llama_layer_rest,
};

gboolean
as_llama_reference_layer_trace (const AsModel *model,
                                const int     *ids,
                                const int     *type_ids,
                                int            n,
                                const float   *key_mask,
                                const gint    *cancel,
                                int            layer,
                                AsLayerTrace  *trace,
                                GError       **error)
{
  g_return_val_if_fail (key_mask == NULL, FALSE);   /* causal: never padded */
  trace->norm = AS_TRACE_NORM_RMS;
  trace->ffn = AS_TRACE_FFN_SWIGLU;
  return as_decoder_layer_trace (model, &llama_steps, ids, n, cancel, layer, trace, error);
}

AsBackend *
as_llama_reference_backend_new (const AsModel *model)
{
  return as_decoder_backend_new (model, &llama_steps, "reference",
                                 "reference (plain fp32 C, one thread)");
}
