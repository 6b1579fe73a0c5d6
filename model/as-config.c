/* as-config.c — config.json for BERT-family encoders. */
#include "as-config.h"

#include <json-glib/json-glib.h>

#include "as-error.h"
#include "as-file-read.h"
#include "as-json-guard.h"

/* Bounds that keep later size arithmetic (n*hidden*4 bytes, etc.) far from
 * overflow and refuse configs that are absurd rather than merely large. */
#define AS_MAX_LAYERS        256
#define AS_MAX_HEADS         256
#define AS_MAX_HIDDEN        16384
#define AS_MAX_INTERMEDIATE  65536
#define AS_MAX_VOCAB         1000000
#define AS_MAX_POSITIONS     65536
#define AS_MAX_TYPE_VOCAB    1024

static gboolean
read_int_field (JsonObject  *obj,
                const char  *display_name,
                const char  *field,
                int          min_value,
                int          max_value,
                gboolean     required,
                int          fallback,
                int         *out,
                GError     **error)
{
  if (!json_object_has_member (obj, field))
    {
      if (!required)
        {
          *out = fallback;
          return TRUE;
        }
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: required field '%s' is missing", display_name, field);
      return FALSE;
    }

  JsonNode *node = json_object_get_member (obj, field);
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: field '%s' must be an integer", display_name, field);
      return FALSE;
    }

  gint64 value = json_node_get_int (node);
  if (value < min_value || value > max_value)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: field '%s' is %" G_GINT64_FORMAT ", expected %d to %d",
                   display_name, field, value, min_value, max_value);
      return FALSE;
    }
  *out = (int) value;
  return TRUE;
}

static const char *
read_string_field (JsonObject *obj,
                   const char *field)
{
  if (!json_object_has_member (obj, field))
    return NULL;
  JsonNode *node = json_object_get_member (obj, field);
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
check_family (JsonObject  *obj,
              const char  *display_name,
              AsConfig    *config,
              GError     **error)
{
  const char *model_type = read_string_field (obj, "model_type");
  if (model_type == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: field 'model_type' is missing or not a string", display_name);
      return FALSE;
    }
  /* MiniLM and bge checkpoints declare themselves "bert". Other families
   * (roberta: position offset 2; distilbert: other tensor names) slot in
   * here with their own AsFamily. */
  if (g_strcmp0 (model_type, "bert") != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: model_type '%s' is not supported (supported: bert)",
                   display_name, model_type);
      return FALSE;
    }
  config->family = AS_FAMILY_BERT;
  config->model_type = g_strdup (model_type);

  const char *act = read_string_field (obj, "hidden_act");
  if (act != NULL && g_strcmp0 (act, "gelu") != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: hidden_act '%s' is not supported (supported: gelu, the erf form)",
                   display_name, act);
      return FALSE;
    }

  const char *pos = read_string_field (obj, "position_embedding_type");
  if (pos != NULL && g_strcmp0 (pos, "absolute") != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: position_embedding_type '%s' is not supported (supported: absolute)",
                   display_name, pos);
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_layer_norm_eps (JsonObject  *obj,
                     const char  *display_name,
                     AsConfig    *config,
                     GError     **error)
{
  config->layer_norm_eps = 1e-12f;
  if (!json_object_has_member (obj, "layer_norm_eps"))
    return TRUE;
  JsonNode *node = json_object_get_member (obj, "layer_norm_eps");
  GType t = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
  if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: field 'layer_norm_eps' must be a number", display_name);
      return FALSE;
    }
  double eps = json_node_get_double (node);
  /* Checked as the float LayerNorm uses: 1e-122 would be 0 there (found by
   * fuzz-config), 0.999999999 would be 1. */
  if (!(eps > 0.0 && eps < 1.0 && (float) eps > 0.0f && (float) eps < 1.0f))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: field 'layer_norm_eps' is %g, expected a number in (0, 1) that a "
                   "32-bit float holds",
                   display_name, eps);
      return FALSE;
    }
  config->layer_norm_eps = (float) eps;
  return TRUE;
}

AsConfig *
as_config_parse (const char  *json,
                 gsize        length,
                 const char  *display_name,
                 GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (!as_json_guard_load (parser, json, length, display_name, error))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: expected a JSON object", display_name);
      return NULL;
    }
  JsonObject *obj = json_node_get_object (root);

  AsConfig *config = g_new0 (AsConfig, 1);
  gboolean ok =
    check_family (obj, display_name, config, error) &&
    read_int_field (obj, display_name, "num_hidden_layers", 1, AS_MAX_LAYERS, TRUE, 0, &config->n_layers, error) &&
    read_int_field (obj, display_name, "num_attention_heads", 1, AS_MAX_HEADS, TRUE, 0, &config->n_heads, error) &&
    read_int_field (obj, display_name, "hidden_size", 1, AS_MAX_HIDDEN, TRUE, 0, &config->hidden, error) &&
    read_int_field (obj, display_name, "intermediate_size", 1, AS_MAX_INTERMEDIATE, TRUE, 0, &config->intermediate, error) &&
    read_int_field (obj, display_name, "vocab_size", 1, AS_MAX_VOCAB, TRUE, 0, &config->vocab_size, error) &&
    read_int_field (obj, display_name, "max_position_embeddings", 1, AS_MAX_POSITIONS, TRUE, 0, &config->max_positions, error) &&
    read_int_field (obj, display_name, "type_vocab_size", 1, AS_MAX_TYPE_VOCAB, FALSE, 2, &config->type_vocab_size, error) &&
    read_layer_norm_eps (obj, display_name, config, error);

  if (ok && config->hidden % config->n_heads != 0)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: hidden_size %d is not divisible by num_attention_heads %d",
                   display_name, config->hidden, config->n_heads);
      ok = FALSE;
    }
  if (!ok)
    {
      as_config_free (config);
      return NULL;
    }
  config->head_dim = config->hidden / config->n_heads;
  return config;
}

AsConfig *
as_config_load (const char  *path,
                GError     **error)
{
  g_autofree char *data = NULL;
  gsize length = 0;

  /* The same words as as_model_load for a "folder" that is a file, whoever
   * asks first (the app's worker reads the config on its own before loading
   * the model). This only picks the message: the read below is what checks
   * the file itself. */
  g_autofree char *dir = g_path_get_dirname (path);
  if (g_file_test (dir, G_FILE_TEST_EXISTS) && !g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO,
                   "%s: not a model folder (expected a directory with config.json, "
                   "model.safetensors and tokenizer.json or vocab.txt)", dir);
      return NULL;
    }
  if (!as_file_read_regular (path, AS_FILE_CAP_CONFIG, &data, &length, error))
    return NULL;
  return as_config_parse (data, length, path, error);
}

AsConfig *
as_config_new_preset (const char *name)
{
  struct { const char *name; int layers, heads, hidden, inter; } presets[] = {
    { "bert-base",  12, 12, 768, 3072 },
    { "bert-large", 24, 16, 1024, 4096 },
    { "minilm-l6",   6, 12, 384, 1536 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (presets); i++)
    {
      if (g_strcmp0 (name, presets[i].name) != 0)
        continue;
      AsConfig *c = g_new0 (AsConfig, 1);
      c->family = AS_FAMILY_BERT;
      c->model_type = g_strdup ("bert");
      c->n_layers = presets[i].layers;
      c->n_heads = presets[i].heads;
      c->hidden = presets[i].hidden;
      c->head_dim = c->hidden / c->n_heads;
      c->intermediate = presets[i].inter;
      c->vocab_size = 30522;
      c->max_positions = 512;
      c->type_vocab_size = 2;
      c->layer_norm_eps = 1e-12f;
      return c;
    }
  return NULL;
}

void
as_config_free (AsConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->model_type);
  g_free (config);
}
