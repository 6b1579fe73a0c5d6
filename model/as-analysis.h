/* as-analysis.h — one analysed input: its tokens, every attention matrix and
 * where they came from.
 *
 * The one result type of the engine. as_attention_compute () fills one at
 * once (layers_ready = n_layers); the worker (as-worker.h) fills one layer by
 * layer and hands the same object to every view. Export, the CLI, the
 * statistics and the tests read it through as_analysis_head ().
 *
 * Refcounted (atomically), so a view can keep the analysis it draws while
 * the worker has moved on to the next text.
 */
#pragma once

#include <glib-object.h>

#include "as-tokenizer.h"

G_BEGIN_DECLS

/* When the worker fills it, it writes the attention of layer L before it
 * posts L, and LAYERS_READY is advanced only on the main thread when the
 * post is delivered, so readers on the main thread see complete layers
 * only. */
/* Next-token candidates an analysis of a decoder names. */
#define AS_ANALYSIS_NEXT_TOP 10

typedef struct _AsMlmFill AsMlmFill;   /* as-mlm-head.h */

typedef struct {
  guint       generation;    /* the worker's request number; 0 otherwise */
  char       *model_name;    /* NULL when not known (as_attention_compute_ids) */
  char       *model_dir;     /* the folder it was loaded from, or NULL */
  char       *text_a;        /* NULL when computed from ids */
  char       *text_b;        /* NULL unless pair mode */
  AsEncoding *encoding;      /* the tokens as the model sees them; NULL from ids */
  int         n_layers;
  int         n_heads;
  int         n_kv_heads;    /* key/value heads (n_heads / n_kv_heads query heads share
                              * one: grouped-query attention); 0 when not known */
  int         n;             /* tokens */
  int         hidden;
  float      *attn;          /* [n_layers, n_heads, n, n] */
  gsize       attn_mapped;   /* bytes mapped for ATTN by as_analysis_alloc_attention; 0: g_malloc'd */
  float      *final_hidden;  /* [n, hidden], or NULL (the worker keeps none) */
  float      *next_logits;   /* [vocab] the next-token logits after the last token
                              * (a decoder with a language-model head, analysed
                              * by the worker), or NULL */
  int         vocab;         /* entries of NEXT_LOGITS */
  int         next_ids[AS_ANALYSIS_NEXT_TOP];   /* with NEXT_LOGITS: the most likely
                                                 * next tokens, most likely first */
  char       *next_labels[AS_ANALYSIS_NEXT_TOP]; /* what each stands for (may be NULL) */
  int         n_next;        /* candidates in NEXT_IDS: AS_ANALYSIS_NEXT_TOP, or the
                              * vocabulary when it is smaller; 0 without NEXT_LOGITS */
  AsMlmFill  *mlm;           /* the predictions at its [MASK] tokens (an encoder with
                              * a masked-LM head, analysed by the worker), or NULL */
  int         layers_ready;  /* layers 0..layers_ready-1 are valid */
  gint64      request_time;  /* g_get_monotonic_time () when requested */
  gint64      compute_time;  /* µs from the worker taking it to its last layer */
  int         channel;       /* AsChannel it was requested on (as-worker.h) */
  gboolean    causal;        /* keys after their query are masked: a decoder's own
                              * mask, or the teaching demo's lower-triangular one */
} AsAnalysis;

#define AS_TYPE_ANALYSIS (as_analysis_get_type ())
GType        as_analysis_get_type (void) G_GNUC_CONST;
/* An empty analysis (every field zero), with one reference. */
AsAnalysis  *as_analysis_new      (void);
AsAnalysis  *as_analysis_ref      (AsAnalysis *analysis);
/* Frees the analysis and everything it owns with the last reference;
 * NULL is ignored. */
void         as_analysis_unref    (AsAnalysis *analysis);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsAnalysis, as_analysis_unref)

/* Allocates ATTN for the analysis' n_layers, n_heads and n (uninitialised);
 * FALSE when there is not enough memory. */
gboolean     as_analysis_alloc_attention (AsAnalysis *a);

/* Pointer to the [n, n] matrix of LAYER, HEAD (LAYER < layers_ready). */
static inline const float *
as_analysis_head (const AsAnalysis *a,
                  int               layer,
                  int               head)
{
  return a->attn + ((gsize) layer * a->n_heads + head) * a->n * a->n;
}

G_END_DECLS
