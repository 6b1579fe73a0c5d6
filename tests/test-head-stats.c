/* test-head-stats.c — per-head statistics on hand-built matrices whose answers
 * follow from the definitions in as-head-stats.h by hand. */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "as-head-stats.h"
#include "as-model.h"

#define TOL 1e-9

/* A [n, n] with every row one-hot on column COL_OF_ROW[i]. */
static float *
one_hot (int        n,
         const int *col_of_row)
{
  float *a = g_new0 (float, (gsize) n * n);   /* [n, n] */
  for (int i = 0; i < n; i++)
    a[(gsize) i * n + col_of_row[i]] = 1.0f;
  return a;
}

static float *
uniform (int n)
{
  float *a = g_new (float, (gsize) n * n);    /* [n, n] */
  for (gsize k = 0; k < (gsize) n * n; k++)
    a[k] = 1.0f / n;
  return a;
}

/* Entropy of one smoothed one-hot row, straight from the formula:
 * one cell 0.9999 + 0.0001/n, n - 1 cells 0.0001/n. */
static double
smoothed_one_hot_entropy (int n)
{
  double hi = 0.9999 + 0.0001 / n;
  double lo = 0.0001 / n;
  return -hi * log (hi) - (n - 1) * lo * log (lo);
}

static void
test_one_hot_self (void)
{
  const int n = 5;
  int cols[5] = { 0, 1, 2, 3, 4 };
  g_autofree float *a = one_hot (n, cols);
  g_autoptr(AsTokenClasses) c = as_token_classes_new (n);
  AsHeadStats s;
  as_head_stats_compute (a, n, c, &s);

  /* 5 tokens: 0.9999 + 0.00002 = 0.99992 once, 0.00002 four times. */
  double expect = -(0.99992 * log (0.99992)) - 4 * 0.00002 * log (0.00002);
  g_assert_cmpfloat_with_epsilon (expect, smoothed_one_hot_entropy (n), 1e-15);
  g_assert_cmpfloat_with_epsilon (s.entropy, expect, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_self, 1.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.to_prev, 0.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.to_next, 0.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.distance, 0.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.confidence, 1.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.to_cls, 0.0, TOL);
  g_assert_true (isnan (s.block));
  /* self is the main diagonal, not the ±1 diagonals of the diagonal label */
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_HETEROGENEOUS);
}

static void
test_one_hot_entropy_sizes (void)
{
  for (int n = 1; n <= 64; n *= 2)
    {
      int *cols = g_new (int, n);
      for (int i = 0; i < n; i++)
        cols[i] = (i * 7 + 3) % n;   /* one-hot anywhere: entropy does not care */
      g_autofree float *a = one_hot (n, cols);
      g_autoptr(AsTokenClasses) c = as_token_classes_new (n);
      AsHeadStats s;
      as_head_stats_compute (a, n, c, &s);
      g_assert_cmpfloat_with_epsilon (s.entropy, smoothed_one_hot_entropy (n), 1e-7);
      g_assert_cmpfloat_with_epsilon (s.confidence, 1.0, TOL);
      g_free (cols);
    }
}

static void
test_uniform (void)
{
  for (int n = 1; n <= 40; n += 3)
    {
      g_autofree float *a = uniform (n);
      g_autoptr(AsTokenClasses) c = as_token_classes_new (n);
      c->flags[0] = AS_TOKEN_CLASS_CLS;
      c->flags[n - 1] |= AS_TOKEN_CLASS_SEP;
      int n_punct = 0;
      for (int i = 1; i + 1 < n; i += 4)
        {
          c->flags[i] = AS_TOKEN_CLASS_PUNCT;
          n_punct++;
        }
      AsHeadStats s;
      as_head_stats_compute (a, n, c, &s);
      double inv = 1.0 / n;
      g_assert_cmpfloat_with_epsilon (s.entropy, log (n), 1e-6);
      /* Σ_{i,j} |i - j| = (n³ - n) / 3, divided by n (rows) and n (1/n each) */
      g_assert_cmpfloat_with_epsilon (s.distance, (double) (n * n - 1) / (3.0 * n), 1e-5);
      g_assert_cmpfloat_with_epsilon (s.confidence, inv, 1e-7);
      g_assert_cmpfloat_with_epsilon (s.to_self, inv, 1e-7);
      g_assert_cmpfloat_with_epsilon (s.to_prev, (n - 1) * inv * inv, 1e-7);
      g_assert_cmpfloat_with_epsilon (s.to_next, (n - 1) * inv * inv, 1e-7);
      if (n > 1)
        {
          g_assert_cmpfloat_with_epsilon (s.to_cls, inv, 1e-7);
          g_assert_cmpfloat_with_epsilon (s.to_sep, inv, 1e-7);
        }
      else /* one token is both [CLS] and [SEP] here */
        g_assert_cmpfloat_with_epsilon (s.to_cls + s.to_sep, 2.0, 1e-7);
      g_assert_cmpfloat_with_epsilon (s.to_punct, n_punct * inv, 1e-7);
      if (n >= 5)
        g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_HETEROGENEOUS);
    }
}

static void
test_shifted_diagonals (void)
{
  const int n = 8;
  int next_cols[8], prev_cols[8];
  for (int i = 0; i < n; i++)
    {
      next_cols[i] = i + 1 < n ? i + 1 : i;   /* the last row has no next: self */
      prev_cols[i] = i > 0 ? i - 1 : i;       /* the first row has no previous */
    }
  g_autoptr(AsTokenClasses) c = as_token_classes_new (n);
  AsHeadStats s;

  g_autofree float *an = one_hot (n, next_cols);
  as_head_stats_compute (an, n, c, &s);
  /* (1/n) Σ_i A[i,i+1]: 7 of 8 rows put all their mass on the next token */
  g_assert_cmpfloat_with_epsilon (s.to_next, 7.0 / 8.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.to_prev, 0.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.to_self, 1.0 / 8.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.distance, 7.0 / 8.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.entropy, smoothed_one_hot_entropy (n), 1e-7);
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_DIAGONAL);

  g_autofree float *ap = one_hot (n, prev_cols);
  as_head_stats_compute (ap, n, c, &s);
  g_assert_cmpfloat_with_epsilon (s.to_prev, 7.0 / 8.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.to_next, 0.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.to_self, 1.0 / 8.0, TOL);
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_DIAGONAL);

  /* A diagonal two steps away is neither prev nor next; distance 2 per row. */
  int two[8];
  for (int i = 0; i < n; i++)
    two[i] = i + 2 < n ? i + 2 : i - 2;
  g_autofree float *a2 = one_hot (n, two);
  as_head_stats_compute (a2, n, c, &s);
  g_assert_cmpfloat_with_epsilon (s.to_prev + s.to_next + s.to_self, 0.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.distance, 2.0, TOL);
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_HETEROGENEOUS);
}

static void
test_hand_3x3 (void)
{
  /* Worked by hand:
   *   distance   = (0.25*1 + 0.25*2 + 0.2*1 + 0.2*1 + 0.1*1) / 3 = 1.25 / 3
   *   confidence = (0.5 + 0.6 + 0.9) / 3 = 2/3
   *   self = (0.5 + 0.6 + 0.9) / 3, prev = (0.2 + 0.1) / 3, next = (0.25 + 0.2) / 3
   *   [CLS] = column 0: (0.5 + 0.2 + 0) / 3; punct = column 1: (0.25 + 0.6 + 0.1) / 3 */
  const float a[9] = {
    0.5f, 0.25f, 0.25f,
    0.2f, 0.6f,  0.2f,
    0.0f, 0.1f,  0.9f,
  };
  g_autoptr(AsTokenClasses) c = as_token_classes_new (3);
  c->flags[0] = AS_TOKEN_CLASS_CLS;
  c->flags[1] = AS_TOKEN_CLASS_PUNCT;
  AsHeadStats s;
  as_head_stats_compute (a, 3, c, &s);
  g_assert_cmpfloat_with_epsilon (s.distance, 1.25 / 3, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.confidence, 2.0 / 3, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_self, 2.0 / 3, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_prev, 0.1, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_next, 0.15, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_cls, 0.7 / 3, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_sep, 0.0, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_punct, 0.95 / 3, 1e-7);
  /* sink = column 0 whatever its class: (0.5 + 0.2 + 0) / 3 */
  g_assert_cmpfloat_with_epsilon (s.sink, 0.7 / 3, 1e-7);

  /* entropy: each cell p = 0.9999 a + 0.0001/3, summed per row, averaged */
  double h = 0;
  for (int k = 0; k < 9; k++)
    {
      double p = 0.9999 * a[k] + 0.0001 / 3;
      h -= p * log (p);
    }
  g_assert_cmpfloat_with_epsilon (s.entropy, h / 3, 1e-9);
  /* and it is close to the unsmoothed entropy of the three rows */
  double raw = -(0.5 * log (0.5) + 2 * 0.25 * log (0.25))
               - (2 * 0.2 * log (0.2) + 0.6 * log (0.6))
               - (0.1 * log (0.1) + 0.9 * log (0.9));
  g_assert_cmpfloat_with_epsilon (s.entropy, raw / 3, 2e-3);
}

/* A causal 4x4 head, worked by hand: row 0 can only look at key 0, so a
 * decoder's sink share is at least 1/n; no token class is involved.
 *   sink = (1 + 0.7 + 0.5 + 0.1) / 4 = 2.3 / 4 */
static void
test_sink_causal (void)
{
  const float a[16] = {
    1.0f, 0.0f, 0.0f, 0.0f,
    0.7f, 0.3f, 0.0f, 0.0f,
    0.5f, 0.25f, 0.25f, 0.0f,
    0.1f, 0.2f, 0.3f, 0.4f,
  };
  g_autoptr(AsTokenClasses) c = as_token_classes_new (4);
  AsHeadStats s;
  as_head_stats_compute (a, 4, c, &s);
  g_assert_cmpfloat_with_epsilon (s.sink, 2.3 / 4, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_cls, 0.0, 1e-12);   /* no [CLS] flagged */

  /* Every row one-hot on key 0: all attention is on the sink. */
  const int col[4] = { 0, 0, 0, 0 };
  g_autofree float *sunk = one_hot (4, col);
  as_head_stats_compute (sunk, 4, c, &s);
  g_assert_cmpfloat_with_epsilon (s.sink, 1.0, 1e-12);
  /* Uniform over the whole row: 1/n on key 0. */
  g_autofree float *u = uniform (4);
  as_head_stats_compute (u, 4, c, &s);
  g_assert_cmpfloat_with_epsilon (s.sink, 0.25, 1e-7);
}

static void
test_sep_column (void)
{
  const int n = 6;
  int cols[6] = { 5, 5, 5, 5, 5, 5 };
  g_autofree float *a = one_hot (n, cols);
  g_autoptr(AsTokenClasses) c = as_token_classes_new (n);
  c->flags[0] = AS_TOKEN_CLASS_CLS;
  c->flags[5] = AS_TOKEN_CLASS_SEP;
  AsHeadStats s;
  as_head_stats_compute (a, n, c, &s);
  g_assert_cmpfloat_with_epsilon (s.to_sep, 1.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.to_cls, 0.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.distance, (5 + 4 + 3 + 2 + 1 + 0) / 6.0, TOL);
  g_assert_cmpfloat_with_epsilon (s.to_next, 1.0 / 6.0, TOL);  /* row 4 -> 5 */
  g_assert_cmpfloat_with_epsilon (s.to_self, 1.0 / 6.0, TOL);  /* row 5 -> 5 */
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_VERTICAL);

  /* Half the rows on [CLS], half spread uniformly: 0.5 + 0.5 * 2/6 on specials */
  g_autofree float *b = g_new0 (float, n * n);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      b[i * n + j] = i < 3 ? (j == 0) : 1.0f / n;
  as_head_stats_compute (b, n, c, &s);
  g_assert_cmpfloat_with_epsilon (s.to_cls, 0.5 + 0.5 / 6, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_sep, 0.5 / 6, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.confidence, 0.5 + 0.5 / 6, 1e-7);
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_VERTICAL);
}

static AsTokenClasses *
pair_classes (int n_a,
              int n_b)
{
  /* [CLS] a… [SEP] | b… [SEP]; segment 0 has n_a tokens, segment 1 n_b */
  int n = n_a + n_b;
  AsTokenClasses *c = as_token_classes_new (n);
  c->flags[0] = AS_TOKEN_CLASS_CLS;
  c->flags[n_a - 1] = AS_TOKEN_CLASS_SEP;
  c->flags[n - 1] = AS_TOKEN_CLASS_SEP;
  for (int i = n_a; i < n; i++)
    c->segment[i] = 1;
  as_token_classes_update (c);
  return c;
}

static void
test_block (void)
{
  const int n = 10;
  g_autoptr(AsTokenClasses) c = pair_classes (5, 5);
  g_assert_cmpint (c->n_segments, ==, 2);

  /* Uniform inside the own segment of 5: block 1, [CLS] 5*(1/5)/10,
   * [SEP] (5*(1/5) + 5*(1/5))/10, prev = next = 8 rows * (1/5) / 10. */
  g_autofree float *a = g_new0 (float, n * n);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      a[i * n + j] = (i < 5) == (j < 5) ? 0.2f : 0.0f;
  AsHeadStats s;
  as_head_stats_compute (a, n, c, &s);
  g_assert_cmpfloat_with_epsilon (s.block, 1.0, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_cls, 0.1, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_sep, 0.2, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_prev, 0.16, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.to_next, 0.16, 1e-7);
  g_assert_cmpfloat_with_epsilon (s.entropy, log (5.0), 1e-3);
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_BLOCK);

  /* Uniform over everything: (5² + 5²) / 10² of the mass stays home. */
  g_autofree float *u = uniform (n);
  as_head_stats_compute (u, n, c, &s);
  g_assert_cmpfloat_with_epsilon (s.block, 0.5, 1e-7);
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_HETEROGENEOUS);

  /* 3 + 7 split, everything attends to the other segment: block 0. */
  g_autoptr(AsTokenClasses) c37 = pair_classes (3, 7);
  g_autofree float *x = g_new0 (float, n * n);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      if ((i < 3) != (j < 3))
        x[i * n + j] = i < 3 ? 1.0f / 7 : 1.0f / 3;
  as_head_stats_compute (x, n, c37, &s);
  g_assert_cmpfloat_with_epsilon (s.block, 0.0, 1e-7);

  /* The same block matrix read as one sentence has no block value. */
  g_autoptr(AsTokenClasses) single = as_token_classes_new (n);
  as_head_stats_compute (a, n, single, &s);
  g_assert_true (isnan (s.block));
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_HETEROGENEOUS);
}

static void
test_pattern_thresholds (void)
{
  AsHeadStats s = { 0 };
  s.block = NAN;
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_HETEROGENEOUS);
  s.to_cls = 0.2; s.to_sep = 0.3;
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_VERTICAL);
  s.to_sep = 0.29;
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_HETEROGENEOUS);
  s.to_prev = 0.25; s.to_next = 0.25;
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_DIAGONAL);
  s.to_self = 0.9; s.to_next = 0.2;    /* self does not count as diagonal */
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_HETEROGENEOUS);
  s.block = 0.8;
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_BLOCK);
  s.block = 0.79;
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_HETEROGENEOUS);
  s.to_cls = 0.6; s.to_prev = 0.6; s.block = 0.9;   /* vertical wins */
  g_assert_cmpint (as_head_stats_pattern (&s), ==, AS_PATTERN_VERTICAL);
  g_assert_cmpstr (as_pattern_to_string (AS_PATTERN_VERTICAL), ==, "vertical");
  g_assert_cmpstr (as_pattern_to_string (AS_PATTERN_DIAGONAL), ==, "diagonal");
  g_assert_cmpstr (as_pattern_to_string (AS_PATTERN_BLOCK), ==, "block");
  g_assert_cmpstr (as_pattern_to_string (AS_PATTERN_HETEROGENEOUS), ==, "heterogeneous");
}

static void
test_punctuation_text (void)
{
  const char *yes[] = { ".", ",", "!", "?", "...", "\"", "'", "(", ")", "-", ";",
                        "$", "+", "=", "^", "`", "|", "~", "@", "#",
                        "\u00ab", "\u2014", "\u201c", "\u3002", "\u00bf", "##.", NULL };
  const char *no[] = { "", "a", "the", "##s", "1", "a.", "\u00e9", "[CLS]", "\u00a9",
                       "\u20ac", " ", NULL };
  for (int i = 0; yes[i] != NULL; i++)
    if (!as_text_is_punctuation (yes[i]))
      g_error ("'%s' should be punctuation", yes[i]);
  for (int i = 0; no[i] != NULL; i++)
    if (as_text_is_punctuation (no[i]))
      g_error ("'%s' should not be punctuation", no[i]);
  g_assert_false (as_text_is_punctuation (NULL));
  g_assert_false (as_text_is_punctuation ("\xff."));   /* invalid UTF-8 */
}

static void
test_classes_from_encoding (void)
{
  /* [CLS] hello , world ! [SEP] again ##st . [MASK] [SEP] */
  AsToken t[] = {
    { 101, (char *) "[CLS]", 0, -1, -1, -1, TRUE, FALSE },
    { 1, (char *) "hello", 0, 0, 0, 5, FALSE, FALSE },
    { 2, (char *) ",", 0, 0, 5, 6, FALSE, FALSE },
    { 3, (char *) "world", 0, 0, 7, 12, FALSE, FALSE },
    { 4, (char *) "!", 0, 0, 12, 13, FALSE, FALSE },
    { 102, (char *) "[SEP]", 0, -1, -1, -1, TRUE, FALSE },
    { 5, (char *) "again", 1, 1, 0, 5, FALSE, FALSE },
    { 6, (char *) "##st", 1, 1, 5, 7, FALSE, TRUE },
    { 7, (char *) ".", 1, 1, 7, 8, FALSE, FALSE },
    { 103, (char *) "[MASK]", 1, 1, 9, 15, TRUE, FALSE },
    { 102, (char *) "[SEP]", 1, -1, -1, -1, TRUE, FALSE },
  };
  AsEncoding enc = { t, G_N_ELEMENTS (t), FALSE, 0 };
  g_autoptr(AsTokenClasses) c = as_token_classes_from_encoding (&enc);
  const guint8 want[] = {
    AS_TOKEN_CLASS_CLS, 0, AS_TOKEN_CLASS_PUNCT, 0, AS_TOKEN_CLASS_PUNCT, AS_TOKEN_CLASS_SEP,
    0, 0, AS_TOKEN_CLASS_PUNCT, 0, AS_TOKEN_CLASS_SEP,
  };
  const int want_seg[] = { 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1 };
  g_assert_cmpint (c->n, ==, 11);
  g_assert_cmpint (c->n_segments, ==, 2);
  for (int i = 0; i < 11; i++)
    {
      g_assert_cmpint (c->flags[i], ==, want[i]);
      g_assert_cmpint (c->segment[i], ==, want_seg[i]);
    }

  /* A template whose special tokens are not called [CLS]/[SEP]. */
  AsToken r[] = {
    { 0, (char *) "<s>", 0, -1, -1, -1, TRUE, FALSE },
    { 1, (char *) "hi", 0, 0, 0, 2, FALSE, FALSE },
    { 2, (char *) "</s>", 0, -1, -1, -1, TRUE, FALSE },
  };
  AsEncoding enc2 = { r, 3, FALSE, 0 };
  g_autoptr(AsTokenClasses) c2 = as_token_classes_from_encoding (&enc2);
  g_assert_cmpint (c2->flags[0], ==, AS_TOKEN_CLASS_CLS);
  g_assert_cmpint (c2->flags[1], ==, 0);
  g_assert_cmpint (c2->flags[2], ==, AS_TOKEN_CLASS_SEP);
  g_assert_cmpint (c2->n_segments, ==, 1);
}

static void
test_compute_all (void)
{
  /* 2 layers x 2 heads over 4 tokens; each head a different one-hot shape, so a
   * mix-up of layer/head order changes the answers. */
  const int n = 4, L = 2, H = 2;
  int shapes[4][4] = {
    { 0, 1, 2, 3 },   /* self */
    { 1, 2, 3, 3 },   /* next */
    { 0, 0, 1, 2 },   /* prev */
    { 3, 3, 3, 3 },   /* [SEP] */
  };
  AsToken t[] = {
    { 101, (char *) "[CLS]", 0, -1, -1, -1, TRUE, FALSE },
    { 1, (char *) "a", 0, 0, 0, 1, FALSE, FALSE },
    { 2, (char *) ".", 0, 0, 1, 2, FALSE, FALSE },
    { 102, (char *) "[SEP]", 0, -1, -1, -1, TRUE, FALSE },
  };
  AsEncoding enc = { t, 4, FALSE, 0 };
  AsAnalysis a = { .encoding = &enc, .n_layers = L, .n_heads = H, .n = n, .layers_ready = L };
  a.attn = g_new0 (float, (gsize) L * H * n * n);   /* [L, H, n, n] */
  for (int k = 0; k < L * H; k++)
    {
      g_autofree float *m = one_hot (n, shapes[k]);
      memcpy (a.attn + (gsize) k * n * n, m, sizeof (float) * n * n);
    }
  AsHeadStats out[4];
  as_head_stats_compute_all (&a, NULL, out);
  g_assert_cmpfloat_with_epsilon (out[0].to_self, 1.0, TOL);
  g_assert_cmpfloat_with_epsilon (out[1].to_next, 0.75, TOL);
  g_assert_cmpfloat_with_epsilon (out[2].to_prev, 0.75, TOL);
  g_assert_cmpfloat_with_epsilon (out[3].to_sep, 1.0, TOL);
  g_assert_cmpfloat_with_epsilon (out[1].to_punct, 0.25, TOL);  /* row 1 -> "." */
  g_assert_cmpfloat_with_epsilon (out[2].to_cls, 0.5, TOL);     /* rows 0, 1 */
  /* With 4 tokens the next token of rows 2 and 3 is [SEP]: 0.5 on the special
   * columns, so the first rule (vertical) wins over diagonal. */
  g_assert_cmpfloat_with_epsilon (out[1].to_sep, 0.5, TOL);
  g_assert_cmpint (as_head_stats_pattern (&out[1]), ==, AS_PATTERN_VERTICAL);
  g_assert_cmpint (as_head_stats_pattern (&out[3]), ==, AS_PATTERN_VERTICAL);
  g_free (a.attn);
}

static void
test_sum (void)
{
  g_autoptr(AsHeadStatsSum) sum = as_head_stats_sum_new (2, 3);
  AsHeadStats mean;
  as_head_stats_sum_mean (sum, 0, 0, &mean);
  g_assert_cmpfloat (mean.to_cls, ==, 0.0);
  g_assert_true (isnan (mean.block));

  AsHeadStats x[3] = { 0 }, y[3] = { 0 };
  for (int h = 0; h < 3; h++)
    {
      x[h] = (AsHeadStats) { .entropy = 1 + h, .to_cls = 0.6, .to_sep = 0.1 * h,
                             .distance = 2, .confidence = 0.5, .block = NAN, .sink = 0.2 };
      y[h] = (AsHeadStats) { .entropy = 3 + h, .to_cls = 0.0, .to_sep = 0.3,
                             .to_prev = 0.6, .distance = 4, .confidence = 0.7, .block = 0.9,
                             .sink = 0.8 };
    }
  for (int l = 0; l < 2; l++)
    as_head_stats_sum_add_layer (sum, l, x);
  as_head_stats_sum_next_input (sum);
  for (int l = 0; l < 2; l++)
    as_head_stats_sum_add_layer (sum, l, y);
  as_head_stats_sum_next_input (sum);

  g_assert_cmpint (sum->n_inputs, ==, 2);
  as_head_stats_sum_mean (sum, 1, 2, &mean);
  g_assert_cmpfloat_with_epsilon (mean.entropy, (3.0 + 5.0) / 2, TOL);
  g_assert_cmpfloat_with_epsilon (mean.to_cls, 0.3, TOL);
  g_assert_cmpfloat_with_epsilon (mean.to_sep, (0.2 + 0.3) / 2, TOL);
  g_assert_cmpfloat_with_epsilon (mean.to_prev, 0.3, TOL);
  g_assert_cmpfloat_with_epsilon (mean.distance, 3.0, TOL);
  g_assert_cmpfloat_with_epsilon (mean.confidence, 0.6, TOL);
  g_assert_cmpfloat_with_epsilon (mean.block, 0.9, TOL);   /* only the pair counts */
  g_assert_cmpfloat_with_epsilon (mean.sink, 0.5, TOL);
  /* x is vertical (0.6 + …), y diagonal (0.6 on prev, 0.3 on [SEP]) */
  g_assert_cmpfloat_with_epsilon (as_head_stats_sum_pattern_share (sum, 1, 2, AS_PATTERN_VERTICAL), 0.5, TOL);
  g_assert_cmpfloat_with_epsilon (as_head_stats_sum_pattern_share (sum, 1, 2, AS_PATTERN_DIAGONAL), 0.5, TOL);
  g_assert_cmpfloat_with_epsilon (as_head_stats_sum_pattern_share (sum, 0, 0, AS_PATTERN_BLOCK), 0.0, TOL);
}

/* The real default model (skipped when it is not downloaded): token classes
 * from the real tokenizer, and every statistic inside its possible range. */
static void
test_real_model (void)
{
  g_autofree char *dir = as_model_default_dir ();
  g_autofree char *weights = g_build_filename (dir, "model.safetensors", NULL);
  if (!g_file_test (weights, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("default model not downloaded (run tools/setup)");
      return;
    }
  g_autoptr(GError) error = NULL;
  AsModel *model = as_model_load (dir, &error);
  g_assert_no_error (error);
  AsBackend *backend = as_cpu_backend_new (model);
  AsAnalysis *a = as_attention_compute (backend, "Hello, unaffable world!", "It was tired.", &error);
  g_assert_no_error (error);

  /* [CLS] hello , una ##ffa ##ble world ! [SEP] it was tired . [SEP] */
  g_autoptr(AsTokenClasses) c = as_token_classes_from_encoding (a->encoding);
  const guint8 P = AS_TOKEN_CLASS_PUNCT;
  const guint8 want[] = { AS_TOKEN_CLASS_CLS, 0, P, 0, 0, 0, 0, P, AS_TOKEN_CLASS_SEP,
                          0, 0, 0, P, AS_TOKEN_CLASS_SEP };
  g_assert_cmpint (c->n, ==, G_N_ELEMENTS (want));
  for (int i = 0; i < c->n; i++)
    g_assert_cmpint (c->flags[i], ==, want[i]);
  g_assert_cmpint (c->n_segments, ==, 2);
  g_assert_cmpint (c->segment[8], ==, 0);
  g_assert_cmpint (c->segment[9], ==, 1);

  int n = a->n;
  g_autofree AsHeadStats *all = g_new (AsHeadStats, a->n_layers * a->n_heads);
  as_head_stats_compute_all (a, NULL, all);   /* classes from a->encoding */
  for (int l = 0; l < a->n_layers; l++)
    for (int h = 0; h < a->n_heads; h++)
      {
        const AsHeadStats *s = &all[l * a->n_heads + h];
        const float *m = as_analysis_head (a, l, h);
        double col0 = 0, last = 0;
        for (int i = 0; i < n; i++)
          {
            col0 += m[i * n];
            last += m[i * n + n - 1];
          }
        g_assert_cmpfloat_with_epsilon (s->to_cls, col0 / n, 1e-6);
        /* [CLS] is BERT's first token, so the sink share is its share. */
        g_assert_cmpfloat_with_epsilon (s->sink, s->to_cls, 1e-12);
        g_assert_cmpfloat (s->to_sep, >=, last / n - 1e-6);
        g_assert_cmpfloat (s->entropy, >=, 0.0);
        g_assert_cmpfloat (s->entropy, <=, log (n) + 1e-6);
        g_assert_cmpfloat (s->confidence, >=, 1.0 / n - 1e-6);
        g_assert_cmpfloat (s->confidence, <=, 1.0 + 1e-6);
        g_assert_cmpfloat (s->distance, >=, 0.0);
        g_assert_cmpfloat (s->distance, <=, n - 1.0);
        g_assert_cmpfloat (s->to_cls + s->to_sep + s->to_punct, <=, 1.0 + 1e-5);
        g_assert_cmpfloat (s->to_self + s->to_prev + s->to_next, <=, 1.0 + 1e-5);
        g_assert_cmpfloat (s->block, >=, 0.0);
        g_assert_cmpfloat (s->block, <=, 1.0 + 1e-5);
        g_assert_cmpint (as_head_stats_pattern (s), <, AS_N_PATTERNS);
      }
  as_analysis_unref (a);
  as_backend_free (backend);
  as_model_free (model);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/head-stats/one-hot-self", test_one_hot_self);
  g_test_add_func ("/head-stats/one-hot-entropy-sizes", test_one_hot_entropy_sizes);
  g_test_add_func ("/head-stats/uniform", test_uniform);
  g_test_add_func ("/head-stats/shifted-diagonals", test_shifted_diagonals);
  g_test_add_func ("/head-stats/hand-3x3", test_hand_3x3);
  g_test_add_func ("/head-stats/sep-column", test_sep_column);
  g_test_add_func ("/head-stats/sink-causal", test_sink_causal);
  g_test_add_func ("/head-stats/block", test_block);
  g_test_add_func ("/head-stats/pattern-thresholds", test_pattern_thresholds);
  g_test_add_func ("/head-stats/punctuation-text", test_punctuation_text);
  g_test_add_func ("/head-stats/classes-from-encoding", test_classes_from_encoding);
  g_test_add_func ("/head-stats/compute-all", test_compute_all);
  g_test_add_func ("/head-stats/sum", test_sum);
  g_test_add_func ("/head-stats/real-model", test_real_model);
  return g_test_run ();
}
