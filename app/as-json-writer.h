/* as-json-writer.h — just enough streaming JSON for large float arrays.
 * (json-glib builds a tree in memory; 512 tokens x 72 heads is 19M numbers.) */
#pragma once

#include <stdio.h>
#include <glib.h>

G_BEGIN_DECLS

/* Writes S as a JSON string literal; invalid UTF-8 is replaced by U+FFFD. */
void as_json_write_string (FILE       *out,
                           const char *s);
/* Writes a float with enough digits to round-trip (%.9g); NaN/Inf as null. */
void as_json_write_float  (FILE       *out,
                           float       value);

G_END_DECLS
