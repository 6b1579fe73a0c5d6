/* as-bpe.c — byte-level BPE, identical in ids to Hugging Face `tokenizers`
 * (file names below are under its tokenizers/src/) as transformers sets it
 * up.
 *
 * One text goes through:
 *   1. its bytes are made valid UTF-8 (an invalid sequence reads as U+FFFD),
 *      remembering which input bytes each byte came from;
 *   2. added tokens are cut out, exact and leftmost-longest
 *      (tokenizer/added_vocabulary.rs; those with normalized=false first,
 *      then the others in what is left, as HF does);
 *   3. optionally Digits(individual_digits) (pre_tokenizers/digits.rs) puts
 *      every numeric character on its own;
 *   4. the ByteLevel pre-tokenizer (pre_tokenizers/byte_level.rs) splits
 *      each piece with GPT-2's pattern
 *        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      (matched by hand below) and spells every byte as one character of
 *      GPT-2's bytes_to_unicode alphabet; or, for Llama-3 style files, a Split
 *      with LLAMA3_PATTERN (also by hand) does the splitting;
 *   5. BPE (models/bpe/word.rs) merges adjacent symbols, always the pair of
 *      lowest merge rank first, the leftmost on a tie.
 */
#include "as-bpe.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "as-error.h"
#include "as-json-guard.h"

/* ------------------------------------------------------------------------ */
/* Character classes                                                          */
/* ------------------------------------------------------------------------ */

/* tokenizers matches the pattern with Oniguruma, whose Unicode tables
 * (16.0 in tokenizers 0.23) are newer than GLib 2.74's (15.0): these are the
 * letters and numbers it knows that GLib calls unassigned. The fixture
 * tests/data/bpe/smollm2-goldens.json holds the crate's classes for every
 * code point (tools/make-bpe-goldens.py probes them), and test-bpe checks
 * as_bpe_char_class against it. */
typedef struct {
  gunichar lo, hi;
  char     cls;
} ClassRange;

static const ClassRange newer_than_glib[] = {
  {0x1C89, 0x1C8A, 'L'}, {0xA7CB, 0xA7CD, 'L'}, {0xA7DA, 0xA7DC, 'L'},
  {0x105C0, 0x105F3, 'L'}, {0x10D40, 0x10D49, 'N'}, {0x10D4A, 0x10D65, 'L'},
  {0x10D6F, 0x10D85, 'L'}, {0x10EC2, 0x10EC4, 'L'}, {0x11380, 0x11389, 'L'},
  {0x1138B, 0x1138B, 'L'}, {0x1138E, 0x1138E, 'L'}, {0x11390, 0x113B5, 'L'},
  {0x113B7, 0x113B7, 'L'}, {0x113D1, 0x113D1, 'L'}, {0x113D3, 0x113D3, 'L'},
  {0x116D0, 0x116E3, 'N'}, {0x11BC0, 0x11BE0, 'L'}, {0x11BF0, 0x11BF9, 'N'},
  {0x13460, 0x143FA, 'L'}, {0x16100, 0x1611D, 'L'}, {0x16130, 0x16139, 'N'},
  {0x16D40, 0x16D6C, 'L'}, {0x16D70, 0x16D79, 'N'}, {0x18CFF, 0x18CFF, 'L'},
  {0x1CCF0, 0x1CCF9, 'N'}, {0x1E5D0, 0x1E5ED, 'L'}, {0x1E5F0, 0x1E5F0, 'L'},
  {0x1E5F1, 0x1E5FA, 'N'}, {0x2EBF0, 0x2EE5D, 'L'},
};

char
as_bpe_char_class (gunichar c)
{
  if (c >= newer_than_glib[0].lo)
    {
      gsize lo = 0, hi = G_N_ELEMENTS (newer_than_glib);

      while (lo < hi)
        {
          gsize mid = lo + (hi - lo) / 2;

          if (c < newer_than_glib[mid].lo)
            hi = mid;
          else if (c > newer_than_glib[mid].hi)
            lo = mid + 1;
          else
            return newer_than_glib[mid].cls;
        }
    }
  if (c < 0x80)
    {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 'L';
      if (c >= '0' && c <= '9')
        return 'N';
      if (c == ' ' || (c >= 0x09 && c <= 0x0D))
        return 'S';
      return 'O';
    }
  if (c == 0x85)
    return 'S';
  switch (g_unichar_type (c))
    {
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
      return 'L';
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_LETTER_NUMBER:
    case G_UNICODE_OTHER_NUMBER:
      return 'N';
    case G_UNICODE_SPACE_SEPARATOR:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
      return 'S';
    default:
      return 'O';
    }
}

/* ------------------------------------------------------------------------ */
/* The tokenizer                                                              */
/* ------------------------------------------------------------------------ */

typedef struct {
  guint64 key;      /* (left id << 32) | right id; 0 = empty slot (+1 bias) */
  guint32 rank;
  gint32  merged;   /* the id of left+right */
} MergeSlot;

typedef struct {
  char    *content;
  gsize    len;
  int      id;
  gboolean special;
  gboolean normalized;
} AddedToken;

struct _AsBpe {
  char       *name;
  char      **tokens;        /* by id; NULL for a hole */
  int         n_ids;         /* one more than the largest id */
  GHashTable *by_token;      /* spelling -> id + 1 (keys in tokens[]) */
  gboolean   *special;       /* by id */
  MergeSlot  *merges;
  gsize       merge_mask;    /* capacity - 1 (a power of two) */
  int         byte_id[256];  /* the id of each byte's one-character token, -1 */
  int         unk_id;
  gboolean    ignore_merges;
  gboolean    digits;        /* Digits(individual_digits) before ByteLevel */
  gboolean    llama3;        /* Split(Llama-3's pattern) + ByteLevel(no regex) */
  AddedToken *added;
  int         n_added;
  int         bos_id, eos_id;
  gboolean    add_bos;
};

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the 68 others for U+0100 onwards, in byte order. */
static gunichar byte_char[256];
static int      char_byte[0x144];   /* U+0000 .. U+0143 -> byte, or -1 */

static void
init_byte_alphabet (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      gunichar next = 0x100;

      for (int i = 0; i < (int) G_N_ELEMENTS (char_byte); i++)
        char_byte[i] = -1;
      for (int b = 0; b < 256; b++)
        {
          gboolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC)
                               || (b >= 0xAE && b <= 0xFF);
          byte_char[b] = printable ? (gunichar) b : next++;
          char_byte[byte_char[b]] = b;
        }
      g_once_init_leave (&done, 1);
    }
}

static int
byte_of_char (gunichar c)
{
  return c < G_N_ELEMENTS (char_byte) ? char_byte[c] : -1;
}


static AsBpe *
bpe_new (const char *name)
{
  AsBpe *bpe = g_new0 (AsBpe, 1);

  init_byte_alphabet ();
  bpe->name = g_strdup (name);
  bpe->by_token = g_hash_table_new (g_str_hash, g_str_equal);
  bpe->unk_id = -1;
  bpe->bos_id = -1;
  bpe->eos_id = -1;
  return bpe;
}

void
as_bpe_free (AsBpe *bpe)
{
  if (bpe == NULL)
    return;
  g_hash_table_unref (bpe->by_token);
  for (int i = 0; i < bpe->n_ids; i++)
    g_free (bpe->tokens[i]);
  g_free (bpe->tokens);
  g_free (bpe->special);
  g_free (bpe->merges);
  for (int i = 0; i < bpe->n_added; i++)
    g_free (bpe->added[i].content);
  g_free (bpe->added);
  g_free (bpe->name);
  g_free (bpe);
}

static void
alloc_ids (AsBpe *bpe, int n_ids)
{
  bpe->n_ids = n_ids;
  bpe->tokens = g_new0 (char *, n_ids);
  bpe->special = g_new0 (gboolean, n_ids);
}

/* Puts TOKEN (copied) at ID; FALSE when the id already has a token. A
 * spelling seen twice maps to its last id, as in transformers' vocab dict
 * (the earlier id keeps its row and decodes the same). */
static gboolean
set_token (AsBpe *bpe, int id, const char *token)
{
  if (bpe->tokens[id] != NULL)
    return FALSE;
  bpe->tokens[id] = g_strdup (token);
  g_hash_table_insert (bpe->by_token, bpe->tokens[id], GINT_TO_POINTER (id + 1));
  return TRUE;
}

static int
lookup (AsBpe *bpe, const char *token)
{
  return GPOINTER_TO_INT (g_hash_table_lookup (bpe->by_token, token)) - 1;
}

static guint64
pair_key (int a, int b)
{
  return (((guint64) (guint32) a << 32) | (guint32) b) + 1;
}

static MergeSlot *
merge_slot (MergeSlot *slots, gsize mask, guint64 key)
{
  guint64 h = key * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15);
  gsize i = (gsize) (h >> 29) & mask;

  while (slots[i].key != 0 && slots[i].key != key)
    i = (i + 1) & mask;
  return &slots[i];
}

static gboolean
find_merge (AsBpe *bpe, int a, int b, guint32 *rank, int *merged)
{
  MergeSlot *slot;

  if (bpe->merges == NULL)
    return FALSE;
  slot = merge_slot (bpe->merges, bpe->merge_mask, pair_key (a, b));
  if (slot->key == 0)
    return FALSE;
  *rank = slot->rank;
  *merged = slot->merged;
  return TRUE;
}

/* GET gives merge I's left token (newly allocated) and its right one (NULL
 * when the entry is not two tokens). WHAT names the list in messages. */
static gboolean
load_merges (AsBpe        *bpe,
             gsize         n,
             char       *(*get) (gpointer data, gsize i, const char **right),
             gpointer      data,
             const char   *what,
             GError      **error)
{
  gsize capacity = 16;

  if (n > AS_BPE_MAX_MERGES)
    return as_model_fail (error, AS_MODEL_ERROR_RESOURCES, "%s: %s lists %" G_GSIZE_FORMAT
                 " merges, more than the %d this program takes", bpe->name, what, n,
                 AS_BPE_MAX_MERGES);
  while (capacity < 2 * n)
    capacity *= 2;
  bpe->merges = g_new0 (MergeSlot, capacity);
  bpe->merge_mask = capacity - 1;
  for (gsize i = 0; i < n; i++)
    {
      const char *right = NULL;
      char *left = get (data, i, &right);
      char *joined;
      int a, b, m;
      MergeSlot *slot;

      if (left == NULL || right == NULL)
        {
          g_free (left);
          return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                       "%s: %s[%" G_GSIZE_FORMAT "] is not two tokens", bpe->name, what, i);
        }
      a = lookup (bpe, left);
      b = lookup (bpe, right);
      if (a < 0 || b < 0)
        {
          as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                "%s: %s[%" G_GSIZE_FORMAT "] names \"%s\", which is not in the vocabulary",
                bpe->name, what, i, a < 0 ? left : right);
          g_free (left);
          return FALSE;
        }
      joined = g_strconcat (left, right, NULL);
      g_free (left);
      m = lookup (bpe, joined);
      if (m < 0)
        {
          as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                "%s: %s[%" G_GSIZE_FORMAT "] makes \"%s\", which is not in the vocabulary",
                bpe->name, what, i, joined);
          g_free (joined);
          return FALSE;
        }
      g_free (joined);
      /* HF collects the merges into a map: a pair listed twice keeps its
       * last rank. */
      slot = merge_slot (bpe->merges, bpe->merge_mask, pair_key (a, b));
      slot->key = pair_key (a, b);
      slot->rank = (guint32) i;
      slot->merged = m;
    }
  return TRUE;
}

static void
finish_bytes (AsBpe *bpe)
{
  for (int b = 0; b < 256; b++)
    {
      char s[8];
      int len = g_unichar_to_utf8 (byte_char[b], s);

      s[len] = '\0';
      bpe->byte_id[b] = lookup (bpe, s);
    }
}

static gboolean
add_added (AsBpe *bpe, const char *content, int id, gboolean special, gboolean normalized,
           GError **error)
{
  AddedToken *t;

  if (content[0] == '\0')
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: added token %d is empty", bpe->name, id);
  for (int i = 0; i < bpe->n_added; i++)
    if (strcmp (bpe->added[i].content, content) == 0)
      return TRUE;
  bpe->added = g_renew (AddedToken, bpe->added, bpe->n_added + 1);
  t = &bpe->added[bpe->n_added++];
  t->content = g_strdup (content);
  t->len = strlen (content);
  t->id = id;
  t->special = special;
  t->normalized = normalized;
  if (special)
    bpe->special[id] = TRUE;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Loading from GGUF                                                          */
/* ------------------------------------------------------------------------ */

/* Pre-tokenizer names for which transformers keeps GPT2Tokenizer's own
 * ByteLevel split (they are not in its GGUF_PRE_TOKENIZER_SPLITS). */
static const char *const gpt2_regex_pres[] = { "default", "gpt2", "gpt-2", "smollm" };
/* Those it splits with Llama-3's pattern (its _LLAMA3_SPLIT). */
static const char *const llama3_pres[] = {
  "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
  "jina-v5-nano", "dbrx", "smaug-bpe",
};

typedef struct {
  const char *const *merges;
} GgufMerges;

/* "left right": exactly one space, neither side empty (HF's rule). */
static char *
split_merge (const char *s, const char **right)
{
  const char *space = strchr (s, ' ');

  if (space == NULL || space == s || space[1] == '\0' || strchr (space + 1, ' ') != NULL)
    return NULL;
  *right = space + 1;
  return g_strndup (s, (gsize) (space - s));
}

static char *
gguf_merge_at (gpointer data, gsize i, const char **right)
{
  GgufMerges *gm = data;

  return split_merge (gm->merges[i], right);
}

/* The spelling transformers gives a token: itself when every character is in
 * the byte alphabet, else its UTF-8 bytes spelled in it. */
static char *
respell (const char *token, gboolean *changed)
{
  GString *out;

  *changed = FALSE;
  for (const char *p = token; *p; p = g_utf8_next_char (p))
    if (byte_of_char (g_utf8_get_char (p)) < 0)
      {
        *changed = TRUE;
        break;
      }
  if (!*changed)
    return NULL;
  out = g_string_new (NULL);
  for (const guchar *p = (const guchar *) token; *p; p++)
    g_string_append_unichar (out, byte_char[*p]);
  return g_string_free (out, FALSE);
}

AsBpe *
as_bpe_new_from_gguf (AsGguf *gguf, GError **error)
{
  const char *path = as_gguf_get_path (gguf);
  AsBpe *bpe = bpe_new (path != NULL ? path : "GGUF");
  const char *model, *pre = NULL;
  const char *const *tokens, *const *merges;
  gsize n_tokens = 0, n_merges = 0, n_types = 0;
  gint32 *types = NULL;
  GgufMerges gm;
  guint64 value;
  gboolean flag;
  gboolean known = FALSE;

  if (as_gguf_find_key (gguf, "tokenizer.ggml.model", NULL, NULL) < 0)
    {
      as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: no tokenizer.ggml.model", bpe->name);
      goto failed;
    }
  model = as_gguf_get_string (gguf, "tokenizer.ggml.model", error);
  if (model == NULL)
    goto failed;
  if (strcmp (model, "gpt2") != 0)
    {
      as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
            "%s: tokenizer.ggml.model \"%s\" is not byte-level BPE (\"gpt2\")", bpe->name, model);
      goto failed;
    }
  if (as_gguf_find_key (gguf, "tokenizer.ggml.pre", NULL, NULL) >= 0)
    {
      pre = as_gguf_get_string (gguf, "tokenizer.ggml.pre", error);
      if (pre == NULL)
        goto failed;
    }
  for (gsize i = 0; pre != NULL && i < G_N_ELEMENTS (gpt2_regex_pres); i++)
    known |= strcmp (pre, gpt2_regex_pres[i]) == 0;
  for (gsize i = 0; pre != NULL && i < G_N_ELEMENTS (llama3_pres); i++)
    if (strcmp (pre, llama3_pres[i]) == 0)
      known = bpe->llama3 = TRUE;
  if (pre != NULL && !known)
    {
      as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
            "%s: tokenizer.ggml.pre \"%s\" is not supported (only the GPT-2 split: "
            "default, gpt2, smollm; and the Llama-3 one: llama-bpe, llama3 …)", bpe->name, pre);
      goto failed;
    }

  if (as_gguf_find_key (gguf, "tokenizer.ggml.tokens", NULL, &value) == AS_GGUF_ARRAY
      && value > AS_BPE_MAX_TOKENS)
    {
      as_model_fail (error, AS_MODEL_ERROR_RESOURCES,
            "%s: tokenizer.ggml.tokens lists %" G_GUINT64_FORMAT
            " tokens, more than the %d this program takes", bpe->name, value, AS_BPE_MAX_TOKENS);
      goto failed;
    }
  tokens = as_gguf_get_strings (gguf, "tokenizer.ggml.tokens", &n_tokens, error);
  if (tokens == NULL)
    goto failed;
  if (n_tokens == 0)
    {
      as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: tokenizer.ggml.tokens is empty", bpe->name);
      goto failed;
    }
  if (as_gguf_find_key (gguf, "tokenizer.ggml.token_type", NULL, NULL) >= 0)
    {
      types = as_gguf_dup_i32_array (gguf, "tokenizer.ggml.token_type", &n_types, error);
      if (types == NULL)
        goto failed;
      if (n_types != n_tokens)
        {
          as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                "%s: tokenizer.ggml.token_type has %" G_GSIZE_FORMAT " entries for %"
                G_GSIZE_FORMAT " tokens", bpe->name, n_types, n_tokens);
          goto failed;
        }
    }

  alloc_ids (bpe, (int) n_tokens);
  for (gsize i = 0; i < n_tokens; i++)
    {
      gboolean changed;
      char *spelled = respell (tokens[i], &changed);

      set_token (bpe, (int) i, changed ? spelled : tokens[i]);
      g_free (spelled);
    }

  if (as_gguf_find_key (gguf, "tokenizer.ggml.merges", NULL, NULL) < 0)
    {
      as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED, "%s: no tokenizer.ggml.merges", bpe->name);
      goto failed;
    }
  if (as_gguf_find_key (gguf, "tokenizer.ggml.merges", NULL, &value) == AS_GGUF_ARRAY
      && value > AS_BPE_MAX_MERGES)
    {
      as_model_fail (error, AS_MODEL_ERROR_RESOURCES,
            "%s: tokenizer.ggml.merges lists %" G_GUINT64_FORMAT
            " merges, more than the %d this program takes", bpe->name, value, AS_BPE_MAX_MERGES);
      goto failed;
    }
  merges = as_gguf_get_strings (gguf, "tokenizer.ggml.merges", &n_merges, error);
  if (merges == NULL)
    goto failed;
  gm.merges = merges;
  if (!load_merges (bpe, n_merges, gguf_merge_at, &gm, "tokenizer.ggml.merges", error))
    goto failed;
  finish_bytes (bpe);

  /* transformers: CONTROL (3) tokens spelled in the byte alphabet become
   * special added tokens, USER_DEFINED (4) ones plain added tokens. */
  for (gsize i = 0; types != NULL && i < n_tokens; i++)
    if (types[i] == 3 || types[i] == 4)
      {
        gboolean changed;
        char *spelled = respell (tokens[i], &changed);

        g_free (spelled);
        if (changed)
          continue;
        if (!add_added (bpe, bpe->tokens[i], (int) i, types[i] == 3, FALSE, error))
          goto failed;
      }

  for (int k = 0; k < 2; k++)
    {
      const char *key = k == 0 ? "tokenizer.ggml.bos_token_id" : "tokenizer.ggml.eos_token_id";
      int *out = k == 0 ? &bpe->bos_id : &bpe->eos_id;

      if (as_gguf_find_key (gguf, key, NULL, NULL) < 0)
        continue;
      if (!as_gguf_get_count (gguf, key, &value, error))
        goto failed;
      if (value >= n_tokens)
        {
          as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: %s %" G_GUINT64_FORMAT
                " is not a token id (there are %" G_GSIZE_FORMAT ")", bpe->name, key, value,
                n_tokens);
          goto failed;
        }
      *out = (int) value;
    }
  if (as_gguf_find_key (gguf, "tokenizer.ggml.add_bos_token", NULL, NULL) >= 0)
    {
      if (!as_gguf_get_bool (gguf, "tokenizer.ggml.add_bos_token", &flag, error))
        goto failed;
      bpe->add_bos = flag;
    }
  g_free (types);
  return bpe;

failed:
  g_free (types);
  as_bpe_free (bpe);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Loading from tokenizer.json                                                */
/* ------------------------------------------------------------------------ */

static gboolean
is_null (JsonNode *node)
{
  return node == NULL || JSON_NODE_HOLDS_NULL (node);
}

static gboolean
node_to_id (JsonNode *node, int *id)
{
  gint64 v;

  if (!as_json_holds_type (node, G_TYPE_INT64))
    return FALSE;
  v = json_node_get_int (node);
  if (v < 0 || v >= AS_BPE_MAX_TOKENS)
    return FALSE;
  *id = (int) v;
  return TRUE;
}

/* Llama-3's pattern, as tokenizer.json spells it (transformers uses the same
 * for GGUF files whose tokenizer.ggml.pre is one of llama3_pres). */
#define LLAMA3_PATTERN \
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" \
  "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* ByteLevel with the GPT-2 regex, no prefix space. */
static gboolean
check_byte_level (AsBpe *bpe, JsonObject *o, GError **error)
{
  if (as_json_get_bool (o, "add_prefix_space", FALSE))
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: pre_tokenizer ByteLevel with add_prefix_space is not supported", bpe->name);
  if (!as_json_get_bool (o, "use_regex", TRUE))
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: pre_tokenizer ByteLevel without its regex is not supported", bpe->name);
  return TRUE;
}

static gboolean
check_pre_tokenizer (AsBpe *bpe, JsonObject *pre, GError **error)
{
  const char *type = as_json_get_string (pre, "type", NULL);
  JsonArray *list;
  JsonObject *first, *second;
  const char *t1, *t2;

  if (pre == NULL)
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: a BPE without a ByteLevel pre_tokenizer is not supported", bpe->name);
  if (g_strcmp0 (type, "ByteLevel") == 0)
    return check_byte_level (bpe, pre, error);
  if (g_strcmp0 (type, "Sequence") != 0)
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED, "%s: pre_tokenizer %s is not supported",
                 bpe->name, type != NULL ? type : "(no type)");
  list = as_json_get_array (pre, "pretokenizers");
  if (list == NULL || json_array_get_length (list) == 0 || json_array_get_length (list) > 2)
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: pre_tokenizer Sequence other than [Digits or Split, ByteLevel] is not "
                 "supported",
                 bpe->name);
  first = JSON_NODE_HOLDS_OBJECT (json_array_get_element (list, 0))
          ? json_node_get_object (json_array_get_element (list, 0)) : NULL;
  if (json_array_get_length (list) == 1)
    {
      t1 = as_json_get_string (first, "type", NULL);
      if (g_strcmp0 (t1, "ByteLevel") != 0)
        return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                     "%s: pre_tokenizer Sequence[%s] is not supported", bpe->name,
                     t1 != NULL ? t1 : "?");
      return check_byte_level (bpe, first, error);
    }
  second = JSON_NODE_HOLDS_OBJECT (json_array_get_element (list, 1))
           ? json_node_get_object (json_array_get_element (list, 1)) : NULL;
  t1 = as_json_get_string (first, "type", NULL);
  t2 = as_json_get_string (second, "type", NULL);
  if (g_strcmp0 (t1, "Split") == 0 && g_strcmp0 (t2, "ByteLevel") == 0)
    {
      const char *pattern = as_json_get_string (as_json_get_object (first, "pattern"), "Regex", NULL);

      if (g_strcmp0 (pattern, LLAMA3_PATTERN) != 0)
        return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                     "%s: pre_tokenizer Split with a pattern other than Llama-3's is not "
                     "supported", bpe->name);
      if (g_strcmp0 (as_json_get_string (first, "behavior", NULL), "Isolated") != 0
          || as_json_get_bool (first, "invert", FALSE))
        return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                     "%s: pre_tokenizer Split other than Isolated is not supported", bpe->name);
      if (as_json_get_bool (second, "add_prefix_space", FALSE) || as_json_get_bool (second, "use_regex", TRUE))
        return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                     "%s: pre_tokenizer Split must be followed by ByteLevel without prefix space "
                     "and regex", bpe->name);
      bpe->llama3 = TRUE;
      return TRUE;
    }
  if (g_strcmp0 (t1, "Digits") != 0 || g_strcmp0 (t2, "ByteLevel") != 0)
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: pre_tokenizer Sequence[%s, %s] is not supported (only [Digits, ByteLevel] "
                 "and [Split, ByteLevel])",
                 bpe->name, t1 != NULL ? t1 : "?", t2 != NULL ? t2 : "?");
  if (!as_json_get_bool (first, "individual_digits", FALSE))
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: pre_tokenizer Digits without individual_digits is not supported", bpe->name);
  bpe->digits = TRUE;
  return check_byte_level (bpe, second, error);
}

typedef struct {
  AsBpe     *bpe;
  JsonArray *merges;
} JsonMerges;

static char *
json_merge_at (gpointer data, gsize i, const char **right)
{
  JsonMerges *jm = data;
  JsonNode *node = json_array_get_element (jm->merges, (guint) i);

  if (as_json_holds_type (node, G_TYPE_STRING))
    return split_merge (json_node_get_string (node), right);
  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *pair = json_node_get_array (node);
      JsonNode *a, *b;

      if (json_array_get_length (pair) != 2)
        return NULL;
      a = json_array_get_element (pair, 0);
      b = json_array_get_element (pair, 1);
      if (!as_json_holds_type (a, G_TYPE_STRING) || !as_json_holds_type (b, G_TYPE_STRING))
        return NULL;
      *right = json_node_get_string (b);
      return g_strdup (json_node_get_string (a));
    }
  return NULL;
}

static gboolean
load_json (AsBpe *bpe, JsonObject *root, GError **error)
{
  JsonObject *model = as_json_get_object (root, "model");
  JsonObject *vocab;
  JsonArray *merges, *added;
  JsonObjectIter iter;
  const char *token, *s;
  JsonNode *value;
  int max_id = -1;
  JsonMerges jm;

  if (model == NULL)
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: no \"model\" object", bpe->name);
  s = as_json_get_string (model, "type", NULL);
  if (g_strcmp0 (s, "BPE") != 0)
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED, "%s: model %s is not BPE", bpe->name,
                 s != NULL ? s : "(no type)");
  if (!is_null (as_json_member (model, "dropout"))
      && !(as_json_holds_type (as_json_member (model, "dropout"), G_TYPE_DOUBLE)
           && json_node_get_double (as_json_member (model, "dropout")) == 0.0))
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED, "%s: BPE dropout is not supported", bpe->name);
  if (as_json_get_bool (model, "byte_fallback", FALSE))
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED, "%s: BPE byte_fallback is not supported",
                 bpe->name);
  s = as_json_get_string (model, "continuing_subword_prefix", NULL);
  if (s != NULL && s[0] != '\0')
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: BPE continuing_subword_prefix is not supported", bpe->name);
  s = as_json_get_string (model, "end_of_word_suffix", NULL);
  if (s != NULL && s[0] != '\0')
    return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                 "%s: BPE end_of_word_suffix is not supported", bpe->name);
  bpe->ignore_merges = as_json_get_bool (model, "ignore_merges", FALSE);

  if (!is_null (as_json_member (root, "normalizer")))
    {
      s = as_json_get_string (as_json_get_object (root, "normalizer"), "type", NULL);
      return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED, "%s: normalizer %s is not supported",
                   bpe->name, s != NULL ? s : "(no type)");
    }
  if (!check_pre_tokenizer (bpe, as_json_get_object (root, "pre_tokenizer"), error))
    return FALSE;

  vocab = as_json_get_object (model, "vocab");
  if (vocab == NULL)
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: model.vocab is not an object", bpe->name);
  if (json_object_get_size (vocab) > AS_BPE_MAX_TOKENS)
    return as_model_fail (error, AS_MODEL_ERROR_RESOURCES, "%s: model.vocab has %u tokens, more than the %d "
                 "this program takes", bpe->name, json_object_get_size (vocab), AS_BPE_MAX_TOKENS);
  json_object_iter_init (&iter, vocab);
  while (json_object_iter_next (&iter, &token, &value))
    {
      int id;

      if (!node_to_id (value, &id))
        return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                     "%s: model.vocab[\"%s\"] is not an id in [0, %d)", bpe->name, token,
                     AS_BPE_MAX_TOKENS);
      max_id = MAX (max_id, id);
    }
  added = as_json_get_array (root, "added_tokens");
  for (guint i = 0; added != NULL && i < json_array_get_length (added); i++)
    {
      JsonNode *node = json_array_get_element (added, i);
      int id;

      if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)
          || !node_to_id (as_json_member (json_node_get_object (node), "id"), &id)
          || as_json_get_string (json_node_get_object (node), "content", NULL) == NULL)
        return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                     "%s: added_tokens[%u] needs a \"content\" string and an \"id\" in [0, %d)",
                     bpe->name, i, AS_BPE_MAX_TOKENS);
      max_id = MAX (max_id, id);
    }
  if (max_id < 0)
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: model.vocab is empty", bpe->name);
  alloc_ids (bpe, max_id + 1);
  json_object_iter_init (&iter, vocab);
  while (json_object_iter_next (&iter, &token, &value))
    {
      int id = (int) json_node_get_int (value);

      if (!set_token (bpe, id, token))
        return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                     "%s: model.vocab gives id %d to both \"%s\" and \"%s\"", bpe->name, id,
                     bpe->tokens[id], token);
    }

  merges = as_json_get_array (model, "merges");
  if (merges == NULL)
    return as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: model.merges is not an array", bpe->name);
  jm.bpe = bpe;
  jm.merges = merges;
  if (!load_merges (bpe, json_array_get_length (merges), json_merge_at, &jm, "model.merges",
                    error))
    return FALSE;
  s = as_json_get_string (model, "unk_token", NULL);
  if (s != NULL)
    bpe->unk_id = lookup (bpe, s);

  for (guint i = 0; added != NULL && i < json_array_get_length (added); i++)
    {
      JsonObject *o = json_node_get_object (json_array_get_element (added, i));
      const char *content = as_json_get_string (o, "content", NULL);
      int id = (int) json_node_get_int (as_json_member (o, "id"));
      static const char *const flags[] = { "lstrip", "rstrip", "single_word" };

      for (gsize f = 0; f < G_N_ELEMENTS (flags); f++)
        if (as_json_get_bool (o, flags[f], FALSE))
          return as_model_fail (error, AS_MODEL_ERROR_UNSUPPORTED,
                       "%s: added token \"%s\" with %s is not supported", bpe->name, content,
                       flags[f]);
      if (bpe->tokens[id] == NULL)
        set_token (bpe, id, content);
      else if (strcmp (bpe->tokens[id], content) != 0)
        return as_model_fail (error, AS_MODEL_ERROR_FORMAT,
                     "%s: added token \"%s\" has id %d, which is \"%s\" in the vocabulary",
                     bpe->name, content, id, bpe->tokens[id]);
      if (!add_added (bpe, content, id, as_json_get_bool (o, "special", FALSE),
                      as_json_get_bool (o, "normalized", TRUE), error))
        return FALSE;
    }
  finish_bytes (bpe);
  return TRUE;
}

AsBpe *
as_bpe_new_from_tokenizer_json (const char *json, gsize length, GError **error)
{
  AsBpe *bpe = bpe_new ("tokenizer.json");
  JsonParser *parser = json_parser_new ();
  JsonNode *root;
  gboolean ok = FALSE;

  if (as_json_guard_load (parser, json, length, bpe->name, error))
    {
      root = json_parser_get_root (parser);
      if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
        as_model_fail (error, AS_MODEL_ERROR_FORMAT, "%s: the top level is not a JSON object", bpe->name);
      else
        ok = load_json (bpe, json_node_get_object (root), error);
    }
  g_object_unref (parser);
  if (!ok)
    {
      as_bpe_free (bpe);
      return NULL;
    }
  return bpe;
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                   */
/* ------------------------------------------------------------------------ */

/* The length of the maximal invalid subpart at B (LEN > 0 bytes, not valid
 * UTF-8 there): a lead byte and the continuation bytes that could still have
 * completed it. Rust's from_utf8_lossy and Python's errors="replace" give
 * one U+FFFD for each. */
static gsize
invalid_subpart (const guint8 *b, gsize len)
{
  guint8 c = b[0], lo = 0x80, hi = 0xBF;
  gsize need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xC2 && c <= 0xDF ? 2 : 1;
  gsize step = 1;

  if (c == 0xE0)
    lo = 0xA0;
  else if (c == 0xED)
    hi = 0x9F;
  else if (c == 0xF0)
    lo = 0x90;
  else if (c == 0xF4)
    hi = 0x8F;
  if (need > 1 && len > 1 && b[1] >= lo && b[1] <= hi)
    {
      step = 2;
      while (step < need && step < len && (b[step] & 0xC0) == 0x80)
        step++;
    }
  return step;
}

typedef struct {
  AsBpe  *bpe;
  /* The text as valid UTF-8, and for each of its bytes the input span it
   * came from (NULL when the input was valid: the identity). */
  const char *text;
  gsize       len;
  int        *src_start, *src_end;
  GArray     *out;      /* AsToken */
  /* Scratch, reused across words. */
  GArray     *cps;      /* gunichar */
  GArray     *offs;     /* gsize byte offset of each character, + the end */
  GArray     *cls;      /* char */
  GArray     *syms;     /* Symbol */
  GArray     *heap;     /* HeapItem */
} Encoder;

static void
emit (Encoder *enc, int id, gsize start, gsize end)
{
  AsToken t = { 0 };
  const char *spelling = id >= 0 && id < enc->bpe->n_ids ? enc->bpe->tokens[id] : NULL;

  t.id = id;
  t.text = g_strdup (spelling != NULL ? spelling : "");
  t.type_id = 0;
  t.sequence = 0;
  if (enc->src_start != NULL)
    {
      t.start = enc->src_start[start];
      t.end = enc->src_end[end - 1];
    }
  else
    {
      t.start = (int) start;
      t.end = (int) end;
    }
  t.is_special = id >= 0 && id < enc->bpe->n_ids && enc->bpe->special[id];
  g_array_append_val (enc->out, t);
}

typedef struct {
  int   id;
  int   prev, next;   /* -1 at the ends */
  gsize start, end;   /* bytes of the text */
  gboolean dead;
} Symbol;

typedef struct {
  guint32 rank;
  int     pos;        /* the left symbol */
  int     left_id, right_id, merged;
} HeapItem;

static gboolean
heap_less (const HeapItem *a, const HeapItem *b)
{
  return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void
heap_push (GArray *heap, HeapItem item)
{
  int i;
  HeapItem *h;

  g_array_append_val (heap, item);
  h = (HeapItem *) heap->data;
  i = (int) heap->len - 1;
  while (i > 0)
    {
      int parent = (i - 1) / 2;
      if (!heap_less (&h[i], &h[parent]))
        break;
      HeapItem tmp = h[i];
      h[i] = h[parent];
      h[parent] = tmp;
      i = parent;
    }
}

static HeapItem
heap_pop (GArray *heap)
{
  HeapItem *h = (HeapItem *) heap->data;
  HeapItem top = h[0];
  int n = (int) heap->len - 1;
  int i = 0;

  h[0] = h[n];
  g_array_set_size (heap, (guint) n);
  for (;;)
    {
      int l = 2 * i + 1, r = l + 1, best = i;
      if (l < n && heap_less (&h[l], &h[best]))
        best = l;
      if (r < n && heap_less (&h[r], &h[best]))
        best = r;
      if (best == i)
        break;
      HeapItem tmp = h[i];
      h[i] = h[best];
      h[best] = tmp;
      i = best;
    }
  return top;
}

static void
push_pair (Encoder *enc, Symbol *s, int left)
{
  int right = s[left].next;
  HeapItem item;
  guint32 rank;
  int merged;

  if (right < 0 || !find_merge (enc->bpe, s[left].id, s[right].id, &rank, &merged))
    return;
  item.rank = rank;
  item.pos = left;
  item.left_id = s[left].id;
  item.right_id = s[right].id;
  item.merged = merged;
  heap_push (enc->heap, item);
}

/* BPE over text bytes [START, END): one word of the pre-tokenizer. */
static void
bpe_word (Encoder *enc, gsize start, gsize end)
{
  AsBpe *bpe = enc->bpe;
  const guchar *text = (const guchar *) enc->text;
  Symbol *s;
  int n = 0;

  if (bpe->ignore_merges)
    {
      GString *spelled = g_string_sized_new ((end - start) * 2);
      int id;

      for (gsize i = start; i < end; i++)
        g_string_append_unichar (spelled, byte_char[text[i]]);
      id = lookup (bpe, spelled->str);
      g_string_free (spelled, TRUE);
      if (id >= 0)
        {
          emit (enc, id, start, end);
          return;
        }
    }

  g_array_set_size (enc->syms, (guint) (end - start));
  s = (Symbol *) enc->syms->data;
  for (gsize i = start; i < end; i++)
    {
      int id = bpe->byte_id[text[i]];

      if (id < 0)
        id = bpe->unk_id;
      if (id < 0)
        continue;   /* HF drops a character it cannot spell when there is no unk */
      s[n].id = id;
      s[n].prev = n - 1;
      s[n].next = -1;
      if (n > 0)
        s[n - 1].next = n;
      s[n].start = i;
      s[n].end = i + 1;
      s[n].dead = FALSE;
      n++;
    }
  g_array_set_size (enc->heap, 0);
  for (int i = 0; i + 1 < n; i++)
    push_pair (enc, s, i);
  while (enc->heap->len > 0)
    {
      HeapItem top = heap_pop (enc->heap);
      int left = top.pos, right;

      if (s[left].dead || s[left].id != top.left_id)
        continue;
      right = s[left].next;
      if (right < 0 || s[right].id != top.right_id)
        continue;
      s[left].id = top.merged;
      s[left].end = s[right].end;
      s[left].next = s[right].next;
      if (s[right].next >= 0)
        s[s[right].next].prev = left;
      s[right].dead = TRUE;
      if (s[left].prev >= 0)
        push_pair (enc, s, s[left].prev);
      push_pair (enc, s, left);
    }
  /* Pieces after a word's first continue it: the views' word merge joins
   * them as it joins WordPiece's "##" pieces. */
  for (int i = n > 0 ? 0 : -1; i >= 0; i = s[i].next)
    {
      emit (enc, s[i].id, s[i].start, s[i].end);
      g_array_index (enc->out, AsToken, enc->out->len - 1).is_continuation = i != 0;
    }
}

static gboolean
is_contraction (const gunichar *c, int n, int i, int *len)
{
  gunichar a, b;

  if (c[i] != '\'' || i + 1 >= n)
    return FALSE;
  a = c[i + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd')
    {
      *len = 2;
      return TRUE;
    }
  if (i + 2 >= n)
    return FALSE;
  b = c[i + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
    {
      *len = 3;
      return TRUE;
    }
  return FALSE;
}

static gboolean
is_nl (gunichar c)
{
  return c == '\r' || c == '\n';
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d): Oniguruma folds case by Unicode, so the
 * long s (U+017F) is an s too. */
static gboolean
is_contraction_ci (const gunichar *c, int n, int i, int *len)
{
  gunichar a, b;

  if (c[i] != '\'' || i + 1 >= n)
    return FALSE;
  a = c[i + 1] < 0x80 ? (gunichar) g_ascii_tolower ((gchar) c[i + 1]) : c[i + 1] == 0x17F ? 's' : 0;
  if (a == 's' || a == 't' || a == 'm' || a == 'd')
    {
      *len = 2;
      return TRUE;
    }
  if (i + 2 >= n)
    return FALSE;
  b = c[i + 2] < 0x80 ? (gunichar) g_ascii_tolower ((gchar) c[i + 2]) : 0;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
    {
      *len = 3;
      return TRUE;
    }
  return FALSE;
}

/* The end of Llama-3's match at I (< N). */
static int
llama3_match (const gunichar *c, const char *cls, int n, int i)
{
  int j, len;

  if (is_contraction_ci (c, n, i, &len))
    return i + len;
  /* [^\r\n\p{L}\p{N}]?\p{L}+ */
  if (cls[i] == 'L' || (cls[i] != 'N' && !is_nl (c[i]) && i + 1 < n && cls[i + 1] == 'L'))
    {
      j = i + 1;
      while (j < n && cls[j] == 'L')
        j++;
      return j;
    }
  /* \p{N}{1,3} */
  if (cls[i] == 'N')
    {
      j = i + 1;
      while (j < n && j < i + 3 && cls[j] == 'N')
        j++;
      return j;
    }
  /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
  if (cls[i] == 'O' || (c[i] == ' ' && i + 1 < n && cls[i + 1] == 'O'))
    {
      j = cls[i] == 'O' ? i + 1 : i + 2;
      while (j < n && cls[j] == 'O')
        j++;
      while (j < n && is_nl (c[j]))
        j++;
      return j;
    }
  /* Whitespace from here: the run [i, e). */
  {
    int e = i + 1, last_nl = is_nl (c[i]) ? i : -1;

    while (e < n && cls[e] == 'S')
      {
        if (is_nl (c[e]))
          last_nl = e;
        e++;
      }
    /* \s*[\r\n]+ : up to the run's last line break. */
    if (last_nl >= 0)
      return last_nl + 1;
    /* \s+(?!\S), else \s+ */
    if (e == n)
      return n;
    return e - i >= 2 ? e - 1 : i + 1;
  }
}

/* The GPT-2 pattern over text bytes [START, END). */
static void
byte_level_split (Encoder *enc, gsize start, gsize end)
{
  gunichar *c;
  gsize *off;
  char *cls;
  int n = 0, i = 0;

  g_array_set_size (enc->cps, 0);
  g_array_set_size (enc->offs, 0);
  g_array_set_size (enc->cls, 0);
  for (const char *p = enc->text + start; p < enc->text + end; p = g_utf8_next_char (p))
    {
      gunichar u = g_utf8_get_char (p);
      gsize o = (gsize) (p - enc->text);
      char k = as_bpe_char_class (u);

      g_array_append_val (enc->cps, u);
      g_array_append_val (enc->offs, o);
      g_array_append_val (enc->cls, k);
      n++;
    }
  g_array_append_val (enc->offs, end);
  c = (gunichar *) enc->cps->data;
  off = (gsize *) enc->offs->data;
  cls = enc->cls->data;

  while (enc->bpe->llama3 && i < n)
    {
      int j = llama3_match (c, cls, n, i);

      bpe_word (enc, off[i], off[j]);
      i = j;
    }
  while (i < n)
    {
      int j, len;

      if (is_contraction (c, n, i, &len))
        j = i + len;
      else if (cls[i] != 'S' || (c[i] == ' ' && i + 1 < n && cls[i + 1] != 'S'))
        {
          /* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+' */
          int first = c[i] == ' ' && cls[i] == 'S' ? i + 1 : i;
          char k = cls[first];

          j = first + 1;
          while (j < n && cls[j] == k)
            j++;
        }
      else
        {
          /* '\s+(?!\S)' backs off one character before a non-space, unless
           * that leaves nothing; then '\s+' takes the one character. */
          j = i + 1;
          while (j < n && cls[j] == 'S')
            j++;
          if (j < n && j - i >= 2)
            j--;
          else if (j < n)
            j = i + 1;
        }
      bpe_word (enc, off[i], off[j]);
      i = j;
    }
}

/* Digits(individual_digits) then the pattern, or the pattern alone. */
static void
pre_tokenize (Encoder *enc, gsize start, gsize end)
{
  gsize piece = start;

  if (!enc->bpe->digits)
    {
      if (end > start)
        byte_level_split (enc, start, end);
      return;
    }
  for (const char *p = enc->text + start; p < enc->text + end; p = g_utf8_next_char (p))
    {
      gsize o = (gsize) (p - enc->text);

      if (as_bpe_char_class (g_utf8_get_char (p)) == 'N')
        {
          gsize next = (gsize) (g_utf8_next_char (p) - enc->text);

          if (o > piece)
            byte_level_split (enc, piece, o);
          byte_level_split (enc, o, next);
          piece = next;
        }
    }
  if (end > piece)
    byte_level_split (enc, piece, end);
}

/* Cuts the added tokens whose normalized flag is NORMALIZED out of
 * [START, END), leftmost longest; the rest goes to the next stage. */
static void
split_added (Encoder *enc, gsize start, gsize end, gboolean normalized)
{
  AsBpe *bpe = enc->bpe;
  gsize piece = start, i = start;
  gboolean any = FALSE;

  for (int k = 0; k < bpe->n_added; k++)
    any |= bpe->added[k].normalized == normalized;
  if (!any)
    {
      if (!normalized)
        split_added (enc, start, end, TRUE);
      else
        pre_tokenize (enc, start, end);
      return;
    }
  while (i < end)
    {
      int best = -1;

      for (int k = 0; k < bpe->n_added; k++)
        {
          const AddedToken *t = &bpe->added[k];

          if (t->normalized != normalized || t->len > end - i
              || (guchar) t->content[0] != (guchar) enc->text[i]
              || memcmp (t->content, enc->text + i, t->len) != 0)
            continue;
          if (best < 0 || t->len > bpe->added[best].len)
            best = k;
        }
      if (best < 0)
        {
          i++;
          continue;
        }
      if (i > piece)
        {
          if (!normalized)
            split_added (enc, piece, i, TRUE);
          else
            pre_tokenize (enc, piece, i);
        }
      emit (enc, bpe->added[best].id, i, i + bpe->added[best].len);
      i += bpe->added[best].len;
      piece = i;
    }
  if (end > piece)
    {
      if (!normalized)
        split_added (enc, piece, end, TRUE);
      else
        pre_tokenize (enc, piece, end);
    }
}

AsEncoding *
as_bpe_encode (AsBpe *bpe, const char *text, gssize length)
{
  Encoder enc = { 0 };
  AsEncoding *result = g_new0 (AsEncoding, 1);
  gsize len = text == NULL ? 0 : length < 0 ? strlen (text) : (gsize) length;
  GString *valid = NULL;

  enc.bpe = bpe;
  if (text == NULL)
    text = "";
  if (len > AS_BPE_MAX_TEXT)
    {
      /* Offsets are ints: a longer text is cut (at a byte; a character cut
       * in two reads as U+FFFD). */
      len = AS_BPE_MAX_TEXT;
      result->truncated = TRUE;
    }
  if (g_utf8_validate (text, (gssize) len, NULL))
    {
      enc.text = text;
      enc.len = len;
    }
  else
    {
      /* Rebuild as valid UTF-8 (a NUL stays a NUL character), remembering
       * where every byte came from. */
      GArray *ss = g_array_new (FALSE, FALSE, sizeof (int));
      GArray *se = g_array_new (FALSE, FALSE, sizeof (int));
      gsize i = 0;

      valid = g_string_sized_new (len + 16);
      while (i < len)
        {
          gunichar u = g_utf8_get_char_validated (text + i, (gssize) (len - i));
          gsize step, before = valid->len;

          if (text[i] == '\0')
            {
              step = 1;
              g_string_append_c (valid, '\0');
            }
          else if (u == (gunichar) -1 || u == (gunichar) -2)
            {
              step = invalid_subpart ((const guint8 *) text + i, len - i);
              g_string_append (valid, "\xEF\xBF\xBD");
            }
          else
            {
              step = (gsize) g_utf8_skip[(guchar) text[i]];
              g_string_append_len (valid, text + i, (gssize) step);
            }
          for (gsize k = before; k < valid->len; k++)
            {
              int s0 = (int) i, e0 = (int) (i + step);
              g_array_append_val (ss, s0);
              g_array_append_val (se, e0);
            }
          i += step;
        }
      enc.text = valid->str;
      enc.len = valid->len;
      enc.src_start = (int *) g_array_free (ss, FALSE);
      enc.src_end = (int *) g_array_free (se, FALSE);
    }

  enc.out = g_array_new (FALSE, FALSE, sizeof (AsToken));
  enc.cps = g_array_new (FALSE, FALSE, sizeof (gunichar));
  enc.offs = g_array_new (FALSE, FALSE, sizeof (gsize));
  enc.cls = g_array_new (FALSE, FALSE, sizeof (char));
  enc.syms = g_array_new (FALSE, FALSE, sizeof (Symbol));
  enc.heap = g_array_new (FALSE, FALSE, sizeof (HeapItem));

  if (enc.len > 0)
    split_added (&enc, 0, enc.len, FALSE);

  result->n_tokens = (int) enc.out->len;
  result->tokens = (AsToken *) g_array_free (enc.out, FALSE);
  g_array_free (enc.cps, TRUE);
  g_array_free (enc.offs, TRUE);
  g_array_free (enc.cls, TRUE);
  g_array_free (enc.syms, TRUE);
  g_array_free (enc.heap, TRUE);
  g_free (enc.src_start);
  g_free (enc.src_end);
  if (valid != NULL)
    g_string_free (valid, TRUE);
  return result;
}

int *
as_bpe_encode_ids (AsBpe *bpe, const char *text, gssize length, int *n_ids)
{
  AsEncoding *enc = as_bpe_encode (bpe, text, length);
  int *ids = g_new (int, enc->n_tokens + 1);

  for (int i = 0; i < enc->n_tokens; i++)
    ids[i] = enc->tokens[i].id;
  *n_ids = enc->n_tokens;
  as_encoding_free (enc);
  return ids;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                   */
/* ------------------------------------------------------------------------ */

/* The bytes a token stands for: each character's byte, or, when one is not
 * in the alphabet, the token's own UTF-8 (HF's ByteLevel decoder). */
static void
append_token_bytes (GByteArray *out, const char *token)
{
  guint before = out->len;

  for (const char *p = token; *p; p = g_utf8_next_char (p))
    {
      int b = byte_of_char (g_utf8_get_char (p));
      guint8 byte;

      if (b < 0)
        {
          g_byte_array_set_size (out, before);
          g_byte_array_append (out, (const guint8 *) token, (guint) strlen (token));
          return;
        }
      byte = (guint8) b;
      g_byte_array_append (out, &byte, 1);
    }
}

/* Rust's String::from_utf8_lossy: one U+FFFD per maximal invalid subpart. */
static char *
lossy_utf8 (const guint8 *b, gsize len)
{
  GString *out = g_string_sized_new (len + 1);
  gsize i = 0;

  while (i < len)
    {
      const char *end;

      if (g_utf8_validate ((const char *) b + i, (gssize) (len - i), &end))
        {
          g_string_append_len (out, (const char *) b + i, (gssize) (len - i));
          break;
        }
      g_string_append_len (out, (const char *) b + i, end - (const char *) (b + i));
      i = (gsize) ((const guint8 *) end - b);
      if (b[i] == 0)
        {
          g_string_append_c (out, '\0');
          i++;
          continue;
        }
      g_string_append (out, "\xEF\xBF\xBD");
      i += invalid_subpart (b + i, len - i);
    }
  return g_string_free (out, FALSE);
}

char *
as_bpe_decode (AsBpe *bpe, const int *ids, int n_ids, gboolean skip_special)
{
  GByteArray *bytes = g_byte_array_new ();
  char *text;

  for (int i = 0; i < n_ids; i++)
    {
      int id = ids[i];

      if (id < 0 || id >= bpe->n_ids || bpe->tokens[id] == NULL)
        continue;
      if (skip_special && bpe->special[id])
        continue;
      append_token_bytes (bytes, bpe->tokens[id]);
    }
  text = lossy_utf8 (bytes->data, bytes->len);
  g_byte_array_unref (bytes);
  return text;
}

char *
as_bpe_id_to_label (AsBpe *bpe, int id)
{
  if (id < 0 || id >= bpe->n_ids || bpe->tokens[id] == NULL)
    return NULL;
  return as_bpe_decode (bpe, &id, 1, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                  */
/* ------------------------------------------------------------------------ */

int
as_bpe_get_vocab_size (AsBpe *bpe)
{
  return bpe->n_ids;
}

int
as_bpe_token_to_id (AsBpe *bpe, const char *token)
{
  return token != NULL ? lookup (bpe, token) : -1;
}

const char *
as_bpe_id_to_token (AsBpe *bpe, int id)
{
  return id >= 0 && id < bpe->n_ids ? bpe->tokens[id] : NULL;
}

gboolean
as_bpe_is_special (AsBpe *bpe, int id)
{
  return id >= 0 && id < bpe->n_ids && bpe->special[id];
}

int
as_bpe_get_bos_id (AsBpe *bpe)
{
  return bpe->bos_id;
}

int
as_bpe_get_eos_id (AsBpe *bpe)
{
  return bpe->eos_id;
}

gboolean
as_bpe_get_add_bos (AsBpe *bpe)
{
  return bpe->add_bos;
}
