/* as-output-file.h — the one way AttnScope writes an output file.
 *
 * A regular file (new or existing) appears whole or not at all: the data
 * goes to a temporary in the target's real directory, and commit() renames
 * it over the target. The temporary is unnamed (O_TMPFILE) where the file
 * system allows, so an interruption cannot leave it behind; elsewhere it is
 * a named ".NAME.XXXXXX" that a SIGINT/SIGTERM/SIGHUP handler removes. An
 * existing target keeps its mode; a new one gets 0666 less the umask.
 *
 * What the path names decides the rest:
 *   "-" or NULL             standard output, written directly;
 *   the process's stdout    (e.g. /dev/stdout, also a file or pipe) or
 *   stderr                  written to that descriptor, so the data reaches it;
 *   a FIFO or char device   (/dev/null, a terminal) opened and written in place;
 *   a symlink               followed: its final target is replaced
 *                           atomically and the link stays a link;
 *   a directory, a block device, a socket, or one of PROTECTED_PATHS (same
 *   device and inode, e.g. the loaded model's files) are refused.
 *
 * Write errors are kept with their errno: check() reports the first one
 * ("cannot write PATH: No space left on device") so a long job can stop at
 * once, and commit() fails with it. Every error names the path.
 *
 * $ATTNSCOPE_OUTPUT_NAMED_TEMP=1 forces the named temporary, as on a file
 * system without O_TMPFILE (the tests use it to cover that path).
 */
#pragma once

#include <stdio.h>
#include <glib.h>

G_BEGIN_DECLS

typedef struct _AsOutputFile AsOutputFile;

/* Checks PATH and opens it (or its temporary) for writing. PROTECTED_PATHS
 * is a NULL-terminated list of files that must not be written (may be NULL). */
AsOutputFile *as_output_file_open   (const char         *path,
                                     const char * const *protected_paths,
                                     GError            **error);
/* The stream to write to; it is fully buffered. */
FILE         *as_output_file_stream (AsOutputFile       *out);
/* The path as given, or "standard output". */
const char   *as_output_file_name   (AsOutputFile       *out);
/* FALSE, with the cause, once a write has failed. */
gboolean      as_output_file_check  (AsOutputFile       *out,
                                     GError            **error);
/* Flushes; for a replaced file, syncs and renames into place. Frees OUT in
 * every case; on failure nothing is left behind. */
gboolean      as_output_file_commit (AsOutputFile       *out,
                                     GError            **error);
/* Discards what was written (a replaced target stays as it was); frees OUT. */
void          as_output_file_abort  (AsOutputFile       *out);

G_END_DECLS
