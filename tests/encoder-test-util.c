/* encoder-test-util.c — golden fixtures, random stress models and
 * whole-pass capture. */
#include "encoder-test-util.h"

#include <math.h>
#include <string.h>

#include "as-bert.h"

static float *
random_weights (AsModel *model,
                GRand   *rand,
                gsize    count,
                double   mean,
                double   spread)
{
  float *buf = g_new (float, count);
  for (gsize i = 0; i < count; i++)
    buf[i] = (float) (mean + g_rand_double_range (rand, -spread, spread));
  g_ptr_array_add (model->owned, buf);
  return buf;
}

AsModel *
stress_model_new (const StressShape *s,
                  guint32            seed,
                  double             scale)
{
  const int H = s->hidden, F = s->ffn;
  AsModel *m = g_new0 (AsModel, 1);
  m->dir = g_strdup ("stress");
  m->name = g_strdup ("stress");
  m->owned = g_ptr_array_new_with_free_func (g_free);
  m->config = g_new0 (AsConfig, 1);
  *m->config = (AsConfig) {
    .arch = &as_arch_bert, .model_type = g_strdup ("bert"),
    .n_layers = s->layers, .n_heads = s->heads, .hidden = H, .head_dim = H / s->heads,
    .intermediate = F, .vocab_size = s->vocab, .max_positions = s->positions,
    .type_vocab_size = 2, .layer_norm_eps = 1e-12f,
  };

  AsBertWeights *bw = as_bert_weights_new (m, s->layers);
  GRand *rand = g_rand_new_with_seed (seed);
  bw->word_emb = random_weights (m, rand, (gsize) s->vocab * H, 0, 1);
  bw->pos_emb = random_weights (m, rand, (gsize) s->positions * H, 0, 1);
  bw->type_emb = random_weights (m, rand, (gsize) 2 * H, 0, 1);
  bw->emb_ln_g = random_weights (m, rand, H, 1, 0.2);
  bw->emb_ln_b = random_weights (m, rand, H, 0, 0.2);
  /* Q and K twice as large as V and O: peaked attention, tame residuals */
  const double w_h = scale / sqrt (H), w_i = scale / sqrt (F);
  for (int l = 0; l < s->layers; l++)
    {
      AsLayerWeights *w = &bw->layers[l];
      w->q_w = random_weights (m, rand, (gsize) H * H, 0, 2 * w_h);
      w->q_b = random_weights (m, rand, H, 0, 0.5);
      w->k_w = random_weights (m, rand, (gsize) H * H, 0, 2 * w_h);
      w->k_b = random_weights (m, rand, H, 0, 0.5);
      w->v_w = random_weights (m, rand, (gsize) H * H, 0, w_h);
      w->v_b = random_weights (m, rand, H, 0, 0.5);
      w->o_w = random_weights (m, rand, (gsize) H * H, 0, w_h);
      w->o_b = random_weights (m, rand, H, 0, 0.5);
      w->ln1_g = random_weights (m, rand, H, 1, 0.2);
      w->ln1_b = random_weights (m, rand, H, 0, 0.2);
      w->ff1_w = random_weights (m, rand, (gsize) F * H, 0, 2 * w_h);
      w->ff1_b = random_weights (m, rand, F, 0, 0.5);
      w->ff2_w = random_weights (m, rand, (gsize) H * F, 0, w_i);
      w->ff2_b = random_weights (m, rand, H, 0, 0.5);
      w->ln2_g = random_weights (m, rand, H, 1, 0.2);
      w->ln2_b = random_weights (m, rand, H, 0, 0.2);
    }
  g_rand_free (rand);
  return m;
}

void
stress_input (const AsModel *model,
              GRand         *rand,
              int            n,
              int          **ids,
              int          **types)
{
  *ids = g_new (int, n);
  *types = g_new (int, n);
  for (int i = 0; i < n; i++)
    {
      (*ids)[i] = g_rand_int_range (rand, 0, model->config->vocab_size);
      (*types)[i] = i > n / 2;
    }
}

typedef struct {
  float *attn;       /* [layers, heads, n, n] */
  gsize  per_layer;
  int    next;       /* the layer expected next */
} Capture;

static gboolean
capture_layer (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  Capture *c = user_data;
  g_assert_cmpint (layer, ==, c->next);
  c->next++;
  memcpy (c->attn + layer * c->per_layer, attn, c->per_layer * sizeof (float));
  return TRUE;
}

float *
forward_all (AsBackend              *backend,
             const AsForwardRequest *req,
             float                  *hidden)
{
  const AsConfig *c = backend->model->config;
  Capture cap = { .per_layer = (gsize) c->n_heads * req->n * req->n };
  cap.attn = g_new (float, c->n_layers * cap.per_layer);
  AsForwardRequest r = *req;
  r.on_layer = capture_layer;
  r.user_data = &cap;
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_forward (backend, &r, hidden, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cap.next, ==, c->n_layers);
  return cap.attn;
}

double
max_abs_diff (const float *a,
              const float *b,
              gsize        count)
{
  double worst = 0;
  for (gsize i = 0; i < count; i++)
    worst = MAX (worst, fabs ((double) a[i] - b[i]));
  return worst;
}

static JsonParser *golden_parser;
static JsonArray *golden_inputs;

JsonArray *
goldens_load (void)
{
  if (golden_inputs != NULL)
    return golden_inputs;
  g_autofree char *path = g_build_filename (g_getenv ("AS_TEST_DATA"), "attention-goldens.json", NULL);
  g_autoptr(GError) error = NULL;
  golden_parser = json_parser_new ();
  if (!json_parser_load_from_file (golden_parser, path, &error))
    g_error ("cannot read %s: %s", path, error->message);
  golden_inputs = json_object_get_array_member (json_node_get_object (json_parser_get_root (golden_parser)),
                                                "inputs");
  return golden_inputs;
}

void
goldens_free (void)
{
  golden_inputs = NULL;
  g_clear_object (&golden_parser);
}

static int *
json_int_array (JsonArray *arr)
{
  guint len = json_array_get_length (arr);
  int *out = g_new (int, MAX (len, 1));
  for (guint i = 0; i < len; i++)
    out[i] = (int) json_array_get_int_element (arr, i);
  return out;
}

JsonObject *
golden_input (guint  k,
              int  **ids,
              int  **types,
              int   *n)
{
  JsonObject *input = json_array_get_object_element (goldens_load (), k);
  JsonArray *ids_arr = json_object_get_array_member (input, "ids");
  *n = (int) json_array_get_length (ids_arr);
  *ids = json_int_array (ids_arr);
  *types = json_int_array (json_object_get_array_member (input, "type_ids"));
  return input;
}

AsSafetensors *
golden_open (JsonObject *input)
{
  g_autofree char *path = g_build_filename (g_getenv ("AS_TEST_DATA"),
                                            json_object_get_string_member (input, "file"), NULL);
  g_autoptr(GError) error = NULL;
  AsSafetensors *st = as_safetensors_open (path, &error);
  g_assert_no_error (error);
  return st;
}

float *
golden_tensor (AsSafetensors *st,
               const char    *name,
               gsize         *count)
{
  const AsTensorInfo *info = as_safetensors_lookup (st, name);
  g_assert_nonnull (info);
  float *out = g_new (float, info->n_elements);
  as_safetensors_copy_f32 (st, info, out);
  *count = info->n_elements;
  return out;
}

double
golden_attention_diff (const AsAnalysis *a,
                       AsSafetensors    *st)
{
  gsize n_rows, count;
  g_autofree float *rows = golden_tensor (st, "rows", &n_rows);
  g_autofree float *ref = golden_tensor (st, "attention", &count);   /* [L, NH, rows, n] */
  g_assert_cmpuint (count, ==, (gsize) a->n_layers * a->n_heads * n_rows * a->n);
  double worst = 0;
  for (int l = 0; l < a->n_layers; l++)
    for (int h = 0; h < a->n_heads; h++)
      for (gsize r = 0; r < n_rows; r++)
        {
          const float *ours = as_analysis_head (a, l, h) + (gsize) rows[r] * a->n;
          const float *theirs = ref + (((gsize) l * a->n_heads + h) * n_rows + r) * a->n;
          worst = MAX (worst, max_abs_diff (ours, theirs, a->n));
        }
  return worst;
}

double
golden_hidden_diff (const AsAnalysis *a,
                    AsSafetensors    *st)
{
  gsize n_rows, count;
  g_autofree float *rows = golden_tensor (st, "rows", &n_rows);
  g_autofree float *ref = golden_tensor (st, "last_hidden_state", &count);   /* [rows, H] */
  g_assert_cmpuint (count, ==, n_rows * a->hidden);
  g_assert_nonnull (a->final_hidden);
  double worst = 0;
  for (gsize r = 0; r < n_rows; r++)
    worst = MAX (worst, max_abs_diff (a->final_hidden + (gsize) rows[r] * a->hidden,
                                      ref + r * a->hidden, a->hidden));
  return worst;
}

double
max_row_sum_error (const AsAnalysis *a)
{
  double worst = 0;
  for (gsize r = 0; r < (gsize) a->n_layers * a->n_heads * a->n; r++)
    {
      double sum = 0;
      for (int j = 0; j < a->n; j++)
        sum += a->attn[r * a->n + j];
      worst = MAX (worst, fabs (sum - 1.0));
    }
  return worst;
}
