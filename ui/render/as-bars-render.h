/* as-bars-render.h — a top-k distribution as labelled horizontal bars.
 *
 * One row a token: its label right-aligned in a column on the left, a faint
 * track the width of probability 1 with the bar over it, and the
 * percentage after the track. The next-token page and the masked-token page
 * draw their predictions with it, on screen and in exported figures.
 * Cairo and Pango only (no GTK).
 */
#pragma once

#include <cairo.h>
#include <glib.h>
#include <pango/pango.h>

G_BEGIN_DECLS

typedef struct {
  int                 n;             /* rows */
  const char * const *labels;        /* [n] drawn as given (ellipsised when too long) */
  const float        *probs;         /* [n] each a share of the whole distribution, 0..1 */
  double              row_h;         /* pixels a row */
  double              fg[4];         /* RGBA of the text; the track is it, faint */
  /* The row in HIGHLIGHT_RGB instead of the usual blue, or -1; with
   * OUTLINE it is also framed and its value ticked. */
  int                 highlight;
  double              highlight_rgb[3];
  gboolean            outline;
} AsBars;

/* Draws BARS' rows from Y down, WIDTH wide, with LAYOUT's font (whose
 * width and ellipsis this changes). */
void  as_bars_render  (cairo_t      *cr,
                       PangoLayout  *layout,
                       const AsBars *bars,
                       double        y,
                       double        width);

G_END_DECLS
