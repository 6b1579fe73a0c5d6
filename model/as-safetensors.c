/* as-safetensors.c — a validating reader for the safetensors format.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON,
 * then the data section. Nothing about a tensor is exposed until the whole
 * header has passed every rule of REFERENCE.md §4, so after a successful open
 * each tensor's [begin, end) is known to lie inside the mapping and to match
 * its shape and dtype exactly; the accessors below can then trust it.
 *
 * The JSON goes through two passes: a strict RFC 8259 syntax scan of our own
 * (json-glib 1.6 is lenient: it accepts comments, hex numbers, single quotes,
 * leading zeros and an empty document, and it recurses without a depth limit),
 * then json-glib builds the tree, with a signal handler that catches the
 * duplicate keys json-glib would otherwise silently collapse.
 */
#include "as-safetensors.h"

#include <math.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "as-error.h"

/* Same cap as the reference reader: a bigger header is an attack, not a model. */
#define MAX_HEADER_LEN G_GUINT64_CONSTANT (100000000)
/* A real header nests three deep (root, entry, array); this is generous and
 * keeps the recursive syntax scan far from the stack limit. */
#define MAX_JSON_DEPTH 32
/* Integers above 2^53 are not exact in many JSON producers; none is plausible
 * as a dimension or a byte offset, so treat them as malformed. */
#define MAX_JSON_INT (G_GINT64_CONSTANT (1) << 53)
#define METADATA_KEY "__metadata__"

/* ------------------------------------------------------------------------ */
/* dtypes                                                                   */

typedef struct {
  const char *name;
  guint       size;       /* bytes per element; 0 for sub-byte dtypes */
  gboolean    convertible;
  AsDtype     dtype;      /* meaningful only when convertible */
} DtypeDesc;

/* Every dtype the reference reader knows. The ones we cannot convert are still
 * validated (size, offsets) so a file that carries e.g. an I64 position_ids
 * buffer, as BERT checkpoints do, opens fine; reading such a tensor as f32 is
 * what fails. Sub-byte dtypes would need bit-level size rules: refused. */
static const DtypeDesc dtype_table[] = {
  { "F32",         4, TRUE,  AS_DTYPE_F32  },
  { "F16",         2, TRUE,  AS_DTYPE_F16  },
  { "BF16",        2, TRUE,  AS_DTYPE_BF16 },
  { "BOOL",        1, FALSE, AS_DTYPE_F32  },
  { "U8",          1, FALSE, AS_DTYPE_F32  },
  { "I8",          1, FALSE, AS_DTYPE_F32  },
  { "F8_E5M2",     1, FALSE, AS_DTYPE_F32  },
  { "F8_E4M3",     1, FALSE, AS_DTYPE_F32  },
  { "F8_E8M0",     1, FALSE, AS_DTYPE_F32  },
  { "I16",         2, FALSE, AS_DTYPE_F32  },
  { "U16",         2, FALSE, AS_DTYPE_F32  },
  { "I32",         4, FALSE, AS_DTYPE_F32  },
  { "U32",         4, FALSE, AS_DTYPE_F32  },
  { "F64",         8, FALSE, AS_DTYPE_F32  },
  { "I64",         8, FALSE, AS_DTYPE_F32  },
  { "U64",         8, FALSE, AS_DTYPE_F32  },
  { "C64",         8, FALSE, AS_DTYPE_F32  },
  { "F4",          0, FALSE, AS_DTYPE_F32  },
  { "F6_E2M3",     0, FALSE, AS_DTYPE_F32  },
  { "F6_E3M2",     0, FALSE, AS_DTYPE_F32  },
};

static const DtypeDesc *
find_dtype (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (strcmp (dtype_table[i].name, name) == 0)
      return &dtype_table[i];
  return NULL;
}

static const char *
dtype_name (AsDtype dtype)
{
  switch (dtype)
    {
    case AS_DTYPE_F32:  return "F32";
    case AS_DTYPE_F16:  return "F16";
    case AS_DTYPE_BF16: return "BF16";
    default:            return "?";
    }
}

/* ------------------------------------------------------------------------ */
/* The object                                                               */

struct _AsSafetensors {
  char         *display_name;
  GMappedFile  *mapping;       /* NULL for open_bytes */
  const guint8 *data_section;  /* start of the tensor bytes */
  guint64       data_size;
  AsTensorInfo *tensors;       /* convertible tensors, in data order */
  guint         n_tensors;
  GHashTable   *by_name;       /* name -> AsTensorInfo* into tensors */
  GHashTable   *unconvertible; /* name -> dtype name (static string) */
  GHashTable   *metadata;      /* key -> value, both owned */
};

/* A header entry while we validate; becomes an AsTensorInfo if convertible. */
typedef struct {
  AsTensorInfo     info;
  const DtypeDesc *desc;
} Entry;

static void
clear_entry (gpointer p)
{
  Entry *entry = p;
  g_free (entry->info.name);
}

/* Every message starts with the file so it can be acted on out of context. */
G_GNUC_PRINTF (4, 5)
static void
set_error (GError     **error,
           AsModelError code,
           const char  *file,
           const char  *format,
           ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, AS_MODEL_ERROR, code, "%s: %s", file, reason);
}

/* "[384, 30522]" */
static char *
format_shape (int           n_dims,
              const gint64 *shape)
{
  GString *s = g_string_new ("[");
  for (int i = 0; i < n_dims; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Step 1: the header length                                                */

static gboolean
read_header_length (const guint8 *data,
                    gsize         size,
                    const char   *file,
                    guint64      *header_len,
                    GError      **error)
{
  if (size == 0)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file, "file is empty");
      return FALSE;
    }
  if (size < 8)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "file is %" G_GSIZE_FORMAT " bytes, too short for the 8-byte header length",
                 size);
      return FALSE;
    }

  guint64 le;
  memcpy (&le, data, sizeof le);
  guint64 n = GUINT64_FROM_LE (le);

  /* Compare before adding 8 so a hostile N cannot wrap around. */
  if (n > MAX_HEADER_LEN)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "header length %" G_GUINT64_FORMAT " exceeds the limit of %" G_GUINT64_FORMAT " bytes",
                 n, MAX_HEADER_LEN);
      return FALSE;
    }
  if (n > size - 8)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "header length %" G_GUINT64_FORMAT " runs past the end of the file "
                 "(file is %" G_GSIZE_FORMAT " bytes)", n, size);
      return FALSE;
    }
  *header_len = n;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Step 2: strict JSON syntax (RFC 8259), no tree                           */

typedef struct {
  const char *start;
  const char *p;
  const char *end;
  const char *problem;
  gboolean    out_of_range;  /* valid JSON, but a number we refuse */
} JsonScan;

static gboolean scan_value (JsonScan *s, int depth);

static gboolean
scan_fail (JsonScan   *s,
           const char *problem)
{
  s->problem = problem;
  return FALSE;
}

static void
scan_whitespace (JsonScan *s)
{
  while (s->p < s->end &&
         (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static gboolean
scan_expect (JsonScan   *s,
             char        c,
             const char *problem)
{
  scan_whitespace (s);
  if (s->p >= s->end || *s->p != c)
    return scan_fail (s, problem);
  s->p++;
  return TRUE;
}

static gboolean
scan_literal (JsonScan   *s,
              const char *word)
{
  gsize len = strlen (word);
  if ((gsize) (s->end - s->p) < len || memcmp (s->p, word, len) != 0)
    return scan_fail (s, "unexpected character");
  s->p += len;
  return TRUE;
}

static gboolean
scan_digits (JsonScan *s)
{
  if (s->p >= s->end || !g_ascii_isdigit (*s->p))
    return FALSE;
  while (s->p < s->end && g_ascii_isdigit (*s->p))
    s->p++;
  return TRUE;
}

/* json-glib 1.6 wraps integers it cannot hold: 18446744073709551615 comes back
 * as -1 and -99999999999999999999 as +1, which would turn a hostile offset
 * into a plausible one. So integer literals are range-checked here, on the
 * text, before json-glib sees them. */
static gboolean
integer_text_in_range (const char *digits,
                       const char *end)
{
  guint64 value = 0;
  for (const char *d = digits; d < end; d++)
    {
      value = value * 10 + (guint64) (*d - '0');
      if (value > (guint64) MAX_JSON_INT)
        return FALSE;
    }
  return TRUE;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? — a leading zero followed by
 * more digits is left for the caller to reject as an unexpected character. */
static gboolean
scan_number (JsonScan *s)
{
  if (*s->p == '-')
    s->p++;
  const char *digits = s->p;
  if (s->p < s->end && *s->p == '0')
    s->p++;
  else if (!scan_digits (s))
    return scan_fail (s, "malformed number");
  const char *digits_end = s->p;
  gboolean is_integer = TRUE;
  if (s->p < s->end && *s->p == '.')
    {
      s->p++;
      is_integer = FALSE;
      if (!scan_digits (s))
        return scan_fail (s, "malformed number");
    }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
    {
      s->p++;
      is_integer = FALSE;
      if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
        s->p++;
      if (!scan_digits (s))
        return scan_fail (s, "malformed number");
    }
  if (is_integer && !integer_text_in_range (digits, digits_end))
    {
      s->p = digits;
      s->out_of_range = TRUE;
      return scan_fail (s, "integer beyond 2^53 in magnitude");
    }
  return TRUE;
}

/* Reads the 4 hex digits after "\u"; -1 if malformed. */
static int
scan_hex4 (JsonScan *s)
{
  if (s->end - s->p < 4)
    return -1;
  int value = 0;
  for (int i = 0; i < 4; i++)
    {
      int digit = g_ascii_xdigit_value (s->p[i]);
      if (digit < 0)
        return -1;
      value = value * 16 + digit;
    }
  s->p += 4;
  return value;
}

/* After "\u" of a code unit: surrogates must come as a high/low pair, and an
 * escaped NUL is refused because names end up as C strings (json-glib would
 * cut "a\u0000b" to "a" and make two distinct keys collide). */
static gboolean
scan_unicode_escape (JsonScan *s)
{
  int unit = scan_hex4 (s);
  if (unit < 0)
    return scan_fail (s, "malformed \\u escape");
  if (unit == 0)
    return scan_fail (s, "escaped NUL (\\u0000) in a string");
  if (unit >= 0xDC00 && unit <= 0xDFFF)
    return scan_fail (s, "unpaired low surrogate in a string");
  if (unit >= 0xD800 && unit <= 0xDBFF)
    {
      if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
        return scan_fail (s, "unpaired high surrogate in a string");
      s->p += 2;
      int low = scan_hex4 (s);
      if (low < 0xDC00 || low > 0xDFFF)
        return scan_fail (s, "unpaired high surrogate in a string");
    }
  return TRUE;
}

static gboolean
scan_escape (JsonScan *s)
{
  if (s->p >= s->end)
    return scan_fail (s, "unterminated string");
  char c = *s->p++;
  if (c != '\0' && strchr ("\"\\/bfnrt", c) != NULL)
    return TRUE;
  if (c == 'u')
    return scan_unicode_escape (s);
  return scan_fail (s, "invalid escape in a string");
}

static gboolean
scan_string (JsonScan *s)
{
  s->p++;  /* the opening quote */
  for (;;)
    {
      if (s->p >= s->end)
        return scan_fail (s, "unterminated string");
      guchar c = (guchar) *s->p++;
      if (c == '"')
        return TRUE;
      if (c < 0x20)
        return scan_fail (s, "control character in a string");
      if (c == '\\' && !scan_escape (s))
        return FALSE;
    }
}

static gboolean
scan_object (JsonScan *s,
             int       depth)
{
  s->p++;  /* '{' */
  scan_whitespace (s);
  if (s->p < s->end && *s->p == '}')
    {
      s->p++;
      return TRUE;
    }
  for (;;)
    {
      scan_whitespace (s);
      if (s->p >= s->end || *s->p != '"')
        return scan_fail (s, "expected a string key");
      if (!scan_string (s) ||
          !scan_expect (s, ':', "expected ':' after a key") ||
          !scan_value (s, depth + 1))
        return FALSE;
      scan_whitespace (s);
      if (s->p < s->end && *s->p == ',')
        s->p++;
      else
        return scan_expect (s, '}', "expected ',' or '}' in an object");
    }
}

static gboolean
scan_array (JsonScan *s,
            int       depth)
{
  s->p++;  /* '[' */
  scan_whitespace (s);
  if (s->p < s->end && *s->p == ']')
    {
      s->p++;
      return TRUE;
    }
  for (;;)
    {
      if (!scan_value (s, depth + 1))
        return FALSE;
      scan_whitespace (s);
      if (s->p < s->end && *s->p == ',')
        s->p++;
      else
        return scan_expect (s, ']', "expected ',' or ']' in an array");
    }
}

static gboolean
scan_value (JsonScan *s,
            int       depth)
{
  if (depth > MAX_JSON_DEPTH)
    return scan_fail (s, "nesting too deep");
  scan_whitespace (s);
  if (s->p >= s->end)
    return scan_fail (s, "unexpected end of the header");
  switch (*s->p)
    {
    case '{': return scan_object (s, depth);
    case '[': return scan_array (s, depth);
    case '"': return scan_string (s);
    case 't': return scan_literal (s, "true");
    case 'f': return scan_literal (s, "false");
    case 'n': return scan_literal (s, "null");
    default:
      if (*s->p == '-' || g_ascii_isdigit (*s->p))
        return scan_number (s);
      return scan_fail (s, "unexpected character");
    }
}

/* UTF-8 first (json-glib assumes it), then the syntax. */
static gboolean
check_header_text (const char *header,
                   gsize       len,
                   const char *file,
                   GError    **error)
{
  const char *bad = NULL;
  /* g_utf8_validate_len also refuses NUL bytes, which JSON never contains. */
  if (!g_utf8_validate_len (header, len, &bad))
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "header is not valid UTF-8 (bad byte at offset %" G_GSIZE_FORMAT ")",
                 (gsize) (bad - header));
      return FALSE;
    }

  JsonScan s = { header, header, header + len, NULL, FALSE };
  if (scan_value (&s, 0))
    {
      scan_whitespace (&s);
      if (s.p != s.end)
        scan_fail (&s, "unexpected content after the JSON value");
    }
  if (s.problem != NULL)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file, "header %s: %s at byte %" G_GSIZE_FORMAT,
                 s.out_of_range ? "has an unusable number" : "is not valid JSON",
                 s.problem, (gsize) (s.p - s.start));
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Step 3: the tree, with duplicate keys caught                             */

/* json-glib keeps only the last of two equal keys, so we watch every member
 * as the parser adds it, per object. Keys are compared after unescaping, so
 * "w" and "\u0077" collide as they should. Objects are keyed by address: the
 * only way json-glib frees one mid-parse is by replacing a duplicate member,
 * and by then that true duplicate has been recorded, so address reuse cannot
 * produce the first report. */
typedef struct {
  GHashTable *names_by_object;  /* JsonObject* -> set of member names */
  JsonObject *dup_object;       /* first object seen with a duplicate */
  char       *dup_name;
} DupTracker;

static void
on_object_member (JsonParser *parser,
                  JsonObject *object,
                  const char *name,
                  gpointer    user_data)
{
  DupTracker *tracker = user_data;
  GHashTable *names = g_hash_table_lookup (tracker->names_by_object, object);
  if (names == NULL)
    {
      names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (tracker->names_by_object, object, names);
    }
  if (!g_hash_table_add (names, g_strdup (name)) && tracker->dup_name == NULL)
    {
      tracker->dup_object = object;
      tracker->dup_name = g_strdup (name);
    }
}

/* Says which entry holds the duplicate, for a useful message. */
static void
report_duplicate (JsonObject *root,
                  DupTracker *tracker,
                  const char *file,
                  GError    **error)
{
  if (tracker->dup_object == root)
    {
      if (strcmp (tracker->dup_name, METADATA_KEY) == 0)
        set_error (error, AS_MODEL_ERROR_FORMAT, file, "duplicate key '" METADATA_KEY "'");
      else
        set_error (error, AS_MODEL_ERROR_FORMAT, file,
                   "duplicate tensor name '%s'", tracker->dup_name);
      return;
    }

  JsonObjectIter iter;
  const char *member;
  JsonNode *node;
  json_object_iter_init (&iter, root);
  while (json_object_iter_next (&iter, &member, &node))
    {
      if (JSON_NODE_HOLDS_OBJECT (node) && json_node_get_object (node) == tracker->dup_object)
        {
          if (strcmp (member, METADATA_KEY) == 0)
            set_error (error, AS_MODEL_ERROR_FORMAT, file,
                       METADATA_KEY ": duplicate key '%s'", tracker->dup_name);
          else
            set_error (error, AS_MODEL_ERROR_FORMAT, file,
                       "tensor '%s': duplicate key '%s'", member, tracker->dup_name);
          return;
        }
    }
  set_error (error, AS_MODEL_ERROR_FORMAT, file,
             "duplicate key '%s' in a nested object", tracker->dup_name);
}

/* Returns the parser (owning the tree) with *ROOT set, or NULL. */
static JsonParser *
parse_header_tree (const char  *header,
                   gsize        len,
                   const char  *file,
                   JsonObject **root,
                   GError     **error)
{
  JsonParser *parser = json_parser_new ();
  DupTracker tracker = {
    g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                           (GDestroyNotify) g_hash_table_unref),
    NULL, NULL
  };
  g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &tracker);

  GError *json_error = NULL;
  gboolean ok = json_parser_load_from_data (parser, header, (gssize) len, &json_error);
  g_signal_handlers_disconnect_by_func (parser, on_object_member, &tracker);
  JsonNode *node = ok ? json_parser_get_root (parser) : NULL;

  if (!ok)
    set_error (error, AS_MODEL_ERROR_FORMAT, file,
               "header is not valid JSON: %s", json_error->message);
  else if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file, "header is not a JSON object");
      ok = FALSE;
    }
  else if (tracker.dup_name != NULL)
    {
      report_duplicate (json_node_get_object (node), &tracker, file, error);
      ok = FALSE;
    }

  g_clear_error (&json_error);
  g_hash_table_unref (tracker.names_by_object);
  g_free (tracker.dup_name);
  if (!ok)
    {
      g_object_unref (parser);
      return NULL;
    }
  *root = json_node_get_object (node);
  return parser;
}

/* ------------------------------------------------------------------------ */
/* Step 4: each entry on its own                                            */

/* NULL when NODE is an integer in [0, 2^53], else what is wrong with it.
 * (check_header_text already refused integer literals beyond 2^53, so the
 * gint64 json-glib hands back is exact; the upper bound is a second guard.) */
static const char *
json_index_problem (JsonNode *node,
                    guint64  *out)
{
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return "is not an integer";
  gint64 v = json_node_get_int (node);
  if (v < 0)
    return "is negative";
  if (v > MAX_JSON_INT)
    return "is larger than 2^53";
  *out = (guint64) v;
  return NULL;
}

/* Looks up a required member; reports it missing. */
static JsonNode *
require_member (JsonObject *entry,
                const char *key,
                const char *file,
                const char *name,
                GError    **error)
{
  JsonNode *node = json_object_get_member (entry, key);
  if (node == NULL)
    set_error (error, AS_MODEL_ERROR_FORMAT, file, "tensor '%s': missing '%s'", name, key);
  return node;
}

static gboolean
parse_dtype (JsonObject *entry,
             const char *file,
             Entry      *out,
             GError    **error)
{
  const char *name = out->info.name;
  JsonNode *node = require_member (entry, "dtype", file, name, error);
  if (node == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file, "tensor '%s': 'dtype' is not a string", name);
      return FALSE;
    }
  const char *dtype = json_node_get_string (node);
  const DtypeDesc *desc = find_dtype (dtype);
  if (desc == NULL)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file, "tensor '%s': unknown dtype '%s'", name, dtype);
      return FALSE;
    }
  if (desc->size == 0)
    {
      set_error (error, AS_MODEL_ERROR_UNSUPPORTED, file,
                 "tensor '%s': unsupported dtype %s", name, desc->name);
      return FALSE;
    }
  out->desc = desc;
  out->info.dtype = desc->dtype;
  return TRUE;
}

static gboolean
parse_shape (JsonObject *entry,
             const char *file,
             Entry      *out,
             GError    **error)
{
  const char *name = out->info.name;
  JsonNode *node = require_member (entry, "shape", file, name, error);
  if (node == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file, "tensor '%s': 'shape' is not an array", name);
      return FALSE;
    }
  JsonArray *array = json_node_get_array (node);
  guint n_dims = json_array_get_length (array);
  if (n_dims > AS_SAFETENSORS_MAX_DIMS)
    {
      set_error (error, AS_MODEL_ERROR_UNSUPPORTED, file,
                 "tensor '%s': shape has %u dims, at most %d are supported",
                 name, n_dims, AS_SAFETENSORS_MAX_DIMS);
      return FALSE;
    }
  out->info.n_dims = (int) n_dims;
  for (guint i = 0; i < n_dims; i++)
    {
      guint64 dim = 0;
      const char *problem = json_index_problem (json_array_get_element (array, i), &dim);
      if (problem != NULL)
        {
          set_error (error, AS_MODEL_ERROR_FORMAT, file, "tensor '%s': shape[%u] %s", name, i, problem);
          return FALSE;
        }
      out->info.shape[i] = (gint64) dim;
    }
  return TRUE;
}

static gboolean
parse_offsets (JsonObject *entry,
               const char *file,
               Entry      *out,
               GError    **error)
{
  const char *name = out->info.name;
  JsonNode *node = require_member (entry, "data_offsets", file, name, error);
  if (node == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "tensor '%s': 'data_offsets' is not an array", name);
      return FALSE;
    }
  JsonArray *array = json_node_get_array (node);
  guint len = json_array_get_length (array);
  if (len != 2)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "tensor '%s': data_offsets has %u elements, expected 2", name, len);
      return FALSE;
    }
  guint64 bounds[2] = { 0, 0 };
  for (guint i = 0; i < 2; i++)
    {
      const char *problem = json_index_problem (json_array_get_element (array, i), &bounds[i]);
      if (problem != NULL)
        {
          set_error (error, AS_MODEL_ERROR_FORMAT, file,
                     "tensor '%s': data_offsets[%u] %s", name, i, problem);
          return FALSE;
        }
    }
  if (bounds[0] > bounds[1])
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "tensor '%s': data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") has begin > end",
                 name, bounds[0], bounds[1]);
      return FALSE;
    }
  out->info.begin = bounds[0];
  out->info.end = bounds[1];
  return TRUE;
}

/* Element count x dtype size, overflow-checked, must equal end - begin. Any
 * zero dimension makes the count zero whatever the other dimensions are. */
static gboolean
check_entry_size (const char  *file,
                  Entry       *entry,
                  GError     **error)
{
  const AsTensorInfo *info = &entry->info;
  guint64 count = 1;
  gboolean overflow = FALSE;
  for (int i = 0; i < info->n_dims; i++)
    if (info->shape[i] == 0)
      count = 0;
  for (int i = 0; i < info->n_dims && count != 0 && !overflow; i++)
    overflow = !g_uint64_checked_mul (&count, count, (guint64) info->shape[i]);

  guint64 bytes = 0;
  if (!overflow)
    overflow = !g_uint64_checked_mul (&bytes, count, entry->desc->size);

  g_autofree char *shape = format_shape (info->n_dims, info->shape);
  if (overflow)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "tensor '%s': shape %s of %s overflows 64 bits when counting bytes",
                 info->name, shape, entry->desc->name);
      return FALSE;
    }
  if (bytes != info->end - info->begin)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "tensor '%s': shape %s of %s needs %" G_GUINT64_FORMAT " bytes but "
                 "data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") span %" G_GUINT64_FORMAT,
                 info->name, shape, entry->desc->name, bytes,
                 info->begin, info->end, info->end - info->begin);
      return FALSE;
    }
  /* bytes <= file size, so the count fits in gint64. */
  entry->info.n_elements = (gint64) count;
  return TRUE;
}

static gboolean
parse_entry (const char *name,
             JsonNode   *node,
             const char *file,
             Entry      *out,
             GError    **error)
{
  out->info.name = g_strdup (name);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "tensor '%s': entry is not a JSON object", name);
      return FALSE;
    }
  /* Extra keys in an entry are ignored, as the reference reader does. */
  JsonObject *entry = json_node_get_object (node);
  return parse_dtype (entry, file, out, error) &&
         parse_shape (entry, file, out, error) &&
         parse_offsets (entry, file, out, error) &&
         check_entry_size (file, out, error);
}

static GHashTable *
parse_metadata (JsonNode   *node,
                const char *file,
                GError    **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file, METADATA_KEY " is not an object");
      return NULL;
    }
  GHashTable *table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;
  json_object_iter_init (&iter, json_node_get_object (node));
  while (json_object_iter_next (&iter, &key, &value))
    {
      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        {
          set_error (error, AS_MODEL_ERROR_FORMAT, file,
                     METADATA_KEY ": value of '%s' is not a string", key);
          g_hash_table_unref (table);
          return NULL;
        }
      g_hash_table_insert (table, g_strdup (key), g_strdup (json_node_get_string (value)));
    }
  return table;
}

/* Fills ENTRIES and *METADATA from the root object. */
static gboolean
parse_root (JsonObject  *root,
            const char  *file,
            GArray      *entries,
            GHashTable **metadata,
            GError     **error)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  json_object_iter_init (&iter, root);
  while (json_object_iter_next (&iter, &name, &node))
    {
      if (strcmp (name, METADATA_KEY) == 0)
        {
          if ((*metadata = parse_metadata (node, file, error)) == NULL)
            return FALSE;
          continue;
        }
      Entry entry = { 0 };
      gboolean ok = parse_entry (name, node, file, &entry, error);
      /* Appended even on failure so the array's clear func frees the name. */
      g_array_append_val (entries, entry);
      if (!ok)
        return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Step 5: the layout of the data section                                   */

static int
compare_entries_by_offset (gconstpointer a,
                           gconstpointer b)
{
  const AsTensorInfo *x = &((const Entry *) a)->info;
  const AsTensorInfo *y = &((const Entry *) b)->info;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return strcmp (x->name, y->name);  /* deterministic order for empty tensors */
}

/* Sorted by offset, the tensors must tile [0, data_size) exactly: this is what
 * guarantees every later access stays inside the mapping. */
static gboolean
check_layout (GArray     *entries,
              guint64     data_size,
              const char *file,
              GError    **error)
{
  g_array_sort (entries, compare_entries_by_offset);
  guint64 expected = 0;
  const AsTensorInfo *prev = NULL;
  for (guint i = 0; i < entries->len; i++)
    {
      const AsTensorInfo *t = &g_array_index (entries, Entry, i).info;
      if (t->begin > expected)
        {
          g_autofree char *after = prev
            ? g_strdup_printf ("tensor '%s' which ends at %" G_GUINT64_FORMAT, prev->name, prev->end)
            : g_strdup ("the start of the data section (the first tensor must begin at 0)");
          set_error (error, AS_MODEL_ERROR_FORMAT, file,
                     "tensor '%s': data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") "
                     "leave a gap of %" G_GUINT64_FORMAT " bytes after %s",
                     t->name, t->begin, t->end, t->begin - expected, after);
          return FALSE;
        }
      if (t->begin < expected)
        {
          set_error (error, AS_MODEL_ERROR_FORMAT, file,
                     "tensor '%s': data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") "
                     "overlap tensor '%s' [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ")",
                     t->name, t->begin, t->end, prev->name, prev->begin, prev->end);
          return FALSE;
        }
      if (t->end > data_size)
        {
          set_error (error, AS_MODEL_ERROR_FORMAT, file,
                     "tensor '%s': data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") "
                     "run past the end of the file (the data section is %" G_GUINT64_FORMAT " bytes)",
                     t->name, t->begin, t->end, data_size);
          return FALSE;
        }
      expected = t->end;
      prev = t;
    }
  if (expected != data_size)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "the data section is %" G_GUINT64_FORMAT " bytes but the tensors end at %"
                 G_GUINT64_FORMAT ": %" G_GUINT64_FORMAT " trailing bytes",
                 data_size, expected, data_size - expected);
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Open                                                                     */

/* Moves the validated entries into ST: convertible ones become the public
 * table, the others are only remembered by name and dtype. */
static void
publish_entries (AsSafetensors *st,
                 GArray        *entries)
{
  st->tensors = g_new0 (AsTensorInfo, MAX (entries->len, 1));
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->unconvertible = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < entries->len; i++)
    {
      Entry *entry = &g_array_index (entries, Entry, i);
      if (entry->desc->convertible)
        {
          AsTensorInfo *info = &st->tensors[st->n_tensors++];
          *info = entry->info;
          g_hash_table_insert (st->by_name, info->name, info);
        }
      else
        g_hash_table_insert (st->unconvertible, entry->info.name, (gpointer) entry->desc->name);
      entry->info.name = NULL;  /* ownership moved */
    }
}

static gboolean
validate_into (AsSafetensors *st,
               const guint8  *data,
               gsize          size,
               GError       **error)
{
  const char *file = st->display_name;
  guint64 header_len = 0;
  if (!read_header_length (data, size, file, &header_len, error))
    return FALSE;

  const char *header = (const char *) data + 8;
  if (!check_header_text (header, header_len, file, error))
    return FALSE;

  JsonObject *root = NULL;
  g_autoptr (JsonParser) parser = parse_header_tree (header, header_len, file, &root, error);
  if (parser == NULL)
    return FALSE;

  g_autoptr (GArray) entries = g_array_new (FALSE, TRUE, sizeof (Entry));
  g_array_set_clear_func (entries, clear_entry);
  GHashTable *metadata = NULL;
  guint64 data_size = size - 8 - header_len;
  if (!parse_root (root, file, entries, &metadata, error) ||
      !check_layout (entries, data_size, file, error))
    {
      g_clear_pointer (&metadata, g_hash_table_unref);
      return FALSE;
    }

  st->metadata = metadata != NULL
    ? metadata
    : g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  st->data_section = data + 8 + header_len;
  st->data_size = data_size;
  publish_entries (st, entries);
  return TRUE;
}

AsSafetensors *
as_safetensors_open_bytes (const guint8 *data,
                           gsize         size,
                           const char   *display_name,
                           GError      **error)
{
  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (display_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  AsSafetensors *st = g_new0 (AsSafetensors, 1);
  st->display_name = g_strdup (display_name);
  if (!validate_into (st, data, size, error))
    {
      as_safetensors_free (st);
      return NULL;
    }
  return st;
}

AsSafetensors *
as_safetensors_open (const char  *path,
                     GError     **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  GError *map_error = NULL;
  GMappedFile *mapping = g_mapped_file_new (path, FALSE, &map_error);
  if (mapping == NULL)
    {
      set_error (error, AS_MODEL_ERROR_IO, path, "cannot map the file: %s", map_error->message);
      g_error_free (map_error);
      return NULL;
    }

  /* GLib maps an empty file as (NULL, 0) rather than failing; open_bytes
   * turns that into "file is empty". */
  const guint8 *data = (const guint8 *) g_mapped_file_get_contents (mapping);
  gsize size = g_mapped_file_get_length (mapping);
  AsSafetensors *st = as_safetensors_open_bytes (data, size, path, error);
  if (st == NULL)
    {
      g_mapped_file_unref (mapping);
      return NULL;
    }
  st->mapping = mapping;
  return st;
}

void
as_safetensors_free (AsSafetensors *st)
{
  if (st == NULL)
    return;
  for (guint i = 0; i < st->n_tensors; i++)
    g_free (st->tensors[i].name);
  g_free (st->tensors);
  g_clear_pointer (&st->by_name, g_hash_table_unref);
  g_clear_pointer (&st->unconvertible, g_hash_table_unref);
  g_clear_pointer (&st->metadata, g_hash_table_unref);
  g_clear_pointer (&st->mapping, g_mapped_file_unref);
  g_free (st->display_name);
  g_free (st);
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */

const char *
as_safetensors_get_path (AsSafetensors *st)
{
  g_return_val_if_fail (st != NULL, NULL);
  return st->display_name;
}

guint
as_safetensors_get_n_tensors (AsSafetensors *st)
{
  g_return_val_if_fail (st != NULL, 0);
  return st->n_tensors;
}

const AsTensorInfo *
as_safetensors_get_nth (AsSafetensors *st,
                        guint          index)
{
  g_return_val_if_fail (st != NULL, NULL);
  g_return_val_if_fail (index < st->n_tensors, NULL);
  return &st->tensors[index];
}

const AsTensorInfo *
as_safetensors_lookup (AsSafetensors *st,
                       const char    *name)
{
  g_return_val_if_fail (st != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  return g_hash_table_lookup (st->by_name, name);
}

const char *
as_safetensors_get_unconvertible_dtype (AsSafetensors *st,
                                        const char    *name)
{
  g_return_val_if_fail (st != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  return g_hash_table_lookup (st->unconvertible, name);
}

const char *
as_safetensors_get_metadata (AsSafetensors *st,
                             const char    *key)
{
  g_return_val_if_fail (st != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);
  return g_hash_table_lookup (st->metadata, key);
}

const guint8 *
as_safetensors_get_data (AsSafetensors      *st,
                         const AsTensorInfo *info)
{
  g_return_val_if_fail (st != NULL, NULL);
  g_return_val_if_fail (info != NULL, NULL);
  return st->data_section + info->begin;
}

/* ------------------------------------------------------------------------ */
/* Conversions                                                              */

float
as_f16_to_f32 (guint16 h)
{
  guint32 sign = (guint32) (h >> 15) << 31;
  guint32 exponent = (h >> 10) & 0x1f;
  guint32 mantissa = h & 0x3ff;
  guint32 bits;

  if (exponent == 0)
    {
      /* Zero or subnormal: mantissa x 2^-24, exact in f32; then the sign, so
       * that 0x8000 gives -0.0. */
      float magnitude = ldexpf ((float) mantissa, -24);
      return sign ? -magnitude : magnitude;
    }
  if (exponent == 0x1f)
    bits = sign | 0x7f800000u | (mantissa << 13);  /* inf, or NaN keeping its payload */
  else
    bits = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);

  float f;
  memcpy (&f, &bits, sizeof f);
  return f;
}

float
as_bf16_to_f32 (guint16 b)
{
  /* bfloat16 is the top half of an f32. */
  guint32 bits = (guint32) b << 16;
  float f;
  memcpy (&f, &bits, sizeof f);
  return f;
}

/* The data may sit at any byte offset in the mapping: every element is
 * memcpy'd out, never read through a cast pointer. */
static void
copy_f32_elements (const guint8 *src,
                   gsize         n,
                   float        *dst)
{
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  memcpy (dst, src, n * sizeof (float));
#else
  for (gsize i = 0; i < n; i++)
    {
      guint32 le;
      memcpy (&le, src + 4 * i, 4);
      guint32 bits = GUINT32_FROM_LE (le);
      memcpy (&dst[i], &bits, 4);
    }
#endif
}

static void
copy_half_elements (const guint8 *src,
                    gsize         n,
                    float       (*convert) (guint16),
                    float        *dst)
{
  for (gsize i = 0; i < n; i++)
    {
      guint16 le;
      memcpy (&le, src + 2 * i, 2);
      dst[i] = convert (GUINT16_FROM_LE (le));
    }
}

void
as_safetensors_copy_f32 (AsSafetensors      *st,
                         const AsTensorInfo *info,
                         float              *dst)
{
  g_return_if_fail (st != NULL && info != NULL);
  g_return_if_fail (dst != NULL || info->n_elements == 0);
  if (info->n_elements == 0)
    return;

  const guint8 *src = as_safetensors_get_data (st, info);
  gsize n = (gsize) info->n_elements;
  switch (info->dtype)
    {
    case AS_DTYPE_F32:
      copy_f32_elements (src, n, dst);
      break;
    case AS_DTYPE_F16:
      copy_half_elements (src, n, as_f16_to_f32, dst);
      break;
    case AS_DTYPE_BF16:
      copy_half_elements (src, n, as_bf16_to_f32, dst);
      break;
    default:
      g_return_if_reached ();
    }
}

static gboolean
shape_matches (const AsTensorInfo *info,
               int                 n_dims,
               const gint64       *shape)
{
  if (info->n_dims != n_dims)
    return FALSE;
  for (int i = 0; i < n_dims; i++)
    if (info->shape[i] != shape[i])
      return FALSE;
  return TRUE;
}

float *
as_safetensors_read_f32 (AsSafetensors *st,
                         const char    *name,
                         int            n_dims,
                         const gint64  *shape,
                         GError       **error)
{
  g_return_val_if_fail (st != NULL && name != NULL, NULL);
  g_return_val_if_fail (n_dims >= 0 && (shape != NULL || n_dims == 0), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  const AsTensorInfo *info = as_safetensors_lookup (st, name);
  if (info == NULL)
    {
      const char *other = as_safetensors_get_unconvertible_dtype (st, name);
      if (other != NULL)
        set_error (error, AS_MODEL_ERROR_UNSUPPORTED, st->display_name,
                   "tensor '%s' has unsupported dtype %s (only F32, F16 and BF16 can be read)",
                   name, other);
      else
        set_error (error, AS_MODEL_ERROR_MISMATCH, st->display_name, "tensor '%s' is missing", name);
      return NULL;
    }
  if (!shape_matches (info, n_dims, shape))
    {
      g_autofree char *have = format_shape (info->n_dims, info->shape);
      g_autofree char *want = format_shape (n_dims, shape);
      set_error (error, AS_MODEL_ERROR_MISMATCH, st->display_name,
                 "tensor '%s' has shape %s, expected %s", name, have, want);
      return NULL;
    }

  /* The element count is bounded by the file size, so this cannot overflow;
   * try_ so that a huge tensor is an error rather than an abort. */
  float *dst = g_try_new (float, MAX (info->n_elements, 1));
  if (dst == NULL)
    {
      set_error (error, AS_MODEL_ERROR_RESOURCES, st->display_name,
                 "tensor '%s' (%" G_GINT64_FORMAT " elements of %s) does not fit in memory",
                 name, info->n_elements, dtype_name (info->dtype));
      return NULL;
    }
  as_safetensors_copy_f32 (st, info, dst);
  return dst;
}
