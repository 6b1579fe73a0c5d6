/* as-config.h — the parts of a Hugging Face config.json an encoder needs.
 *
 * BERT-family encoders (bert, MiniLM = bert, bge = bert) today; model_type is
 * kept so other families (roberta, distilbert) can be added beside them.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  AS_FAMILY_BERT,
} AsFamily;

typedef struct {
  AsFamily family;
  char    *model_type;          /* "bert" */
  int      n_layers;            /* num_hidden_layers */
  int      n_heads;             /* num_attention_heads */
  int      hidden;              /* hidden_size */
  int      head_dim;            /* hidden / n_heads */
  int      intermediate;        /* intermediate_size */
  int      vocab_size;
  int      max_positions;       /* max_position_embeddings */
  int      type_vocab_size;
  float    layer_norm_eps;
} AsConfig;

/* Parses and sanity-checks PATH (sizes positive and bounded, heads divide
 * hidden, supported activation and position embedding type). */
AsConfig *as_config_load       (const char  *path,
                                GError     **error);
AsConfig *as_config_parse      (const char  *json,
                                gsize        length,
                                const char  *display_name,
                                GError     **error);
/* A config with the shapes of a known architecture (e.g. "bert-base"), for
 * benchmarks with random weights. NULL for an unknown name. */
AsConfig *as_config_new_preset (const char  *name);
void      as_config_free       (AsConfig    *config);

G_END_DECLS
