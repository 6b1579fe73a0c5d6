/* as-projector.h — presenting with the window: projector zoom, full screen
 * and a presentation layout.
 *
 * Actions on the window, each with its key (class shortcuts, so they work
 * wherever the focus is):
 *   win.zoom-in (Ctrl+plus, Ctrl+=), win.zoom-out (Ctrl+minus),
 *   win.zoom-reset (Ctrl+0): the view state's zoom, which every view's
 *     drawing reads and the window's text follows (a CSS font scale);
 *     remembered across runs (as_view_state_remember_settings);
 *   win.fullscreen (F11): full screen on and off;
 *   win.present (F5): hides the model grid, the side pane, so the view on
 *     the right (heatmap, step by step, …) takes the whole width.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-window.h"

G_BEGIN_DECLS

/* From the window's class_init. */
void      as_projector_install_actions (GtkWidgetClass *window_class);
/* From the window's init, after its template and view state. */
void      as_projector_attach          (AsWindow       *window);

/* Whether WINDOW is in the presentation layout. */
gboolean  as_projector_get_presenting  (AsWindow       *window);
void      as_projector_set_presenting  (AsWindow       *window,
                                        gboolean        presenting);

G_END_DECLS
