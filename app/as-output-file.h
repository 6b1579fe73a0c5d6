/* as-output-file.h — write a file so that it appears whole or not at all.
 *
 * Data goes to a temporary file beside the target; commit() flushes, syncs
 * and renames it into place; abort() (or any failure) removes it. "-" means
 * standard output, written directly.
 */
#pragma once

#include <stdio.h>
#include <glib.h>

G_BEGIN_DECLS

typedef struct _AsOutputFile AsOutputFile;

AsOutputFile *as_output_file_open   (const char    *path,
                                     GError       **error);
FILE         *as_output_file_stream (AsOutputFile  *out);
/* Closes and renames into place; frees OUT in every case. */
gboolean      as_output_file_commit (AsOutputFile  *out,
                                     GError       **error);
/* Closes and deletes the temporary file; frees OUT. */
void          as_output_file_abort  (AsOutputFile  *out);

G_END_DECLS
