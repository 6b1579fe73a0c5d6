/* attnscope-cli fill — masked-token predictions of an encoder with a
 * masked-LM head (model/as-mlm-head.h): for each [MASK] in the text, or the
 * token --mask-position replaces with [MASK], the K most probable tokens
 * and their probabilities, as a table or as JSON.
 *
 * Positions count the tokens of the encoded input from 0 ([CLS] is 0), as
 * `attnscope-cli tokenize` lists them. A model without the head is refused.
 */
#include "as-cli.h"

#include <stdio.h>
#include <string.h>

#include "as-error.h"
#include "as-json-writer.h"
#include "as-mlm-head.h"

#define DEFAULT_TOP_K 10

/* One masked position and its predictions. */
typedef struct {
  int             position;
  AsMlmPrediction top[AS_MLM_MAX_K];
} Filled;

static void
write_label (FILE          *out,
             const AsModel *model,
             int            id)
{
  g_autofree char *label = as_tokenizer_id_to_label (model->tokenizer, id);
  if (label != NULL)
    as_json_write_string (out, label);
  else
    fprintf (out, "#%d", id);
}

static void
write_table (FILE          *out,
             const AsModel *model,
             const Filled  *filled,
             int            n_filled,
             int            k)
{
  for (int m = 0; m < n_filled; m++)
    {
      fprintf (out, "%sposition %d\n", m ? "\n" : "", filled[m].position);
      for (int r = 0; r < k; r++)
        {
          fprintf (out, "%4d  %.4f  ", r + 1, filled[m].top[r].prob);
          write_label (out, model, filled[m].top[r].id);
          fputc ('\n', out);
        }
    }
}

static void
write_json (FILE             *out,
            const AsModel    *model,
            const AsEncoding *enc,
            const int        *ids,
            const Filled     *filled,
            int               n_filled,
            int               k)
{
  fputs ("{\n  \"model\": ", out);
  as_json_write_string (out, model->dir);
  fprintf (out, ",\n  \"k\": %d,\n  \"tokens\": [", k);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      fprintf (out, "%s{\"id\": %d, \"text\": ", i ? ", " : "", ids[i]);
      g_autofree char *label = as_tokenizer_id_to_label (model->tokenizer, ids[i]);
      if (label != NULL)
        as_json_write_string (out, label);
      else
        fputs ("null", out);
      fputc ('}', out);
    }
  fputs ("],\n  \"masks\": [\n", out);
  for (int m = 0; m < n_filled; m++)
    {
      fprintf (out, "    {\"position\": %d, \"predictions\": [", filled[m].position);
      for (int r = 0; r < k; r++)
        {
          fprintf (out, "%s{\"id\": %d, \"text\": ", r ? ", " : "", filled[m].top[r].id);
          g_autofree char *label = as_tokenizer_id_to_label (model->tokenizer, filled[m].top[r].id);
          if (label != NULL)
            as_json_write_string (out, label);
          else
            fputs ("null", out);
          fputs (", \"prob\": ", out);
          as_json_write_float (out, filled[m].top[r].prob);
          fputc ('}', out);
        }
      fprintf (out, "]}%s\n", m + 1 == n_filled ? "" : ",");
    }
  fputs ("  ]\n}\n", out);
}

/* The positions to predict into POSITIONS [n]: --mask-position (its token
 * replaced in IDS by the mask id), else every [MASK] of the text. */
static int
choose_positions (const AsModel    *model,
                  const AsEncoding *enc,
                  int               mask_position,
                  int              *ids,
                  int              *positions,
                  GError          **error)
{
  const int n = enc->n_tokens;
  const int mask = as_mlm_mask_id (model);
  if (mask < 0)
    {
      g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                           "the tokenizer has no [MASK] token");
      return -1;
    }
  if (mask_position == G_MININT)
    {
      int found = as_mlm_mask_positions (model, ids, n, positions);
      if (found == 0)
        g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                             "the text has no [MASK] token (write [MASK] where a word is "
                             "to be predicted, or pass --mask-position N)");
      return found == 0 ? -1 : found;
    }
  if (mask_position < 0 || mask_position >= n || enc->tokens[mask_position].sequence < 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--mask-position: %d is not a token of the text (the input has %d tokens, "
                   "counted from 0; [CLS] and [SEP] cannot be masked)", mask_position, n);
      return -1;
    }
  ids[mask_position] = mask;
  positions[0] = mask_position;
  return 1;
}

int
as_cli_fill (int    argc,
             char **argv)
{
  static const char *const formats[] = { "table", "json", NULL };
  AsCliCommon common = { 0 };
  int top_k = DEFAULT_TOP_K;
  int mask_position = G_MININT;   /* unset */
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "top-k", 'k', 0, G_OPTION_ARG_INT, &top_k,
      "Predictions shown per mask (default 10, at most 100)", "K" },
    { "mask-position", 'p', 0, G_OPTION_ARG_INT, &mask_position,
      "Mask the token at this position (0 is [CLS]) instead of [MASK]s in the text", "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Same as --format json", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx =
    g_option_context_new ("— an encoder's predictions for masked tokens");
  GError *error = NULL;
  g_option_context_add_main_entries (ctx, entries, NULL);
  as_cli_add_model_options (ctx, &common);
  as_cli_add_text_options (ctx, &common);
  as_cli_add_output_options (ctx, &common, NULL, "table (default) or json");
  g_option_context_set_summary (ctx,
    "For an encoder saved with its masked-LM head (e.g. bert-base-uncased): the\n"
    "K most probable tokens at each [MASK] of the text, with their probabilities.\n"
    "  attnscope-cli fill -m MODEL \"The capital of France is [MASK].\"\n"
    "Runs on the CPU. Definition: model/as-mlm-head.h.");

  g_autofree char *text = NULL;
  g_autofree int *ids = NULL;
  g_autofree int *positions = NULL;
  g_autofree int *type_ids = NULL;
  g_autofree Filled *filled = NULL;
  g_autofree float *hidden = NULL;
  gsize text_len = 0;
  int n = 0, n_filled = 0, format;
  AsModel *model = NULL;
  AsBackend *backend = NULL;
  AsOutputFile *file = NULL;
  AsEncoding *enc = NULL;

  if (!as_cli_parse (ctx, &common, &argc, &argv, &error) ||
      (format = as_cli_format (&common, formats, &error)) < 0)
    goto out;
  if (json)
    format = 1;
  if (top_k < 1 || top_k > AS_MLM_MAX_K)
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--top-k: %d is out of range (1 to %d)", top_k, AS_MLM_MAX_K);
      goto out;
    }
  if (!as_cli_check_text (&common, &error) ||
      (model = as_cli_load_model (&common, &error)) == NULL ||
      !as_mlm_head_check (model, &error) ||
      !as_model_check_tokenizer (model, &error))
    goto out;
  if (top_k > model->config->vocab_size)
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--top-k: %d is more than the vocabulary (%d tokens)", top_k,
                   model->config->vocab_size);
      goto out;
    }
  if ((text = as_cli_read_text (&common, model, &text_len, &error)) == NULL ||
      !as_tokenizer_check_pair (model->tokenizer, common.pair, &error))
    goto out;
  enc = as_tokenizer_encode_len (model->tokenizer, text, (gssize) text_len, common.pair, -1,
                                 model->config->max_positions);
  as_cli_report_truncation (enc, model);
  n = enc->n_tokens;
  ids = g_new (int, MAX (n, 1));         /* [n] */
  positions = g_new (int, MAX (n, 1));   /* [n] */
  for (int i = 0; i < n; i++)
    ids[i] = enc->tokens[i].id;
  if ((n_filled = choose_positions (model, enc, mask_position, ids, positions, &error)) < 0)
    goto out;
  if ((file = as_cli_open_output (&common, model, &error)) == NULL)
    goto out;

  type_ids = g_new (int, n);   /* [n] */
  for (int i = 0; i < n; i++)
    type_ids[i] = enc->tokens[i].type_id;
  hidden = g_new (float, (gsize) n * model->config->hidden);   /* [n, H] */
  backend = as_cpu_backend_new (model);
  AsForwardRequest req = { .ids = ids, .type_ids = type_ids, .n = n };
  if (!as_backend_forward (backend, &req, hidden, &error))
    goto out;
  filled = g_new (Filled, n_filled);
  for (int m = 0; m < n_filled; m++)
    {
      filled[m].position = positions[m];
      if (!as_mlm_head_predict (model, hidden, n, positions[m], top_k, filled[m].top, &error))
        goto out;
    }
  FILE *out = as_output_file_stream (file);
  if (format == 1)
    write_json (out, model, enc, ids, filled, n_filled, top_k);
  else
    write_table (out, model, filled, n_filled, top_k);
  as_output_file_commit (g_steal_pointer (&file), &error);

out:
  if (file != NULL)
    as_output_file_abort (file);
  g_clear_pointer (&enc, as_encoding_free);
  as_backend_free (backend);
  as_model_free (model);
  as_cli_common_clear (&common);
  return as_cli_finish ("fill", error);
}
