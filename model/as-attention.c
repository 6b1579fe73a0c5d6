#include "as-attention.h"

#include <string.h>

#include "as-error.h"

typedef struct {
  AsAttention *a;
} CollectState;

static gboolean
collect_layer (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  CollectState *state = user_data;
  gsize per_layer = (gsize) state->a->n_heads * state->a->n * state->a->n;
  memcpy (state->a->attn + layer * per_layer, attn, per_layer * sizeof (float));
  return TRUE;
}

AsAttention *
as_attention_compute_ids (AsBackend   *backend,
                          const int   *ids,
                          const int   *type_ids,
                          int          n,
                          GError     **error)
{
  const AsConfig *c = backend->model->config;
  if (n < 1 || n > c->max_positions)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "%d tokens requested; this model takes 1 to %d", n, c->max_positions);
      return NULL;
    }

  AsAttention *a = g_new0 (AsAttention, 1);
  a->n_layers = c->n_layers;
  a->n_heads = c->n_heads;
  a->n = n;
  a->hidden = c->hidden;
  a->attn = g_try_new (float, (gsize) c->n_layers * c->n_heads * n * n);
  a->final_hidden = g_try_new (float, (gsize) n * c->hidden);
  if (a->attn == NULL || a->final_hidden == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "not enough memory for the attention of %d tokens (%.0f MB)",
                   n, (double) c->n_layers * c->n_heads * n * n * 4 / 1e6);
      as_attention_free (a);
      return NULL;
    }

  CollectState state = { a };
  AsForwardRequest req = {
    .ids = ids, .type_ids = type_ids, .n = n,
    .on_layer = collect_layer, .user_data = &state,
  };
  if (!as_backend_forward (backend, &req, a->final_hidden, error))
    {
      as_attention_free (a);
      return NULL;
    }
  return a;
}

AsAttention *
as_attention_compute (AsBackend   *backend,
                      const char  *text_a,
                      const char  *text_b,
                      GError     **error)
{
  const AsModel *model = backend->model;
  if (model->tokenizer == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "model '%s' has no tokenizer", model->name);
      return NULL;
    }
  AsEncoding *enc = as_tokenizer_encode (model->tokenizer, text_a, text_b,
                                         model->config->max_positions);
  int *ids = g_new (int, enc->n_tokens);
  int *types = g_new (int, enc->n_tokens);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      ids[i] = enc->tokens[i].id;
      types[i] = enc->tokens[i].type_id;
    }
  AsAttention *a = as_attention_compute_ids (backend, ids, types, enc->n_tokens, error);
  g_free (ids);
  g_free (types);
  if (a == NULL)
    {
      as_encoding_free (enc);
      return NULL;
    }
  a->encoding = enc;
  return a;
}

void
as_attention_free (AsAttention *a)
{
  if (a == NULL)
    return;
  g_clear_pointer (&a->encoding, as_encoding_free);
  g_free (a->attn);
  g_free (a->final_hidden);
  g_free (a);
}
