/* test-gpt2.c — the GPT-2 architecture, its reference forward and a
 * folder's byte-level BPE tokenizer.
 *
 * A tiny seeded GPT2LMHeadModel saved by transformers (tests/data/gpt2-tiny,
 * written by tools/make-tiny-decoders.py) loaded through as_model_load: its
 * config, its tokenizer.json (BPE; <|endoftext|> is BOS and EOS, nothing
 * added), its ids, attention, final hidden state and top-10 logits against
 * transformers' eager fp32 outputs (decoder-test-util.c, by the reference
 * and the fast "cpu" backend); causal attention on the tiny model, whose
 * "cpu" backend (as-cpu-gpt2.c) agrees with the reference; and
 * damaged copies of the folder refused by name. The same weights and
 * tokenizer as llama.cpp's converter writes them to GGUF
 * (gpt2-tiny/gpt2-tiny.gguf, tools/make-gpt2-gguf.py): the same goldens.
 */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-cpu-features.h"
#include "as-elementwise.h"
#include "as-kernels.h"
#include "as-error.h"
#include "as-gpt2.h"
#include "as-model.h"
#include "as-reference.h"
#include "decoder-test-util.h"

static AsModel *
load_tiny (void)
{
  g_autofree char *dir = g_build_filename (g_getenv ("AS_TEST_DATA"), "gpt2-tiny", NULL);
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  return model;
}

/* The facts the layers above read, and the config as GPT2Config has it
 * (n_inner null: 4 n_embd). */
static void
test_arch_and_config (void)
{
  g_assert_true (as_architecture_lookup ("gpt2") == &as_arch_gpt2);
  g_assert_true (as_arch_gpt2.causal);
  g_assert_false (as_arch_gpt2.uses_token_types);
  g_assert_nonnull (as_arch_gpt2.final_norm);
  g_assert_nonnull (as_arch_gpt2.output_embedding);

  AsModel *model = load_tiny ();
  const AsConfig *c = model->config;
  g_assert_cmpint (c->n_layers, ==, 2);
  g_assert_cmpint (c->n_heads, ==, 4);
  g_assert_cmpint (c->n_kv_heads, ==, 4);
  g_assert_cmpint (c->hidden, ==, 32);
  g_assert_cmpint (c->head_dim, ==, 8);
  g_assert_cmpint (c->intermediate, ==, 128);
  g_assert_cmpint (c->max_positions, ==, 64);
  g_assert_cmpfloat (c->layer_norm_eps, ==, 1e-5f);

  /* The position view's table is wpe; the output embedding is wte (tied). */
  const AsGpt2Weights *w = as_gpt2_weights (model);
  int rows = 0, cols = 0;
  g_assert_true (as_model_get_position_table (model, &rows, &cols) == w->wpe);
  g_assert_cmpint (rows, ==, 64);
  g_assert_cmpint (cols, ==, 32);
  g_assert_true (model->arch->output_embedding (model) == w->wte);
  as_model_free (model);
}

/* The folder's tokenizer.json is byte-level BPE: ids round-trip through
 * the vocabulary, labels are readable, no BOS is added, and a pair is
 * refused. */
static void
test_tokenizer (void)
{
  AsModel *model = load_tiny ();
  AsTokenizer *tok = model->tokenizer;
  g_assert_false (as_tokenizer_takes_pairs (tok));
  g_assert_cmpint (as_tokenizer_token_to_id (tok, "<|endoftext|>"), ==, 0);
  g_assert_cmpint (as_tokenizer_get_vocab_size (tok), ==, model->config->vocab_size);

  AsEncoding *enc = as_tokenizer_encode (tok, "The cat sat", NULL, 0);
  g_assert_cmpint (enc->n_tokens, >, 0);
  g_assert_cmpint (enc->tokens[0].sequence, ==, 0);   /* no BOS in front */
  GString *joined = g_string_new (NULL);
  for (int i = 0; i < enc->n_tokens; i++)
    g_string_append (joined, enc->tokens[i].text);
  g_assert_cmpstr (joined->str, ==, "The cat sat");
  g_string_free (joined, TRUE);
  as_encoding_free (enc);

  g_autoptr(GError) error = NULL;
  g_assert_false (as_tokenizer_check_pair (tok, "second", &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  as_model_free (model);
}

static void
test_goldens (void)
{
  decoder_check_goldens ("gpt2-tiny", &as_arch_gpt2);
}

/* The tanh GELU against values of transformers' NewGELUActivation; the
 * fast path's (as_fast_gelu_new) of each kernel level this CPU runs
 * against the tanh form in double on a dense grid, odd lengths included
 * (masked tails), and huge inputs (x^3 overflows) give x and 0. */
static void
test_gelu_new (void)
{
  static const struct { float x, y; } known[] = {
    { 0.0f, 0.0f },
    { 1.0f, 0.8411920071f },
    { -1.0f, -0.1588079929f },
    { 3.0f, 2.9963626862f },
  };
  for (guint i = 0; i < G_N_ELEMENTS (known); i++)
    g_assert_cmpfloat (fabsf (as_gelu_new (known[i].x) - known[i].y), <=, 1e-6f);

  const int n = 40001;   /* x from -20 to 20 by 0.001 */
  g_autofree float *x = g_new (float, n + 2);
  for (int isa = 0; isa < AS_N_ISA; isa++)
    {
      const AsKernels *kern = as_kernels_for (isa);
      if (kern == NULL)
        continue;
      for (int i = 0; i < n; i++)
        x[i] = -20.0f + 0.001f * i;
      x[n] = 1e30f;
      x[n + 1] = -1e30f;
      kern->gelu_new (x, n + 2);
      double worst = 0;
      for (int i = 0; i < n; i++)
        {
          const double v = (float) (-20.0f + 0.001f * i);
          const double want = 0.5 * v * (1.0 + tanh (0.7978845608028654 * (v + 0.044715 * v * v * v)));
          worst = MAX (worst, fabs (x[i] - want) / MAX (1.0, fabs (want)));
        }
      g_test_message ("%s gelu_new: %.3g from the double tanh form (relative above 1)",
                      as_cpu_isa_name (isa), worst);
      g_assert_cmpfloat (worst, <=, 1e-6);
      g_assert_cmpfloat (x[n], ==, 1e30f);
      g_assert_cmpfloat (x[n + 1], ==, 0.0f);
    }
}

/* Every layer's attention is causal (upper triangle 0, rows summing to 1),
 * and the fast "cpu" backend (as-cpu-gpt2.c) gives the reference's numbers
 * within the attention bound (tests/test-decode.c checks it further). */
static void
test_causal_and_cpu (void)
{
  AsModel *model = load_tiny ();
  const AsConfig *c = model->config;
  const int n = 12;
  int ids[12], types[12] = { 0 };
  for (int i = 0; i < n; i++)
    ids[i] = (i * 37 + 5) % c->vocab_size;
  g_autoptr(GError) error = NULL;
  AsBackend *ref = as_reference_backend_new (model);
  AsBackend *cpu = as_cpu_backend_new (model);
  g_assert_cmpstr (as_backend_get_name (cpu), ==, "cpu");
  g_autofree char *desc = as_backend_describe (cpu);
  g_assert_nonnull (strstr (desc, "GPT-2: packed fp32 GEMM"));
  AsAnalysis *a = as_attention_compute_ids (ref, ids, types, n, &error);
  g_assert_no_error (error);
  AsAnalysis *b = as_attention_compute_ids (cpu, ids, types, n, &error);
  g_assert_no_error (error);
  for (int l = 0; l < c->n_layers; l++)
    for (int h = 0; h < c->n_heads; h++)
      for (int i = 0; i < n; i++)
        {
          const float *row = a->attn + (((gsize) l * c->n_heads + h) * n + i) * n;   /* [n] */
          double sum = 0;
          for (int j = 0; j < n; j++)
            {
              if (j > i)
                g_assert_cmpfloat (row[j], ==, 0.0f);
              sum += row[j];
            }
          g_assert_cmpfloat (fabs (sum - 1.0), <=, 1e-5);
        }
  const gsize count = (gsize) c->n_layers * c->n_heads * n * n;
  double worst = 0;
  for (gsize e = 0; e < count; e++)
    worst = MAX (worst, fabs ((double) a->attn[e] - b->attn[e]));
  g_test_message ("cpu vs reference: attention %.3g", worst);
  g_assert_cmpfloat (worst, <=, 2e-5);
  as_analysis_unref (a);
  as_analysis_unref (b);
  as_backend_free (ref);
  as_backend_free (cpu);
  as_model_free (model);
}

/* --- the same model as GGUF ------------------------------------------------ */

static char *
gguf_path (void)
{
  return g_build_filename (g_getenv ("AS_TEST_DATA"), "gpt2-tiny", "gpt2-tiny.gguf", NULL);
}

/* The folder's goldens hold for the GGUF file: its metadata gives the
 * folder's config, its tensors the folder's weights (the Conv1D ones
 * turned back from nn.Linear's layout bit for bit), its tokenizer the
 * goldens' ids. */
static void
test_gguf_goldens (void)
{
  decoder_check_goldens_of ("gpt2-tiny", "gpt2-tiny.gguf", &as_arch_gpt2);

  g_autofree char *path = gguf_path ();
  g_autoptr(GError) error = NULL;
  AsModel *gg = as_model_load (path, &error);
  g_assert_no_error (error);
  AsModel *st = load_tiny ();
  const AsConfig *a = gg->config, *b = st->config;
  g_assert_true (gg->arch == &as_arch_gpt2);
  g_assert_cmpint (a->n_layers, ==, b->n_layers);
  g_assert_cmpint (a->n_heads, ==, b->n_heads);
  g_assert_cmpint (a->hidden, ==, b->hidden);
  g_assert_cmpint (a->intermediate, ==, b->intermediate);
  g_assert_cmpint (a->max_positions, ==, b->max_positions);
  g_assert_cmpint (a->vocab_size, ==, b->vocab_size);
  g_assert_cmpfloat (a->layer_norm_eps, ==, b->layer_norm_eps);
  const gsize H = a->hidden, F = a->intermediate;
  for (int l = 0; l < a->n_layers; l++)
    {
      const AsGpt2LayerWeights *x = &as_gpt2_weights (gg)->layers[l];
      const AsGpt2LayerWeights *y = &as_gpt2_weights (st)->layers[l];
      g_assert_cmpmem (x->qkv_w, H * 3 * H * sizeof (float), y->qkv_w, H * 3 * H * sizeof (float));
      g_assert_cmpmem (x->proj_w, H * H * sizeof (float), y->proj_w, H * H * sizeof (float));
      g_assert_cmpmem (x->fc_w, H * F * sizeof (float), y->fc_w, H * F * sizeof (float));
      g_assert_cmpmem (x->fc_proj_w, F * H * sizeof (float), y->fc_proj_w, F * H * sizeof (float));
    }
  as_model_free (st);
  as_model_free (gg);
}

/* A copy of the GGUF file with FIND (the same length as REPLACE) replaced
 * in its bytes: refused with MESSAGE. */
static void
assert_gguf_refused (const char *find,
                     const char *replace,
                     const char *message)
{
  g_autofree char *path = gguf_path ();
  g_autofree char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  g_assert_cmpuint (strlen (find), ==, strlen (replace));
  char *at = NULL;
  for (gsize i = 0; at == NULL && i + strlen (find) <= len; i++)
    if (memcmp (data + i, find, strlen (find)) == 0)
      at = data + i;
  g_assert_nonnull (at);
  memcpy (at, replace, strlen (replace));
  g_autofree char *dir = g_dir_make_tmp ("as-gpt2-gguf-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *copy = g_build_filename (dir, "damaged.gguf", NULL);
  g_assert_true (g_file_set_contents (copy, data, len, &error));
  g_assert_null (as_model_load (copy, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, message));
  g_remove (copy);
  g_rmdir (dir);
}

static void
test_gguf_refusals (void)
{
  assert_gguf_refused ("blk.1.ffn_up.weight", "blk.1.ffn_uX.weight",
                       "tensor 'blk.1.ffn_up.weight' is missing");
  assert_gguf_refused ("gpt2.attention.head_count", "gpt2.attention.head_coun_",
                       "metadata key 'gpt2.attention.head_count' is missing");
  assert_gguf_refused ("position_embd.weight", "position_embX.weight",
                       "tensor 'position_embd.weight' is missing");
}

/* Damaged copies of the folder: refused by name, never run. */
static void
test_refusals (void)
{
  static const struct {
    const char *file, *find, *replace, *message;
  } bad[] = {
    { "config.json", "\"gelu_new\"", "\"relu\"",
      "activation_function 'relu' is not supported" },
    { "config.json", "\"scale_attn_weights\": true", "\"scale_attn_weights\": false",
      "scale_attn_weights = false is not supported" },
    /* Same length, so the data offsets stay right: one name is gone. */
    { "model.safetensors", "\"transformer.h.1.mlp.c_fc.weight\"", "\"transformer.h.1.mlp.c_fX.weight\"",
      "tensor 'transformer.h.1.mlp.c_fc.weight' is missing" },
    /* c_attn stored as nn.Linear would store it, [3H, H]. */
    { "model.safetensors", "\"transformer.h.0.attn.c_attn.weight\":{\"dtype\":\"F32\",\"shape\":[32,96]",
      "\"transformer.h.0.attn.c_attn.weight\":{\"dtype\":\"F32\",\"shape\":[96,32]",
      "tensor 'transformer.h.0.attn.c_attn.weight' has shape [96, 32], expected [32, 96]" },
    { "config.json", "\"n_layer\": 2", "\"n_layer\": 1",
      "holds a layer 1 but config.json says n_layer = 1" },
    /* A BPE the tokenizer does not reproduce, named with its file. */
    { "tokenizer.json", "\"add_prefix_space\": false", "\"add_prefix_space\": true ",
      "/tokenizer.json: pre_tokenizer ByteLevel with add_prefix_space is not supported" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *dir = decoder_damaged_copy ("gpt2-tiny", bad[i].file, bad[i].find,
                                                   bad[i].replace);
      decoder_assert_refused (dir, bad[i].message);
      decoder_remove_copy (dir);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gpt2/arch-config", test_arch_and_config);
  g_test_add_func ("/gpt2/tokenizer", test_tokenizer);
  g_test_add_func ("/gpt2/gelu-new", test_gelu_new);
  g_test_add_func ("/gpt2/goldens", test_goldens);
  g_test_add_func ("/gpt2/gguf/goldens", test_gguf_goldens);
  g_test_add_func ("/gpt2/gguf/refusals", test_gguf_refusals);
  g_test_add_func ("/gpt2/causal-cpu", test_causal_and_cpu);
  g_test_add_func ("/gpt2/refusals", test_refusals);
  return g_test_run ();
}
