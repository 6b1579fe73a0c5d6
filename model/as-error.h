/* as-error.h — the one GError domain for the engine (model/).
 *
 * Every message names the file (and the tensor or field) and the reason, so a
 * user who points AttnScope at a broken folder learns what to fix.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AS_MODEL_ERROR (as_model_error_quark ())

typedef enum {
  AS_MODEL_ERROR_IO,         /* cannot open / read / map a file */
  AS_MODEL_ERROR_FORMAT,     /* malformed content (JSON, header, offsets) */
  AS_MODEL_ERROR_UNSUPPORTED,/* well-formed but something we do not handle */
  AS_MODEL_ERROR_MISMATCH,   /* config and tensors disagree */
  AS_MODEL_ERROR_INPUT,      /* bad text / request from the caller */
  AS_MODEL_ERROR_CANCELLED,  /* the caller's cancel flag was raised */
  AS_MODEL_ERROR_RESOURCES,  /* would not fit in memory */
  AS_MODEL_ERROR_NOT_FINITE, /* a layer's attention came out NaN or infinite */
} AsModelError;

GQuark as_model_error_quark (void);

/* Sets *ERROR (when ERROR is not NULL) to an AS_MODEL_ERROR of CODE and
 * returns FALSE, so a check can end with "return as_model_fail (…)". */
gboolean as_model_fail (GError       **error,
                        AsModelError   code,
                        const char    *format,
                        ...) G_GNUC_PRINTF (3, 4);

G_END_DECLS
