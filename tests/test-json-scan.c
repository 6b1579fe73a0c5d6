/* test-json-scan.c — the strict streaming JSON reader (as-json-scan.h) and
 * the tokenizer.json vocabulary it reads.
 *
 * The reference is RFC 8259 (the grammar, escapes, surrogate pairs) and
 * RFC 3629 (well-formed UTF-8); for what a tokenizer makes of the members,
 * json-glib's reading of the same text (the last member of a name counts).
 * The real model's vocabulary comes from $ATTNSCOPE_MODEL_DIR (skipped when
 * absent), the tiny models' from $AS_TEST_DATA.
 */
#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "as-error.h"
#include "as-json-guard.h"
#include "as-json-scan.h"
#include "as-tokenizer.h"

/* ---- the grammar ---------------------------------------------------------- */

static gboolean
scan_len (const char *text, gsize length, const char **reason, gsize *offset)
{
  AsJsonScanned scanned;
  return as_json_scan (text, length, NULL, &scanned, reason, offset);
}

static void
assert_valid (const char *text)
{
  const char *reason = NULL;
  gsize offset = 0;
  if (!scan_len (text, strlen (text), &reason, &offset))
    g_error ("refused valid JSON %s: %s at byte %" G_GSIZE_FORMAT, text, reason, offset);
}

/* TEXT (LENGTH bytes, -1: a C string) is refused at byte AT for a reason
 * that contains WHY. */
static void
assert_refused_len (const char *text, gssize length, const char *why, gsize at)
{
  const char *reason = NULL;
  gsize offset = 0;
  gsize n = length < 0 ? strlen (text) : (gsize) length;

  if (scan_len (text, n, &reason, &offset))
    g_error ("accepted %s (not JSON: %s)", text, why);
  if (strstr (reason, why) == NULL || offset != at)
    g_error ("%s: refused for \"%s\" at byte %" G_GSIZE_FORMAT ", expected \"%s\" at %" G_GSIZE_FORMAT,
             text, reason, offset, why, at);
}

static void
assert_refused (const char *text, const char *why, gsize at)
{
  assert_refused_len (text, -1, why, at);
}

static void
test_grammar (void)
{
  const char *valid[] = {
    "0", "-0", "1.5", "-12.25e+10", "1E-2", "0e0", "123456789012345678901234567890",
    "true", "false", "null", "\"\"", "[]", "{}", " \t\r\n[ ] \n",
    "[1,[2,[3,{}]],{\"a\":{\"b\":[]}}]", "{\"\":0,\"\":1}", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
  };
  for (guint i = 0; i < G_N_ELEMENTS (valid); i++)
    assert_valid (valid[i]);

  /* Numbers: no leading zeros, no bare dots, no plus, digits after '.', 'e'. */
  assert_refused ("01", "after the end", 1);
  assert_refused (".5", "a value expected", 0);
  assert_refused ("+1", "a value expected", 0);
  assert_refused ("1.", "malformed number", 0);
  assert_refused ("1.e5", "malformed number", 0);
  assert_refused ("1e", "malformed number", 0);
  assert_refused ("-", "malformed number", 0);
  assert_refused ("[-a]", "malformed number", 1);
  /* Literals are lower case and whole. */
  assert_refused ("True", "a value expected", 0);
  assert_refused ("nul", "a value expected", 0);
  assert_refused ("[truex]", "',' or ']' expected", 5);
  assert_refused ("NaN", "a value expected", 0);
  /* Structure. */
  assert_refused ("", "ends before", 0);
  assert_refused ("   ", "ends before", 3);
  assert_refused ("[1,]", "a value expected", 3);
  assert_refused ("[1 2]", "',' or ']' expected", 3);
  assert_refused ("{\"a\":1,}", "member name", 7);
  assert_refused ("{\"a\" 1}", "':' expected", 5);
  assert_refused ("{a:1}", "member name", 1);
  assert_refused ("{\"a\":1]", "',' or '}' expected", 6);
  assert_refused ("{\"a\":1", "ends before", 6);
  assert_refused ("{} {}", "after the end", 3);
  assert_refused ("[1]\f", "after the end", 3);           /* \f is not JSON space */
  assert_refused_len ("[1]\0", 4, "a NUL byte", 3);
}

static void
test_strings (void)
{
  assert_refused ("\"abc", "never closed", 0);
  assert_refused ("\"a\\x\"", "backslash escape", 2);
  assert_refused ("\"a\\'\"", "backslash escape", 2);
  assert_refused ("\"\\214\"", "backslash escape", 1);     /* octal: json-glib takes it */
  assert_refused ("\"\\u12\"", "malformed \\u escape", 1);
  assert_refused ("\"\\u12G4\"", "malformed \\u escape", 1);
  assert_refused ("\"\\", "ends before", 1);
  /* Surrogates: a high one must be followed by a low one, as an escape. */
  assert_refused ("\"\\ud800\"", "unpaired high surrogate", 1);
  assert_refused ("\"\\ud800x\\udc00\"", "unpaired high surrogate", 1);
  assert_refused ("\"\\ud800\\u0041\"", "unpaired high surrogate", 1);
  assert_refused ("\"\\udc00\"", "unpaired low surrogate", 1);
  assert_refused ("\"\\ud800\\ud800\"", "unpaired high surrogate", 1);
  assert_valid ("\"\\ud83d\\ude00 \\uDBFF\\uDFFF \\u0000\"");
  /* Raw control characters must be escaped. */
  assert_refused ("\"a\tb\"", "control character", 2);
  assert_refused ("\"a\nb\"", "control character", 2);
  assert_refused_len ("\"a\0b\"", 5, "a NUL byte", 2);
  /* UTF-8 as RFC 3629 has it. */
  assert_valid ("\"\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xef\xbf\xbf \xf4\x8f\xbf\xbf\"");
  assert_refused ("\"\xc0\xaf\"", "invalid UTF-8", 1);      /* overlong '/' */
  assert_refused ("\"\xe0\x80\xaf\"", "invalid UTF-8", 1);  /* overlong, 3 bytes */
  assert_refused ("\"\xf0\x80\x80\xaf\"", "invalid UTF-8", 1);
  assert_refused ("\"\xed\xa0\x80\"", "invalid UTF-8", 1);  /* U+D800 encoded */
  assert_refused ("\"\xf4\x90\x80\x80\"", "invalid UTF-8", 1); /* past U+10FFFF */
  assert_refused ("\"\xf5\x80\x80\x80\"", "invalid UTF-8", 1);
  assert_refused ("\"\x80\"", "invalid UTF-8", 1);          /* lone continuation */
  assert_refused ("\"ab\xe2\x82\"", "invalid UTF-8", 3);    /* cut short */
  assert_refused ("\"\xe2\x82", "invalid UTF-8", 1);        /* cut by the end */
  assert_refused ("[\xff]", "invalid UTF-8", 1);
  assert_refused ("[\xc3\xa9]", "a value expected", 1);     /* valid, but not here */
}

/* 128 levels are taken, 129 are not, and 10^6 cost no stack. */
static void
test_depth (void)
{
  GString *text = g_string_new (NULL);

  /* {"k":[{"k":[…0…]}]} */
  for (int i = 0; i < AS_JSON_MAX_DEPTH; i++)
    g_string_append (text, i % 2 ? "[" : "{\"k\":");
  g_string_append (text, "0");
  for (int i = AS_JSON_MAX_DEPTH - 1; i >= 0; i--)
    g_string_append_c (text, i % 2 ? ']' : '}');
  assert_valid (text->str);

  g_string_truncate (text, 0);
  for (int i = 0; i < AS_JSON_MAX_DEPTH + 1; i++)
    g_string_append_c (text, '[');
  for (int i = 0; i < AS_JSON_MAX_DEPTH + 1; i++)
    g_string_append_c (text, ']');
  assert_refused (text->str, "nested deeper than 128 levels", AS_JSON_MAX_DEPTH);

  g_string_truncate (text, 0);
  for (int i = 0; i < 1000000; i++)
    g_string_append_c (text, '[');
  assert_refused (text->str, "nested deeper than 128 levels", AS_JSON_MAX_DEPTH);
  g_string_free (text, TRUE);
}

/* Values as a tree of them would hold them: an object counts 4. */
static void
test_values (void)
{
  const char *text = "{\"a\": [1, \"x\", null], \"b\": {}, \"c\": true}";
  const char *reason;
  gsize offset;
  AsJsonScanned scanned;

  g_assert_true (as_json_scan (text, strlen (text), NULL, &scanned, &reason, &offset));
  g_assert_cmpuint (scanned.values, ==, 4 + 1 + 3 + 4 + 1);
  g_assert_cmpuint (scanned.watched_end, ==, 0);
}

/* ---- the watch ------------------------------------------------------------- */

typedef struct {
  int      begins;
  GString *log;      /* "key=kind:text;" per member */
} Seen;

static void
seen_begin (gpointer data)
{
  Seen *seen = data;
  seen->begins++;
  g_string_append (seen->log, "|");
}

static void
seen_member (gpointer data, const char *key, gsize key_length, const AsJsonValue *value)
{
  static const char *kinds[] = { "null", "false", "true", "num", "str", "obj", "arr" };
  Seen *seen = data;

  g_assert_cmpuint (strlen (key), <=, key_length);
  g_string_append_printf (seen->log, "%s(%" G_GSIZE_FORMAT ")=%s", key, key_length, kinds[value->kind]);
  if (value->text != NULL)
    {
      g_string_append_c (seen->log, ':');
      g_string_append_len (seen->log, value->text, value->length);
    }
  g_string_append_c (seen->log, ';');
}

/* The members of every object at model.vocab, as a log; the last span. */
static char *
watch_log (const char *text, AsJsonScanned *scanned)
{
  static const char *const path[] = { "model", "vocab", NULL };
  Seen seen = { 0, g_string_new (NULL) };
  AsJsonWatch watch = { path, seen_begin, seen_member, &seen };
  const char *reason = NULL;
  gsize offset = 0;

  if (!as_json_scan (text, strlen (text), &watch, scanned, &reason, &offset))
    g_error ("%s: %s at %" G_GSIZE_FORMAT, text, reason, offset);
  return g_string_free (seen.log, FALSE);
}

static void
assert_watch (const char *text, const char *expected, const char *span)
{
  AsJsonScanned scanned;
  g_autofree char *log = watch_log (text, &scanned);

  g_assert_cmpstr (log, ==, expected);
  if (span == NULL)
    g_assert_cmpuint (scanned.watched_end, ==, 0);
  else
    {
      g_autofree char *got = g_strndup (text + scanned.watched_begin,
                                        scanned.watched_end - scanned.watched_begin);
      g_assert_cmpstr (got, ==, span);
    }
}

static void
test_watch (void)
{
  /* Keys and strings decoded, numbers as written, containers by kind. */
  assert_watch ("{\"model\": {\"type\": \"x\", \"vocab\": {\"a\": 1, \"\\u00e9\\n\": -0.5e1, "
                "\"b\": \"\\ud83d\\ude00\", \"c\": [1, {\"d\": 2}], \"e\": {}, \"f\": null}}}",
                "|a(1)=num:1;\xc3\xa9\n(3)=num:-0.5e1;b(1)=str:\xf0\x9f\x98\x80;c(1)=arr;"
                "e(1)=obj;f(1)=null;",
                "{\"a\": 1, \"\\u00e9\\n\": -0.5e1, \"b\": \"\\ud83d\\ude00\", \"c\": [1, {\"d\": 2}], "
                "\"e\": {}, \"f\": null}");
  /* Duplicates are all handed over, in order. */
  assert_watch ("{\"model\": {\"vocab\": {\"a\": 1, \"a\": 2}}}", "|a(1)=num:1;a(1)=num:2;",
                "{\"a\": 1, \"a\": 2}");
  /* A second model or vocab starts over; the span is the last one. */
  assert_watch ("{\"model\": {\"vocab\": {\"a\": 1}, \"vocab\": {\"b\": 2}}, "
                "\"model\": {\"vocab\": {\"c\": 3}}}",
                "|a(1)=num:1;|b(1)=num:2;|c(1)=num:3;", "{\"c\": 3}");
  /* Only that path: not deeper, not inside an array, not another key. */
  assert_watch ("{\"x\": {\"model\": {\"vocab\": {\"a\": 1}}}, \"model\": [{\"vocab\": {\"b\": 1}}], "
                "\"models\": {\"vocab\": {\"c\": 1}}, \"vocab\": {\"d\": 1}}", "", NULL);
  assert_watch ("[{\"model\": {\"vocab\": {\"a\": 1}}}]", "", NULL);
  assert_watch ("{\"model\": {\"vocab\": [1]}}", "", NULL);
  /* Names are compared decoded; a \u0000 ends one, as json-glib has it. */
  assert_watch ("{\"m\\u006fdel\": {\"vocab\\u0000x\": {\"a\\u0000b\": 1}}}", "|a(3)=num:1;",
                "{\"a\\u0000b\": 1}");
  assert_watch ("{\"model\": {\"vocab\": {}}}", "|", "{}");
}

/* ---- the tokenizer's vocabulary ------------------------------------------ */

static AsTokenizer *
tokenizer (const char *vocab, GError **error)
{
  g_autofree char *json = g_strdup_printf ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": %s}}", vocab);
  return as_tokenizer_new_from_json (json, strlen (json), "t.json", error);
}

static void
test_vocab_duplicates (void)
{
  GError *error = NULL;
  AsTokenizer *tok;

  /* The last member of a name counts, even over one that is not an id. */
  tok = tokenizer ("{\"[UNK]\": 0, \"a\": \"x\", \"a\": 5, \"b\": 1, \"b\": 2}", &error);
  g_assert_no_error (error);
  g_assert_cmpint (as_tokenizer_token_to_id (tok, "a"), ==, 5);
  g_assert_cmpint (as_tokenizer_token_to_id (tok, "b"), ==, 2);
  g_assert_null (as_tokenizer_id_to_token (tok, 1));      /* b's first id is no one's */
  g_assert_cmpstr (as_tokenizer_id_to_token (tok, 2), ==, "b");
  g_assert_cmpint (as_tokenizer_get_vocab_size (tok), ==, 6);
  as_tokenizer_free (tok);

  /* … and a last one that is not an id is refused, naming it. */
  tok = tokenizer ("{\"[UNK]\": 0, \"a\": 5, \"a\": 1.0}", &error);
  g_assert_null (tok);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "t.json: model.vocab: the id of \"a\" is not an integer"));
  g_clear_error (&error);

  /* Ids: integers in range; "-0" is 0 as json-glib reads it. */
  const char *bad[] = { "-1", "1e2", "1048576", "99999999999999999999", "\"1\"", "true", "null", "[1]", "{}" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *vocab = g_strdup_printf ("{\"[UNK]\": 0, \"w\": %s}", bad[i]);
      g_assert_null (tokenizer (vocab, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT);
      g_assert_nonnull (strstr (error->message, "\"w\""));
      g_clear_error (&error);
    }
  tok = tokenizer ("{\"[UNK]\": -0, \"w\": 1048575}", &error);
  g_assert_no_error (error);
  g_assert_cmpint (as_tokenizer_token_to_id (tok, "[UNK]"), ==, 0);
  g_assert_cmpint (as_tokenizer_token_to_id (tok, "w"), ==, 1048575);
  as_tokenizer_free (tok);

  /* Escaped names are stored decoded. */
  tok = tokenizer ("{\"[UNK]\": 0, \"caf\\u00e9\": 1, \"\\ud83d\\ude00\": 2, \"q\\\"\": 3}", &error);
  g_assert_no_error (error);
  g_assert_cmpint (as_tokenizer_token_to_id (tok, "caf\xc3\xa9"), ==, 1);
  g_assert_cmpstr (as_tokenizer_id_to_token (tok, 2), ==, "\xf0\x9f\x98\x80");
  g_assert_cmpint (as_tokenizer_token_to_id (tok, "q\""), ==, 3);
  as_tokenizer_free (tok);
}

/* Two model.vocab objects: the last counts; one that is not an object is
 * not a vocabulary. Text that is not JSON anywhere, the vocabulary
 * included, is refused with the reason and where. */
static void
test_vocab_refusals (void)
{
  const char *twice = "{\"model\": {\"vocab\": {\"[UNK]\": 0, \"a\": 1}}, "
                      "\"model\": {\"vocab\": {\"[UNK]\": 3}}}";
  GError *error = NULL;
  AsTokenizer *tok = as_tokenizer_new_from_json (twice, strlen (twice), "t.json", &error);

  g_assert_no_error (error);
  g_assert_cmpint (as_tokenizer_token_to_id (tok, "[UNK]"), ==, 3);
  g_assert_cmpint (as_tokenizer_token_to_id (tok, "a"), ==, -1);
  as_tokenizer_free (tok);

  const char *last_not_object = "{\"model\": {\"vocab\": {\"[UNK]\": 0}, \"vocab\": [\"[UNK]\"]}}";
  g_assert_null (as_tokenizer_new_from_json (last_not_object, strlen (last_not_object), "t.json", &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "model.vocab is missing or not an object"));
  g_clear_error (&error);

  struct { const char *vocab, *message; } cases[] = {
    { "{\"[UNK]\": 0, \"a\": 01}", "t.json: not valid JSON: ',' or '}' expected at byte 60" },
    { "{\"[UNK]\": 0, \"a\\x\": 1}", "t.json: not valid JSON: a backslash escape that JSON does not allow at byte 56" },
    { "{\"[UNK]\": 0, \"\\udc00\": 1}", "t.json: not valid JSON: an unpaired low surrogate escape at byte 55" },
    { "{\"[UNK]\": 0, \"\xc0\xaf\": 1}", "t.json: not valid JSON: invalid UTF-8 at byte 55" },
    { "{\"[UNK]\": 0, \"a\": 1,}", "t.json: not valid JSON: a member name (a string) expected at byte 61" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_assert_null (tokenizer (cases[i].vocab, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT);
      g_assert_cmpstr (error->message, ==, cases[i].message);
      g_clear_error (&error);
    }
}

/* Every member of a real vocabulary, as json-glib reads it, has the same
 * id in the tokenizer, and the table is no larger. */
static void
assert_vocab_as_json_glib (const char *path)
{
  g_autofree char *text = NULL;
  gsize length = 0;
  GError *error = NULL;

  if (!g_file_get_contents (path, &text, &length, NULL))
    {
      g_autofree char *why = g_strdup_printf ("%s is not there", path);
      g_test_skip (why);
      return;
    }
  AsTokenizer *tok = as_tokenizer_new_from_json (text, length, path, &error);
  g_assert_no_error (error);
  JsonParser *parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, text, (gssize) length, NULL));
  JsonObject *model = json_object_get_object_member (json_node_get_object (json_parser_get_root (parser)), "model");
  JsonObject *vocab = json_object_get_object_member (model, "vocab");
  JsonObjectIter iter;
  const char *token;
  JsonNode *node;
  gint64 largest = -1;

  g_assert_cmpuint (json_object_get_size (vocab), >, 10);
  json_object_iter_init (&iter, vocab);
  while (json_object_iter_next (&iter, &token, &node))
    {
      gint64 id = json_node_get_int (node);
      if (as_tokenizer_token_to_id (tok, token) != id)
        g_error ("%s: \"%s\" is %" G_GINT64_FORMAT " in json-glib, %d here", path, token, id,
                 as_tokenizer_token_to_id (tok, token));
      largest = MAX (largest, id);
    }
  g_assert_cmpint (as_tokenizer_get_vocab_size (tok), ==, largest + 1);
  g_object_unref (parser);
  as_tokenizer_free (tok);
}

static void
test_vocab_real (void)
{
  const char *model_dir = g_getenv ("ATTNSCOPE_MODEL_DIR");
  const char *data_dir = g_getenv ("AS_TEST_DATA");

  if (data_dir == NULL || model_dir == NULL)
    {
      g_test_skip ("AS_TEST_DATA or ATTNSCOPE_MODEL_DIR is not set");
      return;
    }
  g_autofree char *tiny = g_build_filename (data_dir, "distilbert-tiny", "tokenizer.json", NULL);
  g_autofree char *real = g_build_filename (model_dir, "tokenizer.json", NULL);
  assert_vocab_as_json_glib (tiny);
  assert_vocab_as_json_glib (real);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json-scan/grammar", test_grammar);
  g_test_add_func ("/json-scan/strings", test_strings);
  g_test_add_func ("/json-scan/depth", test_depth);
  g_test_add_func ("/json-scan/values", test_values);
  g_test_add_func ("/json-scan/watch", test_watch);
  g_test_add_func ("/json-scan/vocab-duplicates", test_vocab_duplicates);
  g_test_add_func ("/json-scan/vocab-refusals", test_vocab_refusals);
  g_test_add_func ("/json-scan/vocab-real", test_vocab_real);
  return g_test_run ();
}
