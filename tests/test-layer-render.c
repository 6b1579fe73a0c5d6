/* test-layer-render.c — the teaching view's layer pictures (as-layer-render),
 * drawn off screen.
 *
 * Each step past one head's attention is drawn to an image surface, from a
 * small trace made here (both layer shapes: BERT's post-norm with GELU, a
 * Llama's pre-norm with SwiGLU and RoPE) and, when the MiniLM folder is
 * downloaded, from the engine's own trace of a real sentence: no Cairo
 * error, the height it asks for is what it uses, and ink on the picture.
 * The numbers the pictures print are checked against cases worked out by
 * hand.
 */
#include <math.h>
#include <string.h>

#include "as-layer-render.h"
#include "as-model.h"
#include "as-teach-render.h"

#define WIDTH 900

/* ---- a trace made here ---------------------------------------------------- */

static float *
filled (gsize  n,
        double phase,
        double scale)
{
  float *v = g_new (float, n);   /* [n] */
  for (gsize i = 0; i < n; i++)
    v[i] = (float) (scale * sin (0.37 * i + phase));
  return v;
}

/* N tokens of a layer with HIDDEN = HEADS * D; PRE: a Llama's shape. */
static AsLayerTrace *
made_trace (int      n,
            int      heads,
            int      d,
            gboolean pre)
{
  AsLayerTrace *t = g_new0 (AsLayerTrace, 1);
  int H = heads * d, I = 4 * H;
  gsize nh = (gsize) n * H, ni = (gsize) n * I;
  t->layer = 1;
  t->n = n;
  t->hidden = H;
  t->n_heads = t->n_kv_heads = heads;
  t->head_dim = d;
  t->intermediate = I;
  t->pre_norm = pre;
  t->norm = pre ? AS_TRACE_NORM_RMS : AS_TRACE_NORM_LAYER;
  t->ffn = pre ? AS_TRACE_FFN_SWIGLU : AS_TRACE_FFN_GELU;
  t->norm_eps = 1e-5;
  t->token_embed = filled (nh, 0.1, 0.05);
  t->position_embed = pre ? NULL : filled (nh, 0.2, 0.03);
  t->type_embed = pre ? NULL : filled (nh, 0.3, 0.01);
  t->embed_sum = filled (nh, 0.4, 0.08);
  t->embed_out = pre ? g_memdup2 (t->embed_sum, nh * sizeof (float)) : filled (nh, 0.5, 1.0);
  t->x_in = g_memdup2 (t->embed_out, nh * sizeof (float));
  t->attn_in = pre ? filled (nh, 0.6, 1.0) : g_memdup2 (t->x_in, nh * sizeof (float));
  /* Rows of uniform attention (causal for the decoder): they sum to 1. */
  t->attn = g_new0 (float, (gsize) heads * n * n);
  for (int h = 0; h < heads; h++)
    for (int i = 0; i < n; i++)
      for (int j = 0; j <= (pre ? i : n - 1); j++)
        t->attn[((gsize) h * n + i) * n + j] = 1.0f / (pre ? i + 1 : n);
  t->context = filled (nh, 0.7, 0.4);
  t->attn_out = filled (nh, 0.8, 0.5);
  t->resid1 = filled (nh, 0.9, 1.2);
  t->h1 = pre ? g_memdup2 (t->resid1, nh * sizeof (float)) : filled (nh, 1.0, 1.0);
  t->ffn_in = filled (nh, 1.1, 1.0);
  t->ffn_pre = filled (ni, 1.2, 3.0);
  t->ffn_up = pre ? filled (ni, 1.3, 1.0) : NULL;
  t->ffn_act = filled (ni, 1.4, 1.0);
  t->ffn_out = filled (nh, 1.5, 0.6);
  t->resid2 = filled (nh, 1.6, 1.3);
  t->out = pre ? g_memdup2 (t->resid2, nh * sizeof (float)) : filled (nh, 1.7, 1.0);
  return t;
}

static void
made_trace_free (AsLayerTrace *t)
{
  float **bufs[] = { &t->token_embed, &t->position_embed, &t->type_embed, &t->embed_sum, &t->embed_out,
                     &t->x_in, &t->attn_in, &t->attn, &t->context, &t->attn_out, &t->resid1, &t->h1,
                     &t->ffn_in, &t->ffn_pre, &t->ffn_up, &t->ffn_act, &t->ffn_out, &t->resid2, &t->out };
  for (guint i = 0; i < G_N_ELEMENTS (bufs); i++)
    g_free (*bufs[i]);
  g_free (t);
}

/* Two sequences of N0 and N1 real tokens, padded; each head's padded
 * attention equal to its attention alone, padding keys 0. */
static AsPaddingDemo *
made_padding (int n0,
              int n1,
              int heads)
{
  AsPaddingDemo *p = g_new0 (AsPaddingDemo, 1);
  int ns[2] = { n0, n1 }, n = MAX (n0, n1);
  p->layer = 1;
  p->n_heads = heads;
  p->n = n;
  p->pad_id = 0;
  for (int s = 0; s < 2; s++)
    {
      p->n_seq[s] = ns[s];
      p->ids[s] = g_new0 (int, n);
      p->key_mask[s] = g_new (float, n);
      for (int j = 0; j < n; j++)
        p->key_mask[s][j] = j < ns[s] ? 0 : -INFINITY;
      p->attn[s] = g_new0 (float, (gsize) heads * n * n);
      p->attn_alone[s] = g_new0 (float, (gsize) heads * ns[s] * ns[s]);
      for (int h = 0; h < heads; h++)
        for (int i = 0; i < n; i++)
          for (int j = 0; j < ns[s]; j++)
            {
              float v = (float) (1 + (i + j + h) % 3);
              p->attn[s][((gsize) h * n + i) * n + j] = v;
              if (i < ns[s])
                p->attn_alone[s][((gsize) h * ns[s] + i) * ns[s] + j] = v;
            }
    }
  return p;
}

static void
made_padding_free (AsPaddingDemo *p)
{
  for (int s = 0; s < 2; s++)
    {
      g_free (p->ids[s]);
      g_free (p->key_mask[s]);
      g_free (p->attn[s]);
      g_free (p->attn_alone[s]);
    }
  g_free (p);
}

/* ---- drawing -------------------------------------------------------------- */

/* The share of pixels with ink (not transparent) in SURFACE. */
static double
ink (cairo_surface_t *surface)
{
  cairo_surface_flush (surface);
  int w = cairo_image_surface_get_width (surface), h = cairo_image_surface_get_height (surface);
  int stride = cairo_image_surface_get_stride (surface);
  const guint8 *data = cairo_image_surface_get_data (surface);
  gsize inked = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      inked += ((const guint32 *) (data + (gsize) y * stride))[x] >> 24 != 0;
  return (double) inked / MAX (1, (gsize) w * h);
}

/* Draws FRAME's step at WIDTH and checks the picture; returns its height. */
static double
draw_and_check (const AsLayerFrame *frame,
                const char         *what)
{
  double height = as_layer_render_height (frame, WIDTH);
  g_assert_cmpfloat (height, >, 100);
  g_assert_cmpfloat (height, <, 2000);
  /* Taller than it asked for: nothing may be drawn in the extra rows. */
  int extra = 200;
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, WIDTH, (int) height + extra);
  cairo_t *cr = cairo_create (surface);
  as_layer_render (cr, frame, WIDTH);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  double share = ink (surface);
  cairo_surface_t *below = cairo_surface_create_for_rectangle (surface, 0, height, WIDTH, extra);
  cairo_surface_t *copy = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, WIDTH, extra);
  cairo_t *cc = cairo_create (copy);
  cairo_set_source_surface (cc, below, 0, 0);
  cairo_paint (cc);
  cairo_destroy (cc);
  double spill = ink (copy);
  g_test_message ("%s: %.0f px tall, %.1f%% inked, %.2f%% below its height", what, height, share * 100,
                  spill * 100);
  g_assert_cmpfloat (share, >, 0.03);
  g_assert_cmpfloat (spill, ==, 0);
  cairo_surface_destroy (copy);
  cairo_surface_destroy (below);
  cairo_surface_destroy (surface);
  return height;
}

static const AsTeachStep layer_steps[] = {
  AS_TEACH_STEP_EMBED, AS_TEACH_STEP_HEADS, AS_TEACH_STEP_RESIDUAL,
  AS_TEACH_STEP_FFN, AS_TEACH_STEP_LAYER_OUT, AS_TEACH_STEP_PADDING,
};

static void
draw_every_step (const AsLayerTrace  *trace,
                 const AsPaddingDemo *padding,
                 const char * const  *tokens,
                 const char * const  *pad_tokens,
                 gboolean             causal,
                 gboolean             dark)
{
  for (guint s = 0; s < G_N_ELEMENTS (layer_steps); s++)
    {
      AsLayerFrame f = {
        .step = layer_steps[s],
        .trace = trace,
        .token = MIN (3, trace->n - 1),
        .head = trace->n_heads - 1,
        .tokens = tokens,
        .z_check = 1e-7,
        .attn_check = -1,
        .colormap = AS_COLORMAP_VIRIDIS,
        .dark = dark,
        .model_causal = causal,
        .padding = padding,
        .padding_tokens = { tokens, pad_tokens },
      };
      g_autofree char *what = g_strdup_printf ("step %d (%s%s)", layer_steps[s] + 1,
                                               causal ? "decoder" : "encoder", dark ? ", dark" : "");
      draw_and_check (&f, what);
    }
}

static const char *tokens8[] = { "[CLS]", "the", "cat", "sat", "on", "the", "mat", "[SEP]", NULL };

static void
test_encoder_steps (void)
{
  AsLayerTrace *t = made_trace (8, 4, 8, FALSE);
  AsPaddingDemo *p = made_padding (8, 5, 4);
  static const char *pad_tokens[] = { "[CLS]", "a", "dog", ".", "[SEP]", NULL };
  draw_every_step (t, p, tokens8, pad_tokens, FALSE, FALSE);
  draw_every_step (t, p, tokens8, pad_tokens, FALSE, TRUE);

  /* The padding step without its demonstration (still on its way, or
   * refused): a note, not a crash. */
  AsLayerFrame f = { .step = AS_TEACH_STEP_PADDING, .trace = t, .token = 0, .head = 0, .tokens = tokens8,
                     .padding_note = "the engine refused" };
  g_assert_cmpfloat (as_layer_render_height (&f, WIDTH), >, 0);

  /* Out of range: nothing drawn, no crash. */
  f.token = 8;
  g_assert_cmpfloat (as_layer_render_height (&f, WIDTH), ==, 0);
  f.token = 0;
  f.head = 4;
  g_assert_cmpfloat (as_layer_render_height (&f, WIDTH), ==, 0);
  f.head = 0;
  f.step = AS_TEACH_STEP_SOFTMAX;
  g_assert_cmpfloat (as_layer_render_height (&f, WIDTH), ==, 0);
  f.trace = NULL;
  f.step = AS_TEACH_STEP_FFN;
  g_assert_cmpfloat (as_layer_render_height (&f, WIDTH), ==, 0);
  made_padding_free (p);
  made_trace_free (t);
}

static void
test_decoder_steps (void)
{
  AsLayerTrace *t = made_trace (8, 3, 16, TRUE);
  draw_every_step (t, NULL, tokens8, NULL, TRUE, FALSE);
  made_trace_free (t);
}

/* The two renderers split the walk between them: every step is drawn by
 * exactly one. */
static void
test_steps_split (void)
{
  for (int s = 0; s < AS_N_TEACH_STEPS; s++)
    g_assert_cmpint (as_teach_step_is_attention (s), !=, as_layer_step_is_layer (s));
  g_assert_true (as_layer_step_is_layer (AS_TEACH_STEP_EMBED));
  g_assert_true (as_teach_step_is_attention (AS_TEACH_STEP_QUERY));
  g_assert_true (as_teach_step_is_attention (AS_TEACH_STEP_OUTPUT));
  g_assert_true (as_layer_step_is_layer (AS_TEACH_STEP_PADDING));
}

/* ---- the numbers the pictures print ---------------------------------------- */

static void
test_padding_difference (void)
{
  AsPaddingDemo *p = made_padding (6, 4, 2);
  /* Made equal: the padded batch matches each sentence alone exactly. */
  for (int s = 0; s < 2; s++)
    for (int h = 0; h < 2; h++)
      g_assert_cmpfloat (as_layer_padding_difference (p, s, h), ==, 0);
  /* A real key off by 0.25 in one cell. */
  p->attn[1][((gsize) 1 * 6 + 2) * 6 + 3] += 0.25f;
  g_assert_cmpfloat_with_epsilon (as_layer_padding_difference (p, 1, 1), 0.25, 1e-7);
  g_assert_cmpfloat (as_layer_padding_difference (p, 1, 0), ==, 0);
  /* Weight on a padding key (column 5 of sequence 1) is an error too. */
  p->attn[1][((gsize) 0 * 6 + 1) * 6 + 5] = 0.5f;
  g_assert_cmpfloat_with_epsilon (as_layer_padding_difference (p, 1, 0), 0.5, 1e-7);
  /* A padding query row (row 4 of sequence 1) is thrown away: not counted. */
  p->attn[1][((gsize) 0 * 6 + 4) * 6 + 0] = 9.0f;
  g_assert_cmpfloat_with_epsilon (as_layer_padding_difference (p, 1, 0), 0.5, 1e-7);
  g_assert_cmpfloat (as_layer_padding_difference (p, 2, 0), <, 0);
  g_assert_cmpfloat (as_layer_padding_difference (p, 0, 2), <, 0);
  g_assert_cmpfloat (as_layer_padding_difference (NULL, 0, 0), <, 0);
  made_padding_free (p);
}

static void
test_sparsity_and_cosine (void)
{
  AsLayerTrace *t = made_trace (2, 1, 2, FALSE);   /* H 2, I 8 */
  /* Token 1's activations: largest |a| 2, so "near zero" is under 0.1. */
  const float act[8] = { 2.0f, -0.05f, 0.09f, -0.1f, 0.5f, -0.3f, 0.0f, 1.0f };
  memcpy (t->ffn_act + 8, act, sizeof act);
  double near_zero, negative;
  g_assert_true (as_layer_ffn_sparsity (t, 1, &near_zero, &negative));
  g_assert_cmpfloat_with_epsilon (near_zero, 3.0 / 8, 1e-12);   /* -0.05, 0.09, 0 */
  g_assert_cmpfloat_with_epsilon (negative, 3.0 / 8, 1e-12);    /* -0.05, -0.1, -0.3 */
  g_assert_false (as_layer_ffn_sparsity (t, 2, &near_zero, &negative));

  /* x = (1, 0), out = (1, 1): 45 degrees. */
  t->x_in[2] = 1, t->x_in[3] = 0;
  t->out[2] = 1, t->out[3] = 1;
  g_assert_cmpfloat_with_epsilon (as_layer_in_out_cosine (t, 1), 1 / sqrt (2), 1e-7);
  t->out[2] = -2, t->out[3] = 0;
  g_assert_cmpfloat_with_epsilon (as_layer_in_out_cosine (t, 1), -1, 1e-7);
  t->out[2] = 0;
  g_assert_cmpfloat (as_layer_in_out_cosine (t, 1), ==, 0);
  g_assert_cmpfloat (as_layer_in_out_cosine (t, -1), ==, 0);
  made_trace_free (t);
}

/* ---- the engine's own trace ------------------------------------------------- */

static void
test_real_trace (void)
{
  g_autofree char *dir = as_model_default_dir ();
  g_autofree char *config = g_build_filename (dir != NULL ? dir : ".", "config.json", NULL);
  if (dir == NULL || !g_file_test (config, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("the MiniLM folder is not downloaded (run tools/setup)");
      return;
    }
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  AsEncoding *a = as_tokenizer_encode (model->tokenizer, "The animal didn't cross the street because it was too tired.",
                                       NULL, 512);
  AsEncoding *b = as_tokenizer_encode (model->tokenizer, "The cat sat.", NULL, 512);
  AsEncoding *enc[2] = { a, b };
  int *ids[2];                 /* [n_tokens] each */
  int *types[2];               /* [n_tokens] each */
  AsForwardRequest req[2];
  const char **labels[2];      /* [n_tokens + 1] each, NULL-terminated */
  for (int s = 0; s < 2; s++)
    {
      ids[s] = g_new (int, enc[s]->n_tokens);
      types[s] = g_new (int, enc[s]->n_tokens);
      labels[s] = g_new0 (const char *, enc[s]->n_tokens + 1);
      for (int i = 0; i < enc[s]->n_tokens; i++)
        {
          ids[s][i] = enc[s]->tokens[i].id;
          types[s][i] = enc[s]->tokens[i].type_id;
          labels[s][i] = enc[s]->tokens[i].text;
        }
      req[s] = (AsForwardRequest) { .ids = ids[s], .type_ids = types[s], .n = enc[s]->n_tokens };
    }
  AsLayerTrace *trace = as_layer_trace_compute (model, &req[0], 2, &error);
  g_assert_no_error (error);
  AsPaddingDemo *padding = as_padding_demo_compute (model, &req[0], &req[1], 2, &error);
  g_assert_no_error (error);
  g_assert_cmpint (padding->n, ==, a->n_tokens);
  draw_every_step (trace, padding, labels[0], labels[1], FALSE, FALSE);
  for (int h = 0; h < padding->n_heads; h++)
    g_assert_cmpfloat (as_layer_padding_difference (padding, 1, h), <, 1e-5);
  as_padding_demo_free (padding);
  as_layer_trace_free (trace);
  for (int s = 0; s < 2; s++)
    {
      g_free (ids[s]);
      g_free (types[s]);
      g_free (labels[s]);
    }
  as_encoding_free (a);
  as_encoding_free (b);
  as_model_free (model);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/layer-render/steps-split", test_steps_split);
  g_test_add_func ("/layer-render/encoder", test_encoder_steps);
  g_test_add_func ("/layer-render/decoder", test_decoder_steps);
  g_test_add_func ("/layer-render/padding-difference", test_padding_difference);
  g_test_add_func ("/layer-render/sparsity-cosine", test_sparsity_and_cosine);
  g_test_add_func ("/layer-render/real-trace", test_real_trace);
  return g_test_run ();
}
