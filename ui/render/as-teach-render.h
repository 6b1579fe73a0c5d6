/* as-teach-render.h — one step of scaled dot-product attention, drawn.
 *
 * Cairo and Pango only (no GTK): the teaching view draws its canvas with
 * this, and anything else (an export, a test) can draw the same picture.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "as-colormap.h"
#include "as-teach-math.h"

G_BEGIN_DECLS

/* The steps of the whole walk through one layer, in order: how its input
 * is built, one head's attention (drawn here), then the rest of the layer
 * (drawn by as-layer-render). */
typedef enum {
  AS_TEACH_STEP_EMBED,      /* token + position (+ segment) embeddings, LayerNorm */
  AS_TEACH_STEP_QUERY,      /* q_i */
  AS_TEACH_STEP_KEYS,       /* k_j */
  AS_TEACH_STEP_SCORES,     /* q_i . k_j */
  AS_TEACH_STEP_SCALE,      /* / sqrt(d) */
  AS_TEACH_STEP_MASK,       /* + M */
  AS_TEACH_STEP_SOFTMAX,    /* p_j */
  AS_TEACH_STEP_OUTPUT,     /* sum_j p_j v_j */
  AS_TEACH_STEP_HEADS,      /* every head's z, concatenated, times W_O */
  AS_TEACH_STEP_RESIDUAL,   /* x + attn_out, LayerNorm */
  AS_TEACH_STEP_FFN,        /* the feed-forward network */
  AS_TEACH_STEP_LAYER_OUT,  /* h + FFN(h), LayerNorm: the layer's output */
  AS_TEACH_STEP_PADDING,    /* a padding mask beside a causal one */
  AS_N_TEACH_STEPS
} AsTeachStep;

/* Everything one step's picture shows. */
typedef struct {
  AsTeachStep             step;
  const AsAttentionSteps *steps;
  const int              *rows;        /* [n_rows] keys drawn, in token order */
  int                     n_rows;      /* < steps->n: the rest are left out (and said so) */
  const char * const     *tokens;      /* [steps->n] labels */
  const float            *engine_row;  /* [steps->n] the model's attention row, or NULL */
  double                  check;       /* max |probs - engine_row|, negative if unknown */
  AsColormapId            colormap;    /* for the weight bars */
  gboolean                dark;
  const char             *font;        /* family; NULL = "Sans" */
  /* Rotary position embedding (a Llama): the keys step shows the query
   * and the key of ROPE_KEY before and after their rotation. */
  float                   rope_theta;  /* 0: the model has no RoPE */
  const float            *q_before;    /* [head_dim] q before RoPE, or NULL */
  const float            *k_before;    /* [head_dim] k_{rope_key} before RoPE, or NULL */
  int                     rope_key;    /* a key position */
} AsTeachFrame;

/* Whether STEP is one of the attention steps this module draws (the
 * others are as-layer-render's). */
gboolean as_teach_step_is_attention (AsTeachStep step);

/* The height FRAME needs (its width is the caller's); 0 for a step that is
 * not an attention step. */
double  as_teach_render_height (const AsTeachFrame *frame);
/* Draws FRAME from (0, 0), WIDTH wide (nothing for a step that is not an
 * attention step). */
void    as_teach_render        (cairo_t            *cr,
                                const AsTeachFrame *frame,
                                double              width);

G_END_DECLS
