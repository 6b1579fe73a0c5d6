/* as-main.c — the attnscope desktop app. */
#include "as-application.h"

int
main (int   argc,
      char *argv[])
{
  /* Before the options are parsed: --help is translated too. */
  as_application_init_translations ();
  g_autoptr(AsApplication) app = as_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
