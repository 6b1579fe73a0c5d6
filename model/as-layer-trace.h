/* as-layer-trace.h — one layer of a model, every intermediate kept.
 *
 * The teaching view walks through a whole layer on the real model's
 * numbers: how the input is built from embeddings, every head's output z
 * side by side and their projection by W_O, the residual adds and norms,
 * the feed-forward network; and how a padding mask differs from a causal
 * one. This module computes those numbers with the plain fp32 reference
 * forward of the model's architecture, so they are the yardstick's own; its
 * tests check the layer's output against the fast backend's hidden state.
 *
 * Two layer shapes exist (AsLayerTrace.pre_norm):
 *   post-norm (BERT):  h = LN(x + Attn(x));          out = LN(h + FFN(h))
 *   pre-norm (Llama):  h = x + Attn(norm(x));        out = h + FFN(norm(h))
 */
#pragma once

#include <glib.h>

#include "as-backend.h"

G_BEGIN_DECLS

typedef enum {
  AS_TRACE_NORM_LAYER,   /* LayerNorm: (x - mean) / sqrt(var + eps) * g + b */
  AS_TRACE_NORM_RMS,     /* RMSNorm: x / sqrt(mean(x^2) + eps) * g */
} AsTraceNorm;

typedef enum {
  AS_TRACE_FFN_GELU,     /* GELU(x W_1 + b_1) W_2 + b_2 (erf form; GPT-2: tanh form) */
  AS_TRACE_FFN_SWIGLU,   /* (SiLU(x W_gate) * (x W_up)) W_down */
} AsTraceFfn;

/* Every buffer is row-major, one row per token; NULL where the model has
 * no such part (said on each). Owned by the trace. */
typedef struct _AsLayerTrace {
  int          layer;         /* which layer, from 0 */
  int          n;             /* tokens */
  int          hidden;        /* H */
  int          n_heads;       /* query heads */
  int          n_kv_heads;    /* key/value heads (< n_heads: grouped-query) */
  int          head_dim;      /* d */
  int          intermediate;  /* I, the FFN's inner width */
  gboolean     pre_norm;      /* see the top of this file */
  AsTraceNorm  norm;
  AsTraceFfn   ffn;
  double       norm_eps;

  /* How the input of layer 0 is built (filled whatever LAYER is). */
  float *token_embed;   /* [n, H] each token's row of the word embedding (Llama:
                         * also embed_sum and embed_out, no sum, no norm) */
  float *position_embed;/* [n, H] learned position embedding; NULL (RoPE models) */
  float *type_embed;    /* [n, H] segment (token type) embedding; NULL without */
  float *embed_sum;     /* [n, H] their sum */
  float *embed_out;     /* [n, H] after the embedding LayerNorm (= embed_sum without one):
                         * the input of layer 0 */

  /* LAYER. */
  float *x_in;          /* [n, H] the layer's input (embed_out for layer 0) */
  float *attn_in;       /* [n, H] what Q, K, V are projected from: x_in
                         * (post-norm) or norm(x_in) (pre-norm) */
  float *attn;          /* [n_heads, n, n] the layer's attention */
  float *context;       /* [n, n_heads * d] every head's output z side by
                         * side (head h is columns h*d .. h*d + d - 1) */
  float *attn_out;      /* [n, H] context W_O (+ b_O) */
  float *resid1;        /* [n, H] x_in + attn_out */
  float *h1;            /* [n, H] LN(resid1) post-norm; resid1 pre-norm */
  float *ffn_in;        /* [n, H] h1 post-norm; norm(h1) pre-norm */
  float *ffn_pre;       /* [n, I] x W_1 + b_1 (GELU); x W_gate (SwiGLU) */
  float *ffn_up;        /* [n, I] x W_up (SwiGLU); NULL for GELU */
  float *ffn_act;       /* [n, I] GELU(ffn_pre); SiLU(ffn_pre) * ffn_up */
  float *ffn_out;       /* [n, H] ffn_act W_2 (+ b_2) */
  float *resid2;        /* [n, H] h1 + ffn_out */
  float *out;           /* [n, H] LN(resid2) post-norm; resid2 pre-norm: the
                         * layer's output, the next layer's x_in */
} AsLayerTrace;

/* LAYER of MODEL on REQUEST's tokens (its causal_mask, ablations and
 * callbacks are ignored; a causal model always masks; its cancel flag is
 * checked between layers). NULL, with ERROR, for a layer out of range, a
 * request the model cannot run, an architecture without a trace (the
 * message names it), or a cancellation (AS_MODEL_ERROR_CANCELLED). */
AsLayerTrace *as_layer_trace_compute (const AsModel          *model,
                                      const AsForwardRequest *request,
                                      int                     layer,
                                      GError                **error);
void          as_layer_trace_free    (AsLayerTrace *trace);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsLayerTrace, as_layer_trace_free)

/* For the reference passes that fill a trace (the architecture's
 * layer_trace, as-architecture.h): TRACE's buffer STAGE (a field name:
 * resid1) becomes a copy of SRC [count]. Does nothing when TRACE is NULL,
 * so a pass keeps its stages unconditionally with the trace of the layer
 * it is in, or NULL. */
#define as_layer_trace_keep(trace, stage, src, count) \
  as_layer_trace_keep_at ((trace), G_STRUCT_OFFSET (AsLayerTrace, stage), (src), (count))
void          as_layer_trace_keep_at (AsLayerTrace *trace,
                                      glong         offset,
                                      const float  *src,
                                      gsize         count);

/* A batch of two token sequences of different lengths, padded to the longer
 * one, as a batched forward runs them: each sequence's padding keys get
 * -inf before the softmax, so its real tokens attend exactly as they would
 * alone. */
typedef struct {
  int    layer;
  int    n_heads;
  int    n;              /* the padded length: max (n_seq[0], n_seq[1]) */
  int    n_seq[2];       /* each sequence's real tokens */
  int    pad_id;         /* the id appended as padding */
  int   *ids[2];         /* [n] each sequence, padded with pad_id */
  float *key_mask[2];    /* [n] 0 for a real key, -INFINITY for a padding one */
  float *attn[2];        /* [n_heads, n, n] LAYER's attention in the padded
                          * batch (padding query rows included, as computed) */
  float *attn_alone[2];  /* [n_heads, n_seq, n_seq] the same sequence run alone */
} AsPaddingDemo;

/* The two requests' tokens as a padded batch through MODEL up to LAYER
 * (A's cancel flag stops it). NULL, with ERROR, as for
 * as_layer_trace_compute, or for a causal model (its own mask already hides
 * later tokens; the view shows that instead). The padding id is the
 * tokenizer's "[PAD]" (or RoBERTa's "<pad>"), else 0: the mask hides it
 * whatever it is. */
AsPaddingDemo *as_padding_demo_compute (const AsModel          *model,
                                        const AsForwardRequest *a,
                                        const AsForwardRequest *b,
                                        int                     layer,
                                        GError                **error);
void           as_padding_demo_free    (AsPaddingDemo *demo);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsPaddingDemo, as_padding_demo_free)

G_END_DECLS
