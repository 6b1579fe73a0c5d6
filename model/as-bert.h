/* as-bert.h — the BERT architecture's weights (bert, MiniLM, bge), shared
 * by the families that compute BertModel's forward with small differences:
 * RoBERTa (positions start after the padding id) and DistilBERT (no token
 * type embedding), as-arch-roberta.c and as-arch-distilbert.c.
 *
 * Only these families' files (as-arch-*.c, the backends as-cpu-encoder.c and
 * as-reference.c, the GPU plugin's description) and tests of them include
 * this; everything else reaches such a model through as-architecture.h.
 * Tensors keep the checkpoint's layout (Linear weights [out, in], row-major)
 * as f32.
 */
#pragma once

#include <glib.h>

#include "as-architecture.h"
#include "as-backend.h"
#include "as-mlm-head.h"
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
  const float    *pos_emb;      /* [max_positions, hidden]  the rows of tokens 0, 1, …:
                                 * the checkpoint's table from row
                                 * config->position_offset on */
  const float    *type_emb;     /* [type_vocab_size, hidden], or NULL for a family
                                 * without token types (DistilBERT) */
  const float    *emb_ln_g;     /* [hidden] */
  const float    *emb_ln_b;     /* [hidden] */
  AsLayerWeights *layers;       /* [n_layers] */
  AsMlmHeadWeights mlm;         /* the masked-LM head; all NULL when the
                                 * checkpoint has none */
} AsBertWeights;

extern const AsArchitecture as_arch_bert;
extern const AsArchitecture as_arch_roberta;
extern const AsArchitecture as_arch_distilbert;

/* TRUE for the families whose weights are an AsBertWeights. */
static inline gboolean
as_arch_is_bert_family (const AsArchitecture *arch)
{
  return arch == &as_arch_bert || arch == &as_arch_roberta || arch == &as_arch_distilbert;
}

/* MODEL's weights; MODEL must be of a BERT family (as_arch_is_bert_family). */
static inline AsBertWeights *
as_bert_weights (const AsModel *model)
{
  g_assert (as_arch_is_bert_family (model->arch));
  return model->weights;
}

/* Gives MODEL empty weight slots for N_LAYERS layers, for binding, random
 * presets and tests that fill the slots themselves; MODEL becomes a BERT
 * model unless it already is of a BERT family. */
AsBertWeights *as_bert_weights_new            (AsModel       *model,
                                               int            n_layers);

/* BERT's pieces the other families reuse (as-arch-bert.c). */
/* Reads BertConfig's fields (RobertaConfig has the same). */
gboolean       as_bert_read_config            (JsonObject    *obj,
                                               const char    *display_name,
                                               AsConfig      *config,
                                               GError       **error);
/* How a checkpoint of the BERT family names its tensors. */
typedef struct {
  const char *family;          /* "BERT": what a file without word embeddings is not */
  const char *prefix;          /* "bert.": before every name in checkpoints of the
                                * *For* heads (or no prefix at all) */
  const char *layers;          /* "encoder.layer.": layer N's names start "LAYERS N." */
  const char *layer_count;     /* the config field that counts them, for messages */
  const char *layer[16];       /* the AsLayerWeights tensors' names after that, in
                                * the struct's order (q_w, q_b, k_w, … ln2_b) */
  gboolean    token_types;     /* embeddings.token_type_embeddings is there */
  /* The masked-LM head's names, unprefixed, in AsMlmHeadWeights' order
   * (dense_w, dense_b, ln_g, ln_b, decoder_w, decoder_b); mlm[0] NULL: the
   * head is not read. decoder_w may be absent (tied to the word
   * embeddings); decoder_b may be saved under mlm_bias_alt instead. */
  const char *mlm[6];
  const char *mlm_bias_alt;
} AsBertNames;

/* Binds the tensors NAMES says into BERT's weights; the position table must
 * have max_positions + position_offset rows. Refuses missing and misshapen
 * tensors and layers beyond the config's. */
gboolean       as_bert_bind_named             (AsModel           *model,
                                               const AsBertNames *names,
                                               GError           **error);
/* BertModel's names. */
extern const AsBertNames as_bert_names;
/* Random weights; no type table when config->type_vocab_size is 0. */
void           as_bert_init_random            (AsModel       *model,
                                               guint32        seed);
void           as_bert_free_weights           (gpointer       weights);
void           as_bert_gpu_describe           (const AsModel *model,
                                               gpointer       desc,
                                               gpointer      *layers);
const float   *as_bert_position_table         (const AsModel *model,
                                               int           *rows,
                                               int           *cols);
/* The bound masked-LM head, or NULL when the checkpoint has none. */
const AsMlmHeadWeights *as_bert_mlm_head      (const AsModel *model);

/* The backends behind as_cpu_backend_new () and as_reference_backend_new ()
 * for BERT models. */
AsBackend     *as_bert_cpu_backend_new        (const AsModel *model);
AsBackend     *as_bert_reference_backend_new  (const AsModel *model);

G_END_DECLS
