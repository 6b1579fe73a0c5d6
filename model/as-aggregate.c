/* as-aggregate.c — mean/max over heads, rollout, word merge, keeping tokens
 * (definitions in the header). */
#include "as-aggregate.h"

#include <cblas.h>
#include <string.h>

void
as_aggregate_mean_heads (const float *attn,
                         int          n_heads,
                         int          n,
                         float       *out)
{
  gsize nn = (gsize) n * n;
  double *acc = g_new0 (double, nn);          /* [n, n] */
  for (int h = 0; h < n_heads; h++)
    {
      const float *a = attn + h * nn;           /* [n, n] */
      for (gsize k = 0; k < nn; k++)
        acc[k] += a[k];
    }
  double scale = n_heads > 0 ? 1.0 / n_heads : 0.0;
  for (gsize k = 0; k < nn; k++)
    out[k] = (float) (acc[k] * scale);
  g_free (acc);
}

void
as_aggregate_max_heads (const float *attn,
                        int          n_heads,
                        int          n,
                        float       *out)
{
  gsize nn = (gsize) n * n;
  if (n_heads <= 0)
    {
      memset (out, 0, nn * sizeof (float));
      return;
    }
  memcpy (out, attn, nn * sizeof (float));
  for (int h = 1; h < n_heads; h++)
    {
      const float *a = attn + h * nn;           /* [n, n] */
      for (gsize k = 0; k < nn; k++)
        if (a[k] > out[k])
          out[k] = a[k];
    }
}

/* AHAT [n, n] = 0.5 mean_h LAYER_ATTN + 0.5 I, in double. */
static void
residual_mean (const float *layer_attn,
               int          n_heads,
               int          n,
               double      *ahat)
{
  gsize nn = (gsize) n * n;
  memset (ahat, 0, nn * sizeof (double));
  for (int h = 0; h < n_heads; h++)
    {
      const float *a = layer_attn + h * nn;     /* [n, n] */
      for (gsize k = 0; k < nn; k++)
        ahat[k] += a[k];
    }
  double scale = 0.5 / n_heads;
  for (gsize k = 0; k < nn; k++)
    ahat[k] *= scale;
  for (int i = 0; i < n; i++)
    ahat[(gsize) i * n + i] += 0.5;
}

/* R_1 .. R_L in double; each R_l goes to ALL + l n² when ALL is set, the
 * last to LAST when LAST is set. */
static void
rollout (const float *attn,
         int          n_layers,
         int          n_heads,
         int          n,
         float       *all,
         float       *last)
{
  g_return_if_fail (n_heads > 0 && n > 0);
  if (n_layers <= 0)
    return;
  gsize nn = (gsize) n * n;
  double *ahat = g_new (double, nn);   /* [n, n] this layer's Ahat */
  double *r = g_new (double, nn);      /* [n, n] R_l */
  double *r_prev = g_new (double, nn); /* [n, n] R_{l-1} */
  for (int l = 0; l < n_layers; l++)
    {
      const float *layer = attn + (gsize) l * n_heads * nn;   /* [n_heads, n, n] */
      if (l == 0)
        residual_mean (layer, n_heads, n, r);
      else
        {
          residual_mean (layer, n_heads, n, ahat);
          cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
                       1.0, ahat, n, r_prev, n, 0.0, r, n);
        }
      float *o = all != NULL ? all + (gsize) l * nn                  /* [n, n] */
               : l == n_layers - 1 ? last : NULL;
      if (o != NULL)
        for (gsize k = 0; k < nn; k++)
          o[k] = (float) r[k];
      if (all != NULL && last != NULL && l == n_layers - 1)
        memcpy (last, o, nn * sizeof (float));
      double *t = r_prev;
      r_prev = r;
      r = t;
    }
  g_free (ahat);
  g_free (r);
  g_free (r_prev);
}

void
as_aggregate_rollout (const float *attn,
                      int          n_layers,
                      int          n_heads,
                      int          n,
                      float       *out)
{
  rollout (attn, n_layers, n_heads, n, out, NULL);
}

void
as_aggregate_rollout_last (const float *attn,
                           int          n_layers,
                           int          n_heads,
                           int          n,
                           float       *out)
{
  rollout (attn, n_layers, n_heads, n, NULL, out);
}

void
as_aggregate_rollout_step (const float *layer_attn,
                           int          n_heads,
                           int          n,
                           const float *prev,
                           float       *out)
{
  g_return_if_fail (n_heads > 0 && n > 0 && prev != out);
  gsize nn = (gsize) n * n;
  double *ahat = g_new (double, nn);   /* [n, n] */
  residual_mean (layer_attn, n_heads, n, ahat);
  if (prev == NULL)
    {
      for (gsize k = 0; k < nn; k++)
        out[k] = (float) ahat[k];
      g_free (ahat);
      return;
    }
  double *p = g_new (double, nn);      /* [n, n] R_{l-1} */
  double *r = g_new (double, nn);      /* [n, n] R_l */
  for (gsize k = 0; k < nn; k++)
    p[k] = prev[k];
  cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
               1.0, ahat, n, p, n, 0.0, r, n);
  for (gsize k = 0; k < nn; k++)
    out[k] = (float) r[k];
  g_free (ahat);
  g_free (p);
  g_free (r);
}

int
as_aggregate_keep_tokens (const float    *attn,
                          int             n,
                          const gboolean *keep,
                          gboolean        renormalise,
                          float          *out)
{
  int *kept = g_new (int, MAX (n, 1));  /* [m] source index of each kept token */
  int m = 0;
  for (int i = 0; i < n; i++)
    if (keep[i])
      kept[m++] = i;
  for (int a = 0; a < m; a++)
    {
      const float *row = attn + (gsize) kept[a] * n;  /* [n] */
      float *o = out + (gsize) a * m;                 /* [m] */
      double mass = 0;
      for (int b = 0; b < m; b++)
        {
          o[b] = row[kept[b]];
          mass += o[b];
        }
      if (renormalise && mass > 0)
        for (int b = 0; b < m; b++)
          o[b] = (float) (o[b] / mass);
    }
  g_free (kept);
  return m;
}

AsWordMap *
as_word_map_from_encoding (const AsEncoding *enc)
{
  int n = enc->n_tokens;
  AsWordMap *map = g_new0 (AsWordMap, 1);
  map->n_tokens = n;
  map->word_of_token = g_new (int, MAX (n, 1));   /* [n_tokens] */
  GArray *first = g_array_new (FALSE, FALSE, sizeof (int));
  GPtrArray *labels = g_ptr_array_new ();
  GArray *special = g_array_new (FALSE, FALSE, sizeof (gboolean));
  GString *label = NULL;
  gboolean prev_special = TRUE;   /* a "##" piece right after a special token starts a word */

  for (int i = 0; i < n; i++)
    {
      const AsToken *t = &enc->tokens[i];
      const char *text = t->text != NULL ? t->text : "";
      gboolean joins = !t->is_special && t->is_continuation && !prev_special && i > 0;
      if (!joins)
        {
          if (label != NULL)
            g_ptr_array_add (labels, g_string_free (label, FALSE));
          label = g_string_new (NULL);
          g_array_append_val (first, i);
          gboolean s = t->is_special;
          g_array_append_val (special, s);
        }
      if (!t->is_special && t->is_continuation && g_str_has_prefix (text, "##"))
        text += 2;
      g_string_append (label, text);
      map->word_of_token[i] = (int) first->len - 1;
      prev_special = t->is_special;
    }
  if (label != NULL)
    g_ptr_array_add (labels, g_string_free (label, FALSE));
  g_ptr_array_add (labels, NULL);

  map->n_words = (int) first->len;
  g_array_append_val (first, n);
  map->first_token = (int *) g_array_free (first, FALSE);          /* [n_words + 1] */
  map->labels = (char **) g_ptr_array_free (labels, FALSE);        /* [n_words + 1] */
  map->is_special = (gboolean *) g_array_free (special, FALSE);    /* [n_words] */
  return map;
}

void
as_word_map_free (AsWordMap *map)
{
  if (map == NULL)
    return;
  g_free (map->word_of_token);
  g_free (map->first_token);
  g_strfreev (map->labels);
  g_free (map->is_special);
  g_free (map);
}

void
as_word_map_merge (const AsWordMap *map,
                   const float     *attn,
                   float           *out)
{
  int n = map->n_tokens;
  int w = map->n_words;
  double *row = g_new (double, MAX (w, 1));   /* [n_words] one word's row */
  for (int u = 0; u < w; u++)
    {
      memset (row, 0, (gsize) w * sizeof (double));
      int begin = map->first_token[u], end = map->first_token[u + 1];
      for (int i = begin; i < end; i++)
        {
          const float *a = attn + (gsize) i * n;   /* [n] */
          for (int j = 0; j < n; j++)
            row[map->word_of_token[j]] += a[j];
        }
      double scale = 1.0 / (end - begin);
      float *o = out + (gsize) u * w;              /* [n_words] */
      for (int v = 0; v < w; v++)
        o[v] = (float) (row[v] * scale);
    }
  g_free (row);
}
