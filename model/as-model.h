/* as-model.h — a loaded encoder: config, tokenizer and f32 weights.
 *
 * Weights are laid out as in the checkpoint (Linear weights [out, in],
 * row-major) and converted to f32 once at load. The weights file is read into
 * memory the model owns (a file changed on disk cannot reach it); F32 tensors
 * that are aligned in that buffer are used in place, without a second copy.
 */
#pragma once

#include <glib.h>

#include "as-config.h"
#include "as-safetensors.h"
#include "as-tokenizer.h"

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
  char           *dir;          /* folder it came from, or a label for presets */
  char           *name;         /* basename of dir, for titles */
  AsConfig       *config;
  AsTokenizer    *tokenizer;    /* NULL for random-weight presets */
  AsSafetensors  *st;           /* NULL for random-weight presets */

  const float    *word_emb;     /* [vocab_size, hidden] */
  const float    *pos_emb;      /* [max_positions, hidden] */
  const float    *type_emb;     /* [type_vocab_size, hidden] */
  const float    *emb_ln_g;     /* [hidden] */
  const float    *emb_ln_b;     /* [hidden] */
  AsLayerWeights *layers;       /* [n_layers] */

  GPtrArray      *owned;        /* buffers we allocated (converted/copied tensors) */
} AsModel;

/* Loads DIR/config.json, DIR/model.safetensors and the tokenizer, and checks
 * every tensor's shape against the config. Errors name the file and tensor. */
AsModel *as_model_load          (const char  *dir,
                                 GError     **error);
/* Random weights (normal, std 0.02; LayerNorm 1/0) with a preset's shapes;
 * no tokenizer. For timing only. */
AsModel *as_model_new_random    (const char  *preset,
                                 guint32      seed,
                                 GError     **error);
void     as_model_free          (AsModel     *model);

/* The files of MODEL's folder that loading reads (those that exist), for
 * writers that must never replace them. NULL for random-weight presets;
 * otherwise NULL-terminated, g_strfreev. */
char   **as_model_list_files    (const AsModel *model);
/* The same for a model folder DIR. */
char   **as_model_list_files_in (const char    *dir);

/* The default model folder: $ATTNSCOPE_MODEL_DIR, the source tree's
 * data/models/all-MiniLM-L6-v2, or the installed copy, first that exists. */
char    *as_model_default_dir   (void);

G_END_DECLS
