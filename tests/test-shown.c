/* test-shown.c — attention as shown (model/as-shown.h): the hide-special
 * rule, sentence restriction, renormalising, labels and the map back to
 * tokens on hand-made inputs; and the real model's head means and maxima,
 * rollout and word merging against tests/data/shown-reference.json, numbers
 * NumPy computed from the CLI's own dump (tools/attention-reference.py).
 */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "as-head-stats.h"
#include "as-model.h"
#include "as-shown.h"

/* ---- hand-made inputs ---------------------------------------------------- */

typedef struct {
  const char *text;
  int         sequence;
  int         start, end;
  gboolean    special, continuation;
} Tok;

static AsEncoding *
encoding (const Tok *toks,
          int        n)
{
  AsEncoding *enc = g_new0 (AsEncoding, 1);
  enc->n_tokens = n;
  enc->tokens = g_new0 (AsToken, MAX (n, 1));
  for (int i = 0; i < n; i++)
    {
      AsToken *t = &enc->tokens[i];
      t->text = g_strdup (toks[i].text);
      t->sequence = toks[i].sequence;
      t->type_id = toks[i].sequence == 1 ? 1 : 0;
      t->start = toks[i].start;
      t->end = toks[i].end;
      t->is_special = toks[i].special;
      t->is_continuation = toks[i].continuation;
    }
  return enc;
}

/* [CLS] un ##aff ##able [MASK] [SEP] | it [SEP] (type id 1 from "it"). */
static const Tok pair_toks[] = {
  { "[CLS]", -1, -1, -1, TRUE, FALSE },
  { "un", 0, 0, 2, FALSE, FALSE },
  { "##aff", 0, 2, 5, FALSE, TRUE },
  { "##able", 0, 5, 9, FALSE, TRUE },
  { "[MASK]", 0, 10, 16, TRUE, FALSE },
  { "[SEP]", -1, -1, -1, TRUE, FALSE },
  { "it", 1, 0, 2, FALSE, FALSE },
  { "[SEP]", -1, -1, -1, TRUE, FALSE },
};
#define PAIR_N 8
#define PAIR_A "Unaffable [MASK]"
#define PAIR_B "It"

static AsEncoding *
pair_encoding (void)
{
  AsEncoding *enc = encoding (pair_toks, PAIR_N);
  enc->tokens[7].type_id = 1;   /* the last [SEP] belongs to B */
  return enc;
}

/* Softmax rows of seeded random logits: ATTN [layers, heads, n, n]. */
static AsAnalysis *
random_attention (AsEncoding *enc,
                  int         layers,
                  int         heads,
                  guint32     seed)
{
  int n = enc->n_tokens;
  AsAnalysis *a = as_analysis_new ();
  a->encoding = enc;
  a->n_layers = layers;
  a->n_heads = heads;
  a->n = n;
  a->layers_ready = layers;
  a->attn = g_new (float, (gsize) layers * heads * n * n);
  g_autoptr(GRand) rng = g_rand_new_with_seed (seed);
  for (gsize r = 0; r < (gsize) layers * heads * n; r++)
    {
      float *row = a->attn + r * n;
      double sum = 0;
      for (int j = 0; j < n; j++)
        sum += row[j] = (float) exp (g_rand_double_range (rng, -3, 3));
      for (int j = 0; j < n; j++)
        row[j] = (float) (row[j] / sum);
    }
  return a;
}

static void
assert_rows_sum (const float *m,
                 int          n,
                 double       want)
{
  for (int i = 0; i < n; i++)
    {
      double s = 0;
      for (int j = 0; j < n; j++)
        s += m[(gsize) i * n + j];
      g_assert_cmpfloat_with_epsilon (s, want, 1e-5);
    }
}

static void
test_hide_rule (void)
{
  AsEncoding *enc = pair_encoding ();
  AsShownSpec spec;
  as_shown_spec_init (&spec);
  spec.hide_special = TRUE;
  g_autoptr(AsShownTokens) t = as_shown_tokens_new (enc, 0, NULL, NULL, &spec);
  /* [CLS] and both [SEP] go; [MASK] stands for a word and stays. */
  const char *want[] = { "un", "##aff", "##able", "[MASK]", "it", NULL };
  g_assert_cmpstrv (t->labels, want);
  g_assert_true (t->dropped);
  for (int i = 0; i < PAIR_N; i++)
    g_assert_cmpint (t->row_of[i] < 0, ==, as_shown_is_special (&enc->tokens[i]));

  /* The statistics' [CLS]/[SEP] classes are the same tokens. */
  g_autoptr(AsTokenClasses) classes = as_token_classes_from_encoding (enc);
  for (int i = 0; i < PAIR_N; i++)
    g_assert_cmpint ((classes->flags[i] & (AS_TOKEN_CLASS_CLS | AS_TOKEN_CLASS_SEP)) != 0, ==,
                     as_shown_is_special (&enc->tokens[i]));

  /* A template token by another name, and a typed [SEP], are hidden too. */
  const Tok odd[] = {
    { "<s>", -1, -1, -1, TRUE, FALSE },
    { "a", 0, 0, 1, FALSE, FALSE },
    { "[SEP]", 0, 2, 7, TRUE, FALSE },
    { "b", 0, 8, 9, FALSE, FALSE },
    { "</s>", -1, -1, -1, TRUE, FALSE },
  };
  AsEncoding *e2 = encoding (odd, 5);
  g_autoptr(AsShownTokens) t2 = as_shown_tokens_new (e2, 0, NULL, NULL, &spec);
  const char *want2[] = { "a", "b", NULL };
  g_assert_cmpstrv (t2->labels, want2);

  /* Only [CLS] [SEP] (an empty input): hiding would leave nothing, so
   * nothing is hidden and nothing renormalised. */
  const Tok empty[] = { { "[CLS]", -1, -1, -1, TRUE, FALSE }, { "[SEP]", -1, -1, -1, TRUE, FALSE } };
  AsEncoding *e3 = encoding (empty, 2);
  g_autoptr(AsShownTokens) t3 = as_shown_tokens_new (e3, 0, NULL, NULL, &spec);
  g_assert_cmpint (t3->n, ==, 2);
  g_assert_false (t3->dropped);

  as_encoding_free (enc);
  as_encoding_free (e2);
  as_encoding_free (e3);
}

static void
test_words_and_map_back (void)
{
  AsEncoding *enc = pair_encoding ();
  AsShownSpec spec;
  as_shown_spec_init (&spec);
  spec.words = TRUE;
  g_autoptr(AsShownTokens) t = as_shown_tokens_new (enc, 0, PAIR_A, PAIR_B, &spec);
  const char *want[] = { "[CLS]", "Unaffable", "[MASK]", "[SEP]", "It", "[SEP]", NULL };
  g_assert_cmpstrv (t->labels, want);
  const int first[] = { 0, 1, 4, 5, 6, 7, 8 };
  for (int r = 0; r <= t->n; r++)
    g_assert_cmpint (t->first[r], ==, first[r]);
  const int row_of[] = { 0, 1, 1, 1, 2, 3, 4, 5 };
  for (int i = 0; i < PAIR_N; i++)
    {
      g_assert_cmpint (t->row_of[i], ==, row_of[i]);
      g_assert_cmpint (t->tokens[i], ==, i);
    }
  const int sentence[] = { 0, 0, 0, 0, 1, 1 };
  for (int r = 0; r < t->n; r++)
    g_assert_cmpint (t->sentence[r], ==, sentence[r]);
  g_assert_true (t->special[0] && t->special[3] && t->special[5]);
  g_assert_false (t->special[2]);   /* [MASK] */

  /* Without the texts: the pieces without "##". */
  g_autoptr(AsShownTokens) bare = as_shown_tokens_new (enc, 0, NULL, NULL, &spec);
  g_assert_cmpstr (bare->labels[1], ==, "unaffable");
  as_encoding_free (enc);
}

static void
test_sentence (void)
{
  AsEncoding *enc = pair_encoding ();
  AsAnalysis *a = random_attention (enc, 2, 3, 5);
  AsShownSpec spec;
  as_shown_spec_init (&spec);
  spec.aggregate = AS_SHOWN_MEAN;
  spec.layer = 1;
  spec.sentence = AS_SHOWN_SENTENCE_B;
  g_autoptr(GError) error = NULL;
  g_autoptr(AsShown) b = as_shown_compute (a, NULL, NULL, &spec, &error);
  g_assert_no_error (error);
  const char *want_b[] = { "it", "[SEP]", NULL };
  g_assert_cmpstrv (b->tokens->labels, want_b);
  assert_rows_sum (b->values, 2, 1.0);

  spec.sentence = AS_SHOWN_SENTENCE_A;
  spec.hide_special = TRUE;
  spec.renormalise = FALSE;
  g_autoptr(AsShown) sa = as_shown_compute (a, NULL, NULL, &spec, &error);
  g_assert_no_error (error);
  const char *want_a[] = { "un", "##aff", "##able", "[MASK]", NULL };
  g_assert_cmpstrv (sa->tokens->labels, want_a);
  /* Raw values: the mean of the heads at those cells. */
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++)
      {
        double m = 0;
        for (int h = 0; h < 3; h++)
          m += as_analysis_head (a, 1, h)[(r + 1) * PAIR_N + (c + 1)];
        g_assert_cmpfloat_with_epsilon (sa->values[r * 4 + c], m / 3, 1e-6);
      }

  /* No sentence B in a single sentence. */
  const Tok one[] = { { "[CLS]", -1, -1, -1, TRUE, FALSE }, { "x", 0, 0, 1, FALSE, FALSE },
                      { "[SEP]", -1, -1, -1, TRUE, FALSE } };
  AsAnalysis *single = random_attention (encoding (one, 3), 1, 1, 2);
  spec.layer = 0;
  spec.sentence = AS_SHOWN_SENTENCE_B;
  g_assert_null (as_shown_compute (single, NULL, NULL, &spec, &error));
  g_assert_error (error, AS_SHOWN_ERROR, AS_SHOWN_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "no sentence B"));
  as_analysis_unref (single);
  as_analysis_unref (a);
}

static void
test_renormalise_and_max (void)
{
  AsEncoding *enc = pair_encoding ();
  AsAnalysis *a = random_attention (enc, 3, 4, 8);
  AsShownSpec spec;
  as_shown_spec_init (&spec);
  spec.layer = 2;
  spec.hide_special = TRUE;
  g_autoptr(GError) error = NULL;
  for (int agg = 0; agg < AS_N_SHOWN_AGGREGATES; agg++)
    {
      spec.aggregate = agg;
      spec.head = 3;
      g_autoptr(AsShown) s = as_shown_compute (a, NULL, NULL, &spec, &error);
      g_assert_no_error (error);
      if (agg != AS_SHOWN_MAX)
        assert_rows_sum (s->values, s->tokens->n, 1.0);
    }

  /* Max is never renormalised: its cells stay the largest head value. */
  spec.aggregate = AS_SHOWN_MAX;
  g_autoptr(AsShown) mx = as_shown_compute (a, NULL, NULL, &spec, &error);
  for (int r = 0; r < mx->tokens->n; r++)
    for (int c = 0; c < mx->tokens->n; c++)
      {
        int i = mx->tokens->tokens[r], j = mx->tokens->tokens[c];
        float best = 0;
        for (int h = 0; h < 4; h++)
          best = MAX (best, as_analysis_head (a, 2, h)[i * PAIR_N + j]);
        g_assert_cmpfloat (mx->values[r * mx->tokens->n + c], ==, best);
      }

  /* Nothing left out: the head's values exactly, renormalise or not. */
  spec.aggregate = AS_SHOWN_HEAD;
  spec.hide_special = FALSE;
  g_autoptr(AsShown) h = as_shown_compute (a, NULL, NULL, &spec, &error);
  g_assert_cmpmem (h->values, PAIR_N * PAIR_N * sizeof (float),
                   as_analysis_head (a, 2, 3), PAIR_N * PAIR_N * sizeof (float));

  /* Out of range. */
  spec.layer = 3;
  g_assert_null (as_shown_compute (a, NULL, NULL, &spec, &error));
  g_assert_nonnull (strstr (error->message, "layer 4"));
  g_clear_error (&error);
  spec.layer = 0;
  spec.head = 4;
  g_assert_null (as_shown_compute (a, NULL, NULL, &spec, &error));
  g_assert_nonnull (strstr (error->message, "head 5"));
  g_clear_error (&error);
  spec.aggregate = AS_SHOWN_ROLLOUT;   /* the head does not matter then */
  g_autoptr(AsShown) r = as_shown_compute (a, NULL, NULL, &spec, &error);
  g_assert_no_error (error);
  as_analysis_unref (a);
}

static void
test_no_encoding (void)
{
  AsShownSpec spec;
  as_shown_spec_init (&spec);
  spec.hide_special = TRUE;
  spec.words = TRUE;
  g_autoptr(AsShownTokens) t = as_shown_tokens_new (NULL, 3, NULL, NULL, &spec);
  const char *want[] = { "0", "1", "2", NULL };
  g_assert_cmpstrv (t->labels, want);
  g_assert_false (t->dropped);
}

static void
test_names_and_describe (void)
{
  for (int i = 0; i < AS_N_SHOWN_AGGREGATES; i++)
    g_assert_cmpint (as_shown_aggregate_from_name (as_shown_aggregate_name (i)), ==, i);
  for (int i = 0; i < AS_N_SHOWN_SENTENCES; i++)
    g_assert_cmpint (as_shown_sentence_from_name (as_shown_sentence_name (i)), ==, i);
  g_assert_cmpint (as_shown_aggregate_from_name ("median"), ==, -1);

  AsShownSpec spec;
  as_shown_spec_init (&spec);
  spec.layer = 2;
  spec.head = 4;
  g_autofree char *h = as_shown_spec_describe (&spec, 12);
  g_assert_cmpstr (h, ==, "layer 3 · head 5");
  spec.aggregate = AS_SHOWN_MEAN;
  spec.words = TRUE;
  g_autofree char *m = as_shown_spec_describe (&spec, 12);
  g_assert_cmpstr (m, ==, "layer 3 · mean of 12 heads · words");
  spec.aggregate = AS_SHOWN_ROLLOUT;
  spec.words = FALSE;
  spec.sentence = AS_SHOWN_SENTENCE_B;
  g_autofree char *r = as_shown_spec_describe (&spec, 12);
  g_assert_cmpstr (r, ==, "rollout through layer 3 · sentence B");
}

/* ---- the real model against NumPy --------------------------------------- */

static gboolean
bool_member (JsonObject *o,
             const char *name)
{
  return json_object_get_boolean_member (o, name);
}

static void
test_against_numpy (void)
{
  g_autofree char *dir = as_model_default_dir ();
  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  if (!g_file_test (weights, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  const char *data = g_getenv ("AS_TEST_DATA");
  g_autofree char *path = g_build_filename (data != NULL ? data : "tests/data", "shown-reference.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_assert_true (json_parser_load_from_file (parser, path, &error));
  g_assert_no_error (error);

  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  AsBackend *backend = as_cpu_backend_new (model);
  JsonArray *cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "cases");
  double worst[AS_N_SHOWN_AGGREGATES][2] = { { 0 } };   /* [aggregate][words] */
  int count = 0;

  for (guint c = 0; c < json_array_get_length (cases); c++)
    {
      JsonObject *kase = json_array_get_object_element (cases, c);
      const char *text = json_object_get_string_member (kase, "text");
      const char *pair = json_object_get_null_member (kase, "pair") ? NULL
                         : json_object_get_string_member (kase, "pair");
      AsAnalysis *a = as_attention_compute (backend, text, pair, &error);
      g_assert_no_error (error);
      JsonArray *ids = json_object_get_array_member (kase, "ids");
      g_assert_cmpint (json_array_get_length (ids), ==, a->n);
      for (int i = 0; i < a->n; i++)
        g_assert_cmpint (json_array_get_int_element (ids, i), ==, a->encoding->tokens[i].id);

      JsonArray *shown = json_object_get_array_member (kase, "shown");
      for (guint s = 0; s < json_array_get_length (shown); s++)
        {
          JsonObject *o = json_array_get_object_element (shown, s);
          AsShownSpec spec;
          as_shown_spec_init (&spec);
          spec.aggregate = as_shown_aggregate_from_name (json_object_get_string_member (o, "aggregate"));
          spec.layer = json_object_get_int_member (o, "layer");
          spec.head = json_object_get_int_member (o, "head");
          spec.words = bool_member (o, "words");
          spec.hide_special = bool_member (o, "hide_special");
          spec.renormalise = bool_member (o, "renormalise");
          spec.sentence = as_shown_sentence_from_name (json_object_get_string_member (o, "sentence"));
          g_autoptr(AsShown) got = as_shown_compute (a, text, pair, &spec, &error);
          g_assert_no_error (error);
          g_autofree char *what = as_shown_spec_describe (&spec, a->n_heads);

          JsonArray *labels = json_object_get_array_member (o, "labels");
          JsonArray *rows = json_object_get_array_member (o, "rows");
          JsonArray *values = json_object_get_array_member (o, "values");
          int n = got->tokens->n;
          if ((int) json_array_get_length (labels) != n)
            g_error ("%s, %s: %d rows, NumPy has %u", text, what, n, json_array_get_length (labels));
          for (int r = 0; r < n; r++)
            {
              g_assert_cmpstr (got->tokens->labels[r], ==, json_array_get_string_element (labels, r));
              JsonArray *covers = json_array_get_array_element (rows, r);
              g_assert_cmpint (json_array_get_length (covers), ==, got->tokens->first[r + 1] - got->tokens->first[r]);
              for (guint k = 0; k < json_array_get_length (covers); k++)
                g_assert_cmpint (json_array_get_int_element (covers, k), ==,
                                 got->tokens->tokens[got->tokens->first[r] + k]);
              JsonArray *row = json_array_get_array_element (values, r);
              for (int col = 0; col < n; col++)
                {
                  double want = json_array_get_double_element (row, col);
                  double diff = fabs (got->values[r * n + col] - want);
                  worst[spec.aggregate][spec.words] = MAX (worst[spec.aggregate][spec.words], diff);
                  if (diff > 1e-5)
                    g_error ("%s, %s: cell (%d, %d) is %.9g, NumPy %.9g", text, what, r, col,
                             got->values[r * n + col], want);
                }
            }
          count++;
        }
      as_analysis_unref (a);
    }
  for (int agg = 0; agg < AS_N_SHOWN_AGGREGATES; agg++)
    for (int w = 0; w < 2; w++)
      g_test_message ("%s%s: largest difference from NumPy %.3g", as_shown_aggregate_name (agg),
                      w ? " + words" : "", worst[agg][w]);
  g_test_message ("%d matrices compared", count);
  g_assert_cmpint (count, >=, 20);
  as_backend_free (backend);
  as_model_free (model);
}

/* Every view labels a token through as_shown_display_text: whitespace that
 * would draw nothing gets a visible sign, text keeps its own spaces. */
static void
test_display_text (void)
{
  static const struct { const char *in, *want; } cases[] = {
    { "the", "the" },
    { " the", " the" },          /* a byte-level BPE word keeps its space */
    { "\n", "↵" },
    { "\n\n", "↵↵" },
    { ".\n", ".↵" },
    { "\t", "⇥" },
    { "\r\n", "␍↵" },
    { " ", "␣" },
    { "   ", "␣␣␣" },
    { "", "∅" },
    { "日本", "日本" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *got = as_shown_display_text (cases[i].in);
      g_assert_cmpstr (got, ==, cases[i].want);
    }
  g_autofree char *none = as_shown_display_text (NULL);
  g_assert_cmpstr (none, ==, "?");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/shown/hide-rule", test_hide_rule);
  g_test_add_func ("/shown/display-text", test_display_text);
  g_test_add_func ("/shown/words-and-map-back", test_words_and_map_back);
  g_test_add_func ("/shown/sentence", test_sentence);
  g_test_add_func ("/shown/renormalise-and-max", test_renormalise_and_max);
  g_test_add_func ("/shown/no-encoding", test_no_encoding);
  g_test_add_func ("/shown/names-and-describe", test_names_and_describe);
  g_test_add_func ("/shown/against-numpy", test_against_numpy);
  return g_test_run ();
}
