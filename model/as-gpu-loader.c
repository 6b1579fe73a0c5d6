/* as-gpu-loader.c — find and load the CUDA plugin; the GPU AsBackend; fallback.
 *
 * The plugin speaks the plain C ABI of as-gpu-plugin.h. This file turns
 * it into an AsBackend ("cuda"): it checks requests exactly as the CPU
 * backends do, maps the plugin's statuses to GErrors, and switches to the
 * CPU backend when the GPU cannot be used (at open or during a pass).
 *
 * Two kinds of model run on the plugin: the families whose architecture
 * describes their weights for its encoder (gpu_describe), and the decoders
 * whose architecture describes them for its decoder (gpu_describe_decoder),
 * which also keeps key/value caches for as-decode.h.
 */
#include "as-gpu-loader.h"

#include <gmodule.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "as-attention.h"
#include "as-build-config.h"
#include "as-error.h"
#include "as-gpu-plugin.h"

#define PLUGIN_FILE "libattnscope-cuda." G_MODULE_SUFFIX

G_DEFINE_QUARK (as-gpu-error-quark, as_gpu_error)

G_STATIC_ASSERT ((int) AS_PRECISION_FP32 == (int) AS_GPU_PRECISION_FP32);
G_STATIC_ASSERT ((int) AS_PRECISION_TF32 == (int) AS_GPU_PRECISION_TF32);
G_STATIC_ASSERT ((int) AS_PRECISION_FP16 == (int) AS_GPU_PRECISION_FP16);
G_STATIC_ASSERT ((int) AS_PRECISION_BF16 == (int) AS_GPU_PRECISION_BF16);

static const char *const device_names[] = { "auto", "cpu", "gpu" };
static const char *const precision_names[] = { "fp32", "tf32", "fp16", "bf16" };

/* ------------------------------------------------------------------------ */
/* Names and options                                                         */

gboolean
as_device_from_string (const char *name,
                       AsDevice   *device)
{
  for (guint i = 0; i < G_N_ELEMENTS (device_names); i++)
    if (g_strcmp0 (name, device_names[i]) == 0)
      {
        *device = (AsDevice) i;
        return TRUE;
      }
  return FALSE;
}

const char *
as_device_to_string (AsDevice device)
{
  return (guint) device < G_N_ELEMENTS (device_names) ? device_names[device] : "?";
}

gboolean
as_precision_from_string (const char  *name,
                          AsPrecision *precision)
{
  for (guint i = 0; i < G_N_ELEMENTS (precision_names); i++)
    if (g_ascii_strcasecmp (name != NULL ? name : "", precision_names[i]) == 0)
      {
        *precision = (AsPrecision) i;
        return TRUE;
      }
  return FALSE;
}

const char *
as_precision_to_string (AsPrecision precision)
{
  return (guint) precision < G_N_ELEMENTS (precision_names) ? precision_names[precision] : "?";
}

void
as_gpu_options_init (AsGpuOptions *options)
{
  memset (options, 0, sizeof *options);
  options->precision = AS_PRECISION_FP32;
  AsPrecision p;
  if (as_precision_from_string (g_getenv ("ATTNSCOPE_GPU_PRECISION"), &p))
    options->precision = p;
  const char *dev = g_getenv ("ATTNSCOPE_GPU_DEVICE");
  guint64 index;
  if (dev != NULL && g_ascii_string_to_unsigned (dev, 10, 0, G_MAXINT, &index, NULL))
    options->device_index = (int) index;
}

void
as_notice_to_stderr (const char *notice,
                     gpointer    user_data)
{
  const char *program = user_data != NULL ? user_data : g_get_prgname ();
  g_printerr ("%s: note: %s\n", program != NULL ? program : "attnscope", notice);
}

static gboolean
force_fail_is (const char *what)
{
  return g_strcmp0 (g_getenv (AS_GPU_FORCE_FAIL_ENV), what) == 0;
}

/* ------------------------------------------------------------------------ */
/* Finding and loading the plugin (once per process)                         */

static GMutex plugin_lock;
static const AsGpuPluginApi *plugin_api;   /* the last plugin loaded; its module stays resident */
static char *plugin_api_path;              /* where it came from */

/* Adds DIR unless it is there already. */
static void
add_dir (GPtrArray *dirs,
         char      *dir)
{
  for (guint i = 0; i < dirs->len; i++)
    if (g_strcmp0 (g_ptr_array_index (dirs, i), dir) == 0)
      {
        g_free (dir);
        return;
      }
  g_ptr_array_add (dirs, dir);
}

/* Where the plugin is, seen from the running program: beside a build
 * tree's app/ and tests/ (../gpu), or beside an installed bin/ (../lib/
 * attnscope, or the libdir this build installs to, lib/x86_64-linux-gnu/
 * attnscope on Debian). A tree copied or installed elsewhere than where it
 * was configured finds its own plugin this way, not one at the configured
 * paths, nor none. */
static void
add_exe_dirs (GPtrArray *dirs)
{
#ifdef __linux__
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  if (exe == NULL || !g_path_is_absolute (exe))
    return;
  g_autofree char *bin = g_path_get_dirname (exe);
  g_autofree char *up = g_path_get_dirname (bin);
  add_dir (dirs, g_build_filename (up, "gpu", NULL));
  const char *lib = strstr (AS_PLUGIN_DIR, "/lib");
  if (lib != NULL)
    add_dir (dirs, g_build_filename (up, lib + 1, NULL));
  add_dir (dirs, g_build_filename (up, "lib", "attnscope", NULL));
#endif
}

/* In order: $ATTNSCOPE_PLUGIN_DIR, beside the program, then the build and
 * install folders fixed when the tree was configured. */
static GPtrArray *
plugin_dirs (void)
{
  GPtrArray *dirs = g_ptr_array_new_with_free_func (g_free);
  const char *env = g_getenv ("ATTNSCOPE_PLUGIN_DIR");
  if (env != NULL && *env != '\0')
    g_ptr_array_add (dirs, g_strdup (env));
  add_exe_dirs (dirs);
  add_dir (dirs, g_strdup (AS_BUILD_PLUGIN_DIR));
  add_dir (dirs, g_strdup (AS_PLUGIN_DIR));
  return dirs;
}

gboolean
as_gpu_required (void)
{
  const char *v = g_getenv (AS_REQUIRE_GPU_ENV);
  return v != NULL && *v != '\0' && strcmp (v, "0") != 0 &&
         g_ascii_strcasecmp (v, "no") != 0 && g_ascii_strcasecmp (v, "false") != 0;
}

char *
as_gpu_plugin_find (void)
{
  g_autoptr(GPtrArray) dirs = plugin_dirs ();
  for (guint i = 0; i < dirs->len; i++)
    {
      char *path = g_build_filename (g_ptr_array_index (dirs, i), PLUGIN_FILE, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return path;
      g_free (path);
    }
  return NULL;
}

static const AsGpuPluginApi *
load_plugin (GError **error)
{
  if (force_fail_is ("plugin"))
    {
      g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_PLUGIN,
                   "the CUDA plugin is missing (forced by %s=plugin)", AS_GPU_FORCE_FAIL_ENV);
      return NULL;
    }

  g_mutex_lock (&plugin_lock);
  /* Found afresh each time, so a changed $ATTNSCOPE_PLUGIN_DIR is honoured. */
  g_autofree char *path = as_gpu_plugin_find ();
  if (path != NULL && plugin_api != NULL && g_strcmp0 (path, plugin_api_path) == 0)
    {
      const AsGpuPluginApi *cached = plugin_api;
      g_mutex_unlock (&plugin_lock);
      return cached;
    }
  if (path == NULL)
    {
      g_autoptr(GPtrArray) dirs = plugin_dirs ();
      g_ptr_array_add (dirs, NULL);
      g_autofree char *list = g_strjoinv (", ", (char **) dirs->pdata);
      g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_PLUGIN,
                   "the CUDA plugin %s is not installed (looked in %s; build with -Dcuda=enabled "
                   "or set ATTNSCOPE_PLUGIN_DIR)", PLUGIN_FILE, list);
      g_mutex_unlock (&plugin_lock);
      return NULL;
    }

  /* LOCAL: the plugin's CUDA symbols stay out of the global namespace. */
  GModule *module = g_module_open (path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  if (module == NULL)
    {
      g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_PLUGIN,
                   "the CUDA plugin %s cannot be loaded (are the CUDA runtime and cuBLAS "
                   "libraries installed?): %s", path, g_module_error ());
      g_mutex_unlock (&plugin_lock);
      return NULL;
    }
  gpointer symbol = NULL;
  if (!g_module_symbol (module, AS_GPU_PLUGIN_ENTRY, &symbol) || symbol == NULL)
    {
      g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_PLUGIN,
                   "%s is not an AttnScope CUDA plugin (no %s)", path, AS_GPU_PLUGIN_ENTRY);
      g_module_close (module);
      g_mutex_unlock (&plugin_lock);
      return NULL;
    }
  const AsGpuPluginApi *api = ((AsGpuPluginEntryFunc) symbol) (AS_GPU_PLUGIN_ABI_VERSION);
  if (api == NULL || api->abi_version != AS_GPU_PLUGIN_ABI_VERSION)
    {
      g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_PLUGIN,
                   "%s was built for another version of AttnScope (plugin interface %d wanted)",
                   path, AS_GPU_PLUGIN_ABI_VERSION);
      g_module_close (module);
      g_mutex_unlock (&plugin_lock);
      return NULL;
    }
  /* CUDA libraries do not like being unloaded; keep it for the process. */
  g_module_make_resident (module);
  plugin_api = api;
  g_free (plugin_api_path);
  plugin_api_path = g_strdup (path);
  g_mutex_unlock (&plugin_lock);
  return api;
}

/* Maps a plugin status to the error domain, prefixed with what it means. */
static void
set_status_error (GError      **error,
                  AsGpuStatus   status,
                  const char   *detail)
{
  AsGpuError code;
  const char *what;
  switch (status)
    {
    case AS_GPU_STATUS_NO_DRIVER:
      code = AS_GPU_ERROR_NO_DRIVER, what = "no usable NVIDIA driver";
      break;
    case AS_GPU_STATUS_NO_DEVICE:
      code = AS_GPU_ERROR_NO_DEVICE, what = "no usable CUDA device";
      break;
    case AS_GPU_STATUS_OUT_OF_MEMORY:
      code = AS_GPU_ERROR_OUT_OF_MEMORY, what = "not enough GPU memory";
      break;
    default:
      code = AS_GPU_ERROR_FAILED, what = "CUDA error";
      break;
    }
  if (detail != NULL && *detail != '\0')
    g_set_error (error, AS_GPU_ERROR, code, "%s: %s", what, detail);
  else
    g_set_error_literal (error, AS_GPU_ERROR, code, what);
}

char *
as_gpu_probe (int      device_index,
              GError **error)
{
  const AsGpuPluginApi *api = load_plugin (error);
  if (api == NULL)
    return NULL;
  char info[256] = "", msg[AS_GPU_MSG_LEN] = "";
  AsGpuStatus st = api->probe (device_index, info, sizeof info, msg, sizeof msg);
  if (st != AS_GPU_STATUS_OK)
    {
      set_status_error (error, st, msg);
      return NULL;
    }
  return g_strdup (info);
}

/* ------------------------------------------------------------------------ */
/* The GPU backend                                                           */

typedef struct {
  AsBackend             parent;
  const AsGpuPluginApi *api;
  AsGpuEncoder         *encoder;   /* an encoder's; NULL once switched to the CPU */
  AsGpuDecoder         *decoder;   /* a decoder's; NULL once switched to the CPU */
  GPtrArray            *caches;    /* the decoder's live GpuCaches (not owned) */
  AsBackend            *cpu;       /* the CPU backend after a switch */
  char                 *why_cpu;   /* why it switched */
  AsGpuOptions          options;
} GpuBackend;

/* A key/value cache of as-decode.h: on the GPU, or after a switch the CPU
 * backend's. */
typedef struct {
  int           capacity;
  AsGpuKvCache *gpu;    /* NULL on the CPU */
  gpointer      cpu;    /* the CPU backend's cache, made when first needed */
  gboolean      lost;   /* the GPU's was dropped with a prompt in it */
} GpuCache;

static const AsBackendVTable gpu_vtable;
static const AsBackendVTable switched_vtable;
static const AsBackendVTable gpu_decoder_vtable;
static const AsBackendVTable switched_decoder_vtable;

typedef struct {
  const AsForwardRequest *req;
  int                     delivered;
} Trampoline;

static int
trampoline_layer (int          layer,
                  const float *attn,
                  const float *hidden,
                  void        *user_data)
{
  Trampoline *t = user_data;
  t->delivered++;
  return t->req->on_layer (layer, attn, hidden, t->req->user_data) ? 1 : 0;
}

static int
trampoline_cancelled (void *user_data)
{
  Trampoline *t = user_data;
  return t->req->cancel != NULL && g_atomic_int_get (t->req->cancel) != 0;
}

/* The type ids the plugin reads, one per token: REQ's, or for a family
 * without token types (whose type ids nobody checks, and may be NULL) 0s,
 * which pick the zero row its description gives the plugin. *ZEROS gets
 * what to g_free. */
static const int *
plugin_type_ids (const AsModel          *model,
                 const AsForwardRequest *req,
                 int                   **zeros)
{
  if (model->arch->uses_token_types)
    return req->type_ids;
  *zeros = g_new0 (int, req->n);
  return *zeros;
}

/* The GPU failed during a pass: release it and continue on the CPU for good. */
static void
switch_to_cpu (GpuBackend  *self,
               AsGpuStatus  status,
               const char  *detail)
{
  g_autoptr(GError) why = NULL;
  set_status_error (&why, status, detail);
  if (self->encoder != NULL)
    {
      self->api->close (self->encoder);
      self->encoder = NULL;
      self->parent.vtable = &switched_vtable;
    }
  if (self->decoder != NULL)
    {
      /* Caches go with the device: a decoder that had a prompt in one
       * starts again from its prompt, on the CPU. */
      for (guint i = 0; i < self->caches->len; i++)
        {
          GpuCache *c = g_ptr_array_index (self->caches, i);
          if (c->gpu != NULL)
            {
              self->api->cache_free (self->decoder, c->gpu);
              c->gpu = NULL;
              c->lost = TRUE;
            }
        }
      self->api->decoder_close (self->decoder);
      self->decoder = NULL;
      self->parent.vtable = &switched_decoder_vtable;
    }
  self->cpu = as_cpu_backend_new (self->parent.model);
  self->why_cpu = g_strdup (why->message);
  g_autofree char *notice = g_strdup_printf ("GPU failed during a pass, switched to the CPU: %s",
                                             why->message);
  if (self->options.on_notice != NULL)
    self->options.on_notice (notice, self->options.notice_data);
  else
    g_message ("%s", notice);
}

static gboolean
status_to_result (AsGpuStatus  status,
                  const char  *detail,
                  GError     **error)
{
  switch (status)
    {
    case AS_GPU_STATUS_OK:
      return TRUE;
    case AS_GPU_STATUS_CANCELLED:
      g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED, "cancelled");
      return FALSE;
    case AS_GPU_STATUS_STOPPED:
      g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED, "stopped by the caller");
      return FALSE;
    default:
      set_status_error (error, status, detail);
      return FALSE;
    }
}

/* The plugin runs every head as it is. */
static gboolean
check_no_ablation (const AsForwardRequest *req,
                   GError                **error)
{
  if (req->n_ablate == 0)
    return TRUE;
  g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                       "the GPU does not ablate heads: run the ablation on the CPU");
  return FALSE;
}

static gboolean
gpu_forward (AsBackend              *backend,
             const AsForwardRequest *req,
             float                  *final_hidden,
             GError                **error)
{
  GpuBackend *self = (GpuBackend *) backend;
  if (self->cpu != NULL)
    return as_backend_forward (self->cpu, req, final_hidden, error);
  if (!as_backend_check_request (backend->model, req, error))
    return FALSE;
  if (!check_no_ablation (req, error))
    return FALSE;

  Trampoline t = { req, 0 };
  g_autofree int *zeros = NULL;
  AsGpuRun run = {
    .ids = req->ids, .type_ids = plugin_type_ids (backend->model, req, &zeros), .n = req->n,
    .causal_mask = req->causal_mask != FALSE, .want_hidden = req->want_hidden != FALSE,
    .last_layer = backend->model->config->n_layers - 1,
    .on_layer = req->on_layer != NULL ? trampoline_layer : NULL,
    .cancelled = trampoline_cancelled, .user_data = &t,
    .final_hidden = final_hidden,
  };
  char msg[AS_GPU_MSG_LEN] = "";
  AsGpuStatus st = self->api->run (self->encoder, &run, msg, sizeof msg);
  if (st == AS_GPU_STATUS_OK || st == AS_GPU_STATUS_CANCELLED || st == AS_GPU_STATUS_STOPPED)
    return status_to_result (st, msg, error);

  switch_to_cpu (self, st, msg);
  if (t.delivered == 0)
    return as_backend_forward (self->cpu, req, final_hidden, error);
  /* The caller already has some layers: let it decide to run again. */
  g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_FAILED,
               "the GPU failed after %d layer%s (%s); switched to the CPU: run the request again",
               t.delivered, t.delivered == 1 ? "" : "s", self->why_cpu);
  return FALSE;
}

static gboolean
gpu_layer_qkv (AsBackend              *backend,
               const AsForwardRequest *req,
               int                     layer,
               float                  *q,
               float                  *k,
               float                  *v,
               GError                **error)
{
  GpuBackend *self = (GpuBackend *) backend;
  if (self->cpu != NULL)
    return as_backend_layer_qkv (self->cpu, req, layer, q, k, v, error);
  if (!as_backend_check_request (backend->model, req, error) ||
      !check_no_ablation (req, error))
    return FALSE;

  Trampoline t = { req, 0 };
  g_autofree int *zeros = NULL;
  AsGpuRun run = {
    .ids = req->ids, .type_ids = plugin_type_ids (backend->model, req, &zeros), .n = req->n,
    .causal_mask = req->causal_mask != FALSE,
    .last_layer = layer, .qkv_only = 1,
    .cancelled = trampoline_cancelled, .user_data = &t,
    .q = q, .k = k, .v = v,
  };
  char msg[AS_GPU_MSG_LEN] = "";
  AsGpuStatus st = self->api->run (self->encoder, &run, msg, sizeof msg);
  if (st == AS_GPU_STATUS_OK || st == AS_GPU_STATUS_CANCELLED || st == AS_GPU_STATUS_STOPPED)
    return status_to_result (st, msg, error);
  /* Nothing was handed over: the CPU can always redo it. */
  switch_to_cpu (self, st, msg);
  return as_backend_layer_qkv (self->cpu, req, layer, q, k, v, error);
}

static char *
gpu_describe (AsBackend *backend)
{
  GpuBackend *self = (GpuBackend *) backend;
  if (self->cpu != NULL)
    {
      g_autofree char *cpu = as_backend_describe (self->cpu);
      return g_strdup_printf ("%s (switched from the GPU: %s)", cpu, self->why_cpu);
    }
  char buf[512] = "";
  if (self->decoder != NULL)
    self->api->decoder_describe (self->decoder, buf, sizeof buf);
  else
    self->api->describe (self->encoder, buf, sizeof buf);
  return g_strdup (buf);
}

static void
gpu_free (AsBackend *backend)
{
  GpuBackend *self = (GpuBackend *) backend;
  if (self->encoder != NULL)
    self->api->close (self->encoder);
  if (self->decoder != NULL)
    {
      /* Decoders still open on this backend lose their caches' device memory. */
      for (guint i = 0; i < self->caches->len; i++)
        {
          GpuCache *c = g_ptr_array_index (self->caches, i);
          self->api->cache_free (self->decoder, c->gpu);
          c->gpu = NULL;
        }
      self->api->decoder_close (self->decoder);
    }
  if (self->caches != NULL)
    g_ptr_array_unref (self->caches);
  as_backend_free (self->cpu);
  g_free (self->why_cpu);
  g_free (self);
}

static const AsBackendVTable gpu_vtable = {
  .name = "cuda",
  .forward = gpu_forward,
  .layer_qkv = gpu_layer_qkv,
  .describe = gpu_describe,
  .free = gpu_free,
};

/* After a switch the backend is a CPU one in all but its allocation. */
static const AsBackendVTable switched_vtable = {
  .name = "cpu",
  .forward = gpu_forward,
  .layer_qkv = gpu_layer_qkv,
  .describe = gpu_describe,
  .free = gpu_free,
};

/* ------------------------------------------------------------------------ */
/* Decoders                                                                  */

/* A step's callbacks and cancel flag, behind the plugin's one user_data. */
typedef struct {
  AsRowFunc   on_row;
  gpointer    user_data;
  const gint *cancel;
} StepTrampoline;

static int
step_on_row (int          layer,
             const float *row,
             int          n_ctx,
             void        *user_data)
{
  StepTrampoline *t = user_data;
  return t->on_row (layer, row, n_ctx, t->user_data) ? 1 : 0;
}

static int
step_cancelled (void *user_data)
{
  StepTrampoline *t = user_data;
  return t->cancel != NULL && g_atomic_int_get (t->cancel) != 0;
}

/* The plugin's prompt for REQ (no cache, all layers); the caller sets the rest. */
static AsGpuPrompt
prompt_of (const AsForwardRequest *req,
           Trampoline             *t)
{
  AsGpuPrompt p = {
    .ids = req->ids, .n = req->n, .want_hidden = req->want_hidden != FALSE, .qkv_layer = -1,
    .on_layer = req->on_layer != NULL ? trampoline_layer : NULL,
    .cancelled = trampoline_cancelled, .user_data = t,
  };
  return p;
}

/* A prompt pass failed on the GPU with ST: on the CPU for good from now on.
 * TRUE when the caller should redo the request there (nothing was handed
 * over yet); else ERROR says to run it again. */
static gboolean
prompt_failed (GpuBackend  *self,
               AsGpuStatus  st,
               const char  *msg,
               int          delivered,
               GError     **error)
{
  switch_to_cpu (self, st, msg);
  if (delivered == 0)
    return TRUE;
  g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_FAILED,
               "the GPU failed after %d layer%s (%s); switched to the CPU: run the request again",
               delivered, delivered == 1 ? "" : "s", self->why_cpu);
  return FALSE;
}

static gboolean
gpu_decoder_forward (AsBackend              *backend,
                     const AsForwardRequest *req,
                     float                  *final_hidden,
                     GError                **error)
{
  GpuBackend *self = (GpuBackend *) backend;
  if (self->cpu != NULL)
    return as_backend_forward (self->cpu, req, final_hidden, error);
  if (!as_backend_check_request (backend->model, req, error) ||
      !check_no_ablation (req, error))
    return FALSE;
  Trampoline t = { req, 0 };
  AsGpuPrompt p = prompt_of (req, &t);
  p.final_hidden = final_hidden;
  char msg[AS_GPU_MSG_LEN] = "";
  AsGpuStatus st = self->api->decoder_prompt (self->decoder, &p, msg, sizeof msg);
  if (st == AS_GPU_STATUS_OK || st == AS_GPU_STATUS_CANCELLED || st == AS_GPU_STATUS_STOPPED)
    return status_to_result (st, msg, error);
  if (!prompt_failed (self, st, msg, t.delivered, error))
    return FALSE;
  return as_backend_forward (self->cpu, req, final_hidden, error);
}

static gboolean
gpu_decoder_layer_qkv (AsBackend              *backend,
                       const AsForwardRequest *req,
                       int                     layer,
                       float                  *q,
                       float                  *k,
                       float                  *v,
                       GError                **error)
{
  GpuBackend *self = (GpuBackend *) backend;
  if (self->cpu != NULL)
    return as_backend_layer_qkv (self->cpu, req, layer, q, k, v, error);
  if (!as_backend_check_request (backend->model, req, error) ||
      !check_no_ablation (req, error))
    return FALSE;
  Trampoline t = { req, 0 };
  AsGpuPrompt p = prompt_of (req, &t);
  p.on_layer = NULL;
  p.qkv_layer = layer;
  p.q = q, p.k = k, p.v = v;
  char msg[AS_GPU_MSG_LEN] = "";
  AsGpuStatus st = self->api->decoder_prompt (self->decoder, &p, msg, sizeof msg);
  if (st == AS_GPU_STATUS_OK || st == AS_GPU_STATUS_CANCELLED || st == AS_GPU_STATUS_STOPPED)
    return status_to_result (st, msg, error);
  /* Nothing was handed over: the CPU can always redo it. */
  switch_to_cpu (self, st, msg);
  return as_backend_layer_qkv (self->cpu, req, layer, q, k, v, error);
}

/* C's cache on the CPU backend, made when first needed. */
static gboolean
cpu_cache (GpuBackend  *self,
           GpuCache    *c,
           GError     **error)
{
  if (c->cpu == NULL)
    c->cpu = self->cpu->vtable->decode_new (self->cpu, c->capacity, error);
  return c->cpu != NULL;
}

static gpointer
gpu_decode_new (AsBackend *backend,
                int        capacity,
                GError   **error)
{
  GpuBackend *self = (GpuBackend *) backend;
  GpuCache *c = g_new0 (GpuCache, 1);
  c->capacity = capacity;
  if (self->cpu == NULL)
    {
      char msg[AS_GPU_MSG_LEN] = "";
      AsGpuStatus st = self->api->cache_new (self->decoder, capacity, &c->gpu, msg, sizeof msg);
      if (st != AS_GPU_STATUS_OK)
        switch_to_cpu (self, st, msg);
    }
  if (self->cpu != NULL && !cpu_cache (self, c, error))
    {
      g_free (c);
      return NULL;
    }
  g_ptr_array_add (self->caches, c);
  return c;
}

static void
gpu_decode_free (AsBackend *backend,
                 gpointer   cache)
{
  GpuBackend *self = (GpuBackend *) backend;
  GpuCache *c = cache;
  if (c->gpu != NULL)
    self->api->cache_free (self->decoder, c->gpu);
  if (c->cpu != NULL)
    self->cpu->vtable->decode_free (self->cpu, c->cpu);
  g_ptr_array_remove_fast (self->caches, c);
  g_free (c);
}

static gboolean
gpu_decode_prompt (AsBackend              *backend,
                   gpointer                cache,
                   const AsForwardRequest *req,
                   float                  *final_hidden,
                   GError                **error)
{
  GpuBackend *self = (GpuBackend *) backend;
  GpuCache *c = cache;
  if (c->gpu != NULL)
    {
      if (!as_backend_check_request (backend->model, req, error) ||
          !check_no_ablation (req, error))
        return FALSE;
      const int H = backend->model->config->hidden;
      g_autofree float *all = g_try_new (float, (gsize) req->n * H);   /* [n, H] */
      if (all == NULL)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                       "the final hidden states of %d tokens do not fit in memory", req->n);
          return FALSE;
        }
      Trampoline t = { req, 0 };
      AsGpuPrompt p = prompt_of (req, &t);
      p.cache = c->gpu;
      p.final_hidden = all;
      char msg[AS_GPU_MSG_LEN] = "";
      AsGpuStatus st = self->api->decoder_prompt (self->decoder, &p, msg, sizeof msg);
      if (st == AS_GPU_STATUS_OK)
        memcpy (final_hidden, all + (gsize) (req->n - 1) * H, sizeof (float) * H);
      if (st == AS_GPU_STATUS_OK || st == AS_GPU_STATUS_CANCELLED || st == AS_GPU_STATUS_STOPPED)
        return status_to_result (st, msg, error);
      if (!prompt_failed (self, st, msg, t.delivered, error))
        return FALSE;
    }
  /* On the CPU: a cache that lost its prompt with the GPU starts afresh. */
  c->lost = FALSE;
  return cpu_cache (self, c, error) &&
         self->cpu->vtable->decode_prompt (self->cpu, c->cpu, req, final_hidden, error);
}

static gboolean
gpu_decode_step (AsBackend   *backend,
                 gpointer     cache,
                 int          token,
                 AsRowFunc    on_row,
                 gpointer     user_data,
                 const gint  *cancel,
                 float       *final_hidden,
                 GError     **error)
{
  GpuBackend *self = (GpuBackend *) backend;
  GpuCache *c = cache;
  if (c->lost)
    {
      g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_FAILED,
                   "this decoder's key/value cache was on the GPU, which failed (%s); "
                   "switched to the CPU: run the prompt again", self->why_cpu);
      return FALSE;
    }
  if (c->gpu == NULL)
    return cpu_cache (self, c, error) &&
           self->cpu->vtable->decode_step (self->cpu, c->cpu, token, on_row, user_data,
                                           cancel, final_hidden, error);
  if (token < 0 || token >= backend->model->config->vocab_size)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "token id %d out of range (vocab %d)", token,
                   backend->model->config->vocab_size);
      return FALSE;
    }
  StepTrampoline t = { on_row, user_data, cancel };
  AsGpuStep s = {
    .token = token, .on_row = on_row != NULL ? step_on_row : NULL,
    .cancelled = step_cancelled, .user_data = &t, .final_hidden = final_hidden,
  };
  char msg[AS_GPU_MSG_LEN] = "";
  AsGpuStatus st = self->api->decoder_step (self->decoder, c->gpu, &s, msg, sizeof msg);
  if (st == AS_GPU_STATUS_OK || st == AS_GPU_STATUS_CANCELLED || st == AS_GPU_STATUS_STOPPED)
    return status_to_result (st, msg, error);
  switch_to_cpu (self, st, msg);
  g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_FAILED,
               "the GPU failed during a decoding step (%s); switched to the CPU: run the "
               "prompt again", self->why_cpu);
  return FALSE;
}

static const AsBackendVTable gpu_decoder_vtable = {
  .name = "cuda",
  .forward = gpu_decoder_forward,
  .layer_qkv = gpu_decoder_layer_qkv,
  .decode_new = gpu_decode_new,
  .decode_prompt = gpu_decode_prompt,
  .decode_step = gpu_decode_step,
  .decode_free = gpu_decode_free,
  .describe = gpu_describe,
  .free = gpu_free,
};

/* After a switch: the CPU's, through the same functions, which check. */
static const AsBackendVTable switched_decoder_vtable = {
  .name = "cpu",
  .forward = gpu_decoder_forward,
  .layer_qkv = gpu_decoder_layer_qkv,
  .decode_new = gpu_decode_new,
  .decode_prompt = gpu_decode_prompt,
  .decode_step = gpu_decode_step,
  .decode_free = gpu_decode_free,
  .describe = gpu_describe,
  .free = gpu_free,
};

static AsBackend *
gpu_decoder_backend_new (const AsModel         *model,
                         const AsGpuPluginApi  *api,
                         const AsGpuOptions    *options,
                         GError               **error)
{
  if (options->precision != AS_PRECISION_FP32 && options->precision != AS_PRECISION_TF32)
    {
      g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_PLUGIN,
                   "the GPU plugin runs %s models in fp32 or tf32, not %s", model->arch->name,
                   as_precision_to_string (options->precision));
      return NULL;
    }
  AsGpuDecoderDesc desc;
  g_autofree gpointer layers = NULL;
  model->arch->gpu_describe_decoder (model, &desc, &layers);
  AsGpuDecoder *decoder = NULL;
  char msg[AS_GPU_MSG_LEN] = "";
  AsGpuStatus st = api->decoder_open (&desc, (AsGpuPrecision) options->precision,
                                      options->device_index, &decoder, msg, sizeof msg);
  if (st != AS_GPU_STATUS_OK)
    {
      set_status_error (error, st, msg);
      return NULL;
    }
  GpuBackend *self = g_new0 (GpuBackend, 1);
  self->parent.vtable = &gpu_decoder_vtable;
  self->parent.model = model;
  self->api = api;
  self->decoder = decoder;
  self->caches = g_ptr_array_new ();
  self->options = *options;
  return &self->parent;
}

gboolean
as_backend_is_gpu (AsBackend *backend)
{
  return backend != NULL &&
         (backend->vtable == &gpu_vtable || backend->vtable == &gpu_decoder_vtable);
}

AsBackend *
as_gpu_backend_new (const AsModel       *model,
                    const AsGpuOptions  *options,
                    GError             **error)
{
  AsGpuOptions defaults;
  if (options == NULL)
    {
      as_gpu_options_init (&defaults);
      options = &defaults;
    }
  const AsGpuPluginApi *api = load_plugin (error);
  if (api == NULL)
    return NULL;

  if (model->arch->gpu_describe_decoder != NULL)
    return gpu_decoder_backend_new (model, api, options, error);
  /* The plugin's encoder runs the families whose architecture describes
   * their weights in its layout. */
  if (model->arch->gpu_describe == NULL)
    {
      g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_PLUGIN,
                   "the GPU plugin does not run %s models", model->arch->name);
      return NULL;
    }
  AsGpuModelDesc desc;
  g_autofree gpointer layers = NULL;
  model->arch->gpu_describe (model, &desc, &layers);

  AsGpuEncoder *encoder = NULL;
  char msg[AS_GPU_MSG_LEN] = "";
  AsGpuStatus st = api->open (&desc, (AsGpuPrecision) options->precision, options->device_index,
                              &encoder, msg, sizeof msg);
  if (st != AS_GPU_STATUS_OK)
    {
      set_status_error (error, st, msg);
      return NULL;
    }
  GpuBackend *self = g_new0 (GpuBackend, 1);
  self->parent.vtable = &gpu_vtable;
  self->parent.model = model;
  self->api = api;
  self->encoder = encoder;
  self->options = *options;
  return &self->parent;
}

AsBackend *
as_backend_open (const AsModel       *model,
                 AsDevice             device,
                 const AsGpuOptions  *options,
                 char               **notice,
                 GError             **error)
{
  if (notice != NULL)
    *notice = NULL;
  switch (device)
    {
    case AS_DEVICE_CPU:
      return as_cpu_backend_new (model);
    case AS_DEVICE_AUTO:
    case AS_DEVICE_GPU:
      {
        g_autoptr(GError) why = NULL;
        AsBackend *gpu = as_gpu_backend_new (model, options, &why);
        if (gpu != NULL)
          return gpu;
        /* A forced failure is a test of the fallback itself: it falls back. */
        if (as_gpu_required () && g_getenv (AS_GPU_FORCE_FAIL_ENV) == NULL)
          {
            g_set_error (error, AS_GPU_ERROR, why->code,
                         "no usable GPU, and %s is set: %s", AS_REQUIRE_GPU_ENV, why->message);
            return NULL;
          }
        if (notice != NULL)
          *notice = g_strdup_printf ("GPU unavailable, using the CPU: %s", why->message);
        return as_cpu_backend_new (model);
      }
    default:
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "unknown device %d (auto, cpu or gpu)", (int) device);
      return NULL;
    }
}

/* ------------------------------------------------------------------------ */
/* Measuring what a precision costs                                          */

gboolean
as_backend_compare (AsBackend   *reference,
                    AsBackend   *candidate,
                    const int   *ids,
                    const int   *type_ids,
                    int          n,
                    double      *max_attn_diff,
                    double      *max_hidden_diff,
                    GError     **error)
{
  AsAnalysis *a = as_attention_compute_ids (reference, ids, type_ids, n, error);
  if (a == NULL)
    return FALSE;
  AsAnalysis *b = as_attention_compute_ids (candidate, ids, type_ids, n, error);
  if (b == NULL)
    {
      as_analysis_unref (a);
      return FALSE;
    }
  double attn = 0, hidden = 0;
  gsize n_attn = (gsize) a->n_layers * a->n_heads * a->n * a->n;
  for (gsize i = 0; i < n_attn; i++)
    attn = MAX (attn, fabs ((double) a->attn[i] - b->attn[i]));
  gsize n_hidden = (gsize) a->n * a->hidden;
  for (gsize i = 0; i < n_hidden; i++)
    hidden = MAX (hidden, fabs ((double) a->final_hidden[i] - b->final_hidden[i]));
  if (max_attn_diff != NULL)
    *max_attn_diff = attn;
  if (max_hidden_diff != NULL)
    *max_hidden_diff = hidden;
  as_analysis_unref (a);
  as_analysis_unref (b);
  return TRUE;
}

gboolean
as_gpu_measure_deviation (const AsModel       *model,
                          const AsGpuOptions  *options,
                          const int           *ids,
                          const int           *type_ids,
                          int                  n,
                          double              *max_attn_diff,
                          double              *max_hidden_diff,
                          GError             **error)
{
  AsBackend *gpu = as_gpu_backend_new (model, options, error);
  if (gpu == NULL)
    return FALSE;
  AsBackend *cpu = as_cpu_backend_new (model);
  gboolean ok = as_backend_compare (cpu, gpu, ids, type_ids, n, max_attn_diff, max_hidden_diff, error);
  if (ok && !as_backend_is_gpu (gpu))
    {
      /* It switched to the CPU during the pass: the numbers say nothing. */
      g_autofree char *what = as_backend_describe (gpu);
      g_set_error (error, AS_GPU_ERROR, AS_GPU_ERROR_FAILED, "%s", what);
      ok = FALSE;
    }
  as_backend_free (cpu);
  as_backend_free (gpu);
  return ok;
}
