/* test-gui-lens.c — the logit lens page and the grouped model grid under
 * Xvfb (tests/run-under-xvfb.sh).
 *
 * The figure alone on the tiny seeded Llama, always. Then the real window
 * opens SmolLM2 (when it is downloaded), a prompt is typed with key events,
 * and the Logit Lens page is opened with its mnemonic. Every cell is checked against
 * as_logit_lens_run on the same tokens, called here on a backend of our own;
 * a click and the arrow keys select cells; Ctrl+E on the page writes PNG,
 * SVG and PDF, which are opened again (PDF through pdftocairo) and read at
 * the cells. The grid groups query heads by their key/value head and grows
 * to fill its pane.
 */
#include <glib/gstdio.h>
#include <gdk/x11/gdkx.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "as-application.h"
#include "as-colormap.h"
#include "as-lens-render.h"
#include "as-lens-view.h"
#include "as-logit-lens.h"
#include "as-model.h"
#include "as-model-grid.h"
#include "as-window.h"
#include "gui-test-util.h"

static AsApplication *app;
static AsWindow *window;
static AsModel *model;
static AsBackend *backend;
static char *tmp_dir;

/* ---- helpers ------------------------------------------------------------ */

static AsLensView *
lens_view (void)
{
  return AS_LENS_VIEW (gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_LENS_VIEW, NULL));
}

static gboolean
model_loaded (gpointer path)
{
  AsWorker *w = as_window_get_worker (window);
  return !as_worker_is_loading (w) && g_strcmp0 (as_worker_get_model_dir (w), path) == 0 &&
         as_window_is_idle (window);
}

/* The lens on the page belongs to the analysis on screen. */
static gboolean
lens_current (gpointer data)
{
  AsWorkerLens *l = as_lens_view_get_lens (lens_view ());
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  return as_window_is_idle (window) && l != NULL && a != NULL && l->generation == a->generation &&
         a->text_a != NULL && g_str_equal (a->text_a, data);
}

static gboolean
page_is (gpointer name)
{
  return g_strcmp0 (gtk_stack_get_visible_child_name (as_window_get_detail_stack (window)), name) == 0;
}

/* Types TEXT into sentence A with key events, replacing what is there. */
static void
type_prompt (const char *text)
{
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  gui_test_send_keys (GTK_WINDOW (window), "ctrl+a BackSpace");
  gui_test_type_keys (GTK_WINDOW (window), text);
  g_assert_cmpstr (gtk_editable_get_text (as_window_get_entry_a (window)), ==, text);
}

/* The pixel of TEXTURE at (X, Y) as 0xRRGGBB. */
static guint32
texture_pixel (GdkTexture *texture,
               int         x,
               int         y)
{
  int w = gdk_texture_get_width (texture), h = gdk_texture_get_height (texture);
  g_assert_cmpint (x, <, w);
  g_assert_cmpint (y, <, h);
  g_autofree guchar *data = g_malloc ((gsize) w * h * 4);
  gdk_texture_download (texture, data, (gsize) w * 4);   /* B G R A, premultiplied */
  const guchar *px = data + ((gsize) y * w + x) * 4;
  return ((guint32) px[2] << 16) | ((guint32) px[1] << 8) | px[0];
}

static int
colour_distance (guint32 a,
                 guint32 b)
{
  int d = 0;
  for (int s = 0; s < 24; s += 8)
    d = MAX (d, abs ((int) ((a >> s) & 0xff) - (int) ((b >> s) & 0xff)));
  return d;
}

/* An exported image, opened: its size is the figure's, and in every cell
 * (away from its text) the colour of its probability. */
static void
check_image (const char         *path,
             const AsLogitLens  *lens,
             AsColormapId        colormap)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = gdk_texture_new_from_filename (path, &error);
  g_assert_no_error (error);
  AsLensFigure f;
  as_lens_figure_init (&f);
  f.lens = lens;
  f.title = "t";
  AsLensLayout l;
  as_lens_layout (&f, &l);
  g_assert_cmpint (abs (gdk_texture_get_width (texture) - (int) ceil (l.width)), <=, 1);
  g_assert_cmpint (abs (gdk_texture_get_height (texture) - (int) ceil (l.height)), <=, 1);
  for (int slot = 0; slot < lens->n_layers; slot++)
    for (int i = 0; i < lens->n; i++)
      {
        /* Top-left, inside the cell, above its (centred) text and clear of
         * the selection's outline. */
        int x = (int) (l.cells_x + i * l.cell_w + 5);
        int y = (int) (l.cells_y + as_lens_row_of_slot (&f, slot) * l.cell_h + 1);
        if (i == lens->n - 1 && slot == lens->n_layers - 1)
          continue;   /* the selected cell */
        guint32 want = as_colormap_argb (colormap, as_logit_lens_probs (lens, slot, i)[0], 0, 1) & 0xffffff;
        int d = colour_distance (texture_pixel (texture, x, y), want);
        if (d > 8)
          g_error ("%s: cell (layer %d, token %d) is #%06x, want #%06x", path, slot + 1, i + 1,
                   texture_pixel (texture, x, y), want);
      }
}

static gboolean
file_exists (gpointer path)
{
  return g_file_test (path, G_FILE_TEST_IS_REGULAR);
}

/* Ctrl+E on the lens page: the lens's own chooser; saved as NAME. */
static char *
export_by_keys (const char *name)
{
  g_autofree char *path = g_build_filename (tmp_dir, name, NULL);
  gtk_widget_grab_focus (as_lens_view_get_area (lens_view ()));
  gui_test_press (GTK_WINDOW (window), "<Control>e");
  GtkFileChooser *chooser = gui_test_wait_chooser (20);
  g_assert_nonnull (gtk_file_chooser_get_choice (chooser, "format"));
  gui_test_send_keys (GTK_WINDOW (chooser), "ctrl+a");
  gui_test_type_keys (GTK_WINDOW (chooser), path);
  /* As a person would, Enter once the typed name has settled: GTK's
   * location-entry completion, still listing folders when its dialog goes
   * away, leaks a few bytes of its own (seen under LeakSanitizer). */
  gui_test_pace (500);
  gui_test_send_keys (GTK_WINDOW (chooser), "Return");
  gui_test_wait_until (file_exists, path, 30);
  return g_steal_pointer (&path);
}

/* ---- the model grid ------------------------------------------------------- */

static GtkAdjustment *
grid_vadjustment (GtkWidget *grid)
{
  GtkWidget *scroller = gtk_widget_get_ancestor (grid, GTK_TYPE_SCROLLED_WINDOW);
  return gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scroller));
}

/* The thumbnails take the pane's width (a thumbnail more would not fit);
 * a shallow model's rows fill most of its height, a deep model's scroll. */
static void
check_grid_fills (gboolean deep)
{
  AsModelGrid *grid = as_window_get_model_grid (window);
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  gui_test_wait_frames (GTK_WIDGET (window), 2);
  int width = gtk_widget_get_width (GTK_WIDGET (grid));
  graphene_rect_t first, right, bottom;
  g_assert_true (as_model_grid_get_thumb_rect (grid, 0, 0, &first));
  g_assert_true (as_model_grid_get_thumb_rect (grid, 0, a->n_heads - 1, &right));
  g_assert_true (as_model_grid_get_thumb_rect (grid, a->n_layers - 1, 0, &bottom));
  double step = first.size.width + 10;   /* a thumbnail and its gap */
  g_assert_cmpfloat (right.origin.x + right.size.width + step, >, width);
  GtkAdjustment *adj = grid_vadjustment (GTK_WIDGET (grid));
  double page = gtk_adjustment_get_page_size (adj), rows_end = bottom.origin.y + bottom.size.height;
  g_test_message ("grid %d x %d heads in %d x %.0f px: thumbnails %.0f x %.0f, rows end at %.0f",
                  a->n_layers, a->n_heads, width, page, first.size.width, first.size.height, rows_end);
  if (deep)
    {
      /* Wider than the old 36 px cap where the width allows, and scrolled. */
      g_assert_cmpfloat (first.size.width, >, 36);
      g_assert_cmpfloat (gtk_adjustment_get_upper (adj), >, page);
    }
  else
    {
      g_assert_cmpfloat (rows_end, >, 0.6 * page);
      g_assert_cmpfloat (gtk_adjustment_get_upper (adj), <=, page + 1);
    }
}

/* SmolLM2: 9 query heads in 3 groups of 3, each sharing a key/value head:
 * a wider gap between the groups, and the head view's title names it. */
static void
check_grid_groups (void)
{
  AsModelGrid *grid = as_window_get_model_grid (window);
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_assert_cmpint (a->n_kv_heads, ==, 3);
  g_assert_cmpint (as_model_grid_get_kv_group (grid), ==, 3);
  graphene_rect_t h[9];
  for (int i = 0; i < 9; i++)
    g_assert_true (as_model_grid_get_thumb_rect (grid, 0, i, &h[i]));
  double within = h[1].origin.x - h[0].origin.x, across = h[3].origin.x - h[2].origin.x;
  g_assert_cmpfloat (h[2].origin.x - h[1].origin.x, ==, within);
  g_assert_cmpfloat (across, >=, within + 8);
  g_assert_cmpfloat (h[6].origin.x - h[5].origin.x, ==, across);
  AsViewState *state = as_window_get_view_state (window);
  as_view_state_select (state, 2, 4);
  /* The head view's title, in the box above it. */
  gboolean named = FALSE;
  GtkWidget *box = gtk_widget_get_parent (GTK_WIDGET (as_window_get_head_view (window)));
  for (GtkWidget *w = gtk_widget_get_first_child (box); w != NULL; w = gtk_widget_get_next_sibling (w))
    if (GTK_IS_LABEL (w) && strstr (gtk_label_get_text (GTK_LABEL (w)), "K/V head 2 (shared by heads 4–6)"))
      named = TRUE;
  g_assert_true (named);
  check_grid_fills (TRUE);
  gui_test_capture_screen (NULL, "grid-smollm2.png");
  as_view_state_select (state, 0, 0);
}

/* ---- the lens on a decoder ---------------------------------------------- */

/* Opens PATH, types TEXT, opens the page and checks it against the engine. */
static void
check_lens (const char *path,
            const char *text)
{
  g_autoptr(GError) error = NULL;
  AsModel *ref = as_model_load (path, &error);
  g_assert_no_error (error);
  AsBackend *ref_backend = as_cpu_backend_new (ref);

  as_window_open_model (window, path);
  gui_test_wait_until (model_loaded, (gpointer) path, 180);
  type_prompt (text);
  gui_test_wait_idle (window, 180);
  gint64 analysed = g_get_monotonic_time ();
  gui_test_press (GTK_WINDOW (window), "<Alt>n");
  gui_test_wait_until (page_is, "lens", 10);
  gui_test_wait_until (lens_current, (gpointer) text, 180);
  g_test_message ("the lens was on the page %.2f s after the analysis", (g_get_monotonic_time () - analysed) / 1e6);

  AsLensView *view = lens_view ();
  AsWorkerLens *got = as_lens_view_get_lens (view);
  g_assert_nonnull (got->lens);
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_autofree int *ids = g_new (int, a->n);
  for (int i = 0; i < a->n; i++)
    ids[i] = a->encoding->tokens[i].id;
  g_autoptr(AsLogitLens) want = as_logit_lens_run (ref_backend, ids, a->n, AS_WORKER_LENS_TOP, -1, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (got->lens->n_layers, ==, want->n_layers);
  g_assert_cmpint (got->lens->n_layers, ==, ref->config->n_layers);
  g_assert_cmpint (got->lens->n, ==, want->n);
  g_assert_cmpint (got->lens->k, ==, want->k);
  for (int l = 0; l < want->n_layers; l++)
    for (int i = 0; i < want->n; i++)
      for (int r = 0; r < want->k; r++)
        {
          g_assert_cmpint (as_logit_lens_ids (got->lens, l, i)[r], ==, as_logit_lens_ids (want, l, i)[r]);
          g_assert_cmpfloat_with_epsilon (as_logit_lens_probs (got->lens, l, i)[r],
                                          as_logit_lens_probs (want, l, i)[r], 1e-5);
          g_autofree char *label = as_tokenizer_id_to_label (ref->tokenizer, as_logit_lens_ids (want, l, i)[r]);
          g_assert_cmpstr (got->labels[((gsize) l * want->n + i) * want->k + r], ==, label);
        }
  /* The last layer's last row is the model's own next-token distribution:
   * the Next Token page's first candidate. */
  g_assert_cmpint (as_logit_lens_ids (want, want->n_layers - 1, a->n - 1)[0], ==, a->next_ids[0]);

  /* First selected: the model's prediction after the whole text, listed. */
  int layer, pos;
  g_assert_true (as_lens_view_get_selected (view, &layer, &pos));
  g_assert_cmpint (layer, ==, want->n_layers - 1);
  g_assert_cmpint (pos, ==, a->n - 1);
  g_autofree char *top = as_shown_display_text (got->labels[((gsize) layer * want->n + pos) * want->k]);
  g_autofree char *first = g_strdup_printf ("1 “%s” %.1f%%", top,
                                            100.0 * as_logit_lens_probs (want, layer, pos)[0]);
  g_assert_nonnull (strstr (as_lens_view_get_top_text (view), first));
  gui_test_capture_screen (NULL, "lens-smollm2.png");

  /* A click on another cell (in the rows on screen: the top ones) selects
   * it; the arrow keys move from there (down is the layer before: the last
   * layer is the top row). */
  GtkWidget *area = as_lens_view_get_area (view);
  const int last = want->n_layers - 1;
  double x, y;
  g_assert_true (as_lens_view_cell_center (view, last - 1, 0, &x, &y));
  gui_test_wait_frames (GTK_WIDGET (window), 1);
  g_assert_true (gui_test_click_at (area, x, y, 1));
  g_assert_true (as_lens_view_get_selected (view, &layer, &pos));
  g_assert_cmpint (layer, ==, last - 1);
  g_assert_cmpint (pos, ==, 0);
  g_assert_true (gtk_widget_has_focus (area));
  gui_test_send_keys (GTK_WINDOW (window), "Down Right");
  g_assert_true (as_lens_view_get_selected (view, &layer, &pos));
  g_assert_cmpint (layer, ==, last - 2);
  g_assert_cmpint (pos, ==, MIN (1, a->n - 1));
  g_autofree char *heading = g_strdup_printf ("Layer %d, after", layer + 1);
  g_assert_true (g_str_has_prefix (as_lens_view_get_top_text (view), heading));
  gui_test_send_keys (GTK_WINDOW (window), "End Page_Up");
  g_assert_true (as_lens_view_get_selected (view, &layer, &pos));
  g_assert_cmpint (layer, ==, want->n_layers - 1);
  g_assert_cmpint (pos, ==, a->n - 1);

  /* Written through the page's chooser, then opened again. */
  g_autofree char *png = export_by_keys ("lens.png");
  check_image (png, want, AS_COLORMAP_VIRIDIS);
  g_autofree char *svg = export_by_keys ("lens.svg");
  check_image (svg, want, AS_COLORMAP_VIRIDIS);
  g_autofree char *pdf = export_by_keys ("lens.pdf");
  g_autofree char *contents = NULL;
  g_assert_true (g_file_get_contents (pdf, &contents, NULL, NULL));
  g_assert_true (g_str_has_prefix (contents, "%PDF-"));
  g_autofree char *pdftocairo = g_find_program_in_path ("pdftocairo");
  if (pdftocairo != NULL)
    {
      /* 96 pixels per inch: the figure's own pixels. */
      g_autofree char *stem = g_build_filename (tmp_dir, "lens-pdf", NULL);
      const char *argv[] = { pdftocairo, "-png", "-r", "96", "-singlefile", pdf, stem, NULL };
      gui_test_run_sync (argv);
      g_autofree char *from_pdf = g_strconcat (stem, ".png", NULL);
      check_image (from_pdf, want, AS_COLORMAP_VIRIDIS);
    }
  else
    g_test_message ("pdftocairo not found: the PDF is only checked for its header");
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "head");
  check_grid_groups ();
  as_backend_free (ref_backend);
  as_model_free (ref);
}

/* The figure alone, on the seeded two-layer Llama (which has no tokenizer
 * the window could type into): as_lens_save's PNG, SVG and PDF, opened
 * again, have the lens's colours in every cell. */
static void
test_figure_tiny (void)
{
  g_autofree char *path = g_build_filename (g_getenv ("AS_TEST_DATA"), "llama", "tiny.gguf", NULL);
  g_autoptr(GError) error = NULL;
  AsModel *tiny = as_model_load (path, &error);
  g_assert_no_error (error);
  AsBackend *tiny_backend = as_cpu_backend_new (tiny);
  const int ids[] = { 17, 60, 59, 3, 1, 25, 3, 0 };
  const int n = G_N_ELEMENTS (ids);
  g_autoptr(AsLogitLens) lens = as_logit_lens_run (tiny_backend, ids, n, 5, -1, NULL, &error);
  g_assert_no_error (error);
  gsize cells = (gsize) lens->n_layers * n * lens->k;
  g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func (g_free);
  for (gsize c = 0; c < cells; c++)
    g_ptr_array_add (labels, g_strdup_printf (" t%d", lens->ids[c]));
  g_autoptr(GPtrArray) tokens = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < n; i++)
    g_ptr_array_add (tokens, g_strdup_printf ("id %d", ids[i]));
  AsLensFigure f;
  as_lens_figure_init (&f);
  f.lens = lens;
  f.labels = (const char * const *) labels->pdata;
  f.tokens = (const char * const *) tokens->pdata;
  f.colormap = AS_COLORMAP_MAGMA;
  f.title = "tiny";
  f.sel_slot = lens->n_layers - 1;
  f.sel_pos = n - 1;
  const char *names[] = { "tiny.png", "tiny.svg", "tiny.pdf" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *out = g_build_filename (tmp_dir, names[i], NULL);
      g_assert_true (as_lens_save (&f, out, NULL, AS_FORMAT_AUTO, &error));
      g_assert_no_error (error);
      if (g_str_has_suffix (out, ".pdf"))
        {
          g_autofree char *pdftocairo = g_find_program_in_path ("pdftocairo");
          if (pdftocairo == NULL)
            continue;
          g_autofree char *stem = g_build_filename (tmp_dir, "tiny-pdf", NULL);
          const char *argv[] = { pdftocairo, "-png", "-r", "96", "-singlefile", out, stem, NULL };
          gui_test_run_sync (argv);
          g_free (out);
          out = g_strconcat (stem, ".png", NULL);
        }
      check_image (out, lens, AS_COLORMAP_MAGMA);
    }
  /* Nothing to draw is refused, and no file is left. */
  f.lens = NULL;
  g_autofree char *none = g_build_filename (tmp_dir, "none.png", NULL);
  g_assert_false (as_lens_save (&f, none, NULL, AS_FORMAT_AUTO, &error));
  g_assert_error (error, AS_FIGURE_ERROR, AS_FIGURE_ERROR_INVALID);
  g_assert_false (g_file_test (none, G_FILE_TEST_EXISTS));
  as_backend_free (tiny_backend);
  as_model_free (tiny);
}

static void
test_smollm2 (void)
{
  g_autofree char *path = as_model_default_decoder_path ();
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip_printf ("the SmolLM2 GGUF is not downloaded (%s; run tools/setup)", path);
      return;
    }
  check_lens (path, "The capital of France is");
}

/* ---- an encoder --------------------------------------------------------- */

static void
test_encoder (void)
{
  if (!gui_test_have_model (model))
    return;
  g_autofree char *dir = as_model_default_dir ();
  as_window_open_model (window, dir);
  gui_test_wait_until (model_loaded, dir, 180);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "lens");
  AsLensView *view = lens_view ();
  g_assert_null (as_lens_view_get_lens (view));
  g_assert_nonnull (strstr (as_lens_view_get_caption (view), "needs a model with a language-model head"));
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "head");
  /* 6 layers x 12 heads, no grouping: the grid fills the pane. */
  g_assert_cmpint (as_model_grid_get_kv_group (as_window_get_model_grid (window)), ==, 1);
  check_grid_fills (FALSE);
  gui_test_capture_screen (NULL, "grid-minilm.png");
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
  g_autofree char *xdotool = g_find_program_in_path ("xdotool");
  if (xdotool == NULL)
    {
      printf ("1..0 # SKIP needs xdotool\n");
      return 0;
    }
  tmp_dir = g_dir_make_tmp ("attnscope-lens-XXXXXX", NULL);
  window = gui_test_start (&app, &model, &backend);

  g_test_add_func ("/lens/encoder", test_encoder);
  g_test_add_func ("/lens/figure-tiny", test_figure_tiny);
  g_test_add_func ("/lens/smollm2", test_smollm2);

  int status = g_test_run ();

  gui_test_stop (app, window, model, backend);
  gui_test_remove_tree (tmp_dir);
  g_free (tmp_dir);
  return status;
}
