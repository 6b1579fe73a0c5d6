/* attnscope-cli export — attention heatmaps to PNG, SVG or PDF.
 *
 * Draws with the same Cairo figure code as the app (ui/render/as-figure.c).
 * Layers and heads are numbered from 1 here, as in the figure titles.
 */
#include "as-cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef AS_HAVE_RENDER

#include "as-figure.h"
#include "as-session.h"

#define UNSET G_MININT   /* --layer/--head not given */

typedef struct {
  char     *text;
  char     *view;
  int       layer;        /* 1-based; UNSET when not given */
  int       head;         /* 1-based; UNSET when not given */
  char     *width;
  char     *height;
  char     *colormap;
  double    dpi;
  gboolean  annotate;
  gboolean  hide_special;
  gboolean  keep_sums;    /* --no-renormalise */
  gboolean  words;
  char     *aggregate;
  char     *sentence;
  gboolean  dark;
  gboolean  fit_scale;
  gboolean  no_title;
  gboolean  print_layout;
  char     *session;
  int       highlight;    /* the session's token, -1 for none */
} ExportOptions;

static void
add_export_entries (GOptionContext *ctx,
                    ExportOptions  *e)
{
  const GOptionEntry entries[] = {
    { "text", 't', 0, G_OPTION_ARG_STRING, &e->text, "The sentence (instead of positional TEXT)", "TEXT" },
    { "view", 0, 0, G_OPTION_ARG_STRING, &e->view, "head (default), layer, grid or mean", "VIEW" },
    { "layer", 'l', 0, G_OPTION_ARG_INT, &e->layer, "Layer, counted from 1 (default 1; not with --view grid)", "L" },
    { "head", 'H', 0, G_OPTION_ARG_INT, &e->head, "Head, counted from 1 (default 1; --view head only)", "H" },
    { "width", 0, 0, G_OPTION_ARG_STRING, &e->width, "Width: 800 or 800px (pixels), 400pt, 5.5in", "SIZE" },
    { "height", 0, 0, G_OPTION_ARG_STRING, &e->height, "Height, as --width (default: the view's aspect)", "SIZE" },
    { "dpi", 0, 0, G_OPTION_ARG_DOUBLE, &e->dpi, "Pixels per inch between px and pt (default 96)", "DPI" },
    { "colormap", 'c', 0, G_OPTION_ARG_STRING, &e->colormap, "viridis (default), magma, blues or greys", "NAME" },
    { "annotate", 'a', 0, G_OPTION_ARG_NONE, &e->annotate, "Print values in cells big enough to hold them", NULL },
    { "hide-special", 0, 0, G_OPTION_ARG_NONE, &e->hide_special, "Leave out [CLS]/[SEP] (unless nothing else is left; rows renormalised)", NULL },
    { "no-renormalise", 0, 0, G_OPTION_ARG_NONE, &e->keep_sums, "With --hide-special or --sentence, keep the raw row values", NULL },
    /* The American spelling, accepted as documented in the README. */
    { "no-renormalize", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &e->keep_sums, "Same as --no-renormalise", NULL },
    { "aggregate", 0, 0, G_OPTION_ARG_STRING, &e->aggregate,
      "--view head draws: head (default), mean or max of --layer's heads, or rollout through --layer", "WHAT" },
    { "words", 'w', 0, G_OPTION_ARG_NONE, &e->words, "Merge ## pieces into words (to: summed, from: averaged)", NULL },
    { "word-level", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &e->words, "Same as --words", NULL },
    { "sentence", 0, 0, G_OPTION_ARG_STRING, &e->sentence, "With --pair: all (default), a or b, the rows and columns kept", "WHICH" },
    { "dark", 0, 0, G_OPTION_ARG_NONE, &e->dark, "Dark background, light text", NULL },
    { "fit-scale", 0, 0, G_OPTION_ARG_NONE, &e->fit_scale,
      "Head view: colours fitted to the matrix, as the app shows it (default 0 to 1)", NULL },
    { "no-title", 0, 0, G_OPTION_ARG_NONE, &e->no_title, "Leave out the title line", NULL },
    { "print-layout", 0, 0, G_OPTION_ARG_NONE, &e->print_layout, "Print where each heatmap's cells are (JSON lines)", NULL },
    { "session", 0, 0, G_OPTION_ARG_FILENAME, &e->session,
      "Draw what a saved session (.attnscope) shows; the options given here win", "FILE" },
    { NULL }
  };
  g_option_context_add_main_entries (ctx, entries, NULL);
}

static void
export_options_clear (ExportOptions *e)
{
  g_free (e->text);
  g_free (e->view);
  g_free (e->width);
  g_free (e->height);
  g_free (e->colormap);
  g_free (e->aggregate);
  g_free (e->sentence);
  g_free (e->session);
}

/* --session: what the session shows fills in every option not given. A
 * switch (--hide-special, --words, --fit-scale) can only be added; the
 * highlighted token goes with the session's own text. */
static gboolean
apply_session (ExportOptions  *e,
               AsCliCommon    *common,
               GError        **error)
{
  if (e->session == NULL)
    return TRUE;
  g_autoptr(AsSession) s = as_session_load (e->session, error);
  if (s == NULL)
    return FALSE;
  gboolean head_view = e->view == NULL || g_ascii_strcasecmp (e->view, "head") == 0;
  gboolean one_head = e->aggregate == NULL ? s->aggregate == AS_SHOWN_HEAD
                                           : g_ascii_strcasecmp (e->aggregate, "head") == 0;
  if (common->model_dir == NULL)
    common->model_dir = g_strdup (s->model);
  if (e->text == NULL && common->text_file == NULL && (common->rest == NULL || common->rest[0] == NULL))
    {
      e->text = g_strdup (s->text);
      if (common->pair == NULL && *s->pair != '\0')
        common->pair = g_strdup (s->pair);
      e->highlight = s->token;
    }
  if (e->layer == UNSET && (e->view == NULL || g_ascii_strcasecmp (e->view, "grid") != 0))
    e->layer = s->layer + 1;
  if (e->head == UNSET && head_view && one_head)
    e->head = s->head + 1;
  if (e->aggregate == NULL && head_view && s->aggregate != AS_SHOWN_HEAD)
    e->aggregate = g_strdup (as_shown_aggregate_name (s->aggregate));
  if (e->colormap == NULL)
    e->colormap = g_strdup (s->colormap);
  e->hide_special |= s->hide_special;
  /* The app shows raw rows unless renormalising was asked for. */
  e->keep_sums |= s->hide_special && !s->renormalise;
  e->words |= s->words;
  e->fit_scale |= s->fit_scale;
  return TRUE;
}

/* "800", "800px", "400pt", "5.5in" -> value and whether it is in points. */
static gboolean
parse_size (const char    *option,
            const char    *text,
            double        *value,
            AsFigureUnit  *unit,
            GError       **error)
{
  char *end = NULL;
  double v = g_ascii_strtod (text, &end);
  double scale = 1;
  *unit = AS_UNIT_PX;
  if (g_strcmp0 (end, "pt") == 0)
    *unit = AS_UNIT_PT;
  else if (g_strcmp0 (end, "in") == 0)
    *unit = AS_UNIT_PT, scale = 72;
  else if (end == NULL || (*end != '\0' && g_strcmp0 (end, "px") != 0))
    v = -1;
  if (end == text || !(v > 0) || v * scale > 1e5)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "%s: '%s' is not a size (like 800, 800px, 400pt or 5.5in)", option, text);
      return FALSE;
    }
  *value = v * scale;
  return TRUE;
}

/* Width and height in one unit: points win when either is in points. */
static gboolean
apply_sizes (const ExportOptions  *e,
             AsFigureOptions      *o,
             GError              **error)
{
  AsFigureUnit wu = AS_UNIT_PX, hu = AS_UNIT_PX;
  if (e->width != NULL && !parse_size ("--width", e->width, &o->width, &wu, error))
    return FALSE;
  if (e->height != NULL && !parse_size ("--height", e->height, &o->height, &hu, error))
    return FALSE;
  o->unit = (wu == AS_UNIT_PT || hu == AS_UNIT_PT) ? AS_UNIT_PT : AS_UNIT_PX;
  if (o->unit == AS_UNIT_PT && wu == AS_UNIT_PX)
    o->width *= 72 / o->dpi;
  if (o->unit == AS_UNIT_PT && hu == AS_UNIT_PX)
    o->height *= 72 / o->dpi;
  return TRUE;
}

/* Options a view cannot honour are refused rather than ignored. */
static gboolean
check_view_options (const ExportOptions  *e,
                    const AsCliCommon    *common,
                    AsFigureView          view,
                    int                   aggregate,
                    GError              **error)
{
  const char *why = NULL;
  if (e->keep_sums && !e->hide_special && e->sentence == NULL)
    why = "--no-renormalise only applies with --hide-special or --sentence";
  else if (view == AS_FIGURE_GRID && (e->layer != UNSET || e->head != UNSET))
    why = "--view grid draws every layer and head: leave out --layer and --head";
  else if ((view == AS_FIGURE_LAYER || view == AS_FIGURE_MEAN) && e->head != UNSET)
    why = view == AS_FIGURE_LAYER ? "--view layer draws every head of --layer: leave out --head"
                                  : "--view mean averages every head of --layer: leave out --head";
  else if (e->aggregate != NULL && (view == AS_FIGURE_LAYER || view == AS_FIGURE_GRID))
    why = "--aggregate is for --view head: the layer and grid views draw single heads";
  else if (e->aggregate != NULL && view == AS_FIGURE_MEAN && aggregate != AS_SHOWN_MEAN)
    why = "--view mean is --aggregate mean: leave out one of them";
  else if (aggregate != AS_SHOWN_HEAD && e->head != UNSET)
    why = "--aggregate mean, max and rollout combine every head: leave out --head";
  else if (e->sentence != NULL && g_ascii_strcasecmp (e->sentence, "all") != 0 && common->pair == NULL)
    why = "--sentence a or b needs a sentence pair (--pair)";
  if (why != NULL)
    g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, why);
  return why == NULL;
}

/* --format and -o's extension must agree; one of them must say. */
static gboolean
resolve_format (const AsCliCommon  *common,
                AsFigureFormat     *format,
                GError            **error)
{
  int named = common->format != NULL ? as_figure_format_from_name (common->format) : AS_FORMAT_AUTO;
  if (named < 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--format: '%s' is not one of png, svg, pdf", common->format);
      return FALSE;
    }
  if (common->output == NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "no output file: give -o FILE (.png, .svg or .pdf), or -o - with --format");
      return FALSE;
    }
  AsFigureFormat from_path = g_strcmp0 (common->output, "-") == 0
                               ? AS_FORMAT_AUTO : as_figure_format_from_path (common->output);
  if (named != AS_FORMAT_AUTO && from_path != AS_FORMAT_AUTO && named != (int) from_path)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--format %s does not match the name '%s': rename it or leave out --format",
                   common->format, common->output);
      return FALSE;
    }
  *format = named != AS_FORMAT_AUTO ? (AsFigureFormat) named : from_path;
  if (*format == AS_FORMAT_AUTO)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "cannot tell the format of '%s': give --format png, svg or pdf", common->output);
      return FALSE;
    }
  return TRUE;
}

static gboolean
apply_options (const ExportOptions  *e,
               const AsCliCommon    *common,
               AsFigureOptions      *o,
               AsFigureFormat       *format,
               GError              **error)
{
  as_figure_options_init (o);
  int view = e->view != NULL ? as_figure_view_from_name (e->view) : AS_FIGURE_HEAD;
  int colormap = e->colormap != NULL ? as_colormap_from_name (e->colormap) : AS_COLORMAP_VIRIDIS;
  if (view < 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--view: '%s' is not one of head, layer, grid, mean", e->view);
      return FALSE;
    }
  if (colormap < 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--colormap: '%s' is not one of viridis, magma, blues, greys", e->colormap);
      return FALSE;
    }
  if (e->dpi < 0 || (e->dpi > 0 && (e->dpi < 10 || e->dpi > 2400)))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--dpi: %g is outside 10 to 2400", e->dpi);
      return FALSE;
    }
  int aggregate = e->aggregate != NULL ? as_shown_aggregate_from_name (e->aggregate) : AS_SHOWN_HEAD;
  int sentence = e->sentence != NULL ? as_shown_sentence_from_name (e->sentence) : AS_SHOWN_ALL;
  if (aggregate < 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--aggregate: '%s' is not one of head, mean, max, rollout", e->aggregate);
      return FALSE;
    }
  if (sentence < 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--sentence: '%s' is not one of all, a, b", e->sentence);
      return FALSE;
    }
  if ((e->layer != UNSET && e->layer < 1) || (e->head != UNSET && e->head < 1))
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--layer and --head count from 1");
      return FALSE;
    }
  if (!check_view_options (e, common, (AsFigureView) view, aggregate, error) ||
      !resolve_format (common, format, error))
    return FALSE;
  /* What is drawn is an AsShownSpec, as on screen. */
  AsShownSpec spec;
  as_shown_spec_init (&spec);
  spec.aggregate = (AsShownAggregate) aggregate;
  spec.layer = e->layer != UNSET ? e->layer - 1 : 0;
  spec.head = e->head != UNSET ? e->head - 1 : 0;
  spec.hide_special = e->hide_special;
  spec.renormalise = !e->keep_sums;
  spec.words = e->words;
  spec.sentence = (AsShownSentence) sentence;
  o->view = (AsFigureView) view;
  as_figure_options_set_shown (o, &spec);
  o->colormap = (AsColormapId) colormap;
  if (e->dpi > 0)
    o->dpi = e->dpi;
  o->annotate = e->annotate;
  o->dark = e->dark;
  o->fit_scale = e->fit_scale;
  o->title = !e->no_title;
  return apply_sizes (e, o, error);
}

/* --text is one more way to give sentence A; it joins the positional words. */
static gboolean
take_text_option (ExportOptions  *e,
                  AsCliCommon    *common,
                  GError        **error)
{
  if (e->text == NULL)
    return TRUE;
  if ((common->rest != NULL && common->rest[0] != NULL) || common->text_file != NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "give the text once: --text, --text-file or as arguments");
      return FALSE;
    }
  g_strfreev (common->rest);
  common->rest = g_new0 (char *, 2);
  common->rest[0] = g_steal_pointer (&e->text);
  return TRUE;
}

/* Tokenizes with the text's length (a file may hold NUL bytes) and runs
 * the model on the ids. */
static AsAnalysis *
compute (AsBackend   *backend,
         const char  *text,
         gsize        text_len,
         const char  *pair,
         GError     **error)
{
  const AsModel *model = backend->model;
  if (!as_model_check_tokenizer (model, error) ||
      !as_tokenizer_check_pair (model->tokenizer, pair, error))
    return NULL;
  AsEncoding *enc = as_tokenizer_encode_len (model->tokenizer, text, (gssize) text_len, pair, -1,
                                             model->config->max_positions);
  int *ids = g_new (int, enc->n_tokens);
  int *types = g_new (int, enc->n_tokens);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      ids[i] = enc->tokens[i].id;
      types[i] = enc->tokens[i].type_id;
    }
  AsAnalysis *a = as_attention_compute_ids (backend, ids, types, enc->n_tokens, error);
  g_free (ids);
  g_free (types);
  if (a == NULL)
    as_encoding_free (enc);
  else
    a->encoding = enc;
  return a;
}

/* One JSON object per heatmap, layers and heads counted from 1 as above. */
static void
print_layout (FILE   *out,
              GArray *panels)
{
  for (guint i = 0; i < panels->len; i++)
    {
      const AsFigurePanel *p = &g_array_index (panels, AsFigurePanel, i);
      char head[16] = "null";
      if (p->head >= 0)
        g_snprintf (head, sizeof head, "%d", p->head + 1);
      fprintf (out, "{\"layer\": %d, \"head\": %s, \"n\": %d, \"cells_x\": %.4f, \"cells_y\": %.4f, "
               "\"cell\": %.4f, \"pool\": %d, \"row_stride\": %d}\n",
               p->layer + 1, head, p->n, p->layout.cells_x, p->layout.cells_y,
               p->layout.cell_w, p->layout.pool, p->layout.row_stride);
    }
}

int
as_cli_export (int    argc,
               char **argv)
{
  AsCliCommon common = { 0 };
  ExportOptions e = { .layer = UNSET, .head = UNSET, .highlight = -1 };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("— draw attention heatmaps to PNG, SVG or PDF");
  GError *error = NULL;
  as_cli_add_model_options (ctx, &common);
  as_cli_add_text_options (ctx, &common);
  as_cli_add_device_options (ctx, &common);
  as_cli_add_output_options (ctx, &common,
                             "Write the figure to FILE (required; - for standard output with --format); "
                             "it appears whole or not at all",
                             "png, svg or pdf (default: from -o's extension)");
  add_export_entries (ctx, &e);
  g_option_context_set_summary (ctx,
    "Views: head (one head with token labels; --aggregate mean, max or rollout\n"
    "for the mean or max of --layer's heads or rollout through --layer),\n"
    "layer (all heads of --layer), grid (every layer x head), mean (the same\n"
    "as --aggregate mean).\n"
    "Layers and heads count from 1, as in the figure titles.\n"
    "Formats: png, svg, pdf (from -o's extension, or --format). SVG and PDF\n"
    "cells are vector rectangles. The file appears whole or not at all.");

  g_autofree char *text = NULL;
  gsize text_len = 0;
  AsModel *model = NULL;
  AsBackend *backend = NULL;
  AsAnalysis *attention = NULL;
  AsOutputFile *file = NULL;
  AsFigureOptions options;
  AsFigureFormat format;
  GArray *panels = NULL;

  if (!as_cli_parse (ctx, &common, &argc, &argv, &error) ||
      !apply_session (&e, &common, &error) ||
      !take_text_option (&e, &common, &error) ||
      !apply_options (&e, &common, &options, &format, &error) ||
      !as_cli_check_text (&common, &error) ||
      (model = as_cli_load_model (&common, &error)) == NULL ||
      (file = as_cli_open_output (&common, model, &error)) == NULL ||
      (text = as_cli_read_text (&common, model, &text_len, &error)) == NULL ||
      (backend = as_cli_open_backend (&common, model, &error)) == NULL ||
      (attention = compute (backend, text, text_len, common.pair, &error)) == NULL)
    goto out;
  as_cli_report_truncation (attention->encoding, model);

  options.model_name = model->name;
  if (e.highlight >= 0 && e.highlight < attention->n)
    options.highlight_token = e.highlight;
  options.text_a = text;
  options.text_b = common.pair;
  panels = g_array_new (FALSE, FALSE, sizeof (AsFigurePanel));
  if (!as_figure_write (attention, &options, file, format, panels, &error) ||
      !as_output_file_commit (g_steal_pointer (&file), &error))
    goto out;
  if (e.print_layout)
    print_layout (g_strcmp0 (common.output, "-") == 0 ? stderr : stdout, panels);

out:
  if (file != NULL)
    as_output_file_abort (file);
  if (panels != NULL)
    g_array_unref (panels);
  as_analysis_unref (attention);
  as_backend_free (backend);
  as_model_free (model);
  export_options_clear (&e);
  as_cli_common_clear (&common);
  return as_cli_finish ("export", error);
}

#else /* !AS_HAVE_RENDER */

int
as_cli_export (int    argc,
               char **argv)
{
  g_printerr ("attnscope-cli: error: export: this build has no Cairo/Pango (install libcairo2-dev "
              "and libpango1.0-dev, then rebuild)\n");
  return 1;
}

#endif
