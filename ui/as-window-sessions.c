/* as-window-sessions.c — the window's sessions: saving and opening them.
 *
 * A session (as-session.h) is what the window shows: its model, texts,
 * options, page, selection and teaching step. Saving captures it; opening
 * loads its model when it is not the one open, then sets its texts,
 * options and page, then, once their analysis is on screen, its selection.
 * The recent sessions have a section of the recent-models menus.
 */
#include "as-window-private.h"

#include <glib/gi18n.h>
#include <string.h>

#include "as-compare-view.h"
#include "as-recent-models.h"
#include "as-teach-view.h"

/* Sessions keep the teaching step by name, in AsTeachStep order. */
G_STATIC_ASSERT (AS_N_TEACH_STEPS == AS_SESSION_N_TEACH_STEPS);

/* A session's page views live in pages filled from code: the page's child. */
static GtkWidget *
page_view (GtkBox *page)
{
  return gtk_widget_get_first_child (GTK_WIDGET (page));
}

/* What the window shows now, as a session. */
static AsSession *
capture_session (AsWindow *self)
{
  AsSession *s = as_session_new ();
  GtkEditable *compare = as_compare_view_get_entry (AS_COMPARE_VIEW (page_view (self->compare_page)));
  const char *view = gtk_stack_get_visible_child_name (self->detail_stack);

  s->model = g_strdup (as_worker_get_model_dir (self->worker));
  g_free (s->text);
  s->text = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->entry_a)));
  g_free (s->pair);
  s->pair = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->entry_b)));
  g_free (s->compare);
  s->compare = g_strdup (gtk_editable_get_text (compare));
  if (view != NULL && g_strv_contains (as_session_views (), view))
    {
      g_free (s->view);
      s->view = g_strdup (view);
    }
  s->layer = as_view_state_get_layer (self->state);
  s->head = as_view_state_get_head (self->state);
  s->token = as_view_state_get_token (self->state);
  s->teach_step = as_teach_view_get_step (AS_TEACH_VIEW (page_view (self->teach_page)));
  g_free (s->colormap);
  g_object_get (self->state, "hide-special", &s->hide_special, "renormalise", &s->renormalise,
                "fit-scale", &s->fit_scale, "words", &s->words, "colormap-name", &s->colormap, NULL);
  s->aggregate = as_view_state_get_aggregate (self->state);
  return s;
}

static void
save_session_to (AsWindow   *self,
                 const char *path)
{
  g_autoptr(AsSession) s = capture_session (self);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_filename_display_basename (path);

  if (!as_session_save (s, path, &error))
    {
      g_autofree char *msg = g_strdup_printf (_("Could not save the session: %s"), error->message);
      _as_window_toast (self, msg);
      return;
    }
  g_free (self->session_path);
  self->session_path = g_strdup (path);
  as_recent_sessions_add (path);
  _as_window_rebuild_recent_menu (self);
  g_autofree char *msg = g_strdup_printf (_("Saved session “%s”"), name);
  _as_window_toast (self, msg);
}

/* A chooser for sessions, in the folder of the last one. */
static GtkFileChooser *
session_chooser_new (AsWindow               *self,
                     const char             *title,
                     GtkFileChooserAction    action,
                     const char             *accept,
                     AsWindowPathChosenFunc  chosen)
{
  GtkFileChooser *chooser = _as_window_path_chooser_new (self, title, action, accept, self->session_path, chosen);
  _as_window_add_chooser_filter (chooser, _("AttnScope sessions (*.attnscope)"), AS_SESSION_EXTENSION + 1, NULL);
  if (action == GTK_FILE_CHOOSER_ACTION_OPEN)
    _as_window_add_chooser_filter (chooser, _("All files"), NULL, NULL);
  return chooser;
}

static void
save_chosen_session (AsWindow   *self,
                     const char *path)
{
  g_autofree char *base = path != NULL ? g_path_get_basename (path) : NULL;
  if (path == NULL)
    _as_window_toast (self, _("Could not save the session: only local files can be written"));
  else if (strchr (base, '.') == NULL)
    {
      /* A name typed without an extension gets the session's. */
      g_autofree char *with_ext = g_strconcat (path, AS_SESSION_EXTENSION, NULL);
      save_session_to (self, with_ext);
    }
  else
    save_session_to (self, path);
}

/* Save Session…: the texts, model, selection, options, page and teaching
 * step, to a file the user names (the chooser confirms replacing one). */
static void
save_session_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *parameter)
{
  AsWindow *self = AS_WINDOW (widget);
  GtkFileChooser *chooser = session_chooser_new (self, _("Save Session"), GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"),
                                                 save_chosen_session);
  g_autofree char *name = self->session_path != NULL ? g_path_get_basename (self->session_path)
                                                      : g_strdup ("session" AS_SESSION_EXTENSION);
  gtk_file_chooser_set_current_name (chooser, name);
  _as_window_show_path_chooser (chooser);
}

static void
session_error (AsWindow   *self,
               const char *body)
{
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Could Not Open Session"), NULL);
  adw_message_dialog_format_body (ADW_MESSAGE_DIALOG (dialog), _("%s\n\nNothing was changed."), body);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

/* The selection needs the session's analysis (its shape clamps it): it
 * waits until that is on screen. */
static void
finish_session (AsWindow *self)
{
  if (self->pending_session == NULL || !self->session_texts_set || !as_window_is_idle (self))
    return;
  AsSession *s = self->pending_session;
  AsAnalysis *a = as_view_state_get_analysis (self->state);
  as_view_state_select (self->state, s->layer, s->head);
  as_view_state_set_token (self->state, a != NULL && s->token < a->n ? s->token : -1);
  as_teach_view_set_step (AS_TEACH_VIEW (page_view (self->teach_page)),
                          (AsTeachStep) MIN (s->teach_step, AS_N_TEACH_STEPS - 1));
  g_clear_pointer (&self->pending_session, as_session_free);
  g_autofree char *name = g_filename_display_basename (self->session_path);
  g_autofree char *msg = g_strdup_printf (_("Opened session “%s”"), name);
  _as_window_toast (self, msg);
}

/* With the session's model in: its options, texts and page. The analysis
 * of its texts is requested next; finish_session follows it. */
static void
start_session (AsWindow *self)
{
  AsSession *s = self->pending_session;
  g_object_set (self->state, "hide-special", s->hide_special, "renormalise", s->renormalise,
                "fit-scale", s->fit_scale, "words", s->words, "colormap-name", s->colormap,
                "aggregate", s->aggregate, NULL);
  as_window_set_text (self, s->text, s->pair);
  gtk_editable_set_text (as_compare_view_get_entry (AS_COMPARE_VIEW (page_view (self->compare_page))),
                         s->compare);
  /* A page this model cannot fill (next token for an encoder) is not
   * shown: the head view is. */
  GtkWidget *page = gtk_stack_get_child_by_name (self->detail_stack, s->view);
  if (page != NULL && gtk_stack_page_get_visible (gtk_stack_get_page (self->detail_stack, page)))
    gtk_stack_set_visible_child (self->detail_stack, page);
  else
    gtk_stack_set_visible_child_name (self->detail_stack, "head");
  self->session_texts_set = TRUE;
}

gboolean
as_window_open_session (AsWindow   *self,
                        const char *path)
{
  g_return_val_if_fail (AS_IS_WINDOW (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  g_autoptr(GError) error = NULL;
  g_autoptr(AsSession) s = as_session_load (path, &error);
  if (s == NULL)
    {
      session_error (self, error->message);
      return FALSE;
    }
  if (!g_file_test (s->model, G_FILE_TEST_EXISTS))
    {
      g_autofree char *name = g_filename_display_basename (path);
      g_autofree char *body =
        g_strdup_printf (_("The session “%s” uses the model %s, which is not there. Put the model "
                         "back at that place, or open the session in a text editor and set its "
                         "“model” line to where the model is now."), name, s->model);
      session_error (self, body);
      return FALSE;
    }
  if (self->generation != 0)
    {
      _as_window_toast (self, _("Stop the generation before opening a session"));
      return FALSE;
    }

  g_free (self->session_path);
  self->session_path = g_strdup (path);
  as_recent_sessions_add (path);
  _as_window_rebuild_recent_menu (self);
  g_clear_pointer (&self->pending_session, as_session_free);
  self->pending_session = g_steal_pointer (&s);
  self->session_texts_set = FALSE;

  /* The model loads (with its progress and errors) only when it is not the
   * one open; its texts follow once it is in. */
  const char *current = as_worker_get_model_dir (self->worker);
  g_autofree char *want = g_canonicalize_filename (self->pending_session->model, NULL);
  g_autofree char *have = current != NULL ? g_canonicalize_filename (current, NULL) : NULL;
  if (self->have_model && !as_worker_is_loading (self->worker) && g_strcmp0 (want, have) == 0)
    {
      start_session (self);
      /* Texts as they were: no analysis comes, the one on screen is its. */
      finish_session (self);
    }
  else
    as_window_open_model (self, self->pending_session->model);
  return TRUE;
}

static void
open_chosen_session (AsWindow   *self,
                     const char *path)
{
  if (path != NULL)
    as_window_open_session (self, path);
}

static void
open_session_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *parameter)
{
  AsWindow *self = AS_WINDOW (widget);
  GtkFileChooser *chooser = session_chooser_new (self, _("Open Session"), GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"),
                                                 open_chosen_session);
  _as_window_show_path_chooser (chooser);
}

/* ---- recent sessions ---------------------------------------------------- */

/* Sessions under the models, in a section of their own. */
void
as_window_sessions_append_recent (GMenu *menu)
{
  g_auto(GStrv) paths = as_recent_sessions_load ();
  if (paths[0] == NULL)
    return;
  g_autoptr(GMenu) sessions = g_menu_new ();
  for (guint i = 0; paths[i] != NULL; i++)
    {
      g_autofree char *base = g_filename_display_basename (paths[i]);
      g_autofree char *parent = g_path_get_dirname (paths[i]);
      g_autofree char *parent_base = g_filename_display_basename (parent);
      g_autofree char *label = g_strdup_printf ("%s — %s", base, parent_base);
      g_autoptr(GMenuItem) item = g_menu_item_new (label, NULL);
      g_menu_item_set_action_and_target (item, "win.open-recent-session", "s", paths[i]);
      g_menu_append_item (sessions, item);
    }
  g_menu_append_section (menu, _("Sessions"), G_MENU_MODEL (sessions));
}

static void
open_recent_session_action (GtkWidget  *widget,
                            const char *action_name,
                            GVariant   *parameter)
{
  as_window_open_session (AS_WINDOW (widget), g_variant_get_string (parameter, NULL));
}

/* ---- the window's calls ------------------------------------------------- */

void
as_window_sessions_model_loaded (AsWindow *self)
{
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.save-session", TRUE);
  if (self->pending_session != NULL)
    start_session (self);
}

void
as_window_sessions_analysis_done (AsWindow *self)
{
  finish_session (self);
}

void
as_window_sessions_class_init (AsWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  gtk_widget_class_install_action (widget_class, "win.save-session", NULL, save_session_action);
  gtk_widget_class_install_action (widget_class, "win.open-session", NULL, open_session_action);
  gtk_widget_class_install_action (widget_class, "win.open-recent-session", "s", open_recent_session_action);
}
