/* as-cli.h — pieces shared by attnscope-cli's subcommands.
 *
 * Options come in small groups (model, text, device, output) and each
 * command adds only the groups it honours, so its --help lists only what it
 * does and anything else is an unknown option. Usage errors (G_OPTION_ERROR)
 * exit 2, every other failure 1, as GNU tools do.
 */
#pragma once

#include <glib.h>

#include "as-ablation.h"
#include "as-attention.h"
#include "as-backend.h"
#include "as-model.h"
#include "as-output-file.h"

G_BEGIN_DECLS

typedef struct {
  char     *model_dir;   /* model:  --model DIR */
  char     *pair;        /* text:   --pair TEXT2 */
  char     *text_file;   /*         --text-file FILE ("-" = stdin) */
  char    **rest;        /*         positional words: the text */
  char     *device;      /* device: auto | cpu | gpu */
  char     *precision;   /*         fp32 | tf32 | fp16 | bf16 (GPU only) */
  gboolean  verbose;     /*         say why --device auto ended on the CPU */
  char     *output;      /* output: -o FILE, default standard output */
  char     *format;      /*         --format, one of the command's */
  char     *ablate;      /* ablation: --ablate L:H[:MODE],… */
  AsHeadAblation *ablation;   /* [n_ablation] parsed by as_cli_load_ablation */
  int       n_ablation;
} AsCliCommon;

void          as_cli_add_model_options  (GOptionContext *ctx,
                                         AsCliCommon    *common);
void          as_cli_add_text_options   (GOptionContext *ctx,
                                         AsCliCommon    *common);
void          as_cli_add_device_options (GOptionContext *ctx,
                                         AsCliCommon    *common);
/* OUTPUT_HELP describes -o (NULL: standard output unless given);
 * FORMAT_HELP --format's values, e.g. "json (default) or npy". */
void          as_cli_add_output_options (GOptionContext *ctx,
                                         AsCliCommon    *common,
                                         const char     *output_help,
                                         const char     *format_help);
void          as_cli_common_clear       (AsCliCommon    *common);

/* Parses the command line and checks COMMON's values (device, precision);
 * arguments no option took are an error, and so is an invalid
 * $ATTNSCOPE_MAX_ATTENTION_MB. */
gboolean      as_cli_parse              (GOptionContext  *ctx,
                                         AsCliCommon     *common,
                                         int             *argc,
                                         char          ***argv,
                                         GError         **error);
/* The index of --format in FORMATS (NULL-terminated; unset: 0). */
int           as_cli_format             (const AsCliCommon  *common,
                                         const char * const *formats,
                                         GError            **error);
/* A usage error unless the text was given exactly once (words or --text-file). */
gboolean      as_cli_check_text         (const AsCliCommon  *common,
                                         GError            **error);
/* The text of sentence A, read with a byte cap the model can use (see
 * as-cli.c); *LENGTH gets its length, which may include NUL bytes. */
char         *as_cli_read_text          (const AsCliCommon  *common,
                                         const AsModel      *model,
                                         gsize              *length,
                                         GError            **error);

/* Reads PATH ("-": stdin; a FIFO works too) up to CAP bytes, cut back to
 * a UTF-8 boundary when there was more (*CUT). NUL-terminated. */
char         *as_cli_read_capped        (const char         *path,
                                         gsize               cap,
                                         gsize              *length,
                                         gboolean           *cut,
                                         GError            **error);

AsModel      *as_cli_load_model         (const AsCliCommon  *common,
                                         GError            **error);
AsBackend    *as_cli_open_backend       (const AsCliCommon  *common,
                                         AsModel            *model,
                                         GError            **error);
/* -o (or standard output), refusing the files MODEL was loaded from. */
AsOutputFile *as_cli_open_output        (const AsCliCommon  *common,
                                         const AsModel      *model,
                                         GError            **error);
/* Tells the user on stderr that the input was truncated, if it was. */
void          as_cli_report_truncation  (const AsEncoding   *enc,
                                         const AsModel      *model);
/* Prints ERROR (if any) as "attnscope-cli: error: …" and returns the exit
 * status: 0 without an error, 2 for usage errors, else 1. Frees ERROR. */
int           as_cli_finish             (const char         *command,
                                         GError             *error);

/* --ablate (as-cli-ablate.c); a command that adds it runs on the CPU
 * (as_cli_open_backend) and puts common->ablation in its requests. */
void          as_cli_add_ablation_options (GOptionContext *ctx,
                                           AsCliCommon    *common);
/* Parses --ablate, if given, for MODEL into common->ablation. */
gboolean      as_cli_load_ablation      (AsCliCommon        *common,
                                         const AsModel      *model,
                                         GError            **error);
/* "1,2, 3" into a new array of *N token ids (g_free); a usage error names
 * the first item that is not an id. */
int          *as_cli_parse_ids          (const char         *list,
                                         int                *n,
                                         GError            **error);

int as_cli_tokenize (int argc, char **argv);
int as_cli_dump     (int argc, char **argv);
int as_cli_bench    (int argc, char **argv);
int as_cli_stats    (int argc, char **argv);
int as_cli_export   (int argc, char **argv);
int as_cli_generate (int argc, char **argv);
int as_cli_lens     (int argc, char **argv);
int as_cli_fill     (int argc, char **argv);
int as_cli_ablate   (int argc, char **argv);

G_END_DECLS
