/* as-tokenizer.h — the one tokenizer type every caller uses: BERT WordPiece,
 * identical to Hugging Face `tokenizers` (BertNormalizer + BertPreTokenizer +
 * WordPiece + template), or a decoder's byte-level BPE (as-bpe.h), to which
 * each function below dispatches.
 *
 * WordPiece is loaded from tokenizer.json when present, else from vocab.txt;
 * BPE from a tokenizer.json whose model is BPE, or a GGUF file's metadata. Every token keeps the byte span of the
 * input it came from, so the UI can label it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _AsTokenizer AsTokenizer;
typedef struct _AsGguf AsGguf;   /* as-gguf.h */
typedef struct _AsBpe AsBpe;     /* as-bpe.h */

typedef struct {
  int      id;
  char    *text;          /* WordPiece: vocabulary string, e.g. "##ing" or "[CLS]";
                           * BPE: the readable label (" world", not "Ġworld") */
  int      type_id;       /* 0 for sentence A, 1 for sentence B */
  int      sequence;      /* 0 = A, 1 = B, -1 = added by the template */
  int      start;         /* byte offset into its sentence, -1 for template tokens */
  int      end;           /* exclusive byte offset */
  gboolean is_special;    /* [CLS], [SEP], [MASK] … */
  gboolean is_continuation; /* a "##" piece; BPE: not the first piece of a
                             * pre-tokenizer word ("bel" in "un|bel|ievable") */
} AsToken;

typedef struct {
  AsToken *tokens;
  int      n_tokens;
  gboolean truncated;     /* true when tokens were dropped to fit max_length */
  int      n_dropped;     /* how many sentence tokens were dropped */
} AsEncoding;

/* Loads DIR/tokenizer.json, or DIR/vocab.txt when there is none. A BPE
 * tokenizer.json takes its BOS from its post-processor's template (a special
 * token before the text) or tokenizer_config.json's bos_token, its EOS from
 * eos_token, and tokenizer_config.json's add_bos_token, when present,
 * decides whether the BOS is added. */
AsTokenizer *as_tokenizer_new_from_dir   (const char  *dir,
                                          GError     **error);
AsTokenizer *as_tokenizer_new_from_json  (const char  *json,
                                          gsize        length,
                                          const char  *display_name,
                                          GError     **error);
AsTokenizer *as_tokenizer_new_from_vocab (const char  *vocab_txt,
                                          gsize        length,
                                          gboolean     lowercase,
                                          const char  *display_name,
                                          GError     **error);
/* Byte-level BPE from a GGUF's tokenizer.ggml.* metadata (as_bpe_new_from_gguf:
 * a tokenizer.ggml.model other than "gpt2" is refused by name). */
AsTokenizer *as_tokenizer_new_from_gguf  (AsGguf      *gguf,
                                          GError     **error);
void         as_tokenizer_free           (AsTokenizer *tok);

/* FALSE for a tokenizer that takes one text only (a decoder's BPE). */
gboolean     as_tokenizer_takes_pairs    (AsTokenizer *tok);
/* TRUE when TOK can encode TEXT_B (NULL: no pair always can); else FALSE
 * with "this model takes one text". Callers check before encoding a pair. */
gboolean     as_tokenizer_check_pair     (AsTokenizer *tok,
                                          const char  *text_b,
                                          GError     **error);

/* One more than the largest id (vocabulary and added tokens): the number of
 * rows an embedding table needs. */
int          as_tokenizer_get_vocab_size (AsTokenizer *tok);
/* -1 when absent. TOKEN is the vocabulary spelling ("##ing", "Ġworld"). */
int          as_tokenizer_token_to_id    (AsTokenizer *tok,
                                          const char  *token);
/* The vocabulary spelling of ID, NULL when there is none. */
const char  *as_tokenizer_id_to_token    (AsTokenizer *tok,
                                          int          id);
/* A decoder's end-of-sequence id, -1 when none is known (and for WordPiece). */
int          as_tokenizer_get_eos_id     (AsTokenizer *tok);
/* A decoder's byte-level BPE (as-bpe.h: decoding ids to text), NULL for
 * WordPiece. Owned by TOK. */
AsBpe       *as_tokenizer_get_bpe        (AsTokenizer *tok);
/* What ID stands for, to show it: a BPE token's text (" cat", not
 * "Ġcat"), else its vocabulary spelling; NULL for an unknown id. g_free. */
char        *as_tokenizer_id_to_label    (AsTokenizer *tok,
                                          int          id);

/* Encodes TEXT_A (and TEXT_B when not NULL) as [CLS] A [SEP] (B [SEP]).
 * MAX_LENGTH counts the special tokens; 0 means no limit. Longer inputs are
 * truncated longest-first (as HF does) and the encoding says so. Any bytes are
 * accepted: invalid UTF-8 is treated as U+FFFD (dropped by clean_text). A
 * MAX_LENGTH below the template's special tokens keeps those alone (HF
 * refuses such a length). The file's own truncation/padding are ignored.
 *
 * BPE has no template: the tokens of TEXT_A (sequence 0), after a BOS
 * (sequence -1, as a template token) only when the file says add_bos_token;
 * MAX_LENGTH counts that BOS and truncation keeps the first tokens. BPE takes
 * no pair: TEXT_B must be NULL (as_tokenizer_check_pair); it is ignored. */
AsEncoding  *as_tokenizer_encode         (AsTokenizer *tok,
                                          const char  *text_a,
                                          const char  *text_b,
                                          int          max_length);
/* Same, with explicit byte lengths (-1 = NUL-terminated): text read from a
 * file may contain NUL bytes, which are dropped like any control character. */
AsEncoding  *as_tokenizer_encode_len     (AsTokenizer *tok,
                                          const char  *text_a,
                                          gssize       length_a,
                                          const char  *text_b,
                                          gssize       length_b,
                                          int          max_length);
void         as_encoding_free            (AsEncoding  *enc);

/* TEXT after the tokenizer's normalizer (BertNormalizer: clean_text, CJK
 * spacing, accent stripping, lowercasing): what the pre-tokenizer and
 * WordPiece see; BPE has no normalizer (TEXT as it is). Added tokens are not treated specially here. Any bytes are
 * accepted, as for as_tokenizer_encode. Free with g_free(). */
char        *as_tokenizer_normalize      (AsTokenizer *tok,
                                          const char  *text);

G_END_DECLS
