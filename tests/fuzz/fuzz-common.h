/* fuzz-common.h — shared by the libFuzzer targets in this folder.
 *
 * Each target feeds one public engine API with arbitrary bytes and then
 * checks what it got back. A broken invariant calls fuzz_fail(), which
 * aborts, so libFuzzer keeps the input as a crash reproducer. GLib criticals
 * (a g_return_if_fail tripped by our own code on hostile input) are made
 * fatal too: they mean the engine misused an API on data it had not checked.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

G_GNUC_NORETURN G_GNUC_PRINTF (1, 2)
static inline void
fuzz_fail (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  fputs ("fuzz invariant broken: ", stderr);
  vfprintf (stderr, format, args);
  fputc ('\n', stderr);
  va_end (args);
  abort ();
}

#define FUZZ_CHECK(cond) \
  do { if (!(cond)) fuzz_fail ("%s:%d: %s", __FILE__, __LINE__, #cond); } while (0)

/* Every message of a refusal must be a non-empty string that starts with the
 * display name given to the API (the file it came from). */
static inline void
fuzz_check_error (GError     *error,
                  const char *display_name)
{
  FUZZ_CHECK (error != NULL);
  FUZZ_CHECK (error->message != NULL && error->message[0] != '\0');
  FUZZ_CHECK (g_utf8_validate (error->message, -1, NULL));
  if (display_name != NULL && !g_str_has_prefix (error->message, display_name))
    fuzz_fail ("error does not name the file: %s", error->message);
}

static inline void
fuzz_init_glib (void)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
  g_setenv ("G_DEBUG", "fatal-criticals", TRUE);
}
