/* as-reference-gpt2.c — the plain fp32 forward pass of a GPT-2 decoder.
 *
 * The yardstick for GPT-2 models, in the manner of as-reference.c: one
 * short function per step of transformers' GPT2Model in eager mode, loops
 * straight from the equations, every sum in fp32 in index order, one
 * thread. The element-wise maths (LayerNorm of a row, the tanh GELU) is
 * as-elementwise.h; causal attention and the pass around these steps are
 * the decoders' shared ones (as-reference-decoder.c). Its fidelity is
 * checked against transformers' outputs on a tiny seeded model
 * (tests/test-gpt2.c).
 *
 * Shapes: n tokens, H hidden, NH heads of d = H / NH columns, F the MLP's
 * width. Row-major; a token's vector is a row. Conv1D weights are [in, out].
 */
#include <string.h>

#include "as-elementwise.h"
#include "as-gpt2.h"
#include "as-layer-trace.h"
#include "as-reference-decoder.h"
#include "as-reference.h"

/* --- the steps -------------------------------------------------------------- */

/* a->x[n, H] = wte[ids[i]] + wpe[i]: learned absolute positions. */
static void
gpt2_embed (const AsModel          *model,
            const AsForwardRequest *req,
            AsDecoderActivations   *a)
{
  const int H = model->config->hidden;
  const AsGpt2Weights *w = as_gpt2_weights (model);
  for (int i = 0; i < req->n; i++)
    {
      const float *tok = w->wte + (gsize) req->ids[i] * H;   /* [H] */
      const float *pos = w->wpe + (gsize) i * H;             /* [H] */
      float *x_i = a->x + (gsize) i * H;                     /* [H] */
      for (int j = 0; j < H; j++)
        x_i[j] = tok[j] + pos[j];
    }
  if (a->trace != NULL)
    {
      const gsize nH = (gsize) req->n * H;
      float *rows = g_new (float, nH);   /* [n, H] */
      for (int i = 0; i < req->n; i++)
        memcpy (rows + (gsize) i * H, w->wte + (gsize) req->ids[i] * H, sizeof (float) * H);
      a->trace->token_embed = rows;
      as_layer_trace_keep (a->trace, position_embed, w->wpe, nH);
      as_layer_trace_keep (a->trace, embed_sum, a->x, nH);
      /* GPT-2 has no embedding norm: the sum is layer 0's input. */
      as_layer_trace_keep (a->trace, embed_out, a->x, nH);
    }
}

/* out[n, dim] = LayerNorm(in) * g + b, row by row. */
static void
layer_norm (float       *out,
            const float *in,
            const float *g,
            const float *b,
            int          n,
            int          dim,
            float        eps)
{
  for (int i = 0; i < n; i++)
    as_layer_norm_row (out + (gsize) i * dim, in + (gsize) i * dim, g, b, dim, eps);
}

/* out[n, out_dim] = in[n, in_dim] W[:, col0 .. col0+out_dim) + b[col0 ..]:
 * a Conv1D (W [in_dim, w_cols], b [w_cols]) restricted to OUT_DIM of its
 * columns, so that c_attn's Q, K and V come out in buffers of their own. */
static void
conv1d (float       *out,
        const float *in,
        const float *w,
        const float *b,
        int          n,
        int          in_dim,
        int          w_cols,
        int          col0,
        int          out_dim)
{
  for (int i = 0; i < n; i++)
    {
      const float *in_i = in + (gsize) i * in_dim;   /* [in_dim] */
      float *out_i = out + (gsize) i * out_dim;      /* [out_dim] */
      for (int o = 0; o < out_dim; o++)
        {
          float sum = 0.0f;
          for (int k = 0; k < in_dim; k++)
            sum += in_i[k] * w[(gsize) k * w_cols + col0 + o];
          out_i[o] = sum + b[col0 + o];
        }
    }
}

/* x[count] = gelu_new(x). */
static void
gelu_new (float *x,
          gsize  count)
{
  for (gsize i = 0; i < count; i++)
    x[i] = as_gelu_new (x[i]);
}

/* --- a layer ---------------------------------------------------------------- */

/* Q, K, V of the layer's input a->x: ln_1, then c_attn's three column
 * blocks. */
static void
gpt2_layer_qkv (const AsModel        *model,
                int                   layer,
                AsDecoderActivations *a,
                int                   n)
{
  const AsConfig *c = model->config;
  const AsGpt2LayerWeights *w = &as_gpt2_weights (model)->layers[layer];
  const int H = c->hidden;
  layer_norm (a->xn, a->x, w->ln1_g, w->ln1_b, n, H, c->layer_norm_eps);
  as_layer_trace_keep (a->trace, attn_in, a->xn, (gsize) n * H);
  conv1d (a->q, a->xn, w->qkv_w, w->qkv_b, n, H, 3 * H, 0, H);
  conv1d (a->k, a->xn, w->qkv_w, w->qkv_b, n, H, 3 * H, H, H);
  conv1d (a->v, a->xn, w->qkv_w, w->qkv_b, n, H, 3 * H, 2 * H, H);
}

/* Attention, c_proj and the residual; then ln_2, the MLP and its residual. */
static void
gpt2_layer_rest (const AsModel        *model,
                 int                   layer,
                 AsDecoderActivations *a,
                 int                   n)
{
  const AsConfig *c = model->config;
  const AsGpt2LayerWeights *w = &as_gpt2_weights (model)->layers[layer];
  const int H = c->hidden, F = c->intermediate;
  const gsize nH = (gsize) n * H, nF = (gsize) n * F;

  as_decoder_attention (c, a, layer, n);
  conv1d (a->attn_out, a->ctx, w->proj_w, w->proj_b, n, H, H, 0, H);
  as_decoder_residual_add (a->x, a->attn_out, nH);
  as_layer_trace_keep (a->trace, resid1, a->x, nH);
  as_layer_trace_keep (a->trace, h1, a->x, nH);

  layer_norm (a->xn, a->x, w->ln2_g, w->ln2_b, n, H, c->layer_norm_eps);
  as_layer_trace_keep (a->trace, ffn_in, a->xn, nH);
  conv1d (a->ff, a->xn, w->fc_w, w->fc_b, n, H, F, 0, F);
  as_layer_trace_keep (a->trace, ffn_pre, a->ff, nF);
  gelu_new (a->ff, nF);
  conv1d (a->ff_out, a->ff, w->fc_proj_w, w->fc_proj_b, n, F, H, 0, H);
  as_decoder_residual_add (a->x, a->ff_out, (gsize) n * H);
}

/* --- the backends ----------------------------------------------------------- */

static const AsDecoderSteps gpt2_steps = {
  .gated_ffn = FALSE,
  .embed = gpt2_embed,
  .layer_qkv = gpt2_layer_qkv,
  .layer_rest = gpt2_layer_rest,
};

gboolean
as_gpt2_reference_layer_trace (const AsModel *model,
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
  trace->norm = AS_TRACE_NORM_LAYER;
  trace->ffn = AS_TRACE_FFN_GELU;
  return as_decoder_layer_trace (model, &gpt2_steps, ids, n, cancel, layer, trace, error);
}

AsBackend *
as_gpt2_reference_backend_new (const AsModel *model)
{
  return as_decoder_backend_new (model, &gpt2_steps, "reference",
                                 "reference (plain fp32 C, one thread)");
}

