/* as-file-read.c — see as-file-read.h. */
#include "as-file-read.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "as-error.h"

static const char *
file_kind (mode_t mode)
{
  if (S_ISDIR (mode))
    return "a directory";
  if (S_ISFIFO (mode))
    return "a FIFO (named pipe)";
  if (S_ISCHR (mode))
    return "a character device";
  if (S_ISBLK (mode))
    return "a block device";
  if (S_ISSOCK (mode))
    return "a socket";
  return "not a regular file";
}

static char *
human_size (guint64 bytes)
{
  return g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
}

gboolean
as_file_read_fd (int          fd,
                 const char  *display_name,
                 gsize        max_bytes,
                 char       **contents,
                 gsize       *length,
                 GError     **error)
{
  struct stat st;
  if (fstat (fd, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO,
                   "%s: cannot read: %s", display_name, g_strerror (saved));
      return FALSE;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO,
                   "%s: is %s, expected a regular file", display_name, file_kind (st.st_mode));
      return FALSE;
    }
  if ((guint64) st.st_size > max_bytes)
    {
      g_autofree char *size = human_size ((guint64) st.st_size);
      g_autofree char *cap = human_size (max_bytes);
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "%s: is %s, more than a file of its kind can be (at most %s)",
                   display_name, size, cap);
      return FALSE;
    }

  /* Non-blocking was only for the open; a regular file never blocks. */
  int flags = fcntl (fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK))
    fcntl (fd, F_SETFL, flags & ~O_NONBLOCK);

  gsize size = (gsize) st.st_size;
  char *buf = g_try_malloc (size + 1);
  if (buf == NULL)
    {
      g_autofree char *human = human_size (size);
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "%s: not enough memory to read its %s", display_name, human);
      return FALSE;
    }
  gsize got = 0;
  while (got < size)
    {
      ssize_t n = pread (fd, buf + got, MIN (size - got, (gsize) 1 << 30), (off_t) got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = errno;
          if (n == 0)
            g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO,
                         "%s: the file shrank while being read (%" G_GSIZE_FORMAT
                         " of %" G_GSIZE_FORMAT " bytes); was it being replaced?",
                         display_name, got, size);
          else
            g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO,
                         "%s: cannot read: %s", display_name, g_strerror (saved));
          g_free (buf);
          return FALSE;
        }
      got += (gsize) n;
    }
  buf[size] = '\0';
  *contents = buf;
  *length = size;
  return TRUE;
}

gboolean
as_file_read_regular (const char  *path,
                      gsize        max_bytes,
                      char       **contents,
                      gsize       *length,
                      GError     **error)
{
  /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. */
  int fd = g_open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO, "%s: %s", path,
                   saved == ENOENT ? "file not found" :
                   saved == ELOOP ? "too many levels of symbolic links (a link loop?)" :
                   g_strerror (saved));
      return FALSE;
    }
  gboolean ok = as_file_read_fd (fd, path, max_bytes, contents, length, error);
  close (fd);
  return ok;
}
