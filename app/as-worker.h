/* as-worker.h — the one thread that owns the engine.
 *
 * GLib only (no GTK), so it can be tested headless. The worker thread owns the
 * model and its backend; everything else talks to it through requests. Each
 * analysis request gets a generation number; a newer request raises the cancel
 * flag, which the backend checks between layers. Results are posted to the
 * main context the worker was created in, layer by layer, as AsAnalysis
 * snapshots; a post whose generation is no longer the latest is dropped there
 * and never reaches a signal handler, so nothing stale can be drawn.
 */
#pragma once

#include <glib-object.h>

#include "as-tokenizer.h"

G_BEGIN_DECLS

/* The result of one analysis request, filled layer by layer.
 *
 * The worker thread writes the attention of layer L before it posts L, and
 * LAYERS_READY is advanced only on the main thread when the post is
 * delivered, so readers on the main thread see complete layers only. */
typedef struct {
  guint       generation;
  char       *model_name;
  char       *text_a;
  char       *text_b;        /* NULL unless pair mode */
  AsEncoding *encoding;      /* the tokens as the model sees them */
  int         n_layers;
  int         n_heads;
  int         n;             /* tokens */
  float      *attn;          /* [n_layers, n_heads, n, n] */
  int         layers_ready;  /* main thread only: layers 0..layers_ready-1 are valid */
  gint64      request_time;  /* g_get_monotonic_time () when requested */
  gint64      compute_time;  /* µs from the worker taking it to its last layer */
} AsAnalysis;

#define AS_TYPE_ANALYSIS (as_analysis_get_type ())
GType        as_analysis_get_type (void) G_GNUC_CONST;
AsAnalysis  *as_analysis_ref      (AsAnalysis *analysis);
void         as_analysis_unref    (AsAnalysis *analysis);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsAnalysis, as_analysis_unref)

/* Pointer to the [n, n] matrix of LAYER, HEAD (LAYER < layers_ready). */
static inline const float *
as_analysis_head (const AsAnalysis *a,
                  int               layer,
                  int               head)
{
  return a->attn + ((gsize) layer * a->n_heads + head) * a->n * a->n;
}

/* One delivery seen by the main context, for tests and tracing. */
typedef struct {
  guint    generation;   /* of the post */
  int      layer;        /* -1 for the "started" post that carries the tokens */
  guint    latest;       /* the newest generation requested when it arrived */
  gboolean accepted;     /* FALSE: stale, dropped before any signal */
  gint64   time;         /* g_get_monotonic_time () at delivery */
} AsWorkerTraceEntry;

#define AS_TYPE_WORKER (as_worker_get_type ())
G_DECLARE_FINAL_TYPE (AsWorker, as_worker, AS, WORKER, GObject)

/* Posts go to the thread-default main context at the time of this call. */
AsWorker    *as_worker_new               (void);

/* Loads DIR off the main thread. Emits ::model-progress while it works, then
 * ::model-loaded or ::model-failed. On failure the previous model stays. */
void         as_worker_load_model        (AsWorker   *self,
                                          const char *dir);
gboolean     as_worker_is_loading        (AsWorker   *self);

/* Queues an analysis of TEXT_A (+ TEXT_B when not NULL or empty) and returns
 * its generation. Any older request is cancelled between layers; a request
 * that never started is replaced. */
guint        as_worker_analyse           (AsWorker   *self,
                                          const char *text_a,
                                          const char *text_b);
/* The newest generation handed out (0 before the first request). */
guint        as_worker_get_generation    (AsWorker   *self);

/* The loaded model, or NULL. Main-thread copies, safe to read any time. */
const char  *as_worker_get_model_dir     (AsWorker   *self);
const char  *as_worker_get_model_name    (AsWorker   *self);
const char  *as_worker_get_backend_name  (AsWorker   *self);

/* Record every delivery (accepted or dropped) in a trace. Off by default;
 * on when ATTNSCOPE_TRACE is set. */
void         as_worker_set_trace_enabled (AsWorker   *self,
                                          gboolean    enabled);
/* Array of AsWorkerTraceEntry, owned by SELF. */
GArray      *as_worker_get_trace         (AsWorker   *self);
void         as_worker_clear_trace       (AsWorker   *self);

/* Test hook: sleep this long (µs) in the worker after each layer, so tests
 * can make requests overtake each other deterministically. */
void         as_worker_set_layer_delay   (AsWorker   *self,
                                          guint       usec);

G_END_DECLS
