/* attnscope-cli dump — tokens plus every attention matrix, as JSON. */
#include "as-cli.h"

#include <stdio.h>

#include "as-json-writer.h"
#include "as-output-file.h"

typedef struct {
  FILE *out;
  int   n_heads;
  int   n;
} DumpState;

static void
write_tokens (FILE             *out,
              const AsEncoding *enc)
{
  fputs ("  \"tokens\": [\n", out);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      const AsToken *t = &enc->tokens[i];
      fputs ("    {\"text\": ", out);
      as_json_write_string (out, t->text);
      fprintf (out, ", \"id\": %d, \"type_id\": %d, \"sequence\": %d, \"start\": %d, \"end\": %d, "
               "\"special\": %s, \"continuation\": %s}%s\n",
               t->id, t->type_id, t->sequence, t->start, t->end,
               t->is_special ? "true" : "false", t->is_continuation ? "true" : "false",
               i + 1 < enc->n_tokens ? "," : "");
    }
  fputs ("  ],\n", out);
}

/* Streams one layer as it arrives: [heads][rows][cols]. */
static gboolean
write_layer (int          layer,
             const float *attn,
             const float *hidden,
             gpointer     user_data)
{
  DumpState *s = user_data;
  FILE *out = s->out;
  fputs (layer == 0 ? "\n    [" : ",\n    [", out);
  for (int h = 0; h < s->n_heads; h++)
    {
      fputs (h == 0 ? "\n      [" : ",\n      [", out);
      for (int i = 0; i < s->n; i++)
        {
          const float *row = attn + ((gsize) h * s->n + i) * s->n;
          fputs (i == 0 ? "[" : ", [", out);
          for (int j = 0; j < s->n; j++)
            {
              if (j > 0)
                fputs (", ", out);
              as_json_write_float (out, row[j]);
            }
          fputc (']', out);
        }
      fputc (']', out);
    }
  fputs ("]", out);
  return !ferror (out);
}

static gboolean
write_dump (FILE        *out,
            AsBackend   *backend,
            const char  *text,
            const char  *pair,
            AsEncoding  *enc,
            GError     **error)
{
  const AsModel *model = backend->model;
  const AsConfig *c = model->config;

  fputs ("{\n  \"model\": ", out);
  as_json_write_string (out, model->dir);
  fputs (",\n  \"text\": ", out);
  as_json_write_string (out, text);
  fputs (",\n  \"pair\": ", out);
  if (pair != NULL)
    as_json_write_string (out, pair);
  else
    fputs ("null", out);
  fprintf (out, ",\n  \"truncated\": %s,\n  \"n_layers\": %d,\n  \"n_heads\": %d,\n  \"n_tokens\": %d,\n",
           enc->truncated ? "true" : "false", c->n_layers, c->n_heads, enc->n_tokens);
  write_tokens (out, enc);
  fputs ("  \"attention\": [", out);

  int *ids = g_new (int, enc->n_tokens);
  int *types = g_new (int, enc->n_tokens);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      ids[i] = enc->tokens[i].id;
      types[i] = enc->tokens[i].type_id;
    }
  DumpState state = { out, c->n_heads, enc->n_tokens };
  AsForwardRequest req = {
    .ids = ids, .type_ids = types, .n = enc->n_tokens,
    .on_layer = write_layer, .user_data = &state,
  };
  gboolean ok = as_backend_forward (backend, &req, NULL, error);
  g_free (ids);
  g_free (types);
  fputs ("\n  ]\n}\n", out);
  return ok;
}

int
as_cli_dump (int    argc,
             char **argv)
{
  AsCliCommon common = { 0 };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("TEXT — write tokens and all attention matrices");
  g_autoptr(GError) error = NULL;
  g_option_context_set_main_group (ctx, as_cli_common_group (&common));
  g_option_context_set_summary (ctx, "Formats: json (default). Attention is [layer][head][query][key].");

  int status = 1;
  g_autofree char *text = NULL;
  gsize text_len = 0;
  AsModel *model = NULL;
  AsBackend *backend = NULL;
  AsEncoding *enc = NULL;

  if (!g_option_context_parse (ctx, &argc, &argv, &error) ||
      (text = as_cli_common_text_len (&common, &text_len, &error)) == NULL)
    goto out;
  if (common.format != NULL && g_strcmp0 (common.format, "json") != 0)
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--format: '%s' is not supported (json)", common.format);
      goto out;
    }
  if ((model = as_cli_load_model (&common, &error)) == NULL ||
      (backend = as_cli_open_backend (&common, model, &error)) == NULL)
    goto out;

  enc = as_tokenizer_encode_len (model->tokenizer, text, (gssize) text_len, common.pair, -1,
                                 model->config->max_positions);
  as_cli_report_truncation (enc, model);

  AsOutputFile *file = as_output_file_open (common.output, &error);
  if (file == NULL)
    goto out;
  if (!write_dump (as_output_file_stream (file), backend, text, common.pair, enc, &error))
    {
      as_output_file_abort (file);
      goto out;
    }
  if (!as_output_file_commit (file, &error))
    goto out;
  status = 0;

out:
  if (error != NULL)
    g_printerr ("attnscope-cli dump: %s\n", error->message);
  g_clear_pointer (&enc, as_encoding_free);
  as_backend_free (backend);
  as_model_free (model);
  as_cli_common_clear (&common);
  return status;
}
