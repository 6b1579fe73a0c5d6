/* as-model.c — load a model folder: config, weight source, tokenizer; the
 * architecture (as-architecture.h) binds the tensors to its weight slots. */
#include "as-model.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "as-build-config.h"
#include "as-error.h"

/* Index of the first NaN or infinity in V[0, N), or N. The exponent test
 * runs over blocks without a branch per element (it vectorises), so a clean
 * tensor costs one pass at memory speed; only a block that fails is looked
 * at element by element. */
static gsize
first_non_finite (const float *v,
                  gsize        n)
{
  const gsize block = 4096;

  for (gsize start = 0; start < n; start += block)
    {
      gsize end = MIN (n, start + block);
      guint32 bad = 0;
      for (gsize i = start; i < end; i++)
        {
          guint32 bits;
          memcpy (&bits, &v[i], sizeof bits);
          bad |= (bits & 0x7f800000u) == 0x7f800000u;
        }
      if (bad)
        for (gsize i = start; i < end; i++)
          if (!isfinite (v[i]))
            return i;
    }
  return n;
}

/* A NaN or infinite weight would turn every attention row it touches into
 * NaN; refuse the file at load, naming the tensor and the element. */
static gboolean
check_finite (AsModel     *model,
              const char  *name,
              const float *v,
              gint64       d0,
              gint64       d1,
              int          n_dims,
              GError     **error)
{
  gsize n = (gsize) d0 * (n_dims == 2 ? (gsize) d1 : 1);
  gsize at = first_non_finite (v, n);

  if (at == n)
    return TRUE;
  g_autofree char *where = n_dims == 2
    ? g_strdup_printf ("[%" G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT "]", at / (gsize) d1, at % (gsize) d1)
    : g_strdup_printf ("[%" G_GSIZE_FORMAT "]", at);
  g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT,
               "%s: tensor '%s' holds %s at %s; the weights are damaged",
               as_safetensors_get_path (model->st), name,
               isnan (v[at]) ? "NaN" : v[at] > 0 ? "+Inf" : "-Inf", where);
  return FALSE;
}

/* Returns an f32 view of tensor NAME with the expected shape. F32 data that is
 * 4-byte aligned in the file's bytes (read into memory the reader owns, so
 * they cannot change after this check) is used in place; anything else is
 * converted into a buffer the model owns. Either way every value is checked
 * to be finite: in place, by the reader as it read the file (only a tensor
 * in a chunk where it saw an all-ones exponent is read again here). */
const float *
as_model_bind_f32 (AsModel     *model,
                   const char  *prefix,
                   const char  *name,
                   int          n_dims,
                   gint64       d0,
                   gint64       d1,
                   GError     **error)
{
  g_autofree char *full = g_strconcat (prefix, name, NULL);
  gint64 shape[2] = { d0, d1 };
  const AsTensorInfo *info = as_safetensors_lookup (model->st, full);

  if (info != NULL && info->dtype == AS_DTYPE_F32 && info->n_dims == n_dims &&
      info->shape[0] == d0 && (n_dims == 1 || info->shape[1] == d1) &&
      G_BYTE_ORDER == G_LITTLE_ENDIAN)
    {
      const guint8 *data = as_safetensors_get_data (model->st, info);
      if (((guintptr) data % sizeof (float)) == 0)
        return (as_safetensors_f32_known_finite (model->st, info) ||
                check_finite (model, full, (const float *) data, d0, d1, n_dims, error))
          ? (const float *) data : NULL;
    }

  /* Shape errors, missing tensors and conversions all go through the reader. */
  float *copy = as_safetensors_read_f32 (model->st, full, n_dims, shape, error);
  if (copy == NULL)
    return NULL;
  g_ptr_array_add (model->owned, copy);
  return check_finite (model, full, copy, d0, d1, n_dims, error) ? copy : NULL;
}

/* The file the tokenizer came from, as as_tokenizer_new_from_dir picks it:
 * tokenizer.json whenever anything is there, a broken link included. */
static char *
tokenizer_path (const char *dir)
{
  char *json = g_build_filename (dir, "tokenizer.json", NULL);
  GStatBuf st;

  if (g_lstat (json, &st) == 0)
    return json;
  g_free (json);
  return g_build_filename (dir, "vocab.txt", NULL);
}

/* Every id the tokenizer can produce must index the embedding table: the
 * vocabulary and added tokens (get_vocab_size) and the template's special
 * tokens, which a tokenizer.json may number as it likes. A GGUF file holds
 * both, so its messages name the file and its metadata. */
gboolean
as_model_check_tokenizer_matches (AsModel     *model,
                                  GError     **error)
{
  const int vocab = model->config->vocab_size;
  const char *config = model->gguf != NULL ? "the metadata" : "config.json";
  int tok_vocab = as_tokenizer_get_vocab_size (model->tokenizer);
  if (tok_vocab > vocab)
    {
      g_autofree char *path = model->gguf != NULL ? g_strdup (model->dir)
                                                  : tokenizer_path (model->dir);
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: the tokenizer has %d tokens but %s says vocab_size = %d",
                   path, tok_vocab, config, vocab);
      return FALSE;
    }

  AsEncoding *template = as_tokenizer_encode (model->tokenizer, "", "", 0);
  gboolean ok = TRUE;
  for (int i = 0; ok && i < template->n_tokens; i++)
    if (template->tokens[i].id >= vocab)
      {
        g_autofree char *path = model->gguf != NULL ? g_strdup (model->dir)
                                                    : tokenizer_path (model->dir);
        g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                     "%s: the post-processor's special token '%s' has id %d but %s "
                     "says vocab_size = %d", path, template->tokens[i].text,
                     template->tokens[i].id, config, vocab);
        ok = FALSE;
      }
  as_encoding_free (template);
  return ok;
}

/* The architecture config.json named binds its own weights struct. */
static gboolean
bind_weights (AsModel  *model,
              GError  **error)
{
  model->arch = model->config->arch;
  return model->arch->bind_weights (model, error);
}

static AsModel *
model_new_empty (const char *dir)
{
  AsModel *model = g_new0 (AsModel, 1);
  model->dir = g_strdup (dir);
  model->name = g_path_get_basename (dir);
  model->owned = g_ptr_array_new_with_free_func (g_free);
  return model;
}

typedef struct {
  const char  *dir;
  AsTokenizer *tokenizer;
  GError      *error;
} TokenizerLoad;

static gpointer
tokenizer_load_run (gpointer data)
{
  TokenizerLoad *tl = data;
  tl->tokenizer = as_tokenizer_new_from_dir (tl->dir, &tl->error);
  return NULL;
}

AsModel *
as_model_load (const char  *dir,
               GError     **error)
{
  if (g_str_has_suffix (dir, ".gguf") && !g_file_test (dir, G_FILE_TEST_IS_DIR))
    return as_model_load_gguf (dir, error);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO,
                   "%s: not a model folder (expected a directory with config.json, "
                   "model.safetensors and tokenizer.json or vocab.txt)", dir);
      return NULL;
    }

  AsModel *model = model_new_empty (dir);
  g_autofree char *config_path = g_build_filename (dir, "config.json", NULL);
  g_autofree char *weights_path = g_build_filename (dir, "model.safetensors", NULL);

  /* Parsing tokenizer.json is the slowest part of a warm load, and it
   * needs nothing from the weights: it runs on its own thread meanwhile. */
  TokenizerLoad tl = { .dir = dir };
  GThread *tokenizer_thread = g_thread_try_new ("as-tokenizer-load", tokenizer_load_run, &tl, NULL);
  if (tokenizer_thread == NULL)
    tokenizer_load_run (&tl);

  /* Each reader checks on the opened file that it is a regular one of a
   * plausible size, and reads it whole: nothing is mapped, so a file cut or
   * rewritten later cannot reach the model. */
  gboolean ok =
    (model->config = as_config_load (config_path, error)) != NULL &&
    (model->st = as_safetensors_open (weights_path, error)) != NULL &&
    bind_weights (model, error);

  if (tokenizer_thread != NULL)
    g_thread_join (tokenizer_thread);
  /* Errors are reported in the order the files are listed above. */
  if (ok && tl.tokenizer == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&tl.error));
      ok = FALSE;
    }
  g_clear_error (&tl.error);
  if (ok)
    model->tokenizer = g_steal_pointer (&tl.tokenizer);
  g_clear_pointer (&tl.tokenizer, as_tokenizer_free);
  ok = ok && as_model_check_tokenizer_matches (model, error);

  if (!ok)
    {
      as_model_free (model);
      return NULL;
    }
  return model;
}

/* Box–Muller on a small xorshift generator: deterministic across platforms. */
static float
random_normal (guint32 *state)
{
  guint32 x;
  double u1, u2;

  x = *state; x ^= x << 13; x ^= x >> 17; x ^= x << 5; *state = x;
  u1 = (x + 1.0) / 4294967297.0;
  x = *state; x ^= x << 13; x ^= x >> 17; x ^= x << 5; *state = x;
  u2 = (x + 1.0) / 4294967297.0;
  return (float) (sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2));
}

const float *
as_model_random_f32 (AsModel *model,
                     gsize    count,
                     float    mean,
                     float    std,
                     guint32 *state)
{
  float *buf = g_new (float, count);
  for (gsize i = 0; i < count; i++)
    buf[i] = mean + (std > 0 ? std * random_normal (state) : 0.0f);
  g_ptr_array_add (model->owned, buf);
  return buf;
}

AsModel *
as_model_new_random (const char  *preset,
                     guint32      seed,
                     GError     **error)
{
  AsConfig *config = as_config_new_preset (preset);
  if (config == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "unknown model shape '%s' (known: bert-base, bert-large, minilm-l6)", preset);
      return NULL;
    }

  g_autofree char *label = g_strdup_printf ("%s (random weights)", preset);
  AsModel *model = model_new_empty (label);
  g_free (model->name);
  model->name = g_strdup (label);
  model->config = config;

  model->arch = config->arch;
  model->arch->init_random (model, seed);
  return model;
}

void
as_model_free (AsModel *model)
{
  if (model == NULL)
    return;
  g_clear_pointer (&model->owned, g_ptr_array_unref);
  g_clear_pointer (&model->tokenizer, as_tokenizer_free);
  g_clear_error (&model->tokenizer_error);
  g_clear_pointer (&model->st, as_safetensors_free);
  g_clear_pointer (&model->gguf, as_gguf_free);
  g_clear_pointer (&model->config, as_config_free);
  if (model->arch != NULL && model->weights != NULL)
    model->arch->free_weights (model->weights);
  g_free (model->name);
  g_free (model->dir);
  g_free (model);
}

const float *
as_model_get_position_table (const AsModel *model,
                             int           *rows,
                             int           *cols)
{
  *rows = *cols = 0;
  if (model->arch->position_table == NULL)
    return NULL;
  return model->arch->position_table (model, rows, cols);
}

char **
as_model_list_files (const AsModel *model)
{
  if (model->gguf != NULL)
    return g_strdupv ((char *[]) { model->dir, NULL });
  return model->st != NULL ? as_model_list_files_in (model->dir) : NULL;
}

char **
as_model_list_files_in (const char *dir)
{
  static const char *const names[] = {
    "config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json",
  };
  GPtrArray *files = g_ptr_array_new ();
  /* A .gguf model is the one file. */
  const gboolean gguf = g_str_has_suffix (dir, ".gguf") && g_file_test (dir, G_FILE_TEST_IS_REGULAR);
  if (gguf)
    g_ptr_array_add (files, g_strdup (dir));
  for (guint i = 0; !gguf && i < G_N_ELEMENTS (names); i++)
    {
      char *path = g_build_filename (dir, names[i], NULL);
      if (g_file_test (path, G_FILE_TEST_EXISTS))
        g_ptr_array_add (files, path);
      else
        g_free (path);
    }
  g_ptr_array_add (files, NULL);
  return (char **) g_ptr_array_free (files, FALSE);
}

char *
as_model_default_dir (void)
{
  const char *env = g_getenv ("ATTNSCOPE_MODEL_DIR");
  if (env != NULL && *env != '\0')
    return g_strdup (env);
  if (g_file_test (AS_SOURCE_MODEL_DIR, G_FILE_TEST_IS_DIR))
    return g_strdup (AS_SOURCE_MODEL_DIR);
  return g_strdup (AS_INSTALLED_MODEL_DIR);
}

char *
as_model_default_decoder_path (void)
{
  const char *env = g_getenv ("ATTNSCOPE_GGUF");
  if (env != NULL && *env != '\0')
    return g_strdup (env);
  g_autofree char *encoder = as_model_default_dir ();
  g_autofree char *models = g_path_get_dirname (encoder);
  return g_build_filename (models, "SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", NULL);
}
