/* attnscope-cli lens — the logit lens of a decoder: after each layer, the
 * next tokens the model's own head would predict at every position, with
 * their probabilities (model/as-logit-lens.h), as a table or as JSON.
 *
 * Layers count from 1, as in every other command; the last layer's lens is
 * the model's real next-token distribution. A model without a language-model
 * head (an encoder) is refused. --ids runs token ids directly, for a model
 * that has no tokenizer.
 */
#include "as-cli.h"

#include <stdio.h>
#include <string.h>

#include "as-bpe.h"
#include "as-json-writer.h"
#include "as-logit-lens.h"

#define DEFAULT_TOP_K 5

/* The text a token stands for (" cat"), else its vocabulary spelling, else
 * NULL (a model without a tokenizer). g_free. */
static char *
token_label (const AsModel *model,
             int            id)
{
  return model->tokenizer != NULL ? as_tokenizer_id_to_label (model->tokenizer, id) : NULL;
}

/* A token as a quoted string, so leading spaces and newlines show; "#ID"
 * without a label. */
static void
write_token (FILE          *out,
             const AsModel *model,
             int            id)
{
  g_autofree char *label = token_label (model, id);
  if (label != NULL)
    as_json_write_string (out, label);
  else
    fprintf (out, "#%d", id);
}

static void
write_table (FILE              *out,
             const AsModel     *model,
             const AsLogitLens *lens,
             const int         *ids)
{
  for (int l = 0; l < lens->n_layers; l++)
    {
      fprintf (out, "layer %d of %d\n", lens->first + l + 1, model->config->n_layers);
      for (int i = 0; i < lens->n; i++)
        {
          const int *top = as_logit_lens_ids (lens, l, i);       /* [k] */
          const float *p = as_logit_lens_probs (lens, l, i);     /* [k] */
          fprintf (out, "%5d  ", i);
          write_token (out, model, ids[i]);
          fputs ("  ->", out);
          for (int r = 0; r < lens->k; r++)
            {
              fputs ("  ", out);
              write_token (out, model, top[r]);
              fprintf (out, " %.4f", p[r]);
            }
          fputc ('\n', out);
        }
    }
}

static void
write_json (FILE              *out,
            const AsModel     *model,
            const AsLogitLens *lens,
            const int         *ids)
{
  fputs ("{\n  \"model\": ", out);
  as_json_write_string (out, model->dir);
  fprintf (out, ",\n  \"n_layers\": %d,\n  \"n_tokens\": %d,\n  \"k\": %d,\n  \"tokens\": [",
           model->config->n_layers, lens->n, lens->k);
  for (int i = 0; i < lens->n; i++)
    {
      fprintf (out, "%s{\"id\": %d, \"text\": ", i ? ", " : "", ids[i]);
      g_autofree char *label = token_label (model, ids[i]);
      if (label != NULL)
        as_json_write_string (out, label);
      else
        fputs ("null", out);
      fputc ('}', out);
    }
  fputs ("],\n  \"layers\": [\n", out);
  for (int l = 0; l < lens->n_layers; l++)
    {
      fprintf (out, "    {\"layer\": %d, \"positions\": [\n", lens->first + l + 1);
      for (int i = 0; i < lens->n; i++)
        {
          const int *top = as_logit_lens_ids (lens, l, i);       /* [k] */
          const float *p = as_logit_lens_probs (lens, l, i);     /* [k] */
          fputs ("      {\"ids\": [", out);
          for (int r = 0; r < lens->k; r++)
            fprintf (out, "%s%d", r ? ", " : "", top[r]);
          fputs ("], \"probs\": [", out);
          for (int r = 0; r < lens->k; r++)
            {
              if (r)
                fputs (", ", out);
              as_json_write_float (out, p[r]);
            }
          fputs ("], \"texts\": [", out);
          for (int r = 0; r < lens->k; r++)
            {
              if (r)
                fputs (", ", out);
              g_autofree char *label = token_label (model, top[r]);
              if (label != NULL)
                as_json_write_string (out, label);
              else
                fputs ("null", out);
            }
          fprintf (out, "]}%s\n", i + 1 == lens->n ? "" : ",");
        }
      fprintf (out, "    ]}%s\n", l + 1 == lens->n_layers ? "" : ",");
    }
  fputs ("  ]\n}\n", out);
}

int *
as_cli_parse_ids (const char  *list,
                  int         *n,
                  GError     **error)
{
  g_auto(GStrv) parts = g_strsplit (list, ",", -1);
  int count = (int) g_strv_length (parts);
  g_autofree int *ids = g_new (int, MAX (count, 1));   /* [count] */
  for (int i = 0; i < count; i++)
    {
      gint64 v = 0;
      g_autoptr(GError) local = NULL;
      g_strstrip (parts[i]);
      if (!g_ascii_string_to_signed (parts[i], 10, 0, G_MAXINT, &v, &local))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--ids: item %d '%s' is not a token id (a number from 0)", i + 1, parts[i]);
          return NULL;
        }
      ids[i] = (int) v;
    }
  if (count == 0)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--ids: no ids given (e.g. --ids 12,7,40)");
      return NULL;
    }
  *n = count;
  return g_steal_pointer (&ids);
}

/* --layer TEXT (1 .. n_layers) into *LAYER counted from 0; -1 (every layer)
 * when it was not given. */
static gboolean
parse_layer (const char  *text,
             int          n_layers,
             int         *layer,
             GError     **error)
{
  *layer = -1;
  if (text == NULL)
    return TRUE;
  gint64 v = 0;
  if (!g_ascii_string_to_signed (text, 10, 1, n_layers, &v, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--layer: '%s' is not a layer of this model (1 to %d)", text, n_layers);
      return FALSE;
    }
  *layer = (int) v - 1;
  return TRUE;
}

int
as_cli_lens (int    argc,
             char **argv)
{
  static const char *const formats[] = { "table", "json", NULL };
  AsCliCommon common = { 0 };
  int top_k = DEFAULT_TOP_K;
  g_autofree char *layer_text = NULL;
  g_autofree char *ids_text = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "top-k", 'k', 0, G_OPTION_ARG_INT, &top_k,
      "Tokens shown per position (default 5, at most 100)", "K" },
    { "layer", 'l', 0, G_OPTION_ARG_STRING, &layer_text,
      "Only this layer (counted from 1; default: every layer)", "L" },
    { "ids", 0, 0, G_OPTION_ARG_STRING, &ids_text,
      "Run these token ids (comma-separated) instead of a text", "ID,…" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Same as --format json", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx =
    g_option_context_new ("— the logit lens: each layer's next-token predictions");
  GError *error = NULL;
  g_option_context_add_main_entries (ctx, entries, NULL);
  as_cli_add_model_options (ctx, &common);
  as_cli_add_text_options (ctx, &common);
  as_cli_add_output_options (ctx, &common, NULL, "table (default) or json");
  g_option_context_set_summary (ctx,
    "For a decoder (e.g. a Llama GGUF): each layer's output put through the final\n"
    "norm and the output embedding, softmax, and the K most probable next tokens at\n"
    "every position with their probabilities. The last layer is the model's own\n"
    "prediction. Runs on the CPU. Definition: model/as-logit-lens.h.");

  g_autofree char *text = NULL;
  g_autofree int *ids = NULL;
  gsize text_len = 0;
  int n = 0, layer = -1, format;
  AsModel *model = NULL;
  AsBackend *backend = NULL;
  AsOutputFile *file = NULL;
  AsEncoding *enc = NULL;
  AsLogitLens *lens = NULL;

  if (!as_cli_parse (ctx, &common, &argc, &argv, &error) ||
      (format = as_cli_format (&common, formats, &error)) < 0)
    goto out;
  if (json)
    format = 1;
  if (top_k < 1 || top_k > AS_LOGIT_LENS_MAX_K)
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--top-k: %d is out of range (1 to %d)", top_k, AS_LOGIT_LENS_MAX_K);
      goto out;
    }
  if (ids_text != NULL && (common.text_file != NULL || common.pair != NULL ||
                           (common.rest != NULL && common.rest[0] != NULL)))
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "give either --ids or a text, not both");
      goto out;
    }
  if (ids_text != NULL && (ids = as_cli_parse_ids (ids_text, &n, &error)) == NULL)
    goto out;
  if (ids_text == NULL && !as_cli_check_text (&common, &error))
    goto out;
  if ((model = as_cli_load_model (&common, &error)) == NULL ||
      !as_logit_lens_check (model, &error) ||
      !parse_layer (layer_text, model->config->n_layers, &layer, &error))
    goto out;
  if (top_k > model->config->vocab_size)
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--top-k: %d is more than the vocabulary (%d tokens)", top_k,
                   model->config->vocab_size);
      goto out;
    }
  if ((file = as_cli_open_output (&common, model, &error)) == NULL)
    goto out;

  if (ids == NULL)
    {
      if ((text = as_cli_read_text (&common, model, &text_len, &error)) == NULL)
        goto out;
      if (!as_model_check_tokenizer (model, &error))
        {
          g_prefix_error (&error, "no text can be run (pass --ids ID,… instead): ");
          goto out;
        }
      if (!as_tokenizer_check_pair (model->tokenizer, common.pair, &error))
        goto out;
      enc = as_tokenizer_encode_len (model->tokenizer, text, (gssize) text_len, NULL, -1,
                                     model->config->max_positions);
      as_cli_report_truncation (enc, model);
      n = enc->n_tokens;
      if (n == 0)
        {
          g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                               "the text has no tokens");
          goto out;
        }
      ids = g_new (int, n);   /* [n] */
      for (int i = 0; i < n; i++)
        ids[i] = enc->tokens[i].id;
    }

  backend = as_cpu_backend_new (model);
  if ((lens = as_logit_lens_run (backend, ids, n, top_k, layer, NULL, &error)) == NULL)
    goto out;
  FILE *out = as_output_file_stream (file);
  if (format == 1)
    write_json (out, model, lens, ids);
  else
    write_table (out, model, lens, ids);
  as_output_file_commit (g_steal_pointer (&file), &error);

out:
  if (file != NULL)
    as_output_file_abort (file);
  as_logit_lens_free (lens);
  g_clear_pointer (&enc, as_encoding_free);
  as_backend_free (backend);
  as_model_free (model);
  as_cli_common_clear (&common);
  return as_cli_finish ("lens", error);
}
