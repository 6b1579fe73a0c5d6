/* as-cpu-features.c — CPUID and XGETBV, and the ATTNSCOPE_ISA switch. */
#include "as-cpu-features.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as-error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#define AS_X86 1
#else
#define AS_X86 0
#endif

static const char *const names[AS_N_ISA] = { "baseline", "avx2", "avx512" };

#if AS_X86
static const char *const labels[AS_N_ISA] = { "x86-64 baseline", "AVX2+FMA", "AVX-512" };

/* Register state the OS saves (XCR0); only to be read when CPUID says
 * OSXSAVE. */
static guint64
read_xcr0 (void)
{
  guint32 lo, hi;
  __asm__ volatile ("xgetbv" : "=a" (lo), "=d" (hi) : "c" (0));
  return ((guint64) hi << 32) | lo;
}

static guint
detect (void)
{
  guint found = 1u << AS_ISA_BASELINE;
  unsigned a, b, c, d;
  if (!__get_cpuid (1, &a, &b, &c, &d))
    return found;
  const gboolean fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
  if (!osxsave || !avx)
    return found;
  const guint64 xcr0 = read_xcr0 ();
  const gboolean ymm_saved = (xcr0 & 0x6) == 0x6;            /* SSE + AVX state */
  const gboolean zmm_saved = ymm_saved && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
  if (!__get_cpuid_count (7, 0, &a, &b, &c, &d))
    return found;
  const gboolean avx2 = (b >> 5) & 1;
  const gboolean avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) &&   /* F, DQ */
                          ((b >> 30) & 1) && ((b >> 31) & 1);     /* BW, VL */
  if (avx2 && fma && ymm_saved)
    {
      found |= 1u << AS_ISA_AVX2;
      if (avx512 && zmm_saved)
        found |= 1u << AS_ISA_AVX512;
    }
  return found;
}
#else
static const char *const labels[AS_N_ISA] = { "portable C", "AVX2+FMA", "AVX-512" };

static guint
detect (void)
{
  return 1u << AS_ISA_BASELINE;
}
#endif

guint
as_cpu_isa_supported (void)
{
  static gsize once = 0;
  static guint found;
  if (g_once_init_enter (&once))
    {
      found = detect ();
      g_once_init_leave (&once, 1);
    }
  return found;
}

const char *
as_cpu_isa_name (AsIsa isa)
{
  g_return_val_if_fail (isa < AS_N_ISA, "?");
  return names[isa];
}

const char *
as_cpu_isa_label (AsIsa isa)
{
  g_return_val_if_fail (isa < AS_N_ISA, "?");
  return labels[isa];
}

/* "avx2, baseline": the levels in SUPPORTED, best first. */
static char *
list_levels (guint supported)
{
  GString *s = g_string_new (NULL);
  for (int i = AS_N_ISA - 1; i >= 0; i--)
    if (supported & (1u << i))
      g_string_append_printf (s, "%s%s", s->len ? ", " : "", names[i]);
  return g_string_free (s, FALSE);
}

gboolean
as_cpu_isa_parse (const char  *value,
                  guint        supported,
                  AsIsa       *isa,
                  GError     **error)
{
  supported |= 1u << AS_ISA_BASELINE;
  if (value == NULL || *value == '\0' || strcmp (value, "auto") == 0)
    {
      for (int i = AS_N_ISA - 1; i >= 0; i--)
        if (supported & (1u << i))
          {
            *isa = (AsIsa) i;
            return TRUE;
          }
    }
  for (int i = 0; i < AS_N_ISA; i++)
    if (strcmp (value, names[i]) == 0)
      {
        if (supported & (1u << i))
          {
            *isa = (AsIsa) i;
            return TRUE;
          }
        g_autofree char *have = list_levels (supported);
        g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                     "ATTNSCOPE_ISA=%s: this CPU (or its operating system) cannot run %s "
                     "kernels; it can run: %s", value, labels[i], have);
        return FALSE;
      }
  g_autofree char *have = list_levels (supported);
  g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
               "ATTNSCOPE_ISA=%s: unknown kernel level (avx512, avx2, baseline or auto; "
               "this CPU can run: %s)", value, have);
  return FALSE;
}

gboolean
as_cpu_isa_from_env (AsIsa   *isa,
                     GError **error)
{
  return as_cpu_isa_parse (g_getenv ("ATTNSCOPE_ISA"), as_cpu_isa_supported (), isa, error);
}

AsIsa
as_cpu_isa (void)
{
  static gsize once = 0;
  static AsIsa chosen;
  if (g_once_init_enter (&once))
    {
      GError *error = NULL;
      if (!as_cpu_isa_from_env (&chosen, &error))
        {
          /* Running other kernels than the ones asked for would make a
           * test or a benchmark say something false. */
          fprintf (stderr, "%s: error: %s\n", g_get_prgname () ? g_get_prgname () : "attnscope",
                   error->message);
          exit (2);
        }
      g_once_init_leave (&once, 1);
    }
  return chosen;
}

#if AS_X86
static char *
cpuid_brand (void)
{
  unsigned regs[12];
  unsigned a, b, c, d;
  if (!__get_cpuid (0x80000000, &a, &b, &c, &d) || a < 0x80000004)
    return NULL;
  for (unsigned leaf = 0; leaf < 3; leaf++)
    __get_cpuid (0x80000002 + leaf, &regs[4 * leaf], &regs[4 * leaf + 1],
                 &regs[4 * leaf + 2], &regs[4 * leaf + 3]);
  char *brand = g_strndup ((const char *) regs, sizeof regs);
  return *g_strstrip (brand) ? brand : (g_free (brand), NULL);
}
#endif

static char *
cpuinfo_model (void)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL))
    return NULL;
  for (char *line = text; line != NULL && *line; )
    {
      char *next = strchr (line, '\n');
      if (next != NULL)
        *next++ = '\0';
      if (g_str_has_prefix (line, "model name"))
        {
          char *colon = strchr (line, ':');
          if (colon != NULL && *g_strstrip (colon + 1))
            return g_strdup (colon + 1);
        }
      line = next;
    }
  return NULL;
}

const char *
as_cpu_model_name (void)
{
  static gsize once = 0;
  static char *name;
  if (g_once_init_enter (&once))
    {
      name = cpuinfo_model ();
#if AS_X86
      if (name == NULL)
        name = cpuid_brand ();
#endif
      if (name == NULL)
        name = g_strdup ("unknown CPU");
      g_once_init_leave (&once, 1);
    }
  return name;
}
