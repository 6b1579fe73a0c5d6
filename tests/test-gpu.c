/* test-gpu.c — the CUDA backend against the reference forward and the fast
 * CPU backend, and every way the GPU can be unavailable.
 *
 * Two targets run the same GPU checks: "device", the plugin the loader finds
 * (the real GPU; skipped with the loader's reason where none is usable), and
 * "emulated", the plugin's own host code built against a CPU emulation of
 * CUDA + cuBLAS (gpu/emu/; it checks GEMM shapes, offsets, streams and event
 * order, not the CUDA kernels). Where there is no GPU the emulated target
 * still runs every check on every machine.
 *
 * The fallback tests force each failure with ATTNSCOPE_GPU_FORCE_FAIL=
 * plugin|driver|device|oom-load|oom-run and expect the CPU and a notice that
 * says why: against the installed plugin (which has no GPU here, so the
 * failures are simulated) and against the emulated one (a "working GPU", so
 * they are injected where they would really happen).
 *
 * ATTNSCOPE_REQUIRE_GPU=1 (for a machine that has a GPU) turns every "no
 * usable GPU" skip of the device target into a failure that names the
 * reason; /gpu/require-gpu checks that it does, in a subprocess. The plugin
 * is found beside the program before the paths fixed at configure time;
 * /gpu/plugin-beside-program checks it with copies of this program.
 *
 * On the golden inputs and under the causal mask, the GPU, the fast CPU
 * backend and the reference forward (as-reference.c) must agree pairwise
 * within fp32's tolerances against transformers: 1e-5 on attention
 * probabilities, 1e-4 on hidden states; on random BERT-base weights, the GPU
 * with the CPU at every length and with the reference at the shortest. The
 * TF32 / fp16 / bf16 deviations are measured and reported, with loose bounds.
 */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-error.h"
#include "as-gpu-loader.h"
#include "as-model.h"
#include "as-reference.h"
#include "encoder-test-util.h"

#define ATTN_TOL   1e-5
#define HIDDEN_TOL 1e-4
#define ROWSUM_TOL 1e-5

typedef struct {
  const char *label;        /* "device" or "emulated" */
  char       *plugin_dir;   /* $ATTNSCOPE_PLUGIN_DIR while testing it; NULL: as the test started */
  gboolean    have_plugin;  /* the plugin file exists */
  AsBackend  *gpu;          /* fp32 on MODEL, or NULL */
  char       *why;          /* why GPU is NULL */
} Target;

static AsModel *model;          /* the downloaded model, or NULL */
static AsModel *random_model;   /* minilm-l6 shapes, random weights: always there */
static AsBackend *cpu;          /* on MODEL */
static AsBackend *reference;    /* on MODEL */
static AsAnalysis **reference_goldens;   /* [golden inputs], computed on first use */
static Target targets[2];       /* device, emulated */
static char *initial_plugin_dir;
static gboolean require_gpu;    /* ATTNSCOPE_REQUIRE_GPU was set for this run */
static char *plugin_path;       /* what the loader finds by itself, or NULL */
static JsonArray *golden_inputs;

typedef struct {
  Target *target;
  guint   index;
} GoldenCase;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static gboolean
have_model (void)
{
  if (model != NULL)
    return TRUE;
  g_test_skip ("default model not downloaded (run tools/setup)");
  return FALSE;
}

/* Points the loader at T's plugin. */
static void
enter (const Target *t)
{
  const char *dir = t->plugin_dir != NULL ? t->plugin_dir : initial_plugin_dir;
  if (dir != NULL)
    g_setenv ("ATTNSCOPE_PLUGIN_DIR", dir, TRUE);
  else
    g_unsetenv ("ATTNSCOPE_PLUGIN_DIR");
}

/* The device target cannot run: a skip, or with ATTNSCOPE_REQUIRE_GPU a
 * failure that says why. */
static void
no_gpu (const Target *t,
        const char   *why)
{
  g_autofree char *text = g_strdup_printf ("no usable GPU: %s", why);
  if (require_gpu && t == &targets[0])
    {
      g_printerr ("%s (and ATTNSCOPE_REQUIRE_GPU is set)\n", text);
      g_test_fail_printf ("%s (and ATTNSCOPE_REQUIRE_GPU is set)", text);
      return;
    }
  g_test_skip (text);
}

static gboolean
have_gpu (const Target *t)
{
  if (model == NULL)
    {
      no_gpu (t, "default model not downloaded (run tools/setup)");
      return FALSE;
    }
  enter (t);
  if (t->gpu != NULL)
    return TRUE;
  no_gpu (t, t->why);
  return FALSE;
}

static gboolean
have_plugin (const Target *t)
{
  enter (t);
  if (t->have_plugin)
    return TRUE;
  if (t == &targets[0])
    no_gpu (t, t->why);
  else
    g_test_skip (t->why);
  return FALSE;
}

/* Runs FN with ATTNSCOPE_GPU_FORCE_FAIL=VALUE (NULL: unset). */
static void
force_fail (const char *value)
{
  if (value != NULL)
    g_setenv ("ATTNSCOPE_GPU_FORCE_FAIL", value, TRUE);
  else
    g_unsetenv ("ATTNSCOPE_GPU_FORCE_FAIL");
}

static void
assert_contains (const char *haystack,
                 const char *needle)
{
  if (haystack == NULL || strstr (haystack, needle) == NULL)
    g_error ("expected '%s' in: %s", needle, haystack ? haystack : "(null)");
}

/* ------------------------------------------------------------------------ */
/* Names and plain CPU                                                        */

static void
test_names (void)
{
  AsDevice d;
  g_assert_true (as_device_from_string ("auto", &d) && d == AS_DEVICE_AUTO);
  g_assert_true (as_device_from_string ("cpu", &d) && d == AS_DEVICE_CPU);
  g_assert_true (as_device_from_string ("gpu", &d) && d == AS_DEVICE_GPU);
  g_assert_false (as_device_from_string ("tpu", &d));
  g_assert_false (as_device_from_string (NULL, &d));
  g_assert_cmpstr (as_device_to_string (AS_DEVICE_GPU), ==, "gpu");

  AsPrecision p;
  g_assert_true (as_precision_from_string ("fp32", &p) && p == AS_PRECISION_FP32);
  g_assert_true (as_precision_from_string ("TF32", &p) && p == AS_PRECISION_TF32);
  g_assert_true (as_precision_from_string ("fp16", &p) && p == AS_PRECISION_FP16);
  g_assert_true (as_precision_from_string ("bf16", &p) && p == AS_PRECISION_BF16);
  g_assert_false (as_precision_from_string ("fp8", &p));
  g_assert_cmpstr (as_precision_to_string (AS_PRECISION_BF16), ==, "bf16");

  AsGpuOptions o;
  g_setenv ("ATTNSCOPE_GPU_PRECISION", "tf32", TRUE);
  g_setenv ("ATTNSCOPE_GPU_DEVICE", "1", TRUE);
  as_gpu_options_init (&o);
  g_assert_cmpint (o.precision, ==, AS_PRECISION_TF32);
  g_assert_cmpint (o.device_index, ==, 1);
  g_setenv ("ATTNSCOPE_GPU_PRECISION", "nonsense", TRUE);
  g_setenv ("ATTNSCOPE_GPU_DEVICE", "-3", TRUE);
  as_gpu_options_init (&o);
  g_assert_cmpint (o.precision, ==, AS_PRECISION_FP32);
  g_assert_cmpint (o.device_index, ==, 0);
  g_unsetenv ("ATTNSCOPE_GPU_PRECISION");
  g_unsetenv ("ATTNSCOPE_GPU_DEVICE");
}

static void
test_open_cpu (void)
{
  g_autofree char *notice = NULL;
  g_autoptr(GError) error = NULL;
  AsBackend *b = as_backend_open (random_model, AS_DEVICE_CPU, NULL, &notice, &error);
  g_assert_no_error (error);
  g_assert_nonnull (b);
  g_assert_cmpstr (as_backend_get_name (b), ==, "cpu");
  g_assert_false (as_backend_is_gpu (b));
  g_assert_null (notice);
  as_backend_free (b);

  b = as_backend_open (random_model, (AsDevice) 42, NULL, &notice, &error);
  g_assert_null (b);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
}

/* ------------------------------------------------------------------------ */
/* Fallbacks, forced                                                          */

/* With the failure forced, AUTO and GPU give the CPU and a notice containing
 * NEEDLE, and as_gpu_backend_new () fails with CODE. */
static void
check_forced_open (const char *force,
                   AsGpuError  code,
                   const char *needle)
{
  force_fail (force);
  for (AsDevice device = AS_DEVICE_AUTO; device <= AS_DEVICE_GPU; device++)
    {
      if (device == AS_DEVICE_CPU)
        continue;
      g_autofree char *notice = NULL;
      g_autoptr(GError) error = NULL;
      AsBackend *b = as_backend_open (random_model, device, NULL, &notice, &error);
      g_assert_no_error (error);
      g_assert_nonnull (b);
      g_assert_cmpstr (as_backend_get_name (b), ==, "cpu");
      g_assert_false (as_backend_is_gpu (b));
      assert_contains (notice, "using the CPU");
      assert_contains (notice, needle);
      assert_contains (notice, force);
      g_test_message ("%s, --device %s: %s", force, as_device_to_string (device), notice);
      as_backend_free (b);
    }
  g_autoptr(GError) error = NULL;
  AsBackend *b = as_gpu_backend_new (random_model, NULL, &error);
  g_assert_null (b);
  g_assert_error (error, AS_GPU_ERROR, (int) code);
  force_fail (NULL);
}

static void
test_fallback_plugin (void)
{
  check_forced_open ("plugin", AS_GPU_ERROR_PLUGIN, "CUDA plugin is missing");
}

static void
test_fallback_driver (gconstpointer data)
{
  if (have_plugin (data))
    check_forced_open ("driver", AS_GPU_ERROR_NO_DRIVER, "no usable NVIDIA driver");
}

static void
test_fallback_device (gconstpointer data)
{
  if (have_plugin (data))
    check_forced_open ("device", AS_GPU_ERROR_NO_DEVICE, "no usable CUDA device");
}

static void
test_fallback_oom_load (gconstpointer data)
{
  if (have_plugin (data))
    check_forced_open ("oom-load", AS_GPU_ERROR_OUT_OF_MEMORY, "not enough GPU memory");
}

typedef struct {
  int     layers_seen;
  int     last_layer;
  float  *attn;      /* [layers, heads, n, n] */
  gsize   per_layer;
  int     notices;
  char   *notice;
} Collect;

static gboolean
collect_layer (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  Collect *c = user_data;
  g_assert_cmpint (layer, ==, c->last_layer + 1);
  c->last_layer = layer;
  c->layers_seen++;
  memcpy (c->attn + layer * c->per_layer, attn, c->per_layer * sizeof (float));
  return TRUE;
}

static void
collect_notice (const char *notice,
                gpointer    user_data)
{
  Collect *c = user_data;
  c->notices++;
  g_free (c->notice);
  c->notice = g_strdup (notice);
}

/* Out of memory during a pass: the backend opens as the GPU, the pass ends on
 * the CPU with the same numbers, each layer delivered once, one notice. */
static void
test_fallback_oom_run (gconstpointer data)
{
  if (!have_plugin (data))
    return;
  const AsConfig *cfg = random_model->config;
  int ids[] = { 101, 7592, 1010, 2088, 999, 102 };
  int types[G_N_ELEMENTS (ids)] = { 0 };
  const int n = G_N_ELEMENTS (ids);
  gsize per_layer = (gsize) cfg->n_heads * n * n;

  /* The CPU's answer. */
  AsBackend *ref = as_cpu_backend_new (random_model);
  Collect want = { .last_layer = -1, .per_layer = per_layer };
  want.attn = g_new0 (float, cfg->n_layers * per_layer);
  g_autofree float *want_hidden = g_new (float, (gsize) n * cfg->hidden);
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n,
                           .on_layer = collect_layer, .user_data = &want };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (ref, &req, want_hidden, &error));

  force_fail ("oom-run");
  Collect got = { .last_layer = -1, .per_layer = per_layer };
  got.attn = g_new0 (float, cfg->n_layers * per_layer);
  AsGpuOptions options;
  as_gpu_options_init (&options);
  options.on_notice = collect_notice;
  options.notice_data = &got;
  g_autofree char *notice = NULL;
  AsBackend *b = as_backend_open (random_model, AS_DEVICE_GPU, &options, &notice, &error);
  g_assert_no_error (error);
  g_assert_null (notice);
  g_assert_true (as_backend_is_gpu (b));
  g_assert_cmpstr (as_backend_get_name (b), ==, "cuda");

  g_autofree float *got_hidden = g_new (float, (gsize) n * cfg->hidden);
  req.user_data = &got;
  g_assert_true (as_backend_forward (b, &req, got_hidden, &error));
  g_assert_no_error (error);
  g_assert_cmpint (got.layers_seen, ==, cfg->n_layers);
  g_assert_cmpint (got.notices, ==, 1);
  assert_contains (got.notice, "switched to the CPU");
  assert_contains (got.notice, "not enough GPU memory");
  assert_contains (got.notice, "oom-run");
  g_test_message ("oom-run: %s", got.notice);
  g_assert_cmpmem (got.attn, cfg->n_layers * per_layer * sizeof (float),
                   want.attn, cfg->n_layers * per_layer * sizeof (float));
  g_assert_cmpmem (got_hidden, (gsize) n * cfg->hidden * sizeof (float),
                   want_hidden, (gsize) n * cfg->hidden * sizeof (float));
  g_assert_false (as_backend_is_gpu (b));
  g_assert_cmpstr (as_backend_get_name (b), ==, "cpu");
  g_autofree char *desc = as_backend_describe (b);
  assert_contains (desc, "switched from the GPU");
  /* Later passes stay on the CPU without further notices. */
  got.last_layer = -1;
  g_assert_true (as_backend_forward (b, &req, NULL, &error));
  g_assert_cmpint (got.notices, ==, 1);
  as_backend_free (b);

  /* layer_qkv takes the same way out. */
  b = as_backend_open (random_model, AS_DEVICE_GPU, &options, NULL, &error);
  g_assert_true (as_backend_is_gpu (b));
  gsize nh = (gsize) n * cfg->hidden;
  g_autofree float *q = g_new (float, nh), *k = g_new (float, nh), *v = g_new (float, nh);
  g_autofree float *q0 = g_new (float, nh), *k0 = g_new (float, nh), *v0 = g_new (float, nh);
  AsForwardRequest plain = { .ids = ids, .type_ids = types, .n = n };
  g_assert_true (as_backend_layer_qkv (b, &plain, 2, q, k, v, &error));
  g_assert_true (as_backend_layer_qkv (ref, &plain, 2, q0, k0, v0, &error));
  g_assert_cmpmem (q, nh * sizeof (float), q0, nh * sizeof (float));
  g_assert_cmpmem (v, nh * sizeof (float), v0, nh * sizeof (float));
  g_assert_cmpint (got.notices, ==, 2);
  as_backend_free (b);

  force_fail (NULL);
  as_backend_free (ref);
  g_free (want.attn);
  g_free (got.attn);
  g_free (got.notice);
}

/* No forcing: the real answer of this machine — a GPU backend, or the CPU
 * with a reason in the AS_GPU_ERROR domain. */
static void
test_unforced (void)
{
  enter (&targets[0]);
  g_autofree char *notice = NULL;
  g_autoptr(GError) error = NULL;
  AsBackend *b = as_backend_open (random_model, AS_DEVICE_AUTO, NULL, &notice, &error);
  g_assert_no_error (error);
  g_autofree char *desc = as_backend_describe (b);
  g_test_message ("auto: %s backend, %s%s%s", as_backend_get_name (b), desc,
                  notice ? "; notice: " : "", notice ? notice : "");
  if (as_backend_is_gpu (b))
    {
      g_assert_null (notice);
      assert_contains (desc, "CUDA");
    }
  else
    {
      assert_contains (notice, "using the CPU");
      AsBackend *g = as_gpu_backend_new (random_model, NULL, &error);
      g_assert_null (g);
      g_assert_nonnull (error);
      g_assert_true (error->domain == AS_GPU_ERROR);
      if (plugin_path == NULL)
        g_assert_error (error, AS_GPU_ERROR, AS_GPU_ERROR_PLUGIN);
    }
  as_backend_free (b);

  g_autoptr(GError) probe_error = NULL;
  g_autofree char *info = as_gpu_probe (0, &probe_error);
  g_test_message ("probe: %s", info ? info : probe_error->message);
  g_assert_true (info != NULL || probe_error->domain == AS_GPU_ERROR);
}

/* A file in $ATTNSCOPE_PLUGIN_DIR comes first; one that is not a loadable
 * library is reported as such. */
static void
test_plugin_dir (void)
{
  enter (&targets[0]);
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("attnscope-plugin-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "libattnscope-cuda.so", NULL);
  g_assert_true (g_file_set_contents (path, "not a library", -1, &error));
  g_setenv ("ATTNSCOPE_PLUGIN_DIR", dir, TRUE);

  g_autofree char *found = as_gpu_plugin_find ();
  g_assert_cmpstr (found, ==, path);
  g_autofree char *notice = NULL;
  AsBackend *b = as_backend_open (random_model, AS_DEVICE_GPU, NULL, &notice, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (as_backend_get_name (b), ==, "cpu");
  assert_contains (notice, "cannot be loaded");
  assert_contains (notice, path);
  g_test_message ("%s", notice);
  as_backend_free (b);
  AsBackend *g = as_gpu_backend_new (random_model, NULL, &error);
  g_assert_null (g);
  g_assert_error (error, AS_GPU_ERROR, AS_GPU_ERROR_PLUGIN);

  enter (&targets[0]);
  g_unlink (path);
  g_rmdir (dir);
  g_autofree char *again = as_gpu_plugin_find ();
  g_assert_cmpstr (again, ==, plugin_path);
}

/* With ATTNSCOPE_REQUIRE_GPU a device test fails where no GPU is usable,
 * naming the reason, and passes where one is. */
static void
test_require_gpu (void)
{
  g_setenv (AS_REQUIRE_GPU_ENV, "1", TRUE);
  g_test_trap_subprocess ("/gpu/device/layer-qkv", 0, G_TEST_SUBPROCESS_DEFAULT);
  g_unsetenv (AS_REQUIRE_GPU_ENV);
  if (targets[0].gpu != NULL)
    {
      g_test_trap_assert_passed ();
      return;
    }
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*no usable GPU: *ATTNSCOPE_REQUIRE_GPU*");
  g_assert_nonnull (targets[0].why);
  g_autofree char *pattern = g_strdup_printf ("*%s*", targets[0].why);
  g_test_trap_assert_stderr (pattern);
}

/* The loader under ATTNSCOPE_REQUIRE_GPU: no fallback to the CPU, but an
 * error with the reason; a forced failure (a test of the fallback) still
 * falls back. */
static void
test_require_gpu_open (void)
{
  enter (&targets[0]);
  g_setenv (AS_REQUIRE_GPU_ENV, "1", TRUE);
  g_assert_true (as_gpu_required ());
  g_autofree char *notice = NULL;
  g_autoptr(GError) error = NULL;
  AsBackend *b = as_backend_open (random_model, AS_DEVICE_GPU, NULL, &notice, &error);
  if (b != NULL)
    {
      g_assert_true (as_backend_is_gpu (b));
      as_backend_free (b);
    }
  else
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == AS_GPU_ERROR);
      assert_contains (error->message, "ATTNSCOPE_REQUIRE_GPU");
      g_test_message ("%s", error->message);
      g_clear_error (&error);
    }
  force_fail ("driver");
  b = as_backend_open (random_model, AS_DEVICE_GPU, NULL, &notice, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (as_backend_get_name (b), ==, "cpu");
  as_backend_free (b);
  force_fail (NULL);
  g_setenv (AS_REQUIRE_GPU_ENV, "0", TRUE);
  g_assert_false (as_gpu_required ());
  g_unsetenv (AS_REQUIRE_GPU_ENV);
  g_assert_false (as_gpu_required ());
}

/* This program copied into a build tree (TOP/tests/, plugin in TOP/gpu/)
 * and into an installed layout (TOP/bin/, plugin in TOP/lib/attnscope/)
 * finds the plugin there, before the one at the configured build path. */
static void
test_plugin_beside_program (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", &error);
  if (exe == NULL)
    {
      g_test_skip ("no /proc/self/exe here");
      return;
    }
  g_autofree char *program = NULL;
  gsize length = 0;
  g_assert_true (g_file_get_contents (exe, &program, &length, &error));
  const char *layouts[][2] = { { "tests", "gpu" }, { "bin", "lib/attnscope" } };
  for (guint i = 0; i < G_N_ELEMENTS (layouts); i++)
    {
      g_autofree char *top = g_dir_make_tmp ("attnscope-tree-XXXXXX", &error);
      g_assert_no_error (error);
      g_autofree char *bin = g_build_filename (top, layouts[i][0], NULL);
      g_autofree char *libdir = g_build_filename (top, layouts[i][1], NULL);
      g_autofree char *copy = g_build_filename (bin, "test-gpu", NULL);
      g_autofree char *plugin = g_build_filename (libdir, "libattnscope-cuda.so", NULL);
      g_assert_cmpint (g_mkdir_with_parents (bin, 0700), ==, 0);
      g_assert_cmpint (g_mkdir_with_parents (libdir, 0700), ==, 0);
      g_assert_true (g_file_set_contents (copy, program, (gssize) length, &error));
      g_assert_cmpint (g_chmod (copy, 0700), ==, 0);
      g_assert_true (g_file_set_contents (plugin, "a plugin", -1, &error));

      const char *argv[] = { copy, NULL };
      g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "AS_TEST_PRINT_PLUGIN", "1", TRUE);
      envp = g_environ_unsetenv (envp, "ATTNSCOPE_PLUGIN_DIR");
      g_autofree char *out = NULL;
      int status = -1;
      g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_DEFAULT, NULL, NULL,
                                   &out, NULL, &status, &error));
      g_assert_no_error (error);
      g_assert_true (g_spawn_check_wait_status (status, NULL));
      g_test_message ("%s/: %s", layouts[i][0], out);
      g_assert_cmpstr (g_strstrip (out), ==, plugin);

      g_unlink (plugin);
      g_unlink (copy);
      g_rmdir (libdir);
      if (i == 1)
        {
          g_autofree char *lib = g_path_get_dirname (libdir);
          g_rmdir (lib);
        }
      g_rmdir (bin);
      g_rmdir (top);
    }
}

/* attnscope-cli dump --device gpu: works, and says why when it is the CPU. */
static void
run_cli (const char  *force,
         const char  *out_json,
         int         *status,
         char       **err_text)
{
  g_autofree char *cli = g_build_filename (g_getenv ("AS_TEST_BUILD"), "..", "app", "attnscope-cli", NULL);
  const char *argv[] = { cli, "dump", "--device", "gpu", "-o", out_json, "Hello, world!", NULL };
  g_auto(GStrv) envp = g_get_environ ();
  envp = force ? g_environ_setenv (envp, "ATTNSCOPE_GPU_FORCE_FAIL", force, TRUE)
               : g_environ_unsetenv (envp, "ATTNSCOPE_GPU_FORCE_FAIL");
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_STDOUT_TO_DEV_NULL,
                               NULL, NULL, NULL, err_text, status, &error));
  g_assert_no_error (error);
}

static void
test_cli_device_gpu (gconstpointer data)
{
  const Target *t = data;
  if (!have_model ())
    return;
  enter (t);
  g_autofree char *cli = g_build_filename (g_getenv ("AS_TEST_BUILD"), "..", "app", "attnscope-cli", NULL);
  if (!g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("attnscope-cli not built");
      return;
    }
  if (t->plugin_dir != NULL && !t->have_plugin)
    {
      g_test_skip (t->why);
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("attnscope-cli-XXXXXX", &error);
  g_autofree char *ref = g_build_filename (dir, "ref.json", NULL);
  g_autofree char *out = g_build_filename (dir, "out.json", NULL);

  const char *forces[] = { NULL, "plugin", "driver", "device", "oom-load", "oom-run" };
  g_autofree char *ref_text = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (forces); i++)
    {
      if (forces[i] != NULL && !t->have_plugin && g_strcmp0 (forces[i], "plugin") != 0)
        continue;   /* the plugin's own failures need the plugin */
      int status = -1;
      g_autofree char *err = NULL;
      run_cli (forces[i], i == 0 ? ref : out, &status, &err);
      g_test_message ("dump --device gpu%s%s: exit %d, stderr: %s",
                      forces[i] ? ", forced " : "", forces[i] ? forces[i] : "", status, err);
      g_assert_true (g_spawn_check_wait_status (status, NULL));
      if (i == 0)
        {
          g_assert_true (g_file_get_contents (ref, &ref_text, NULL, NULL));
          if (t->gpu == NULL)
            assert_contains (err, "attnscope-cli: note: GPU unavailable, using the CPU: ");
          else
            g_assert_cmpstr (err, ==, "");
          continue;
        }
      if (g_strcmp0 (forces[i], "oom-run") == 0)
        assert_contains (err, "switched to the CPU");
      else
        assert_contains (err, "attnscope-cli: note: GPU unavailable, using the CPU: ");
      assert_contains (err, forces[i]);
      g_autofree char *text = NULL;
      g_assert_true (g_file_get_contents (out, &text, NULL, NULL));
      if (t->gpu == NULL)   /* every run was on the CPU: the same bytes */
        g_assert_cmpstr (text, ==, ref_text);
      g_unlink (out);
    }
  g_unlink (ref);
  g_rmdir (dir);
}

/* ------------------------------------------------------------------------ */
/* GPU against CPU                                                            */

static void
test_golden_input (gconstpointer data)
{
  const GoldenCase *gc = data;
  Target *t = gc->target;
  if (!have_gpu (t))
    return;
  g_autofree int *ids = NULL, *types = NULL;
  int n;
  JsonObject *input = golden_input (gc->index, &ids, &types, &n);

  g_autoptr(GError) error = NULL;
  AsAnalysis *a = as_attention_compute_ids (cpu, ids, types, n, &error);
  g_assert_no_error (error);
  AsAnalysis *b = as_attention_compute_ids (t->gpu, ids, types, n, &error);
  g_assert_no_error (error);
  g_assert_true (as_backend_is_gpu (t->gpu));

  if (reference_goldens[gc->index] == NULL)
    {
      reference_goldens[gc->index] = as_attention_compute_ids (reference, ids, types, n, &error);
      g_assert_no_error (error);
    }
  const AsAnalysis *want = reference_goldens[gc->index];

  gsize n_attn = (gsize) a->n_layers * a->n_heads * n * n, nH = (gsize) n * a->hidden;
  double attn_vs_cpu = max_abs_diff (a->attn, b->attn, n_attn);
  double hidden_vs_cpu = max_abs_diff (a->final_hidden, b->final_hidden, nH);
  double attn_vs_ref = max_abs_diff (want->attn, b->attn, n_attn);
  double hidden_vs_ref = max_abs_diff (want->final_hidden, b->final_hidden, nH);
  double cpu_attn_vs_ref = max_abs_diff (want->attn, a->attn, n_attn);
  double cpu_hidden_vs_ref = max_abs_diff (want->final_hidden, a->final_hidden, nH);

  /* And against transformers, on the rows the fixture keeps. */
  AsSafetensors *gold = golden_open (input);
  double attn_vs_hf = golden_attention_diff (b, gold);
  double rowsum = max_row_sum_error (b);

  g_test_message ("%s %s: n=%d gpu-reference max|attn|=%.3g max|hidden|=%.3g; gpu-cpu "
                  "max|attn|=%.3g max|hidden|=%.3g; cpu-reference max|attn|=%.3g "
                  "max|hidden|=%.3g; gpu-transformers max|attn|=%.3g; max|row sum - 1|=%.3g",
                  t->label, json_object_get_string_member (input, "name"), n,
                  attn_vs_ref, hidden_vs_ref, attn_vs_cpu, hidden_vs_cpu,
                  cpu_attn_vs_ref, cpu_hidden_vs_ref, attn_vs_hf, rowsum);
  g_assert_cmpfloat (attn_vs_ref, <=, ATTN_TOL);
  g_assert_cmpfloat (hidden_vs_ref, <=, HIDDEN_TOL);
  g_assert_cmpfloat (attn_vs_cpu, <=, ATTN_TOL);
  g_assert_cmpfloat (hidden_vs_cpu, <=, HIDDEN_TOL);
  g_assert_cmpfloat (cpu_attn_vs_ref, <=, ATTN_TOL);
  g_assert_cmpfloat (cpu_hidden_vs_ref, <=, HIDDEN_TOL);
  g_assert_cmpfloat (attn_vs_hf, <=, ATTN_TOL);
  g_assert_cmpfloat (rowsum, <=, ROWSUM_TOL);
  as_safetensors_free (gold);
  as_analysis_unref (a);
  as_analysis_unref (b);
}

typedef struct {
  Target      *target;
  AsPrecision  precision;
} PrecisionCase;

/* TF32, fp16, bf16: measured against the fp32 CPU reference and reported. */
static void
test_precision (gconstpointer data)
{
  const PrecisionCase *pc = data;
  if (!have_gpu (pc->target))
    return;
  const double bound = pc->precision == AS_PRECISION_BF16 ? 5e-2 : 1e-2;
  AsGpuOptions options;
  as_gpu_options_init (&options);
  options.precision = pc->precision;
  double worst_attn = 0, worst_hidden = 0;
  guint len = json_array_get_length (golden_inputs);
  for (guint k = 0; k < len; k++)
    {
      g_autofree int *ids = NULL, *types = NULL;
      int n;
      JsonObject *input = golden_input (k, &ids, &types, &n);
      const char *name = json_object_get_string_member (input, "name");
      if (g_strcmp0 (name, "animal") != 0 && g_strcmp0 (name, "medium") != 0 &&
          (g_strcmp0 (name, "long-512") != 0 || pc->target->plugin_dir != NULL))
        continue;   /* long-512 only on a real GPU: the emulator is slow */
      double attn = 0, hidden = 0;
      g_autoptr(GError) error = NULL;
      g_assert_true (as_gpu_measure_deviation (model, &options, ids, types, n, &attn, &hidden, &error));
      g_assert_no_error (error);
      g_test_message ("%s %s on %s (n=%d): max|attn - fp32 CPU|=%.3g max|hidden - fp32 CPU|=%.3g",
                      pc->target->label, as_precision_to_string (pc->precision), name, n, attn, hidden);
      worst_attn = MAX (worst_attn, attn);
      worst_hidden = MAX (worst_hidden, hidden);
    }
  g_test_message ("%s %s: worst max|attn diff|=%.3g, worst max|hidden diff|=%.3g", pc->target->label,
                  as_precision_to_string (pc->precision), worst_attn, worst_hidden);
  g_assert_cmpfloat (worst_attn, >, 0.0);   /* the mode did something */
  g_assert_cmpfloat (worst_attn, <=, bound);
}

typedef struct {
  int      layers_seen;
  int      last_layer;
  gint     cancel;
  int      cancel_after;
  int      n;
  float   *hidden;   /* [layers, n, H] with want_hidden */
  float   *attn;     /* [layers, heads, n, n] */
} StreamState;

static gboolean
record_layer (int          layer,
              const float *attn,
              const float *hidden,
              gpointer     user_data)
{
  StreamState *s = user_data;
  const AsConfig *c = model->config;
  g_assert_cmpint (layer, ==, s->last_layer + 1);
  s->last_layer = layer;
  s->layers_seen++;
  if (s->attn != NULL)
    memcpy (s->attn + (gsize) layer * c->n_heads * s->n * s->n, attn,
            sizeof (float) * c->n_heads * s->n * s->n);
  if (s->hidden != NULL)
    {
      g_assert_nonnull (hidden);
      memcpy (s->hidden + (gsize) layer * s->n * c->hidden, hidden, sizeof (float) * s->n * c->hidden);
    }
  if (s->layers_seen == s->cancel_after)
    g_atomic_int_set (&s->cancel, 1);
  return TRUE;
}

static gboolean
stop_at_first (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  (*(int *) user_data)++;
  return FALSE;
}

/* Layers arrive in order with the CPU's per-layer hidden states; a raised
 * cancel flag stops between layers, as on the CPU; FALSE from the callback
 * stops the pass. */
static void
test_streaming (gconstpointer data)
{
  const Target *t = data;
  if (!have_gpu (t))
    return;
  const AsConfig *c = model->config;
  int ids[] = { 101, 7592, 1010, 2088, 999, 102 };
  int types[G_N_ELEMENTS (ids)] = { 0 };
  const int n = G_N_ELEMENTS (ids);
  gsize hsize = (gsize) c->n_layers * n * c->hidden, asize = (gsize) c->n_layers * c->n_heads * n * n;
  StreamState want = { .last_layer = -1, .n = n, .hidden = g_new (float, hsize), .attn = g_new (float, asize) };
  StreamState got = { .last_layer = -1, .n = n, .hidden = g_new (float, hsize), .attn = g_new (float, asize) };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .want_hidden = TRUE,
                           .on_layer = record_layer, .user_data = &want };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (cpu, &req, NULL, &error));
  req.user_data = &got;
  g_assert_true (as_backend_forward (t->gpu, &req, NULL, &error));
  g_assert_cmpint (got.layers_seen, ==, c->n_layers);
  double dh = max_abs_diff (want.hidden, got.hidden, hsize), da = max_abs_diff (want.attn, got.attn, asize);
  g_test_message ("%s: per-layer hidden max diff %.3g, attention %.3g", t->label, dh, da);
  g_assert_cmpfloat (dh, <=, HIDDEN_TOL);
  g_assert_cmpfloat (da, <=, ATTN_TOL);

  for (int after = 1; after <= 3; after++)
    {
      StreamState s = { .last_layer = -1, .n = n, .cancel_after = after };
      req.want_hidden = FALSE;
      req.user_data = &s;
      req.cancel = &s.cancel;
      g_assert_false (as_backend_forward (t->gpu, &req, NULL, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
      g_clear_error (&error);
      g_assert_cmpint (s.layers_seen, ==, after);
    }
  /* Cancelled before it starts: no layer. */
  StreamState pre = { .last_layer = -1, .n = n, .cancel = 1 };
  req.user_data = &pre;
  req.cancel = &pre.cancel;
  g_assert_false (as_backend_forward (t->gpu, &req, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_cmpint (pre.layers_seen, ==, 0);

  int calls = 0;
  AsForwardRequest stop = { .ids = ids, .type_ids = types, .n = n,
                            .on_layer = stop_at_first, .user_data = &calls };
  g_assert_false (as_backend_forward (t->gpu, &stop, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_assert_cmpint (calls, ==, 1);
  g_assert_true (as_backend_is_gpu (t->gpu));   /* none of this is a GPU failure */

  g_free (want.hidden); g_free (want.attn);
  g_free (got.hidden); g_free (got.attn);
}

static void
test_layer_qkv (gconstpointer data)
{
  const Target *t = data;
  if (!have_gpu (t))
    return;
  const AsConfig *c = model->config;
  int ids[] = { 101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 102 };
  int types[G_N_ELEMENTS (ids)] = { 0 };
  const int n = G_N_ELEMENTS (ids);
  gsize nh = (gsize) n * c->hidden;
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
  for (int layer = 0; layer < c->n_layers; layer += MAX (c->n_layers - 1, 1))
    {
      g_autofree float *q = g_new (float, nh), *k = g_new (float, nh), *v = g_new (float, nh);
      g_autofree float *q0 = g_new (float, nh), *k0 = g_new (float, nh), *v0 = g_new (float, nh);
      g_autoptr(GError) error = NULL;
      g_assert_true (as_backend_layer_qkv (cpu, &req, layer, q0, k0, v0, &error));
      g_assert_true (as_backend_layer_qkv (t->gpu, &req, layer, q, k, v, &error));
      g_assert_no_error (error);
      double d = MAX (max_abs_diff (q, q0, nh), MAX (max_abs_diff (k, k0, nh), max_abs_diff (v, v0, nh)));
      g_test_message ("%s layer %d: max|qkv diff|=%.3g", t->label, layer, d);
      g_assert_cmpfloat (d, <=, HIDDEN_TOL);
    }
  g_autoptr(GError) error = NULL;
  float dummy[1];
  g_assert_false (as_backend_layer_qkv (t->gpu, &req, c->n_layers, dummy, dummy, dummy, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
}

typedef struct {
  float *attn;
  int    n;
} CausalState;

static gboolean
keep_layer (int          layer,
            const float *attn,
            const float *hidden,
            gpointer     user_data)
{
  CausalState *s = user_data;
  gsize per = (gsize) model->config->n_heads * s->n * s->n;
  memcpy (s->attn + layer * per, attn, per * sizeof (float));
  return TRUE;
}

static void
test_causal_mask (gconstpointer data)
{
  const Target *t = data;
  if (!have_gpu (t))
    return;
  const AsConfig *c = model->config;
  int ids[] = { 101, 1996, 4937, 2938, 2006, 1996, 13523, 102 };
  int types[G_N_ELEMENTS (ids)] = { 0 };
  const int n = G_N_ELEMENTS (ids);
  gsize size = (gsize) c->n_layers * c->n_heads * n * n;
  CausalState a = { g_new (float, size), n }, b = { g_new (float, size), n };
  CausalState r = { g_new (float, size), n };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .causal_mask = TRUE,
                           .on_layer = keep_layer, .user_data = &a };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (cpu, &req, NULL, &error));
  req.user_data = &b;
  g_assert_true (as_backend_forward (t->gpu, &req, NULL, &error));
  req.user_data = &r;
  g_assert_true (as_backend_forward (reference, &req, NULL, &error));
  for (gsize row = 0; row < size / n; row++)
    for (int j = (int) (row % n) + 1; j < n; j++)
      g_assert_cmpfloat (b.attn[row * n + j], ==, 0.0f);
  double d = max_abs_diff (a.attn, b.attn, size), d_ref = max_abs_diff (r.attn, b.attn, size);
  double d_cpu_ref = max_abs_diff (r.attn, a.attn, size);
  g_test_message ("%s causal: max|attn diff| gpu-cpu %.3g, gpu-reference %.3g, cpu-reference %.3g",
                  t->label, d, d_ref, d_cpu_ref);
  g_assert_cmpfloat (d, <=, ATTN_TOL);
  g_assert_cmpfloat (d_ref, <=, ATTN_TOL);
  g_assert_cmpfloat (d_cpu_ref, <=, ATTN_TOL);
  g_free (a.attn);
  g_free (b.attn);
  g_free (r.attn);
}

static void
test_bad_requests (gconstpointer data)
{
  const Target *t = data;
  if (!have_gpu (t))
    return;
  int ids[] = { 101, 999999, 102 };
  int types[] = { 0, 0, 0 };
  g_autoptr(GError) error = NULL;
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = 3 };
  g_assert_false (as_backend_forward (t->gpu, &req, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  req.n = model->config->max_positions + 1;
  g_assert_false (as_backend_forward (t->gpu, &req, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_assert_true (as_backend_is_gpu (t->gpu));
}

/* Other shapes (BERT-base: 768 hidden, head_dim 64) on random weights, at
 * lengths that grow so the work buffers are reallocated (and one that fits). */
static void
test_random_bert_base (gconstpointer data)
{
  const Target *t = data;
  if (!have_gpu (t))
    return;
  g_autoptr(GError) error = NULL;
  AsModel *m = as_model_new_random ("bert-base", 7, &error);
  g_assert_no_error (error);
  AsBackend *c = as_cpu_backend_new (m);
  AsBackend *ref = as_reference_backend_new (m);
  AsBackend *g = as_gpu_backend_new (m, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *desc = as_backend_describe (g);
  g_test_message ("%s", desc);
  const int lengths[] = { 5, 70, 64, 200, 512 };
  /* The emulator is slow on this model: the short lengths check the same code. */
  const guint n_lengths = t->plugin_dir != NULL ? 3 : G_N_ELEMENTS (lengths);
  for (guint i = 0; i < n_lengths; i++)
    {
      int n = lengths[i];
      g_autofree int *ids = g_new (int, n), *types = g_new0 (int, n);
      for (int j = 0; j < n; j++)
        {
          ids[j] = (int) ((j * 7919u + 13u) % (unsigned) m->config->vocab_size);
          types[j] = j >= n / 2;
        }
      double attn = 0, hidden = 0;
      g_assert_true (as_backend_compare (c, g, ids, types, n, &attn, &hidden, &error));
      g_assert_no_error (error);
      g_test_message ("%s bert-base random, n=%d: gpu-cpu max|attn diff|=%.3g max|hidden diff|=%.3g",
                      t->label, n, attn, hidden);
      g_assert_cmpfloat (attn, <=, ATTN_TOL);
      g_assert_cmpfloat (hidden, <=, HIDDEN_TOL);
      if (n > 5)
        continue;   /* the reference takes about a second per 10 tokens of this model */
      g_assert_true (as_backend_compare (ref, g, ids, types, n, &attn, &hidden, &error));
      g_assert_no_error (error);
      g_test_message ("%s bert-base random, n=%d: gpu-reference max|attn diff|=%.3g "
                      "max|hidden diff|=%.3g", t->label, n, attn, hidden);
      g_assert_cmpfloat (attn, <=, ATTN_TOL);
      g_assert_cmpfloat (hidden, <=, HIDDEN_TOL);
    }
  g_assert_true (as_backend_is_gpu (g));
  as_backend_free (g);
  as_backend_free (ref);
  as_backend_free (c);
  as_model_free (m);
}

/* ------------------------------------------------------------------------ */

static void
setup_target (Target     *t,
              const char *label,
              char       *plugin_dir)
{
  t->label = label;
  t->plugin_dir = plugin_dir;
  enter (t);
  g_autofree char *path = as_gpu_plugin_find ();
  t->have_plugin = path != NULL && (plugin_dir == NULL || g_str_has_prefix (path, plugin_dir));
  if (!t->have_plugin)
    t->why = g_strdup (plugin_dir == NULL
                       ? "the CUDA plugin is not built here (needs nvcc; -Dcuda=enabled)"
                       : "the CUDA emulator is not built here (needs a C++ compiler with _Float16)");
  else if (model == NULL)
    t->why = g_strdup ("default model not downloaded (run tools/setup)");
  else
    {
      g_autoptr(GError) error = NULL;
      t->gpu = as_gpu_backend_new (model, NULL, &error);
      if (t->gpu == NULL)
        t->why = g_strdup (error->message);
    }
}

static void
add_target_tests (Target *t)
{
  char path[256];
#define ADD(name, fn) \
  (g_snprintf (path, sizeof path, "/gpu/%s/%s", t->label, name), g_test_add_data_func (path, t, fn))
  ADD ("fallback/driver", test_fallback_driver);
  ADD ("fallback/device", test_fallback_device);
  ADD ("fallback/oom-load", test_fallback_oom_load);
  ADD ("fallback/oom-run", test_fallback_oom_run);
  ADD ("cli-device-gpu", test_cli_device_gpu);
  ADD ("streaming-and-cancel", test_streaming);
  ADD ("layer-qkv", test_layer_qkv);
  ADD ("causal-mask", test_causal_mask);
  ADD ("bad-requests", test_bad_requests);
  ADD ("random-bert-base", test_random_bert_base);
#undef ADD

  guint len = json_array_get_length (golden_inputs);
  for (guint k = 0; k < len; k++)
    {
      JsonObject *input = json_array_get_object_element (golden_inputs, k);
      GoldenCase *gc = g_new (GoldenCase, 1);
      *gc = (GoldenCase) { t, k };
      g_snprintf (path, sizeof path, "/gpu/%s/golden/%s", t->label,
                  json_object_get_string_member (input, "name"));
      g_test_add_data_func_full (path, gc, test_golden_input, g_free);
    }

  const AsPrecision precisions[] = { AS_PRECISION_TF32, AS_PRECISION_FP16, AS_PRECISION_BF16 };
  for (guint i = 0; i < G_N_ELEMENTS (precisions); i++)
    {
      PrecisionCase *pc = g_new (PrecisionCase, 1);
      *pc = (PrecisionCase) { t, precisions[i] };
      g_snprintf (path, sizeof path, "/gpu/%s/precision/%s", t->label, as_precision_to_string (precisions[i]));
      g_test_add_data_func_full (path, pc, test_precision, g_free);
    }
}

int
main (int    argc,
      char **argv)
{
  /* For /gpu/plugin-beside-program: where the loader finds the plugin from
   * this copy of the program, and nothing else. */
  if (g_getenv ("AS_TEST_PRINT_PLUGIN") != NULL)
    {
      g_autofree char *found = as_gpu_plugin_find ();
      g_print ("%s\n", found != NULL ? found : "(none)");
      return 0;
    }
  g_test_init (&argc, &argv, NULL);
  /* Read once for the skips; the library must not see it, or the fallback
   * tests could not fall back. */
  require_gpu = as_gpu_required ();
  g_unsetenv (AS_REQUIRE_GPU_ENV);
  g_unsetenv ("ATTNSCOPE_GPU_FORCE_FAIL");
  g_unsetenv ("ATTNSCOPE_GPU_PRECISION");
  g_unsetenv ("ATTNSCOPE_GPU_DEVICE");
  initial_plugin_dir = g_strdup (g_getenv ("ATTNSCOPE_PLUGIN_DIR"));
  golden_inputs = goldens_load ();

  g_autoptr(GError) error = NULL;
  random_model = as_model_new_random ("minilm-l6", 1, &error);
  g_assert_no_error (error);
  plugin_path = as_gpu_plugin_find ();

  g_autofree char *dir = as_model_default_dir ();
  if (g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      model = as_model_load (dir, &error);
      g_assert_no_error (error);
      cpu = as_cpu_backend_new (model);
      reference = as_reference_backend_new (model);
    }
  reference_goldens = g_new0 (AsAnalysis *, json_array_get_length (golden_inputs));
  setup_target (&targets[0], "device", NULL);
  setup_target (&targets[1], "emulated",
                g_build_filename (g_getenv ("AS_TEST_BUILD"), "..", "gpu", "emu", NULL));
  enter (&targets[0]);

  g_test_add_func ("/gpu/names", test_names);
  g_test_add_func ("/gpu/open-cpu", test_open_cpu);
  g_test_add_func ("/gpu/fallback/plugin", test_fallback_plugin);
  g_test_add_func ("/gpu/fallback/unforced", test_unforced);
  g_test_add_func ("/gpu/fallback/plugin-dir", test_plugin_dir);
  g_test_add_func ("/gpu/plugin-beside-program", test_plugin_beside_program);
  g_test_add_func ("/gpu/require-gpu", test_require_gpu);
  g_test_add_func ("/gpu/require-gpu/open", test_require_gpu_open);
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    add_target_tests (&targets[i]);

  int status = g_test_run ();
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      as_backend_free (targets[i].gpu);
      g_free (targets[i].plugin_dir);
      g_free (targets[i].why);
    }
  for (guint i = 0; i < json_array_get_length (golden_inputs); i++)
    as_analysis_unref (reference_goldens[i]);
  g_free (reference_goldens);
  as_backend_free (reference);
  as_backend_free (cpu);
  as_model_free (model);
  as_model_free (random_model);
  goldens_free ();
  g_free (initial_plugin_dir);
  g_free (plugin_path);
  return status;
}
