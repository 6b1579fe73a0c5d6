/* attnscope-cli stats — per-head attention statistics averaged over a corpus.
 *
 * Every non-blank line of --corpus is one input (a line with a TAB is a pair,
 * A TAB B). For each input and each (layer, head) the statistics of
 * model/as-head-stats.h are computed as the layer arrives; the output is their
 * mean over inputs (each input weighs the same), as CSV or JSON.
 */
#include "as-cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "as-head-stats.h"
#include "as-json-writer.h"
#include "as-output-file.h"

typedef struct {
  AsHeadStatsSum       *sum;
  const AsTokenClasses *classes;
  AsHeadStats          *layer_stats;   /* [n_heads] */
  int                   n_heads;
  int                   n;
} StatsState;

static gboolean
add_layer (int          layer,
           const float *attn,
           const float *hidden,
           gpointer     user_data)
{
  StatsState *s = user_data;
  gsize nn = (gsize) s->n * s->n;
  for (int h = 0; h < s->n_heads; h++)
    as_head_stats_compute (attn + h * nn, s->n, s->classes, &s->layer_stats[h]);
  as_head_stats_sum_add_layer (s->sum, layer, s->layer_stats);
  return TRUE;
}

/* A corpus far larger than any run can get through in a day is a mistake;
 * reading it whole would only exhaust memory. */
#define CORPUS_CAP_MB 256

/* The corpus as inputs: non-blank lines, CR stripped. Returns a
 * NULL-terminated array of lines (owned by the returned strv). */
static char **
read_corpus (const char  *path,
             int          limit,
             GError     **error)
{
  const char *name = g_strcmp0 (path, "-") == 0 ? "standard input" : path;
  gsize len = 0;
  gboolean cut = FALSE;
  g_autofree char *data = as_cli_read_capped (path, (gsize) CORPUS_CAP_MB << 20, &len, &cut, error);
  if (data == NULL)
    return NULL;
  if (memchr (data, '\0', len) != NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "%s: holds NUL bytes; expected text, one sentence per line", name);
      return NULL;
    }
  if (cut)
    {
      /* A line cut in two is not an input. */
      char *last = strrchr (data, '\n');
      *(last != NULL ? last : data) = '\0';
    }

  char **raw = g_strsplit (data, "\n", -1);
  GPtrArray *lines = g_ptr_array_new ();
  for (char **p = raw; *p != NULL; p++)
    {
      char *line = *p;
      gsize l = strlen (line);
      if (l > 0 && line[l - 1] == '\r')
        line[l - 1] = '\0';
      gboolean blank = TRUE;
      for (const char *c = line; *c != '\0' && blank; c++)
        blank = g_ascii_isspace (*c);
      if (blank)
        g_free (line);
      else
        g_ptr_array_add (lines, line);
    }
  g_free (raw);   /* the strings moved to LINES or were freed */
  if (cut && (limit == 0 || (int) lines->len < limit))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   "%s: more than %d MiB of text; split the corpus or use --limit", name, CORPUS_CAP_MB);
      g_ptr_array_set_free_func (lines, g_free);
      g_ptr_array_free (lines, TRUE);
      return NULL;
    }
  g_ptr_array_add (lines, NULL);
  return (char **) g_ptr_array_free (lines, FALSE);
}

typedef struct {
  gboolean tty;
  gint64   start;      /* µs, monotonic */
  gint64   last;       /* µs of the last TTY update */
  int      total;
  int      step;       /* not a TTY: report every STEP lines (10%) */
  int      reported;   /* not a TTY: line count of the last report */
} Progress;

/* On a terminal, one line rewritten at most 10 times a second; elsewhere (CI
 * logs) a plain line every 10% of the corpus. */
static void
progress_update (Progress *p,
                 int       done)
{
  gint64 now = g_get_monotonic_time ();
  gboolean final = done == p->total;
  double secs = (now - p->start) / 1e6;
  double rate = secs > 0 ? done / secs : 0;
  if (p->tty)
    {
      if (!final && now - p->last < 100000)
        return;
      g_printerr ("\r  %d/%d lines  %.1f lines/s%s", done, p->total, rate, final ? "\n" : "");
      p->last = now;
    }
  else if (final || done - p->reported >= p->step)
    {
      g_printerr ("  %d/%d lines  %.1f lines/s\n", done, p->total, rate);
      p->reported = done;
    }
}

/* --- output ----------------------------------------------------------- */

typedef struct {
  const char  *name;
  gsize        offset;   /* into AsHeadStats */
} Column;

#define COL(field) { #field, G_STRUCT_OFFSET (AsHeadStats, field) }
static const Column columns[] = {
  COL (entropy), COL (to_cls), COL (to_sep), COL (to_punct), COL (to_self),
  COL (to_prev), COL (to_next), COL (distance), COL (confidence), COL (block),
  COL (sink),
};
#undef COL

static double
column_value (const AsHeadStats *s,
              const Column      *c)
{
  return G_STRUCT_MEMBER (double, s, c->offset);
}

static void
write_number (FILE    *out,
              double   v,
              gboolean json)
{
  if (isnan (v) || isinf (v))
    fputs (json ? "null" : "", out);
  else
    fprintf (out, "%.6f", v);
}

typedef struct {
  const AsHeadStatsSum *sum;
  int                   n_layers;
  int                   n_heads;
  AsHeadStats          *head_mean;    /* [n_layers, n_heads] */
  AsHeadStats          *layer_mean;   /* [n_layers] mean over heads */
  double               *layer_share;  /* [n_layers, AS_N_PATTERNS] mean over heads */
  int                  *layer_heads;  /* [n_layers, AS_N_PATTERNS] heads with that label */
} Summary;

static void
summary_init (Summary              *s,
              const AsHeadStatsSum *sum)
{
  int L = sum->n_layers, H = sum->n_heads;
  s->sum = sum;
  s->n_layers = L;
  s->n_heads = H;
  s->head_mean = g_new0 (AsHeadStats, (gsize) L * H);
  s->layer_mean = g_new0 (AsHeadStats, L);
  s->layer_share = g_new0 (double, (gsize) L * AS_N_PATTERNS);
  s->layer_heads = g_new0 (int, (gsize) L * AS_N_PATTERNS);
  for (int l = 0; l < L; l++)
    for (int h = 0; h < H; h++)
      as_head_stats_sum_mean (sum, l, h, &s->head_mean[l * H + h]);
  for (int l = 0; l < L; l++)
    {
      for (gsize c = 0; c < G_N_ELEMENTS (columns); c++)
        {
          double acc = 0;
          for (int h = 0; h < H; h++)
            acc += column_value (&s->head_mean[l * H + h], &columns[c]);
          G_STRUCT_MEMBER (double, &s->layer_mean[l], columns[c].offset) = acc / H;
        }
      for (int h = 0; h < H; h++)
        {
          s->layer_heads[l * AS_N_PATTERNS + as_head_stats_pattern (&s->head_mean[l * H + h])]++;
          for (int p = 0; p < AS_N_PATTERNS; p++)
            s->layer_share[l * AS_N_PATTERNS + p] +=
              as_head_stats_sum_pattern_share (sum, l, h, p) / H;
        }
    }
}

static void
summary_clear (Summary *s)
{
  g_free (s->head_mean);
  g_free (s->layer_mean);
  g_free (s->layer_share);
  g_free (s->layer_heads);
}

static const AsPattern pattern_order[AS_N_PATTERNS] = {
  AS_PATTERN_VERTICAL, AS_PATTERN_DIAGONAL, AS_PATTERN_BLOCK, AS_PATTERN_HETEROGENEOUS,
};

static void
write_csv_row (FILE              *out,
               int                layer,
               const char        *head,
               gint64             lines,
               const AsHeadStats *stats,
               const char        *pattern,
               const double      *shares)   /* [AS_N_PATTERNS] by AsPattern */
{
  fprintf (out, "%d,%s,%" G_GINT64_FORMAT, layer, head, lines);
  for (gsize c = 0; c < G_N_ELEMENTS (columns); c++)
    {
      fputc (',', out);
      write_number (out, column_value (stats, &columns[c]), FALSE);
    }
  fprintf (out, ",%s", pattern);
  for (int p = 0; p < AS_N_PATTERNS; p++)
    {
      fputc (',', out);
      write_number (out, shares[pattern_order[p]], FALSE);
    }
  fputc ('\n', out);
}

static void
write_csv (FILE          *out,
           const Summary *s,
           gboolean       per_layer)
{
  fputs ("layer,head,lines", out);
  for (gsize c = 0; c < G_N_ELEMENTS (columns); c++)
    fprintf (out, ",%s", columns[c].name);
  fputs (",pattern", out);
  for (int p = 0; p < AS_N_PATTERNS; p++)
    fprintf (out, ",share_%s", as_pattern_to_string (pattern_order[p]));
  fputc ('\n', out);

  for (int l = 0; l < s->n_layers; l++)
    {
      for (int h = 0; h < s->n_heads; h++)
        {
          const AsHeadStats *m = &s->head_mean[l * s->n_heads + h];
          double shares[AS_N_PATTERNS];
          for (int p = 0; p < AS_N_PATTERNS; p++)
            shares[p] = as_head_stats_sum_pattern_share (s->sum, l, h, p);
          char head[16];
          g_snprintf (head, sizeof head, "%d", h + 1);
          write_csv_row (out, l + 1, head, s->sum->n_inputs, m,
                         as_pattern_to_string (as_head_stats_pattern (m)), shares);
        }
      if (per_layer)
        write_csv_row (out, l + 1, "mean", s->sum->n_inputs, &s->layer_mean[l], "",
                       &s->layer_share[l * AS_N_PATTERNS]);
    }
}

static void
write_json_stats (FILE              *out,
                  const AsHeadStats *m)
{
  for (gsize c = 0; c < G_N_ELEMENTS (columns); c++)
    {
      fprintf (out, ", \"%s\": ", columns[c].name);
      write_number (out, column_value (m, &columns[c]), TRUE);
    }
}

static void
write_json_shares (FILE         *out,
                   const char   *key,
                   const double *shares)   /* [AS_N_PATTERNS] by AsPattern */
{
  fprintf (out, ", \"%s\": {", key);
  for (int p = 0; p < AS_N_PATTERNS; p++)
    {
      fprintf (out, "%s\"%s\": ", p ? ", " : "", as_pattern_to_string (pattern_order[p]));
      write_number (out, shares[pattern_order[p]], TRUE);
    }
  fputc ('}', out);
}

static void
write_json (FILE          *out,
            const Summary *s,
            gboolean       per_layer,
            const char    *model_dir,
            const char    *corpus,
            gint64         tokens,
            int            truncated)
{
  fputs ("{\n  \"model\": ", out);
  as_json_write_string (out, model_dir);
  fputs (",\n  \"corpus\": ", out);
  as_json_write_string (out, corpus);
  fprintf (out, ",\n  \"lines\": %" G_GINT64_FORMAT ",\n  \"tokens\": %" G_GINT64_FORMAT
           ",\n  \"truncated_lines\": %d,\n  \"n_layers\": %d,\n  \"n_heads\": %d,\n",
           s->sum->n_inputs, tokens, truncated, s->n_layers, s->n_heads);
  fprintf (out, "  \"thresholds\": {\"vertical\": %.2f, \"diagonal\": %.2f, \"block\": %.2f},\n",
           AS_PATTERN_VERTICAL_MIN, AS_PATTERN_DIAGONAL_MIN, AS_PATTERN_BLOCK_MIN);
  fputs ("  \"heads\": [\n", out);
  for (int l = 0; l < s->n_layers; l++)
    for (int h = 0; h < s->n_heads; h++)
      {
        const AsHeadStats *m = &s->head_mean[l * s->n_heads + h];
        double shares[AS_N_PATTERNS];
        for (int p = 0; p < AS_N_PATTERNS; p++)
          shares[p] = as_head_stats_sum_pattern_share (s->sum, l, h, p);
        fprintf (out, "    {\"layer\": %d, \"head\": %d", l + 1, h + 1);
        write_json_stats (out, m);
        fprintf (out, ", \"pattern\": \"%s\"", as_pattern_to_string (as_head_stats_pattern (m)));
        write_json_shares (out, "pattern_share", shares);
        fprintf (out, "}%s\n", l + 1 == s->n_layers && h + 1 == s->n_heads ? "" : ",");
      }
  fputs ("  ]", out);
  if (per_layer)
    {
      fputs (",\n  \"layers\": [\n", out);
      for (int l = 0; l < s->n_layers; l++)
        {
          fprintf (out, "    {\"layer\": %d", l + 1);
          write_json_stats (out, &s->layer_mean[l]);
          fputs (", \"pattern_heads\": {", out);
          for (int p = 0; p < AS_N_PATTERNS; p++)
            fprintf (out, "%s\"%s\": %d", p ? ", " : "", as_pattern_to_string (pattern_order[p]),
                     s->layer_heads[l * AS_N_PATTERNS + pattern_order[p]]);
          fputc ('}', out);
          write_json_shares (out, "pattern_share", &s->layer_share[l * AS_N_PATTERNS]);
          fprintf (out, "}%s\n", l + 1 == s->n_layers ? "" : ",");
        }
      fputs ("  ]", out);
    }
  fputs ("\n}\n", out);
}

/* --- the command ------------------------------------------------------ */

int
as_cli_stats (int    argc,
              char **argv)
{
  static const char *const formats[] = { "csv", "json", NULL };
  AsCliCommon common = { 0 };
  g_autofree char *corpus = NULL;
  gboolean per_layer = FALSE;
  int limit = 0;
  GOptionEntry entries[] = {
    { "corpus", 0, 0, G_OPTION_ARG_FILENAME, &corpus,
      "Text file, one input per line (blank lines skipped; A<TAB>B is a pair; - for stdin)", "FILE" },
    { "per-layer", 0, 0, G_OPTION_ARG_NONE, &per_layer,
      "Also write each layer's mean over heads", NULL },
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit, "Use only the first N inputs", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("— per-head attention statistics over a corpus");
  GError *error = NULL;
  g_option_context_add_main_entries (ctx, entries, NULL);
  as_cli_add_model_options (ctx, &common);
  as_cli_add_device_options (ctx, &common);
  as_cli_add_ablation_options (ctx, &common);
  as_cli_add_output_options (ctx, &common, NULL, "csv (default) or json");
  g_option_context_set_summary (ctx,
    "Formats: csv (default), json. One row per (layer, head), both counted from 1,\n"
    "with the mean over corpus lines of: entropy (nats, smoothed), attention to [CLS],\n"
    "[SEP], punctuation, self, previous and next token, mean attention distance\n"
    "(tokens), confidence (mean row maximum), block (pairs only), sink (attention on\n"
    "the first token), the pattern label of the means and the share of lines that\n"
    "got each label. --per-layer adds a row per layer (head = mean) averaging its\n"
    "heads. Definitions: model/as-head-stats.h.\n"
    "Progress goes to stderr.");

  char **lines = NULL;
  AsModel *model = NULL;
  AsBackend *backend = NULL;
  AsHeadStatsSum *sum = NULL;
  AsHeadStats *layer_stats = NULL;
  AsOutputFile *file = NULL;
  char *where = NULL;
  int format;

  if (!as_cli_parse (ctx, &common, &argc, &argv, &error) ||
      (format = as_cli_format (&common, formats, &error)) < 0)
    goto out;
  if (corpus == NULL)
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "--corpus FILE is required (one sentence per line)");
      goto out;
    }
  if (limit < 0)
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--limit: must be 0 (all) or more");
      goto out;
    }
  /* The output is checked before the corpus runs, so a bad -o fails at once. */
  if ((model = as_cli_load_model (&common, &error)) == NULL ||
      !as_cli_load_ablation (&common, model, &error) ||
      (file = as_cli_open_output (&common, model, &error)) == NULL ||
      (lines = read_corpus (corpus, limit, &error)) == NULL)
    goto out;
  int n_lines = (int) g_strv_length (lines);
  if (limit > 0 && limit < n_lines)
    n_lines = limit;
  if (n_lines == 0)
    {
      g_set_error (&error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: no non-blank lines", corpus);
      goto out;
    }
  if ((backend = as_cli_open_backend (&common, model, &error)) == NULL)
    goto out;
  if (!as_model_check_tokenizer (model, &error))
    goto out;

  /* A tab makes a line a pair, which a decoder cannot take: refused before
   * any line is run, naming the first such line. */
  for (int i = 0; i < n_lines; i++)
    {
      const char *tab = strchr (lines[i], '\t');
      if (!as_tokenizer_check_pair (model->tokenizer, tab, &error))
        {
          g_prefix_error (&error, "%s line %d: ", corpus, i + 1);
          goto out;
        }
    }

  const AsConfig *c = model->config;
  sum = as_head_stats_sum_new (c->n_layers, c->n_heads);
  layer_stats = g_new (AsHeadStats, c->n_heads);   /* [n_heads] */
  gint64 tokens = 0;
  int truncated = 0;
  Progress progress = { isatty (STDERR_FILENO), g_get_monotonic_time (), 0, n_lines,
                        MAX (n_lines / 10, 1), 0 };
  where = as_backend_describe (backend);
  g_printerr ("attnscope-cli stats: %d lines from %s, model %s, %s\n",
              n_lines, corpus, model->name, where);

  for (int i = 0; i < n_lines; i++)
    {
      char *a = lines[i];
      char *b = strchr (a, '\t');
      if (b != NULL)
        *b++ = '\0';
      AsEncoding *enc = as_tokenizer_encode (model->tokenizer, a, b, c->max_positions);
      if (enc->truncated)
        truncated++;
      AsTokenClasses *classes = as_token_classes_from_encoding (enc);
      int n = enc->n_tokens;
      int *ids = g_new (int, n);     /* [n] */
      int *types = g_new (int, n);   /* [n] */
      for (int t = 0; t < n; t++)
        {
          ids[t] = enc->tokens[t].id;
          types[t] = enc->tokens[t].type_id;
        }
      StatsState state = { sum, classes, layer_stats, c->n_heads, n };
      AsForwardRequest req = {
        .ids = ids, .type_ids = types, .n = n,
        .on_layer = add_layer, .user_data = &state,
        .ablate = common.ablation, .n_ablate = common.n_ablation,
      };
      gboolean ok = as_backend_forward (backend, &req, NULL, &error);
      g_free (ids);
      g_free (types);
      as_token_classes_free (classes);
      as_encoding_free (enc);
      if (!ok)
        {
          g_prefix_error (&error, "%s line %d: ", corpus, i + 1);
          if (progress.tty)
            g_printerr ("\n");
          goto out;
        }
      as_head_stats_sum_next_input (sum);
      tokens += n;
      progress_update (&progress, i + 1);
    }
  double secs = (g_get_monotonic_time () - progress.start) / 1e6;
  g_printerr ("attnscope-cli stats: %d lines, %" G_GINT64_FORMAT " tokens (%.1f per line), "
              "%.1f s, %.1f lines/s\n", n_lines, tokens, (double) tokens / n_lines, secs,
              n_lines / MAX (secs, 1e-9));
  if (truncated > 0)
    g_printerr ("attnscope-cli stats: note: %d lines were truncated to %d tokens\n",
                truncated, c->max_positions);

  Summary summary;
  summary_init (&summary, sum);
  FILE *fp = as_output_file_stream (file);
  if (format == 1)
    write_json (fp, &summary, per_layer, model->dir, corpus, tokens, truncated);
  else
    write_csv (fp, &summary, per_layer);
  summary_clear (&summary);
  as_output_file_commit (g_steal_pointer (&file), &error);

out:
  if (file != NULL)
    as_output_file_abort (file);
  g_free (layer_stats);
  g_free (where);
  as_head_stats_sum_free (sum);
  as_backend_free (backend);
  as_model_free (model);
  g_strfreev (lines);
  as_cli_common_clear (&common);
  return as_cli_finish ("stats", error);
}
