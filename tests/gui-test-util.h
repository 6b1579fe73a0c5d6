/* gui-test-util.h — what every app suite under Xvfb shares: the real
 * application and window on the default model, the same model loaded
 * directly as the reference the window is checked against, and ways to let
 * the main loop run until something is true.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-application.h"
#include "as-backend.h"
#include "as-model.h"
#include "as-window.h"

G_BEGIN_DECLS

/* Loads the default model as *MODEL with a CPU backend *BACKEND (both NULL
 * when it is not downloaded), registers a non-unique application (its
 * startup installs resources, actions and accelerators) and returns its
 * window, opening the default model and shown. Call after gtk_init_check. */
AsWindow  *gui_test_start        (AsApplication **app,
                                  AsModel       **model,
                                  AsBackend     **backend);
void       gui_test_stop         (AsApplication  *app,
                                  AsWindow       *window,
                                  AsModel        *model,
                                  AsBackend      *backend);

/* FALSE, and the current test skipped with the reason, without a model. */
gboolean   gui_test_have_model   (AsModel        *model);

/* A GSourceFunc that sets the gboolean FLAG points to. */
gboolean   gui_test_flag_timeout (gpointer        flag);
/* Runs the main loop for MS milliseconds. */
void       gui_test_spin         (guint           ms);
/* Runs the main loop until COND (DATA) holds (asserting it does within
 * TIMEOUT_S), then a few frames more so the views paint what changed. */
void       gui_test_wait_until   (gboolean      (*cond) (gpointer),
                                  gpointer        data,
                                  guint           timeout_s);
/* Until WINDOW has the analysis of its current text on screen and no model
 * load is pending. */
void       gui_test_wait_idle    (AsWindow       *window,
                                  guint           timeout_s);

/* The artifacts folder ($AS_TEST_ARTIFACTS, else ./artifacts), created. */
char      *gui_test_artifacts_dir  (void);
/* The X screen's top-left 1400 x 900 (the window) as NAME in DIR (NULL:
 * the artifacts folder), with ImageMagick's import; nothing without it. */
void       gui_test_capture_screen (const char *dir,
                                    const char *name);

G_END_DECLS
