/* bench-gui.c — what typing feels like, measured in the real window.
 *
 *   tests/run-under-xvfb.sh build/tests/bench-gui [--generation] [MODEL_DIR]
 *   (or: meson test -C build --benchmark gui-latency)
 *
 * For inputs of about 16, 32, 128 and 512 tokens: the time from a keystroke
 * (an edit of the entry) to the frame showing the first layer of its
 * analysis and to the frame showing the last, the longest the main loop went
 * without dispatching while typing (a freeze would show here), and the time
 * to repaint the whole model grid: every thumbnail re-pooled (hiding
 * [CLS]/[SEP]), every one recoloured (a colour map change), and a plain
 * repaint (a selection change). Timings come from the ATTNSCOPE_TRACE instrumentation.
 * Then, with the SmolLM2 GGUF when it is there, generation: the time per
 * token as each step's analysis reaches the window, and the longest stall
 * of the main loop while every view grows by a row.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "as-application.h"
#include "as-model.h"
#include "as-trace.h"
#include "as-window.h"

static AsWindow *window;

static gboolean
flag_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
spin (guint ms)
{
  gboolean done = FALSE;
  g_timeout_add (ms, flag_timeout, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
wait_idle (guint timeout_s)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add_seconds (timeout_s, flag_timeout, &expired);
  while (!as_window_is_idle (window) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  spin (100);
  return !expired;
}

/* The longest gap between two runs of a 2 ms timer: how long the main loop
 * was busy with one thing. On a loaded machine a gap can also be the thread
 * waiting for a CPU, so the CPU time the main thread itself used in the gap
 * is kept too: that part is our work. */
static gint64 last_tick, max_gap, last_cpu, max_gap_cpu, max_cpu;

static gint64
thread_cpu_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

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

/* The grid's last draw, from the trace's draw log: how long it took and how
 * many thumbnails it built. */
static void
last_grid_paint (gint64 *paint_us,
                 int    *built)
{
  GArray *draws = as_trace_get_draws ();
  for (guint i = draws->len; i > 0; i--)
    {
      AsTraceDraw *d = &g_array_index (draws, AsTraceDraw, i - 1);
      if (d->view == 'g')
        {
          *paint_us = d->paint_us;
          *built = d->built;
          return;
        }
    }
  g_error ("the grid reported no draw");
}

/* Words until the model's tokenizer says N tokens (special ones included). */
static char *
text_of_tokens (AsTokenizer *tok,
                int          n)
{
  static const char *words[] = {
    "the", "animal", "didn't", "cross", "street", "because", "it", "was", "too", "tired",
    "and", "keeper", "said", "would", "rest", "under", "old", "tree", "near", "river",
    "while", "children", "watched", "from", "bridge", "transformers", "read", "every",
    "word", "at", "once", "heads", "decide", "where", "to", "look", "visualise", "patterns",
  };
  GString *s = g_string_new (NULL);
  for (guint i = 0;; i++)
    {
      gsize len = s->len;
      g_string_append_printf (s, "%s%s", i == 0 ? "" : " ", words[(i * 7) % G_N_ELEMENTS (words)]);
      if (i % 11 == 10)
        g_string_append_c (s, '.');
      AsEncoding *enc = as_tokenizer_encode (tok, s->str, NULL, 0);
      int count = enc->n_tokens;
      as_encoding_free (enc);
      if (count > n)
        {
          g_string_truncate (s, len);
          break;
        }
      if (count == n)
        break;
    }
  return g_string_free (s, FALSE);
}

static void
measure (AsTokenizer *tok,
         int          n_tokens)
{
  GtkEditable *entry = as_window_get_entry_a (window);
  g_autofree char *text = text_of_tokens (tok, n_tokens);
  gtk_editable_set_text (entry, text);
  if (!wait_idle (300))
    g_error ("no result for %d tokens", n_tokens);

  double first_sum = 0, last_sum = 0, first_max = 0, last_max = 0, engine_sum = 0;
  int runs = 5, n = 0;
  for (int i = 0; i < runs; i++)
    {
      /* One keystroke: add a letter to the last word, or take it away, so the
       * token count stays about the same. */
      int len = (int) strlen (gtk_editable_get_text (entry));
      if (i % 2 == 0)
        {
          int pos = len;
          gtk_editable_insert_text (entry, "s", 1, &pos);
        }
      else
        gtk_editable_delete_text (entry, len - 1, len);
      if (!wait_idle (300))
        g_error ("keystroke %d at %d tokens: no result", i, n_tokens);
      guint gen;
      double first, last;
      if (!as_trace_get_latency (&gen, &n, &first, &last))
        g_error ("no latency recorded");
      engine_sum += as_view_state_get_analysis (as_window_get_view_state (window))->compute_time / 1000.0;
      first_sum += first;
      last_sum += last;
      first_max = MAX (first_max, first);
      last_max = MAX (last_max, last);
    }

  /* Typing at about 8 characters a second: does the main loop ever stall? */
  max_gap = last_tick = max_gap_cpu = max_cpu = 0;
  guint tick_id = g_timeout_add_full (G_PRIORITY_HIGH, 2, tick, NULL, NULL);
  for (int i = 0; i < 16; i++)
    {
      int len = (int) strlen (gtk_editable_get_text (entry));
      if (i % 2 == 0)
        {
          int pos = len;
          gtk_editable_insert_text (entry, "e", 1, &pos);
        }
      else
        gtk_editable_delete_text (entry, len - 1, len);
      spin (125);
    }
  wait_idle (300);
  g_source_remove (tick_id);

  /* The whole grid: every thumbnail rebuilt (a colour map change), then a
   * plain repaint (a selection change). */
  AsViewState *state = as_window_get_view_state (window);
  AsAnalysis *a = as_view_state_get_analysis (state);
  gint64 rebuild_us, repaint_us;
  int built, built2;
  gint64 repool_us;
  int repooled;
  as_view_state_set_hide_special (state, TRUE);
  spin (300);
  last_grid_paint (&repool_us, &repooled);
  as_view_state_set_hide_special (state, FALSE);
  spin (300);
  as_view_state_set_colormap (state, AS_COLORMAP_MAGMA);
  spin (300);
  last_grid_paint (&rebuild_us, &built);
  as_view_state_move (state, 0, 1);
  spin (300);
  last_grid_paint (&repaint_us, &built2);
  as_view_state_set_colormap (state, AS_COLORMAP_VIRIDIS);
  as_view_state_move (state, 0, -1);
  spin (300);

  printf ("%4d tokens, %2dx%-2d heads: keystroke -> first layer drawn %6.1f ms (max %6.1f), "
          "-> last layer drawn %6.1f ms (max %6.1f) [engine forward %6.1f ms]; while typing: longest main-loop stall %5.1f ms "
          "(%4.1f ms of it main-thread CPU), most main-thread CPU between two ticks %4.1f ms; "
          "grid: all %d thumbnails re-pooled %5.1f ms, %d recoloured %4.1f ms, plain repaint %4.2f ms\n",
          n, a->n_layers, a->n_heads, first_sum / runs, first_max, last_sum / runs, last_max,
          engine_sum / runs,
          max_gap / 1000.0, max_gap_cpu / 1000.0, max_cpu / 1000.0,
          repooled, repool_us / 1000.0, built, rebuild_us / 1000.0, repaint_us / 1000.0);
  fflush (stdout);
}

/* Generation on the decoder: each step's analysis, one token longer, is
 * shown as it arrives. Per token, the time between two steps reaching the
 * main loop; and the main loop's longest stall while every view grows. */
static gint64 step_last;
static double step_sum, step_max;
static int    steps;

static void
on_generation_analysis (AsWorker   *worker,
                        AsAnalysis *analysis,
                        int         picked)
{
  gint64 now = g_get_monotonic_time ();
  if (step_last != 0)
    {
      double ms = (now - step_last) / 1000.0;
      step_sum += ms;
      step_max = MAX (step_max, ms);
      steps++;
    }
  step_last = now;
}

static void
measure_generation (const char *gguf)
{
  AsWorker *worker = as_window_get_worker (window);
  as_window_open_model (window, gguf);
  while (g_strcmp0 (as_worker_get_model_dir (worker), gguf) != 0 || !as_window_is_idle (window))
    g_main_context_iteration (NULL, TRUE);
  gtk_editable_set_text (as_window_get_entry_a (window), "Once upon a time");
  if (!wait_idle (300))
    g_error ("no analysis of the prompt");
  /* The next-token panel on screen too: it follows every step. */
  gtk_stack_set_visible_child_name (as_window_get_detail_stack (window), "next");
  spin (300);

  step_last = 0;
  step_sum = step_max = 0;
  steps = 0;
  gulong id = g_signal_connect (worker, "generation-analysis", G_CALLBACK (on_generation_analysis), NULL);
  max_gap = last_tick = max_gap_cpu = max_cpu = 0;
  guint tick_id = g_timeout_add_full (G_PRIORITY_HIGH, 2, tick, NULL, NULL);
  gint64 start = g_get_monotonic_time ();
  gtk_widget_activate_action (GTK_WIDGET (window), "win.generate", NULL);
  while (as_worker_is_generating (worker))
    g_main_context_iteration (NULL, TRUE);
  gint64 took = g_get_monotonic_time () - start;
  g_source_remove (tick_id);
  g_signal_handler_disconnect (worker, id);
  AsAnalysis *a = as_view_state_get_analysis (as_window_get_view_state (window));
  printf ("generation, %s, greedy from \"Once upon a time\" to %d tokens (%dx%d heads): %d steps in %.0f ms, "
          "per token %.1f ms (max %.1f); longest main-loop stall %.1f ms (%.1f ms of it main-thread CPU), "
          "most main-thread CPU between two ticks %.1f ms\n",
          as_worker_get_model_name (worker), a->n, a->n_layers, a->n_heads, steps, took / 1000.0,
          steps > 0 ? step_sum / steps : 0, step_max,
          max_gap / 1000.0, max_gap_cpu / 1000.0, max_cpu / 1000.0);
  fflush (stdout);
}

int
main (int   argc,
      char *argv[])
{
  as_trace_set_enabled (TRUE);
  if (!gtk_init_check ())
    {
      printf ("no display: run under tests/run-under-xvfb.sh\n");
      return 0;
    }

  /* --generation: the generation row alone (the decoder's load and one
   * prompt), without the typing runs. */
  gboolean generation_only = argc > 1 && g_str_equal (argv[1], "--generation");
  if (generation_only)
    {
      argv++;
      argc--;
    }
  g_autofree char *dir = argc > 1 ? g_strdup (argv[1]) : as_model_default_dir ();
  AsTokenizer *tok = as_tokenizer_new_from_dir (dir, NULL);
  if (tok == NULL)
    {
      printf ("no model at %s: run tools/setup\n", dir);
      return 0;
    }

  AsApplication *app = as_application_new ();
  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_application_register (G_APPLICATION (app), NULL, NULL);
  window = as_window_new (GTK_APPLICATION (app));
  as_window_open_model (window, dir);
  gtk_window_present (GTK_WINDOW (window));
  if (!wait_idle (300))
    g_error ("model did not load");

  /* Under Xvfb a frame's cost depends on the renderer (software GL is far
   * slower than Cairo there): say which one drew. */
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (window));
  printf ("model %s, %s; renderer %s\n", dir, as_worker_get_backend_name (as_window_get_worker (window)),
          renderer != NULL ? G_OBJECT_TYPE_NAME (renderer) : "none");
  int sizes[] = { 16, 32, 128, 512 };
  for (guint i = 0; i < G_N_ELEMENTS (sizes) && !generation_only; i++)
    measure (tok, sizes[i]);
  g_autofree char *gguf = as_model_default_decoder_path ();
  if (g_file_test (gguf, G_FILE_TEST_IS_REGULAR))
    measure_generation (gguf);
  else
    printf ("generation: no decoder at %s (run tools/setup)\n", gguf);

  as_tokenizer_free (tok);
  gtk_window_destroy (GTK_WINDOW (window));
  g_object_unref (app);
  return 0;
}
