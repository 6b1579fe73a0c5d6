/* test-gui-mlm.c — masked-token predictions in the app, under Xvfb.
 *
 * The window opens tests/data/bert-mlm-tiny (a seeded BertForMaskedLM,
 * tools/make-tiny-encoders.py). A token is masked the ways a person does
 * it: clicking its pill and then "Mask Selected Token" (real XTEST clicks);
 * moving to it with the arrow keys and pressing Ctrl+M; right-clicking it
 * for its context menu. Each time the text becomes the masked one, the
 * views show the masked input's attention ([MASK] in the analysis on
 * screen), and the Masked Token page shows exactly the engine's own top
 * 10 for that input (as_mlm_head_predict on the CPU backend) and, for the
 * golden sentences, transformers' (mlm-goldens.json, within 1e-5).
 * Unmasking (the button, Ctrl+Shift+M) restores the text. A model without
 * the head (distilbert-tiny) keeps the action off, the button's tooltip
 * and the page saying why.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <gdk/x11/gdkx.h>
#include <json-glib/json-glib.h>

#include "as-mlm-head.h"
#include "as-mlm-view.h"
#include "as-token-strip.h"
#include "gui-test-util.h"

#define GOLDEN_TOL 1e-5   /* a probability against transformers */
#define ENGINE_TOL 1e-6   /* the app against the engine run directly: the same code */

static AsApplication *app;
static AsModel *model;
static AsBackend *backend;
static AsWindow *window;

static char *
data_path (const char *folder,
           const char *name)
{
  return g_build_filename (g_getenv ("AS_TEST_DATA"), folder, name, NULL);
}

static AsMlmView *
mlm_view (void)
{
  GtkWidget *w = gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_MLM_VIEW, NULL);
  g_assert_nonnull (w);
  return AS_MLM_VIEW (w);
}

static AsTokenStrip *
token_strip (void)
{
  GtkWidget *w = gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_TOKEN_STRIP, NULL);
  g_assert_nonnull (w);
  return AS_TOKEN_STRIP (w);
}

static GtkWidget *
mlm_button (const char *label)
{
  GtkWidget *w = gui_test_find_widget (GTK_WIDGET (mlm_view ()), GTK_TYPE_BUTTON, label);
  g_assert_nonnull (w);
  return w;
}

static const char *
text_a (void)
{
  return gtk_editable_get_text (as_window_get_entry_a (window));
}

static void
click_token (int token,
             int button)
{
  graphene_rect_t r;
  gui_test_wait_frames (GTK_WIDGET (token_strip ()), 1);
  g_assert_true (as_token_strip_get_token_rect (token_strip (), token, &r));
  g_assert_true (gui_test_click_at (GTK_WIDGET (token_strip ()), r.origin.x + r.size.width / 2,
                                    r.origin.y + r.size.height / 2, button));
}

static void
click_button (GtkWidget *button)
{
  g_assert_true (gtk_widget_is_sensitive (button));
  g_assert_true (gui_test_click_at (button, gtk_widget_get_width (button) / 2.0,
                                    gtk_widget_get_height (button) / 2.0, 1));
}

static void
show_text (const char *text)
{
  as_window_set_text (window, text, NULL);
  gui_test_wait_idle (window, 120);
}

/* The analysis on screen is of TEXT, complete, and the page shows its
 * predictions (MASKS of them). */
typedef struct {
  const char *text;
  int         masks;
} Shown;

static gboolean
shows (gpointer data)
{
  const Shown *want = data;
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  return g_strcmp0 (text_a (), want->text) == 0 && a != NULL && g_strcmp0 (a->text_a, want->text) == 0 &&
         as_window_is_idle (window) && as_mlm_view_get_n_masks (mlm_view ()) == want->masks;
}

static void
wait_shows (const char *text,
            int         masks)
{
  Shown want = { text, masks };
  gui_test_wait_until (shows, &want, 120);
}

/* What the page shows equals the engine run directly on the masked text,
 * and transformers' top 10 when GOLDEN_CASE >= 0. */
static void
check_page (int golden_case)
{
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  const int n = a->n;
  g_autofree int *ids = g_new (int, n);     /* [n] */
  g_autofree int *types = g_new0 (int, n);  /* [n] */
  for (int i = 0; i < n; i++)
    ids[i] = a->encoding->tokens[i].id;
  g_autofree int *positions = g_new (int, n);   /* [n] */
  const int n_masks = as_mlm_mask_positions (model, ids, n, positions);
  g_assert_cmpint (n_masks, >=, 1);
  g_assert_cmpint (as_mlm_view_get_n_masks (mlm_view ()), ==, n_masks);
  /* The attention on screen is the masked input's. */
  g_assert_cmpstr (a->encoding->tokens[positions[0]].text, ==, "[MASK]");

  g_autofree float *hidden = g_new (float, (gsize) n * model->config->hidden);   /* [n, H] */
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (backend, &req, hidden, &error));

  JsonArray *golden_masks = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  if (golden_case >= 0)
    {
      g_autofree char *path = data_path ("bert-mlm-tiny", "mlm-goldens.json");
      g_assert_true (json_parser_load_from_file (parser, path, &error));
      JsonObject *root = json_node_get_object (json_parser_get_root (parser));
      JsonObject *cs = json_array_get_object_element (json_object_get_array_member (root, "cases"), golden_case);
      g_assert_cmpstr (json_object_get_string_member (cs, "text"), ==, a->text_a);
      golden_masks = json_object_get_array_member (cs, "masks");
      g_assert_cmpint (json_array_get_length (golden_masks), ==, n_masks);
    }

  double worst_engine = 0, worst_golden = 0;
  for (int m = 0; m < n_masks; m++)
    {
      AsMlmPrediction want[AS_WORKER_MLM_TOP];
      g_assert_true (as_mlm_head_predict (model, hidden, n, positions[m], AS_WORKER_MLM_TOP, want, &error));
      JsonObject *golden = golden_masks != NULL ? json_array_get_object_element (golden_masks, m) : NULL;
      for (int r = 0; r < AS_WORKER_MLM_TOP; r++)
        {
          int position, id;
          const char *label;
          float prob;
          g_assert_true (as_mlm_view_get_prediction (mlm_view (), m, r, &position, &id, &label, &prob));
          g_assert_cmpint (position, ==, positions[m]);
          g_assert_cmpint (id, ==, want[r].id);
          g_autofree char *want_label = as_tokenizer_id_to_label (model->tokenizer, id);
          g_assert_cmpstr (label, ==, want_label);
          worst_engine = MAX (worst_engine, fabs (prob - want[r].prob));
          if (golden != NULL)
            {
              JsonArray *gi = json_object_get_array_member (golden, "top_ids");
              JsonArray *gp = json_object_get_array_member (golden, "top_probs");
              g_assert_cmpint (id, ==, json_array_get_int_element (gi, r));
              worst_golden = MAX (worst_golden, fabs (prob - json_array_get_double_element (gp, r)));
            }
        }
    }
  g_assert_cmpfloat (worst_engine, <=, ENGINE_TOL);
  g_assert_cmpfloat (worst_golden, <=, GOLDEN_TOL);
  if (golden_masks != NULL)
    g_test_message ("%d mask(s): worst difference %.3g from the engine, %.3g from transformers",
                    n_masks, worst_engine, worst_golden);
  else
    g_test_message ("%d mask(s): worst difference %.3g from the engine", n_masks, worst_engine);
}

/* Click "paris", then "Mask Selected Token"; "Unmask" puts it back. */
static void
test_mask_by_click (void)
{
  if (!gui_test_have_xdotool ())
    return;
  const char *plain = "The capital of France is paris.";
  show_text (plain);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "mlm");
  click_token (6, 1);
  g_assert_cmpint (as_view_state_get_token (as_window_get_view_state (window)), ==, 6);
  g_assert_true (as_mlm_view_can_mask (mlm_view (), NULL));
  click_button (mlm_button ("Mask Selected _Token"));
  wait_shows ("The capital of France is [MASK].", 1);
  check_page (0);
  /* Internally token 6; on screen counted from 1, as layers and heads:
   * [CLS] is #1 and the mask at position 7. */
  int position, id;
  const char *label;
  float prob;
  g_assert_true (as_mlm_view_get_prediction (mlm_view (), 0, 0, &position, &id, &label, &prob));
  g_assert_cmpint (position, ==, 6);
  g_autofree char *heading = as_mlm_view_describe_mask (mlm_view (), 0);
  g_assert_cmpstr (heading, ==, "[MASK] at position 7, in place of “paris”");
  g_autofree char *first = as_token_strip_describe_token (token_strip (), 0);
  g_assert_true (g_str_has_prefix (first, "#1 “[CLS]”  id "));

  click_button (mlm_button ("_Unmask"));
  wait_shows (plain, 0);
  g_assert_false (as_mlm_view_can_unmask (mlm_view ()));
}

static gboolean
token_is_six (gpointer state)
{
  return as_view_state_get_token (state) == 6;
}

/* Arrow keys to "mat" in the strip, Ctrl+M; Ctrl+Shift+M unmasks. */
static void
test_mask_by_keyboard (void)
{
  if (!gui_test_have_xdotool ())
    return;
  const char *plain = "The cat sat on the mat.";
  show_text (plain);
  gtk_widget_grab_focus (GTK_WIDGET (token_strip ()));
  AsViewState *state = as_window_get_view_state (window);
  /* From no selection, Right selects [CLS]. */
  if (as_view_state_get_token (state) >= 0)
    as_view_state_set_token (state, -1);
  for (int i = 0; i <= 6; i++)
    g_assert_true (gui_test_press (GTK_WINDOW (window), "Right"));
  gui_test_wait_until (token_is_six, state, 30);
  g_assert_true (gui_test_press (GTK_WINDOW (window), "<Control>m"));
  wait_shows ("The cat sat on the [MASK].", 1);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (as_window_get_detail_stack (window)), ==, "mlm");
  check_page (1);

  /* A second mask in the same text: both are predicted. */
  AsAnalysis *a = as_view_state_get_analysis (state);
  g_assert_cmpstr (a->encoding->tokens[2].text, ==, "cat");
  as_view_state_set_token (state, 2);
  g_assert_true (gui_test_press (GTK_WINDOW (window), "<Control>m"));
  wait_shows ("The [MASK] sat on the [MASK].", 2);
  check_page (-1);

  g_assert_true (gui_test_press (GTK_WINDOW (window), "<Control><Shift>m"));
  wait_shows (plain, 0);
}

/* Right-click a pill: it is selected and its menu offers the mask. */
static void
test_context_menu (void)
{
  if (!gui_test_have_xdotool ())
    return;
  show_text ("The quick brown fox jumps over the lazy dog.");
  click_token (3, 3);
  g_assert_cmpint (as_view_state_get_token (as_window_get_view_state (window)), ==, 3);
  GtkWidget *menu = gui_test_find_widget (GTK_WIDGET (token_strip ()), GTK_TYPE_POPOVER_MENU, NULL);
  g_assert_nonnull (menu);
  g_assert_true (gtk_widget_get_visible (menu));
  GMenuModel *items = gtk_popover_menu_get_menu_model (GTK_POPOVER_MENU (menu));
  g_autofree char *action = NULL;
  g_assert_true (g_menu_model_get_item_attribute (items, 0, G_MENU_ATTRIBUTE_ACTION, "s", &action));
  g_assert_cmpstr (action, ==, "win.mask-token");
  /* What the item does, through the menu's own action lookup. */
  g_assert_true (gtk_widget_activate_action (menu, action, NULL));
  wait_shows ("The quick [MASK] fox jumps over the lazy dog.", 1);
  check_page (-1);
  gtk_popover_popdown (GTK_POPOVER (menu));

  /* Typing after a mask makes the text the user's: nothing to unmask. */
  gtk_editable_set_text (as_window_get_entry_a (window), "The quick [MASK] fox jumps.");
  g_assert_false (as_mlm_view_can_unmask (mlm_view ()));
  wait_shows ("The quick [MASK] fox jumps.", 1);
  check_page (-1);
}

/* A model without the head: the action is off and says why. */
static void
test_no_head (void)
{
  g_autofree char *dir = data_path ("distilbert-tiny", NULL);
  as_window_open_model (window, dir);
  show_text ("The cat sat on the mat.");
  as_view_state_set_token (as_window_get_view_state (window), 2);
  GtkWidget *button = mlm_button ("Mask Selected _Token");
  g_assert_false (gtk_widget_is_sensitive (button));
  g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (button), "no masked-LM head"));
  g_assert_nonnull (strstr (as_mlm_view_get_caption (mlm_view ()), "no masked-LM head"));
  const char *why = NULL;
  g_assert_false (as_mlm_view_can_mask (mlm_view (), &why));
  g_assert_nonnull (strstr (why, "no masked-LM head"));
  /* Ctrl+M does nothing to the text. */
  if (gui_test_have_xdotool ())
    {
      g_assert_true (gui_test_press (GTK_WINDOW (window), "<Control>m"));
      gui_test_pace (300);
      g_assert_cmpstr (text_a (), ==, "The cat sat on the mat.");
    }
}

int
main (int   argc,
      char *argv[])
{
  /* The window and the reference both open the tiny masked-LM model. */
  g_autofree char *tiny = data_path ("bert-mlm-tiny", NULL);
  g_setenv ("ATTNSCOPE_MODEL_DIR", tiny, TRUE);
  if (!gui_test_init (&argc, &argv))
    {
      printf ("1..0 # SKIP cannot open a display (run under tests/run-under-xvfb.sh)\n");
      return 0;
    }
  window = gui_test_start (&app, &model, &backend);
  g_assert_nonnull (model);
  g_assert_nonnull (as_mlm_head_get (model));

  g_test_add_func ("/gui-mlm/mask-by-click", test_mask_by_click);
  g_test_add_func ("/gui-mlm/mask-by-keyboard", test_mask_by_keyboard);
  g_test_add_func ("/gui-mlm/context-menu", test_context_menu);
  g_test_add_func ("/gui-mlm/no-head", test_no_head);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  return status;
}
