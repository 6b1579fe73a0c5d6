/* test-layer-trace.c — one layer with every stage kept (as-layer-trace.h),
 * the padding demonstration, and the worker's request for both.
 *
 * The references are independent of the trace's own pass: the fast CPU
 * backend's attention, hidden states and V (a different implementation);
 * the published definitions of each stage (residual sums, GELU in its erf
 * and tanh forms, SwiGLU, attention times V); transformers' own stages,
 * caught with hooks (tools/make-layer-trace-goldens.py,
 * tests/data/layer-trace-goldens.json); and, for padding, the sequence run
 * alone.
 */
#include <math.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "as-backend.h"
#include "as-error.h"
#include "as-layer-trace.h"
#include "as-model.h"
#include "as-tokenizer.h"
#include "as-worker.h"
#include "llama-test-util.h"

#define SENTENCE "the cat sat on the mat"

/* ---- helpers -------------------------------------------------------------- */

static char *
data_path (const char *name)
{
  return g_build_filename (g_getenv ("AS_TEST_DATA"), name, NULL);
}

/* tests/data/NAME loaded; fails the test when it cannot be. */
static AsModel *
load_data_model (const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = data_path (name);
  AsModel *model = as_model_load (path, &error);
  g_assert_no_error (error);
  return model;
}

/* all-MiniLM-L6-v2, or NULL with the test skipped when it is not downloaded. */
static AsModel *
load_minilm (void)
{
  g_autofree char *dir = as_model_default_dir ();
  g_autofree char *st = g_build_filename (dir, "model.safetensors", NULL);
  if (!g_file_test (st, G_FILE_TEST_EXISTS))
    {
      g_autofree char *why = g_strdup_printf ("all-MiniLM-L6-v2 not downloaded (%s; run tools/setup)",
                                              dir);
      g_test_skip (why);
      return NULL;
    }
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  return model;
}

/* TEXT_A (+ TEXT_B) tokenised as the app does: ids and type ids (g_free). */
static int
encode (const AsModel *model,
        const char    *text_a,
        const char    *text_b,
        int          **ids,
        int          **types)
{
  AsEncoding *enc = as_tokenizer_encode (model->tokenizer, text_a, text_b,
                                         model->config->max_positions);
  const int n = enc->n_tokens;
  *ids = g_new (int, n);
  *types = g_new (int, n);
  for (int i = 0; i < n; i++)
    {
      (*ids)[i] = enc->tokens[i].id;
      (*types)[i] = enc->tokens[i].type_id;
    }
  as_encoding_free (enc);
  return n;
}

/* max |a - b| / max (1, max |b|): a relative error that does not blow up
 * on values near zero. */
static double
rel_diff (const float *a,
          const float *b,
          gsize        count)
{
  double diff = 0.0, scale = 1.0;
  for (gsize i = 0; i < count; i++)
    {
      diff = MAX (diff, fabs ((double) a[i] - b[i]));
      scale = MAX (scale, fabs ((double) b[i]));
    }
  return diff / scale;
}

static double
abs_diff (const float *a,
          const float *b,
          gsize        count)
{
  double diff = 0.0;
  for (gsize i = 0; i < count; i++)
    diff = MAX (diff, fabs ((double) a[i] - b[i]));
  return diff;
}

/* Every layer's attention [L, NH, n, n] and output [L, n, H] from the fast
 * CPU backend. */
typedef struct {
  const AsConfig *c;
  int             n;
  float          *attn;
  float          *hidden;
} Layers;

static gboolean
keep_layer (int          layer,
            const float *attn,
            const float *hidden,
            gpointer     user_data)
{
  Layers *k = user_data;
  const gsize per_attn = (gsize) k->c->n_heads * k->n * k->n;
  const gsize per_hidden = (gsize) k->n * k->c->hidden;
  memcpy (k->attn + layer * per_attn, attn, sizeof (float) * per_attn);
  g_assert_nonnull (hidden);
  memcpy (k->hidden + layer * per_hidden, hidden, sizeof (float) * per_hidden);
  return TRUE;
}

/* ---- invariants against the fast backend and the definitions -------------- */

/* The layers in LAYERS [n_check] (NULL: every layer) of MODEL on the N
 * tokens IDS (TYPES). */
static void
check_invariants (AsModel   *model,
                  const int *ids,
                  const int *types,
                  int        n,
                  const int *layers,
                  int        n_check)
{
  const AsConfig *c = model->config;
  const int H = c->hidden, NH = c->n_heads, d = c->head_dim, F = c->intermediate;
  const gsize nH = (gsize) n * H, nF = (gsize) n * F, per_attn = (gsize) NH * n * n;

  AsBackend *cpu = as_cpu_backend_new (model);
  Layers fast = { c, n, g_new (float, per_attn * c->n_layers), g_new (float, nH * c->n_layers) };
  AsForwardRequest req = {
    .ids = ids, .type_ids = types, .n = n, .want_hidden = TRUE,
    .on_layer = keep_layer, .user_data = &fast,
  };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (cpu, &req, NULL, &error));
  g_assert_no_error (error);
  req.on_layer = NULL;
  req.want_hidden = FALSE;

  g_autoptr(AsLayerTrace) prev = NULL;
  double worst_out = 0.0, worst_attn = 0.0, worst_ctx = 0.0;
  if (layers == NULL)
    n_check = c->n_layers;
  for (int at = 0; at < n_check; at++)
    {
      const int L = layers != NULL ? layers[at] : at;
      g_autoptr(AsLayerTrace) t = as_layer_trace_compute (model, &req, L, &error);
      g_assert_no_error (error);
      g_assert_nonnull (t);
      g_assert_cmpint (t->layer, ==, L);
      g_assert_cmpint (t->n, ==, n);
      g_assert_cmpint (t->hidden, ==, H);
      g_assert_cmpint (t->n_heads, ==, NH);
      g_assert_cmpint (t->head_dim, ==, d);
      g_assert_cmpint (t->intermediate, ==, F);
      g_assert_true (t->pre_norm == model->arch->causal);

      /* The layer's output and attention are the fast backend's. */
      worst_out = MAX (worst_out, rel_diff (t->out, fast.hidden + L * nH, nH));
      worst_attn = MAX (worst_attn, abs_diff (t->attn, fast.attn + L * per_attn, per_attn));

      /* The input is the previous layer's output, or the embeddings. */
      if (L == 0 || (prev != NULL && prev->layer == L - 1))
        {
          const float *x_in = L > 0 ? prev->out : t->embed_out;
          g_assert_cmpmem (t->x_in, nH * sizeof (float), x_in, nH * sizeof (float));
        }

      /* The embeddings: each table's row, summed as transformers does
       * ((word + type) + position). */
      g_assert_nonnull (t->token_embed);
      g_assert_true ((t->type_embed != NULL) == model->arch->uses_token_types);
      for (gsize i = 0; i < nH; i++)
        {
          float sum = t->token_embed[i];
          if (t->type_embed != NULL)
            sum += t->type_embed[i];
          if (t->position_embed != NULL)
            sum += t->position_embed[i];
          g_assert_cmpfloat (t->embed_sum[i], ==, sum);
        }

      /* Each head's output z: its attention times the fast backend's V. */
      g_autofree float *q = g_new (float, nH), *k = g_new (float, nH), *v = g_new (float, nH);
      g_assert_true (as_backend_layer_qkv (cpu, &req, L, q, k, v, &error));
      g_autofree float *z = g_new (float, nH);   /* [n, H] */
      for (int h = 0; h < NH; h++)
        for (int i = 0; i < n; i++)
          for (int e = 0; e < d; e++)
            {
              double sum = 0.0;
              for (int j = 0; j < n; j++)
                sum += (double) t->attn[((gsize) h * n + i) * n + j] * v[(gsize) j * H + h * d + e];
              z[(gsize) i * H + h * d + e] = (float) sum;
            }
      worst_ctx = MAX (worst_ctx, rel_diff (t->context, z, nH));

      /* The residual sums, exactly. */
      for (gsize i = 0; i < nH; i++)
        {
          g_assert_cmpfloat (t->resid1[i], ==, t->attn_out[i] + t->x_in[i]);
          g_assert_cmpfloat (t->resid2[i], ==, t->ffn_out[i] + t->h1[i]);
        }
      if (t->pre_norm)
        {
          g_assert_cmpmem (t->h1, nH * sizeof (float), t->resid1, nH * sizeof (float));
          g_assert_cmpmem (t->out, nH * sizeof (float), t->resid2, nH * sizeof (float));
        }
      else
        {
          g_assert_cmpmem (t->attn_in, nH * sizeof (float), t->x_in, nH * sizeof (float));
          g_assert_cmpmem (t->ffn_in, nH * sizeof (float), t->h1, nH * sizeof (float));
        }

      /* The FFN's activation, from its published definition. */
      double worst_act = 0.0;
      for (gsize i = 0; i < nF; i++)
        {
          const double x = t->ffn_pre[i];
          double want;
          if (t->ffn == AS_TRACE_FFN_SWIGLU)
            want = x / (1.0 + exp (-x)) * t->ffn_up[i];
          else if (g_strcmp0 (model->arch->name, "gpt2") == 0)
            want = 0.5 * x * (1.0 + tanh (sqrt (2.0 / G_PI) * (x + 0.044715 * x * x * x)));
          else
            want = 0.5 * x * (1.0 + erf (x / G_SQRT2));
          worst_act = MAX (worst_act, fabs (t->ffn_act[i] - want) / MAX (1.0, fabs (want)));
        }
      g_assert_cmpfloat (worst_act, <, 1e-5);
      g_assert_true ((t->ffn_up != NULL) == (t->ffn == AS_TRACE_FFN_SWIGLU));

      g_clear_pointer (&prev, as_layer_trace_free);
      prev = g_steal_pointer (&t);
    }
  g_test_message ("%s: max over layers: out %.2g (relative), attn %.2g, context %.2g (relative)",
                  model->name, worst_out, worst_attn, worst_ctx);
  g_assert_cmpfloat (worst_out, <, 1e-4);
  g_assert_cmpfloat (worst_attn, <, 1e-4);
  g_assert_cmpfloat (worst_ctx, <, 1e-4);
  g_free (fast.attn);
  g_free (fast.hidden);
  as_backend_free (cpu);
}

static void
test_invariants_minilm (void)
{
  AsModel *model = load_minilm ();
  if (model == NULL)
    return;
  g_autofree int *ids = NULL, *types = NULL;
  const int n = encode (model, "The cat sat on the mat.", "It was tired.", &ids, &types);
  check_invariants (model, ids, types, n, NULL, 0);
  as_model_free (model);
}

/* SmolLM2: 9 query heads on 3 key/value heads, RoPE, 30 layers; the
 * reference is slow, so the first two and the last. */
static void
test_invariants_smollm2 (void)
{
  AsModel *model = llama_smollm2_load ();
  if (model == NULL)
    return;
  g_autofree int *ids = NULL, *types = NULL;
  const int n = encode (model, "The cat sat on the mat.", NULL, &ids, &types);
  const int layers[] = { 0, 1, model->config->n_layers - 1 };
  check_invariants (model, ids, types, n, layers, G_N_ELEMENTS (layers));
  as_model_free (model);
}

static void
test_invariants_tiny (gconstpointer data)
{
  AsModel *model = load_data_model (data);
  g_autofree int *ids = NULL, *types = NULL;
  int n;
  if (model->tokenizer != NULL)
    n = encode (model, SENTENCE, as_tokenizer_takes_pairs (model->tokenizer) ? "a dog" : NULL,
                &ids, &types);
  else
    {
      /* A file with weights only: ids spread over the vocabulary. */
      n = 9;
      ids = g_new (int, n);
      types = g_new0 (int, n);
      for (int i = 0; i < n; i++)
        ids[i] = (i * 37 + 1) % model->config->vocab_size;
    }
  check_invariants (model, ids, types, n, NULL, 0);
  as_model_free (model);
}

/* ---- transformers' own stages ------------------------------------------------ */

/* The buffer of T named NAME (an AsLayerTrace field), and its width. */
static const float *
trace_stage (const AsLayerTrace *t,
             const char         *name,
             int                *width)
{
  static const struct {
    const char *name;
    glong       offset;
    gboolean    inner;   /* [n, I] rather than [n, H] */
  } stages[] = {
#define STAGE(f, inner) { #f, G_STRUCT_OFFSET (AsLayerTrace, f), inner }
    STAGE (token_embed, FALSE), STAGE (position_embed, FALSE), STAGE (type_embed, FALSE),
    STAGE (embed_sum, FALSE), STAGE (embed_out, FALSE), STAGE (x_in, FALSE),
    STAGE (attn_in, FALSE), STAGE (context, FALSE), STAGE (attn_out, FALSE),
    STAGE (resid1, FALSE), STAGE (h1, FALSE), STAGE (ffn_in, FALSE), STAGE (ffn_pre, TRUE),
    STAGE (ffn_up, TRUE), STAGE (ffn_act, TRUE), STAGE (ffn_out, FALSE), STAGE (resid2, FALSE),
    STAGE (out, FALSE),
#undef STAGE
  };
  for (gsize i = 0; i < G_N_ELEMENTS (stages); i++)
    if (strcmp (stages[i].name, name) == 0)
      {
        *width = stages[i].inner ? t->intermediate : t->hidden;
        return G_STRUCT_MEMBER (float *, t, stages[i].offset);
      }
  g_error ("the golden names a stage the trace does not have: %s", name);
}

static void
test_golden (void)
{
  g_autofree char *path = data_path ("layer-trace-goldens.json");
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  JsonArray *models = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                                    "models");
  g_assert_cmpuint (json_array_get_length (models), >=, 2);
  for (guint m = 0; m < json_array_get_length (models); m++)
    {
      JsonObject *g = json_array_get_object_element (models, m);
      AsModel *model = load_data_model (json_object_get_string_member (g, "dir"));
      JsonArray *ids_j = json_object_get_array_member (g, "ids");
      JsonArray *types_j = json_object_get_array_member (g, "type_ids");
      const int n = json_array_get_length (ids_j);
      g_autofree int *ids = g_new (int, n), *types = g_new (int, n);
      for (int i = 0; i < n; i++)
        {
          ids[i] = json_array_get_int_element (ids_j, i);
          types[i] = json_array_get_int_element (types_j, i);
        }
      /* The same tokens as the app makes of the sentence. */
      g_autofree int *our_ids = NULL, *our_types = NULL;
      g_assert_cmpint (encode (model, json_object_get_string_member (g, "sentence"), NULL,
                               &our_ids, &our_types), ==, n);
      g_assert_cmpmem (our_ids, n * sizeof (int), ids, n * sizeof (int));

      const int L = json_object_get_int_member (g, "layer");
      AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
      g_autoptr(AsLayerTrace) t = as_layer_trace_compute (model, &req, L, &error);
      g_assert_no_error (error);

      JsonArray *rows = json_object_get_array_member (g, "rows");
      JsonObject *cols = json_object_get_object_member (g, "cols");
      JsonObject *stages = json_object_get_object_member (g, "stages");
      g_autoptr(GList) names = json_object_get_members (stages);
      double worst = 0.0;
      int checked = 0;
      for (GList *l = names; l != NULL; l = l->next)
        {
          int width;
          const float *ours = trace_stage (t, l->data, &width);
          g_assert_nonnull (ours);
          JsonArray *values = json_object_get_array_member (stages, l->data);
          JsonArray *cs = json_object_get_array_member (cols, l->data);
          for (guint r = 0; r < json_array_get_length (rows); r++)
            {
              const int row = json_array_get_int_element (rows, r);
              JsonArray *vr = json_array_get_array_element (values, r);
              for (guint k = 0; k < json_array_get_length (cs); k++)
                {
                  const int col = json_array_get_int_element (cs, k);
                  g_assert_cmpint (col, <, width);
                  const double want = json_array_get_double_element (vr, k);
                  const double got = ours[(gsize) row * width + col];
                  const double err = fabs (got - want) / MAX (1.0, fabs (want));
                  if (err > 1e-4)
                    g_error ("%s: %s[%d, %d] = %.7g, transformers %.7g", model->name,
                             (char *) l->data, row, col, got, want);
                  worst = MAX (worst, err);
                  checked++;
                }
            }
        }
      JsonArray *attn = json_object_get_array_member (g, "attn");
      g_assert_cmpint (json_array_get_length (attn), ==, t->n_heads);
      for (int h = 0; h < t->n_heads; h++)
        for (guint r = 0; r < json_array_get_length (rows); r++)
          {
            const int row = json_array_get_int_element (rows, r);
            JsonArray *vr = json_array_get_array_element (json_array_get_array_element (attn, h), r);
            for (int j = 0; j < n; j++)
              {
                const double err = fabs (t->attn[((gsize) h * n + row) * n + j] -
                                         json_array_get_double_element (vr, j));
                g_assert_cmpfloat (err, <, 1e-4);
                worst = MAX (worst, err);
                checked++;
              }
          }
      g_test_message ("%s layer %d: %d values of %u stages and the attention, max error %.2g",
                      model->name, L, checked, g_list_length (names), worst);
      as_model_free (model);
    }
}

/* ---- padding ---------------------------------------------------------------- */

static void
check_padding (AsModel *model)
{
  const AsConfig *c = model->config;
  g_autofree int *ids_a = NULL, *types_a = NULL, *ids_b = NULL, *types_b = NULL;
  const int na = encode (model, "the cat sat on the mat", NULL, &ids_a, &types_a);
  const int nb = encode (model, "a dog", NULL, &ids_b, &types_b);
  g_assert_cmpint (nb, <, na);
  AsForwardRequest a = { .ids = ids_a, .type_ids = types_a, .n = na };
  AsForwardRequest b = { .ids = ids_b, .type_ids = types_b, .n = nb };
  int pad = as_tokenizer_token_to_id (model->tokenizer, "[PAD]");
  if (pad < 0)
    pad = as_tokenizer_token_to_id (model->tokenizer, "<pad>");
  g_assert_cmpint (pad, >=, 0);

  for (int L = 0; L < c->n_layers; L++)
    {
      g_autoptr(GError) error = NULL;
      /* The shorter one first: padding is not only for the second. */
      g_autoptr(AsPaddingDemo) demo = as_padding_demo_compute (model, &b, &a, L, &error);
      g_assert_no_error (error);
      g_assert_cmpint (demo->layer, ==, L);
      g_assert_cmpint (demo->n, ==, na);
      g_assert_cmpint (demo->n_seq[0], ==, nb);
      g_assert_cmpint (demo->n_seq[1], ==, na);
      g_assert_cmpint (demo->n_heads, ==, c->n_heads);
      g_assert_cmpint (demo->pad_id, ==, pad);
      const int n = demo->n, NH = demo->n_heads;
      double worst = 0.0;
      for (int s = 0; s < 2; s++)
        {
          const int m = demo->n_seq[s];
          for (int i = 0; i < n; i++)
            {
              g_assert_cmpint (demo->ids[s][i], ==, i < m ? (s == 0 ? ids_b : ids_a)[i] : pad);
              g_assert_cmpfloat (demo->key_mask[s][i], ==, i < m ? 0.0f : -INFINITY);
            }
          for (int h = 0; h < NH; h++)
            for (int i = 0; i < n; i++)
              {
                const float *row = demo->attn[s] + ((gsize) h * n + i) * n;   /* [n] */
                double sum = 0.0;
                for (int j = 0; j < n; j++)
                  sum += row[j];
                g_assert_cmpfloat (fabs (sum - 1.0), <, 1e-5);
                if (i >= m)
                  continue;
                for (int j = m; j < n; j++)
                  g_assert_cmpfloat (row[j], ==, 0.0f);
                const float *alone = demo->attn_alone[s] + ((gsize) h * m + i) * m;   /* [m] */
                worst = MAX (worst, abs_diff (row, alone, m));
              }
        }
      g_assert_cmpfloat (worst, <, 1e-5);

      /* The mask is what makes them equal: the same padded tokens without
       * it attend to the padding, and their attention changes. */
      g_autofree int *zeros = g_new0 (int, n);
      AsForwardRequest unmasked = { .ids = demo->ids[0], .type_ids = zeros, .n = n };
      g_autoptr(AsLayerTrace) t = as_layer_trace_compute (model, &unmasked, L, &error);
      g_assert_no_error (error);
      double moved = 0.0;
      for (int h = 0; h < NH; h++)
        for (int i = 0; i < nb; i++)
          moved = MAX (moved, abs_diff (t->attn + ((gsize) h * n + i) * n,
                                        demo->attn_alone[0] + ((gsize) h * nb + i) * nb, nb));
      g_test_message ("%s layer %d: |padded - alone| %.2g with the mask, %.2g without", model->name,
                      L, worst, moved);
      g_assert_cmpfloat (moved, >, 1e-3);
    }
}

static void
test_padding_tiny (gconstpointer data)
{
  AsModel *model = load_data_model (data);
  check_padding (model);
  as_model_free (model);
}

static void
test_padding_minilm (void)
{
  AsModel *model = load_minilm ();
  if (model == NULL)
    return;
  check_padding (model);
  as_model_free (model);
}

/* ---- refusals ----------------------------------------------------------------- */

static void
test_refusals (void)
{
  AsModel *bert = load_data_model ("bert-mlm-tiny");
  AsModel *llama = load_data_model ("llama-tiny");
  int ids[] = { 2, 10, 3 }, types[] = { 0, 0, 0 };
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = 3 };
  g_autoptr(GError) error = NULL;

  /* A layer out of range, either way. */
  const int bad_layers[] = { -1, bert->config->n_layers, 1000 };
  for (gsize i = 0; i < G_N_ELEMENTS (bad_layers); i++)
    {
      g_assert_null (as_layer_trace_compute (bert, &req, bad_layers[i], &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
      g_assert_nonnull (strstr (error->message, "layer"));
      g_clear_error (&error);
      g_assert_null (as_padding_demo_compute (bert, &req, &req, bad_layers[i], &error));
      g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
      g_clear_error (&error);
    }

  /* Tokens the model does not have. */
  int bad_ids[] = { 2, 100000, 3 };
  AsForwardRequest bad = { .ids = bad_ids, .type_ids = types, .n = 3 };
  g_assert_null (as_layer_trace_compute (bert, &bad, 0, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  g_assert_null (as_padding_demo_compute (bert, &req, &bad, 0, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);

  /* A raised cancel flag stops either between layers. */
  const gint cancel = 1;
  AsForwardRequest stopped = req;
  stopped.cancel = &cancel;
  g_assert_null (as_layer_trace_compute (bert, &stopped, 1, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_null (as_padding_demo_compute (bert, &stopped, &req, 1, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED);
  g_clear_error (&error);

  /* A causal model: its own mask already hides later tokens. */
  g_assert_null (as_padding_demo_compute (llama, &req, &req, 0, &error));
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "llama"));
  g_clear_error (&error);

  /* A family without a trace is named. */
  AsArchitecture without = *bert->arch;
  without.layer_trace = NULL;
  const AsArchitecture *real = bert->arch;
  bert->arch = &without;
  g_assert_null (as_layer_trace_compute (bert, &req, 0, &error));
  bert->arch = real;
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "bert"));
  g_clear_error (&error);

  as_model_free (bert);
  as_model_free (llama);
}

/* ---- the worker ----------------------------------------------------------------- */

typedef struct {
  gboolean       loaded;
  gboolean       failed;
  AsWorkerTrace *trace;        /* the last ::layer-trace-ready */
  guint          failed_gen;   /* the last ::channel-failed::trace */
  char          *fail_message;
  int            wrong;        /* reports of another channel */
  int            events;       /* reports so far, to order them */
  int            trace_at;     /* EVENTS when the last trace arrived */
  int            main_at;      /* EVENTS when the last main analysis finished */
} WorkerRun;

static void
on_loaded (AsWorker   *w,
           const char *dir,
           const char *name,
           WorkerRun  *r)
{
  r->loaded = TRUE;
}

static void
on_load_failed (AsWorker   *w,
                const char *dir,
                GError     *error,
                WorkerRun  *r)
{
  r->failed = TRUE;
}

static void
on_trace (AsWorker      *w,
          AsWorkerTrace *trace,
          WorkerRun     *r)
{
  g_clear_pointer (&r->trace, as_worker_trace_unref);
  r->trace = as_worker_trace_ref (trace);
  r->trace_at = ++r->events;
}

static void
on_main_finished (AsWorker   *w,
                  AsAnalysis *a,
                  WorkerRun  *r)
{
  r->main_at = ++r->events;
}

static void
on_trace_failed (AsWorker   *w,
                 int         channel,
                 guint       generation,
                 GError     *error,
                 WorkerRun  *r)
{
  if (channel != AS_CHANNEL_TRACE)
    r->wrong++;
  r->failed_gen = generation;
  g_free (r->fail_message);
  r->fail_message = g_strdup (error->message);
}

static gboolean
timed_out (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main context until DONE (a flag or generation in R) or 60 s. */
static void
wait_until (gboolean (*done) (WorkerRun *r, guint gen),
            WorkerRun  *r,
            guint       gen)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add_seconds (60, timed_out, &expired);
  while (!done (r, gen) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_assert_false (expired);
}

static gboolean
loaded (WorkerRun *r,
        guint      gen)
{
  return r->loaded || r->failed;
}

static gboolean
answered (WorkerRun *r,
          guint      gen)
{
  return (r->trace != NULL && r->trace->generation == gen) || r->failed_gen == gen;
}

static void
test_worker (void)
{
  WorkerRun r = { 0 };
  AsWorker *worker = as_worker_new ();
  g_signal_connect (worker, "model-loaded", G_CALLBACK (on_loaded), &r);
  g_signal_connect (worker, "model-failed", G_CALLBACK (on_load_failed), &r);
  g_signal_connect (worker, "layer-trace-ready", G_CALLBACK (on_trace), &r);
  g_signal_connect (worker, "channel-failed::trace", G_CALLBACK (on_trace_failed), &r);
  g_autofree char *dir = data_path ("bert-mlm-tiny");
  as_worker_load_model (worker, dir);
  wait_until (loaded, &r, 0);
  g_assert_true (r.loaded);

  /* Two in a row: only the second is answered. */
  guint first = as_worker_request_layer_trace (worker, "a dog", NULL, 0, NULL);
  guint gen = as_worker_request_layer_trace (worker, SENTENCE, "a dog", 1, "the cat");
  g_assert_cmpuint (gen, ==, first + 1);
  g_assert_cmpuint (as_worker_get_channel_generation (worker, AS_CHANNEL_TRACE), ==, gen);
  wait_until (answered, &r, gen);
  AsWorkerTrace *w = r.trace;
  g_assert_nonnull (w);
  g_assert_cmpuint (w->generation, ==, gen);
  g_assert_cmpstr (w->text_a, ==, SENTENCE);
  g_assert_cmpstr (w->text_b, ==, "a dog");
  g_assert_cmpstr (w->model_name, ==, "bert-mlm-tiny");
  g_assert_cmpint (w->layer, ==, 1);
  g_assert_nonnull (w->trace);
  g_assert_null (w->padding_error);
  g_assert_nonnull (w->padding);

  /* The same as the engine called directly on the same tokens. */
  AsModel *model = load_data_model ("bert-mlm-tiny");
  g_autofree int *ids = NULL, *types = NULL;
  const int n = encode (model, SENTENCE, "a dog", &ids, &types);
  g_assert_cmpint (w->encoding->n_tokens, ==, n);
  g_assert_cmpint (w->trace->n, ==, n);
  for (int i = 0; i < n; i++)
    g_assert_cmpint (w->encoding->tokens[i].id, ==, ids[i]);
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
  g_autoptr(GError) error = NULL;
  g_autoptr(AsLayerTrace) t = as_layer_trace_compute (model, &req, 1, &error);
  g_assert_no_error (error);
  const gsize nH = (gsize) n * t->hidden;
  g_assert_cmpmem (w->trace->out, nH * sizeof (float), t->out, nH * sizeof (float));
  g_assert_cmpmem (w->trace->attn, (gsize) t->n_heads * n * n * sizeof (float), t->attn,
                   (gsize) t->n_heads * n * n * sizeof (float));

  /* The padding text alone, as one sentence. */
  g_autofree int *pids = NULL, *ptypes = NULL;
  const int np = encode (model, "the cat", NULL, &pids, &ptypes);
  g_assert_cmpint (w->padding->n_seq[0], ==, n);
  g_assert_cmpint (w->padding->n_seq[1], ==, np);
  g_assert_cmpint (w->padding->n, ==, MAX (n, np));
  g_assert_cmpuint (g_strv_length (w->padding_tokens), ==, np);
  g_assert_cmpstr (w->padding_tokens[0], ==, "[CLS]");
  g_assert_cmpstr (w->padding_tokens[np - 1], ==, "[SEP]");
  for (int i = 0; i < np; i++)
    g_assert_cmpint (w->padding->ids[1][i], ==, pids[i]);

  /* A layer that does not exist: a message on the trace channel. */
  guint bad = as_worker_request_layer_trace (worker, SENTENCE, NULL, 99, "the cat");
  wait_until (answered, &r, bad);
  g_assert_cmpuint (r.failed_gen, ==, bad);
  g_assert_nonnull (strstr (r.fail_message, "layer 99"));
  g_assert_cmpuint (r.trace->generation, ==, gen);

  /* A decoder: the trace, and why there is no padding demonstration. */
  r.loaded = FALSE;
  g_autofree char *llama_dir = data_path ("llama-tiny");
  as_worker_load_model (worker, llama_dir);
  wait_until (loaded, &r, 0);
  g_assert_true (r.loaded);
  guint dec = as_worker_request_layer_trace (worker, SENTENCE, NULL, 1, "the cat");
  wait_until (answered, &r, dec);
  g_assert_cmpuint (r.trace->generation, ==, dec);
  g_assert_nonnull (r.trace->trace);
  g_assert_true (r.trace->trace->pre_norm);
  g_assert_null (r.trace->padding);
  g_assert_null (r.trace->padding_tokens);
  g_assert_nonnull (r.trace->padding_error);
  g_assert_nonnull (strstr (r.trace->padding_error, "llama"));
  g_assert_cmpint (r.wrong, ==, 0);

  g_object_unref (worker);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_pointer (&r.trace, as_worker_trace_unref);
  g_free (r.fail_message);
  as_model_free (model);
}

static gboolean
main_done (WorkerRun *r,
           guint      gen)
{
  return r->main_at > 0;
}

/* A trace under way stops for the sentence being typed and starts over
 * afterwards: the main analysis does not wait for the slow reference pass. */
static void
test_worker_gives_way (void)
{
  g_autofree char *dir = as_model_default_dir ();
  g_autofree char *st = g_build_filename (dir, "model.safetensors", NULL);
  if (!g_file_test (st, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("all-MiniLM-L6-v2 not downloaded (run tools/setup)");
      return;
    }
  WorkerRun r = { 0 };
  AsWorker *worker = as_worker_new ();
  g_signal_connect (worker, "model-loaded", G_CALLBACK (on_loaded), &r);
  g_signal_connect (worker, "model-failed", G_CALLBACK (on_load_failed), &r);
  g_signal_connect (worker, "layer-trace-ready", G_CALLBACK (on_trace), &r);
  g_signal_connect (worker, "channel-failed::trace", G_CALLBACK (on_trace_failed), &r);
  g_signal_connect (worker, "analysis-finished", G_CALLBACK (on_main_finished), &r);
  as_worker_load_model (worker, dir);
  wait_until (loaded, &r, 0);
  g_assert_true (r.loaded);

  /* About 250 tokens through three layers of the one-thread reference:
   * seconds, where the fast main pass of a short text takes milliseconds. */
  g_autoptr(GString) text = g_string_new (NULL);
  for (int i = 0; i < 40; i++)
    g_string_append (text, "The cat sat on the mat. ");
  guint gen = as_worker_request_layer_trace (worker, text->str, NULL, 2, NULL);
  g_usleep (300 * 1000);   /* the worker has taken it */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (r.trace != NULL)
    {
      /* A machine fast enough to finish it in 300 ms leaves nothing to
       * give way to. */
      g_test_skip ("the trace finished before the main analysis was asked for");
      g_object_unref (worker);
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_clear_pointer (&r.trace, as_worker_trace_unref);
      g_free (r.fail_message);
      return;
    }
  as_worker_analyse (worker, "Hello world", NULL);
  wait_until (main_done, &r, 0);
  wait_until (answered, &r, gen);
  g_assert_nonnull (r.trace);
  g_assert_cmpuint (r.trace->generation, ==, gen);
  g_assert_cmpint (r.trace->trace->n, >, 200);
  g_test_message ("main finished as report %d, the trace as report %d", r.main_at, r.trace_at);
  g_assert_cmpint (r.main_at, <, r.trace_at);

  g_object_unref (worker);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_pointer (&r.trace, as_worker_trace_unref);
  g_free (r.fail_message);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("ATTNSCOPE_DEVICE", "cpu", TRUE);
  g_test_add_func ("/layer-trace/invariants/minilm", test_invariants_minilm);
  g_test_add_func ("/layer-trace/invariants/smollm2", test_invariants_smollm2);
  g_test_add_data_func ("/layer-trace/invariants/bert-tiny", "bert-mlm-tiny", test_invariants_tiny);
  g_test_add_data_func ("/layer-trace/invariants/roberta-tiny", "roberta-tiny", test_invariants_tiny);
  g_test_add_data_func ("/layer-trace/invariants/distilbert-tiny", "distilbert-tiny",
                        test_invariants_tiny);
  g_test_add_data_func ("/layer-trace/invariants/llama-tiny", "llama-tiny", test_invariants_tiny);
  g_test_add_data_func ("/layer-trace/invariants/llama-tiny-gguf", "llama/tiny.gguf",
                        test_invariants_tiny);
  g_test_add_data_func ("/layer-trace/invariants/gpt2-tiny", "gpt2-tiny", test_invariants_tiny);
  g_test_add_func ("/layer-trace/golden", test_golden);
  g_test_add_data_func ("/layer-trace/padding/bert-tiny", "bert-mlm-tiny", test_padding_tiny);
  g_test_add_data_func ("/layer-trace/padding/roberta-tiny", "roberta-tiny", test_padding_tiny);
  g_test_add_data_func ("/layer-trace/padding/distilbert-tiny", "distilbert-tiny",
                        test_padding_tiny);
  g_test_add_func ("/layer-trace/padding/minilm", test_padding_minilm);
  g_test_add_func ("/layer-trace/refusals", test_refusals);
  g_test_add_func ("/layer-trace/worker", test_worker);
  g_test_add_func ("/layer-trace/worker-gives-way", test_worker_gives_way);
  return g_test_run ();
}
