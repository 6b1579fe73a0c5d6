/* as-layer-render.h — the rest of one layer, around one head's attention, drawn.
 *
 * Cairo and Pango only (no GTK), like as-teach-render: how the input of the
 * first layer is built from embeddings, every head's output and W_O, the
 * residual adds and norms, the feed-forward network, the layer's output,
 * and a padding mask beside a causal one — all on the numbers of an
 * AsLayerTrace (as-layer-trace.h) for one selected token.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "as-colormap.h"
#include "as-layer-trace.h"
#include "as-teach-render.h"

G_BEGIN_DECLS

/* Everything one of the layer steps' pictures shows. */
typedef struct {
  AsTeachStep          step;          /* EMBED, or HEADS .. PADDING */
  const AsLayerTrace  *trace;
  int                  token;         /* the selected token */
  int                  head;          /* the selected head */
  const char * const  *tokens;        /* [trace->n] labels */
  /* HEADS: max |z of HEAD in the trace - the attention steps' output z|,
   * negative when unknown. */
  double               z_check;
  /* HEADS, LAYER_OUT: max |the trace's attention - the model's attention
   * in the grid| over this layer's heads, negative when unknown. */
  double               attn_check;
  /* HEADS: the layer's attention as the grid has it, [n_heads, n, n]
   * (NULL: the trace's own), drawn as one thumbnail per head. */
  const float         *heads_attn;
  AsColormapId         colormap;
  gboolean             dark;
  const char          *font;          /* family; NULL = "Sans" */
  gboolean             model_causal;  /* a decoder: it masks later tokens itself */
  /* PADDING (an encoder): the demonstration, or NULL with PADDING_NOTE
   * saying why (still on its way, or the engine's refusal). */
  const AsPaddingDemo *padding;
  const char * const  *padding_tokens[2];   /* [n_seq[s]] each sequence's real tokens' labels (read no further) */
  const char          *padding_note;
} AsLayerFrame;

/* Whether STEP is one of the steps this module draws. */
gboolean as_layer_step_is_layer      (AsTeachStep step);

/* The height FRAME needs at WIDTH; 0 without a trace or for another step. */
double   as_layer_render_height      (const AsLayerFrame *frame,
                                      double              width);
/* Draws FRAME from (0, 0), WIDTH wide. */
void     as_layer_render             (cairo_t            *cr,
                                      const AsLayerFrame *frame,
                                      double              width);

/* The numbers the pictures print, for anyone who wants to check them. */

/* The largest difference, for sequence SEQ of DEMO and HEAD, between its
 * attention in the padded batch and alone, over its real query rows: on
 * its real keys |padded - alone|, on its padding keys |padded| (they must
 * get exactly 0). Negative for arguments out of range. */
double   as_layer_padding_difference (const AsPaddingDemo *demo,
                                      int                  seq,
                                      int                  head);
/* TOKEN's row of TRACE's FFN activations [intermediate]: the share whose
 * |value| is under 5% of the row's largest (near zero), and the share that
 * is negative. FALSE for a token out of range. */
gboolean as_layer_ffn_sparsity       (const AsLayerTrace  *trace,
                                      int                  token,
                                      double              *near_zero,
                                      double              *negative);
/* The cosine similarity of TOKEN's input x_in and output out (0 when
 * either is all zeros or TOKEN is out of range). */
double   as_layer_in_out_cosine      (const AsLayerTrace  *trace,
                                      int                  token);

G_END_DECLS
