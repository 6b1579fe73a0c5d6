/* as-arch-distilbert.c — DistilBERT behind the architecture seam
 * (as-architecture.h).
 *
 * DistilBertModel computes BertModel's forward without token types: the
 * embedding is LayerNorm(word + position), then per layer the same
 * attention (q_lin, k_lin, v_lin, out_lin, sa_layer_norm) and feed-forward
 * (ffn.lin1, GELU, ffn.lin2, output_layer_norm) as BERT's, post-norm. Its
 * tensors are bound into BERT's weights struct with no type table
 * (type_emb NULL, type_vocab_size 0), which BERT's reference and fast CPU
 * backends read as "add no type embedding" (as-bert.h); the GPU plugin,
 * which always adds a type row, is described a zero one
 * (as_bert_gpu_describe).
 */
#include "as-bert.h"

#include "as-error.h"

/* DistilBertConfig's fields; its LayerNorms have a fixed epsilon. */
static gboolean
distilbert_read_config (JsonObject  *obj,
                        const char  *display_name,
                        AsConfig    *config,
                        GError     **error)
{
  /* The forward implements the erf GELU only. */
  const char *act = as_config_read_string (obj, "activation");
  if (act != NULL && g_strcmp0 (act, "gelu") != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: activation '%s' is not supported (supported: gelu, the erf form)",
                   display_name, act);
      return FALSE;
    }

  gboolean ok =
    as_config_read_int (obj, display_name, "n_layers", 1, AS_CONFIG_MAX_LAYERS, TRUE, 0, &config->n_layers, error) &&
    as_config_read_int (obj, display_name, "n_heads", 1, AS_CONFIG_MAX_HEADS, TRUE, 0, &config->n_heads, error) &&
    as_config_read_int (obj, display_name, "dim", 1, AS_CONFIG_MAX_HIDDEN, TRUE, 0, &config->hidden, error) &&
    as_config_read_int (obj, display_name, "hidden_dim", 1, AS_CONFIG_MAX_INTERMEDIATE, TRUE, 0, &config->intermediate, error) &&
    as_config_read_int (obj, display_name, "vocab_size", 1, AS_CONFIG_MAX_VOCAB, TRUE, 0, &config->vocab_size, error) &&
    as_config_read_int (obj, display_name, "max_position_embeddings", 1, AS_CONFIG_MAX_POSITIONS, TRUE, 0, &config->max_positions, error);
  if (!ok)
    return FALSE;

  if (config->hidden % config->n_heads != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: dim %d is not divisible by n_heads %d",
                   display_name, config->hidden, config->n_heads);
      return FALSE;
    }
  config->head_dim = config->hidden / config->n_heads;
  config->type_vocab_size = 0;
  config->position_offset = 0;
  config->layer_norm_eps = 1e-12f;   /* nn.LayerNorm (dim, eps=1e-12) throughout */
  return TRUE;
}

/* Checkpoints saved from DistilBertForMaskedLM & co. prefix every name with
 * "distilbert.". */
static const char *
detect_prefix (AsSafetensors *st)
{
  if (as_safetensors_lookup (st, "embeddings.word_embeddings.weight") != NULL)
    return "";
  if (as_safetensors_lookup (st, "distilbert.embeddings.word_embeddings.weight") != NULL)
    return "distilbert.";
  return NULL;
}

static gboolean
bind_layer (AsModel         *model,
            AsLayerWeights  *w,
            const char      *prefix,
            int              l,
            GError         **error)
{
  const AsConfig *c = model->config;
  g_autofree char *lp = g_strdup_printf ("%stransformer.layer.%d.", prefix, l);
  const gint64 H = c->hidden, I = c->intermediate;

#define BIND(slot, suffix, nd, a, b) \
  if ((w->slot = as_model_bind_f32 (model, lp, suffix, nd, a, b, error)) == NULL) return FALSE

  BIND (q_w,   "attention.q_lin.weight", 2, H, H);
  BIND (q_b,   "attention.q_lin.bias", 1, H, 0);
  BIND (k_w,   "attention.k_lin.weight", 2, H, H);
  BIND (k_b,   "attention.k_lin.bias", 1, H, 0);
  BIND (v_w,   "attention.v_lin.weight", 2, H, H);
  BIND (v_b,   "attention.v_lin.bias", 1, H, 0);
  BIND (o_w,   "attention.out_lin.weight", 2, H, H);
  BIND (o_b,   "attention.out_lin.bias", 1, H, 0);
  BIND (ln1_g, "sa_layer_norm.weight", 1, H, 0);
  BIND (ln1_b, "sa_layer_norm.bias", 1, H, 0);
  BIND (ff1_w, "ffn.lin1.weight", 2, I, H);
  BIND (ff1_b, "ffn.lin1.bias", 1, I, 0);
  BIND (ff2_w, "ffn.lin2.weight", 2, H, I);
  BIND (ff2_b, "ffn.lin2.bias", 1, H, 0);
  BIND (ln2_g, "output_layer_norm.weight", 1, H, 0);
  BIND (ln2_b, "output_layer_norm.bias", 1, H, 0);
#undef BIND
  return TRUE;
}

static gboolean
distilbert_bind_weights (AsModel  *model,
                         GError  **error)
{
  const AsConfig *c = model->config;
  const char *prefix = detect_prefix (model->st);
  if (prefix == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: tensor 'embeddings.word_embeddings.weight' is missing "
                   "(not a DistilBERT checkpoint?)", as_safetensors_get_path (model->st));
      return FALSE;
    }

  AsBertWeights *w = as_bert_weights_new (model, c->n_layers);
  if ((w->word_emb = as_model_bind_f32 (model, prefix, "embeddings.word_embeddings.weight", 2, c->vocab_size, c->hidden, error)) == NULL ||
      (w->pos_emb = as_model_bind_f32 (model, prefix, "embeddings.position_embeddings.weight", 2, c->max_positions, c->hidden, error)) == NULL ||
      (w->emb_ln_g = as_model_bind_f32 (model, prefix, "embeddings.LayerNorm.weight", 1, c->hidden, 0, error)) == NULL ||
      (w->emb_ln_b = as_model_bind_f32 (model, prefix, "embeddings.LayerNorm.bias", 1, c->hidden, 0, error)) == NULL)
    return FALSE;
  for (int l = 0; l < c->n_layers; l++)
    if (!bind_layer (model, &w->layers[l], prefix, l, error))
      return FALSE;

  /* Weights beyond n_layers would be silently ignored: refuse them. */
  g_autofree char *extra = g_strdup_printf ("%stransformer.layer.%d.attention.q_lin.weight",
                                            prefix, c->n_layers);
  if (as_safetensors_lookup (model->st, extra) != NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: holds a layer %d but config.json says n_layers = %d",
                   as_safetensors_get_path (model->st), c->n_layers, c->n_layers);
      return FALSE;
    }
  return TRUE;
}

static const char *const distilbert_model_types[] = { "distilbert", NULL };

const AsArchitecture as_arch_distilbert = {
  .name = "distilbert",
  .model_types = distilbert_model_types,
  .causal = FALSE,
  .uses_token_types = FALSE,
  .read_config = distilbert_read_config,
  .bind_weights = distilbert_bind_weights,
  .init_random = as_bert_init_random,
  .free_weights = as_bert_free_weights,
  .cpu_backend_new = as_bert_cpu_backend_new,
  .reference_backend_new = as_bert_reference_backend_new,
  .gpu_describe = as_bert_gpu_describe,
  .position_table = as_bert_position_table,
};
