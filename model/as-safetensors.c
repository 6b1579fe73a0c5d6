/* as-safetensors.c — a validating reader for the safetensors format.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON,
 * then the data section. Nothing about a tensor is exposed until the whole
 * header has passed every rule of the format (see as-safetensors.h), so after a successful open
 * each tensor's [begin, end) is known to lie inside the file's bytes and to
 * match its shape and dtype exactly; the accessors below can then trust it.
 *
 * The JSON goes through two passes of our own, neither of which builds a
 * tree: a strict RFC 8259 syntax scan that also counts the tensors (so a
 * header listing millions is refused before anything is allocated for them),
 * then a walk that reads each entry straight off the text. Memory is the
 * header's own size plus one small record per tensor.
 */
#include "as-safetensors.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "as-error.h"
#include "as-file-read.h"

/* Same cap as the reference reader: a bigger header is an attack, not a model. */
#define MAX_HEADER_LEN G_GUINT64_CONSTANT (100000000)
/* A real header nests three deep (root, entry, array); this is generous and
 * keeps the recursive syntax scan far from the stack limit. */
#define MAX_JSON_DEPTH 32
/* Integers above 2^53 are not exact in many JSON producers; none is plausible
 * as a dimension or a byte offset, so treat them as malformed. */
#define MAX_JSON_INT (G_GINT64_CONSTANT (1) << 53)
#define METADATA_KEY "__metadata__"
/* Real files carry a handful of metadata strings. */
#define MAX_METADATA 65536u

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
  char         *file_bytes;    /* the whole file, read by open; NULL for open_bytes */
  gsize         file_alloc;    /* bytes mapped for file_bytes; 0 when it came from malloc */
  guint8       *suspect;       /* [n_chunks] per READ_CHUNK of the file: it holds a 4-byte word
                                * whose float exponent is all ones (NaN, inf); NULL: not scanned */
  gsize         n_chunks;
  char         *header_text;   /* decoded copy of the header: names and metadata */
  const guint8 *data_section;  /* start of the tensor bytes */
  guint64       data_size;
  AsTensorInfo *tensors;       /* convertible tensors, in data order */
  guint         n_tensors;
  GHashTable   *by_name;       /* name -> AsTensorInfo* into tensors */
  GHashTable   *unconvertible; /* name -> dtype name (static string) */
  GHashTable   *metadata;      /* key -> value, both in header_text */
};

/* A header entry while we validate; becomes an AsTensorInfo if convertible.
 * Its name points into header_text. */
typedef struct {
  AsTensorInfo     info;
  const DtypeDesc *desc;
} Entry;

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
  guint64     n_tensors;     /* members of the root object but __metadata__ */
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

/* Integer literals are range-checked on the text, so that the walk can read
 * them without overflow: a wrapped 18446744073709551615 or
 * -99999999999999999999 (as json-glib 1.6 returns them, -1 and +1) would turn
 * a hostile offset into a plausible one. */
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
 * escaped NUL is refused because names end up as C strings ("a\u0000b" would
 * read as "a" and make two distinct keys collide). */
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
      const char *key = s->p;
      if (!scan_string (s))
        return FALSE;
      /* Counted on the raw text: a metadata key spelt with escapes counts as
       * a tensor, which only moves the cap by one. */
      static const char quoted_metadata[] = "\"" METADATA_KEY "\"";
      if (depth == 0 &&
          !((gsize) (s->p - key) == sizeof quoted_metadata - 1 &&
            memcmp (key, quoted_metadata, sizeof quoted_metadata - 1) == 0))
        s->n_tensors++;
      if (!scan_expect (s, ':', "expected ':' after a key") ||
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

/* UTF-8 first, then the syntax, then the number of tensors (in *N_TENSORS). */
static gboolean
check_header_text (const char *header,
                   gsize       len,
                   const char *file,
                   guint64    *n_tensors,
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

  JsonScan s = { header, header, header + len, NULL, FALSE, 0 };
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
  if (s.n_tensors > AS_SAFETENSORS_MAX_TENSORS)
    {
      set_error (error, AS_MODEL_ERROR_RESOURCES, file,
                 "header lists %" G_GUINT64_FORMAT " tensors, more than the %u a file may hold "
                 "(real checkpoints have a few thousand at most)",
                 s.n_tensors, (guint) AS_SAFETENSORS_MAX_TENSORS);
      return FALSE;
    }
  *n_tensors = s.n_tensors;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Step 3: the entries, read straight off the checked text                  */

/* check_header_text has passed the text, so the walk below meets only
 * well-formed JSON within the depth limit and never reports syntax. It builds
 * no tree: a generic one costs a node per value, which let a 100 MB header
 * take gigabytes. Strings are decoded in place in our own copy of the header
 * (an escape is never shorter than what it stands for), so names and
 * metadata need no allocation of their own. */
typedef struct {
  char       *p;      /* NUL-terminated after the header */
  const char *file;
} Walk;

static void
walk_whitespace (Walk *w)
{
  while (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r')
    w->p++;
}

/* Skips the ':' or ',' that the syntax guarantees, with its whitespace. */
static void
walk_separator (Walk *w)
{
  walk_whitespace (w);
  w->p++;
  walk_whitespace (w);
}

/* After the value of a member or element: TRUE when the object or array
 * closes (and W moves past it), FALSE when a ',' follows (moved past too). */
static gboolean
walk_closes (Walk *w)
{
  walk_whitespace (w);
  char c = *w->p++;
  walk_whitespace (w);
  return c == '}' || c == ']';
}

/* TRUE when the object or array just opened at W is empty (W moves past its
 * opening bracket, and past the closing one when empty). */
static gboolean
walk_open_is_empty (Walk *w)
{
  w->p++;
  walk_whitespace (w);
  if (*w->p != '}' && *w->p != ']')
    return FALSE;
  w->p++;
  return TRUE;
}

static gunichar
hex4 (const char *p)
{
  gunichar value = 0;
  for (int i = 0; i < 4; i++)
    value = value * 16 + (gunichar) g_ascii_xdigit_value (p[i]);
  return value;
}

/* W is at a string's opening quote: decodes the string in place, ends it with
 * a NUL, and moves W past the closing quote. The checks of Step 2 make every
 * escape well formed and every surrogate paired. */
static char *
walk_string (Walk *w)
{
  char *start = ++w->p;
  char *out = start;
  for (;;)
    {
      char c = *w->p++;
      if (c == '"')
        break;
      if (c != '\\')
        {
          *out++ = c;
          continue;
        }
      c = *w->p++;
      switch (c)
        {
        case 'b': *out++ = '\b'; break;
        case 'f': *out++ = '\f'; break;
        case 'n': *out++ = '\n'; break;
        case 'r': *out++ = '\r'; break;
        case 't': *out++ = '\t'; break;
        case 'u':
          {
            gunichar unit = hex4 (w->p);
            w->p += 4;
            if (unit >= 0xD800 && unit <= 0xDBFF)
              {
                gunichar low = hex4 (w->p + 2);
                w->p += 6;
                unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
              }
            out += g_unichar_to_utf8 (unit, out);
            break;
          }
        default: *out++ = c; break;  /* '"', '\\', '/' */
        }
    }
  *out = '\0';
  return start;
}

/* Moves W past one value of any kind, leaving it untouched. */
static void
walk_skip (Walk *w)
{
  int depth = 0;
  walk_whitespace (w);
  do
    {
      char c = *w->p;
      if (c == '"')
        {
          for (w->p++; *w->p != '"'; w->p++)
            if (*w->p == '\\')
              w->p++;
          w->p++;
        }
      else if (c == '{' || c == '[')
        depth++, w->p++;
      else if (c == '}' || c == ']')
        depth--, w->p++;
      else if (depth > 0)
        w->p++;
      else
        while (g_ascii_isalnum (*w->p) || *w->p == '-' || *w->p == '+' || *w->p == '.')
          w->p++;
    }
  while (depth > 0);
}

/* NULL when the value at W is an integer in [0, 2^53] (stored in *OUT), else
 * what is wrong with it; W moves past the value either way. A number with a
 * fraction or an exponent is not an integer (2.0 is no dimension), and -0 is
 * 0. */
static const char *
walk_index (Walk    *w,
            guint64 *out)
{
  walk_whitespace (w);
  if (*w->p != '-' && !g_ascii_isdigit (*w->p))
    {
      walk_skip (w);
      return "is not an integer";
    }
  gboolean negative = *w->p == '-';
  if (negative)
    w->p++;
  guint64 value = 0;
  for (; g_ascii_isdigit (*w->p); w->p++)
    value = MIN (value * 10 + (guint64) (*w->p - '0'), (guint64) MAX_JSON_INT + 1);
  if (*w->p == '.' || *w->p == 'e' || *w->p == 'E')
    {
      walk_skip (w);
      return "is not an integer";
    }
  if (negative && value != 0)
    return "is negative";
  /* Step 2 refused such literals already; a second guard. */
  if (value > (guint64) MAX_JSON_INT)
    return "is larger than 2^53";
  *out = value;
  return NULL;
}

/* The number of elements of the array at W, which does not move. */
static guint
walk_array_length (const Walk *w)
{
  Walk probe = *w;
  guint n = 0;
  if (walk_open_is_empty (&probe))
    return 0;
  do
    {
      walk_skip (&probe);
      n++;
    }
  while (!walk_closes (&probe));
  return n;
}

/* ------------------------------------------------------------------------ */
/* Step 4: each entry on its own                                            */

/* The positions of an entry's three members in the header, NULL if absent. */
typedef struct {
  char *dtype;
  char *shape;
  char *offsets;
} EntryMembers;

static gboolean
missing (const char  *file,
         const char  *name,
         const char  *key,
         GError     **error)
{
  set_error (error, AS_MODEL_ERROR_FORMAT, file, "tensor '%s': missing '%s'", name, key);
  return FALSE;
}

static gboolean
parse_dtype (char        *at,
             const char  *file,
             Entry       *out,
             GError     **error)
{
  const char *name = out->info.name;
  if (at == NULL)
    return missing (file, name, "dtype", error);
  if (*at != '"')
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file, "tensor '%s': 'dtype' is not a string", name);
      return FALSE;
    }
  Walk w = { at, file };
  const char *dtype = walk_string (&w);
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
parse_shape (char        *at,
             const char  *file,
             Entry       *out,
             GError     **error)
{
  const char *name = out->info.name;
  if (at == NULL)
    return missing (file, name, "shape", error);
  if (*at != '[')
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file, "tensor '%s': 'shape' is not an array", name);
      return FALSE;
    }
  Walk w = { at, file };
  guint n_dims = walk_array_length (&w);
  if (n_dims > AS_SAFETENSORS_MAX_DIMS)
    {
      set_error (error, AS_MODEL_ERROR_UNSUPPORTED, file,
                 "tensor '%s': shape has %u dims, at most %d are supported",
                 name, n_dims, AS_SAFETENSORS_MAX_DIMS);
      return FALSE;
    }
  out->info.n_dims = (int) n_dims;
  walk_open_is_empty (&w);
  for (guint i = 0; i < n_dims; i++, walk_closes (&w))
    {
      guint64 dim = 0;
      const char *problem = walk_index (&w, &dim);
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
parse_offsets (char        *at,
               const char  *file,
               Entry       *out,
               GError     **error)
{
  const char *name = out->info.name;
  if (at == NULL)
    return missing (file, name, "data_offsets", error);
  if (*at != '[')
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "tensor '%s': 'data_offsets' is not an array", name);
      return FALSE;
    }
  Walk w = { at, file };
  guint len = walk_array_length (&w);
  if (len != 2)
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "tensor '%s': data_offsets has %u elements, expected 2", name, len);
      return FALSE;
    }
  guint64 bounds[2] = { 0, 0 };
  walk_open_is_empty (&w);
  for (guint i = 0; i < 2; i++, walk_closes (&w))
    {
      const char *problem = walk_index (&w, &bounds[i]);
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

/* W is at the value of root member NAME. Duplicate members are refused, as
 * for tensor names; members other than the three are ignored, as the
 * reference reader ignores them (so is whatever they hold). */
static gboolean
parse_entry (Walk        *w,
             char        *name,
             Entry       *out,
             GError     **error)
{
  const char *file = w->file;
  out->info.name = name;
  walk_whitespace (w);
  if (*w->p != '{')
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file,
                 "tensor '%s': entry is not a JSON object", name);
      return FALSE;
    }
  EntryMembers members = { NULL, NULL, NULL };
  if (!walk_open_is_empty (w))
    do
      {
        const char *key = walk_string (w);
        walk_separator (w);
        char **slot = strcmp (key, "dtype") == 0 ? &members.dtype
                    : strcmp (key, "shape") == 0 ? &members.shape
                    : strcmp (key, "data_offsets") == 0 ? &members.offsets
                    : NULL;
        if (slot != NULL && *slot != NULL)
          {
            set_error (error, AS_MODEL_ERROR_FORMAT, file,
                       "tensor '%s': duplicate key '%s'", name, key);
            return FALSE;
          }
        if (slot != NULL)
          *slot = w->p;
        walk_skip (w);
      }
    while (!walk_closes (w));

  /* In this order whatever the order in the file, so a message does not
   * depend on how the writer sorted the keys. */
  return parse_dtype (members.dtype, file, out, error) &&
         parse_shape (members.shape, file, out, error) &&
         parse_offsets (members.offsets, file, out, error) &&
         check_entry_size (file, out, error);
}

/* W is at the value of "__metadata__": string keys to string values, at most
 * MAX_METADATA of them. */
static gboolean
parse_metadata (Walk        *w,
                GHashTable  *table,
                GError     **error)
{
  const char *file = w->file;
  walk_whitespace (w);
  if (*w->p != '{')
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file, METADATA_KEY " is not an object");
      return FALSE;
    }
  if (walk_open_is_empty (w))
    return TRUE;
  do
    {
      char *key = walk_string (w);
      walk_separator (w);
      if (*w->p != '"')
        {
          set_error (error, AS_MODEL_ERROR_FORMAT, file,
                     METADATA_KEY ": value of '%s' is not a string", key);
          return FALSE;
        }
      char *value = walk_string (w);
      if (g_hash_table_contains (table, key))
        {
          set_error (error, AS_MODEL_ERROR_FORMAT, file, METADATA_KEY ": duplicate key '%s'", key);
          return FALSE;
        }
      if (g_hash_table_size (table) >= MAX_METADATA)
        {
          set_error (error, AS_MODEL_ERROR_RESOURCES, file,
                     METADATA_KEY " has more than %u entries", MAX_METADATA);
          return FALSE;
        }
      g_hash_table_insert (table, key, value);
    }
  while (!walk_closes (w));
  return TRUE;
}

/* Fills ENTRIES (in file order) and *METADATA from the root object at W.
 * NAMES is the set of tensor names seen. */
static gboolean
parse_root (Walk        *w,
            GArray      *entries,
            GHashTable  *names,
            GHashTable **metadata,
            GError     **error)
{
  const char *file = w->file;
  walk_whitespace (w);
  if (*w->p != '{')
    {
      set_error (error, AS_MODEL_ERROR_FORMAT, file, "header is not a JSON object");
      return FALSE;
    }
  if (walk_open_is_empty (w))
    return TRUE;
  do
    {
      char *name = walk_string (w);
      walk_separator (w);
      if (strcmp (name, METADATA_KEY) == 0)
        {
          if (*metadata != NULL)
            {
              set_error (error, AS_MODEL_ERROR_FORMAT, file, "duplicate key '" METADATA_KEY "'");
              return FALSE;
            }
          *metadata = g_hash_table_new (g_str_hash, g_str_equal);
          if (!parse_metadata (w, *metadata, error))
            return FALSE;
          continue;
        }
      if (!g_hash_table_add (names, name))
        {
          set_error (error, AS_MODEL_ERROR_FORMAT, file, "duplicate tensor name '%s'", name);
          return FALSE;
        }
      Entry entry = { 0 };
      if (!parse_entry (w, name, &entry, error))
        return FALSE;
      g_array_append_val (entries, entry);
    }
  while (!walk_closes (w));
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
 * guarantees every later access stays inside the file's bytes. */
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
  st->unconvertible = g_hash_table_new (g_str_hash, g_str_equal);
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
  guint64 n_tensors = 0;
  if (!check_header_text (header, header_len, file, &n_tensors, error))
    return FALSE;

  /* The walk decodes strings in place, and the caller's bytes are const. */
  st->header_text = g_try_malloc (header_len + 1);
  if (st->header_text == NULL)
    {
      set_error (error, AS_MODEL_ERROR_RESOURCES, file,
                 "not enough memory for its %" G_GUINT64_FORMAT "-byte header", header_len);
      return FALSE;
    }
  memcpy (st->header_text, header, header_len);
  st->header_text[header_len] = '\0';

  /* At most AS_SAFETENSORS_MAX_TENSORS records: a few megabytes. */
  g_autoptr (GArray) entries = g_array_sized_new (FALSE, TRUE, sizeof (Entry), (guint) n_tensors);
  g_autoptr (GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTable *metadata = NULL;
  guint64 data_size = size - 8 - header_len;
  Walk walk = { st->header_text, file };
  if (!parse_root (&walk, entries, names, &metadata, error) ||
      !check_layout (entries, data_size, file, error))
    {
      g_clear_pointer (&metadata, g_hash_table_unref);
      return FALSE;
    }

  st->metadata = metadata != NULL ? metadata : g_hash_table_new (g_str_hash, g_str_equal);
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

/* The file is read in chunks that fit L2, each looked at for non-finite
 * floats while it is there: the finiteness check at load then need not
 * read the weights a second time from memory. */
#define READ_CHUNK ((gsize) 1 << 20)

/* The last file buffer given back, kept until the next model read: a
 * fresh mapping costs the kernel a pass of zeroing over every page (a
 * third of a warm load's time), a reused one nothing, so loading a model
 * again (or one of the same size) skips it. The next read takes it or
 * unmaps it, so at most one is kept and never past that read. (MADV_FREE
 * would let the kernel take it back sooner, but drops huge pages at once.) */
static GMutex spare_lock;
static char  *spare_bytes;
static gsize  spare_mapped;

/* The kept buffer when it is LEN bytes, or up to a quarter larger (its
 * length in *MAPPED); NULL (and the kept one unmapped) otherwise. */
static char *
spare_take (gsize  len,
            gsize *mapped)
{
  g_mutex_lock (&spare_lock);
  char *p = spare_bytes;
  *mapped = spare_mapped;
  spare_bytes = NULL;
  spare_mapped = 0;
  g_mutex_unlock (&spare_lock);
  if (p != NULL && !(*mapped >= len && *mapped - len <= len / 4))
    {
      munmap (p, *mapped);
      p = NULL;
    }
  return p;
}

/* SIZE + 1 bytes for the file, in 2 MiB pages where the system gives them:
 * a 90 MB checkpoint then costs some 45 page faults instead of 22 000,
 * which was most of the time its read took. *MAPPED is the length
 * mapped, which file_buffer_free needs; 0 for memory from malloc. */
static char *
file_buffer_new (gsize  size,
                 gsize *mapped)
{
  *mapped = 0;
#ifdef __linux__
  const gsize huge = (gsize) 2 << 20;
  if (size >= huge)
    {
      gsize len = (size + 1 + huge - 1) / huge * huge, kept = 0;
      char *p = spare_take (len, &kept);
      if (p != NULL)
        {
          *mapped = kept;
          return p;
        }
      p = mmap (NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p != MAP_FAILED)
        {
          madvise (p, len, MADV_HUGEPAGE);
          *mapped = len;
          return p;
        }
    }
#endif
  return g_try_malloc (size + 1);
}

static void
file_buffer_free (char  *bytes,
                  gsize  mapped)
{
#ifdef __linux__
  if (mapped != 0)
    {
      g_mutex_lock (&spare_lock);
      char *old = spare_bytes;
      gsize old_mapped = spare_mapped;
      spare_bytes = bytes;
      spare_mapped = mapped;
      g_mutex_unlock (&spare_lock);
      if (old != NULL)
        munmap (old, old_mapped);
      return;
    }
#endif
  g_free (bytes);
}

/* Whether any 4-byte word of V[0, N) has a float exponent of all ones. */
static gboolean
chunk_suspect (const guint8 *v,
               gsize         n)
{
  guint32 bad = 0;
  for (gsize i = 0; i + 4 <= n; i += 4)
    {
      guint32 w;
      memcpy (&w, v + i, 4);
      bad |= (w & 0x7f800000u) == 0x7f800000u;
    }
  return bad != 0;
}

/* BUF[AT, AT + N) from FD; a file that ends early was cut while in use, and
 * the message gives how far it got of the whole SIZE. */
static gboolean
read_chunk (int          fd,
            const char  *path,
            char        *buf,
            gsize        at,
            gsize        n,
            gsize        size,
            GError     **error)
{
  for (gsize got = 0; got < n; )
    {
      ssize_t r = pread (fd, buf + at + got, n - got, (off_t) (at + got));
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          int saved = errno;
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO,
                       "%s: cannot read: %s", path, g_strerror (saved));
          return FALSE;
        }
      if (r == 0)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO,
                       "%s: the file shrank while being read (%" G_GSIZE_FORMAT " of %"
                       G_GSIZE_FORMAT " bytes); was it being replaced?", path, at + got, size);
          return FALSE;
        }
      got += (gsize) r;
    }
  return TRUE;
}

/* Chunks [c0, c1) of the file into BUF, each looked at as it arrives. */
typedef struct {
  int          fd;
  const char  *path;
  char        *buf;
  gsize        size;
  guint8      *suspect;
  gsize        c0, c1;
  gboolean     ok;
  GError      *error;
} ReadShare;

static gpointer
read_share (gpointer data)
{
  ReadShare *r = data;
  r->ok = TRUE;
  for (gsize c = r->c0; r->ok && c < r->c1; c++)
    {
      gsize at = c * READ_CHUNK, n = MIN (READ_CHUNK, r->size - at);
      r->ok = read_chunk (r->fd, r->path, r->buf, at, n, r->size, &r->error);
      if (r->ok)
        r->suspect[c] = chunk_suspect ((const guint8 *) r->buf + at, n);
    }
  return NULL;
}

/* All chunks; a big file is read by this thread and a helper, half each:
 * one core copies from the page cache at about 6 GB/s, and faults in the
 * fresh pages as it goes, so two halve the time a 90 MB model takes. */
static gboolean
read_chunks (int           fd,
             const char   *path,
             char         *buf,
             gsize         size,
             guint8       *suspect,
             gsize         n_chunks,
             GError      **error)
{
  ReadShare mine = { fd, path, buf, size, suspect, 0, n_chunks, FALSE, NULL };
  ReadShare theirs = mine;
  GThread *helper = NULL;
  if (n_chunks >= 16 && g_get_num_processors () > 1)
    {
      mine.c1 = theirs.c0 = n_chunks / 2;
      helper = g_thread_try_new ("attnscope-read", read_share, &theirs, NULL);
      if (helper == NULL)
        mine.c1 = n_chunks;
    }
  read_share (&mine);
  if (helper != NULL)
    g_thread_join (helper);
  if (!mine.ok || (helper != NULL && !theirs.ok))
    {
      g_propagate_error (error, !mine.ok ? g_steal_pointer (&mine.error)
                                         : g_steal_pointer (&theirs.error));
      g_clear_error (&mine.error);
      g_clear_error (&theirs.error);
      return FALSE;
    }
  return TRUE;
}

/* Reads PATH whole into memory we own, after checking its header length on
 * the first 8 bytes, so a file that lies about it is refused unread. */
static gboolean
read_file (const char  *path,
           char       **bytes,
           gsize       *length,
           gsize       *mapped,
           guint8     **suspect,
           gsize       *n_chunks,
           GError     **error)
{
  guint64 size64 = 0;
  int fd = as_file_open_regular (path, &size64, error);
  if (fd < 0)
    return FALSE;

  gboolean ok = TRUE;
  if (size64 >= 8)
    {
      guint8 prefix[8];
      guint64 header_len = 0;
      ok = as_file_read_at (fd, path, 0, prefix, sizeof prefix, error) &&
           read_header_length (prefix, (gsize) MIN (size64, (guint64) G_MAXSIZE), path,
                               &header_len, error);
    }
  if (ok && size64 >= G_MAXSIZE)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "%s: too large to read into memory", path);
      ok = FALSE;
    }
  const gsize size = (gsize) size64;
  char *buf = ok ? file_buffer_new (size, mapped) : NULL;
  if (ok && buf == NULL)
    {
      g_autofree char *human = g_format_size_full (size, G_FORMAT_SIZE_IEC_UNITS);
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "%s: not enough memory to read its %s", path, human);
      ok = FALSE;
    }
  if (ok)
    {
      *n_chunks = (size + READ_CHUNK - 1) / READ_CHUNK;
      *suspect = g_new0 (guint8, MAX (*n_chunks, 1));
      ok = read_chunks (fd, path, buf, size, *suspect, *n_chunks, error);
      if (!ok)
        {
          file_buffer_free (buf, *mapped);
          g_clear_pointer (suspect, g_free);
          buf = NULL;
        }
    }
  close (fd);
  if (!ok)
    return FALSE;
  buf[size] = '\0';
  *bytes = buf;
  *length = size;
  return TRUE;
}

AsSafetensors *
as_safetensors_open (const char  *path,
                     GError     **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* Read, not mapped: a mapped file that shrinks under us faults the process
   * (SIGBUS), and one rewritten in place would change weights already
   * checked. Tensors are used in place from this buffer instead. */
  gsize size = 0, mapped = 0, n_chunks = 0;
  char *contents = NULL;
  guint8 *suspect = NULL;
  if (!read_file (path, &contents, &size, &mapped, &suspect, &n_chunks, error))
    return NULL;
  AsSafetensors *st = as_safetensors_open_bytes ((const guint8 *) contents, size, path, error);
  if (st == NULL)
    {
      file_buffer_free (contents, mapped);
      g_free (suspect);
      return NULL;
    }
  st->file_bytes = contents;
  st->file_alloc = mapped;
  st->suspect = suspect;
  st->n_chunks = n_chunks;
  return st;
}

void
as_safetensors_free (AsSafetensors *st)
{
  if (st == NULL)
    return;
  g_free (st->tensors);
  g_clear_pointer (&st->by_name, g_hash_table_unref);
  g_clear_pointer (&st->unconvertible, g_hash_table_unref);
  g_clear_pointer (&st->metadata, g_hash_table_unref);
  g_free (st->header_text);
  file_buffer_free (st->file_bytes, st->file_alloc);
  g_free (st->suspect);
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

gboolean
as_safetensors_f32_known_finite (AsSafetensors      *st,
                                 const AsTensorInfo *info)
{
  g_return_val_if_fail (st != NULL && info != NULL, FALSE);
  if (st->suspect == NULL || info->dtype != AS_DTYPE_F32 || info->end <= info->begin)
    return FALSE;
  const gsize first = (gsize) (st->data_section - (const guint8 *) st->file_bytes) + info->begin;
  const gsize last = first + (info->end - info->begin) - 1;
  /* the words were looked at 4-aligned in the file */
  if (first % 4 != 0)
    return FALSE;
  for (gsize c = first / READ_CHUNK; c <= last / READ_CHUNK; c++)
    if (st->suspect[c])
      return FALSE;
  return TRUE;
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

/* The data may sit at any byte offset in the file: every element is
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
