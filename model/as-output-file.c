/* as-output-file.c — see as-output-file.h. Linux: O_TMPFILE, linkat through
 * /proc/self/fd, fopencookie. */
#define _GNU_SOURCE
#include "as-output-file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _AsOutputFile {
  char     *name;        /* the path as given, for messages */
  char     *target;      /* replace: the file renamed over (links resolved) */
  int       fd;
  gboolean  own_fd;      /* closed at the end (not stdout/stderr) */
  gboolean  replace;     /* written to a temporary, renamed at commit */
  char     *tmp_path;    /* the named temporary while it exists */
  int       slot;        /* its signal-cleanup slot, or -1 */
  int       write_errno; /* first failed write, 0 if none */
  gboolean  discarding;  /* aborted: buffered data goes nowhere */
  FILE     *stream;
};

/* ---- named temporaries removed on SIGINT/SIGTERM/SIGHUP ------------------- */

/* Fixed storage, because the handler may only touch memory that is never
 * freed or resized. A slot is 0 (free), 1 (being filled) or 2 (armed). */
#define N_SLOTS 16
static char cleanup_paths[N_SLOTS][PATH_MAX];
static gint cleanup_state[N_SLOTS];
static const int cleanup_signals[] = { SIGINT, SIGTERM, SIGHUP };

static void
cleanup_on_signal (int sig)
{
  for (int i = 0; i < N_SLOTS; i++)
    if (g_atomic_int_get (&cleanup_state[i]) == 2)
      unlink (cleanup_paths[i]);
  /* Die of the same signal, as if no handler had been there. */
  signal (sig, SIG_DFL);
  raise (sig);
}

static gpointer
install_handlers (gpointer data)
{
  for (guint i = 0; i < G_N_ELEMENTS (cleanup_signals); i++)
    {
      struct sigaction old;
      /* A program that handles the signal itself keeps its handler. */
      if (sigaction (cleanup_signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
          (old.sa_flags & SA_SIGINFO))
        continue;
      struct sigaction sa = { 0 };
      sa.sa_handler = cleanup_on_signal;
      sigemptyset (&sa.sa_mask);
      sigaction (cleanup_signals[i], &sa, NULL);
    }
  return NULL;
}

/* Blocks the cleanup signals in this thread, so that a file is never created
 * without being registered. */
static void
block_signals (sigset_t *old)
{
  sigset_t set;
  sigemptyset (&set);
  for (guint i = 0; i < G_N_ELEMENTS (cleanup_signals); i++)
    sigaddset (&set, cleanup_signals[i]);
  pthread_sigmask (SIG_BLOCK, &set, old);
}

static int
register_temporary (const char *path)
{
  static GOnce once = G_ONCE_INIT;
  g_once (&once, install_handlers, NULL);
  if (strlen (path) >= PATH_MAX)
    return -1;
  for (int i = 0; i < N_SLOTS; i++)
    if (g_atomic_int_compare_and_exchange (&cleanup_state[i], 0, 1))
      {
        strcpy (cleanup_paths[i], path);
        g_atomic_int_set (&cleanup_state[i], 2);
        return i;
      }
  return -1;
}

static void
forget_temporary (AsOutputFile *out)
{
  if (out->slot >= 0)
    g_atomic_int_set (&cleanup_state[out->slot], 0);
  out->slot = -1;
  g_clear_pointer (&out->tmp_path, g_free);
}

/* A fresh ".BASE.XXXXXX" path in DIR. */
static char *
temporary_name (const char *dir,
                const char *base)
{
  static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  char suffix[7];
  for (int i = 0; i < 6; i++)
    suffix[i] = chars[g_random_int_range (0, sizeof chars - 1)];
  suffix[6] = '\0';
  g_autofree char *leaf = g_strdup_printf (".%s.%s", base, suffix);
  return g_build_filename (dir, leaf, NULL);
}

/* Creates (O_CREAT|O_EXCL) or links (FD != -1) a named temporary in DIR,
 * registered for removal on a signal before it can exist. */
static int
make_named (AsOutputFile *out,
            const char   *dir,
            const char   *base,
            int           fd)
{
  for (int attempt = 0; attempt < 100; attempt++)
    {
      char *path = temporary_name (dir, base);
      sigset_t old;
      block_signals (&old);
      int slot = register_temporary (path);
      int result;
      if (fd < 0)
        result = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666);
      else
        {
          char proc[64];
          g_snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
          result = linkat (AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
          if (result != 0 && errno == ENOENT)   /* no /proc: needs CAP_DAC_READ_SEARCH */
            result = linkat (fd, "", AT_FDCWD, path, AT_EMPTY_PATH);
        }
      int saved = errno;
      if (result >= 0)
        {
          out->tmp_path = path;
          out->slot = slot;
        }
      else if (slot >= 0)
        g_atomic_int_set (&cleanup_state[slot], 0);
      pthread_sigmask (SIG_SETMASK, &old, NULL);
      if (result >= 0)
        return result;
      g_free (path);
      if (saved != EEXIST)
        {
          errno = saved;
          return -1;
        }
    }
  errno = EEXIST;
  return -1;
}

/* ---- the stream ------------------------------------------------------------ */

/* Through a cookie so that the errno of a failed write is kept; stdio only
 * remembers that some write failed. */
static ssize_t
cookie_write (void       *cookie,
              const char *buf,
              size_t      size)
{
  AsOutputFile *out = cookie;
  size_t done = 0;
  if (out->discarding)
    return (ssize_t) size;
  while (out->write_errno == 0 && done < size)
    {
      ssize_t n = write (out->fd, buf + done, size - done);
      if (n > 0)
        done += (size_t) n;
      else if (n < 0 && errno != EINTR)
        out->write_errno = errno;
      else if (n == 0)
        out->write_errno = EIO;
    }
  return (ssize_t) done;
}

static void
set_errno_error (GError     **error,
                 int          code,
                 const char  *name)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (code),
               "cannot write %s: %s", name, g_strerror (code));
}

static void
output_file_free (AsOutputFile *out)
{
  out->discarding = TRUE;
  if (out->stream != NULL)
    fclose (out->stream);   /* the cookie has no close: the fd is ours to close */
  if (out->own_fd && out->fd >= 0)
    close (out->fd);
  if (out->tmp_path != NULL)
    unlink (out->tmp_path);
  forget_temporary (out);
  g_free (out->name);
  g_free (out->target);
  g_free (out);
}

static AsOutputFile *
output_file_new (const char *name,
                 int         fd,
                 gboolean    own_fd)
{
  AsOutputFile *out = g_new0 (AsOutputFile, 1);
  out->name = g_strdup (name);
  out->fd = fd;
  out->own_fd = own_fd;
  out->slot = -1;
  cookie_io_functions_t io = { .write = cookie_write };
  out->stream = fopencookie (out, "w", io);
  if (out->stream != NULL)
    setvbuf (out->stream, NULL, _IOFBF, 1 << 16);
  return out;
}

/* ---- opening ------------------------------------------------------------- */

static gboolean
same_file (const struct stat *a,
           const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static const char *
protected_match (const struct stat  *st,
                 const char * const *protected_paths)
{
  for (const char * const *p = protected_paths; p != NULL && *p != NULL; p++)
    {
      struct stat ps;
      if (stat (*p, &ps) == 0 && same_file (st, &ps))
        return *p;
    }
  return NULL;
}

/* Follows PATH's chain of symlinks to the file that is (or will be) written.
 * *MAGIC: the chain goes through /proc, whose links name open files rather
 * than paths, so the file must be written in place. */
static char *
resolve_links (const char  *path,
               gboolean    *magic,
               GError     **error)
{
  char *cur = g_strdup (path);
  for (int hops = 0; hops < 40; hops++)
    {
      struct stat st;
      if (lstat (cur, &st) != 0 || !S_ISLNK (st.st_mode))
        return cur;   /* missing: created there; other errors show up on open */
      if (g_str_has_prefix (cur, "/proc/"))
        {
          *magic = TRUE;
          return cur;
        }
      GError *local = NULL;
      char *link = g_file_read_link (cur, &local);
      if (link == NULL)
        {
          g_set_error (error, G_FILE_ERROR, local->code, "cannot write %s: %s", path, local->message);
          g_error_free (local);
          g_free (cur);
          return NULL;
        }
      char *next;
      if (g_path_is_absolute (link))
        next = g_steal_pointer (&link);
      else
        {
          g_autofree char *dir = g_path_get_dirname (cur);
          next = g_build_filename (dir, link, NULL);
        }
      g_free (link);
      g_free (cur);
      cur = next;
    }
  g_free (cur);
  set_errno_error (error, ELOOP, path);
  return NULL;
}

static gboolean
force_named (void)
{
  return g_strcmp0 (g_getenv ("ATTNSCOPE_OUTPUT_NAMED_TEMP"), "1") == 0;
}

/* A temporary beside TARGET (EXISTING: its current state, or NULL). */
static AsOutputFile *
open_replacing (const char         *name,
                char               *target,
                const struct stat  *existing,
                GError            **error)
{
  g_autofree char *dir = g_path_get_dirname (target);
  g_autofree char *base = g_path_get_basename (target);
  AsOutputFile *out = output_file_new (name, -1, TRUE);
  out->target = target;
  out->replace = TRUE;

  int fd = -1;
#ifdef O_TMPFILE
  if (!force_named ())
    fd = open (dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
  else
    errno = EOPNOTSUPP;
#else
  errno = EOPNOTSUPP;
#endif
  /* Kernels and file systems without O_TMPFILE answer with one of these. */
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL))
    fd = make_named (out, dir, base, -1);
  int saved = errno;
  out->fd = fd;
  if (fd < 0 || out->stream == NULL)
    {
      set_errno_error (error, fd < 0 ? saved : ENOMEM, name);
      output_file_free (out);
      return NULL;
    }
  if (existing != NULL)
    fchmod (fd, existing->st_mode & 07777);
  return out;
}

static AsOutputFile *
open_in_place (const char  *name,
               int          flags,
               GError     **error)
{
  int fd = open (name, O_WRONLY | O_CLOEXEC | O_NOCTTY | flags);
  if (fd < 0)
    {
      set_errno_error (error, errno, name);
      return NULL;
    }
  AsOutputFile *out = output_file_new (name, fd, TRUE);
  if (out->stream == NULL)
    {
      set_errno_error (error, ENOMEM, name);
      output_file_free (out);
      return NULL;
    }
  return out;
}

static AsOutputFile *
open_descriptor (const char *name,
                 int         fd)
{
  fflush (fd == STDOUT_FILENO ? stdout : stderr);   /* keep what was printed first in order */
  return output_file_new (name, fd, FALSE);
}

AsOutputFile *
as_output_file_open (const char         *path,
                     const char * const *protected_paths,
                     GError            **error)
{
  if (path == NULL || strcmp (path, "-") == 0)
    return open_descriptor ("standard output", STDOUT_FILENO);
  if (*path == '\0')
    {
      g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "cannot write an empty file name");
      return NULL;
    }

  struct stat st;
  gboolean exists = stat (path, &st) == 0;
  if (!exists && errno != ENOENT)
    {
      set_errno_error (error, errno, path);
      return NULL;
    }
  if (exists)
    {
      const char *model_file = protected_match (&st, protected_paths);
      if (model_file != NULL)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                       "cannot write %s: it would replace the loaded model's file %s; choose another output",
                       path, model_file);
          return NULL;
        }
      if (S_ISDIR (st.st_mode))
        {
          set_errno_error (error, EISDIR, path);
          return NULL;
        }
      if (!S_ISREG (st.st_mode) && !S_ISCHR (st.st_mode) && !S_ISFIFO (st.st_mode))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                       "cannot write %s: it is a %s, not a file", path,
                       S_ISBLK (st.st_mode) ? "block device" : "socket");
          return NULL;
        }
      for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++)
        {
          struct stat fs;
          if (fstat (fd, &fs) == 0 && same_file (&st, &fs))
            return open_descriptor (path, fd);
        }
      if (!S_ISREG (st.st_mode))
        return open_in_place (path, 0, error);
    }

  gboolean magic = FALSE;
  char *target = resolve_links (path, &magic, error);
  if (target == NULL)
    return NULL;
  struct stat ts;
  /* An open file that /proc still names but whose path is gone or differs. */
  if (exists && !magic && (lstat (target, &ts) != 0 || !same_file (&st, &ts)))
    magic = TRUE;
  if (magic)
    {
      g_free (target);
      return open_in_place (path, O_TRUNC, error);
    }
  return open_replacing (path, target, exists ? &st : NULL, error);
}

FILE *
as_output_file_stream (AsOutputFile *out)
{
  return out->stream;
}

const char *
as_output_file_name (AsOutputFile *out)
{
  return out->name;
}

gboolean
as_output_file_check (AsOutputFile  *out,
                      GError       **error)
{
  if (out->write_errno == 0 && !ferror (out->stream))
    return TRUE;
  set_errno_error (error, out->write_errno != 0 ? out->write_errno : EIO, out->name);
  return FALSE;
}

gboolean
as_output_file_commit (AsOutputFile  *out,
                       GError       **error)
{
  int code = 0;
  if (fflush (out->stream) != 0 || out->write_errno != 0 || ferror (out->stream))
    code = out->write_errno != 0 ? out->write_errno : EIO;
  fclose (out->stream);
  out->stream = NULL;
  if (code == 0 && out->replace && fsync (out->fd) != 0)
    code = errno;
  /* An unnamed temporary needs a name of its own first: linkat cannot
   * replace an existing file, rename can. */
  if (code == 0 && out->replace && out->tmp_path == NULL)
    {
      g_autofree char *dir = g_path_get_dirname (out->target);
      g_autofree char *base = g_path_get_basename (out->target);
      if (make_named (out, dir, base, out->fd) < 0)
        code = errno;
    }
  if (out->own_fd)
    {
      /* close() reports late errors of some file systems (NFS quota). */
      if (close (out->fd) != 0 && code == 0 && errno != EINTR)
        code = errno;
      out->fd = -1;
    }
  if (code == 0 && out->replace)
    {
      if (rename (out->tmp_path, out->target) != 0)
        code = errno;
      else
        forget_temporary (out);   /* it is the target now */
    }
  if (code != 0)
    set_errno_error (error, code, out->name);
  output_file_free (out);
  return code == 0;
}

void
as_output_file_abort (AsOutputFile *out)
{
  output_file_free (out);
}
