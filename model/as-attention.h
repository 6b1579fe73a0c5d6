/* as-attention.h — one analysed input: its tokens and every attention matrix.
 *
 * The convenience the CLI, export and tests share: tokenize, run the backend,
 * and keep all layers in one [layers, heads, n, n] block.
 */
#pragma once

#include <glib.h>

#include "as-backend.h"

G_BEGIN_DECLS

typedef struct {
  AsEncoding *encoding;     /* tokens (owned) */
  int         n_layers;
  int         n_heads;
  int         n;            /* tokens */
  int         hidden;
  float      *attn;         /* [n_layers, n_heads, n, n] */
  float      *final_hidden; /* [n, hidden] */
} AsAttention;

/* Tokenizes TEXT_A (+ TEXT_B) with the model's tokenizer (truncating at its
 * max positions, reported in encoding->truncated) and runs BACKEND. */
AsAttention *as_attention_compute (AsBackend   *backend,
                                   const char  *text_a,
                                   const char  *text_b,
                                   GError     **error);
/* Runs BACKEND on given ids (no tokenizer needed, e.g. random-weight models). */
AsAttention *as_attention_compute_ids (AsBackend   *backend,
                                       const int   *ids,
                                       const int   *type_ids,
                                       int          n,
                                       GError     **error);
void         as_attention_free    (AsAttention *attention);

/* Pointer to the [n, n] matrix of LAYER, HEAD. */
static inline const float *
as_attention_head (const AsAttention *a,
                   int                layer,
                   int                head)
{
  return a->attn + ((gsize) layer * a->n_heads + head) * a->n * a->n;
}

G_END_DECLS
