/* as-cli.c — attnscope-cli: the engine from the command line, no GTK. */
#include "as-cli.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "as-build-config.h"
#include "as-gpu-loader.h"

static GOptionEntry common_entries[] = {
  { "model", 'm', 0, G_OPTION_ARG_FILENAME, NULL, "Model folder (config.json, model.safetensors, tokenizer)", "DIR" },
  { "pair", 0, 0, G_OPTION_ARG_STRING, NULL, "Second sentence (pair mode)", "TEXT2" },
  { "text-file", 0, 0, G_OPTION_ARG_FILENAME, NULL, "Read sentence A from FILE (- for stdin)", "FILE" },
  { "device", 0, 0, G_OPTION_ARG_STRING, NULL, "auto, cpu or gpu (default auto)", "DEVICE" },
  { "output", 'o', 0, G_OPTION_ARG_FILENAME, NULL, "Write to FILE instead of stdout", "FILE" },
  { "format", 'f', 0, G_OPTION_ARG_STRING, NULL, "Output format", "FORMAT" },
  { "precision", 0, 0, G_OPTION_ARG_STRING, NULL,
    "GPU arithmetic: fp32 (default, matches the CPU within 1e-5), tf32, fp16 or bf16; "
    "the deviation from fp32 is measured and printed", "PRECISION" },
  { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, NULL, NULL, "TEXT" },
  { NULL }
};

GOptionGroup *
as_cli_common_group (AsCliCommon *common)
{
  GOptionGroup *group = g_option_group_new ("common", "Model options", "Model options", NULL, NULL);
  GOptionEntry *entries = g_memdup2 (common_entries, sizeof common_entries);
  entries[0].arg_data = &common->model_dir;
  entries[1].arg_data = &common->pair;
  entries[2].arg_data = &common->text_file;
  entries[3].arg_data = &common->device;
  entries[4].arg_data = &common->output;
  entries[5].arg_data = &common->format;
  entries[6].arg_data = &common->precision;
  entries[7].arg_data = &common->rest;
  g_option_group_add_entries (group, entries);
  g_free (entries);
  return group;
}

void
as_cli_common_clear (AsCliCommon *common)
{
  g_free (common->model_dir);
  g_free (common->pair);
  g_free (common->text_file);
  g_free (common->device);
  g_free (common->output);
  g_free (common->format);
  g_free (common->precision);
  g_strfreev (common->rest);
}

char *
as_cli_common_text (AsCliCommon  *common,
                    GError      **error)
{
  gsize length;
  return as_cli_common_text_len (common, &length, error);
}

char *
as_cli_common_text_len (AsCliCommon  *common,
                        gsize        *length,
                        GError      **error)
{
  if (common->text_file != NULL)
    {
      char *data = NULL;
      gsize len = 0;
      if (g_strcmp0 (common->text_file, "-") == 0)
        {
          GString *s = g_string_new (NULL);
          char buf[65536];
          size_t got;
          while ((got = fread (buf, 1, sizeof buf, stdin)) > 0)
            g_string_append_len (s, buf, (gssize) got);
          *length = s->len;
          return g_string_free (s, FALSE);
        }
      if (!g_file_get_contents (common->text_file, &data, &len, error))
        return NULL;
      *length = len;
      return data;
    }
  if (common->rest == NULL || common->rest[0] == NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "no text given (pass it as arguments or with --text-file)");
      return NULL;
    }
  char *joined = g_strjoinv (" ", common->rest);
  *length = strlen (joined);
  return joined;
}

AsModel *
as_cli_load_model (AsCliCommon  *common,
                   GError      **error)
{
  g_autofree char *dir = common->model_dir ? g_strdup (common->model_dir) : as_model_default_dir ();
  return as_model_load (dir, error);
}

/* Reduced precision is a trade: say what it costs on this model, measured
 * now against fp32 on the GPU, on a sentence everyone can reproduce. */
static void
report_precision_cost (AsModel            *model,
                       AsBackend          *backend,
                       const AsGpuOptions *options)
{
  const char *name = as_precision_to_string (options->precision);
  if (!as_backend_is_gpu (backend))
    {
      g_printerr ("attnscope-cli: note: --precision %s applies to the GPU only; the CPU computes in fp32\n",
                  name);
      return;
    }
  const char *probe = "The animal didn't cross the street because it was too tired.";
  AsEncoding *enc = as_tokenizer_encode (model->tokenizer, probe, NULL, model->config->max_positions);
  g_autofree int *ids = g_new (int, enc->n_tokens);
  g_autofree int *types = g_new (int, enc->n_tokens);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      ids[i] = enc->tokens[i].id;
      types[i] = enc->tokens[i].type_id;
    }
  double attn_diff = 0, hidden_diff = 0;
  g_autoptr(GError) error = NULL;
  if (as_gpu_measure_deviation (model, options, ids, types, enc->n_tokens, &attn_diff, &hidden_diff, &error))
    g_printerr ("attnscope-cli: note: precision %s: largest difference from fp32 on \"%s\": "
                "attention %.2e, final hidden state %.2e\n", name, probe, attn_diff, hidden_diff);
  else
    g_printerr ("attnscope-cli: note: precision %s: could not measure its deviation from fp32: %s\n",
                name, error->message);
  as_encoding_free (enc);
}

AsBackend *
as_cli_open_backend (AsCliCommon  *common,
                     AsModel      *model,
                     GError      **error)
{
  const char *name = common->device ? common->device : "auto";
  AsDevice device;
  if (!as_device_from_string (name, &device))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--device: '%s' is not one of auto, cpu, gpu", name);
      return NULL;
    }
  /* Precision and CUDA device from $ATTNSCOPE_GPU_PRECISION / _DEVICE,
   * --precision over the former. */
  AsGpuOptions options;
  as_gpu_options_init (&options);
  if (common->precision != NULL && !as_precision_from_string (common->precision, &options.precision))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--precision: '%s' is not one of fp32, tf32, fp16, bf16", common->precision);
      return NULL;
    }
  options.on_notice = as_notice_to_stderr;   /* a switch to the CPU during a pass */
  options.notice_data = (gpointer) "attnscope-cli";

  g_autofree char *notice = NULL;
  AsBackend *backend = as_backend_open (model, device, &options, &notice, error);
  /* --device gpu: always say why it is the CPU. auto: only where a CUDA
   * plugin is present (someone meant to use the GPU), not on plain CPU hosts. */
  if (backend != NULL && notice != NULL)
    {
      g_autofree char *plugin = device == AS_DEVICE_AUTO ? as_gpu_plugin_find () : NULL;
      if (device == AS_DEVICE_GPU || plugin != NULL)
        as_notice_to_stderr (notice, (gpointer) "attnscope-cli");
    }
  if (backend != NULL && options.precision != AS_PRECISION_FP32)
    report_precision_cost (model, backend, &options);
  return backend;
}

void
as_cli_report_truncation (const AsEncoding *enc,
                          const AsModel    *model)
{
  if (enc->truncated)
    g_printerr ("attnscope-cli: note: input truncated to the model's %d positions "
                "(%d tokens dropped)\n", model->config->max_positions, enc->n_dropped);
}

static void
usage (void)
{
  g_printerr ("Usage: attnscope-cli COMMAND [OPTIONS] TEXT\n\n"
              "Commands:\n"
              "  tokenize   print tokens, ids and spans\n"
              "  dump       write tokens and every attention matrix (JSON)\n"
              "  export     draw heatmaps to PNG, SVG or PDF\n"
              "  bench      time tokenization and the forward pass\n"
              "  stats      per-head attention statistics over a corpus\n\n"
              "Run 'attnscope-cli COMMAND --help' for a command's options.\n"
              "The model defaults to the downloaded all-MiniLM-L6-v2.\n");
}

int
main (int    argc,
      char **argv)
{
  setlocale (LC_ALL, "");
  setlocale (LC_NUMERIC, "C"); /* JSON and CSV numbers always use a dot */
  if (argc < 2)
    {
      usage ();
      return 2;
    }
  const char *command = argv[1];
  if (g_strcmp0 (command, "tokenize") == 0)
    return as_cli_tokenize (argc - 1, argv + 1);
  if (g_strcmp0 (command, "dump") == 0)
    return as_cli_dump (argc - 1, argv + 1);
  if (g_strcmp0 (command, "bench") == 0)
    return as_cli_bench (argc - 1, argv + 1);
  if (g_strcmp0 (command, "stats") == 0)
    return as_cli_stats (argc - 1, argv + 1);
  if (g_strcmp0 (command, "export") == 0)
    return as_cli_export (argc - 1, argv + 1);
  if (g_strcmp0 (command, "--version") == 0)
    {
      g_print ("attnscope-cli %s\n", AS_VERSION);
      return 0;
    }
  if (g_strcmp0 (command, "--help") == 0 || g_strcmp0 (command, "-h") == 0)
    {
      usage ();
      return 0;
    }
  g_printerr ("attnscope-cli: unknown command '%s'\n", command);
  usage ();
  return 2;
}
