/* fuzz-tokenizer-common.h — what every encoding must satisfy, whatever the
 * tokenizer file and the text. */
#pragma once

#include "fuzz-common.h"

#include <string.h>

#include "as-tokenizer.h"

/* ENC came from encoding A (LEN_A bytes) and B (LEN_B bytes, -1 when there
 * is no B) with MAX_LENGTH. */
static inline void
fuzz_check_encoding (AsTokenizer      *tok,
                     const AsEncoding *enc,
                     gssize            len_a,
                     gssize            len_b,
                     int               max_length)
{
  int vocab_size = as_tokenizer_get_vocab_size (tok);
  int n_special = 0, n_sentence = 0;

  FUZZ_CHECK (enc != NULL && enc->n_tokens >= 0);
  FUZZ_CHECK (enc->n_tokens == 0 || enc->tokens != NULL);
  FUZZ_CHECK (enc->truncated == (enc->n_dropped > 0));
  FUZZ_CHECK (enc->n_dropped >= 0);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      const AsToken *t = &enc->tokens[i];
      FUZZ_CHECK (t->text != NULL);
      FUZZ_CHECK (g_utf8_validate (t->text, -1, NULL));
      FUZZ_CHECK (t->id >= 0);
      FUZZ_CHECK (t->type_id >= 0);
      if (t->sequence < 0)
        {
          FUZZ_CHECK (t->sequence == -1 && t->start == -1 && t->end == -1);
          n_special++;
          continue;
        }
      FUZZ_CHECK (t->sequence == 0 || (t->sequence == 1 && len_b >= 0));
      gssize len = t->sequence == 0 ? len_a : len_b;
      FUZZ_CHECK (t->start >= 0 && t->start <= t->end && t->end <= len);
      FUZZ_CHECK (t->id < vocab_size);
      n_sentence++;
    }
  if (max_length > 0)
    FUZZ_CHECK (n_sentence <= MAX (0, max_length - n_special));
}

/* Encodes A (and B) with a few lengths and checks each result; also the
 * normalizer over a NUL-terminated copy of A. */
static inline void
fuzz_encode_and_check (AsTokenizer *tok,
                       const char  *a,
                       gssize       len_a,
                       const char  *b,
                       gssize       len_b,
                       int          max_length)
{
  AsEncoding *enc = as_tokenizer_encode_len (tok, a, len_a, b, b ? len_b : -1, max_length);
  fuzz_check_encoding (tok, enc, len_a, b ? len_b : -1, max_length);
  as_encoding_free (enc);

  char *copy = g_strndup (a, len_a);
  char *normalized = as_tokenizer_normalize (tok, copy);
  FUZZ_CHECK (normalized != NULL && g_utf8_validate (normalized, -1, NULL));
  g_free (normalized);
  g_free (copy);
}

/* A loaded tokenizer, from any file, must encode these without trouble. */
static inline void
fuzz_exercise_tokenizer (AsTokenizer *tok)
{
  static const char *const texts[] = {
    "The animal didn't cross the street because it was too tired.",
    "café naïve Müller İstanbul 東京 [MASK] [CLS]x[SEP] ##ing",
    "\xe2\x80\x8b\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \x01\x7f\xff",
    "",
    "   \t\n ",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      gssize len = (gssize) strlen (texts[i]);
      fuzz_encode_and_check (tok, texts[i], len, NULL, -1, 0);
      const char *b = texts[(i + 1) % G_N_ELEMENTS (texts)];
      fuzz_encode_and_check (tok, texts[i], len, b, (gssize) strlen (b), 8);
    }
  /* Ids and tokens round-trip where defined. */
  int size = as_tokenizer_get_vocab_size (tok);
  FUZZ_CHECK (size >= 0);
  FUZZ_CHECK (as_tokenizer_id_to_token (tok, -1) == NULL);
  FUZZ_CHECK (as_tokenizer_id_to_token (tok, size) == NULL);
  for (int id = 0; id < MIN (size, 64); id++)
    {
      const char *token = as_tokenizer_id_to_token (tok, id);
      if (token != NULL)
        FUZZ_CHECK (as_tokenizer_token_to_id (tok, token) >= 0);
    }
}
