/* fuzz-json-scan.c — the strict JSON reader (as-json-scan.h), on any bytes.
 *
 * What it accepts must be JSON to the other readers too: valid UTF-8 without
 * a NUL byte, and a document json-glib (looser: it takes "01" and octal
 * escapes) loads. A refusal gives a reason and an offset inside the text.
 * The members handed over from model.vocab are valid UTF-8, and the span it
 * reports is one object that reads as JSON on its own.
 */
#include "fuzz-common.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "as-json-scan.h"

static const char *const vocab_path[] = { "model", "vocab", NULL };

typedef struct {
  int   begins;
  gsize members;
} Seen;

static void
seen_begin (gpointer data)
{
  Seen *seen = data;
  seen->begins++;
  seen->members = 0;
}

static void
seen_member (gpointer data, const char *key, gsize key_length, const AsJsonValue *value)
{
  Seen *seen = data;

  FUZZ_CHECK (seen->begins > 0);
  FUZZ_CHECK (key[key_length] == '\0' && strlen (key) <= key_length);
  FUZZ_CHECK (g_utf8_validate (key, -1, NULL));
  FUZZ_CHECK (value->kind >= AS_JSON_NULL && value->kind <= AS_JSON_ARRAY);
  if (value->kind == AS_JSON_STRING)
    FUZZ_CHECK (value->text[value->length] == '\0' && g_utf8_validate (value->text, -1, NULL));
  if (value->kind == AS_JSON_NUMBER)
    FUZZ_CHECK (value->length > 0 && (value->text[0] == '-' || g_ascii_isdigit (value->text[0])));
  seen->members++;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *text = (const char *) data;
  Seen seen = { 0, 0 };
  AsJsonWatch watch = { vocab_path, seen_begin, seen_member, &seen };
  AsJsonScanned scanned;
  const char *reason = NULL;
  gsize offset = 0;

  if (!as_json_scan (text, size, &watch, &scanned, &reason, &offset))
    {
      FUZZ_CHECK (reason != NULL && reason[0] != '\0');
      FUZZ_CHECK (offset <= size);
      return 0;
    }
  FUZZ_CHECK (reason == NULL);
  FUZZ_CHECK (scanned.values >= 1);
  FUZZ_CHECK (size > 0 && g_utf8_validate_len (text, size, NULL));

  JsonParser *parser = json_parser_new ();
  GError *error = NULL;
  if (!json_parser_load_from_data (parser, text, (gssize) size, &error))
    fuzz_fail ("accepted, but json-glib says: %s", error->message);
  g_object_unref (parser);

  FUZZ_CHECK ((seen.begins > 0) == (scanned.watched_end > 0));
  if (scanned.watched_end > 0)
    {
      AsJsonScanned inner;
      FUZZ_CHECK (scanned.watched_begin < scanned.watched_end && scanned.watched_end <= size);
      FUZZ_CHECK (text[scanned.watched_begin] == '{' && text[scanned.watched_end - 1] == '}');
      FUZZ_CHECK (as_json_scan (text + scanned.watched_begin, scanned.watched_end - scanned.watched_begin,
                                NULL, &inner, &reason, &offset));
      FUZZ_CHECK (inner.values >= AS_JSON_OBJECT_WEIGHT + seen.members);
    }
  return 0;
}
