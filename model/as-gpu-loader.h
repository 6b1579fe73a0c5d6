/* as-gpu-loader.h — choose a device: the CUDA plugin when it works, else the CPU.
 *
 * The CUDA backend lives in a plugin (gpu/, libattnscope-cuda.so) loaded at
 * run time with GModule, so programs start on machines without CUDA. It is
 * looked for in $ATTNSCOPE_PLUGIN_DIR, then beside the running program
 * (../gpu of a build tree's app/ or tests/, ../LIBDIR/attnscope or
 * ../lib/attnscope of an installed bin/), then the build tree and install
 * folder fixed at configure time, so a tree copied to another machine finds
 * its own plugin.
 *
 * as_backend_open () never leaves the caller without a backend: when the GPU
 * was asked for (or AUTO) and cannot be used — plugin missing or not loadable,
 * no driver, no device, not enough memory for the weights — it returns the
 * CPU backend and a NOTICE that says why. Where a GPU is expected (a GPU
 * server's test and benchmark runs), ATTNSCOPE_REQUIRE_GPU=1 makes that an
 * error instead, so a broken GPU cannot pass for a slow one.
 *
 * Out of memory (or any CUDA failure) during a pass: the GPU backend switches
 * itself to the CPU for good, tells options->on_notice (or logs a message),
 * and, when no layer had been handed to the caller yet — always the case for
 * out of memory, which can only happen while the pass allocates its buffers —
 * runs the same request on the CPU, so the caller sees a normal result. If
 * layers had already been handed over, the pass fails with AS_GPU_ERROR and
 * the caller runs the request again (the backend is now the CPU one):
 *
 *   if (!as_backend_forward (backend, &req, hidden, &error) &&
 *       g_error_matches (error, AS_GPU_ERROR, AS_GPU_ERROR_FAILED))
 *     {  // as_backend_get_name (backend) is now "cpu"
 *       g_clear_error (&error);
 *       as_backend_forward (backend, &req, hidden, &error);
 *     }
 *
 * Llama-family decoders run on the plugin too, in fp32 or tf32 (16-bit
 * precisions fall back to the CPU with a notice), with the decode_* ops of
 * as-backend.h: each AsDecoder's key/value cache lives on the device. A cache
 * that cannot be allocated (out of memory) switches the backend to the CPU
 * before the prompt, which then runs there; a failure during a step switches
 * too and fails the step (as-decode.h then wants the prompt again). GPT-2 is
 * refused by name (the CPU with a notice).
 *
 * Testing: ATTNSCOPE_GPU_FORCE_FAIL=plugin|driver|device|oom-load|oom-run
 * forces each failure, also on machines without a GPU (oom-load and oom-run
 * are simulated there). Where a GPU exists they are injected where they would
 * really happen (the weight upload, the first pass's buffers).
 */
#pragma once

#include <glib.h>

#include "as-backend.h"
#include "as-model.h"

G_BEGIN_DECLS

typedef enum {
  AS_DEVICE_AUTO,   /* the GPU when one works, else the CPU */
  AS_DEVICE_CPU,
  AS_DEVICE_GPU,    /* the GPU; the CPU with a notice when it cannot be used */
} AsDevice;

typedef enum {
  AS_PRECISION_FP32,  /* default: fp32 GEMMs, TF32 off; GPU = CPU within 1e-5 */
  AS_PRECISION_TF32,  /* TF32 tensor-core GEMMs (about 1e-3 on attention) */
  AS_PRECISION_FP16,  /* fp16 GEMM operands, fp32 accumulate */
  AS_PRECISION_BF16,  /* bf16 GEMM operands, fp32 accumulate */
} AsPrecision;

#define AS_GPU_ERROR (as_gpu_error_quark ())

/* "Falling back to the CPU is a failure here." */
#define AS_REQUIRE_GPU_ENV "ATTNSCOPE_REQUIRE_GPU"

typedef enum {
  AS_GPU_ERROR_PLUGIN,         /* plugin not found, not loadable, or another version */
  AS_GPU_ERROR_NO_DRIVER,      /* no NVIDIA driver / too old (cudaErrorInsufficientDriver) */
  AS_GPU_ERROR_NO_DEVICE,      /* no CUDA device, or none this build runs on (< sm_80) */
  AS_GPU_ERROR_OUT_OF_MEMORY,  /* device or pinned memory exhausted */
  AS_GPU_ERROR_FAILED,         /* any other CUDA or cuBLAS error */
} AsGpuError;

GQuark as_gpu_error_quark (void);

/* Called with a one-line explanation when a GPU backend switches to the CPU
 * during a pass; runs on the thread that called forward / layer_qkv. */
typedef void (*AsNoticeFunc) (const char *notice,
                              gpointer    user_data);

/* An AsNoticeFunc that prints "PROGRAM: note: NOTICE" on stderr, PROGRAM
 * being USER_DATA (a string) or g_get_prgname (). */
void as_notice_to_stderr (const char *notice,
                          gpointer    user_data);

typedef struct {
  AsPrecision  precision;     /* AS_PRECISION_FP32 unless $ATTNSCOPE_GPU_PRECISION says otherwise */
  int          device_index;  /* CUDA device ordinal: 0 unless $ATTNSCOPE_GPU_DEVICE says otherwise */
  AsNoticeFunc on_notice;     /* NULL: g_message () */
  gpointer     notice_data;
} AsGpuOptions;

/* Defaults, honouring $ATTNSCOPE_GPU_PRECISION (fp32|tf32|fp16|bf16) and
 * $ATTNSCOPE_GPU_DEVICE (an ordinal) when they are set and valid. */
void         as_gpu_options_init       (AsGpuOptions *options);

gboolean     as_device_from_string     (const char   *name,
                                        AsDevice     *device);
const char  *as_device_to_string       (AsDevice      device);
gboolean     as_precision_from_string  (const char   *name,
                                        AsPrecision  *precision);
const char  *as_precision_to_string    (AsPrecision   precision);

/* The backend for DEVICE. With AUTO or GPU, falls back to the CPU and sets
 * *NOTICE (g_free) to why; NOTICE stays NULL when the requested device is
 * the one returned. OPTIONS may be NULL (defaults). Returns NULL with ERROR
 * set for an invalid DEVICE, and with AUTO or GPU when no GPU is usable and
 * as_gpu_required () (an AS_GPU_ERROR naming the reason; a failure forced
 * with ATTNSCOPE_GPU_FORCE_FAIL still falls back). */
AsBackend   *as_backend_open           (const AsModel       *model,
                                        AsDevice             device,
                                        const AsGpuOptions  *options,
                                        char               **notice,
                                        GError             **error);

/* The GPU backend or NULL with an AS_GPU_ERROR saying why (no fallback). */
AsBackend   *as_gpu_backend_new        (const AsModel       *model,
                                        const AsGpuOptions  *options,
                                        GError             **error);

/* TRUE when $ATTNSCOPE_REQUIRE_GPU is set to anything but "", "0", "no"
 * or "false": every "no usable GPU" is then an error, not a fallback. */
gboolean     as_gpu_required           (void);

/* TRUE for a backend from the plugin that has not switched to the CPU. */
gboolean     as_backend_is_gpu         (AsBackend           *backend);

/* Path of the plugin file that would be loaded, or NULL when there is none. */
char        *as_gpu_plugin_find        (void);

/* Can device DEVICE_INDEX be used? Returns its description ("NVIDIA H100 …
 * (device 0, sm_90, 79.1 GiB)"), or NULL with an AS_GPU_ERROR. Loads the
 * plugin but no model: cheap enough for populating a device menu. */
char        *as_gpu_probe              (int                  device_index,
                                        GError             **error);

/* Runs the same input through REFERENCE and CANDIDATE and reports the largest
 * absolute difference of attention probabilities and of final hidden states
 * (either pointer may be NULL). For showing what TF32 / fp16 / bf16 cost. */
gboolean     as_backend_compare        (AsBackend           *reference,
                                        AsBackend           *candidate,
                                        const int           *ids,
                                        const int           *type_ids,
                                        int                  n,
                                        double              *max_attn_diff,
                                        double              *max_hidden_diff,
                                        GError             **error);

/* Opens a GPU backend with OPTIONS (no fallback) and the CPU reference,
 * compares them on the input with as_backend_compare (), frees both. */
gboolean     as_gpu_measure_deviation  (const AsModel       *model,
                                        const AsGpuOptions  *options,
                                        const int           *ids,
                                        const int           *type_ids,
                                        int                  n,
                                        double              *max_attn_diff,
                                        double              *max_hidden_diff,
                                        GError             **error);

G_END_DECLS
