/* as-model.h — a loaded model: config, tokenizer, f32 weights and the
 * architecture (as-architecture.h) that gives the weights their meaning.
 *
 * Weights are laid out as in the checkpoint (Linear weights [out, in],
 * row-major) and converted to f32 once at load. The weights file is read into
 * memory the model owns (a file changed on disk cannot reach it); F32 tensors
 * that are aligned in that buffer are used in place, without a second copy.
 */
#pragma once

#include <glib.h>

#include "as-architecture.h"
#include "as-config.h"
#include "as-gguf.h"
#include "as-safetensors.h"
#include "as-tokenizer.h"

G_BEGIN_DECLS

struct _AsModel {
  char           *dir;          /* folder it came from, or a label for presets */
  char           *name;         /* basename of dir, for titles */
  AsConfig       *config;
  AsTokenizer    *tokenizer;    /* NULL for random-weight presets, and for a GGUF file
                                 * whose tokenizer cannot be built (see below) */
  GError         *tokenizer_error; /* GGUF: why there is no tokenizer (a kind other
                                    * than "gpt2", no merges …); the weights still
                                    * run on ids, text is refused with this */
  AsSafetensors  *st;           /* the weight source; NULL for random-weight presets */
  AsGguf         *gguf;         /* the weight source of a .gguf model (st is NULL then) */

  const AsArchitecture *arch;   /* config->arch: binds the weights, makes backends */
  gpointer        weights;      /* the architecture's own struct (as-bert.h: AsBertWeights) */

  GPtrArray      *owned;        /* buffers we allocated (converted/copied tensors) */
};

/* Loads DIR/config.json, DIR/model.safetensors and the tokenizer; the
 * architecture config.json's model_type names binds the tensors, checking
 * every shape against the config. Errors name the file and tensor. A DIR
 * that is a .gguf file goes to as_model_load_gguf. */
AsModel *as_model_load          (const char  *dir,
                                 GError     **error);
/* Loads the GGUF file PATH (as-model-gguf.c): general.architecture picks the
 * architecture, which reads its config from the metadata and binds the
 * tensors, de-quantised to f32; the tokenizer comes from the tokenizer.ggml.*
 * metadata (byte-level BPE, "gpt2"). One that cannot be built (another kind,
 * named in the message; no merges) leaves the model on ids only, with
 * tokenizer_error; one that builds but does not fit vocab_size fails the
 * load, as a folder's does. */
AsModel *as_model_load_gguf     (const char  *path,
                                 GError     **error);
/* TRUE when MODEL can turn text into ids; else FALSE with a message that
 * says why (tokenizer_error, or none at all). */
gboolean as_model_check_tokenizer (const AsModel *model,
                                   GError       **error);
/* The loaders' check that every id MODEL's tokenizer can produce (vocabulary,
 * added and template tokens) indexes the embedding table (vocab_size). */
gboolean as_model_check_tokenizer_matches (AsModel  *model,
                                           GError  **error);
/* Random weights from the preset's architecture (BERT's: normal, std 0.02;
 * LayerNorm 1/0) with a preset's shapes; no tokenizer. For timing only. */
AsModel *as_model_new_random    (const char  *preset,
                                 guint32      seed,
                                 GError     **error);
void     as_model_free          (AsModel     *model);

/* The learned absolute position embeddings [*ROWS, *COLS] of MODEL, or NULL
 * (with 0, 0) for an architecture without them. */
const float *as_model_get_position_table (const AsModel *model,
                                          int           *rows,
                                          int           *cols);

/* For architectures' bind_weights: an f32 view of tensor PREFIX+NAME of the
 * weight source with shape [D0] (N_DIMS 1) or [D0, D1], converted into a
 * buffer MODEL owns when the file's data cannot be used in place; every
 * value is checked to be finite. NULL with an error naming the file and the
 * tensor otherwise. */
const float *as_model_bind_f32 (AsModel     *model,
                                const char  *prefix,
                                const char  *name,
                                int          n_dims,
                                gint64       d0,
                                gint64       d1,
                                GError     **error);
/* The same for a model read from a GGUF file (MODEL->gguf): tensor NAME
 * de-quantised to f32 into a buffer MODEL owns, with shape [D0] or [D0, D1]
 * as transformers sees it (rows, then columns: GGUF lists them the other
 * way round), every value finite. The buffer is the architecture's to
 * rearrange in place (e.g. to un-permute rows). */
float       *as_model_bind_gguf_f32 (AsModel     *model,
                                     const char  *name,
                                     int          n_dims,
                                     gint64       d0,
                                     gint64       d1,
                                     GError     **error);
/* For architectures' read_gguf_config: metadata key ARCH.SUFFIX of GG. An
 * integer of any integer type in MIN_VALUE..MAX_VALUE (FALLBACK when absent
 * and not REQUIRED); a float (FLOAT32 or FLOAT64, FALLBACK when absent);
 * the vocabulary size: ARCH.vocab_size, else the tokenizer's token count,
 * else the rows of token_embd.weight. FALSE with an error naming the key. */
gboolean     as_model_gguf_int    (AsGguf      *gg,
                                   const char  *arch,
                                   const char  *suffix,
                                   int          min_value,
                                   int          max_value,
                                   gboolean     required,
                                   int          fallback,
                                   int         *out,
                                   GError     **error);
gboolean     as_model_gguf_float  (AsGguf      *gg,
                                   const char  *arch,
                                   const char  *suffix,
                                   float        fallback,
                                   float       *out,
                                   GError     **error);
gboolean     as_model_gguf_vocab  (AsGguf      *gg,
                                   const char  *arch,
                                   int         *out,
                                   GError     **error);
/* For architectures' init_random: COUNT values, MEAN + STD * a deterministic
 * normal draw from *STATE (a xorshift state, never 0), owned by MODEL. */
const float *as_model_random_f32 (AsModel  *model,
                                  gsize     count,
                                  float     mean,
                                  float     std,
                                  guint32  *state);

/* The files of MODEL's folder that loading reads (those that exist), for
 * writers that must never replace them. NULL for random-weight presets;
 * otherwise NULL-terminated, g_strfreev. */
char   **as_model_list_files    (const AsModel *model);
/* The same for a model folder DIR. */
char   **as_model_list_files_in (const char    *dir);

/* The default model folder: $ATTNSCOPE_MODEL_DIR, the source tree's
 * data/models/all-MiniLM-L6-v2, or the installed copy, first that exists. */
char    *as_model_default_dir   (void);
/* The default decoder, the SmolLM2-135M-Instruct Q4_1 GGUF tools/setup
 * fetches: $ATTNSCOPE_GGUF, else beside the default model folder (it may
 * not exist). */
char    *as_model_default_decoder_path (void);

G_END_DECLS
