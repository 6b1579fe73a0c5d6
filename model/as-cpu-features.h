/* as-cpu-features.h — which vector instructions the fast CPU path may use.
 *
 * The machines this runs on differ (AVX-512 on some, AVX2 only on others),
 * so kernels are picked at run time, once per process, from CPUID and from
 * what the operating system saves on a context switch (XGETBV): a CPU that
 * has AVX-512 under a kernel that does not save the zmm registers must not
 * use them.
 *
 * ATTNSCOPE_ISA=avx512|avx2|baseline forces a level (tests run the encoder
 * at every level the machine has); "auto" or unset takes the best. A level
 * the CPU lacks, or an unknown value, is refused: never a silent fallback
 * that would make such a test run something else than it says.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  AS_ISA_BASELINE,   /* whatever the compiler's default target has (SSE2 on x86-64) */
  AS_ISA_AVX2,       /* AVX2 + FMA */
  AS_ISA_AVX512,     /* AVX-512 F, BW, DQ, VL */
  AS_N_ISA
} AsIsa;

/* The levels this CPU and operating system can run, as bits 1 << AsIsa.
 * Baseline is always there. */
guint        as_cpu_isa_supported   (void);

/* "avx512", "avx2", "baseline": the names ATTNSCOPE_ISA takes. */
const char  *as_cpu_isa_name        (AsIsa        isa);

/* What a person reads: "AVX-512", "AVX2+FMA", "x86-64 baseline". */
const char  *as_cpu_isa_label       (AsIsa        isa);

/* The level VALUE asks for, given the levels in SUPPORTED (bits as
 * above). NULL, "" and "auto" take the best supported one. FALSE with
 * ERROR (AS_MODEL_ERROR_INPUT) for an unknown value or a level that is not
 * in SUPPORTED; the message names the variable, the value and the levels
 * there are. */
gboolean     as_cpu_isa_parse       (const char  *value,
                                     guint        supported,
                                     AsIsa       *isa,
                                     GError     **error);

/* as_cpu_isa_parse of $ATTNSCOPE_ISA on this machine. */
gboolean     as_cpu_isa_from_env    (AsIsa       *isa,
                                     GError     **error);

/* The level the fast path runs at, decided on the first call. A refused
 * ATTNSCOPE_ISA ends the process there (status 2, the reason on stderr):
 * every program and test that computes goes through here. */
AsIsa        as_cpu_isa             (void);

/* The processor's name: "model name" of /proc/cpuinfo, else CPUID's brand
 * string, else "unknown CPU". Never NULL; do not free. */
const char  *as_cpu_model_name      (void);

G_END_DECLS
