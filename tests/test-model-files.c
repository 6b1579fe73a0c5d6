/* test-model-files.c — model files that are not what they seem, or change.
 *
 * A model folder may hold a FIFO, a link to a device or a link loop where a
 * file belongs, or sit on a share where a file is cut or rewritten while the
 * model is in use. Reading must refuse the first kind quickly, on the opened
 * descriptor, and the model must not notice the second: it was read into
 * memory we own and checked there.
 */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "as-backend.h"
#include "as-error.h"
#include "as-file-read.h"
#include "as-model.h"

/* Every refusal here must come well within this (a blocking open would not
 * come back at all; the test harness's timeout catches that). */
#define QUICK_US (2 * G_USEC_PER_SEC)

static char *tmp_dir;

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

static void
write_text (const char *path,
            const char *text)
{
  g_autoptr(GError) error = NULL;
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

/* Reads PATH with CAP, expects a refusal with CODE whose message names the
 * path and contains NEEDLE, and that it came quickly. */
static void
expect_refused (const char  *path,
                gsize        cap,
                int          code,
                const char  *needle)
{
  char *contents = NULL;
  gsize length = 0;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  gboolean ok = as_file_read_regular (path, cap, &contents, &length, &error);
  gint64 took = g_get_monotonic_time () - start;

  g_assert_false (ok);
  g_assert_null (contents);
  g_assert_error (error, AS_MODEL_ERROR, code);
  g_test_message ("%s (%.1f ms)", error->message, took / 1000.0);
  g_assert_true (g_str_has_prefix (error->message, path));
  g_assert_nonnull (strstr (error->message, needle));
  g_assert_cmpint (took, <, QUICK_US);
}

/* ------------------------------------------------------------------------ */
/* as_file_read_regular                                                     */

static void
test_read_regular (void)
{
  g_autofree char *path = tmp_path ("plain.json");
  write_text (path, "{\"a\": 1}");
  char *contents = NULL;
  gsize length = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true (as_file_read_regular (path, AS_FILE_CAP_CONFIG, &contents, &length, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (length, ==, 8);
  g_assert_cmpstr (contents, ==, "{\"a\": 1}");
  g_free (contents);

  /* Exactly at the cap is allowed. */
  g_assert_true (as_file_read_regular (path, 8, &contents, &length, &error));
  g_free (contents);
  g_unlink (path);
}

static void
test_read_fifo (void)
{
  g_autofree char *path = tmp_path ("fifo.json");
  g_assert_cmpint (mkfifo (path, 0600), ==, 0);
  expect_refused (path, AS_FILE_CAP_CONFIG, AS_MODEL_ERROR_IO, "is a FIFO (named pipe)");
  g_unlink (path);
}

static void
test_read_device (void)
{
  expect_refused ("/dev/zero", AS_FILE_CAP_CONFIG, AS_MODEL_ERROR_IO, "is a character device");
  /* Through a link the check is the same: it is made on what was opened. */
  g_autofree char *link = tmp_path ("zero.json");
  g_assert_cmpint (symlink ("/dev/zero", link), ==, 0);
  expect_refused (link, AS_FILE_CAP_TOKENIZER, AS_MODEL_ERROR_IO, "is a character device");
  g_unlink (link);
}

static void
test_read_directory (void)
{
  g_autofree char *path = tmp_path ("dir.json");
  g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
  expect_refused (path, AS_FILE_CAP_CONFIG, AS_MODEL_ERROR_IO, "is a directory, expected a file");
  g_rmdir (path);
}

static void
test_read_link_loop (void)
{
  g_autofree char *a = tmp_path ("loop-a.json");
  g_autofree char *b = tmp_path ("loop-b.json");
  g_assert_cmpint (symlink (b, a), ==, 0);
  g_assert_cmpint (symlink (a, b), ==, 0);
  expect_refused (a, AS_FILE_CAP_CONFIG, AS_MODEL_ERROR_IO, "symbolic links");
  g_unlink (a);
  g_unlink (b);
}

static void
test_read_missing (void)
{
  g_autofree char *path = tmp_path ("absent.json");
  expect_refused (path, AS_FILE_CAP_CONFIG, AS_MODEL_ERROR_IO, "file not found");
}

/* Sparse: one byte over the cap costs no disk and, refused by size, no
 * reading. The message gives both sizes exactly. */
static void
test_read_over_cap (void)
{
  g_autofree char *path = tmp_path ("huge.json");
  write_text (path, "");
  g_assert_cmpint (truncate (path, (off_t) AS_FILE_CAP_TOKENIZER + 1), ==, 0);
  g_autofree char *sizes = g_strdup_printf ("is %u bytes, more than a file of its kind can be "
                                            "(at most %u bytes, 64 MiB)",
                                            AS_FILE_CAP_TOKENIZER + 1, AS_FILE_CAP_TOKENIZER);
  expect_refused (path, AS_FILE_CAP_TOKENIZER, AS_MODEL_ERROR_RESOURCES, sizes);
  g_unlink (path);
}

/* A file cut between learning its size and reading it says so. */
static void
test_read_shrinks (void)
{
  g_autofree char *path = tmp_path ("shrinks.bin");
  write_text (path, "0123456789abcdef");
  g_autoptr(GError) error = NULL;
  guint64 size = 0;
  int fd = as_file_open_regular (path, &size, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (size, ==, 16);
  g_assert_cmpint (truncate (path, 5), ==, 0);
  char buf[16];
  g_assert_false (as_file_read_at (fd, path, 0, buf, sizeof buf, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "shrank while being read (5 of 16 bytes)"));
  close (fd);
  g_unlink (path);
}

/* ------------------------------------------------------------------------ */
/* The readers of each kind of file                                         */

static void
test_safetensors_not_regular (void)
{
  g_autofree char *fifo = tmp_path ("model.safetensors");
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  g_assert_null (as_safetensors_open (fifo, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "FIFO"));
  g_clear_error (&error);
  g_unlink (fifo);

  g_assert_cmpint (symlink ("/dev/zero", fifo), ==, 0);
  g_assert_null (as_safetensors_open (fifo, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "character device"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, QUICK_US);
  g_unlink (fifo);
}

/* A sparse file of 8 GiB whose header length is over the format's limit is
 * refused on its first 8 bytes: reading the rest first would take 8 GiB. */
static void
test_safetensors_lie_refused_unread (void)
{
  g_autofree char *path = tmp_path ("lying.safetensors");
  guint64 len = GUINT64_TO_LE (G_GUINT64_CONSTANT (100000001));
  g_autoptr(GError) error = NULL;
  g_file_set_contents (path, (const char *) &len, 8, &error);
  g_assert_no_error (error);
  g_assert_cmpint (truncate (path, (off_t) 1 << 33), ==, 0);
  gint64 start = g_get_monotonic_time ();
  g_assert_null (as_safetensors_open (path, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "exceeds the limit of 100000000 bytes"));
  g_assert_cmpint (g_get_monotonic_time () - start, <, QUICK_US);
  g_unlink (path);
}

/* ------------------------------------------------------------------------ */
/* A model whose files change while it is in use                            */

static char *
copy_default_model (const char *name)
{
  g_autofree char *src = as_model_default_dir ();
  g_autofree char *weights = g_build_filename (src, "model.safetensors", NULL);
  if (!g_file_test (weights, G_FILE_TEST_IS_REGULAR))
    return NULL;
  char *dst = tmp_path (name);
  g_assert_cmpint (g_mkdir (dst, 0700), ==, 0);
  static const char *const files[] = { "config.json", "model.safetensors", "tokenizer.json", "vocab.txt" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *from = g_build_filename (src, files[i], NULL);
      g_autofree char *to = g_build_filename (dst, files[i], NULL);
      g_autofree char *data = NULL;
      gsize length = 0;
      if (!g_file_get_contents (from, &data, &length, NULL))
        continue;
      g_autoptr(GError) error = NULL;
      g_file_set_contents (to, data, (gssize) length, &error);
      g_assert_no_error (error);
    }
  return dst;
}

static void
remove_model_copy (const char *dir)
{
  static const char *const files[] = { "config.json", "model.safetensors", "tokenizer.json", "vocab.txt" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (dir, files[i], NULL);
      g_unlink (path);
    }
  g_rmdir (dir);
}

typedef struct {
  float *attn;       /* [layers, heads, n, n] */
  gsize  per_layer;  /* floats */
} Captured;

static gboolean
capture_layer (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  Captured *c = user_data;
  memcpy (c->attn + (gsize) layer * c->per_layer, attn, c->per_layer * sizeof (float));
  return TRUE;
}

/* Every layer's attention for TEXT, through the CPU backend. */
static float *
forward (AsModel    *model,
         const char *text,
         gsize      *n_floats)
{
  AsEncoding *enc = as_tokenizer_encode (model->tokenizer, text, NULL, 0);
  int n = enc->n_tokens;
  g_autofree int *ids = g_new (int, n);
  g_autofree int *types = g_new (int, n);
  for (int i = 0; i < n; i++)
    {
      ids[i] = enc->tokens[i].id;
      types[i] = enc->tokens[i].type_id;
    }
  as_encoding_free (enc);

  const AsConfig *c = model->config;
  Captured cap = { NULL, (gsize) c->n_heads * n * n };
  *n_floats = cap.per_layer * c->n_layers;
  cap.attn = g_new0 (float, *n_floats);
  AsBackend *backend = as_cpu_backend_new (model);
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n,
                           .on_layer = capture_layer, .user_data = &cap };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (backend, &req, NULL, &error));
  g_assert_no_error (error);
  as_backend_free (backend);
  return cap.attn;
}

static void
assert_same_attention (const float *a,
                       const float *b,
                       gsize        n)
{
  for (gsize i = 0; i < n; i++)
    if (!(a[i] == b[i]))
      g_error ("attention differs at %" G_GSIZE_FORMAT ": %g then %g", i, a[i], b[i]);
}

#define SENTENCE "The animal didn't cross the street because it was too tired."

/* Cut to 1000 bytes after loading, as an interrupted re-download leaves it:
 * with the file mapped, the next forward pass died of SIGBUS. */
static void
test_truncated_while_in_use (void)
{
  g_autofree char *dir = copy_default_model ("truncated");
  if (dir == NULL)
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  gsize n1 = 0, n2 = 0;
  g_autofree float *before = forward (model, SENTENCE, &n1);

  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  g_assert_cmpint (truncate (weights, 1000), ==, 0);
  g_autofree float *after = forward (model, SENTENCE, &n2);
  g_assert_cmpuint (n1, ==, n2);
  assert_same_attention (before, after, n1);
  as_model_free (model);

  /* Loading it now is refused, with a message. */
  g_assert_null (as_model_load (dir, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_FORMAT);
  g_test_message ("%s", error->message);
  remove_model_copy (dir);
}

/* NaN written over a weight in place after loading: with the file mapped
 * the model read the new bytes, past the finiteness check made at load. */
static void
test_rewritten_with_nan_after_load (void)
{
  g_autofree char *dir = copy_default_model ("rewritten");
  if (dir == NULL)
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  gsize n1 = 0, n2 = 0;
  g_autofree float *before = forward (model, SENTENCE, &n1);

  /* Every element of layer 0's query weight (F32, used in place). */
  const AsTensorInfo *info = as_safetensors_lookup (model->st, "encoder.layer.0.attention.self.query.weight");
  g_assert_nonnull (info);
  g_assert_cmpint (info->dtype, ==, AS_DTYPE_F32);
  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  int fd = g_open (weights, O_RDWR, 0);
  g_assert_cmpint (fd, >=, 0);
  guint64 header_len = 0;
  g_assert_cmpint (pread (fd, &header_len, 8, 0), ==, 8);
  header_len = GUINT64_FROM_LE (header_len);
  gsize bytes = (gsize) (info->end - info->begin);
  g_autofree float *nans = g_new (float, bytes / sizeof (float));
  for (gsize i = 0; i < bytes / sizeof (float); i++)
    nans[i] = NAN;
  g_assert_cmpint (pwrite (fd, nans, bytes, (off_t) (8 + header_len + info->begin)), ==, (gssize) bytes);
  close (fd);

  g_autofree float *after = forward (model, SENTENCE, &n2);
  g_assert_cmpuint (n1, ==, n2);
  assert_same_attention (before, after, n1);
  as_model_free (model);

  /* The file as it is now is refused. */
  g_assert_null (as_model_load (dir, &error));
  g_assert_nonnull (strstr (error->message, "holds NaN"));
  remove_model_copy (dir);
}

/* ------------------------------------------------------------------------ */

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_autoptr(GError) error = NULL;
  tmp_dir = g_dir_make_tmp ("attnscope-files-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/model-files/read/regular", test_read_regular);
  g_test_add_func ("/model-files/read/fifo", test_read_fifo);
  g_test_add_func ("/model-files/read/device", test_read_device);
  g_test_add_func ("/model-files/read/directory", test_read_directory);
  g_test_add_func ("/model-files/read/link-loop", test_read_link_loop);
  g_test_add_func ("/model-files/read/missing", test_read_missing);
  g_test_add_func ("/model-files/read/over-cap", test_read_over_cap);
  g_test_add_func ("/model-files/read/shrinks", test_read_shrinks);
  g_test_add_func ("/model-files/safetensors/not-regular", test_safetensors_not_regular);
  g_test_add_func ("/model-files/safetensors/lie-refused-unread", test_safetensors_lie_refused_unread);
  g_test_add_func ("/model-files/in-use/truncated", test_truncated_while_in_use);
  g_test_add_func ("/model-files/in-use/rewritten-with-nan", test_rewritten_with_nan_after_load);

  int status = g_test_run ();
  g_rmdir (tmp_dir);
  g_free (tmp_dir);
  return status;
}
