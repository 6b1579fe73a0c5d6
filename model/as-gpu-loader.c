/* as-gpu-loader.c — written by its issue; kept in the build list so the parallel
 * work on it needs no meson edits. */
#include <glib.h>
