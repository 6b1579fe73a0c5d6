/* as-lens-view.h — the logit lens of the analysis on screen.
 *
 * For a decoder: layers x positions, each cell the token the residual
 * stream after that layer predicts next at that position, coloured by its
 * probability (as-lens-render.h draws it, for the screen and for export).
 * The worker computes the lens after the analysis (::lens-ready); until
 * then, and for an encoder, a line says why there is none. A click or the
 * arrow keys select a cell; the line below lists its top tokens.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-export-dialog.h"
#include "as-view-state.h"
#include "as-worker.h"

G_BEGIN_DECLS

#define AS_TYPE_LENS_VIEW (as_lens_view_get_type ())
G_DECLARE_FINAL_TYPE (AsLensView, as_lens_view, AS, LENS_VIEW, GtkWidget)

GtkWidget    *as_lens_view_new            (void);
/* The "view-state" (the analysis on screen) and "worker" (its lens) properties. */
void          as_lens_view_set_view_state (AsLensView   *self,
                                           AsViewState  *state);
void          as_lens_view_set_worker     (AsLensView   *self,
                                           AsWorker     *worker);
/* The lens on screen, or NULL while there is none. */
AsWorkerLens *as_lens_view_get_lens       (AsLensView   *self);
/* The selected cell: layer (0-based, the model's) and position; FALSE
 * while there is no lens. */
gboolean      as_lens_view_get_selected   (AsLensView   *self,
                                           int          *layer,
                                           int          *pos);
void          as_lens_view_select         (AsLensView   *self,
                                           int           layer,
                                           int           pos);
/* The centre of cell (LAYER, POS) in the coordinates of the drawing
 * (as_lens_view_get_area); FALSE without a lens or out of range. */
gboolean      as_lens_view_cell_center    (AsLensView   *self,
                                           int           layer,
                                           int           pos,
                                           double       *x,
                                           double       *y);
GtkWidget    *as_lens_view_get_area       (AsLensView   *self);
/* The line above the lens and the selected cell's top-k line. */
const char   *as_lens_view_get_caption    (AsLensView   *self);
const char   *as_lens_view_get_top_text   (AsLensView   *self);
/* Writes the lens as shown (colour map, light or dark, selection) to PATH
 * (.png, .svg or .pdf). */
gboolean      as_lens_view_save           (AsLensView   *self,
                                           const char   *path,
                                           GError      **error);
/* Asks for a file name and format (as_export_drawing_dialog_show), then
 * saves; DONE as for the export dialog. */
void          as_lens_view_export_dialog  (AsLensView   *self,
                                           GtkWindow    *parent,
                                           AsExportDone  done);

G_END_DECLS
