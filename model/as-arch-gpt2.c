/* as-arch-gpt2.c — GPT-2 behind the architecture seam (as-architecture.h).
 *
 * A decoder: causal attention, no token types, pre-LayerNorm blocks,
 * learned absolute positions (wpe, shown by the position view), a tanh-GELU
 * MLP, and the output projection tied to the token embedding (wte). The
 * config is GPT2Config's fields; the weights come from a safetensors folder
 * under GPT2Model's names, with or without GPT2LMHeadModel's "transformer."
 * prefix. Its projections are Conv1D: weights [in, out], bound as stored.
 * Or both come from a GGUF file as llama.cpp's converter writes GPT-2
 * (gpt2.* metadata, blk.N.attn_qkv …), whose projections it transposed to
 * nn.Linear's [out, in]: they are turned back at load.
 */
#include "as-gpt2.h"

#include <string.h>

#include "as-elementwise.h"
#include "as-error.h"
#include "as-gpu-plugin.h"
#include "as-reference.h"

/* --- config ----------------------------------------------------------------- */

/* A boolean FIELD that must be EXPECTED (FALLBACK when absent): a switch
 * that changes the forward the reference does not compute is refused by
 * name. */
static gboolean
require_flag (JsonObject  *obj,
              const char  *display_name,
              const char  *field,
              gboolean     fallback,
              gboolean     expected,
              GError     **error)
{
  JsonNode *node = json_object_get_member (obj, field);
  gboolean value = fallback;
  if (node != NULL && !JSON_NODE_HOLDS_NULL (node))
    {
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                       "%s: %s is not true or false", display_name, field);
          return FALSE;
        }
      value = json_node_get_boolean (node);
    }
  if (value != expected)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: %s = %s is not supported (only %s)", display_name, field,
                   value ? "true" : "false", expected ? "true" : "false");
      return FALSE;
    }
  return TRUE;
}

/* Checks shared by both sources, once the fields are read. */
static gboolean
finish_config (const char  *display_name,
               AsConfig    *config,
               GError     **error)
{
  if (config->hidden % config->n_heads != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: n_embd %d is not divisible by %d attention heads",
                   display_name, config->hidden, config->n_heads);
      return FALSE;
    }
  config->head_dim = config->hidden / config->n_heads;
  config->n_kv_heads = config->n_heads;
  config->type_vocab_size = 0;
  return TRUE;
}

/* GPT2Config's fields. n_inner null or absent means 4 * n_embd. */
static gboolean
gpt2_read_config (JsonObject  *obj,
                  const char  *display_name,
                  AsConfig    *config,
                  GError     **error)
{
  const char *act = as_config_read_string (obj, "activation_function");
  if (act != NULL && g_strcmp0 (act, "gelu_new") != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: activation_function '%s' is not supported (supported: gelu_new)",
                   display_name, act);
      return FALSE;
    }
  if (!require_flag (obj, display_name, "scale_attn_weights", TRUE, TRUE, error) ||
      !require_flag (obj, display_name, "scale_attn_by_inverse_layer_idx", FALSE, FALSE, error) ||
      !require_flag (obj, display_name, "add_cross_attention", FALSE, FALSE, error) ||
      /* the logits are the final hidden state times wte^T */
      !require_flag (obj, display_name, "tie_word_embeddings", TRUE, TRUE, error))
    return FALSE;
  gboolean ok =
    as_config_read_int (obj, display_name, "n_layer", 1, AS_CONFIG_MAX_LAYERS, TRUE, 0, &config->n_layers, error) &&
    as_config_read_int (obj, display_name, "n_head", 1, AS_CONFIG_MAX_HEADS, TRUE, 0, &config->n_heads, error) &&
    as_config_read_int (obj, display_name, "n_embd", 1, AS_CONFIG_MAX_HIDDEN, TRUE, 0, &config->hidden, error) &&
    as_config_read_int (obj, display_name, "n_positions", 1, AS_CONFIG_MAX_POSITIONS, TRUE, 0, &config->max_positions, error) &&
    as_config_read_int (obj, display_name, "vocab_size", 1, AS_CONFIG_MAX_VOCAB, TRUE, 0, &config->vocab_size, error) &&
    as_config_read_eps (obj, display_name, "layer_norm_epsilon", 1e-5f, &config->layer_norm_eps, error);
  if (!ok)
    return FALSE;
  JsonNode *inner = json_object_get_member (obj, "n_inner");
  if (inner != NULL && !JSON_NODE_HOLDS_NULL (inner))
    {
      if (!as_config_read_int (obj, display_name, "n_inner", 1, AS_CONFIG_MAX_INTERMEDIATE, TRUE, 0,
                               &config->intermediate, error))
        return FALSE;
    }
  else if (4 * config->hidden > AS_CONFIG_MAX_INTERMEDIATE)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: n_inner is unset and 4 * n_embd = %d is too large",
                   display_name, 4 * config->hidden);
      return FALSE;
    }
  else
    config->intermediate = 4 * config->hidden;
  return finish_config (display_name, config, error);
}

/* The GGUF metadata llama.cpp's converter writes for GPT-2: the MLP's
 * width in feed_forward_length, the position table's rows in
 * context_length. Nothing there switches GPT2Config's variants (other
 * activations, inverse-layer scaling, cross-attention) on: the converter
 * writes GPT-2's plain form. */
static gboolean
gpt2_read_gguf_config (AsGguf    *gg,
                       AsConfig  *config,
                       GError   **error)
{
  const char *path = as_gguf_get_path (gg);
  const char *arch = config->model_type;   /* general.architecture */
  gboolean ok =
    as_model_gguf_int (gg, arch, "block_count", 1, AS_CONFIG_MAX_LAYERS, TRUE, 0, &config->n_layers, error) &&
    as_model_gguf_int (gg, arch, "attention.head_count", 1, AS_CONFIG_MAX_HEADS, TRUE, 0, &config->n_heads, error) &&
    as_model_gguf_int (gg, arch, "embedding_length", 1, AS_CONFIG_MAX_HIDDEN, TRUE, 0, &config->hidden, error) &&
    as_model_gguf_int (gg, arch, "feed_forward_length", 1, AS_CONFIG_MAX_INTERMEDIATE, TRUE, 0, &config->intermediate, error) &&
    as_model_gguf_int (gg, arch, "context_length", 1, AS_CONFIG_MAX_POSITIONS, TRUE, 0, &config->max_positions, error) &&
    as_model_gguf_vocab (gg, arch, &config->vocab_size, error) &&
    as_model_gguf_float (gg, arch, "attention.layer_norm_epsilon", 1e-5f, &config->layer_norm_eps, error);
  if (!ok)
    return FALSE;
  if (!(config->layer_norm_eps > 0.0f && config->layer_norm_eps < 1.0f))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: metadata key '%s.attention.layer_norm_epsilon' is %g, "
                   "expected a number in (0, 1)", path, arch, (double) config->layer_norm_eps);
      return FALSE;
    }
  return finish_config (path, config, error);
}

/* --- weights ---------------------------------------------------------------- */

static AsGpt2Weights *
gpt2_weights_new (AsModel *model,
                  int      n_layers)
{
  AsGpt2Weights *w = g_new0 (AsGpt2Weights, 1);
  w->layers = g_new0 (AsGpt2LayerWeights, n_layers);
  model->arch = &as_arch_gpt2;
  model->weights = w;
  return w;
}

static void
gpt2_free_weights (gpointer weights)
{
  AsGpt2Weights *w = weights;
  g_free (w->layers);
  g_free (w);
}

static gboolean
bind_layer (AsModel             *model,
            AsGpt2LayerWeights  *w,
            const char          *prefix,
            int                  l,
            GError             **error)
{
  const AsConfig *c = model->config;
  g_autofree char *lp = g_strdup_printf ("%sh.%d.", prefix, l);
  const gint64 H = c->hidden, F = c->intermediate;

#define BIND(slot, suffix, nd, a, b) \
  if ((w->slot = as_model_bind_f32 (model, lp, suffix, nd, a, b, error)) == NULL) return FALSE

  BIND (ln1_g,     "ln_1.weight", 1, H, 0);
  BIND (ln1_b,     "ln_1.bias", 1, H, 0);
  BIND (qkv_w,     "attn.c_attn.weight", 2, H, 3 * H);
  BIND (qkv_b,     "attn.c_attn.bias", 1, 3 * H, 0);
  BIND (proj_w,    "attn.c_proj.weight", 2, H, H);
  BIND (proj_b,    "attn.c_proj.bias", 1, H, 0);
  BIND (ln2_g,     "ln_2.weight", 1, H, 0);
  BIND (ln2_b,     "ln_2.bias", 1, H, 0);
  BIND (fc_w,      "mlp.c_fc.weight", 2, H, F);
  BIND (fc_b,      "mlp.c_fc.bias", 1, F, 0);
  BIND (fc_proj_w, "mlp.c_proj.weight", 2, F, H);
  BIND (fc_proj_b, "mlp.c_proj.bias", 1, H, 0);
#undef BIND
  return TRUE;
}

/* --- weights from GGUF ------------------------------------------------------- */

/* Conv1D weight NAME [in, out] of a GGUF file, which holds it as
 * nn.Linear's [out, in] (llama.cpp's converter transposes GPT-2's Conv1D
 * weights): turned back, in a buffer MODEL owns. */
static const float *
bind_gguf_conv1d (AsModel     *model,
                  const char  *name,
                  gint64       in,
                  gint64       out,
                  GError     **error)
{
  float *linear = as_model_bind_gguf_f32 (model, name, 2, out, in, error);   /* [out, in] */
  if (linear == NULL)
    return NULL;
  float *conv = g_try_new (float, (gsize) in * out);                         /* [in, out] */
  if (conv == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "%s: tensor '%s' does not fit in memory", as_gguf_get_path (model->gguf), name);
      return NULL;
    }
  for (gint64 o = 0; o < out; o++)
    for (gint64 i = 0; i < in; i++)
      conv[i * out + o] = linear[o * in + i];
  g_ptr_array_add (model->owned, conv);
  g_ptr_array_remove (model->owned, linear);   /* frees it */
  return conv;
}

static gboolean
bind_gguf_layer (AsModel             *model,
                 AsGpt2LayerWeights  *w,
                 int                  l,
                 GError             **error)
{
  const AsConfig *c = model->config;
  const gint64 H = c->hidden, F = c->intermediate;

#define BIND(slot, suffix, d0) do {                                                  \
    g_autofree char *name = g_strdup_printf ("blk.%d." suffix, l);                   \
    if ((w->slot = as_model_bind_gguf_f32 (model, name, 1, d0, 0, error)) == NULL)   \
      return FALSE;                                                                  \
  } while (0)
#define BIND_CONV1D(slot, suffix, in, out) do {                                      \
    g_autofree char *name = g_strdup_printf ("blk.%d." suffix, l);                   \
    if ((w->slot = bind_gguf_conv1d (model, name, in, out, error)) == NULL)          \
      return FALSE;                                                                  \
  } while (0)

  BIND (ln1_g, "attn_norm.weight", H);
  BIND (ln1_b, "attn_norm.bias", H);
  BIND_CONV1D (qkv_w, "attn_qkv.weight", H, 3 * H);
  BIND (qkv_b, "attn_qkv.bias", 3 * H);
  BIND_CONV1D (proj_w, "attn_output.weight", H, H);
  BIND (proj_b, "attn_output.bias", H);
  BIND (ln2_g, "ffn_norm.weight", H);
  BIND (ln2_b, "ffn_norm.bias", H);
  BIND_CONV1D (fc_w, "ffn_up.weight", H, F);
  BIND (fc_b, "ffn_up.bias", F);
  BIND_CONV1D (fc_proj_w, "ffn_down.weight", F, H);
  BIND (fc_proj_b, "ffn_down.bias", H);
#undef BIND
#undef BIND_CONV1D
  return TRUE;
}

/* token_embd, position_embd, output_norm and the layers. The converter
 * writes output.weight as a copy of token_embd (GPT-2 ties them); one that
 * differs would be a projection this forward does not compute: refused. */
static gboolean
bind_gguf (AsModel  *model,
           GError  **error)
{
  const AsConfig *c = model->config;
  const char *path = as_gguf_get_path (model->gguf);
  AsGpt2Weights *w = gpt2_weights_new (model, c->n_layers);
  if ((w->wte = as_model_bind_gguf_f32 (model, "token_embd.weight", 2, c->vocab_size, c->hidden, error)) == NULL ||
      (w->wpe = as_model_bind_gguf_f32 (model, "position_embd.weight", 2, c->max_positions, c->hidden, error)) == NULL ||
      (w->lnf_g = as_model_bind_gguf_f32 (model, "output_norm.weight", 1, c->hidden, 0, error)) == NULL ||
      (w->lnf_b = as_model_bind_gguf_f32 (model, "output_norm.bias", 1, c->hidden, 0, error)) == NULL)
    return FALSE;
  if (as_gguf_lookup (model->gguf, "output.weight") != NULL)
    {
      float *out = as_model_bind_gguf_f32 (model, "output.weight", 2, c->vocab_size, c->hidden, error);
      if (out == NULL)
        return FALSE;
      const gboolean tied = memcmp (out, w->wte, sizeof (float) * c->vocab_size * c->hidden) == 0;
      g_ptr_array_remove (model->owned, out);   /* frees it */
      if (!tied)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                       "%s: output.weight differs from token_embd.weight; GPT-2's output "
                       "projection is its token embedding (tied)", path);
          return FALSE;
        }
    }
  for (int l = 0; l < c->n_layers; l++)
    if (!bind_gguf_layer (model, &w->layers[l], l, error))
      return FALSE;

  g_autofree char *extra = g_strdup_printf ("blk.%d.attn_qkv.weight", c->n_layers);
  if (as_gguf_lookup (model->gguf, extra) != NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: holds a layer %d but the metadata says %s.block_count = %d",
                   path, c->n_layers, c->model_type, c->n_layers);
      return FALSE;
    }
  return TRUE;
}

/* --- binding -------------------------------------------------------------------- */

static gboolean
gpt2_bind_weights (AsModel  *model,
                   GError  **error)
{
  const AsConfig *c = model->config;
  if (model->gguf != NULL)
    return bind_gguf (model, error);
  if (model->st == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: GPT-2 weights are read from a safetensors folder or a GGUF file",
                   model->dir);
      return FALSE;
    }
  /* GPT2LMHeadModel saves GPT2Model's tensors under "transformer.". */
  const char *prefix = as_safetensors_lookup (model->st, "wte.weight") != NULL ? "" : "transformer.";

  AsGpt2Weights *w = gpt2_weights_new (model, c->n_layers);
  if ((w->wte = as_model_bind_f32 (model, prefix, "wte.weight", 2, c->vocab_size, c->hidden, error)) == NULL ||
      (w->wpe = as_model_bind_f32 (model, prefix, "wpe.weight", 2, c->max_positions, c->hidden, error)) == NULL ||
      (w->lnf_g = as_model_bind_f32 (model, prefix, "ln_f.weight", 1, c->hidden, 0, error)) == NULL ||
      (w->lnf_b = as_model_bind_f32 (model, prefix, "ln_f.bias", 1, c->hidden, 0, error)) == NULL)
    return FALSE;
  for (int l = 0; l < c->n_layers; l++)
    if (!bind_layer (model, &w->layers[l], prefix, l, error))
      return FALSE;

  /* A config that promises fewer layers than the file holds would silently
   * ignore weights. */
  g_autofree char *extra = g_strdup_printf ("%sh.%d.attn.c_attn.weight", prefix, c->n_layers);
  if (as_safetensors_lookup (model->st, extra) != NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: holds a layer %d but config.json says n_layer = %d",
                   as_safetensors_get_path (model->st), c->n_layers, c->n_layers);
      return FALSE;
    }
  return TRUE;
}

static void
gpt2_init_random (AsModel *model,
                  guint32  seed)
{
  const AsConfig *c = model->config;
  guint32 state = seed ? seed : 0x9e3779b9u;
  const gsize H = c->hidden, F = c->intermediate, V = c->vocab_size, P = c->max_positions;
  AsGpt2Weights *gw = gpt2_weights_new (model, c->n_layers);
  gw->wte = as_model_random_f32 (model, V * H, 0, 0.02f, &state);
  gw->wpe = as_model_random_f32 (model, P * H, 0, 0.01f, &state);
  gw->lnf_g = as_model_random_f32 (model, H, 1, 0, &state);
  gw->lnf_b = as_model_random_f32 (model, H, 0, 0, &state);
  for (int l = 0; l < c->n_layers; l++)
    {
      AsGpt2LayerWeights *w = &gw->layers[l];
      w->ln1_g = as_model_random_f32 (model, H, 1, 0, &state);
      w->ln1_b = as_model_random_f32 (model, H, 0, 0, &state);
      w->qkv_w = as_model_random_f32 (model, H * 3 * H, 0, 0.02f, &state);
      w->qkv_b = as_model_random_f32 (model, 3 * H, 0, 0, &state);
      w->proj_w = as_model_random_f32 (model, H * H, 0, 0.02f, &state);
      w->proj_b = as_model_random_f32 (model, H, 0, 0, &state);
      w->ln2_g = as_model_random_f32 (model, H, 1, 0, &state);
      w->ln2_b = as_model_random_f32 (model, H, 0, 0, &state);
      w->fc_w = as_model_random_f32 (model, H * F, 0, 0.02f, &state);
      w->fc_b = as_model_random_f32 (model, F, 0, 0, &state);
      w->fc_proj_w = as_model_random_f32 (model, F * H, 0, 0.02f, &state);
      w->fc_proj_b = as_model_random_f32 (model, H, 0, 0, &state);
    }
}

/* --- the language-model head and the positions ------------------------------ */

/* ln_f of each row: GPT2Model's last_hidden_state, what the logit lens puts
 * each layer's output through. */
static void
gpt2_final_norm (const AsModel *model,
                 const float   *x,
                 int            n,
                 float         *out)
{
  const AsConfig *c = model->config;
  const AsGpt2Weights *w = as_gpt2_weights (model);
  for (int i = 0; i < n; i++)
    as_layer_norm_row (out + (gsize) i * c->hidden, x + (gsize) i * c->hidden, w->lnf_g,
                       w->lnf_b, c->hidden, c->layer_norm_eps);
}

static const float *
gpt2_output_embedding (const AsModel *model)
{
  return as_gpt2_weights (model)->wte;
}

static const float *
gpt2_position_table (const AsModel *model,
                     int           *rows,
                     int           *cols)
{
  *rows = model->config->max_positions;
  *cols = model->config->hidden;
  return as_gpt2_weights (model)->wpe;
}

/* The plugin's decoder with GPT-2's switches: LayerNorm, the learned
 * position table, the tanh-GELU MLP, biases everywhere, and the weights
 * as bound (Conv1D's [in, out], c_attn's Q | K | V columns fused). The
 * description points into MODEL's weights; the layer table is the only
 * thing allocated. The logits stay with the engine's head (wte, tied). */
static void
gpt2_gpu_describe_decoder (const AsModel *model,
                           gpointer       desc_out,
                           gpointer      *layers_out)
{
  const AsConfig *c = model->config;
  const AsGpt2Weights *w = as_gpt2_weights (model);
  AsGpuDecoderLayerWeights *layers = g_new0 (AsGpuDecoderLayerWeights, c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    {
      const AsGpt2LayerWeights *lw = &w->layers[l];
      layers[l] = (AsGpuDecoderLayerWeights) {
        .attn_norm = lw->ln1_g, .attn_norm_b = lw->ln1_b,
        .qkv_w = lw->qkv_w, .qkv_b = lw->qkv_b, .o_w = lw->proj_w, .o_b = lw->proj_b,
        .ffn_norm = lw->ln2_g, .ffn_norm_b = lw->ln2_b,
        .up_w = lw->fc_w, .up_b = lw->fc_b, .down_w = lw->fc_proj_w, .down_b = lw->fc_proj_b,
      };
    }
  *(AsGpuDecoderDesc *) desc_out = (AsGpuDecoderDesc) {
    .n_layers = c->n_layers, .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads,
    .hidden = c->hidden, .head_dim = c->head_dim, .intermediate = c->intermediate,
    .vocab_size = c->vocab_size, .max_positions = c->max_positions,
    .norm = AS_GPU_NORM_LAYER, .positions = AS_GPU_POSITIONS_LEARNED,
    .ffn = AS_GPU_FFN_GELU_TANH, .layout = AS_GPU_WEIGHTS_IN_OUT,
    .norm_eps = c->layer_norm_eps,
    .tok_emb = w->wte, .pos_emb = w->wpe, .out_norm = w->lnf_g, .out_norm_b = w->lnf_b,
    .layers = layers,
  };
  *layers_out = layers;
}

static const char *const gpt2_model_types[] = { "gpt2", NULL };

const AsArchitecture as_arch_gpt2 = {
  .name = "gpt2",
  .model_types = gpt2_model_types,
  .causal = TRUE,
  .uses_token_types = FALSE,
  .read_config = gpt2_read_config,
  .read_gguf_config = gpt2_read_gguf_config,
  .bind_weights = gpt2_bind_weights,
  .init_random = gpt2_init_random,
  .free_weights = gpt2_free_weights,
  .cpu_backend_new = as_gpt2_cpu_backend_new,
  .reference_backend_new = as_gpt2_reference_backend_new,
  .layer_trace = as_gpt2_reference_layer_trace,
  .gpu_describe = NULL,
  .gpu_describe_decoder = gpt2_gpu_describe_decoder,
  .final_norm = gpt2_final_norm,
  .output_embedding = gpt2_output_embedding,
  .position_table = gpt2_position_table,
};
