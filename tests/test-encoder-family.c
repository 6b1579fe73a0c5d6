/* test-encoder-family.c — RoBERTa and DistilBERT, the BERT-family encoders
 * that share BERT's weights struct and backends (as-bert.h).
 *
 * Against transformers, on the tiny seeded folders tests/data/roberta-tiny
 * and tests/data/distilbert-tiny (written with their goldens by
 * tools/make-tiny-encoders.py): each folder loads through as_model_load;
 * the tokenizer gives transformers' ids, type ids and spans for a sentence
 * and a pair; the reference and the fast CPU backends give every layer's
 * attention within ATTN_TOL and every layer's output within HIDDEN_TOL.
 * RoBERTa's positions start after its padding id, so it takes
 * max_position_embeddings - pad_token_id - 1 tokens: that many match
 * transformers, one more is refused. The GPU plugin's description (on the
 * CUDA emulator, where it is built) matches the CPU for both, DistilBERT's
 * absent type table included.
 * Damaged copies (activation relu, a missing q_lin or key bias, a padding
 * id that leaves no position or is not a token, a RobertaProcessing with a
 * bad sep id) are refused with a message. Random weights in both families'
 * shapes give the same on both CPU backends.
 */
#define _GNU_SOURCE   /* memmem */
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "as-backend.h"
#include "as-bert.h"
#include "as-gpu-loader.h"
#include "as-model.h"
#include "as-reference.h"
#include "as-tokenizer.h"
#include "encoder-test-util.h"

#define ATTN_TOL    2e-5
#define HIDDEN_TOL  1e-4
/* The emulated GPU sums as the CPU's fast path does, not bit for bit. */
#define GPU_TOL     1e-5

typedef struct {
  const char *folder;        /* under $AS_TEST_DATA */
  const char *arch;          /* its architecture's name */
  AsModel    *model;
  JsonParser *cases_parser;  /* goldens/cases.json */
  JsonArray  *cases;
} Family;

static Family families[] = {
  { "roberta-tiny", "roberta" },
  { "distilbert-tiny", "distilbert" },
};

typedef struct {
  Family     *family;
  const char *name;          /* "single", "pair", "max" */
} Case;

/* --- fixtures ------------------------------------------------------------- */

static char *
family_path (const Family *f,
             const char   *file)
{
  return g_build_filename (g_getenv ("AS_TEST_DATA"), f->folder, file, NULL);
}

static JsonObject *
find_case (const Family *f,
           const char   *name)
{
  for (guint i = 0; i < json_array_get_length (f->cases); i++)
    {
      JsonObject *c = json_array_get_object_element (f->cases, i);
      if (g_strcmp0 (json_object_get_string_member (c, "name"), name) == 0)
        return c;
    }
  g_error ("%s: no golden case '%s'", f->folder, name);
}

/* MEMBER of C as ints; *N gets the count. g_free. */
static int *
case_ints (JsonObject *c,
           const char *member,
           int        *n)
{
  JsonArray *a = json_object_get_array_member (c, member);
  *n = json_array_get_length (a);
  int *v = g_new (int, *n);
  for (int i = 0; i < *n; i++)
    v[i] = json_array_get_int_element (a, i);
  return v;
}

/* goldens/FILE of F, which must hold COUNT floats. g_free. */
static float *
golden_f32 (const Family *f,
            const char   *file,
            gsize         count)
{
  g_autofree char *rel = g_build_filename ("goldens", file, NULL);
  g_autofree char *path = family_path (f, rel);
  g_autoptr(GError) error = NULL;
  char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (len, ==, count * sizeof (float));
  return (float *) data;
}

typedef struct {
  const AsConfig *config;
  int             n;
  int             next;     /* layers seen */
  float          *attn;     /* [L, NH, n, n] */
  float          *hidden;   /* [L, n, H] */
} Capture;

static gboolean
capture_layer (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  Capture *cap = user_data;
  const gsize per_attn = (gsize) cap->config->n_heads * cap->n * cap->n;
  const gsize per_hidden = (gsize) cap->n * cap->config->hidden;
  g_assert_cmpint (layer, ==, cap->next);
  g_assert_nonnull (hidden);
  memcpy (cap->attn + layer * per_attn, attn, sizeof (float) * per_attn);
  memcpy (cap->hidden + layer * per_hidden, hidden, sizeof (float) * per_hidden);
  cap->next++;
  return TRUE;
}

/* Every layer's attention [L, NH, n, n] and output [L, n, H] of BACKEND
 * on IDS / TYPES (g_free both); fails the test on an error. */
static void
run_all (AsBackend  *backend,
         const int  *ids,
         const int  *types,
         int         n,
         float     **attn,
         float     **hidden)
{
  const AsConfig *c = backend->model->config;
  Capture cap = { .config = c, .n = n };
  cap.attn = g_new (float, (gsize) c->n_layers * c->n_heads * n * n);
  cap.hidden = g_new (float, (gsize) c->n_layers * n * c->hidden);
  AsForwardRequest req = {
    .ids = ids, .type_ids = types, .n = n, .want_hidden = TRUE,
    .on_layer = capture_layer, .user_data = &cap,
  };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (backend, &req, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cap.next, ==, c->n_layers);
  *attn = cap.attn;
  *hidden = cap.hidden;
}

/* --- loading -------------------------------------------------------------- */

static void
test_load (gconstpointer data)
{
  const Family *f = data;
  const AsModel *m = f->model;
  g_assert_cmpstr (m->arch->name, ==, f->arch);
  g_assert_true (as_arch_is_bert_family (m->arch));
  g_assert_false (m->arch->causal);
  g_assert_cmpint (m->config->n_layers, ==, 2);
  g_assert_cmpint (m->config->n_heads, ==, 4);
  g_assert_cmpint (m->config->hidden, ==, 32);
  const AsBertWeights *w = as_bert_weights (m);
  int rows = 0, cols = 0;
  const float *table = m->arch->position_table (m, &rows, &cols);
  g_assert_cmpint (cols, ==, 32);
  g_assert_cmpint (rows, ==, m->config->max_positions);
  g_assert_true (table == w->pos_emb);
  if (m->arch == &as_arch_roberta)
    {
      /* max_position_embeddings 64, pad_token_id 1: positions 2 .. 63. */
      g_assert_cmpint (m->config->position_offset, ==, 2);
      g_assert_cmpint (m->config->max_positions, ==, 62);
      g_assert_cmpint (m->config->type_vocab_size, ==, 1);
      g_assert_true (m->arch->uses_token_types);
      g_assert_nonnull (w->type_emb);
      g_assert_nonnull (m->arch->gpu_describe);
    }
  else
    {
      g_assert_cmpint (m->config->position_offset, ==, 0);
      g_assert_cmpint (m->config->max_positions, ==, 64);
      g_assert_false (m->arch->uses_token_types);
      g_assert_null (w->type_emb);
      g_assert_nonnull (m->arch->gpu_describe);
    }
}

/* --- the tokenizer -------------------------------------------------------- */

static void
test_ids (gconstpointer data)
{
  const Case *k = data;
  const Family *f = k->family;
  JsonObject *c = find_case (f, k->name);
  int n = 0, n_types = 0;
  g_autofree int *ids = case_ints (c, "ids", &n);
  g_autofree int *types = case_ints (c, "type_ids", &n_types);
  const char *b = json_object_get_null_member (c, "text_b")
                  ? NULL : json_object_get_string_member (c, "text_b");
  AsEncoding *enc = as_tokenizer_encode (f->model->tokenizer,
                                         json_object_get_string_member (c, "text_a"), b,
                                         f->model->config->max_positions);
  g_assert_false (enc->truncated);
  g_assert_cmpint (enc->n_tokens, ==, n);
  /* Spans within each token's own text (the cases are ASCII, so bytes are
   * characters); transformers gives special tokens [0, 0]. */
  JsonArray *offsets = json_object_get_array_member (c, "offsets");
  for (int i = 0; i < n; i++)
    {
      g_assert_cmpint (enc->tokens[i].id, ==, ids[i]);
      g_assert_cmpint (enc->tokens[i].type_id, ==, types[i]);
      JsonArray *span = json_array_get_array_element (offsets, i);
      g_assert_cmpint (enc->tokens[i].sequence < 0, ==, enc->tokens[i].is_special);
      if (enc->tokens[i].sequence < 0)
        continue;
      g_assert_cmpint (enc->tokens[i].start, ==, json_array_get_int_element (span, 0));
      g_assert_cmpint (enc->tokens[i].end, ==, json_array_get_int_element (span, 1));
    }
  as_encoding_free (enc);
}

/* --- the forward against transformers -------------------------------------- */

static void
check_backend (const Case *k,
               AsBackend  *backend)
{
  const Family *f = k->family;
  const AsConfig *cf = f->model->config;
  JsonObject *c = find_case (f, k->name);
  int n = 0, n_types = 0;
  g_autofree int *ids = case_ints (c, "ids", &n);
  g_autofree int *types = case_ints (c, "type_ids", &n_types);
  g_autofree float *attn = NULL, *hidden = NULL;
  run_all (backend, ids, types, n, &attn, &hidden);

  g_autofree char *hidden_file = g_strdup_printf ("%s-hidden.f32", k->name);
  const gsize n_hidden = (gsize) cf->n_layers * n * cf->hidden;
  g_autofree float *want_hidden = golden_f32 (f, hidden_file, n_hidden);
  double hidden_diff = max_abs_diff (hidden, want_hidden, n_hidden);
  double attn_diff = -1;   /* -1: the case has no attention golden */
  if (json_object_get_boolean_member (c, "attention"))
    {
      g_autofree char *attn_file = g_strdup_printf ("%s-attn.f32", k->name);
      const gsize n_attn = (gsize) cf->n_layers * cf->n_heads * n * n;
      g_autofree float *want_attn = golden_f32 (f, attn_file, n_attn);
      attn_diff = max_abs_diff (attn, want_attn, n_attn);
    }
  g_test_message ("%s %s on %s (%d tokens): attention %.3g, hidden %.3g",
                  f->folder, k->name, backend->vtable->name, n, attn_diff, hidden_diff);
  g_assert_cmpfloat (attn_diff, <=, ATTN_TOL);
  g_assert_cmpfloat (hidden_diff, <=, HIDDEN_TOL);
}

static void
test_reference (gconstpointer data)
{
  const Case *k = data;
  AsBackend *b = as_reference_backend_new (k->family->model);
  check_backend (k, b);
  as_backend_free (b);
}

static void
test_cpu (gconstpointer data)
{
  const Case *k = data;
  AsBackend *b = as_cpu_backend_new (k->family->model);
  check_backend (k, b);
  as_backend_free (b);
}

/* One token past what the position table allows is refused, by every
 * backend, with the limit in the message. */
static void
test_roberta_too_long (void)
{
  const AsModel *m = families[0].model;
  const int n = m->config->max_positions + 1;
  g_autofree int *ids = g_new (int, n);
  g_autofree int *types = g_new0 (int, n);
  for (int i = 0; i < n; i++)
    ids[i] = 5 + i;
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
  AsBackend *backends[] = { as_reference_backend_new (m), as_cpu_backend_new (m) };
  for (guint i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (as_backend_forward (backends[i], &req, NULL, &error));
      g_assert_nonnull (error);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "1 to 62"));
      as_backend_free (backends[i]);
    }

  /* The tokenizer cuts a long text to the same limit. */
  GString *text = g_string_new (NULL);
  for (int i = 0; i < 100; i++)
    g_string_append (text, "the cat sat on the mat. ");
  AsEncoding *enc = as_tokenizer_encode (m->tokenizer, text->str, NULL, m->config->max_positions);
  g_assert_true (enc->truncated);
  g_assert_cmpint (enc->n_tokens, ==, 62);
  as_encoding_free (enc);
  g_string_free (text, TRUE);
}

/* --- the GPU plugin (emulated) --------------------------------------------- */

/* The plugin's description against the CPU on every case. DistilBERT's
 * type ids are left NULL: nothing may read them. */
static void
test_gpu (gconstpointer data)
{
  const Family *f = data;
  const AsModel *m = f->model;
  g_autoptr(GError) error = NULL;
  AsBackend *gpu = as_gpu_backend_new (m, NULL, &error);
  if (gpu == NULL)
    {
      g_test_skip_printf ("no emulated GPU: %s", error->message);
      return;
    }
  AsBackend *cpu = as_cpu_backend_new (m);
  for (guint i = 0; i < json_array_get_length (f->cases); i++)
    {
      JsonObject *c = json_array_get_object_element (f->cases, i);
      const char *name = json_object_get_string_member (c, "name");
      int n = 0, n_types = 0;
      g_autofree int *ids = case_ints (c, "ids", &n);
      g_autofree int *types = case_ints (c, "type_ids", &n_types);
      const int *req_types = m->arch->uses_token_types ? types : NULL;
      g_autofree float *ga = NULL, *gh = NULL, *ca = NULL, *ch = NULL;
      run_all (gpu, ids, req_types, n, &ga, &gh);
      run_all (cpu, ids, req_types, n, &ca, &ch);
      const AsConfig *cf = m->config;
      double attn_diff = max_abs_diff (ga, ca, (gsize) cf->n_layers * cf->n_heads * n * n);
      double hidden_diff = max_abs_diff (gh, ch, (gsize) cf->n_layers * n * cf->hidden);
      g_test_message ("%s %s, emulated GPU vs CPU: attention %.3g, hidden %.3g",
                      f->arch, name, attn_diff, hidden_diff);
      g_assert_cmpfloat (attn_diff, <=, GPU_TOL);
      g_assert_cmpfloat (hidden_diff, <=, GPU_TOL);
    }
  g_assert_true (as_backend_is_gpu (gpu));   /* it never switched to the CPU */
  as_backend_free (cpu);
  as_backend_free (gpu);
}

/* --- hostile copies -------------------------------------------------------- */

/* A copy of F's folder in a fresh temporary directory, with FILE's first
 * occurrence of FROM replaced by TO (of the same length in a safetensors
 * header, whose size is stored before it); loading it must fail with WANT
 * in the message. */
static void
check_damaged (const Family *f,
               const char   *file,
               const char   *from,
               const char   *to,
               const char   *want)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("attnscope-family-XXXXXX", &error);
  g_assert_no_error (error);
  const char *files[] = { "config.json", "model.safetensors", "tokenizer.json",
                          "tokenizer_config.json", "vocab.txt" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *src = family_path (f, files[i]);
      if (!g_file_test (src, G_FILE_TEST_EXISTS))
        continue;
      char *data = NULL;
      gsize len = 0;
      g_assert_true (g_file_get_contents (src, &data, &len, &error));
      if (strcmp (files[i], file) == 0)
        {
          const char *at = memmem (data, len, from, strlen (from));
          g_assert_nonnull (at);
          GString *s = g_string_new_len (data, at - data);
          g_string_append (s, to);
          g_string_append_len (s, at + strlen (from), len - (at - data) - strlen (from));
          g_free (data);
          len = s->len;
          data = g_string_free (s, FALSE);
        }
      g_autofree char *dst = g_build_filename (dir, files[i], NULL);
      g_assert_true (g_file_set_contents (dst, data, len, &error));
      g_free (data);
    }
  AsModel *m = as_model_load (dir, &error);
  g_assert_null (m);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, want));
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *dst = g_build_filename (dir, files[i], NULL);
      g_unlink (dst);
    }
  g_rmdir (dir);
}

static void
test_hostile (void)
{
  check_damaged (&families[1], "config.json", "\"activation\": \"gelu\"",
                 "\"activation\": \"relu\"", "activation 'relu' is not supported");
  check_damaged (&families[1], "model.safetensors", "transformer.layer.1.attention.q_lin.weight",
                 "transformer.layer.1.attention.q_lxn.weight",
                 "transformer.layer.1.attention.q_lin.weight");
  check_damaged (&families[0], "config.json", "\"pad_token_id\": 1,",
                 "\"pad_token_id\": 63,", "pad_token_id 63 leaves no position");
  check_damaged (&families[0], "config.json", "\"pad_token_id\": 1,",
                 "\"pad_token_id\": 400,", "pad_token_id 400 is not a token");
  check_damaged (&families[0], "config.json", "\"pad_token_id\": 1,",
                 "\"pad_token_id\": -1,", "pad_token_id");
  check_damaged (&families[0], "tokenizer.json", "\"sep\": [\n      \"</s>\",\n      2\n",
                 "\"sep\": [\n      \"</s>\",\n      -2\n",
                 "post_processor (RobertaProcessing) needs \"sep\" and \"cls\" as [token, id]");
  check_damaged (&families[0], "model.safetensors", "encoder.layer.0.attention.self.key.bias",
                 "encoder.layer.0.attention.self.kex.bias",
                 "encoder.layer.0.attention.self.key.bias");
}

/* Random weights in each family's shapes (RoBERTa's offset table,
 * DistilBERT's absent type table) at the longest input: the fast CPU
 * backend agrees with the reference. */
static void
test_random_presets (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      const AsModel *src = families[i].model;
      AsModel *m = g_new0 (AsModel, 1);
      m->dir = g_strdup ("random");
      m->name = g_strdup ("random");
      m->owned = g_ptr_array_new_with_free_func (g_free);
      m->config = g_memdup2 (src->config, sizeof (AsConfig));
      m->config->model_type = g_strdup (src->config->model_type);
      m->arch = src->arch;
      m->arch->init_random (m, 7);
      g_assert_true (m->arch == src->arch);
      g_assert_true ((as_bert_weights (m)->type_emb == NULL) == (src->config->type_vocab_size == 0));
      const int n = m->config->max_positions;
      g_autofree int *ids = g_new (int, n);
      g_autofree int *types = g_new0 (int, n);
      for (int t = 0; t < n; t++)
        ids[t] = (t * 7) % m->config->vocab_size;
      AsBackend *ref = as_reference_backend_new (m), *cpu = as_cpu_backend_new (m);
      g_autofree float *ra = NULL, *rh = NULL, *ca = NULL, *ch = NULL;
      run_all (ref, ids, types, n, &ra, &rh);
      run_all (cpu, ids, types, n, &ca, &ch);
      g_assert_cmpfloat (max_abs_diff (ra, ca, (gsize) 2 * 4 * n * n), <=, ATTN_TOL);
      g_assert_cmpfloat (max_abs_diff (rh, ch, (gsize) 2 * n * 32), <=, HIDDEN_TOL);
      as_backend_free (ref);
      as_backend_free (cpu);
      as_model_free (m);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The GPU tests use the CUDA emulator's plugin (gpu/emu/), where it is
   * built; set before any thread starts. */
  g_autofree char *emu = g_build_filename (g_getenv ("AS_TEST_BUILD"), "..", "gpu", "emu", NULL);
  g_setenv ("ATTNSCOPE_PLUGIN_DIR", emu, TRUE);
  g_unsetenv ("ATTNSCOPE_GPU_FORCE_FAIL");
  g_unsetenv ("ATTNSCOPE_REQUIRE_GPU");
  static Case cases[G_N_ELEMENTS (families)][3];
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      Family *f = &families[i];
      g_autoptr(GError) error = NULL;
      g_autofree char *dir = family_path (f, NULL);
      f->model = as_model_load (dir, &error);
      if (f->model == NULL)
        g_error ("%s: %s", dir, error->message);
      g_autofree char *cases_path = family_path (f, "goldens/cases.json");
      f->cases_parser = json_parser_new ();
      if (!json_parser_load_from_file (f->cases_parser, cases_path, &error))
        g_error ("%s: %s", cases_path, error->message);
      f->cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (f->cases_parser)), "cases");

      char path[256];
      g_snprintf (path, sizeof path, "/encoder-family/%s/load", f->arch);
      g_test_add_data_func (path, f, test_load);
      g_snprintf (path, sizeof path, "/encoder-family/%s/gpu-emulated", f->arch);
      g_test_add_data_func (path, f, test_gpu);
      const char *names[] = { "single", "pair", "max" };
      for (guint j = 0; j < G_N_ELEMENTS (names); j++)
        {
          if (f->model->arch != &as_arch_roberta && j == 2)
            continue;
          cases[i][j] = (Case) { f, names[j] };
          if (j < 2)
            {
              g_snprintf (path, sizeof path, "/encoder-family/%s/ids/%s", f->arch, names[j]);
              g_test_add_data_func (path, &cases[i][j], test_ids);
            }
          g_snprintf (path, sizeof path, "/encoder-family/%s/reference/%s", f->arch, names[j]);
          g_test_add_data_func (path, &cases[i][j], test_reference);
          g_snprintf (path, sizeof path, "/encoder-family/%s/cpu/%s", f->arch, names[j]);
          g_test_add_data_func (path, &cases[i][j], test_cpu);
        }
    }
  g_test_add_func ("/encoder-family/roberta/too-long", test_roberta_too_long);
  g_test_add_func ("/encoder-family/hostile", test_hostile);
  g_test_add_func ("/encoder-family/random", test_random_presets);

  int status = g_test_run ();
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      as_model_free (families[i].model);
      g_object_unref (families[i].cases_parser);
    }
  return status;
}
