/* as-render-pen.h — text, numbers and vector strips for the teaching pictures.
 *
 * Cairo and Pango only. The attention steps (as-teach-render) and the rest
 * of the layer (as-layer-render) are drawn with the same fonts, the same
 * signed colour strips and the same number format, so a vector looks the
 * same on every step.
 */
#pragma once

#include <cairo.h>
#include <glib.h>
#include <pango/pangocairo.h>

G_BEGIN_DECLS

/* Text sizes, in user units (pixels on screen): meant to be read from the
 * back of a classroom on a projector. */
#define AS_PEN_FONT       17.0
#define AS_PEN_MONO_FONT  16.0
#define AS_PEN_ROW_H      30.0

typedef struct {
  cairo_t     *cr;
  PangoLayout *text;   /* FONT (NULL = "Sans") */
  PangoLayout *bold;
  PangoLayout *mono;   /* Monospace, for columns of numbers */
  gboolean     dark;   /* light text on a dark background */
  double       width;  /* of the picture */
} AsPen;

void    as_pen_init       (AsPen        *pen,
                           cairo_t      *cr,
                           const char   *font,
                           gboolean      dark,
                           double        width);
void    as_pen_clear      (AsPen        *pen);

/* The foreground colour (black or white) at ALPHA. */
void    as_pen_fg         (AsPen        *pen,
                           double        alpha);
/* MARKUP with its vertical centre at Y; ALIGN -1 right-aligned at X, 0
 * centred, 1 left-aligned. Returns its width. */
double  as_pen_text       (AsPen        *pen,
                           PangoLayout  *layout,
                           const char   *markup,
                           double        x,
                           double        y,
                           int           align);
/* MARKUP wrapped to WIDTH from (X, TOP); returns the height it took. With
 * DRAW FALSE only measures. */
double  as_pen_wrapped    (AsPen        *pen,
                           PangoLayout  *layout,
                           const char   *markup,
                           double        x,
                           double        top,
                           double        width,
                           gboolean      draw);
/* A horizontal rule across the picture at Y (between parts of a step). */
void    as_pen_rule       (AsPen        *pen,
                           double        y);

/* VALUES [n] as one row of cells on the blue-white-red scale over
 * [-RANGE, RANGE], (X, Y - H/2, W, H), framed. */
void    as_pen_strip      (AsPen        *pen,
                           const float  *values,
                           int           n,
                           double        range,
                           double        x,
                           double        y,
                           double        w,
                           double        h);
/* A signed bar centred on CX: right (red) for positive, left (blue) for
 * negative, HALF pixels for |V| = RANGE, a row of AS_PEN_ROW_H at Y. */
void    as_pen_signed_bar (AsPen        *pen,
                           double        cx,
                           double        y,
                           double        half,
                           double        v,
                           double        range);

/* V with four decimals, tiny values in exponent form, ±∞ as such. */
void    as_pen_format     (char         *buf,
                           gsize         len,
                           double        v);

G_END_DECLS
