/* as-json-guard.h — json-glib, made safe for files from the internet.
 *
 * json-glib 1.6 parses recursively with no depth limit (a 200 KB file of '['
 * overflows the stack), accepts text that is not UTF-8 (which then reaches
 * token strings and labels) and text that is not JSON ("01", ".5", octal
 * escapes), and copies invalid bytes of the input into its error messages.
 * as_json_guard_load checks the text first with the strict reader of
 * as-json-scan.h and always gives a valid UTF-8 message that names the file.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "as-json-scan.h"

G_BEGIN_DECLS

/* json-glib takes about 80 bytes per value (an object about 4 times that),
 * so a file of "0,0,0,…" costs 40 times its size. A WordPiece tokenizer.json
 * of the largest vocabulary the engine takes (1,000,000 tokens) holds about a
 * million values; this leaves room for twice that and bounds the tree to
 * about 200 MB. */
#define AS_JSON_MAX_VALUES (1u << 21)

/* Checks that DATA (LENGTH bytes) is not empty, is one JSON document
 * (as_json_scan: UTF-8 without NUL bytes, escapes and surrogate pairs as
 * JSON has them, at most AS_JSON_MAX_DEPTH levels) and holds at most
 * AS_JSON_MAX_VALUES values, handing WATCH (may be NULL) the members of the
 * object at its path on the way; SCANNED (may be NULL) gets what was found.
 * Errors are AS_MODEL_ERROR_FORMAT, "DISPLAY_NAME: not valid JSON: reason at
 * byte N" (or "…: the file is empty"), or AS_MODEL_ERROR_RESOURCES for too
 * many values. */
gboolean as_json_guard_check (const char        *data,
                              gsize              length,
                              const char        *display_name,
                              const AsJsonWatch *watch,
                              AsJsonScanned     *scanned,
                              GError           **error);

/* as_json_guard_check, then loads DATA into PARSER. */
gboolean as_json_guard_load (JsonParser  *parser,
                             const char  *data,
                             gsize        length,
                             const char  *display_name,
                             GError     **error);

/* Reading a parsed tree whose shape is not trusted: each returns NULL (or
 * FALLBACK) for a member that is absent, null or of another kind, where
 * json-glib's own getters would emit a critical. */
JsonNode    *as_json_member          (JsonObject *o,
                                      const char *name);
gboolean     as_json_holds_type      (JsonNode   *node,
                                      GType       type);
gboolean     as_json_get_bool        (JsonObject *o,
                                      const char *name,
                                      gboolean    fallback);
const char  *as_json_get_string      (JsonObject *o,
                                      const char *name,
                                      const char *fallback);
JsonObject  *as_json_get_object      (JsonObject *o,
                                      const char *name);
JsonArray   *as_json_get_array       (JsonObject *o,
                                      const char *name);
JsonObject  *as_json_array_object_at (JsonArray  *array,
                                      guint       index);
const char  *as_json_array_string_at (JsonArray  *array,
                                      guint       index);

G_END_DECLS
