/* as-worker.c — the engine thread: model loads and streamed analyses.
 *
 * Shape: the GObject lives on the main thread; the thread only sees a
 * refcounted WorkerShared (mutex, condition, pending slots, cancel flag, the
 * main context to post to and a weak reference back to the GObject). That way
 * the thread never keeps the GObject alive, and a post that arrives after the
 * GObject is gone is simply dropped.
 *
 * Pending work is one slot per channel plus one for a load, not a queue: a
 * newer request replaces an older one on its channel that has not started
 * yet, since nobody wants the older result. The thread takes a load first,
 * then MAIN, QKV, CAUSAL, COMPARE, TRACE. Each channel has its own cancel
 * flag and newest generation, so channels never cancel each other; the one
 * exception is that a MAIN request makes a running side job stop between
 * layers and go back into its slot (unless a newer one took it), so typing
 * stays quick.
 */
#include "as-worker.h"

#include <string.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-config.h"
#include "as-error.h"
#include "as-generate.h"
#include "as-gpu-loader.h"
#include "as-lm-head.h"
#include "as-mlm-head.h"
#include "as-model.h"
#include "as-sampler.h"

/* ---- AsQkv ---------------------------------------------------------------- */

G_DEFINE_BOXED_TYPE (AsQkv, as_qkv, as_qkv_ref, as_qkv_unref)

AsQkv *
as_qkv_ref (AsQkv *qkv)
{
  return g_atomic_rc_box_acquire (qkv);
}

static void
as_qkv_clear (AsQkv *x)
{
  g_free (x->model_name);
  g_free (x->text_a);
  g_free (x->text_b);
  g_clear_pointer (&x->encoding, as_encoding_free);
  g_free (x->q);
  g_free (x->k);
  g_free (x->v);
}

void
as_qkv_unref (AsQkv *qkv)
{
  g_atomic_rc_box_release_full (qkv, (GDestroyNotify) as_qkv_clear);
}

/* ---- AsWorkerTrace --------------------------------------------------------- */

G_DEFINE_BOXED_TYPE (AsWorkerTrace, as_worker_trace, as_worker_trace_ref, as_worker_trace_unref)

AsWorkerTrace *
as_worker_trace_ref (AsWorkerTrace *trace)
{
  return g_atomic_rc_box_acquire (trace);
}

static void
as_worker_trace_clear (AsWorkerTrace *w)
{
  g_free (w->model_name);
  g_free (w->text_a);
  g_free (w->text_b);
  g_clear_pointer (&w->encoding, as_encoding_free);
  g_clear_pointer (&w->trace, as_layer_trace_free);
  g_clear_pointer (&w->padding, as_padding_demo_free);
  g_free (w->padding_error);
  g_strfreev (w->padding_tokens);
}

void
as_worker_trace_unref (AsWorkerTrace *trace)
{
  g_atomic_rc_box_release_full (trace, (GDestroyNotify) as_worker_trace_clear);
}

/* ---- AsWorkerLens ---------------------------------------------------------- */

G_DEFINE_BOXED_TYPE (AsWorkerLens, as_worker_lens, as_worker_lens_ref, as_worker_lens_unref)

AsWorkerLens *
as_worker_lens_ref (AsWorkerLens *lens)
{
  return g_atomic_rc_box_acquire (lens);
}

static void
as_worker_lens_clear (AsWorkerLens *w)
{
  if (w->lens != NULL)
    {
      gsize cells = (gsize) w->lens->n_layers * w->lens->n * w->lens->k;
      for (gsize i = 0; i < cells && w->labels != NULL; i++)
        g_free (w->labels[i]);
    }
  g_free (w->labels);
  g_clear_pointer (&w->lens, as_logit_lens_free);
  g_free (w->error);
}

void
as_worker_lens_unref (AsWorkerLens *lens)
{
  g_atomic_rc_box_release_full (lens, (GDestroyNotify) as_worker_lens_clear);
}

/* ---- AsWorkerAblation ------------------------------------------------------ */

G_DEFINE_BOXED_TYPE (AsWorkerAblation, as_worker_ablation, as_worker_ablation_ref,
                     as_worker_ablation_unref)

AsWorkerAblation *
as_worker_ablation_ref (AsWorkerAblation *ablation)
{
  return g_atomic_rc_box_acquire (ablation);
}

static void
as_worker_ablation_clear (AsWorkerAblation *w)
{
  for (int i = 0; w->top_labels != NULL && i < w->effect.n_top; i++)
    g_free (w->top_labels[i]);
  g_free (w->top_labels);
  for (guint i = 0; w->rank_labels != NULL && i < w->rank->len; i++)
    g_free (w->rank_labels[i]);
  g_free (w->rank_labels);
  if (w->rank != NULL)
    g_array_unref (w->rank);
  g_free (w->argmax_label);
  g_free (w->continued_on);
  g_free (w->continued_off);
  g_free (w->ablate);
  g_free (w->text_a);
  g_free (w->text_b);
}

void
as_worker_ablation_unref (AsWorkerAblation *ablation)
{
  g_atomic_rc_box_release_full (ablation, (GDestroyNotify) as_worker_ablation_clear);
}

const char *
as_channel_name (AsChannel channel)
{
  static const char *const names[AS_N_CHANNELS] = {
    "main", "qkv", "causal", "compare", "trace",
  };
  g_return_val_if_fail ((guint) channel < AS_N_CHANNELS, NULL);
  return names[channel];
}

/* ---- shared state ------------------------------------------------------- */

typedef struct {
  AsChannel channel;
  guint     generation;     /* on CHANNEL */
  char     *text_a;
  char     *text_b;
  int       qkv_layer;      /* AS_CHANNEL_QKV and AS_CHANNEL_TRACE: the layer */
  char     *padding_text;   /* AS_CHANNEL_TRACE: the padding demo's second text, or NULL */
  gboolean  causal;
  gint64    request_time;
} AnalysisJob;

/* A generation (as_worker_generate). */
typedef struct {
  guint            generation;
  char            *text;
  AsSamplerOptions sampling;
  int              max_tokens;
} GenerateJob;

static void
generate_job_free (GenerateJob *job)
{
  if (job == NULL)
    return;
  g_free (job->text);
  g_free (job);
}

/* An ablation (as_worker_request_ablation); its result, to be filled. */
typedef struct {
  AsWorkerAblation *result;
} AblationJob;

static void
ablation_job_free (AblationJob *job)
{
  if (job == NULL)
    return;
  g_clear_pointer (&job->result, as_worker_ablation_unref);
  g_free (job);
}

typedef struct {
  gatomicrefcount ref;
  GMutex          mutex;
  GCond           cond;
  GMainContext   *context;       /* where posts go */
  GWeakRef        owner;         /* the AsWorker, main thread only */

  /* Protected by MUTEX. */
  char           *pending_load;
  AnalysisJob    *pending_job[AS_N_CHANNELS];
  GenerateJob    *pending_generate;
  AblationJob    *pending_ablation;
  gboolean        quit;
  AsDevice        device;        /* used by the next load */
  int             running;       /* channel of the job under way, -1 none */
  gboolean        preempted;     /* a MAIN request interrupted it */

  gint            cancel[AS_N_CHANNELS]; /* atomic: a newer request is waiting */
  gint            latest[AS_N_CHANNELS]; /* atomic: newest generation handed out */
  gint            generate_cancel; /* atomic: stop the generation under way */
  gint            ablation_cancel; /* atomic: a newer ablation is waiting */

  /* Worker thread only. */
  AsModel        *model;
  AsBackend      *backend;
  AsDevice        backend_device; /* what BACKEND was opened for */
  char           *switch_notice; /* the GPU gave up during the last pass: why */
} WorkerShared;

static void
analysis_job_free (AnalysisJob *job)
{
  if (job == NULL)
    return;
  g_free (job->text_a);
  g_free (job->text_b);
  g_free (job->padding_text);
  g_free (job);
}

static WorkerShared *
shared_ref (WorkerShared *s)
{
  g_atomic_ref_count_inc (&s->ref);
  return s;
}

static void
shared_unref (WorkerShared *s)
{
  if (!g_atomic_ref_count_dec (&s->ref))
    return;
  g_clear_pointer (&s->backend, as_backend_free);
  g_clear_pointer (&s->model, as_model_free);
  g_free (s->switch_notice);
  g_free (s->pending_load);
  for (int c = 0; c < AS_N_CHANNELS; c++)
    analysis_job_free (s->pending_job[c]);
  generate_job_free (s->pending_generate);
  ablation_job_free (s->pending_ablation);
  g_weak_ref_clear (&s->owner);
  g_main_context_unref (s->context);
  g_mutex_clear (&s->mutex);
  g_cond_clear (&s->cond);
  g_free (s);
}

/* ---- the GObject -------------------------------------------------------- */

struct _AsWorker
{
  GObject       parent_instance;

  WorkerShared *shared;
  GThread      *thread;

  guint         generation[AS_N_CHANNELS]; /* newest handed out per channel */
  guint         loads_pending;
  char         *model_dir;
  char         *model_name;
  char         *backend_name;
  char         *backend_kind;    /* "cpu" or "cuda" */
  char         *backend_notice;  /* why the device asked for is not used */
  int           backend_fallback; /* AsGpuError behind BACKEND_NOTICE, or -1 */
  float        *pos_emb;         /* [pos_n, pos_hidden], the loaded model's */
  int           pos_n;
  int           pos_hidden;
  gboolean      takes_pairs;     /* the loaded model encodes sentence pairs */
  gboolean      generates;       /* the loaded model is a decoder with a head */
  gboolean      fills;           /* the loaded model has a masked-LM head */
  guint         generate_latest; /* newest generation handed out */
  gboolean      generating;      /* one is queued or running */
  guint         ablation_latest; /* newest ablation handed out */
  AsDevice      device;          /* what the user asked for */

  gboolean      trace_enabled;
  GArray       *trace;           /* AsWorkerTraceEntry */
};

G_DEFINE_FINAL_TYPE (AsWorker, as_worker, G_TYPE_OBJECT)

enum {
  MODEL_PROGRESS,
  MODEL_LOADED,
  MODEL_FAILED,
  ANALYSIS_STARTED,
  LAYER_READY,
  ANALYSIS_FINISHED,
  ANALYSIS_FAILED,
  CHANNEL_STARTED,
  CHANNEL_LAYER_READY,
  CHANNEL_FINISHED,
  CHANNEL_FAILED,
  QKV_READY,
  LAYER_TRACE_READY,
  BACKEND_SWITCHED,
  GENERATION_STEP,
  GENERATION_FINISHED,
  GENERATION_ANALYSIS,
  LENS_READY,
  ABLATION_PROGRESS,
  ABLATION_READY,
  ABLATION_FAILED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* ---- posting to the main context ---------------------------------------- */

typedef enum {
  POST_PROGRESS,
  POST_LOADED,
  POST_LOAD_FAILED,
  POST_STARTED,
  POST_LAYER,
  POST_FINISHED,
  POST_ANALYSIS_FAILED,
  POST_QKV,
  POST_TRACE,         /* AS_CHANNEL_TRACE's result */
  POST_SWITCHED,
  POST_GENERATED,     /* one token of a generation */
  POST_GENERATE_DONE,
  POST_LENS,          /* the main analysis' logit lens */
  POST_ABLATION_PROGRESS,
  POST_ABLATION_DONE,
} PostKind;

typedef struct {
  WorkerShared *shared;
  PostKind      kind;
  AsChannel     channel;
  guint         generation;
  int           layer;
  AsAnalysis   *analysis;
  AsQkv        *qkv;
  AsWorkerTrace *trace;    /* POST_TRACE */
  AsWorkerLens *lens;      /* POST_LENS */
  AsWorkerAblation *ablation; /* POST_ABLATION_DONE, NULL on failure */
  int           done;      /* POST_ABLATION_PROGRESS: heads ranked of TOTAL */
  int           total;
  char         *dir;
  char         *text;      /* stage, model name */
  char         *backend;
  char         *notice;
  char         *backend_kind;
  int           fallback;  /* AsGpuError, or -1: POST_LOADED, POST_SWITCHED */
  AsDevice      asked;     /* the device the load was made for */
  float        *pos_emb;   /* [max_positions, hidden] copy, POST_LOADED */
  int           pos_n;
  int           pos_hidden;
  gboolean      takes_pairs;   /* POST_LOADED */
  gboolean      generates;     /* POST_LOADED */
  gboolean      fills;         /* POST_LOADED */
  int           index;         /* POST_GENERATED: the token's place, -1 after the last */
  int           picked;        /* POST_GENERATED: the token chosen, -1 after the last */
  double        fraction;
  GError       *error;
} Post;

static void
post_free (gpointer data)
{
  Post *p = data;
  shared_unref (p->shared);
  g_clear_pointer (&p->analysis, as_analysis_unref);
  g_clear_pointer (&p->qkv, as_qkv_unref);
  g_clear_pointer (&p->trace, as_worker_trace_unref);
  g_clear_pointer (&p->lens, as_worker_lens_unref);
  g_clear_pointer (&p->ablation, as_worker_ablation_unref);
  g_free (p->dir);
  g_free (p->text);
  g_free (p->backend);
  g_free (p->notice);
  g_free (p->backend_kind);
  g_free (p->pos_emb);
  g_clear_error (&p->error);
  g_free (p);
}

static void
record (AsWorker *self,
        guint     generation,
        int       layer,
        gboolean  accepted)
{
  if (!self->trace_enabled)
    return;
  AsWorkerTraceEntry e = {
    .generation = generation,
    .layer = layer,
    .latest = self->generation[AS_CHANNEL_MAIN],
    .accepted = accepted,
    .time = g_get_monotonic_time (),
  };
  g_array_append_val (self->trace, e);
}

static void
deliver_analysis (AsWorker *self,
                  Post     *p)
{
  /* The one place staleness is decided: on the main thread, against the
   * newest generation handed out, so a request made after the worker posted
   * still wins. */
  gboolean fresh = p->generation == self->generation[p->channel];
  int layer = p->kind == POST_LAYER ? p->layer : p->kind == POST_STARTED ? -1 : -2;

  if (p->channel == AS_CHANNEL_MAIN && (p->kind == POST_STARTED || p->kind == POST_LAYER))
    record (self, p->generation, layer, fresh);
  if (!fresh)
    return;

  if (p->channel != AS_CHANNEL_MAIN)
    {
      GQuark detail = g_quark_from_static_string (as_channel_name (p->channel));
      switch (p->kind)
        {
        case POST_STARTED:
          g_signal_emit (self, signals[CHANNEL_STARTED], detail, p->channel, p->analysis);
          break;
        case POST_LAYER:
          p->analysis->layers_ready = MAX (p->analysis->layers_ready, p->layer + 1);
          g_signal_emit (self, signals[CHANNEL_LAYER_READY], detail, p->channel, p->analysis, p->layer);
          break;
        case POST_FINISHED:
          g_signal_emit (self, signals[CHANNEL_FINISHED], detail, p->channel, p->analysis);
          break;
        case POST_QKV:
          g_signal_emit (self, signals[QKV_READY], 0, p->qkv);
          break;
        case POST_TRACE:
          g_signal_emit (self, signals[LAYER_TRACE_READY], 0, p->trace);
          break;
        case POST_ANALYSIS_FAILED:
          g_signal_emit (self, signals[CHANNEL_FAILED], detail, p->channel, p->generation, p->error);
          break;
        default:
          g_assert_not_reached ();
        }
      return;
    }

  switch (p->kind)
    {
    case POST_STARTED:
      g_signal_emit (self, signals[ANALYSIS_STARTED], 0, p->analysis);
      break;
    case POST_LAYER:
      p->analysis->layers_ready = MAX (p->analysis->layers_ready, p->layer + 1);
      g_signal_emit (self, signals[LAYER_READY], 0, p->analysis, p->layer);
      break;
    case POST_FINISHED:
      g_signal_emit (self, signals[ANALYSIS_FINISHED], 0, p->analysis);
      break;
    case POST_ANALYSIS_FAILED:
      g_signal_emit (self, signals[ANALYSIS_FAILED], 0, p->generation, p->error);
      break;
    default:
      g_assert_not_reached ();
    }
}

/* The backend now in use, from a load or a switch to the CPU mid-pass. */
static void
set_backend (AsWorker *self,
             Post     *p)
{
  g_free (self->backend_name);
  self->backend_name = g_strdup (p->backend);
  g_free (self->backend_notice);
  self->backend_notice = g_strdup (p->notice);
  g_free (self->backend_kind);
  self->backend_kind = g_strdup (p->backend_kind);
  self->backend_fallback = p->fallback;
  /* Asked for the GPU by name and got the CPU: the choice becomes the CPU,
   * so a device menu shows what runs and the next model does not fail the
   * same way again. Not when the user has asked for something else since. */
  if (p->fallback >= 0 && p->asked == AS_DEVICE_GPU && self->device == AS_DEVICE_GPU)
    {
      self->device = AS_DEVICE_CPU;
      g_mutex_lock (&self->shared->mutex);
      self->shared->device = AS_DEVICE_CPU;
      g_mutex_unlock (&self->shared->mutex);
    }
}

static gboolean
deliver (gpointer data)
{
  Post *p = data;
  g_autoptr(AsWorker) self = g_weak_ref_get (&p->shared->owner);
  if (self == NULL)
    return G_SOURCE_REMOVE;

  switch (p->kind)
    {
    case POST_PROGRESS:
      g_signal_emit (self, signals[MODEL_PROGRESS], 0, p->dir, p->text, p->fraction);
      break;
    case POST_LOADED:
      self->loads_pending--;
      g_free (self->model_dir);
      g_free (self->model_name);
      self->model_dir = g_strdup (p->dir);
      self->model_name = g_strdup (p->text);
      set_backend (self, p);
      g_free (self->pos_emb);
      self->pos_emb = g_steal_pointer (&p->pos_emb);
      self->pos_n = p->pos_n;
      self->pos_hidden = p->pos_hidden;
      self->takes_pairs = p->takes_pairs;
      self->generates = p->generates;
      self->fills = p->fills;
      g_signal_emit (self, signals[MODEL_LOADED], 0, p->dir, p->text);
      break;
    case POST_SWITCHED:
      if (self->backend_kind != NULL)
        {
          set_backend (self, p);
          g_signal_emit (self, signals[BACKEND_SWITCHED], 0);
        }
      break;
    case POST_LOAD_FAILED:
      self->loads_pending--;
      g_signal_emit (self, signals[MODEL_FAILED], 0, p->dir, p->error);
      break;
    case POST_GENERATED:
      if (p->generation != self->generate_latest)
        break;
      /* Shown as the main analysis of the text now: complete, and current
       * until the next request. */
      p->analysis->generation = self->generation[AS_CHANNEL_MAIN];
      g_signal_emit (self, signals[GENERATION_ANALYSIS], 0, p->analysis, p->picked);
      if (p->index >= 0)
        g_signal_emit (self, signals[GENERATION_STEP], 0, p->generation, p->text, p->index);
      break;
    case POST_LENS:
      if (p->generation == self->generation[AS_CHANNEL_MAIN])
        g_signal_emit (self, signals[LENS_READY], 0, p->analysis, p->lens);
      break;
    case POST_ABLATION_PROGRESS:
      if (p->generation == self->ablation_latest)
        g_signal_emit (self, signals[ABLATION_PROGRESS], 0, p->generation, p->done, p->total);
      break;
    case POST_ABLATION_DONE:
      if (p->generation != self->ablation_latest)
        break;
      if (p->ablation != NULL)
        g_signal_emit (self, signals[ABLATION_READY], 0, p->ablation);
      else
        g_signal_emit (self, signals[ABLATION_FAILED], 0, p->generation, p->error);
      break;
    case POST_GENERATE_DONE:
      if (p->generation == self->generate_latest)
        {
          self->generating = FALSE;
          g_signal_emit (self, signals[GENERATION_FINISHED], 0, p->generation, p->error);
        }
      break;
    default:
      deliver_analysis (self, p);
      break;
    }
  return G_SOURCE_REMOVE;
}

static Post *
post_new (WorkerShared *s,
          PostKind      kind)
{
  Post *p = g_new0 (Post, 1);
  p->shared = shared_ref (s);
  p->kind = kind;
  return p;
}

static void
post (Post *p)
{
  /* Always a source, never g_main_context_invoke: that would run DELIVER
   * right here, on the worker thread, whenever the main context happens to
   * be unowned between two iterations. Same priority for all, so posts are
   * dispatched in the order they were made. */
  GSource *source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, deliver, p, post_free);
  g_source_set_static_name (source, "[attnscope] worker post");
  g_source_attach (source, p->shared->context);
  g_source_unref (source);
}

static void
post_progress (WorkerShared *s,
               const char   *dir,
               const char   *stage,
               double        fraction)
{
  Post *p = post_new (s, POST_PROGRESS);
  p->dir = g_strdup (dir);
  p->text = g_strdup (stage);
  p->fraction = fraction;
  post (p);
}

/* ---- the worker thread -------------------------------------------------- */

/* A GPU backend that gives up during a pass calls this on the worker thread;
 * the pass itself goes on on the CPU. Kept for the worker to act on once
 * the pass is over (see after_pass). */
static void
on_gpu_notice (const char *notice,
               gpointer    user_data)
{
  WorkerShared *s = user_data;
  g_free (s->switch_notice);
  s->switch_notice = g_strdup (notice);
}

/* The AsGpuError behind a switch notice: the backend's notices start with
 * the plain reason it maps each CUDA status to. */
static int
switch_reason (const char *notice)
{
  return strstr (notice, "not enough GPU memory") != NULL ? AS_GPU_ERROR_OUT_OF_MEMORY
                                                          : AS_GPU_ERROR_FAILED;
}

/* The backend for DEVICE. Not as_backend_open: the window words the reason
 * for the user, so it needs the AsGpuError code, not only the text. */
static AsBackend *
open_backend (WorkerShared  *s,
              AsModel       *model,
              AsDevice       device,
              char         **notice,
              int           *fallback)
{
  if (device == AS_DEVICE_CPU)
    return as_cpu_backend_new (model);

  AsGpuOptions options;
  as_gpu_options_init (&options);
  options.on_notice = on_gpu_notice;
  options.notice_data = s;
  g_autoptr(GError) why = NULL;
  AsBackend *gpu = as_gpu_backend_new (model, &options, &why);
  if (gpu != NULL)
    return gpu;
  *notice = g_strdup_printf ("GPU unavailable, using the CPU: %s", why->message);
  *fallback = why->domain == AS_GPU_ERROR ? why->code : AS_GPU_ERROR_FAILED;
  return as_cpu_backend_new (model);
}

/* After a pass on the GPU backend that made it switch to the CPU: a plain
 * CPU backend replaces it (the GPU one keeps nothing worth having), and the
 * main thread hears why. */
static void
after_pass (WorkerShared *s)
{
  if (s->switch_notice == NULL)
    return;
  g_clear_pointer (&s->backend, as_backend_free);
  s->backend = as_cpu_backend_new (s->model);

  Post *p = post_new (s, POST_SWITCHED);
  p->notice = g_steal_pointer (&s->switch_notice);
  p->fallback = switch_reason (p->notice);
  p->asked = s->backend_device;
  p->backend = as_backend_describe (s->backend);
  p->backend_kind = g_strdup (as_backend_get_name (s->backend));
  g_message ("%s", p->notice);
  post (p);
}

/* The ids and type ids of ENC's first N tokens. */
static void
token_ids (const AsEncoding *enc,
           int               n,
           int              *ids,
           int              *types)
{
  for (int i = 0; i < n; i++)
    {
      ids[i] = enc->tokens[i].id;
      types[i] = enc->tokens[i].type_id;
    }
}

/* One pass of the engine on REQ: with X, Q, K and V of X's layer, else the
 * whole forward pass. A GPU that failed mid-pass has switched itself to the
 * CPU: it runs again there (layers already posted are simply posted again,
 * with the same shape). */
static gboolean
engine_pass (AsBackend              *backend,
             const AsForwardRequest *req,
             AsQkv                  *x,
             float                  *final_hidden,
             GError                **error)
{
  GError *local = NULL;
  for (int attempt = 0; attempt < 2; attempt++)
    {
      g_clear_error (&local);
      gboolean ok = x != NULL
        ? as_backend_layer_qkv (backend, req, x->layer, x->q, x->k, x->v, &local)
        : as_backend_forward (backend, req, final_hidden, &local);
      if (ok)
        return TRUE;
      if (!g_error_matches (local, AS_GPU_ERROR, AS_GPU_ERROR_FAILED))
        break;
    }
  g_propagate_error (error, local);
  return FALSE;
}

static void
run_load (WorkerShared *s,
          const char   *dir)
{
  g_autoptr(GError) error = NULL;

  /* as_model_load is one call; the config is read first on its own so a
   * folder that is not a model at all fails fast with a clear message, and
   * the user sees the stages go by. */
  post_progress (s, dir, "Reading config.json", 0.1);
  g_autofree char *config_path = g_build_filename (dir, "config.json", NULL);
  /* A .gguf file holds its config: as_model_load reads it. */
  AsConfig *config = g_str_has_suffix (dir, ".gguf") ? NULL : as_config_load (config_path, &error);
  if (config != NULL)
    {
      as_config_free (config);
      post_progress (s, dir, "Reading weights and tokenizer", 0.3);
    }

  AsModel *model = error == NULL ? as_model_load (dir, &error) : NULL;
  if (model != NULL && model->tokenizer == NULL)
    {
      /* The app needs text: a GGUF file whose tokenizer cannot be built
       * says why. */
      if (model->tokenizer_error != NULL)
        as_model_check_tokenizer (model, &error);
      else
        g_set_error (&error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                     "%s: no tokenizer.json or vocab.txt", dir);
      g_clear_pointer (&model, as_model_free);
    }

  AsBackend *backend = NULL;
  g_autofree char *notice = NULL;
  int fallback = -1;
  g_mutex_lock (&s->mutex);
  AsDevice device = s->device;
  g_mutex_unlock (&s->mutex);
  if (model != NULL)
    {
      post_progress (s, dir, "Warming up", 0.8);
      /* The device asked for (as_worker_set_device) when it works, else the
       * CPU; the notice says why and travels with the "loaded" post. */
      g_clear_pointer (&s->switch_notice, g_free);
      backend = open_backend (s, model, device, &notice, &fallback);
      if (notice != NULL && device != AS_DEVICE_AUTO)
        g_message ("%s", notice);
      /* One tiny pass allocates the workspace and faults the weights in, so
       * the first keystroke does not pay for it. */
      AsEncoding *enc = as_tokenizer_encode (model->tokenizer, "", NULL,
                                             model->config->max_positions);
      int ids[8], types[8];
      int n = MIN (enc->n_tokens, 8);
      token_ids (enc, n, ids, types);
      as_encoding_free (enc);
      if (n == 0)
        {
          /* A decoder adds nothing around an empty text: warm up on id 0. */
          ids[0] = types[0] = 0;
          n = 1;
        }
      AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
      gboolean ok = engine_pass (backend, &req, NULL, NULL, &error);
      /* The GPU gave up in the warm-up (out of memory, say): a plain CPU
       * backend from here on, and the reason is the load's. */
      if (s->switch_notice != NULL)
        {
          g_clear_pointer (&backend, as_backend_free);
          backend = as_cpu_backend_new (model);
          g_free (notice);
          notice = g_steal_pointer (&s->switch_notice);
          fallback = switch_reason (notice);
        }
      if (!ok)
        {
          g_prefix_error (&error, "%s: ", dir);
          g_clear_pointer (&backend, as_backend_free);
          g_clear_pointer (&model, as_model_free);
        }
    }

  if (model == NULL)
    {
      Post *p = post_new (s, POST_LOAD_FAILED);
      p->dir = g_strdup (dir);
      p->error = g_steal_pointer (&error);
      post (p);
      return;
    }

  /* Only now, with the new model working, let the old one go. */
  g_clear_pointer (&s->backend, as_backend_free);
  g_clear_pointer (&s->model, as_model_free);
  s->model = model;
  s->backend = backend;
  s->backend_device = device;

  Post *p = post_new (s, POST_LOADED);
  p->dir = g_strdup (dir);
  p->text = g_strdup (model->name);
  p->backend = as_backend_describe (backend);
  p->notice = g_steal_pointer (&notice);
  p->fallback = fallback;
  p->asked = device;
  p->backend_kind = g_strdup (as_backend_get_name (backend));
  p->takes_pairs = as_tokenizer_takes_pairs (model->tokenizer);
  p->generates = model->arch->causal && as_lm_head_available (model);
  p->fills = as_mlm_head_get (model) != NULL;
  /* A copy for the main thread (the position-embedding view): the model
   * itself belongs to this thread and goes away with the next load. */
  /* Architectures without learned positions (rotary) have no table. */
  const float *table = as_model_get_position_table (model, &p->pos_n, &p->pos_hidden);
  if (table != NULL)
    p->pos_emb = g_memdup2 (table, sizeof (float) * p->pos_n * p->pos_hidden);
  post (p);
}

typedef struct {
  WorkerShared *shared;
  AsAnalysis   *analysis;
  gint64        start;
} LayerState;

static gboolean
is_cancelled (WorkerShared *s,
              AsChannel     channel,
              guint         generation)
{
  return g_atomic_int_get (&s->cancel[channel]) != 0 ||
         (guint) g_atomic_int_get (&s->latest[channel]) != generation;
}

/* A post about generation GENERATION of CHANNEL, carrying A or X (either
 * may be NULL). */
static void
post_result (WorkerShared *s,
             PostKind      kind,
             AsChannel     channel,
             guint         generation,
             int           layer,
             AsAnalysis   *a,
             AsQkv        *x)
{
  Post *p = post_new (s, kind);
  p->channel = channel;
  p->generation = generation;
  p->layer = layer;
  p->analysis = a != NULL ? as_analysis_ref (a) : NULL;
  p->qkv = x != NULL ? as_qkv_ref (x) : NULL;
  post (p);
}

static gboolean
on_layer (int          layer,
          const float *attn,
          const float *hidden,
          gpointer     user_data)
{
  LayerState *st = user_data;
  AsAnalysis *a = st->analysis;
  gsize per_layer = (gsize) a->n_heads * a->n * a->n;

  float *dst = a->attn + layer * per_layer;
  if (attn != dst)
    memcpy (dst, attn, per_layer * sizeof (float));
  if (layer == a->n_layers - 1)
    a->compute_time = g_get_monotonic_time () - st->start;

  /* Do not post what is already stale; the main thread would drop it. */
  if (is_cancelled (st->shared, a->channel, a->generation))
    return FALSE;

  post_result (st->shared, POST_LAYER, a->channel, a->generation, layer, a, NULL);
  return TRUE;
}

static void
post_analysis_error (WorkerShared *s,
                     AsChannel     channel,
                     guint         generation,
                     GError       *error)
{
  Post *p = post_new (s, POST_ANALYSIS_FAILED);
  p->channel = channel;
  p->generation = generation;
  p->error = error;
  post (p);
}

/* The attention of every layer for ENC (taken), still to be computed; NULL
 * when the engine's budget (as-attention.h) or memory refuses it: a long
 * input on a long-context model is refused with the figures before the
 * [layers, heads, n, n] block is allocated. */
static AsAnalysis *
analysis_for_job (const AsModel *model,
                  AnalysisJob   *job,
                  AsEncoding    *enc,
                  GError       **error)
{
  const AsConfig *c = model->config;
  g_autoptr(AsAnalysis) a = as_analysis_new ();
  a->channel = job->channel;
  /* Masked by the model itself (a decoder), or by the teaching demo. */
  a->causal = job->causal || model->arch->causal;
  a->generation = job->generation;
  a->model_name = g_strdup (model->name);
  a->model_dir = g_strdup (model->dir);
  a->text_a = g_strdup (job->text_a);
  a->text_b = g_strdup (job->text_b);
  a->encoding = enc;
  a->n_layers = c->n_layers;
  a->n_heads = c->n_heads;
  a->n_kv_heads = c->n_kv_heads;
  a->n = enc->n_tokens;
  a->hidden = c->hidden;
  a->request_time = job->request_time;
  if (!as_attention_check_budget (c, a->n, error))
    return NULL;
  a->attn = g_try_new (float, (gsize) a->n_layers * a->n_heads * a->n * a->n);
  if (a->attn == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "not enough memory for the attention of %d tokens", a->n);
      return NULL;
    }
  return g_steal_pointer (&a);
}

/* Q, K and V of the job's layer for ENC (taken), still to be computed;
 * NULL when memory refuses them. */
static AsQkv *
qkv_for_job (const AsModel *model,
             AnalysisJob   *job,
             AsEncoding    *enc,
             GError       **error)
{
  const AsConfig *c = model->config;
  g_autoptr(AsQkv) x = g_atomic_rc_box_new0 (AsQkv);
  x->generation = job->generation;
  x->model_name = g_strdup (model->name);
  x->text_a = g_strdup (job->text_a);
  x->text_b = g_strdup (job->text_b);
  x->causal = job->causal;
  x->encoding = enc;
  x->layer = job->qkv_layer;
  x->n = enc->n_tokens;
  x->hidden = c->hidden;
  x->n_heads = c->n_heads;
  x->head_dim = c->hidden / c->n_heads;
  x->n_kv_heads = c->n_kv_heads > 0 ? c->n_kv_heads : c->n_heads;
  x->model_causal = model->arch->causal;
  x->rope_theta = c->rope_theta;
  gsize size = (gsize) x->n * x->hidden;
  x->q = g_try_new (float, size);   /* [n, hidden] */
  x->k = g_try_new (float, size);   /* [n, hidden] */
  x->v = g_try_new (float, size);   /* [n, hidden] */
  if (x->q == NULL || x->k == NULL || x->v == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "not enough memory for Q, K, V of %d tokens", x->n);
      return NULL;
    }
  return g_steal_pointer (&x);
}

/* The logit lens of the main analysis A of IDS [n], once A is on screen: a
 * second pass, with hidden states, that the next request stops between
 * layers like the first. Posted unless stopped. */
typedef struct {
  const AsModel *model;
  AsLogitLens   *lens;
} LensRows;

/* LAYER's lens, every position at once. The head starts no thread
 * (as-lm-head.c), so the app, or a test driving it, may fork while this
 * runs. */
static gboolean
lens_of_layer (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  LensRows *st = user_data;
  AsLogitLens *lens = st->lens;
  gsize at = (gsize) layer * lens->n * lens->k;
  if (hidden != NULL)
    as_logit_lens_layer (st->model, hidden, lens->n, lens->k, lens->ids + at, lens->probs + at);
  return TRUE;
}

static AsLogitLens *
lens_pass (WorkerShared  *s,
           const int     *ids,
           int            n,
           GError       **error)
{
  const AsConfig *c = s->model->config;
  AsLogitLens *lens = g_new0 (AsLogitLens, 1);
  lens->n_layers = c->n_layers;
  lens->n = n;
  lens->k = MIN (AS_WORKER_LENS_TOP, c->vocab_size);
  gsize cells = (gsize) lens->n_layers * n * lens->k;
  lens->ids = g_new0 (int, cells);       /* [n_layers, n, k] */
  lens->probs = g_new0 (float, cells);   /* [n_layers, n, k] */
  g_autofree int *types = g_new0 (int, n);
  LensRows st = { s->model, lens };
  AsForwardRequest req = {
    .ids = ids, .type_ids = types, .n = n, .want_hidden = TRUE,
    .on_layer = lens_of_layer, .user_data = &st, .cancel = &s->cancel[AS_CHANNEL_MAIN],
  };
  if (!as_logit_lens_check (s->model, error) || !engine_pass (s->backend, &req, NULL, NULL, error))
    g_clear_pointer (&lens, as_logit_lens_free);
  return lens;
}

/* Posted for GENERATION of the main channel: what the window shows as
 * long as no newer request came. */
static void
run_lens (WorkerShared *s,
          AsAnalysis   *a,
          guint         generation,
          const int    *ids,
          int           n)
{
  GError *error = NULL;
  AsLogitLens *lens = lens_pass (s, ids, n, &error);
  after_pass (s);
  if (lens == NULL && g_error_matches (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED))
    {
      g_error_free (error);
      return;
    }
  AsWorkerLens *w = g_atomic_rc_box_new0 (AsWorkerLens);
  w->generation = generation;
  w->lens = lens;
  if (lens != NULL)
    {
      gsize cells = (gsize) lens->n_layers * lens->n * lens->k;
      w->labels = g_new0 (char *, cells);   /* [n_layers, n, k] */
      for (gsize i = 0; i < cells; i++)
        w->labels[i] = as_tokenizer_id_to_label (s->model->tokenizer, lens->ids[i]);
    }
  else
    w->error = g_strdup (error->message);
  g_clear_error (&error);
  Post *p = post_new (s, POST_LENS);
  p->channel = AS_CHANNEL_MAIN;
  p->generation = generation;
  p->analysis = as_analysis_ref (a);
  p->lens = w;
  post (p);
}

/* A's most likely next tokens and their labels, from its NEXT_LOGITS. */
static void
name_next_tokens (const AsModel *model,
                  AsAnalysis    *a)
{
  float probs[AS_ANALYSIS_NEXT_TOP];
  a->n_next = MIN (AS_ANALYSIS_NEXT_TOP, a->vocab);
  as_sampler_top_k (a->next_logits, a->vocab, a->n_next, a->next_ids, probs);
  for (int i = 0; i < a->n_next; i++)
    a->next_labels[i] = as_tokenizer_id_to_label (model->tokenizer, a->next_ids[i]);
}

/* W's padding demonstration (as-layer-trace.h) of A, W's tokens, batched
 * with TEXT tokenised alone as one sentence; or, when the model refuses
 * it, why. A cancellation (A's flag) goes to CANCELLED instead. */
static void
add_padding_demo (const AsModel          *model,
                  AsWorkerTrace          *w,
                  const AsForwardRequest *a,
                  const char             *text,
                  GError                **cancelled)
{
  g_autoptr(GError) error = NULL;
  AsEncoding *enc = as_tokenizer_encode (model->tokenizer, text, NULL,
                                         model->config->max_positions);
  const int n = enc->n_tokens;
  g_autofree int *ids = g_new (int, MAX (n, 1));     /* [n] */
  g_autofree int *types = g_new (int, MAX (n, 1));   /* [n] */
  token_ids (enc, n, ids, types);
  AsForwardRequest b = { .ids = ids, .type_ids = types, .n = n };
  if (n == 0)
    g_set_error_literal (&error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                         "the padding text has no tokens");
  else
    w->padding = as_padding_demo_compute (model, a, &b, w->layer, &error);
  if (w->padding != NULL)
    {
      w->padding_tokens = g_new0 (char *, n + 1);
      for (int i = 0; i < n; i++)
        w->padding_tokens[i] = g_strdup (enc->tokens[i].text);
    }
  else if (g_error_matches (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED))
    g_propagate_error (cancelled, g_steal_pointer (&error));
  else
    w->padding_error = g_strdup (error->message);
  as_encoding_free (enc);
}

/* An AS_CHANNEL_TRACE job on ENC (taken), the job's text tokenised: its
 * layer with every stage kept and, when asked, the padding demonstration;
 * posted, or the reason it cannot be. The reference pass behind it stops
 * between layers for a newer request, as any pass does: FALSE then. */
static gboolean
run_trace_job (WorkerShared *s,
               AnalysisJob  *job,
               AsEncoding   *enc)
{
  const int n = enc->n_tokens;
  g_autoptr(AsWorkerTrace) w = g_atomic_rc_box_new0 (AsWorkerTrace);
  w->generation = job->generation;
  w->model_name = g_strdup (s->model->name);
  w->text_a = g_strdup (job->text_a);
  w->text_b = g_strdup (job->text_b);
  w->layer = job->qkv_layer;
  w->encoding = enc;
  g_autofree int *ids = g_new (int, n);     /* [n] */
  g_autofree int *types = g_new (int, n);   /* [n] */
  token_ids (enc, n, ids, types);
  AsForwardRequest req = {
    .ids = ids, .type_ids = types, .n = n, .cancel = &s->cancel[job->channel],
  };
  GError *error = NULL;
  w->trace = as_layer_trace_compute (s->model, &req, w->layer, &error);
  if (w->trace != NULL && job->padding_text != NULL)
    add_padding_demo (s->model, w, &req, job->padding_text, &error);
  if (g_error_matches (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED))
    {
      g_error_free (error);
      return FALSE;
    }
  if (w->trace == NULL)
    {
      post_analysis_error (s, job->channel, job->generation, error);
      return TRUE;
    }
  Post *p = post_new (s, POST_TRACE);
  p->channel = job->channel;
  p->generation = job->generation;
  p->trace = g_steal_pointer (&w);
  post (p);
  return TRUE;
}

/* Runs a job of any channel: the whole forward pass, posted layer by layer,
 * or, with X (AS_CHANNEL_QKV), Q, K and V of one layer posted when done
 * (AS_CHANNEL_TRACE: run_trace_job).
 * FALSE when the job was cancelled before it could report anything final. */
static gboolean
run_job (WorkerShared *s,
         AnalysisJob  *job)
{
  if (s->model == NULL)
    {
      post_analysis_error (s, job->channel, job->generation,
                           g_error_new_literal (AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT, "no model loaded"));
      return TRUE;
    }

  GError *error = NULL;
  if (!as_tokenizer_check_pair (s->model->tokenizer, job->text_b, &error))
    {
      post_analysis_error (s, job->channel, job->generation, error);
      return TRUE;
    }
  AsEncoding *enc = as_tokenizer_encode (s->model->tokenizer, job->text_a, job->text_b,
                                         s->model->config->max_positions);
  int n = enc->n_tokens;
  if (n == 0)
    {
      /* Only a decoder's empty text has no token (no [CLS]/[SEP] around it). */
      as_encoding_free (enc);
      post_analysis_error (s, job->channel, job->generation,
                           g_error_new_literal (AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                                                "the text has no tokens"));
      return TRUE;
    }
  if (job->channel == AS_CHANNEL_TRACE)
    return run_trace_job (s, job, enc);
  g_autoptr(AsAnalysis) a = NULL;
  g_autoptr(AsQkv) x = NULL;
  if (job->channel == AS_CHANNEL_QKV)
    x = qkv_for_job (s->model, job, enc, &error);
  else
    a = analysis_for_job (s->model, job, enc, &error);
  if (error != NULL)
    {
      post_analysis_error (s, job->channel, job->generation, error);
      return TRUE;
    }
  if (a != NULL)
    post_result (s, POST_STARTED, job->channel, job->generation, -1, a, NULL);

  g_autofree int *ids = g_new (int, n);
  g_autofree int *types = g_new (int, n);
  token_ids (enc, n, ids, types);
  LayerState st = { s, a, g_get_monotonic_time () };
  AsForwardRequest req = {
    .ids = ids, .type_ids = types, .n = n,
    .causal_mask = job->causal,
    .on_layer = a != NULL ? on_layer : NULL, .user_data = &st,
    .attn_out = a != NULL ? a->attn : NULL,
    .cancel = &s->cancel[job->channel],
  };
  /* A decoder's next-token distribution after the text, for the main
   * analysis: the last token's final hidden state through the head; an
   * encoder's predictions at the text's [MASK]s: their final hidden
   * states through its masked-LM head. */
  g_autofree float *final_hidden = NULL;   /* [n, hidden] */
  const gboolean fills = a != NULL && job->channel == AS_CHANNEL_MAIN &&
                         as_mlm_head_get (s->model) != NULL &&
                         as_mlm_mask_positions (s->model, ids, n, NULL) > 0;
  if (a != NULL && job->channel == AS_CHANNEL_MAIN &&
      ((s->model->arch->causal && as_lm_head_available (s->model)) || fills))
    final_hidden = g_try_new (float, (gsize) n * s->model->config->hidden);
  gboolean ok = engine_pass (s->backend, &req, x, final_hidden, &error);
  after_pass (s);
  if (ok && fills && final_hidden != NULL)
    {
      a->mlm = as_mlm_fill (s->model, ids, n, final_hidden,
                            MIN (AS_WORKER_MLM_TOP, s->model->config->vocab_size), &error);
      ok = error == NULL;
    }
  else if (ok && final_hidden != NULL && (a->next_logits = g_try_new (float, s->model->config->vocab_size)))
    {
      a->vocab = s->model->config->vocab_size;
      as_lm_head_logits (s->model, final_hidden + (gsize) (n - 1) * s->model->config->hidden, 1,
                         a->next_logits);
      name_next_tokens (s->model, a);
    }

  if (!ok && g_error_matches (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED))
    {
      g_error_free (error);
      return FALSE;
    }
  if (!ok)
    post_analysis_error (s, job->channel, job->generation, error);
  /* Done is done: posted unless a newer request on the channel made it
   * stale (the main thread would drop it anyway). */
  else if ((guint) g_atomic_int_get (&s->latest[job->channel]) == job->generation)
    {
      post_result (s, a != NULL ? POST_FINISHED : POST_QKV, job->channel, job->generation, -1, a, x);
      if (final_hidden != NULL && !fills)
        run_lens (s, a, a->generation, ids, n);
    }
  return TRUE;
}

/* ---- generation --------------------------------------------------------- */

/* A generation grows the analysis on screen a token at a time. The prompt's
 * attention comes from its pass; then, as each chosen token is run, a new
 * analysis one token longer copies the block of the one before and adds
 * the token's row in every layer: under the causal mask the earlier rows
 * never change and the new key is masked for them. Each is posted complete,
 * with the logits the step chose from, and never written again, so the
 * main thread reads it while the worker builds the next. The last token is
 * run too (as_generate's ON_LAST), so the last analysis is the one of the
 * whole text, without a second pass. */
typedef struct {
  WorkerShared  *s;
  guint          generation;
  const AsModel *model;
  AsAnalysis    *shown;      /* the newest complete one: the prompt's, then each posted */
  AsAnalysis    *growing;    /* SHOWN and one token more, its rows coming; or NULL */
  int            last_id;    /* the token chosen last, the one GROWING adds */
  int            last_start; /* where its piece starts in TEXT */
  GString       *text;       /* the prompt and the pieces so far */
  gint64         last_post;  /* when the last step was posted (start: the request) */
  gboolean       no_memory;
  gboolean       ran_last;   /* SHOWN is the analysis of the whole text */
} GenerateState;

static gboolean
generate_on_prompt_layer (int          layer,
                          const float *attn,
                          const float *hidden,
                          gpointer     user_data)
{
  GenerateState *st = user_data;
  AsAnalysis *a = st->shown;
  gsize per_layer = (gsize) a->n_heads * a->n * a->n;   /* [n_heads, n, n] */
  memcpy (a->attn + layer * per_layer, attn, per_layer * sizeof (float));
  return TRUE;
}

/* ENC and one token more: ID, whose piece is TEXT[START, END). */
static AsEncoding *
encoding_append (const AsEncoding *enc,
                 AsTokenizer      *tok,
                 int               id,
                 const char       *text,
                 int               start,
                 int               end)
{
  AsEncoding *e = g_new0 (AsEncoding, 1);
  e->n_tokens = enc->n_tokens + 1;
  e->tokens = g_new0 (AsToken, e->n_tokens);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      e->tokens[i] = enc->tokens[i];
      e->tokens[i].text = g_strdup (enc->tokens[i].text);
    }
  AsToken *t = &e->tokens[enc->n_tokens];
  t->id = id;
  t->text = as_tokenizer_id_to_label (tok, id);
  if (t->text == NULL)
    t->text = g_strdup ("?");
  t->start = start;
  t->end = end;
  /* A piece that starts with a letter or digit right after one continues
   * the word before it, as the pre-tokenizer would have split it. */
  t->is_continuation = start > 0 && end > start &&
                       g_ascii_isalnum (text[start]) && g_ascii_isalnum (text[start - 1]);
  return e;
}

/* SHOWN and the last chosen token, the new row still to come; NULL when
 * memory refuses it. */
static AsAnalysis *
grow_analysis (GenerateState *st)
{
  const AsAnalysis *a = st->shown;
  const int n = a->n, m = n + 1;
  g_autoptr(AsAnalysis) g = as_analysis_new ();
  g->channel = AS_CHANNEL_MAIN;
  g->causal = TRUE;
  g->model_name = g_strdup (a->model_name);
  g->model_dir = g_strdup (a->model_dir);
  g->text_a = g_strdup (st->text->str);
  g->encoding = encoding_append (a->encoding, st->model->tokenizer, st->last_id,
                                 st->text->str, st->last_start, st->text->len);
  g->n_layers = a->n_layers;
  g->n_heads = a->n_heads;
  g->n_kv_heads = a->n_kv_heads;
  g->n = m;
  g->hidden = a->hidden;
  g->request_time = a->request_time;
  if (!as_analysis_alloc_attention (g))
    return NULL;
  for (int lh = 0; lh < a->n_layers * a->n_heads; lh++)
    {
      const float *src = a->attn + (gsize) lh * n * n;   /* [n, n] */
      float *dst = g->attn + (gsize) lh * m * m;         /* [m, m] */
      for (int r = 0; r < n; r++)
        {
          memcpy (dst + r * m, src + r * n, sizeof (float) * n);
          dst[r * m + n] = 0;   /* the new key, masked for earlier queries */
        }
    }
  return g_steal_pointer (&g);
}

/* ROW [n_heads, n_ctx]: the attention row of the token just run. Step 0's
 * is the prompt's last row, which SHOWN has already. */
static gboolean
generate_on_row (int          layer,
                 const float *row,
                 int          n_ctx,
                 gpointer     user_data)
{
  GenerateState *st = user_data;
  if (n_ctx == st->shown->n)
    return TRUE;
  if (layer == 0)
    {
      g_clear_pointer (&st->growing, as_analysis_unref);
      st->growing = grow_analysis (st);
      if (st->growing == NULL)
        {
          st->no_memory = TRUE;
          return FALSE;
        }
    }
  AsAnalysis *g = st->growing;
  for (int h = 0; h < g->n_heads; h++)
    memcpy (g->attn + (((gsize) layer * g->n_heads + h) * n_ctx + n_ctx - 1) * n_ctx,
            row + (gsize) h * n_ctx, sizeof (float) * n_ctx);
  return TRUE;
}

/* GROWING, now complete, becomes SHOWN with LOGITS [vocab] after it, and
 * is posted with PICKED (-1: none) and the step's PIECE and INDEX. */
static void
post_grown (GenerateState *st,
            const float   *logits,
            int            picked,
            const char    *piece,
            int            index)
{
  if (st->growing != NULL)
    {
      as_analysis_unref (st->shown);
      st->shown = g_steal_pointer (&st->growing);
    }
  AsAnalysis *a = st->shown;
  a->vocab = st->model->config->vocab_size;
  a->next_logits = g_memdup2 (logits, sizeof (float) * a->vocab);
  name_next_tokens (st->model, a);
  a->layers_ready = a->n_layers;
  /* The step's own time: the prompt's pass, then one token's. */
  gint64 now = g_get_monotonic_time ();
  a->compute_time = now - (st->last_post != 0 ? st->last_post : a->request_time);
  st->last_post = now;

  Post *p = post_new (st->s, POST_GENERATED);
  p->generation = st->generation;
  p->analysis = as_analysis_ref (a);
  p->picked = picked;
  p->text = g_strdup (piece);
  p->index = index;
  post (p);
}

static gboolean
on_generated (const AsGenerateStep *step,
              gpointer              user_data)
{
  GenerateState *st = user_data;
  const char *piece = step->text != NULL ? step->text : "";
  post_grown (st, step->logits, step->id, piece, step->index);
  st->last_id = step->id;
  st->last_start = st->text->len;
  g_string_append (st->text, piece);
  return TRUE;
}

static gboolean
generate_on_last (const float *logits,
                  int          n_ctx,
                  gpointer     user_data)
{
  GenerateState *st = user_data;
  post_grown (st, logits, -1, NULL, -1);
  st->ran_last = TRUE;
  return TRUE;
}

/* The prompt's analysis, its attention still to come; NULL with the reason. */
static AsAnalysis *
prompt_analysis (WorkerShared *s,
                 GenerateJob  *job,
                 AsEncoding   *enc,
                 GError      **error)
{
  AnalysisJob aj = {
    .channel = AS_CHANNEL_MAIN,
    .text_a = job->text,
    .request_time = g_get_monotonic_time (),
  };
  return analysis_for_job (s->model, &aj, enc, error);
}

static void
run_generate (WorkerShared *s,
              GenerateJob  *job)
{
  GError *error = NULL;
  g_autoptr(AsAnalysis) whole = NULL;   /* the last one shown, when it is the whole text */
  if (s->model == NULL || s->model->tokenizer == NULL)
    g_set_error_literal (&error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT, "no model loaded");
  else
    {
      AsEncoding *enc = as_tokenizer_encode (s->model->tokenizer, job->text, NULL,
                                             s->model->config->max_positions);
      int n = enc->n_tokens;
      g_autofree int *ids = g_new (int, MAX (n, 1));
      g_autofree int *types = g_new (int, MAX (n, 1));
      token_ids (enc, n, ids, types);
      GenerateState st = { s, job->generation, s->model, .text = g_string_new (job->text) };
      AsGenerateOptions options;
      as_generate_options_init (&options, s->model);
      options.sampling = job->sampling;
      options.max_tokens = job->max_tokens;
      options.n_top = 0;
      options.on_prompt_layer = generate_on_prompt_layer;
      options.on_row = generate_on_row;
      options.on_step = on_generated;
      options.on_last = generate_on_last;
      options.user_data = &st;
      options.cancel = &s->generate_cancel;
      /* The prompt analysis takes ENC; without tokens there is none. */
      if (n == 0)
        {
          as_encoding_free (enc);
          g_set_error_literal (&error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT, "the text has no tokens");
        }
      else if ((st.shown = prompt_analysis (s, job, enc, &error)) != NULL &&
               as_generate_options_check (&options, &error) &&
               !as_generate (s->backend, ids, n, &options, NULL, NULL, NULL, &error) &&
               st.no_memory)
        {
          g_clear_error (&error);
          g_set_error (&error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                       "not enough memory for the attention of %d tokens", st.shown->n + 1);
        }
      after_pass (s);
      if (error == NULL && st.ran_last && s->model->arch->causal)
        whole = as_analysis_ref (st.shown);
      g_clear_pointer (&st.shown, as_analysis_unref);
      g_clear_pointer (&st.growing, as_analysis_unref);
      g_string_free (st.text, TRUE);
    }
  Post *p = post_new (s, POST_GENERATE_DONE);
  p->generation = job->generation;
  p->error = error;
  post (p);
  /* Then the lens of what is on screen, the whole text, as after an
   * analysis. (A generation stopped early is analysed again, lens and all,
   * by the window.) */
  if (whole != NULL)
    {
      g_autofree int *all = g_new (int, whole->n);
      for (int i = 0; i < whole->n; i++)
        all[i] = whole->encoding->tokens[i].id;
      run_lens (s, whole, (guint) g_atomic_int_get (&s->latest[AS_CHANNEL_MAIN]), all, whole->n);
    }
}

typedef struct {
  WorkerShared *s;
  guint         generation;
  gboolean      preempted;   /* stopped for a MAIN request */
} AblationProgress;

/* Posts the progress; stops the ranking when the sentence on screen
 * changed (typing never waits on a ranking: it starts over after). */
static gboolean
post_ablation_progress (int      done,
                        int      total,
                        gpointer user_data)
{
  AblationProgress *ap = user_data;
  Post *p = post_new (ap->s, POST_ABLATION_PROGRESS);
  p->generation = ap->generation;
  p->done = done;
  p->total = total;
  post (p);
  g_mutex_lock (&ap->s->mutex);
  ap->preempted = ap->s->pending_job[AS_CHANNEL_MAIN] != NULL;
  g_mutex_unlock (&ap->s->mutex);
  return !ap->preempted;
}

/* What a decoder writes after the text, greedily, with every head on and
 * with W's heads off: into W's continued_on and continued_off, both or
 * neither. Only a cancel is an error: the effect stands without them. */
static void
continue_both_ways (WorkerShared     *s,
                    AsBackend        *backend,
                    const int        *ids,
                    int               n,
                    AsWorkerAblation *w,
                    GError          **error)
{
  AsGenerateOptions o;
  as_generate_options_init (&o, backend->model);
  o.max_tokens = AS_WORKER_ABLATION_CONTINUE;
  o.n_top = 0;
  o.cancel = &s->ablation_cancel;
  GError *local = NULL;
  if ((w->continued_on = as_generate_text (backend, ids, n, &o, &local)) != NULL)
    {
      o.ablate = w->ablate;
      o.n_ablate = w->n_ablate;
      w->continued_off = as_generate_text (backend, ids, n, &o, &local);
    }
  if (local == NULL)
    return;
  g_clear_pointer (&w->continued_on, g_free);
  if (g_error_matches (local, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED))
    g_propagate_error (error, local);
  else
    g_error_free (local);
}

/* The effect and the ranked table of JOB, on the CPU (the GPU plugin does
 * not ablate), stopped between heads by a newer request. FALSE when a MAIN
 * request interrupted it: JOB is to run again. */
static gboolean
run_ablation (WorkerShared *s,
              AblationJob  *job)
{
  AsWorkerAblation *w = job->result;
  GError *error = NULL;
  AsBackend *cpu = NULL;
  AblationProgress ap = { s, w->generation, FALSE };
  for (int i = 0; w->top_labels != NULL && i < w->effect.n_top; i++)
    g_free (w->top_labels[i]);
  g_clear_pointer (&w->top_labels, g_free);
  g_clear_pointer (&w->argmax_label, g_free);
  g_clear_pointer (&w->continued_on, g_free);
  g_clear_pointer (&w->continued_off, g_free);
  if (s->model == NULL || s->model->tokenizer == NULL)
    g_set_error_literal (&error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT, "no model loaded");
  else
    {
      const AsModel *model = s->model;
      AsEncoding *enc = as_tokenizer_encode (model->tokenizer, w->text_a, w->text_b,
                                             model->config->max_positions);
      const int n = enc->n_tokens;
      g_autofree int *ids = g_new (int, MAX (n, 1));     /* [n] */
      g_autofree int *types = g_new (int, MAX (n, 1));   /* [n] */
      token_ids (enc, n, ids, types);
      as_encoding_free (enc);
      AsBackend *backend = s->backend;
      if (as_backend_is_gpu (backend))
        backend = cpu = as_cpu_backend_new (model);
      if (n == 0)
        g_set_error_literal (&error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT, "the text has no tokens");
      else if (w->n_ablate > 0 &&
               as_ablation_effect (backend, ids, types, n, w->ablate, w->n_ablate,
                                   AS_WORKER_ABLATION_TOP, &w->effect, &error))
        {
          w->top_labels = g_new0 (char *, MAX (w->effect.n_top, 1));
          for (int i = 0; i < w->effect.n_top; i++)
            w->top_labels[i] = as_tokenizer_id_to_label (model->tokenizer, w->effect.top_ids[i]);
          if (w->effect.argmax_after >= 0)
            w->argmax_label = as_tokenizer_id_to_label (model->tokenizer, w->effect.argmax_after);
          if (model->arch->causal)
            continue_both_ways (s, backend, ids, n, w, &error);
        }
      if (error == NULL && w->rank_layer != -2 &&
          (w->rank = as_ablation_rank_heads (backend, ids, types, n, w->rank_layer, w->rank_mode,
                                             post_ablation_progress, &ap, &s->ablation_cancel,
                                             &error)) != NULL)
        {
          w->rank_labels = g_new0 (char *, MAX (w->rank->len, 1));
          for (guint i = 0; i < w->rank->len; i++)
            {
              int id = g_array_index (w->rank, AsHeadRank, i).argmax_after;
              w->rank_labels[i] = id >= 0 ? as_tokenizer_id_to_label (model->tokenizer, id) : NULL;
            }
        }
    }
  as_backend_free (cpu);
  if (ap.preempted)
    {
      g_clear_error (&error);
      return FALSE;
    }
  Post *p = post_new (s, POST_ABLATION_DONE);
  p->generation = w->generation;
  p->ablation = error == NULL ? as_worker_ablation_ref (w) : NULL;
  p->error = error;
  post (p);
  return TRUE;
}

static gboolean
any_pending (WorkerShared *s)
{
  for (int c = 0; c < AS_N_CHANNELS; c++)
    if (s->pending_job[c] != NULL)
      return TRUE;
  return FALSE;
}

static gpointer
worker_main (gpointer data)
{
  WorkerShared *s = data;

  for (;;)
    {
      char *dir = NULL;
      AnalysisJob *job = NULL;
      GenerateJob *gen = NULL;
      AblationJob *abl = NULL;

      g_mutex_lock (&s->mutex);
      while (!s->quit && s->pending_load == NULL && !any_pending (s) && s->pending_generate == NULL &&
             s->pending_ablation == NULL)
        g_cond_wait (&s->cond, &s->mutex);
      if (s->quit)
        {
          g_mutex_unlock (&s->mutex);
          break;
        }
      /* A load goes first: an analysis waiting behind it should run on the
       * model the user just picked. Then the channels in their order. */
      if (s->pending_load != NULL)
        dir = g_steal_pointer (&s->pending_load);
      else
        for (int c = 0; c < AS_N_CHANNELS && job == NULL; c++)
          job = g_steal_pointer (&s->pending_job[c]);
      /* A generation comes after the analyses already asked for. */
      if (dir == NULL && job == NULL)
        {
          gen = g_steal_pointer (&s->pending_generate);
          g_atomic_int_set (&s->generate_cancel, 0);
        }
      /* An ablation, after the analyses and any generation. */
      if (dir == NULL && job == NULL && gen == NULL)
        {
          abl = g_steal_pointer (&s->pending_ablation);
          g_atomic_int_set (&s->ablation_cancel, 0);
        }
      /* Reset under the lock: a request made after this point raises it
       * again for the job we just took. */
      if (job != NULL)
        g_atomic_int_set (&s->cancel[job->channel], 0);
      s->running = job != NULL ? (int) job->channel : -1;
      s->preempted = FALSE;
      g_mutex_unlock (&s->mutex);

      gboolean completed = TRUE;
      if (dir != NULL)
        run_load (s, dir);
      else if (gen != NULL)
        run_generate (s, gen);
      else if (abl != NULL)
        {
          /* Interrupted: again after the sentence's analysis, unless a
           * newer ablation took its place. */
          if (!run_ablation (s, abl))
            {
              g_mutex_lock (&s->mutex);
              if (s->pending_ablation == NULL)
                s->pending_ablation = g_steal_pointer (&abl);
              g_mutex_unlock (&s->mutex);
            }
        }
      else
        completed = run_job (s, job);
      generate_job_free (gen);
      ablation_job_free (abl);

      g_mutex_lock (&s->mutex);
      /* A side job that gave way to MAIN goes back into its slot, unless
       * its channel has asked for something newer meanwhile. */
      if (job != NULL && !completed && s->preempted && s->pending_job[job->channel] == NULL &&
          (guint) g_atomic_int_get (&s->latest[job->channel]) == job->generation)
        s->pending_job[job->channel] = g_steal_pointer (&job);
      s->running = -1;
      s->preempted = FALSE;
      g_mutex_unlock (&s->mutex);
      g_free (dir);
      analysis_job_free (job);
    }

  shared_unref (s);
  return NULL;
}

/* ---- public API ------------------------------------------------------- */

static void
as_worker_dispose (GObject *object)
{
  AsWorker *self = AS_WORKER (object);

  if (self->thread != NULL)
    {
      g_mutex_lock (&self->shared->mutex);
      self->shared->quit = TRUE;
      for (int c = 0; c < AS_N_CHANNELS; c++)
        g_atomic_int_set (&self->shared->cancel[c], 1);
      g_atomic_int_set (&self->shared->generate_cancel, 1);
      g_cond_signal (&self->shared->cond);
      g_mutex_unlock (&self->shared->mutex);
      /* The backend checks the cancel flag between layers, so this waits
       * for one layer at most. */
      g_thread_join (g_steal_pointer (&self->thread));
    }

  G_OBJECT_CLASS (as_worker_parent_class)->dispose (object);
}

static void
as_worker_finalize (GObject *object)
{
  AsWorker *self = AS_WORKER (object);

  g_clear_pointer (&self->shared, shared_unref);
  g_free (self->model_dir);
  g_free (self->model_name);
  g_free (self->backend_name);
  g_free (self->backend_notice);
  g_free (self->backend_kind);
  g_free (self->pos_emb);
  g_array_unref (self->trace);

  G_OBJECT_CLASS (as_worker_parent_class)->finalize (object);
}

static void
as_worker_class_init (AsWorkerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = as_worker_dispose;
  object_class->finalize = as_worker_finalize;

  /* ::model-progress (dir, stage, fraction) */
  signals[MODEL_PROGRESS] =
    g_signal_new ("model-progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                  G_TYPE_STRING, G_TYPE_STRING, G_TYPE_DOUBLE);
  /* ::model-loaded (dir, name) */
  signals[MODEL_LOADED] =
    g_signal_new ("model-loaded", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /* ::generation-step (generation, piece, index) */
  signals[GENERATION_STEP] =
    g_signal_new ("generation-step", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_UINT, G_TYPE_STRING, G_TYPE_INT);
  /* ::generation-analysis (analysis, picked) */
  signals[GENERATION_ANALYSIS] =
    g_signal_new ("generation-analysis", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  AS_TYPE_ANALYSIS | G_SIGNAL_TYPE_STATIC_SCOPE, G_TYPE_INT);
  /* ::generation-finished (generation, error or NULL) */
  signals[GENERATION_FINISHED] =
    g_signal_new ("generation-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_ERROR);
  /* ::model-failed (dir, error); the previous model is still loaded. */
  signals[MODEL_FAILED] =
    g_signal_new ("model-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_ERROR);
  /* ::analysis-started (analysis): tokens known, no layer yet. */
  signals[ANALYSIS_STARTED] =
    g_signal_new ("analysis-started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  AS_TYPE_ANALYSIS | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* ::layer-ready (analysis, layer): analysis->layers_ready == layer + 1. */
  signals[LAYER_READY] =
    g_signal_new ("layer-ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  AS_TYPE_ANALYSIS | G_SIGNAL_TYPE_STATIC_SCOPE, G_TYPE_INT);
  signals[ANALYSIS_FINISHED] =
    g_signal_new ("analysis-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  AS_TYPE_ANALYSIS | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* ::analysis-failed (generation, error): never for a cancellation. */
  signals[ANALYSIS_FAILED] =
    g_signal_new ("analysis-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_ERROR);

  /* The side channels, detailed by as_channel_name(): connect to
   * "channel-finished::causal" for one channel only. */
  GSignalFlags detailed = G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED;
  /* ::channel-started (channel, analysis) */
  signals[CHANNEL_STARTED] =
    g_signal_new ("channel-started", G_TYPE_FROM_CLASS (klass), detailed,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_INT, AS_TYPE_ANALYSIS | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* ::channel-layer-ready (channel, analysis, layer) */
  signals[CHANNEL_LAYER_READY] =
    g_signal_new ("channel-layer-ready", G_TYPE_FROM_CLASS (klass), detailed,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                  G_TYPE_INT, AS_TYPE_ANALYSIS | G_SIGNAL_TYPE_STATIC_SCOPE, G_TYPE_INT);
  /* ::channel-finished (channel, analysis) */
  signals[CHANNEL_FINISHED] =
    g_signal_new ("channel-finished", G_TYPE_FROM_CLASS (klass), detailed,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_INT, AS_TYPE_ANALYSIS | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* ::channel-failed (channel, generation, error): never for a cancellation. */
  signals[CHANNEL_FAILED] =
    g_signal_new ("channel-failed", G_TYPE_FROM_CLASS (klass), detailed,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                  G_TYPE_INT, G_TYPE_UINT, G_TYPE_ERROR);
  /* ::backend-switched: the GPU gave up during a pass and the engine now
   * runs on the CPU (backend kind, name, notice and fallback say so). */
  signals[BACKEND_SWITCHED] =
    g_signal_new ("backend-switched", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* ::lens-ready (analysis, lens): the logit lens of the main analysis of
   * a decoder, after its ::analysis-finished. */
  signals[LENS_READY] =
    g_signal_new ("lens-ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  AS_TYPE_ANALYSIS | G_SIGNAL_TYPE_STATIC_SCOPE,
                  AS_TYPE_WORKER_LENS | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* ::ablation-progress (generation, done, total) */
  signals[ABLATION_PROGRESS] =
    g_signal_new ("ablation-progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_UINT, G_TYPE_INT, G_TYPE_INT);
  /* ::ablation-ready (AsWorkerAblation) */
  signals[ABLATION_READY] =
    g_signal_new ("ablation-ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  AS_TYPE_WORKER_ABLATION | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* ::ablation-failed (generation, error) */
  signals[ABLATION_FAILED] =
    g_signal_new ("ablation-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_ERROR);
  /* ::qkv-ready (qkv) */
  signals[QKV_READY] =
    g_signal_new ("qkv-ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  AS_TYPE_QKV | G_SIGNAL_TYPE_STATIC_SCOPE);
  /* ::layer-trace-ready (trace): as_worker_request_layer_trace's result. */
  signals[LAYER_TRACE_READY] =
    g_signal_new ("layer-trace-ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  AS_TYPE_WORKER_TRACE | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
as_worker_init (AsWorker *self)
{
  WorkerShared *s = g_new0 (WorkerShared, 1);
  g_atomic_ref_count_init (&s->ref);
  g_mutex_init (&s->mutex);
  g_cond_init (&s->cond);
  s->context = g_main_context_ref_thread_default ();
  s->running = -1;
  g_weak_ref_init (&s->owner, self);
  self->shared = s;

  /* ATTNSCOPE_DEVICE=cpu|gpu|auto sets the starting choice (tests, scripts). */
  self->device = AS_DEVICE_AUTO;
  self->backend_fallback = -1;
  const char *want = g_getenv ("ATTNSCOPE_DEVICE");
  if (want != NULL && !as_device_from_string (want, &self->device))
    g_warning ("ATTNSCOPE_DEVICE=%s: expected cpu, gpu or auto", want);
  s->device = self->device;

  self->trace = g_array_new (FALSE, FALSE, sizeof (AsWorkerTraceEntry));
  self->trace_enabled = g_getenv ("ATTNSCOPE_TRACE") != NULL;
  self->thread = g_thread_new ("attnscope-engine", worker_main, shared_ref (s));
}

AsWorker *
as_worker_new (void)
{
  return g_object_new (AS_TYPE_WORKER, NULL);
}

void
as_worker_load_model (AsWorker   *self,
                      const char *dir)
{
  g_return_if_fail (AS_IS_WORKER (self));
  g_return_if_fail (dir != NULL);

  /* The model a generation runs on is going away. */
  as_worker_stop_generation (self);
  WorkerShared *s = self->shared;
  g_mutex_lock (&s->mutex);
  if (s->pending_load != NULL)
    self->loads_pending--;   /* replaced: it will never report */
  g_free (s->pending_load);
  s->pending_load = g_strdup (dir);
  self->loads_pending++;
  g_cond_signal (&s->cond);
  g_mutex_unlock (&s->mutex);
}

guint
as_worker_generate (AsWorker               *self,
                    const char             *text,
                    const AsSamplerOptions *sampling,
                    int                     max_tokens)
{
  g_return_val_if_fail (AS_IS_WORKER (self), 0);
  g_return_val_if_fail (text != NULL && sampling != NULL, 0);

  as_worker_stop_generation (self);
  GenerateJob *job = g_new0 (GenerateJob, 1);
  job->generation = ++self->generate_latest;
  job->text = g_strdup (text);
  job->sampling = *sampling;
  job->max_tokens = max_tokens;
  self->generating = TRUE;
  WorkerShared *s = self->shared;
  g_mutex_lock (&s->mutex);
  s->pending_generate = job;
  g_cond_signal (&s->cond);
  g_mutex_unlock (&s->mutex);
  return job->generation;
}

void
as_worker_stop_generation (AsWorker *self)
{
  g_return_if_fail (AS_IS_WORKER (self));
  WorkerShared *s = self->shared;
  g_mutex_lock (&s->mutex);
  GenerateJob *waiting = g_steal_pointer (&s->pending_generate);
  g_atomic_int_set (&s->generate_cancel, 1);
  g_mutex_unlock (&s->mutex);
  /* One that never started reports like one stopped between tokens. */
  if (waiting != NULL)
    {
      Post *p = post_new (s, POST_GENERATE_DONE);
      p->generation = waiting->generation;
      p->error = g_error_new_literal (AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED, "cancelled");
      post (p);
      generate_job_free (waiting);
    }
}

guint
as_worker_request_ablation (AsWorker             *self,
                            const char           *text_a,
                            const char           *text_b,
                            const AsHeadAblation *ablate,
                            int                   n_ablate,
                            int                   rank_layer,
                            AsAblateMode          rank_mode)
{
  g_return_val_if_fail (AS_IS_WORKER (self), 0);
  g_return_val_if_fail (text_a != NULL && n_ablate >= 0 && (ablate != NULL || n_ablate == 0), 0);

  AsWorkerAblation *w = g_atomic_rc_box_new0 (AsWorkerAblation);
  w->generation = ++self->ablation_latest;
  w->text_a = g_strdup (text_a);
  w->text_b = text_b != NULL && *text_b != '\0' ? g_strdup (text_b) : NULL;
  w->ablate = g_memdup2 (ablate, sizeof (AsHeadAblation) * MAX (n_ablate, 1));
  w->n_ablate = n_ablate;
  w->rank_layer = rank_layer;
  w->rank_mode = rank_mode;
  w->effect.argmax_after = -1;
  AblationJob *job = g_new0 (AblationJob, 1);
  job->result = w;
  WorkerShared *s = self->shared;
  g_mutex_lock (&s->mutex);
  ablation_job_free (s->pending_ablation);
  s->pending_ablation = job;
  g_atomic_int_set (&s->ablation_cancel, 1);
  g_cond_signal (&s->cond);
  g_mutex_unlock (&s->mutex);
  return w->generation;
}

gboolean
as_worker_is_generating (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), FALSE);
  return self->generating;
}

gboolean
as_worker_get_model_generates (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), FALSE);
  return self->generates;
}

gboolean
as_worker_get_model_fills (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), FALSE);
  return self->fills;
}

gboolean
as_worker_set_device (AsWorker   *self,
                      const char *device)
{
  g_return_val_if_fail (AS_IS_WORKER (self), FALSE);

  AsDevice d;
  if (device == NULL || !as_device_from_string (device, &d))
    return FALSE;
  if (d == self->device)
    return TRUE;
  self->device = d;
  g_mutex_lock (&self->shared->mutex);
  self->shared->device = d;
  g_mutex_unlock (&self->shared->mutex);
  /* The backend is built at load; loading again is cheap (the weights are
   * mapped, not copied) and reuses the load path's progress and errors. */
  if (self->model_dir != NULL)
    as_worker_load_model (self, self->model_dir);
  return TRUE;
}

const char *
as_worker_get_device (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), NULL);
  return as_device_to_string (self->device);
}

const char *
as_worker_get_backend_kind (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), NULL);
  return self->backend_kind;
}

const char *
as_worker_get_backend_notice (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), NULL);
  return self->backend_notice;
}

int
as_worker_get_backend_fallback (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), -1);
  return self->backend_fallback;
}

const float *
as_worker_get_position_embeddings (AsWorker *self,
                                   int      *n_positions,
                                   int      *hidden)
{
  g_return_val_if_fail (AS_IS_WORKER (self), NULL);
  if (n_positions != NULL)
    *n_positions = self->pos_emb != NULL ? self->pos_n : 0;
  if (hidden != NULL)
    *hidden = self->pos_emb != NULL ? self->pos_hidden : 0;
  return self->pos_emb;
}

gboolean
as_worker_is_loading (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), FALSE);
  return self->loads_pending > 0;
}

static guint
queue_job (AsWorker   *self,
           AsChannel   channel,
           const char *text_a,
           const char *text_b,
           int         qkv_layer,
           gboolean    causal,
           const char *padding_text)
{
  /* Kept here: once the lock is released the thread may take and free JOB. */
  guint generation = ++self->generation[channel];
  AnalysisJob *job = g_new0 (AnalysisJob, 1);
  job->channel = channel;
  job->generation = generation;
  job->text_a = g_strdup (text_a != NULL ? text_a : "");
  job->text_b = text_b != NULL && *text_b != '\0' ? g_strdup (text_b) : NULL;
  job->qkv_layer = qkv_layer;
  job->causal = causal;
  job->padding_text = padding_text != NULL && *padding_text != '\0' ? g_strdup (padding_text) : NULL;
  job->request_time = g_get_monotonic_time ();

  WorkerShared *s = self->shared;
  g_mutex_lock (&s->mutex);
  analysis_job_free (s->pending_job[channel]);
  s->pending_job[channel] = job;
  g_atomic_int_set (&s->latest[channel], (gint) job->generation);
  g_atomic_int_set (&s->cancel[channel], 1);
  /* MAIN does not wait behind a side job: that one stops between layers
   * and is put back by the thread. */
  if (channel == AS_CHANNEL_MAIN && s->running > AS_CHANNEL_MAIN)
    {
      s->preempted = TRUE;
      g_atomic_int_set (&s->cancel[s->running], 1);
    }
  g_cond_signal (&s->cond);
  g_mutex_unlock (&s->mutex);

  return generation;
}

guint
as_worker_analyse (AsWorker   *self,
                   const char *text_a,
                   const char *text_b)
{
  g_return_val_if_fail (AS_IS_WORKER (self), 0);
  return queue_job (self, AS_CHANNEL_MAIN, text_a, text_b, -1, FALSE, NULL);
}

guint
as_worker_analyse_on (AsWorker   *self,
                      AsChannel   channel,
                      const char *text_a,
                      const char *text_b)
{
  g_return_val_if_fail (AS_IS_WORKER (self), 0);
  g_return_val_if_fail (channel == AS_CHANNEL_MAIN || channel == AS_CHANNEL_CAUSAL ||
                        channel == AS_CHANNEL_COMPARE, 0);
  return queue_job (self, channel, text_a, text_b, -1, channel == AS_CHANNEL_CAUSAL, NULL);
}

guint
as_worker_request_qkv (AsWorker   *self,
                       const char *text_a,
                       const char *text_b,
                       int         layer,
                       gboolean    causal)
{
  g_return_val_if_fail (AS_IS_WORKER (self), 0);
  return queue_job (self, AS_CHANNEL_QKV, text_a, text_b, layer, causal, NULL);
}

guint
as_worker_request_layer_trace (AsWorker   *self,
                               const char *text_a,
                               const char *text_b,
                               int         layer,
                               const char *padding_text)
{
  g_return_val_if_fail (AS_IS_WORKER (self), 0);
  return queue_job (self, AS_CHANNEL_TRACE, text_a, text_b, layer, FALSE, padding_text);
}

guint
as_worker_get_generation (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), 0);
  return self->generation[AS_CHANNEL_MAIN];
}

guint
as_worker_get_channel_generation (AsWorker  *self,
                                  AsChannel  channel)
{
  g_return_val_if_fail (AS_IS_WORKER (self), 0);
  g_return_val_if_fail ((guint) channel < AS_N_CHANNELS, 0);
  return self->generation[channel];
}

const char *
as_worker_get_model_dir (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), NULL);
  return self->model_dir;
}

const char *
as_worker_get_model_name (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), NULL);
  return self->model_name;
}

gboolean
as_worker_get_model_takes_pairs (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), FALSE);
  return self->takes_pairs;
}

const char *
as_worker_get_backend_name (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), NULL);
  return self->backend_name;
}

void
as_worker_set_trace_enabled (AsWorker *self,
                             gboolean  enabled)
{
  g_return_if_fail (AS_IS_WORKER (self));
  self->trace_enabled = enabled;
}

GArray *
as_worker_get_trace (AsWorker *self)
{
  g_return_val_if_fail (AS_IS_WORKER (self), NULL);
  return self->trace;
}

void
as_worker_clear_trace (AsWorker *self)
{
  g_return_if_fail (AS_IS_WORKER (self));
  g_array_set_size (self->trace, 0);
}
