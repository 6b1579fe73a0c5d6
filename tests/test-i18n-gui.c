/* test-i18n-gui.c — a translation added as a catalogue alone reaches the
 * window, under Xvfb.
 *
 * A tiny Esperanto catalogue is written and compiled (msgfmt) here, into a
 * scratch folder the app is pointed at with ATTNSCOPE_LOCALEDIR; the app
 * sets up gettext as its main() does (as_application_init_translations)
 * with LANGUAGE=eo. The window must then show the translated strings of
 * both kinds: a menu item of its GtkBuilder template, a column title and a
 * tooltip made in C. The tooltip is of the first token: it also says the
 * position as the app counts them, from 1.
 */
#include <glib/gstdio.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "as-stats-table.h"
#include "as-token-strip.h"
#include "gui-test-util.h"

static const char catalogue[] =
  "msgid \"\"\n"
  "msgstr \"Content-Type: text/plain; charset=UTF-8\\n\"\n"
  "\n"
  "msgid \"_Open Model…\"\n"
  "msgstr \"_Malfermi modelon…\"\n"
  "\n"
  "msgid \"Entropy\"\n"
  "msgstr \"Entropio\"\n"
  "\n"
  "#, c-format\n"
  "msgid \"#%d “%s”  id %d, added by the tokenizer\"\n"
  "msgstr \"#%d “%s”  id %d, aldonita de la tokenigilo\"\n";

static AsApplication *app;
static AsModel *model;
static AsBackend *backend;
static AsWindow *window;

/* DIR/eo/LC_MESSAGES/attnscope.mo from the catalogue above; FALSE (with
 * the reason in *WHY) when it cannot be made here. */
static gboolean
install_catalogue (const char  *dir,
                   const char **why)
{
  g_autofree char *msgfmt = g_find_program_in_path ("msgfmt");
  if (msgfmt == NULL)
    {
      *why = "msgfmt not installed (tools/setup installs gettext)";
      return FALSE;
    }
  g_autofree char *messages = g_build_filename (dir, "eo", "LC_MESSAGES", NULL);
  g_autofree char *po = g_build_filename (dir, "eo.po", NULL);
  g_autofree char *mo = g_build_filename (messages, "attnscope.mo", NULL);
  g_assert_cmpint (g_mkdir_with_parents (messages, 0700), ==, 0);
  g_assert_true (g_file_set_contents (po, catalogue, -1, NULL));
  const char *argv[] = { msgfmt, "-o", mo, po, NULL };
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                               &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return TRUE;
}

static void
remove_catalogue (const char *dir)
{
  g_autofree char *messages = g_build_filename (dir, "eo", "LC_MESSAGES", NULL);
  g_autofree char *mo = g_build_filename (messages, "attnscope.mo", NULL);
  g_autofree char *eo = g_build_filename (dir, "eo", NULL);
  g_autofree char *po = g_build_filename (dir, "eo.po", NULL);
  g_unlink (mo);
  g_rmdir (messages);
  g_rmdir (eo);
  g_unlink (po);
  g_rmdir (dir);
}

/* The main menu's Open Model item comes from as-window.ui. */
static void
test_template (void)
{
  g_autoptr(GPtrArray) items = gui_test_list_menu_items (GTK_WIDGET (window));
  int seen = 0;
  for (guint i = 0; i < items->len; i++)
    {
      GuiTestMenuItem *item = g_ptr_array_index (items, i);
      if (!g_str_equal (item->action, "win.open-model"))
        continue;
      g_assert_cmpstr (item->label, ==, "_Malfermi modelon…");
      seen++;
    }
  g_assert_cmpint (seen, >, 0);
}

static GtkColumnViewColumn *
find_column (GtkWidget  *root,
             const char *title)
{
  if (GTK_IS_COLUMN_VIEW (root))
    {
      GListModel *columns = gtk_column_view_get_columns (GTK_COLUMN_VIEW (root));
      for (guint i = 0; i < g_list_model_get_n_items (columns); i++)
        {
          g_autoptr(GtkColumnViewColumn) c = g_list_model_get_item (columns, i);
          if (g_strcmp0 (gtk_column_view_column_get_title (c), title) == 0)
            return c;
        }
    }
  for (GtkWidget *c = gtk_widget_get_first_child (root); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      GtkColumnViewColumn *found = find_column (c, title);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* Strings made in C: the statistics table's column title, and the token
 * strip's tooltip (with the first token's position, 1). */
static void
test_widgets (void)
{
  GtkWidget *table = gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_STATS_TABLE, NULL);
  g_assert_nonnull (table);
  g_assert_nonnull (find_column (table, "Entropio"));
  g_assert_null (find_column (table, "Entropy"));

  gui_test_wait_idle (window, 120);
  GtkWidget *strip = gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_TOKEN_STRIP, NULL);
  g_assert_nonnull (strip);
  g_autofree char *tip = as_token_strip_describe_token (AS_TOKEN_STRIP (strip), 0);
  g_assert_nonnull (tip);
  g_assert_true (g_str_has_prefix (tip, "#1 “[CLS]”  id "));
  g_assert_true (g_str_has_suffix (tip, ", aldonita de la tokenigilo"));
}

int
main (int   argc,
      char *argv[])
{
  /* LANGUAGE is ignored in the "C" locale, not in C.UTF-8. */
  if (setlocale (LC_ALL, "C.UTF-8") == NULL)
    {
      printf ("1..0 # SKIP no C.UTF-8 locale\n");
      return 0;
    }
  g_autofree char *dir = g_dir_make_tmp ("attnscope-i18n-XXXXXX", NULL);
  g_assert_nonnull (dir);
  const char *why = NULL;
  if (!install_catalogue (dir, &why))
    {
      printf ("1..0 # SKIP %s\n", why);
      remove_catalogue (dir);
      return 0;
    }
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  g_setenv ("LANGUAGE", "eo", TRUE);
  g_setenv ("ATTNSCOPE_LOCALEDIR", dir, TRUE);
  /* A small model, always there: the strip has tokens quickly. */
  g_autofree char *tiny = g_build_filename (g_getenv ("AS_TEST_DATA"), "bert-mlm-tiny", NULL);
  g_setenv ("ATTNSCOPE_MODEL_DIR", tiny, TRUE);
  as_application_init_translations ();
  if (!gui_test_init (&argc, &argv))
    {
      printf ("1..0 # SKIP cannot open a display (run under tests/run-under-xvfb.sh)\n");
      remove_catalogue (dir);
      return 0;
    }
  window = gui_test_start (&app, &model, &backend);
  g_assert_nonnull (model);

  g_test_add_func ("/i18n-gui/template", test_template);
  g_test_add_func ("/i18n-gui/widgets", test_widgets);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  remove_catalogue (dir);
  return status;
}
