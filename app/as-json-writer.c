#include "as-json-writer.h"

#include <math.h>
#include <string.h>

static void
write_char (FILE          *out,
            unsigned char  c)
{
  switch (c)
    {
    case '"': fputs ("\\\"", out); break;
    case '\\': fputs ("\\\\", out); break;
    case '\n': fputs ("\\n", out); break;
    case '\r': fputs ("\\r", out); break;
    case '\t': fputs ("\\t", out); break;
    default:
      if (c < 0x20)
        fprintf (out, "\\u%04x", c);
      else
        fputc (c, out);
    }
}

void
as_json_write_string_len (FILE       *out,
                          const char *s,
                          gssize      length)
{
  gsize len = length < 0 ? strlen (s) : (gsize) length;
  const char *p = s, *end = s + len;
  fputc ('"', out);
  while (p < end)
    {
      if ((unsigned char) *p < 0x80)
        {
          write_char (out, (unsigned char) *p++);
          continue;
        }
      gunichar c = g_utf8_get_char_validated (p, end - p);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          fputs ("\xef\xbf\xbd", out);   /* U+FFFD for the one bad byte */
          p++;
          continue;
        }
      const char *next = g_utf8_next_char (p);
      fwrite (p, 1, next - p, out);
      p = next;
    }
  fputc ('"', out);
}

void
as_json_write_string (FILE       *out,
                      const char *s)
{
  as_json_write_string_len (out, s, -1);
}

void
as_json_write_float (FILE  *out,
                     float  value)
{
  if (isfinite (value))
    fprintf (out, "%.9g", (double) value);
  else
    fputs ("null", out);
}

void
as_json_write_tokens (FILE             *out,
                      const AsEncoding *enc)
{
  fputs ("  \"tokens\": [\n", out);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      const AsToken *t = &enc->tokens[i];
      fputs ("    {\"text\": ", out);
      as_json_write_string (out, t->text);
      fprintf (out, ", \"id\": %d, \"type_id\": %d, \"sequence\": %d, \"start\": %d, \"end\": %d, "
               "\"special\": %s, \"continuation\": %s}%s\n",
               t->id, t->type_id, t->sequence, t->start, t->end,
               t->is_special ? "true" : "false", t->is_continuation ? "true" : "false",
               i + 1 < enc->n_tokens ? "," : "");
    }
  fputs ("  ],\n", out);
}
