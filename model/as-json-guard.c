/* as-json-guard.c — checks before json-glib sees a file. */
#include "as-json-guard.h"

#include <string.h>

#include "as-error.h"

gboolean
as_json_guard_check (const char        *data,
                     gsize              length,
                     const char        *display_name,
                     const AsJsonWatch *watch,
                     AsJsonScanned     *scanned,
                     GError           **error)
{
  AsJsonScanned local;
  const char *reason = NULL;
  gsize where = 0;

  if (data == NULL)
    data = "";
  if (scanned == NULL)
    scanned = &local;
  gsize blank = 0;
  while (blank < length && g_ascii_isspace (data[blank]))
    blank++;
  if (blank == length)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: the file is empty%s", display_name, length > 0 ? " (only whitespace)" : "");
      return FALSE;
    }
  if (!as_json_scan (data, length, watch, scanned, &reason, &where))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: not valid JSON: %s at byte %" G_GSIZE_FORMAT,
                   display_name, reason, where);
      return FALSE;
    }
  if (scanned->values > AS_JSON_MAX_VALUES)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "%s: holds about %" G_GSIZE_FORMAT " JSON values (an object counting "
                   G_STRINGIFY (AS_JSON_OBJECT_WEIGHT) "), more than the %u a model file of "
                   "this kind can need", display_name, scanned->values, AS_JSON_MAX_VALUES);
      return FALSE;
    }
  return TRUE;
}

gboolean
as_json_guard_load (JsonParser  *parser,
                    const char  *data,
                    gsize        length,
                    const char  *display_name,
                    GError     **error)
{
  GError *local = NULL;

  if (length > G_MAXSSIZE)
    length = G_MAXSSIZE;
  if (!as_json_guard_check (data, length, display_name, NULL, NULL, error))
    return FALSE;
  if (!json_parser_load_from_data (parser, data, (gssize) length, &local))
    {
      /* json-glib quotes the offending input, which may end in the middle of
       * a character: keep the message valid UTF-8. */
      char *reason = g_utf8_make_valid (local->message, -1);
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: not valid JSON: %s", display_name, reason);
      g_free (reason);
      g_error_free (local);
      return FALSE;
    }
  return TRUE;
}

/* ---- reading an untrusted tree ------------------------------------------- */

JsonNode *
as_json_member (JsonObject *o,
                const char *name)
{
  return o != NULL && json_object_has_member (o, name) ? json_object_get_member (o, name) : NULL;
}

gboolean
as_json_holds_type (JsonNode *node,
                    GType     type)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

gboolean
as_json_get_bool (JsonObject *o,
                  const char *name,
                  gboolean    fallback)
{
  JsonNode *node = as_json_member (o, name);
  return as_json_holds_type (node, G_TYPE_BOOLEAN) ? json_node_get_boolean (node) : fallback;
}

const char *
as_json_get_string (JsonObject *o,
                    const char *name,
                    const char *fallback)
{
  JsonNode *node = as_json_member (o, name);
  return as_json_holds_type (node, G_TYPE_STRING) ? json_node_get_string (node) : fallback;
}

JsonObject *
as_json_get_object (JsonObject *o,
                    const char *name)
{
  JsonNode *node = as_json_member (o, name);
  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

JsonArray *
as_json_get_array (JsonObject *o,
                   const char *name)
{
  JsonNode *node = as_json_member (o, name);
  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

JsonObject *
as_json_array_object_at (JsonArray *array,
                         guint      index)
{
  JsonNode *node = json_array_get_element (array, index);
  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

const char *
as_json_array_string_at (JsonArray *array,
                         guint      index)
{
  JsonNode *node = json_array_get_element (array, index);
  return as_json_holds_type (node, G_TYPE_STRING) ? json_node_get_string (node) : NULL;
}
