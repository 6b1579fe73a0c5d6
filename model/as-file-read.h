/* as-file-read.h — read a model file whole, never trusting what the path is.
 *
 * Model folders come from the internet, shared drives and half-finished
 * downloads. A path may name a FIFO (opening it would block for ever), a
 * device (/dev/zero never ends), a directory, a link loop, or a file far
 * larger than its kind ever is. Reading into memory we own, instead of
 * mapping, also means a file that shrinks or is rewritten while in use cannot
 * fault the process (SIGBUS) or change the weights after they were checked.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Size caps per kind of file, in bytes: far above any real file of that kind,
 * far below what would exhaust memory. */
#define AS_FILE_CAP_CONFIG      (1u << 20)            /* config.json, tokenizer_config.json */
#define AS_FILE_CAP_TOKENIZER   (64u << 20)           /* tokenizer.json, vocab.txt */
#define AS_FILE_CAP_LIST        (1u << 20)            /* small app files (recent models) */
/* No cap but the memory there is (model.safetensors: its header has its own). */
#define AS_FILE_CAP_NONE        G_MAXSIZE

/* Reads PATH, which must be a regular file of at most MAX_BYTES. The file is
 * opened without blocking and checked on the open descriptor (not by path, so
 * it cannot be swapped in between). On success *CONTENTS is NUL-terminated
 * (g_free; aligned for any scalar type) and *LENGTH its size. Errors are
 * AS_MODEL_ERROR_IO (missing, a link loop, unreadable, not a regular file,
 * shrank while read) or AS_MODEL_ERROR_RESOURCES (over the cap, out of
 * memory), and name the path and the cause. */
gboolean as_file_read_regular (const char  *path,
                               gsize        max_bytes,
                               char       **contents,
                               gsize       *length,
                               GError     **error);

/* The first half of as_file_read_regular, for readers that look at the start
 * of a file before deciding to read the rest: opens PATH, checks it is a
 * regular file, and returns the descriptor (close it) with the file's size
 * in *SIZE; -1 with the same errors otherwise. */
int      as_file_open_regular (const char  *path,
                               guint64     *size,
                               GError     **error);

/* Reads exactly N bytes at OFFSET of FD into BUF. A file that ends early was
 * cut while in use: AS_MODEL_ERROR_IO naming DISPLAY_NAME and the shortfall. */
gboolean as_file_read_at      (int          fd,
                               const char  *display_name,
                               guint64      offset,
                               void        *buf,
                               gsize        n,
                               GError     **error);

/* Like as_file_read_regular, for an already open descriptor FD (not closed).
 * DISPLAY_NAME is used in messages. */
gboolean as_file_read_fd      (int          fd,
                               const char  *display_name,
                               gsize        max_bytes,
                               char       **contents,
                               gsize       *length,
                               GError     **error);

G_END_DECLS
