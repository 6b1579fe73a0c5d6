/* as-reference-decoder.h — what the plain fp32 forward passes of the
 * decoder families (Llama: as-reference-llama.c, GPT-2:
 * as-reference-gpt2.c) share: the activations, causal grouped-query
 * attention, the residual connection, and the pass itself (layers in
 * order, the cancel flag, each layer handed to the caller, Q/K/V of one
 * layer, the final norm of the architecture), so that a family writes only
 * its own steps: how tokens are embedded, how a layer makes Q, K and V, and
 * the rest of the layer.
 *
 * Shapes: n tokens, H hidden, NH query heads and NKV key/value heads of d
 * columns (each K/V head serves NH / NKV query heads; NKV = NH without
 * grouping), KV = NKV * d, F the FFN's width. Row-major; a token's vector
 * is a row.
 */
#pragma once

#include "as-backend.h"

G_BEGIN_DECLS

/* One pass's activations, each written by one step. */
typedef struct {
  float *x;         /* [n, H]   residual stream: the embeddings, then each layer's output */
  float *xn;        /* [n, H]   the normed stream, the input of a block */
  float *q;         /* [n, H]   queries; head h is columns h*d .. h*d+d-1 */
  float *k;         /* [n, KV]  keys; K/V head g is columns g*d .. g*d+d-1 */
  float *v;         /* [n, KV]  values, same layout */
  float *att;       /* [NH, n, n]  scores, then probabilities (row = query, column = key) */
  float *ctx;       /* [n, H]   the heads' contexts side by side, same layout as q */
  float *attn_out;  /* [n, H]   the attention block's output projection */
  float *ff;        /* [n, F]   the FFN's hidden layer */
  float *ff_gate;   /* [n, F]   a gated FFN's second product (NULL without one) */
  float *ff_out;    /* [n, H]   the FFN's output projection */
  const AsForwardRequest *req;   /* the pass's request: its heads to ablate */
  AsLayerTrace *trace;  /* as-layer-trace.h: set while the embeddings and the
                         * traced layer run, else NULL; a family's steps keep
                         * the stages only they see (as_layer_trace_keep) */
} AsDecoderActivations;

/* A family's steps. Each reads the model's config and its own weights. */
typedef struct {
  gboolean gated_ffn;   /* allocate ff_gate */
  /* a->x [n, H] = the request's tokens embedded (with positions, if learned). */
  void (*embed)     (const AsModel          *model,
                     const AsForwardRequest *req,
                     AsDecoderActivations   *a);
  /* a->q, a->k, a->v of LAYER's input a->x, as the attention uses them
   * (after rotary positions, if any). */
  void (*layer_qkv) (const AsModel          *model,
                     int                     layer,
                     AsDecoderActivations   *a,
                     int                     n);
  /* The rest of LAYER: attention (as_decoder_attention), the output
   * projection, the FFN, the residuals; leaves the output in a->x and the
   * probabilities in a->att. */
  void (*layer_rest)(const AsModel          *model,
                     int                     layer,
                     AsDecoderActivations   *a,
                     int                     n);
} AsDecoderSteps;

/* a->att [NH, n, n] = causal softmax(Q K^T / sqrt(d)) of a->q and a->k
 * (query head h reads K/V head h / (NH / NKV)), LAYER's heads that a->req
 * ablates replaced (as-ablation.h), then a->ctx [n, H] = att V. */
void       as_decoder_attention   (const AsConfig       *c,
                                   AsDecoderActivations *a,
                                   int                   layer,
                                   int                   n);
/* x[count] += add[count]: the residual connection. */
void       as_decoder_residual_add (float               *x,
                                    const float         *add,
                                    gsize                count);

/* The architecture's layer_trace (as-architecture.h) of a family whose
 * steps are STEPS: the pass of IDS [n] through LAYER, keeping in TRACE the
 * stages every pre-norm decoder layer leaves in the activations (its
 * input, attention, context, attn_out, ffn_act, ffn_out, out = resid2);
 * the steps keep the rest (the embeddings, attn_in, resid1 = h1, ffn_in,
 * ffn_pre, ffn_up) and set the trace's norm and ffn. CANCEL (may be NULL)
 * is checked between layers. */
gboolean   as_decoder_layer_trace (const AsModel        *model,
                                   const AsDecoderSteps *steps,
                                   const int            *ids,
                                   int                   n,
                                   const gint           *cancel,
                                   int                   layer,
                                   AsLayerTrace         *trace,
                                   GError              **error);

/* A backend named NAME ("reference", or "cpu" for a family whose fast path
 * is this pass) that runs STEPS on MODEL; its final hidden state is the last
 * layer's output through the architecture's final_norm. DESCRIPTION is what
 * as_backend_describe says. */
AsBackend *as_decoder_backend_new (const AsModel        *model,
                                   const AsDecoderSteps *steps,
                                   const char           *name,
                                   const char           *description);

G_END_DECLS
