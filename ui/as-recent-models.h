/* as-recent-models.h — the last few models and sessions opened, newest first.
 *
 * A key file in $XDG_CONFIG_HOME/attnscope/, not GSettings: the app runs from
 * the build tree without installing a schema. Models and sessions are two
 * lists of one file, read and written by the same code.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AS_RECENT_MODELS_MAX 6

/* Model folders and .gguf files that still exist, newest first (g_strfreev). */
char **as_recent_models_load   (void);
/* Moves DIR to the front and saves. */
void   as_recent_models_add    (const char *dir);

/* Session files (.attnscope) that still exist, newest first (g_strfreev). */
char **as_recent_sessions_load (void);
/* Moves PATH to the front and saves. */
void   as_recent_sessions_add  (const char *path);

G_END_DECLS
