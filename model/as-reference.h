/* as-reference.h — the plain fp32 forward pass, the yardstick of every other
 * backend (see as-reference.c).
 */
#pragma once

#include "as-architecture.h"
#include "as-backend.h"

G_BEGIN_DECLS

/* A backend named "reference": one thread, no blocking, slow. For tests and
 * for checking a new backend, not for the app. Made by MODEL's architecture
 * (as-architecture.h); BERT's is as-reference.c, Llama's as-reference-llama.c. */
AsBackend *as_reference_backend_new (const AsModel *model);

/* The architectures' layer_trace (as-architecture.h): each family's
 * reference pass through LAYER, keeping its stages in TRACE. */
AsLayerTraceFunc as_bert_reference_layer_trace;
AsLayerTraceFunc as_llama_reference_layer_trace;
AsLayerTraceFunc as_gpt2_reference_layer_trace;

G_END_DECLS
