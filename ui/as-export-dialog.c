/* as-export-dialog.c — the window's figures to files and to the clipboard. */
#include "as-export-dialog.h"

#include "as-model.h"

#include <glib/gi18n.h>
#include <string.h>

void
as_export_options_from_state (AsViewState     *state,
                              AsFigureView     view,
                              AsFigureOptions *options)
{
  AsAnalysis *a = as_view_state_get_analysis (state);

  as_figure_options_init (options);
  options->view = view;
  options->layer = as_view_state_get_layer (state);
  options->head = as_view_state_get_head (state);
  options->colormap = as_view_state_get_colormap (state);
  options->hide_special = as_view_state_get_hide_special (state);
  /* The screen shows raw rows unless the user asked to renormalise them. */
  options->renormalise = options->hide_special && as_view_state_get_renormalise (state);
  options->dark = as_view_state_get_dark (state);
  options->fit_scale = as_view_state_get_fit_scale (state);
  options->highlight_token = as_view_state_get_token (state);
  /* Head, mean, max or rollout, words, sentence: the matrix the screen shows. */
  AsShownSpec spec;
  as_view_state_get_spec (state, &spec);
  as_figure_options_set_shown (options, &spec);
  if (a != NULL)
    {
      options->model_name = a->model_name;
      options->text_a = a->text_a;
      options->text_b = a->text_b;
    }
}

/* The analysis must be whole: a file of half the layers would be a lie. */
static gboolean
check_complete (AsViewState  *state,
                GError      **error)
{
  AsAnalysis *a = as_view_state_get_analysis (state);
  if (a == NULL)
    {
      g_set_error_literal (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                           _("There is no analysis on screen to export."));
      return FALSE;
    }
  if (as_view_state_get_layers_ready (state) < a->n_layers)
    {
      g_set_error_literal (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                           _("The analysis is still running; export when every layer is in."));
      return FALSE;
    }
  return TRUE;
}

/* ---- saving in a thread ------------------------------------------------- */

typedef struct {
  AsAnalysis      *analysis;   /* keeps the options' strings and the matrices alive */
  AsFigureOptions  options;
  char            *path;
} SaveJob;

static void
save_job_free (gpointer data)
{
  SaveJob *job = data;
  as_analysis_unref (job->analysis);
  g_free (job->path);
  g_free (job);
}

static void
save_in_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  SaveJob *job = task_data;
  GError *error = NULL;
  /* A figure must never replace a file of the model it was made with. */
  g_auto(GStrv) protect = job->analysis->model_dir != NULL ?
                          as_model_list_files_in (job->analysis->model_dir) : NULL;

  if (as_figure_save (job->analysis, &job->options, job->path, (const char * const *) protect,
                      AS_FORMAT_AUTO, NULL, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
as_export_save_async (AsViewState         *state,
                      AsFigureView         view,
                      gboolean             annotate,
                      const char          *path,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, as_export_save_async);
  GError *error = NULL;

  if (!check_complete (state, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (as_figure_format_from_path (path) == AS_FORMAT_AUTO)
    {
      g_autofree char *name = g_filename_display_basename (path);
      g_task_return_new_error (task, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                               _("“%s”: the name must end in .png, .svg or .pdf"), name);
      return;
    }

  SaveJob *job = g_new0 (SaveJob, 1);
  job->analysis = as_analysis_ref (as_view_state_get_analysis (state));
  as_export_options_from_state (state, view, &job->options);
  job->options.annotate = annotate;
  job->path = g_strdup (path);
  g_task_set_task_data (task, job, save_job_free);
  g_task_run_in_thread (task, save_in_thread);
}

gboolean
as_export_save_finish (GAsyncResult  *result,
                       GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

GBytes *
as_export_render_png (AsViewState  *state,
                      AsFigureView  view,
                      GError      **error)
{
  if (!check_complete (state, error))
    return NULL;

  AsFigureOptions options;
  as_export_options_from_state (state, view, &options);
  /* What the head view shows: values where the cells are big enough. */
  options.annotate = view == AS_FIGURE_HEAD;
  return as_figure_render_png (as_view_state_get_analysis (state), &options, error);
}

/* ---- the file chooser --------------------------------------------------- */

static char *last_folder;    /* where the previous export went, for the next */

/* NULL-terminated: the file chooser counts them with g_strv_length. */
static const char *figure_ids[] = { "head", "layer", "mean", "grid", NULL };
static const char *figure_labels[] = {
  N_("Selected head"), N_("Selected layer, all heads"), N_("Mean of the selected layer"), N_("All layers × heads"),
  NULL,
};
static const char *format_ids[] = { "png", "svg", "pdf", NULL };
static const char *format_labels[] = { N_("PNG (bitmap)"), N_("SVG (vector)"), N_("PDF (vector)"), NULL };

/* A modal "Export" chooser for PARENT. */
static GtkFileChooser *
chooser_new (GtkWindow  *parent,
             const char *title)
{
  GtkFileChooserNative *chooser =
    gtk_file_chooser_native_new (title, parent, GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  return GTK_FILE_CHOOSER (chooser);
}

/* The Format choice, the figures filter, NAME in the folder of the
 * previous export (else Pictures). */
static void
chooser_add_format_and_place (GtkFileChooser *fc,
                              const char     *name)
{
  const char *labels[G_N_ELEMENTS (format_labels)];
  for (guint i = 0; i < G_N_ELEMENTS (labels); i++)
    labels[i] = format_labels[i] != NULL ? _(format_labels[i]) : NULL;
  gtk_file_chooser_add_choice (fc, "format", _("Format"), format_ids, labels);
  gtk_file_chooser_set_choice (fc, "format", "png");

  /* Shows the figures already there, and names the list (it would say
   * "(None)" without one). */
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();
  gtk_file_filter_set_name (filter, _("Figures (PNG, SVG, PDF)"));
  gtk_file_filter_add_suffix (filter, "png");
  gtk_file_filter_add_suffix (filter, "svg");
  gtk_file_filter_add_suffix (filter, "pdf");
  gtk_file_chooser_add_filter (fc, filter);

  /* No extension: the Format choice adds one, unless the user types one
   * (a prefilled ".png" would silently overrule the choice). */
  gtk_file_chooser_set_current_name (fc, name);
  const char *folder = last_folder != NULL ? last_folder
                       : g_get_user_special_dir (G_USER_DIRECTORY_PICTURES);
  if (folder != NULL && g_file_test (folder, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GFile) dir = g_file_new_for_path (folder);
      gtk_file_chooser_set_current_folder (fc, dir, NULL);
    }
}

/* The path the user chose, with the chosen format's extension when the
 * name has none, remembered as the next export's folder; NULL with the
 * reason for a file that is not local. */
static char *
chooser_get_path (GtkFileChooser  *fc,
                  GError         **error)
{
  g_autoptr(GFile) file = gtk_file_chooser_get_file (fc);
  char *path = file != NULL ? g_file_get_path (file) : NULL;
  const char *format = gtk_file_chooser_get_choice (fc, "format");

  if (path == NULL)
    {
      g_set_error_literal (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID,
                           _("Only local files can be written."));
      return NULL;
    }
  /* A name typed without an extension gets the chosen format's; a name with
   * one keeps it, so "fig.svg" is an SVG whatever the list says. */
  if (as_figure_format_from_path (path) == AS_FORMAT_AUTO)
    {
      char *with_ext = g_strdup_printf ("%s.%s", path, format != NULL ? format : "png");
      g_free (path);
      path = with_ext;
    }
  g_free (last_folder);
  last_folder = g_path_get_dirname (path);
  return path;
}

/* ---- the attention figures ---------------------------------------------- */

typedef struct {
  GtkWindow    *parent;      /* weak: the dialog is modal to it */
  AsViewState  *state;
  AsExportDone  done;
} DialogJob;

static void
dialog_job_free (DialogJob *job)
{
  g_object_unref (job->state);
  g_object_unref (job->parent);
  g_free (job);
}

static void
on_saved (GObject      *source,
          GAsyncResult *result,
          gpointer      data)
{
  DialogJob *job = data;
  g_autoptr(GError) error = NULL;
  const char *path = g_task_get_task_data (G_TASK (result)) != NULL
                     ? ((SaveJob *) g_task_get_task_data (G_TASK (result)))->path : NULL;

  if (as_export_save_finish (result, &error))
    job->done (job->parent, path, NULL);
  else
    job->done (job->parent, NULL, error);
  dialog_job_free (job);
}

static void
on_response (GtkNativeDialog *chooser,
             int              response,
             gpointer         data)
{
  DialogJob *job = data;
  GtkFileChooser *fc = GTK_FILE_CHOOSER (chooser);

  if (response != GTK_RESPONSE_ACCEPT)
    {
      dialog_job_free (job);
      g_object_unref (chooser);
      return;
    }

  const char *figure = gtk_file_chooser_get_choice (fc, "figure");
  const char *annotate = gtk_file_chooser_get_choice (fc, "annotate");
  int view = as_figure_view_from_name (figure != NULL ? figure : "head");
  gboolean values = g_strcmp0 (annotate, "true") == 0;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = chooser_get_path (fc, &error);

  if (path == NULL)
    {
      job->done (job->parent, NULL, error);
      dialog_job_free (job);
      g_object_unref (chooser);
      return;
    }
  as_export_save_async (job->state, view < 0 ? AS_FIGURE_HEAD : view, values, path, NULL,
                        on_saved, job);
  g_object_unref (chooser);
}

void
as_export_dialog_show (GtkWindow    *parent,
                       AsViewState  *state,
                       AsFigureView  default_view,
                       AsExportDone  done)
{
  g_autoptr(GError) error = NULL;
  if (!check_complete (state, &error))
    {
      done (parent, NULL, error);
      return;
    }

  GtkFileChooser *fc = chooser_new (parent, _("Export Figure"));

  /* The figure the window suggests comes first: GTK 4.8's fallback dialog
   * ignores gtk_file_chooser_set_choice for lists and shows the first. */
  const char *ids[G_N_ELEMENTS (figure_ids)], *labels[G_N_ELEMENTS (figure_ids)];
  int first = default_view == AS_FIGURE_LAYER ? 1 : default_view == AS_FIGURE_MEAN ? 2
              : default_view == AS_FIGURE_GRID ? 3 : 0;
  ids[0] = figure_ids[first], labels[0] = _(figure_labels[first]);
  for (int i = 0, k = 1; figure_ids[i] != NULL; i++)
    if (i != first)
      ids[k] = figure_ids[i], labels[k++] = _(figure_labels[i]);
  ids[G_N_ELEMENTS (ids) - 1] = labels[G_N_ELEMENTS (labels) - 1] = NULL;
  gtk_file_chooser_add_choice (fc, "figure", _("Figure"), ids, labels);
  gtk_file_chooser_set_choice (fc, "figure", ids[0]);

  g_autofree char *name = default_view == AS_FIGURE_GRID
                          ? g_strdup ("attnscope-grid")
                          : g_strdup_printf ("attnscope-layer%d-head%d",
                                             as_view_state_get_layer (state) + 1,
                                             as_view_state_get_head (state) + 1);
  chooser_add_format_and_place (fc, name);
  gtk_file_chooser_add_choice (fc, "annotate", _("Values in cells"), NULL, NULL);
  gtk_file_chooser_set_choice (fc, "annotate", default_view == AS_FIGURE_HEAD ? "true" : "false");

  DialogJob *job = g_new0 (DialogJob, 1);
  job->parent = g_object_ref (parent);
  job->state = g_object_ref (state);
  job->done = done;
  g_signal_connect (fc, "response", G_CALLBACK (on_response), job);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (fc));
}

/* ---- other drawings ------------------------------------------------------ */

typedef struct {
  GtkWindow      *parent;
  GObject        *object;
  AsExportSaveFunc save;
  AsExportDone    done;
} DrawingJob;

static void
on_drawing_response (GtkNativeDialog *chooser,
                     int              response,
                     DrawingJob      *job)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *path = chooser_get_path (GTK_FILE_CHOOSER (chooser), &error);
      if (path != NULL)
        job->save (job->object, path, &error);
      job->done (job->parent, error == NULL ? path : NULL, error);
    }
  g_object_unref (job->object);
  g_object_unref (job->parent);
  g_free (job);
  g_object_unref (chooser);
}

void
as_export_drawing_dialog_show (GtkWindow        *parent,
                               const char       *title,
                               const char       *suggested_name,
                               AsExportSaveFunc  save,
                               gpointer          object,
                               AsExportDone      done)
{
  g_return_if_fail (G_IS_OBJECT (object));
  GtkFileChooser *fc = chooser_new (parent, title);
  chooser_add_format_and_place (fc, suggested_name);

  DrawingJob *job = g_new0 (DrawingJob, 1);
  job->parent = g_object_ref (parent);
  job->object = g_object_ref (object);
  job->save = save;
  job->done = done;
  g_signal_connect (fc, "response", G_CALLBACK (on_drawing_response), job);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (fc));
}
