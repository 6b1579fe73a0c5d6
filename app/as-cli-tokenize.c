/* attnscope-cli tokenize — tokens as the model sees them, with ids and spans,
 * as a table or as JSON. */
#include "as-cli.h"

#include <stdio.h>

#include "as-json-writer.h"

/* One line per token: index, token, id, type id, and the input it covers. */
/* S with its control characters written as C escapes: a byte-level BPE
 * token can be a newline or a tab, which would break the table's lines. */
static char *
table_safe (const char *s)
{
  GString *out = g_string_new (NULL);
  for (const guchar *p = (const guchar *) s; *p != '\0'; p++)
    if (*p == '\n')
      g_string_append (out, "\\n");
    else if (*p == '\t')
      g_string_append (out, "\\t");
    else if (*p < 0x20 || *p == 0x7f)
      g_string_append_printf (out, "\\x%02x", *p);
    else
      g_string_append_c (out, (char) *p);
  return g_string_free (out, FALSE);
}

static void
print_token (FILE          *out,
             const AsToken *t,
             int            index,
             const char    *text_a,
             const char    *text_b)
{
  const char *source = t->sequence == 1 ? text_b : text_a;
  g_autofree char *label = table_safe (t->text);
  if (t->start < 0 || source == NULL)
    {
      fprintf (out, "%4d  %-16s %6d  %d\n", index, label, t->id, t->type_id);
      return;
    }
  g_autofree char *raw = g_strndup (source + t->start, t->end - t->start);
  g_autofree char *valid = g_utf8_make_valid (raw, -1);
  g_autofree char *span = table_safe (valid);
  fprintf (out, "%4d  %-16s %6d  %d  %c[%d,%d) \"%s\"\n", index, label, t->id, t->type_id,
           t->sequence == 1 ? 'B' : 'A', t->start, t->end, span);
}

static void
write_table (FILE             *out,
             const AsEncoding *enc,
             const char       *text,
             const char       *pair)
{
  for (int i = 0; i < enc->n_tokens; i++)
    print_token (out, &enc->tokens[i], i, text, pair);
  fprintf (out, "%d tokens\n", enc->n_tokens);
}

static void
write_json (FILE             *out,
            const AsModel    *model,
            const AsEncoding *enc,
            const char       *text,
            gsize             text_len,
            const char       *pair)
{
  fputs ("{\n  \"model\": ", out);
  as_json_write_string (out, model->dir);
  fputs (",\n  \"text\": ", out);
  as_json_write_string_len (out, text, (gssize) text_len);
  fputs (",\n  \"pair\": ", out);
  if (pair != NULL)
    as_json_write_string (out, pair);
  else
    fputs ("null", out);
  fprintf (out, ",\n  \"truncated\": %s,\n  \"n_tokens\": %d,\n",
           enc->truncated ? "true" : "false", enc->n_tokens);
  as_json_write_tokens (out, enc);
  fprintf (out, "  \"max_positions\": %d\n}\n", model->config->max_positions);
}

int
as_cli_tokenize (int    argc,
                 char **argv)
{
  static const char *const formats[] = { "table", "json", NULL };
  AsCliCommon common = { 0 };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("— print tokens, ids and byte spans");
  GError *error = NULL;
  as_cli_add_model_options (ctx, &common);
  as_cli_add_text_options (ctx, &common);
  as_cli_add_output_options (ctx, &common, NULL, "table (default) or json (tokens, ids, type ids, byte spans)");

  g_autofree char *text = NULL;
  gsize text_len = 0;
  AsModel *model = NULL;
  AsOutputFile *file = NULL;
  AsEncoding *enc = NULL;
  int format;

  if (!as_cli_parse (ctx, &common, &argc, &argv, &error) ||
      (format = as_cli_format (&common, formats, &error)) < 0 ||
      !as_cli_check_text (&common, &error) ||
      (model = as_cli_load_model (&common, &error)) == NULL ||
      (file = as_cli_open_output (&common, model, &error)) == NULL ||
      (text = as_cli_read_text (&common, model, &text_len, &error)) == NULL)
    goto out;
  if (!as_model_check_tokenizer (model, &error) ||
      !as_tokenizer_check_pair (model->tokenizer, common.pair, &error))
    goto out;

  enc = as_tokenizer_encode_len (model->tokenizer, text, (gssize) text_len, common.pair, -1,
                                 model->config->max_positions);
  as_cli_report_truncation (enc, model);
  FILE *out = as_output_file_stream (file);
  if (format == 1)
    write_json (out, model, enc, text, text_len, common.pair);
  else
    write_table (out, enc, text, common.pair);
  as_output_file_commit (g_steal_pointer (&file), &error);

out:
  if (file != NULL)
    as_output_file_abort (file);
  g_clear_pointer (&enc, as_encoding_free);
  as_model_free (model);
  as_cli_common_clear (&common);
  return as_cli_finish ("tokenize", error);
}
