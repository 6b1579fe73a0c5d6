/* as-file-read.h — read a model file whole, never trusting what the path is.
 *
 * Model folders come from the internet, shared drives and half-finished
 * downloads. A path may name a FIFO (opening it would block for ever), a
 * device (/dev/zero never ends), a directory, or a file far larger than its
 * kind ever is. Reading into memory we own, instead of mapping, also means a
 * file that shrinks or is rewritten while in use cannot fault the process
 * (SIGBUS) or change the weights after they were checked.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Size caps per kind of file, in bytes: far above any real file of that kind,
 * far below what would exhaust memory. */
#define AS_FILE_CAP_CONFIG      (1u << 20)            /* config.json, tokenizer_config.json */
#define AS_FILE_CAP_TOKENIZER   (64u << 20)           /* tokenizer.json, vocab.txt */
#define AS_FILE_CAP_LIST        (1u << 20)            /* small app files (recent models) */

/* Reads PATH, which must be a regular file of at most MAX_BYTES. The file is
 * opened without blocking and checked on the open descriptor (not by path, so
 * it cannot be swapped in between). On success *CONTENTS is NUL-terminated
 * (g_free) and *LENGTH its size. Errors are AS_MODEL_ERROR_IO (missing,
 * unreadable, not a regular file, changed while read) or
 * AS_MODEL_ERROR_RESOURCES (over the cap), and name the path and the cause. */
gboolean as_file_read_regular (const char  *path,
                               gsize        max_bytes,
                               char       **contents,
                               gsize       *length,
                               GError     **error);

/* Like as_file_read_regular, for an already open descriptor FD (not closed).
 * DISPLAY_NAME is used in messages. Large files are read with a progress-free
 * plain read loop; the result is aligned for any scalar type. */
gboolean as_file_read_fd      (int          fd,
                               const char  *display_name,
                               gsize        max_bytes,
                               char       **contents,
                               gsize       *length,
                               GError     **error);

G_END_DECLS
