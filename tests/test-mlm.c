/* test-mlm.c — the masked-LM head (as-mlm-head.h) against transformers.
 *
 * tests/data/bert-mlm-tiny is a seeded BertForMaskedLM (decoder tied to the
 * word embeddings, bias saved as cls.predictions.bias) written with
 * tests/data/bert-mlm-tiny/mlm-goldens.json by tools/make-tiny-encoders.py:
 * for each [MASK] of a few sentences, the logits row and its top 10 ids and
 * probabilities (eager, fp32). Both CPU backends' last hidden state through
 * the head give those logits within LOGIT_TOL and probabilities within
 * PROB_TOL, the ids in transformers' order; the tokenizer finds the [MASK]
 * positions transformers masked.
 * Variants written from that folder: without the head (loads, "no
 * masked-LM head"), with part of it (refused, naming the missing tensor),
 * with an explicit decoder weight and with the bias under its other name
 * (the same predictions: both are how checkpoints store the same head).
 * Refusals: a position outside the input, K out of range, a decoder.
 */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "as-backend.h"
#include "as-error.h"
#include "as-mlm-head.h"
#include "as-model.h"
#include "as-reference.h"
#include "as-safetensors.h"
#include "as-tokenizer.h"

#define LOGIT_TOL  1e-4   /* a logit (|logit| up to ~10) against transformers */
#define PROB_TOL   1e-5   /* a probability against transformers */
#define TIE_TOL    1e-6   /* golden probabilities this close may swap ranks */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsModel, as_model_free)

static char *
data_path (const char *name)
{
  const char *root = g_getenv ("AS_TEST_DATA");
  g_assert_nonnull (root);
  return g_build_filename (root, "bert-mlm-tiny", name, NULL);
}

static AsModel *
load_tiny (void)
{
  g_autofree char *dir = data_path (NULL);
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  return model;
}

static JsonParser *
read_goldens (void)
{
  g_autofree char *path = data_path ("mlm-goldens.json");
  g_autoptr(GError) error = NULL;
  JsonParser *parser = json_parser_new ();
  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return parser;
}

static int *
int_array (JsonArray *arr,
           int       *n)
{
  *n = (int) json_array_get_length (arr);
  int *out = g_new (int, *n);   /* [n] */
  for (int i = 0; i < *n; i++)
    out[i] = (int) json_array_get_int_element (arr, i);
  return out;
}

/* The last hidden state [n, hidden] of IDS on BACKEND. */
static float *
last_hidden (AsBackend *backend,
             const int *ids,
             int        n)
{
  g_autofree int *types = g_new0 (int, n);   /* [n] */
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
  float *hidden = g_new (float, (gsize) n * backend->model->config->hidden);   /* [n, H] */
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (backend, &req, hidden, &error));
  g_assert_no_error (error);
  return hidden;
}

/* Worst differences over every golden [MASK] on BACKEND. */
typedef struct {
  double logit;
  double prob;
  int    masks;
} Worst;

static void
check_mask (const AsModel *model,
            const float   *hidden,
            int            n,
            JsonObject    *mask,
            Worst         *worst)
{
  const int V = model->config->vocab_size;
  const int pos = (int) json_object_get_int_member (mask, "position");
  JsonArray *golden_logits = json_object_get_array_member (mask, "logits");
  JsonArray *golden_ids = json_object_get_array_member (mask, "top_ids");
  JsonArray *golden_probs = json_object_get_array_member (mask, "top_probs");
  g_assert_cmpint (json_array_get_length (golden_logits), ==, V);

  g_autofree float *logits = g_new (float, V);   /* [V] */
  as_mlm_head_logits (model, hidden + (gsize) pos * model->config->hidden, logits);
  for (int v = 0; v < V; v++)
    {
      double d = fabs (logits[v] - json_array_get_double_element (golden_logits, v));
      worst->logit = MAX (worst->logit, d);
      g_assert_cmpfloat (d, <=, LOGIT_TOL);
    }

  AsMlmPrediction top[10];
  g_autoptr(GError) error = NULL;
  g_assert_true (as_mlm_head_predict (model, hidden, n, pos, 10, top, &error));
  g_assert_no_error (error);
  for (int r = 0; r < 10; r++)
    {
      double want = json_array_get_double_element (golden_probs, r);
      double d = fabs (top[r].prob - want);
      worst->prob = MAX (worst->prob, d);
      g_assert_cmpfloat (d, <=, PROB_TOL);
      /* A different id only where transformers' own probabilities tie. */
      int want_id = (int) json_array_get_int_element (golden_ids, r);
      if (top[r].id != want_id)
        {
          g_assert_cmpint (r, <, 9);
          g_assert_cmpfloat (fabs (want - json_array_get_double_element (golden_probs, r + 1)), <=, TIE_TOL);
        }
    }
  worst->masks++;
}

static void
check_goldens_on (AsBackend *backend)
{
  const AsModel *model = backend->model;
  g_autoptr(JsonParser) parser = read_goldens ();
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpint (json_object_get_int_member (root, "vocab_size"), ==, model->config->vocab_size);
  JsonArray *cases = json_object_get_array_member (root, "cases");
  Worst worst = { 0 };
  for (guint c = 0; c < json_array_get_length (cases); c++)
    {
      JsonObject *cs = json_array_get_object_element (cases, c);
      int n;
      g_autofree int *ids = int_array (json_object_get_array_member (cs, "ids"), &n);

      /* The tokenizer reads "[MASK]" as the special token transformers does. */
      AsEncoding *enc = as_tokenizer_encode (model->tokenizer, json_object_get_string_member (cs, "text"),
                                             NULL, 0);
      g_assert_cmpint (enc->n_tokens, ==, n);
      for (int i = 0; i < n; i++)
        g_assert_cmpint (enc->tokens[i].id, ==, ids[i]);
      as_encoding_free (enc);

      JsonArray *masks = json_object_get_array_member (cs, "masks");
      g_autofree int *positions = g_new (int, n);   /* [n] */
      g_assert_cmpint (as_mlm_mask_positions (model, ids, n, positions), ==, json_array_get_length (masks));
      g_autofree float *hidden = last_hidden (backend, ids, n);
      for (guint m = 0; m < json_array_get_length (masks); m++)
        {
          JsonObject *mask = json_array_get_object_element (masks, m);
          g_assert_cmpint (positions[m], ==, json_object_get_int_member (mask, "position"));
          check_mask (model, hidden, n, mask, &worst);
        }
    }
  g_assert_cmpint (worst.masks, >=, 4);
  g_test_message ("%s: %d masks, worst logit diff %.3g, worst probability diff %.3g",
                  backend->vtable->name, worst.masks, worst.logit, worst.prob);
}

static void
test_goldens_reference (void)
{
  g_autoptr(AsModel) model = load_tiny ();
  g_assert_nonnull (as_mlm_head_get (model));
  AsBackend *backend = as_reference_backend_new (model);
  check_goldens_on (backend);
  as_backend_free (backend);
}

static void
test_goldens_cpu (void)
{
  g_autoptr(AsModel) model = load_tiny ();
  AsBackend *backend = as_cpu_backend_new (model);
  check_goldens_on (backend);
  as_backend_free (backend);
}

/* --- variants of the folder ---------------------------------------------- */

/* The tiny folder's model.safetensors rewritten into a new temporary
 * folder (config and tokenizer copied): tensors named in DROP left out,
 * RENAME_FROM saved as RENAME_TO, and ADD_NAME (if any) added as a copy of
 * ADD_FROM. Returns the folder (g_free; the test removes it). */
static char *
write_variant (const char *const *drop,
               const char        *rename_from,
               const char        *rename_to,
               const char        *add_name,
               const char        *add_from)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("attnscope-mlm-XXXXXX", &error);
  g_assert_no_error (error);
  static const char *const copied[] = { "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt" };
  for (guint i = 0; i < G_N_ELEMENTS (copied); i++)
    {
      g_autofree char *src = data_path (copied[i]);
      g_autofree char *dst = g_build_filename (dir, copied[i], NULL);
      g_autofree char *text = NULL;
      gsize len;
      g_assert_true (g_file_get_contents (src, &text, &len, &error));
      g_assert_true (g_file_set_contents (dst, text, len, &error));
    }

  g_autofree char *st_path = data_path ("model.safetensors");
  AsSafetensors *st = as_safetensors_open (st_path, &error);
  g_assert_no_error (error);
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autoptr(JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  for (guint t = 0; t <= as_safetensors_get_n_tensors (st); t++)
    {
      const AsTensorInfo *info;
      const char *name;
      if (t < as_safetensors_get_n_tensors (st))
        {
          info = as_safetensors_get_nth (st, t);
          name = info->name;
          if (drop != NULL && g_strv_contains (drop, name))
            continue;
          if (g_strcmp0 (name, rename_from) == 0)
            name = rename_to;
        }
      else if (add_name != NULL)
        {
          info = as_safetensors_lookup (st, add_from);
          name = add_name;
        }
      else
        break;
      g_assert_true (info->dtype == AS_DTYPE_F32);
      const gsize begin = data->len, size = info->end - info->begin;
      g_byte_array_append (data, as_safetensors_get_data (st, info), size);
      json_builder_set_member_name (b, name);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "dtype");
      json_builder_add_string_value (b, "F32");
      json_builder_set_member_name (b, "shape");
      json_builder_begin_array (b);
      for (int d = 0; d < info->n_dims; d++)
        json_builder_add_int_value (b, info->shape[d]);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "data_offsets");
      json_builder_begin_array (b);
      json_builder_add_int_value (b, begin);
      json_builder_add_int_value (b, begin + size);
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  as_safetensors_free (st);

  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  g_autofree char *header_text = json_generator_to_data (gen, NULL);
  g_autoptr(GString) header = g_string_new (header_text);
  while (header->len % 8 != 0)
    g_string_append_c (header, ' ');
  g_autoptr(GByteArray) file = g_byte_array_new ();
  guint8 len_le[8];
  for (int i = 0; i < 8; i++)
    len_le[i] = (guint8) ((guint64) header->len >> (8 * i));
  g_byte_array_append (file, len_le, 8);
  g_byte_array_append (file, (const guint8 *) header->str, header->len);
  g_byte_array_append (file, data->data, data->len);
  g_autofree char *out = g_build_filename (dir, "model.safetensors", NULL);
  g_assert_true (g_file_set_contents (out, (const char *) file->data, file->len, &error));
  g_assert_no_error (error);
  return dir;
}

static void
remove_variant (const char *dir)
{
  static const char *const files[] = { "config.json", "tokenizer.json", "tokenizer_config.json",
                                       "vocab.txt", "model.safetensors" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (dir, files[i], NULL);
      g_remove (path);
    }
  g_rmdir (dir);
}

static const char *const head_names[] = {
  "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
  "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
  "cls.predictions.bias", NULL,
};

static void
test_no_head (void)
{
  g_autofree char *dir = write_variant (head_names, NULL, NULL, NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(AsModel) model = as_model_load (dir, &error);
  g_assert_no_error (error);   /* the encoder itself is whole */
  g_assert_null (as_mlm_head_get (model));
  g_assert_false (as_mlm_head_check (model, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "no masked-LM head"));
  g_clear_error (&error);

  const int ids[] = { 2, 4, 3 };
  g_autofree float *hidden = g_new0 (float, 3 * model->config->hidden);   /* [3, H] */
  AsMlmPrediction top[1];
  g_assert_false (as_mlm_head_predict (model, hidden, 3, 1, 1, top, &error));
  g_assert_nonnull (strstr (error->message, "no masked-LM head"));
  g_assert_cmpint (as_mlm_mask_positions (model, ids, 3, (int[3]) { 0 }), ==, 1);
  remove_variant (dir);
}

static void
test_partial_head (void)
{
  for (int missing = 0; head_names[missing] != NULL; missing++)
    {
      const char *drop[] = { head_names[missing], NULL };
      g_autofree char *dir = write_variant (drop, NULL, NULL, NULL, NULL);
      g_autoptr(GError) error = NULL;
      g_autoptr(AsModel) model = as_model_load (dir, &error);
      g_assert_null (model);
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH);
      g_assert_nonnull (strstr (error->message, "masked-LM head is incomplete"));
      g_assert_nonnull (strstr (error->message, head_names[missing]));
      remove_variant (dir);
    }
}

/* A head with a misshapen tensor is refused by as_model_bind_f32's check. */
static void
test_misshapen_head (void)
{
  g_autofree char *dir = write_variant (NULL, NULL, NULL, "cls.predictions.decoder.weight",
                                        "cls.predictions.transform.dense.weight");
  g_autoptr(GError) error = NULL;
  g_autoptr(AsModel) model = as_model_load (dir, &error);
  g_assert_null (model);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "cls.predictions.decoder.weight"));
  remove_variant (dir);
}

/* The top 10 at every [MASK] of the first golden case, reference backend. */
static void
predictions_of (AsModel         *model,
                AsMlmPrediction *top)
{
  g_autoptr(JsonParser) parser = read_goldens ();
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  JsonObject *cs = json_array_get_object_element (json_object_get_array_member (root, "cases"), 0);
  int n, pos;
  g_autofree int *ids = int_array (json_object_get_array_member (cs, "ids"), &n);
  g_assert_cmpint (as_mlm_mask_positions (model, ids, n, &pos), ==, 1);
  AsBackend *backend = as_reference_backend_new (model);
  g_autofree float *hidden = last_hidden (backend, ids, n);
  g_autoptr(GError) error = NULL;
  g_assert_true (as_mlm_head_predict (model, hidden, n, pos, 10, top, &error));
  g_assert_no_error (error);
  as_backend_free (backend);
}

static void
check_same_predictions (const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AsModel) variant = as_model_load (dir, &error);
  g_assert_no_error (error);
  g_autoptr(AsModel) tiny = load_tiny ();
  AsMlmPrediction want[10], got[10];
  predictions_of (tiny, want);
  predictions_of (variant, got);
  for (int r = 0; r < 10; r++)
    {
      g_assert_cmpint (got[r].id, ==, want[r].id);
      g_assert_cmpfloat (got[r].prob, ==, want[r].prob);
    }
}

static void
test_untied_decoder (void)
{
  g_autofree char *dir = write_variant (NULL, NULL, NULL, "cls.predictions.decoder.weight",
                                        "bert.embeddings.word_embeddings.weight");
  check_same_predictions (dir);
  remove_variant (dir);
}

static void
test_decoder_bias_name (void)
{
  g_autofree char *dir = write_variant (NULL, "cls.predictions.bias", "cls.predictions.decoder.bias",
                                        NULL, NULL);
  check_same_predictions (dir);
  remove_variant (dir);
}

static void
test_refusals (void)
{
  g_autoptr(AsModel) model = load_tiny ();
  const int H = model->config->hidden, V = model->config->vocab_size;
  g_autofree float *hidden = g_new0 (float, 3 * H);   /* [3, H] */
  AsMlmPrediction top[AS_MLM_MAX_K];
  const struct { int position, k; } bad[] = { { -1, 5 }, { 3, 5 }, { 1, 0 }, { 1, MIN (V, AS_MLM_MAX_K) + 1 } };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (as_mlm_head_predict (model, hidden, 3, bad[i].position, bad[i].k, top, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
    }
  /* The edges are accepted: the last position, all K allowed. */
  g_autoptr(GError) error = NULL;
  g_assert_true (as_mlm_head_predict (model, hidden, 3, 2, MIN (V, AS_MLM_MAX_K), top, &error));
  g_assert_no_error (error);
  for (int r = 1; r < MIN (V, AS_MLM_MAX_K); r++)
    g_assert_cmpfloat (top[r].prob, <=, top[r - 1].prob);

  /* A decoder has no masked-LM head. */
  const char *root = g_getenv ("AS_TEST_DATA");
  g_autofree char *gguf = g_build_filename (root, "llama", "tiny.gguf", NULL);
  g_autoptr(AsModel) llama = as_model_load (gguf, &error);
  g_assert_no_error (error);
  g_assert_false (as_mlm_head_check (llama, &error));
  g_assert_nonnull (strstr (error->message, "no masked-LM head"));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mlm/goldens/reference", test_goldens_reference);
  g_test_add_func ("/mlm/goldens/cpu", test_goldens_cpu);
  g_test_add_func ("/mlm/no-head", test_no_head);
  g_test_add_func ("/mlm/partial-head", test_partial_head);
  g_test_add_func ("/mlm/misshapen-head", test_misshapen_head);
  g_test_add_func ("/mlm/untied-decoder", test_untied_decoder);
  g_test_add_func ("/mlm/decoder-bias-name", test_decoder_bias_name);
  g_test_add_func ("/mlm/refusals", test_refusals);
  return g_test_run ();
}
