/* as-backend.c — thin dispatch over AsBackendVTable. */
#include "as-backend.h"

#include "as-ablation.h"
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
  /* Type ids are read only by architectures that embed them. */
  const gboolean types = model->arch->uses_token_types;
  for (int i = 0; i < req->n; i++)
    if (req->ids[i] < 0 || req->ids[i] >= c->vocab_size ||
        (types && (req->type_ids[i] < 0 || req->type_ids[i] >= c->type_vocab_size)))
      {
        if (types)
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                       "token %d: id %d / type %d out of range (vocab %d, types %d)",
                       i, req->ids[i], req->type_ids[i], c->vocab_size, c->type_vocab_size);
        else
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                       "token %d: id %d out of range (vocab %d)",
                       i, req->ids[i], c->vocab_size);
        return FALSE;
      }
  return as_ablation_check_request (model, req, error);
}

/* TRUE when any of the COUNT floats is NaN or infinite, i.e. has an exponent
 * of all ones. Integer arithmetic, so the loop vectorises without reordering
 * float sums: at 512 tokens a 12 x 12 layer is 38 M values. */
static gboolean
any_not_finite (const float *values,
                gsize        count)
{
  const guint32 *bits = (const guint32 *) values;
  guint32 bad = 0;
  for (gsize i = 0; i < count; i++)
    bad |= ((bits[i] & 0x7f800000u) + 0x00800000u) & 0x80000000u;
  return bad != 0;
}

/* Sits between the backend and the caller's layer callback: a layer whose
 * attention is not finite (weights that overflow float32 on this input) stops
 * the pass before anyone sees it, so no view draws NaN as 0 and no file gets
 * null where a probability belongs. */
typedef struct {
  const AsForwardRequest *outer;
  int                     n_heads;
  int                     bad_layer;   /* -1 while every layer was finite */
  int                     bad_head;
} FiniteGuard;

static gboolean
finite_guard_on_layer (int          layer,
                       const float *attn,
                       const float *hidden,
                       gpointer     user_data)
{
  FiniteGuard *guard = user_data;
  gsize n = (gsize) guard->outer->n;
  for (int h = 0; h < guard->n_heads; h++)
    if (any_not_finite (attn + (gsize) h * n * n, n * n))
      {
        guard->bad_layer = layer;
        guard->bad_head = h;
        return FALSE;
      }
  return guard->outer->on_layer (layer, attn, hidden, guard->outer->user_data);
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

  /* Without a layer callback nobody sees the attention (and a GPU does not
   * copy it back), so only the final hidden state is checked. */
  FiniteGuard guard = { request, backend->model->config->n_heads, -1, -1 };
  AsForwardRequest guarded = *request;
  if (request->on_layer != NULL)
    {
      guarded.on_layer = finite_guard_on_layer;
      guarded.user_data = &guard;
    }

  GError *local = NULL;
  gboolean ok = backend->vtable->forward (backend, &guarded, final_hidden, &local);
  if (guard.bad_layer >= 0)
    {
      g_clear_error (&local);
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_NOT_FINITE,
                   "layer %d, head %d: the attention is not finite (NaN or infinity): "
                   "this model's weights overflow 32-bit floats on this input",
                   guard.bad_layer + 1, guard.bad_head + 1);
      return FALSE;
    }
  if (!ok)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  if (final_hidden != NULL &&
      any_not_finite (final_hidden, (gsize) request->n * backend->model->config->hidden))
    {
      g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_NOT_FINITE,
                           "the final hidden state is not finite (NaN or infinity): "
                           "this model's weights overflow 32-bit floats on this input");
      return FALSE;
    }
  return TRUE;
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
  const AsConfig *c = backend->model->config;
  if (layer < 0 || layer >= c->n_layers)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "layer %d out of range (model has %d)", layer, c->n_layers);
      return FALSE;
    }
  if (request->n >= 1 && !as_attention_check_budget (c, request->n, error))
    return FALSE;
  return backend->vtable->layer_qkv (backend, request, layer, q, k, v, error);
}

gboolean
as_forward_check_cancel (const AsForwardRequest *request,
                         GError                **error)
{
  if (request->cancel == NULL || g_atomic_int_get (request->cancel) == 0)
    return TRUE;
  g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED, "cancelled");
  return FALSE;
}

gboolean
as_forward_deliver_layer (const AsForwardRequest *request,
                          int                     layer,
                          const float            *attn,
                          const float            *hidden,
                          GError                **error)
{
  if (request->on_layer == NULL ||
      request->on_layer (layer, attn, request->want_hidden ? hidden : NULL, request->user_data))
    return TRUE;
  g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED, "stopped by the caller");
  return FALSE;
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
