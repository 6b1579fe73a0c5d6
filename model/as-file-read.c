/* as-file-read.c — see as-file-read.h. */
#include "as-file-read.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "as-error.h"

/* What the file is instead of a regular one, as the rest of the message. */
static const char *
not_regular (mode_t mode)
{
  if (S_ISDIR (mode))
    return "is a directory, expected a file";
  if (S_ISFIFO (mode))
    return "is a FIFO (named pipe), expected a regular file";
  if (S_ISCHR (mode))
    return "is a character device, expected a regular file";
  if (S_ISBLK (mode))
    return "is a block device, expected a regular file";
  if (S_ISSOCK (mode))
    return "is a socket, expected a regular file";
  return "is not a regular file";
}

/* Checks FD is a regular file of at most MAX_BYTES and gives its size. */
static gboolean
check_regular (int          fd,
               const char  *display_name,
               gsize        max_bytes,
               guint64     *size,
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
                   "%s: %s", display_name, not_regular (st.st_mode));
      return FALSE;
    }
  if ((guint64) st.st_size > max_bytes)
    {
      /* In bytes: a size one byte over the cap would round to the cap. */
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "%s: is %" G_GUINT64_FORMAT " bytes, more than a file of its kind can be "
                   "(at most %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT " MiB)",
                   display_name, (guint64) st.st_size, max_bytes, max_bytes >> 20);
      return FALSE;
    }
  *size = (guint64) st.st_size;
  return TRUE;
}

int
as_file_open_regular (const char  *path,
                      guint64     *size,
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
      return -1;
    }
  if (!check_regular (fd, path, AS_FILE_CAP_NONE, size, error))
    {
      close (fd);
      return -1;
    }
  /* Non-blocking was only for the open; a regular file never blocks. */
  int flags = fcntl (fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK))
    fcntl (fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

gboolean
as_file_read_at (int          fd,
                 const char  *display_name,
                 guint64      offset,
                 void        *buf,
                 gsize        n,
                 GError     **error)
{
  gsize got = 0;
  while (got < n)
    {
      ssize_t r = pread (fd, (char *) buf + got, MIN (n - got, (gsize) 1 << 30),
                         (off_t) (offset + got));
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          int saved = errno;
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO,
                       "%s: cannot read: %s", display_name, g_strerror (saved));
          return FALSE;
        }
      if (r == 0)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO,
                       "%s: the file shrank while being read (%" G_GUINT64_FORMAT
                       " of %" G_GUINT64_FORMAT " bytes); was it being replaced?",
                       display_name, offset + got, offset + n);
          return FALSE;
        }
      got += (gsize) r;
    }
  return TRUE;
}

gboolean
as_file_read_fd (int          fd,
                 const char  *display_name,
                 gsize        max_bytes,
                 char       **contents,
                 gsize       *length,
                 GError     **error)
{
  guint64 size64 = 0;
  if (!check_regular (fd, display_name, max_bytes, &size64, error))
    return FALSE;

  /* Below the cap, so it fits a gsize; + 1 for the NUL cannot wrap either
   * (no file is G_MAXSIZE bytes). */
  gsize size = (gsize) size64;
  char *buf = g_try_malloc (size + 1);
  if (buf == NULL)
    {
      g_autofree char *human = g_format_size_full (size, G_FORMAT_SIZE_IEC_UNITS);
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "%s: not enough memory to read its %s", display_name, human);
      return FALSE;
    }
  if (!as_file_read_at (fd, display_name, 0, buf, size, error))
    {
      g_free (buf);
      return FALSE;
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
  guint64 size = 0;
  int fd = as_file_open_regular (path, &size, error);
  if (fd < 0)
    return FALSE;
  gboolean ok = as_file_read_fd (fd, path, max_bytes, contents, length, error);
  close (fd);
  return ok;
}
