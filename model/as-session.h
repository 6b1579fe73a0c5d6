/* as-session.h — a user's work, kept in a file and opened again.
 *
 * A session names the model (a folder or a .gguf file), the texts (sentence
 * A, sentence B of a pair, the compare page's variant), the selection, the
 * display options, the page on screen and the teaching step. The file is a
 * GKeyFile with the extension .attnscope:
 *
 *   # AttnScope session
 *   [session]
 *   version=1
 *   model=/home/me/models/all-MiniLM-L6-v2
 *   text=The animal didn't cross the street because it was too tired.
 *   pair=
 *   compare=The animal didn't cross the street because it was too wide.
 *   view=head
 *   layer=2
 *   head=5
 *   token=-1
 *   teach-step=softmax
 *   [options]
 *   hide-special=false
 *   renormalise=false
 *   fit-scale=true
 *   words=false
 *   colormap=viridis
 *   aggregate=head
 *
 * Layers, heads and tokens count from 0; token -1 is none. The teaching
 * step is kept by name (as_session_teach_steps ()), so a step added later
 * does not move the ones saved before.
 * Texts keep newlines and any Unicode (GKeyFile escapes them). A relative
 * model path is relative to the session file's folder.
 *
 * Loading trusts nothing: the file is read with a size cap and never
 * blocks (a FIFO, a device), must be UTF-8 and start with the first line
 * above, and every key must be known, present where required and in range.
 * Each refusal is an AS_SESSION_ERROR naming the file and, where one is at
 * fault, the key.
 */
#pragma once

#include <glib.h>

#include "as-shown.h"

G_BEGIN_DECLS

#define AS_SESSION_VERSION    1
#define AS_SESSION_EXTENSION  ".attnscope"
/* The first line of every session file. */
#define AS_SESSION_MAGIC      "# AttnScope session"
/* Texts are at most what the app reads from a text file; the file holds
 * three of them, escaped, and some keys. */
#define AS_SESSION_TEXT_MAX   ((gsize) 1 << 20)
#define AS_SESSION_FILE_MAX   ((gsize) 8 << 20)
/* No model has more layers or heads; positions past the text's are
 * clamped by whoever shows them. */
#define AS_SESSION_MAX_LAYER  4095
#define AS_SESSION_MAX_HEAD   4095
#define AS_SESSION_MAX_TOKEN  (1 << 20)
/* The teaching page's steps, in the order of its AsTeachStep (the window
 * asserts the count): AsSession.teach_step indexes as_session_teach_steps (). */
#define AS_SESSION_N_TEACH_STEPS  13
#define AS_SESSION_MAX_TEACH_STEP (AS_SESSION_N_TEACH_STEPS - 1)

#define AS_SESSION_ERROR (as_session_error_quark ())
GQuark as_session_error_quark (void);

typedef enum {
  AS_SESSION_ERROR_READ,      /* cannot read or write the file */
  AS_SESSION_ERROR_INVALID,   /* not a session, or a key is wrong */
  AS_SESSION_ERROR_VERSION,   /* a version this build does not know */
} AsSessionError;

typedef struct {
  char             *model;        /* folder or .gguf file */
  char             *text;         /* sentence A */
  char             *pair;         /* sentence B, "" for none */
  char             *compare;      /* the compare page's variant, "" for none */
  char             *view;         /* the page on screen: one of as_session_views () */
  int               layer;
  int               head;
  int               token;        /* the query position, -1 for none */
  int               teach_step;   /* index into as_session_teach_steps () */
  gboolean          hide_special;
  gboolean          renormalise;
  gboolean          fit_scale;
  gboolean          words;
  char             *colormap;     /* one of as_session_colormaps () */
  AsShownAggregate  aggregate;
} AsSession;

/* Empty texts, model NULL, and the window's defaults: the head page, layer
 * and head 0, no token, fit-scale on, viridis, one head. */
AsSession          *as_session_new        (void);
void                as_session_free       (AsSession   *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AsSession, as_session_free)

/* The pages ("head", "lines", …), colour maps ("viridis", …) and
 * teaching steps ("embeddings", "query", …) a session may name,
 * NULL-terminated. */
const char * const *as_session_views      (void);
const char * const *as_session_teach_steps (void);
const char * const *as_session_colormaps  (void);

/* Reads and checks PATH; NULL with the reason otherwise. */
AsSession          *as_session_load       (const char  *path,
                                           GError     **error);
/* The same for the file's LENGTH bytes DATA, named NAME in messages; a
 * relative model path is taken from BASE_DIR. */
AsSession          *as_session_parse      (const char  *data,
                                           gsize        length,
                                           const char  *name,
                                           const char  *base_dir,
                                           GError     **error);
/* Writes SESSION to PATH whole or not at all (as-output-file.h). The
 * model's own files are never replaced, nor is an existing file that is
 * not a session: replacing a session is what a Save dialog confirmed. */
gboolean            as_session_save       (const AsSession *session,
                                           const char      *path,
                                           GError         **error);

G_END_DECLS
