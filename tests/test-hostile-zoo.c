/* test-hostile-zoo.c — broken model folders, and the engine's resource limits.
 *
 * The zoo: a tiny valid BERT (1 layer, hidden 4, 2 heads, a 60-token
 * vocabulary) written to a temp folder, then one folder per way a download
 * can be broken or hostile, each differing from the valid one in a single
 * respect: a truncated or lying safetensors file, overlapping or reversed
 * offsets, shapes that disagree with the config, wrong dtypes, NaN/Inf
 * weights, absurd configs, vocabularies without [CLS]/[SEP]/[UNK], empty
 * files, directories, FIFOs, links to /dev/zero and link loops where files
 * belong, a tokenizer.json over its size cap, a header listing more tensors
 * than the reader takes. Where the real model is present
 * (ATTNSCOPE_MODEL_DIR) a few more are built from it, with links to its big
 * files. as_model_load must refuse every one quickly with AS_MODEL_ERROR and
 * a message naming the file and the problem; the valid base must load and
 * run.
 *
 *   test-hostile-zoo --make-zoo DIR
 *
 * writes the same folders into DIR with DIR/MANIFEST (one line per case:
 * name, file, then the words the message must contain, tab-separated), for
 * the CLI test (test-cli-extremes.sh) and the app.
 */
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-error.h"
#include "as-file-read.h"
#include "as-model.h"

/* ------------------------------------------------------------------------ */
/* The valid tiny model                                                     */

#define HIDDEN 4
#define HEADS 2
#define INTER 8
#define POSITIONS 16

static const char *const base_vocab[] = {
  "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
  "the", "animal", "didn", "'", "t", "cross", "street", ".", ",", "!", "?",
  "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
  "n", "o", "p", "q", "r", "s", "u", "v", "w", "x", "y", "z",
  "##a", "##e", "##i", "##o", "##s", "##t", "##ing", "##ed",
  "it", "was", "too", "tired", "hello", "world", "0", "1", "2", "3", "[unused0]",
};
#define VOCAB ((int) G_N_ELEMENTS (base_vocab))

typedef struct {
  char   *name;
  char   *dtype;     /* written verbatim */
  char   *shape;     /* JSON text, e.g. "[60, 4]" */
  char   *offsets;   /* JSON text overriding the computed [begin, end], or NULL */
  GBytes *raw;
} Tensor;

static void
tensor_free (gpointer p)
{
  Tensor *t = p;
  g_free (t->name);
  g_free (t->dtype);
  g_free (t->shape);
  g_free (t->offsets);
  g_bytes_unref (t->raw);
  g_free (t);
}

/* F32 values that are small, finite and not all alike; LayerNorm gains 1. */
static Tensor *
tensor_new (const char *name,
            gint64      d0,
            gint64      d1)
{
  Tensor *t = g_new0 (Tensor, 1);
  gsize n = (gsize) d0 * (d1 > 0 ? (gsize) d1 : 1);
  float *v = g_new (float, n);
  gboolean gain = g_str_has_suffix (name, "LayerNorm.weight");
  for (gsize i = 0; i < n; i++)
    v[i] = gain ? 1.0f : 0.1f * sinf (0.37f * (float) (i + strlen (name)));
  t->name = g_strdup (name);
  t->dtype = g_strdup ("F32");
  t->shape = d1 > 0 ? g_strdup_printf ("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", d0, d1)
                    : g_strdup_printf ("[%" G_GINT64_FORMAT "]", d0);
  t->raw = g_bytes_new_take (v, n * sizeof (float));
  return t;
}

typedef struct {
  char      *config;       /* config.json text; NULL: none */
  GPtrArray *tensors;      /* Tensor*, in data order */
  char      *metadata;     /* "__metadata__" JSON text, or NULL */
  GString   *vocab;        /* vocab.txt; NULL: none */
  char      *tokenizer;    /* tokenizer.json; NULL: none */
} Model;

static char *
config_text (int layers,
             int heads,
             int hidden,
             int vocab)
{
  return g_strdup_printf ("{\n  \"model_type\": \"bert\",\n  \"num_hidden_layers\": %d,\n"
                          "  \"num_attention_heads\": %d,\n  \"hidden_size\": %d,\n"
                          "  \"intermediate_size\": %d,\n  \"vocab_size\": %d,\n"
                          "  \"max_position_embeddings\": %d,\n  \"type_vocab_size\": 2,\n"
                          "  \"layer_norm_eps\": 1e-12,\n  \"hidden_act\": \"gelu\"\n}\n",
                          layers, heads, hidden, INTER, vocab, POSITIONS);
}

static void
add_layer (GPtrArray *tensors,
           int        l)
{
  static const struct { const char *suffix; int rows, cols; } parts[] = {
    { "attention.self.query.weight", HIDDEN, HIDDEN }, { "attention.self.query.bias", HIDDEN, 0 },
    { "attention.self.key.weight", HIDDEN, HIDDEN },   { "attention.self.key.bias", HIDDEN, 0 },
    { "attention.self.value.weight", HIDDEN, HIDDEN }, { "attention.self.value.bias", HIDDEN, 0 },
    { "attention.output.dense.weight", HIDDEN, HIDDEN }, { "attention.output.dense.bias", HIDDEN, 0 },
    { "attention.output.LayerNorm.weight", HIDDEN, 0 }, { "attention.output.LayerNorm.bias", HIDDEN, 0 },
    { "intermediate.dense.weight", INTER, HIDDEN },    { "intermediate.dense.bias", INTER, 0 },
    { "output.dense.weight", HIDDEN, INTER },          { "output.dense.bias", HIDDEN, 0 },
    { "output.LayerNorm.weight", HIDDEN, 0 },          { "output.LayerNorm.bias", HIDDEN, 0 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (parts); i++)
    {
      g_autofree char *name = g_strdup_printf ("encoder.layer.%d.%s", l, parts[i].suffix);
      g_ptr_array_add (tensors, tensor_new (name, parts[i].rows, parts[i].cols));
    }
}

static Model *
model_new_base (void)
{
  Model *m = g_new0 (Model, 1);
  m->config = config_text (1, HEADS, HIDDEN, VOCAB);
  m->tensors = g_ptr_array_new_with_free_func (tensor_free);
  g_ptr_array_add (m->tensors, tensor_new ("embeddings.word_embeddings.weight", VOCAB, HIDDEN));
  g_ptr_array_add (m->tensors, tensor_new ("embeddings.position_embeddings.weight", POSITIONS, HIDDEN));
  g_ptr_array_add (m->tensors, tensor_new ("embeddings.token_type_embeddings.weight", 2, HIDDEN));
  g_ptr_array_add (m->tensors, tensor_new ("embeddings.LayerNorm.weight", HIDDEN, 0));
  g_ptr_array_add (m->tensors, tensor_new ("embeddings.LayerNorm.bias", HIDDEN, 0));
  add_layer (m->tensors, 0);
  m->metadata = g_strdup ("{\"format\": \"pt\"}");
  m->vocab = g_string_new (NULL);
  for (int i = 0; i < VOCAB; i++)
    g_string_append_printf (m->vocab, "%s\n", base_vocab[i]);
  return m;
}

static void
model_free (Model *m)
{
  g_free (m->config);
  g_ptr_array_unref (m->tensors);
  g_free (m->metadata);
  if (m->vocab != NULL)
    g_string_free (m->vocab, TRUE);
  g_free (m->tokenizer);
  g_free (m);
}

static Tensor *
find_tensor (Model      *m,
             const char *name)
{
  for (guint i = 0; i < m->tensors->len; i++)
    {
      Tensor *t = g_ptr_array_index (m->tensors, i);
      if (strcmp (t->name, name) == 0)
        return t;
    }
  g_error ("no tensor %s in the base model", name);
}

static void
remove_tensor (Model      *m,
               const char *name)
{
  g_ptr_array_remove (m->tensors, find_tensor (m, name));
}

/* The header, padded with spaces to a multiple of 8, then the data. */
static GBytes *
safetensors_bytes (Model *m)
{
  GString *header = g_string_new ("{");
  GByteArray *data = g_byte_array_new ();
  if (m->metadata != NULL)
    g_string_append_printf (header, "\"__metadata__\": %s", m->metadata);
  for (guint i = 0; i < m->tensors->len; i++)
    {
      Tensor *t = g_ptr_array_index (m->tensors, i);
      gsize size = g_bytes_get_size (t->raw);
      g_autofree char *offsets = t->offsets != NULL
        ? g_strdup (t->offsets)
        : g_strdup_printf ("[%u, %" G_GSIZE_FORMAT "]", data->len, data->len + size);
      g_string_append_printf (header, "%s\"%s\": {\"dtype\": \"%s\", \"shape\": %s, \"data_offsets\": %s}",
                              header->len > 1 ? ", " : "", t->name, t->dtype, t->shape, offsets);
      g_byte_array_append (data, g_bytes_get_data (t->raw, NULL), size);
    }
  g_string_append_c (header, '}');
  while (header->len % 8 != 0)
    g_string_append_c (header, ' ');

  GByteArray *out = g_byte_array_new ();
  guint64 len = GUINT64_TO_LE ((guint64) header->len);
  g_byte_array_append (out, (const guint8 *) &len, 8);
  g_byte_array_append (out, (const guint8 *) header->str, header->len);
  g_byte_array_append (out, data->data, data->len);
  g_string_free (header, TRUE);
  g_byte_array_unref (data);
  return g_byte_array_free_to_bytes (out);
}

static void
write_file (const char *dir,
            const char *name,
            const void *data,
            gssize      length)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  g_file_set_contents (path, data, length, &error);
  g_assert_no_error (error);
}

static void
model_write (Model      *m,
             const char *dir)
{
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  if (m->config != NULL)
    write_file (dir, "config.json", m->config, -1);
  g_autoptr(GBytes) st = safetensors_bytes (m);
  write_file (dir, "model.safetensors", g_bytes_get_data (st, NULL), g_bytes_get_size (st));
  if (m->vocab != NULL)
    write_file (dir, "vocab.txt", m->vocab->str, m->vocab->len);
  if (m->tokenizer != NULL)
    write_file (dir, "tokenizer.json", m->tokenizer, -1);
}

/* A tokenizer.json of the base vocabulary, as Hugging Face writes one;
 * CLS_ID and the vocab entry for [UNK] can be changed. */
static char *
tokenizer_json (int      cls_id,
                gboolean with_unk,
                const char *model_type)
{
  GString *s = g_string_new ("{\"version\": \"1.0\", \"truncation\": null, \"padding\": null,\n"
                             " \"added_tokens\": [");
  for (int i = 0; i < 5; i++)
    g_string_append_printf (s, "%s{\"id\": %d, \"content\": \"%s\", \"single_word\": false, "
                            "\"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}",
                            i ? ", " : "", i, base_vocab[i]);
  g_string_append (s, "],\n \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, "
                      "\"handle_chinese_chars\": true, \"strip_accents\": null, \"lowercase\": true},\n"
                      " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},\n");
  g_string_append_printf (s, " \"post_processor\": {\"type\": \"TemplateProcessing\",\n"
    "  \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
    " {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 0}}],\n"
    "  \"pair\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
    " {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}},"
    " {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 1}}],\n"
    "  \"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [%d], \"tokens\": [\"[CLS]\"]},"
    " \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [3], \"tokens\": [\"[SEP]\"]}}},\n", cls_id);
  g_string_append_printf (s, " \"model\": {\"type\": \"%s\", \"unk_token\": \"[UNK]\", "
                          "\"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 100,\n"
                          "  \"vocab\": {", model_type);
  gboolean first = TRUE;
  for (int i = 0; i < VOCAB; i++)
    {
      if (!with_unk && strcmp (base_vocab[i], "[UNK]") == 0)
        continue;
      g_string_append_printf (s, "%s\"%s\": %d", first ? "" : ", ", base_vocab[i], i);
      first = FALSE;
    }
  g_string_append (s, "}}}\n");
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* File-level edits after writing                                           */

static char *
path_in (const char *dir,
         const char *name)
{
  return g_build_filename (dir, name, NULL);
}

static GBytes *
read_bytes (const char *path)
{
  char *data = NULL;
  gsize length = 0;
  g_autoptr(GError) error = NULL;
  g_file_get_contents (path, &data, &length, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, length);
}

static void
truncate_to (const char *dir,
             const char *name,
             gsize       size)
{
  g_autofree char *path = path_in (dir, name);
  g_assert_cmpint (truncate (path, (off_t) size), ==, 0);
}

static gsize
file_size (const char *dir,
           const char *name)
{
  g_autofree char *path = path_in (dir, name);
  GStatBuf st;
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  return (gsize) st.st_size;
}

static guint64
header_length (const char *dir)
{
  g_autofree char *path = path_in (dir, "model.safetensors");
  g_autoptr(GBytes) bytes = read_bytes (path);
  guint64 len;
  memcpy (&len, g_bytes_get_data (bytes, NULL), 8);
  return GUINT64_FROM_LE (len);
}

static void
set_header_length (const char *dir,
                   guint64     value)
{
  g_autofree char *path = path_in (dir, "model.safetensors");
  FILE *f = fopen (path, "r+b");
  guint64 le = GUINT64_TO_LE (value);
  g_assert_nonnull (f);
  g_assert_cmpint (fwrite (&le, 8, 1, f), ==, 1);
  fclose (f);
}

/* Replaces the whole header text (keeping the data after it). */
static void
replace_header (const char *dir,
                const char *text)
{
  g_autofree char *path = path_in (dir, "model.safetensors");
  g_autoptr(GBytes) bytes = read_bytes (path);
  guint64 old = header_length (dir);
  gsize size = g_bytes_get_size (bytes);
  GByteArray *out = g_byte_array_new ();
  guint64 len = GUINT64_TO_LE ((guint64) strlen (text));
  g_byte_array_append (out, (const guint8 *) &len, 8);
  g_byte_array_append (out, (const guint8 *) text, strlen (text));
  g_byte_array_append (out, (const guint8 *) g_bytes_get_data (bytes, NULL) + 8 + old, size - 8 - old);
  write_file (dir, "model.safetensors", out->data, out->len);
  g_byte_array_unref (out);
}

static void
replace_with_directory (const char *dir,
                        const char *name)
{
  g_autofree char *path = path_in (dir, name);
  g_unlink (path);
  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
}

static void
remove_file (const char *dir,
             const char *name)
{
  g_autofree char *path = path_in (dir, name);
  g_assert_cmpint (g_unlink (path), ==, 0);
}

/* A FIFO where the file belongs: opening it for reading in the usual way
 * waits for a writer that never comes. */
static void
replace_with_fifo (const char *dir,
                   const char *name)
{
  g_autofree char *path = path_in (dir, name);
  g_unlink (path);
  g_assert_cmpint (mkfifo (path, 0644), ==, 0);
}

/* A symbolic link to TARGET where the file belongs. */
static void
replace_with_link (const char *dir,
                   const char *name,
                   const char *target)
{
  g_autofree char *path = path_in (dir, name);
  g_unlink (path);
  g_assert_cmpint (symlink (target, path), ==, 0);
}

/* ------------------------------------------------------------------------ */
/* The cases                                                                */

typedef struct Case Case;
struct Case {
  const char *name;
  const char *what;                          /* one line for the report */
  void      (*edit)  (Model *m);             /* before writing; may be NULL */
  void      (*after) (const char *dir);      /* after writing; may be NULL */
  const char *file;                          /* the message must name it */
  const char *expect[3];                     /* and contain these */
};

/* --- safetensors, byte level --- */
static void st_empty (const char *d) { write_file (d, "model.safetensors", "", 0); }
static void st_short (const char *d) { write_file (d, "model.safetensors", "\x10\0\0\0\0", 5); }
static void st_header_past_end (const char *d) { set_header_length (d, file_size (d, "model.safetensors")); }
static void st_header_huge (const char *d) { set_header_length (d, G_GUINT64_CONSTANT (1) << 62); }
static void st_header_wraps (const char *d) { set_header_length (d, G_MAXUINT64 - 3); }
static void st_truncated_data (const char *d) { truncate_to (d, "model.safetensors", file_size (d, "model.safetensors") - 100); }
static void st_truncated_header (const char *d) { truncate_to (d, "model.safetensors", 8 + header_length (d) / 2); }
static void st_only_length (const char *d) { truncate_to (d, "model.safetensors", 8); }
static void
st_trailing (const char *d)
{
  g_autofree char *path = path_in (d, "model.safetensors");
  FILE *f = fopen (path, "ab");
  g_assert_nonnull (f);
  g_assert_cmpint (fwrite ("trailing bytes!!", 16, 1, f), ==, 1);
  fclose (f);
}
static void st_not_json (const char *d) { replace_header (d, "this is not JSON at all "); }
static void st_bad_utf8 (const char *d) { replace_header (d, "{\"a\xff\xfe\": 1}  "); }
static void st_array (const char *d) { replace_header (d, "[1, 2, 3]"); }
static void st_is_dir (const char *d) { replace_with_directory (d, "model.safetensors"); }
static void st_fifo (const char *d) { replace_with_fifo (d, "model.safetensors"); }
static void st_missing (const char *d) { remove_file (d, "model.safetensors"); }

/* --- safetensors, header entries --- */
#define Q_W "encoder.layer.0.attention.self.query.weight"
#define Q_B "encoder.layer.0.attention.self.query.bias"
#define V_B "encoder.layer.0.attention.self.value.bias"
#define FF1_W "encoder.layer.0.intermediate.dense.weight"
#define WORD "embeddings.word_embeddings.weight"

static void
set_offsets (Model *m, const char *name, const char *offsets)
{
  Tensor *t = find_tensor (m, name);
  g_free (t->offsets);
  t->offsets = g_strdup (offsets);
}

static void
set_shape (Model *m, const char *name, const char *shape)
{
  Tensor *t = find_tensor (m, name);
  g_free (t->shape);
  t->shape = g_strdup (shape);
}

static void
set_dtype (Model *m, const char *name, const char *dtype)
{
  Tensor *t = find_tensor (m, name);
  g_free (t->dtype);
  t->dtype = g_strdup (dtype);
}

/* Word embeddings start at 0 and take VOCAB * HIDDEN * 4 = 960 bytes; the
 * position embeddings follow at [960, 1216). */
static void st_overlap (Model *m) { set_offsets (m, "embeddings.position_embeddings.weight", "[900, 1156]"); }
static void st_reversed (Model *m) { set_offsets (m, "embeddings.position_embeddings.weight", "[1216, 960]"); }
static void st_gap (Model *m) { set_offsets (m, "embeddings.position_embeddings.weight", "[1024, 1280]"); }
static void st_past_end (Model *m) { set_offsets (m, "embeddings.position_embeddings.weight", "[960, 99999999]"); }
static void st_short_offsets (Model *m) { set_offsets (m, "embeddings.position_embeddings.weight", "[960]"); }
static void st_shape_vs_bytes (Model *m) { set_shape (m, WORD, "[60, 5]"); }
static void st_negative_dim (Model *m) { set_shape (m, WORD, "[-60, -4]"); }
static void st_overflow (Model *m) { set_shape (m, WORD, "[4503599627370496, 4503599627370496]"); }
static void st_too_many_dims (Model *m) { set_shape (m, WORD, "[1, 1, 1, 1, 1, 1, 1, 1, 60, 4]"); }
static void st_unknown_dtype (Model *m) { set_dtype (m, Q_W, "F128"); }
static void st_dtype_size (Model *m) { set_dtype (m, Q_W, "F16"); }
static void
st_wrong_dtype (Model *m)
{
  set_dtype (m, Q_W, "I64");
  set_shape (m, Q_W, "[4, 2]");   /* same 64 bytes, as 8-byte integers */
}
static void
st_duplicate (Model *m)
{
  g_ptr_array_add (m->tensors, tensor_new (Q_B, HIDDEN, 0));
}
static void st_metadata (Model *m) { g_free (m->metadata); m->metadata = g_strdup ("{\"format\": 7}"); }
/* Empty tensors up to 70,000 in all, over the reader's cap of 65,536: each
 * costs ~60 bytes of header, and a 100 MB header could list 1.2 million. */
#define MANY_TENSORS 70000
static void
st_too_many_tensors (Model *m)
{
  for (guint i = m->tensors->len; i < MANY_TENSORS; i++)
    {
      Tensor *t = g_new0 (Tensor, 1);
      t->name = g_strdup_printf ("extra.%u", i);
      t->dtype = g_strdup ("F32");
      t->shape = g_strdup ("[0]");
      t->raw = g_bytes_new (NULL, 0);
      g_ptr_array_add (m->tensors, t);
    }
}

/* --- weights --- */
static void
poke_f32 (Model *m, const char *name, gsize index, float value)
{
  Tensor *t = find_tensor (m, name);
  gsize size = 0;
  float *v = g_memdup2 (g_bytes_get_data (t->raw, &size), g_bytes_get_size (t->raw));
  v[index] = value;
  g_bytes_unref (t->raw);
  t->raw = g_bytes_new_take (v, size);
}

/* The tensor as 16-bit values (F16 or BF16): zeros, with BITS at INDEX. */
static void
make_half (Model *m, const char *name, const char *dtype, gsize index, guint16 bits)
{
  Tensor *t = find_tensor (m, name);
  gsize n = g_bytes_get_size (t->raw) / 4;
  guint16 *v = g_new0 (guint16, n);
  v[index] = GUINT16_TO_LE (bits);
  g_bytes_unref (t->raw);
  t->raw = g_bytes_new_take (v, n * 2);
  set_dtype (m, name, dtype);
}

static void w_nan (Model *m) { poke_f32 (m, Q_W, 6, NAN); }
static void w_inf (Model *m) { poke_f32 (m, "embeddings.LayerNorm.bias", 2, -INFINITY); }
static void w_nan_embedding (Model *m) { poke_f32 (m, WORD, 4 * 59 + 3, NAN); }
static void w_f16_inf (Model *m) { make_half (m, FF1_W, "F16", 9, 0x7c00); }
static void w_bf16_nan (Model *m) { make_half (m, Q_B, "BF16", 1, 0x7fc1); }

/* --- tensors vs config --- */
static void c_missing_tensor (Model *m) { remove_tensor (m, V_B); }
static void c_not_bert (Model *m) { remove_tensor (m, WORD); }
static void c_extra_layer (Model *m) { add_layer (m->tensors, 1); }
static void
c_missing_layer (Model *m)
{
  g_free (m->config);
  m->config = config_text (2, HEADS, HIDDEN, VOCAB);
}
static void
c_hidden_mismatch (Model *m)
{
  g_free (m->config);
  m->config = config_text (1, HEADS, 8, VOCAB);
}
static void c_transposed (Model *m) { set_shape (m, FF1_W, "[4, 8]"); }
static void
c_vocab_rows (Model *m)
{
  g_free (m->config);
  m->config = config_text (1, HEADS, HIDDEN, VOCAB + 1);
}

/* --- config.json --- */
static void
replace_config (Model *m, const char *from, const char *to)
{
  g_assert_nonnull (strstr (m->config, from));
  g_autoptr(GString) s = g_string_new (m->config);
  g_string_replace (s, from, to, 1);
  g_free (m->config);
  m->config = g_strdup (s->str);
}

static void cfg_empty (const char *d) { write_file (d, "config.json", "", 0); }
static void cfg_truncated (Model *m) { m->config[strlen (m->config) / 2] = '\0'; }
static void cfg_zero_layers (Model *m) { replace_config (m, "\"num_hidden_layers\": 1", "\"num_hidden_layers\": 0"); }
static void cfg_absurd_hidden (Model *m) { replace_config (m, "\"hidden_size\": 4", "\"hidden_size\": 1000000000"); }
static void cfg_huge_number (Model *m) { replace_config (m, "\"vocab_size\": 60", "\"vocab_size\": 1e300"); }
static void cfg_heads (Model *m) { replace_config (m, "\"num_attention_heads\": 2", "\"num_attention_heads\": 3"); }
static void cfg_zero_heads (Model *m) { replace_config (m, "\"num_attention_heads\": 2", "\"num_attention_heads\": 0"); }
static void cfg_negative (Model *m) { replace_config (m, "\"vocab_size\": 60", "\"vocab_size\": -60"); }
static void cfg_string (Model *m) { replace_config (m, "\"hidden_size\": 4", "\"hidden_size\": \"4\""); }
static void cfg_missing_field (Model *m) { replace_config (m, "\"intermediate_size\"", "\"intermediate_sizes\""); }
static void cfg_gpt2 (Model *m) { replace_config (m, "\"bert\"", "\"gpt_neox\""); }
static void cfg_relu (Model *m) { replace_config (m, "\"gelu\"", "\"relu\""); }
static void cfg_eps (Model *m) { replace_config (m, "1e-12", "0"); }
/* Positive as a double, 0 as the float LayerNorm uses (found by fuzz-config). */
static void cfg_eps_underflow (Model *m) { replace_config (m, "1e-12", "1e-122"); }
/* json-glib reads "\214" as the byte 0x8c: not UTF-8, which must not reach
 * the message about the model type (found by fuzz-config). */
static void cfg_octal_escape (Model *m) { replace_config (m, "\"bert\"", "\"b\\214rt\""); }
static void cfg_positions (Model *m) { replace_config (m, "\"max_position_embeddings\": 16", "\"max_position_embeddings\": 0"); }
static void cfg_array (Model *m) { g_free (m->config); m->config = g_strdup ("[{\"model_type\": \"bert\"}]"); }
static void cfg_nul (const char *d) { write_file (d, "config.json", "{\"model_type\": \"bert\"\0}", 23); }
/* 1 MB of '[': json-glib alone recurses once per level and overflows the
 * stack. */
static void
cfg_deep (const char *d)
{
  gsize n = 1 << 20;
  char *text = g_malloc (n);
  memset (text, '[', n);
  write_file (d, "config.json", text, n);
  g_free (text);
}
static void cfg_is_dir (const char *d) { replace_with_directory (d, "config.json"); }
static void cfg_missing (const char *d) { remove_file (d, "config.json"); }
static void cfg_fifo (const char *d) { replace_with_fifo (d, "config.json"); }
static void cfg_dev_zero (const char *d) { replace_with_link (d, "config.json", "/dev/zero"); }
static void cfg_link_loop (const char *d) { replace_with_link (d, "config.json", "config.json"); }

/* --- the tokenizer --- */
static void
drop_vocab_line (Model *m, const char *token)
{
  g_autofree char *line = g_strdup_printf ("%s\n", token);
  g_assert_nonnull (strstr (m->vocab->str, line));
  g_string_replace (m->vocab, line, "[unused9]\n", 1);
}

static void v_no_cls (Model *m) { drop_vocab_line (m, "[CLS]"); }
static void v_no_sep (Model *m) { drop_vocab_line (m, "[SEP]"); }
static void v_no_unk (Model *m) { drop_vocab_line (m, "[UNK]"); }
static void v_empty (const char *d) { write_file (d, "vocab.txt", "", 0); }
static void v_bad_utf8 (Model *m) { g_string_append (m->vocab, "caf\xe9\n"); }
static void v_too_big (Model *m) { g_string_append (m->vocab, "extra\nmore\n"); }
static void v_is_dir (const char *d) { replace_with_directory (d, "vocab.txt"); }
static void v_none (const char *d) { remove_file (d, "vocab.txt"); }
static void v_fifo (const char *d) { replace_with_fifo (d, "vocab.txt"); }
static void v_tokenizer_config_fifo (const char *d) { replace_with_fifo (d, "tokenizer_config.json"); }
static void
v_bad_tokenizer_config (const char *d)
{
  write_file (d, "tokenizer_config.json", "{\"do_lower_case\": tru", -1);
}
static void t_valid (Model *m) { m->tokenizer = tokenizer_json (2, TRUE, "WordPiece"); }
static void t_not_json (Model *m) { t_valid (m); m->tokenizer[strlen (m->tokenizer) / 3] = '\0'; }
static void t_bpe (Model *m) { m->tokenizer = tokenizer_json (2, TRUE, "BPE"); }
static void t_no_unk (Model *m) { m->tokenizer = tokenizer_json (2, FALSE, "WordPiece"); }
static void t_template_id (Model *m) { m->tokenizer = tokenizer_json (99999, TRUE, "WordPiece"); }
static void t_huge_id (Model *m) { m->tokenizer = tokenizer_json (2147483646, TRUE, "WordPiece"); }
static void
t_vocab_huge_id (Model *m)
{
  t_valid (m);
  g_autoptr(GString) s = g_string_new (m->tokenizer);
  g_string_replace (s, "\"hello\": 53", "\"hello\": 2000000000", 1);
  g_free (m->tokenizer);
  m->tokenizer = g_strdup (s->str);
}
static void
t_lone_surrogate (Model *m)
{
  t_valid (m);
  g_autoptr(GString) s = g_string_new (m->tokenizer);
  g_string_replace (s, "\"hello\"", "\"hel\\ud800lo\"", 1);
  g_free (m->tokenizer);
  m->tokenizer = g_strdup (s->str);
}
static void t_empty (const char *d) { write_file (d, "tokenizer.json", "", 0); }
static void t_is_dir (const char *d) { replace_with_directory (d, "tokenizer.json"); }
/* The base has vocab.txt: a tokenizer.json that is there but broken must be
 * reported, not skipped for vocab.txt. */
static void t_fifo (const char *d) { replace_with_fifo (d, "tokenizer.json"); }
static void t_dev_zero (const char *d) { replace_with_link (d, "tokenizer.json", "/dev/zero"); }
static void t_link_loop (const char *d) { replace_with_link (d, "tokenizer.json", "tokenizer.json"); }
/* One byte over the cap, sparse: no disk, and refused before reading. */
static void
t_oversized (const char *d)
{
  write_file (d, "tokenizer.json", "{", 1);
  truncate_to (d, "tokenizer.json", (gsize) AS_FILE_CAP_TOKENIZER + 1);
}
static void
t_deep (const char *d)
{
  GString *s = g_string_new ("{\"model\": ");
  for (int i = 0; i < 100000; i++)
    g_string_append (s, "{\"a\": ");
  write_file (d, "tokenizer.json", s->str, s->len);
  g_string_free (s, TRUE);
}

/* --- the folder itself --- */
static void
folder_is_file (const char *d)
{
  g_autofree char *parent = g_path_get_dirname (d);
  g_autofree char *name = g_path_get_basename (d);
  /* Replace the folder by a file of the same name. */
  GDir *dir = g_dir_open (d, 0, NULL);
  const char *entry;
  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *p = g_build_filename (d, entry, NULL);
      g_unlink (p);
    }
  if (dir != NULL)
    g_dir_close (dir);
  g_assert_cmpint (g_rmdir (d), ==, 0);
  write_file (parent, name, "not a folder", -1);
}

#define ST "model.safetensors"
#define CFG "config.json"
#define VOC "vocab.txt"
#define TOK "tokenizer.json"

static const Case cases[] = {
  /* safetensors: the file itself */
  { "st-empty", "empty model.safetensors", NULL, st_empty, ST, { "file is empty" } },
  { "st-5-bytes", "5 bytes, shorter than the header length", NULL, st_short, ST, { "too short" } },
  { "st-only-length", "header length only, no header", NULL, st_only_length, ST, { "runs past the end" } },
  { "st-header-past-end", "header length beyond the file", NULL, st_header_past_end, ST, { "runs past the end of the file" } },
  { "st-header-huge", "header length 2^62", NULL, st_header_huge, ST, { "exceeds the limit" } },
  { "st-header-wraps", "header length 2^64-4 (would wrap)", NULL, st_header_wraps, ST, { "exceeds the limit" } },
  { "st-truncated-header", "file cut inside the header", NULL, st_truncated_header, ST, { "runs past the end of the file" } },
  { "st-truncated-data", "file cut inside the data (download stopped)", NULL, st_truncated_data, ST, { "run past the end of the file" } },
  { "st-trailing-bytes", "16 bytes after the last tensor", NULL, st_trailing, ST, { "trailing bytes" } },
  { "st-header-not-json", "header is not JSON", NULL, st_not_json, ST, { "not valid JSON" } },
  { "st-header-bad-utf8", "header is not UTF-8", NULL, st_bad_utf8, ST, { "not valid UTF-8" } },
  { "st-header-array", "header is a JSON array", NULL, st_array, ST, { "not a JSON object" } },
  { "st-is-directory", "model.safetensors is a directory", NULL, st_is_dir, ST, { "is a directory" } },
  { "st-missing", "no model.safetensors", NULL, st_missing, ST, { "file not found" } },
  { "st-fifo", "model.safetensors is a FIFO (would block)", NULL, st_fifo, ST, { "FIFO" } },
  /* safetensors: header entries */
  { "st-overlap", "overlapping data_offsets", st_overlap, NULL, ST, { "overlap", "embeddings.position_embeddings.weight" } },
  { "st-reversed", "data_offsets with begin > end", st_reversed, NULL, ST, { "begin > end", "embeddings.position_embeddings.weight" } },
  { "st-gap", "a gap between tensors", st_gap, NULL, ST, { "gap" } },
  { "st-offsets-past-end", "data_offsets beyond the file", st_past_end, NULL, ST, { "embeddings.position_embeddings.weight" } },
  { "st-short-offsets", "data_offsets with one element", st_short_offsets, NULL, ST, { "expected 2" } },
  { "st-shape-vs-bytes", "shape needs more bytes than the offsets span", st_shape_vs_bytes, NULL, ST, { "needs 1200 bytes", WORD } },
  { "st-negative-dim", "negative dimension", st_negative_dim, NULL, ST, { "negative", WORD } },
  { "st-shape-overflow", "element count overflows 64 bits", st_overflow, NULL, ST, { "overflows 64 bits", WORD } },
  { "st-too-many-dims", "10 dimensions", st_too_many_dims, NULL, ST, { "at most 8", WORD } },
  { "st-unknown-dtype", "dtype F128", st_unknown_dtype, NULL, ST, { "unknown dtype 'F128'", Q_W } },
  { "st-dtype-size", "F16 label on F32 bytes", st_dtype_size, NULL, ST, { "needs 32 bytes", Q_W } },
  { "st-wrong-dtype", "a weight stored as I64", st_wrong_dtype, NULL, ST, { "unsupported dtype I64", Q_W } },
  { "st-duplicate-name", "the same tensor twice", st_duplicate, NULL, ST, { "duplicate", Q_B } },
  { "st-bad-metadata", "__metadata__ with a number", st_metadata, NULL, ST, { "__metadata__", "not a string" } },
  { "st-too-many-tensors", "70,000 empty tensors (cap 65,536)", st_too_many_tensors, NULL, ST,
    { "lists 70000 tensors", "65536" } },
  /* weights */
  { "w-nan", "a NaN weight (F32)", w_nan, NULL, ST, { "holds NaN", Q_W, "[1, 2]" } },
  { "w-inf", "a -Inf LayerNorm bias (F32)", w_inf, NULL, ST, { "holds -Inf", "embeddings.LayerNorm.bias" } },
  { "w-nan-embedding", "a NaN in the last embedding row", w_nan_embedding, NULL, ST, { "holds NaN", WORD, "[59, 3]" } },
  { "w-f16-inf", "+Inf in an F16 tensor", w_f16_inf, NULL, ST, { "holds +Inf", FF1_W } },
  { "w-bf16-nan", "NaN in a BF16 tensor", w_bf16_nan, NULL, ST, { "holds NaN", Q_B } },
  /* tensors vs config */
  { "c-missing-tensor", "a layer tensor missing", c_missing_tensor, NULL, ST, { V_B, "missing" } },
  { "c-not-bert", "no word embeddings", c_not_bert, NULL, ST, { "not a BERT checkpoint" } },
  { "c-extra-layer", "the file has 2 layers, config says 1", c_extra_layer, NULL, ST, { "holds a layer 1", "num_hidden_layers = 1" } },
  { "c-missing-layer", "config says 2 layers, the file has 1", c_missing_layer, NULL, ST, { "encoder.layer.1.", "missing" } },
  { "c-hidden-mismatch", "config hidden_size 8, tensors 4", c_hidden_mismatch, NULL, ST, { "has shape [60, 4], expected [60, 8]" } },
  { "c-transposed", "a weight stored transposed", c_transposed, NULL, ST, { "has shape [4, 8], expected [8, 4]", FF1_W } },
  { "c-vocab-rows", "config vocab_size 61, 60 embedding rows", c_vocab_rows, NULL, ST, { "expected [61, 4]", WORD } },
  /* config.json */
  { "cfg-empty", "empty config.json", NULL, cfg_empty, CFG, { "the file is empty" } },
  { "cfg-truncated", "config.json cut in half", cfg_truncated, NULL, CFG, { "not valid JSON" } },
  { "cfg-nul-byte", "a NUL byte in config.json", NULL, cfg_nul, CFG, { "NUL byte" } },
  { "cfg-deep-nesting", "1 MB of '[' (stack overflow in json-glib)", NULL, cfg_deep, CFG, { "nested deeper than 128 levels" } },
  { "cfg-array", "config.json is an array", cfg_array, NULL, CFG, { "expected a JSON object" } },
  { "cfg-zero-layers", "num_hidden_layers 0", cfg_zero_layers, NULL, CFG, { "'num_hidden_layers' is 0" } },
  { "cfg-zero-heads", "num_attention_heads 0", cfg_zero_heads, NULL, CFG, { "'num_attention_heads' is 0" } },
  { "cfg-zero-positions", "max_position_embeddings 0", cfg_positions, NULL, CFG, { "'max_position_embeddings' is 0" } },
  { "cfg-absurd-hidden", "hidden_size 10^9", cfg_absurd_hidden, NULL, CFG, { "'hidden_size' is 1000000000" } },
  { "cfg-float-vocab", "vocab_size 1e300", cfg_huge_number, NULL, CFG, { "'vocab_size' must be an integer" } },
  { "cfg-negative-vocab", "vocab_size -60", cfg_negative, NULL, CFG, { "'vocab_size' is -60" } },
  { "cfg-heads-not-dividing", "3 heads for hidden_size 4", cfg_heads, NULL, CFG, { "not divisible by num_attention_heads 3" } },
  { "cfg-string-size", "hidden_size \"4\"", cfg_string, NULL, CFG, { "'hidden_size' must be an integer" } },
  { "cfg-missing-field", "no intermediate_size", cfg_missing_field, NULL, CFG, { "'intermediate_size' is missing" } },
  { "cfg-gpt2", "model_type gpt_neox", cfg_gpt2, NULL, CFG, { "model_type 'gpt_neox' is not supported" } },
  { "cfg-relu", "hidden_act relu", cfg_relu, NULL, CFG, { "hidden_act 'relu' is not supported" } },
  { "cfg-zero-eps", "layer_norm_eps 0", cfg_eps, NULL, CFG, { "'layer_norm_eps'" } },
  { "cfg-octal-escape", "an octal escape (not JSON) in model_type", cfg_octal_escape, NULL, CFG,
    { "not valid JSON", "backslash escape" } },
  { "cfg-eps-underflow", "layer_norm_eps 1e-122 (0 as a float)", cfg_eps_underflow, NULL, CFG,
    { "'layer_norm_eps' is 1e-122", "32-bit float" } },
  { "cfg-is-directory", "config.json is a directory", NULL, cfg_is_dir, CFG, { "is a directory" } },
  { "cfg-missing", "no config.json", NULL, cfg_missing, CFG, { "file not found" } },
  { "cfg-fifo", "config.json is a FIFO (would block)", NULL, cfg_fifo, CFG, { "FIFO" } },
  { "cfg-dev-zero", "config.json links to /dev/zero (endless)", NULL, cfg_dev_zero, CFG, { "character device" } },
  { "cfg-link-loop", "config.json is a link to itself", NULL, cfg_link_loop, CFG, { "symbolic links" } },
  /* vocab.txt and tokenizer.json */
  { "v-no-cls", "vocab.txt without [CLS]", v_no_cls, NULL, VOC, { "no [CLS] token" } },
  { "v-no-sep", "vocab.txt without [SEP]", v_no_sep, NULL, VOC, { "no [SEP] token" } },
  { "v-no-unk", "vocab.txt without [UNK]", v_no_unk, NULL, VOC, { "\"[UNK]\" is not in the vocabulary" } },
  { "v-empty", "empty vocab.txt", NULL, v_empty, VOC, { "no [CLS] token" } },
  { "v-bad-utf8", "a Latin-1 line in vocab.txt", v_bad_utf8, NULL, VOC, { "line 61 is not valid UTF-8" } },
  { "v-too-big", "62 tokens for vocab_size 60", v_too_big, NULL, VOC, { "62 tokens", "vocab_size = 60" } },
  { "v-is-directory", "vocab.txt is a directory", NULL, v_is_dir, VOC, { "is a directory" } },
  { "v-none", "neither tokenizer.json nor vocab.txt", NULL, v_none, TOK, { "neither tokenizer.json nor vocab.txt" } },
  { "v-bad-tokenizer-config", "tokenizer_config.json is not JSON", NULL, v_bad_tokenizer_config, "tokenizer_config.json", { "not valid JSON" } },
  { "v-fifo", "vocab.txt is a FIFO (would block)", NULL, v_fifo, VOC, { "FIFO" } },
  { "v-tokenizer-config-fifo", "tokenizer_config.json is a FIFO (would block)", NULL, v_tokenizer_config_fifo,
    "tokenizer_config.json", { "FIFO" } },
  { "t-not-json", "tokenizer.json cut short", t_not_json, NULL, TOK, { "not valid JSON" } },
  { "t-empty", "empty tokenizer.json", NULL, t_empty, TOK, { "the file is empty" } },
  { "t-bpe", "a BPE tokenizer", t_bpe, NULL, TOK, { "BPE continuing_subword_prefix is not supported" } },
  { "t-no-unk", "tokenizer.json vocabulary without [UNK]", t_no_unk, NULL, TOK, { "\"[UNK]\" is not in the vocabulary" } },
  { "t-template-id", "[CLS] numbered 99999 by the post-processor", t_template_id, NULL, TOK, { "'[CLS]' has id 99999", "vocab_size = 60" } },
  { "t-template-huge-id", "[CLS] numbered 2^31-2 by the post-processor", t_huge_id, NULL, TOK, { "\"[CLS]\" has a bad id" } },
  { "t-vocab-huge-id", "a vocabulary id of 2*10^9 (not a 16 GB table)", t_vocab_huge_id, NULL, TOK, { "\"hello\"", "from 0 to" } },
  { "t-lone-surrogate", "a lone UTF-16 surrogate escape", t_lone_surrogate, NULL, TOK, { "surrogate" } },
  { "t-deep-nesting", "100,000 nested objects", NULL, t_deep, TOK, { "nested deeper than 128 levels" } },
  { "t-is-directory", "tokenizer.json is a directory", NULL, t_is_dir, TOK, { "is a directory" } },
  { "t-fifo", "tokenizer.json is a FIFO (would block)", NULL, t_fifo, TOK, { "FIFO" } },
  { "t-dev-zero", "tokenizer.json links to /dev/zero (endless)", NULL, t_dev_zero, TOK, { "character device" } },
  { "t-link-loop", "tokenizer.json is a link to itself (not a reason to use vocab.txt)", NULL, t_link_loop, TOK,
    { "symbolic links" } },
  { "t-oversized", "tokenizer.json of 64 MiB + 1 byte (sparse)", NULL, t_oversized, TOK,
    { "is 67108865 bytes", "at most 67108864 bytes" } },
  /* the folder */
  { "folder-is-file", "the model folder is a file", NULL, folder_is_file, "folder-is-file", { "not a model folder" } },
};

/* ------------------------------------------------------------------------ */
/* Cases built from the real model (links to its big files)                 */

typedef struct {
  const char *name;
  const char *what;
  const char *config_from, *config_to;   /* a config.json edit, or NULL */
  gboolean    vocab_only;                /* vocab.txt, no tokenizer.json */
  const char *vocab_drop;                /* vocab.txt line to replace, or NULL */
  gsize       truncate_weights;          /* copy this many bytes of the weights, or 0 */
  const char *file;
  const char *expect[2];
} RealCase;

static const RealCase real_cases[] = {
  { "real-heads-5", "MiniLM with num_attention_heads 5", "\"num_attention_heads\": 12", "\"num_attention_heads\": 5",
    FALSE, NULL, 0, CFG, { "not divisible by num_attention_heads 5" } },
  { "real-hidden-768", "MiniLM config claiming hidden_size 768", "\"hidden_size\": 384", "\"hidden_size\": 768",
    FALSE, NULL, 0, ST, { "has shape [30522, 384], expected [30522, 768]" } },
  { "real-layers-12", "MiniLM config claiming 12 layers", "\"num_hidden_layers\": 6", "\"num_hidden_layers\": 12",
    FALSE, NULL, 0, ST, { "encoder.layer.6.", "missing" } },
  { "real-layers-5", "MiniLM config claiming 5 layers", "\"num_hidden_layers\": 6", "\"num_hidden_layers\": 5",
    FALSE, NULL, 0, ST, { "holds a layer 5" } },
  { "real-vocab-30000", "MiniLM config with vocab_size 30000", "\"vocab_size\": 30522", "\"vocab_size\": 30000",
    FALSE, NULL, 0, ST, { "expected [30000, 384]" } },
  { "real-vocab-no-sep", "MiniLM vocab.txt without [SEP]", NULL, NULL, TRUE, "[SEP]", 0, VOC, { "no [SEP] token" } },
  { "real-truncated", "MiniLM weights cut at 1 MB", NULL, NULL, FALSE, NULL, 1 << 20, ST, { "run past the end of the file" } },
};

static char *
real_model_dir (void)
{
  char *dir = as_model_default_dir ();
  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  if (!g_file_test (weights, G_FILE_TEST_EXISTS))
    g_clear_pointer (&dir, g_free);
  return dir;
}

static void
link_real (const char *real,
           const char *dir,
           const char *name)
{
  g_autofree char *target = g_build_filename (real, name, NULL);
  g_autofree char *link = g_build_filename (dir, name, NULL);
  g_autofree char *absolute = g_canonicalize_filename (target, NULL);
  g_assert_cmpint (symlink (absolute, link), ==, 0);
}

static void
make_real_case (const RealCase *c,
                const char     *real,
                const char     *dir)
{
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_autofree char *config_path = g_build_filename (real, "config.json", NULL);
  g_autoptr(GBytes) config = read_bytes (config_path);
  g_autoptr(GString) text = g_string_new_len (g_bytes_get_data (config, NULL), g_bytes_get_size (config));
  if (c->config_from != NULL)
    g_assert_cmpint (g_string_replace (text, c->config_from, c->config_to, 1), ==, 1);
  write_file (dir, "config.json", text->str, text->len);

  if (c->truncate_weights > 0)
    {
      g_autofree char *weights = g_build_filename (real, "model.safetensors", NULL);
      FILE *f = fopen (weights, "rb");
      char *head = g_malloc (c->truncate_weights);
      g_assert_nonnull (f);
      g_assert_cmpint (fread (head, 1, c->truncate_weights, f), ==, c->truncate_weights);
      fclose (f);
      write_file (dir, "model.safetensors", head, c->truncate_weights);
      g_free (head);
    }
  else
    link_real (real, dir, "model.safetensors");

  if (c->vocab_drop != NULL)
    {
      g_autofree char *vocab_path = g_build_filename (real, "vocab.txt", NULL);
      g_autoptr(GBytes) vocab = read_bytes (vocab_path);
      g_autoptr(GString) v = g_string_new_len (g_bytes_get_data (vocab, NULL), g_bytes_get_size (vocab));
      g_autofree char *line = g_strdup_printf ("\n%s\n", c->vocab_drop);
      g_assert_cmpint (g_string_replace (v, line, "\n[unused999]\n", 1), ==, 1);
      write_file (dir, "vocab.txt", v->str, v->len);
    }
  else
    link_real (real, dir, c->vocab_only ? "vocab.txt" : "tokenizer.json");
}

/* ------------------------------------------------------------------------ */
/* Building the zoo                                                          */

static char *zoo_dir;
static char *real_dir;

static void
make_case (const Case *c,
           const char *dir)
{
  Model *m = model_new_base ();
  if (c->edit != NULL)
    c->edit (m);
  model_write (m, dir);
  model_free (m);
  if (c->after != NULL)
    c->after (dir);
}

static void
append_manifest (GString     *manifest,
                 const char  *name,
                 const char  *file,
                 const char  *what,
                 const char *const *expect,
                 int          n_expect)
{
  g_string_append_printf (manifest, "%s\t%s\t%s", name, file, what);
  for (int i = 0; i < n_expect && expect[i] != NULL; i++)
    g_string_append_printf (manifest, "\t%s", expect[i]);
  g_string_append_c (manifest, '\n');
}

/* A valid model whose attention cannot fit for its longest inputs: the base
 * with 65,536 positions (the most as-config.c accepts). One layer of 2 heads
 * at 65,536 tokens would need 2 x 65536^2 floats = 32 GiB; the default
 * budget fits about 11,500 tokens. Its weights take 1 MB. */
#define LONG_POSITIONS 65536

static void
make_long_context (const char *dir)
{
  Model *m = model_new_base ();
  replace_config (m, "\"max_position_embeddings\": 16", "\"max_position_embeddings\": 65536");
  Tensor *pos = find_tensor (m, "embeddings.position_embeddings.weight");
  guint index = 0;
  g_assert_true (g_ptr_array_find (m->tensors, pos, &index));
  m->tensors->pdata[index] = tensor_new ("embeddings.position_embeddings.weight", LONG_POSITIONS, HIDDEN);
  tensor_free (pos);
  model_write (m, dir);
  model_free (m);
}

/* The zoo in ROOT: base/ (valid), long-context/ (valid, see above) and one
 * folder per case; returns how many hostile folders it made. */
static int
make_zoo (const char *root)
{
  GString *manifest = g_string_new ("# case\tfile\twhat\texpected words…\n");
  int n = 0;

  g_assert_cmpint (g_mkdir_with_parents (root, 0755), ==, 0);
  {
    g_autofree char *base = g_build_filename (root, "base", NULL);
    Model *m = model_new_base ();
    model_write (m, base);
    model_free (m);
  }
  {
    g_autofree char *long_context = g_build_filename (root, "long-context", NULL);
    make_long_context (long_context);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++, n++)
    {
      g_autofree char *dir = g_build_filename (root, cases[i].name, NULL);
      make_case (&cases[i], dir);
      append_manifest (manifest, cases[i].name, cases[i].file, cases[i].what, cases[i].expect, 3);
    }
  g_autofree char *real = real_model_dir ();
  if (real != NULL)
    for (gsize i = 0; i < G_N_ELEMENTS (real_cases); i++, n++)
      {
        g_autofree char *dir = g_build_filename (root, real_cases[i].name, NULL);
        make_real_case (&real_cases[i], real, dir);
        append_manifest (manifest, real_cases[i].name, real_cases[i].file, real_cases[i].what,
                         real_cases[i].expect, 2);
      }
  write_file (root, "MANIFEST", manifest->str, manifest->len);
  g_string_free (manifest, TRUE);
  return n;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

/* Generous for sanitizer builds; a refusal takes milliseconds. */
#define REFUSAL_US (5 * G_USEC_PER_SEC)

static void
assert_refused (const char        *name,
                const char        *file,
                const char *const *expect,
                int                n_expect)
{
  g_autofree char *dir = g_build_filename (zoo_dir, name, NULL);
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  AsModel *model = as_model_load (dir, &error);
  gint64 took = g_get_monotonic_time () - start;

  if (model != NULL)
    {
      as_model_free (model);
      g_error ("%s: the model was loaded, it should have been refused", name);
    }
  g_assert_nonnull (error);
  g_test_message ("%s: %s (%.0f ms)", name, error->message, took / 1000.0);
  /* A file that blocks or never ends would not come back at all; this
   * catches one that is merely read or parsed in full before the refusal. */
  if (took > REFUSAL_US)
    g_error ("%s: refused after %.1f s, not quickly", name, took / (double) G_USEC_PER_SEC);
  g_assert_true (error->domain == AS_MODEL_ERROR);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  if (strstr (error->message, file) == NULL)
    g_error ("%s: message does not name %s: %s", name, file, error->message);
  for (int i = 0; i < n_expect && expect[i] != NULL; i++)
    if (strstr (error->message, expect[i]) == NULL)
      g_error ("%s: message lacks \"%s\": %s", name, expect[i], error->message);
}

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  assert_refused (c->name, c->file, c->expect, 3);
}

static void
test_real_case (gconstpointer data)
{
  const RealCase *c = data;
  if (real_dir == NULL)
    {
      g_test_skip ("the real model is not downloaded (tools/setup)");
      return;
    }
  assert_refused (c->name, c->file, c->expect, 2);
}

/* The base of the zoo is valid: each refusal is down to its one defect. */
static void
test_base_loads (void)
{
  g_autofree char *dir = g_build_filename (zoo_dir, "base", NULL);
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  AsBackend *backend = as_cpu_backend_new (model);
  AsAnalysis *a = as_attention_compute (backend, "The animal didn't cross the street.", "hello", &error);
  g_assert_no_error (error);
  g_assert_cmpint (a->n, >, 8);
  for (int l = 0; l < a->n_layers; l++)
    for (int h = 0; h < a->n_heads; h++)
      for (int i = 0; i < a->n; i++)
        {
          const float *row = as_analysis_head (a, l, h) + (gsize) i * a->n;
          double sum = 0;
          for (int j = 0; j < a->n; j++)
            sum += row[j];
          g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
        }
  as_analysis_unref (a);
  as_backend_free (backend);
  as_model_free (model);
}

static void
test_base_with_tokenizer_json (void)
{
  g_autofree char *dir = g_build_filename (zoo_dir, "base-tokenizer-json", NULL);
  Model *m = model_new_base ();
  t_valid (m);
  model_write (m, dir);
  model_free (m);
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  AsEncoding *enc = as_tokenizer_encode (model->tokenizer, "hello world", NULL, 0);
  g_assert_cmpint (enc->n_tokens, ==, 4);
  g_assert_cmpint (enc->tokens[0].id, ==, 2);
  as_encoding_free (enc);
  as_model_free (model);
}

/* ------------------------------------------------------------------------ */
/* Resource limits                                                           */

static void
test_budget_figures (void)
{
  g_unsetenv ("ATTNSCOPE_MAX_ATTENTION_MB");
  g_assert_cmpuint (as_attention_budget_bytes (), ==, (guint64) AS_ATTENTION_DEFAULT_BUDGET_MB << 20);

  /* bert-base at 512 tokens: 12 x 12 x 512^2 floats = 151 MB of attention. */
  AsConfig *base = as_config_new_preset ("bert-base");
  guint64 need = as_attention_bytes_needed (base, 512);
  g_assert_cmpuint (need, >=, G_GUINT64_CONSTANT (150994944));
  g_assert_cmpuint (need, <, G_GUINT64_CONSTANT (200) << 20);
  g_assert_cmpint (as_attention_max_tokens (base), ==, 512);
  g_assert_true (as_attention_check_budget (base, 512, NULL));

  /* A long-context model: 24 x 16 at 8192 positions would need ~100 GB. */
  AsConfig *large = as_config_new_preset ("bert-large");
  large->max_positions = 8192;
  int fit = as_attention_max_tokens (large);
  g_assert_cmpint (fit, >, 512);
  g_assert_cmpint (fit, <, 8192);
  g_assert_cmpuint (as_attention_bytes_needed (large, fit), <=, as_attention_budget_bytes ());
  g_assert_cmpuint (as_attention_bytes_needed (large, fit + 1), >, as_attention_budget_bytes ());
  g_autoptr(GError) error = NULL;
  g_assert_false (as_attention_check_budget (large, 8192, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES);
  g_autofree char *at_most = g_strdup_printf ("at most %d tokens", fit);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, at_most));
  g_assert_nonnull (strstr (error->message, "ATTNSCOPE_MAX_ATTENTION_MB"));

  /* The largest config as-config.c accepts does not overflow the sums. */
  AsConfig huge = *large;
  huge.n_layers = 256;
  huge.n_heads = 256;
  huge.hidden = 16384;
  huge.intermediate = 65536;
  huge.max_positions = 65536;
  g_assert_cmpuint (as_attention_bytes_needed (&huge, 65536), >, G_GUINT64_CONSTANT (1) << 50);
  g_assert_cmpint (as_attention_max_tokens (&huge), <, 1000);

  /* The variable sets the budget; nonsense leaves the default. */
  g_setenv ("ATTNSCOPE_MAX_ATTENTION_MB", "100", TRUE);
  g_assert_cmpuint (as_attention_budget_bytes (), ==, G_GUINT64_CONSTANT (100) << 20);
  g_assert_false (as_attention_check_budget (base, 512, NULL));
  g_setenv ("ATTNSCOPE_MAX_ATTENTION_MB", "-5", TRUE);
  g_assert_cmpuint (as_attention_budget_bytes (), ==, (guint64) AS_ATTENTION_DEFAULT_BUDGET_MB << 20);
  g_setenv ("ATTNSCOPE_MAX_ATTENTION_MB", "lots", TRUE);
  g_assert_cmpuint (as_attention_budget_bytes (), ==, (guint64) AS_ATTENTION_DEFAULT_BUDGET_MB << 20);
  g_unsetenv ("ATTNSCOPE_MAX_ATTENTION_MB");
  as_config_free (base);
  as_config_free (large);
}

/* Through a real forward pass: the backend refuses before allocating, and a
 * shorter input still works. */
static void
test_budget_refusal (void)
{
  if (real_dir == NULL)
    {
      g_test_skip ("the real model is not downloaded (tools/setup)");
      return;
    }
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (real_dir, &error);
  g_assert_no_error (error);
  AsBackend *backend = as_cpu_backend_new (model);

  /* 6 x 12 x 512^2 floats = 75 MB of attention: over a 40 MB budget. */
  g_setenv ("ATTNSCOPE_MAX_ATTENTION_MB", "40", TRUE);
  GString *text = g_string_new (NULL);
  for (int i = 0; i < 600; i++)
    g_string_append (text, "word ");
  AsAnalysis *a = as_attention_compute (backend, text->str, NULL, &error);
  g_assert_null (a);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "512 tokens"));
  g_clear_error (&error);

  int fit = as_attention_max_tokens (model->config);
  g_assert_cmpint (fit, >, 100);
  g_assert_cmpint (fit, <, 512);
  int ids[512], types[512];
  for (int i = 0; i < 512; i++)
    {
      ids[i] = 1000 + i;
      types[i] = 0;
    }
  a = as_attention_compute_ids (backend, ids, types, fit, &error);
  g_assert_no_error (error);
  as_analysis_unref (a);
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = fit + 1 };
  g_assert_false (as_backend_forward (backend, &req, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES);
  g_clear_error (&error);

  g_unsetenv ("ATTNSCOPE_MAX_ATTENTION_MB");
  g_string_free (text, TRUE);
  as_backend_free (backend);
  as_model_free (model);
}

/* Peak virtual memory of this process (VmPeak), in kB: an allocation of the
 * refused size would show here even where the kernel overcommits. */
static guint64
vm_peak_kb (void)
{
  g_autofree char *status = NULL;
  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  const char *line = strstr (status, "VmPeak:");
  return line != NULL ? g_ascii_strtoull (line + 7, NULL, 10) : 0;
}

/* A valid model that takes 65,536 positions: a long input is refused with
 * the figures before anything is allocated; one that fits runs. */
static void
test_budget_long_context (void)
{
  g_autofree char *dir = g_build_filename (zoo_dir, "long-context", NULL);
  g_autoptr(GError) error = NULL;
  g_unsetenv ("ATTNSCOPE_MAX_ATTENTION_MB");
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (model->config->max_positions, ==, LONG_POSITIONS);
  AsBackend *backend = as_cpu_backend_new (model);
  int fit = as_attention_max_tokens (model->config);
  g_assert_cmpint (fit, >, 1000);
  g_assert_cmpint (fit, <, LONG_POSITIONS);

  /* 30,000 words of one token each, plus [CLS] and [SEP]. */
  GString *text = g_string_new (NULL);
  for (int i = 0; i < 30000; i++)
    g_string_append (text, i % 2 ? "a " : "b ");
  guint64 peak_before = vm_peak_kb ();
  AsAnalysis *a = as_attention_compute (backend, text->str, NULL, &error);
  guint64 peak_after = vm_peak_kb ();
  g_assert_null (a);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES);
  g_test_message ("%s", error->message);
  g_autofree char *figures = g_strdup_printf ("an input of 30002 tokens needs %.0f MB for the attention "
                                              "of 1 layer x 2 heads",
                                              as_attention_bytes_needed (model->config, 30002) / 1048576.0);
  g_assert_nonnull (strstr (error->message, figures));
  g_autofree char *at_most = g_strdup_printf ("at most %d tokens", fit);
  g_assert_nonnull (strstr (error->message, at_most));
  /* 30,002 tokens would take 6.7 GiB of attention: none of it was mapped. */
  g_test_message ("VmPeak %" G_GUINT64_FORMAT " kB before, %" G_GUINT64_FORMAT " kB after the refusal",
                  peak_before, peak_after);
  g_assert_cmpuint (peak_after, <, peak_before + 256 * 1024);
  g_clear_error (&error);

  /* The longest input that fits is accepted (running it would take 2 GB
   * here), one token more is not; a 2,000-token input runs, rows summing
   * to 1. */
  g_assert_true (as_attention_check_budget (model->config, fit, NULL));
  g_assert_false (as_attention_check_budget (model->config, fit + 1, NULL));
  g_string_truncate (text, 2 * 1998);
  a = as_attention_compute (backend, text->str, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (a->n, ==, 2000);
  for (int h = 0; h < a->n_heads; h++)
    for (int i = 0; i < a->n; i += 333)
      {
        const float *row = as_analysis_head (a, 0, h) + (gsize) i * a->n;
        double sum = 0;
        for (int j = 0; j < a->n; j++)
          sum += row[j];
        g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-4);
      }
  as_analysis_unref (a);
  g_string_free (text, TRUE);
  as_backend_free (backend);
  as_model_free (model);
}

/* ------------------------------------------------------------------------ */

static void
remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      GDir *dir = g_dir_open (path, 0, NULL);
      const char *name;
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
        }
      if (dir != NULL)
        g_dir_close (dir);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

int
main (int    argc,
      char **argv)
{
  if (argc == 3 && strcmp (argv[1], "--make-zoo") == 0)
    {
      int n = make_zoo (argv[2]);
      g_print ("%d hostile model folders in %s (see %s/MANIFEST)\n", n, argv[2], argv[2]);
      return 0;
    }

  g_test_init (&argc, &argv, NULL);
  g_autoptr(GError) error = NULL;
  zoo_dir = g_dir_make_tmp ("attnscope-zoo-XXXXXX", &error);
  g_assert_no_error (error);
  g_rmdir (zoo_dir);
  real_dir = real_model_dir ();
  int n = make_zoo (zoo_dir);
  g_test_message ("%d hostile folders in %s", n, zoo_dir);

  g_test_add_func ("/zoo/base-loads", test_base_loads);
  g_test_add_func ("/zoo/base-with-tokenizer-json", test_base_with_tokenizer_json);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/zoo/%s", cases[i].name);
      g_test_add_data_func (path, &cases[i], test_case);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (real_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/zoo/%s", real_cases[i].name);
      g_test_add_data_func (path, &real_cases[i], test_real_case);
    }
  g_test_add_func ("/limits/figures", test_budget_figures);
  g_test_add_func ("/limits/refusal", test_budget_refusal);
  g_test_add_func ("/limits/long-context", test_budget_long_context);

  int status = g_test_run ();
  remove_tree (zoo_dir);
  g_free (zoo_dir);
  g_free (real_dir);
  return status;
}
