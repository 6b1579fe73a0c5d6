/* fuzz-vocab.c — vocab.txt, on any bytes (first byte: lowercase or not).
 *
 * A refused file gets a message naming it; an accepted one must then encode
 * ordinary and hostile text, and the file's own lines, into well-formed
 * encodings.
 */
#include "fuzz-tokenizer-common.h"

#include "as-error.h"

#define NAME "fuzz/vocab.txt"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  gboolean lowercase = data[0] & 1;
  const char *text = (const char *) data + 1;
  gsize length = size - 1;

  GError *error = NULL;
  AsTokenizer *tok = as_tokenizer_new_from_vocab (text, length, lowercase, NAME, &error);
  if (tok == NULL)
    {
      fuzz_check_error (error, NAME);
      FUZZ_CHECK (error->domain == AS_MODEL_ERROR);
      g_error_free (error);
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  /* A vocab.txt tokenizer always has the BERT template. */
  FUZZ_CHECK (as_tokenizer_token_to_id (tok, "[CLS]") >= 0);
  FUZZ_CHECK (as_tokenizer_token_to_id (tok, "[SEP]") >= 0);
  FUZZ_CHECK (as_tokenizer_token_to_id (tok, "[UNK]") >= 0);
  fuzz_exercise_tokenizer (tok);
  /* The vocabulary's own text, as input. */
  fuzz_encode_and_check (tok, text, (gssize) length, NULL, -1, 16);
  as_tokenizer_free (tok);
  return 0;
}
