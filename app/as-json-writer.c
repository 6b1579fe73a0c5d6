#include "as-json-writer.h"

#include <math.h>

void
as_json_write_string (FILE       *out,
                      const char *s)
{
  g_autofree char *valid = g_utf8_make_valid (s, -1);
  fputc ('"', out);
  for (const unsigned char *p = (const unsigned char *) valid; *p; p++)
    {
      switch (*p)
        {
        case '"': fputs ("\\\"", out); break;
        case '\\': fputs ("\\\\", out); break;
        case '\n': fputs ("\\n", out); break;
        case '\r': fputs ("\\r", out); break;
        case '\t': fputs ("\\t", out); break;
        default:
          if (*p < 0x20)
            fprintf (out, "\\u%04x", *p);
          else
            fputc (*p, out);
        }
    }
  fputc ('"', out);
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
