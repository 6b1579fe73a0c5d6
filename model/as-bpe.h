/* as-bpe.h — byte-level BPE (GPT-2 / RoBERTa / SmolLM2), identical in ids to
 * Hugging Face `tokenizers`.
 *
 * Loaded from a GGUF's tokenizer metadata (tokenizer.ggml.model "gpt2"), the
 * way transformers builds it (integrations/gguf/gguf_tokenizer_mapping.py),
 * or from a tokenizer.json whose model is BPE and whose pre-tokenizer is
 * ByteLevel (GPT-2 regex), Sequence[Digits(individual), ByteLevel] (SmolLM2's
 * own tokenizer.json) or Sequence[Split(Llama-3's pattern), ByteLevel].
 * The regex patterns are matched by hand, with GLib's Unicode categories
 * plus a table for the characters Oniguruma knows and GLib 2.74 does not.
 *
 * Encoding results are AsEncodings (as-tokenizer.h): every token has its id,
 * its vocabulary spelling (as convert_ids_to_tokens shows it: "Ġworld") and
 * the byte span of the input it covers; sequence 0, type_id 0;
 * is_continuation for a pre-tokenizer word's pieces after its first. No template
 * tokens are added: the caller puts BOS first when as_bpe_get_add_bos says so.
 */
#pragma once

#include <glib.h>

#include "as-gguf.h"
#include "as-tokenizer.h"

G_BEGIN_DECLS

typedef struct _AsBpe AsBpe;

/* Far above real vocabularies (Llama-3: 128,256; Gemma: 262,144): a header
 * or file naming more tokens or merges is refused before tables are built. */
#define AS_BPE_MAX_TOKENS (1 << 21)
#define AS_BPE_MAX_MERGES (1 << 21)
/* as_bpe_encode reads at most this many bytes of a text (and then sets the
 * encoding's truncated flag): byte offsets are ints. */
#define AS_BPE_MAX_TEXT (1 << 30)

/* From a GGUF's metadata, as transformers 5.25 builds it: tokens spelled
 * outside the byte alphabet respelled, CONTROL tokens (type 3) special added
 * tokens, USER_DEFINED (4) plain added tokens. tokenizer.ggml.pre must be one
 * that transformers splits with the GPT-2 regex (absent, "default", "gpt2",
 * "gpt-2", "smollm": note that transformers does NOT split digits for
 * "smollm", unlike llama.cpp and SmolLM2's own tokenizer.json) or with
 * Llama-3's ("llama-bpe", "llama3", "dbrx", …); others are refused by name
 * (AS_MODEL_ERROR_UNSUPPORTED). Errors
 * name the file and the key: missing tokens or merges, a merge of a token
 * not in the vocabulary, too many tokens (AS_MODEL_ERROR_RESOURCES). */
AsBpe       *as_bpe_new_from_gguf           (AsGguf      *gguf,
                                             GError     **error);
/* From tokenizer.json text. Anything else than a BPE model without
 * dropout/byte fallback/continuing prefix, no normalizer, one of the
 * pre-tokenizers above (add_prefix_space false) and added tokens without
 * lstrip/rstrip/single_word is refused, naming the part (e.g. "pre_tokenizer
 * Metaspace is not supported"). ignore_merges is honoured; the
 * post-processor and decoder are ignored (see as_bpe_encode, as_bpe_decode).
 * bos/eos are -1 (a tokenizer.json does not say them;
 * tokenizer_config.json does). */
AsBpe       *as_bpe_new_from_tokenizer_json (const char  *json,
                                             gsize        length,
                                             GError     **error);
void         as_bpe_free                    (AsBpe       *bpe);

/* Encodes LENGTH bytes of TEXT (-1: NUL-terminated). Added and special
 * tokens written in the text are cut out first (exact match, leftmost
 * longest, as HF does for tokens with lstrip/rstrip off). Any bytes are
 * accepted: an invalid UTF-8 sequence reads as U+FFFD (what Python's
 * errors="replace" would hand HF), whose tokens span the invalid bytes.
 * Offsets are byte offsets into TEXT; a token that holds part of a
 * character's bytes spans just those bytes (one that holds part of a
 * U+FFFD spans the whole invalid sequence). Bytes whose one-character token
 * is missing from the vocabulary (SmolLM2 lacks 0x04, 0x06, 0x13, 0x14,
 * 0x16, 0x1D, 0xC0, 0xC1 and 0xF1-0xFF: characters from U+40000 up, tag
 * characters among them, lose their lead byte) are dropped, as HF does with no
 * unk_token: then decode(encode(x)) != x. Never NULL. The AsBpe is only
 * read: encoding from several threads at once is safe. */
AsEncoding  *as_bpe_encode                  (AsBpe       *bpe,
                                             const char  *text,
                                             gssize       length);
/* Ids alone (g_free), *N_IDS set. */
int         *as_bpe_encode_ids              (AsBpe       *bpe,
                                             const char  *text,
                                             gssize       length,
                                             int         *n_ids);
/* Ids → UTF-8 text, as HF's decode with the ByteLevel decoder: bytes that
 * are not valid UTF-8 (a token cut inside a character) become U+FFFD, one
 * per maximal invalid subpart, as Rust's from_utf8_lossy does. Ids out of
 * range are skipped, as are special tokens when SKIP_SPECIAL. g_free. */
char        *as_bpe_decode                  (AsBpe       *bpe,
                                             const int   *ids,
                                             int          n_ids,
                                             gboolean     skip_special);
/* What one token stands for, for labels: its bytes as text (" world" for
 * "Ġworld"), with U+FFFD for a partial character. NULL for an unknown id.
 * g_free. */
char        *as_bpe_id_to_label             (AsBpe       *bpe,
                                             int          id);

/* One more than the largest id (vocabulary and added tokens). */
int          as_bpe_get_vocab_size          (AsBpe       *bpe);
/* -1 when absent. TOKEN is the vocabulary spelling ("Ġworld"). */
int          as_bpe_token_to_id             (AsBpe       *bpe,
                                             const char  *token);
/* NULL for an id with no token. */
const char  *as_bpe_id_to_token             (AsBpe       *bpe,
                                             int          id);
gboolean     as_bpe_is_special              (AsBpe       *bpe,
                                             int          id);
/* -1 when the source does not say. */
int          as_bpe_get_bos_id              (AsBpe       *bpe);
int          as_bpe_get_eos_id              (AsBpe       *bpe);
/* tokenizer.ggml.add_bos_token (FALSE when absent, as transformers). */
gboolean     as_bpe_get_add_bos             (AsBpe       *bpe);

/* The pre-tokenizer's character classes, exposed for tests: 'L' (\p{L}),
 * 'N' (\p{N}), 'S' (\s), 'O' (anything else), as the tokenizers crate's
 * regex engine (Oniguruma) has them. */
char         as_bpe_char_class              (gunichar     c);

G_END_DECLS
