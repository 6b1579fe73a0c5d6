/* as-view-state.h — what the views show, shared by the window's widgets.
 *
 * One object holds the analysis on screen, how far it has streamed in, the
 * selection (layer, head, token) and the display options. The token strip,
 * the model grid and the head view all watch it, so a click in one is seen
 * by the others without them knowing each other.
 *
 * What the matrices show is attention as shown (as-shown.h): the state's
 * selection and options make an AsShownSpec, and every view asks the state
 * for its rows, labels and matrices, which come from as-shown alone.
 */
#pragma once

#include <gio/gio.h>

#include "as-colormap.h"
#include "as-heatmap-render.h"
#include "as-shown.h"
#include "as-worker.h"

G_BEGIN_DECLS

/* AsShownAggregate as a GEnum (nicks "head", "mean", "max", "rollout"). */
#define AS_TYPE_SHOWN_AGGREGATE (as_shown_aggregate_get_type ())
GType as_shown_aggregate_get_type (void) G_GNUC_CONST;

#define AS_TYPE_VIEW_STATE (as_view_state_get_type ())
G_DECLARE_FINAL_TYPE (AsViewState, as_view_state, AS, VIEW_STATE, GObject)

AsViewState  *as_view_state_new              (void);

/* The analysis on screen (NULL before the first). Setting it keeps the
 * selection where it can (clamped to the new shape). */
AsAnalysis   *as_view_state_get_analysis     (AsViewState *self);
void          as_view_state_set_analysis     (AsViewState *self,
                                              AsAnalysis  *analysis);
/* Layers of the analysis that may be drawn; emits ::layer-added. */
int           as_view_state_get_layers_ready (AsViewState *self);
void          as_view_state_layer_added      (AsViewState *self,
                                              int          layer);

int           as_view_state_get_layer        (AsViewState *self);
void          as_view_state_set_layer        (AsViewState *self,
                                              int          layer);
int           as_view_state_get_head         (AsViewState *self);
void          as_view_state_set_head         (AsViewState *self,
                                              int          head);
void          as_view_state_select           (AsViewState *self,
                                              int          layer,
                                              int          head);
/* Moves the selection by DLAYER, DHEAD, clamped. */
void          as_view_state_move             (AsViewState *self,
                                              int          dlayer,
                                              int          dhead);
/* Selected token (index into the encoding), -1 for none. */
int           as_view_state_get_token        (AsViewState *self);
void          as_view_state_set_token        (AsViewState *self,
                                              int          token);

AsColormapId  as_view_state_get_colormap     (AsViewState *self);
void          as_view_state_set_colormap     (AsViewState *self,
                                              AsColormapId colormap);
gboolean      as_view_state_get_hide_special (AsViewState *self);
void          as_view_state_set_hide_special (AsViewState *self,
                                              gboolean     hide);
gboolean      as_view_state_get_renormalise  (AsViewState *self);
void          as_view_state_set_renormalise  (AsViewState *self,
                                              gboolean     renorm);
/* The head view's colour scale: fitted to the matrix (TRUE, the default:
 * long inputs spread each row over hundreds of keys; as_heatmap_robust_max)
 * or 0 .. 1 (FALSE). The colour bar says which. */
gboolean      as_view_state_get_fit_scale    (AsViewState *self);
void          as_view_state_set_fit_scale    (AsViewState *self,
                                              gboolean     fit);
gboolean      as_view_state_get_dark         (AsViewState *self);
void          as_view_state_set_dark         (AsViewState *self,
                                              gboolean     dark);

/* Projector mode: one factor every view multiplies its text and cells by
 * (property "zoom", AS_VIEW_ZOOM_MIN .. AS_VIEW_ZOOM_MAX, 1 = normal). */
#define AS_VIEW_ZOOM_MIN 0.5
#define AS_VIEW_ZOOM_MAX 3.0
double        as_view_state_get_zoom         (AsViewState *self);
void          as_view_state_set_zoom         (AsViewState *self,
                                              double       zoom);
/* One step in (DIRECTION > 0), out (< 0), or back to 1 (0). */
void          as_view_state_zoom_step        (AsViewState *self,
                                              int          direction);
/* Reads the zoom saved in the user's settings file (attnscope/settings.ini
 * in the config folder) and saves it there from now on whenever it
 * changes. The window's state calls this; others stay unremembered. */
void          as_view_state_remember_settings (AsViewState *self);

/* What the head view and the lines view show: one head, the mean or max
 * of the selected layer's heads, or rollout through it (property
 * "aggregate", AS_TYPE_SHOWN_AGGREGATE); word pieces merged into words
 * (property "words"). */
AsShownAggregate
              as_view_state_get_aggregate    (AsViewState *self);
void          as_view_state_set_aggregate    (AsViewState *self,
                                              AsShownAggregate aggregate);
gboolean      as_view_state_get_words        (AsViewState *self);
void          as_view_state_set_words        (AsViewState *self,
                                              gboolean     words);
/* Where in sentence A (a byte offset) the text the model wrote begins:
 * the prompt's end, set when generation starts and kept while its text
 * grows only by generation; -1 (the default) when none of it is the
 * model's. */
int           as_view_state_get_generated_from (AsViewState *self);
void          as_view_state_set_generated_from (AsViewState *self,
                                                int          byte);
/* Whether token I of the analysis is one the model wrote. */
gboolean      as_view_state_token_is_generated (AsViewState *self,
                                                int          i);
/* Stateful actions for the two: "aggregate" (string state and parameter:
 * head, mean, max, rollout) and "words" (boolean), for widgets to insert as
 * the "view" group, so buttons with action-name view.aggregate and
 * view.words drive the state. Owned by SELF. */
GActionGroup *as_view_state_get_actions      (AsViewState *self);

/* Head statistics of the analysis, shared by every view of this state
 * (as-stats-cache.h), made on first use. Owned by SELF. */
typedef struct _AsStatsCache AsStatsCache;
AsStatsCache *as_view_state_get_stats_cache  (AsViewState *self);

/* What the head view shows, as a spec: the selection, aggregate, words,
 * hide-special and renormalise. Export uses it so the file is the screen. */
void          as_view_state_get_spec         (AsViewState *self,
                                              AsShownSpec *spec);

/* Rows and columns as shown (NULL before the first analysis): labels, the
 * tokens each covers, and the row of each token. They change with the
 * analysis, hide-special and words. */
const AsShownTokens *
              as_view_state_get_tokens       (AsViewState *self);
/* The same, flat: the first token of each shown row and the labels
 * (NULL-terminated, owned by SELF). */
const int    *as_view_state_get_visible      (AsViewState *self,
                                              int         *n_visible);
const char * const *
              as_view_state_get_labels       (AsViewState *self);
/* The row holding TOKEN (a word's pieces share one), -1 when hidden. */
int           as_view_state_visible_index    (AsViewState *self,
                                              int          token);

/* The matrix of AGGREGATE at LAYER (HEAD for AS_SHOWN_HEAD) as shown:
 * n_visible x n_visible floats into OUT. FALSE when a layer it needs is not
 * in yet (rollout needs every layer up to LAYER). */
gboolean      as_view_state_extract_shown    (AsViewState *self,
                                              AsShownAggregate aggregate,
                                              int          layer,
                                              int          head,
                                              float       *out);
/* The head view's heatmap of VALUES (the n_visible x n_visible matrix from
 * as_view_state_extract_shown): labels as shown, the colour scale (0 .. 1,
 * or fitted with fit-scale, named on the colour bar),
 * colour map, dark or light,
 * the selected token highlighted, with its colour bar. The labels point
 * into the state; the font is left to the caller. */
void          as_view_state_head_spec        (AsViewState   *self,
                                              const float   *values,
                                              AsHeatmapSpec *spec);
/* as_view_state_extract_shown of one head. */
gboolean      as_view_state_extract          (AsViewState *self,
                                              int          layer,
                                              int          head,
                                              float       *out);

G_END_DECLS
