/* llama-test-util.c — the Llama suites' fixtures (llama-test-util.h). */
#include "llama-test-util.h"

#include <string.h>

char *
llama_fixture_path (const char *name)
{
  const char *dir = g_getenv ("AS_TEST_DATA");
  g_assert_nonnull (dir);
  return g_build_filename (dir, "llama", name, NULL);
}

float *
llama_read_floats (const char *name,
                   gsize       count)
{
  g_autofree char *path = llama_fixture_path (name);
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

char *
llama_smollm2_path (void)
{
  const char *env = g_getenv ("ATTNSCOPE_GGUF");
  if (env != NULL && *env != '\0')
    return g_strdup (env);
  const char *model = g_getenv ("ATTNSCOPE_MODEL_DIR");
  if (model == NULL || *model == '\0')
    return NULL;
  g_autofree char *models = g_path_get_dirname (model);
  return g_build_filename (models, "SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", NULL);
}
