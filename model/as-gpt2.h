/* as-gpt2.h — the GPT-2 architecture's weights.
 *
 * Only GPT-2's own files (as-arch-gpt2.c, as-reference-gpt2.c,
 * as-cpu-gpt2.c) and tests of them include this; everything else reaches
 * a GPT-2 model through as-architecture.h. Tensors are held as
 * transformers' GPT2Model holds them: its projections are Conv1D, whose
 * weight is [in, out] (the transpose of nn.Linear's), row-major, f32.
 *
 * Shapes: H hidden (n_embd), NH heads of d = H / NH columns, F the MLP's
 * width (n_inner, 4 H by default), V the vocabulary, P the positions.
 */
#pragma once

#include <glib.h>

#include "as-architecture.h"
#include "as-backend.h"
#include "as-model.h"

G_BEGIN_DECLS

typedef struct {
  const float *ln1_g;     /* [H]  ln_1 */
  const float *ln1_b;     /* [H] */
  const float *qkv_w;     /* [H, 3H]  attn.c_attn: columns Q | K | V */
  const float *qkv_b;     /* [3H] */
  const float *proj_w;    /* [H, H]  attn.c_proj */
  const float *proj_b;    /* [H] */
  const float *ln2_g;     /* [H]  ln_2 */
  const float *ln2_b;     /* [H] */
  const float *fc_w;      /* [H, F]  mlp.c_fc */
  const float *fc_b;      /* [F] */
  const float *fc_proj_w; /* [F, H]  mlp.c_proj */
  const float *fc_proj_b; /* [H] */
} AsGpt2LayerWeights;

typedef struct {
  const float        *wte;     /* [V, H]  token embeddings; also the output embedding (tied) */
  const float        *wpe;     /* [P, H]  learned absolute positions */
  const float        *lnf_g;   /* [H]  ln_f, the final LayerNorm */
  const float        *lnf_b;   /* [H] */
  AsGpt2LayerWeights *layers;  /* [n_layers] */
} AsGpt2Weights;

extern const AsArchitecture as_arch_gpt2;

/* MODEL's weights; MODEL must be a GPT-2 model. */
static inline AsGpt2Weights *
as_gpt2_weights (const AsModel *model)
{
  g_assert (model->arch == &as_arch_gpt2);
  return model->weights;
}

/* The backends behind as_reference_backend_new () (as-reference-gpt2.c:
 * the plain fp32 forward) and as_cpu_backend_new () (as-cpu-gpt2.c: the
 * packed GEMM pass of as-cpu-decoder.h, threads, a key/value cache). */
AsBackend *as_gpt2_reference_backend_new (const AsModel *model);
AsBackend *as_gpt2_cpu_backend_new       (const AsModel *model);

G_END_DECLS
