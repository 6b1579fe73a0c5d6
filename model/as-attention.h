/* as-attention.h — analyse one input at once, and the memory budget.
 *
 * The convenience the CLI, export and tests share: tokenize, run the backend,
 * and keep all layers in one AsAnalysis (as-analysis.h), the type the worker
 * streams to the views too.
 */
#pragma once

#include <glib.h>

#include "as-analysis.h"
#include "as-backend.h"

G_BEGIN_DECLS

/* Tokenizes TEXT_A (+ TEXT_B) with the model's tokenizer (truncating at its
 * max positions, reported in encoding->truncated) and runs BACKEND. The
 * result has every layer (layers_ready = n_layers), the final hidden states,
 * the texts and the model's name and folder; free with as_analysis_unref. */
AsAnalysis  *as_attention_compute (AsBackend   *backend,
                                   const char  *text_a,
                                   const char  *text_b,
                                   GError     **error);
/* Runs BACKEND on given ids (no tokenizer needed, e.g. random-weight models):
 * as as_attention_compute, without encoding, texts or model name. */
AsAnalysis  *as_attention_compute_ids (AsBackend   *backend,
                                       const int   *ids,
                                       const int   *type_ids,
                                       int          n,
                                       GError     **error);

/* Resource limits. One input of N tokens takes, in floats, its attention for
 * every layer as the app and as_attention_compute hold it (layers x heads x
 * N x N; 151 MB for 512 tokens on a 12 x 12 model) plus the encoder's
 * working buffers (heads x N x N + N x (6 hidden + intermediate)). An input
 * whose total exceeds the budget is refused (AS_MODEL_ERROR_RESOURCES, with
 * the figures and the longest input that fits) before anything is
 * allocated: as_backend_forward and as_backend_layer_qkv check it.
 *
 * The budget is $ATTNSCOPE_MAX_ATTENTION_MB megabytes (2^20 bytes), a whole
 * number from 1 to 2^40, or AS_ATTENTION_DEFAULT_BUDGET_MB when it is unset
 * or empty. Any other value is refused: as_attention_budget_validate and
 * as_attention_check_budget fail with a message naming the variable and the
 * range (as_attention_budget_bytes then gives the default). */
#define AS_ATTENTION_DEFAULT_BUDGET_MB 2048
gboolean     as_attention_budget_validate (GError **error);
guint64      as_attention_budget_bytes (void);
guint64      as_attention_bytes_needed (const AsConfig *config,
                                        int             n_tokens);
/* The most tokens that fit both the budget and max_positions (0 if none). */
int          as_attention_max_tokens   (const AsConfig *config);
gboolean     as_attention_check_budget (const AsConfig *config,
                                        int             n_tokens,
                                        GError        **error);

G_END_DECLS
