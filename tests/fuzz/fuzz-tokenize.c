/* fuzz-tokenize.c — the tokenizer on arbitrary bytes (invalid UTF-8, NULs,
 * controls, any script), through the real model's tokenizer.json when the
 * model is there (else the small one of the seed corpus) and through a cased
 * vocab.txt tokenizer.
 *
 * Input: byte 0 = flags (bit 0: a pair; bit 1: the cased vocab tokenizer;
 * bits 2-7: max_length / 4, 0 = no limit), byte 1 = where A ends (as a
 * fraction of the rest, /255), then the text bytes.
 */
#include "fuzz-tokenizer-common.h"

#include "as-error.h"

#ifndef AS_FUZZ_MODEL_DIR
#define AS_FUZZ_MODEL_DIR ""
#endif
#ifndef AS_FUZZ_SEED_DIR
#define AS_FUZZ_SEED_DIR "tests/fuzz/data"
#endif

static AsTokenizer *json_tokenizer;
static AsTokenizer *vocab_tokenizer;

static AsTokenizer *
load_first (const char *const *paths, gboolean is_json)
{
  for (int i = 0; paths[i] != NULL; i++)
    {
      char *contents = NULL;
      gsize length = 0;
      if (!g_file_get_contents (paths[i], &contents, &length, NULL))
        continue;
      GError *error = NULL;
      AsTokenizer *tok = is_json
        ? as_tokenizer_new_from_json (contents, length, paths[i], &error)
        : as_tokenizer_new_from_vocab (contents, length, FALSE, paths[i], &error);
      g_free (contents);
      if (tok == NULL)
        fuzz_fail ("%s", error->message);
      fprintf (stderr, "fuzz-tokenize: using %s\n", paths[i]);
      return tok;
    }
  fuzz_fail ("no %s found", is_json ? "tokenizer.json" : "vocab.txt");
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  const char *env = g_getenv ("ATTNSCOPE_MODEL_DIR");
  char *model_dir = g_strdup (env != NULL && *env ? env : AS_FUZZ_MODEL_DIR);
  char *json_paths[] = {
    g_build_filename (model_dir, "tokenizer.json", NULL),
    g_build_filename (AS_FUZZ_SEED_DIR, "tokenizer.json", NULL),
    NULL,
  };
  char *vocab_paths[] = {
    g_build_filename (model_dir, "vocab.txt", NULL),
    g_build_filename (AS_FUZZ_SEED_DIR, "vocab.txt", NULL),
    NULL,
  };
  json_tokenizer = load_first ((const char *const *) json_paths, TRUE);
  vocab_tokenizer = load_first ((const char *const *) vocab_paths, FALSE);
  for (int i = 0; i < 2; i++)
    {
      g_free (json_paths[i]);
      g_free (vocab_paths[i]);
    }
  g_free (model_dir);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  gboolean pair = data[0] & 1;
  AsTokenizer *tok = data[0] & 2 ? vocab_tokenizer : json_tokenizer;
  int max_length = (data[0] >> 2) * 4;
  const char *text = (const char *) data + 2;
  gsize length = size - 2;
  gsize len_a = pair ? length * data[1] / 255 : length;

  /* Copies of exactly the input bytes, so ASan sees any read beyond them. */
  char *a = g_memdup2 (text, len_a);
  char *b = pair ? g_memdup2 (text + len_a, length - len_a) : NULL;
  fuzz_encode_and_check (tok, a, (gssize) len_a, b, (gssize) (length - len_a), max_length);
  g_free (a);
  g_free (b);
  return 0;
}
