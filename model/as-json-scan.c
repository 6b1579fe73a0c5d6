/* as-json-scan.c — see as-json-scan.h. */
#include "as-json-scan.h"

#include <string.h>

/* What a container on the stack is. */
enum { IN_OBJECT, IN_ARRAY };

typedef struct {
  const char        *start;
  const char        *p;
  const char        *end;
  const char        *reason;     /* set once, with p at the problem */
  const AsJsonWatch *watch;
  guint              path_length;
  guint              on_path;    /* the outermost levels that follow the watch's path */
  gboolean           key_matches; /* the last key read continues the path */
  GString           *key;        /* the last key read, decoded where needed */
  GString           *value;      /* a watched member's string, decoded */
  AsJsonScanned     *scanned;
} Scanner;

static gboolean
fail (Scanner    *s,
      const char *p,
      const char *reason)
{
  s->p = p;
  s->reason = reason;
  return FALSE;
}

/* Length of the well-formed UTF-8 sequence at P of a character beyond
 * ASCII (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF), or 0. */
static int
utf8_sequence (const guchar *p,
               const guchar *end)
{
  guchar lo = 0x80, hi = 0xbf;
  int n;

  if (p[0] >= 0xc2 && p[0] <= 0xdf)
    n = 2;
  else if (p[0] >= 0xe0 && p[0] <= 0xef)
    {
      n = 3;
      if (p[0] == 0xe0)
        lo = 0xa0;
      else if (p[0] == 0xed)
        hi = 0x9f;
    }
  else if (p[0] >= 0xf0 && p[0] <= 0xf4)
    {
      n = 4;
      if (p[0] == 0xf0)
        lo = 0x90;
      else if (p[0] == 0xf4)
        hi = 0x8f;
    }
  else
    return 0;
  if (end - p < n || p[1] < lo || p[1] > hi)
    return 0;
  for (int i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xbf)
      return 0;
  return n;
}

/* The byte at P where a value or punctuation was expected, as a reason. */
static gboolean
unexpected (Scanner    *s,
            const char *p,
            const char *expected)
{
  if (p >= s->end)
    return fail (s, p, "the text ends before the document does");
  if (*p == '\0')
    return fail (s, p, "a NUL byte");
  if ((guchar) *p >= 0x80 && utf8_sequence ((const guchar *) p, (const guchar *) s->end) == 0)
    return fail (s, p, "invalid UTF-8");
  return fail (s, p, expected);
}

static const char *
skip_space (const char *p,
            const char *end)
{
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  return p;
}

/* The code unit of the four hex digits at P, or -1. */
static int
hex4 (const char *p,
      const char *end)
{
  int value = 0;

  if (end - p < 4)
    return -1;
  for (int i = 0; i < 4; i++)
    {
      int digit = g_ascii_xdigit_value (p[i]);
      if (digit < 0)
        return -1;
      value = value * 16 + digit;
    }
  return value;
}

/* The escape after the backslash at *P; appends what it stands for to
 * OUT (may be NULL) and moves *P past it. */
static gboolean
scan_escape (Scanner     *s,
             const char **p,
             GString     *out)
{
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  const char *backslash = *p, *q = backslash + 1;

  if (q >= s->end)
    return fail (s, backslash, "the text ends before the document does");
  if (*q != 'u')
    {
      const char *at = *q != '\0' ? strchr (from, *q) : NULL;
      if (at == NULL)
        return fail (s, backslash, "a backslash escape that JSON does not allow");
      if (out != NULL)
        g_string_append_c (out, to[at - from]);
      *p = q + 1;
      return TRUE;
    }
  int unit = hex4 (q + 1, s->end);
  gunichar c = (gunichar) unit;
  if (unit < 0)
    return fail (s, backslash, "a malformed \\u escape (four hex digits expected)");
  if (unit >= 0xdc00 && unit <= 0xdfff)
    return fail (s, backslash, "an unpaired low surrogate escape");
  q += 5;
  if (unit >= 0xd800 && unit <= 0xdbff)
    {
      int low = s->end - q >= 6 && q[0] == '\\' && q[1] == 'u' ? hex4 (q + 2, s->end) : -1;
      if (low < 0xdc00 || low > 0xdfff)
        return fail (s, backslash, "an unpaired high surrogate escape");
      c = 0x10000 + (((gunichar) unit - 0xd800) << 10) + ((gunichar) low - 0xdc00);
      q += 6;
    }
  if (out != NULL)
    g_string_append_unichar (out, c);
  *p = q;
  return TRUE;
}

/* The string whose opening quote is at s->p; decoded into OUT when it is
 * not NULL. Leaves s->p after the closing quote. */
static gboolean
scan_string (Scanner *s,
             GString *out)
{
  const char *p = s->p + 1, *run = p;

  if (out != NULL)
    g_string_truncate (out, 0);
  for (;;)
    {
      /* The common case, a run of printable ASCII, in a tight loop. */
      while (p < s->end && (guchar) *p >= 0x20 && *p != '"' && *p != '\\' && (guchar) *p < 0x80)
        p++;
      if (p >= s->end)
        return fail (s, s->p, "a string that is never closed");
      guchar c = (guchar) *p;
      if (c >= 0x80)
        {
          int n = utf8_sequence ((const guchar *) p, (const guchar *) s->end);
          if (n == 0)
            return fail (s, p, "invalid UTF-8");
          p += n;
          continue;
        }
      if (out != NULL)
        g_string_append_len (out, run, p - run);
      if (c == '"')
        {
          s->p = p + 1;
          return TRUE;
        }
      if (c != '\\')
        return fail (s, p, c == 0 ? "a NUL byte" : "a control character in a string (it must be escaped)");
      if (!scan_escape (s, &p, out))
        return FALSE;
      run = p;
    }
}

static gboolean
is_digit (const char *p,
          const char *end)
{
  return p < end && *p >= '0' && *p <= '9';
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? at s->p. */
static gboolean
scan_number (Scanner *s)
{
  const char *p = s->p;

  if (*p == '-')
    p++;
  if (!is_digit (p, s->end))
    return fail (s, s->p, "a malformed number");
  if (*p == '0')
    p++;
  else
    while (is_digit (p, s->end))
      p++;
  if (p < s->end && *p == '.')
    {
      if (!is_digit (++p, s->end))
        return fail (s, s->p, "a malformed number");
      while (is_digit (p, s->end))
        p++;
    }
  if (p < s->end && (*p == 'e' || *p == 'E'))
    {
      p++;
      if (p < s->end && (*p == '+' || *p == '-'))
        p++;
      if (!is_digit (p, s->end))
        return fail (s, s->p, "a malformed number");
      while (is_digit (p, s->end))
        p++;
    }
  s->p = p;
  return TRUE;
}

static gboolean
scan_literal (Scanner    *s,
              const char *word)
{
  gsize n = strlen (word);

  if ((gsize) (s->end - s->p) < n || memcmp (s->p, word, n) != 0)
    return unexpected (s, s->p, "a value expected");
  s->p += n;
  return TRUE;
}

/* Whether the object at DEPTH (1: the top level) is the watched one. */
static gboolean
is_watched (const Scanner *s,
            guint          depth)
{
  return s->watch != NULL && depth == s->path_length + 1 && s->on_path == depth;
}

/* A scalar at s->p; a member of the watched object is handed over. */
static gboolean
scan_scalar (Scanner  *s,
             gboolean  watched)
{
  const char *at = s->p;
  AsJsonValue value = { AS_JSON_NUMBER, NULL, 0 };
  gboolean ok;

  switch (*at)
    {
    case '"':
      value.kind = AS_JSON_STRING;
      ok = scan_string (s, watched ? s->value : NULL);
      break;
    case 't':
      value.kind = AS_JSON_TRUE;
      ok = scan_literal (s, "true");
      break;
    case 'f':
      value.kind = AS_JSON_FALSE;
      ok = scan_literal (s, "false");
      break;
    case 'n':
      value.kind = AS_JSON_NULL;
      ok = scan_literal (s, "null");
      break;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
      ok = scan_number (s);
      break;
    default:
      return unexpected (s, at, "a value expected");
    }
  s->scanned->values++;
  if (ok && watched)
    {
      if (value.kind == AS_JSON_STRING)
        {
          value.text = s->value->str;
          value.length = s->value->len;
        }
      else if (value.kind == AS_JSON_NUMBER)
        {
          value.text = at;
          value.length = (gsize) (s->p - at);
        }
      s->watch->member (s->watch->data, s->key->str, s->key->len, &value);
    }
  return ok;
}

/* Opens a container at s->p as level DEPTH of STACK. */
static gboolean
open_container (Scanner *s,
                guint8  *stack,
                guint    depth,
                gboolean watched_member)
{
  const gboolean object = *s->p == '{';

  if (depth > AS_JSON_MAX_DEPTH)
    return fail (s, s->p, "nested deeper than " G_STRINGIFY (AS_JSON_MAX_DEPTH) " levels");
  stack[depth] = object ? IN_OBJECT : IN_ARRAY;
  s->scanned->values += object ? AS_JSON_OBJECT_WEIGHT : 1;
  if (watched_member)
    {
      AsJsonValue value = { object ? AS_JSON_OBJECT : AS_JSON_ARRAY, NULL, 0 };
      s->watch->member (s->watch->data, s->key->str, s->key->len, &value);
    }
  /* The path goes on through an object under a matching key (the top-level
   * object starts it). */
  if (s->watch != NULL && object && s->on_path == depth - 1 && depth <= s->path_length + 1 &&
      (depth == 1 || s->key_matches))
    {
      s->on_path = depth;
      if (is_watched (s, depth))
        {
          s->scanned->watched_begin = (gsize) (s->p - s->start);
          s->watch->begin (s->watch->data);
        }
    }
  s->p++;
  return TRUE;
}

/* Closes level DEPTH at s->p. */
static void
close_container (Scanner *s,
                 guint    depth)
{
  if (is_watched (s, depth))
    s->scanned->watched_end = (gsize) (s->p + 1 - s->start);
  if (s->on_path == depth)
    s->on_path = depth - 1;
  s->p++;
}

/* A member's key at s->p, and the colon after it. */
static gboolean
scan_key (Scanner *s,
          guint    depth)
{
  const gboolean on_path = s->watch != NULL && s->on_path == depth && depth <= s->path_length + 1;

  if (s->p >= s->end || *s->p != '"')
    return unexpected (s, s->p, "a member name (a string) expected");
  if (!scan_string (s, on_path ? s->key : NULL))
    return FALSE;
  /* Compared as C strings: json-glib keeps a name up to a \u0000 in it. */
  s->key_matches = on_path && depth <= s->path_length &&
                   strcmp (s->key->str, s->watch->path[depth - 1]) == 0;
  s->p = skip_space (s->p, s->end);
  if (s->p >= s->end || *s->p != ':')
    return unexpected (s, s->p, "':' expected after a member name");
  s->p = skip_space (s->p + 1, s->end);
  return TRUE;
}

static gboolean
scan_document (Scanner *s)
{
  guint8 stack[AS_JSON_MAX_DEPTH + 1];   /* [depth] what each open level is */
  guint depth = 0;

  s->p = skip_space (s->p, s->end);
  for (;;)
    {
      /* A value at s->p: the top one, an element, or a member's. */
      const gboolean watched = depth > 0 && stack[depth] == IN_OBJECT && is_watched (s, depth);
      if (s->p >= s->end)
        return unexpected (s, s->p, "a value expected");
      if (*s->p == '{' || *s->p == '[')
        {
          if (!open_container (s, stack, depth + 1, watched))
            return FALSE;
          depth++;
          s->key_matches = FALSE;
          s->p = skip_space (s->p, s->end);
          const char close = stack[depth] == IN_OBJECT ? '}' : ']';
          if (s->p < s->end && *s->p == close)
            close_container (s, depth--);
          else if (stack[depth] == IN_OBJECT)
            {
              if (!scan_key (s, depth))
                return FALSE;
              continue;
            }
          else
            continue;
        }
      else if (!scan_scalar (s, watched))
        return FALSE;
      s->key_matches = FALSE;

      /* After a value: the next element or member, or the end of
       * containers. */
      for (;;)
        {
          s->p = skip_space (s->p, s->end);
          if (depth == 0)
            return s->p == s->end || unexpected (s, s->p, "text after the end of the document");
          const gboolean object = stack[depth] == IN_OBJECT;
          if (s->p < s->end && *s->p == ',')
            {
              s->p = skip_space (s->p + 1, s->end);
              if (object && !scan_key (s, depth))
                return FALSE;
              break;
            }
          if (s->p < s->end && *s->p == (object ? '}' : ']'))
            close_container (s, depth--);
          else
            return unexpected (s, s->p, object ? "',' or '}' expected" : "',' or ']' expected");
        }
    }
}

gboolean
as_json_scan (const char        *text,
              gsize              length,
              const AsJsonWatch *watch,
              AsJsonScanned     *scanned,
              const char       **reason,
              gsize             *offset)
{
  Scanner s = {
    .start = text, .p = text, .end = text + length, .watch = watch,
    .path_length = 0, .scanned = scanned,
  };

  memset (scanned, 0, sizeof *scanned);
  if (watch != NULL)
    {
      while (watch->path[s.path_length] != NULL)
        s.path_length++;
      s.key = g_string_new (NULL);
      s.value = g_string_new (NULL);
    }
  gboolean ok = scan_document (&s);
  if (s.key != NULL)
    g_string_free (s.key, TRUE);
  if (s.value != NULL)
    g_string_free (s.value, TRUE);
  *reason = ok ? NULL : s.reason;
  *offset = ok ? 0 : (gsize) (s.p - text);
  return ok;
}
