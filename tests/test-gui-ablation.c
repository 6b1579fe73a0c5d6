/* test-gui-ablation.c — switching heads off in the app, under Xvfb
 * (tests/run-under-xvfb.sh).
 *
 * The default encoder opens; a head is selected with the keyboard and
 * switched off with Ctrl+Shift+H, another with a right-click on its
 * thumbnail in the grid and the menu that opens. Each time the effect the
 * Ablation page shows (the cosine of the sentence embeddings before and
 * after) must equal a re-run of the engine, here, on a backend of our own,
 * with those heads replaced (as_ablation_effect); the grid marks the heads
 * switched off; "Rank heads in this layer" lists every head of the layer
 * with the effect of a re-run of that head alone. Then SmolLM2 (when it is
 * downloaded): the KL divergence and next-token probabilities the page
 * shows for a head replaced by its mean pattern equal the engine's, and so
 * do the two greedy continuations it shows, with the head on and off (an
 * encoder's page shows none).
 */
#include <gdk/x11/gdkx.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "as-ablation-view.h"
#include "as-application.h"
#include "as-generate.h"
#include "as-model.h"
#include "as-model-grid.h"
#include "as-window.h"
#include "gui-test-util.h"

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;

static AsAblationView *
ablation_view (void)
{
  return AS_ABLATION_VIEW (gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_ABLATION_VIEW, NULL));
}

static AsViewState *
state (void)
{
  return as_window_get_view_state (window);
}

static gboolean
shows_text (gpointer text)
{
  AsAnalysis *a = as_view_state_get_analysis (state ());
  return as_window_is_idle (window) && a != NULL && a->text_a != NULL && g_str_equal (a->text_a, text) &&
         as_view_state_get_layers_ready (state ()) == a->n_layers;
}

/* The page shows a result for the heads switched off now. */
static gboolean
effect_ready (gpointer n_ablated)
{
  AsWorkerAblation *w = as_ablation_view_get_result (ablation_view ());
  return w != NULL && w->n_ablate == GPOINTER_TO_INT (n_ablated);
}

static gboolean
rank_ready (gpointer data)
{
  AsWorkerAblation *w = as_ablation_view_get_result (ablation_view ());
  return w != NULL && w->rank != NULL;
}

/* The token ids of the text on screen. */
static int *
screen_ids (int  *n,
            int **types)
{
  AsAnalysis *a = as_view_state_get_analysis (state ());
  *n = a->encoding->n_tokens;
  int *ids = g_new (int, *n);
  *types = g_new (int, *n);
  for (int i = 0; i < *n; i++)
    {
      ids[i] = a->encoding->tokens[i].id;
      (*types)[i] = a->encoding->tokens[i].type_id;
    }
  return ids;
}

/* The page's effect == the engine's, re-run here with the page's heads. */
static void
check_effect_is_rerun (void)
{
  int n_ablated = 0;
  const AsHeadAblation *list = as_ablation_view_get_ablated (ablation_view (), &n_ablated);
  AsWorkerAblation *w = as_ablation_view_get_result (ablation_view ());
  g_assert_cmpint (w->n_ablate, ==, n_ablated);
  g_assert_true (memcmp (w->ablate, list, sizeof (AsHeadAblation) * n_ablated) == 0);
  int n = 0;
  g_autofree int *types = NULL;
  g_autofree int *ids = screen_ids (&n, &types);
  AsAblationEffect want;
  g_autoptr(GError) error = NULL;
  g_assert_true (as_ablation_effect (backend, ids, types, n, list, n_ablated, AS_WORKER_ABLATION_TOP,
                                     &want, &error));
  g_assert_no_error (error);
  g_assert_false (want.next_token);
  g_assert_null (w->continued_on);   /* an encoder writes nothing */
  g_assert_cmpfloat (want.cosine, <, 1.0);
  g_assert_cmpfloat_with_epsilon (w->effect.cosine, want.cosine, 1e-6);
  /* and the page says so, in the digits it prints */
  g_autofree char *printed = g_strdup_printf ("%.6f", want.cosine);
  g_assert_nonnull (strstr (as_ablation_view_get_effect_text (ablation_view ()), printed));
}

static void
test_keyboard (void)
{
  const char *text = "The keys to the cabinet are on the table.";
  gtk_editable_set_text (as_window_get_entry_a (window), text);
  gui_test_wait_until (shows_text, (gpointer) text, 120);
  if (!gui_test_have_xdotool ())
    return;
  /* layer 2, head 3, as a person moves there: Page Down, Alt+Right twice */
  as_view_state_set_layer (state (), 0);
  as_view_state_set_head (state (), 0);
  g_assert_true (gui_test_send_keys (GTK_WINDOW (window), "Page_Down alt+Right alt+Right"));
  gui_test_pace (200);
  g_assert_cmpint (as_view_state_get_layer (state ()), ==, 1);
  g_assert_cmpint (as_view_state_get_head (state ()), ==, 2);
  g_assert_true (gui_test_press (GTK_WINDOW (window), "<Control><Shift>h"));
  gui_test_wait_until (effect_ready, GINT_TO_POINTER (1), 120);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (as_window_get_detail_stack (window)), ==, "ablate");
  g_assert_cmpint (as_ablation_view_mode_of (ablation_view (), 1, 2), ==, AS_ABLATE_ZERO);
  g_assert_cmpint (as_ablation_view_state_mode_of (state (), 1, 2), ==, AS_ABLATE_ZERO);
  check_effect_is_rerun ();
}

static void
test_context_menu (void)
{
  if (!gui_test_have_xdotool ())
    return;
  /* right-click on layer 4, head 6 of the grid */
  AsModelGrid *grid = as_window_get_model_grid (window);
  graphene_rect_t r;
  g_assert_true (as_model_grid_get_thumb_rect (grid, 3, 5, &r));
  g_assert_true (gui_test_click_at (GTK_WIDGET (grid), r.origin.x + r.size.width / 2, r.origin.y + r.size.height / 2, 3));
  g_assert_cmpint (as_view_state_get_layer (state ()), ==, 3);
  g_assert_cmpint (as_view_state_get_head (state ()), ==, 5);
  GtkWidget *menu = gui_test_find_widget (GTK_WIDGET (grid), GTK_TYPE_POPOVER_MENU, NULL);
  g_assert_nonnull (menu);
  g_assert_true (gtk_widget_get_visible (menu));
  GMenuModel *items = gtk_popover_menu_get_menu_model (GTK_POPOVER_MENU (menu));
  g_assert_cmpint (g_menu_model_get_n_items (items), ==, 3);
  g_autofree char *action = NULL;
  g_autoptr(GVariant) target = NULL;
  g_assert_true (g_menu_model_get_item_attribute (items, 1, G_MENU_ATTRIBUTE_ACTION, "s", &action));
  target = g_menu_model_get_item_attribute_value (items, 1, G_MENU_ATTRIBUTE_TARGET, G_VARIANT_TYPE_STRING);
  g_assert_cmpstr (action, ==, "win.ablate-head-as");
  g_assert_cmpstr (g_variant_get_string (target, NULL), ==, "uniform");
  /* What the item does, through the menu's own action lookup. */
  g_assert_true (gtk_widget_activate_action_variant (menu, action, target));
  gtk_popover_popdown (GTK_POPOVER (menu));
  gui_test_wait_until (effect_ready, GINT_TO_POINTER (2), 120);
  g_assert_cmpint (as_ablation_view_mode_of (ablation_view (), 3, 5), ==, AS_ABLATE_UNIFORM);
  check_effect_is_rerun ();
  gui_test_capture_screen (NULL, "ablation-effect.png");
}

static void
test_rank (void)
{
  /* the selected layer (4): every head alone, in the worker */
  GtkWidget *button = gui_test_find_widget (GTK_WIDGET (ablation_view ()), GTK_TYPE_BUTTON,
                                            "Rank heads in this layer");
  g_assert_nonnull (button);
  g_signal_emit_by_name (button, "clicked");
  gui_test_wait_until (rank_ready, NULL, 300);
  AsWorkerAblation *w = as_ablation_view_get_result (ablation_view ());
  g_assert_cmpint (w->rank_layer, ==, 3);
  g_assert_cmpint (w->rank->len, ==, model->config->n_heads);
  int n = 0;
  g_autofree int *types = NULL;
  g_autofree int *ids = screen_ids (&n, &types);
  for (guint i = 0; i < w->rank->len; i++)
    {
      const AsHeadRank *row = &g_array_index (w->rank, AsHeadRank, i);
      const AsHeadAblation one = { row->layer, row->head, w->rank_mode };
      AsAblationEffect want;
      g_assert_true (as_ablation_effect (backend, ids, types, n, &one, 1, 0, &want, NULL));
      g_assert_cmpfloat_with_epsilon (row->cosine, want.cosine, 1e-6);
      if (i > 0)
        g_assert_cmpfloat (g_array_index (w->rank, AsHeadRank, i - 1).score, >=, row->score);
    }
  g_assert_nonnull (strstr (as_ablation_view_get_rank_text (ablation_view ()), "Layer 4, each head"));
  gui_test_capture_screen (NULL, "ablation-rank.png");

  /* Clear: every head on again, the grid marks none */
  as_ablation_view_clear (ablation_view ());
  g_assert_cmpint (as_ablation_view_state_mode_of (state (), 1, 2), ==, AS_ABLATE_NONE);
}

static gboolean
model_loaded (gpointer path)
{
  AsWorker *w = as_window_get_worker (window);
  return !as_worker_is_loading (w) && g_strcmp0 (as_worker_get_model_dir (w), path) == 0 &&
         as_window_is_idle (window);
}

/* A decoder: the page's KL and next-token probabilities equal a re-run
 * of the engine with the head replaced, here on a backend of our own. */
static void
test_decoder (void)
{
  g_autofree char *path = as_model_default_decoder_path ();
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip_printf ("the SmolLM2 GGUF is not downloaded (%s; run tools/setup)", path);
      return;
    }
  g_autoptr(GError) error = NULL;
  AsModel *decoder = as_model_load (path, &error);
  g_assert_no_error (error);
  AsBackend *cpu = as_cpu_backend_new (decoder);
  as_window_open_model (window, path);
  gui_test_wait_until (model_loaded, path, 300);
  const char *text = "List: tiger pencil mirror bottle. List: tiger pencil";
  gtk_editable_set_text (as_window_get_entry_a (window), text);
  gui_test_wait_until (shows_text, (gpointer) text, 120);
  /* the model changed: nothing is switched off */
  int n_ablated = -1;
  as_ablation_view_get_ablated (ablation_view (), &n_ablated);
  g_assert_cmpint (n_ablated, ==, 0);

  as_view_state_set_layer (state (), 18);
  as_view_state_set_head (state (), 6);
  as_ablation_view_set_mode (ablation_view (), AS_ABLATE_MEAN);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.ablate-head", NULL));
  gui_test_wait_until (effect_ready, GINT_TO_POINTER (1), 300);
  AsWorkerAblation *w = as_ablation_view_get_result (ablation_view ());
  g_assert_cmpint (w->ablate[0].mode, ==, AS_ABLATE_MEAN);
  int n = 0;
  g_autofree int *types = NULL;
  g_autofree int *ids = screen_ids (&n, &types);
  AsAblationEffect want;
  g_assert_true (as_ablation_effect (cpu, ids, types, n, w->ablate, 1, AS_WORKER_ABLATION_TOP,
                                     &want, &error));
  g_assert_no_error (error);
  g_assert_true (w->effect.next_token);
  g_assert_cmpfloat (want.kl, >, 0.0);
  g_assert_cmpfloat_with_epsilon (w->effect.kl, want.kl, 1e-6 + 1e-4 * want.kl);
  g_assert_cmpint (w->effect.n_top, ==, want.n_top);
  for (int i = 0; i < want.n_top; i++)
    {
      g_assert_cmpint (w->effect.top_ids[i], ==, want.top_ids[i]);
      g_assert_cmpfloat_with_epsilon (w->effect.p_after[i], want.p_after[i], 1e-6);
    }
  g_assert_cmpint (w->effect.argmax_after, ==, want.argmax_after);
  g_assert_nonnull (strstr (as_ablation_view_get_effect_text (ablation_view ()), "KL(before"));

  /* what it writes next, greedily, with the head on and off */
  AsGenerateOptions o;
  as_generate_options_init (&o, decoder);
  o.max_tokens = AS_WORKER_ABLATION_CONTINUE;
  g_autofree char *on = as_generate_text (cpu, ids, n, &o, &error);
  g_assert_no_error (error);
  o.ablate = w->ablate;
  o.n_ablate = w->n_ablate;
  g_autofree char *off = as_generate_text (cpu, ids, n, &o, &error);
  g_assert_no_error (error);
  g_test_message ("on: “%s”; off: “%s”", on, off);
  g_assert_cmpstr (w->continued_on, ==, on);
  g_assert_cmpstr (w->continued_off, ==, off);
  g_assert_cmpuint (strlen (on), >, 0);
  g_assert_nonnull (strstr (as_ablation_view_get_effect_text (ablation_view ()), "heads off: “"));
  as_backend_free (cpu);
  as_model_free (decoder);
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
  if (model == NULL)
    {
      printf ("1..0 # SKIP all-MiniLM-L6-v2 is not downloaded\n");
      return 0;
    }
  g_test_add_func ("/gui-ablation/keyboard", test_keyboard);
  g_test_add_func ("/gui-ablation/context-menu", test_context_menu);
  g_test_add_func ("/gui-ablation/rank", test_rank);
  g_test_add_func ("/gui-ablation/decoder", test_decoder);
  int status = g_test_run ();
  gui_test_stop (app, window, model, backend);
  return status;
}
