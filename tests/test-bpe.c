/* test-bpe.c — byte-level BPE (model/as-bpe.c) against Hugging Face.
 *
 * The reference is tests/data/bpe/smollm2-goldens.json, made by
 * tools/make-bpe-goldens.py with transformers' tokenizer for the SmolLM2
 * GGUF: every line of the WordPiece corpus (tests/data/token-corpus.txt) and
 * hand-written cases must give the same ids (and token spellings, and
 * decoded text); the character classes of the pre-tokenizer must equal the
 * crate's regex engine's for every code point. Then: decode(encode(x)) == x,
 * a 100 KB input in well under a second, a tiny hand-written tokenizer.json
 * (GPT-2 style, and Digits + ByteLevel), and hostile tokenizer data, each
 * refused with a message that says what is wrong.
 *
 * The tests that need the GGUF skip, saying why, when it is not downloaded.
 */
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "as-bpe.h"
#include "as-error.h"
#include "as-gguf.h"
#include "as-shown.h"

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                 */

static JsonParser *goldens_parser;
static char **corpus;       /* NULL-terminated lines */
static AsGguf *smollm_gguf;
static AsBpe *smollm;
static char *skip_reason;

static JsonObject *
goldens (void)
{
  if (goldens_parser == NULL)
    {
      const char *dir = g_getenv ("AS_TEST_DATA");
      g_autofree char *path = NULL;
      g_autoptr (GError) error = NULL;

      g_assert_nonnull (dir);
      path = g_build_filename (dir, "bpe", "smollm2-goldens.json", NULL);
      goldens_parser = json_parser_new ();
      json_parser_load_from_file (goldens_parser, path, &error);
      g_assert_no_error (error);
    }
  return json_node_get_object (json_parser_get_root (goldens_parser));
}

static char **
corpus_lines (void)
{
  if (corpus == NULL)
    {
      const char *dir = g_getenv ("AS_TEST_DATA");
      g_autofree char *path = g_build_filename (dir, "token-corpus.txt", NULL);
      g_autofree char *text = NULL;
      gsize len = 0;
      g_autoptr (GError) error = NULL;

      g_file_get_contents (path, &text, &len, &error);
      g_assert_no_error (error);
      if (len > 0 && text[len - 1] == '\n')
        text[len - 1] = '\0';
      corpus = g_strsplit (text, "\n", -1);
    }
  return corpus;
}

/* ATTNSCOPE_GGUF, else beside the default model (as test-gguf.c). */
static AsBpe *
smollm_bpe (void)
{
  if (smollm == NULL && skip_reason == NULL)
    {
      const char *env = g_getenv ("ATTNSCOPE_GGUF");
      const char *model = g_getenv ("ATTNSCOPE_MODEL_DIR");
      g_autofree char *path = NULL;
      g_autoptr (GError) error = NULL;

      if (env != NULL && *env != '\0')
        path = g_strdup (env);
      else if (model != NULL && *model != '\0')
        {
          g_autofree char *models = g_path_get_dirname (model);
          path = g_build_filename (models, "SmolLM2-135M-Instruct",
                                   "SmolLM2-135M-Instruct.Q4_1.gguf", NULL);
        }
      if (path == NULL || !g_file_test (path, G_FILE_TEST_IS_REGULAR))
        {
          skip_reason = g_strdup_printf ("the SmolLM2 GGUF is not downloaded (%s; set "
                                         "ATTNSCOPE_GGUF or run tools/setup --model)",
                                         path != NULL ? path : "no ATTNSCOPE_MODEL_DIR");
          return NULL;
        }
      smollm_gguf = as_gguf_open (path, &error);
      g_assert_no_error (error);
      smollm = as_bpe_new_from_gguf (smollm_gguf, &error);
      g_assert_no_error (error);
      g_assert_nonnull (smollm);
    }
  if (smollm == NULL)
    g_test_skip (skip_reason);
  return smollm;
}

/* 3 characters of the fixture's alphabet per id. */
static GArray *
unpack_ids (const char *packed, const char *alphabet)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (int));
  gsize n = strlen (packed);

  g_assert_cmpuint (n % 3, ==, 0);
  for (gsize i = 0; i < n; i += 3)
    {
      int id = 0;

      for (int k = 0; k < 3; k++)
        {
          const char *at = strchr (alphabet, packed[i + k]);
          g_assert_nonnull (at);
          id = id * 64 + (int) (at - alphabet);
        }
      g_array_append_val (ids, id);
    }
  return ids;
}

static GArray *
array_ids (JsonArray *array)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (int));

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      int id = (int) json_array_get_int_element (array, i);
      g_array_append_val (ids, id);
    }
  return ids;
}

static char *
ids_string (const int *ids, int n)
{
  GString *s = g_string_new ("[");

  for (int i = 0; i < n; i++)
    g_string_append_printf (s, "%s%d", i ? " " : "", ids[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* Spans in order, each right after the last, together the whole text. */
static void
check_offsets (const AsEncoding *enc, gsize len, const char *text)
{
  int at = 0;

  for (int i = 0; i < enc->n_tokens; i++)
    {
      if (enc->tokens[i].start != at || enc->tokens[i].end <= enc->tokens[i].start)
        g_error ("%s: token %d spans [%d, %d), expected to start at %d", text, i,
                 enc->tokens[i].start, enc->tokens[i].end, at);
      at = enc->tokens[i].end;
    }
  g_assert_cmpint (at, ==, (int) len);
}

/* Whether every byte of TEXT has its one-character token (GPT-2's
 * bytes_to_unicode spelling): SmolLM2's vocabulary lacks a few (U+0004,
 * U+0006 …), which HF and as_bpe_encode then drop. */
static gboolean
all_bytes_spelled (AsBpe *bpe, const char *text, gsize len)
{
  for (gsize i = 0; i < len; i++)
    {
      guint b = (guchar) text[i], n = 0, c;
      char s[8];

      if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
        c = b;
      else
        {
          for (guint k = 0; k < b; k++)
            n += !((k >= 0x21 && k <= 0x7E) || (k >= 0xA1 && k <= 0xAC) || k >= 0xAE);
          c = 0x100 + n;
        }
      s[g_unichar_to_utf8 (c, s)] = '\0';
      if (as_bpe_token_to_id (bpe, s) < 0)
        return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Character classes                                                        */

static void
test_classes (void)
{
  JsonObject *classes = json_object_get_object_member (goldens (), "classes");
  static const char names[] = "LNS";
  char *want = g_malloc (0x110000);
  int mismatches = 0;

  memset (want, 'O', 0x110000);
  for (int k = 0; k < 3; k++)
    {
      JsonArray *ranges = json_object_get_array_member (classes, (char[]) { names[k], 0 });
      for (guint i = 0; i < json_array_get_length (ranges); i++)
        {
          JsonArray *r = json_array_get_array_element (ranges, i);
          gint64 lo = json_array_get_int_element (r, 0), hi = json_array_get_int_element (r, 1);
          for (gint64 c = lo; c <= hi; c++)
            want[c] = names[k];
        }
    }
  for (gunichar c = 0; c < 0x110000; c++)
    {
      char got;
      if (c >= 0xD800 && c <= 0xDFFF)
        continue;
      got = as_bpe_char_class (c);
      if (got != want[c])
        {
          if (mismatches < 20)
            g_test_message ("U+%04X: class %c, the tokenizers crate says %c", c, got, want[c]);
          mismatches++;
        }
    }
  g_free (want);
  g_test_message ("%d code points differ from the crate's classes", mismatches);
  g_assert_cmpint (mismatches, ==, 0);
}

/* ------------------------------------------------------------------------ */
/* SmolLM2 against transformers                                             */

static void
test_smollm_basics (void)
{
  AsBpe *bpe = smollm_bpe ();
  if (bpe == NULL)
    return;
  g_assert_cmpint (as_bpe_get_vocab_size (bpe), ==,
                   (int) json_object_get_int_member (goldens (), "vocab_size"));
  g_assert_cmpint (as_bpe_get_vocab_size (bpe), ==, 49152);
  g_assert_cmpint (as_bpe_get_bos_id (bpe), ==, 1);
  g_assert_cmpint (as_bpe_get_eos_id (bpe), ==, 2);
  g_assert_false (as_bpe_get_add_bos (bpe));
  g_assert_cmpint (as_bpe_token_to_id (bpe, "<|im_start|>"), ==, 1);
  g_assert_cmpint (as_bpe_token_to_id (bpe, "<|im_end|>"), ==, 2);
  g_assert_cmpint (as_bpe_token_to_id (bpe, "<|endoftext|>"), ==, 0);
  g_assert_cmpint (as_bpe_token_to_id (bpe, "no such token"), ==, -1);
  g_assert_true (as_bpe_is_special (bpe, 1));
  g_assert_false (as_bpe_is_special (bpe, 100));
  g_assert_null (as_bpe_id_to_token (bpe, 49152));
  g_assert_null (as_bpe_id_to_token (bpe, -1));
  {
    g_autofree char *label = NULL;
    int id = as_bpe_token_to_id (bpe, "\xC4\xA0world");   /* "Ġworld" */
    g_assert_cmpint (id, >=, 0);
    label = as_bpe_id_to_label (bpe, id);
    g_assert_cmpstr (label, ==, " world");
  }
}

static void
test_smollm_corpus (void)
{
  AsBpe *bpe = smollm_bpe ();
  JsonArray *packed;
  const char *alphabet;
  char **lines;
  int n_tokens = 0;

  if (bpe == NULL)
    return;
  packed = json_object_get_array_member (goldens (), "corpus_ids");
  alphabet = json_object_get_string_member (goldens (), "id_alphabet");
  lines = corpus_lines ();
  g_assert_cmpuint (g_strv_length (lines), ==, json_array_get_length (packed));
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (GArray) want = unpack_ids (json_array_get_string_element (packed, i), alphabet);
      AsEncoding *enc = as_bpe_encode (bpe, lines[i], -1);
      gboolean same = enc->n_tokens == (int) want->len;
      g_autofree char *back = NULL;
      int *ids = g_new (int, enc->n_tokens + 1);

      for (int k = 0; k < enc->n_tokens; k++)
        {
          ids[k] = enc->tokens[k].id;
          same = same && ids[k] == g_array_index (want, int, k);
        }
      if (!same)
        {
          g_autofree char *got_s = ids_string (ids, enc->n_tokens);
          g_autofree char *want_s = ids_string ((int *) want->data, (int) want->len);
          g_error ("corpus line %u \"%s\": ids %s, transformers gives %s", i + 1, lines[i], got_s,
                   want_s);
        }
      check_offsets (enc, strlen (lines[i]), lines[i]);
      back = as_bpe_decode (bpe, ids, enc->n_tokens, FALSE);
      g_assert_cmpstr (back, ==, lines[i]);
      n_tokens += enc->n_tokens;
      g_free (ids);
      as_encoding_free (enc);
    }
  g_test_message ("%u corpus lines, %d tokens: ids identical to transformers",
                  g_strv_length (lines), n_tokens);
}

static void
test_smollm_cases (void)
{
  AsBpe *bpe = smollm_bpe ();
  JsonArray *cases;

  if (bpe == NULL)
    return;
  cases = json_object_get_array_member (goldens (), "cases");
  for (guint i = 0; i < json_array_get_length (cases); i++)
    {
      JsonObject *c = json_array_get_object_element (cases, i);
      const char *text = json_object_get_string_member (c, "text");
      JsonArray *tokens = json_object_get_array_member (c, "tokens");
      g_autoptr (GArray) want = array_ids (json_object_get_array_member (c, "ids"));
      AsEncoding *enc = as_bpe_encode (bpe, text, -1);
      int *ids = g_new (int, enc->n_tokens + 1);
      gboolean same = enc->n_tokens == (int) want->len;
      g_autofree char *back = NULL;

      for (int k = 0; k < enc->n_tokens; k++)
        {
          ids[k] = enc->tokens[k].id;
          same = same && ids[k] == g_array_index (want, int, k);
        }
      if (!same)
        {
          g_autofree char *got_s = ids_string (ids, enc->n_tokens);
          g_autofree char *want_s = ids_string ((int *) want->data, (int) want->len);
          g_error ("case %u \"%s\": ids %s, transformers gives %s", i, text, got_s, want_s);
        }
      for (int k = 0; k < enc->n_tokens; k++)
        g_assert_cmpstr (enc->tokens[k].text, ==, json_array_get_string_element (tokens, (guint) k));
      back = as_bpe_decode (bpe, ids, enc->n_tokens, FALSE);
      g_assert_cmpstr (back, ==, json_object_get_string_member (c, "decoded"));
      if (all_bytes_spelled (bpe, text, strlen (text)))
        {
          check_offsets (enc, strlen (text), text);
          g_assert_cmpstr (back, ==, text);
        }
      g_free (ids);
      as_encoding_free (enc);
    }
}

/* Llama-3's pre-tokenizer: a tokenizer.json written here from the GGUF's
 * vocabulary and merges with the fixture's pre_tokenizer (what HF serialises
 * for Split(_LLAMA3_SPLIT) + ByteLevel(use_regex=False)). Also covers a
 * full-size tokenizer.json. */
static void
test_llama3_split (void)
{
  AsBpe *bpe = smollm_bpe ();
  JsonObject *llama3;
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonGenerator) gen = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *json = NULL;
  g_autoptr (GError) error = NULL;
  const char *const *merges;
  gsize n_merges = 0, len = 0;
  AsBpe *l3;
  JsonArray *cases, *case_ids, *packed;
  const char *alphabet;
  char **lines;
  int every;

  if (bpe == NULL)
    return;
  llama3 = json_object_get_object_member (goldens (), "llama3");
  merges = as_gguf_get_strings (smollm_gguf, "tokenizer.ggml.merges", &n_merges, &error);
  g_assert_no_error (error);

  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "added_tokens");
  json_builder_begin_array (b);
  for (int id = 0; id < as_bpe_get_vocab_size (bpe); id++)
    if (as_bpe_is_special (bpe, id))
      {
        json_builder_begin_object (b);
        json_builder_set_member_name (b, "id");
        json_builder_add_int_value (b, id);
        json_builder_set_member_name (b, "content");
        json_builder_add_string_value (b, as_bpe_id_to_token (bpe, id));
        json_builder_set_member_name (b, "special");
        json_builder_add_boolean_value (b, TRUE);
        json_builder_set_member_name (b, "normalized");
        json_builder_add_boolean_value (b, FALSE);
        json_builder_end_object (b);
      }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "normalizer");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "pre_tokenizer");
  json_builder_add_value (b, json_node_copy (json_object_get_member (llama3, "pre_tokenizer")));
  json_builder_set_member_name (b, "model");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "BPE");
  json_builder_set_member_name (b, "vocab");
  json_builder_begin_object (b);
  for (int id = 0; id < as_bpe_get_vocab_size (bpe); id++)
    {
      json_builder_set_member_name (b, as_bpe_id_to_token (bpe, id));
      json_builder_add_int_value (b, id);
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "merges");
  json_builder_begin_array (b);
  for (gsize i = 0; i < n_merges; i++)
    json_builder_add_string_value (b, merges[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  gen = json_generator_new ();
  json_generator_set_root (gen, root);
  json = json_generator_to_data (gen, &len);

  l3 = as_bpe_new_from_tokenizer_json (json, len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (as_bpe_get_vocab_size (l3), ==, 49152);

  cases = json_object_get_array_member (goldens (), "cases");
  case_ids = json_object_get_array_member (llama3, "case_ids");
  for (guint i = 0; i < json_array_get_length (cases); i++)
    {
      const char *text = json_object_get_string_member (json_array_get_object_element (cases, i),
                                                        "text");
      g_autoptr (GArray) want = array_ids (json_array_get_array_element (case_ids, i));
      int n = 0;
      int *ids = as_bpe_encode_ids (l3, text, -1, &n);
      g_autofree char *got_s = ids_string (ids, n);
      g_autofree char *want_s = ids_string ((int *) want->data, (int) want->len);

      if (strcmp (got_s, want_s) != 0)
        g_error ("Llama-3 split, case %u \"%s\": ids %s, HF gives %s", i, text, got_s, want_s);
      g_free (ids);
    }
  packed = json_object_get_array_member (llama3, "corpus_ids");
  alphabet = json_object_get_string_member (goldens (), "id_alphabet");
  every = (int) json_object_get_int_member (llama3, "corpus_every");
  lines = corpus_lines ();
  for (guint i = 0; i < json_array_get_length (packed); i++)
    {
      const char *text = lines[i * (guint) every];
      g_autoptr (GArray) want = unpack_ids (json_array_get_string_element (packed, i), alphabet);
      int n = 0;
      int *ids = as_bpe_encode_ids (l3, text, -1, &n);
      g_autofree char *got_s = ids_string (ids, n);
      g_autofree char *want_s = ids_string ((int *) want->data, (int) want->len);

      if (strcmp (got_s, want_s) != 0)
        g_error ("Llama-3 split, corpus line %u \"%s\": ids %s, HF gives %s", i * every + 1, text,
                 got_s, want_s);
      g_free (ids);
    }
  g_test_message ("Llama-3 split: %u cases and %u corpus lines identical",
                  json_array_get_length (cases), json_array_get_length (packed));
  as_bpe_free (l3);
}

/* Special tokens: kept whole, flagged, skipped by decode when asked. */
static void
test_smollm_special (void)
{
  AsBpe *bpe = smollm_bpe ();
  const char *text = "<|im_start|>user\nHi<|im_end|>";
  AsEncoding *enc;
  int *ids;
  int n = 0;
  g_autofree char *plain = NULL;

  if (bpe == NULL)
    return;
  enc = as_bpe_encode (bpe, text, -1);
  g_assert_cmpint (enc->tokens[0].id, ==, 1);
  g_assert_true (enc->tokens[0].is_special);
  g_assert_cmpint (enc->tokens[0].start, ==, 0);
  g_assert_cmpint (enc->tokens[0].end, ==, 12);
  g_assert_cmpint (enc->tokens[enc->n_tokens - 1].id, ==, 2);
  as_encoding_free (enc);
  ids = as_bpe_encode_ids (bpe, text, -1, &n);
  plain = as_bpe_decode (bpe, ids, n, TRUE);
  g_assert_cmpstr (plain, ==, "user\nHi");
  g_free (ids);
}

/* Bytes that are not UTF-8 read as U+FFFD (one per maximal invalid
 * subpart), and the tokens still cover every input byte. */
static void
test_smollm_invalid_utf8 (void)
{
  AsBpe *bpe = smollm_bpe ();
  static const char text[] = "ab\xFF" "cd\xE2\x82" "e\0f\xC3";
  gsize len = sizeof text - 1;
  AsEncoding *enc, *same;
  int *ids;
  int n = 0;
  g_autofree char *back = NULL;

  if (bpe == NULL)
    return;
  enc = as_bpe_encode (bpe, text, (gssize) len);
  /* A U+FFFD's bytes may be split between tokens, which then share the
   * invalid input bytes' span. */
  g_assert_cmpint (enc->tokens[0].start, ==, 0);
  g_assert_cmpint (enc->tokens[enc->n_tokens - 1].end, ==, (int) len);
  for (int i = 1; i < enc->n_tokens; i++)
    {
      g_assert_cmpint (enc->tokens[i].start, >=, enc->tokens[i - 1].start);
      g_assert_cmpint (enc->tokens[i].start, <=, enc->tokens[i - 1].end);
    }
  ids = as_bpe_encode_ids (bpe, text, (gssize) len, &n);
  back = as_bpe_decode (bpe, ids, n, FALSE);
  g_assert_cmpmem (back, strlen ("ab\xEF\xBF\xBD" "cd\xEF\xBF\xBD" "e"),
                   "ab\xEF\xBF\xBD" "cd\xEF\xBF\xBD" "e",
                   strlen ("ab\xEF\xBF\xBD" "cd\xEF\xBF\xBD" "e"));
  /* Same ids as the text with U+FFFD written in. */
  same = as_bpe_encode (bpe, "ab\xEF\xBF\xBD" "cd\xEF\xBF\xBD" "e\0f\xEF\xBF\xBD",
                        (gssize) strlen ("ab\xEF\xBF\xBD" "cd\xEF\xBF\xBD" "e") + 2 + 3);
  g_assert_cmpint (same->n_tokens, ==, enc->n_tokens);
  for (int i = 0; i < enc->n_tokens; i++)
    g_assert_cmpint (same->tokens[i].id, ==, enc->tokens[i].id);
  as_encoding_free (same);
  as_encoding_free (enc);
  g_free (ids);
}

static double
time_encode (AsBpe *bpe, const char *what, const char *text, gsize len)
{
  gint64 t0 = g_get_monotonic_time ();
  AsEncoding *enc = as_bpe_encode (bpe, text, (gssize) len);
  double s = (double) (g_get_monotonic_time () - t0) / 1e6;
  g_autofree char *back = NULL;
  int *ids = g_new (int, enc->n_tokens + 1);

  for (int i = 0; i < enc->n_tokens; i++)
    ids[i] = enc->tokens[i].id;
  back = as_bpe_decode (bpe, ids, enc->n_tokens, FALSE);
  g_assert_cmpuint (strlen (back), ==, len);
  g_assert_true (memcmp (back, text, len) == 0);
  g_test_message ("%s: %" G_GSIZE_FORMAT " bytes, %d tokens in %.3f s", what, len, enc->n_tokens, s);
  g_free (ids);
  as_encoding_free (enc);
  return s;
}

static void
test_smollm_speed (void)
{
  AsBpe *bpe = smollm_bpe ();
  GString *paste;
  char **lines;
  char *word;
  const gsize size = 100 * 1024;

  if (bpe == NULL)
    return;
  lines = corpus_lines ();
  paste = g_string_new (NULL);
  for (guint i = 0; paste->len < size; i = lines[i + 1] != NULL ? i + 1 : 0)
    {
      g_string_append (paste, lines[i]);
      g_string_append_c (paste, i % 7 == 0 ? '\n' : ' ');
    }
  g_assert_cmpfloat (time_encode (bpe, "100 KB of corpus text", paste->str, paste->len), <, 1.0);
  g_string_free (paste, TRUE);

  /* One 100 KB "word": BPE over a single long symbol list. */
  word = g_malloc (size + 1);
  for (gsize i = 0; i < size; i++)
    word[i] = "abcdefghij"[(i * 7 + i / 13) % 10];
  word[size] = '\0';
  g_assert_cmpfloat (time_encode (bpe, "one 100 KB word", word, size), <, 1.0);
  memset (word, ' ', size);
  g_assert_cmpfloat (time_encode (bpe, "100 KB of spaces", word, size), <, 1.0);
  memset (word, '<', size);
  g_assert_cmpfloat (time_encode (bpe, "100 KB of '<'", word, size), <, 1.0);
  g_free (word);
}

/* ------------------------------------------------------------------------ */
/* A tiny tokenizer.json                                                    */

/* GPT-2 style: a byte alphabet of just what the tests type, a few merges. */
static char *
tiny_json (const char *pre_tokenizer, const char *extra_model, const char *merges,
           const char *added)
{
  return g_strdup_printf (
    "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null,\n"
    " \"added_tokens\": [%s],\n"
    " \"normalizer\": null,\n"
    " \"pre_tokenizer\": %s,\n"
    " \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
    "\"trim_offsets\": false, \"use_regex\": true},\n"
    " \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
    "\"trim_offsets\": true, \"use_regex\": true},\n"
    " \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
    "\"continuing_subword_prefix\": \"\", \"end_of_word_suffix\": \"\", \"fuse_unk\": false, "
    "\"byte_fallback\": false%s,\n"
    "  \"vocab\": {\"<|endoftext|>\": 0, \"h\": 1, \"e\": 2, \"l\": 3, \"o\": 4, "
    "\"\\u0120\": 5, \"w\": 6, \"r\": 7, \"d\": 8, \"1\": 9, \"2\": 10, \"'\": 11, \"s\": 12, "
    "\"\\u010a\": 13, \"he\": 14, \"ll\": 15, \"hell\": 16, \"hello\": 17, \"\\u0120w\": 18, "
    "\"or\": 19, \"\\u0120wor\": 20, \"\\u0120world\": 21, \"ld\": 22, \"'s\": 23, "
    "\"\\u01201\": 24, \"12\": 25, \"\\u0120\\u0120\": 26},\n"
    "  \"merges\": [%s]}}\n",
    added, pre_tokenizer, extra_model, merges);
}

#define BYTE_LEVEL "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}"
#define DIGITS_BYTE_LEVEL "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true}, " BYTE_LEVEL "]}"
#define MERGES "\"h e\", \"l l\", \"he ll\", \"hell o\", \"\\u0120 w\", \"o r\", \"\\u0120w or\", \"l d\", \"\\u0120wor ld\", \"' s\", \"\\u0120 1\", \"1 2\", \"\\u0120 \\u0120\""
#define ADDED "{\"id\": 0, \"content\": \"<|endoftext|>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}"

static void
expect_ids (AsBpe *bpe, const char *text, const char *want)
{
  int n = 0;
  int *ids = as_bpe_encode_ids (bpe, text, -1, &n);
  g_autofree char *got = ids_string (ids, n);
  g_autofree char *back = as_bpe_decode (bpe, ids, n, FALSE);

  if (strcmp (got, want) != 0)
    g_error ("\"%s\": ids %s, expected %s", text, got, want);
  g_free (ids);
}

static void
test_tiny_json (void)
{
  g_autofree char *json = tiny_json (BYTE_LEVEL, "", MERGES, ADDED);
  g_autofree char *digits_json = tiny_json (DIGITS_BYTE_LEVEL, "", MERGES, ADDED);
  g_autoptr (GError) error = NULL;
  AsBpe *bpe = as_bpe_new_from_tokenizer_json (json, strlen (json), &error);
  AsBpe *digits;
  AsEncoding *enc;
  g_autofree char *back = NULL;
  int ids[] = { 17, 21, 0, 13 };

  g_assert_no_error (error);
  g_assert_cmpint (as_bpe_get_vocab_size (bpe), ==, 27);
  g_assert_cmpint (as_bpe_get_bos_id (bpe), ==, -1);
  expect_ids (bpe, "hello world", "[17 21]");
  expect_ids (bpe, "hello<|endoftext|> world's", "[17 0 21 23]");
  /* " 12": one pre-token with the GPT-2 regex, merged to "Ġ1" "2". */
  expect_ids (bpe, "he 12", "[14 24 10]");
  /* "  hello": the first space alone, the second joins the word; the
   * unknown "x" is dropped (no unk_token). */
  expect_ids (bpe, "  hello x", "[5 5 17 5]");
  expect_ids (bpe, "hello   ", "[17 26 5]");
  enc = as_bpe_encode (bpe, "hello world", -1);
  g_assert_cmpint (enc->n_tokens, ==, 2);
  g_assert_cmpstr (enc->tokens[1].text, ==, "\xC4\xA0world");
  g_assert_cmpint (enc->tokens[1].start, ==, 5);
  g_assert_cmpint (enc->tokens[1].end, ==, 11);
  as_encoding_free (enc);
  back = as_bpe_decode (bpe, ids, G_N_ELEMENTS (ids), FALSE);
  g_assert_cmpstr (back, ==, "hello world<|endoftext|>\n");
  as_bpe_free (bpe);

  /* Digits first: " 12" is " ", "1", "2". */
  digits = as_bpe_new_from_tokenizer_json (digits_json, strlen (digits_json), &error);
  g_assert_no_error (error);
  expect_ids (digits, "he 12", "[14 5 9 10]");
  expect_ids (digits, "hello world", "[17 21]");
  as_bpe_free (digits);

  /* Merges as pairs (the newer tokenizer.json form), ignore_merges. */
  {
    g_autofree char *pairs = tiny_json (BYTE_LEVEL, ", \"ignore_merges\": true",
                                        "[\"h\", \"e\"], [\"l\", \"l\"], [\"he\", \"ll\"]", ADDED);
    AsBpe *p = as_bpe_new_from_tokenizer_json (pairs, strlen (pairs), &error);
    g_assert_no_error (error);
    expect_ids (p, "hello", "[17]");        /* whole word in the vocabulary */
    expect_ids (p, "hellr", "[16 7]");
    as_bpe_free (p);
  }
}

/* Random bytes (invalid UTF-8, NULs, pieces of special tokens, spaces,
 * digits): never a crash, spans in order inside the input, and valid UTF-8
 * input decodes back to itself. */
static void
check_random (AsBpe *bpe)
{
  static const char *const pieces[] = {
    "\xFF", "\xE2\x82", "\xC3", "\xF0\x9F\x98", "\xED\xA0\x80", "<|", "|>", "<|endoftext|>",
    "<|im_start|>", " ", "  ", "\t", "\n", "'s", "'", "1", "23", "a", "he", "llo", "\xC3\xA9",
    "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "!", "\xC2\x85", "\xE3\x80\x80",
  };

  for (int round = 0; round < 3000; round++)
    {
      GString *text = g_string_new (NULL);
      int n = g_test_rand_int_range (0, 24);
      AsEncoding *enc;

      for (int i = 0; i < n; i++)
        {
          if (g_test_rand_int_range (0, 8) == 0)
            g_string_append_c (text, (char) g_test_rand_int_range (0, 256));
          else
            g_string_append (text, pieces[g_test_rand_int_range (0, G_N_ELEMENTS (pieces))]);
        }
      enc = as_bpe_encode (bpe, text->str, (gssize) text->len);
      for (int i = 0; i < enc->n_tokens; i++)
        {
          g_assert_cmpint (enc->tokens[i].start, >=, 0);
          g_assert_cmpint (enc->tokens[i].start, <, enc->tokens[i].end);
          g_assert_cmpint (enc->tokens[i].end, <=, (int) text->len);
          if (i > 0)
            g_assert_cmpint (enc->tokens[i].start, >=, enc->tokens[i - 1].start);
        }
      if (g_utf8_validate (text->str, (gssize) text->len, NULL) && bpe == smollm
          && all_bytes_spelled (bpe, text->str, text->len))
        {
          int *ids = g_new (int, enc->n_tokens + 1);
          g_autofree char *back = NULL;

          for (int i = 0; i < enc->n_tokens; i++)
            ids[i] = enc->tokens[i].id;
          back = as_bpe_decode (bpe, ids, enc->n_tokens, FALSE);
          g_assert_cmpstr (back, ==, text->str);
          check_offsets (enc, text->len, text->str);
          g_free (ids);
        }
      as_encoding_free (enc);
      g_string_free (text, TRUE);
    }
}

static void
test_random_bytes (void)
{
  g_autofree char *json = tiny_json (DIGITS_BYTE_LEVEL, "", MERGES, ADDED);
  g_autoptr (GError) error = NULL;
  AsBpe *tiny = as_bpe_new_from_tokenizer_json (json, strlen (json), &error);

  g_assert_no_error (error);
  check_random (tiny);
  as_bpe_free (tiny);
  if (smollm_bpe () != NULL)
    check_random (smollm);
}

/* ------------------------------------------------------------------------ */
/* Hostile tokenizer data                                                   */

static void
expect_json_refused (const char *json, AsModelError code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  AsBpe *bpe = as_bpe_new_from_tokenizer_json (json, strlen (json), &error);

  g_assert_null (bpe);
  g_assert_error (error, AS_MODEL_ERROR, (int) code);
  if (strstr (error->message, needle) == NULL)
    g_error ("message \"%s\" does not say \"%s\"", error->message, needle);
  g_test_message ("refused: %s", error->message);
}

static void
test_hostile_json (void)
{
  struct {
    const char *pre, *model, *merges, *added;
    AsModelError code;
    const char *needle;
  } cases[] = {
    { BYTE_LEVEL, "", "\"h x\"", ADDED, AS_MODEL_ERROR_FORMAT, "\"x\", which is not in the vocabulary" },
    { BYTE_LEVEL, "", "\"h l\"", ADDED, AS_MODEL_ERROR_FORMAT, "makes \"hl\", which is not in the vocabulary" },
    { BYTE_LEVEL, "", "\"hell\"", ADDED, AS_MODEL_ERROR_FORMAT, "model.merges[0] is not two tokens" },
    { BYTE_LEVEL, "", "\"h e l\"", ADDED, AS_MODEL_ERROR_FORMAT, "is not two tokens" },
    { BYTE_LEVEL, "", "[\"h\"]", ADDED, AS_MODEL_ERROR_FORMAT, "is not two tokens" },
    { BYTE_LEVEL, "", "17", ADDED, AS_MODEL_ERROR_FORMAT, "is not two tokens" },
    { "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"x\"}, \"behavior\": \"Isolated\", \"invert\": false}",
      "", MERGES, ADDED, AS_MODEL_ERROR_UNSUPPORTED, "pre_tokenizer Split is not supported" },
    { "{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"use_regex\": true}", "", MERGES, ADDED,
      AS_MODEL_ERROR_UNSUPPORTED, "add_prefix_space" },
    { "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Metaspace\"}, " BYTE_LEVEL "]}", "",
      MERGES, ADDED, AS_MODEL_ERROR_UNSUPPORTED, "Sequence[Metaspace, ByteLevel] is not supported" },
    { "null", "", MERGES, ADDED, AS_MODEL_ERROR_UNSUPPORTED, "without a ByteLevel pre_tokenizer" },
    { "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
      "\"\\\\p{N}{1,3}\"}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
      "\"use_regex\": false}]}", "", MERGES, ADDED, AS_MODEL_ERROR_UNSUPPORTED,
      "Split with a pattern other than Llama-3's is not supported" },
    { BYTE_LEVEL, ", \"byte_fallback\": true", MERGES, ADDED, AS_MODEL_ERROR_UNSUPPORTED, "byte_fallback" },
    { BYTE_LEVEL, ", \"dropout\": 0.1", MERGES, ADDED, AS_MODEL_ERROR_UNSUPPORTED, "dropout" },
    { BYTE_LEVEL, ", \"continuing_subword_prefix\": \"##\"", MERGES, ADDED, AS_MODEL_ERROR_UNSUPPORTED,
      "continuing_subword_prefix" },
    { BYTE_LEVEL, "", MERGES,
      "{\"id\": 0, \"content\": \"<|endoftext|>\", \"lstrip\": true, \"special\": true}",
      AS_MODEL_ERROR_UNSUPPORTED, "with lstrip is not supported" },
    { BYTE_LEVEL, "", MERGES, "{\"id\": 3, \"content\": \"<|x|>\", \"special\": true}",
      AS_MODEL_ERROR_FORMAT, "has id 3, which is \"l\"" },
    { BYTE_LEVEL, "", MERGES, "{\"id\": 99999999999, \"content\": \"<|x|>\"}",
      AS_MODEL_ERROR_FORMAT, "added_tokens[0] needs" },
    { BYTE_LEVEL, "", MERGES, "{\"id\": 30, \"content\": \"\"}", AS_MODEL_ERROR_FORMAT, "empty" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *json = tiny_json (cases[i].pre, cases[i].model, cases[i].merges,
                                         cases[i].added);
      expect_json_refused (json, cases[i].code, cases[i].needle);
    }
  expect_json_refused ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}",
                       AS_MODEL_ERROR_UNSUPPORTED, "model WordPiece is not BPE");
  expect_json_refused ("{\"normalizer\": {\"type\": \"NFC\"}, \"model\": {\"type\": \"BPE\", "
                       "\"vocab\": {\"a\": 0}, \"merges\": []}}",
                       AS_MODEL_ERROR_UNSUPPORTED, "normalizer NFC is not supported");
  expect_json_refused ("{\"pre_tokenizer\": " BYTE_LEVEL ", \"model\": {\"type\": \"BPE\", "
                       "\"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}",
                       AS_MODEL_ERROR_FORMAT, "gives id 0 to both");
  expect_json_refused ("{\"pre_tokenizer\": " BYTE_LEVEL ", \"model\": {\"type\": \"BPE\", "
                       "\"vocab\": {\"a\": -1}, \"merges\": []}}",
                       AS_MODEL_ERROR_FORMAT, "model.vocab[\"a\"] is not an id");
  expect_json_refused ("{\"pre_tokenizer\": " BYTE_LEVEL ", \"model\": {\"type\": \"BPE\", "
                       "\"vocab\": {\"a\": 2097152}, \"merges\": []}}",
                       AS_MODEL_ERROR_FORMAT, "is not an id");
  expect_json_refused ("{\"pre_tokenizer\": " BYTE_LEVEL ", \"model\": {\"type\": \"BPE\", "
                       "\"vocab\": {}, \"merges\": []}}",
                       AS_MODEL_ERROR_FORMAT, "model.vocab is empty");
  expect_json_refused ("[1, 2]", AS_MODEL_ERROR_FORMAT, "not a JSON object");
  expect_json_refused ("{\"model\": ", AS_MODEL_ERROR_FORMAT, "not valid JSON");
}

/* GGUF metadata, assembled byte by byte: version 3, no tensors. */
typedef struct {
  GByteArray *kv;
  guint64     n_kv;
} GgufBuilder;

static void
put (GByteArray *b, const void *p, gsize n)
{
  g_byte_array_append (b, p, (guint) n);
}

static void
put_u32 (GByteArray *b, guint32 v)
{
  guint32 le = GUINT32_TO_LE (v);
  put (b, &le, 4);
}

static void
put_u64 (GByteArray *b, guint64 v)
{
  guint64 le = GUINT64_TO_LE (v);
  put (b, &le, 8);
}

static void
put_str (GByteArray *b, const char *s)
{
  put_u64 (b, strlen (s));
  put (b, s, strlen (s));
}

static void
kv_string (GgufBuilder *g, const char *key, const char *value)
{
  put_str (g->kv, key);
  put_u32 (g->kv, AS_GGUF_STRING);
  put_str (g->kv, value);
  g->n_kv++;
}

static void
kv_strings (GgufBuilder *g, const char *key, const char *const *values)
{
  put_str (g->kv, key);
  put_u32 (g->kv, AS_GGUF_ARRAY);
  put_u32 (g->kv, AS_GGUF_STRING);
  put_u64 (g->kv, g_strv_length ((char **) values));
  for (gsize i = 0; values[i] != NULL; i++)
    put_str (g->kv, values[i]);
  g->n_kv++;
}

static void
kv_u32 (GgufBuilder *g, const char *key, guint32 value)
{
  put_str (g->kv, key);
  put_u32 (g->kv, AS_GGUF_UINT32);
  put_u32 (g->kv, value);
  g->n_kv++;
}

static void
kv_i32s (GgufBuilder *g, const char *key, const gint32 *values, gsize n)
{
  put_str (g->kv, key);
  put_u32 (g->kv, AS_GGUF_ARRAY);
  put_u32 (g->kv, AS_GGUF_INT32);
  put_u64 (g->kv, n);
  for (gsize i = 0; i < n; i++)
    put_u32 (g->kv, (guint32) values[i]);
  g->n_kv++;
}

static void
kv_bool (GgufBuilder *g, const char *key, gboolean value)
{
  guint8 b = value ? 1 : 0;

  put_str (g->kv, key);
  put_u32 (g->kv, AS_GGUF_BOOL);
  put (g->kv, &b, 1);
  g->n_kv++;
}

/* G's metadata as an opened GGUF file (G's bytes are consumed). The file's
 * bytes, in *BYTES, must outlive the AsGguf. */
static AsGguf *
gguf_open (GgufBuilder *g, GByteArray **bytes, GError **error)
{
  GByteArray *file = g_byte_array_new ();
  AsGguf *gg;
  guint8 zero = 0;

  put (file, "GGUF", 4);
  put_u32 (file, 3);
  put_u64 (file, 0);
  put_u64 (file, g->n_kv);
  put (file, g->kv->data, g->kv->len);
  while (file->len % 32 != 0)
    put (file, &zero, 1);
  gg = as_gguf_open_bytes (file->data, file->len, "tiny.gguf", error);
  g_byte_array_unref (g->kv);
  *bytes = file;
  return gg;
}

static AsBpe *
gguf_load (GgufBuilder *g, GError **error)
{
  GByteArray *bytes;
  AsGguf *gg = gguf_open (g, &bytes, error);
  AsBpe *bpe = NULL;

  if (gg != NULL)
    {
      bpe = as_bpe_new_from_gguf (gg, error);
      as_gguf_free (gg);
    }
  g_byte_array_unref (bytes);
  return bpe;
}

static const char *const tiny_tokens[] = {
  "<|endoftext|>", "h", "e", "l", "o", "\xC4\xA0", "he", "ll", "hell", "hello", "x\xE2\x82\xAC", NULL
};
static const gint32 tiny_types[] = { 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4 };
static const char *const tiny_merges[] = { "h e", "l l", "he ll", "hell o", NULL };

static GgufBuilder
tiny_gguf (const char *model, const char *pre)
{
  GgufBuilder g = { g_byte_array_new (), 0 };

  kv_string (&g, "general.architecture", "llama");
  if (model != NULL)
    kv_string (&g, "tokenizer.ggml.model", model);
  if (pre != NULL)
    kv_string (&g, "tokenizer.ggml.pre", pre);
  kv_strings (&g, "tokenizer.ggml.tokens", tiny_tokens);
  kv_i32s (&g, "tokenizer.ggml.token_type", tiny_types, G_N_ELEMENTS (tiny_types));
  return g;
}

static void
expect_gguf_refused (GgufBuilder *g, AsModelError code, const char *needle)
{
  g_autoptr (GError) error = NULL;
  AsBpe *bpe = gguf_load (g, &error);

  g_assert_null (bpe);
  g_assert_error (error, AS_MODEL_ERROR, (int) code);
  if (strstr (error->message, needle) == NULL)
    g_error ("message \"%s\" does not say \"%s\"", error->message, needle);
  g_test_message ("refused: %s", error->message);
}

static void
test_gguf_tiny_and_hostile (void)
{
  g_autoptr (GError) error = NULL;
  GgufBuilder g = tiny_gguf ("gpt2", "smollm");
  AsBpe *bpe;

  kv_strings (&g, "tokenizer.ggml.merges", tiny_merges);
  kv_u32 (&g, "tokenizer.ggml.bos_token_id", 0);
  kv_u32 (&g, "tokenizer.ggml.eos_token_id", 0);
  bpe = gguf_load (&g, &error);
  g_assert_no_error (error);
  expect_ids (bpe, "hello<|endoftext|>hell", "[9 0 8]");
  g_assert_true (as_bpe_is_special (bpe, 0));
  /* "x€" is not spelled in the byte alphabet: transformers respells it
   * ("xâĤ¬"), and as a user-defined token it is then not matched whole. */
  g_assert_cmpint (as_bpe_token_to_id (bpe, "x\xC3\xA2\xC4\xA4\xC2\xAC"), ==, 10);
  expect_ids (bpe, "x\xE2\x82\xAC", "[]");
  g_assert_cmpint (as_bpe_get_bos_id (bpe), ==, 0);
  as_bpe_free (bpe);

  g = tiny_gguf ("llama", "default");
  expect_gguf_refused (&g, AS_MODEL_ERROR_UNSUPPORTED, "tokenizer.ggml.model \"llama\" is not byte-level BPE");
  g = tiny_gguf ("gpt2", "qwen2");
  expect_gguf_refused (&g, AS_MODEL_ERROR_UNSUPPORTED, "tokenizer.ggml.pre \"qwen2\" is not supported");
  g = tiny_gguf (NULL, NULL);
  expect_gguf_refused (&g, AS_MODEL_ERROR_FORMAT, "no tokenizer.ggml.model");
  g = tiny_gguf ("gpt2", "smollm");
  expect_gguf_refused (&g, AS_MODEL_ERROR_UNSUPPORTED, "no tokenizer.ggml.merges");
  {
    static const char *const unknown[] = { "h e", "x y", NULL };
    g = tiny_gguf ("gpt2", "smollm");
    kv_strings (&g, "tokenizer.ggml.merges", unknown);
    expect_gguf_refused (&g, AS_MODEL_ERROR_FORMAT,
                         "tokenizer.ggml.merges[1] names \"x\", which is not in the vocabulary");
  }
  {
    static const char *const makes[] = { "h o", NULL };
    g = tiny_gguf ("gpt2", "smollm");
    kv_strings (&g, "tokenizer.ggml.merges", makes);
    expect_gguf_refused (&g, AS_MODEL_ERROR_FORMAT, "makes \"ho\", which is not in the vocabulary");
  }
  {
    static const char *const spaced[] = { "he", NULL };
    g = tiny_gguf ("gpt2", "smollm");
    kv_strings (&g, "tokenizer.ggml.merges", spaced);
    expect_gguf_refused (&g, AS_MODEL_ERROR_FORMAT, "tokenizer.ggml.merges[0] is not two tokens");
  }
  g = tiny_gguf ("gpt2", "smollm");
  kv_strings (&g, "tokenizer.ggml.merges", tiny_merges);
  kv_u32 (&g, "tokenizer.ggml.bos_token_id", 11);
  expect_gguf_refused (&g, AS_MODEL_ERROR_FORMAT, "tokenizer.ggml.bos_token_id 11 is not a token id");
  {
    /* One token more than the cap: refused before any table is built. */
    gsize n = (gsize) AS_BPE_MAX_TOKENS + 1;
    guint before;

    g = (GgufBuilder) { g_byte_array_new (), 0 };
    kv_string (&g, "tokenizer.ggml.model", "gpt2");
    put_str (g.kv, "tokenizer.ggml.tokens");
    put_u32 (g.kv, AS_GGUF_ARRAY);
    put_u32 (g.kv, AS_GGUF_STRING);
    put_u64 (g.kv, n);
    before = g.kv->len;
    g_byte_array_set_size (g.kv, before + (guint) (8 * n));
    memset (g.kv->data + before, 0, 8 * n);   /* n empty strings */
    g.n_kv++;
    expect_gguf_refused (&g, AS_MODEL_ERROR_RESOURCES, "more than the 2097152 this program takes");
  }
  {
    /* A count far beyond the file is refused by the GGUF reader. */
    g = (GgufBuilder) { g_byte_array_new (), 0 };
    kv_string (&g, "tokenizer.ggml.model", "gpt2");
    put_str (g.kv, "tokenizer.ggml.tokens");
    put_u32 (g.kv, AS_GGUF_ARRAY);
    put_u32 (g.kv, AS_GGUF_STRING);
    put_u64 (g.kv, G_GUINT64_CONSTANT (1) << 40);
    g.n_kv++;
    {
      g_autoptr (GError) e = NULL;
      AsBpe *b = gguf_load (&g, &e);
      g_assert_null (b);
      g_assert_nonnull (e);
      g_test_message ("refused: %s", e->message);
    }
  }
}

/* The BPE behind the one tokenizer type (as-tokenizer.h): no template, a
 * BOS in front only when the file says add_bos_token, counted by the
 * truncation as a template token is; readable labels; no pairs. */
static void
test_gguf_as_tokenizer (void)
{
  g_autoptr (GError) error = NULL;
  GgufBuilder g = tiny_gguf ("gpt2", "smollm");

  kv_strings (&g, "tokenizer.ggml.merges", tiny_merges);
  kv_u32 (&g, "tokenizer.ggml.bos_token_id", 0);
  kv_bool (&g, "tokenizer.ggml.add_bos_token", TRUE);
  GByteArray *bytes;
  AsGguf *gg = gguf_open (&g, &bytes, &error);
  g_assert_no_error (error);
  AsTokenizer *tok = as_tokenizer_new_from_gguf (gg, &error);
  g_assert_no_error (error);
  as_gguf_free (gg);
  g_byte_array_unref (bytes);

  g_assert_false (as_tokenizer_takes_pairs (tok));
  g_assert_cmpint (as_tokenizer_get_vocab_size (tok), ==, 11);
  g_assert_cmpint (as_tokenizer_token_to_id (tok, "\xC4\xA0"), ==, 5);
  g_assert_cmpstr (as_tokenizer_id_to_token (tok, 5), ==, "\xC4\xA0");

  AsEncoding *enc = as_tokenizer_encode (tok, "hello hell", NULL, 0);
  static const int ids[] = { 0, 9, 5, 8 };
  static const char *const labels[] = { "<|endoftext|>", "hello", " ", "hell" };
  static const int starts[] = { -1, 0, 5, 6 }, ends[] = { -1, 5, 6, 10 };
  g_assert_cmpint (enc->n_tokens, ==, 4);
  for (int i = 0; i < 4; i++)
    {
      const AsToken *t = &enc->tokens[i];
      g_assert_cmpint (t->id, ==, ids[i]);
      g_assert_cmpstr (t->text, ==, labels[i]);
      g_assert_cmpint (t->start, ==, starts[i]);
      g_assert_cmpint (t->end, ==, ends[i]);
      g_assert_cmpint (t->sequence, ==, i == 0 ? -1 : 0);
      g_assert_cmpint (t->is_special, ==, i == 0);
      /* Hidden by "hide special tokens" exactly when a template adds it. */
      g_assert_cmpint (as_shown_is_special (t), ==, i == 0);
    }
  /* "hell" continues the pre-tokenizer word " hell". */
  g_assert_true (enc->tokens[3].is_continuation);
  g_assert_false (enc->tokens[1].is_continuation);
  g_assert_false (enc->truncated);
  as_encoding_free (enc);

  enc = as_tokenizer_encode (tok, "hello hell", NULL, 3);
  g_assert_cmpint (enc->n_tokens, ==, 3);
  g_assert_cmpint (enc->tokens[0].id, ==, 0);
  g_assert_true (enc->truncated);
  g_assert_cmpint (enc->n_dropped, ==, 1);
  as_encoding_free (enc);
  enc = as_tokenizer_encode (tok, "", NULL, 0);
  g_assert_cmpint (enc->n_tokens, ==, 1);
  as_encoding_free (enc);

  g_assert_true (as_tokenizer_check_pair (tok, NULL, &error));
  g_assert_false (as_tokenizer_check_pair (tok, "hell", &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "this model takes one text"));
  g_clear_error (&error);
  g_autofree char *norm = as_tokenizer_normalize (tok, "Hello");
  g_assert_cmpstr (norm, ==, "Hello");
  as_tokenizer_free (tok);

  /* Another kind is refused by name. */
  g = tiny_gguf ("llama", "default");
  gg = gguf_open (&g, &bytes, &error);
  g_assert_no_error (error);
  g_assert_null (as_tokenizer_new_from_gguf (gg, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "\"llama\""));
  as_gguf_free (gg);
  g_byte_array_unref (bytes);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bpe/classes", test_classes);
  g_test_add_func ("/bpe/tiny-json", test_tiny_json);
  g_test_add_func ("/bpe/hostile-json", test_hostile_json);
  g_test_add_func ("/bpe/gguf-tiny-and-hostile", test_gguf_tiny_and_hostile);
  g_test_add_func ("/bpe/gguf-as-tokenizer", test_gguf_as_tokenizer);
  g_test_add_func ("/bpe/smollm2/basics", test_smollm_basics);
  g_test_add_func ("/bpe/smollm2/corpus", test_smollm_corpus);
  g_test_add_func ("/bpe/smollm2/cases", test_smollm_cases);
  g_test_add_func ("/bpe/smollm2/special", test_smollm_special);
  g_test_add_func ("/bpe/smollm2/llama3-split", test_llama3_split);
  g_test_add_func ("/bpe/smollm2/invalid-utf8", test_smollm_invalid_utf8);
  g_test_add_func ("/bpe/smollm2/speed", test_smollm_speed);
  g_test_add_func ("/bpe/random-bytes", test_random_bytes);
  status = g_test_run ();
  as_bpe_free (smollm);
  if (smollm_gguf != NULL)
    as_gguf_free (smollm_gguf);
  g_clear_object (&goldens_parser);
  g_strfreev (corpus);
  g_free (skip_reason);
  return status;
}
