/* as-json-guard.c — checks before json-glib sees a file. */
#include "as-json-guard.h"

#include <string.h>

#include "as-error.h"

/* What an object costs json-glib, in values. */
#define OBJECT_WEIGHT 4

/* The code unit of the "\uXXXX" escape at Q (4 hex digits after "\u"),
 * or -1. */
static int
escaped_unit (const char *q,
              const char *end)
{
  int value = 0;

  if (end - q < 6 || q[0] != '\\' || q[1] != 'u')
    return -1;
  for (int i = 2; i < 6; i++)
    {
      int digit = g_ascii_xdigit_value (q[i]);
      if (digit < 0)
        return -1;
      value = value * 16 + digit;
    }
  return value;
}

/* Walks the text once, iteratively (so the check itself cannot overflow the
 * stack): the nesting of [ and { outside strings must stay within
 * AS_JSON_MAX_DEPTH, a \u escape must have its four hex digits, and one of
 * a UTF-16 surrogate must be a high/low pair: json-glib turns a lone one (or
 * "\ud8n0") into bytes that are not UTF-8. Syntax is otherwise json-glib's
 * business. Returns the problem, or NULL, with its offset in *WHERE; counts
 * the values into *VALUES (one more than the commas and openings outside
 * strings, an upper bound for valid JSON), an object as OBJECT_WEIGHT: json-glib
 * gives each its own hash table, some 300 bytes even when empty. */
static const char *
scan_text (const char *p,
           const char *end,
           gsize      *where,
           gsize      *values)
{
  gsize depth = 0;
  gboolean in_string = FALSE;

  *values = 1;

  for (const char *q = p; q < end; q++)
    {
      *where = (gsize) (q - p);
      if (in_string)
        {
          int unit = escaped_unit (q, end);
          if (unit < 0 && *q == '\\' && q + 1 < end && q[1] == 'u')
            return "a malformed \\u escape (four hex digits expected)";
          if (unit >= 0xDC00 && unit <= 0xDFFF)
            return "an unpaired low surrogate escape";
          if (unit >= 0xD800 && unit <= 0xDBFF)
            {
              int low = end - q >= 12 ? escaped_unit (q + 6, end) : -1;
              if (low < 0xDC00 || low > 0xDFFF)
                return "an unpaired high surrogate escape";
              q += 11;
            }
          else if (*q == '\\' && q + 1 < end)
            {
              /* json-glib also takes escapes JSON does not have, "\214"
               * (octal) among them, which can put bytes that are not UTF-8
               * into a string and from there into a message (found by
               * fuzz-config). */
              if (q[1] == '\0' || strchr ("\"\\/bfnrtu", q[1]) == NULL)
                return "a backslash escape that JSON does not allow";
              q++;
            }
          else if (*q == '"')
            in_string = FALSE;
          continue;
        }
      switch (*q)
        {
        case '"':
          in_string = TRUE;
          break;
        case '[': case '{':
          if (++depth > AS_JSON_MAX_DEPTH)
            return "nested deeper than " G_STRINGIFY (AS_JSON_MAX_DEPTH) " levels";
          *values += *q == '{' ? OBJECT_WEIGHT : 1;
          break;
        case ',':
          ++*values;
          break;
        case ']': case '}':
          if (depth > 0)
            depth--;
          break;
        default:
          break;
        }
    }
  return NULL;
}

gboolean
as_json_guard_load (JsonParser  *parser,
                    const char  *data,
                    gsize        length,
                    const char  *display_name,
                    GError     **error)
{
  const char *bad = NULL, *problem;
  gsize where = 0, values = 0;
  GError *local = NULL;

  if (data == NULL)
    data = "";
  if (length > G_MAXSSIZE)
    length = G_MAXSSIZE;
  /* g_utf8_validate_len refuses NUL bytes as well. */
  if (!g_utf8_validate_len (data, length, &bad))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: not valid JSON: %s at byte %" G_GSIZE_FORMAT,
                   display_name, bad < data + length && *bad == '\0' ? "a NUL byte" : "invalid UTF-8",
                   (gsize) (bad - data));
      return FALSE;
    }
  gsize blank = 0;
  while (blank < length && g_ascii_isspace (data[blank]))
    blank++;
  if (blank == length)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: the file is empty%s", display_name, length > 0 ? " (only whitespace)" : "");
      return FALSE;
    }
  if ((problem = scan_text (data, data + length, &where, &values)) != NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: not valid JSON: %s at byte %" G_GSIZE_FORMAT,
                   display_name, problem, where);
      return FALSE;
    }
  if (values > AS_JSON_MAX_VALUES)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "%s: holds about %" G_GSIZE_FORMAT " JSON values (an object counting "
                   G_STRINGIFY (OBJECT_WEIGHT) "), more than the %u a model file of this kind "
                   "can need", display_name, values, AS_JSON_MAX_VALUES);
      return FALSE;
    }
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
