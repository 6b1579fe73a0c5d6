/* as-reference.h — the plain fp32 forward pass, the yardstick of every other
 * backend (see as-reference.c).
 */
#pragma once

#include "as-backend.h"

G_BEGIN_DECLS

/* A backend named "reference": one thread, no blocking, slow. For tests and
 * for checking a new backend, not for the app. Made by MODEL's architecture
 * (as-architecture.h); BERT's is as-reference.c, Llama's as-reference-llama.c. */
AsBackend *as_reference_backend_new (const AsModel *model);

G_END_DECLS
