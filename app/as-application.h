/* as-application.h — the AttnScope GtkApplication (libadwaita).
 *
 * Owns the app-wide actions (quit, about, dark style) and accelerators, and
 * opens a window on the default model, or on --model DIR with --text/--pair.
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define AS_APPLICATION_ID "io.github.attnscope.AttnScope"

#define AS_TYPE_APPLICATION (as_application_get_type ())
G_DECLARE_FINAL_TYPE (AsApplication, as_application, AS, APPLICATION, AdwApplication)

/* The locale from the environment, and the app's strings from the
 * catalogues in LOCALEDIR, or in $ATTNSCOPE_LOCALEDIR when set (one not
 * installed: a build tree's, the tests'). Before any string is shown. */
void           as_application_init_translations (void);
AsApplication *as_application_new (void);

G_END_DECLS
