/* isa-probe.c — can this machine run the fast path at kernel level LEVEL?
 *
 *   isa-probe LEVEL     exit 0; or exit 1 with the reason on stdout
 *
 * run-at-isa.sh asks before it runs an encoder suite with ATTNSCOPE_ISA
 * forced, so a CPU without AVX-512 skips that run with the reason instead
 * of failing it.
 */
#include <stdio.h>

#include "as-cpu-features.h"

int
main (int    argc,
      char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: isa-probe avx512|avx2|baseline\n");
      return 2;
    }
  AsIsa isa;
  GError *error = NULL;
  if (as_cpu_isa_parse (argv[1], as_cpu_isa_supported (), &isa, &error))
    return 0;
  printf ("%s\n", error->message);
  g_error_free (error);
  return 1;
}
