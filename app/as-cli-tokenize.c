/* attnscope-cli tokenize — tokens as the model sees them, with ids and spans. */
#include "as-cli.h"

#include <stdio.h>

/* One line per token: index, token, id, type id, and the input it covers. */
static void
print_token (const AsToken *t,
             int            index,
             const char    *text_a,
             const char    *text_b)
{
  const char *source = t->sequence == 1 ? text_b : text_a;
  if (t->start < 0 || source == NULL)
    {
      g_print ("%4d  %-16s %6d  %d\n", index, t->text, t->id, t->type_id);
      return;
    }
  g_autofree char *raw = g_strndup (source + t->start, t->end - t->start);
  g_autofree char *span = g_utf8_make_valid (raw, -1);
  g_print ("%4d  %-16s %6d  %d  %c[%d,%d) \"%s\"\n", index, t->text, t->id, t->type_id,
           t->sequence == 1 ? 'B' : 'A', t->start, t->end, span);
}

int
as_cli_tokenize (int    argc,
                 char **argv)
{
  AsCliCommon common = { 0 };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("TEXT — print tokens, ids and byte spans");
  g_autoptr(GError) error = NULL;
  g_option_context_set_main_group (ctx, as_cli_common_group (&common));

  int status = 1;
  g_autofree char *text = NULL;
  gsize text_len = 0;
  AsModel *model = NULL;

  if (!g_option_context_parse (ctx, &argc, &argv, &error) ||
      (text = as_cli_common_text_len (&common, &text_len, &error)) == NULL ||
      (model = as_cli_load_model (&common, &error)) == NULL)
    {
      g_printerr ("attnscope-cli tokenize: %s\n", error->message);
      goto out;
    }

  AsEncoding *enc = as_tokenizer_encode_len (model->tokenizer, text, (gssize) text_len, common.pair, -1,
                                         model->config->max_positions);
  as_cli_report_truncation (enc, model);
  for (int i = 0; i < enc->n_tokens; i++)
    print_token (&enc->tokens[i], i, text, common.pair);
  g_print ("%d tokens\n", enc->n_tokens);
  as_encoding_free (enc);
  status = 0;

out:
  as_model_free (model);
  as_cli_common_clear (&common);
  return status;
}
