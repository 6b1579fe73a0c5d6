/* as-json-writer.h — just enough streaming JSON for large float arrays.
 * (json-glib builds a tree in memory; 512 tokens x 72 heads is 19M numbers.) */
#pragma once

#include <stdio.h>
#include <glib.h>

#include "as-tokenizer.h"

G_BEGIN_DECLS

/* Writes the LENGTH bytes at S (-1: up to its NUL) as a JSON string literal.
 * NUL bytes are kept as \u0000; invalid UTF-8 becomes U+FFFD. */
void as_json_write_string_len (FILE       *out,
                               const char *s,
                               gssize      length);
void as_json_write_string     (FILE       *out,
                               const char *s);
/* Writes a float with enough digits to round-trip (%.9g); NaN/Inf as null. */
void as_json_write_float      (FILE       *out,
                               float       value);
/* Writes "tokens": [...] (text, id, type id, sequence, byte span, flags),
 * indented for a top-level object, followed by ",\n". */
void as_json_write_tokens     (FILE             *out,
                               const AsEncoding *enc);

G_END_DECLS
