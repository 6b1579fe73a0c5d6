/* as-recent-models.h — the last few model folders opened, newest first.
 *
 * A key file in $XDG_CONFIG_HOME/attnscope/, not GSettings: the app runs from
 * the build tree without installing a schema.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AS_RECENT_MODELS_MAX 6

/* Folders that still exist, newest first (g_strfreev). */
char **as_recent_models_load (void);
/* Moves DIR to the front and saves. */
void   as_recent_models_add  (const char *dir);

G_END_DECLS
