/* as-decode-deviation.h — how far a decoder whose steps read block weights
 * (as-decode.h: AS_DECODE_WEIGHTS_INT8, reduced precision, or _FILE, the
 * same weights summed in another order) strays from the fp32 one: both run the same tokens side by side, and every step's logits,
 * attention rows and most likely next token are compared.
 */
#pragma once

#include <glib.h>

#include "as-decode.h"

G_BEGIN_DECLS

typedef struct {
  int    steps;            /* steps compared */
  double max_logit_diff;   /* largest |logit - fp32's| over every step and token */
  double max_logit_range;  /* fp32's largest max - min of a step's logits, for scale */
  double max_row_diff;     /* largest |attention - fp32's| over every step's rows, layers, heads */
  int    argmax_agree;     /* steps whose most likely next token is fp32's */
} AsDecodeDeviation;

/* IDS [N]: the first N_PROMPT the prompt, the rest appended one at a time
 * (the same tokens for both, whatever each would pick) by a decoder with
 * WEIGHTS and an fp32 one on BACKEND; OUT gets the differences after each
 * appended token. */
gboolean as_decode_deviation (AsBackend          *backend,
                              const int          *ids,
                              int                 n_prompt,
                              int                 n,
                              AsDecodeWeights     weights,
                              AsDecodeDeviation  *out,
                              GError            **error);

G_END_DECLS
