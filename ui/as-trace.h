/* as-trace.h — timing and draw instrumentation (ATTNSCOPE_TRACE=1).
 *
 * Measures what a user feels: from a keystroke to the first and to the last
 * layer of its analysis on screen, and how long the views take to paint.
 * Views report what they drew in their snapshot; the window reports when the
 * frame was painted, and the line is printed then. The draw log keeps every
 * report with what the draw did (lines drawn, thumbnails built, how long it
 * took): tests read it to prove that no stale generation was ever drawn and
 * that a view drew what it should, the benchmark to time the grid.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint  generation;
  int    layers;       /* how many layers of it the view drew: the grid layers
                        * 0 .. layers-1, the head and lines views layer
                        * layers-1, the token strip none (0) */
  char   view;         /* 'g' grid, 'h' head view, 'l' lines view, 't' token strip */
  gint64 time;         /* when it was reported (set by the log) */
  int    items;        /* what the picture holds: the lines view's lines, the
                        * grid's thumbnails; 0 for the other views */
  int    built;        /* the grid: thumbnails this draw built (the others
                        * came from its cache) */
  gint64 paint_us;     /* the grid: how long the draw took, in µs */
} AsTraceDraw;

/* TRUE when ATTNSCOPE_TRACE is set, or after as_trace_set_enabled (TRUE). */
gboolean as_trace_enabled        (void);
void     as_trace_set_enabled    (gboolean     enabled);

void     as_trace_keystroke      (void);
/* The next request does not come from typing (a model load, say). */
void     as_trace_forget_keystroke (void);
/* GENERATION was requested for the latest keystroke (if any). */
void     as_trace_requested      (guint        generation,
                                  int          n_chars);
/* A view drew LAYERS of N_LAYERS layers of GENERATION (N_TOKENS tokens). */
void     as_trace_drawn          (char         view,
                                  guint        generation,
                                  int          layers,
                                  int          n_layers,
                                  int          n_tokens);
/* The same, with what the draw did: DRAW's view, generation and layers, and
 * its items, built and paint_us (its time is set here). */
void     as_trace_drawn_full     (const AsTraceDraw *draw,
                                  int          n_layers,
                                  int          n_tokens);
/* The frame holding the draws reported since the last call is on screen. */
void     as_trace_frame_painted  (void);
/* Prints "attnscope-trace: …" to stderr when enabled. */
void     as_trace_print          (const char  *format,
                                  ...) G_GNUC_PRINTF (1, 2);

/* The newest generation's times from its keystroke (or request) to the
 * frames that showed its first and its last layer; FALSE until both. */
gboolean as_trace_get_latency    (guint       *generation,
                                  int         *n_tokens,
                                  double      *first_ms,
                                  double      *last_ms);

/* Every as_trace_drawn (_full) call, in order (AsTraceDraw), while enabled. */
GArray  *as_trace_get_draws      (void);
void     as_trace_clear          (void);

G_END_DECLS
