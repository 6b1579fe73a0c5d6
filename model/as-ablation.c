/* as-ablation.c — the replacement patterns of ablated heads, and the
 * measures of what ablating did (definitions in as-ablation.h).
 */
#include "as-ablation.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "as-elementwise.h"
#include "as-error.h"
#include "as-lm-head.h"

/* More would be every head of a 96-layer, 128-head model twice over. */
#define MAX_ABLATIONS 100000

static const char *const mode_names[] = {
  [AS_ABLATE_NONE] = "none",
  [AS_ABLATE_ZERO] = "zero",
  [AS_ABLATE_UNIFORM] = "uniform",
  [AS_ABLATE_MEAN] = "mean",
};

const char *
as_ablate_mode_to_string (AsAblateMode mode)
{
  if ((int) mode < 0 || mode > AS_ABLATE_MEAN)
    return "unknown";
  return mode_names[mode];
}

AsAblateMode
as_ablate_mode_from_string (const char *name)
{
  for (int m = AS_ABLATE_ZERO; m <= AS_ABLATE_MEAN; m++)
    if (name != NULL && strcmp (name, mode_names[m]) == 0)
      return m;
  return AS_ABLATE_NONE;
}

/* --- the replacement patterns ------------------------------------------------ */

gboolean
as_ablation_check_request (const AsModel          *model,
                           const AsForwardRequest *req,
                           GError                **error)
{
  const AsConfig *c = model->config;
  if (req->n_ablate == 0)
    return TRUE;
  if (req->n_ablate < 0 || req->n_ablate > MAX_ABLATIONS || req->ablate == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "%d heads to ablate: 1 to %d can be, given as a list",
                   req->n_ablate, MAX_ABLATIONS);
      return FALSE;
    }
  for (int i = 0; i < req->n_ablate; i++)
    {
      const AsHeadAblation *a = &req->ablate[i];
      if (a->layer < 0 || a->layer >= c->n_layers || a->head < 0 || a->head >= c->n_heads)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                       "cannot ablate layer %d, head %d: this model has %d layers of %d heads",
                       a->layer + 1, a->head + 1, c->n_layers, c->n_heads);
          return FALSE;
        }
      if (a->mode < AS_ABLATE_NONE || a->mode > AS_ABLATE_MEAN)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                       "layer %d, head %d: unknown ablation mode %d",
                       a->layer + 1, a->head + 1, (int) a->mode);
          return FALSE;
        }
    }
  return TRUE;
}

AsAblateMode
as_ablation_mode_of (const AsForwardRequest *req,
                     int                     layer,
                     int                     head)
{
  AsAblateMode mode = AS_ABLATE_NONE;
  for (int i = 0; i < req->n_ablate; i++)
    if (req->ablate[i].layer == layer && req->ablate[i].head == head)
      mode = req->ablate[i].mode;
  return mode;
}

/* Keys query I may see. */
static inline int
visible (int      i,
         int      n,
         gboolean causal)
{
  return causal ? i + 1 : n;
}

/* p [n, n]: row i = 1 / visible over its keys, 0 beyond. */
static void
replace_uniform (float    *p,
                 int       n,
                 gboolean  causal)
{
  for (int i = 0; i < n; i++)
    {
      float *p_i = p + (gsize) i * n;   /* [n] */
      const int seen = visible (i, n, causal);
      for (int j = 0; j < n; j++)
        p_i[j] = j < seen ? 1.0f / (float) seen : 0.0f;
    }
}

/* p [n, n]: every row the column mean of all rows (bidirectional), or row
 * i the mean of rows 0..i (causal); sums in row order, in fp32. */
static void
replace_mean (float    *p,
              int       n,
              gboolean  causal)
{
  float *sum = g_new0 (float, n);   /* [n] column sums of the rows so far */
  for (int i = 0; i < n; i++)
    {
      as_ablation_mean_sums (p + (gsize) i * n, 1, n, sum);   /* row i */
      if (causal)
        {
          float *out = p + (gsize) i * n;     /* [n] row i is read: overwrite it */
          for (int j = 0; j < n; j++)
            out[j] = j <= i ? sum[j] / (float) (i + 1) : 0.0f;
        }
    }
  if (!causal)
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++)
        p[(gsize) i * n + j] = sum[j] / (float) n;
  g_free (sum);
}

void
as_ablation_replace (float        *p,
                     int           n,
                     gboolean      causal,
                     AsAblateMode  mode)
{
  switch (mode)
    {
    case AS_ABLATE_ZERO:
      memset (p, 0, sizeof (float) * n * n);
      break;
    case AS_ABLATE_UNIFORM:
      replace_uniform (p, n, causal);
      break;
    case AS_ABLATE_MEAN:
      replace_mean (p, n, causal);
      break;
    case AS_ABLATE_NONE:
    default:
      break;
    }
}

void
as_ablation_mean_sums (const float *p,
                       int          rows,
                       int          n,
                       float       *sum)
{
  for (int i = 0; i < rows; i++)
    {
      const float *p_i = p + (gsize) i * n;   /* [n] */
      for (int j = 0; j < n; j++)
        sum[j] += p_i[j];
    }
}

void
as_ablation_replace_last_row (float        *row,
                              int           n_ctx,
                              AsAblateMode  mode,
                              float        *sum)
{
  switch (mode)
    {
    case AS_ABLATE_ZERO:
      memset (row, 0, sizeof (float) * n_ctx);
      break;
    case AS_ABLATE_UNIFORM:
      for (int j = 0; j < n_ctx; j++)
        row[j] = 1.0f / (float) n_ctx;
      break;
    case AS_ABLATE_MEAN:
      as_ablation_mean_sums (row, 1, n_ctx, sum);
      for (int j = 0; j < n_ctx; j++)
        row[j] = sum[j] / (float) n_ctx;
      break;
    case AS_ABLATE_NONE:
    default:
      break;
    }
}

void
as_ablation_apply_layer (const AsForwardRequest *req,
                         int                     layer,
                         float                  *att,
                         int                     n_heads,
                         gboolean                causal)
{
  const gsize n = req->n;
  for (int h = 0; h < n_heads && req->n_ablate > 0; h++)
    as_ablation_replace (att + h * n * n, req->n, causal, as_ablation_mode_of (req, layer, h));
}

/* --- the list as text ---------------------------------------------------------- */

/* A whole number from 1 to MAX in TEXT, or 0. */
static int
parse_index (const char *text,
             int         max)
{
  char *end = NULL;
  if (text == NULL || *text < '0' || *text > '9')
    return 0;
  long v = strtol (text, &end, 10);
  if (*end != '\0' || v < 1 || v > max)
    return 0;
  return (int) v;
}

AsHeadAblation *
as_ablation_parse (const AsModel *model,
                   const char    *spec,
                   int           *n_ablate,
                   GError       **error)
{
  const AsConfig *c = model->config;
  *n_ablate = 0;
  if (spec == NULL || *spec == '\0')
    {
      g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                           "no heads to ablate: give LAYER:HEAD[:zero|uniform|mean], comma-separated");
      return NULL;
    }
  g_auto (GStrv) items = g_strsplit (spec, ",", -1);
  const int count = g_strv_length (items);
  if (count > MAX_ABLATIONS)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "%d heads to ablate; at most %d", count, MAX_ABLATIONS);
      return NULL;
    }
  AsHeadAblation *out = g_new0 (AsHeadAblation, count);
  for (int i = 0; i < count; i++)
    {
      g_auto (GStrv) parts = g_strsplit (items[i], ":", -1);
      const int k = g_strv_length (parts);
      int layer = k >= 2 ? parse_index (parts[0], c->n_layers) : 0;
      int head = k >= 2 ? parse_index (parts[1], c->n_heads) : 0;
      AsAblateMode mode = k == 3 ? as_ablate_mode_from_string (parts[2]) : AS_ABLATE_ZERO;
      if (k < 2 || k > 3 || layer == 0 || head == 0 || mode == AS_ABLATE_NONE)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                       "cannot ablate '%s': give LAYER:HEAD[:zero|uniform|mean] with "
                       "LAYER 1 to %d and HEAD 1 to %d", items[i], c->n_layers, c->n_heads);
          g_free (out);
          return NULL;
        }
      out[i] = (AsHeadAblation) { layer - 1, head - 1, mode };
    }
  *n_ablate = count;
  return out;
}

char *
as_ablation_format (const AsHeadAblation *ablate,
                    int                   n_ablate)
{
  GString *s = g_string_new (NULL);
  for (int i = 0; i < n_ablate; i++)
    g_string_append_printf (s, "%s%d:%d:%s", i > 0 ? "," : "", ablate[i].layer + 1,
                            ablate[i].head + 1, as_ablate_mode_to_string (ablate[i].mode));
  return g_string_free (s, FALSE);
}

/* --- the measures ------------------------------------------------------------- */

struct _AsAblationOutput {
  gboolean next_token;
  int      len;      /* vocab or hidden */
  float   *values;   /* [vocab] next-token probabilities, or [hidden] the embedding */
};

/* OUT [H] = the mean over N tokens of FINAL_HIDDEN [n, H]. */
static void
mean_pool (float       *out,
           const float *final_hidden,
           int          n,
           int          H)
{
  for (int j = 0; j < H; j++)
    out[j] = 0.0f;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < H; j++)
      out[j] += final_hidden[(gsize) i * H + j];
  for (int j = 0; j < H; j++)
    out[j] /= (float) n;
}

AsAblationOutput *
as_ablation_output_compute (AsBackend            *backend,
                            const int            *ids,
                            const int            *type_ids,
                            int                   n,
                            const AsHeadAblation *ablate,
                            int                   n_ablate,
                            const gint           *cancel,
                            GError              **error)
{
  const AsModel *model = backend->model;
  const AsConfig *c = model->config;
  if (n < 1 || n > c->max_positions)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "%d tokens; this model takes 1 to %d", n, c->max_positions);
      return NULL;
    }
  g_autofree int *zeros = type_ids == NULL ? g_new0 (int, n) : NULL;
  AsForwardRequest req = {
    .ids = ids, .type_ids = type_ids != NULL ? type_ids : zeros, .n = n,
    .cancel = cancel, .ablate = ablate, .n_ablate = n_ablate,
  };
  g_autofree float *final_hidden = g_try_new (float, (gsize) n * c->hidden);   /* [n, H] */
  if (final_hidden == NULL)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_RESOURCES,
                   "not enough memory for the hidden states of %d tokens", n);
      return NULL;
    }
  if (!as_backend_forward (backend, &req, final_hidden, error))
    return NULL;

  AsAblationOutput *out = g_new0 (AsAblationOutput, 1);
  out->next_token = as_lm_head_available (model);
  if (out->next_token)
    {
      out->len = c->vocab_size;
      out->values = g_new (float, out->len);   /* [vocab] */
      as_lm_head_logits (model, final_hidden + (gsize) (n - 1) * c->hidden, 1, out->values);
      as_softmax_row (out->values, out->len, out->len);
    }
  else
    {
      out->len = c->hidden;
      out->values = g_new (float, out->len);   /* [H] */
      mean_pool (out->values, final_hidden, n, c->hidden);
    }
  return out;
}

void
as_ablation_output_free (AsAblationOutput *output)
{
  if (output == NULL)
    return;
  g_free (output->values);
  g_free (output);
}

/* KL(p || q) in nats over LEN outcomes, in double; a token q gives
 * probability 0 where p does not counts as FLT_MIN's worth, so that a
 * float underflow does not make the divergence infinite. */
static double
kl_divergence (const float *p,
               const float *q,
               int          len)
{
  double kl = 0.0;
  for (int i = 0; i < len; i++)
    if (p[i] > 0.0f)
      kl += (double) p[i] * (log ((double) p[i]) - log (MAX ((double) q[i], 1.17549435e-38)));
  return MAX (kl, 0.0);
}

static double
cosine (const float *a,
        const float *b,
        int          len)
{
  double ab = 0.0, aa = 0.0, bb = 0.0;
  for (int i = 0; i < len; i++)
    {
      ab += (double) a[i] * b[i];
      aa += (double) a[i] * a[i];
      bb += (double) b[i] * b[i];
    }
  return aa > 0.0 && bb > 0.0 ? ab / sqrt (aa * bb) : 0.0;
}

/* TOP [k]: the K largest of P [len], largest first, lower index on ties. */
static void
top_k (int         *top,
       int          k,
       const float *p,
       int          len)
{
  int have = 0;
  for (int i = 0; i < len; i++)
    {
      if (have == k && !(p[i] > p[top[k - 1]]))
        continue;
      int at = have < k ? have++ : k - 1;
      while (at > 0 && p[i] > p[top[at - 1]])
        {
          top[at] = top[at - 1];
          at--;
        }
      top[at] = i;
    }
}

void
as_ablation_effect_of (const AsAblationOutput *before,
                       const AsAblationOutput *after,
                       int                     n_top,
                       AsAblationEffect       *effect)
{
  memset (effect, 0, sizeof *effect);
  effect->next_token = before->next_token;
  effect->argmax_after = -1;
  if (!before->next_token)
    {
      effect->cosine = cosine (before->values, after->values, before->len);
      effect->score = 1.0 - effect->cosine;
      return;
    }
  effect->kl = kl_divergence (before->values, after->values, before->len);
  effect->score = effect->kl;
  effect->cosine = 1.0;
  effect->n_top = CLAMP (n_top, 0, MIN (AS_ABLATION_MAX_TOP, before->len));
  if (effect->n_top > 0)
    top_k (effect->top_ids, effect->n_top, before->values, before->len);
  for (int i = 0; i < effect->n_top; i++)
    {
      effect->p_before[i] = before->values[effect->top_ids[i]];
      effect->p_after[i] = after->values[effect->top_ids[i]];
    }
  top_k (&effect->argmax_after, 1, after->values, after->len);
  effect->p_argmax_after = after->values[effect->argmax_after];
}

gboolean
as_ablation_effect (AsBackend            *backend,
                    const int            *ids,
                    const int            *type_ids,
                    int                   n,
                    const AsHeadAblation *ablate,
                    int                   n_ablate,
                    int                   n_top,
                    AsAblationEffect     *effect,
                    GError              **error)
{
  AsAblationOutput *before = as_ablation_output_compute (backend, ids, type_ids, n,
                                                         NULL, 0, NULL, error);
  if (before == NULL)
    return FALSE;
  AsAblationOutput *after = as_ablation_output_compute (backend, ids, type_ids, n,
                                                        ablate, n_ablate, NULL, error);
  if (after == NULL)
    {
      as_ablation_output_free (before);
      return FALSE;
    }
  as_ablation_effect_of (before, after, n_top, effect);
  as_ablation_output_free (before);
  as_ablation_output_free (after);
  return TRUE;
}

/* --- the ranked table ------------------------------------------------------------ */

static int
compare_rank (gconstpointer a,
              gconstpointer b)
{
  const AsHeadRank *x = a, *y = b;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  if (x->layer != y->layer)
    return x->layer < y->layer ? -1 : 1;
  return x->head < y->head ? -1 : x->head > y->head;
}

GArray *
as_ablation_rank_heads (AsBackend          *backend,
                        const int          *ids,
                        const int          *type_ids,
                        int                 n,
                        int                 layer,
                        AsAblateMode        mode,
                        AsAblationProgress  progress,
                        gpointer            user_data,
                        const gint         *cancel,
                        GError            **error)
{
  const AsConfig *c = backend->model->config;
  if (layer < -1 || layer >= c->n_layers)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "layer %d out of range (this model has %d)", layer + 1, c->n_layers);
      return NULL;
    }
  if (mode < AS_ABLATE_ZERO || mode > AS_ABLATE_MEAN)
    {
      g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                           "rank heads by which ablation? zero, uniform or mean");
      return NULL;
    }
  const int first = layer < 0 ? 0 : layer, last = layer < 0 ? c->n_layers - 1 : layer;
  const int total = (last - first + 1) * c->n_heads;

  AsAblationOutput *before = as_ablation_output_compute (backend, ids, type_ids, n,
                                                         NULL, 0, cancel, error);
  if (before == NULL)
    return NULL;
  GArray *rows = g_array_sized_new (FALSE, FALSE, sizeof (AsHeadRank), total);
  for (int l = first; l <= last; l++)
    for (int h = 0; h < c->n_heads; h++)
      {
        const AsHeadAblation one = { l, h, mode };
        AsAblationOutput *after = as_ablation_output_compute (backend, ids, type_ids, n,
                                                              &one, 1, cancel, error);
        if (after == NULL)
          goto fail;
        AsAblationEffect e;
        as_ablation_effect_of (before, after, 0, &e);
        as_ablation_output_free (after);
        AsHeadRank row = { l, h, e.score, e.kl, e.cosine, e.argmax_after };
        g_array_append_val (rows, row);
        if (progress != NULL && !progress (rows->len, total, user_data))
          {
            g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED,
                                 "stopped by the caller");
            goto fail;
          }
      }
  as_ablation_output_free (before);
  g_array_sort (rows, compare_rank);
  return rows;

fail:
  as_ablation_output_free (before);
  g_array_unref (rows);
  return NULL;
}
