/* as-cli.h — pieces shared by attnscope-cli's subcommands. */
#pragma once

#include <glib.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-model.h"

G_BEGIN_DECLS

/* Options every subcommand that runs a model takes. */
typedef struct {
  char  *model_dir;
  char  *pair;        /* --pair TEXT2 */
  char  *text_file;   /* --text-file FILE (A from a file, "-" = stdin) */
  char  *device;      /* auto | cpu | gpu */
  char  *output;      /* -o FILE, default "-" */
  char  *format;
  char  *precision;   /* fp32 | tf32 | fp16 | bf16 (GPU only) */
  char **rest;        /* positional words: the text */
} AsCliCommon;

GOptionGroup *as_cli_common_group     (AsCliCommon  *common);
void          as_cli_common_clear     (AsCliCommon  *common);
/* The text: positional words joined by spaces, or --text-file. */
char         *as_cli_common_text      (AsCliCommon  *common,
                                       GError      **error);
/* Same, and LENGTH gets its byte length: a file may hold NUL bytes, which
 * the tokenizer drops (as HF does) instead of stopping there. */
char         *as_cli_common_text_len  (AsCliCommon  *common,
                                       gsize        *length,
                                       GError      **error);
AsModel      *as_cli_load_model       (AsCliCommon  *common,
                                       GError      **error);
AsBackend    *as_cli_open_backend     (AsCliCommon  *common,
                                       AsModel      *model,
                                       GError      **error);
/* Tells the user on stderr that the input was truncated, if it was. */
void          as_cli_report_truncation (const AsEncoding *enc,
                                        const AsModel    *model);

int as_cli_tokenize (int argc, char **argv);
int as_cli_dump     (int argc, char **argv);
int as_cli_bench    (int argc, char **argv);
int as_cli_stats    (int argc, char **argv);
int as_cli_export   (int argc, char **argv);

G_END_DECLS
