/* fuzz-config.c — config.json, on any bytes.
 *
 * An accepted config must have every size positive and bounded and heads
 * that divide the hidden size; a refused one, a message naming the file.
 */
#include "fuzz-common.h"

#include "as-architecture.h"
#include "as-config.h"
#include "as-error.h"

#define NAME "fuzz/config.json"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  AsConfig *config = as_config_parse ((const char *) data, size, NAME, &error);
  if (config == NULL)
    {
      fuzz_check_error (error, NAME);
      FUZZ_CHECK (error->domain == AS_MODEL_ERROR);
      g_error_free (error);
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (config->model_type != NULL);
  FUZZ_CHECK (config->n_layers >= 1 && config->n_heads >= 1 && config->hidden >= 1);
  FUZZ_CHECK (config->intermediate >= 1 && config->vocab_size >= 1);
  FUZZ_CHECK (config->max_positions >= 1);
  /* Decoders (and DistilBERT) have no token types. */
  FUZZ_CHECK (config->arch->uses_token_types ? config->type_vocab_size >= 1
                                             : config->type_vocab_size >= 0);
  FUZZ_CHECK (config->head_dim * config->n_heads == config->hidden);
  FUZZ_CHECK (config->layer_norm_eps > 0.0f && config->layer_norm_eps < 1.0f);
  /* The products the encoder allocates must not overflow a gsize. */
  FUZZ_CHECK ((guint64) config->vocab_size * config->hidden < G_MAXINT64 / 4);
  FUZZ_CHECK ((guint64) config->intermediate * config->hidden < G_MAXINT64 / 4);
  as_config_free (config);
  return 0;
}
