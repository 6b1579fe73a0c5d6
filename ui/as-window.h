/* as-window.h — the main window: sentence entries, token strip, model view
 * and head view, wired to one engine worker.
 */
#pragma once

#include <adwaita.h>

#include "as-head-view.h"
#include "as-model-grid.h"
#include "as-view-state.h"
#include "as-worker.h"

G_BEGIN_DECLS

/* The sentence shown on first start. */
#define AS_SAMPLE_SENTENCE "The animal didn't cross the street because it was too tired."
/* Tokens the Generate button adds unless told otherwise (greedy). */
#define AS_WINDOW_GENERATE_TOKENS 40

#define AS_TYPE_WINDOW (as_window_get_type ())
G_DECLARE_FINAL_TYPE (AsWindow, as_window, AS, WINDOW, AdwApplicationWindow)

AsWindow    *as_window_new            (GtkApplication *application);

/* Loads DIR in the background; the current model stays until it succeeds.
 * A new window has no model: the application opens the default one. */
void         as_window_open_model     (AsWindow   *self,
                                       const char *dir);
/* Opens the session file PATH (as-session.h): its model when it is not
 * the one open, then its texts, options and page, then, once the analysis
 * is on screen, its layer, head, token and teaching step. A file that
 * cannot be read, or whose model is not there, changes nothing: a dialog
 * says why, and FALSE is returned. */
gboolean     as_window_open_session   (AsWindow   *self,
                                       const char *path);
/* Replaces the sentences (TEXT_B may be NULL); analysis follows as if typed. */
void         as_window_set_text       (AsWindow   *self,
                                       const char *text_a,
                                       const char *text_b);

/* Reads the text file PATH, at most AS_TEXT_FILE_CAP bytes so that a huge
 * file or a device that never ends (/dev/zero) cannot fill the memory; a
 * pipe works. More is cut at a UTF-8 boundary (*CUT). NUL-terminated; its
 * bytes are not checked (*LENGTH, if not NULL, counts any NUL inside). */
#define AS_TEXT_FILE_CAP ((gsize) 1 << 20)
char        *as_read_text_file        (const char  *path,
                                       gsize       *length,
                                       gboolean    *cut,
                                       GError     **error);

/* For tests and the trace. */
AsWorker    *as_window_get_worker     (AsWindow   *self);
AsViewState *as_window_get_view_state (AsWindow   *self);
GtkEditable *as_window_get_entry_a    (AsWindow   *self);
GtkEditable *as_window_get_entry_b    (AsWindow   *self);
AsHeadView  *as_window_get_head_view  (AsWindow   *self);
AsModelGrid *as_window_get_model_grid (AsWindow   *self);
/* The right pane's pages: "head", "lines", "stats", "teach", "compare". */
GtkStack    *as_window_get_detail_stack (AsWindow *self);
/* The status line under the entries: what the user was told. */
const char  *as_window_get_status_text (AsWindow *self);
/* TRUE once the analysis of the current text has all its layers on screen
 * (in the view state) and nothing is pending. */
gboolean     as_window_is_idle        (AsWindow   *self);

G_END_DECLS
