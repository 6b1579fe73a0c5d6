/* as-bert.h — the BERT architecture's weights (bert, MiniLM, bge).
 *
 * Only BERT's own files (as-arch-bert.c, its backends as-cpu-encoder.c and
 * as-reference.c, the GPU plugin's description) and tests of them include
 * this; everything else reaches a BERT model through as-architecture.h.
 * Tensors keep the checkpoint's layout (Linear weights [out, in], row-major)
 * as f32.
 */
#pragma once

#include <glib.h>

#include "as-architecture.h"
#include "as-backend.h"
#include "as-model.h"

G_BEGIN_DECLS

typedef struct {
  const float *q_w;    /* [hidden, hidden] */
  const float *q_b;    /* [hidden] */
  const float *k_w;    /* [hidden, hidden] */
  const float *k_b;    /* [hidden] */
  const float *v_w;    /* [hidden, hidden] */
  const float *v_b;    /* [hidden] */
  const float *o_w;    /* [hidden, hidden]  attention.output.dense */
  const float *o_b;    /* [hidden] */
  const float *ln1_g;  /* [hidden]  attention.output.LayerNorm */
  const float *ln1_b;  /* [hidden] */
  const float *ff1_w;  /* [intermediate, hidden]  intermediate.dense */
  const float *ff1_b;  /* [intermediate] */
  const float *ff2_w;  /* [hidden, intermediate]  output.dense */
  const float *ff2_b;  /* [hidden] */
  const float *ln2_g;  /* [hidden]  output.LayerNorm */
  const float *ln2_b;  /* [hidden] */
} AsLayerWeights;

typedef struct {
  const float    *word_emb;     /* [vocab_size, hidden] */
  const float    *pos_emb;      /* [max_positions, hidden] */
  const float    *type_emb;     /* [type_vocab_size, hidden] */
  const float    *emb_ln_g;     /* [hidden] */
  const float    *emb_ln_b;     /* [hidden] */
  AsLayerWeights *layers;       /* [n_layers] */
} AsBertWeights;

extern const AsArchitecture as_arch_bert;

/* MODEL's weights; MODEL must be a BERT model (its arch is as_arch_bert). */
static inline AsBertWeights *
as_bert_weights (const AsModel *model)
{
  g_assert (model->arch == &as_arch_bert);
  return model->weights;
}

/* Makes MODEL a BERT model with empty weight slots for N_LAYERS layers, for
 * binding, random presets and tests that fill the slots themselves. */
AsBertWeights *as_bert_weights_new            (AsModel       *model,
                                               int            n_layers);

/* The backends behind as_cpu_backend_new () and as_reference_backend_new ()
 * for BERT models. */
AsBackend     *as_bert_cpu_backend_new        (const AsModel *model);
AsBackend     *as_bert_reference_backend_new  (const AsModel *model);

G_END_DECLS
