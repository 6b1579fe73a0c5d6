/* as-cli-bench.h — the parts of `attnscope-cli bench` in files of their own. */
#pragma once

#include <glib.h>

#include "as-backend.h"
#include "as-decode-deviation.h"

G_BEGIN_DECLS

/* Seconds on the monotonic clock. */
double   as_cli_bench_now_s  (void);
/* The median of COUNT values (NAN for none); sorts V. */
double   as_cli_bench_median (double *v,
                              int     count);

/* Decoding speed: a prompt of CONTEXT tokens fills the key/value cache,
 * then STEPS greedy tokens are appended one at a time, every layer's
 * attention row of each copied out as a viewer keeps it. */
typedef struct {
  int      context;       /* prompt tokens: the cache when the timed steps start */
  int      steps;         /* tokens appended per run */
  int      runs;          /* timed runs (after one untimed) */
  AsDecodeWeights weights; /* what the steps read (--weights; auto resolved once run) */
  double   prompt_ms;     /* median prompt pass (cache filled, logits out) */
  double   step_ms;       /* median time of one appended token, rows delivered */
  double   step_min_ms;
  gboolean cached;        /* FALSE: the backend reruns the whole forward per token */
  double   weight_mb;     /* weights a step reads: every layer's and the output
                           * embedding, MB (1e6 bytes) */
  double   stream_ms;     /* the machine's floor for that: OpenBLAS sgemv over a matrix
                           * of as many bytes, same threads, median of 7 */
  AsDecodeDeviation deviation; /* block weights: the timed tokens again, against fp32 */
} AsBenchDecode;

/* Times D->steps steps after the prompt IDS [D->context], D->runs times;
 * fills the times. */
gboolean as_cli_bench_decode (AsBackend     *backend,
                              const int     *ids,
                              AsBenchDecode *d,
                              GError       **error);

G_END_DECLS
