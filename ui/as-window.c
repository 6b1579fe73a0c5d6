/* as-window.c — wires the entries, the worker and the views together.
 *
 * The window owns one AsWorker (the engine thread) and one AsViewState. It
 * never waits on the engine: typing restarts a short debounce, which sends a
 * request; the worker's per-layer posts move the view state forward; anything
 * from an older generation is dropped by the worker before it gets here.
 */
#include "as-window-private.h"

#include <glib/gi18n.h>
#include <string.h>

#include "as-device-button.h"
#include "as-error.h"
#include "as-export-dialog.h"
#include "as-generate-bar.h"
#include "as-page-tabs.h"
#include "as-compare-view.h"
#include "as-ablation-view.h"
#include "as-next-token-view.h"
#include "as-projector.h"
#include "as-lens-view.h"
#include "as-mlm-view.h"
#include "as-teach-view.h"
#include "as-lines-view.h"
#include "as-recent-models.h"
#include "as-session.h"
#include "as-stats-table.h"
#include "as-token-strip.h"
#include "as-trace.h"

/* How long typing waits before it asks for an analysis. A request cancels
 * the one before it between layers, so a burst of keystrokes costs at most
 * one layer per key; waiting pays only when a forward is slow enough that
 * those layers would delay the last key's result. When the last forward
 * took under a frame, a keystroke starts its analysis at once; otherwise a
 * burst is folded into one request. */
#define FRAME_US     16667
#define DEBOUNCE_MS  40

G_DEFINE_FINAL_TYPE (AsWindow, as_window, ADW_TYPE_APPLICATION_WINDOW)

enum {
  PROP_0,
  PROP_DEVICE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* A toast with a button for ACTION when BUTTON is not NULL. */
static void
toast_with_button (AsWindow   *self,
                   const char *text,
                   const char *button,
                   const char *action)
{
  AdwToast *t = adw_toast_new (text);
  adw_toast_set_timeout (t, button != NULL ? 8 : 4);
  if (button != NULL)
    {
      adw_toast_set_button_label (t, button);
      adw_toast_set_action_name (t, action);
    }
  adw_toast_overlay_add_toast (self->toast_overlay, t);
}

void
_as_window_toast (AsWindow   *self,
                  const char *text)
{
  toast_with_button (self, text, NULL, NULL);
}

/* ---- analysis ----------------------------------------------------------- */

static void
request_analysis (AsWindow *self)
{
  g_clear_handle_id (&self->debounce_id, g_source_remove);
  if (!self->have_model)
    return;
  const char *a = gtk_editable_get_text (GTK_EDITABLE (self->entry_a));
  /* A model that takes one text hides sentence B, which keeps its text for
   * the next model that takes pairs. */
  const char *b = gtk_widget_get_visible (GTK_WIDGET (self->entry_b))
                  ? gtk_editable_get_text (GTK_EDITABLE (self->entry_b)) : "";
  guint generation = as_worker_analyse (self->worker, a, b);
  as_trace_requested (generation, (int) (strlen (a) + strlen (b)));
}

static gboolean
debounce_done (gpointer data)
{
  AsWindow *self = data;
  self->debounce_id = 0;
  request_analysis (self);
  return G_SOURCE_REMOVE;
}

static void
on_text_changed (AsWindow *self)
{
  as_trace_keystroke ();
  g_clear_handle_id (&self->debounce_id, g_source_remove);
  /* an edit of one's own: the text is no longer the model's continuation
   * of a prompt (generation's insertions do not come here) */
  as_view_state_set_generated_from (self->state, -1);
  /* Even "at once" goes through the main loop, so the two "changed" of one
   * edit (a paste over a selection) still make one request. */
  guint delay = self->last_forward_us > 0 && self->last_forward_us < FRAME_US ? 0 : DEBOUNCE_MS;
  self->debounce_id = g_timeout_add (delay, debounce_done, self);
}

static void
on_analysis_started (AsWindow   *self,
                     AsAnalysis *analysis)
{
  gtk_spinner_start (self->spinner);
}

static void
on_layer_ready (AsWindow   *self,
                AsAnalysis *analysis,
                int         layer)
{
  /* The views switch to a new analysis with its first layer, so a view never
   * mixes the tokens of one text with the attention of another. */
  if (as_view_state_get_analysis (self->state) != analysis)
    as_view_state_set_analysis (self->state, analysis);
  as_view_state_layer_added (self->state, layer);
}

static void
update_status (AsWindow *self)
{
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  if (a == NULL)
    {
      gtk_label_set_text (self->status_label, "");
      return;
    }
  g_autoptr(GString) s = g_string_new (NULL);
  /* A long paste loses its tail silently unless the window says so: the
   * notice leads the status line, in the warning colour, and a toast
   * announces it when the text first goes over the limit. */
  gboolean truncated = a->encoding->truncated;
  if (truncated)
    g_string_append_printf (s, _("Truncated to the model's %d tokens (%d dropped)"),
                            a->n, a->encoding->n_dropped);
  else
    g_string_append_printf (s, _("%d tokens"), a->n);
  if (a->text_b != NULL)
    g_string_append (s, _(" (pair)"));
  if (truncated && !self->was_truncated)
    {
      g_autofree char *msg = g_strdup_printf (_("Text truncated to the model's limit of %d tokens; "
                                              "%d tokens dropped"), a->n, a->encoding->n_dropped);
      _as_window_toast (self, msg);
    }
  self->was_truncated = truncated;
  gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "error");
  if (truncated)
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "dim-label");
      gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "warning");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "warning");
      gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "dim-label");
    }
  /* The model's name is the window's subtitle and the kernels are the
   * device button's tooltip: the line says only what a user acts on. */
  g_string_append_printf (s, _(" · %d layers × %d heads"), a->n_layers, a->n_heads);
  if (a->layers_ready == a->n_layers)
    /* Translators: %s is CPU or GPU. */
    g_string_append_printf (s, _(" · %.1f ms on the %s"), a->compute_time / 1000.0,
                            g_strcmp0 (as_worker_get_backend_kind (self->worker), "cpu") == 0
                            ? "CPU" : "GPU");
  gtk_label_set_text (self->status_label, s->str);
  /* The line may be ellipsized next to the options; the tooltip has it all. */
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->status_label), s->str);
}

static void
on_analysis_finished (AsWindow   *self,
                      AsAnalysis *analysis)
{
  gtk_spinner_stop (self->spinner);
  self->last_forward_us = analysis->compute_time;
  update_status (self);
  as_trace_print ("engine: gen %u, %d tokens: forward %.1f ms, request -> all layers delivered %.1f ms",
                  analysis->generation, analysis->n, analysis->compute_time / 1000.0,
                  (g_get_monotonic_time () - analysis->request_time) / 1000.0);
  as_window_sessions_analysis_done (self);
}

static void
on_analysis_failed (AsWindow     *self,
                    guint         generation,
                    const GError *error)
{
  gtk_spinner_stop (self->spinner);
  /* Nothing of the failed text may look like its result, and the previous
   * text's pictures are not this text's: the views are emptied, and the
   * head view's caption, the status line and a toast say why. */
  self->failed_generation = generation;
  as_view_state_set_analysis (self->state, NULL);
  g_free (self->failure);
  self->failure = g_strdup (error->message);
  g_autofree char *reason = g_strdup_printf ("%c%s.", g_ascii_toupper (error->message[0]), error->message + 1);
  if (g_error_matches (error, AS_MODEL_ERROR, AS_MODEL_ERROR_NOT_FINITE))
    {
      _as_window_toast (self, _("This model's attention is not finite on this text: nothing to show"));
      adw_status_page_set_title (self->failure_page, _("The Attention Is Not Finite"));
      g_autofree char *text = g_strdup_printf (_("%s\n\nNo picture is drawn rather than a wrong one. "
                                               "Another text, or another model, may work."), reason);
      adw_status_page_set_description (self->failure_page, text);
    }
  else
    {
      g_autofree char *msg = g_strdup_printf (_("Analysis failed: %s"), error->message);
      _as_window_toast (self, msg);
      adw_status_page_set_title (self->failure_page, _("Could Not Analyse This Text"));
      adw_status_page_set_description (self->failure_page, reason);
    }
  gtk_stack_set_visible_child (self->content_stack, GTK_WIDGET (self->failure_page));
  g_autofree char *status = g_strdup_printf (_("Not analysed: %s"), error->message);
  gtk_label_set_text (self->status_label, status);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->status_label), status);
  gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "dim-label");
  gtk_widget_remove_css_class (GTK_WIDGET (self->status_label), "warning");
  gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "error");
  as_window_sessions_analysis_done (self);
}

/* ---- device, export, clipboard ------------------------------------------ */

/* The raw reason the GPU is not used, behind the toast's Details button
 * and the device menu's "Why Not the GPU?" item. */
static void
device_details_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  AsWindow *self = AS_WINDOW (widget);
  const char *notice = as_worker_get_backend_notice (self->worker);
  if (notice == NULL)
    return;
  const char *summary = as_device_fallback_summary (as_worker_get_backend_fallback (self->worker));
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Why the GPU Is Not Used"), NULL);
  /* Translators: the first %s says where the engine runs, the second why the GPU is not used. */
  adw_message_dialog_format_body (ADW_MESSAGE_DIALOG (dialog), _("%s.\n\nDetails: %s"),
                                  summary != NULL ? summary : _("The engine runs on the CPU"), notice);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

/* The device menu's radio items and the Details item follow the backend
 * actually in use (the worker turns a failed "gpu" into "cpu"). */
static void
sync_device_state (AsWindow *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEVICE]);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.device-details",
                                 as_worker_get_backend_notice (self->worker) != NULL);
}

/* Says in plain words why the GPU is not used, the raw reason one click
 * away. */
static void
toast_fallback (AsWindow *self)
{
  const char *summary = as_device_fallback_summary (as_worker_get_backend_fallback (self->worker));
  toast_with_button (self, summary, _("_Details"), "win.device-details");
}

static void
on_backend_switched (AsWindow *self)
{
  sync_device_state (self);
  toast_fallback (self);
}

/* What Export and Copy Image take: the whole grid when the model view has
 * the focus, else the selected head. */
static AsFigureView
current_figure_view (AsWindow *self)
{
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (self));
  if (focus != NULL && (focus == GTK_WIDGET (self->model_grid) ||
                        gtk_widget_is_ancestor (focus, GTK_WIDGET (self->model_grid))))
    return AS_FIGURE_GRID;
  return AS_FIGURE_HEAD;
}

static void
on_exported (GtkWindow    *parent,
             const char   *path,
             const GError *error)
{
  AsWindow *self = AS_WINDOW (parent);
  if (error != NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Export failed: %s"), error->message);
      _as_window_toast (self, msg);
      return;
    }
  g_autofree char *name = g_filename_display_basename (path);
  g_autofree char *msg = g_strdup_printf (_("Saved %s"), name);
  _as_window_toast (self, msg);
}

static void
export_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  AsWindow *self = AS_WINDOW (widget);
  /* The next-token bars are no attention figure either: the page's one
   * child, the next-token view, exports them. */
  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->detail_stack), "next") == 0)
    {
      GtkWidget *next = gtk_widget_get_first_child (GTK_WIDGET (self->next_page));
      as_next_token_view_export_dialog (AS_NEXT_TOKEN_VIEW (next), GTK_WINDOW (self), on_exported);
      return;
    }
  /* The logit lens is no attention figure: its page exports it. */
  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->detail_stack), "lens") == 0)
    {
      as_lens_view_export_dialog (self->lens_view, GTK_WINDOW (self), on_exported);
      return;
    }
  as_export_dialog_show (GTK_WINDOW (self), self->state, current_figure_view (self), on_exported);
}

static void
copy_image_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  AsWindow *self = AS_WINDOW (widget);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) png = as_export_render_png (self->state, current_figure_view (self), &error);
  g_autoptr(GdkTexture) texture = png != NULL ? gdk_texture_new_from_bytes (png, &error) : NULL;

  if (texture == NULL)
    {
      g_autofree char *msg = g_strdup_printf ("Copy failed: %s", error->message);
      _as_window_toast (self, msg);
      return;
    }
  gdk_clipboard_set_texture (gtk_widget_get_clipboard (widget), texture);
  _as_window_toast (self, current_figure_view (self) == AS_FIGURE_GRID ? _("Copied the grid as an image")
                                                              : _("Copied the head as an image"));
}

/* ---- models ------------------------------------------------------------- */

void
_as_window_rebuild_recent_menu (AsWindow *self)
{
  g_auto(GStrv) dirs = as_recent_models_load ();
  GMenu *menus[] = { self->recent_section, self->recent_section_menu };

  for (guint m = 0; m < G_N_ELEMENTS (menus); m++)
    {
      g_menu_remove_all (menus[m]);
      for (guint i = 0; dirs[i] != NULL; i++)
        {
          g_autofree char *base = g_path_get_basename (dirs[i]);
          g_autofree char *parent = g_path_get_dirname (dirs[i]);
          g_autofree char *parent_base = g_path_get_basename (parent);
          /* "model — parent folder", so two checkouts of one model differ. */
          g_autofree char *label = g_strdup_printf ("%s — %s", base, parent_base);
          g_autoptr(GMenuItem) item = g_menu_item_new (label, NULL);
          g_menu_item_set_action_and_target (item, "win.open-recent", "s", dirs[i]);
          g_menu_append_item (menus[m], item);
        }
      if (dirs[0] == NULL)
        {
          /* A real action, always disabled: the item shows greyed out. */
          g_autoptr(GMenuItem) item = g_menu_item_new (_("No recent models"), "win.no-recent");
          g_menu_append_item (menus[m], item);
        }
      as_window_sessions_append_recent (menus[m]);
    }
}

/* Never enabled: the placeholder item of an empty recent list. */
static void
no_recent_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
}

static void
on_model_progress (AsWindow   *self,
                   const char *dir,
                   const char *stage,
                   double      fraction)
{
  g_autofree char *name = g_path_get_basename (dir);
  /* Translators: the model's name, then the stage being loaded. */
  g_autofree char *text = g_strdup_printf (_("Loading %s: %s…"), name, stage);
  gtk_progress_bar_set_fraction (self->progress, fraction);
  gtk_progress_bar_set_text (self->progress, text);
  gtk_revealer_set_reveal_child (self->progress_revealer, TRUE);
}

static void
on_model_loaded (AsWindow   *self,
                 const char *dir,
                 const char *name)
{
  gtk_revealer_set_reveal_child (self->progress_revealer, FALSE);
  self->have_model = TRUE;
  self->last_forward_us = 0; /* another model: its speed is not known yet */
  gtk_stack_set_visible_child_name (self->stack, "views");
  adw_window_title_set_subtitle (self->window_title, name);

  gtk_widget_set_visible (GTK_WIDGET (self->entry_b),
                          as_worker_get_model_takes_pairs (self->worker));
  gtk_widget_set_visible (GTK_WIDGET (self->generate_button),
                          as_worker_get_model_generates (self->worker));
  gtk_widget_set_visible (GTK_WIDGET (self->generate_bar),
                          as_worker_get_model_generates (self->worker));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.generate",
                                 as_worker_get_model_generates (self->worker));
  /* Pages this model cannot fill take no tab. */
  gtk_stack_page_set_visible (gtk_stack_get_page (self->detail_stack, GTK_WIDGET (self->next_page)),
                              as_worker_get_model_generates (self->worker));
  gtk_stack_page_set_visible (gtk_stack_get_page (self->detail_stack, GTK_WIDGET (self->lens_view)),
                              as_worker_get_model_generates (self->worker));
  gtk_stack_page_set_visible (gtk_stack_get_page (self->detail_stack, GTK_WIDGET (self->mlm_page)),
                              as_worker_get_model_fills (self->worker));
  as_recent_models_add (dir);
  _as_window_rebuild_recent_menu (self);
  sync_device_state (self);
  gboolean fell_back = as_worker_get_backend_fallback (self->worker) >= 0;
  gboolean automatic = g_strcmp0 (as_worker_get_device (self->worker), "auto") == 0;
  if (fell_back && (self->device_changed || !automatic))
    {
      /* The user (or ATTNSCOPE_DEVICE) asked for the GPU: say why not. A
       * machine without one on Automatic hears it from the tooltip only. */
      toast_fallback (self);
    }
  else if (self->device_changed)
    {
      /* Translators: %s is CPU or GPU. */
      g_autofree char *msg = g_strdup_printf (_("Now running on the %s"),
                                              g_strcmp0 (as_worker_get_backend_kind (self->worker), "cpu") == 0
                                              ? "CPU" : "GPU");
      _as_window_toast (self, msg);
    }
  else if (!self->first_load)
    {
      g_autofree char *msg = g_strdup_printf (_("Loaded %s"), name);
      _as_window_toast (self, msg);
    }
  self->device_changed = FALSE;
  self->first_load = FALSE;
  as_window_sessions_model_loaded (self);
  /* Not a keystroke: the trace should not time the model load as typing. */
  as_trace_forget_keystroke ();
  request_analysis (self);
}

static void
on_model_failed (AsWindow     *self,
                 const char   *dir,
                 const GError *error)
{
  gtk_revealer_set_reveal_child (self->progress_revealer, FALSE);
  self->device_changed = FALSE;
  /* A session whose model fails changes nothing. */
  g_clear_pointer (&self->pending_session, as_session_free);

  if (!self->have_model)
    gtk_stack_set_visible_child_name (self->stack, "empty");

  /* The first model failing (no default model yet, say) gets the empty
   * page, which says why, rather than a dialog over an empty window. */
  if (self->first_load)
    {
      self->first_load = FALSE;
      g_autofree char *text =
        g_strdup_printf (_("%s\n\nThe default model is all-MiniLM-L6-v2: download its folder "
                         "from Hugging Face (huggingface.co/sentence-transformers/all-MiniLM-L6-v2 — "
                         "config.json, model.safetensors, tokenizer.json) and open it here, or open "
                         "any model folder in that layout or a GGUF file. You can also drop one on "
                         "this window."),
                         error->message);
      adw_status_page_set_description (self->empty_page, text);
      g_message ("cannot open model: %s", error->message);
      return;
    }

  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Could Not Open Model"), NULL);
  adw_message_dialog_format_body (ADW_MESSAGE_DIALOG (dialog), "%s%s", error->message,
                                  self->have_model ? _("\n\nThe previous model is still loaded.") : "");
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

void
as_window_open_model (AsWindow   *self,
                      const char *dir)
{
  g_return_if_fail (AS_IS_WINDOW (self));
  g_return_if_fail (dir != NULL);

  on_model_progress (self, dir, _("waiting for the engine"), 0.02);
  as_worker_load_model (self->worker, dir);
}

/* ---- file choosers ------------------------------------------------------- */

typedef struct {
  AsWindow               *self;
  AsWindowPathChosenFunc  chosen;
} PathChoice;

static void
on_path_chooser_response (GtkNativeDialog *chooser,
                          int              response,
                          PathChoice      *choice)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
      choice->chosen (choice->self, path);
    }
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
}

GtkFileChooser *
_as_window_path_chooser_new (AsWindow               *self,
                             const char             *title,
                             GtkFileChooserAction    action,
                             const char             *accept,
                             const char             *near,
                             AsWindowPathChosenFunc  chosen)
{
  GtkFileChooserNative *chooser =
    gtk_file_chooser_native_new (title, GTK_WINDOW (self), action, accept, _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  if (near != NULL)
    {
      g_autofree char *parent = g_path_get_dirname (near);
      g_autoptr(GFile) folder = g_file_new_for_path (parent);
      gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), folder, NULL);
    }
  PathChoice *choice = g_new (PathChoice, 1);
  *choice = (PathChoice) { self, chosen };
  g_signal_connect_data (chooser, "response", G_CALLBACK (on_path_chooser_response), choice,
                         (GClosureNotify) (void (*) (void)) g_free, G_CONNECT_DEFAULT);
  return GTK_FILE_CHOOSER (chooser);
}

void
_as_window_add_chooser_filter (GtkFileChooser *chooser,
                               const char     *name,
                               const char     *suffix,
                               const char     *mime_type)
{
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();
  gtk_file_filter_set_name (filter, name);
  if (suffix != NULL)
    gtk_file_filter_add_suffix (filter, suffix);
  else if (mime_type != NULL)
    gtk_file_filter_add_mime_type (filter, mime_type);
  else
    gtk_file_filter_add_pattern (filter, "*");
  gtk_file_chooser_add_filter (chooser, filter);
}

void
_as_window_show_path_chooser (GtkFileChooser *chooser)
{
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
open_chosen_model (AsWindow   *self,
                   const char *path)
{
  if (path != NULL)
    as_window_open_model (self, path);
}

/* A chooser for a model folder (ACTION SELECT_FOLDER) or a model file, in
 * the folder of the model open now. */
static void
choose_model (AsWindow             *self,
              const char           *title,
              GtkFileChooserAction  action)
{
  GtkFileChooser *chooser = _as_window_path_chooser_new (self, title, action, _("_Open"),
                                              as_worker_get_model_dir (self->worker),
                                              open_chosen_model);
  if (action == GTK_FILE_CHOOSER_ACTION_OPEN)
    _as_window_add_chooser_filter (chooser, _("GGUF models (*.gguf)"), "gguf", NULL);
  _as_window_show_path_chooser (chooser);
}

static void
open_model_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  choose_model (AS_WINDOW (widget), _("Open Model Folder"), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER);
}

static void
open_model_file_action (GtkWidget  *widget,
                        const char *action_name,
                        GVariant   *parameter)
{
  choose_model (AS_WINDOW (widget), _("Open GGUF Model File"), GTK_FILE_CHOOSER_ACTION_OPEN);
}

/* ---- text from a file ------------------------------------------------------ */

char *
as_read_text_file (const char  *path,
                   gsize       *length,
                   gboolean    *cut,
                   GError     **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileInputStream) in = g_file_read (file, NULL, error);
  if (in == NULL)
    return NULL;
  char *buf = g_malloc (AS_TEXT_FILE_CAP + 2);
  gsize len = 0;
  /* One byte past the cap says whether the text goes on. */
  if (!g_input_stream_read_all (G_INPUT_STREAM (in), buf, AS_TEXT_FILE_CAP + 1, &len, NULL, error))
    {
      g_free (buf);
      return NULL;
    }
  *cut = len > AS_TEXT_FILE_CAP;
  if (*cut)
    {
      /* Not inside a character: back to the lead byte of the one the cap
       * falls in. */
      len = AS_TEXT_FILE_CAP;
      for (int back = 0; back < 3 && ((guchar) buf[len] & 0xc0) == 0x80; back++)
        len--;
    }
  buf[len] = '\0';
  if (length != NULL)
    *length = len;
  return buf;
}

/* Sentence A from a text file the user picked. A file that is not UTF-8
 * text (an image, a PDF, a file in another encoding) is refused rather
 * than shown as replacement characters: the user picked the wrong file. */
static void
load_text_file (AsWindow   *self,
                const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_filename_display_basename (path);
  gsize len = 0;
  gboolean cut = FALSE;
  g_autofree char *text = as_read_text_file (path, &len, &cut, &error);
  const char *bad = NULL;
  if (text != NULL && (memchr (text, '\0', len) != NULL || !g_utf8_validate_len (text, len, &bad)))
    {
      g_autofree char *msg = g_strdup_printf (_("“%s” is not a UTF-8 text file, so it cannot be "
                                              "analysed; save it as plain text (UTF-8) first"), name);
      _as_window_toast (self, msg);
      return;
    }
  if (text == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Could not open “%s”: %s"), name, error->message);
      _as_window_toast (self, msg);
      return;
    }
  g_strstrip (text);
  gtk_editable_set_text (GTK_EDITABLE (self->entry_a), text);
  g_autofree char *msg = cut ? g_strdup_printf (_("Opened the first %u KiB of “%s”; "
                                                  "the file is longer than any model can read"),
                                                (guint) (AS_TEXT_FILE_CAP / 1024), name)
                             : g_strdup_printf (_("Opened “%s”"), name);
  _as_window_toast (self, msg);
}

static void
open_chosen_text (AsWindow   *self,
                  const char *path)
{
  if (path != NULL)
    load_text_file (self, path);
}

static void
open_text_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  GtkFileChooser *chooser = _as_window_path_chooser_new (AS_WINDOW (widget), _("Open Text"),
                                              GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), NULL,
                                              open_chosen_text);
  _as_window_add_chooser_filter (chooser, _("Text files"), NULL, "text/*");
  _as_window_add_chooser_filter (chooser, _("All files"), NULL, NULL);
  _as_window_show_path_chooser (chooser);
}

/* ---- generation ---------------------------------------------------------- */

/* The text grows as the tokens come, and so does the analysis on screen:
 * the worker hands over each step's analysis, one token longer, complete,
 * and the last is the whole text's, so nothing runs again at the end. While
 * it runs, the entry takes no typing (an edit would ask for analyses that
 * wait behind the generation). */
static void
set_generating (AsWindow *self,
                guint     generation)
{
  self->generation = generation;
  gtk_editable_set_editable (GTK_EDITABLE (self->entry_a), generation == 0);
  /* Nor from a file: the text is the generation's until it stops. */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.open-text", generation == 0);
  /* The settings of the run under way are fixed: no control pretends otherwise. */
  gtk_widget_set_sensitive (GTK_WIDGET (self->generate_bar), generation == 0);
  gtk_button_set_label (self->generate_button, generation != 0 ? _("_Stop") : _("_Generate"));
}

static void
on_generation_step (AsWindow   *self,
                    guint       generation,
                    const char *piece,
                    int         index)
{
  if (generation != self->generation || *piece == '\0')
    return;
  int end = -1;
  g_signal_handlers_block_by_func (self->entry_a, on_text_changed, self);
  end = gtk_entry_buffer_get_length (gtk_entry_get_buffer (self->entry_a));
  gtk_editable_insert_text (GTK_EDITABLE (self->entry_a), piece, -1, &end);
  g_signal_handlers_unblock_by_func (self->entry_a, on_text_changed, self);
  g_autofree char *text = g_strdup_printf (_("Generating: %d tokens…"), index + 1);
  gtk_label_set_text (self->status_label, text);
}

static void
on_generation_analysis (AsWindow   *self,
                        AsAnalysis *analysis,
                        int         picked)
{
  if (self->generation == 0)
    return;
  as_view_state_set_analysis (self->state, analysis);
}

static void
on_generation_finished (AsWindow     *self,
                        guint         generation,
                        const GError *error)
{
  if (generation != self->generation)
    return;
  set_generating (self, 0);
  if (error != NULL && !g_error_matches (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED))
    {
      g_autofree char *text = g_strdup_printf (_("Generation stopped: %s"), error->message);
      _as_window_toast (self, text);
    }
  /* Stopped or failed before the last token was run: the text on screen
   * is one token longer than its analysis. */
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  if (a == NULL || g_strcmp0 (a->text_a, gtk_editable_get_text (GTK_EDITABLE (self->entry_a))) != 0)
    request_analysis (self);
}

/* Masking a token: the masked-token page shows what the model would put
 * in its place (as-mlm-view.h). */
static void
mask_token_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  AsWindow *self = AS_WINDOW (widget);
  if (as_mlm_view_mask_selected (self->mlm_view))
    gtk_stack_set_visible_child_name (self->detail_stack, "mlm");
}

static void
unmask_token_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *parameter)
{
  as_mlm_view_unmask (AS_WINDOW (widget)->mlm_view);
}

static void
sync_mask_actions (AsWindow *self)
{
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.mask-token",
                                 as_mlm_view_can_mask (self->mlm_view, NULL));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.unmask-token",
                                 as_mlm_view_can_unmask (self->mlm_view));
}

/* Switches the selected head off (with the ablation page's mode, or the
 * mode named by PARAMETER), or on again, and shows the effect. */
static void
ablate_head_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  AsWindow *self = AS_WINDOW (widget);
  if (as_view_state_get_analysis (self->state) == NULL)
    return;
  if (parameter != NULL)
    {
      AsAblateMode mode = as_ablate_mode_from_string (g_variant_get_string (parameter, NULL));
      if (mode == AS_ABLATE_NONE)
        return;
      as_ablation_view_set_mode (self->ablation_view, mode);
    }
  as_ablation_view_toggle_head (self->ablation_view, as_view_state_get_layer (self->state),
                                as_view_state_get_head (self->state));
  gtk_stack_set_visible_child_name (self->detail_stack, "ablate");
}

/* Right-click on the grid (on a head: it is selected first) or the head
 * view: the ablation menu for the selected head. */
static void
on_ablate_menu_pressed (GtkGestureClick *gesture,
                        int              n_press,
                        double           x,
                        double           y,
                        AsWindow        *self)
{
  GtkWidget *target = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (gesture));
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  if (a == NULL)
    return;
  if (target == GTK_WIDGET (self->model_grid))
    {
      gboolean found = FALSE;
      for (int l = 0; l < a->n_layers && !found; l++)
        for (int h = 0; h < a->n_heads && !found; h++)
          {
            graphene_rect_t r;
            if (as_model_grid_get_thumb_rect (self->model_grid, l, h, &r) &&
                graphene_rect_contains_point (&r, &GRAPHENE_POINT_INIT (x, y)))
              {
                as_view_state_set_layer (self->state, l);
                as_view_state_set_head (self->state, h);
                found = TRUE;
              }
          }
      if (!found)
        return;
    }
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  GMenu *menu = g_menu_new ();
  gboolean off = as_ablation_view_mode_of (self->ablation_view, as_view_state_get_layer (self->state),
                                           as_view_state_get_head (self->state)) != AS_ABLATE_NONE;
  if (off)
    g_menu_append (menu, _("Switch Head _On"), "win.ablate-head");
  else
    {
      g_menu_append (menu, _("Switch Head Off: _Zero"), "win.ablate-head-as::zero");
      g_menu_append (menu, _("Switch Head Off: _Uniform Pattern"), "win.ablate-head-as::uniform");
      g_menu_append (menu, _("Switch Head Off: _Mean Pattern"), "win.ablate-head-as::mean");
    }
  GtkWidget *popover = gtk_popover_menu_new_from_model (G_MENU_MODEL (menu));
  g_object_unref (menu);
  gtk_widget_set_parent (popover, target);
  gtk_popover_set_pointing_to (GTK_POPOVER (popover), &(GdkRectangle) { (int) x, (int) y, 1, 1 });
  gtk_popover_set_has_arrow (GTK_POPOVER (popover), FALSE);
  g_signal_connect (popover, "closed", G_CALLBACK (gtk_widget_unparent), NULL);
  gtk_popover_popup (GTK_POPOVER (popover));
}

static void
add_ablate_menu (AsWindow  *self,
                 GtkWidget *widget)
{
  GtkGesture *click = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_SECONDARY);
  g_signal_connect (click, "pressed", G_CALLBACK (on_ablate_menu_pressed), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (click));
}

static void
on_ablated_changed (AsWindow *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self->model_grid));
}

static void
generate_action (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  AsWindow *self = AS_WINDOW (widget);
  if (self->generation != 0)
    {
      as_worker_stop_generation (self->worker);
      return;
    }
  AsSamplerOptions sampling;
  as_generate_bar_get_sampling (self->generate_bar, &sampling);
  /* The generation starts from the text as it is: a pending analysis of
   * it would only come after, over the generated one. */
  g_clear_handle_id (&self->debounce_id, g_source_remove);
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->entry_a));
  /* what the model writes is marked from the prompt's end; generating
   * again straight after keeps the first prompt's end */
  if (as_view_state_get_generated_from (self->state) < 0)
    as_view_state_set_generated_from (self->state, (int) strlen (text));
  set_generating (self, as_worker_generate (self->worker, text, &sampling,
                                            as_generate_bar_get_limit (self->generate_bar)));
}

static void
open_recent_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  as_window_open_model (AS_WINDOW (widget), g_variant_get_string (parameter, NULL));
}

static gboolean
on_drop (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         AsWindow      *self)
{
  GSList *files = g_value_get_boxed (value);
  if (files == NULL)
    return FALSE;
  GFile *file = files->data;
  g_autofree char *path = g_file_get_path (file);
  if (path == NULL)
    return FALSE;
  /* A dropped config.json or safetensors file means its folder; a GGUF
   * file is a model of its own. */
  if (!g_file_test (path, G_FILE_TEST_IS_DIR) && !g_str_has_suffix (path, ".gguf"))
    {
      char *parent = g_path_get_dirname (path);
      g_free (path);
      path = parent;
    }
  as_window_open_model (self, path);
  return TRUE;
}

/* ---- selection and options ---------------------------------------------- */

static void
move_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  AsWindow *self = AS_WINDOW (widget);
  int dl, dh;
  g_variant_get (parameter, "(ii)", &dl, &dh);
  as_view_state_move (self->state, dl, dh);
}

static void
focus_text_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  gtk_widget_grab_focus (GTK_WIDGET (AS_WINDOW (widget)->entry_a));
}

static void
update_head_title (AsWindow *self)
{
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  /* "layer 3 · head 5", "rollout through layer 3 · words": what is drawn. */
  AsShownSpec spec;
  as_view_state_get_spec (self->state, &spec);
  g_autofree char *what = as_shown_spec_describe (&spec, a != NULL ? a->n_heads : 0);
  g_autofree char *title = g_strdup_printf (_("Head view: %s"), what);
  /* Grouped-query attention: the key/value head this query head reads. */
  if (a != NULL && spec.aggregate == AS_SHOWN_HEAD && a->n_kv_heads > 0 && a->n_kv_heads < a->n_heads)
    {
      int group = a->n_heads / a->n_kv_heads, kv = spec.head / group;
      /* Translators: %s is the head view's title, “Head view: …”. */
      g_autofree char *with_kv = g_strdup_printf (_("%s · K/V head %d (shared by heads %d–%d)"), title, kv + 1,
                                                  kv * group + 1, (kv + 1) * group);
      g_free (title);
      title = g_steal_pointer (&with_kv);
    }
  gtk_label_set_text (self->head_title, title);

  int token = as_view_state_get_token (self->state);
  g_autofree char *caption = NULL;
  if (a != NULL && token >= 0)
    caption = g_strdup_printf (_("Rows are queries, columns keys. Token %d “%s” highlighted (Esc clears)."),
                               token + 1, a->encoding->tokens[token].text);
  else if (a != NULL && a->n > 128 && !as_view_state_get_fit_scale (self->state))
    caption = g_strdup (_("Rows are queries, columns keys. Long input: Fit scale (Ctrl+F) brings out small values."));
  else
    caption = g_strdup (_("Rows are queries, columns keys. Hover for values; click a cell to highlight its token."));
  gtk_label_set_text (self->head_caption, caption);
}

static void
update_grid_caption (AsWindow *self)
{
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  g_autofree char *text = NULL;
  if (a == NULL)
    text = g_strdup ("");
  else
    /* Translators: %s is “, grouped by the key/value head they share” or nothing. */
    text = g_strdup_printf (_("%d layers × %d heads%s. Click a head, or use the arrow keys; "
                            "Page Up/Down change layer."), a->n_layers, a->n_heads,
                            a->n_kv_heads > 0 && a->n_kv_heads < a->n_heads
                            ? _(", grouped by the key/value head they share") : "");
  gtk_label_set_text (self->grid_caption, text);
}

static void
on_view_analysis_changed (AsWindow *self)
{
  if (as_view_state_get_analysis (self->state) != NULL)
    {
      g_clear_pointer (&self->failure, g_free);
      gtk_stack_set_visible_child_name (self->content_stack, "views");
    }
  update_status (self);
  update_grid_caption (self);
  update_head_title (self);
}

static void
on_dark_changed (AsWindow *self)
{
  AdwStyleManager *sm = adw_style_manager_get_default ();
  as_view_state_set_dark (self->state, adw_style_manager_get_dark (sm));
}

static void
on_frame_painted (AsWindow *self)
{
  as_trace_frame_painted ();
}

static void
as_window_realize (GtkWidget *widget)
{
  AsWindow *self = AS_WINDOW (widget);

  GTK_WIDGET_CLASS (as_window_parent_class)->realize (widget);

  /* The trace measures up to the frame being painted, not just built. */
  if (as_trace_enabled ())
    {
      self->frame_clock = g_object_ref (gtk_widget_get_frame_clock (widget));
      self->after_paint_id = g_signal_connect_swapped (self->frame_clock, "after-paint",
                                                       G_CALLBACK (on_frame_painted), self);
    }
}

static void
as_window_unrealize (GtkWidget *widget)
{
  AsWindow *self = AS_WINDOW (widget);

  if (self->frame_clock != NULL)
    {
      g_clear_signal_handler (&self->after_paint_id, self->frame_clock);
      g_clear_object (&self->frame_clock);
    }
  GTK_WIDGET_CLASS (as_window_parent_class)->unrealize (widget);
}

/* ---- public ------------------------------------------------------------- */

AsWindow *
as_window_new (GtkApplication *application)
{
  return g_object_new (AS_TYPE_WINDOW, "application", application, NULL);
}

void
as_window_set_text (AsWindow   *self,
                    const char *text_a,
                    const char *text_b)
{
  g_return_if_fail (AS_IS_WINDOW (self));
  /* Text from a file may be any bytes; an entry takes UTF-8 only. Invalid
   * sequences become U+FFFD, which the tokenizer drops as it drops invalid
   * bytes, so the tokens are those of the original bytes. */
  g_autofree char *a = g_utf8_make_valid (text_a != NULL ? text_a : "", -1);
  g_autofree char *b = g_utf8_make_valid (text_b != NULL ? text_b : "", -1);
  gtk_editable_set_text (GTK_EDITABLE (self->entry_a), a);
  gtk_editable_set_text (GTK_EDITABLE (self->entry_b), b);
}

AsWorker *
as_window_get_worker (AsWindow *self)
{
  g_return_val_if_fail (AS_IS_WINDOW (self), NULL);
  return self->worker;
}

AsViewState *
as_window_get_view_state (AsWindow *self)
{
  g_return_val_if_fail (AS_IS_WINDOW (self), NULL);
  return self->state;
}

GtkEditable *
as_window_get_entry_a (AsWindow *self)
{
  g_return_val_if_fail (AS_IS_WINDOW (self), NULL);
  return GTK_EDITABLE (self->entry_a);
}

GtkEditable *
as_window_get_entry_b (AsWindow *self)
{
  g_return_val_if_fail (AS_IS_WINDOW (self), NULL);
  return GTK_EDITABLE (self->entry_b);
}

AsHeadView *
as_window_get_head_view (AsWindow *self)
{
  g_return_val_if_fail (AS_IS_WINDOW (self), NULL);
  return self->head_view;
}

AsModelGrid *
as_window_get_model_grid (AsWindow *self)
{
  g_return_val_if_fail (AS_IS_WINDOW (self), NULL);
  return self->model_grid;
}

GtkStack *
as_window_get_detail_stack (AsWindow *self)
{
  g_return_val_if_fail (AS_IS_WINDOW (self), NULL);
  return self->detail_stack;
}

const char *
as_window_get_status_text (AsWindow *self)
{
  g_return_val_if_fail (AS_IS_WINDOW (self), NULL);
  return gtk_label_get_text (self->status_label);
}

gboolean
as_window_is_idle (AsWindow *self)
{
  g_return_val_if_fail (AS_IS_WINDOW (self), FALSE);
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  guint latest = as_worker_get_generation (self->worker);
  if (self->debounce_id != 0 || as_worker_is_loading (self->worker))
    return FALSE;
  if (a == NULL)
    return self->failure != NULL && self->failed_generation == latest;
  return a->generation == latest &&
         as_view_state_get_layers_ready (self->state) == a->n_layers;
}

/* ---- GObject ------------------------------------------------------------ */

static void
as_window_dispose (GObject *object)
{
  AsWindow *self = AS_WINDOW (object);

  g_clear_handle_id (&self->debounce_id, g_source_remove);
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  g_clear_object (&self->worker);
  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_WINDOW);

  G_OBJECT_CLASS (as_window_parent_class)->dispose (object);
}

static void
as_window_finalize (GObject *object)
{
  AsWindow *self = AS_WINDOW (object);

  g_clear_object (&self->state);
  g_free (self->failure);
  g_clear_pointer (&self->pending_session, as_session_free);
  g_free (self->session_path);

  G_OBJECT_CLASS (as_window_parent_class)->finalize (object);
}

static void
as_window_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  AsWindow *self = AS_WINDOW (object);

  switch (prop_id)
    {
    case PROP_DEVICE:
      g_value_set_string (value, self->worker != NULL ? as_worker_get_device (self->worker) : "auto");
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_window_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  AsWindow *self = AS_WINDOW (object);

  switch (prop_id)
    {
    case PROP_DEVICE:
      if (self->worker != NULL && g_strcmp0 (g_value_get_string (value), as_worker_get_device (self->worker)) != 0
          && as_worker_set_device (self->worker, g_value_get_string (value)))
        {
          self->device_changed = TRUE;
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* The display options are property actions on the view state itself
 * ("win.fit-scale", "win.colormap"; "win.hide-special" and "win.renormalise"
 * below, offered where they mean something),
 * so menus, check buttons, accelerators and the state are one value. */
static void
add_option_actions (AsWindow *self)
{
  static const struct { const char *action, *property; } options[] = {
    { "fit-scale", "fit-scale" },
    { "colormap", "colormap-name" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (options); i++)
    {
      g_autoptr(GPropertyAction) action =
        g_property_action_new (options[i].action, self->state, options[i].property);
      g_action_map_add_action (G_ACTION_MAP (self), G_ACTION (action));
    }
}

/* An option action is offered by being in the window's map: a
 * GPropertyAction cannot be disabled, so one that would mean nothing is
 * absent, which makes its menu item and check button insensitive and its
 * accelerator a no-op. */
static void
offer_option_action (AsWindow   *self,
                     const char *name,
                     gboolean    offered)
{
  gboolean present = g_action_map_lookup_action (G_ACTION_MAP (self), name) != NULL;
  if (offered && !present)
    {
      g_autoptr(GPropertyAction) action = g_property_action_new (name, self->state, name);
      g_action_map_add_action (G_ACTION_MAP (self), G_ACTION (action));
    }
  else if (!offered && present)
    g_action_map_remove_action (G_ACTION_MAP (self), name);
}

/* Whether the text shown has a token the hide-special rule hides (as-shown.h):
 * BERT's [CLS]/[SEP] always; a decoder's text mostly none (SmolLM2 adds no
 * BOS). Before any text, TRUE: the option is there to set. */
static gboolean
shown_text_has_special (AsWindow *self)
{
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  if (a == NULL)
    return TRUE;
  for (int i = 0; i < a->encoding->n_tokens; i++)
    if (as_shown_is_special (&a->encoding->tokens[i]))
      return TRUE;
  return FALSE;
}

/* Renormalising means nothing while specials are shown, hiding them
 * nothing for a text without any. */
static void
update_special_actions (AsWindow *self)
{
  const gboolean specials = shown_text_has_special (self);
  offer_option_action (self, "hide-special", specials);
  offer_option_action (self, "renormalise", specials && as_view_state_get_hide_special (self->state));
}

static void
add_move (GtkWidgetClass  *widget_class,
          guint            key,
          GdkModifierType  mods,
          int              dlayer,
          int              dhead)
{
  gtk_widget_class_add_binding_action (widget_class, key, mods, "win.move", "(ii)", dlayer, dhead);
}

static void
as_window_class_init (AsWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = as_window_dispose;
  object_class->finalize = as_window_finalize;
  object_class->get_property = as_window_get_property;
  object_class->set_property = as_window_set_property;
  widget_class->realize = as_window_realize;
  widget_class->unrealize = as_window_unrealize;

  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  /* "auto", "cpu" or "gpu": where the engine runs (the worker reloads). */
  properties[PROP_DEVICE] = g_param_spec_string ("device", NULL, NULL, "auto", rw);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (AS_TYPE_TOKEN_STRIP);
  g_type_ensure (AS_TYPE_PAGE_TABS);
  g_type_ensure (AS_TYPE_MODEL_GRID);
  g_type_ensure (AS_TYPE_HEAD_VIEW);
  g_type_ensure (AS_TYPE_DEVICE_BUTTON);
  g_type_ensure (AS_TYPE_GENERATE_BAR);
  g_type_ensure (AS_TYPE_LENS_VIEW);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-window.ui");
  gtk_widget_class_bind_template_child (widget_class, AsWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, spinner);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, device_button);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, device_menu);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, progress_revealer);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, progress);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, content_stack);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, failure_page);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, empty_page);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, entry_a);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, entry_b);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, generate_bar);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, generate_button);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, token_strip);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, status_label);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, colormap_dropdown);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, grid_caption);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, colour_by_dropdown);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, model_grid);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, head_title);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, head_caption);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, head_view);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, detail_stack);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, lines_page);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, stats_page);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, teach_page);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, compare_page);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, next_page);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, lens_view);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, mlm_page);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, ablate_page);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, recent_section);
  gtk_widget_class_bind_template_child (widget_class, AsWindow, recent_section_menu);

  gtk_widget_class_install_action (widget_class, "win.open-model", NULL, open_model_action);
  gtk_widget_class_install_action (widget_class, "win.open-model-file", NULL, open_model_file_action);
  gtk_widget_class_install_action (widget_class, "win.open-text", NULL, open_text_action);
  gtk_widget_class_install_action (widget_class, "win.generate", NULL, generate_action);
  gtk_widget_class_install_action (widget_class, "win.mask-token", NULL, mask_token_action);
  gtk_widget_class_install_action (widget_class, "win.ablate-head", NULL, ablate_head_action);
  gtk_widget_class_install_action (widget_class, "win.ablate-head-as", "s", ablate_head_action);
  gtk_widget_class_install_action (widget_class, "win.unmask-token", NULL, unmask_token_action);
  gtk_widget_class_install_action (widget_class, "win.open-recent", "s", open_recent_action);
  as_window_sessions_class_init (klass);
  gtk_widget_class_install_action (widget_class, "win.move", "(ii)", move_action);
  gtk_widget_class_install_action (widget_class, "win.focus-text", NULL, focus_text_action);
  gtk_widget_class_install_property_action (widget_class, "win.device", "device");
  gtk_widget_class_install_action (widget_class, "win.export", NULL, export_action);
  gtk_widget_class_install_action (widget_class, "win.copy-image", NULL, copy_image_action);
  gtk_widget_class_install_action (widget_class, "win.device-details", NULL, device_details_action);
  gtk_widget_class_install_action (widget_class, "win.no-recent", NULL, no_recent_action);
  as_projector_install_actions (widget_class);

  /* Work anywhere in the window, the sentence entry included. Plain arrows
   * belong to the entries; the grid and head view take them when focused. */
  add_move (widget_class, GDK_KEY_Page_Up, 0, -1, 0);
  add_move (widget_class, GDK_KEY_Page_Down, 0, 1, 0);
  add_move (widget_class, GDK_KEY_Up, GDK_ALT_MASK, -1, 0);
  add_move (widget_class, GDK_KEY_Down, GDK_ALT_MASK, 1, 0);
  add_move (widget_class, GDK_KEY_Left, GDK_ALT_MASK, 0, -1);
  add_move (widget_class, GDK_KEY_Right, GDK_ALT_MASK, 0, 1);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_m, GDK_CONTROL_MASK, "win.mask-token", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_H, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "win.ablate-head", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_M, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "win.unmask-token", NULL);
}

static void
as_window_init (AsWindow *self)
{
  /* Before the template: its widgets look up the option actions at once. */
  self->state = as_view_state_new ();
  add_option_actions (self);
  update_special_actions (self);
  gtk_widget_init_template (GTK_WIDGET (self));

  self->first_load = TRUE;
  as_token_strip_set_view_state (self->token_strip, self->state);
  as_model_grid_set_view_state (self->model_grid, self->state);
  as_head_view_set_view_state (self->head_view, self->state);
  g_object_bind_property (self->colour_by_dropdown, "selected", self->model_grid, "colour-by",
                          G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  GtkWidget *lines = as_lines_view_new ();
  as_lines_view_set_view_state (AS_LINES_VIEW (lines), self->state);
  gtk_widget_set_vexpand (lines, TRUE);
  gtk_box_append (self->lines_page, lines);
  GtkWidget *stats = as_stats_table_new ();
  as_stats_table_set_view_state (AS_STATS_TABLE (stats), self->state);
  gtk_widget_set_vexpand (stats, TRUE);
  gtk_box_append (self->stats_page, stats);
  g_signal_connect_swapped (self->state, "notify::hide-special", G_CALLBACK (update_special_actions), self);
  g_signal_connect_swapped (self->state, "notify::analysis", G_CALLBACK (on_view_analysis_changed), self);
  g_signal_connect_swapped (self->state, "notify::analysis", G_CALLBACK (update_special_actions), self);
  g_signal_connect_swapped (self->state, "notify::layer", G_CALLBACK (update_head_title), self);
  g_signal_connect_swapped (self->state, "notify::head", G_CALLBACK (update_head_title), self);
  g_signal_connect_swapped (self->state, "notify::token", G_CALLBACK (update_head_title), self);
  g_signal_connect_swapped (self->state, "notify::fit-scale", G_CALLBACK (update_head_title), self);
  g_signal_connect_swapped (self->state, "notify::aggregate", G_CALLBACK (update_head_title), self);
  g_signal_connect_swapped (self->state, "notify::words", G_CALLBACK (update_head_title), self);
  g_object_bind_property (self->state, "colormap", self->colormap_dropdown, "selected",
                          G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  update_head_title (self);

  AdwStyleManager *sm = adw_style_manager_get_default ();
  g_signal_connect_object (sm, "notify::dark", G_CALLBACK (on_dark_changed), self, G_CONNECT_SWAPPED);
  on_dark_changed (self);

  self->worker = as_worker_new ();
  /* The device action read "auto" before the worker existed. */
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEVICE]);
  g_signal_connect_swapped (self->worker, "model-progress", G_CALLBACK (on_model_progress), self);
  g_signal_connect_swapped (self->worker, "model-loaded", G_CALLBACK (on_model_loaded), self);
  g_signal_connect_swapped (self->worker, "model-failed", G_CALLBACK (on_model_failed), self);
  g_signal_connect_swapped (self->worker, "analysis-started", G_CALLBACK (on_analysis_started), self);
  g_signal_connect_swapped (self->worker, "layer-ready", G_CALLBACK (on_layer_ready), self);
  g_signal_connect_swapped (self->worker, "analysis-finished", G_CALLBACK (on_analysis_finished), self);
  g_signal_connect_swapped (self->worker, "analysis-failed", G_CALLBACK (on_analysis_failed), self);
  g_signal_connect_swapped (self->worker, "backend-switched", G_CALLBACK (on_backend_switched), self);
  g_signal_connect_swapped (self->worker, "generation-step", G_CALLBACK (on_generation_step), self);
  g_signal_connect_swapped (self->worker, "generation-finished", G_CALLBACK (on_generation_finished), self);
  g_signal_connect_swapped (self->worker, "generation-analysis", G_CALLBACK (on_generation_analysis), self);
  as_device_button_set_menu_model (self->device_button, self->device_menu);
  as_device_button_set_worker (self->device_button, self->worker);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.device-details", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.no-recent", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.save-session", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.generate", FALSE);

  /* Teaching and compare pages: they talk to the worker's side channels. */
  GtkWidget *teach = as_teach_view_new ();
  gtk_widget_set_vexpand (teach, TRUE);
  gtk_box_append (self->teach_page, teach);
  g_object_set (teach, "view-state", self->state, "worker", self->worker, NULL);
  GtkWidget *compare = as_compare_view_new ();
  gtk_widget_set_vexpand (compare, TRUE);
  gtk_box_append (self->compare_page, compare);
  g_object_set (compare, "view-state", self->state, "worker", self->worker, NULL);
  /* The padding demonstration batches the sentence with the Compare tab's. */
  g_object_bind_property (as_compare_view_get_entry (AS_COMPARE_VIEW (compare)), "text",
                          teach, "padding-text", G_BINDING_SYNC_CREATE);
  GtkWidget *next = as_next_token_view_new ();
  gtk_widget_set_vexpand (next, TRUE);
  gtk_box_append (self->next_page, next);
  g_object_set (next, "view-state", self->state, "worker", self->worker, NULL);
  g_object_set (self->lens_view, "view-state", self->state, "worker", self->worker, NULL);
  self->mlm_view = AS_MLM_VIEW (as_mlm_view_new ());
  gtk_widget_set_vexpand (GTK_WIDGET (self->mlm_view), TRUE);
  gtk_box_append (self->mlm_page, GTK_WIDGET (self->mlm_view));
  g_object_set (self->mlm_view, "view-state", self->state, "worker", self->worker, NULL);
  as_mlm_view_set_entries (self->mlm_view, GTK_EDITABLE (self->entry_a), GTK_EDITABLE (self->entry_b));
  self->ablation_view = AS_ABLATION_VIEW (as_ablation_view_new ());
  gtk_widget_set_vexpand (GTK_WIDGET (self->ablation_view), TRUE);
  gtk_box_append (self->ablate_page, GTK_WIDGET (self->ablation_view));
  g_object_set (self->ablation_view, "view-state", self->state, "worker", self->worker, NULL);
  g_signal_connect_swapped (self->ablation_view, "notify::ablated", G_CALLBACK (on_ablated_changed), self);
  add_ablate_menu (self, GTK_WIDGET (self->model_grid));
  add_ablate_menu (self, GTK_WIDGET (self->head_view));
  g_signal_connect_swapped (self->mlm_view, "notify::can-mask", G_CALLBACK (sync_mask_actions), self);
  g_signal_connect_swapped (self->mlm_view, "notify::can-unmask", G_CALLBACK (sync_mask_actions), self);
  sync_mask_actions (self);

  g_signal_connect_swapped (self->entry_a, "changed", G_CALLBACK (on_text_changed), self);
  g_signal_connect_swapped (self->entry_b, "changed", G_CALLBACK (on_text_changed), self);

  GtkDropTarget *drop = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect (drop, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));

  as_projector_attach (self);
  _as_window_rebuild_recent_menu (self);
  gtk_editable_set_text (GTK_EDITABLE (self->entry_a), AS_SAMPLE_SENTENCE);
  gtk_widget_grab_focus (GTK_WIDGET (self->entry_a));
  /* Ready to type on: cursor at the end, nothing selected. */
  gtk_editable_set_position (GTK_EDITABLE (self->entry_a), -1);
}
