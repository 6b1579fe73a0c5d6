/* as-arch-llama.c — Llama behind the architecture seam (as-architecture.h):
 * llama, and the checkpoints that call themselves llama (SmolLM2).
 *
 * A decoder: causal attention, no token types, RMSNorm, rotary positions,
 * grouped-query attention, a SwiGLU FFN. Its config comes from a GGUF
 * file's metadata (llama.block_count, …) or from a config.json with
 * LlamaConfig's fields; its weights from a safetensors folder under
 * transformers' names (LlamaForCausalLM's, in transformers' layout as they
 * are) or from a GGUF file. A GGUF's tensors are de-quantised to
 * f32 at load, and the Q and K rows are put back in transformers' order:
 * llama.cpp's converter interleaves each head's two rotary halves, which
 * transformers' GGUF loader undoes, and the reference forward
 * (as-reference-llama.c) rotates in transformers' layout.
 */
#include "as-llama.h"

#include <math.h>
#include <string.h>

#include "as-elementwise.h"
#include "as-error.h"
#include "as-reference.h"
#include "as-gpu-plugin.h"
#include "as-json-guard.h"

/* --- config ----------------------------------------------------------------- */

/* Checks shared by both sources, once the fields are read. */
static gboolean
finish_config (const char  *display_name,
               AsConfig    *c,
               GError     **error)
{
  if (c->hidden % c->n_heads != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: hidden size %d is not divisible by %d attention heads",
                   display_name, c->hidden, c->n_heads);
      return FALSE;
    }
  if (c->n_heads % c->n_kv_heads != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: %d attention heads are not a multiple of %d key/value heads",
                   display_name, c->n_heads, c->n_kv_heads);
      return FALSE;
    }
  c->head_dim = c->hidden / c->n_heads;
  if (c->head_dim % 2 != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: head size %d is odd; rotary positions need an even one",
                   display_name, c->head_dim);
      return FALSE;
    }
  if (!(isfinite (c->rope_theta) && c->rope_theta > 1.0f))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: the rotary base is %g, expected a finite number above 1",
                   display_name, (double) c->rope_theta);
      return FALSE;
    }
  c->type_vocab_size = 0;
  return TRUE;
}

/* rope_theta, kept as the float the rotary tables are computed from:
 * top-level (transformers 4) or in rope_parameters (transformers 5, whose
 * rope_type must be "default": plain rotary positions). */
static gboolean
read_rope_theta (JsonObject  *obj,
                 const char  *display_name,
                 float       *out,
                 GError     **error)
{
  double theta;
  JsonNode *params = json_object_get_member (obj, "rope_parameters");
  if (params != NULL && JSON_NODE_HOLDS_OBJECT (params))
    {
      JsonObject *p = json_node_get_object (params);
      const char *type = as_config_read_string (p, "rope_type");
      if (type != NULL && g_strcmp0 (type, "default") != 0)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                       "%s: rope_parameters.rope_type '%s' is not supported (only plain "
                       "rotary positions)", display_name, type);
          return FALSE;
        }
      obj = p;
    }
  else if (params != NULL && !JSON_NODE_HOLDS_NULL (params))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: rope_parameters is not an object", display_name);
      return FALSE;
    }
  if (!as_config_read_number (obj, display_name, "rope_theta", 10000.0, &theta, error))
    return FALSE;
  *out = (float) theta;   /* range-checked with the rest in finish_config */
  return TRUE;
}

/* LlamaConfig's fields. */
static gboolean
llama_read_config (JsonObject  *obj,
                   const char  *display_name,
                   AsConfig    *config,
                   GError     **error)
{
  const char *act = as_config_read_string (obj, "hidden_act");
  if (act != NULL && g_strcmp0 (act, "silu") != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: hidden_act '%s' is not supported (supported: silu)", display_name, act);
      return FALSE;
    }
  if (json_object_has_member (obj, "rope_scaling") &&
      !JSON_NODE_HOLDS_NULL (json_object_get_member (obj, "rope_scaling")))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: rope_scaling is not supported (only plain rotary positions)", display_name);
      return FALSE;
    }
  static const char *const no_bias[] = { "attention_bias", "mlp_bias" };
  for (guint i = 0; i < G_N_ELEMENTS (no_bias); i++)
    if (json_object_has_member (obj, no_bias[i]) &&
        !JSON_NODE_HOLDS_NULL (json_object_get_member (obj, no_bias[i])) &&
        as_json_get_bool (obj, no_bias[i], TRUE))
      {
        g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                     "%s: %s is not supported (Llama's projections have no bias)",
                     display_name, no_bias[i]);
        return FALSE;
      }
  /* LlamaConfig's default: a separate lm_head */
  config->tie_word_embeddings = as_json_get_bool (obj, "tie_word_embeddings", FALSE);
  int head_dim = 0;
  gboolean ok =
    as_config_read_int (obj, display_name, "num_hidden_layers", 1, AS_CONFIG_MAX_LAYERS, TRUE, 0, &config->n_layers, error) &&
    as_config_read_int (obj, display_name, "num_attention_heads", 1, AS_CONFIG_MAX_HEADS, TRUE, 0, &config->n_heads, error) &&
    as_config_read_int (obj, display_name, "num_key_value_heads", 1, AS_CONFIG_MAX_HEADS, FALSE, config->n_heads, &config->n_kv_heads, error) &&
    as_config_read_int (obj, display_name, "hidden_size", 1, AS_CONFIG_MAX_HIDDEN, TRUE, 0, &config->hidden, error) &&
    as_config_read_int (obj, display_name, "intermediate_size", 1, AS_CONFIG_MAX_INTERMEDIATE, TRUE, 0, &config->intermediate, error) &&
    as_config_read_int (obj, display_name, "vocab_size", 1, AS_CONFIG_MAX_VOCAB, TRUE, 0, &config->vocab_size, error) &&
    as_config_read_int (obj, display_name, "max_position_embeddings", 1, AS_CONFIG_MAX_POSITIONS, TRUE, 0, &config->max_positions, error) &&
    as_config_read_int (obj, display_name, "head_dim", 1, AS_CONFIG_MAX_HIDDEN, FALSE, 0, &head_dim, error) &&
    as_config_read_eps (obj, display_name, "rms_norm_eps", 1e-6f, &config->layer_norm_eps, error) &&
    read_rope_theta (obj, display_name, &config->rope_theta, error) &&
    finish_config (display_name, config, error);
  if (ok && head_dim != 0 && head_dim != config->head_dim)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: head_dim %d differs from hidden_size / num_attention_heads = %d",
                   display_name, head_dim, config->head_dim);
      return FALSE;
    }
  return ok;
}

/* The GGUF metadata llama.cpp's converter writes for a Llama model. */
static gboolean
llama_read_gguf_config (AsGguf    *gg,
                        AsConfig  *config,
                        GError   **error)
{
  const char *path = as_gguf_get_path (gg);
  const char *arch = config->model_type;   /* general.architecture */
  g_autofree char *scaling = g_strdup_printf ("%s.rope.scaling.type", arch);
  if (as_gguf_find_key (gg, scaling, NULL, NULL) == AS_GGUF_STRING &&
      g_strcmp0 (as_gguf_get_string (gg, scaling, NULL), "none") != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: %s '%s' is not supported (only plain rotary positions)",
                   path, scaling, as_gguf_get_string (gg, scaling, NULL));
      return FALSE;
    }
  int rope_dims = 0;
  gboolean ok =
    as_model_gguf_int (gg, arch, "block_count", 1, AS_CONFIG_MAX_LAYERS, TRUE, 0, &config->n_layers, error) &&
    as_model_gguf_int (gg, arch, "attention.head_count", 1, AS_CONFIG_MAX_HEADS, TRUE, 0, &config->n_heads, error) &&
    as_model_gguf_int (gg, arch, "attention.head_count_kv", 1, AS_CONFIG_MAX_HEADS, FALSE, config->n_heads, &config->n_kv_heads, error) &&
    as_model_gguf_int (gg, arch, "embedding_length", 1, AS_CONFIG_MAX_HIDDEN, TRUE, 0, &config->hidden, error) &&
    as_model_gguf_int (gg, arch, "feed_forward_length", 1, AS_CONFIG_MAX_INTERMEDIATE, TRUE, 0, &config->intermediate, error) &&
    as_model_gguf_int (gg, arch, "context_length", 1, AS_CONFIG_MAX_POSITIONS, TRUE, 0, &config->max_positions, error) &&
    as_model_gguf_int (gg, arch, "rope.dimension_count", 0, AS_CONFIG_MAX_HIDDEN, FALSE, 0, &rope_dims, error) &&
    as_model_gguf_vocab (gg, arch, &config->vocab_size, error) &&
    as_model_gguf_float (gg, arch, "rope.freq_base", 10000.0f, &config->rope_theta, error) &&
    as_model_gguf_float (gg, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &config->layer_norm_eps, error);
  if (!ok)
    return FALSE;
  if (!(config->layer_norm_eps > 0.0f && config->layer_norm_eps < 1.0f))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: metadata key '%s.attention.layer_norm_rms_epsilon' is %g, "
                   "expected a number in (0, 1)", path, arch, (double) config->layer_norm_eps);
      return FALSE;
    }
  if (!finish_config (path, config, error))
    return FALSE;
  if (rope_dims != 0 && rope_dims != config->head_dim)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: %s.rope.dimension_count is %d but heads have %d dimensions; "
                   "partial rotary positions are not supported",
                   path, arch, rope_dims, config->head_dim);
      return FALSE;
    }
  return TRUE;
}

/* --- weights ---------------------------------------------------------------- */

static AsLlamaWeights *
llama_weights_new (AsModel *model,
                   int      n_layers)
{
  AsLlamaWeights *w = g_new0 (AsLlamaWeights, 1);
  w->layers = g_new0 (AsLlamaLayerWeights, n_layers);
  model->arch = &as_arch_llama;
  model->weights = w;
  return w;
}

static void
llama_free_weights (gpointer weights)
{
  AsLlamaWeights *w = weights;
  g_free (w->layers);
  g_free (w);
}

int
as_llama_stored_row (int row,
                     int d)
{
  const int half = d / 2, head = row / d, within = row % d;
  const int a = within / half, b = within % half;
  return head * d + 2 * b + a;
}

/* W [n_head * d, cols] from llama.cpp's rotary layout back to
 * transformers' (as_llama_stored_row), i.e. the two halves that
 * rotate_half pairs, interleaved by the converter, apart again. */
static void
unpermute_rows (float *w,
                int    n_head,
                int    d,
                int    cols)
{
  const gsize head_size = (gsize) d * cols;
  float *stored = g_new (float, head_size);   /* [d, cols]  one head as stored */
  for (int h = 0; h < n_head; h++)
    {
      float *head = w + (gsize) h * head_size;   /* [d, cols] */
      memcpy (stored, head, head_size * sizeof (float));
      for (int r = 0; r < d; r++)
        memcpy (head + (gsize) r * cols, stored + (gsize) as_llama_stored_row (r, d) * cols,
                (gsize) cols * sizeof (float));
    }
  g_free (stored);
}

static gboolean
bind_layer (AsModel              *model,
            AsLlamaLayerWeights  *w,
            int                   l,
            GError              **error)
{
  const AsConfig *c = model->config;
  const gint64 H = c->hidden, F = c->intermediate, d = c->head_dim;
  const gint64 Q = c->n_heads * d, KV = c->n_kv_heads * d;
  float *q, *k;

#define BIND(dst, suffix, nd, a, b) do {                                       \
    g_autofree char *name = g_strdup_printf ("blk.%d." suffix, l);             \
    if ((dst = as_model_bind_gguf_f32 (model, name, nd, a, b, error)) == NULL) \
      return FALSE;                                                            \
  } while (0)
#define STORED(p, suffix) do {                                                 \
    g_autofree char *name = g_strdup_printf ("blk.%d." suffix, l);             \
    w->stored[p] = as_gguf_lookup (model->gguf, name);                         \
  } while (0)

  BIND (w->attn_norm, "attn_norm.weight", 1, H, 0);
  BIND (q, "attn_q.weight", 2, Q, H);
  BIND (k, "attn_k.weight", 2, KV, H);
  BIND (w->v_w, "attn_v.weight", 2, KV, H);
  BIND (w->o_w, "attn_output.weight", 2, H, Q);
  BIND (w->ffn_norm, "ffn_norm.weight", 1, H, 0);
  BIND (w->gate_w, "ffn_gate.weight", 2, F, H);
  BIND (w->up_w, "ffn_up.weight", 2, F, H);
  BIND (w->down_w, "ffn_down.weight", 2, H, F);
  STORED (AS_LLAMA_Q, "attn_q.weight");
  STORED (AS_LLAMA_K, "attn_k.weight");
  STORED (AS_LLAMA_V, "attn_v.weight");
  STORED (AS_LLAMA_O, "attn_output.weight");
  STORED (AS_LLAMA_GATE, "ffn_gate.weight");
  STORED (AS_LLAMA_UP, "ffn_up.weight");
  STORED (AS_LLAMA_DOWN, "ffn_down.weight");
#undef BIND
#undef STORED

  unpermute_rows (q, c->n_heads, c->head_dim, c->hidden);
  unpermute_rows (k, c->n_kv_heads, c->head_dim, c->hidden);
  w->q_w = q;
  w->k_w = k;
  return TRUE;
}

/* Layer L of a safetensors folder under LlamaForCausalLM's names, in
 * transformers' layout already (no rows to un-permute). */
static gboolean
bind_layer_st (AsModel              *model,
               AsLlamaLayerWeights  *w,
               int                   l,
               GError              **error)
{
  const AsConfig *c = model->config;
  g_autofree char *lp = g_strdup_printf ("model.layers.%d.", l);
  const gint64 H = c->hidden, F = c->intermediate, d = c->head_dim;
  const gint64 Q = c->n_heads * d, KV = c->n_kv_heads * d;

#define BIND(slot, suffix, nd, a, b) \
  if ((w->slot = as_model_bind_f32 (model, lp, suffix, nd, a, b, error)) == NULL) return FALSE

  BIND (attn_norm, "input_layernorm.weight", 1, H, 0);
  BIND (q_w,       "self_attn.q_proj.weight", 2, Q, H);
  BIND (k_w,       "self_attn.k_proj.weight", 2, KV, H);
  BIND (v_w,       "self_attn.v_proj.weight", 2, KV, H);
  BIND (o_w,       "self_attn.o_proj.weight", 2, H, Q);
  BIND (ffn_norm,  "post_attention_layernorm.weight", 1, H, 0);
  BIND (gate_w,    "mlp.gate_proj.weight", 2, F, H);
  BIND (up_w,      "mlp.up_proj.weight", 2, F, H);
  BIND (down_w,    "mlp.down_proj.weight", 2, H, F);
#undef BIND
  return TRUE;
}

/* A safetensors folder: model.embed_tokens, model.layers.N.…, model.norm,
 * and lm_head.weight unless config.json's tie_word_embeddings makes the
 * embedding the output projection (transformers then saves it once, and
 * ties any lm_head.weight there is to the embedding on load). */
static gboolean
bind_safetensors (AsModel  *model,
                  GError  **error)
{
  const AsConfig *c = model->config;
  AsLlamaWeights *w = llama_weights_new (model, c->n_layers);
  if ((w->tok_emb = as_model_bind_f32 (model, "", "model.embed_tokens.weight", 2, c->vocab_size, c->hidden, error)) == NULL ||
      (w->out_norm = as_model_bind_f32 (model, "", "model.norm.weight", 1, c->hidden, 0, error)) == NULL)
    return FALSE;
  w->lm_head = w->tok_emb;
  if (!c->tie_word_embeddings)
    {
      if (as_safetensors_lookup (model->st, "lm_head.weight") == NULL)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                       "%s: tensor 'lm_head.weight' is missing, and config.json's "
                       "tie_word_embeddings is false: the output projection is not the embedding",
                       as_safetensors_get_path (model->st));
          return FALSE;
        }
      if ((w->lm_head = as_model_bind_f32 (model, "", "lm_head.weight", 2, c->vocab_size,
                                           c->hidden, error)) == NULL)
        return FALSE;
    }

  for (int l = 0; l < c->n_layers; l++)
    if (!bind_layer_st (model, &w->layers[l], l, error))
      return FALSE;

  g_autofree char *extra = g_strdup_printf ("model.layers.%d.self_attn.q_proj.weight", c->n_layers);
  if (as_safetensors_lookup (model->st, extra) != NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: holds a layer %d but config.json says num_hidden_layers = %d",
                   as_safetensors_get_path (model->st), c->n_layers, c->n_layers);
      return FALSE;
    }
  return TRUE;
}

static gboolean
llama_bind_weights (AsModel  *model,
                    GError  **error)
{
  const AsConfig *c = model->config;
  if (model->gguf == NULL)
    return bind_safetensors (model, error);

  AsLlamaWeights *w = llama_weights_new (model, c->n_layers);
  if ((w->tok_emb = as_model_bind_gguf_f32 (model, "token_embd.weight", 2, c->vocab_size, c->hidden, error)) == NULL ||
      (w->out_norm = as_model_bind_gguf_f32 (model, "output_norm.weight", 1, c->hidden, 0, error)) == NULL)
    return FALSE;
  /* No output.weight: the output projection is the embedding (tied). */
  w->lm_head = w->tok_emb;
  if (as_gguf_lookup (model->gguf, "output.weight") != NULL &&
      (w->lm_head = as_model_bind_gguf_f32 (model, "output.weight", 2, c->vocab_size, c->hidden, error)) == NULL)
    return FALSE;
  w->lm_head_stored = as_gguf_lookup (model->gguf, w->lm_head == w->tok_emb ? "token_embd.weight"
                                                                            : "output.weight");

  for (int l = 0; l < c->n_layers; l++)
    if (!bind_layer (model, &w->layers[l], l, error))
      return FALSE;

  g_autofree char *extra = g_strdup_printf ("blk.%d.attn_q.weight", c->n_layers);
  if (as_gguf_lookup (model->gguf, extra) != NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: holds a layer %d but the metadata says %s.block_count = %d",
                   as_gguf_get_path (model->gguf), c->n_layers, c->model_type, c->n_layers);
      return FALSE;
    }
  return TRUE;
}

static void
llama_init_random (AsModel *model,
                   guint32  seed)
{
  const AsConfig *c = model->config;
  guint32 state = seed ? seed : 0x9e3779b9u;
  const gsize H = c->hidden, F = c->intermediate, V = c->vocab_size;
  const gsize Q = (gsize) c->n_heads * c->head_dim, KV = (gsize) c->n_kv_heads * c->head_dim;
  AsLlamaWeights *lw = llama_weights_new (model, c->n_layers);
  lw->tok_emb = as_model_random_f32 (model, V * H, 0, 0.02f, &state);
  lw->out_norm = as_model_random_f32 (model, H, 1, 0, &state);
  lw->lm_head = lw->tok_emb;
  for (int l = 0; l < c->n_layers; l++)
    {
      AsLlamaLayerWeights *w = &lw->layers[l];
      w->attn_norm = as_model_random_f32 (model, H, 1, 0, &state);
      w->q_w = as_model_random_f32 (model, Q * H, 0, 0.02f, &state);
      w->k_w = as_model_random_f32 (model, KV * H, 0, 0.02f, &state);
      w->v_w = as_model_random_f32 (model, KV * H, 0, 0.02f, &state);
      w->o_w = as_model_random_f32 (model, H * Q, 0, 0.02f, &state);
      w->ffn_norm = as_model_random_f32 (model, H, 1, 0, &state);
      w->gate_w = as_model_random_f32 (model, F * H, 0, 0.02f, &state);
      w->up_w = as_model_random_f32 (model, F * H, 0, 0.02f, &state);
      w->down_w = as_model_random_f32 (model, H * F, 0, 0.02f, &state);
    }
}

static const char *const llama_model_types[] = { "llama", NULL };

/* The language-model head: the final RMSNorm, then lm_head (the token
 * embedding when the file ties them). */
static void
llama_final_norm (const AsModel *model,
                  const float   *x,
                  int            n,
                  float         *out)
{
  const AsConfig *c = model->config;
  const AsLlamaWeights *w = as_llama_weights (model);
  for (int i = 0; i < n; i++)
    as_rms_norm_row (out + (gsize) i * c->hidden, x + (gsize) i * c->hidden, w->out_norm,
                     c->hidden, c->layer_norm_eps);
}

static const float *
llama_output_embedding (const AsModel *model)
{
  return as_llama_weights (model)->lm_head;
}

/* The plugin's description holds pointers into MODEL's weights; the layer
 * table is the only thing allocated. */
static void
llama_gpu_describe_decoder (const AsModel *model,
                            gpointer       desc_out,
                            gpointer      *layers_out)
{
  const AsConfig *c = model->config;
  const AsLlamaWeights *w = as_llama_weights (model);
  AsGpuDecoderLayerWeights *layers = g_new0 (AsGpuDecoderLayerWeights, c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    {
      const AsLlamaLayerWeights *lw = &w->layers[l];
      layers[l] = (AsGpuDecoderLayerWeights) {
        .attn_norm = lw->attn_norm, .q_w = lw->q_w, .k_w = lw->k_w, .v_w = lw->v_w,
        .o_w = lw->o_w, .ffn_norm = lw->ffn_norm, .gate_w = lw->gate_w, .up_w = lw->up_w,
        .down_w = lw->down_w,
      };
    }
  *(AsGpuDecoderDesc *) desc_out = (AsGpuDecoderDesc) {
    .n_layers = c->n_layers, .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads,
    .hidden = c->hidden, .head_dim = c->head_dim, .intermediate = c->intermediate,
    .vocab_size = c->vocab_size, .max_positions = c->max_positions,
    .norm = AS_GPU_NORM_RMS, .positions = AS_GPU_POSITIONS_ROTARY, .ffn = AS_GPU_FFN_SWIGLU,
    .layout = AS_GPU_WEIGHTS_OUT_IN, .norm_eps = c->layer_norm_eps, .rope_theta = c->rope_theta,
    .tok_emb = w->tok_emb, .out_norm = w->out_norm, .layers = layers,
  };
  *layers_out = layers;
}

const AsArchitecture as_arch_llama = {
  .name = "llama",
  .model_types = llama_model_types,
  .causal = TRUE,
  .uses_token_types = FALSE,
  .ffn_products = 3,
  .read_config = llama_read_config,
  .read_gguf_config = llama_read_gguf_config,
  .bind_weights = llama_bind_weights,
  .init_random = llama_init_random,
  .free_weights = llama_free_weights,
  .cpu_backend_new = as_llama_cpu_backend_new,
  .reference_backend_new = as_llama_reference_backend_new,
  .layer_trace = as_llama_reference_layer_trace,
  .gpu_describe = NULL,
  .gpu_describe_decoder = llama_gpu_describe_decoder,
  .position_table = NULL,
  .final_norm = llama_final_norm,
  .output_embedding = llama_output_embedding,
};
