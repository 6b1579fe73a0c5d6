/* llama-test-util.c — the Llama suites' fixtures (llama-test-util.h). */
#include "llama-test-util.h"

#include <string.h>

#include "as-model.h"

char *
llama_fixture_path (const char *name)
{
  const char *dir = g_getenv ("AS_TEST_DATA");
  g_assert_nonnull (dir);
  return g_build_filename (dir, "llama", name, NULL);
}

float *
test_read_floats (const char *path,
                  gsize       count)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_autoptr(GError) error = NULL;
  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (len, ==, count * 4);
  float *out = g_new (float, count);
  const guint8 *p = (const guint8 *) contents;
  for (gsize i = 0; i < count; i++)
    {
      guint32 bits = (guint32) p[4 * i] | (guint32) p[4 * i + 1] << 8 |
                     (guint32) p[4 * i + 2] << 16 | (guint32) p[4 * i + 3] << 24;
      memcpy (&out[i], &bits, 4);
    }
  return out;
}

float *
llama_read_floats (const char *name,
                   gsize       count)
{
  g_autofree char *path = llama_fixture_path (name);
  return test_read_floats (path, count);
}

char *
llama_smollm2_path (void)
{
  return as_model_default_decoder_path ();
}

AsModel *
llama_smollm2_load (void)
{
  g_autofree char *path = llama_smollm2_path ();
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip_printf ("the SmolLM2 GGUF is not downloaded (%s; run tools/setup or set "
                          "ATTNSCOPE_GGUF)", path);
      return NULL;
    }
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (path, &error);
  g_assert_no_error (error);
  return model;
}

AsModel *
llama_tiny_load (void)
{
  g_autofree char *path = llama_fixture_path ("tiny.gguf");
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (path, &error);
  g_assert_no_error (error);
  return model;
}

AsModel *
test_random_model (const char *config_json,
                   const char *label,
                   guint32     seed)
{
  g_autoptr(GError) error = NULL;
  AsConfig *config = as_config_parse (config_json, strlen (config_json), label, &error);
  g_assert_no_error (error);
  AsModel *model = g_new0 (AsModel, 1);
  model->dir = g_strdup (label);
  model->name = g_strdup (label);
  model->owned = g_ptr_array_new_with_free_func (g_free);
  model->config = config;
  model->arch = config->arch;
  model->arch->init_random (model, seed);
  return model;
}
