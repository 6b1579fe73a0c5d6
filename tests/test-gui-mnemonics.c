/* test-gui-mnemonics.c — every Alt+letter on screen does one thing.
 *
 * Two labels with the same mnemonic letter on screen at once make GTK
 * cycle focus between them instead of acting: a user pressing Alt+S for
 * Statistics lands on the other "S" first. For every page of the right
 * pane, with an encoder and with a decoder (whose Generate bar adds its
 * own letters), the mnemonic letters of all mapped labels are collected
 * and must be distinct.
 */
#include <stdio.h>

#include "gui-test-util.h"

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;

static void
collect (GtkWidget  *widget,
         GHashTable *seen,
         GString    *clashes)
{
  if (!gtk_widget_get_mapped (widget))
    return;
  if (GTK_IS_LABEL (widget) && gtk_label_get_use_underline (GTK_LABEL (widget)))
    {
      guint key = gtk_label_get_mnemonic_keyval (GTK_LABEL (widget));
      if (key != GDK_KEY_VoidSymbol && key != 0)
        {
          key = gdk_keyval_to_lower (key);
          const char *text = gtk_label_get_label (GTK_LABEL (widget));
          const char *other = g_hash_table_lookup (seen, GUINT_TO_POINTER (key));
          if (other != NULL)
            g_string_append_printf (clashes, "  Alt+%s: “%s” and “%s”\n",
                                    gdk_keyval_name (key), other, text);
          else
            g_hash_table_insert (seen, GUINT_TO_POINTER (key), (gpointer) text);
        }
    }
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c != NULL; c = gtk_widget_get_next_sibling (c))
    collect (c, seen, clashes);
}

/* The clashes on every page of the right pane, one line each. */
static char *
clashes_on_every_page (const char *what)
{
  GtkStack *stack = as_window_get_detail_stack (window);
  GString *clashes = g_string_new (NULL);
  GListModel *pages = G_LIST_MODEL (gtk_stack_get_pages (stack));
  guint n = g_list_model_get_n_items (pages);
  for (guint i = 0; i < n; i++)
    {
      GtkStackPage *page = g_list_model_get_item (pages, i);
      g_object_unref (page);   /* the stack keeps it */
      if (!gtk_stack_page_get_visible (page))
        continue;
      gtk_stack_set_visible_child (stack, gtk_stack_page_get_child (page));
      gui_test_wait_frames (GTK_WIDGET (window), 2);
      g_autoptr(GHashTable) seen = g_hash_table_new (NULL, NULL);
      GString *here = g_string_new (NULL);
      collect (GTK_WIDGET (window), seen, here);
      g_test_message ("%s, page %s: %u mnemonic letters", what,
                      gtk_stack_page_get_name (page), g_hash_table_size (seen));
      if (here->len > 0)
        g_string_append_printf (clashes, "%s, page “%s”:\n%s", what,
                                gtk_stack_page_get_name (page), here->str);
      g_string_free (here, TRUE);
    }
  g_object_unref (pages);
  gtk_stack_set_visible_child_name (stack, "head");
  return g_string_free (clashes, FALSE);
}

static void
test_encoder (void)
{
  if (!gui_test_have_model (model))
    return;
  gui_test_wait_idle (window, 60);
  g_autofree char *clashes = clashes_on_every_page ("all-MiniLM-L6-v2");
  if (*clashes != '\0')
    g_test_fail_printf ("mnemonic letters used twice:\n%s", clashes);
}

static gboolean
model_is (gpointer data)
{
  return g_strcmp0 (as_worker_get_model_dir (as_window_get_worker (window)), data) == 0;
}

static void
test_decoder (void)
{
  g_autofree char *gguf = as_model_default_decoder_path ();
  if (!g_file_test (gguf, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip_printf ("the SmolLM2 GGUF is not downloaded (%s; run tools/setup)", gguf);
      return;
    }
  as_window_open_model (window, gguf);
  gui_test_wait_until (model_is, gguf, 120);
  gui_test_wait_idle (window, 120);
  g_autofree char *clashes = clashes_on_every_page ("SmolLM2");
  if (*clashes != '\0')
    g_test_fail_printf ("mnemonic letters used twice:\n%s", clashes);
}

int
main (int   argc,
      char *argv[])
{
  if (!gui_test_init (&argc, &argv))
    {
      printf ("1..0 # SKIP cannot open a display (run under tests/run-under-xvfb.sh)\n");
      return 0;
    }
  window = gui_test_start (&app, &model, &backend);
  g_test_add_func ("/mnemonics/encoder", test_encoder);
  g_test_add_func ("/mnemonics/decoder", test_decoder);
  int status = g_test_run ();
  gui_test_stop (app, window, model, backend);
  return status;
}
