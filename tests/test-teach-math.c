/* test-teach-math.c — the teaching view's arithmetic, without GTK.
 *
 * The sinusoid against values worked out from its formula, and against the
 * property that makes it useful (the dot product of two positions depends
 * only on their distance); cosine similarity on hand-built rows; the
 * step-by-step attention on a hand-worked 3-token example, then against the
 * engine's own attention for every head and query of a real sentence, with
 * and without the causal mask. RoPE: the angles against their published
 * formula, turning back against turning forward, the relative-position
 * property, and on SmolLM2 the keys of one token at two places, which turned
 * back must be one key (layer 0 sees only the token before RoPE).
 */
#include <math.h>
#include <string.h>

#include "as-attention.h"
#include "as-backend.h"
#include "as-elementwise.h"
#include "as-error.h"
#include "as-model.h"
#include "as-teach-math.h"

#define SAMPLE "The animal didn't cross the street because it was too tired."

static void
test_sinusoid_values (void)
{
  /* d = 6: frequencies 1, 10000^(-2/6), 10000^(-4/6). */
  float pe[4 * 6];   /* [4, 6] */
  as_sinusoid_encoding (4, 6, pe);
  for (int c = 0; c < 6; c++)
    g_assert_cmpfloat_with_epsilon (pe[c], c % 2 == 0 ? 0.0 : 1.0, 1e-7);
  const double pos1[6] = { 0.8414709848, 0.5403023059, 0.0463992235, 0.9989229760, 0.0021544330, 0.9999976792 };
  const double pos3[6] = { 0.1411200081, -0.9899924966, 0.1387981011, 0.9903206991, 0.0064632591, 0.9999791129 };
  for (int c = 0; c < 6; c++)
    {
      g_assert_cmpfloat_with_epsilon (pe[1 * 6 + c], pos1[c], 1e-6);
      g_assert_cmpfloat_with_epsilon (pe[3 * 6 + c], pos3[c], 1e-6);
    }
  /* Column 0 is sin(pos), column 1 cos(pos), at every position. */
  float big[200 * 64];   /* [200, 64] */
  as_sinusoid_encoding (200, 64, big);
  for (int pos = 0; pos < 200; pos++)
    {
      g_assert_cmpfloat_with_epsilon (big[pos * 64], sin (pos), 1e-6);
      g_assert_cmpfloat_with_epsilon (big[pos * 64 + 1], cos (pos), 1e-6);
      /* sin^2 + cos^2 = 1 for every frequency pair: each row's norm^2 is d/2. */
      double norm2 = 0;
      for (int c = 0; c < 64; c++)
        norm2 += (double) big[pos * 64 + c] * big[pos * 64 + c];
      g_assert_cmpfloat_with_epsilon (norm2, 32.0, 1e-4);
    }
  /* An odd dimension ends on a sine. */
  float odd[2 * 5];   /* [2, 5] */
  as_sinusoid_encoding (2, 5, odd);
  g_assert_cmpfloat_with_epsilon (odd[5 + 4], sin (1 / pow (10000, 4.0 / 5)), 1e-7);
}

static void
test_sinusoid_relative (void)
{
  /* PE(p) · PE(p+k) = sum_i cos(k w_i): the same for every p. */
  enum { N = 128, D = 32 };
  g_autofree float *pe = g_new (float, N * D);   /* [N, D] */
  as_sinusoid_encoding (N, D, pe);
  for (int k = 1; k < 20; k += 3)
    {
      double expect = 0;
      for (int i = 0; i < D / 2; i++)
        expect += cos (k / pow (10000, 2.0 * i / D));
      for (int p = 0; p + k < N; p += 7)
        {
          double dot = 0;
          for (int c = 0; c < D; c++)
            dot += (double) pe[p * D + c] * pe[(p + k) * D + c];
          g_assert_cmpfloat_with_epsilon (dot, expect, 1e-4);
        }
    }
}

static void
test_cosine (void)
{
  const float m[4 * 3] = {   /* [4, 3] */
    1, 0, 0,
    2, 0, 0,     /* parallel to row 0 */
    0, 3, 0,     /* orthogonal */
    -1, 1, 0,    /* 135 degrees from row 0 */
  };
  float out[4 * 4];   /* [4, 4] */
  as_cosine_similarity (m, 4, 3, out);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat_with_epsilon (out[i * 4 + i], 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (out[0 * 4 + 1], 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (out[0 * 4 + 2], 0.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (out[0 * 4 + 3], -M_SQRT1_2, 1e-6);
  g_assert_cmpfloat_with_epsilon (out[2 * 4 + 3], M_SQRT1_2, 1e-6);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++)
      g_assert_cmpfloat (out[i * 4 + j], ==, out[j * 4 + i]);

  /* A zero row is similar to nothing (and not NaN). */
  const float z[2 * 2] = { 0, 0, 1, 1 };   /* [2, 2] */
  float zo[4];
  as_cosine_similarity (z, 2, 2, zo);
  g_assert_cmpfloat (zo[0], ==, 0);
  g_assert_cmpfloat (zo[1], ==, 0);
  g_assert_cmpfloat_with_epsilon (zo[3], 1.0, 1e-6);
}

/* Hand-worked: head 1 (columns 2..3) of hidden 4, 3 tokens, d = 2.
 * q_0 = (1, 0); k = (1, 0), (0, 1), (-1, 0): scores 1, 0, -1; scaled by
 * 1/sqrt 2; softmax (e^0.7071, 1, e^-0.7071) / 3.5212. */
static void
test_steps_hand (void)
{
  const float q[3 * 4] = { 9, 9, 1, 0,   9, 9, 0, 1,   9, 9, 5, 5 };   /* [3, 4] */
  const float k[3 * 4] = { 9, 9, 1, 0,   9, 9, 0, 1,   9, 9, -1, 0 };  /* [3, 4] */
  const float v[3 * 4] = { 9, 9, 1, 2,   9, 9, 3, -1,  9, 9, 0, 4 };   /* [3, 4] */
  g_autoptr(GError) error = NULL;
  g_autoptr(AsAttentionSteps) s = as_attention_steps_compute (q, k, v, 3, 4, 2, 1, 0, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (s->head_dim, ==, 2);
  g_assert_cmpfloat_with_epsilon (s->scale, 0.7071067812, 1e-9);
  g_assert_cmpfloat (s->q[0], ==, 1);
  g_assert_cmpfloat (s->q[1], ==, 0);
  g_assert_cmpfloat (s->k[2 * 2], ==, -1);
  const double scores[3] = { 1, 0, -1 };
  const double probs[3] = { 0.5759753452, 0.2839954097, 0.1400292450 };
  for (int j = 0; j < 3; j++)
    {
      g_assert_cmpfloat_with_epsilon (s->scores[j], scores[j], 1e-9);
      g_assert_cmpfloat_with_epsilon (s->scaled[j], scores[j] * 0.7071067812, 1e-9);
      g_assert_false (s->masked[j]);
      g_assert_cmpfloat_with_epsilon (s->probs[j], probs[j], 1e-9);
    }
  g_assert_cmpfloat_with_epsilon (s->output[0], 1.4279615744, 1e-9);
  g_assert_cmpfloat_with_epsilon (s->output[1], 1.4280722609, 1e-9);

  /* Causal, query 1: key 2 masked; softmax over (e^0.7071, 1). */
  g_autoptr(AsAttentionSteps) c = as_attention_steps_compute (q, k, v, 3, 4, 2, 1, 1, TRUE, &error);
  g_assert_no_error (error);
  /* q_1 = (0, 1): scores 0, 1, 0. */
  g_assert_cmpfloat_with_epsilon (c->scores[1], 1.0, 1e-9);
  g_assert_true (c->masked[2]);
  g_assert_false (c->masked[0]);
  g_assert_cmpfloat (c->probs[2], ==, 0);
  g_assert_cmpfloat_with_epsilon (c->probs[0], 1 / (1 + exp (M_SQRT1_2)), 1e-9);
  g_assert_cmpfloat_with_epsilon (c->probs[1], exp (M_SQRT1_2) / (1 + exp (M_SQRT1_2)), 1e-9);

  /* Bad requests are errors, not crashes. */
  AsAttentionSteps *bad = as_attention_steps_compute (q, k, v, 3, 4, 2, 2, 0, FALSE, &error);
  g_assert_null (bad);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  bad = as_attention_steps_compute (q, k, v, 3, 4, 2, 0, 3, FALSE, &error);
  g_assert_null (bad);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
  g_clear_error (&error);
  bad = as_attention_steps_compute (q, k, v, 3, 4, 3, 0, 0, FALSE, &error);
  g_assert_null (bad);
  g_assert_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT);
}

typedef struct {
  int    layer;
  float *out;   /* [n_heads, n, n] */
  gsize  size;
} Capture;

static gboolean
capture_layer (int          layer,
               const float *attn,
               const float *hidden,
               gpointer     user_data)
{
  Capture *c = user_data;
  if (layer == c->layer)
    memcpy (c->out, attn, c->size * sizeof (float));
  return TRUE;
}

/* The steps from the engine's Q, K, V against the engine's attention, for
 * every head and query of LAYER; returns the largest difference. */
static double
check_layer (AsBackend   *backend,
             AsAnalysis *ref,
             int          layer,
             gboolean     causal)
{
  const AsConfig *c = backend->model->config;
  int n = ref->n, H = c->hidden;
  g_autofree int *ids = g_new (int, n);
  g_autofree int *types = g_new (int, n);
  for (int i = 0; i < n; i++)
    {
      ids[i] = ref->encoding->tokens[i].id;
      types[i] = ref->encoding->tokens[i].type_id;
    }
  g_autofree float *q = g_new (float, (gsize) n * H);   /* [n, hidden] */
  g_autofree float *k = g_new (float, (gsize) n * H);   /* [n, hidden] */
  g_autofree float *v = g_new (float, (gsize) n * H);   /* [n, hidden] */
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n, .causal_mask = causal };
  g_autoptr(GError) error = NULL;
  g_assert_true (as_backend_layer_qkv (backend, &req, layer, q, k, v, &error));
  g_assert_no_error (error);

  /* The engine's attention for this layer, with the same mask. */
  gsize size = (gsize) c->n_heads * n * n;
  g_autofree float *attn = g_new (float, size);   /* [n_heads, n, n] */
  Capture cap = { layer, attn, size };
  req.on_layer = capture_layer;
  req.user_data = &cap;
  g_assert_true (as_backend_forward (backend, &req, NULL, &error));

  double worst = 0;
  for (int h = 0; h < c->n_heads; h++)
    for (int i = 0; i < n; i++)
      {
        g_autoptr(AsAttentionSteps) s = as_attention_steps_compute (q, k, v, n, H, c->n_heads, h, i, causal, &error);
        g_assert_no_error (error);
        const float *row = attn + ((gsize) h * n + i) * n;
        double sum = 0;
        for (int j = 0; j < n; j++)
          {
            worst = MAX (worst, fabs (s->probs[j] - row[j]));
            sum += s->probs[j];
            if (causal && j > i)
              g_assert_cmpfloat (row[j], ==, 0);
          }
        g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-9);
        if (!causal)
          for (int j = 0; j < n; j++)
            g_assert_cmpfloat (fabs (as_analysis_head (ref, layer, h)[(gsize) i * n + j] - row[j]), <, 1e-6);
      }
  return worst;
}

static void
test_steps_match_engine (void)
{
  g_autofree char *dir = as_model_default_dir ();
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  if (model == NULL)
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  AsBackend *backend = as_cpu_backend_new (model);
  AsAnalysis *ref = as_attention_compute (backend, SAMPLE, NULL, &error);
  g_assert_no_error (error);

  int layers[] = { 0, model->config->n_layers / 2, model->config->n_layers - 1 };
  for (guint l = 0; l < G_N_ELEMENTS (layers); l++)
    for (int causal = 0; causal <= 1; causal++)
      {
        double worst = check_layer (backend, ref, layers[l], causal);
        g_test_message ("layer %d%s: max |steps softmax - engine attention| = %.3g over %d heads x %d queries",
                        layers[l], causal ? " (causal)" : "", worst, model->config->n_heads, ref->n);
        g_assert_cmpfloat (worst, <, 1e-5);
      }
  as_analysis_unref (ref);
  as_backend_free (backend);
  as_model_free (model);
}

/* ---- RoPE ---------------------------------------------------------------- */

static void
test_rope_angles (void)
{
  /* theta_j = base^(-2j/d) (Su et al. 2021, eq. 15), times the position. */
  const int d = 64;
  for (int j = 0; j < d / 2; j += 5)
    for (int pos = 0; pos < 300; pos += 37)
      {
        double want = pos * pow (10000.0, -2.0 * j / d);
        g_assert_cmpfloat (fabs (as_rope_angle (j, d, pos, 10000.0f) - want), <=, 1e-6 * MAX (1.0, want));
      }
  /* A unit vector on pair j is turned by exactly that angle. */
  float x[64] = { 0 };
  x[3] = 1;
  as_rope_head (x, d, 11, 10000.0f);
  double turned = remainder (atan2 (x[3 + d / 2], x[3]) - as_rope_angle (3, d, 11, 10000.0f), 2 * G_PI);
  g_assert_cmpfloat (fabs (turned), <, 1e-6);
}

static void
test_rope_unrotate (void)
{
  const int d = 64;
  float q[64], k[64], rq[64], rk[64], back[64];
  for (int c = 0; c < d; c++)
    {
      q[c] = sinf (0.37f * c + 0.1f);
      k[c] = cosf (0.21f * c * c - 0.4f);
    }
  memcpy (rq, q, sizeof q);
  as_rope_head (rq, d, 123, 100000.0f);
  as_rope_unrotate (rq, d, 123, 100000.0f, back);
  for (int c = 0; c < d; c++)
    g_assert_cmpfloat_with_epsilon (back[c], q[c], 1e-5);
  /* q_m . k_n after RoPE depends on m - n only. */
  double dots[2];
  for (int t = 0; t < 2; t++)
    {
      memcpy (rq, q, sizeof q);
      memcpy (rk, k, sizeof k);
      as_rope_head (rq, d, 9 + 40 * t, 10000.0f);
      as_rope_head (rk, d, 4 + 40 * t, 10000.0f);
      dots[t] = 0;
      for (int c = 0; c < d; c++)
        dots[t] += (double) rq[c] * rk[c];
    }
  g_assert_cmpfloat_with_epsilon (dots[0], dots[1], 1e-4);
}

/* SmolLM2's layer 0 keys as the engine hands them (after RoPE): one token
 * twice gives two different keys, the same key once turned back. */
static void
test_rope_engine_keys (void)
{
  g_autofree char *path = as_model_default_decoder_path ();
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip_printf ("the SmolLM2 GGUF is not downloaded (%s; run tools/setup)", path);
      return;
    }
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (path, &error);
  g_assert_no_error (error);
  const AsConfig *c = model->config;
  AsEncoding *enc = as_tokenizer_encode (model->tokenizer, "the cat and the dog and the bird", NULL,
                                         c->max_positions);
  int n = enc->n_tokens;
  g_autofree int *ids = g_new (int, n);
  g_autofree int *types = g_new0 (int, n);
  for (int i = 0; i < n; i++)
    ids[i] = enc->tokens[i].id;
  /* Two places of one token. */
  int a = -1, b = -1;
  for (int i = 0; i < n && b < 0; i++)
    for (int j = i + 1; j < n && b < 0; j++)
      if (ids[i] == ids[j])
        a = i, b = j;
  g_assert_cmpint (b, >, a);
  AsBackend *backend = as_cpu_backend_new (model);
  const int H = c->hidden, d = c->head_dim;
  g_autofree float *q = g_new (float, (gsize) n * H);   /* [n, hidden] */
  g_autofree float *k = g_new (float, (gsize) n * H);   /* [n, hidden] */
  g_autofree float *v = g_new (float, (gsize) n * H);   /* [n, hidden] */
  AsForwardRequest req = { .ids = ids, .type_ids = types, .n = n };
  g_assert_true (as_backend_layer_qkv (backend, &req, 0, q, k, v, &error));
  g_assert_no_error (error);
  for (int h = 0; h < c->n_heads; h++)
    {
      const float *ka = k + (gsize) a * H + h * d, *kb = k + (gsize) b * H + h * d;
      g_autofree float *ua = g_new (float, d);
      g_autofree float *ub = g_new (float, d);
      as_rope_unrotate (ka, d, a, c->rope_theta, ua);
      as_rope_unrotate (kb, d, b, c->rope_theta, ub);
      double moved = 0, left = 0, norm = 0;
      for (int x = 0; x < d; x++)
        {
          moved = MAX (moved, fabs (ka[x] - kb[x]));
          left = MAX (left, fabs (ua[x] - ub[x]));
          norm = MAX (norm, fabs (ua[x]));
        }
      g_assert_cmpfloat (moved, >, 1e-2 * norm);
      g_assert_cmpfloat (left, <, 1e-4 * MAX (1.0, norm));
      /* Heads of one group read one key: the same numbers. */
      if (h % (c->n_heads / c->n_kv_heads) != 0)
        g_assert_cmpint (memcmp (ka, ka - d, sizeof (float) * d), ==, 0);
    }
  as_backend_free (backend);
  as_encoding_free (enc);
  as_model_free (model);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/teach-math/sinusoid-values", test_sinusoid_values);
  g_test_add_func ("/teach-math/sinusoid-relative", test_sinusoid_relative);
  g_test_add_func ("/teach-math/cosine", test_cosine);
  g_test_add_func ("/teach-math/steps-hand", test_steps_hand);
  g_test_add_func ("/teach-math/steps-match-engine", test_steps_match_engine);
  g_test_add_func ("/teach-math/rope-angles", test_rope_angles);
  g_test_add_func ("/teach-math/rope-unrotate", test_rope_unrotate);
  g_test_add_func ("/teach-math/rope-engine-keys", test_rope_engine_keys);
  return g_test_run ();
}
