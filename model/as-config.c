/* as-config.c — config.json: model_type picks the architecture, which reads
 * the rest with the field readers here. */
#include "as-config.h"

#include "as-architecture.h"
#include "as-error.h"
#include "as-file-read.h"
#include "as-json-guard.h"

gboolean
as_config_read_int (JsonObject  *obj,
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

const char *
as_config_read_string (JsonObject *obj,
                       const char *field)
{
  if (!json_object_has_member (obj, field))
    return NULL;
  JsonNode *node = json_object_get_member (obj, field);
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* model_type names the architecture; an unknown one is refused with the
 * list of those this build has, before any other field is looked at. */
static gboolean
read_model_type (JsonObject  *obj,
                 const char  *display_name,
                 AsConfig    *config,
                 GError     **error)
{
  const char *model_type = as_config_read_string (obj, "model_type");
  if (model_type == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: field 'model_type' is missing or not a string", display_name);
      return FALSE;
    }
  const AsArchitecture *arch = as_architecture_lookup (model_type);
  if (arch == NULL)
    {
      g_autofree char *supported = as_architecture_list_supported ();
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: model_type '%s' is not supported (supported: %s)",
                   display_name, model_type, supported);
      return FALSE;
    }
  config->arch = arch;
  config->model_type = g_strdup (model_type);
  return TRUE;
}

gboolean
as_config_read_number (JsonObject  *obj,
                       const char  *display_name,
                       const char  *field,
                       double       fallback,
                       double      *out,
                       GError     **error)
{
  *out = fallback;
  if (!json_object_has_member (obj, field))
    return TRUE;
  JsonNode *node = json_object_get_member (obj, field);
  GType t = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
  if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: field '%s' must be a number", display_name, field);
      return FALSE;
    }
  *out = json_node_get_double (node);
  return TRUE;
}

gboolean
as_config_read_eps (JsonObject  *obj,
                    const char  *display_name,
                    const char  *field,
                    float        fallback,
                    float       *out,
                    GError     **error)
{
  double eps;
  if (!as_config_read_number (obj, display_name, field, fallback, &eps, error))
    return FALSE;
  /* Checked as the float LayerNorm uses: 1e-122 would be 0 there (found by
   * fuzz-config), 0.999999999 would be 1. */
  if (!(eps > 0.0 && eps < 1.0 && (float) eps > 0.0f && (float) eps < 1.0f))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: field '%s' is %g, expected a number in (0, 1) that a "
                   "32-bit float holds",
                   display_name, field, eps);
      return FALSE;
    }
  *out = (float) eps;
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
    read_model_type (obj, display_name, config, error) &&
    config->arch->read_config (obj, display_name, config, error);

  if (!ok)
    {
      as_config_free (config);
      return NULL;
    }
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
      c->arch = as_architecture_lookup ("bert");
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
