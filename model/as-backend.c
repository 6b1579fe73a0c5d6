/* as-backend.c — thin dispatch over AsBackendVTable. */
#include "as-backend.h"

#include "as-attention.h"
#include "as-error.h"

/* Shared by every backend, so the CPU and the GPU refuse the same requests
 * in the same words. */
gboolean
as_backend_check_request (const AsModel          *model,
                          const AsForwardRequest *req,
                          GError                **error)
{
  const AsConfig *c = model->config;
  if (req->n < 1 || req->n > c->max_positions)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "%d tokens requested; this model takes 1 to %d", req->n, c->max_positions);
      return FALSE;
    }
  for (int i = 0; i < req->n; i++)
    if (req->ids[i] < 0 || req->ids[i] >= c->vocab_size ||
        req->type_ids[i] < 0 || req->type_ids[i] >= c->type_vocab_size)
      {
        g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                     "token %d: id %d / type %d out of range (vocab %d, types %d)",
                     i, req->ids[i], req->type_ids[i], c->vocab_size, c->type_vocab_size);
        return FALSE;
      }
  return TRUE;
}

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
