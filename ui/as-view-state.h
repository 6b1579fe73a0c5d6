/* as-view-state.h — what the views show, shared by the window's widgets.
 *
 * One object holds the analysis on screen, how far it has streamed in, the
 * selection (layer, head, token) and the display options. The token strip,
 * the model grid and the head view all watch it, so a click in one is seen
 * by the others without them knowing each other.
 */
#pragma once

#include <glib-object.h>

#include "as-colormap.h"
#include "as-worker.h"

G_BEGIN_DECLS

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
/* The head view's colour scale: 0 .. 1 (FALSE), or 0 .. the head's largest
 * value (TRUE), which long inputs need to be legible. */
gboolean      as_view_state_get_fit_scale    (AsViewState *self);
void          as_view_state_set_fit_scale    (AsViewState *self,
                                              gboolean     fit);
gboolean      as_view_state_get_dark         (AsViewState *self);
void          as_view_state_set_dark         (AsViewState *self,
                                              gboolean     dark);

/* The tokens shown on the axes: indices into the encoding and their labels
 * (NULL-terminated, owned by SELF). Both change with the analysis and with
 * hide-special. */
const int    *as_view_state_get_visible      (AsViewState *self,
                                              int         *n_visible);
const char * const *
              as_view_state_get_labels       (AsViewState *self);
/* Position of TOKEN among the visible ones, -1 when hidden. */
int           as_view_state_visible_index    (AsViewState *self,
                                              int          token);

/* The matrix of LAYER, HEAD as shown (visible tokens, renormalised if asked):
 * n_visible x n_visible floats into OUT. FALSE when the layer is not in. */
gboolean      as_view_state_extract          (AsViewState *self,
                                              int          layer,
                                              int          head,
                                              float       *out);

G_END_DECLS
