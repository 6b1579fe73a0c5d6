/* as-architecture.h — what a model family provides behind the engine's seam.
 *
 * A loaded model is config + tokenizer + weights + architecture. The
 * architecture is a const table of facts and functions: which config.json
 * model_type values it accepts, how it reads its config fields, how it binds
 * its tensors into its own weights struct, and how backends are made for it.
 * Everything above the engine (the worker, the CLI, the views) holds an
 * AsModel and an AsBackend and never names a family; adding one means adding
 * its files and a line in the registry (as-architectures.c). model/README.md
 * has the checklist.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "as-config.h"

G_BEGIN_DECLS

/* Declared here so the interface does not pull in their headers. */
typedef struct _AsBackend AsBackend;
typedef struct _AsModel   AsModel;
typedef struct _AsGguf    AsGguf;
typedef struct _AsMlmHeadWeights AsMlmHeadWeights;   /* as-mlm-head.h */
typedef struct _AsLayerTrace AsLayerTrace;           /* as-layer-trace.h */

/* The plain fp32 reference forward of the N tokens IDS [n] (TYPE_IDS [n]),
 * already checked against the model, through LAYER (in range), keeping the
 * embeddings and LAYER's stages in TRACE, whose sizes are set; the family
 * sets pre_norm, norm and ffn. KEY_MASK [n] (0 for a real key, -inf for a
 * padding one) is added to every row of scores at every layer, or NULL; a
 * causal family is never given one. CANCEL (may be NULL) is checked between
 * layers: FALSE, AS_MODEL_ERROR_CANCELLED. */
typedef gboolean AsLayerTraceFunc (const AsModel *model,
                                   const int     *ids,
                                   const int     *type_ids,
                                   int            n,
                                   const float   *key_mask,
                                   const gint    *cancel,
                                   int            layer,
                                   AsLayerTrace  *trace,
                                   GError       **error);

struct _AsArchitecture {
  const char        *name;          /* "bert": in messages and the README */
  const char *const *model_types;   /* config.json model_type values, NULL-terminated */

  /* Facts the layers above rely on instead of asking which family it is. */
  gboolean           causal;            /* a token attends only to itself and earlier ones */
  gboolean           uses_token_types;  /* the request's type_ids select an embedding */
  int                ffn_products;      /* matrix products in the FFN: 3 for a gated one
                                         * (SwiGLU), else 2 (0 reads as 2); for FLOP counts */

  /* Reads this family's fields of config.json (OBJ) into CONFIG, which has
   * model_type and arch set, and checks them; errors name DISPLAY_NAME and
   * the field. Every size it sets is bounded so later arithmetic cannot
   * overflow (as-config.h's AS_CONFIG_MAX_*). */
  gboolean   (*read_config)           (JsonObject      *obj,
                                       const char      *display_name,
                                       AsConfig        *config,
                                       GError         **error);
  /* Optional (NULL: this family is not read from GGUF files). As
   * read_config, from the metadata of GG (general.architecture is one of
   * model_types); errors name the file and the key. */
  gboolean   (*read_gguf_config)      (AsGguf          *gg,
                                       AsConfig        *config,
                                       GError         **error);
  /* Binds MODEL->weights from the model's weight source (MODEL->st, or
   * MODEL->gguf for a .gguf file, see as_model_bind_gguf_f32), shape
   * by shape against MODEL->config, with as_model_bind_f32 (). Must refuse a
   * file with tensors missing, misshapen, or beyond what the config says. */
  gboolean   (*bind_weights)          (AsModel         *model,
                                       GError         **error);
  /* Fills MODEL->weights with deterministic random values for SEED in
   * MODEL->config's shapes (buffers owned through MODEL->owned). */
  void       (*init_random)           (AsModel         *model,
                                       guint32          seed);
  /* Frees the struct bind_weights or init_random made (not the tensors:
   * those are in the weight source or MODEL->owned). */
  void       (*free_weights)          (gpointer         weights);

  /* The fast CPU backend and the plain fp32 reference one (as-backend.h). */
  AsBackend *(*cpu_backend_new)       (const AsModel   *model);
  AsBackend *(*reference_backend_new) (const AsModel   *model);
  /* Optional (NULL: the GPU plugin does not run this family). Fills DESC, an
   * AsGpuModelDesc of as-gpu-plugin.h, with the weights in the plugin's
   * layout; *LAYERS gets a buffer the caller frees with g_free. */
  void       (*gpu_describe)          (const AsModel   *model,
                                       gpointer         desc,
                                       gpointer        *layers);
  /* Optional (NULL: the plugin's decoder does not run this family). Fills
   * DESC, an AsGpuDecoderDesc of as-gpu-plugin.h, the same way. */
  void       (*gpu_describe_decoder)  (const AsModel   *model,
                                       gpointer         desc,
                                       gpointer        *layers);
  /* Optional (NULL: no language-model head, as for encoders). The final
   * norm applied to residual-stream rows X [n, hidden], into OUT [n,
   * hidden]: what the logit lens puts each layer's output through. */
  void       (*final_norm)            (const AsModel   *model,
                                       const float     *x,
                                       int              n,
                                       float           *out);
  /* Optional, with final_norm: the output embedding [vocab, hidden]; the
   * logits are the final hidden state times its transpose. */
  const float *(*output_embedding)    (const AsModel   *model);
  /* Optional (NULL: this family's masked-LM head is not read). The
   * checkpoint's masked-language-model head (as-mlm-head.h), or NULL when
   * this checkpoint has none. */
  const AsMlmHeadWeights *(*mlm_head) (const AsModel   *model);
  /* Optional (NULL: no learned position table, e.g. rotary positions). The
   * [*ROWS, *COLS] table of learned absolute position embeddings. */
  const float *(*position_table)      (const AsModel   *model,
                                       int             *rows,
                                       int             *cols);
  /* Optional (NULL: as_layer_trace_compute refuses this family by name).
   * See AsLayerTraceFunc. */
  AsLayerTraceFunc *layer_trace;
};

/* The architecture that accepts MODEL_TYPE, or NULL. */
const AsArchitecture  *as_architecture_lookup        (const char *model_type);
/* Every registered architecture, NULL-terminated (for tests and messages). */
const AsArchitecture *const *as_architecture_get_all (void);
/* "bert, …": every accepted model_type, for "not supported" messages. g_free. */
char                  *as_architecture_list_supported (void);

G_END_DECLS
