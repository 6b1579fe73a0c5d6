/* as-trace.c — main-thread only, so plain statics. */
#include "as-trace.h"

#include <stdio.h>

typedef struct {
  guint    generation;
  gint64   key_time;      /* 0 when it came from no keystroke */
  gint64   request_time;
  int      n_tokens;
  int      n_layers;
  gboolean first_done;
  gboolean last_done;
  int      pending_layers; /* most layers drawn in the frame being built */
  double   first_ms;
  double   last_ms;
} GenTrace;

static int enabled = -1;
static gint64 last_key;
static GenTrace current;
static GArray *draws;

gboolean
as_trace_enabled (void)
{
  if (enabled < 0)
    enabled = g_getenv ("ATTNSCOPE_TRACE") != NULL && g_strcmp0 (g_getenv ("ATTNSCOPE_TRACE"), "0") != 0;
  return enabled;
}

void
as_trace_set_enabled (gboolean on)
{
  enabled = !!on;
}

void
as_trace_print (const char *format,
                ...)
{
  if (!as_trace_enabled ())
    return;
  va_list args;
  va_start (args, format);
  g_autofree char *msg = g_strdup_vprintf (format, args);
  va_end (args);
  fprintf (stderr, "attnscope-trace: %s\n", msg);
}

void
as_trace_keystroke (void)
{
  if (as_trace_enabled ())
    last_key = g_get_monotonic_time ();
}

void
as_trace_forget_keystroke (void)
{
  last_key = 0;
}

void
as_trace_requested (guint generation,
                    int   n_chars)
{
  if (!as_trace_enabled ())
    return;
  current = (GenTrace) {
    .generation = generation,
    .key_time = last_key,
    .request_time = g_get_monotonic_time (),
  };
  last_key = 0;
}

void
as_trace_drawn (char  view,
                guint generation,
                int   layers,
                int   n_layers,
                int   n_tokens)
{
  AsTraceDraw d = { .generation = generation, .layers = layers, .view = view };
  as_trace_drawn_full (&d, n_layers, n_tokens);
}

void
as_trace_drawn_full (const AsTraceDraw *draw,
                     int                n_layers,
                     int                n_tokens)
{
  if (!as_trace_enabled ())
    return;

  if (draws == NULL)
    draws = g_array_new (FALSE, FALSE, sizeof (AsTraceDraw));
  AsTraceDraw d = *draw;
  d.time = g_get_monotonic_time ();
  g_array_append_val (draws, d);

  if (d.generation != current.generation)
    return;
  current.n_tokens = n_tokens;
  current.n_layers = n_layers;
  current.pending_layers = MAX (current.pending_layers, d.layers);
}

void
as_trace_frame_painted (void)
{
  if (!as_trace_enabled () || current.generation == 0 || current.pending_layers == 0)
    return;

  gint64 now = g_get_monotonic_time ();
  gint64 from = current.key_time != 0 ? current.key_time : current.request_time;
  const char *what = current.key_time != 0 ? "keystroke" : "request";

  if (!current.first_done)
    {
      current.first_done = TRUE;
      current.first_ms = (now - from) / 1000.0;
      as_trace_print ("gen %u, %d tokens: %s -> request %.1f ms, -> first layer drawn %.1f ms",
                      current.generation, current.n_tokens, what,
                      (current.request_time - from) / 1000.0, (now - from) / 1000.0);
    }
  if (!current.last_done && current.pending_layers >= current.n_layers)
    {
      current.last_done = TRUE;
      current.last_ms = (now - from) / 1000.0;
      as_trace_print ("gen %u, %d tokens: %s -> last layer (%d) drawn %.1f ms",
                      current.generation, current.n_tokens, what, current.n_layers,
                      (now - from) / 1000.0);
    }
}

gboolean
as_trace_get_latency (guint  *generation,
                      int    *n_tokens,
                      double *first_ms,
                      double *last_ms)
{
  if (!current.last_done)
    return FALSE;
  *generation = current.generation;
  *n_tokens = current.n_tokens;
  *first_ms = current.first_ms;
  *last_ms = current.last_ms;
  return TRUE;
}

GArray *
as_trace_get_draws (void)
{
  if (draws == NULL)
    draws = g_array_new (FALSE, FALSE, sizeof (AsTraceDraw));
  return draws;
}

void
as_trace_clear (void)
{
  if (draws != NULL)
    g_array_set_size (draws, 0);
}
