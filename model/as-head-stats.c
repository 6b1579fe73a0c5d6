/* as-head-stats.c — per-head attention statistics (definitions in the header). */
#include "as-head-stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "as-shown.h"

AsTokenClasses *
as_token_classes_new (int n)
{
  g_return_val_if_fail (n >= 0, NULL);
  AsTokenClasses *c = g_new0 (AsTokenClasses, 1);
  c->n = n;
  c->flags = g_new0 (guint8, MAX (n, 1));   /* [n] */
  c->segment = g_new0 (int, MAX (n, 1));    /* [n] */
  c->n_segments = 1;
  return c;
}

void
as_token_classes_free (AsTokenClasses *classes)
{
  if (classes == NULL)
    return;
  g_free (classes->flags);
  g_free (classes->segment);
  g_free (classes);
}

void
as_token_classes_update (AsTokenClasses *classes)
{
  int top = 0;
  for (int i = 0; i < classes->n; i++)
    top = MAX (top, classes->segment[i]);
  classes->n_segments = top + 1;
}

static gboolean
char_is_punctuation (gunichar c)
{
  /* The ASCII symbols BERT's BasicTokenizer also treats as punctuation. */
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) ||
      (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
    return TRUE;
  switch (g_unichar_type (c))
    {
    case G_UNICODE_CONNECT_PUNCTUATION:
    case G_UNICODE_DASH_PUNCTUATION:
    case G_UNICODE_CLOSE_PUNCTUATION:
    case G_UNICODE_FINAL_PUNCTUATION:
    case G_UNICODE_INITIAL_PUNCTUATION:
    case G_UNICODE_OTHER_PUNCTUATION:
    case G_UNICODE_OPEN_PUNCTUATION:
      return TRUE;
    default:
      return FALSE;
    }
}

gboolean
as_text_is_punctuation (const char *text)
{
  if (text == NULL)
    return FALSE;
  if (g_str_has_prefix (text, "##") && text[2] != '\0')
    text += 2;
  if (*text == '\0' || !g_utf8_validate (text, -1, NULL))
    return FALSE;
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    if (!char_is_punctuation (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

AsTokenClasses *
as_token_classes_from_encoding (const AsEncoding *enc)
{
  AsTokenClasses *c = as_token_classes_new (enc->n_tokens);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      const AsToken *t = &enc->tokens[i];
      c->segment[i] = MAX (t->type_id, 0);
      /* The tokens "hide special tokens" hides (as-shown.h), split in two. */
      if (as_shown_is_special (t))
        {
          if (g_strcmp0 (t->text, "[CLS]") == 0 || (t->sequence < 0 && i == 0))
            c->flags[i] |= AS_TOKEN_CLASS_CLS;
          else
            c->flags[i] |= AS_TOKEN_CLASS_SEP;
        }
      else if (as_text_is_punctuation (t->text))
        c->flags[i] |= AS_TOKEN_CLASS_PUNCT;
    }
  as_token_classes_update (c);
  return c;
}

void
as_head_stats_compute (const float          *attn,
                       int                   n,
                       const AsTokenClasses *classes,
                       AsHeadStats          *out)
{
  g_return_if_fail (classes != NULL && classes->n == n);
  memset (out, 0, sizeof *out);
  if (n <= 0)
    {
      out->block = NAN;
      return;
    }

  const double s = AS_HEAD_STATS_SMOOTHING;
  const double keep = 1.0 - s;
  const double floor_p = s / n;          /* smoothed value of a zero cell */
  const gboolean pair = classes->n_segments > 1;
  const guint8 *flags = classes->flags;  /* [n] */
  const int *seg = classes->segment;     /* [n] */

  double entropy = 0, cls = 0, sep = 0, punct = 0, self = 0, prev = 0, next = 0;
  double distance = 0, confidence = 0, block = 0, sink = 0;
  for (int i = 0; i < n; i++)
    {
      const float *row = attn + (gsize) i * n;   /* [n] */
      double row_max = 0, row_h = 0;
      for (int j = 0; j < n; j++)
        {
          double a = row[j];
          double p = keep * a + floor_p;
          row_h -= p * log (p);
          distance += a * abs (i - j);
          if (a > row_max)
            row_max = a;
          if (flags[j] & AS_TOKEN_CLASS_CLS)
            cls += a;
          if (flags[j] & AS_TOKEN_CLASS_SEP)
            sep += a;
          if (flags[j] & AS_TOKEN_CLASS_PUNCT)
            punct += a;
          if (pair && seg[j] == seg[i])
            block += a;
        }
      entropy += row_h;
      confidence += row_max;
      self += row[i];
      sink += row[0];
      if (i > 0)
        prev += row[i - 1];
      if (i + 1 < n)
        next += row[i + 1];
    }

  out->entropy = entropy / n;
  out->to_cls = cls / n;
  out->to_sep = sep / n;
  out->to_punct = punct / n;
  out->to_self = self / n;
  out->to_prev = prev / n;
  out->to_next = next / n;
  out->distance = distance / n;
  out->confidence = confidence / n;
  out->block = pair ? block / n : NAN;
  out->sink = sink / n;
}

void
as_head_stats_compute_all (const AsAnalysis     *a,
                           const AsTokenClasses *classes,
                           AsHeadStats          *out)
{
  AsTokenClasses *own = NULL;
  if (classes == NULL)
    {
      g_return_if_fail (a->encoding != NULL);
      classes = own = as_token_classes_from_encoding (a->encoding);
    }
  for (int l = 0; l < a->n_layers; l++)
    for (int h = 0; h < a->n_heads; h++)
      as_head_stats_compute (as_analysis_head (a, l, h), a->n, classes,
                             &out[l * a->n_heads + h]);
  as_token_classes_free (own);
}

AsPattern
as_head_stats_pattern (const AsHeadStats *s)
{
  if (s->to_cls + s->to_sep >= AS_PATTERN_VERTICAL_MIN)
    return AS_PATTERN_VERTICAL;
  if (s->to_prev + s->to_next >= AS_PATTERN_DIAGONAL_MIN)
    return AS_PATTERN_DIAGONAL;
  if (!isnan (s->block) && s->block >= AS_PATTERN_BLOCK_MIN)
    return AS_PATTERN_BLOCK;
  return AS_PATTERN_HETEROGENEOUS;
}

const char *
as_pattern_to_string (AsPattern pattern)
{
  switch (pattern)
    {
    case AS_PATTERN_VERTICAL:      return "vertical";
    case AS_PATTERN_DIAGONAL:      return "diagonal";
    case AS_PATTERN_BLOCK:         return "block";
    case AS_PATTERN_HETEROGENEOUS: return "heterogeneous";
    case AS_N_PATTERNS:
    default:                       return "unknown";
    }
}

/* --- running means ---------------------------------------------------- */

AsHeadStatsSum *
as_head_stats_sum_new (int n_layers,
                       int n_heads)
{
  g_return_val_if_fail (n_layers > 0 && n_heads > 0, NULL);
  AsHeadStatsSum *sum = g_new0 (AsHeadStatsSum, 1);
  gsize cells = (gsize) n_layers * n_heads;
  sum->n_layers = n_layers;
  sum->n_heads = n_heads;
  sum->sum = g_new0 (AsHeadStats, cells);                     /* [L, H] */
  sum->n_block = g_new0 (gint64, cells);                      /* [L, H] */
  sum->pattern_count = g_new0 (gint64, cells * AS_N_PATTERNS); /* [L, H, P] */
  return sum;
}

void
as_head_stats_sum_free (AsHeadStatsSum *sum)
{
  if (sum == NULL)
    return;
  g_free (sum->sum);
  g_free (sum->n_block);
  g_free (sum->pattern_count);
  g_free (sum);
}

void
as_head_stats_sum_add_layer (AsHeadStatsSum    *sum,
                             int                layer,
                             const AsHeadStats *stats)
{
  g_return_if_fail (layer >= 0 && layer < sum->n_layers);
  for (int h = 0; h < sum->n_heads; h++)
    {
      gsize cell = (gsize) layer * sum->n_heads + h;
      const AsHeadStats *x = &stats[h];
      AsHeadStats *acc = &sum->sum[cell];
      acc->entropy += x->entropy;
      acc->to_cls += x->to_cls;
      acc->to_sep += x->to_sep;
      acc->to_punct += x->to_punct;
      acc->to_self += x->to_self;
      acc->to_prev += x->to_prev;
      acc->to_next += x->to_next;
      acc->distance += x->distance;
      acc->confidence += x->confidence;
      acc->sink += x->sink;
      if (!isnan (x->block))
        {
          acc->block += x->block;
          sum->n_block[cell]++;
        }
      sum->pattern_count[cell * AS_N_PATTERNS + as_head_stats_pattern (x)]++;
    }
}

void
as_head_stats_sum_next_input (AsHeadStatsSum *sum)
{
  sum->n_inputs++;
}

void
as_head_stats_sum_mean (const AsHeadStatsSum *sum,
                        int                   layer,
                        int                   head,
                        AsHeadStats          *out)
{
  g_return_if_fail (layer >= 0 && layer < sum->n_layers && head >= 0 && head < sum->n_heads);
  gsize cell = (gsize) layer * sum->n_heads + head;
  const AsHeadStats *acc = &sum->sum[cell];
  double k = sum->n_inputs > 0 ? 1.0 / (double) sum->n_inputs : 0.0;
  out->entropy = acc->entropy * k;
  out->to_cls = acc->to_cls * k;
  out->to_sep = acc->to_sep * k;
  out->to_punct = acc->to_punct * k;
  out->to_self = acc->to_self * k;
  out->to_prev = acc->to_prev * k;
  out->to_next = acc->to_next * k;
  out->distance = acc->distance * k;
  out->confidence = acc->confidence * k;
  out->sink = acc->sink * k;
  out->block = sum->n_block[cell] > 0 ? acc->block / (double) sum->n_block[cell] : NAN;
}

double
as_head_stats_sum_pattern_share (const AsHeadStatsSum *sum,
                                 int                   layer,
                                 int                   head,
                                 AsPattern             pattern)
{
  g_return_val_if_fail (pattern >= 0 && pattern < AS_N_PATTERNS, 0.0);
  if (sum->n_inputs == 0)
    return 0.0;
  gsize cell = (gsize) layer * sum->n_heads + head;
  return (double) sum->pattern_count[cell * AS_N_PATTERNS + pattern] / (double) sum->n_inputs;
}
