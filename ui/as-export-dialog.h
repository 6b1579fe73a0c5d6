/* as-export-dialog.h — "Export…" and "Copy Image" for the window.
 *
 * Turns what the window shows (the analysis on screen, the selected layer and
 * head, the highlighted token, hide-special, renormalise, colour map, light
 * or dark) into figure options for the GTK-free renderer (as-figure.h), so an
 * exported file looks like the screen. Saving runs in a thread: a PDF of a
 * 12 x 12 grid at 512 tokens takes a while, and the window must not freeze.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-figure.h"
#include "as-view-state.h"

G_BEGIN_DECLS

/* OPTIONS for VIEW as the view state shows it. Strings point into STATE's
 * analysis and stay valid while it is on screen. */
void       as_export_options_from_state      (AsViewState     *state,
                                              AsFigureView     view,
                                              AsFigureOptions *options);

/* Saves VIEW of what STATE shows to PATH (format from the extension: .png,
 * .svg or .pdf) in a thread, then calls CALLBACK on the main thread; finish
 * with as_export_save_finish. Fails at once (through the callback) when the
 * analysis is not complete or the extension is unknown. */
void       as_export_save_async              (AsViewState         *state,
                                              AsFigureView         view,
                                              gboolean             annotate,
                                              const char          *path,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
gboolean   as_export_save_finish             (GAsyncResult        *result,
                                              GError             **error);

/* VIEW of what STATE shows as PNG data, for the clipboard. */
GBytes    *as_export_render_png              (AsViewState         *state,
                                              AsFigureView         view,
                                              GError             **error);

/* The file chooser: asks for a file name, the figure (head, layer, mean,
 * grid) and whether to print values in cells, then saves; DONE is called on
 * the main thread with the path written, or with the error (cancelled by the
 * user: no call). */
typedef void (*AsExportDone) (GtkWindow    *parent,
                              const char   *path,
                              const GError *error);

void       as_export_dialog_show             (GtkWindow           *parent,
                                              AsViewState         *state,
                                              AsFigureView         default_view,
                                              AsExportDone         done);

/* Writes OBJECT's drawing to PATH, the format from its extension. */
typedef gboolean (*AsExportSaveFunc) (gpointer     object,
                                      const char  *path,
                                      GError     **error);

/* The same chooser (format, folder, extension) for a drawing that is no
 * attention figure: asks for a file, then SAVE writes it (on the main
 * thread; OBJECT is held until then); DONE as above. */
void       as_export_drawing_dialog_show     (GtkWindow           *parent,
                                              const char          *title,
                                              const char          *suggested_name,
                                              AsExportSaveFunc     save,
                                              gpointer             object,
                                              AsExportDone         done);

G_END_DECLS
