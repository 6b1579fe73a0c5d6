/* test-llama.c — the Llama architecture and its reference forward.
 *
 * Without any download: the architecture's facts, its config from
 * LlamaConfig fields and the refusals, a tiny random Llama with
 * grouped-query attention whose attention is causal (upper triangle exactly
 * 0, rows summing to 1), whose fast "cpu" backend agrees with the
 * reference, and whose layer_qkv gives K and V repeated per query head; a tiny seeded GGUF
 * (tests/data/llama/tiny.gguf) against transformers, plus damaged copies; and
 * a tiny seeded safetensors folder with its BPE tokenizer.json
 * (tests/data/llama-tiny) against transformers, plus damaged copies.
 *
 * With the SmolLM2-135M-Instruct Q4_1 GGUF that tools/setup fetches (else
 * skipped with the reason): the config read from its metadata, and the
 * reference forward against transformers' LlamaForCausalLM in eager fp32
 * on the same file (tests/data/llama/, written by
 * tools/make-llama-goldens.py): every layer's attention within 2e-5, the
 * final hidden state (after the last RMSNorm) and the last position's top-10
 * logits within the bounds below; and the same sentences from text, through
 * the tokenizer the GGUF declares: transformers' ids and attention.
 */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-error.h"
#include "as-llama.h"
#include "as-model.h"
#include "as-reference.h"
#include "decoder-test-util.h"
#include "llama-test-util.h"

/* Measured on x86-64 (gcc, glibc) against transformers 5.25 / torch 2.15,
 * worst over the three cases: attention 1.45e-5, final hidden 7.2e-5, top-10
 * logits 1.9e-5. The attention bound is the issue's; the others leave room
 * for other compilers and libms. */
#define ATTN_TOL    2e-5
#define HIDDEN_TOL  5e-4
#define LOGIT_TOL   2e-4

/* --- a tiny random Llama ---------------------------------------------------- */

static const char *tiny_config =
  "{\"model_type\": \"llama\", \"num_hidden_layers\": 3, \"num_attention_heads\": 6,"
  " \"num_key_value_heads\": 2, \"hidden_size\": 48, \"intermediate_size\": 80,"
  " \"vocab_size\": 64, \"max_position_embeddings\": 32, \"rms_norm_eps\": 1e-5,"
  " \"rope_theta\": 10000.0, \"hidden_act\": \"silu\"}";

static AsModel *
tiny_model (guint32 seed)
{
  return test_random_model (tiny_config, "tiny llama (random weights)", seed);
}

static void
test_arch (void)
{
  const AsArchitecture *arch = as_architecture_lookup ("llama");
  g_assert_true (arch == &as_arch_llama);
  g_assert_cmpstr (arch->name, ==, "llama");
  g_assert_true (arch->causal);
  g_assert_false (arch->uses_token_types);
  g_assert_nonnull (arch->read_gguf_config);
  g_assert_null (arch->gpu_describe);
  g_assert_null (arch->position_table);
}

static void
test_config_json (void)
{
  g_autoptr(GError) error = NULL;
  AsConfig *c = as_config_parse (tiny_config, strlen (tiny_config), "tiny.json", &error);
  g_assert_no_error (error);
  g_assert_true (c->arch == &as_arch_llama);
  g_assert_cmpint (c->n_layers, ==, 3);
  g_assert_cmpint (c->n_heads, ==, 6);
  g_assert_cmpint (c->n_kv_heads, ==, 2);
  g_assert_cmpint (c->hidden, ==, 48);
  g_assert_cmpint (c->head_dim, ==, 8);
  g_assert_cmpint (c->intermediate, ==, 80);
  g_assert_cmpfloat (c->rope_theta, ==, 10000.0f);
  g_assert_cmpfloat (c->layer_norm_eps, ==, 1e-5f);
  as_config_free (c);

  struct { const char *json; const char *message; } bad[] = {
    { "{\"model_type\": \"llama\", \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
      " \"num_key_value_heads\": 3, \"hidden_size\": 32, \"intermediate_size\": 8,"
      " \"vocab_size\": 8, \"max_position_embeddings\": 8}",
      "4 attention heads are not a multiple of 3 key/value heads" },
    { "{\"model_type\": \"llama\", \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
      " \"hidden_size\": 32, \"intermediate_size\": 8, \"vocab_size\": 8,"
      " \"max_position_embeddings\": 8, \"hidden_act\": \"gelu\"}",
      "hidden_act 'gelu' is not supported" },
    { "{\"model_type\": \"llama\", \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
      " \"hidden_size\": 32, \"intermediate_size\": 8, \"vocab_size\": 8,"
      " \"max_position_embeddings\": 8, \"rope_scaling\": {\"type\": \"linear\"}}",
      "rope_scaling is not supported" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) e = NULL;
      g_assert_null (as_config_parse (bad[i].json, strlen (bad[i].json), "bad.json", &e));
      g_assert_nonnull (e);
      g_test_message ("%s", e->message);
      g_assert_nonnull (strstr (e->message, bad[i].message));
    }
}

/* Every row of every head: keys after the query exactly 0, the rest a
 * distribution summing to 1. */
static void
check_causal (const float *attn,
              int          n_layers,
              int          n_heads,
              int          n)
{
  for (gsize m = 0; m < (gsize) n_layers * n_heads; m++)
    for (int i = 0; i < n; i++)
      {
        const float *row = attn + (m * n + i) * n;
        double sum = 0;
        for (int j = 0; j < n; j++)
          {
            if (j > i)
              g_assert_cmpfloat (row[j], ==, 0.0f);
            g_assert_cmpfloat (row[j], >=, 0.0f);
            sum += row[j];
          }
        g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
      }
}

static void
test_random_causal (void)
{
  AsModel *model = tiny_model (7);
  const AsConfig *c = model->config;
  const int n = 11;
  int ids[11], types[11] = { 0 };
  for (int i = 0; i < n; i++)
    ids[i] = (i * 13 + 5) % c->vocab_size;

  g_autoptr(GError) error = NULL;
  AsBackend *reference = as_reference_backend_new (model);
  AsBackend *cpu = as_cpu_backend_new (model);
  g_assert_cmpstr (as_backend_get_name (reference), ==, "reference");
  g_assert_cmpstr (as_backend_get_name (cpu), ==, "cpu");
  AsAnalysis *a = as_attention_compute_ids (reference, ids, types, n, &error);
  g_assert_no_error (error);
  AsAnalysis *b = as_attention_compute_ids (cpu, ids, types, n, &error);
  g_assert_no_error (error);
  check_causal (a->attn, c->n_layers, c->n_heads, n);
  /* The fast path (as-cpu-llama.c, tested further by test-decode.c) sums
   * in another order, with polynomial exp: close, not equal. */
  gsize count = (gsize) c->n_layers * c->n_heads * n * n;
  check_causal (b->attn, c->n_layers, c->n_heads, n);
  for (gsize i = 0; i < count; i++)
    g_assert_cmpfloat_with_epsilon (a->attn[i], b->attn[i], ATTN_TOL);
  for (gsize i = 0; i < (gsize) n * c->hidden; i++)
    g_assert_cmpfloat_with_epsilon (a->final_hidden[i], b->final_hidden[i], HIDDEN_TOL);
  /* The first token sees only itself. */
  g_assert_cmpfloat (a->attn[0], ==, 1.0f);

  /* A prefix's attention is the same whatever follows (causality). */
  AsAnalysis *p = as_attention_compute_ids (reference, ids, types, 5, &error);
  g_assert_no_error (error);
  for (int l = 0; l < c->n_layers; l++)
    for (int h = 0; h < c->n_heads; h++)
      for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
          g_assert_cmpfloat (p->attn[(((gsize) l * c->n_heads + h) * 5 + i) * 5 + j], ==,
                             a->attn[(((gsize) l * c->n_heads + h) * n + i) * n + j]);

  /* layer_qkv: K and V repeated per query head; Q_h K_h^T / sqrt(d) gives
   * the layer's attention again. */
  const int H = c->hidden, d = c->head_dim;
  g_autofree float *q = g_new (float, (gsize) n * H);
  g_autofree float *k = g_new (float, (gsize) n * H);
  g_autofree float *v = g_new (float, (gsize) n * H);
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
  g_assert_true (as_backend_layer_qkv (reference, &req, 1, q, k, v, &error));
  g_assert_no_error (error);
  const int group = c->n_heads / c->n_kv_heads;
  for (int i = 0; i < n; i++)
    for (int h = 0; h < c->n_heads; h++)
      g_assert_cmpmem (k + (gsize) i * H + h * d, d * sizeof (float),
                       k + (gsize) i * H + (h / group * group) * d, d * sizeof (float));
  for (int h = 0; h < c->n_heads; h++)
    for (int i = 0; i < n; i++)
      {
        float row[11];
        for (int j = 0; j < n; j++)
          {
            float dot = 0;
            for (int t = 0; t < d; t++)
              dot += q[(gsize) i * H + h * d + t] * k[(gsize) j * H + h * d + t];
            row[j] = j > i ? -INFINITY : dot / sqrtf ((float) d);
          }
        float max = row[0], sum = 0;
        for (int j = 1; j <= i; j++)
          max = MAX (max, row[j]);
        for (int j = 0; j <= i; j++)
          sum += row[j] = expf (row[j] - max);
        for (int j = 0; j <= i; j++)
          g_assert_cmpfloat_with_epsilon (row[j] / sum,
                                          a->attn[(((gsize) 1 * c->n_heads + h) * n + i) * n + j],
                                          1e-6);
      }

  as_analysis_unref (p);
  as_analysis_unref (a);
  as_analysis_unref (b);
  as_backend_free (cpu);
  as_backend_free (reference);
  as_model_free (model);
}

/* --- a tiny seeded Llama GGUF (tests/data/llama/tiny*.gguf) ---------------- */

/* Written as llama.cpp writes a Llama (Q, K rows permuted; F16 matrices),
 * checked against transformers loading the same file: this covers the GGUF
 * path, the un-permutation and GQA in CI, without the download. */
static void
test_tiny_goldens (void)
{
  g_autofree char *path = llama_fixture_path ("tiny.gguf");
  g_autofree char *json_path = llama_fixture_path ("tiny.json");
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (path, &error);
  g_assert_no_error (error);
  const AsConfig *c = model->config;
  g_assert_true (model->arch == &as_arch_llama);
  g_assert_cmpint (c->n_layers, ==, 2);
  g_assert_cmpint (c->n_heads, ==, 4);
  g_assert_cmpint (c->n_kv_heads, ==, 2);
  g_assert_cmpint (c->hidden, ==, 32);
  g_assert_cmpint (c->intermediate, ==, 48);
  g_assert_cmpint (c->vocab_size, ==, 64);
  /* Its placeholder vocabulary has no merges: no tokenizer, a clear reason
   * for text, and the weights still run on ids. */
  g_assert_null (model->tokenizer);
  g_assert_false (as_model_check_tokenizer (model, &error));
  g_assert_nonnull (strstr (error->message, "tokenizer.ggml.merges"));
  g_assert_nonnull (strstr (error->message, "token ids only"));
  g_clear_error (&error);

  g_autoptr(JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (parser, json_path, &error));
  JsonArray *jids = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "ids");
  const int n = (int) json_array_get_length (jids);
  g_autofree int *ids = g_new (int, n);
  g_autofree int *types = g_new0 (int, n);
  for (int i = 0; i < n; i++)
    ids[i] = (int) json_array_get_int_element (jids, i);

  AsBackend *backend = as_reference_backend_new (model);
  AsAnalysis *a = as_attention_compute_ids (backend, ids, types, n, &error);
  g_assert_no_error (error);
  check_causal (a->attn, c->n_layers, c->n_heads, n);
  const gsize count = (gsize) c->n_layers * c->n_heads * n * n, hcount = (gsize) n * c->hidden;
  g_autofree float *want = llama_read_floats ("tiny-attn.f32", count);
  g_autofree float *want_hidden = llama_read_floats ("tiny-hidden.f32", hcount);
  double max_attn = 0, max_hidden = 0;
  for (gsize i = 0; i < count; i++)
    max_attn = MAX (max_attn, fabs ((double) a->attn[i] - want[i]));
  for (gsize i = 0; i < hcount; i++)
    max_hidden = MAX (max_hidden, fabs ((double) a->final_hidden[i] - want_hidden[i]));
  g_test_message ("tiny (%d tokens): max |d| attention %.3g, final hidden %.3g",
                  n, max_attn, max_hidden);
  /* Measured 4.2e-7 and 3.9e-6 (x86-64, gcc, glibc). */
  g_assert_cmpfloat (max_attn, <=, 5e-6);
  g_assert_cmpfloat (max_hidden, <=, 5e-5);
  as_analysis_unref (a);
  as_backend_free (backend);
  as_model_free (model);
}

/* A tensor missing, a layer beyond block_count, a file that is not there:
 * refused by name. */
static void
test_gguf_refusals (void)
{
  struct { const char *file; const char *message; } bad[] = {
    { "tiny-missing.gguf", "tensor 'blk.1.ffn_up.weight' is missing" },
    { "tiny-extra.gguf", "holds a layer 1 but the metadata says llama.block_count = 1" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *path = llama_fixture_path (bad[i].file);
      g_autoptr(GError) error = NULL;
      g_assert_null (as_model_load (path, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, bad[i].message));
      g_assert_nonnull (strstr (error->message, path));
    }

  g_autoptr(GError) error = NULL;
  g_assert_null (as_model_load ("/nonexistent/model.gguf", &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "/nonexistent/model.gguf"));

  /* A folder still lists every file loading reads (writers must not
   * replace any of them). */
  g_autofree char *dir = as_model_default_dir ();
  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  if (g_file_test (weights, G_FILE_TEST_EXISTS))
    {
      g_auto(GStrv) files = as_model_list_files_in (dir);
      g_autofree char *config = g_build_filename (dir, "config.json", NULL);
      g_assert_true (g_strv_contains ((const char *const *) files, config));
      g_assert_true (g_strv_contains ((const char *const *) files, weights));
    }
}

/* --- a tiny seeded Llama folder (tests/data/llama-tiny) --------------------- */

/* Saved by transformers' save_pretrained (safetensors, transformers'
 * names and layout, a separate lm_head, rope_parameters; a BPE
 * tokenizer.json whose template puts a BOS first), written by
 * tools/make-tiny-decoders.py: ids, attention, final hidden state and
 * top-10 logits against transformers. */
static void
test_folder_goldens (void)
{
  decoder_check_goldens ("llama-tiny", &as_arch_llama);

  g_autofree char *dir = g_build_filename (g_getenv ("AS_TEST_DATA"), "llama-tiny", NULL);
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  const AsLlamaWeights *w = as_llama_weights (model);
  g_assert_true (w->lm_head != w->tok_emb);
  g_assert_cmpint (model->config->n_kv_heads, ==, 2);
  g_assert_cmpfloat (model->config->rope_theta, ==, 10000.0f);
  AsEncoding *enc = as_tokenizer_encode (model->tokenizer, "The cat", NULL, 0);
  g_assert_cmpint (enc->tokens[0].id, ==, as_tokenizer_token_to_id (model->tokenizer, "<|endoftext|>"));
  g_assert_cmpint (enc->tokens[0].sequence, ==, -1);
  g_assert_true (enc->tokens[0].is_special);
  as_encoding_free (enc);
  as_model_free (model);
}

/* Damaged copies of the folder: refused by name. */
static void
test_folder_refusals (void)
{
  static const struct {
    const char *file, *find, *replace, *message;
  } bad[] = {
    /* Same length, so the data offsets stay right: one name is gone. */
    { "model.safetensors", "\"model.layers.1.mlp.up_proj.weight\"", "\"model.layers.1.mlp.up_prXj.weight\"",
      "tensor 'model.layers.1.mlp.up_proj.weight' is missing" },
    { "model.safetensors", "\"model.layers.0.self_attn.k_proj.weight\":{\"dtype\":\"F32\",\"shape\":[16,32]",
      "\"model.layers.0.self_attn.k_proj.weight\":{\"dtype\":\"F32\",\"shape\":[32,16]",
      "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [32, 16], expected [16, 32]" },
    { "config.json", "\"rope_type\": \"default\"", "\"rope_type\": \"linear\"",
      "rope_parameters.rope_type 'linear' is not supported" },
    { "config.json", "\"attention_bias\": false", "\"attention_bias\": true",
      "attention_bias is not supported" },
    { "config.json", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1",
      "holds a layer 1 but config.json says num_hidden_layers = 1" },
    /* tie_word_embeddings is false and the output projection is gone: never
     * read as the embedding */
    { "model.safetensors", "\"lm_head.weight\"", "\"lm_head.weighX\"",
      "tensor 'lm_head.weight' is missing, and config.json's tie_word_embeddings is false" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *dir = decoder_damaged_copy ("llama-tiny", bad[i].file, bad[i].find,
                                                   bad[i].replace);
      decoder_assert_refused (dir, bad[i].message);
      decoder_remove_copy (dir);
    }
}

/* tie_word_embeddings true: the embedding is the output projection, as
 * transformers ties it on load, whatever lm_head.weight the file holds. */
static void
test_folder_tied (void)
{
  g_autofree char *dir = decoder_damaged_copy ("llama-tiny", "config.json",
                                               "\"tie_word_embeddings\": false",
                                               "\"tie_word_embeddings\": true");
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  g_assert_true (model->config->tie_word_embeddings);
  const AsLlamaWeights *w = as_llama_weights (model);
  g_assert_true (w->lm_head == w->tok_emb);
  as_model_free (model);
  decoder_remove_copy (dir);
}

/* --- SmolLM2-135M from its GGUF --------------------------------------------- */

static AsModel *smollm2;
static char *smollm2_skip;

static gboolean
have_smollm2 (void)
{
  if (smollm2 == NULL && smollm2_skip == NULL)
    {
      smollm2 = llama_smollm2_load ();
      smollm2_skip = smollm2 == NULL ? g_strdup ("the SmolLM2 GGUF is not downloaded") : NULL;
      return smollm2 != NULL;
    }
  if (smollm2 == NULL)
    g_test_skip (smollm2_skip);
  return smollm2 != NULL;
}

static void
test_smollm2_config (void)
{
  if (!have_smollm2 ())
    return;
  const AsConfig *c = smollm2->config;
  g_assert_true (smollm2->arch == &as_arch_llama);
  g_assert_cmpstr (c->model_type, ==, "llama");
  g_assert_cmpint (c->n_layers, ==, 30);
  g_assert_cmpint (c->n_heads, ==, 9);
  g_assert_cmpint (c->n_kv_heads, ==, 3);
  g_assert_cmpint (c->hidden, ==, 576);
  g_assert_cmpint (c->head_dim, ==, 64);
  g_assert_cmpint (c->intermediate, ==, 1536);
  g_assert_cmpint (c->vocab_size, ==, 49152);
  g_assert_cmpint (c->max_positions, ==, 8192);
  g_assert_cmpfloat (c->rope_theta, ==, 100000.0f);
  g_assert_cmpfloat (c->layer_norm_eps, ==, 1e-5f);
  g_assert_nonnull (smollm2->tokenizer);
  g_assert_null (smollm2->tokenizer_error);
  g_assert_cmpint (as_tokenizer_get_vocab_size (smollm2->tokenizer), ==, c->vocab_size);
  g_assert_null (smollm2->st);
  g_assert_nonnull (smollm2->gguf);
  /* Tied: the output projection is the embedding. */
  const AsLlamaWeights *w = as_llama_weights (smollm2);
  g_assert_true (w->lm_head == w->tok_emb);

  /* Writers must never replace the file. */
  g_auto(GStrv) files = as_model_list_files (smollm2);
  g_assert_cmpuint (g_strv_length (files), ==, 1);
  g_assert_cmpstr (files[0], ==, smollm2->dir);
}

static void
test_smollm2_goldens (void)
{
  if (!have_smollm2 ())
    return;
  const AsConfig *c = smollm2->config;
  g_autofree char *cases_path = llama_fixture_path ("cases.json");
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_assert_true (json_parser_load_from_file (parser, cases_path, &error));
  g_assert_no_error (error);
  JsonObject *meta = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpint (json_object_get_int_member (meta, "n_layers"), ==, c->n_layers);
  g_assert_cmpint (json_object_get_int_member (meta, "n_heads"), ==, c->n_heads);
  JsonArray *cases = json_object_get_array_member (meta, "cases");
  g_assert_cmpuint (json_array_get_length (cases), >=, 2);

  AsBackend *backend = as_reference_backend_new (smollm2);
  const AsLlamaWeights *w = as_llama_weights (smollm2);
  double worst_attn = 0, worst_hidden = 0, worst_logit = 0;
  for (guint ci = 0; ci < json_array_get_length (cases); ci++)
    {
      JsonObject *cs = json_array_get_object_element (cases, ci);
      const char *name = json_object_get_string_member (cs, "name");
      JsonArray *jids = json_object_get_array_member (cs, "ids");
      const int n = (int) json_array_get_length (jids);
      g_assert_cmpint (n, ==, json_object_get_int_member (cs, "n"));
      g_autofree int *ids = g_new (int, n);
      g_autofree int *types = g_new0 (int, n);
      for (int i = 0; i < n; i++)
        ids[i] = (int) json_array_get_int_element (jids, i);

      AsAnalysis *a = as_attention_compute_ids (backend, ids, types, n, &error);
      g_assert_no_error (error);
      check_causal (a->attn, c->n_layers, c->n_heads, n);

      const gsize count = (gsize) c->n_layers * c->n_heads * n * n;
      g_autofree char *attn_name = g_strdup_printf ("%s-attn.f32", name);
      g_autofree float *want = llama_read_floats (attn_name, count);
      double max_attn = 0;
      for (gsize i = 0; i < count; i++)
        max_attn = MAX (max_attn, fabs ((double) a->attn[i] - want[i]));

      const gsize hcount = (gsize) n * c->hidden;
      g_autofree char *hidden_name = g_strdup_printf ("%s-hidden.f32", name);
      g_autofree float *want_hidden = llama_read_floats (hidden_name, hcount);
      double max_hidden = 0;
      for (gsize i = 0; i < hcount; i++)
        max_hidden = MAX (max_hidden, fabs ((double) a->final_hidden[i] - want_hidden[i]));

      /* Logits of the last position: its final hidden state times the
       * (tied) output projection; transformers' top 10, in order. */
      const float *last = a->final_hidden + (gsize) (n - 1) * c->hidden;
      JsonArray *top_ids = json_object_get_array_member (cs, "top10_ids");
      JsonArray *top_logits = json_object_get_array_member (cs, "top10_logits");
      g_autofree float *logits = g_new (float, c->vocab_size);
      for (int t = 0; t < c->vocab_size; t++)
        {
          const float *row = w->lm_head + (gsize) t * c->hidden;
          float sum = 0;
          for (int j = 0; j < c->hidden; j++)
            sum += last[j] * row[j];
          logits[t] = sum;
        }
      double max_logit = 0;
      for (guint r = 0; r < json_array_get_length (top_ids); r++)
        {
          int id = (int) json_array_get_int_element (top_ids, r);
          double want_logit = json_array_get_double_element (top_logits, r);
          max_logit = MAX (max_logit, fabs (logits[id] - want_logit));
          /* Its rank among our logits is r (ties within the bound aside). */
          int above = 0;
          for (int t = 0; t < c->vocab_size; t++)
            above += logits[t] > logits[id] + LOGIT_TOL;
          g_assert_cmpint (above, <=, (int) r);
        }

      g_test_message ("%s (%d tokens): max |d| attention %.3g, final hidden %.3g, "
                      "top-10 logits %.3g", name, n, max_attn, max_hidden, max_logit);
      worst_attn = MAX (worst_attn, max_attn);
      worst_hidden = MAX (worst_hidden, max_hidden);
      worst_logit = MAX (worst_logit, max_logit);
      as_analysis_unref (a);
    }
  g_test_message ("all cases: max |d| attention %.3g, final hidden %.3g, top-10 logits %.3g",
                  worst_attn, worst_hidden, worst_logit);
  g_assert_cmpfloat (worst_attn, <=, ATTN_TOL);
  g_assert_cmpfloat (worst_hidden, <=, HIDDEN_TOL);
  g_assert_cmpfloat (worst_logit, <=, LOGIT_TOL);
  as_backend_free (backend);
}

/* Text to attention through the tokenizer the GGUF declares: the ids equal
 * transformers' (tools/make-llama-goldens.py tokenized the same sentences from
 * the same file, no BOS), and so does the attention. */
static void
test_smollm2_text (void)
{
  if (!have_smollm2 ())
    return;
  const AsConfig *c = smollm2->config;
  g_autofree char *cases_path = llama_fixture_path ("cases.json");
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_assert_true (json_parser_load_from_file (parser, cases_path, &error));
  JsonArray *cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                                   "cases");
  AsBackend *backend = as_cpu_backend_new (smollm2);
  for (guint ci = 0; ci < json_array_get_length (cases); ci++)
    {
      JsonObject *cs = json_array_get_object_element (cases, ci);
      const char *name = json_object_get_string_member (cs, "name");
      const char *sentence = json_object_get_string_member (cs, "sentence");
      JsonArray *jids = json_object_get_array_member (cs, "ids");
      const int n = (int) json_array_get_length (jids);

      AsAnalysis *a = as_attention_compute (backend, sentence, NULL, &error);
      g_assert_no_error (error);
      const AsEncoding *enc = a->encoding;
      g_assert_cmpint (enc->n_tokens, ==, n);
      g_assert_false (enc->truncated);
      for (int i = 0; i < n; i++)
        {
          const AsToken *t = &enc->tokens[i];
          g_assert_cmpint (t->id, ==, (int) json_array_get_int_element (jids, i));
          /* A decoder's tokens are all the text's: no template around them,
           * labels spelled as read, spans that tile the sentence. */
          g_assert_cmpint (t->sequence, ==, 0);
          g_assert_false (t->is_special);
          g_assert_cmpint (t->start, ==, i == 0 ? 0 : enc->tokens[i - 1].end);
          g_assert_cmpint (strncmp (sentence + t->start, t->text, t->end - t->start), ==, 0);
        }
      g_assert_cmpint (enc->tokens[n - 1].end, ==, (int) strlen (sentence));

      const gsize count = (gsize) c->n_layers * c->n_heads * n * n;
      g_autofree char *attn_name = g_strdup_printf ("%s-attn.f32", name);
      g_autofree float *want = llama_read_floats (attn_name, count);
      double max_attn = 0;
      for (gsize i = 0; i < count; i++)
        max_attn = MAX (max_attn, fabs ((double) a->attn[i] - want[i]));
      g_test_message ("%s from text (%d tokens): max |d| attention %.3g", name, n, max_attn);
      g_assert_cmpfloat (max_attn, <=, ATTN_TOL);
      as_analysis_unref (a);
    }

  /* A decoder takes one text: a pair is refused by name, never run. */
  AsAnalysis *pair = as_attention_compute (backend, "Hello", "world", &error);
  g_assert_null (pair);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "this model takes one text"));
  g_clear_error (&error);
  as_backend_free (backend);

  /* Truncation as WordPiece reports it: the first tokens kept, the rest
   * counted; " world" labelled as read, "Ġworld" its vocabulary spelling. */
  AsTokenizer *tok = smollm2->tokenizer;
  AsEncoding *cut = as_tokenizer_encode (tok, "The cat sat on the mat.", NULL, 3);
  g_assert_cmpint (cut->n_tokens, ==, 3);
  g_assert_true (cut->truncated);
  g_assert_cmpint (cut->n_dropped, ==, 4);
  g_assert_cmpstr (cut->tokens[1].text, ==, " cat");
  as_encoding_free (cut);
  int world = as_tokenizer_token_to_id (tok, "\xc4\xa0world");
  g_assert_cmpint (world, ==, 905);
  g_assert_cmpstr (as_tokenizer_id_to_token (tok, world), ==, "\xc4\xa0world");
  g_assert_false (as_tokenizer_takes_pairs (tok));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/llama/arch", test_arch);
  g_test_add_func ("/llama/config/json", test_config_json);
  g_test_add_func ("/llama/random/causal", test_random_causal);
  g_test_add_func ("/llama/tiny/goldens", test_tiny_goldens);
  g_test_add_func ("/llama/gguf/refusals", test_gguf_refusals);
  g_test_add_func ("/llama/folder/goldens", test_folder_goldens);
  g_test_add_func ("/llama/folder/refusals", test_folder_refusals);
  g_test_add_func ("/llama/folder/tied", test_folder_tied);
  g_test_add_func ("/llama/smollm2/config", test_smollm2_config);
  g_test_add_func ("/llama/smollm2/goldens", test_smollm2_goldens);
  g_test_add_func ("/llama/smollm2/text", test_smollm2_text);
  int rc = g_test_run ();
  as_model_free (smollm2);
  g_free (smollm2_skip);
  return rc;
}
