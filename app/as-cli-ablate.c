/* attnscope-cli ablate — switch heads off and see what changes
 * (model/as-ablation.h): with --ablate, the effect of those heads together;
 * with --rank-heads, each head of a layer (or of every layer) ablated
 * alone, ranked by its effect. A decoder is measured by its next-token
 * distribution at the last token (KL divergence, the most likely tokens
 * before and after), an encoder by its sentence embedding (cosine of the
 * mean-pooled last hidden state). Layers and heads count from 1.
 *
 * The --ablate option group, shared with dump and stats, is here too.
 */
#include "as-cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "as-ablation.h"
#include "as-json-writer.h"

#define DEFAULT_TOP_K 5

/* ---- the --ablate option of every command that runs the model ------------ */

void
as_cli_add_ablation_options (GOptionContext *ctx,
                             AsCliCommon    *common)
{
  const GOptionEntry entries[] = {
    { "ablate", 0, 0, G_OPTION_ARG_STRING, &common->ablate,
      "Switch heads off: LAYER:HEAD[:zero|uniform|mean], comma-separated, from 1 "
      "(zero: the head outputs 0; uniform or mean: its pattern is replaced). Runs on the CPU",
      "L:H[:MODE],…" },
    { NULL }
  };
  g_option_context_add_main_entries (ctx, entries, NULL);
}

gboolean
as_cli_load_ablation (AsCliCommon    *common,
                      const AsModel  *model,
                      GError        **error)
{
  if (common->ablate == NULL)
    return TRUE;
  GError *local = NULL;
  common->ablation = as_ablation_parse (model, common->ablate, &common->n_ablation, &local);
  if (common->ablation != NULL)
    return TRUE;
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--ablate: %s", local->message);
  g_error_free (local);
  return FALSE;
}

/* ---- the command ---------------------------------------------------------- */

/* A token as a quoted string, "#ID" without a tokenizer. */
static void
write_token (FILE          *out,
             const AsModel *model,
             int            id)
{
  g_autofree char *label = model->tokenizer != NULL
                             ? as_tokenizer_id_to_label (model->tokenizer, id) : NULL;
  if (label != NULL)
    as_json_write_string (out, label);
  else
    fprintf (out, "#%d", id);
}

/* A token for JSON: its text, or null. */
static void
write_json_token (FILE          *out,
                  const AsModel *model,
                  int            id)
{
  g_autofree char *label = model->tokenizer != NULL
                             ? as_tokenizer_id_to_label (model->tokenizer, id) : NULL;
  if (label != NULL)
    as_json_write_string (out, label);
  else
    fputs ("null", out);
}

static void
write_effect_table (FILE                   *out,
                    const AsModel          *model,
                    const char             *spec,
                    const AsAblationEffect *e)
{
  fprintf (out, "ablated: %s\n", spec);
  if (!e->next_token)
    {
      fprintf (out, "sentence embedding (mean of the last hidden state): cosine before/after %.6f\n",
               e->cosine);
      return;
    }
  fprintf (out, "next token: KL(before || after) %.6g nats\n", e->kl);
  fprintf (out, "%-24s %10s %10s\n", "token", "before", "after");
  for (int i = 0; i < e->n_top; i++)
    {
      char *buf = NULL;
      gsize len = 0;
      FILE *mem = open_memstream (&buf, &len);
      write_token (mem, model, e->top_ids[i]);
      fclose (mem);
      fprintf (out, "%-24s %10.4f %10.4f\n", buf, e->p_before[i], e->p_after[i]);
      free (buf);
    }
  fputs ("most likely after: ", out);
  write_token (out, model, e->argmax_after);
  fprintf (out, " %.4f\n", e->p_argmax_after);
}

static void
write_effect_json (FILE                   *out,
                   const AsModel          *model,
                   const AsHeadAblation   *ablate,
                   int                     n_ablate,
                   const AsAblationEffect *e)
{
  fputs ("{\n  \"model\": ", out);
  as_json_write_string (out, model->dir);
  fputs (",\n  \"ablated\": [", out);
  for (int i = 0; i < n_ablate; i++)
    fprintf (out, "%s{\"layer\": %d, \"head\": %d, \"mode\": \"%s\"}", i ? ", " : "",
             ablate[i].layer + 1, ablate[i].head + 1, as_ablate_mode_to_string (ablate[i].mode));
  fputs ("],\n", out);
  if (!e->next_token)
    {
      fputs ("  \"measure\": \"embedding\",\n  \"cosine\": ", out);
      as_json_write_float (out, (float) e->cosine);
      fputs ("\n}\n", out);
      return;
    }
  fputs ("  \"measure\": \"next-token\",\n  \"kl\": ", out);
  as_json_write_float (out, (float) e->kl);
  fputs (",\n  \"top\": [", out);
  for (int i = 0; i < e->n_top; i++)
    {
      fprintf (out, "%s\n    {\"id\": %d, \"text\": ", i ? "," : "", e->top_ids[i]);
      write_json_token (out, model, e->top_ids[i]);
      fputs (", \"before\": ", out);
      as_json_write_float (out, e->p_before[i]);
      fputs (", \"after\": ", out);
      as_json_write_float (out, e->p_after[i]);
      fputc ('}', out);
    }
  fprintf (out, "\n  ],\n  \"argmax_after\": {\"id\": %d, \"text\": ", e->argmax_after);
  write_json_token (out, model, e->argmax_after);
  fputs (", \"p\": ", out);
  as_json_write_float (out, e->p_argmax_after);
  fputs ("}\n}\n", out);
}

static void
write_rank_table (FILE          *out,
                  const AsModel *model,
                  const GArray  *rows,
                  AsAblateMode   mode)
{
  const gboolean next_token = rows->len > 0 &&
                              g_array_index (rows, AsHeadRank, 0).argmax_after >= 0;
  fprintf (out, "heads ablated one at a time (%s), largest effect first\n",
           as_ablate_mode_to_string (mode));
  if (next_token)
    fprintf (out, "%4s %5s %4s %12s  %s\n", "rank", "layer", "head", "KL (nats)", "most likely after");
  else
    fprintf (out, "%4s %5s %4s %12s %10s\n", "rank", "layer", "head", "1 - cosine", "cosine");
  for (guint i = 0; i < rows->len; i++)
    {
      const AsHeadRank *r = &g_array_index (rows, AsHeadRank, i);
      fprintf (out, "%4u %5d %4d %12.6g", i + 1, r->layer + 1, r->head + 1, r->score);
      if (next_token)
        {
          fputs ("  ", out);
          write_token (out, model, r->argmax_after);
        }
      else
        fprintf (out, " %10.6f", r->cosine);
      fputc ('\n', out);
    }
}

static void
write_rank_json (FILE          *out,
                 const AsModel *model,
                 const GArray  *rows,
                 AsAblateMode   mode)
{
  fputs ("{\n  \"model\": ", out);
  as_json_write_string (out, model->dir);
  fprintf (out, ",\n  \"mode\": \"%s\",\n  \"heads\": [", as_ablate_mode_to_string (mode));
  for (guint i = 0; i < rows->len; i++)
    {
      const AsHeadRank *r = &g_array_index (rows, AsHeadRank, i);
      fprintf (out, "%s\n    {\"rank\": %u, \"layer\": %d, \"head\": %d, \"score\": ",
               i ? "," : "", i + 1, r->layer + 1, r->head + 1);
      as_json_write_float (out, (float) r->score);
      if (r->argmax_after >= 0)
        {
          fputs (", \"kl\": ", out);
          as_json_write_float (out, (float) r->kl);
          fprintf (out, ", \"argmax_after\": {\"id\": %d, \"text\": ", r->argmax_after);
          write_json_token (out, model, r->argmax_after);
          fputc ('}', out);
        }
      else
        {
          fputs (", \"cosine\": ", out);
          as_json_write_float (out, (float) r->cosine);
        }
      fputc ('}', out);
    }
  fputs ("\n  ]\n}\n", out);
}

/* --rank-heads TEXT: a layer from 1 into *LAYER from 0, or "all" (-1). */
static gboolean
parse_rank_layer (const char  *text,
                  int          n_layers,
                  int         *layer,
                  GError     **error)
{
  gint64 v = 0;
  if (g_strcmp0 (text, "all") == 0)
    {
      *layer = -1;
      return TRUE;
    }
  if (!g_ascii_string_to_signed (text, 10, 1, n_layers, &v, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--rank-heads: '%s' is neither 'all' nor a layer of this model (1 to %d)",
                   text, n_layers);
      return FALSE;
    }
  *layer = (int) v - 1;
  return TRUE;
}

/* Progress on standard error when it is a terminal. */
static gboolean
report_progress (int      done,
                 int      total,
                 gpointer user_data)
{
  if (*(gboolean *) user_data)
    g_printerr ("\rattnscope-cli ablate: %d of %d heads%s", done, total, done == total ? "\n" : "");
  return TRUE;
}

/* The token ids of the text (or --ids) into *IDS, *TYPES [*N]. */
static gboolean
input_ids (AsCliCommon   *common,
           const AsModel *model,
           const char    *ids_text,
           int          **ids,
           int          **types,
           int           *n,
           GError       **error)
{
  if (ids_text != NULL)
    {
      if ((*ids = as_cli_parse_ids (ids_text, n, error)) == NULL)
        return FALSE;
      *types = g_new0 (int, *n);
      return TRUE;
    }
  gsize text_len = 0;
  g_autofree char *text = as_cli_read_text (common, model, &text_len, error);
  if (text == NULL || !as_model_check_tokenizer (model, error) ||
      !as_tokenizer_check_pair (model->tokenizer, common->pair, error))
    return FALSE;
  AsEncoding *enc = as_tokenizer_encode_len (model->tokenizer, text, (gssize) text_len,
                                             common->pair, -1, model->config->max_positions);
  as_cli_report_truncation (enc, model);
  *n = enc->n_tokens;
  *ids = g_new (int, MAX (*n, 1));
  *types = g_new0 (int, MAX (*n, 1));
  for (int i = 0; i < *n; i++)
    {
      (*ids)[i] = enc->tokens[i].id;
      (*types)[i] = enc->tokens[i].type_id;
    }
  as_encoding_free (enc);
  if (*n == 0)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "the text has no tokens");
      return FALSE;
    }
  return TRUE;
}

int
as_cli_ablate (int    argc,
               char **argv)
{
  static const char *const formats[] = { "table", "json", NULL };
  AsCliCommon common = { 0 };
  int top_k = DEFAULT_TOP_K;
  g_autofree char *rank_text = NULL;
  g_autofree char *mode_text = NULL;
  g_autofree char *ids_text = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "rank-heads", 0, 0, G_OPTION_ARG_STRING, &rank_text,
      "Ablate each head of LAYER (from 1, or all) alone and rank them by effect", "LAYER|all" },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &mode_text,
      "How --rank-heads ablates: zero (default), uniform or mean", "MODE" },
    { "top-k", 'k', 0, G_OPTION_ARG_INT, &top_k,
      "Next tokens shown before and after (default 5, at most 50)", "K" },
    { "ids", 0, 0, G_OPTION_ARG_STRING, &ids_text,
      "Run these token ids (comma-separated) instead of a text", "ID,…" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Same as --format json", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("— switch heads off and measure the effect");
  GError *error = NULL;
  g_option_context_add_main_entries (ctx, entries, NULL);
  as_cli_add_model_options (ctx, &common);
  as_cli_add_text_options (ctx, &common);
  as_cli_add_ablation_options (ctx, &common);
  as_cli_add_output_options (ctx, &common, NULL, "table (default) or json");
  g_option_context_set_summary (ctx,
    "With --ablate: the effect of switching those heads off together. With\n"
    "--rank-heads: every head of a layer (or of all layers) switched off alone,\n"
    "largest effect first. A decoder's effect is the KL divergence of its\n"
    "next-token distribution at the last token; an encoder's is the cosine between\n"
    "its sentence embeddings (mean of the last hidden state). Runs on the CPU.\n"
    "Definitions: model/as-ablation.h.");

  g_autofree int *ids = NULL, *types = NULL;
  int n = 0, format, layer = -1;
  AsAblateMode mode = AS_ABLATE_ZERO;
  AsModel *model = NULL;
  AsBackend *backend = NULL;
  AsOutputFile *file = NULL;
  GArray *rows = NULL;

  if (!as_cli_parse (ctx, &common, &argc, &argv, &error) ||
      (format = as_cli_format (&common, formats, &error)) < 0)
    goto out;
  if (json)
    format = 1;
  if ((common.ablate == NULL) == (rank_text == NULL))
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "give either --ablate L:H[:MODE],… or --rank-heads LAYER|all");
      goto out;
    }
  if (mode_text != NULL && (rank_text == NULL ||
                            (mode = as_ablate_mode_from_string (mode_text)) == AS_ABLATE_NONE))
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   rank_text == NULL ? "--mode '%s' goes with --rank-heads (in --ablate, write L:H:MODE)"
                                     : "--mode: '%s' is not one of zero, uniform, mean", mode_text);
      goto out;
    }
  if (top_k < 0 || top_k > AS_ABLATION_MAX_TOP)
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--top-k: %d is out of range (0 to %d)", top_k, AS_ABLATION_MAX_TOP);
      goto out;
    }
  if (ids_text != NULL && (common.text_file != NULL || common.pair != NULL ||
                           (common.rest != NULL && common.rest[0] != NULL)))
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "give either --ids or a text, not both");
      goto out;
    }
  if (ids_text == NULL && !as_cli_check_text (&common, &error))
    goto out;
  if ((model = as_cli_load_model (&common, &error)) == NULL ||
      !as_cli_load_ablation (&common, model, &error) ||
      (rank_text != NULL && !parse_rank_layer (rank_text, model->config->n_layers, &layer, &error)) ||
      (file = as_cli_open_output (&common, model, &error)) == NULL ||
      !input_ids (&common, model, ids_text, &ids, &types, &n, &error))
    goto out;

  backend = as_cpu_backend_new (model);
  FILE *stream = as_output_file_stream (file);
  if (rank_text != NULL)
    {
      gboolean tty = isatty (fileno (stderr));
      if ((rows = as_ablation_rank_heads (backend, ids, types, n, layer, mode,
                                          report_progress, &tty, NULL, &error)) == NULL)
        goto out;
      if (format == 1)
        write_rank_json (stream, model, rows, mode);
      else
        write_rank_table (stream, model, rows, mode);
    }
  else
    {
      AsAblationEffect effect;
      if (!as_ablation_effect (backend, ids, types, n, common.ablation, common.n_ablation,
                               top_k, &effect, &error))
        goto out;
      g_autofree char *spec = as_ablation_format (common.ablation, common.n_ablation);
      if (format == 1)
        write_effect_json (stream, model, common.ablation, common.n_ablation, &effect);
      else
        write_effect_table (stream, model, spec, &effect);
    }
  as_output_file_commit (g_steal_pointer (&file), &error);

out:
  if (file != NULL)
    as_output_file_abort (file);
  if (rows != NULL)
    g_array_unref (rows);
  as_backend_free (backend);
  as_model_free (model);
  as_cli_common_clear (&common);
  return as_cli_finish ("ablate", error);
}
