/* as-worker.h — the one thread that owns the engine.
 *
 * GLib only (no GTK), so it can be tested headless. The worker thread owns the
 * model and its backend; everything else talks to it through requests. Each
 * analysis request gets a generation number; a newer request raises the cancel
 * flag, which the backend checks between layers. Results are posted to the
 * main context the worker was created in, layer by layer, as AsAnalysis
 * (as-analysis.h) snapshots; a post whose generation is no longer the
 * latest is dropped there and never reaches a signal handler, so nothing
 * stale can be drawn.
 */
#pragma once

#include <glib-object.h>

#include "as-ablation.h"
#include "as-analysis.h"
#include "as-layer-trace.h"
#include "as-logit-lens.h"
#include "as-sampler.h"
#include "as-tokenizer.h"

G_BEGIN_DECLS

/* Independent request channels. Each has its own generation counter,
 * pending slot and cancel flag, so a request on one never cancels, replaces
 * or delays the delivery of another's. MAIN is the sentence being typed and
 * uses the ::analysis-* and ::layer-ready signals; the others report through
 * the detailed ::channel-* signals (detail "causal", "compare", "qkv",
 * "trace").
 * A side-channel job that is running when a MAIN request arrives gives way
 * between layers and starts over afterwards, so typing never waits on it. */
typedef enum {
  AS_CHANNEL_MAIN,     /* the analysis on screen */
  AS_CHANNEL_QKV,      /* Q, K, V of one layer (teaching view) */
  AS_CHANNEL_CAUSAL,   /* the same text with a causal mask (teaching demo) */
  AS_CHANNEL_COMPARE,  /* a second text, shown side by side */
  AS_CHANNEL_TRACE,    /* one whole layer, every stage kept (teaching view) */
  AS_N_CHANNELS
} AsChannel;

/* "main", "qkv", "causal", "compare", "trace": the signal detail of CHANNEL. */
const char  *as_channel_name      (AsChannel channel);

/* Q, K and V of one layer for one text, as the engine computed them. */
typedef struct {
  guint       generation;    /* on AS_CHANNEL_QKV */
  char       *model_name;
  char       *text_a;
  char       *text_b;        /* NULL unless pair mode */
  gboolean    causal;        /* computed with the causal mask in layers below */
  AsEncoding *encoding;
  int         layer;
  int         n;             /* tokens */
  int         hidden;
  int         n_heads;
  int         head_dim;      /* hidden / n_heads; head h is columns h*head_dim.. */
  int         n_kv_heads;    /* key/value heads: K and V of the heads that share one
                              * (grouped-query attention) are its copies */
  gboolean    model_causal;  /* the model masks later tokens itself (a decoder) */
  float       rope_theta;    /* Q and K are rotated by position (RoPE) with this
                              * base, as the model does; 0: no rotation */
  float      *q;             /* [n, hidden] */
  float      *k;             /* [n, hidden] */
  float      *v;             /* [n, hidden] */
} AsQkv;

#define AS_TYPE_QKV (as_qkv_get_type ())
GType        as_qkv_get_type      (void) G_GNUC_CONST;
AsQkv       *as_qkv_ref           (AsQkv *qkv);
void         as_qkv_unref         (AsQkv *qkv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsQkv, as_qkv_unref)

/* One layer of one text with every stage kept (as-layer-trace.h), and,
 * when asked for, the padding demonstration of that text batched with a
 * second one. */
typedef struct {
  guint          generation;     /* on AS_CHANNEL_TRACE */
  char          *model_name;
  char          *text_a;
  char          *text_b;         /* NULL unless pair mode */
  int            layer;
  AsEncoding    *encoding;       /* TEXT_A (+ TEXT_B)'s tokens, as the main
                                  * analysis makes them: TRACE's n rows */
  AsLayerTrace  *trace;
  AsPaddingDemo *padding;        /* sequence 0 is ENCODING, 1 PADDING_TEXT's
                                  * tokens. NULL: none asked, a causal model,
                                  * or it failed */
  char          *padding_error;  /* why PADDING is NULL when it was asked, else NULL */
  char         **padding_tokens; /* [n_seq[1]] display texts of padding_text's
                                  * tokens, NULL-terminated; NULL without PADDING */
} AsWorkerTrace;

#define AS_TYPE_WORKER_TRACE (as_worker_trace_get_type ())
GType          as_worker_trace_get_type (void) G_GNUC_CONST;
AsWorkerTrace *as_worker_trace_ref      (AsWorkerTrace *trace);
void           as_worker_trace_unref    (AsWorkerTrace *trace);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsWorkerTrace, as_worker_trace_unref)

/* The logit lens (as-logit-lens.h) of a decoder's main analysis, every
 * layer, top AS_WORKER_LENS_TOP; computed after the analysis is finished
 * and stopped, like it, by a newer request. */
#define AS_WORKER_LENS_TOP 10

typedef struct {
  guint        generation;   /* of the main analysis it belongs to */
  AsLogitLens *lens;         /* NULL when the engine refused it: ERROR says why */
  char       **labels;       /* [n_layers, n, k] what each of LENS's ids stands for */
  char        *error;
} AsWorkerLens;

#define AS_TYPE_WORKER_LENS (as_worker_lens_get_type ())
GType         as_worker_lens_get_type (void) G_GNUC_CONST;
AsWorkerLens *as_worker_lens_ref      (AsWorkerLens *lens);
void          as_worker_lens_unref    (AsWorkerLens *lens);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsWorkerLens, as_worker_lens_unref)

/* Head ablation (as-ablation.h) of one text: the effect of a list of
 * ablated heads, or the ranked table of a layer's heads, one at a time. */
#define AS_WORKER_ABLATION_TOP 10
/* Tokens of a decoder's greedy continuation, with its heads on and off. */
#define AS_WORKER_ABLATION_CONTINUE 12

typedef struct {
  guint             generation;   /* of as_worker_request_ablation */
  char             *text_a;
  char             *text_b;       /* NULL unless pair mode */
  AsHeadAblation   *ablate;       /* [n_ablate] as requested */
  int               n_ablate;
  AsAblationEffect  effect;       /* of ABLATE together (n_ablate > 0) */
  char            **top_labels;   /* [effect.n_top] what the top ids stand for */
  char             *argmax_label; /* the most likely next token after; NULL for an encoder */
  char             *continued_on; /* a decoder's greedy continuation of the text, every head */
  char             *continued_off;/* on, and with ABLATE off (as_generate_text); NULL else */
  int               rank_layer;   /* the layer ranked (from 0; -1 all), -2 for none */
  AsAblateMode      rank_mode;
  GArray           *rank;         /* AsHeadRank rows, largest effect first; NULL without */
  char            **rank_labels;  /* [rank->len] argmax_after of each, or NULL */
} AsWorkerAblation;

#define AS_TYPE_WORKER_ABLATION (as_worker_ablation_get_type ())
GType             as_worker_ablation_get_type (void) G_GNUC_CONST;
AsWorkerAblation *as_worker_ablation_ref      (AsWorkerAblation *ablation);
void              as_worker_ablation_unref    (AsWorkerAblation *ablation);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsWorkerAblation, as_worker_ablation_unref)

/* One delivery seen by the main context, for tests and tracing (MAIN
 * channel only: the trace proves no stale layer reaches the main views). */
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
 * its generation. For a decoder, ::lens-ready (analysis, AsWorkerLens)
 * follows ::analysis-finished once the logit lens is computed. Any older request is cancelled between layers; a request
 * that never started is replaced. */
guint        as_worker_analyse           (AsWorker   *self,
                                          const char *text_a,
                                          const char *text_b);
/* The newest generation handed out (0 before the first request). */
guint        as_worker_get_generation    (AsWorker   *self);

/* Queues an analysis on CHANNEL (AS_CHANNEL_CAUSAL runs with the causal
 * mask; AS_CHANNEL_MAIN is as_worker_analyse) and returns its generation on
 * that channel. Reports ::channel-started, ::channel-layer-ready,
 * ::channel-finished or ::channel-failed, detailed by the channel's name;
 * only posts of the channel's newest generation are emitted. */
guint        as_worker_analyse_on        (AsWorker   *self,
                                          AsChannel   channel,
                                          const char *text_a,
                                          const char *text_b);
/* Queues Q, K, V of LAYER for TEXT_A (+ TEXT_B), with the causal mask in
 * the layers below when CAUSAL. Reports ::qkv-ready or ::channel-failed::qkv
 * (a layer out of range is an error there, not a crash). */
guint        as_worker_request_qkv       (AsWorker   *self,
                                          const char *text_a,
                                          const char *text_b,
                                          int         layer,
                                          gboolean    causal);
/* Queues LAYER of TEXT_A (+ TEXT_B) with every stage kept, on
 * AS_CHANNEL_TRACE; with PADDING_TEXT (not NULL or empty), also the
 * padding demonstration of TEXT_A (+ TEXT_B) batched with PADDING_TEXT,
 * tokenised alone as one sentence, up to LAYER. Reports
 * ::layer-trace-ready (AsWorkerTrace) or ::channel-failed::trace (a layer
 * out of range, or a model without a trace, is an error there, not a
 * crash); a padding demonstration the model refuses (a decoder) does not
 * fail the request: AsWorkerTrace.padding_error says why. */
guint        as_worker_request_layer_trace (AsWorker   *self,
                                            const char *text_a,
                                            const char *text_b,
                                            int         layer,
                                            const char *padding_text);
/* The newest generation handed out on CHANNEL. */
guint        as_worker_get_channel_generation (AsWorker  *self,
                                               AsChannel  channel);

/* Continues TEXT with the loaded decoder: up to MAX_TOKENS tokens chosen as
 * SAMPLING says (as-sampler.h), after any analysis already queued. Emits
 * ::generation-step (generation, piece, index) as each token is chosen (the
 * pieces joined are the generated text) and then ::generation-finished
 * (generation, error: NULL when it ended at the end-of-sequence token, the
 * limit or the context, else why, AS_MODEL_ERROR_CANCELLED when stopped).
 * Before each ::generation-step, and once more after the last token,
 * ::generation-analysis (analysis, picked) hands over the analysis of the
 * text so far, complete, as the main analysis (its generation is the MAIN
 * channel's newest), one token longer each time, with the next-token
 * logits the step chose from and PICKED, the token chosen (-1 after the
 * last one, whose analysis is that of the whole text).
 * A newer call, as_worker_stop_generation or a model load stops the one
 * running between two tokens. Returns its generation. */
guint        as_worker_generate          (AsWorker               *self,
                                          const char             *text,
                                          const AsSamplerOptions *sampling,
                                          int                     max_tokens);
void         as_worker_stop_generation   (AsWorker               *self);
/* Whether a generation is queued or running. */
gboolean     as_worker_is_generating     (AsWorker               *self);

/* Queues an ablation of TEXT_A (+ TEXT_B), after the analyses already
 * asked for, on the CPU (the GPU plugin does not ablate): the effect of the
 * N_ABLATE heads of ABLATE together (when N_ABLATE > 0), and, when
 * RANK_LAYER is not -2, the ranked table of RANK_LAYER's heads (-1: every
 * layer's) ablated one at a time with RANK_MODE. Emits
 * ::ablation-progress (generation, done, total) after each head ranked,
 * then ::ablation-ready (AsWorkerAblation) or ::ablation-failed
 * (generation, error). A newer request stops an older one between heads;
 * only the newest one's signals are emitted. Returns its generation. */
guint        as_worker_request_ablation  (AsWorker             *self,
                                          const char           *text_a,
                                          const char           *text_b,
                                          const AsHeadAblation *ablate,
                                          int                   n_ablate,
                                          int                   rank_layer,
                                          AsAblateMode          rank_mode);

/* The loaded model, or NULL. Main-thread copies, safe to read any time. */
const char  *as_worker_get_model_dir     (AsWorker   *self);
const char  *as_worker_get_model_name    (AsWorker   *self);
/* Whether the loaded model encodes a second text (a decoder takes one). */
gboolean     as_worker_get_model_takes_pairs (AsWorker *self);
/* Whether the loaded model is a decoder with a language-model head. */
gboolean     as_worker_get_model_generates (AsWorker *self);
/* Whether the loaded model has a masked-LM head: the main analysis of a
 * text with [MASK] tokens then carries the predictions at each
 * (AsAnalysis.mlm, AS_WORKER_MLM_TOP of them) when ::analysis-finished. */
gboolean     as_worker_get_model_fills   (AsWorker *self);
#define AS_WORKER_MLM_TOP 10
const char  *as_worker_get_backend_name  (AsWorker   *self);
/* The loaded model's learned position embeddings, [n_positions, hidden]
 * (a main-thread copy made at load), or NULL (no model, or none learned). */
const float *as_worker_get_position_embeddings (AsWorker *self,
                                                int      *n_positions,
                                                int      *hidden);

/* The device the next load uses: "auto" (the GPU when one works), "cpu" or
 * "gpu". Changing it reloads the current model (::model-progress, then
 * ::model-loaded or ::model-failed). FALSE for an unknown name. Starts from
 * ATTNSCOPE_DEVICE, else "auto". */
gboolean     as_worker_set_device        (AsWorker   *self,
                                          const char *device);
const char  *as_worker_get_device        (AsWorker   *self);
/* The loaded backend's short name: "cpu" or "cuda" (NULL before a load). */
const char  *as_worker_get_backend_kind  (AsWorker   *self);
/* Why the engine does not run on the GPU although it was asked for (by
 * "gpu" or "auto"): the raw reason (no driver, no GPU, out of memory…), or
 * NULL when it does or the CPU was asked for. Set with ::model-loaded and
 * ::backend-switched. A fallback from an explicit "gpu" turns the device
 * choice into "cpu", so the choice always names what runs. */
const char  *as_worker_get_backend_notice (AsWorker  *self);
/* The AsGpuError (as-gpu-loader.h) behind the notice, or -1 without one:
 * for telling the user in plain words what is missing. */
int          as_worker_get_backend_fallback (AsWorker *self);

/* Record every delivery (accepted or dropped) in a trace. Off by default;
 * on when ATTNSCOPE_TRACE is set. */
void         as_worker_set_trace_enabled (AsWorker   *self,
                                          gboolean    enabled);
/* Array of AsWorkerTraceEntry, owned by SELF. */
GArray      *as_worker_get_trace         (AsWorker   *self);
void         as_worker_clear_trace       (AsWorker   *self);

G_END_DECLS
