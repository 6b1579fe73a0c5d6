/* as-backend.c — thin dispatch over AsBackendVTable. */
#include "as-backend.h"

#include "as-attention.h"

gboolean
as_backend_forward (AsBackend              *backend,
                    const AsForwardRequest *request,
                    float                  *final_hidden,
                    GError                **error)
{
  /* Before any backend sizes its buffers for the request (see as-attention.h). */
  if (request->n >= 1 && !as_attention_check_budget (backend->model->config, request->n, error))
    return FALSE;
  return backend->vtable->forward (backend, request, final_hidden, error);
}

gboolean
as_backend_layer_qkv (AsBackend              *backend,
                      const AsForwardRequest *request,
                      int                     layer,
                      float                  *q,
                      float                  *k,
                      float                  *v,
                      GError                **error)
{
  if (request->n >= 1 && !as_attention_check_budget (backend->model->config, request->n, error))
    return FALSE;
  return backend->vtable->layer_qkv (backend, request, layer, q, k, v, error);
}

char *
as_backend_describe (AsBackend *backend)
{
  return backend->vtable->describe (backend);
}

const char *
as_backend_get_name (AsBackend *backend)
{
  return backend->vtable->name;
}

void
as_backend_free (AsBackend *backend)
{
  if (backend != NULL)
    backend->vtable->free (backend);
}
