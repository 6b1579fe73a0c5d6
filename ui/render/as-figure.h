/* as-figure.h — whole attention figures, drawn and saved without GTK.
 *
 * Four views on top of the heatmap renderer: one matrix with its token labels
 * (a head, or its layer's mean or max, or rollout), a layer as a row of
 * heads, the layers x heads grid, and the head-average of a layer. Each comes with a title line (model, layer, head, text) and a
 * colour bar. The same drawing goes to the screen (as_figure_render), to
 * PNG/SVG/PDF files (as_figure_save) and to the clipboard
 * (as_figure_render_png).
 *
 * Layers and heads are 0-based here, as in the engine; titles show them
 * 1-based, as the CLI and the app do.
 */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "as-attention.h"
#include "as-output-file.h"
#include "as-heatmap-render.h"
#include "as-shown.h"

G_BEGIN_DECLS

#define AS_FIGURE_ERROR (as_figure_error_quark ())
GQuark as_figure_error_quark (void);

typedef enum {
  AS_FIGURE_ERROR_INVALID,   /* options the input cannot satisfy */
  AS_FIGURE_ERROR_FAILED,    /* Cairo could not draw or encode */
} AsFigureError;

typedef enum {
  AS_FIGURE_HEAD,     /* one head, token labels, colour bar */
  AS_FIGURE_LAYER,    /* all heads of one layer side by side */
  AS_FIGURE_GRID,     /* every layer x head as thumbnails */
  AS_FIGURE_MEAN,     /* the mean over the heads of one layer */
  AS_N_FIGURE_VIEWS
} AsFigureView;

typedef enum {
  AS_UNIT_PX,
  AS_UNIT_PT,
} AsFigureUnit;

typedef enum {
  AS_FORMAT_AUTO,     /* from the file name's extension */
  AS_FORMAT_PNG,
  AS_FORMAT_SVG,
  AS_FORMAT_PDF,
} AsFigureFormat;

/* Rows, columns and cells are attention as shown (as-shown.h): LAYER, HEAD,
 * AGGREGATE, HIDE_SPECIAL, RENORMALISE, WORD_LEVEL and SENTENCE are the
 * fields of an AsShownSpec (as_figure_options_set_shown copies one in). */
typedef struct {
  AsFigureView  view;
  int           layer;         /* 0-based; head, layer and mean views (rollout: through it) */
  int           head;          /* 0-based; head view with aggregate head */
  AsColormapId  colormap;
  gboolean      annotate;      /* values in cells large enough to hold them */
  gboolean      hide_special;  /* leave out [CLS]/[SEP]-class rows and columns */
  gboolean      renormalise;   /* when rows or columns are left out, rows sum to 1
                                * again (default TRUE) */
  gboolean      word_level;    /* merge ## pieces into words */
  AsShownAggregate aggregate;  /* what the head view draws: one head (default),
                                * the layer's mean or max, or rollout; the layer
                                * and grid views always draw single heads */
  AsShownSentence sentence;    /* only sentence A or B of a pair (default all) */
  double        width;         /* in UNIT; 0 = the view's default */
  double        height;        /* in UNIT; 0 = the view's default (or WIDTH's aspect) */
  AsFigureUnit  unit;
  double        dpi;           /* pixels per inch, to convert px <-> pt (default 96) */
  gboolean      dark;          /* dark background, light text */
  gboolean      title;         /* draw the title line (default TRUE) */
  int           highlight_token; /* token (encoding index) whose row and column
                                  * are outlined, as the app highlights it; -1 none */
  const char   *model_name;    /* for the title; NULL for none */
  const char   *text_a;        /* the input, for the title and word labels; may be NULL */
  const char   *text_b;        /* the pair's second text, or NULL */
  const char   *font;          /* Pango family, NULL = "Sans" */
  double        font_size;     /* base text size in UNIT; 0 = from the figure size */
  gboolean      fit_scale;     /* head view: colour scale 0 .. the matrix's largest
                                * value (as the app shows long inputs), not 0 .. 1;
                                * the colour bar says which */
} AsFigureOptions;

/* Where one heatmap of a figure landed, for hit-testing and tests. */
typedef struct {
  int             layer;
  int             head;        /* -1 when the panel is not one head (mean, max, rollout) */
  int             n;           /* rows = columns (after merging/hiding) */
  AsHeatmapLayout layout;      /* in the figure's user units */
} AsFigurePanel;

void            as_figure_options_init   (AsFigureOptions *options);

const char     *as_figure_view_name      (AsFigureView     view);
/* -1 for an unknown name ("head", "layer", "grid", "mean"). */
int             as_figure_view_from_name (const char      *name);
const char     *as_figure_format_name    (AsFigureFormat   format);
/* -1 for an unknown name ("png", "svg", "pdf"). */
int             as_figure_format_from_name (const char    *name);
/* From PATH's extension; AS_FORMAT_AUTO when it has none we know. */
AsFigureFormat  as_figure_format_from_path (const char    *path);

/* FALSE, with a message, when OPTIONS ask for a layer or head ATTENTION
 * does not have, or nothing is left to draw. */
gboolean        as_figure_check          (const AsAnalysis       *attention,
                                          const AsFigureOptions  *options,
                                          GError                **error);

/* The figure's size in OPTIONS->unit: the options' own, else the view's
 * default (when only one is given, the other keeps the default's aspect). */
void            as_figure_get_size       (const AsAnalysis      *attention,
                                          const AsFigureOptions *options,
                                          double                *width,
                                          double                *height);

/* Draws the figure, background included, into (0, 0, WIDTH, HEIGHT) of CR.
 * MODE: AS_CELLS_IMAGE for screens and PNG, AS_CELLS_VECTOR for SVG/PDF.
 * Appends one AsFigurePanel per heatmap to PANELS when it is not NULL. */
gboolean        as_figure_render         (cairo_t                *cr,
                                          const AsAnalysis       *attention,
                                          const AsFigureOptions  *options,
                                          AsCellMode              mode,
                                          double                  width,
                                          double                  height,
                                          GArray                 *panels,
                                          GError                **error);

/* Writes the figure to PATH ("-" = standard output) as FORMAT (AUTO: from
 * the extension) through as-output-file: it appears whole or not at all, a
 * failure leaves nothing behind, and the error names the path. PATH is
 * refused when it is one of PROTECT (NULL-terminated, may be NULL: the
 * loaded model's files, which an export must never replace). PANELS as
 * for as_figure_render, in the file's units (pixels for PNG, the SVG's own
 * units, points for PDF). */
gboolean        as_figure_save           (const AsAnalysis       *attention,
                                          const AsFigureOptions  *options,
                                          const char             *path,
                                          const char * const     *protect,
                                          AsFigureFormat          format,
                                          GArray                 *panels,
                                          GError                **error);

/* Draws the figure into OUT, already open (callers that must check or
 * protect the destination before long work), as FORMAT (not AUTO). Neither
 * commits nor aborts OUT. */
gboolean        as_figure_write          (const AsAnalysis       *attention,
                                          const AsFigureOptions  *options,
                                          AsOutputFile           *out,
                                          AsFigureFormat          format,
                                          GArray                 *panels,
                                          GError                **error);

/* The figure as PNG data in memory ("Copy Image"). */
GBytes         *as_figure_render_png     (const AsAnalysis       *attention,
                                          const AsFigureOptions  *options,
                                          GError                **error);

/* What OPTIONS' rows, columns and cells come from: OPTIONS get SPEC's
 * layer, head, aggregate, hide_special, renormalise, words and sentence, so
 * a figure shows what a view with SPEC shows. */
void            as_figure_options_set_shown (AsFigureOptions   *options,
                                             const AsShownSpec *spec);
/* The spec of the panel of HEAD (-1: the single panel of the head and mean
 * views, which draw OPTIONS' aggregate and the mean respectively). */
void            as_figure_options_get_shown (const AsFigureOptions *options,
                                             int                    head,
                                             AsShownSpec           *spec);
/* The single panel of the head or mean view as drawn: values and labels
 * (the same call the renderer makes). NULL, with a message, as
 * as_figure_check. */
AsShown        *as_figure_shown          (const AsAnalysis       *attention,
                                          const AsFigureOptions  *options,
                                          GError                **error);

/* Figures of something other than attention (the logit lens): DRAW paints
 * a WIDTH x HEIGHT picture (pixels at 96 per inch) onto CR, in MODE
 * (AS_CELLS_IMAGE for PNG, AS_CELLS_VECTOR for SVG/PDF); FALSE, with a
 * message, when it cannot. */
typedef gboolean (*AsFigureDrawFunc) (cairo_t     *cr,
                                      AsCellMode   mode,
                                      double       width,
                                      double       height,
                                      gpointer     data,
                                      GError     **error);

/* Writes DRAW's picture to PATH as FORMAT (AUTO: from the extension) the
 * way as_figure_save writes a figure: whole or not at all, never over one
 * of PROTECT. */
gboolean        as_figure_save_drawing   (const char             *path,
                                          const char * const     *protect,
                                          AsFigureFormat          format,
                                          double                  width,
                                          double                  height,
                                          AsFigureDrawFunc        draw,
                                          gpointer                data,
                                          GError                **error);

G_END_DECLS
