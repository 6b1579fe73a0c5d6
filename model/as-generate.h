/* as-generate.h — text generation with a decoder (as-decode.h).
 *
 * The prompt is run once; then, up to a limit, a token is chosen from the
 * next-token logits (as-sampler.h), handed to the caller and appended. It
 * stops after the end-of-sequence token, at the limit, when the model's
 * positions (or the attention memory budget, as-attention.h) are used up,
 * or when the caller cancels. Before each step's
 * callback, ON_ROW gets every layer's attention row of the token whose
 * next-token distribution that step chooses from: the last prompt token's
 * for step 0, the token chosen at step i-1 for step i.
 */
#pragma once

#include <glib.h>

#include "as-backend.h"
#include "as-decode.h"
#include "as-sampler.h"

G_BEGIN_DECLS

/* The most likely tokens a step reports at most. */
#define AS_GENERATE_MAX_TOP 100

typedef enum {
  AS_GENERATE_STOP_EOS,       /* the end-of-sequence token was chosen */
  AS_GENERATE_STOP_LENGTH,    /* max_tokens were generated */
  AS_GENERATE_STOP_CONTEXT,   /* the positions or the attention budget are used up */
} AsGenerateStop;

typedef struct {
  int          index;      /* 0 for the first generated token */
  int          id;
  gboolean     is_eos;
  /* The text this token completes, "" while a character is unfinished
   * (its bytes come with a later token) and for the end-of-sequence token;
   * the pieces joined are the ids decoded together. NULL when the model
   * has no tokenizer. */
  const char  *text;
  int          n_top;      /* the model's most likely tokens (softmax at temperature 1) */
  const int   *top_ids;    /* [n_top] most likely first */
  const float *top_probs;  /* [n_top] */
  const float *logits;     /* [vocab] the logits this token was chosen from */
} AsGenerateStep;

/* Return FALSE to stop (an AS_MODEL_ERROR_CANCELLED error). */
typedef gboolean (*AsGenerateStepFunc) (const AsGenerateStep *step,
                                        gpointer              user_data);
/* DECODER: the one about to run the prompt (what its steps read:
 * as_decoder_get_weights). */
typedef void     (*AsGenerateStartFunc)  (AsDecoder   *decoder,
                                          gpointer     user_data);
/* LOGITS [vocab]: the next-token logits after N_CTX tokens. */
typedef gboolean (*AsGenerateLogitsFunc) (const float *logits,
                                          int          n_ctx,
                                          gpointer     user_data);

typedef struct {
  AsSamplerOptions   sampling;
  int                max_tokens;       /* 1 and more */
  int                eos_id;           /* stop after choosing it; -1: never */
  int                n_top;            /* 0..AS_GENERATE_MAX_TOP */
  AsGenerateStartFunc on_start;        /* may be NULL: once the decoder is made */
  AsLayerFunc        on_prompt_layer;  /* may be NULL: the prompt's layers */
  AsRowFunc          on_row;           /* may be NULL */
  AsGenerateStepFunc on_step;          /* may be NULL */
  /* May be NULL. Else the last chosen token, unless it is the
   * end-of-sequence one or there is no room left, is run as well: ON_ROW
   * gets its rows and ON_LAST the logits after it, so the caller has the
   * attention of the whole generated text without a second pass. */
  AsGenerateLogitsFunc on_last;
  gpointer           user_data;        /* for the callbacks */
  const gint        *cancel;           /* may be NULL; non-zero: stop */
  AsDecodeWeights    weights;          /* what the steps read (as-decode.h); auto by default */
  const AsHeadAblation *ablate;        /* [n_ablate] heads switched off in the prompt and */
  int                n_ablate;         /* every step (as-ablation.h); none by default */
} AsGenerateOptions;

/* Greedy, 64 tokens, MODEL's tokenizer's end-of-sequence id (-1 without
 * one), the top 5 tokens, no callbacks. */
void     as_generate_options_init (AsGenerateOptions       *options,
                                   const AsModel           *model);
/* FALSE, naming the option, for values outside the ranges above. */
gboolean as_generate_options_check (const AsGenerateOptions *options,
                                    GError                 **error);

/* Generates from PROMPT [n_prompt] ids with BACKEND's model (a decoder:
 * others are refused, as as_decoder_new does). *STOP (may be NULL) says
 * why it ended; *IDS (may be NULL; g_free) the generated ids, *N_IDS their
 * count. */
gboolean as_generate              (AsBackend               *backend,
                                   const int               *prompt,
                                   int                      n_prompt,
                                   const AsGenerateOptions *options,
                                   AsGenerateStop          *stop,
                                   int                    **ids,
                                   int                     *n_ids,
                                   GError                 **error);

/* The text as_generate writes from PROMPT [n_prompt] with OPTIONS (their
 * callbacks aside: only the cancel flag is kept), the end-of-sequence token
 * left out (g_free); NULL with ERROR set. The model must have a tokenizer. */
char    *as_generate_text         (AsBackend               *backend,
                                   const int               *prompt,
                                   int                      n_prompt,
                                   const AsGenerateOptions *options,
                                   GError                 **error);

const char *as_generate_stop_to_string (AsGenerateStop stop);

G_END_DECLS
