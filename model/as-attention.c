#include "as-attention.h"

#include "as-architecture.h"

#include <string.h>

#include "as-error.h"

typedef struct {
  AsAnalysis *a;
} CollectState;

static gboolean
collect_layer (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  CollectState *state = user_data;
  gsize per_layer = (gsize) state->a->n_heads * state->a->n * state->a->n;
  float *dst = state->a->attn + layer * per_layer;
  if (attn != dst)
    memcpy (dst, attn, per_layer * sizeof (float));
  return TRUE;
}

AsAnalysis *
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

  if (!as_attention_check_budget (c, n, error))
    return NULL;

  AsAnalysis *a = as_analysis_new ();
  a->n_layers = c->n_layers;
  a->n_heads = c->n_heads;
  a->n = n;
  a->hidden = c->hidden;
  a->causal = backend->model->arch->causal;
  a->final_hidden = g_try_new (float, (gsize) n * c->hidden);
  if (!as_analysis_alloc_attention (a) || a->final_hidden == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "not enough memory for the attention of %d tokens (%.0f MB)",
                   n, (double) c->n_layers * c->n_heads * n * n * 4 / 1e6);
      as_analysis_unref (a);
      return NULL;
    }

  CollectState state = { a };
  AsForwardRequest req = {
    .ids = ids, .type_ids = type_ids, .n = n,
    .on_layer = collect_layer, .user_data = &state, .attn_out = a->attn,
  };
  if (!as_backend_forward (backend, &req, a->final_hidden, error))
    {
      as_analysis_unref (a);
      return NULL;
    }
  a->layers_ready = a->n_layers;
  return a;
}

AsAnalysis *
as_attention_compute (AsBackend   *backend,
                      const char  *text_a,
                      const char  *text_b,
                      GError     **error)
{
  const AsModel *model = backend->model;
  if (!as_model_check_tokenizer (model, error) ||
      !as_tokenizer_check_pair (model->tokenizer, text_b, error))
    return NULL;
  AsEncoding *enc = as_tokenizer_encode (model->tokenizer, text_a, text_b,
                                         model->config->max_positions);
  int *ids = g_new (int, enc->n_tokens);
  int *types = g_new (int, enc->n_tokens);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      ids[i] = enc->tokens[i].id;
      types[i] = enc->tokens[i].type_id;
    }
  AsAnalysis *a = as_attention_compute_ids (backend, ids, types, enc->n_tokens, error);
  g_free (ids);
  g_free (types);
  if (a == NULL)
    {
      as_encoding_free (enc);
      return NULL;
    }
  a->encoding = enc;
  a->model_name = g_strdup (model->name);
  a->model_dir = g_strdup (model->dir);
  a->text_a = g_strdup (text_a);
  a->text_b = text_b != NULL && *text_b != '\0' ? g_strdup (text_b) : NULL;
  return a;
}

/* ------------------------------------------------------------------------ */
/* Resource limits                                                           */

/* Up to 2^40 MB keeps every product with the budget below 2^60. */
#define BUDGET_MAX_MB (G_GUINT64_CONSTANT (1) << 40)

/* $ATTNSCOPE_MAX_ATTENTION_MB in megabytes: unset or empty is the default;
 * anything but a whole number in range is an error, never silently the
 * default, since the user meant to change the limit. */
static gboolean
budget_mb (guint64  *mb,
           GError  **error)
{
  const char *env = g_getenv ("ATTNSCOPE_MAX_ATTENTION_MB");
  *mb = AS_ATTENTION_DEFAULT_BUDGET_MB;
  if (env == NULL || *env == '\0')
    return TRUE;
  guint64 value = 0;
  if (!g_ascii_string_to_unsigned (env, 10, 1, BUDGET_MAX_MB, &value, NULL))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "ATTNSCOPE_MAX_ATTENTION_MB='%s' is not a whole number of megabytes "
                   "from 1 to %" G_GUINT64_FORMAT " (unset it for the default, %d)",
                   env, BUDGET_MAX_MB, AS_ATTENTION_DEFAULT_BUDGET_MB);
      return FALSE;
    }
  *mb = value;
  return TRUE;
}

gboolean
as_attention_budget_validate (GError **error)
{
  guint64 mb;
  return budget_mb (&mb, error);
}

guint64
as_attention_budget_bytes (void)
{
  guint64 mb;
  if (!budget_mb (&mb, NULL))
    mb = AS_ATTENTION_DEFAULT_BUDGET_MB;
  return mb << 20;
}

guint64
as_attention_bytes_needed (const AsConfig *config,
                           int             n_tokens)
{
  /* Config sizes are bounded (as-config.c) and N by max_positions (<= 2^16),
   * so this stays far from overflowing 64 bits. */
  guint64 n = (guint64) MAX (n_tokens, 0);
  guint64 squares = ((guint64) config->n_layers + 1) * (guint64) config->n_heads * n * n;
  guint64 rows = n * (6 * (guint64) config->hidden + (guint64) config->intermediate);
  return sizeof (float) * (squares + rows);
}

int
as_attention_max_tokens (const AsConfig *config)
{
  guint64 budget = as_attention_budget_bytes ();
  int lo = 0, hi = config->max_positions;

  /* The need grows with N: the largest N within the budget, by bisection. */
  while (lo < hi)
    {
      int mid = lo + (hi - lo + 1) / 2;
      if (as_attention_bytes_needed (config, mid) <= budget)
        lo = mid;
      else
        hi = mid - 1;
    }
  return lo;
}

gboolean
as_attention_check_budget (const AsConfig *config,
                           int             n_tokens,
                           GError        **error)
{
  if (!as_attention_budget_validate (error))
    return FALSE;
  guint64 need = as_attention_bytes_needed (config, n_tokens);
  guint64 budget = as_attention_budget_bytes ();

  if (need <= budget)
    return TRUE;
  g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
               "an input of %d tokens needs %.0f MB for the attention of %d layer%s x %d head%s "
               "(limit %.0f MB): shorten it to at most %d tokens, or raise the limit with "
               "ATTNSCOPE_MAX_ATTENTION_MB",
               n_tokens, need / 1048576.0, config->n_layers, config->n_layers == 1 ? "" : "s",
               config->n_heads, config->n_heads == 1 ? "" : "s",
               budget / 1048576.0, as_attention_max_tokens (config));
  return FALSE;
}
