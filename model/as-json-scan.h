/* as-json-scan.h — a strict, streaming JSON reader for files from the internet.
 *
 * One pass over the text, without building a tree: it checks the whole
 * document against JSON as RFC 8259 defines it (strings with their escapes
 * and UTF-16 surrogate pairs, UTF-8 without overlong forms or surrogates,
 * numbers, literals, nothing after the value) with the nesting bounded, so
 * no input can overflow the stack. The members of one object, found by its
 * path of keys from the top-level object, are handed to the caller as they
 * are read: a tokenizer.json's vocabulary of 30 000 to 200 000 members goes
 * straight into the tokenizer's tables instead of through json-glib's tree.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Deeper than any config.json or tokenizer.json (they nest 3 to 6 levels). */
#define AS_JSON_MAX_DEPTH 128

typedef enum {
  AS_JSON_NULL,
  AS_JSON_FALSE,
  AS_JSON_TRUE,
  AS_JSON_NUMBER,
  AS_JSON_STRING,
  AS_JSON_OBJECT,
  AS_JSON_ARRAY,
} AsJsonKind;

/* A member of the watched object. A string value is given decoded and
 * NUL-terminated (it may hold a NUL of its own, from \u0000: LENGTH counts
 * its bytes); a number as its text, as in the file; a container only by
 * its kind (its members are checked, not handed over). */
typedef struct {
  AsJsonKind  kind;
  const char *text;
  gsize       length;
} AsJsonValue;

/* The object to hand over, and what to call. PATH holds the keys from the
 * top-level object, NULL-terminated ({ "model", "vocab", NULL }): objects
 * all the way, names compared decoded and up to a \u0000 in them, as
 * json-glib keeps a name. Every member is handed over, duplicates
 * included, for the reader to keep the last of a name as json-glib does;
 * every object found at PATH (a later one replaces an earlier) starts over
 * with BEGIN. KEY is decoded and NUL-terminated (KEY_LENGTH bytes); KEY and
 * VALUE's text are valid only during the call. */
typedef struct {
  const char *const *path;
  void (*begin)  (gpointer           data);
  void (*member) (gpointer           data,
                  const char        *key,
                  gsize              key_length,
                  const AsJsonValue *value);
  gpointer data;
} AsJsonWatch;

/* What a checked document holds. VALUES counts every value, an object as
 * AS_JSON_OBJECT_WEIGHT (what a tree of it would cost, see as-json-guard.h).
 * [WATCHED_BEGIN, WATCHED_END) is the last object found at the watch's path
 * ('{' to '}' included), or 0, 0 when none was. */
#define AS_JSON_OBJECT_WEIGHT 4

typedef struct {
  gsize values;
  gsize watched_begin;
  gsize watched_end;
} AsJsonScanned;

/* Checks TEXT (LENGTH bytes) as one JSON document nested at most
 * AS_JSON_MAX_DEPTH levels, calling WATCH (may be NULL) for the members of
 * the object at its path. Returns FALSE with a reason ("invalid UTF-8",
 * "nested deeper than 128 levels", "an unpaired high surrogate escape", …)
 * and the byte offset where the text stops being JSON; the caller words the
 * message. */
gboolean as_json_scan (const char        *text,
                       gsize              length,
                       const AsJsonWatch *watch,
                       AsJsonScanned     *scanned,
                       const char       **reason,
                       gsize             *offset);

G_END_DECLS
