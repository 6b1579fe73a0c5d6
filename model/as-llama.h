/* as-llama.h — the Llama architecture's weights (Llama, SmolLM2).
 *
 * Only Llama's own files (as-arch-llama.c, as-reference-llama.c,
 * as-cpu-llama.c) and tests of them include this; everything else
 * reaches a Llama model through as-architecture.h. Tensors are held as transformers' LlamaForCausalLM
 * holds them: Linear weights [out, in], row-major, f32, and the Q and K
 * rows in transformers' order (a GGUF file stores them permuted for
 * llama.cpp's rotary layout; binding undoes that).
 *
 * Shapes: H hidden, NH query heads and NKV key/value heads of d = H / NH
 * columns, F the FFN's width, V the vocabulary.
 */
#pragma once

#include <glib.h>

#include "as-architecture.h"
#include "as-backend.h"
#include "as-model.h"

G_BEGIN_DECLS

/* A layer's projections, in the order AsLlamaLayerWeights holds them. */
enum {
  AS_LLAMA_Q, AS_LLAMA_K, AS_LLAMA_V, AS_LLAMA_O, AS_LLAMA_GATE, AS_LLAMA_UP, AS_LLAMA_DOWN,
  AS_LLAMA_N_PROJECTIONS
};

typedef struct {
  const float *attn_norm;  /* [H]  input_layernorm (RMSNorm) */
  const float *q_w;        /* [NH*d, H]  q_proj */
  const float *k_w;        /* [NKV*d, H]  k_proj */
  const float *v_w;        /* [NKV*d, H]  v_proj */
  const float *o_w;        /* [H, NH*d]  o_proj */
  const float *ffn_norm;   /* [H]  post_attention_layernorm (RMSNorm) */
  const float *gate_w;     /* [F, H]  mlp.gate_proj */
  const float *up_w;       /* [F, H]  mlp.up_proj */
  const float *down_w;     /* [H, F]  mlp.down_proj */
  /* A GGUF model's tensors behind q_w … down_w (AS_LLAMA_Q …), as stored,
   * for decoding steps that read the file's own blocks (as-block-gemv.h);
   * NULL for a folder's model. Their Q and K rows are in llama.cpp's
   * order: see as_llama_stored_row. */
  const AsGgufTensor *stored[AS_LLAMA_N_PROJECTIONS];
} AsLlamaLayerWeights;

typedef struct {
  const float         *tok_emb;   /* [V, H]  embed_tokens */
  const float         *out_norm;  /* [H]  the final RMSNorm */
  const float         *lm_head;   /* [V, H]  the output projection; tok_emb when tied */
  const AsGgufTensor  *lm_head_stored;   /* a GGUF model's tensor behind lm_head; NULL for a folder's */
  AsLlamaLayerWeights *layers;    /* [n_layers] */
} AsLlamaWeights;

extern const AsArchitecture as_arch_llama;

/* MODEL's weights; MODEL must be a Llama model. */
static inline AsLlamaWeights *
as_llama_weights (const AsModel *model)
{
  g_assert (model->arch == &as_arch_llama);
  return model->weights;
}

/* The row of a GGUF file's Q or K projection (heads of D rows) that holds
 * transformers' row ROW: llama.cpp's rotary layout stores a head's row
 * a * d/2 + b (a in {0, 1}, b < d/2) as its row 2b + a. */
int as_llama_stored_row (int row,
                         int d);

/* The backends behind as_cpu_backend_new () (as-cpu-llama.c over
 * as-cpu-decoder.c: packed GEMM, threads, a key/value cache for
 * decoding) and as_reference_backend_new () (as-reference-llama.c) for
 * Llama models. */
AsBackend *as_llama_cpu_backend_new       (const AsModel *model);
AsBackend *as_llama_reference_backend_new (const AsModel *model);

G_END_DECLS
