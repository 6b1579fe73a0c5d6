/* test-architecture.c — the architecture seam (model/as-architecture.h).
 *
 * The registry maps config.json's model_type to an architecture and refuses
 * any other one by name, listing what is supported; every registered
 * architecture provides what the loader and the backend constructors call;
 * BERT's facts are the ones the worker and the views rely on; and a model
 * reaches its backends, its position table and its weights' release only
 * through its architecture (checked with an architecture defined here).
 */
#include <glib/gstdio.h>
#include <string.h>

#include "as-architecture.h"
#include "as-backend.h"
#include "as-bert.h"
#include "as-config.h"
#include "as-error.h"
#include "as-model.h"
#include "as-reference.h"

static const char *unsupported_config =
  "{\"model_type\": \"gpt_neox\", \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
  " \"hidden_size\": 64, \"intermediate_size\": 128, \"vocab_size\": 100,"
  " \"max_position_embeddings\": 64}";

static void
test_lookup_bert (void)
{
  const AsArchitecture *arch = as_architecture_lookup ("bert");
  g_assert_true (arch == &as_arch_bert);
  g_assert_cmpstr (arch->name, ==, "bert");
  /* The worker sends token types and the views draw full (not triangular)
   * matrices for BERT. */
  g_assert_false (arch->causal);
  g_assert_true (arch->uses_token_types);
  g_assert_nonnull (arch->gpu_describe);
  g_assert_nonnull (arch->position_table);
}

static void
test_lookup_unknown (void)
{
  g_assert_null (as_architecture_lookup ("gpt_neox"));
  g_assert_null (as_architecture_lookup ("BERT"));
  g_assert_null (as_architecture_lookup (""));
  g_assert_null (as_architecture_lookup (NULL));
}

/* Whatever is added to the registry must provide every required function,
 * name at least one model_type, and not shadow another's model_type. */
static void
test_registry_complete (void)
{
  const AsArchitecture *const *all = as_architecture_get_all ();
  g_assert_nonnull (all[0]);
  for (guint i = 0; all[i] != NULL; i++)
    {
      const AsArchitecture *a = all[i];
      g_test_message ("architecture %s", a->name);
      g_assert_nonnull (a->name);
      g_assert_nonnull (a->model_types);
      g_assert_nonnull (a->model_types[0]);
      g_assert_nonnull (a->read_config);
      g_assert_nonnull (a->bind_weights);
      g_assert_nonnull (a->init_random);
      g_assert_nonnull (a->free_weights);
      g_assert_nonnull (a->cpu_backend_new);
      g_assert_nonnull (a->reference_backend_new);
      for (guint j = 0; a->model_types[j] != NULL; j++)
        g_assert_true (as_architecture_lookup (a->model_types[j]) == a);
    }
  g_autofree char *supported = as_architecture_list_supported ();
  g_assert_nonnull (strstr (supported, "bert"));
}

/* The message names the model_type and every supported one. */
static void
assert_refused_unsupported (const GError *error)
{
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  g_autofree char *supported = as_architecture_list_supported ();
  g_autofree char *tail = g_strdup_printf ("(supported: %s)", supported);
  g_assert_nonnull (strstr (error->message, "model_type 'gpt_neox' is not supported"));
  g_assert_nonnull (strstr (error->message, tail));
}

static void
test_config_unsupported (void)
{
  g_autoptr(GError) error = NULL;
  AsConfig *c = as_config_parse (unsupported_config, strlen (unsupported_config), "config.json", &error);
  g_assert_null (c);
  assert_refused_unsupported (error);
}

static void
test_load_unsupported (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("attnscope-arch-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  g_assert_true (g_file_set_contents (path, unsupported_config, -1, &error));

  AsModel *model = as_model_load (dir, &error);
  g_assert_null (model);
  assert_refused_unsupported (error);
  g_assert_nonnull (strstr (error->message, path));
  g_unlink (path);
  g_rmdir (dir);
}

/* A preset's model and a loaded one are both BERT, and the generic
 * constructors hand out BERT's backends. */
static void
check_bert_model (const AsModel *model)
{
  g_assert_true (model->arch == &as_arch_bert);
  g_assert_true (model->config->arch == model->arch);
  g_assert_nonnull (model->weights);

  AsBackend *cpu = as_cpu_backend_new (model);
  AsBackend *reference = as_reference_backend_new (model);
  g_assert_cmpstr (as_backend_get_name (cpu), ==, "cpu");
  g_assert_cmpstr (as_backend_get_name (reference), ==, "reference");
  as_backend_free (cpu);
  as_backend_free (reference);

  int rows, cols;
  const float *table = as_model_get_position_table (model, &rows, &cols);
  g_assert_true (table == as_bert_weights (model)->pos_emb);
  g_assert_cmpint (rows, ==, model->config->max_positions);
  g_assert_cmpint (cols, ==, model->config->hidden);
}

static void
test_random_is_bert (void)
{
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_new_random ("minilm-l6", 3, &error);
  g_assert_no_error (error);
  check_bert_model (model);
  as_model_free (model);
}

/* Every backend refuses a layer the model does not have, with one message:
 * the range is checked once, where layer_qkv is dispatched. */
static void
test_layer_out_of_range (void)
{
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_new_random ("minilm-l6", 3, &error);
  g_assert_no_error (error);
  const int ids[3] = { 101, 2000, 102 }, types[3] = { 0 };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = 3 };
  const gsize nH = (gsize) 3 * model->config->hidden;
  g_autofree float *q = g_new (float, nH), *k = g_new (float, nH), *v = g_new (float, nH);
  AsBackend *backends[2] = { as_cpu_backend_new (model), as_reference_backend_new (model) };
  for (int i = 0; i < 2; i++)
    {
      const int bad[2] = { -1, model->config->n_layers };
      for (int j = 0; j < 2; j++)
        {
          g_assert_false (as_backend_layer_qkv (backends[i], &req, bad[j], q, k, v, &error));
          g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
          g_autofree char *want = g_strdup_printf ("layer %d out of range (model has %d)",
                                                   bad[j], model->config->n_layers);
          g_assert_cmpstr (error->message, ==, want);
          g_clear_error (&error);
        }
      g_assert_true (as_backend_layer_qkv (backends[i], &req, model->config->n_layers - 1, q, k, v, &error));
      g_assert_no_error (error);
      as_backend_free (backends[i]);
    }
  as_model_free (model);
}

static void
test_load_is_bert (void)
{
  g_autofree char *dir = as_model_default_dir ();
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  check_bert_model (model);
  as_model_free (model);
}

/* --- an architecture of the test's own ------------------------------------ */

typedef struct {
  int backends_made;
  int weights_freed;
} FakeCounts;

static FakeCounts fake_counts;

static gboolean
fake_forward (AsBackend              *backend,
              const AsForwardRequest *request,
              float                  *final_hidden,
              GError                **error)
{
  g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED, "fake");
  return FALSE;
}

static char *
fake_describe (AsBackend *backend)
{
  return g_strdup ("fake");
}

static void
fake_backend_free (AsBackend *backend)
{
  g_free (backend);
}

static const AsBackendVTable fake_vtable = {
  .name = "fake",
  .forward = fake_forward,
  .describe = fake_describe,
  .free = fake_backend_free,
};

static AsBackend *
fake_backend_new (const AsModel *model)
{
  AsBackend *b = g_new0 (AsBackend, 1);
  b->vtable = &fake_vtable;
  b->model = model;
  fake_counts.backends_made++;
  return b;
}

static void
fake_free_weights (gpointer weights)
{
  g_free (weights);
  fake_counts.weights_freed++;
}

static const char *const fake_types[] = { "fake", NULL };

/* Only what the calls below reach; no position table (like rotary). */
static const AsArchitecture fake_arch = {
  .name = "fake",
  .model_types = fake_types,
  .causal = TRUE,
  .uses_token_types = FALSE,
  .free_weights = fake_free_weights,
  .cpu_backend_new = fake_backend_new,
  .reference_backend_new = fake_backend_new,
};

static void
test_dispatch_through_arch (void)
{
  AsModel *model = g_new0 (AsModel, 1);
  model->dir = g_strdup ("fake");
  model->name = g_strdup ("fake");
  model->owned = g_ptr_array_new_with_free_func (g_free);
  model->arch = &fake_arch;
  model->weights = g_new0 (int, 4);
  model->config = g_new0 (AsConfig, 1);
  *model->config = (AsConfig) { .arch = &fake_arch, .vocab_size = 10, .max_positions = 8 };
  fake_counts = (FakeCounts) { 0, 0 };

  AsBackend *cpu = as_cpu_backend_new (model);
  AsBackend *reference = as_reference_backend_new (model);
  g_assert_cmpint (fake_counts.backends_made, ==, 2);
  g_assert_cmpstr (as_backend_get_name (cpu), ==, "fake");
  g_assert_true (cpu->model == model);
  as_backend_free (cpu);
  as_backend_free (reference);

  /* Without token types a request needs no type ids, and ids are still
   * checked against the vocabulary. */
  g_autoptr(GError) error = NULL;
  const int ids[2] = { 3, 9 }, bad_ids[2] = { 3, 10 };
  AsForwardRequest req = { .ids = ids, .n = 2 };
  g_assert_true (as_backend_check_request (model, &req, &error));
  g_assert_no_error (error);
  req.ids = bad_ids;
  g_assert_false (as_backend_check_request (model, &req, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_assert_cmpstr (error->message, ==, "token 1: id 10 out of range (vocab 10)");

  int rows = -1, cols = -1;
  g_assert_null (as_model_get_position_table (model, &rows, &cols));
  g_assert_cmpint (rows, ==, 0);
  g_assert_cmpint (cols, ==, 0);

  as_model_free (model);
  g_assert_cmpint (fake_counts.weights_freed, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/architecture/lookup/bert", test_lookup_bert);
  g_test_add_func ("/architecture/lookup/unknown", test_lookup_unknown);
  g_test_add_func ("/architecture/registry/complete", test_registry_complete);
  g_test_add_func ("/architecture/refused/config", test_config_unsupported);
  g_test_add_func ("/architecture/refused/load", test_load_unsupported);
  g_test_add_func ("/architecture/bert/random", test_random_is_bert);
  g_test_add_func ("/architecture/bert/load", test_load_is_bert);
  g_test_add_func ("/architecture/layer-out-of-range", test_layer_out_of_range);
  g_test_add_func ("/architecture/dispatch", test_dispatch_through_arch);
  return g_test_run ();
}
