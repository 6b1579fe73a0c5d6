/* as-cli.c — attnscope-cli: the engine from the command line, no GTK. */
#include "as-cli.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "as-build-config.h"
#include "as-gpu-loader.h"

/* ---- option groups -------------------------------------------------------- */

void
as_cli_add_model_options (GOptionContext *ctx,
                          AsCliCommon    *common)
{
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &common->model_dir,
      "Model folder (config.json, model.safetensors, tokenizer)", "DIR" },
    { NULL }
  };
  g_option_context_add_main_entries (ctx, entries, NULL);
}

void
as_cli_add_text_options (GOptionContext *ctx,
                         AsCliCommon    *common)
{
  const GOptionEntry entries[] = {
    { "pair", 0, 0, G_OPTION_ARG_STRING, &common->pair, "Second sentence (pair mode)", "TEXT2" },
    { "text-file", 0, 0, G_OPTION_ARG_FILENAME, &common->text_file,
      "Read sentence A from FILE (- for stdin) instead of TEXT", "FILE" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &common->rest, NULL, "TEXT" },
    { NULL }
  };
  g_option_context_add_main_entries (ctx, entries, NULL);
}

void
as_cli_add_device_options (GOptionContext *ctx,
                           AsCliCommon    *common)
{
  const GOptionEntry entries[] = {
    { "device", 0, 0, G_OPTION_ARG_STRING, &common->device, "auto (default: the GPU when one works), cpu or gpu", "DEVICE" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &common->precision,
      "GPU arithmetic: fp32 (default, matches the CPU within 1e-5), tf32, fp16 or bf16; "
      "the deviation from fp32 is measured and printed", "PRECISION" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &common->verbose,
      "Say why --device auto did not use the GPU", NULL },
    { NULL }
  };
  g_option_context_add_main_entries (ctx, entries, NULL);
}

void
as_cli_add_output_options (GOptionContext *ctx,
                           AsCliCommon    *common,
                           const char     *output_help,
                           const char     *format_help)
{
  if (output_help == NULL)
    output_help = "Write to FILE (- or none: standard output); it appears whole or not at all";
  const GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &common->output, output_help, "FILE" },
    { "format", 'f', 0, G_OPTION_ARG_STRING, &common->format, format_help, "FORMAT" },
    { NULL }
  };
  g_option_context_add_main_entries (ctx, entries, NULL);
}

void
as_cli_common_clear (AsCliCommon *common)
{
  g_free (common->model_dir);
  g_free (common->pair);
  g_free (common->text_file);
  g_strfreev (common->rest);
  g_free (common->device);
  g_free (common->precision);
  g_free (common->output);
  g_free (common->format);
  g_free (common->ablate);
  g_free (common->ablation);
}

/* ---- parsing and checking --------------------------------------------------- */

gboolean
as_cli_parse (GOptionContext   *ctx,
              AsCliCommon      *common,
              int              *argc,
              char           ***argv,
              GError          **error)
{
  /* --help and GOption's messages name the command as it was typed. */
  g_autofree char *name = g_strdup_printf ("attnscope-cli %s", (*argv)[0]);
  g_set_prgname (name);
  if (!g_option_context_parse (ctx, argc, argv, error))
    return FALSE;
  if (*argc > 1)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "unexpected argument '%s'", (*argv)[1]);
      return FALSE;
    }
  AsDevice device = AS_DEVICE_AUTO;
  AsPrecision precision = AS_PRECISION_FP32;
  if (common->device != NULL && !as_device_from_string (common->device, &device))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--device: '%s' is not one of auto, cpu, gpu", common->device);
      return FALSE;
    }
  if (common->precision != NULL && !as_precision_from_string (common->precision, &precision))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--precision: '%s' is not one of fp32, tf32, fp16, bf16", common->precision);
      return FALSE;
    }
  if (device == AS_DEVICE_CPU && precision != AS_PRECISION_FP32)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--precision %s applies to the GPU only, not --device cpu", common->precision);
      return FALSE;
    }
  GError *local = NULL;
  if (!as_attention_budget_validate (&local))
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, local->message);
      g_error_free (local);
      return FALSE;
    }
  return TRUE;
}

int
as_cli_format (const AsCliCommon  *common,
               const char * const *formats,
               GError            **error)
{
  if (common->format == NULL)
    return 0;
  for (int i = 0; formats[i] != NULL; i++)
    if (strcmp (common->format, formats[i]) == 0)
      return i;
  g_autofree char *list = g_strjoinv (", ", (char **) formats);
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "--format: '%s' is not one of %s", common->format, list);
  return -1;
}

gboolean
as_cli_check_text (const AsCliCommon  *common,
                   GError            **error)
{
  gboolean words = common->rest != NULL && common->rest[0] != NULL;
  if (words && common->text_file != NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "give the text once: as arguments or with --text-file, not both");
      return FALSE;
    }
  if (!words && common->text_file == NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "no text given (pass it as arguments or with --text-file)");
      return FALSE;
    }
  return TRUE;
}

/* ---- reading the text ------------------------------------------------------- */

/* Text past what the model can use is never read, so input size cannot
 * exhaust memory. Sentence A keeps at most max_positions tokens; 2 KiB per
 * position is far more than real text spends per token (the whitespace,
 * control characters and NULs the tokenizer drops included). */
static gsize
text_cap (const AsModel *model)
{
  return MAX ((gsize) 1 << 20, (gsize) model->config->max_positions * 2048);
}

/* LEN, moved back to the start of a UTF-8 sequence that would cross it. */
static gsize
utf8_boundary (const char *s,
               gsize       len)
{
  for (gsize back = 1; back <= 3 && back <= len; back++)
    {
      unsigned char c = (unsigned char) s[len - back];
      if ((c & 0xc0) == 0x80)
        continue;
      gsize need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
      return need > back ? len - back : len;
    }
  return len;
}

char *
as_cli_read_capped (const char  *path,
             gsize        cap,
             gsize       *length,
             gboolean    *cut,
             GError     **error)
{
  gboolean from_stdin = strcmp (path, "-") == 0;
  const char *name = from_stdin ? "standard input" : path;
  int fd = from_stdin ? STDIN_FILENO : open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  int code = fd < 0 ? errno : fstat (fd, &st) != 0 ? errno : S_ISDIR (st.st_mode) ? EISDIR : 0;
  if (code != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (code),
                   "cannot read %s: %s", name, g_strerror (code));
      if (fd >= 0 && !from_stdin)
        close (fd);
      return NULL;
    }

  /* One byte past the cap tells whether the text goes on. */
  gsize want = cap + 1;
  gsize alloc = S_ISREG (st.st_mode) && st.st_size > 0 ? MIN (want, (gsize) st.st_size + 1) : MIN (want, 65536);
  char *buf = g_malloc (alloc + 1);
  gsize len = 0;
  while (len < want)
    {
      if (len == alloc)
        {
          alloc = MIN (want, alloc * 2);
          buf = g_realloc (buf, alloc + 1);
        }
      ssize_t n = read (fd, buf + len, alloc - len);
      if (n == 0)
        break;
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          code = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (code),
                       "cannot read %s: %s", name, g_strerror (code));
          g_free (buf);
          buf = NULL;
          break;
        }
      len += (gsize) n;
    }
  if (!from_stdin)
    close (fd);
  if (buf == NULL)
    return NULL;
  *cut = len > cap;
  if (*cut)
    len = utf8_boundary (buf, cap);
  buf[len] = '\0';
  *length = len;
  return buf;
}

char *
as_cli_read_text (const AsCliCommon  *common,
                  const AsModel      *model,
                  gsize              *length,
                  GError            **error)
{
  gsize cap = text_cap (model);
  gboolean cut = FALSE;
  char *text;
  if (common->text_file != NULL)
    {
      if ((text = as_cli_read_capped (common->text_file, cap, length, &cut, error)) == NULL)
        return NULL;
    }
  else
    {
      text = g_strjoinv (" ", common->rest);
      *length = strlen (text);
      if (*length > cap)
        {
          cut = TRUE;
          *length = utf8_boundary (text, cap);
          text[*length] = '\0';
        }
    }
  if (cut)
    g_printerr ("attnscope-cli: note: text cut at %" G_GSIZE_FORMAT " bytes, more than the model's "
                "%d positions can use\n", *length, model->config->max_positions);
  return text;
}

/* ---- model, backend, output ------------------------------------------------- */

AsModel *
as_cli_load_model (const AsCliCommon  *common,
                   GError            **error)
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
  if (model->tokenizer == NULL)
    {
      /* A GGUF file whose tokenizer could not be built runs on ids only. */
      g_printerr ("attnscope-cli: note: precision %s: its deviation from fp32 is measured on "
                  "text, and this model has no tokenizer\n", name);
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
as_cli_open_backend (const AsCliCommon  *common,
                     AsModel            *model,
                     GError            **error)
{
  /* The names were checked by as_cli_parse. */
  AsDevice device = AS_DEVICE_AUTO;
  if (common->device != NULL)
    as_device_from_string (common->device, &device);
  /* the GPU plugin does not ablate heads (as-ablation.h) */
  if (common->ablate != NULL)
    {
      if (device == AS_DEVICE_GPU)
        g_printerr ("attnscope-cli: note: --ablate runs on the CPU\n");
      return as_cpu_backend_new (model);
    }
  /* Precision and CUDA device from $ATTNSCOPE_GPU_PRECISION / _DEVICE,
   * --precision over the former. */
  AsGpuOptions options;
  as_gpu_options_init (&options);
  if (common->precision != NULL)
    as_precision_from_string (common->precision, &options.precision);
  options.on_notice = as_notice_to_stderr;   /* a switch to the CPU during a pass */
  options.notice_data = (gpointer) "attnscope-cli";

  g_autofree char *notice = NULL;
  AsBackend *backend = as_backend_open (model, device, &options, &notice, error);
  /* --device gpu: always say why it is the CPU. auto: the CPU is a normal
   * outcome there, so only with --verbose. */
  if (backend != NULL && notice != NULL && (device == AS_DEVICE_GPU || common->verbose))
    as_notice_to_stderr (notice, (gpointer) "attnscope-cli");
  if (backend != NULL && options.precision != AS_PRECISION_FP32)
    report_precision_cost (model, backend, &options);
  return backend;
}

AsOutputFile *
as_cli_open_output (const AsCliCommon  *common,
                    const AsModel      *model,
                    GError            **error)
{
  g_auto(GStrv) model_files = model != NULL ? as_model_list_files (model) : NULL;
  return as_output_file_open (common->output, (const char * const *) model_files, error);
}

void
as_cli_report_truncation (const AsEncoding *enc,
                          const AsModel    *model)
{
  if (enc->truncated)
    g_printerr ("attnscope-cli: note: input truncated to the model's %d positions "
                "(%d tokens dropped)\n", model->config->max_positions, enc->n_dropped);
}

int
as_cli_finish (const char *command,
               GError     *error)
{
  if (error == NULL)
    return 0;
  gboolean usage = error->domain == G_OPTION_ERROR;
  g_printerr ("attnscope-cli: error: %s\n", error->message);
  if (usage)
    g_printerr ("Try 'attnscope-cli %s --help' for more information.\n", command);
  g_error_free (error);
  return usage ? 2 : 1;
}

/* ---- main ------------------------------------------------------------------- */

static void
usage (FILE *out)
{
  fputs ("Usage: attnscope-cli COMMAND [OPTIONS] [TEXT]\n\n"
         "Commands:\n"
         "  tokenize   print tokens, ids and spans (table or JSON)\n"
         "  dump       write tokens and every attention matrix (JSON or .npy)\n"
         "  export     draw heatmaps to PNG, SVG or PDF\n"
         "  bench      time tokenization and the forward pass\n"
         "  stats      per-head attention statistics over a corpus\n"
         "  generate   continue a text with a decoder, token by token\n"
         "  lens       a decoder's next-token predictions after each layer\n"
         "  fill       an encoder's predictions for masked tokens ([MASK])\n"
         "  ablate     switch attention heads off and measure the effect\n\n"
         "Run 'attnscope-cli COMMAND --help' for a command's options.\n"
         "The model defaults to the downloaded all-MiniLM-L6-v2.\n"
         "Exit status: 0 on success, 1 when the work failed, 2 for a usage error.\n", out);
}

int
main (int    argc,
      char **argv)
{
  setlocale (LC_ALL, "");
  setlocale (LC_NUMERIC, "C"); /* JSON and CSV numbers always use a dot */
  /* A reader that goes away (`| head`) is a write error with a message and
   * exit status 1, never a death by SIGPIPE. */
  signal (SIGPIPE, SIG_IGN);
  if (argc < 2)
    {
      usage (stderr);
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
  if (g_strcmp0 (command, "generate") == 0)
    return as_cli_generate (argc - 1, argv + 1);
  if (g_strcmp0 (command, "lens") == 0)
    return as_cli_lens (argc - 1, argv + 1);
  if (g_strcmp0 (command, "fill") == 0)
    return as_cli_fill (argc - 1, argv + 1);
  if (g_strcmp0 (command, "ablate") == 0)
    return as_cli_ablate (argc - 1, argv + 1);
  if (g_strcmp0 (command, "--version") == 0)
    {
      g_print ("attnscope-cli %s\n", AS_VERSION);
      return 0;
    }
  if (g_strcmp0 (command, "--help") == 0 || g_strcmp0 (command, "-h") == 0)
    {
      usage (stdout);
      return 0;
    }
  g_printerr ("attnscope-cli: error: unknown command '%s'\n", command);
  usage (stderr);
  return 2;
}
