/* test-tokenizer.c — the WordPiece tokenizer against Hugging Face `tokenizers`.
 *
 * Expected results come from tests/data/token-goldens.jsonl, written by
 * tools/goldens_tokens.py with the `tokenizers` package: ids, type ids and
 * character offsets for real text in many scripts, edge cases, pairs,
 * truncated encodings, tokenizer variants, and sweeps over every code point.
 * The model comes from $ATTNSCOPE_MODEL_DIR, the goldens from $AS_TEST_DATA.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "as-error.h"
#include "as-tokenizer.h"

#define MAX_REPORTED 10

typedef struct {
  AsTokenizer *tok;          /* from the model folder (tokenizer.json) */
  GPtrArray   *goldens;      /* JsonObject*, one per line */
  JsonParser  *parser;       /* keeps the objects alive: the lines as one array */
  char        *model_dir;
  char        *skip_reason;  /* set when model or goldens are missing */
} Fixture;

static Fixture fixture;

/* ------------------------------------------------------------------------ */
/* Loading the model and the goldens once                                     */
/* ------------------------------------------------------------------------ */

/* The JSON lines as one JSON array, so one parser owns every object. */
static JsonParser *
parse_json_lines (const char *path, GError **error)
{
  char *text = NULL;
  gsize length = 0;
  GString *array;
  char **lines;
  JsonParser *parser;
  gboolean ok;

  if (!g_file_get_contents (path, &text, &length, error))
    return NULL;
  array = g_string_sized_new (length + 2);
  g_string_append_c (array, '[');
  lines = g_strsplit (text, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    {
      if (**line == '\0')
        continue;
      if (array->len > 1)
        g_string_append_c (array, ',');
      g_string_append (array, *line);
    }
  g_string_append_c (array, ']');
  g_strfreev (lines);
  parser = json_parser_new ();
  ok = json_parser_load_from_data (parser, array->str, array->len, error);
  g_string_free (array, TRUE);
  g_free (text);
  if (!ok)
    g_clear_object (&parser);
  return parser;
}

static void
load_fixture (void)
{
  const char *model_dir = g_getenv ("ATTNSCOPE_MODEL_DIR");
  const char *data_dir = g_getenv ("AS_TEST_DATA");
  char *json_path, *golden_path;
  GError *error = NULL;
  JsonArray *lines;

  if (model_dir == NULL || data_dir == NULL)
    {
      fixture.skip_reason = g_strdup ("ATTNSCOPE_MODEL_DIR or AS_TEST_DATA is not set");
      return;
    }
  json_path = g_build_filename (model_dir, "tokenizer.json", NULL);
  golden_path = g_build_filename (data_dir, "token-goldens.jsonl", NULL);
  if (!g_file_test (json_path, G_FILE_TEST_EXISTS))
    fixture.skip_reason = g_strdup_printf ("no model at %s (run tools/setup)", model_dir);
  else if (!g_file_test (golden_path, G_FILE_TEST_EXISTS))
    fixture.skip_reason = g_strdup_printf ("no goldens at %s", golden_path);
  g_free (json_path);
  if (fixture.skip_reason != NULL)
    {
      g_free (golden_path);
      return;
    }

  fixture.model_dir = g_strdup (model_dir);
  fixture.tok = as_tokenizer_new_from_dir (model_dir, &error);
  g_assert_no_error (error);
  fixture.parser = parse_json_lines (golden_path, &error);
  g_assert_no_error (error);
  lines = json_node_get_array (json_parser_get_root (fixture.parser));
  fixture.goldens = g_ptr_array_new ();
  for (guint i = 0; i < json_array_get_length (lines); i++)
    g_ptr_array_add (fixture.goldens, json_array_get_object_element (lines, i));
  g_free (golden_path);
}

static void
free_fixture (void)
{
  as_tokenizer_free (fixture.tok);
  if (fixture.goldens != NULL)
    g_ptr_array_unref (fixture.goldens);
  g_clear_object (&fixture.parser);
  g_free (fixture.model_dir);
  g_free (fixture.skip_reason);
}

static gboolean
skip_without_model (void)
{
  if (fixture.skip_reason == NULL)
    return FALSE;
  g_test_skip (fixture.skip_reason);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Golden records                                                            */
/* ------------------------------------------------------------------------ */

typedef enum {
  PLAIN,        /* the model's tokenizer, no truncation */
  TRUNCATED,    /* has "max_length" */
  CASED,        /* vocab.txt, lowercase off */
  VARIANT,      /* another tokenizer.json */
  SWEEP,        /* "normalize" / "isolate" / variant definitions */
} GoldenKind;

static GoldenKind
golden_kind (JsonObject *g)
{
  if (!json_object_has_member (g, "ids"))
    return SWEEP;
  if (json_object_has_member (g, "variant"))
    return VARIANT;
  if (json_object_has_member (g, "max_length"))
    return TRUNCATED;
  if (json_object_has_member (g, "cased"))
    return CASED;
  return PLAIN;
}

static const char *
golden_b (JsonObject *g)
{
  JsonNode *b = json_object_get_member (g, "b");

  return b != NULL && !JSON_NODE_HOLDS_NULL (b) ? json_node_get_string (b) : NULL;
}

static AsEncoding *
encode_golden (AsTokenizer *tok, JsonObject *g, int max_length)
{
  return as_tokenizer_encode (tok, json_object_get_string_member (g, "a"), golden_b (g), max_length);
}

static gboolean
same_ints (JsonArray *expected, const AsEncoding *enc, gboolean type_ids)
{
  if ((int) json_array_get_length (expected) != enc->n_tokens)
    return FALSE;
  for (int i = 0; i < enc->n_tokens; i++)
    {
      int got = type_ids ? enc->tokens[i].type_id : enc->tokens[i].id;
      if (json_array_get_int_element (expected, i) != got)
        return FALSE;
    }
  return TRUE;
}

static char *
ids_to_string (const AsEncoding *enc)
{
  GString *s = g_string_new ("[");

  for (int i = 0; i < enc->n_tokens; i++)
    g_string_append_printf (s, "%s%d", i ? "," : "", enc->tokens[i].id);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static void
report_mismatch (int *count, JsonObject *g, const AsEncoding *enc, const char *what)
{
  char *got, *expected, *a_escaped, *b_escaped;
  const char *b = golden_b (g);

  if ((*count)++ >= MAX_REPORTED)
    return;
  got = ids_to_string (enc);
  expected = json_to_string (json_object_get_member (g, "ids"), FALSE);
  a_escaped = g_strescape (json_object_get_string_member (g, "a"), NULL);
  b_escaped = b ? g_strescape (b, NULL) : g_strdup ("(none)");
  g_test_message ("%s differ for a=\"%s\" b=\"%s\"\n  expected %s\n  got      %s",
                  what, a_escaped, b_escaped, expected, got);
  g_free (got);
  g_free (expected);
  g_free (a_escaped);
  g_free (b_escaped);
}

/* Ids and type ids of every golden of KIND (and VARIANT name), encoded by TOK. */
static void
check_goldens (AsTokenizer *tok, GoldenKind kind, const char *variant, int *checked, int *wrong)
{
  for (guint i = 0; i < fixture.goldens->len; i++)
    {
      JsonObject *g = g_ptr_array_index (fixture.goldens, i);
      int max_length = kind == TRUNCATED ? json_object_get_int_member (g, "max_length") : 0;
      AsEncoding *enc;
      if (golden_kind (g) != kind
          || (variant && g_strcmp0 (json_object_get_string_member (g, "variant"), variant) != 0))
        continue;
      enc = encode_golden (tok, g, max_length);
      (*checked)++;
      if (!same_ints (json_object_get_array_member (g, "ids"), enc, FALSE))
        report_mismatch (wrong, g, enc, "ids");
      else if (!same_ints (json_object_get_array_member (g, "type_ids"), enc, TRUE))
        report_mismatch (wrong, g, enc, "type ids");
      as_encoding_free (enc);
    }
}

static void
test_goldens_ids (void)
{
  int checked = 0, wrong = 0;

  if (skip_without_model ())
    return;
  check_goldens (fixture.tok, PLAIN, NULL, &checked, &wrong);
  g_test_message ("%d of %d golden encodings differ from Hugging Face", wrong, checked);
  g_assert_cmpint (checked, >=, 2000);
  g_assert_cmpint (wrong, ==, 0);
}

/* ------------------------------------------------------------------------ */
/* Offsets                                                                   */
/* ------------------------------------------------------------------------ */

static glong
char_offset (const char *text, int byte)
{
  return g_utf8_pointer_to_offset (text, text + byte);
}

/* HF gives character offsets into each sentence, (0, 0) for template tokens. */
static gboolean
same_offsets (JsonObject *g, const AsEncoding *enc)
{
  JsonArray *expected = json_object_get_array_member (g, "offsets");
  const char *texts[2] = { json_object_get_string_member (g, "a"), golden_b (g) };

  if ((int) json_array_get_length (expected) != enc->n_tokens)
    return FALSE;
  for (int i = 0; i < enc->n_tokens; i++)
    {
      JsonArray *pair = json_array_get_array_element (expected, i);
      const AsToken *t = &enc->tokens[i];
      glong start = 0, end = 0;
      if (t->sequence >= 0)
        {
          start = char_offset (texts[t->sequence], t->start);
          end = char_offset (texts[t->sequence], t->end);
        }
      if (json_array_get_int_element (pair, 0) != start || json_array_get_int_element (pair, 1) != end)
        return FALSE;
    }
  return TRUE;
}

static void
test_goldens_offsets (void)
{
  int checked = 0, wrong = 0;

  if (skip_without_model ())
    return;
  for (guint i = 0; i < fixture.goldens->len; i++)
    {
      JsonObject *g = g_ptr_array_index (fixture.goldens, i);
      AsEncoding *enc;
      if (golden_kind (g) != PLAIN)
        continue;
      enc = encode_golden (fixture.tok, g, 0);
      checked++;
      if (!same_offsets (g, enc))
        report_mismatch (&wrong, g, enc, "offsets");
      as_encoding_free (enc);
    }
  g_test_message ("%d of %d golden encodings have other offsets than Hugging Face", wrong, checked);
  g_assert_cmpint (wrong, ==, 0);
}

/* Every sentence token covers a non-empty byte run of its own sentence (whole
 * characters when the sentence is valid UTF-8), and the runs never go
 * backwards. */
static void
assert_spans_valid (const AsEncoding *enc, const char *a, const char *b)
{
  const char *texts[2] = { a, b };
  int last_start[2] = { 0, 0 };

  for (int i = 0; i < enc->n_tokens; i++)
    {
      const AsToken *t = &enc->tokens[i];
      const char *text;
      int length;
      if (t->sequence < 0)
        {
          g_assert_true (t->is_special);
          g_assert_cmpint (t->start, ==, -1);
          g_assert_cmpint (t->end, ==, -1);
          continue;
        }
      g_assert_cmpint (t->sequence, <=, 1);
      text = texts[t->sequence];
      g_assert_nonnull (text);
      length = strlen (text);
      g_assert_cmpint (t->start, >=, 0);
      g_assert_cmpint (t->start, <, t->end);
      g_assert_cmpint (t->end, <=, length);
      g_assert_cmpint (t->start, >=, last_start[t->sequence]);
      if (g_utf8_validate (text, length, NULL))
        {
          g_assert_false (((guchar) text[t->start] & 0xC0) == 0x80);
          g_assert_true (t->end == length || ((guchar) text[t->end] & 0xC0) != 0x80);
        }
      last_start[t->sequence] = t->start;
    }
}

static void
test_spans (void)
{
  if (skip_without_model ())
    return;
  for (guint i = 0; i < fixture.goldens->len; i++)
    {
      JsonObject *g = g_ptr_array_index (fixture.goldens, i);
      AsEncoding *enc;
      if (golden_kind (g) != PLAIN)
        continue;
      enc = encode_golden (fixture.tok, g, 0);
      assert_spans_valid (enc, json_object_get_string_member (g, "a"), golden_b (g));
      as_encoding_free (enc);
    }
}

/* For plain lowercase ASCII words the span holds exactly the piece's text. */
static void
test_spans_ascii (void)
{
  const char *text = "the  unaffordable\tquick-witted fox, jumped!";
  AsEncoding *enc;

  if (skip_without_model ())
    return;
  enc = as_tokenizer_encode (fixture.tok, text, NULL, 0);
  g_assert_cmpint (enc->n_tokens, >, 8);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      const AsToken *t = &enc->tokens[i];
      const char *piece = t->text + (t->is_continuation ? 2 : 0);
      if (t->sequence < 0)
        continue;
      g_assert_cmpint (t->end - t->start, ==, (int) strlen (piece));
      g_assert_cmpint (strncmp (text + t->start, piece, t->end - t->start), ==, 0);
      g_assert_cmpint (t->is_continuation, ==, g_str_has_prefix (t->text, "##"));
    }
  as_encoding_free (enc);
}

/* ------------------------------------------------------------------------ */
/* Truncation                                                                */
/* ------------------------------------------------------------------------ */

static void
test_goldens_truncation (void)
{
  int checked = 0, wrong = 0;

  if (skip_without_model ())
    return;
  for (guint i = 0; i < fixture.goldens->len; i++)
    {
      JsonObject *g = g_ptr_array_index (fixture.goldens, i);
      AsEncoding *enc;
      if (golden_kind (g) != TRUNCATED)
        continue;
      enc = encode_golden (fixture.tok, g, json_object_get_int_member (g, "max_length"));
      checked++;
      if (!same_ints (json_object_get_array_member (g, "ids"), enc, FALSE)
          || !same_ints (json_object_get_array_member (g, "type_ids"), enc, TRUE))
        report_mismatch (&wrong, g, enc, "truncated ids");
      g_assert_cmpint (enc->truncated, ==, json_object_get_boolean_member (g, "truncated"));
      g_assert_cmpint (enc->n_dropped, ==, json_object_get_int_member (g, "n_dropped"));
      as_encoding_free (enc);
    }
  g_test_message ("%d of %d truncated encodings differ", wrong, checked);
  g_assert_cmpint (checked, >=, 10);
  g_assert_cmpint (wrong, ==, 0);
}

static int
count_sequence (const AsEncoding *enc, int sequence)
{
  int n = 0;

  for (int i = 0; i < enc->n_tokens; i++)
    n += enc->tokens[i].sequence == sequence;
  return n;
}

/* The report matches what was cut, for every length from 0 up. */
static void
test_truncation_report (void)
{
  const char *a = "one two three four five six seven eight nine ten";
  const char *b = "alpha beta gamma";
  AsEncoding *full;

  if (skip_without_model ())
    return;
  full = as_tokenizer_encode (fixture.tok, a, b, 0);
  g_assert_false (full->truncated);
  g_assert_cmpint (full->n_dropped, ==, 0);
  for (int max_length = 1; max_length <= full->n_tokens + 2; max_length++)
    {
      AsEncoding *single = as_tokenizer_encode (fixture.tok, a, NULL, max_length);
      AsEncoding *pair = as_tokenizer_encode (fixture.tok, a, b, max_length);
      int budget = MAX (0, max_length - 3);
      g_assert_cmpint (count_sequence (pair, 0) + count_sequence (pair, 1), ==,
                       MIN (budget, full->n_tokens - 3));
      g_assert_cmpint (pair->n_dropped, ==, full->n_tokens - pair->n_tokens);
      g_assert_cmpint (pair->truncated, ==, pair->n_dropped > 0);
      g_assert_cmpint (count_sequence (single, 0), ==, MIN (MAX (0, max_length - 2), 10));
      g_assert_cmpint (single->n_dropped, ==, 10 - count_sequence (single, 0));
      g_assert_cmpint (single->truncated, ==, single->n_dropped > 0);
      g_assert_true (single->tokens[0].is_special && single->tokens[single->n_tokens - 1].is_special);
      as_encoding_free (single);
      as_encoding_free (pair);
    }
  as_encoding_free (full);
}

/* ------------------------------------------------------------------------ */
/* The vocab.txt fallback and tokenizer variants                             */
/* ------------------------------------------------------------------------ */

static AsTokenizer *
load_vocab_txt (gboolean lowercase)
{
  char *path = g_build_filename (fixture.model_dir, "vocab.txt", NULL);
  char *text = NULL;
  gsize length = 0;
  GError *error = NULL;
  AsTokenizer *tok;

  g_assert_true (g_file_get_contents (path, &text, &length, &error));
  tok = as_tokenizer_new_from_vocab (text, length, lowercase, path, &error);
  g_assert_no_error (error);
  g_free (text);
  g_free (path);
  return tok;
}

/* Every seventh plain golden, through a tokenizer built from vocab.txt. */
static void
test_vocab_fallback (void)
{
  AsTokenizer *tok;
  int checked = 0, wrong = 0;

  if (skip_without_model ())
    return;
  tok = load_vocab_txt (TRUE);
  g_assert_cmpint (as_tokenizer_get_vocab_size (tok), ==, as_tokenizer_get_vocab_size (fixture.tok));
  for (guint i = 0; i < fixture.goldens->len; i += 7)
    {
      JsonObject *g = g_ptr_array_index (fixture.goldens, i);
      AsEncoding *enc;
      if (golden_kind (g) != PLAIN)
        continue;
      enc = encode_golden (tok, g, 0);
      checked++;
      if (!same_ints (json_object_get_array_member (g, "ids"), enc, FALSE)
          || !same_ints (json_object_get_array_member (g, "type_ids"), enc, TRUE))
        report_mismatch (&wrong, g, enc, "vocab.txt ids");
      as_encoding_free (enc);
    }
  g_test_message ("%d of %d vocab.txt encodings differ", wrong, checked);
  g_assert_cmpint (checked, >=, 300);
  g_assert_cmpint (wrong, ==, 0);
  as_tokenizer_free (tok);
}

static void
test_vocab_cased (void)
{
  AsTokenizer *tok;
  int checked = 0, wrong = 0;

  if (skip_without_model ())
    return;
  tok = load_vocab_txt (FALSE);
  check_goldens (tok, CASED, NULL, &checked, &wrong);
  g_test_message ("%d of %d cased encodings differ", wrong, checked);
  g_assert_cmpint (checked, >=, 100);
  g_assert_cmpint (wrong, ==, 0);
  as_tokenizer_free (tok);
}

static void
write_file (const char *dir, const char *name, const char *contents, gssize length)
{
  char *path = g_build_filename (dir, name, NULL);
  GError *error = NULL;

  g_file_set_contents (path, contents, length, &error);
  g_assert_no_error (error);
  g_free (path);
}

static void
remove_dir (const char *dir)
{
  const char *names[] = { "vocab.txt", "tokenizer_config.json" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      char *path = g_build_filename (dir, names[i], NULL);
      g_remove (path);
      g_free (path);
    }
  g_rmdir (dir);
}

/* A folder with vocab.txt only lowercases; tokenizer_config.json can say no. */
static void
test_dir_without_json (void)
{
  char *vocab_path, *text = NULL, *dir;
  gsize length = 0;
  GError *error = NULL;
  AsTokenizer *tok;
  int hello_id;

  if (skip_without_model ())
    return;
  vocab_path = g_build_filename (fixture.model_dir, "vocab.txt", NULL);
  g_assert_true (g_file_get_contents (vocab_path, &text, &length, NULL));
  dir = g_dir_make_tmp ("as-tokenizer-XXXXXX", &error);
  g_assert_no_error (error);
  write_file (dir, "vocab.txt", text, length);
  hello_id = as_tokenizer_token_to_id (fixture.tok, "hello");
  g_assert_cmpint (hello_id, >=, 0);

  tok = as_tokenizer_new_from_dir (dir, &error);
  g_assert_no_error (error);
  {
    AsEncoding *enc = as_tokenizer_encode (tok, "HELLO", NULL, 0);
    g_assert_cmpint (enc->n_tokens, ==, 3);
    g_assert_cmpint (enc->tokens[1].id, ==, hello_id);
    as_encoding_free (enc);
  }
  as_tokenizer_free (tok);

  write_file (dir, "tokenizer_config.json", "{\"do_lower_case\": false}", -1);
  tok = as_tokenizer_new_from_dir (dir, &error);
  g_assert_no_error (error);
  {
    AsEncoding *enc = as_tokenizer_encode (tok, "HELLO", NULL, 0);
    g_assert_cmpint (enc->n_tokens, ==, 3);
    g_assert_cmpint (enc->tokens[1].id, ==, as_tokenizer_token_to_id (tok, "[UNK]"));
    as_encoding_free (enc);
  }
  as_tokenizer_free (tok);

  remove_dir (dir);
  g_free (dir);
  g_free (text);
  g_free (vocab_path);
}

static void
test_variants (void)
{
  int variants = 0, checked = 0, wrong = 0;

  if (skip_without_model ())
    return;
  for (guint i = 0; i < fixture.goldens->len; i++)
    {
      JsonObject *g = g_ptr_array_index (fixture.goldens, i);
      const char *json = json_object_has_member (g, "tokenizer_json")
                         ? json_object_get_string_member (g, "tokenizer_json") : NULL;
      const char *name;
      GError *error = NULL;
      AsTokenizer *tok;
      if (json == NULL)
        continue;
      name = json_object_get_string_member (g, "variant");
      tok = as_tokenizer_new_from_json (json, strlen (json), name, &error);
      g_assert_no_error (error);
      check_goldens (tok, VARIANT, name, &checked, &wrong);
      variants++;
      as_tokenizer_free (tok);
    }
  g_test_message ("%d of %d encodings by %d tokenizer variants differ", wrong, checked, variants);
  g_assert_cmpint (variants, >=, 3);
  g_assert_cmpint (wrong, ==, 0);
}

/* ------------------------------------------------------------------------ */
/* Sweeps over every code point                                              */
/* ------------------------------------------------------------------------ */

static gboolean
is_code_point (gunichar c)
{
  return c < 0x110000 && (c < 0xD800 || c > 0xDFFF);
}

static char *
utf8_of (gunichar c)
{
  char buf[8] = { 0 };

  g_unichar_to_utf8 (c, buf);
  return g_strdup (buf);
}

/* What HF's normalizer makes of each code point alone (kept when absent). */
static GHashTable *
expected_normalization (void)
{
  GHashTable *expected = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);

  for (guint i = 0; i < fixture.goldens->len; i++)
    {
      JsonObject *g = g_ptr_array_index (fixture.goldens, i);
      JsonArray *entries = json_object_has_member (g, "normalize")
                           ? json_object_get_array_member (g, "normalize") : NULL;
      for (guint k = 0; entries != NULL && k < json_array_get_length (entries); k++)
        {
          JsonArray *e = json_array_get_array_element (entries, k);
          const char *kind = json_array_get_string_element (e, 0);
          gunichar lo = json_array_get_int_element (e, 1);
          if (kind[0] == 'M')
            {
              g_hash_table_insert (expected, GUINT_TO_POINTER (lo),
                                   g_strdup (json_array_get_string_element (e, 2)));
              continue;
            }
          for (gunichar c = lo; c <= (gunichar) json_array_get_int_element (e, 2); c++)
            {
              char *self = utf8_of (c);
              char *text = kind[0] == 'D' ? g_strdup ("")
                         : kind[0] == 'S' ? g_strdup (" ")
                         : g_strdup_printf (" %s ", self);
              g_hash_table_insert (expected, GUINT_TO_POINTER (c), text);
              g_free (self);
            }
        }
    }
  return expected;
}

static void
test_sweep_normalize (void)
{
  GHashTable *expected;
  int wrong = 0;

  if (skip_without_model ())
    return;
  expected = expected_normalization ();
  g_assert_cmpuint (g_hash_table_size (expected), >, 100000);
  for (gunichar c = 0; c < 0x110000; c++)
    {
      char *self, *got;
      const char *want;
      if (!is_code_point (c) || c == 0)   /* U+0000 cannot pass a C string */
        continue;
      self = utf8_of (c);
      got = as_tokenizer_normalize (fixture.tok, self);
      want = g_hash_table_lookup (expected, GUINT_TO_POINTER (c));
      if (strcmp (got, want ? want : self) != 0 && wrong++ < MAX_REPORTED)
        g_test_message ("U+%04X normalizes to \"%s\", Hugging Face gives \"%s\"", c, got,
                        want ? want : self);
      g_free (got);
      g_free (self);
    }
  g_test_message ("%d code points normalize differently", wrong);
  g_assert_cmpint (wrong, ==, 0);
  g_hash_table_unref (expected);
}

/* 'P' when "a" c "a" is three words (c is punctuation), 'W' when two (c is
 * whitespace), '-' otherwise; the same test the goldens script makes. */
static char
isolation_class (AsTokenizer *tok, gunichar c, int a_id)
{
  char *self = utf8_of (c);
  char *text = g_strdup_printf ("a%sa", self);
  AsEncoding *enc = as_tokenizer_encode (tok, text, NULL, 0);
  int end = 1 + (int) strlen (self);
  char kind = '-';

  if (enc->n_tokens == 4 && enc->tokens[1].id == a_id && enc->tokens[2].id == a_id
      && enc->tokens[2].start == end)
    kind = 'W';
  else if (enc->n_tokens == 5 && enc->tokens[1].id == a_id && enc->tokens[3].id == a_id
           && enc->tokens[2].start == 1 && enc->tokens[2].end == end)
    kind = 'P';
  as_encoding_free (enc);
  g_free (text);
  g_free (self);
  return kind;
}

static GHashTable *
expected_isolation (void)
{
  GHashTable *expected = g_hash_table_new (g_direct_hash, g_direct_equal);

  for (guint i = 0; i < fixture.goldens->len; i++)
    {
      JsonObject *g = g_ptr_array_index (fixture.goldens, i);
      JsonArray *runs = json_object_has_member (g, "isolate")
                        ? json_object_get_array_member (g, "isolate") : NULL;
      for (guint k = 0; runs != NULL && k < json_array_get_length (runs); k++)
        {
          JsonArray *run = json_array_get_array_element (runs, k);
          gunichar hi = json_array_get_int_element (run, 1);
          char kind = json_array_get_string_element (run, 2)[0];
          for (gunichar c = json_array_get_int_element (run, 0); c <= hi; c++)
            g_hash_table_insert (expected, GUINT_TO_POINTER (c), GINT_TO_POINTER (kind));
        }
    }
  return expected;
}

static void
test_sweep_isolate (void)
{
  GHashTable *expected;
  int a_id, wrong = 0;

  if (skip_without_model ())
    return;
  expected = expected_isolation ();
  a_id = as_tokenizer_token_to_id (fixture.tok, "a");
  g_assert_cmpuint (g_hash_table_size (expected), >, 500);
  for (gunichar c = 1; c < 0x110000; c++)
    {
      char want, got;
      if (!is_code_point (c))
        continue;
      want = GPOINTER_TO_INT (g_hash_table_lookup (expected, GUINT_TO_POINTER (c)));
      got = isolation_class (fixture.tok, c, a_id);
      if (got != (want ? want : '-') && wrong++ < MAX_REPORTED)
        g_test_message ("U+%04X: class %c, Hugging Face %c", c, got, want ? want : '-');
    }
  g_test_message ("%d code points split differently", wrong);
  g_assert_cmpint (wrong, ==, 0);
  g_hash_table_unref (expected);
}

/* ------------------------------------------------------------------------ */
/* Arbitrary bytes, special tokens, errors, speed                            */
/* ------------------------------------------------------------------------ */

static void
assert_only_template (AsTokenizer *tok, const char *bytes)
{
  AsEncoding *enc = as_tokenizer_encode (tok, bytes, NULL, 0);

  g_assert_cmpint (enc->n_tokens, ==, 2);
  g_assert_cmpint (enc->tokens[0].id, ==, as_tokenizer_token_to_id (tok, "[CLS]"));
  g_assert_cmpint (enc->tokens[1].id, ==, as_tokenizer_token_to_id (tok, "[SEP]"));
  as_encoding_free (enc);
}

static void
test_invalid_bytes (void)
{
  /* lone continuation bytes, overlong forms, surrogates, beyond U+10FFFF,
   * a truncated sequence at the very end, 0xFE/0xFF */
  static const char *const invalid[] = {
    "\x80", "\xBF\x80\x81", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
    "\xF8\x88\x80\x80\x80", "\xFE\xFF", "\xE2\x82", "\xF0\x9F\x98", "\xC3", " \xC3 \xA9\t",
  };

  if (skip_without_model ())
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (invalid); i++)
    assert_only_template (fixture.tok, invalid[i]);
  assert_only_template (fixture.tok, "");
  assert_only_template (fixture.tok, " \t\r\n\u3000\u2028");
  assert_only_template (fixture.tok, NULL);
}

/* Random bytes: no crash, spans inside the input (ASan watches the reads). */
static void
test_random_bytes (void)
{
  if (skip_without_model ())
    return;
  for (int round = 0; round < 2000; round++)
    {
      int length = g_test_rand_int_range (0, 64);
      char *a = g_malloc (length + 1), *b = g_malloc (length / 2 + 1);
      AsEncoding *enc;
      for (int i = 0; i < length; i++)
        a[i] = (char) g_test_rand_int_range (1, 256);
      for (int i = 0; i < length / 2; i++)
        b[i] = (char) g_test_rand_int_range (1, 256);
      a[length] = b[length / 2] = '\0';
      enc = as_tokenizer_encode (fixture.tok, a, b, g_test_rand_int_range (0, 40));
      assert_spans_valid (enc, a, b);
      as_encoding_free (enc);
      g_free (a);
      g_free (b);
    }
}

static void
test_special_tokens (void)
{
  AsEncoding *enc;
  int mask = as_tokenizer_token_to_id (fixture.tok, "[MASK]");

  if (skip_without_model ())
    return;
  g_assert_cmpint (mask, >=, 0);
  g_assert_cmpstr (as_tokenizer_id_to_token (fixture.tok, mask), ==, "[MASK]");
  g_assert_null (as_tokenizer_id_to_token (fixture.tok, -1));
  g_assert_null (as_tokenizer_id_to_token (fixture.tok, as_tokenizer_get_vocab_size (fixture.tok)));
  g_assert_cmpint (as_tokenizer_token_to_id (fixture.tok, "no-such-token-here"), ==, -1);

  enc = as_tokenizer_encode (fixture.tok, "a [MASK]b", "c", 0);
  g_assert_cmpint (enc->n_tokens, ==, 7);
  g_assert_cmpint (enc->tokens[2].id, ==, mask);
  g_assert_true (enc->tokens[2].is_special);
  g_assert_cmpint (enc->tokens[2].start, ==, 2);
  g_assert_cmpint (enc->tokens[2].end, ==, 8);
  g_assert_cmpint (enc->tokens[2].sequence, ==, 0);
  g_assert_false (enc->tokens[1].is_special);
  g_assert_cmpint (enc->tokens[5].sequence, ==, 1);
  g_assert_cmpint (enc->tokens[5].type_id, ==, 1);
  g_assert_cmpint (enc->tokens[6].sequence, ==, -1);
  g_assert_cmpint (enc->tokens[6].type_id, ==, 1);
  as_encoding_free (enc);
}

static void
assert_load_fails (const char *json, int code)
{
  GError *error = NULL;
  AsTokenizer *tok = as_tokenizer_new_from_json (json, strlen (json), "test.json", &error);

  g_assert_null (tok);
  g_assert_error (error, AS_MODEL_ERROR, code);
  g_assert_nonnull (strstr (error->message, "test.json"));
  g_error_free (error);
}

static void
test_load_errors (void)
{
  GError *error = NULL;

  assert_load_fails ("{", AS_MODEL_ERROR_FORMAT);
  assert_load_fails ("[]", AS_MODEL_ERROR_FORMAT);
  assert_load_fails ("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}", AS_MODEL_ERROR_UNSUPPORTED);
  assert_load_fails ("{\"model\": {\"type\": \"WordPiece\"}}", AS_MODEL_ERROR_FORMAT);
  assert_load_fails ("{\"model\": {\"vocab\": {\"a\": -1}}}", AS_MODEL_ERROR_FORMAT);
  assert_load_fails ("{\"model\": {\"vocab\": {\"a\": 0}}}", AS_MODEL_ERROR_FORMAT); /* no [UNK] */
  assert_load_fails ("{\"model\": {\"vocab\": {\"[UNK]\": 0}}, \"normalizer\": {\"type\": \"NFC\"}}",
                     AS_MODEL_ERROR_UNSUPPORTED);
  assert_load_fails ("{\"model\": {\"vocab\": {\"[UNK]\": 0}}, \"post_processor\": "
                     "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
                     "{\"id\": \"[CLS]\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}}}",
                     AS_MODEL_ERROR_FORMAT);
  g_assert_null (as_tokenizer_new_from_vocab ("[UNK]\n[CLS]\n", 12, TRUE, "v.txt", &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT);
  g_clear_error (&error);
  g_assert_null (as_tokenizer_new_from_dir ("/nonexistent/attnscope", &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO);
  g_clear_error (&error);
}

/* PATH is refused by as_tokenizer_new_from_dir (DIR) quickly, with CODE and
 * a message that names NAME and contains NEEDLE. */
static void
assert_dir_refused (const char *dir, const char *name, int code, const char *needle)
{
  GError *error = NULL;
  gint64 start = g_get_monotonic_time ();
  AsTokenizer *tok = as_tokenizer_new_from_dir (dir, &error);
  gint64 took = g_get_monotonic_time () - start;

  g_assert_null (tok);
  g_assert_error (error, AS_MODEL_ERROR, code);
  g_test_message ("%s (%.1f ms)", error->message, took / 1000.0);
  g_assert_nonnull (strstr (error->message, name));
  g_assert_nonnull (strstr (error->message, needle));
  g_assert_cmpint (took, <, 2 * G_USEC_PER_SEC);
  g_error_free (error);
}

/* Files that are not regular, or too big, are refused before reading, and a
 * tokenizer.json that is there but broken is never passed over for
 * vocab.txt. */
static void
test_dir_hostile_files (void)
{
  const char *vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n";
  GError *error = NULL;
  char *dir = g_dir_make_tmp ("as-tokenizer-XXXXXX", &error);
  char *json = g_build_filename (dir, "tokenizer.json", NULL);
  char *config = g_build_filename (dir, "tokenizer_config.json", NULL);
  char *vocab_path = g_build_filename (dir, "vocab.txt", NULL);

  g_assert_no_error (error);
  write_file (dir, "vocab.txt", vocab, -1);

  g_assert_cmpint (symlink ("tokenizer.json", json), ==, 0);
  assert_dir_refused (dir, "tokenizer.json", AS_MODEL_ERROR_IO, "symbolic links");
  g_remove (json);
  g_assert_cmpint (symlink ("/dev/zero", json), ==, 0);
  assert_dir_refused (dir, "tokenizer.json", AS_MODEL_ERROR_IO, "character device");
  g_remove (json);
  g_assert_cmpint (mkfifo (json, 0600), ==, 0);
  assert_dir_refused (dir, "tokenizer.json", AS_MODEL_ERROR_IO, "FIFO");
  g_remove (json);

  g_assert_cmpint (mkfifo (config, 0600), ==, 0);
  assert_dir_refused (dir, "tokenizer_config.json", AS_MODEL_ERROR_IO, "FIFO");
  g_remove (config);

  /* Sparse, one byte over the cap: refused by its size, unread. */
  g_assert_cmpint (truncate (vocab_path, (off_t) (64 << 20) + 1), ==, 0);
  assert_dir_refused (dir, "vocab.txt", AS_MODEL_ERROR_RESOURCES, "is 67108865 bytes");
  g_remove (vocab_path);
  g_assert_cmpint (mkfifo (vocab_path, 0600), ==, 0);
  assert_dir_refused (dir, "vocab.txt", AS_MODEL_ERROR_IO, "FIFO");

  remove_dir (dir);
  g_free (vocab_path);
  g_free (config);
  g_free (json);
  g_free (dir);
}

/* A tokenizer.json of millions of values is refused before json-glib builds
 * a tree of them (some 80 bytes each). */
static void
test_too_many_values (void)
{
  GString *text = g_string_new ("{\"model\": {\"vocab\": {\"[UNK]\": 0}}, \"x\": [0");
  GError *error = NULL;
  gint64 start;

  for (int i = 0; i < 2100000; i++)
    g_string_append (text, ",0");
  g_string_append (text, "]}");
  start = g_get_monotonic_time ();
  g_assert_null (as_tokenizer_new_from_json (text->str, text->len, "big.json", &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES);
  g_test_message ("%s (%.1f ms)", error->message, (g_get_monotonic_time () - start) / 1000.0);
  g_assert_nonnull (strstr (error->message, "big.json: holds about 2100015 JSON values"));
  g_clear_error (&error);
  g_string_free (text, TRUE);
}

/* A tiny vocabulary: greedy longest match, [UNK] for a whole word when a
 * middle piece is missing, and the 100-character limit. */
static void
test_tiny_vocab (void)
{
  const char *vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nun\n##aff\n##able\n##a\n##ff\n#\n";
  GError *error = NULL;
  AsTokenizer *tok = as_tokenizer_new_from_vocab (vocab, strlen (vocab), TRUE, "tiny", &error);
  AsEncoding *enc;
  char *long_word = g_strnfill (101, 'a');
  char *text = g_strdup_printf ("unaffable unaffxable UnAffAble %s", long_word);

  g_assert_no_error (error);
  enc = as_tokenizer_encode (tok, text, NULL, 0);
  /* [CLS] un ##aff ##able [UNK] un ##aff ##able [UNK] [SEP] */
  g_assert_cmpint (enc->n_tokens, ==, 10);
  g_assert_cmpstr (enc->tokens[2].text, ==, "##aff");
  g_assert_true (enc->tokens[2].is_continuation);
  g_assert_cmpint (enc->tokens[4].id, ==, 1);
  g_assert_cmpint (enc->tokens[4].start, ==, 10);
  g_assert_cmpint (enc->tokens[4].end, ==, 20);
  g_assert_false (enc->tokens[4].is_continuation);
  g_assert_cmpint (enc->tokens[8].id, ==, 1);
  g_assert_cmpint (enc->tokens[8].end - enc->tokens[8].start, ==, 101);
  as_encoding_free (enc);
  g_free (text);
  g_free (long_word);
  as_tokenizer_free (tok);
}

/* The app tokenizes on every keystroke: 100,000 pasted characters must be
 * quick, including pathological ones (one huge word, thousands of marks). */
static void
test_speed (void)
{
  GString *text = g_string_new (NULL);
  gint64 t0;
  double seconds;
  AsEncoding *enc;

  if (skip_without_model ())
    return;
  for (guint i = 0; text->len < 100000; i++)
    {
      JsonObject *g = g_ptr_array_index (fixture.goldens, i % fixture.goldens->len);
      if (golden_kind (g) == PLAIN)
        g_string_append_printf (text, "%s\n", json_object_get_string_member (g, "a"));
    }
  t0 = g_get_monotonic_time ();
  enc = as_tokenizer_encode (fixture.tok, text->str, NULL, 0);
  g_assert_cmpint (enc->n_tokens, >, 10000);
  as_encoding_free (enc);

  /* "e" and 50,000 combining marks of two classes: canonical ordering */
  g_string_assign (text, "e");
  for (int i = 0; i < 50000; i++)
    g_string_append (text, i % 2 ? "\xCC\x81" : "\xCC\x96");
  enc = as_tokenizer_encode (fixture.tok, text->str, NULL, 512);
  g_assert_cmpint (enc->n_tokens, ==, 3);
  as_encoding_free (enc);

  /* 99-letter words: WordPiece's worst case below the [UNK] limit */
  g_string_truncate (text, 0);
  for (int i = 0; text->len < 100000; i++)
    g_string_append_c (text, i % 100 == 99 ? ' ' : "qzxjkv"[i % 6]);
  enc = as_tokenizer_encode (fixture.tok, text->str, NULL, 0);
  g_assert_cmpint (enc->n_tokens, >, 1000);
  as_encoding_free (enc);

  g_string_truncate (text, 0);
  for (int i = 0; i < 100000; i++)
    g_string_append_c (text, 'a' + i % 26);
  enc = as_tokenizer_encode (fixture.tok, text->str, text->str, 512);
  g_assert_cmpint (enc->n_tokens, ==, 5);   /* each sentence is one [UNK] word */
  as_encoding_free (enc);

  seconds = (g_get_monotonic_time () - t0) / 1e6;
  g_test_message ("four 100,000-character encodes took %.3f s", seconds);
  g_assert_cmpfloat (seconds, <, 10.0);   /* generous: sanitizer builds are slow */
  g_string_free (text, TRUE);
}

int
main (int argc, char **argv)
{
  int result;

  g_test_init (&argc, &argv, NULL);
  load_fixture ();

  g_test_add_func ("/tokenizer/goldens/ids", test_goldens_ids);
  g_test_add_func ("/tokenizer/goldens/offsets", test_goldens_offsets);
  g_test_add_func ("/tokenizer/goldens/truncation", test_goldens_truncation);
  g_test_add_func ("/tokenizer/goldens/variants", test_variants);
  g_test_add_func ("/tokenizer/goldens/vocab-txt", test_vocab_fallback);
  g_test_add_func ("/tokenizer/goldens/vocab-txt-cased", test_vocab_cased);
  g_test_add_func ("/tokenizer/sweep/normalize", test_sweep_normalize);
  g_test_add_func ("/tokenizer/sweep/isolate", test_sweep_isolate);
  g_test_add_func ("/tokenizer/dir-without-json", test_dir_without_json);
  g_test_add_func ("/tokenizer/dir-hostile-files", test_dir_hostile_files);
  g_test_add_func ("/tokenizer/too-many-values", test_too_many_values);
  g_test_add_func ("/tokenizer/spans", test_spans);
  g_test_add_func ("/tokenizer/spans-ascii", test_spans_ascii);
  g_test_add_func ("/tokenizer/truncation-report", test_truncation_report);
  g_test_add_func ("/tokenizer/special-tokens", test_special_tokens);
  g_test_add_func ("/tokenizer/invalid-bytes", test_invalid_bytes);
  g_test_add_func ("/tokenizer/random-bytes", test_random_bytes);
  g_test_add_func ("/tokenizer/load-errors", test_load_errors);
  g_test_add_func ("/tokenizer/tiny-vocab", test_tiny_vocab);
  g_test_add_func ("/tokenizer/speed", test_speed);

  result = g_test_run ();
  free_fixture ();
  return result;
}
