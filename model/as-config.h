/* as-config.h — the parts of a Hugging Face config.json the engine needs.
 *
 * The generic shape of a model (layers, heads, sizes); which fields of
 * config.json hold it is the architecture's business (as-architecture.h):
 * model_type picks the architecture, whose read_config fills this struct.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _AsArchitecture AsArchitecture;

/* Bounds that keep later size arithmetic (n*hidden*4 bytes, etc.) far from
 * overflow and refuse configs that are absurd rather than merely large. */
#define AS_CONFIG_MAX_LAYERS        256
#define AS_CONFIG_MAX_HEADS         256
#define AS_CONFIG_MAX_HIDDEN        16384
#define AS_CONFIG_MAX_INTERMEDIATE  65536
#define AS_CONFIG_MAX_VOCAB         1000000
#define AS_CONFIG_MAX_POSITIONS     65536
#define AS_CONFIG_MAX_TYPE_VOCAB    1024

typedef struct {
  const AsArchitecture *arch;   /* the family model_type names; never NULL */
  char    *model_type;          /* as config.json spells it, e.g. "bert" */
  int      n_layers;            /* num_hidden_layers */
  int      n_heads;             /* num_attention_heads */
  int      hidden;              /* hidden_size */
  int      head_dim;            /* hidden / n_heads */
  int      intermediate;        /* intermediate_size */
  int      vocab_size;
  int      max_positions;       /* tokens a pass takes: max_position_embeddings, less
                                 * position_offset */
  int      position_offset;     /* the first token's position id: RoBERTa's
                                 * pad_token_id + 1, else 0; a learned position
                                 * table has max_positions + position_offset rows */
  int      type_vocab_size;
  float    layer_norm_eps;      /* LayerNorm's, or a decoder's RMSNorm epsilon */
  /* Decoders (Llama family) only; 0 for BERT. */
  int      n_kv_heads;          /* key/value heads: n_heads / n_kv_heads query heads share one */
  float    rope_theta;          /* rotary positions' base (rope_theta, rope.freq_base) */
  gboolean tie_word_embeddings; /* a folder's decoder: the output projection is the token
                                 * embedding (no lm_head tensor of its own) */
} AsConfig;

/* Parses and sanity-checks PATH: model_type must name a registered
 * architecture, whose read_config then reads and checks the rest. */
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

/* Field readers for architectures' read_config, with the engine's messages.
 * An absent optional field gives FALLBACK; a present one must be an integer
 * in MIN_VALUE..MAX_VALUE. */
gboolean    as_config_read_int    (JsonObject  *obj,
                                   const char  *display_name,
                                   const char  *field,
                                   int          min_value,
                                   int          max_value,
                                   gboolean     required,
                                   int          fallback,
                                   int         *out,
                                   GError     **error);
/* The string FIELD, or NULL when it is absent or not a string. */
const char *as_config_read_string (JsonObject  *obj,
                                   const char  *field);
/* A number FIELD (integer or not); FALLBACK when absent. */
gboolean    as_config_read_number (JsonObject  *obj,
                                   const char  *display_name,
                                   const char  *field,
                                   double       fallback,
                                   double      *out,
                                   GError     **error);
/* A LayerNorm epsilon FIELD in (0, 1) as a float holds it; FALLBACK when
 * absent. */
gboolean    as_config_read_eps    (JsonObject  *obj,
                                   const char  *display_name,
                                   const char  *field,
                                   float        fallback,
                                   float       *out,
                                   GError     **error);

G_END_DECLS
