/* as-application.c — app actions, accelerators and the command line. */
#include "as-application.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "as-build-config.h"
#include "as-model.h"
#include "as-resources.h"
#include "as-window.h"

struct _AsApplication
{
  AdwApplication parent_instance;
};

G_DEFINE_FINAL_TYPE (AsApplication, as_application, ADW_TYPE_APPLICATION)

static const GOptionEntry options[] = {
  { "model", 'm', 0, G_OPTION_ARG_FILENAME, NULL, N_("Model folder (Hugging Face layout) or GGUF file"), N_("PATH") },
  { "text", 't', 0, G_OPTION_ARG_STRING, NULL, N_("Sentence A to analyse"), N_("TEXT") },
  { "pair", 'p', 0, G_OPTION_ARG_STRING, NULL, N_("Sentence B (pair mode)"), N_("TEXT") },
  { "text-file", 0, 0, G_OPTION_ARG_FILENAME, NULL, N_("Read sentence A from a file"), N_("FILE") },
  { "session", 's', 0, G_OPTION_ARG_FILENAME, NULL, N_("Open a saved session (.attnscope)"), N_("FILE") },
  /* what a file manager passes (the desktop file's Exec=attnscope %f) */
  { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, NULL, NULL, N_("[MODEL|SESSION]") },
  { NULL }
};

/* A file named on its own is a session when it has the sessions' suffix,
 * else a model (a folder or a GGUF file; the window says why it is not). */
static gboolean
is_session_path (const char *path)
{
  g_autofree char *lower = g_ascii_strdown (path, -1);
  return g_str_has_suffix (lower, ".attnscope");
}

static char *
resolve (GApplicationCommandLine *cmdline,
         const char              *path)
{
  g_autoptr(GFile) file = g_application_command_line_create_file_for_arg (cmdline, path);
  return g_file_get_path (file);
}

static int
as_application_command_line (GApplication            *app,
                              GApplicationCommandLine *cmdline)
{
  GVariantDict *dict = g_application_command_line_get_options_dict (cmdline);
  const char *model = NULL, *text = NULL, *pair = NULL, *text_file = NULL;
  g_variant_dict_lookup (dict, "model", "^&ay", &model);
  g_variant_dict_lookup (dict, "text", "&s", &text);
  g_variant_dict_lookup (dict, "pair", "&s", &pair);
  g_variant_dict_lookup (dict, "text-file", "^&ay", &text_file);
  const char *session = NULL;
  g_variant_dict_lookup (dict, "session", "^&ay", &session);
  g_autofree const char **named = NULL;
  g_variant_dict_lookup (dict, G_OPTION_REMAINING, "^a&ay", &named);
  if (named != NULL && named[0] != NULL)
    {
      if (named[1] != NULL || model != NULL || session != NULL)
        {
          g_application_command_line_printerr (cmdline, "%s", _("attnscope: name one model or session: "
                                                                "a single FILE, or --model, or --session\n"));
          return 1;
        }
      if (is_session_path (named[0]))
        session = named[0];
      else
        model = named[0];
    }
  if (session != NULL && (model != NULL || text != NULL || pair != NULL || text_file != NULL))
    {
      g_application_command_line_printerr (cmdline, "%s", _("attnscope: --session names the model and the "
                                                            "texts: leave out --model, --text, --pair and --text-file\n"));
      return 1;
    }

  g_autofree char *file_text = NULL;
  if (text_file != NULL)
    {
      g_autofree char *path = resolve (cmdline, text_file);
      g_autoptr(GError) error = NULL;
      gboolean cut = FALSE;
      if ((file_text = as_read_text_file (path, NULL, &cut, &error)) == NULL)
        {
          g_application_command_line_printerr (cmdline, "attnscope: %s: %s\n", path, error->message);
          return 1;
        }
      if (cut)
        g_application_command_line_printerr (cmdline, _("attnscope: note: %s: only its first %lu bytes are used\n"),
                                             path, (unsigned long) AS_TEXT_FILE_CAP);
      g_strstrip (file_text);
      text = file_text;
    }

  GtkWindow *active = gtk_application_get_active_window (GTK_APPLICATION (app));
  if (active != NULL && model == NULL && text == NULL && session == NULL)
    {
      gtk_window_present (active);
      return 0;
    }

  AsWindow *window = as_window_new (GTK_APPLICATION (app));
  if (session != NULL)
    {
      g_autofree char *path = resolve (cmdline, session);
      gtk_window_present (GTK_WINDOW (window));
      /* A session that cannot be opened says why over the default model. */
      if (!as_window_open_session (window, path))
        {
          g_autofree char *dir = as_model_default_dir ();
          as_window_open_model (window, dir);
        }
      return 0;
    }
  if (text != NULL || pair != NULL)
    as_window_set_text (window, text != NULL ? text : "", pair);
  g_autofree char *dir = model != NULL ? resolve (cmdline, model) : as_model_default_dir ();
  as_window_open_model (window, dir);
  gtk_window_present (GTK_WINDOW (window));
  return 0;
}

static void
quit_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  g_application_quit (G_APPLICATION (user_data));
}

static void
about_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (user_data));
  const char *developers[] = { _("The AttnScope developers"), NULL };

  adw_show_about_window (parent,
                         "application-name", "AttnScope",
                         "application-icon", AS_APPLICATION_ID,
                         "version", AS_VERSION,
                         "developer-name", _("The AttnScope developers"),
                         "developers", developers,
                         "comments", _("Watch every attention head of a transformer, encoder or decoder, "
                                       "computed exactly, as you type or as it writes."),
                         "license-type", GTK_LICENSE_GPL_3_0,
                         NULL);
}

static void
dark_style_action (GSimpleAction *action,
                   GVariant      *state,
                   gpointer       user_data)
{
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (),
                                      g_variant_get_boolean (state) ? ADW_COLOR_SCHEME_FORCE_DARK
                                                                    : ADW_COLOR_SCHEME_DEFAULT);
  g_simple_action_set_state (action, state);
}

static const GActionEntry app_actions[] = {
  { .name = "quit", .activate = quit_action },
  { .name = "about", .activate = about_action },
  { .name = "dark-style", .state = "false", .change_state = dark_style_action },
};

static void
as_application_startup (GApplication *app)
{
  /* Before chaining up: GTK and libadwaita load help-overlay.ui and
   * style.css from the resource base path during startup. */
  as_resources_register_resource ();

  G_APPLICATION_CLASS (as_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (app), app_actions, G_N_ELEMENTS (app_actions), app);
  GAction *dark = g_action_map_lookup_action (G_ACTION_MAP (app), "dark-style");
  g_simple_action_set_state (G_SIMPLE_ACTION (dark),
                             g_variant_new_boolean (adw_style_manager_get_dark (adw_style_manager_get_default ())));

  static const struct {
    const char *action;
    const char *accels[3];
  } accels[] = {
    { "app.quit", { "<Control>q", NULL } },
    { "win.open-model", { "<Control>o", NULL } },
    { "win.open-model-file", { "<Control><Shift>o", NULL } },
    { "win.open-text", { "<Control><Shift>t", NULL } },
    { "win.save-session", { "<Control>s", NULL } },
    { "win.open-session", { "<Control><Alt>o", NULL } },
    { "win.generate", { "<Control>g", NULL } },
    { "win.hide-special", { "<Control>h", NULL } },
    { "win.renormalise", { "<Control>r", NULL } },
    { "win.fit-scale", { "<Control>f", NULL } },
    { "win.export", { "<Control>e", NULL } },
    { "win.copy-image", { "<Control><Shift>c", NULL } },
    { "win.focus-text", { "<Control>l", NULL } },
    { "window.close", { "<Control>w", NULL } },
  };
  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (app), accels[i].action, accels[i].accels);
}

static void
as_application_class_init (AsApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  app_class->startup = as_application_startup;
  app_class->command_line = as_application_command_line;
}

static void
as_application_init (AsApplication *self)
{
  g_application_add_main_option_entries (G_APPLICATION (self), options);
  g_application_set_option_context_parameter_string (G_APPLICATION (self),
                                                     _("— explore the attention of a transformer model"));
}

void
as_application_init_translations (void)
{
  setlocale (LC_ALL, "");
  const char *dir = g_getenv ("ATTNSCOPE_LOCALEDIR");
  bindtextdomain (GETTEXT_PACKAGE, dir != NULL && *dir != '\0' ? dir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}

AsApplication *
as_application_new (void)
{
  return g_object_new (AS_TYPE_APPLICATION,
                       "application-id", AS_APPLICATION_ID,
                       "flags", G_APPLICATION_HANDLES_COMMAND_LINE,
                       NULL);
}
