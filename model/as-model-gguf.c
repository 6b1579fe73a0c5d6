/* as-model-gguf.c — load a model from one GGUF file (llama.cpp's format).
 *
 * The second weight source beside safetensors: the file is read whole and
 * validated by as-gguf.c; general.architecture picks the architecture (as
 * config.json's model_type does for a folder), whose read_gguf_config reads
 * the hyper-parameters from the metadata and whose bind_weights takes every
 * tensor through as_model_bind_gguf_f32, de-quantised to f32 once at load
 * (as-dequant.c). The tokenizer is built from the tokenizer.ggml.* metadata
 * (byte-level BPE, as-bpe.c) and checked against the embedding table as a
 * folder's is; when it cannot be built the model runs on ids only.
 */
#include "as-model.h"

#include <math.h>
#include <string.h>

#include "as-dequant.h"
#include "as-error.h"

/* general.architecture → an architecture that reads GGUF metadata. */
static AsConfig *
config_from_gguf (AsGguf  *gg,
                  GError **error)
{
  const char *path = as_gguf_get_path (gg);
  const char *name = as_gguf_get_string (gg, "general.architecture", error);
  if (name == NULL)
    return NULL;
  const AsArchitecture *arch = as_architecture_lookup (name);
  if (arch == NULL || arch->read_gguf_config == NULL)
    {
      const AsArchitecture *const *all = as_architecture_get_all ();
      GString *supported = g_string_new (NULL);
      for (guint i = 0; all[i] != NULL; i++)
        if (all[i]->read_gguf_config != NULL)
          g_string_append_printf (supported, "%s%s", supported->len ? ", " : "",
                                  all[i]->model_types[0]);
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s: general.architecture '%s' is not supported in GGUF files "
                   "(supported: %s)", path, name, supported->str);
      g_string_free (supported, TRUE);
      return NULL;
    }
  AsConfig *config = g_new0 (AsConfig, 1);
  config->arch = arch;
  config->model_type = g_strdup (name);
  if (!arch->read_gguf_config (gg, config, error))
    {
      as_config_free (config);
      return NULL;
    }
  return config;
}

AsModel *
as_model_load_gguf (const char  *path,
                    GError     **error)
{
  AsModel *model = g_new0 (AsModel, 1);
  model->dir = g_strdup (path);
  model->name = g_path_get_basename (path);
  model->owned = g_ptr_array_new_with_free_func (g_free);

  gboolean ok =
    (model->gguf = as_gguf_open (path, error)) != NULL &&
    (model->config = config_from_gguf (model->gguf, error)) != NULL;
  if (ok)
    {
      model->arch = model->config->arch;
      ok = model->arch->bind_weights (model, error);
    }
  /* A tokenizer that cannot be built does not stop the weights from running
   * on ids (benchmarks, fixtures with a placeholder vocabulary): the reason
   * is kept for whatever needs text. */
  if (ok)
    model->tokenizer = as_tokenizer_new_from_gguf (model->gguf, &model->tokenizer_error);
  if (ok && model->tokenizer != NULL)
    ok = as_model_check_tokenizer_matches (model, error);
  if (!ok)
    {
      as_model_free (model);
      return NULL;
    }
  return model;
}

gboolean
as_model_check_tokenizer (const AsModel *model,
                          GError       **error)
{
  if (model->tokenizer != NULL)
    return TRUE;
  if (model->tokenizer_error != NULL)
    {
      g_set_error (error, model->tokenizer_error->domain, model->tokenizer_error->code,
                   "%s; this model runs on token ids only", model->tokenizer_error->message);
      return FALSE;
    }
  g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
               "model '%s' has no tokenizer", model->name);
  return FALSE;
}

float *
as_model_bind_gguf_f32 (AsModel     *model,
                        const char  *name,
                        int          n_dims,
                        gint64       d0,
                        gint64       d1,
                        GError     **error)
{
  const char *path = as_gguf_get_path (model->gguf);
  const AsGgufTensor *t = as_gguf_lookup (model->gguf, name);
  if (t == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: tensor '%s' is missing", path, name);
      return NULL;
    }
  /* GGUF lists dimensions fastest first: [d1, d0] for rows d0 of d1. */
  gboolean shape_ok = n_dims == 1
    ? t->n_dims == 1 && t->ne[0] == d0
    : t->n_dims == 2 && t->ne[0] == d1 && t->ne[1] == d0;
  if (!shape_ok)
    {
      g_autofree char *want = n_dims == 1
        ? g_strdup_printf ("[%" G_GINT64_FORMAT "]", d0)
        : g_strdup_printf ("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", d1, d0);
      GString *got = g_string_new ("[");
      for (int i = 0; i < t->n_dims; i++)
        g_string_append_printf (got, "%s%" G_GINT64_FORMAT, i ? ", " : "", t->ne[i]);
      g_string_append_c (got, ']');
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: tensor '%s' has shape %s (GGUF order) but the metadata says %s",
                   path, name, got->str, want);
      g_string_free (got, TRUE);
      return NULL;
    }

  float *v = as_dequant_tensor (model->gguf, t, error);
  if (v == NULL)
    return NULL;
  g_ptr_array_add (model->owned, v);
  for (gint64 i = 0; i < t->n_elements; i++)
    if (!isfinite (v[i]))
      {
        g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                     "%s: tensor '%s' holds %s at element %" G_GINT64_FORMAT
                     "; the weights are damaged", path, name,
                     isnan (v[i]) ? "NaN" : v[i] > 0 ? "+Inf" : "-Inf", i);
        return NULL;
      }
  return v;
}

/* --- metadata readers for architectures' read_gguf_config ------------------ */

/* Integer metadata key ARCH.SUFFIX (any integer type) in MIN..MAX. */
gboolean
as_model_gguf_int (AsGguf      *gg,
                   const char  *arch,
                   const char  *suffix,
                   int          min_value,
                   int          max_value,
                   gboolean     required,
                   int          fallback,
                   int         *out,
                   GError     **error)
{
  g_autofree char *key = g_strdup_printf ("%s.%s", arch, suffix);
  if (as_gguf_find_key (gg, key, NULL, NULL) < 0)
    {
      if (!required)
        {
          *out = fallback;
          return TRUE;
        }
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: metadata key '%s' is missing", as_gguf_get_path (gg), key);
      return FALSE;
    }
  guint64 v = 0;
  if (!as_gguf_get_count (gg, key, &v, error))
    return FALSE;
  if (v < (guint64) min_value || v > (guint64) max_value)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: metadata key '%s' is %" G_GUINT64_FORMAT ", expected %d to %d",
                   as_gguf_get_path (gg), key, v, min_value, max_value);
      return FALSE;
    }
  *out = (int) v;
  return TRUE;
}

/* Float metadata key ARCH.SUFFIX (FLOAT32 or FLOAT64), FALLBACK when absent. */
gboolean
as_model_gguf_float (AsGguf      *gg,
                     const char  *arch,
                     const char  *suffix,
                     float        fallback,
                     float       *out,
                     GError     **error)
{
  g_autofree char *key = g_strdup_printf ("%s.%s", arch, suffix);
  int type = as_gguf_find_key (gg, key, NULL, NULL);
  *out = fallback;
  if (type < 0)
    return TRUE;
  if (type == AS_GGUF_FLOAT64)
    {
      double d = 0;
      if (!as_gguf_get_f64 (gg, key, &d, error))
        return FALSE;
      *out = (float) d;
      return TRUE;
    }
  return as_gguf_get_f32 (gg, key, out, error);
}

/* The vocabulary: ARCH.vocab_size, else the tokenizer's token list, else
 * the embedding's rows. */
gboolean
as_model_gguf_vocab (AsGguf      *gg,
                     const char  *arch,
                     int         *out,
                     GError     **error)
{
  g_autofree char *key = g_strdup_printf ("%s.vocab_size", arch);
  if (as_gguf_find_key (gg, key, NULL, NULL) >= 0)
    return as_model_gguf_int (gg, arch, "vocab_size", 1, AS_CONFIG_MAX_VOCAB, TRUE, 0, out, error);
  guint64 n = 0;
  const AsGgufTensor *emb = as_gguf_lookup (gg, "token_embd.weight");
  if (as_gguf_find_key (gg, "tokenizer.ggml.tokens", NULL, &n) < 0 && emb != NULL && emb->n_dims == 2)
    n = (guint64) emb->ne[1];
  if (n < 1 || n > AS_CONFIG_MAX_VOCAB)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
                   "%s: the vocabulary size (%s, tokenizer.ggml.tokens) is missing or "
                   "out of range", as_gguf_get_path (gg), key);
      return FALSE;
    }
  *out = (int) n;
  return TRUE;
}
