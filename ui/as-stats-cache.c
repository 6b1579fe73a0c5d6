/* as-stats-cache.c — statistic values, their colours and the shared cache. */
#include "as-stats-cache.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

static const char * const stat_labels[AS_N_STATS] = {
  [AS_STAT_NONE]       = N_("None"),
  [AS_STAT_ENTROPY]    = N_("Entropy"),
  [AS_STAT_TO_CLS]     = N_("To [CLS]"),
  [AS_STAT_TO_SEP]     = N_("To [SEP]"),
  [AS_STAT_TO_PUNCT]   = N_("To punctuation"),
  [AS_STAT_SELF]       = N_("Self"),
  [AS_STAT_PREV]       = N_("Previous"),
  [AS_STAT_NEXT]       = N_("Next"),
  [AS_STAT_DISTANCE]   = N_("Mean distance"),
  [AS_STAT_CONFIDENCE] = N_("Confidence"),
  [AS_STAT_SINK]       = N_("Sink (first token)"),
  [AS_STAT_PATTERN]    = N_("Pattern"),
};

const char *
as_stat_label (AsStatId id)
{
  g_return_val_if_fail ((int) id >= 0 && id < AS_N_STATS, "");
  return _(stat_labels[id]);
}

const char *
as_stat_short_label (AsStatId id)
{
  static const char * const short_labels[AS_N_STATS] = {
    [AS_STAT_NONE] = N_("None"), [AS_STAT_ENTROPY] = N_("Entropy"), [AS_STAT_TO_CLS] = "[CLS]",
    [AS_STAT_TO_SEP] = "[SEP]", [AS_STAT_TO_PUNCT] = N_("Punct."), [AS_STAT_SELF] = N_("Self"),
    [AS_STAT_PREV] = N_("Prev."), [AS_STAT_NEXT] = N_("Next"), [AS_STAT_DISTANCE] = N_("Dist."),
    [AS_STAT_CONFIDENCE] = N_("Conf."), [AS_STAT_SINK] = N_("Sink"), [AS_STAT_PATTERN] = N_("Pattern"),
  };
  g_return_val_if_fail ((int) id >= 0 && id < AS_N_STATS, "");
  return _(short_labels[id]);
}

double
as_stat_value (const AsHeadStats *s,
               AsStatId           id)
{
  switch (id)
    {
    case AS_STAT_ENTROPY:    return s->entropy;
    case AS_STAT_TO_CLS:     return s->to_cls;
    case AS_STAT_TO_SEP:     return s->to_sep;
    case AS_STAT_TO_PUNCT:   return s->to_punct;
    case AS_STAT_SELF:       return s->to_self;
    case AS_STAT_PREV:       return s->to_prev;
    case AS_STAT_NEXT:       return s->to_next;
    case AS_STAT_DISTANCE:   return s->distance;
    case AS_STAT_CONFIDENCE: return s->confidence;
    case AS_STAT_SINK:       return s->sink;
    case AS_STAT_PATTERN:    return (double) as_head_stats_pattern (s);
    case AS_STAT_NONE:
    case AS_N_STATS:
    default:                 return NAN;
    }
}

gboolean
as_stat_is_categorical (AsStatId id)
{
  return id == AS_STAT_PATTERN;
}

const char *
as_stat_format (AsStatId  id,
                double    value,
                char     *buf,
                gsize     len)
{
  if (id == AS_STAT_PATTERN && value >= 0 && value < AS_N_PATTERNS)
    g_strlcpy (buf, as_pattern_to_string ((AsPattern) value), len);
  else if (!isfinite (value))
    g_strlcpy (buf, "–", len);
  else if (id == AS_STAT_DISTANCE)
    g_snprintf (buf, len, "%.2f", value);
  else
    g_snprintf (buf, len, "%.3f", value);
  return buf;
}

gboolean
as_stat_range (const AsHeadStats *stats,
               int                n,
               AsStatId           id,
               double            *lo,
               double            *hi)
{
  gboolean any = FALSE;
  *lo = *hi = NAN;
  for (int i = 0; i < n; i++)
    {
      double v = as_stat_value (&stats[i], id);
      if (!isfinite (v))
        continue;
      if (!any || v < *lo)
        *lo = v;
      if (!any || v > *hi)
        *hi = v;
      any = TRUE;
    }
  return any;
}

double
as_stat_normalise (double v,
                   double lo,
                   double hi)
{
  if (!isfinite (v))
    return NAN;
  /* All heads equal (or one head): nothing stands out, use the middle. */
  if (!(hi - lo > 1e-12))
    return 0.5;
  return CLAMP ((v - lo) / (hi - lo), 0.0, 1.0);
}

/* Five stops, evenly spaced: blue, cyan, gold, orange, red. No stop is close
 * to white or black, so every value shows on both styles' backgrounds. */
static const guint8 ramp[5][3] = {
  {  44, 105, 176 },
  {  20, 160, 190 },
  { 222, 170,   0 },
  { 240, 105,  50 },
  { 190,  24,  45 },
};

void
as_stat_ramp_colour (double t,
                     double rgb[3])
{
  if (!isfinite (t))
    t = 0.5;
  t = CLAMP (t, 0.0, 1.0) * 4.0;
  int k = MIN ((int) t, 3);
  double f = t - k;
  for (int c = 0; c < 3; c++)
    rgb[c] = ((1 - f) * ramp[k][c] + f * ramp[k + 1][c]) / 255.0;
}

void
as_pattern_colour (AsPattern pattern,
                   double    rgb[3])
{
  static const guint8 colours[AS_N_PATTERNS][3] = {
    [AS_PATTERN_HETEROGENEOUS] = { 154, 153, 150 },   /* grey: no structure */
    [AS_PATTERN_VERTICAL]      = {  28, 113, 216 },   /* blue */
    [AS_PATTERN_DIAGONAL]      = { 230,  97,   0 },   /* orange */
    [AS_PATTERN_BLOCK]         = {  38, 162, 105 },   /* green */
  };
  int p = CLAMP ((int) pattern, 0, AS_N_PATTERNS - 1);
  for (int c = 0; c < 3; c++)
    rgb[c] = colours[p][c] / 255.0;
}

gboolean
as_stat_colour (AsStatId  id,
                double    value,
                double    lo,
                double    hi,
                double    rgb[3])
{
  if (id == AS_STAT_NONE || !isfinite (value))
    return FALSE;
  if (id == AS_STAT_PATTERN)
    {
      if (value < 0 || value >= AS_N_PATTERNS)
        return FALSE;
      as_pattern_colour ((AsPattern) value, rgb);
      return TRUE;
    }
  as_stat_ramp_colour (as_stat_normalise (value, lo, hi), rgb);
  return TRUE;
}

void
as_head_colour (int    head,
                double rgb[3])
{
  /* Tableau's ten, then six darker ones; distinct side by side. */
  static const guint8 colours[16][3] = {
    {  31, 119, 180 }, { 255, 127,  14 }, {  44, 160,  44 }, { 214,  39,  40 },
    { 148, 103, 189 }, { 140,  86,  75 }, { 227, 119, 194 }, { 127, 127, 127 },
    { 188, 189,  34 }, {  23, 190, 207 }, {  57,  59, 121 }, { 173,  73,  74 },
    {  99, 121,  57 }, { 123,  65, 115 }, { 230,  85,  13 }, {  49, 163,  84 },
  };
  int k = ((head % 16) + 16) % 16;
  for (int c = 0; c < 3; c++)
    rgb[c] = colours[k][c] / 255.0;
}

/* ---- the cache ---------------------------------------------------------- */

struct _AsStatsCache
{
  GObject       parent_instance;

  AsViewState  *state;        /* not a reference: STATE owns the cache */
  AsAnalysis   *analysis;
  AsHeadStats  *stats;        /* [n_layers, n_heads] */
  int           n_layers;
  int           n_heads;
  int           layers_done;
  int           holds;
  GCancellable *job;          /* the running computation, NULL when none */
};

G_DEFINE_FINAL_TYPE (AsStatsCache, as_stats_cache, G_TYPE_OBJECT)

enum {
  UPDATED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

typedef struct {
  AsAnalysis  *analysis;
  int          from;
  int          to;
  AsHeadStats *out;           /* [to - from, n_heads] */
} Job;

static void
job_free (gpointer data)
{
  Job *job = data;
  as_analysis_unref (job->analysis);
  g_free (job->out);
  g_free (job);
}

static void
compute_layers (AsAnalysis   *a,
                int           from,
                int           to,
                AsHeadStats  *out,
                GCancellable *cancellable)
{
  g_autoptr(AsTokenClasses) classes = as_token_classes_from_encoding (a->encoding);
  for (int l = from; l < to; l++)
    for (int h = 0; h < a->n_heads; h++)
      {
        /* A newer text makes this one moot: stop between heads. */
        if (g_cancellable_is_cancelled (cancellable))
          return;
        as_head_stats_compute (as_analysis_head (a, l, h), a->n, classes,
                               &out[(l - from) * a->n_heads + h]);
      }
}

static void
job_thread (GTask        *task,
            gpointer      source,
            gpointer      data,
            GCancellable *cancellable)
{
  Job *job = data;
  compute_layers (job->analysis, job->from, job->to, job->out, cancellable);
  g_task_return_boolean (task, !g_cancellable_is_cancelled (cancellable));
}

static void schedule (AsStatsCache *self);

static void
job_done (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  AsStatsCache *self = AS_STATS_CACHE (source);
  GTask *task = G_TASK (result);
  Job *job = g_task_get_task_data (task);
  gboolean ok = g_task_propagate_boolean (task, NULL);

  if (g_task_get_cancellable (task) == self->job)
    g_clear_object (&self->job);
  /* Results of a superseded analysis are dropped, never shown. */
  if (ok && job->analysis == self->analysis && job->from == self->layers_done)
    {
      memcpy (self->stats + (gsize) job->from * self->n_heads, job->out,
              sizeof (AsHeadStats) * (gsize) (job->to - job->from) * self->n_heads);
      self->layers_done = job->to;
      g_signal_emit (self, signals[UPDATED], 0);
    }
  schedule (self);
}

static int
layers_ready (AsStatsCache *self)
{
  if (self->state == NULL || self->analysis == NULL ||
      as_view_state_get_analysis (self->state) != self->analysis)
    return 0;
  return MIN (as_view_state_get_layers_ready (self->state), self->n_layers);
}

static void
schedule (AsStatsCache *self)
{
  if (self->holds == 0 || self->job != NULL)
    return;
  int ready = layers_ready (self);
  if (self->layers_done >= ready)
    return;

  Job *job = g_new0 (Job, 1);
  job->analysis = as_analysis_ref (self->analysis);
  job->from = self->layers_done;
  job->to = ready;
  job->out = g_new (AsHeadStats, (gsize) (ready - job->from) * self->n_heads);
  self->job = g_cancellable_new ();
  GTask *task = g_task_new (self, self->job, job_done, NULL);
  g_task_set_task_data (task, job, job_free);
  g_task_run_in_thread (task, job_thread);
  g_object_unref (task);
}

static void
on_analysis_changed (AsStatsCache *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  if (a == self->analysis)
    return;
  if (self->job != NULL)
    g_cancellable_cancel (self->job);
  g_clear_object (&self->job);
  g_clear_pointer (&self->analysis, as_analysis_unref);
  self->analysis = a != NULL ? as_analysis_ref (a) : NULL;
  int layers = a != NULL ? a->n_layers : 0, heads = a != NULL ? a->n_heads : 0;
  if (layers != self->n_layers || heads != self->n_heads)
    {
      g_free (self->stats);
      self->stats = g_new0 (AsHeadStats, MAX (layers * heads, 1));
      self->n_layers = layers;
      self->n_heads = heads;
    }
  self->layers_done = 0;
  g_signal_emit (self, signals[UPDATED], 0);
  schedule (self);
}

/* The views may keep the cache a little longer than the state lives. */
static void
state_gone (gpointer  data,
            GObject  *where_the_state_was)
{
  AsStatsCache *self = data;
  self->state = NULL;
  if (self->job != NULL)
    g_cancellable_cancel (self->job);
}

AsStatsCache *
as_stats_cache_new (AsViewState *state)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (state), NULL);

  AsStatsCache *self = g_object_new (AS_TYPE_STATS_CACHE, NULL);
  self->state = state;
  g_object_weak_ref (G_OBJECT (state), state_gone, self);
  g_signal_connect_swapped (state, "notify::analysis", G_CALLBACK (on_analysis_changed), self);
  g_signal_connect_swapped (state, "layer-added", G_CALLBACK (schedule), self);
  on_analysis_changed (self);
  return self;
}

void
as_stats_cache_hold (AsStatsCache *self)
{
  g_return_if_fail (AS_IS_STATS_CACHE (self));
  self->holds++;
  schedule (self);
}

void
as_stats_cache_release (AsStatsCache *self)
{
  g_return_if_fail (AS_IS_STATS_CACHE (self));
  g_return_if_fail (self->holds > 0);
  self->holds--;
}

const AsHeadStats *
as_stats_cache_get (AsStatsCache *self,
                    int          *n_layers,
                    int          *n_heads,
                    int          *layers_done)
{
  g_return_val_if_fail (AS_IS_STATS_CACHE (self), NULL);
  if (n_layers != NULL)
    *n_layers = self->n_layers;
  if (n_heads != NULL)
    *n_heads = self->n_heads;
  if (layers_done != NULL)
    *layers_done = self->layers_done;
  return self->analysis != NULL ? self->stats : NULL;
}

static void
as_stats_cache_finalize (GObject *object)
{
  AsStatsCache *self = AS_STATS_CACHE (object);

  if (self->state != NULL)
    g_object_weak_unref (G_OBJECT (self->state), state_gone, self);
  g_clear_object (&self->job);
  g_clear_pointer (&self->analysis, as_analysis_unref);
  g_free (self->stats);

  G_OBJECT_CLASS (as_stats_cache_parent_class)->finalize (object);
}

static void
as_stats_cache_class_init (AsStatsCacheClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = as_stats_cache_finalize;

  /* ::updated: more layers are done, or the analysis changed. */
  signals[UPDATED] =
    g_signal_new ("updated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
as_stats_cache_init (AsStatsCache *self)
{
}
