#include "as-error.h"

G_DEFINE_QUARK (as-model-error-quark, as_model_error)

gboolean
as_model_fail (GError       **error,
               AsModelError   code,
               const char    *format,
               ...)
{
  va_list args;
  va_start (args, format);
  if (error != NULL)
    *error = g_error_new_valist (AS_MODEL_ERROR, code, format, args);
  va_end (args);
  return FALSE;
}
