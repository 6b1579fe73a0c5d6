/* test-safetensors-reuse.c — a weight file read into memory that held
 * another one: as_safetensors_open keeps the last buffer given back for
 * the next read (model/as-safetensors.c), so what a model sees must be its
 * own file's bytes, whatever the memory held before, and a file cut after
 * a read into reused memory must still be refused.
 *
 * Each file holds one F32 tensor "w" of N values, v[i] = SEED + i, with N
 * large enough (over 2 MiB) that it is read into mapped memory.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "as-error.h"
#include "as-safetensors.h"

#define N ((gsize) 1 << 20)   /* 4 MiB of floats */

static char *
write_weights (const char *dir, const char *name, float seed, gsize n)
{
  g_autofree char *header = g_strdup_printf ("{\"w\":{\"dtype\":\"F32\",\"shape\":[%" G_GSIZE_FORMAT
                                             "],\"data_offsets\":[0,%" G_GSIZE_FORMAT "]}}",
                                             n, n * sizeof (float));
  gsize header_len = (strlen (header) + 7) / 8 * 8;
  gsize size = 8 + header_len + n * sizeof (float);
  guint8 *bytes = g_malloc (size);
  guint64 len_le = GUINT64_TO_LE ((guint64) header_len);
  float *v = (float *) (bytes + 8 + header_len);   /* [n] */

  memcpy (bytes, &len_le, 8);
  memset (bytes + 8, ' ', header_len);
  memcpy (bytes + 8, header, strlen (header));
  for (gsize i = 0; i < n; i++)
    v[i] = seed + (float) (i % 1000);
  char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, (const char *) bytes, (gssize) size, NULL));
  g_free (bytes);
  return path;
}

/* Every value of "w" in ST is SEED + i % 1000. */
static void
assert_weights (AsSafetensors *st, float seed, gsize n)
{
  const AsTensorInfo *info = as_safetensors_lookup (st, "w");
  g_assert_nonnull (info);
  g_assert_cmpint (info->shape[0], ==, (gint64) n);
  const guint8 *data = as_safetensors_get_data (st, info);
  for (gsize i = 0; i < n; i++)
    {
      float x;
      memcpy (&x, data + i * sizeof x, sizeof x);
      if (x != seed + (float) (i % 1000))
        g_error ("w[%" G_GSIZE_FORMAT "] is %g, its file says %g", i, x, seed + (float) (i % 1000));
    }
  g_assert_true (as_safetensors_f32_known_finite (st, info));
}

static void
test_reuse (void)
{
  g_autofree char *dir = g_dir_make_tmp ("as-reuse-XXXXXX", NULL);
  g_autofree char *a = write_weights (dir, "a.safetensors", 1.0f, N);
  g_autofree char *b = write_weights (dir, "b.safetensors", 5000.0f, N);
  g_autofree char *small = write_weights (dir, "small.safetensors", 9000.0f, N / 2);
  g_autofree char *nan = write_weights (dir, "nan.safetensors", 0.0f, N);
  GError *error = NULL;

  /* A read after another of the same size, one after a larger one, and
   * one while another is open. */
  AsSafetensors *st = as_safetensors_open (a, &error);
  g_assert_no_error (error);
  assert_weights (st, 1.0f, N);
  as_safetensors_free (st);
  st = as_safetensors_open (b, &error);
  g_assert_no_error (error);
  assert_weights (st, 5000.0f, N);
  as_safetensors_free (st);
  st = as_safetensors_open (small, &error);
  g_assert_no_error (error);
  assert_weights (st, 9000.0f, N / 2);
  AsSafetensors *other = as_safetensors_open (a, &error);
  g_assert_no_error (error);
  assert_weights (other, 1.0f, N);
  assert_weights (st, 9000.0f, N / 2);
  as_safetensors_free (other);
  as_safetensors_free (st);

  /* The memory's last contents (finite) do not hide a NaN in the file. */
  st = as_safetensors_open (a, &error);
  g_assert_no_error (error);
  as_safetensors_free (st);
  {
    g_autofree char *bytes = NULL;
    gsize size = 0;
    g_assert_true (g_file_get_contents (nan, &bytes, &size, NULL));
    const float qnan = NAN;
    memcpy (bytes + size - 4 * 7, &qnan, sizeof qnan);
    g_assert_true (g_file_set_contents (nan, bytes, (gssize) size, NULL));
  }
  st = as_safetensors_open (nan, &error);
  g_assert_no_error (error);
  const AsTensorInfo *info = as_safetensors_lookup (st, "w");
  g_assert_false (as_safetensors_f32_known_finite (st, info));
  as_safetensors_free (st);

  /* A file cut short is refused when read into reused memory too. */
  g_assert_cmpint (truncate (b, 8 + 64), ==, 0);
  g_assert_null (as_safetensors_open (b, &error));
  g_assert_true (error != NULL && error->domain == AS_MODEL_ERROR);
  g_clear_error (&error);
  st = as_safetensors_open (a, &error);
  g_assert_no_error (error);
  assert_weights (st, 1.0f, N);
  as_safetensors_free (st);

  g_remove (a);
  g_remove (b);
  g_remove (small);
  g_remove (nan);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/safetensors/reuse", test_reuse);
  return g_test_run ();
}
