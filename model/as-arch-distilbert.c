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
#include "as-reference.h"

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

/* DistilBertModel's names; checkpoints of the *For* heads put them under
 * "distilbert.". No token types. */
static const AsBertNames distilbert_names = {
  .family = "DistilBERT",
  .prefix = "distilbert.",
  .layers = "transformer.layer.",
  .layer_count = "n_layers",
  .layer = {
    "attention.q_lin.weight", "attention.q_lin.bias",
    "attention.k_lin.weight", "attention.k_lin.bias",
    "attention.v_lin.weight", "attention.v_lin.bias",
    "attention.out_lin.weight", "attention.out_lin.bias",
    "sa_layer_norm.weight", "sa_layer_norm.bias",
    "ffn.lin1.weight", "ffn.lin1.bias",
    "ffn.lin2.weight", "ffn.lin2.bias",
    "output_layer_norm.weight", "output_layer_norm.bias",
  },
  .token_types = FALSE,
};

static gboolean
distilbert_bind_weights (AsModel  *model,
                         GError  **error)
{
  return as_bert_bind_named (model, &distilbert_names, error);
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
  .layer_trace = as_bert_reference_layer_trace,
  .gpu_describe = as_bert_gpu_describe,
  .position_table = as_bert_position_table,
};
