/* test-generate.c — choosing the next token and generating text.
 *
 * The sampler against its definitions (as transformers' generate has them):
 * greedy is the argmax with the lowest id among ties; top-k = 1 is greedy;
 * top-k keeps ties with the k-th; top-p keeps the smallest most likely set
 * reaching p, on a hand-built distribution; a temperature near 0 is greedy;
 * the generator is xoshiro256** seeded by splitmix64 (first draws against
 * values computed from the published algorithms); the same seed gives the
 * same tokens, another seed others; and many draws follow the filtered
 * distribution (a chi-square bound).
 *
 * Generation against transformers' greedy generate (tests/data/generate/,
 * written by tools/make-generate-goldens.py): the tiny seeded Llama GGUF
 * always, SmolLM2-135M-Instruct when downloaded (else skipped with the
 * reason), 40 tokens each, ids and decoded text; stopping at the
 * end-of-sequence token, at the limit and at the model's last position;
 * each step's attention rows equal the rows of a whole forward pass;
 * cancelling; refusals.
 */
#include <math.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-error.h"
#include "as-generate.h"
#include "as-model.h"
#include "as-sampler.h"
#include "llama-test-util.h"

/* ---- the sampler ------------------------------------------------------------------ */

static AsSampler *
sampler (double temperature, int top_k, double top_p, guint64 seed, int vocab)
{
  AsSamplerOptions o = { temperature, top_k, top_p, seed };
  g_autoptr(GError) error = NULL;
  AsSampler *s = as_sampler_new (&o, vocab, &error);
  g_assert_no_error (error);
  return s;
}

static void
test_greedy_ties (void)
{
  const float logits[] = { 1.0f, 3.0f, -2.0f, 3.0f, 2.5f };
  g_autoptr(AsSampler) s = sampler (0.0, 0, 1.0, 99, 5);
  for (int i = 0; i < 10; i++)
    g_assert_cmpint (as_sampler_pick (s, logits), ==, 1);
  const float all_equal[] = { 0.5f, 0.5f, 0.5f };
  g_autoptr(AsSampler) three = sampler (0.0, 0, 1.0, 99, 3);
  g_assert_cmpint (as_sampler_pick (three, all_equal), ==, 0);
  /* Greedy ignores the filters, as generate with do_sample=False. */
  g_autoptr(AsSampler) f = sampler (0.0, 3, 0.1, 1, 5);
  g_assert_cmpint (as_sampler_pick (f, logits), ==, 1);
}

static void
random_logits (GRand *rand, float *logits, int n)
{
  for (int i = 0; i < n; i++)
    logits[i] = (float) g_rand_double_range (rand, -8.0, 8.0);
}

static void
test_top_k_one_is_greedy (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (5);
  float logits[300];
  g_autoptr(AsSampler) greedy = sampler (0.0, 0, 1.0, 0, 300);
  g_autoptr(AsSampler) k1 = sampler (1.3, 1, 1.0, 7, 300);
  for (int t = 0; t < 200; t++)
    {
      random_logits (rand, logits, 300);
      g_assert_cmpint (as_sampler_pick (k1, logits), ==, as_sampler_pick (greedy, logits));
    }
}

static void
test_top_k_keeps_ties (void)
{
  const float logits[] = { 1.0f, 4.0f, 5.0f, 4.0f, 0.0f };
  g_autoptr(AsSampler) s = sampler (1.0, 2, 1.0, 3, 5);
  float probs[5];
  for (int t = 0; t < 50; t++)
    {
      int id = as_sampler_pick (s, logits);
      g_assert_true (id == 1 || id == 2 || id == 3);
    }
  g_assert_cmpint (as_sampler_last_kept (s, probs), ==, 3);
  double z = exp (5.0) + 2 * exp (4.0);
  g_assert_cmpfloat_with_epsilon (probs[2], exp (5.0) / z, 1e-6);
  g_assert_cmpfloat_with_epsilon (probs[1], exp (4.0) / z, 1e-6);
  g_assert_cmpfloat (probs[0], ==, 0.0f);
  g_assert_cmpfloat (probs[4], ==, 0.0f);
}

/* Probabilities 0.5, 0.2, 0.15, 0.1, 0.05 at shuffled ids. */
static const int order_ids[] = { 3, 0, 4, 1, 2 };
static const double order_p[] = { 0.5, 0.2, 0.15, 0.1, 0.05 };

static void
test_top_p_set (void)
{
  float logits[5];
  for (int i = 0; i < 5; i++)
    logits[order_ids[i]] = (float) log (order_p[i]);
  /* p, and how many of the most likely tokens reach it. */
  const struct { double p; int kept; } cases[] = {
    { 0.3, 1 }, { 0.6, 2 }, { 0.8, 3 }, { 0.9, 4 }, { 0.97, 5 }, { 1.0, 5 }, { 1e-9, 1 },
    { 0.49, 1 }, { 0.51, 2 }, { 0.69, 2 }, { 0.71, 3 }, { 0.84, 3 }, { 0.86, 4 }, { 0.94, 4 }, { 0.96, 5 },
  };
  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr(AsSampler) s = sampler (1.0, 0, cases[c].p, 11, 5);
      float probs[5];
      double mass = 0.0;
      for (int i = 0; i < cases[c].kept; i++)
        mass += order_p[i];
      for (int t = 0; t < 30; t++)
        {
          int id = as_sampler_pick (s, logits);
          gboolean allowed = FALSE;
          for (int i = 0; i < cases[c].kept; i++)
            allowed |= id == order_ids[i];
          g_assert_true (allowed);
        }
      g_assert_cmpint (as_sampler_last_kept (s, probs), ==, cases[c].kept);
      for (int i = 0; i < 5; i++)
        {
          double want = i < cases[c].kept ? order_p[i] / mass : 0.0;
          g_assert_cmpfloat_with_epsilon (probs[order_ids[i]], want, 1e-6);
        }
    }
  /* top-k first, then top-p over what it kept: k = 3 leaves 0.5, 0.2,
   * 0.15 (renormalised 0.588, 0.235, 0.176); p = 0.7 then keeps two. */
  g_autoptr(AsSampler) s = sampler (1.0, 3, 0.7, 1, 5);
  float probs[5];
  as_sampler_pick (s, logits);
  g_assert_cmpint (as_sampler_last_kept (s, probs), ==, 2);
  g_assert_cmpfloat_with_epsilon (probs[3], 0.5 / 0.7, 1e-6);
}

static void
test_temperature (void)
{
  const float logits[] = { 1.0f, 1.2f, 0.9f, -3.0f };
  /* Near 0: the argmax every time. */
  g_autoptr(AsSampler) cold = sampler (1e-3, 0, 1.0, 5, 4);
  for (int t = 0; t < 1000; t++)
    g_assert_cmpint (as_sampler_pick (cold, logits), ==, 1);
  /* T divides the logits: the kept distribution is softmax (logits / T). */
  g_autoptr(AsSampler) warm = sampler (2.0, 0, 1.0, 5, 4);
  float probs[4];
  as_sampler_pick (warm, logits);
  g_assert_cmpint (as_sampler_last_kept (warm, probs), ==, 4);
  double z = 0;
  for (int i = 0; i < 4; i++)
    z += exp (logits[i] / 2.0);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat_with_epsilon (probs[i], exp (logits[i] / 2.0) / z, 1e-6);
}

static void
test_generator (void)
{
  /* splitmix64 then xoshiro256**, the top 53 bits, as published. */
  const struct { guint64 seed; double u[3]; } want[] = {
    { 0, { 0.6012629994179048, 0.7477740925472398, 0.10301998939503632 } },
    { 12345, { 0.7438081631565894, 0.13004553462783452, 0.9633344930128545 } },
  };
  for (gsize c = 0; c < G_N_ELEMENTS (want); c++)
    {
      AsRandom rng;
      as_random_seed (&rng, want[c].seed);
      for (int i = 0; i < 3; i++)
        g_assert_cmpfloat (as_random_uniform (&rng), ==, want[c].u[i]);
    }
}

static void
test_seeds (void)
{
  float flat[1000] = { 0 };
  g_autoptr(AsSampler) a = sampler (1.0, 0, 1.0, 42, 1000);
  g_autoptr(AsSampler) b = sampler (1.0, 0, 1.0, 42, 1000);
  g_autoptr(AsSampler) c = sampler (1.0, 0, 1.0, 43, 1000);
  int differ = 0;
  for (int t = 0; t < 200; t++)
    {
      int x = as_sampler_pick (a, flat);
      g_assert_cmpint (x, ==, as_sampler_pick (b, flat));
      differ += x != as_sampler_pick (c, flat);
    }
  /* Two seeds agree on a token of 1000 now and then, not often. */
  g_assert_cmpint (differ, >, 190);
}

/* N draws at T = 0.8, top-k 5, top-p 0.9 from 8 tokens against the filtered
 * distribution worked out here: chi-square below its 0.999 quantile. */
static void
test_frequencies (void)
{
  const float logits[] = { 0.3f, 2.0f, -1.0f, 1.5f, 1.0f, 0.9f, -0.5f, 0.2f };
  const double T = 0.8;
  /* By logit: 2.0 (1), 1.5 (3), 1.0 (4), 0.9 (5), 0.3 (0) are the top 5. */
  const int top5[] = { 1, 3, 4, 5, 0 };
  double p[5], z = 0;
  for (int i = 0; i < 5; i++)
    z += p[i] = exp (logits[top5[i]] / T);
  int kept = 0;
  double cum = 0;
  for (int i = 0; i < 5; i++)
    {
      p[i] /= z;
      if (cum < 0.9)
        kept++, cum += p[i];
    }
  g_assert_cmpint (kept, ==, 4);   /* 0.9 is reached with the fourth */

  const int N = 100000;
  int count[8] = { 0 };
  g_autoptr(AsSampler) s = sampler (T, 5, 0.9, 2024, 8);
  for (int t = 0; t < N; t++)
    count[as_sampler_pick (s, logits)]++;
  double chi2 = 0;
  for (int i = 0; i < kept; i++)
    {
      double expect = N * p[i] / cum;
      chi2 += (count[top5[i]] - expect) * (count[top5[i]] - expect) / expect;
    }
  g_test_message ("chi-square %.2f over %d kept tokens", chi2, kept);
  g_assert_cmpfloat (chi2, <, 16.27);   /* 3 degrees of freedom, p = 0.001 */
  int outside = count[0] + count[2] + count[6] + count[7];
  g_assert_cmpint (outside, ==, 0);
}

static void
test_top_k_report (void)
{
  const float logits[] = { 0.0f, 2.0f, 1.0f, 2.0f, -1.0f };
  int ids[3];
  float probs[3];
  as_sampler_top_k (logits, 5, 3, ids, probs);
  g_assert_cmpint (ids[0], ==, 1);
  g_assert_cmpint (ids[1], ==, 3);
  g_assert_cmpint (ids[2], ==, 2);
  double z = 1 + 2 * exp (2.0) + exp (1.0) + exp (-1.0);
  g_assert_cmpfloat_with_epsilon (probs[0], exp (2.0) / z, 1e-6);
  g_assert_cmpfloat_with_epsilon (probs[2], exp (1.0) / z, 1e-6);
}

static void
test_refusals (void)
{
  const struct { AsSamplerOptions o; const char *word; } bad[] = {
    { { -1.0, 0, 1.0, 0 }, "temperature" },
    { { NAN, 0, 1.0, 0 }, "temperature" },
    { { INFINITY, 0, 1.0, 0 }, "temperature" },
    { { 1.0, -1, 1.0, 0 }, "top-k" },
    { { 1.0, 0, 2.0, 0 }, "top-p" },
    { { 1.0, 0, 0.0, 0 }, "top-p" },
    { { 1.0, 0, NAN, 0 }, "top-p" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_null (as_sampler_new (&bad[i].o, 10, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
      g_assert_nonnull (strstr (error->message, bad[i].word));
    }
}

/* ---- generation ------------------------------------------------------------------- */

static JsonObject *
load_goldens (JsonParser *parser, const char *name)
{
  const char *dir = g_getenv ("AS_TEST_DATA");
  g_assert_nonnull (dir);
  g_autofree char *path = g_build_filename (dir, "generate", name, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true (json_parser_load_from_file (parser, path, &error));
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

static int *
int_array (JsonObject *o, const char *member, int *n)
{
  JsonArray *a = json_object_get_array_member (o, member);
  *n = json_array_get_length (a);
  int *v = g_new (int, MAX (*n, 1));
  for (int i = 0; i < *n; i++)
    v[i] = json_array_get_int_element (a, i);
  return v;
}

/* What the step callback saw. */
typedef struct {
  GArray  *ids;
  GString *text;
  int      stop_after;   /* raise CANCEL after this step; -1: never */
  gint    *cancel;
  gboolean say_stop;     /* return FALSE after STOP_AFTER instead */
} Seen;

static gboolean
seen_step (const AsGenerateStep *step, gpointer user_data)
{
  Seen *seen = user_data;
  g_assert_cmpint (step->index, ==, (int) seen->ids->len);
  g_array_append_val (seen->ids, step->id);
  if (step->text != NULL)
    g_string_append (seen->text, step->text);
  if (step->n_top > 0)
    {
      /* Greedy: the choice is the most likely token. */
      g_assert_cmpint (step->top_ids[0], ==, step->id);
      for (int i = 1; i < step->n_top; i++)
        g_assert_cmpfloat (step->top_probs[i], <=, step->top_probs[i - 1]);
    }
  if ((int) step->index == seen->stop_after)
    {
      if (seen->say_stop)
        return FALSE;
      g_atomic_int_set (seen->cancel, 1);
    }
  return TRUE;
}

/* Greedy from every case of GOLDENS: transformers' ids, and its text. */
static void
check_goldens (AsModel *model, const char *name, int eos_id)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root = load_goldens (parser, name);
  JsonArray *cases = json_object_get_array_member (root, "cases");
  AsBackend *backend = as_cpu_backend_new (model);
  for (guint c = 0; c < json_array_get_length (cases); c++)
    {
      JsonObject *gc = json_array_get_object_element (cases, c);
      int n_prompt, n_want;
      g_autofree int *prompt = int_array (gc, "prompt_ids", &n_prompt);
      g_autofree int *want = int_array (gc, "new_ids", &n_want);
      gboolean at_eos = json_object_get_boolean_member (gc, "stopped_at_eos");
      g_assert_true (at_eos || n_want >= 32);

      AsGenerateOptions o;
      as_generate_options_init (&o, model);
      g_assert_cmpint (o.eos_id, ==, eos_id);
      o.max_tokens = json_object_get_int_member (root, "new_tokens");
      Seen seen = { g_array_new (FALSE, FALSE, sizeof (int)), g_string_new (NULL), -1, NULL, FALSE };
      o.on_step = seen_step;
      o.user_data = &seen;
      g_autoptr(GError) error = NULL;
      g_autofree int *ids = NULL;
      int n_ids = 0;
      AsGenerateStop stop;
      gint64 t0 = g_get_monotonic_time ();
      g_assert_true (as_generate (backend, prompt, n_prompt, &o, &stop, &ids, &n_ids, &error));
      g_assert_no_error (error);
      g_test_message ("%s %s: %d tokens in %.1f s, stop %s", name,
                      json_object_get_string_member (gc, "name"), n_ids,
                      (g_get_monotonic_time () - t0) / 1e6, as_generate_stop_to_string (stop));
      g_assert_cmpint (stop, ==, at_eos ? AS_GENERATE_STOP_EOS : AS_GENERATE_STOP_LENGTH);
      g_assert_cmpint (n_ids, ==, n_want);
      g_assert_cmpmem (ids, n_ids * sizeof (int), want, n_want * sizeof (int));
      g_assert_cmpmem (seen.ids->data, seen.ids->len * sizeof (int), want, n_want * sizeof (int));
      if (!json_object_get_null_member (gc, "text"))
        g_assert_cmpstr (seen.text->str, ==, json_object_get_string_member (gc, "text"));
      g_array_unref (seen.ids);
      g_string_free (seen.text, TRUE);
    }
  as_backend_free (backend);
}

static void
test_tiny_goldens (void)
{
  AsModel *model = llama_tiny_load ();
  /* A GGUF whose tokenizer has no merges runs on ids: no end-of-sequence
   * id, and transformers' (2) never came in these 40 tokens. */
  g_assert_null (model->tokenizer);
  check_goldens (model, "tiny.json", -1);
  as_model_free (model);
}

static void
test_smollm2_goldens (void)
{
  AsModel *model = llama_smollm2_load ();
  if (model == NULL)
    return;
  check_goldens (model, "smollm2.json", 2);
  as_model_free (model);
}

/* Generates greedily from the tiny model's first golden prompt. */
static gboolean
tiny_generate (AsModel *model, AsGenerateOptions *o, AsGenerateStop *stop, int **ids, int *n,
               GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root = load_goldens (parser, "tiny.json");
  JsonObject *gc = json_array_get_object_element (json_object_get_array_member (root, "cases"), 1);
  int n_prompt;
  g_autofree int *prompt = int_array (gc, "prompt_ids", &n_prompt);
  AsBackend *backend = as_cpu_backend_new (model);
  gboolean ok = as_generate (backend, prompt, n_prompt, o, stop, ids, n, error);
  as_backend_free (backend);
  return ok;
}

static void
test_stops (void)
{
  AsModel *model = llama_tiny_load ();
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root = load_goldens (parser, "tiny.json");
  JsonObject *gc = json_array_get_object_element (json_object_get_array_member (root, "cases"), 1);
  int n_prompt, n_want;
  g_autofree int *prompt = int_array (gc, "prompt_ids", &n_prompt);
  g_autofree int *want = int_array (gc, "new_ids", &n_want);

  /* The end-of-sequence token: the first time the golden's 6th token
   * comes, generation ends, that token included. */
  AsGenerateOptions o;
  as_generate_options_init (&o, model);
  o.eos_id = want[5];
  int first = 0;
  while (want[first] != o.eos_id)
    first++;
  AsGenerateStop stop;
  g_autofree int *ids = NULL;
  int n = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true (tiny_generate (model, &o, &stop, &ids, &n, &error));
  g_assert_cmpint (stop, ==, AS_GENERATE_STOP_EOS);
  g_assert_cmpint (n, ==, first + 1);
  g_assert_cmpmem (ids, n * sizeof (int), want, (first + 1) * sizeof (int));
  g_clear_pointer (&ids, g_free);

  /* The limit. */
  as_generate_options_init (&o, model);
  o.max_tokens = 3;
  g_assert_true (tiny_generate (model, &o, &stop, &ids, &n, &error));
  g_assert_cmpint (stop, ==, AS_GENERATE_STOP_LENGTH);
  g_assert_cmpint (n, ==, 3);
  g_assert_cmpmem (ids, 3 * sizeof (int), want, 3 * sizeof (int));
  g_clear_pointer (&ids, g_free);

  /* The last position: a token is chosen from it, never run. */
  o.max_tokens = 1000;
  g_assert_true (tiny_generate (model, &o, &stop, &ids, &n, &error));
  g_assert_cmpint (stop, ==, AS_GENERATE_STOP_CONTEXT);
  g_assert_cmpint (n, ==, model->config->max_positions - n_prompt + 1);
  g_assert_cmpmem (ids, n_want * sizeof (int), want, n_want * sizeof (int));
  as_model_free (model);
}

static void
test_cancel (void)
{
  AsModel *model = llama_tiny_load ();
  for (int say_stop = 0; say_stop <= 1; say_stop++)
    {
      gint cancel = 0;
      Seen seen = { g_array_new (FALSE, FALSE, sizeof (int)), g_string_new (NULL), 3, &cancel, say_stop };
      AsGenerateOptions o;
      as_generate_options_init (&o, model);
      o.max_tokens = 20;
      o.on_step = seen_step;
      o.user_data = &seen;
      o.cancel = &cancel;
      g_autoptr(GError) error = NULL;
      AsGenerateStop stop;
      int *ids = NULL, n = -1;
      g_assert_false (tiny_generate (model, &o, &stop, &ids, &n, &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
      g_assert_null (ids);
      g_assert_cmpint (seen.ids->len, ==, 4);
      g_array_unref (seen.ids);
      g_string_free (seen.text, TRUE);
    }
  as_model_free (model);
}

/* Every step's rows, kept: [steps][layers][heads, n_ctx]. */
typedef struct {
  GPtrArray *rows;   /* float* [n_layers * n_heads * n_ctx] per step */
  GArray    *n_ctx;
  int        n_layers, n_heads;
  int        layers_seen;
} Rows;

static gboolean
keep_row (int layer, const float *row, int n_ctx, gpointer user_data)
{
  Rows *r = user_data;
  if (layer == 0)
    {
      g_ptr_array_add (r->rows, g_new (float, (gsize) r->n_layers * r->n_heads * n_ctx));
      g_array_append_val (r->n_ctx, n_ctx);
      r->layers_seen = 0;
    }
  g_assert_cmpint (layer, ==, r->layers_seen++);
  float *dst = g_ptr_array_index (r->rows, r->rows->len - 1);
  memcpy (dst + (gsize) layer * r->n_heads * n_ctx, row, sizeof (float) * r->n_heads * n_ctx);
  return TRUE;
}

static gboolean
rows_step (const AsGenerateStep *step, gpointer user_data)
{
  Rows *r = user_data;
  /* The step's rows came first, for every layer. */
  g_assert_cmpint (r->rows->len, ==, step->index + 1);
  g_assert_cmpint (r->layers_seen, ==, r->n_layers);
  return TRUE;
}

static void
test_rows (void)
{
  AsModel *model = llama_tiny_load ();
  const AsConfig *c = model->config;
  Rows r = { g_ptr_array_new_with_free_func (g_free), g_array_new (FALSE, FALSE, sizeof (int)),
             c->n_layers, c->n_heads, 0 };
  AsGenerateOptions o;
  as_generate_options_init (&o, model);
  o.max_tokens = 10;
  o.on_row = keep_row;
  o.on_step = rows_step;
  o.user_data = &r;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root = load_goldens (parser, "tiny.json");
  JsonObject *gc = json_array_get_object_element (json_object_get_array_member (root, "cases"), 1);
  int n_prompt;
  g_autofree int *prompt = int_array (gc, "prompt_ids", &n_prompt);
  g_autofree int *ids = NULL;
  int n = 0;
  g_autoptr(GError) error = NULL;
  AsBackend *backend = as_cpu_backend_new (model);
  g_assert_true (as_generate (backend, prompt, n_prompt, &o, NULL, &ids, &n, &error));
  g_assert_cmpint (r.rows->len, ==, n);

  /* One whole pass over the prompt and every chosen token but the last:
   * step i's rows are those of query n_prompt + i - 1. */
  const int total = n_prompt + n - 1;
  g_autofree int *all = g_new (int, total);
  memcpy (all, prompt, sizeof (int) * n_prompt);
  memcpy (all + n_prompt, ids, sizeof (int) * (n - 1));
  g_autofree float *attn = g_new (float, (gsize) c->n_layers * c->n_heads * total * total);
  AsForwardRequest req = { .ids = all, .n = total, .attn_out = attn };
  g_assert_true (as_backend_forward (backend, &req, NULL, &error));
  g_assert_no_error (error);
  double worst = 0;
  for (int i = 0; i < n; i++)
    {
      int n_ctx = g_array_index (r.n_ctx, int, i);
      int q = n_prompt + i - 1;
      g_assert_cmpint (n_ctx, ==, q + 1);
      const float *got = g_ptr_array_index (r.rows, i);
      for (int l = 0; l < c->n_layers; l++)
        for (int h = 0; h < c->n_heads; h++)
          for (int k = 0; k < n_ctx; k++)
            {
              float want = attn[(((gsize) l * c->n_heads + h) * total + q) * total + k];
              worst = MAX (worst, fabs (got[((gsize) l * c->n_heads + h) * n_ctx + k] - want));
            }
    }
  g_test_message ("rows against a whole pass: max |d| %.3g", worst);
  g_assert_cmpfloat (worst, <=, 1e-5);
  as_backend_free (backend);
  g_ptr_array_unref (r.rows);
  g_array_unref (r.n_ctx);
  as_model_free (model);
}

static void
test_generate_refusals (void)
{
  AsModel *model = llama_tiny_load ();
  AsGenerateOptions o;
  g_autoptr(GError) error = NULL;
  int prompt[] = { 1, 2, 3 };
  AsBackend *backend = as_cpu_backend_new (model);

  as_generate_options_init (&o, model);
  o.max_tokens = 0;
  g_assert_false (as_generate (backend, prompt, 3, &o, NULL, NULL, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_assert_nonnull (strstr (error->message, "max-tokens"));
  g_clear_error (&error);

  as_generate_options_init (&o, model);
  o.sampling.top_p = 2.0;
  g_assert_false (as_generate (backend, prompt, 3, &o, NULL, NULL, NULL, &error));
  g_assert_nonnull (strstr (error->message, "top-p"));
  g_clear_error (&error);

  as_generate_options_init (&o, model);
  g_assert_false (as_generate (backend, prompt, 0, &o, NULL, NULL, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  int out_of_range[] = { 1, 9999 };
  g_assert_false (as_generate (backend, out_of_range, 2, &o, NULL, NULL, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  as_backend_free (backend);
  as_model_free (model);

  /* An encoder has no language-model head. */
  AsModel *bert = as_model_new_random ("minilm-l6", 1, &error);
  g_assert_no_error (error);
  backend = as_cpu_backend_new (bert);
  as_generate_options_init (&o, bert);
  g_assert_false (as_generate (backend, prompt, 3, &o, NULL, NULL, NULL, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "not a decoder"));
  as_backend_free (backend);
  as_model_free (bert);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sampler/greedy-ties", test_greedy_ties);
  g_test_add_func ("/sampler/top-k-one-is-greedy", test_top_k_one_is_greedy);
  g_test_add_func ("/sampler/top-k-keeps-ties", test_top_k_keeps_ties);
  g_test_add_func ("/sampler/top-p-set", test_top_p_set);
  g_test_add_func ("/sampler/temperature", test_temperature);
  g_test_add_func ("/sampler/generator", test_generator);
  g_test_add_func ("/sampler/seeds", test_seeds);
  g_test_add_func ("/sampler/frequencies", test_frequencies);
  g_test_add_func ("/sampler/top-k-report", test_top_k_report);
  g_test_add_func ("/sampler/refusals", test_refusals);
  g_test_add_func ("/generate/tiny-goldens", test_tiny_goldens);
  g_test_add_func ("/generate/stops", test_stops);
  g_test_add_func ("/generate/cancel", test_cancel);
  g_test_add_func ("/generate/rows", test_rows);
  g_test_add_func ("/generate/refusals", test_generate_refusals);
  g_test_add_func ("/generate/smollm2-goldens", test_smollm2_goldens);
  return g_test_run ();
}
