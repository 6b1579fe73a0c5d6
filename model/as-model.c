/* as-model.c — bind a checkpoint's tensors to the encoder's weight slots. */
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
 * to be finite. */
static const float *
bind_tensor (AsModel     *model,
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
        return check_finite (model, full, (const float *) data, d0, d1, n_dims, error)
          ? (const float *) data : NULL;
    }

  /* Shape errors, missing tensors and conversions all go through the reader. */
  float *copy = as_safetensors_read_f32 (model->st, full, n_dims, shape, error);
  if (copy == NULL)
    return NULL;
  g_ptr_array_add (model->owned, copy);
  return check_finite (model, full, copy, d0, d1, n_dims, error) ? copy : NULL;
}

/* Checkpoints saved from BertForMaskedLM & co. prefix every name with "bert.". */
static const char *
detect_prefix (AsSafetensors *st)
{
  if (as_safetensors_lookup (st, "embeddings.word_embeddings.weight") != NULL)
    return "";
  if (as_safetensors_lookup (st, "bert.embeddings.word_embeddings.weight") != NULL)
    return "bert.";
  return NULL;
}

static gboolean
bind_layer (AsModel     *model,
            const char  *prefix,
            int          l,
            GError     **error)
{
  const AsConfig *c = model->config;
  AsLayerWeights *w = &model->layers[l];
  g_autofree char *lp = g_strdup_printf ("%sencoder.layer.%d.", prefix, l);
  const gint64 H = c->hidden, I = c->intermediate;

#define BIND(slot, suffix, nd, a, b) \
  if ((w->slot = bind_tensor (model, lp, suffix, nd, a, b, error)) == NULL) return FALSE

  BIND (q_w,   "attention.self.query.weight", 2, H, H);
  BIND (q_b,   "attention.self.query.bias", 1, H, 0);
  BIND (k_w,   "attention.self.key.weight", 2, H, H);
  BIND (k_b,   "attention.self.key.bias", 1, H, 0);
  BIND (v_w,   "attention.self.value.weight", 2, H, H);
  BIND (v_b,   "attention.self.value.bias", 1, H, 0);
  BIND (o_w,   "attention.output.dense.weight", 2, H, H);
  BIND (o_b,   "attention.output.dense.bias", 1, H, 0);
  BIND (ln1_g, "attention.output.LayerNorm.weight", 1, H, 0);
  BIND (ln1_b, "attention.output.LayerNorm.bias", 1, H, 0);
  BIND (ff1_w, "intermediate.dense.weight", 2, I, H);
  BIND (ff1_b, "intermediate.dense.bias", 1, I, 0);
  BIND (ff2_w, "output.dense.weight", 2, H, I);
  BIND (ff2_b, "output.dense.bias", 1, H, 0);
  BIND (ln2_g, "output.LayerNorm.weight", 1, H, 0);
  BIND (ln2_b, "output.LayerNorm.bias", 1, H, 0);
#undef BIND
  return TRUE;
}

/* A config that promises more layers than the file holds must be refused;
 * one that promises fewer would silently ignore weights, so refuse that too. */
static gboolean
check_layer_count (AsModel     *model,
                   const char  *prefix,
                   GError     **error)
{
  g_autofree char *extra = g_strdup_printf ("%sencoder.layer.%d.attention.self.query.weight",
                                            prefix, model->config->n_layers);
  if (as_safetensors_lookup (model->st, extra) != NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: holds a layer %d but config.json says num_hidden_layers = %d",
                   as_safetensors_get_path (model->st), model->config->n_layers,
                   model->config->n_layers);
      return FALSE;
    }
  return TRUE;
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
 * tokens, which a tokenizer.json may number as it likes. */
static gboolean
check_tokenizer_matches (AsModel     *model,
                         GError     **error)
{
  const int vocab = model->config->vocab_size;
  int tok_vocab = as_tokenizer_get_vocab_size (model->tokenizer);
  if (tok_vocab > vocab)
    {
      g_autofree char *path = tokenizer_path (model->dir);
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: the tokenizer has %d tokens but config.json says vocab_size = %d",
                   path, tok_vocab, vocab);
      return FALSE;
    }

  AsEncoding *template = as_tokenizer_encode (model->tokenizer, "", "", 0);
  gboolean ok = TRUE;
  for (int i = 0; ok && i < template->n_tokens; i++)
    if (template->tokens[i].id >= vocab)
      {
        g_autofree char *path = tokenizer_path (model->dir);
        g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                     "%s: the post-processor's special token '%s' has id %d but config.json "
                     "says vocab_size = %d", path, template->tokens[i].text,
                     template->tokens[i].id, vocab);
        ok = FALSE;
      }
  as_encoding_free (template);
  return ok;
}

static gboolean
bind_all (AsModel     *model,
          GError     **error)
{
  const AsConfig *c = model->config;
  const char *prefix = detect_prefix (model->st);

  if (prefix == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_MISMATCH,
                   "%s: tensor 'embeddings.word_embeddings.weight' is missing "
                   "(not a BERT checkpoint?)", as_safetensors_get_path (model->st));
      return FALSE;
    }

  if ((model->word_emb = bind_tensor (model, prefix, "embeddings.word_embeddings.weight", 2, c->vocab_size, c->hidden, error)) == NULL ||
      (model->pos_emb = bind_tensor (model, prefix, "embeddings.position_embeddings.weight", 2, c->max_positions, c->hidden, error)) == NULL ||
      (model->type_emb = bind_tensor (model, prefix, "embeddings.token_type_embeddings.weight", 2, c->type_vocab_size, c->hidden, error)) == NULL ||
      (model->emb_ln_g = bind_tensor (model, prefix, "embeddings.LayerNorm.weight", 1, c->hidden, 0, error)) == NULL ||
      (model->emb_ln_b = bind_tensor (model, prefix, "embeddings.LayerNorm.bias", 1, c->hidden, 0, error)) == NULL)
    return FALSE;

  model->layers = g_new0 (AsLayerWeights, c->n_layers);
  for (int l = 0; l < c->n_layers; l++)
    if (!bind_layer (model, prefix, l, error))
      return FALSE;
  return check_layer_count (model, prefix, error);
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

AsModel *
as_model_load (const char  *dir,
               GError     **error)
{
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

  /* Each reader checks on the opened file that it is a regular one of a
   * plausible size, and reads it whole: nothing is mapped, so a file cut or
   * rewritten later cannot reach the model. */
  gboolean ok =
    (model->config = as_config_load (config_path, error)) != NULL &&
    (model->st = as_safetensors_open (weights_path, error)) != NULL &&
    bind_all (model, error) &&
    (model->tokenizer = as_tokenizer_new_from_dir (dir, error)) != NULL &&
    check_tokenizer_matches (model, error);

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

static const float *
random_buffer (AsModel *model,
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

  guint32 state = seed ? seed : 0x9e3779b9u;
  const gsize H = config->hidden, I = config->intermediate;
  model->word_emb = random_buffer (model, (gsize) config->vocab_size * H, 0, 0.02f, &state);
  model->pos_emb = random_buffer (model, (gsize) config->max_positions * H, 0, 0.02f, &state);
  model->type_emb = random_buffer (model, (gsize) config->type_vocab_size * H, 0, 0.02f, &state);
  model->emb_ln_g = random_buffer (model, H, 1, 0, &state);
  model->emb_ln_b = random_buffer (model, H, 0, 0, &state);
  model->layers = g_new0 (AsLayerWeights, config->n_layers);
  for (int l = 0; l < config->n_layers; l++)
    {
      AsLayerWeights *w = &model->layers[l];
      w->q_w = random_buffer (model, H * H, 0, 0.02f, &state);
      w->q_b = random_buffer (model, H, 0, 0.02f, &state);
      w->k_w = random_buffer (model, H * H, 0, 0.02f, &state);
      w->k_b = random_buffer (model, H, 0, 0.02f, &state);
      w->v_w = random_buffer (model, H * H, 0, 0.02f, &state);
      w->v_b = random_buffer (model, H, 0, 0.02f, &state);
      w->o_w = random_buffer (model, H * H, 0, 0.02f, &state);
      w->o_b = random_buffer (model, H, 0, 0.02f, &state);
      w->ln1_g = random_buffer (model, H, 1, 0, &state);
      w->ln1_b = random_buffer (model, H, 0, 0, &state);
      w->ff1_w = random_buffer (model, I * H, 0, 0.02f, &state);
      w->ff1_b = random_buffer (model, I, 0, 0.02f, &state);
      w->ff2_w = random_buffer (model, H * I, 0, 0.02f, &state);
      w->ff2_b = random_buffer (model, H, 0, 0.02f, &state);
      w->ln2_g = random_buffer (model, H, 1, 0, &state);
      w->ln2_b = random_buffer (model, H, 0, 0, &state);
    }
  return model;
}

void
as_model_free (AsModel *model)
{
  if (model == NULL)
    return;
  g_clear_pointer (&model->owned, g_ptr_array_unref);
  g_clear_pointer (&model->tokenizer, as_tokenizer_free);
  g_clear_pointer (&model->st, as_safetensors_free);
  g_clear_pointer (&model->config, as_config_free);
  g_free (model->layers);
  g_free (model->name);
  g_free (model->dir);
  g_free (model);
}

char **
as_model_list_files (const AsModel *model)
{
  return model->st != NULL ? as_model_list_files_in (model->dir) : NULL;
}

char **
as_model_list_files_in (const char *dir)
{
  static const char *const names[] = {
    "config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json",
  };
  GPtrArray *files = g_ptr_array_new ();
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
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
