#include "as-error.h"

G_DEFINE_QUARK (as-model-error-quark, as_model_error)
