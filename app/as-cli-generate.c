/* attnscope-cli generate — a decoder continues a text, token by token:
 * the text streamed, or JSON with each step's token and the model's most
 * likely tokens, and with -o each step's attention rows. */
#include "as-cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "as-bpe.h"
#include "as-decode-deviation.h"
#include "as-file-read.h"
#include "as-generate.h"
#include "as-gguf.h"
#include "as-json-guard.h"
#include "as-json-writer.h"

typedef struct {
  double   temperature;
  int      top_k;
  double   top_p;
  gint64   seed;
  int      max_tokens;
  int      show_top;
  gboolean chat;
  char    *system;       /* --system: the chat's system turn; NULL: the template's default */
  gboolean json;
  char    *ids;          /* --ids "1,2,3": the prompt as token ids */
  char    *weights;      /* --weights auto|fp32|file|int8: what the steps read */
} GenerateArgs;

/* Where the pieces go while a step is written. */
typedef struct {
  const AsModel *model;
  AsBpe         *bpe;        /* NULL: no tokenizer, ids only */
  FILE          *text;       /* the text as it comes, or NULL */
  FILE          *json;       /* the JSON record, or NULL */
  gboolean       rows;       /* the JSON gets each step's attention rows */
  int            n_heads;
  GString       *all_text;   /* the text pieces joined */
  gboolean       failed;     /* a write failed: stop */
  int            n_steps;    /* steps written */
  gboolean       stepped;    /* a step came */
  /* The JSON's head, written with the first step (nothing for a model
   * that is refused before). */
  gboolean       started;
  const char    *prompt;     /* NULL for --ids */
  gsize          prompt_len;
  gboolean       chat;
  const char    *system;     /* the chat's system turn; NULL: none */
  const AsGenerateOptions *options;
  AsDecodeWeights weights;   /* what the steps read: --weights, auto resolved */
  const int     *ids;
  int            n_ids;
} Sink;

/* ---- options ---------------------------------------------------------------------- */

static void
add_generate_options (GOptionContext *ctx,
                      AsCliCommon    *common,
                      GenerateArgs   *args)
{
  const GOptionEntry entries[] = {
    { "temperature", 't', 0, G_OPTION_ARG_DOUBLE, &args->temperature,
      "Divide the logits by T before sampling; 0 (default): greedy, the most likely token", "T" },
    { "top-k", 0, 0, G_OPTION_ARG_INT, &args->top_k,
      "Sample among the K most likely tokens only (0, default: all)", "K" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &args->top_p,
      "Sample among the fewest most likely tokens whose probability reaches P (1, default: all)", "P" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &args->seed,
      "Seed of the sampler (default 0): the same seed gives the same text", "S" },
    { "max-tokens", 'n', 0, G_OPTION_ARG_INT, &args->max_tokens,
      "Generate at most N tokens (default 64); the end-of-sequence token stops earlier", "N" },
    { "show-top", 0, 0, G_OPTION_ARG_INT, &args->show_top,
      "JSON: the N most likely tokens of each step with their probabilities (default 5)", "N" },
    { "chat", 0, 0, G_OPTION_ARG_NONE, &args->chat,
      "Ask TEXT as a user turn of the model's ChatML chat template, after the template's "
      "default system turn if it has one", NULL },
    { "system", 0, 0, G_OPTION_ARG_STRING, &args->system,
      "--chat: the system turn (instead of the template's default)", "TEXT" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &args->json,
      "Write JSON (prompt, each step's token and most likely tokens) instead of the text", NULL },
    { "weights", 0, 0, G_OPTION_ARG_STRING, &args->weights,
      "What each step's products read: auto (default: file where the model's file holds block "
      "types, else fp32), fp32 (the prompt pass's fp32 copies), file (the file's own Q8_0/Q4_0/Q4_1 "
      "blocks: the same weights bit for bit, fewer bytes) or int8 (blocks of 32 with a scale each, "
      "quantised at start: faster, not exact). Given as file or int8, the deviation from fp32 on "
      "the generated tokens is measured and printed", "auto|fp32|file|int8" },
    { "ids", 0, 0, G_OPTION_ARG_STRING, &args->ids,
      "The prompt as token ids, comma-separated, instead of TEXT (for a model without a tokenizer)", "IDS" },
    { "text-file", 0, 0, G_OPTION_ARG_FILENAME, &common->text_file,
      "Read the prompt from FILE (- for stdin) instead of TEXT", "FILE" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &common->output,
      "Write the JSON, with each step's attention rows in every layer, to FILE (whole or not at all); "
      "the text still goes to standard output", "FILE" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &common->rest, NULL, "TEXT" },
    { NULL }
  };
  g_option_context_add_main_entries (ctx, entries, NULL);
}

/* The options as the generator takes them; a usage error naming the
 * option for a value out of range. */
static gboolean
check_args (const GenerateArgs *args,
            const AsModel      *model,
            AsGenerateOptions  *options,
            GError            **error)
{
  as_generate_options_init (options, model);
  options->sampling.temperature = args->temperature;
  options->sampling.top_k = args->top_k;
  options->sampling.top_p = args->top_p;
  options->sampling.seed = (guint64) args->seed;
  options->max_tokens = args->max_tokens;
  options->n_top = args->show_top;
  if (args->weights != NULL && !as_decode_weights_from_string (args->weights, &options->weights))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--weights: '%s' is not one of auto, fp32, file, int8", args->weights);
      return FALSE;
    }
  GError *local = NULL;
  if (as_generate_options_check (options, &local))
    return TRUE;
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s", local->message);
  g_error_free (local);
  return FALSE;
}

static gboolean
check_prompt_source (const AsCliCommon  *common,
                     const GenerateArgs *args,
                     GError            **error)
{
  if (args->system != NULL && !args->chat)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "--system is a chat's system turn: it needs --chat");
      return FALSE;
    }
  if (args->ids == NULL)
    return as_cli_check_text (common, error);
  if ((common->rest != NULL && common->rest[0] != NULL) || common->text_file != NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "give the prompt once: as TEXT, --text-file or --ids");
      return FALSE;
    }
  if (args->chat)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "--chat wraps a text; it does not apply to --ids");
      return FALSE;
    }
  return TRUE;
}

/* ---- the prompt ------------------------------------------------------------------- */

static int *
parse_ids (const char    *list,
           const AsModel *model,
           int           *n,
           GError       **error)
{
  g_auto(GStrv) parts = g_strsplit (list, ",", -1);
  int count = g_strv_length (parts);
  if (count > model->config->max_positions)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--ids: %d ids; this model takes at most %d", count, model->config->max_positions);
      return NULL;
    }
  g_autofree int *ids = g_new (int, MAX (count, 1));
  for (int i = 0; i < count; i++)
    {
      g_autofree char *part = g_strstrip (g_strdup (parts[i]));
      gint64 v = 0;
      if (!g_ascii_string_to_signed (part, 10, 0, model->config->vocab_size - 1, &v, NULL))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--ids: '%s' is not a token id (0 to %d)", part, model->config->vocab_size - 1);
          return NULL;
        }
      ids[i] = (int) v;
    }
  if (count == 0)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--ids: no ids given");
      return NULL;
    }
  *n = count;
  return g_steal_pointer (&ids);
}

/* The chat template the model carries: a GGUF's tokenizer.chat_template,
 * a folder's tokenizer_config.json chat_template; NULL when there is none
 * (or it cannot be read: then there is no default system turn either). */
static char *
chat_template (const AsModel *model)
{
  if (model->gguf != NULL)
    return as_gguf_find_key (model->gguf, "tokenizer.chat_template", NULL, NULL) == AS_GGUF_STRING
             ? g_strdup (as_gguf_get_string (model->gguf, "tokenizer.chat_template", NULL))
             : NULL;
  if (model->st == NULL)
    return NULL;
  g_autofree char *path = g_build_filename (model->dir, "tokenizer_config.json", NULL);
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR) ||
      !as_file_read_regular (path, AS_FILE_CAP_CONFIG, &contents, &length, NULL) ||
      !as_json_guard_load (parser, contents, length, path, NULL))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  return g_strdup (as_json_get_string (json_node_get_object (root), "chat_template", NULL));
}

/* The system turn TEMPLATE writes when a conversation starts without one,
 * or NULL. SmolLM2-Instruct's ChatML template has one:
 *   {% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
 *   You are a helpful AI assistant …<|im_end|>
 *   ' }}{% endif %}
 * i.e. a literal system turn under a condition on the first role; its text
 * is what lies between the turn's markers. A text that is not a plain
 * literal (an expression, an escape) is not taken: NULL. */
static char *
template_default_system (const char *template)
{
  static const char *const conditions[] = { "['role'] != 'system'", "[\"role\"] != \"system\"",
                                            ".role != 'system'", ".role != \"system\"" };
  static const char opening[] = "<|im_start|>system\n";
  const char *cond = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (conditions) && cond == NULL; i++)
    cond = template != NULL ? strstr (template, conditions[i]) : NULL;
  const char *start = cond != NULL ? strstr (cond, opening) : NULL;
  const char *end = start != NULL ? strstr (start, "<|im_end|>") : NULL;
  const char *next_block = start != NULL ? strstr (start, "{%") : NULL;
  if (end == NULL || (next_block != NULL && next_block < end))
    return NULL;
  start += strlen (opening);
  for (const char *p = start; p < end; p++)
    if (*p == '\\' || *p == '\'' || *p == '"' || *p == '{' || *p == '}')
      return NULL;
  return g_strndup (start, end - start);
}

/* One user turn in ChatML, after a system turn (SYSTEM, else the
 * template's default if it has one), ready for the assistant's answer: what
 * transformers' apply_chat_template (add_generation_prompt) writes.
 * Refused for a tokenizer without ChatML's markers (they would be split
 * into ordinary tokens). *SYSTEM_USED gets the system turn's text (NULL:
 * none). */
static char *
chat_prompt (const AsModel *model,
             const char    *system,
             const char    *text,
             gsize          length,
             gsize         *out_length,
             char         **system_used,
             GError       **error)
{
  if (as_tokenizer_token_to_id (model->tokenizer, "<|im_start|>") < 0 ||
      as_tokenizer_token_to_id (model->tokenizer, "<|im_end|>") < 0)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--chat: this model's tokenizer has no ChatML tokens "
                           "(<|im_start|>, <|im_end|>)");
      return NULL;
    }
  if (system != NULL)
    *system_used = g_strdup (system);
  else
    {
      g_autofree char *template = chat_template (model);
      *system_used = template_default_system (template);
    }
  GString *s = g_string_new (NULL);
  if (*system_used != NULL)
    g_string_append_printf (s, "<|im_start|>system\n%s<|im_end|>\n", *system_used);
  g_string_append (s, "<|im_start|>user\n");
  g_string_append_len (s, text, (gssize) length);
  g_string_append (s, "<|im_end|>\n<|im_start|>assistant\n");
  *out_length = s->len;
  return g_string_free (s, FALSE);
}

static int *
encode_prompt (const AsModel *model,
               const char    *text,
               gsize          length,
               int           *n)
{
  AsEncoding *enc = as_tokenizer_encode_len (model->tokenizer, text, (gssize) length, NULL, -1,
                                             model->config->max_positions);
  as_cli_report_truncation (enc, model);
  int *ids = g_new (int, MAX (enc->n_tokens, 1));
  for (int i = 0; i < enc->n_tokens; i++)
    ids[i] = enc->tokens[i].id;
  *n = enc->n_tokens;
  as_encoding_free (enc);
  return ids;
}

/* ---- writing ---------------------------------------------------------------------- */

static void
write_label (FILE  *out,
             AsBpe *bpe,
             int    id)
{
  g_autofree char *label = bpe != NULL ? as_bpe_id_to_label (bpe, id) : NULL;
  if (label != NULL)
    as_json_write_string (out, label);
  else
    fputs ("null", out);
}

static void
write_head (Sink *sink)
{
  FILE *out = sink->json;
  const AsConfig *c = sink->model->config;
  const char *prompt = sink->prompt;
  const AsGenerateOptions *o = sink->options;
  const int *ids = sink->ids;
  const int n = sink->n_ids;
  if (sink->started)
    return;
  sink->started = TRUE;
  fputs ("{\n  \"model\": ", out);
  as_json_write_string (out, sink->model->dir);
  fputs (",\n  \"prompt\": ", out);
  if (prompt != NULL)
    as_json_write_string_len (out, prompt, (gssize) sink->prompt_len);
  else
    fputs ("null", out);
  fprintf (out, ",\n  \"chat\": %s,\n  \"system\": ", sink->chat ? "true" : "false");
  if (sink->system != NULL)
    as_json_write_string (out, sink->system);
  else
    fputs ("null", out);
  fprintf (out, ",\n  \"weights\": \"%s\",\n  \"ablated\": [",
           as_decode_weights_to_string (sink->weights));
  for (int i = 0; i < o->n_ablate; i++)
    fprintf (out, "%s{\"layer\": %d, \"head\": %d, \"mode\": \"%s\"}", i ? ", " : "",
             o->ablate[i].layer + 1, o->ablate[i].head + 1, as_ablate_mode_to_string (o->ablate[i].mode));
  fputs ("],\n  \"temperature\": ", out);
  as_json_write_float (out, (float) o->sampling.temperature);
  fprintf (out, ",\n  \"top_k\": %d,\n  \"top_p\": ", o->sampling.top_k);
  as_json_write_float (out, (float) o->sampling.top_p);
  fprintf (out, ",\n  \"seed\": %" G_GUINT64_FORMAT ",\n  \"max_tokens\": %d,\n  \"eos_id\": %d,\n"
           "  \"n_layers\": %d,\n  \"n_heads\": %d,\n  \"prompt_ids\": [",
           o->sampling.seed, o->max_tokens, o->eos_id, c->n_layers, c->n_heads);
  for (int i = 0; i < n; i++)
    fprintf (out, i == 0 ? "%d" : ", %d", ids[i]);
  fputs ("],\n  \"prompt_tokens\": [", out);
  for (int i = 0; i < n; i++)
    {
      if (i > 0)
        fputs (", ", out);
      write_label (out, sink->bpe, ids[i]);
    }
  fputs ("],\n  \"steps\": [", out);
}

/* A step's rows arrive before the step: its object starts with them. */
static gboolean
on_row (int          layer,
        const float *row,
        int          n_ctx,
        gpointer     user_data)
{
  Sink *sink = user_data;
  FILE *out = sink->json;
  write_head (sink);
  if (layer == 0)
    fputs (sink->n_steps == 0 ? "\n    {\"attention\": [" : ",\n    {\"attention\": [", out);
  else
    fputs (", ", out);
  for (int h = 0; h < sink->n_heads; h++)
    {
      fputs (h == 0 ? "[[" : ", [", out);
      for (int j = 0; j < n_ctx; j++)
        {
          if (j > 0)
            fputs (", ", out);
          as_json_write_float (out, row[(gsize) h * n_ctx + j]);
        }
      fputc (']', out);
    }
  fputc (']', out);
  return !ferror (out);
}

static void
write_step (Sink                 *sink,
            const AsGenerateStep *step)
{
  FILE *out = sink->json;
  if (sink->rows)
    fputs ("], ", out);
  else
    fputs (sink->n_steps == 0 ? "\n    {" : ",\n    {", out);
  fprintf (out, "\"index\": %d, \"id\": %d, \"token\": ", step->index, step->id);
  write_label (out, sink->bpe, step->id);
  fputs (", \"text\": ", out);
  if (step->text != NULL)
    as_json_write_string (out, step->text);
  else
    fputs ("null", out);
  fprintf (out, ", \"eos\": %s, \"top\": [", step->is_eos ? "true" : "false");
  for (int i = 0; i < step->n_top; i++)
    {
      fprintf (out, "%s{\"id\": %d, \"token\": ", i == 0 ? "" : ", ", step->top_ids[i]);
      write_label (out, sink->bpe, step->top_ids[i]);
      fputs (", \"p\": ", out);
      as_json_write_float (out, step->top_probs[i]);
      fputc ('}', out);
    }
  fputs ("]}", out);
}

/* What the decoder's steps read, for the JSON's "weights". */
static void
on_start (AsDecoder *decoder,
          gpointer   user_data)
{
  Sink *sink = user_data;
  sink->weights = as_decoder_get_weights (decoder);
}

static gboolean
on_step (const AsGenerateStep *step,
         gpointer              user_data)
{
  Sink *sink = user_data;
  sink->stepped = TRUE;
  if (step->text != NULL)
    g_string_append (sink->all_text, step->text);
  if (sink->text != NULL && !step->is_eos)
    {
      if (step->text != NULL)
        fputs (step->text, sink->text);
      else
        fprintf (sink->text, step->index == 0 ? "%d" : " %d", step->id);
      fflush (sink->text);
      sink->failed |= ferror (sink->text) != 0;
    }
  if (sink->json != NULL)
    {
      write_head (sink);
      write_step (sink, step);
      sink->n_steps++;
      sink->failed |= ferror (sink->json) != 0;
    }
  return !sink->failed;
}

static void
write_tail (Sink           *sink,
            const int      *ids,
            int             n,
            AsGenerateStop  stop)
{
  FILE *out = sink->json;
  fputs ("\n  ],\n  \"generated_ids\": [", out);
  for (int i = 0; i < n; i++)
    fprintf (out, i == 0 ? "%d" : ", %d", ids[i]);
  fputs ("],\n  \"text\": ", out);
  if (sink->bpe != NULL)
    as_json_write_string (out, sink->all_text->str);
  else
    fputs ("null", out);
  fprintf (out, ",\n  \"stop\": \"%s\"\n}\n", as_generate_stop_to_string (stop));
}

/* TRUE when PATH is where standard output goes (-, /dev/stdout, the file
 * stdout is redirected to): the text must not be mixed into the JSON. */
static gboolean
names_stdout (const char *path)
{
  struct stat a, b;
  if (strcmp (path, "-") == 0)
    return TRUE;
  return stat (path, &a) == 0 && fstat (STDOUT_FILENO, &b) == 0 &&
         a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* ---- reduced precision --------------------------------------------------------------- */

/* Weights asked for by name other than fp32: say what they cost on this
 * text, measured by running the same tokens through an fp32 decoder beside
 * theirs (int8 is a trade; file should cost only the order of the sums). */
static void
report_weights_cost (AsBackend               *backend,
                     const AsGenerateOptions *options,
                     const int               *prompt,
                     int                      n_prompt,
                     const int               *generated,
                     int                      n_generated)
{
  const char *name = as_decode_weights_to_string (options->weights);
  /* the last generated token was never run */
  const int n = n_prompt + n_generated - 1;
  if (n_generated < 2)
    {
      g_printerr ("attnscope-cli: note: weights %s: too few tokens generated to measure its "
                  "deviation from fp32\n", name);
      return;
    }
  g_autofree int *ids = g_new (int, n);
  memcpy (ids, prompt, sizeof (int) * n_prompt);
  memcpy (ids + n_prompt, generated, sizeof (int) * (n - n_prompt));
  AsDecodeDeviation dev;
  g_autoptr(GError) error = NULL;
  if (!as_decode_deviation (backend, ids, n_prompt, n, options->weights, &dev, &error))
    {
      g_printerr ("attnscope-cli: note: weights %s: could not measure its deviation from fp32: %s\n",
                  name, error->message);
      return;
    }
  g_printerr ("attnscope-cli: note: weights %s against fp32 on the same %d tokens: logits differ "
              "by at most %.3g (fp32's span %.3g), attention rows by at most %.3g; the most "
              "likely next token agrees at %d of %d steps\n", name, dev.steps,
              dev.max_logit_diff, dev.max_logit_range, dev.max_row_diff, dev.argmax_agree,
              dev.steps);
}

/* ---- the command ------------------------------------------------------------------ */

int
as_cli_generate (int    argc,
                 char **argv)
{
  AsCliCommon common = { 0 };
  GenerateArgs args = { .top_p = 1.0, .max_tokens = 64, .show_top = 5 };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("TEXT — continue TEXT with a decoder model");
  GError *error = NULL;
  as_cli_add_model_options (ctx, &common);
  as_cli_add_device_options (ctx, &common);
  as_cli_add_ablation_options (ctx, &common);
  add_generate_options (ctx, &common, &args);
  g_option_context_set_summary (ctx,
    "Greedy by default (the most likely token each step) up to 64 tokens or the model's\n"
    "end-of-sequence token. Sampling: --temperature divides the logits, then --top-k and\n"
    "--top-p filter, then a token is drawn with the --seed'ed generator.\n"
    "Output: the text as it comes; --json: the prompt and each step's token and most likely\n"
    "tokens; -o FILE: that JSON with each step's attention row (the token that predicts it,\n"
    "over every earlier token) in every layer: steps[i].attention[layer][head][key].\n"
    "--ablate switches heads off for the prompt and every step.");

  g_autofree char *text = NULL;
  g_autofree char *prompt_text = NULL;
  g_autofree char *system = NULL;
  g_autofree int *ids = NULL;
  g_autofree int *generated = NULL;
  gsize text_len = 0, prompt_len = 0;
  int n_ids = 0, n_generated = 0;
  AsModel *model = NULL;
  AsBackend *backend = NULL;
  AsOutputFile *file = NULL;
  AsGenerateOptions options;
  AsGenerateStop stop = AS_GENERATE_STOP_LENGTH;
  Sink sink = { .all_text = g_string_new (NULL) };

  if (!as_cli_parse (ctx, &common, &argc, &argv, &error) ||
      !check_prompt_source (&common, &args, &error) ||
      (model = as_cli_load_model (&common, &error)) == NULL ||
      !as_cli_load_ablation (&common, model, &error) ||
      !check_args (&args, model, &options, &error))
    goto out;
  options.ablate = common.ablation;
  options.n_ablate = common.n_ablation;
  if (args.ids != NULL)
    {
      if ((ids = parse_ids (args.ids, model, &n_ids, &error)) == NULL)
        goto out;
    }
  else
    {
      if ((text = as_cli_read_text (&common, model, &text_len, &error)) == NULL)
        goto out;
      if (!as_model_check_tokenizer (model, &error))
        {
          g_prefix_error (&error, "the prompt must be given as ids (--ids): ");
          goto out;
        }
      if (args.chat)
        prompt_text = chat_prompt (model, args.system, text, text_len, &prompt_len, &system,
                                   &error);
      else
        {
          prompt_text = g_steal_pointer (&text);
          prompt_len = text_len;
        }
      if (prompt_text == NULL)
        goto out;
      ids = encode_prompt (model, prompt_text, prompt_len, &n_ids);
      if (n_ids == 0)
        {
          g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                               "the text gives no tokens to start from");
          goto out;
        }
    }
  if ((args.json || common.output != NULL) &&
      (file = as_cli_open_output (&common, model, &error)) == NULL)
    goto out;
  if ((backend = as_cli_open_backend (&common, model, &error)) == NULL)
    goto out;

  sink.model = model;
  sink.bpe = model->tokenizer != NULL ? as_tokenizer_get_bpe (model->tokenizer) : NULL;
  sink.n_heads = model->config->n_heads;
  sink.json = file != NULL ? as_output_file_stream (file) : NULL;
  sink.rows = common.output != NULL;
  sink.text = file == NULL || (common.output != NULL && !names_stdout (common.output)) ? stdout : NULL;
  options.on_row = sink.rows ? on_row : NULL;
  options.on_step = on_step;
  options.on_start = on_start;
  options.user_data = &sink;

  sink.prompt = prompt_text;
  sink.prompt_len = prompt_len;
  sink.chat = args.chat;
  sink.system = system;
  sink.options = &options;
  sink.weights = options.weights;
  sink.ids = ids;
  sink.n_ids = n_ids;
  gboolean ok = as_generate (backend, ids, n_ids, &options, &stop, &generated, &n_generated, &error);
  if (sink.text != NULL && sink.stepped)
    {
      fputc ('\n', sink.text);
      fflush (sink.text);
    }
  if (sink.text != NULL && ferror (sink.text))
    {
      int code = errno != 0 ? errno : EIO;
      g_clear_error (&error);
      g_set_error (&error, G_FILE_ERROR, g_file_error_from_errno (code),
                   "cannot write standard output: %s", g_strerror (code));
      goto out;
    }
  if (file != NULL && !as_output_file_check (file, NULL))
    {
      /* A failed write stopped the generation; the cause is the write. */
      g_clear_error (&error);
      as_output_file_check (file, &error);
      goto out;
    }
  if (!ok)
    goto out;
  if (stop == AS_GENERATE_STOP_CONTEXT)
    g_printerr ("attnscope-cli: note: stopped after %d tokens: the context is full (%d positions "
                "in all fit the model and the attention memory budget)\n",
                n_generated, n_ids + n_generated - 1);
  if (options.weights == AS_DECODE_WEIGHTS_FILE || options.weights == AS_DECODE_WEIGHTS_INT8)
    report_weights_cost (backend, &options, ids, n_ids, generated, n_generated);
  if (file != NULL)
    {
      write_tail (&sink, generated, n_generated, stop);
      as_output_file_commit (g_steal_pointer (&file), &error);
    }

out:
  if (file != NULL)
    as_output_file_abort (file);
  g_string_free (sink.all_text, TRUE);
  g_free (args.ids);
  g_free (args.system);
  g_free (args.weights);
  as_backend_free (backend);
  as_model_free (model);
  as_cli_common_clear (&common);
  return as_cli_finish ("generate", error);
}
