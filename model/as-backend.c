/* as-backend.c — thin dispatch over AsBackendVTable. */
#include "as-backend.h"

gboolean
as_backend_forward (AsBackend              *backend,
                    const AsForwardRequest *request,
                    float                  *final_hidden,
                    GError                **error)
{
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
