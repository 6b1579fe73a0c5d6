/* as-main.c — the attnscope desktop app. */
#include "as-application.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(AsApplication) app = as_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
