/* test-config.c — config.json parsing, and folders whose parts disagree.
 *
 * Mismatch cases are built from the real model: a temp folder holds a
 * modified config.json beside links to the real weights and vocabulary, and
 * the loader must refuse it with a message naming the file and the problem.
 */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "as-config.h"
#include "as-error.h"
#include "as-model.h"

static const char *valid_config =
  "{\"model_type\": \"bert\", \"num_hidden_layers\": 6, \"num_attention_heads\": 12,"
  " \"hidden_size\": 384, \"intermediate_size\": 1536, \"vocab_size\": 30522,"
  " \"max_position_embeddings\": 512, \"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12,"
  " \"hidden_act\": \"gelu\", \"position_embedding_type\": \"absolute\"}";

static void
test_valid (void)
{
  g_autoptr(GError) error = NULL;
  AsConfig *c = as_config_parse (valid_config, strlen (valid_config), "config.json", &error);
  g_assert_no_error (error);
  g_assert_cmpint (c->n_layers, ==, 6);
  g_assert_cmpint (c->n_heads, ==, 12);
  g_assert_cmpint (c->hidden, ==, 384);
  g_assert_cmpint (c->head_dim, ==, 32);
  g_assert_cmpint (c->intermediate, ==, 1536);
  g_assert_cmpfloat (c->layer_norm_eps, ==, 1e-12f);
  as_config_free (c);
}

/* Replace "FIELD": VALUE in the valid config (or drop the field when NULL). */
static char *
config_with (const char *field,
             const char *value)
{
  g_autofree char *pattern = g_strdup_printf ("\"%s\": [^,}]+", field);
  g_autoptr(GRegex) re = g_regex_new (pattern, 0, 0, NULL);
  g_autofree char *replacement = value ? g_strdup_printf ("\"%s\": %s", field, value)
                                       : g_strdup ("\"unused_field\": 0");
  return g_regex_replace_literal (re, valid_config, -1, 0, replacement, 0, NULL);
}

typedef struct {
  const char *field;
  const char *value;    /* NULL removes the field */
  int         code;
  const char *expect;   /* substring of the message */
} BadConfig;

static const BadConfig bad_configs[] = {
  { "num_hidden_layers", "0", AS_MODEL_ERROR_FORMAT, "'num_hidden_layers' is 0" },
  { "num_hidden_layers", "100000", AS_MODEL_ERROR_FORMAT, "'num_hidden_layers' is 100000" },
  { "num_attention_heads", "7", AS_MODEL_ERROR_FORMAT, "not divisible by num_attention_heads 7" },
  { "hidden_size", "-384", AS_MODEL_ERROR_FORMAT, "'hidden_size' is -384" },
  { "hidden_size", "\"384\"", AS_MODEL_ERROR_FORMAT, "'hidden_size' must be an integer" },
  { "hidden_size", "384.5", AS_MODEL_ERROR_FORMAT, "'hidden_size' must be an integer" },
  { "vocab_size", "99999999999", AS_MODEL_ERROR_FORMAT, "'vocab_size' is 99999999999" },
  { "intermediate_size", NULL, AS_MODEL_ERROR_FORMAT, "'intermediate_size' is missing" },
  { "model_type", "\"gpt_neox\"", AS_MODEL_ERROR_UNSUPPORTED, "model_type 'gpt_neox' is not supported" },
  { "model_type", NULL, AS_MODEL_ERROR_FORMAT, "'model_type' is missing" },
  { "hidden_act", "\"relu\"", AS_MODEL_ERROR_UNSUPPORTED, "hidden_act 'relu'" },
  { "position_embedding_type", "\"relative_key\"", AS_MODEL_ERROR_UNSUPPORTED, "relative_key" },
  { "layer_norm_eps", "0", AS_MODEL_ERROR_FORMAT, "'layer_norm_eps' is 0" },
  { "layer_norm_eps", "\"small\"", AS_MODEL_ERROR_FORMAT, "'layer_norm_eps' must be a number" },
};

static void
test_bad_config (gconstpointer data)
{
  const BadConfig *bad = data;
  g_autofree char *json = config_with (bad->field, bad->value);
  g_autoptr(GError) error = NULL;
  AsConfig *c = as_config_parse (json, strlen (json), "my/config.json", &error);
  g_assert_null (c);
  g_assert_error (error, AS_MODEL_ERROR, bad->code);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "my/config.json: "));
  g_assert_nonnull (strstr (error->message, bad->expect));
}

static void
test_not_json (void)
{
  const char *cases[] = { "", "{", "[1, 2]", "null", "{\"model_type\": \"bert\",}" };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_null (as_config_parse (cases[i], strlen (cases[i]), "c.json", &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT);
      g_assert_true (g_str_has_prefix (error->message, "c.json: "));
    }
}

/* as_config_load reads only a regular file of at most AS_FILE_CAP_CONFIG,
 * checked on what it opened, and says what else it found, quickly. */
static void
assert_load_refused (const char *path,
                     int         code,
                     const char *needle)
{
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_assert_null (as_config_load (path, &error));
  gint64 took = g_get_monotonic_time () - start;
  g_assert_error (error, AS_MODEL_ERROR, code);
  g_test_message ("%s (%.1f ms)", error->message, took / 1000.0);
  g_assert_nonnull (strstr (error->message, needle));
  g_assert_cmpint (took, <, 2 * G_USEC_PER_SEC);
}

static void
test_load_not_regular (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("as-config-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);

  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  assert_load_refused (path, AS_MODEL_ERROR_IO, "config.json: is a FIFO (named pipe)");
  g_unlink (path);
  g_assert_cmpint (symlink ("/dev/zero", path), ==, 0);
  assert_load_refused (path, AS_MODEL_ERROR_IO, "config.json: is a character device");
  g_unlink (path);
  g_assert_cmpint (symlink ("config.json", path), ==, 0);
  assert_load_refused (path, AS_MODEL_ERROR_IO, "config.json: too many levels of symbolic links");
  g_unlink (path);
  g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
  assert_load_refused (path, AS_MODEL_ERROR_IO, "config.json: is a directory, expected a file");
  g_rmdir (path);
  assert_load_refused (path, AS_MODEL_ERROR_IO, "config.json: file not found");

  /* Sparse, one byte over the cap. */
  g_assert_true (g_file_set_contents (path, "{", 1, NULL));
  g_assert_cmpint (truncate (path, (1 << 20) + 1), ==, 0);
  assert_load_refused (path, AS_MODEL_ERROR_RESOURCES, "is 1048577 bytes");
  g_unlink (path);

  /* The "folder" is a file. */
  g_assert_true (g_file_set_contents (path, valid_config, -1, NULL));
  g_autofree char *below = g_build_filename (path, "config.json", NULL);
  assert_load_refused (below, AS_MODEL_ERROR_IO, "config.json: not a model folder");
  g_unlink (path);
  g_rmdir (dir);
}

/* Millions of values are refused before json-glib builds a tree of them;
 * a config with a big but plausible array still parses. */
static void
test_too_many_values (void)
{
  g_autoptr(GString) text = g_string_new (valid_config);
  g_string_truncate (text, text->len - 1);
  g_string_append (text, ", \"x\": [0");
  for (int i = 0; i < 1000000; i++)
    g_string_append (text, ",0");
  g_string_append (text, "]}");
  g_autoptr(GError) error = NULL;
  AsConfig *c = as_config_parse (text->str, text->len, "c.json", &error);
  g_assert_no_error (error);
  as_config_free (c);

  g_string_truncate (text, text->len - 2);
  for (int i = 0; i < 1100000; i++)
    g_string_append (text, ",0");
  g_string_append (text, "]}");
  g_assert_null (as_config_parse (text->str, text->len, "c.json", &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "c.json: holds about"));
  g_assert_nonnull (strstr (error->message, "more than the 2097152"));
}

/* --- whole folders whose config and tensors disagree ------------------- */

static char *
make_folder (const char *config_json,
             gboolean    link_weights)
{
  g_autofree char *model_dir = as_model_default_dir ();
  char *dir = g_dir_make_tmp ("attnscope-mismatch-XXXXXX", NULL);
  g_autofree char *config_path = g_build_filename (dir, "config.json", NULL);
  g_assert_true (g_file_set_contents (config_path, config_json, -1, NULL));
  const char *linked[] = { "tokenizer.json", "vocab.txt", link_weights ? "model.safetensors" : NULL };
  for (guint i = 0; i < G_N_ELEMENTS (linked) && linked[i]; i++)
    {
      g_autofree char *src = g_build_filename (model_dir, linked[i], NULL);
      g_autofree char *dst = g_build_filename (dir, linked[i], NULL);
      g_assert_cmpint (symlink (src, dst), ==, 0);
    }
  return dir;
}

static void
remove_folder (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      if (g_file_test (p, G_FILE_TEST_IS_DIR) && !g_file_test (p, G_FILE_TEST_IS_SYMLINK))
        g_rmdir (p);
      else
        g_unlink (p);
    }
  g_rmdir (dir);
}

typedef struct {
  const char *name;
  const char *field;
  const char *value;
  const char *expect1;
  const char *expect2;
} Mismatch;

static const Mismatch mismatches[] = {
  { "hidden", "hidden_size", "768", "word_embeddings.weight' has shape [30522, 384]", "expected [30522, 768]" },
  { "more-layers", "num_hidden_layers", "7", "encoder.layer.6.attention.self.query.weight", "missing" },
  { "fewer-layers", "num_hidden_layers", "5", "holds a layer 5", "num_hidden_layers = 5" },
  { "vocab", "vocab_size", "30000", "word_embeddings.weight' has shape [30522, 384]", "expected [30000, 384]" },
  { "ffn", "intermediate_size", "3072", "intermediate.dense.weight' has shape [1536, 384]", "expected [3072, 384]" },
  { "positions", "max_position_embeddings", "1024", "position_embeddings.weight", "expected [1024, 384]" },
  { "types", "type_vocab_size", "3", "token_type_embeddings.weight", "expected [3, 384]" },
};

static void
test_mismatch (gconstpointer data)
{
  const Mismatch *m = data;
  g_autofree char *model_dir = as_model_default_dir ();
  if (!g_file_test (model_dir, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  g_autofree char *json = config_with (m->field, m->value);
  g_autofree char *dir = make_folder (json, TRUE);
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_null (model);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "model.safetensors"));
  g_assert_nonnull (strstr (error->message, m->expect1));
  g_assert_nonnull (strstr (error->message, m->expect2));
  remove_folder (dir);
}

static void
test_missing_and_misplaced_files (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = make_folder (valid_config, FALSE);
  g_assert_null (as_model_load (dir, &error));
  g_assert_nonnull (strstr (error->message, "model.safetensors: file not found"));
  g_clear_error (&error);

  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  g_assert_cmpint (g_mkdir (weights, 0700), ==, 0);
  g_assert_null (as_model_load (dir, &error));
  g_assert_nonnull (strstr (error->message, "model.safetensors: is a directory"));
  g_clear_error (&error);
  remove_folder (dir);

  g_assert_null (as_model_load ("/nonexistent/attnscope-model", &error));
  g_assert_nonnull (strstr (error->message, "/nonexistent/attnscope-model: not a model folder"));
}

static void
test_loads_default_model (void)
{
  g_autofree char *model_dir = as_model_default_dir ();
  if (!g_file_test (model_dir, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  g_autoptr(GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  AsModel *model = as_model_load (model_dir, &error);
  gint64 t1 = g_get_monotonic_time ();
  g_assert_no_error (error);
  g_test_message ("default model loaded in %.1f ms", (t1 - t0) / 1000.0);
  g_assert_cmpint (model->config->n_layers, ==, 6);
  g_assert_nonnull (model->tokenizer);
  as_model_free (model);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/valid", test_valid);
  g_test_add_func ("/config/not-json", test_not_json);
  g_test_add_func ("/config/load-not-regular", test_load_not_regular);
  g_test_add_func ("/config/too-many-values", test_too_many_values);
  for (guint i = 0; i < G_N_ELEMENTS (bad_configs); i++)
    {
      g_autofree char *path = g_strdup_printf ("/config/bad/%s=%s", bad_configs[i].field,
                                               bad_configs[i].value ? bad_configs[i].value : "(missing)");
      g_strdelimit (path + 1, "\"", '\'');
      g_test_add_data_func (path, &bad_configs[i], test_bad_config);
    }
  for (guint i = 0; i < G_N_ELEMENTS (mismatches); i++)
    {
      g_autofree char *path = g_strdup_printf ("/model/mismatch/%s", mismatches[i].name);
      g_test_add_data_func (path, &mismatches[i], test_mismatch);
    }
  g_test_add_func ("/model/missing-files", test_missing_and_misplaced_files);
  g_test_add_func ("/model/loads-default", test_loads_default_model);
  return g_test_run ();
}
