/* as-arch-roberta.c — RoBERTa behind the architecture seam
 * (as-architecture.h): roberta, and xlm-roberta, whose model is the same.
 *
 * RobertaModel is BertModel with one difference the forward sees: position
 * ids count from pad_token_id + 1 (RoBERTa numbers positions as if padding
 * came first), so token i uses row i + pad_token_id + 1 of the position
 * table and a pass takes max_position_embeddings - pad_token_id - 1
 * tokens. That is config->position_offset; BERT's weights struct, binding
 * (tensor names as BertModel's, or prefixed "roberta."), backends and GPU
 * description then serve it unchanged (as-bert.h). Its single type
 * embedding row is BERT's type table with type_vocab_size 1. The pooler is
 * not needed for attention and is not bound.
 */
#include "as-bert.h"

#include "as-error.h"
#include "as-reference.h"

/* RobertaConfig is BertConfig plus the padding id that places positions. */
static gboolean
roberta_read_config (JsonObject  *obj,
                     const char  *display_name,
                     AsConfig    *config,
                     GError     **error)
{
  int pad = 0;
  if (!as_bert_read_config (obj, display_name, config, error) ||
      !as_config_read_int (obj, display_name, "pad_token_id", 0, AS_CONFIG_MAX_VOCAB, FALSE, 1, &pad, error))
    return FALSE;

  if (pad >= config->vocab_size)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: pad_token_id %d is not a token of vocab_size %d",
                   display_name, pad, config->vocab_size);
      return FALSE;
    }
  /* Positions run from pad + 1 to max_position_embeddings - 1. */
  if (pad + 1 >= config->max_positions)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: pad_token_id %d leaves no position: RoBERTa's positions start at "
                   "pad_token_id + 1 and max_position_embeddings is %d",
                   display_name, pad, config->max_positions);
      return FALSE;
    }
  config->position_offset = pad + 1;
  config->max_positions -= pad + 1;
  return TRUE;
}

static gboolean
roberta_bind_weights (AsModel  *model,
                      GError  **error)
{
  AsBertNames names = as_bert_names;   /* BertModel's, under "roberta." */
  names.family = "RoBERTa";
  names.prefix = "roberta.";
  return as_bert_bind_named (model, &names, error);
}

static const char *const roberta_model_types[] = { "roberta", "xlm-roberta", NULL };

const AsArchitecture as_arch_roberta = {
  .name = "roberta",
  .model_types = roberta_model_types,
  .causal = FALSE,
  .uses_token_types = TRUE,
  .read_config = roberta_read_config,
  .bind_weights = roberta_bind_weights,
  .init_random = as_bert_init_random,
  .free_weights = as_bert_free_weights,
  .cpu_backend_new = as_bert_cpu_backend_new,
  .reference_backend_new = as_bert_reference_backend_new,
  .layer_trace = as_bert_reference_layer_trace,
  .gpu_describe = as_bert_gpu_describe,
  .position_table = as_bert_position_table,
};
