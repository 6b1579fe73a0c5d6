/* as-arch-bert.c — BERT behind the architecture seam (as-architecture.h):
 * bert, and the checkpoints that call themselves bert (MiniLM, bge).
 *
 * Reads BERT's config fields, binds the tensors of BertModel (with or
 * without the "bert." prefix of BertForMaskedLM & co.) and, when the
 * checkpoint has one, BertForMaskedLM's head (cls.predictions.*), makes the random
 * presets, and hands out the backends that run BertModel's forward: the fast
 * CPU encoder (as-cpu-encoder.c), the reference (as-reference.c) and the GPU
 * plugin (gpu/), which takes the weights as an AsGpuModelDesc.
 */
#include "as-bert.h"

#include "as-error.h"
#include "as-reference.h"
#include "as-gpu-plugin.h"

/* --- config.json ---------------------------------------------------------- */

/* BertConfig's fields, checked in the order the messages have always come
 * in: what the forward cannot compute first, then the sizes. */
gboolean
as_bert_read_config (JsonObject  *obj,
                     const char  *display_name,
                     AsConfig    *config,
                     GError     **error)
{
  /* The forward implements the erf GELU and absolute positions only. */
  const char *act = as_config_read_string (obj, "hidden_act");
  if (act != NULL && g_strcmp0 (act, "gelu") != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: hidden_act '%s' is not supported (supported: gelu, the erf form)",
                   display_name, act);
      return FALSE;
    }
  const char *pos = as_config_read_string (obj, "position_embedding_type");
  if (pos != NULL && g_strcmp0 (pos, "absolute") != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: position_embedding_type '%s' is not supported (supported: absolute)",
                   display_name, pos);
      return FALSE;
    }

  gboolean ok =
    as_config_read_int (obj, display_name, "num_hidden_layers", 1, AS_CONFIG_MAX_LAYERS, TRUE, 0, &config->n_layers, error) &&
    as_config_read_int (obj, display_name, "num_attention_heads", 1, AS_CONFIG_MAX_HEADS, TRUE, 0, &config->n_heads, error) &&
    as_config_read_int (obj, display_name, "hidden_size", 1, AS_CONFIG_MAX_HIDDEN, TRUE, 0, &config->hidden, error) &&
    as_config_read_int (obj, display_name, "intermediate_size", 1, AS_CONFIG_MAX_INTERMEDIATE, TRUE, 0, &config->intermediate, error) &&
    as_config_read_int (obj, display_name, "vocab_size", 1, AS_CONFIG_MAX_VOCAB, TRUE, 0, &config->vocab_size, error) &&
    as_config_read_int (obj, display_name, "max_position_embeddings", 1, AS_CONFIG_MAX_POSITIONS, TRUE, 0, &config->max_positions, error) &&
    as_config_read_int (obj, display_name, "type_vocab_size", 1, AS_CONFIG_MAX_TYPE_VOCAB, FALSE, 2, &config->type_vocab_size, error) &&
    as_config_read_eps (obj, display_name, "layer_norm_eps", 1e-12f, &config->layer_norm_eps, error);
  if (!ok)
    return FALSE;

  if (config->hidden % config->n_heads != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: hidden_size %d is not divisible by num_attention_heads %d",
                   display_name, config->hidden, config->n_heads);
      return FALSE;
    }
  config->head_dim = config->hidden / config->n_heads;
  return TRUE;
}

/* --- weights -------------------------------------------------------------- */

AsBertWeights *
as_bert_weights_new (AsModel *model,
                     int      n_layers)
{
  AsBertWeights *w = g_new0 (AsBertWeights, 1);
  w->layers = g_new0 (AsLayerWeights, n_layers);
  if (!as_arch_is_bert_family (model->arch))
    model->arch = &as_arch_bert;
  model->weights = w;
  return w;
}

void
as_bert_free_weights (gpointer weights)
{
  AsBertWeights *w = weights;
  g_free (w->layers);
  g_free (w);
}

/* Checkpoints saved from the *For* heads prefix every name with
 * NAMES->prefix ("bert.", "roberta."); the bare model's names have none. */
static const char *
detect_prefix (AsSafetensors     *st,
               const AsBertNames *names)
{
  g_autofree char *prefixed = g_strconcat (names->prefix, "embeddings.word_embeddings.weight", NULL);
  if (as_safetensors_lookup (st, "embeddings.word_embeddings.weight") != NULL)
    return "";
  if (as_safetensors_lookup (st, prefixed) != NULL)
    return names->prefix;
  return NULL;
}

static gboolean
bind_layer (AsModel           *model,
            AsLayerWeights    *w,
            const AsBertNames *names,
            const char        *prefix,
            int                l,
            GError           **error)
{
  const AsConfig *c = model->config;
  g_autofree char *lp = g_strdup_printf ("%s%s%d.", prefix, names->layers, l);
  const gint64 H = c->hidden, I = c->intermediate;
  /* The struct's tensors in its order, with their shapes. */
  const struct {
    const float **slot;
    int           nd;
    gint64        rows, cols;
  } tensors[16] = {
    { &w->q_w, 2, H, H },   { &w->q_b, 1, H, 0 },   { &w->k_w, 2, H, H },   { &w->k_b, 1, H, 0 },
    { &w->v_w, 2, H, H },   { &w->v_b, 1, H, 0 },   { &w->o_w, 2, H, H },   { &w->o_b, 1, H, 0 },
    { &w->ln1_g, 1, H, 0 }, { &w->ln1_b, 1, H, 0 }, { &w->ff1_w, 2, I, H }, { &w->ff1_b, 1, I, 0 },
    { &w->ff2_w, 2, H, I }, { &w->ff2_b, 1, H, 0 }, { &w->ln2_g, 1, H, 0 }, { &w->ln2_b, 1, H, 0 },
  };
  for (guint t = 0; t < G_N_ELEMENTS (tensors); t++)
    if ((*tensors[t].slot = as_model_bind_f32 (model, lp, names->layer[t], tensors[t].nd,
                                               tensors[t].rows, tensors[t].cols, error)) == NULL)
      return FALSE;
  return TRUE;
}

/* A config that promises more layers than the file holds must be refused;
 * one that promises fewer would silently ignore weights, so refuse that too. */
static gboolean
check_layer_count (AsModel           *model,
                   const AsBertNames *names,
                   const char        *prefix,
                   GError           **error)
{
  g_autofree char *extra = g_strdup_printf ("%s%s%d.%s", prefix, names->layers,
                                            model->config->n_layers, names->layer[0]);
  if (as_safetensors_lookup (model->st, extra) != NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: holds a layer %d but config.json says %s = %d",
                   as_safetensors_get_path (model->st), model->config->n_layers,
                   names->layer_count, model->config->n_layers);
      return FALSE;
    }
  return TRUE;
}

static gboolean
has_tensor (AsModel    *model,
            const char *name)
{
  return name != NULL && as_safetensors_lookup (model->st, name) != NULL;
}

/* The masked-LM head is optional: a checkpoint without any of its tensors
 * has none (sentence-transformers, BertModel), but one with part of it is
 * broken and refused, naming what is missing. Without a decoder weight the
 * decoder is the word embeddings, as BertForMaskedLM ties them. */
static gboolean
bind_mlm_head (AsModel           *model,
               AsBertWeights     *w,
               const AsBertNames *names,
               GError           **error)
{
  if (names->mlm[0] == NULL || model->st == NULL)
    return TRUE;
  const char *bias = has_tensor (model, names->mlm[5]) || !has_tensor (model, names->mlm_bias_alt)
                     ? names->mlm[5] : names->mlm_bias_alt;
  const char *required[5] = { names->mlm[0], names->mlm[1], names->mlm[2], names->mlm[3], bias };
  int present = has_tensor (model, names->mlm[4]);
  for (guint t = 0; t < G_N_ELEMENTS (required); t++)
    present += has_tensor (model, required[t]);
  if (present == 0)
    return TRUE;
  for (guint t = 0; t < G_N_ELEMENTS (required); t++)
    if (!has_tensor (model, required[t]))
      {
        g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                     "%s: the masked-LM head is incomplete: tensor '%s' is missing",
                     as_safetensors_get_path (model->st), required[t]);
        return FALSE;
      }

  const AsConfig *c = model->config;
  AsMlmHeadWeights *h = &w->mlm;
  if ((h->dense_w = as_model_bind_f32 (model, "", names->mlm[0], 2, c->hidden, c->hidden, error)) == NULL ||
      (h->dense_b = as_model_bind_f32 (model, "", names->mlm[1], 1, c->hidden, 0, error)) == NULL ||
      (h->ln_g = as_model_bind_f32 (model, "", names->mlm[2], 1, c->hidden, 0, error)) == NULL ||
      (h->ln_b = as_model_bind_f32 (model, "", names->mlm[3], 1, c->hidden, 0, error)) == NULL ||
      (h->decoder_b = as_model_bind_f32 (model, "", bias, 1, c->vocab_size, 0, error)) == NULL)
    goto fail;
  h->decoder_w = w->word_emb;
  if (has_tensor (model, names->mlm[4]) &&
      (h->decoder_w = as_model_bind_f32 (model, "", names->mlm[4], 2, c->vocab_size, c->hidden, error)) == NULL)
    goto fail;
  return TRUE;

fail:
  *h = (AsMlmHeadWeights) { 0 };
  return FALSE;
}

const AsMlmHeadWeights *
as_bert_mlm_head (const AsModel *model)
{
  const AsMlmHeadWeights *h = &as_bert_weights (model)->mlm;
  return h->dense_w != NULL ? h : NULL;
}

gboolean
as_bert_bind_named (AsModel           *model,
                    const AsBertNames *names,
                    GError           **error)
{
  const AsConfig *c = model->config;
  const char *prefix = detect_prefix (model->st, names);

  if (prefix == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: tensor 'embeddings.word_embeddings.weight' is missing "
                   "(not a %s checkpoint?)", as_safetensors_get_path (model->st), names->family);
      return FALSE;
    }

  AsBertWeights *w = as_bert_weights_new (model, c->n_layers);
  const float *pos_table;   /* [max_positions + position_offset, hidden] */
  if ((w->word_emb = as_model_bind_f32 (model, prefix, "embeddings.word_embeddings.weight", 2, c->vocab_size, c->hidden, error)) == NULL ||
      (pos_table = as_model_bind_f32 (model, prefix, "embeddings.position_embeddings.weight", 2, (gint64) c->max_positions + c->position_offset, c->hidden, error)) == NULL ||
      (names->token_types &&
       (w->type_emb = as_model_bind_f32 (model, prefix, "embeddings.token_type_embeddings.weight", 2, c->type_vocab_size, c->hidden, error)) == NULL) ||
      (w->emb_ln_g = as_model_bind_f32 (model, prefix, "embeddings.LayerNorm.weight", 1, c->hidden, 0, error)) == NULL ||
      (w->emb_ln_b = as_model_bind_f32 (model, prefix, "embeddings.LayerNorm.bias", 1, c->hidden, 0, error)) == NULL)
    return FALSE;
  w->pos_emb = pos_table + (gsize) c->position_offset * c->hidden;

  for (int l = 0; l < c->n_layers; l++)
    if (!bind_layer (model, &w->layers[l], names, prefix, l, error))
      return FALSE;
  return check_layer_count (model, names, prefix, error) &&
         bind_mlm_head (model, w, names, error);
}

/* BertModel's names (RoBERTa's are the same under "roberta."). */
const AsBertNames as_bert_names = {
  .family = "BERT",
  .prefix = "bert.",
  .layers = "encoder.layer.",
  .layer_count = "num_hidden_layers",
  .layer = {
    "attention.self.query.weight", "attention.self.query.bias",
    "attention.self.key.weight", "attention.self.key.bias",
    "attention.self.value.weight", "attention.self.value.bias",
    "attention.output.dense.weight", "attention.output.dense.bias",
    "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
    "intermediate.dense.weight", "intermediate.dense.bias",
    "output.dense.weight", "output.dense.bias",
    "output.LayerNorm.weight", "output.LayerNorm.bias",
  },
  .token_types = TRUE,
  .mlm = {
    "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
    "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
    "cls.predictions.decoder.weight", "cls.predictions.bias",
  },
  .mlm_bias_alt = "cls.predictions.decoder.bias",
};

static gboolean
bert_bind_weights (AsModel  *model,
                   GError  **error)
{
  return as_bert_bind_named (model, &as_bert_names, error);
}

void
as_bert_init_random (AsModel *model,
                     guint32  seed)
{
  const AsConfig *config = model->config;
  guint32 state = seed ? seed : 0x9e3779b9u;
  const gsize H = config->hidden, I = config->intermediate;
  AsBertWeights *bw = as_bert_weights_new (model, config->n_layers);
  bw->word_emb = as_model_random_f32 (model, (gsize) config->vocab_size * H, 0, 0.02f, &state);
  bw->pos_emb = as_model_random_f32 (model, ((gsize) config->max_positions + config->position_offset) * H,
                                     0, 0.02f, &state) + (gsize) config->position_offset * H;
  if (config->type_vocab_size > 0)
    bw->type_emb = as_model_random_f32 (model, (gsize) config->type_vocab_size * H, 0, 0.02f, &state);
  bw->emb_ln_g = as_model_random_f32 (model, H, 1, 0, &state);
  bw->emb_ln_b = as_model_random_f32 (model, H, 0, 0, &state);
  for (int l = 0; l < config->n_layers; l++)
    {
      AsLayerWeights *w = &bw->layers[l];
      w->q_w = as_model_random_f32 (model, H * H, 0, 0.02f, &state);
      w->q_b = as_model_random_f32 (model, H, 0, 0.02f, &state);
      w->k_w = as_model_random_f32 (model, H * H, 0, 0.02f, &state);
      w->k_b = as_model_random_f32 (model, H, 0, 0.02f, &state);
      w->v_w = as_model_random_f32 (model, H * H, 0, 0.02f, &state);
      w->v_b = as_model_random_f32 (model, H, 0, 0.02f, &state);
      w->o_w = as_model_random_f32 (model, H * H, 0, 0.02f, &state);
      w->o_b = as_model_random_f32 (model, H, 0, 0.02f, &state);
      w->ln1_g = as_model_random_f32 (model, H, 1, 0, &state);
      w->ln1_b = as_model_random_f32 (model, H, 0, 0, &state);
      w->ff1_w = as_model_random_f32 (model, I * H, 0, 0.02f, &state);
      w->ff1_b = as_model_random_f32 (model, I, 0, 0.02f, &state);
      w->ff2_w = as_model_random_f32 (model, H * I, 0, 0.02f, &state);
      w->ff2_b = as_model_random_f32 (model, H, 0, 0.02f, &state);
      w->ln2_g = as_model_random_f32 (model, H, 1, 0, &state);
      w->ln2_b = as_model_random_f32 (model, H, 0, 0, &state);
    }
}

/* --- backends ------------------------------------------------------------- */

/* The plugin's description holds pointers into MODEL's weights; the layer
 * table is the only thing allocated. The plugin reads token i's position
 * at row i, which pos_emb is for every family. It always adds a type row:
 * a family without token types gets one zero row (x + 0 is x in fp32),
 * in the same allocation after the layer table (the plugin copies it when
 * it opens), and the loader hands it type ids of 0. */
void
as_bert_gpu_describe (const AsModel *model,
                      gpointer       desc_out,
                      gpointer      *layers_out)
{
  const AsConfig *c = model->config;
  const AsBertWeights *bw = as_bert_weights (model);
  const gsize zero_row = bw->type_emb == NULL ? (gsize) c->hidden : 0;
  AsGpuLayerWeights *layers = g_malloc0 (sizeof (AsGpuLayerWeights) * c->n_layers +
                                         sizeof (float) * zero_row);   /* + [1, H] */
  const float *type_emb = bw->type_emb != NULL ? bw->type_emb : (const float *) (layers + c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    {
      const AsLayerWeights *w = &bw->layers[l];
      layers[l] = (AsGpuLayerWeights) {
        .q_w = w->q_w, .q_b = w->q_b, .k_w = w->k_w, .k_b = w->k_b, .v_w = w->v_w, .v_b = w->v_b,
        .o_w = w->o_w, .o_b = w->o_b, .ln1_g = w->ln1_g, .ln1_b = w->ln1_b,
        .ff1_w = w->ff1_w, .ff1_b = w->ff1_b, .ff2_w = w->ff2_w, .ff2_b = w->ff2_b,
        .ln2_g = w->ln2_g, .ln2_b = w->ln2_b,
      };
    }
  *(AsGpuModelDesc *) desc_out = (AsGpuModelDesc) {
    .n_layers = c->n_layers, .n_heads = c->n_heads, .hidden = c->hidden,
    .head_dim = c->head_dim, .intermediate = c->intermediate, .vocab_size = c->vocab_size,
    .max_positions = c->max_positions,
    .type_vocab_size = bw->type_emb != NULL ? c->type_vocab_size : 1,
    .layer_norm_eps = c->layer_norm_eps,
    .word_emb = bw->word_emb, .pos_emb = bw->pos_emb, .type_emb = type_emb,
    .emb_ln_g = bw->emb_ln_g, .emb_ln_b = bw->emb_ln_b,
    .layers = layers,
  };
  *layers_out = layers;
}

const float *
as_bert_position_table (const AsModel *model,
                        int           *rows,
                        int           *cols)
{
  *rows = model->config->max_positions;
  *cols = model->config->hidden;
  return as_bert_weights (model)->pos_emb;
}

static const char *const bert_model_types[] = { "bert", NULL };

const AsArchitecture as_arch_bert = {
  .name = "bert",
  .model_types = bert_model_types,
  .causal = FALSE,
  .uses_token_types = TRUE,
  .read_config = as_bert_read_config,
  .bind_weights = bert_bind_weights,
  .init_random = as_bert_init_random,
  .free_weights = as_bert_free_weights,
  .cpu_backend_new = as_bert_cpu_backend_new,
  .reference_backend_new = as_bert_reference_backend_new,
  .layer_trace = as_bert_reference_layer_trace,
  .gpu_describe = as_bert_gpu_describe,
  .mlm_head = as_bert_mlm_head,
  .position_table = as_bert_position_table,
};
