/* fuzz-tokenizer-json.c — tokenizer.json, on any bytes.
 *
 * A refused file gets a message naming it; an accepted one must then encode
 * ordinary and hostile text into well-formed encodings.
 */
#include "fuzz-tokenizer-common.h"

#include "as-error.h"

#define NAME "fuzz/tokenizer.json"

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
  AsTokenizer *tok = as_tokenizer_new_from_json ((const char *) data, size, NAME, &error);
  if (tok == NULL)
    {
      fuzz_check_error (error, NAME);
      FUZZ_CHECK (error->domain == AS_MODEL_ERROR);
      g_error_free (error);
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  fuzz_exercise_tokenizer (tok);
  as_tokenizer_free (tok);
  return 0;
}
