/* fuzz-session.c — a .attnscope session file, on any bytes.
 *
 * An accepted session has every number in its documented range, texts that
 * are UTF-8 within the cap, a view, colour map and aggregate the format
 * names, and an absolute model path; a refused one, a message naming the
 * file.
 */
#include "fuzz-common.h"

#include <string.h>

#include "as-session.h"

#define NAME "fuzz/session.attnscope"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

static void
check_text (const char *text)
{
  FUZZ_CHECK (text != NULL);
  FUZZ_CHECK (g_utf8_validate (text, -1, NULL));
  FUZZ_CHECK (strlen (text) <= AS_SESSION_TEXT_MAX);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  AsSession *s = as_session_parse ((const char *) data, size, NAME, "/fuzz", &error);
  if (s == NULL)
    {
      FUZZ_CHECK (error != NULL && error->domain == AS_SESSION_ERROR);
      FUZZ_CHECK (g_utf8_validate (error->message, -1, NULL));
      if (strstr (error->message, NAME) == NULL)
        fuzz_fail ("error does not name the file: %s", error->message);
      g_error_free (error);
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (s->model != NULL && g_path_is_absolute (s->model));
  check_text (s->text);
  check_text (s->pair);
  check_text (s->compare);
  FUZZ_CHECK (g_strv_contains (as_session_views (), s->view));
  FUZZ_CHECK (g_strv_contains (as_session_colormaps (), s->colormap));
  FUZZ_CHECK (as_shown_aggregate_name (s->aggregate) != NULL);
  FUZZ_CHECK (s->layer >= 0 && s->layer <= AS_SESSION_MAX_LAYER);
  FUZZ_CHECK (s->head >= 0 && s->head <= AS_SESSION_MAX_HEAD);
  FUZZ_CHECK (s->token >= -1 && s->token <= AS_SESSION_MAX_TOKEN);
  FUZZ_CHECK (s->teach_step >= 0 && s->teach_step <= AS_SESSION_MAX_TEACH_STEP);
  as_session_free (s);
  return 0;
}
