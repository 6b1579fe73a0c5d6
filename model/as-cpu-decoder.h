/* as-cpu-decoder.h — the fast fp32 CPU pass of a pre-norm decoder
 * (as-cpu-decoder.c), as a family describes itself to it.
 *
 * Llama (as-cpu-llama.c) and GPT-2 (as-cpu-gpt2.c) differ in a handful of
 * places: RMSNorm or LayerNorm, rotary or learned positions, biases or
 * none, a gated SiLU FFN or one GELU layer. A family fills an
 * AsCpuDecoderFamily with its vectors and those choices, packs its four
 * matrices per layer (as_cpu_decoder_pack_layer), and gets a backend with
 * the shared pass, attention and key/value cache.
 *
 * Shapes: H hidden, NH query heads and NKV key/value heads of d columns,
 * KV = NKV * d, QKV = H + 2 KV, F the FFN's width, FW its first product's
 * width (2F gated: gate | up; else F), V the vocabulary, P the positions.
 */
#pragma once

#include "as-backend.h"
#include "as-block-gemv.h"
#include "as-gemm.h"

G_BEGIN_DECLS

/* A layer's vectors; a NULL bias is no bias. */
typedef struct {
  const float *attn_norm_g;   /* [H] */
  const float *attn_norm_b;   /* [H]  NULL: the norm is RMSNorm, else LayerNorm */
  const float *ffn_norm_g;    /* [H] */
  const float *ffn_norm_b;    /* [H]  as attn_norm_b */
  const float *qkv_b;         /* [QKV] */
  const float *o_b;           /* [H] */
  const float *ffn_in_b;      /* [FW] */
  const float *down_b;        /* [H] */
} AsCpuDecoderLayer;

/* The four matrices of a layer, in the order the pass uses them. */
enum {
  AS_CPU_DECODER_QKV,      /* [QKV, H]  W_q | W_k | W_v */
  AS_CPU_DECODER_O,        /* [H, H] */
  AS_CPU_DECODER_FFN_IN,   /* [FW, H]  W_gate | W_up, or the one up-projection */
  AS_CPU_DECODER_DOWN,     /* [H, F] */
  AS_CPU_DECODER_MATRICES
};

typedef struct AsCpuDecoder AsCpuDecoder;

typedef struct {
  const char        *name;          /* "Llama", "GPT-2": for describe */
  gboolean           rotary;        /* rotary positions on Q and K; else pos_emb */
  gboolean           gated_ffn;     /* silu(gate) * up; else gelu_new of one product */
  const float       *tok_emb;       /* [V, H] */
  const float       *pos_emb;       /* [P, H]  learned positions, added to tok_emb; NULL if rotary */
  const float       *out_norm_g;    /* [H]  the final norm */
  const float       *out_norm_b;    /* [H]  NULL: RMSNorm */
  AsCpuDecoderLayer *layers;        /* [n_layers], the backend's to free */
  /* Optional (NULL: decoding steps read the fp32 weights only): MODEL's
   * layer matrices as block matrices (as-block-gemv.h) into M
   * [n_layers * AS_CPU_DECODER_MATRICES] (a NULL matrix stays fp32) and its
   * output embedding into *LM_HEAD (NULL: fp32), as WEIGHTS (int8 or file)
   * says; FALSE with ERROR set when the memory is not there. */
  gboolean         (*read_blocks) (const AsModel    *model,
                                   AsDecodeWeights   weights,
                                   AsBlockMatrix   **m,
                                   AsBlockMatrix   **lm_head,
                                   GError          **error);
} AsCpuDecoderFamily;

/* A backend named "cpu" for MODEL, whose FAMILY (copied; its layers become
 * the backend's) the family's constructor then completes by packing every
 * layer's matrices. */
AsCpuDecoder *as_cpu_decoder_new        (const AsModel            *model,
                                         const AsCpuDecoderFamily *family);
/* Packs LAYER's matrices FROM [AS_CPU_DECODER_MATRICES] (nn.Linear's
 * [out, in] parts, as as_gemm_pack_stacked reads them), the pool's threads
 * sharing the panels. Every layer must be packed before the first pass. */
void          as_cpu_decoder_pack_layer (AsCpuDecoder             *self,
                                         int                       layer,
                                         const AsGemmStacked      *from);
/* Packs LAYER's matrix M (AS_CPU_DECODER_QKV …) from W [in, out] (a
 * Conv1D's layout, the transpose of nn.Linear's), read where it is. */
void          as_cpu_decoder_pack_in_out (AsCpuDecoder            *self,
                                          int                      layer,
                                          int                      m,
                                          const float             *w);
AsBackend    *as_cpu_decoder_backend    (AsCpuDecoder             *self);

G_END_DECLS
