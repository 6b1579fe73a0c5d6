/* attnscope-cli export — attention heatmaps to PNG, SVG or PDF.
 *
 * Draws with the same Cairo figure code as the app (ui/as-figure.c). Layers
 * and heads are numbered from 1 here, as in the figure titles.
 */
#include "as-cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef AS_HAVE_RENDER

#include "as-figure.h"

typedef struct {
  char     *text;
  char     *view;
  int       layer;        /* 1-based */
  int       head;         /* 1-based */
  char     *width;
  char     *height;
  char     *colormap;
  double    dpi;
  gboolean  annotate;
  gboolean  hide_special;
  gboolean  keep_sums;    /* --no-renormalize */
  gboolean  word_level;
  gboolean  dark;
  gboolean  no_title;
  gboolean  print_layout;
} ExportOptions;

static void
add_export_entries (GOptionContext *ctx,
                    ExportOptions  *e)
{
  const GOptionEntry entries[] = {
    { "text", 't', 0, G_OPTION_ARG_STRING, &e->text, "The sentence (instead of positional TEXT)", "TEXT" },
    { "view", 0, 0, G_OPTION_ARG_STRING, &e->view, "head (default), layer, grid or mean", "VIEW" },
    { "layer", 'l', 0, G_OPTION_ARG_INT, &e->layer, "Layer, counted from 1 (default 1)", "L" },
    { "head", 'H', 0, G_OPTION_ARG_INT, &e->head, "Head, counted from 1 (default 1)", "H" },
    { "width", 0, 0, G_OPTION_ARG_STRING, &e->width, "Width: 800 or 800px (pixels), 400pt, 5.5in", "SIZE" },
    { "height", 0, 0, G_OPTION_ARG_STRING, &e->height, "Height, as --width (default: the view's aspect)", "SIZE" },
    { "dpi", 0, 0, G_OPTION_ARG_DOUBLE, &e->dpi, "Pixels per inch between px and pt (default 96)", "DPI" },
    { "colormap", 'c', 0, G_OPTION_ARG_STRING, &e->colormap, "viridis (default), magma, blues or greys", "NAME" },
    { "annotate", 'a', 0, G_OPTION_ARG_NONE, &e->annotate, "Print values in cells big enough to hold them", NULL },
    { "hide-special", 0, 0, G_OPTION_ARG_NONE, &e->hide_special, "Leave out [CLS], [SEP] … (rows renormalised)", NULL },
    { "no-renormalize", 0, 0, G_OPTION_ARG_NONE, &e->keep_sums, "With --hide-special, keep the raw row values", NULL },
    { "word-level", 'w', 0, G_OPTION_ARG_NONE, &e->word_level, "Merge ## pieces into words (to: summed, from: averaged)", NULL },
    { "dark", 0, 0, G_OPTION_ARG_NONE, &e->dark, "Dark background, light text", NULL },
    { "no-title", 0, 0, G_OPTION_ARG_NONE, &e->no_title, "Leave out the title line", NULL },
    { "print-layout", 0, 0, G_OPTION_ARG_NONE, &e->print_layout, "Print where each heatmap's cells are (JSON lines)", NULL },
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
  int format_id = common->format != NULL ? as_figure_format_from_name (common->format) : AS_FORMAT_AUTO;
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
  o->view = (AsFigureView) view;
  o->colormap = (AsColormapId) colormap;
  *format = (AsFigureFormat) format_id;
  if (e->dpi > 0)
    o->dpi = e->dpi;
  o->layer = e->layer - 1;
  o->head = e->head - 1;
  o->annotate = e->annotate;
  o->hide_special = e->hide_special;
  o->renormalize = !e->keep_sums;
  o->word_level = e->word_level;
  o->dark = e->dark;
  o->title = !e->no_title;
  if (!apply_sizes (e, o, error))
    return FALSE;

  if (format_id < 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--format: '%s' is not one of png, svg, pdf", common->format);
      return FALSE;
    }
  if (common->output == NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "no output file: give -o FILE (.png, .svg or .pdf)");
      return FALSE;
    }
  if (*format == AS_FORMAT_AUTO && as_figure_format_from_path (common->output) == AS_FORMAT_AUTO)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "cannot tell the format of '%s': give --format png, svg or pdf", common->output);
      return FALSE;
    }
  return TRUE;
}

static char *
export_text (ExportOptions  *e,
             AsCliCommon    *common,
             GError        **error)
{
  if (e->text == NULL)
    return as_cli_common_text (common, error);
  if ((common->rest != NULL && common->rest[0] != NULL) || common->text_file != NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "give the text once: --text, --text-file or as arguments");
      return NULL;
    }
  return g_strdup (e->text);
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
  ExportOptions e = { .layer = 1, .head = 1 };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("— draw attention heatmaps to PNG, SVG or PDF");
  g_autoptr(GError) error = NULL;
  g_option_context_set_main_group (ctx, as_cli_common_group (&common));
  add_export_entries (ctx, &e);
  g_option_context_set_summary (ctx,
    "Views: head (one head with token labels), layer (all heads of --layer),\n"
    "grid (every layer x head), mean (the average of --layer's heads).\n"
    "Layers and heads count from 1, as in the figure titles.\n"
    "Formats: png, svg, pdf (from -o's extension, or --format). SVG and PDF\n"
    "cells are vector rectangles. The file appears whole or not at all.");

  int status = 1;
  g_autofree char *text = NULL;
  AsModel *model = NULL;
  AsBackend *backend = NULL;
  AsAttention *attention = NULL;
  AsFigureOptions options;
  AsFigureFormat format;
  GArray *panels = NULL;

  if (!g_option_context_parse (ctx, &argc, &argv, &error) ||
      !apply_options (&e, &common, &options, &format, &error) ||
      (text = export_text (&e, &common, &error)) == NULL)
    goto out;
  if ((model = as_cli_load_model (&common, &error)) == NULL ||
      (backend = as_cli_open_backend (&common, model, &error)) == NULL ||
      (attention = as_attention_compute (backend, text, common.pair, &error)) == NULL)
    goto out;
  as_cli_report_truncation (attention->encoding, model);

  options.model_name = model->name;
  options.text_a = text;
  options.text_b = common.pair;
  panels = g_array_new (FALSE, FALSE, sizeof (AsFigurePanel));
  if (!as_figure_save (attention, &options, common.output, format, panels, &error))
    goto out;
  if (e.print_layout)
    print_layout (g_strcmp0 (common.output, "-") == 0 ? stderr : stdout, panels);
  status = 0;

out:
  if (error != NULL)
    g_printerr ("attnscope-cli export: %s\n", error->message);
  if (panels != NULL)
    g_array_unref (panels);
  as_attention_free (attention);
  as_backend_free (backend);
  as_model_free (model);
  export_options_clear (&e);
  as_cli_common_clear (&common);
  return status;
}

#else /* !AS_HAVE_RENDER */

int
as_cli_export (int    argc,
               char **argv)
{
  g_printerr ("attnscope-cli export: this build has no Cairo/Pango (install libcairo2-dev "
              "and libpango1.0-dev, then rebuild)\n");
  return 2;
}

#endif
