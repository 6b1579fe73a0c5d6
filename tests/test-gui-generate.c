/* test-gui-generate.c — Generate on a real decoder, token by token.
 *
 * The SmolLM2 GGUF is opened in the window, a prompt typed, a temperature,
 * a seed and a token limit set in the sampling controls with the keyboard,
 * and Ctrl+G pressed. At every step the next-token panel must show the
 * engine's own distribution and pick (as_generate run here with the same
 * options); at the end the token strip must hold the prompt and the
 * engine's tokens (those the model wrote marked as such, until the text is
 * edited), and the analysis on screen, grown a row at a time, must equal a
 * fresh forward pass over the whole text, as must the head view's last
 * rows. Another test times the main loop while it generates.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <glib/gstdio.h>

#include "gui-test-util.h"
#include "as-attention.h"
#include "as-generate.h"
#include "as-generate-bar.h"
#include "as-lm-head.h"
#include "as-lens-view.h"
#include "as-next-token-view.h"
#include "as-token-strip.h"

#define PROMPT      "The capital of France is"
#define N_TOKENS    16
#define TOP         10

static AsApplication *app;
static AsWindow      *window;
static AsModel       *model;      /* the default model, for gui_test_start */
static AsBackend     *backend;
static AsModel       *decoder;    /* the GGUF, loaded here as the reference */
static AsBackend     *decoder_backend;
static char          *gguf;

/* What the window showed at one step, read as the step arrived. */
typedef struct {
  int   n;              /* tokens of the step's analysis */
  int   n_shown;
  int   ids[TOP];
  float probs[TOP];
  int   picked;         /* -1: none */
  float picked_prob;
} ShownStep;

static GArray *shown_steps;   /* ShownStep */

static AsNextTokenView *
next_token_view (void)
{
  return AS_NEXT_TOKEN_VIEW (gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_NEXT_TOKEN_VIEW, NULL));
}

static AsGenerateBar *
generate_bar (void)
{
  return AS_GENERATE_BAR (gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_GENERATE_BAR, NULL));
}

/* After the window and the panel have taken the step (connected after). */
static void
on_generation_analysis (AsWorker   *worker,
                        AsAnalysis *analysis,
                        int         picked)
{
  AsNextTokenView *view = next_token_view ();
  ShownStep s = { .n = analysis->n, .picked = -1 };
  s.n_shown = as_next_token_view_get_n_shown (view);
  for (int i = 0; i < MIN (s.n_shown, TOP); i++)
    {
      const char *label;
      g_assert_true (as_next_token_view_get_shown (view, i, &s.ids[i], &label, &s.probs[i]));
    }
  if (!as_next_token_view_get_picked (view, &s.picked, &s.picked_prob))
    s.picked = -1;
  g_assert_cmpint (s.picked, ==, picked);
  g_array_append_val (shown_steps, s);
}

static gboolean
decoder_loaded (gpointer data)
{
  return g_strcmp0 (as_worker_get_model_dir (as_window_get_worker (window)), gguf) == 0 &&
         as_window_is_idle (window);
}

/* The key goes through the X server: the worker starts once it arrives. */
static gboolean
generation_started (gpointer data)
{
  return as_worker_is_generating (as_window_get_worker (window)) || shown_steps->len > 0;
}

static gboolean
generation_done (gpointer data)
{
  return !as_worker_is_generating (as_window_get_worker (window)) && as_window_is_idle (window);
}

/* FALSE (the test skipped) without the GGUF or a way to type. */
static gboolean
open_decoder (void)
{
  if (decoder == NULL)
    {
      g_test_skip_printf ("the SmolLM2 GGUF is not downloaded (%s; run tools/setup)", gguf);
      return FALSE;
    }
  if (!gui_test_have_xdotool ())
    {
      g_test_skip ("xdotool is needed to type");
      return FALSE;
    }
  if (g_strcmp0 (as_worker_get_model_dir (as_window_get_worker (window)), gguf) != 0)
    {
      gui_test_wait_idle (window, 120);
      as_window_open_model (window, gguf);
    }
  gui_test_wait_until (decoder_loaded, NULL, 120);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (generate_bar ())));
  return TRUE;
}

/* The prompt typed over the entry's text, as a person does. */
static void
type_prompt (const char *prompt)
{
  GtkWindow *win = GTK_WINDOW (window);
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  g_assert_true (gui_test_press (win, "<Control>a"));
  g_assert_true (gui_test_type_keys (win, prompt));
  gui_test_wait_until (generation_done, NULL, 120);
  g_assert_cmpstr (gtk_editable_get_text (as_window_get_entry_a (window)), ==, prompt);
}

static gboolean
spin_has_value (gpointer data)
{
  GtkSpinButton *spin = data;
  double want = *(double *) g_object_get_data (G_OBJECT (spin), "want");
  return fabs (gtk_spin_button_get_value (spin) - want) < 1e-9;
}

static gboolean
has_focus_in (gpointer widget)
{
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (window));
  return focus != NULL && (focus == widget || gtk_widget_is_ancestor (focus, widget));
}

/* Alt+MNEMONIC reaches CONTROL; TEXT is typed over its value and Tab
 * leaves it, which sets the value. */
static void
set_control (AsGenerateControl  control,
             const char        *mnemonic,
             const char        *text,
             double             want)
{
  GtkWindow *win = GTK_WINDOW (window);
  GtkSpinButton *spin = as_generate_bar_get_control (generate_bar (), control);
  g_assert_true (gui_test_press (win, mnemonic));
  gui_test_wait_until (has_focus_in, spin, 10);
  g_assert_true (gui_test_press (win, "<Control>a"));
  g_assert_true (gui_test_type_keys (win, text));
  g_assert_true (gui_test_press (win, "Tab"));
  g_object_set_data (G_OBJECT (spin), "want", &want);
  gui_test_wait_until (spin_has_value, spin, 10);
}

/* ---- the engine's own run ------------------------------------------------ */

typedef struct {
  GArray *ids;     /* int */
  GArray *tops;    /* ShownStep: top ids and probabilities at T = 1 */
} EngineRun;

static gboolean
engine_on_step (const AsGenerateStep *step,
                gpointer              user_data)
{
  EngineRun *run = user_data;
  g_array_append_val (run->ids, step->id);
  ShownStep s = { .n_shown = step->n_top, .picked = step->id };
  memcpy (s.ids, step->top_ids, sizeof (int) * step->n_top);
  memcpy (s.probs, step->top_probs, sizeof (float) * step->n_top);
  g_array_append_val (run->tops, s);
  return TRUE;
}

/* The prompt's ids as the window encodes them. */
static GArray *
prompt_ids (const char *prompt)
{
  AsEncoding *enc = as_tokenizer_encode (decoder->tokenizer, prompt, NULL, decoder->config->max_positions);
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (int));
  for (int i = 0; i < enc->n_tokens; i++)
    g_array_append_val (ids, enc->tokens[i].id);
  as_encoding_free (enc);
  return ids;
}

static gboolean
lens_of_whole_text (gpointer n)
{
  AsLensView *view = AS_LENS_VIEW (gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_LENS_VIEW, NULL));
  AsWorkerLens *lens = as_lens_view_get_lens (view);
  return lens != NULL && lens->lens != NULL && lens->lens->n == GPOINTER_TO_INT (n);
}

/* ---- tests --------------------------------------------------------------- */

static void
test_generate_matches_engine (void)
{
  if (!open_decoder ())
    return;
  type_prompt (PROMPT);
  set_control (AS_GENERATE_TEMPERATURE, "<Alt>u", "0.8", 0.8);
  set_control (AS_GENERATE_SEED, "<Alt>d", "1234", 1234);
  set_control (AS_GENERATE_TOP_K, "<Alt>t", "50", 50);
  set_control (AS_GENERATE_TOP_P, "<Alt>p", "0.95", 0.95);
  set_control (AS_GENERATE_LIMIT, "<Alt>e", "16", N_TOKENS);

  /* The panel shows the model's own distribution (T = 1) at each step. */
  GtkStack *stack = as_window_get_detail_stack (window);
  gtk_stack_set_visible_child_name (stack, "next");
  AsNextTokenView *view = next_token_view ();
  gtk_range_set_value (as_next_token_view_get_temperature (view), 1.0);

  shown_steps = g_array_new (FALSE, FALSE, sizeof (ShownStep));
  AsWorker *worker = as_window_get_worker (window);
  gulong handler = g_signal_connect_after (worker, "generation-analysis",
                                           G_CALLBACK (on_generation_analysis), NULL);
  g_assert_true (gui_test_press (GTK_WINDOW (window), "<Control>g"));
  gui_test_wait_until (generation_started, NULL, 30);
  gui_test_wait_until (generation_done, NULL, 300);
  g_signal_handler_disconnect (worker, handler);

  /* The engine, with the same options. */
  g_autoptr(GArray) prompt = prompt_ids (PROMPT);
  EngineRun run = {
    g_array_new (FALSE, FALSE, sizeof (int)),
    g_array_new (FALSE, FALSE, sizeof (ShownStep)),
  };
  AsGenerateOptions o;
  as_generate_options_init (&o, decoder);
  o.sampling.temperature = 0.8;
  o.sampling.seed = 1234;
  o.sampling.top_k = 50;
  o.sampling.top_p = 0.95;
  o.max_tokens = N_TOKENS;
  o.n_top = TOP;
  o.on_step = engine_on_step;
  o.user_data = &run;
  g_autoptr(GError) error = NULL;
  g_assert_true (as_generate (decoder_backend, (const int *) prompt->data, prompt->len, &o,
                              NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  int n_gen = run.ids->len;
  g_test_message ("engine: %d tokens at T 0.8, seed 1234", n_gen);

  /* Every step on screen: the engine's ten and its pick, and one token
   * more each time; then the whole text's analysis, with no pick. */
  g_assert_cmpuint (shown_steps->len, >=, (guint) n_gen);
  for (int i = 0; i < n_gen; i++)
    {
      ShownStep *s = &g_array_index (shown_steps, ShownStep, i);
      ShownStep *e = &g_array_index (run.tops, ShownStep, i);
      g_assert_cmpint (s->n, ==, (int) prompt->len + i);
      g_assert_cmpint (s->n_shown, ==, TOP);
      g_assert_cmpint (s->picked, ==, e->picked);
      for (int k = 0; k < TOP; k++)
        {
          g_assert_cmpint (s->ids[k], ==, e->ids[k]);
          g_assert_cmpfloat_with_epsilon (s->probs[k], e->probs[k], 1e-5);
        }
    }
  gboolean ran_last = shown_steps->len == (guint) n_gen + 1;
  if (ran_last)
    g_assert_cmpint (g_array_index (shown_steps, ShownStep, n_gen).picked, ==, -1);

  /* The strip: the prompt's tokens and the engine's, the last one drawn. */
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_autoptr(GArray) all = g_array_copy (prompt);
  g_array_append_vals (all, run.ids->data, n_gen);
  gboolean last_is_eos = g_array_index (run.ids, int, n_gen - 1) == o.eos_id;
  int n_all = (int) all->len - (last_is_eos ? 1 : 0);
  g_assert_true (ran_last || last_is_eos);
  g_assert_cmpint (a->n, ==, n_all);
  for (int i = 0; i < n_all; i++)
    g_assert_cmpint (a->encoding->tokens[i].id, ==, g_array_index (all, int, i));
  AsTokenStrip *strip = AS_TOKEN_STRIP (gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_TOKEN_STRIP, NULL));
  graphene_rect_t rect;
  g_assert_true (as_token_strip_get_token_rect (strip, n_all - 1, &rect));
  g_assert_false (as_token_strip_get_token_rect (strip, n_all, &rect));
  g_assert_cmpstr (a->text_a, ==, gtk_editable_get_text (as_window_get_entry_a (window)));
  /* the model's tokens, and only they, say they are its (and are drawn so,
   * by the same test) */
  AsViewState *view_state = as_window_get_view_state (window);
  g_assert_cmpint (as_view_state_get_generated_from (view_state), ==, (int) strlen (PROMPT));
  for (int i = 0; i < n_all; i++)
    {
      g_autofree char *desc = as_token_strip_describe_token (strip, i);
      g_assert_cmpint (strstr (desc, "written by the model") != NULL, ==, i >= (int) prompt->len);
      g_assert_cmpint (as_view_state_token_is_generated (view_state, i), ==, i >= (int) prompt->len);
    }

  /* Grown a row at a time, it is the analysis of the whole text. */
  g_autofree int *types = g_new0 (int, n_all);
  g_autoptr(AsAnalysis) want = as_attention_compute_ids (decoder_backend, (const int *) all->data,
                                                         types, n_all, &error);
  g_assert_no_error (error);
  /* Its shape too: the grid still groups the heads by their K/V head. */
  g_assert_cmpint (a->n_kv_heads, ==, decoder->config->n_kv_heads);
  g_assert_true (a->causal);
  gsize size = (gsize) a->n_layers * a->n_heads * n_all * n_all;
  double worst = 0;
  for (gsize i = 0; i < size; i++)
    worst = MAX (worst, fabs (a->attn[i] - want->attn[i]));
  g_test_message ("grown analysis vs one forward pass: largest difference %.3g", worst);
  g_assert_cmpfloat (worst, <, 1e-4);

  /* The head view draws the last rows as they are: every generated row
   * of the selected head. */
  gtk_stack_set_visible_child_name (stack, "head");
  gui_test_wait_head_rows (window, n_all);
  GuiTestHeatmap *h = gui_test_head_heatmap (window);
  g_assert_nonnull (h);
  g_assert_cmpint (h->n, ==, n_all);
  AsViewState *state = as_window_get_view_state (window);
  const float *head = as_analysis_head (want, as_view_state_get_layer (state), as_view_state_get_head (state));
  for (int r = (int) prompt->len; r < n_all; r++)
    for (int c = 0; c <= r; c++)
      g_assert_cmpfloat_with_epsilon (h->values[r * n_all + c], head[r * n_all + c], 1e-4);
  gui_test_heatmap_free (h);
  gui_test_capture_screen (NULL, "generate-done.png");

  /* The Logit Lens page gets the lens of the whole text, as after typing
   * it: its last cell is the model's own top prediction there. */
  gtk_stack_set_visible_child_name (stack, "lens");
  AsLensView *lens_view = AS_LENS_VIEW (gui_test_find_widget (GTK_WIDGET (window), AS_TYPE_LENS_VIEW, NULL));
  gui_test_wait_until (lens_of_whole_text, GINT_TO_POINTER (n_all), 120);
  AsWorkerLens *lens = as_lens_view_get_lens (lens_view);
  g_autofree float *last_logits = g_new (float, decoder->config->vocab_size);   /* [vocab] */
  g_autofree float *final_hidden = g_new (float, (gsize) n_all * decoder->config->hidden);
  AsForwardRequest req = { .ids = (const int *) all->data, .type_ids = types, .n = n_all };
  g_assert_true (as_backend_forward (decoder_backend, &req, final_hidden, &error));
  g_assert_no_error (error);
  as_lm_head_logits (decoder, final_hidden + (gsize) (n_all - 1) * decoder->config->hidden, 1, last_logits);
  int best = 0;
  for (int v = 1; v < decoder->config->vocab_size; v++)
    if (last_logits[v] > last_logits[best])
      best = v;
  gsize last_cell = ((gsize) (lens->lens->n_layers - 1) * n_all + (n_all - 1)) * lens->lens->k;
  g_assert_cmpint (lens->lens->ids[last_cell], ==, best);
  gtk_stack_set_visible_child_name (stack, "head");

  /* a character typed at the end: the text is the user's now, no mark left */
  gtk_widget_grab_focus (GTK_WIDGET (as_window_get_entry_a (window)));
  g_assert_true (gui_test_press (GTK_WINDOW (window), "End"));
  g_assert_true (gui_test_type_keys (GTK_WINDOW (window), "!"));
  gui_test_wait_until (generation_done, NULL, 120);
  g_assert_cmpint (as_view_state_get_generated_from (view_state), ==, -1);
  for (int i = 0; i < n_all; i++)
    {
      g_autofree char *desc = as_token_strip_describe_token (strip, i);
      g_assert_null (strstr (desc, "written by the model"));
    }

  g_array_unref (run.ids);
  g_array_unref (run.tops);
  g_clear_pointer (&shown_steps, g_array_unref);
}

/* ---- export ------------------------------------------------------------------ */

static gboolean
next_token_shown (gpointer view)
{
  return as_next_token_view_get_n_shown (view) > 0;
}

static gboolean
file_exists (gpointer path)
{
  return g_file_test (path, G_FILE_TEST_IS_REGULAR);
}

/* Ctrl+E on the Next Token page, a name typed in the chooser, Export. */
static void
export_through_chooser (const char *dir,
                        const char *name)
{
  g_assert_true (gui_test_press (GTK_WINDOW (window), "<Control>e"));
  GtkFileChooser *chooser = gui_test_wait_chooser (20);
  g_autoptr(GFile) folder = g_file_new_for_path (dir);
  g_assert_true (gtk_file_chooser_set_current_folder (chooser, folder, NULL));
  gtk_file_chooser_set_current_name (chooser, name);
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  gui_test_wait_until (file_exists, path, 20);
}

/* The longest run of bar-coloured pixels in any row of PNG: the bar of
 * the most likely token. */
static int
longest_bar (GdkTexture *png)
{
  int w = gdk_texture_get_width (png), h = gdk_texture_get_height (png);
  g_autofree guchar *px = g_malloc ((gsize) w * h * 4);
  gdk_texture_download (png, px, (gsize) w * 4);
  int best = 0;
  for (int y = 0; y < h; y++)
    {
      int run = 0;
      for (int x = 0; x < w; x++)
        {
          /* Cairo's ARGB32 as bytes B, G, R, A; the blue bars or the
           * orange picked one. */
          const guchar *p = px + ((gsize) y * w + x) * 4;
          gboolean blue = abs (p[2] - 54) < 4 && abs (p[1] - 133) < 4 && abs (p[0] - 227) < 4;
          gboolean orange = abs (p[2] - 230) < 4 && abs (p[1] - 97) < 4 && p[0] < 4;
          run = blue || orange ? run + 1 : 0;
          best = MAX (best, run);
        }
    }
  return best;
}

/* The bars on the page exported as PNG, SVG and PDF through Export…, and
 * each file opened: the PNG's longest bar is the most likely token's share
 * of the bar width, the SVG and PDF are documents of the figure's size. */
static void
test_export_next_token (void)
{
  if (!open_decoder ())
    return;
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "next");
  AsNextTokenView *view = next_token_view ();
  gui_test_wait_until (next_token_shown, view, 60);
  int id;
  const char *label;
  float p0;
  g_assert_true (as_next_token_view_get_shown (view, 0, &id, &label, &p0));

  g_autofree char *dir = g_dir_make_tmp ("attnscope-next-XXXXXX", NULL);
  export_through_chooser (dir, "next.png");
  export_through_chooser (dir, "next.svg");
  export_through_chooser (dir, "next.pdf");

  g_autofree char *png_path = g_build_filename (dir, "next.png", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) png = gdk_texture_new_from_filename (png_path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gdk_texture_get_width (png), ==, 720);
  /* 720 wide, margins of 16, labels 180, values 64 and 16 of gaps: the
   * bar track is 428 px. */
  int bar = longest_bar (png);
  g_test_message ("exported bar %d px for p = %.4f", bar, p0);
  g_assert_cmpfloat (fabs (bar - 428.0 * p0), <=, 2.0);

  g_autofree char *svg_path = g_build_filename (dir, "next.svg", NULL);
  g_autofree char *svg = NULL;
  g_assert_true (g_file_get_contents (svg_path, &svg, NULL, NULL));
  g_assert_nonnull (strstr (svg, "<svg"));
  g_assert_nonnull (strstr (svg, "width=\"720"));
  g_autofree char *pdf_path = g_build_filename (dir, "next.pdf", NULL);
  g_autofree char *pdf = NULL;
  gsize pdf_len;
  g_assert_true (g_file_get_contents (pdf_path, &pdf, &pdf_len, NULL));
  g_assert_true (g_str_has_prefix (pdf, "%PDF-"));
  /* 720 px at 96 per inch are 540 pt; the file has NUL bytes. */
  static const char box[] = "/MediaBox [ 0 0 540 ";
  gboolean found = FALSE;
  for (gsize i = 0; i + strlen (box) <= pdf_len && !found; i++)
    found = memcmp (pdf + i, box, strlen (box)) == 0;
  g_assert_true (found);

  for (const char *n = "next.png"; n != NULL; n = g_str_equal (n, "next.png") ? "next.svg" : g_str_equal (n, "next.svg") ? "next.pdf" : NULL)
    {
      g_autofree char *path = g_build_filename (dir, n, NULL);
      g_unlink (path);
    }
  g_rmdir (dir);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "head");
}

/* ---- responsiveness ------------------------------------------------------ */

static gint64 last_tick, max_gap, last_cpu, max_gap_cpu, max_cpu;

static gint64
thread_cpu_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* The longest gap between two runs of a 2 ms timer, and the main thread's
 * own CPU time in it (on a loaded machine a gap can also be waiting for a
 * CPU), as tests/bench-gui.c measures them. */
static gboolean
tick (gpointer data)
{
  gint64 now = g_get_monotonic_time ();
  gint64 cpu = thread_cpu_us ();
  if (last_tick != 0)
    {
      if (now - last_tick > max_gap)
        {
          max_gap = now - last_tick;
          max_gap_cpu = cpu - last_cpu;
        }
      max_cpu = MAX (max_cpu, cpu - last_cpu);
    }
  last_tick = now;
  last_cpu = cpu;
  return G_SOURCE_CONTINUE;
}

/* Generating 16 tokens, every view growing, the model grid and the panel
 * on screen: no main-loop iteration may take more than 100 ms of the main
 * thread's own time (a frame budget of a few frames; one step's views
 * take a few ms on this model). */
static void
test_generate_responsive (void)
{
  if (!open_decoder ())
    return;
  type_prompt ("Once upon a time");
  set_control (AS_GENERATE_TEMPERATURE, "<Alt>u", "0", 0);
  set_control (AS_GENERATE_LIMIT, "<Alt>e", "16", N_TOKENS);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "next");

  max_gap = last_tick = max_gap_cpu = max_cpu = 0;
  guint tick_id = g_timeout_add_full (G_PRIORITY_HIGH, 2, tick, NULL, NULL);
  gint64 start = g_get_monotonic_time ();
  g_assert_true (gui_test_press (GTK_WINDOW (window), "<Control>g"));
  gui_test_wait_until (generation_done, NULL, 300);
  gint64 took = g_get_monotonic_time () - start;
  g_source_remove (tick_id);
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "head");

  g_test_message ("16 tokens in %.0f ms: longest main-loop stall %.1f ms (%.1f ms of it main-thread CPU), "
                  "most main-thread CPU between two ticks %.1f ms",
                  took / 1000.0, max_gap / 1000.0, max_gap_cpu / 1000.0, max_cpu / 1000.0);
#if defined(__SANITIZE_ADDRESS__)
  /* AddressSanitizer makes every main-thread step several times slower: the
   * bound is for the build people run. */
  g_assert_cmpint (max_cpu, <, 500 * 1000);
#else
  g_assert_cmpint (max_cpu, <, 100 * 1000);
#endif
}

/* ---- on the GPU ------------------------------------------------------------ */

static char *emu_dir;   /* the CUDA emulator's plugin, set as ATTNSCOPE_PLUGIN_DIR */

static gboolean
loaded_on (gpointer dir)
{
  AsWorker *worker = as_window_get_worker (window);
  return !as_worker_is_loading (worker) && g_strcmp0 (as_worker_get_model_dir (worker), dir) == 0 &&
         as_window_is_idle (window);
}

/* Generation on the GPU plugin (its CPU emulation where there is no GPU,
 * the same host code and kernels): the window streams it as on the CPU,
 * and greedy picks the CPU engine's tokens. */
static void
test_generate_on_gpu (void)
{
  g_autofree char *plugin = g_build_filename (emu_dir, "libattnscope-cuda." G_MODULE_SUFFIX, NULL);
  if (!g_file_test (plugin, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip_printf ("the CUDA emulator is not built (%s)", plugin);
      return;
    }
  if (!gui_test_have_xdotool ())
    return;
  g_autofree char *dir = g_build_filename (g_getenv ("AS_TEST_DATA"), "llama-tiny", NULL);
  AsWorker *worker = as_window_get_worker (window);
  gui_test_wait_idle (window, 120);
  as_window_open_model (window, dir);
  gui_test_wait_until (loaded_on, dir, 120);
  g_assert_true (as_worker_set_device (worker, "gpu"));
  gui_test_wait_until (loaded_on, dir, 120);
  g_assert_cmpstr (as_worker_get_backend_kind (worker), ==, "cuda");

  const char *prompt_text = "hello world";
  type_prompt (prompt_text);
  set_control (AS_GENERATE_TEMPERATURE, "<Alt>u", "0", 0);
  set_control (AS_GENERATE_LIMIT, "<Alt>e", "8", 8);
  shown_steps = g_array_new (FALSE, FALSE, sizeof (ShownStep));
  gulong handler = g_signal_connect_after (worker, "generation-analysis",
                                           G_CALLBACK (on_generation_analysis), NULL);
  g_assert_true (gui_test_press (GTK_WINDOW (window), "<Control>g"));
  gui_test_wait_until (generation_started, NULL, 30);
  gui_test_wait_until (generation_done, NULL, 120);
  g_signal_handler_disconnect (worker, handler);
  g_assert_cmpstr (as_worker_get_backend_kind (worker), ==, "cuda");
  g_assert_cmpuint (shown_steps->len, >, 1);   /* it grew a token at a time */

  /* The CPU engine's greedy continuation of the same ids. */
  g_autoptr(GError) error = NULL;
  AsModel *tiny = as_model_load (dir, &error);
  g_assert_no_error (error);
  AsBackend *cpu = as_cpu_backend_new (tiny);
  AsEncoding *enc = as_tokenizer_encode (tiny->tokenizer, prompt_text, NULL, tiny->config->max_positions);
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (int));
  for (int i = 0; i < enc->n_tokens; i++)
    g_array_append_val (ids, enc->tokens[i].id);
  int n_prompt = enc->n_tokens;
  as_encoding_free (enc);
  EngineRun run = { g_array_new (FALSE, FALSE, sizeof (int)), g_array_new (FALSE, FALSE, sizeof (ShownStep)) };
  AsGenerateOptions o;
  as_generate_options_init (&o, tiny);
  o.max_tokens = 8;
  o.n_top = TOP;
  o.on_step = engine_on_step;
  o.user_data = &run;
  g_assert_true (as_generate (cpu, (const int *) ids->data, n_prompt, &o, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  g_assert_nonnull (a);
  int n_gen = MIN ((int) run.ids->len, a->n - n_prompt);
  g_assert_cmpint (n_gen, >, 0);
  for (int i = 0; i < n_prompt; i++)
    g_assert_cmpint (a->encoding->tokens[i].id, ==, g_array_index (ids, int, i));
  for (int i = 0; i < n_gen; i++)
    g_assert_cmpint (a->encoding->tokens[n_prompt + i].id, ==, g_array_index (run.ids, int, i));

  g_array_unref (run.ids);
  g_array_unref (run.tops);
  g_clear_pointer (&shown_steps, g_array_unref);
  as_backend_free (cpu);
  as_model_free (tiny);
  g_assert_true (as_worker_set_device (worker, "cpu"));
  gui_test_wait_until (loaded_on, dir, 120);
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
  /* Before any thread: the GPU test's plugin is the emulator's. */
  emu_dir = g_build_filename (g_getenv ("AS_TEST_BUILD"), "..", "gpu", "emu", NULL);
  g_setenv ("ATTNSCOPE_PLUGIN_DIR", emu_dir, TRUE);
  g_unsetenv ("ATTNSCOPE_GPU_FORCE_FAIL");
  window = gui_test_start (&app, &model, &backend);
  gguf = as_model_default_decoder_path ();
  if (g_file_test (gguf, G_FILE_TEST_IS_REGULAR))
    {
      decoder = as_model_load (gguf, NULL);
      decoder_backend = decoder != NULL ? as_cpu_backend_new (decoder) : NULL;
    }

  g_test_add_func ("/generate/matches-engine", test_generate_matches_engine);
  g_test_add_func ("/generate/export-next-token", test_export_next_token);
  g_test_add_func ("/generate/responsive", test_generate_responsive);
  g_test_add_func ("/generate/on-gpu", test_generate_on_gpu);

  int status = g_test_run ();

  g_clear_pointer (&decoder_backend, as_backend_free);
  g_clear_pointer (&decoder, as_model_free);
  g_free (gguf);
  g_free (emu_dir);
  gui_test_stop (app, window, model, backend);
  return status;
}
