#include "as-output-file.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _AsOutputFile {
  char *path;      /* final name, NULL for stdout */
  char *tmp_path;  /* temporary name beside it */
  FILE *stream;
};

AsOutputFile *
as_output_file_open (const char  *path,
                     GError     **error)
{
  AsOutputFile *out = g_new0 (AsOutputFile, 1);
  if (path == NULL || g_strcmp0 (path, "-") == 0)
    {
      out->stream = stdout;
      return out;
    }

  /* Same folder as the target so the final rename cannot cross devices. */
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  out->path = g_strdup (path);
  out->tmp_path = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  int fd = g_mkstemp (out->tmp_path);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot write in %s: %s", dir, g_strerror (saved));
      g_free (out->tmp_path);
      g_free (out->path);
      g_free (out);
      return NULL;
    }
  /* mkstemp creates 0600; a saved figure or dump should get the usual
   * permissions, as if created with open (0666) under the umask. */
  mode_t mask = umask (0);
  umask (mask);
  fchmod (fd, 0666 & ~mask);
  out->stream = fdopen (fd, "wb");
  return out;
}

FILE *
as_output_file_stream (AsOutputFile *out)
{
  return out->stream;
}

static void
output_file_free (AsOutputFile *out)
{
  g_free (out->path);
  g_free (out->tmp_path);
  g_free (out);
}

gboolean
as_output_file_commit (AsOutputFile  *out,
                       GError       **error)
{
  if (out->path == NULL)
    {
      gboolean ok = fflush (stdout) == 0 && !ferror (stdout);
      if (!ok)
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO,
                     "cannot write to standard output: %s", g_strerror (errno));
      output_file_free (out);
      return ok;
    }

  gboolean ok = fflush (out->stream) == 0 && !ferror (out->stream) &&
                fsync (fileno (out->stream)) == 0;
  int saved = errno;
  if (fclose (out->stream) != 0 && ok)
    {
      ok = FALSE;
      saved = errno;
    }
  if (ok && g_rename (out->tmp_path, out->path) != 0)
    {
      ok = FALSE;
      saved = errno;
    }
  if (!ok)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
                   "cannot write %s: %s", out->path, g_strerror (saved));
      g_unlink (out->tmp_path);
    }
  output_file_free (out);
  return ok;
}

void
as_output_file_abort (AsOutputFile *out)
{
  if (out->path != NULL)
    {
      fclose (out->stream);
      g_unlink (out->tmp_path);
    }
  output_file_free (out);
}
