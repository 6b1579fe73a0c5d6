/* as-shown.c — attention as shown (the rules are written out in the header). */
#include "as-shown.h"

#include <string.h>

G_DEFINE_QUARK (as-shown-error-quark, as_shown_error)

static const char * const aggregate_names[AS_N_SHOWN_AGGREGATES] = { "head", "mean", "max", "rollout" };
static const char * const sentence_names[AS_N_SHOWN_SENTENCES] = { "all", "a", "b" };

void
as_shown_spec_init (AsShownSpec *spec)
{
  memset (spec, 0, sizeof *spec);
  spec->aggregate = AS_SHOWN_HEAD;
  spec->renormalise = TRUE;
  spec->sentence = AS_SHOWN_ALL;
}

const char *
as_shown_aggregate_name (AsShownAggregate aggregate)
{
  return (guint) aggregate < AS_N_SHOWN_AGGREGATES ? aggregate_names[aggregate] : "head";
}

int
as_shown_aggregate_from_name (const char *name)
{
  for (int i = 0; name != NULL && i < AS_N_SHOWN_AGGREGATES; i++)
    if (g_ascii_strcasecmp (name, aggregate_names[i]) == 0)
      return i;
  return -1;
}

const char *
as_shown_sentence_name (AsShownSentence sentence)
{
  return (guint) sentence < AS_N_SHOWN_SENTENCES ? sentence_names[sentence] : "all";
}

int
as_shown_sentence_from_name (const char *name)
{
  for (int i = 0; name != NULL && i < AS_N_SHOWN_SENTENCES; i++)
    if (g_ascii_strcasecmp (name, sentence_names[i]) == 0)
      return i;
  return -1;
}

char *
as_shown_spec_describe (const AsShownSpec *spec,
                        int                n_heads)
{
  GString *s = g_string_new (NULL);
  switch (spec->aggregate)
    {
    case AS_SHOWN_MEAN:
      g_string_append_printf (s, "layer %d · mean of %d heads", spec->layer + 1, n_heads);
      break;
    case AS_SHOWN_MAX:
      g_string_append_printf (s, "layer %d · max of %d heads", spec->layer + 1, n_heads);
      break;
    case AS_SHOWN_ROLLOUT:
      g_string_append_printf (s, "rollout through layer %d", spec->layer + 1);
      break;
    case AS_SHOWN_HEAD:
    case AS_N_SHOWN_AGGREGATES:
    default:
      g_string_append_printf (s, "layer %d · head %d", spec->layer + 1, spec->head + 1);
      break;
    }
  if (spec->words)
    g_string_append (s, " · words");
  if (spec->sentence == AS_SHOWN_SENTENCE_A || spec->sentence == AS_SHOWN_SENTENCE_B)
    g_string_append (s, spec->sentence == AS_SHOWN_SENTENCE_A ? " · sentence A" : " · sentence B");
  return g_string_free (s, FALSE);
}

gboolean
as_shown_is_special (const AsToken *token)
{
  if (token == NULL || !token->is_special)
    return FALSE;
  return token->sequence < 0 ||
         g_strcmp0 (token->text, "[CLS]") == 0 || g_strcmp0 (token->text, "[SEP]") == 0;
}

/* ---- rows and columns ------------------------------------------------- */

static const char *
sequence_text (int         sequence,
               const char *text_a,
               const char *text_b)
{
  return sequence == 0 ? text_a : sequence == 1 ? text_b : NULL;
}

/* WORD as the user typed it when its bytes are known, else the word map's
 * pieces without "##". */
char *
as_shown_display_text (const char *label)
{
  if (label == NULL)
    return g_strdup ("?");
  gboolean blank = TRUE;
  for (const char *p = label; *p != '\0'; p++)
    if (*p != ' ')
      blank = FALSE;
  GString *s = g_string_new (NULL);
  for (const char *p = label; *p != '\0'; p++)
    if (*p == '\n')
      g_string_append (s, "↵");
    else if (*p == '\t')
      g_string_append (s, "⇥");
    else if (*p == '\r')
      g_string_append (s, "␍");
    else if (*p == ' ' && blank)
      g_string_append (s, "␣");
    else
      g_string_append_c (s, *p);
  if (s->len == 0)
    g_string_append (s, "∅");
  return g_string_free (s, FALSE);
}

static char *
word_label (const AsEncoding *enc,
            const AsWordMap  *map,
            int               word,
            const char       *text_a,
            const char       *text_b)
{
  int first = map->first_token[word], last = map->first_token[word + 1] - 1;
  const AsToken *a = &enc->tokens[first], *b = &enc->tokens[last];
  const char *text = sequence_text (a->sequence, text_a, text_b);
  if (text != NULL && a->sequence == b->sequence &&
      a->start >= 0 && b->end > a->start && (gsize) b->end <= strlen (text))
    {
      g_autofree char *valid = g_utf8_make_valid (text + a->start, b->end - a->start);
      return as_shown_display_text (valid);
    }
  g_autofree char *valid = g_utf8_make_valid (map->labels[word], -1);
  return as_shown_display_text (valid);
}

AsShownTokens *
as_shown_tokens_new (const AsEncoding  *enc,
                     int                n_tokens,
                     const char        *text_a,
                     const char        *text_b,
                     const AsShownSpec *spec)
{
  int n = enc != NULL ? enc->n_tokens : MAX (n_tokens, 0);
  AsShownTokens *t = g_new0 (AsShownTokens, 1);
  t->n_tokens = n;
  if (enc != NULL && spec->words)
    t->words = as_word_map_from_encoding (enc);
  int units = t->words != NULL ? t->words->n_words : n;
  t->n_units = units;

  /* The first token of each unit and how many it spans. */
  g_autofree int *unit_first = g_new (int, units + 1);   /* [units + 1] */
  for (int u = 0; u <= units; u++)
    unit_first[u] = t->words != NULL ? t->words->first_token[u] : u;

  /* Step 3: sentence, then the hide rule (undone if it would empty). */
  g_autofree gboolean *in_sentence = g_new (gboolean, MAX (units, 1));   /* [units] */
  g_autofree gboolean *special = g_new (gboolean, MAX (units, 1));       /* [units] */
  t->keep = g_new (gboolean, MAX (units, 1));                            /* [units] */
  int kept = 0, kept_sentence = 0;
  for (int u = 0; u < units; u++)
    {
      const AsToken *tok = enc != NULL ? &enc->tokens[unit_first[u]] : NULL;
      int seg = tok != NULL ? MAX (tok->type_id, 0) : 0;
      in_sentence[u] = spec->sentence == AS_SHOWN_ALL ||
                       (spec->sentence == AS_SHOWN_SENTENCE_A && seg == 0) ||
                       (spec->sentence == AS_SHOWN_SENTENCE_B && seg == 1);
      special[u] = as_shown_is_special (tok);
      t->keep[u] = in_sentence[u] && !(spec->hide_special && special[u]);
      kept += t->keep[u];
      kept_sentence += in_sentence[u];
    }
  if (kept == 0 && kept_sentence > 0)
    {
      memcpy (t->keep, in_sentence, sizeof (gboolean) * units);
      kept = kept_sentence;
    }
  t->dropped = kept < units;

  t->n = kept;
  t->first = g_new (int, kept + 1);
  t->tokens = g_new (int, MAX (n, 1));
  t->row_of = g_new (int, MAX (n, 1));
  t->labels = g_new0 (char *, kept + 1);
  t->sentence = g_new (int, MAX (kept, 1));
  t->special = g_new (gboolean, MAX (kept, 1));
  for (int i = 0; i < n; i++)
    t->row_of[i] = -1;
  int r = 0, covered = 0;
  for (int u = 0; u < units; u++)
    {
      if (!t->keep[u])
        continue;
      t->first[r] = covered;
      for (int i = unit_first[u]; i < unit_first[u + 1]; i++)
        {
          t->tokens[covered++] = i;
          t->row_of[i] = r;
        }
      if (enc == NULL)
        t->labels[r] = g_strdup_printf ("%d", u);
      else if (t->words != NULL)
        t->labels[r] = word_label (enc, t->words, u, text_a, text_b);
      else
        {
          g_autofree char *valid = g_utf8_make_valid (enc->tokens[u].text != NULL ? enc->tokens[u].text : "", -1);
          t->labels[r] = as_shown_display_text (valid);
        }
      t->sentence[r] = enc != NULL ? MAX (enc->tokens[unit_first[u]].type_id, 0) : 0;
      t->special[r] = special[u];
      r++;
    }
  t->first[kept] = covered;
  return t;
}

void
as_shown_tokens_free (AsShownTokens *t)
{
  if (t == NULL)
    return;
  as_word_map_free (t->words);
  g_free (t->first);
  g_free (t->tokens);
  g_free (t->row_of);
  g_strfreev (t->labels);
  g_free (t->sentence);
  g_free (t->special);
  g_free (t->keep);
  g_free (t);
}

/* ---- the matrix ---------------------------------------------------------- */

gboolean
as_shown_check (const AsShownSpec *spec,
                int                n_layers,
                int                n_heads,
                int                ready,
                GError           **error)
{
  if ((guint) spec->aggregate >= AS_N_SHOWN_AGGREGATES || (guint) spec->sentence >= AS_N_SHOWN_SENTENCES)
    {
      g_set_error (error, AS_SHOWN_ERROR, AS_SHOWN_ERROR_INVALID, "unknown aggregate %d or sentence %d",
                   spec->aggregate, spec->sentence);
      return FALSE;
    }
  if (spec->layer < 0 || spec->layer >= n_layers)
    {
      g_set_error (error, AS_SHOWN_ERROR, AS_SHOWN_ERROR_INVALID,
                   "layer %d does not exist: the model has layers 1 to %d", spec->layer + 1, n_layers);
      return FALSE;
    }
  if (spec->aggregate == AS_SHOWN_HEAD && (spec->head < 0 || spec->head >= n_heads))
    {
      g_set_error (error, AS_SHOWN_ERROR, AS_SHOWN_ERROR_INVALID,
                   "head %d does not exist: the model has heads 1 to %d", spec->head + 1, n_heads);
      return FALSE;
    }
  if (spec->layer >= ready)
    {
      g_set_error (error, AS_SHOWN_ERROR, AS_SHOWN_ERROR_INVALID,
                   "layer %d has not been computed yet", spec->layer + 1);
      return FALSE;
    }
  return TRUE;
}

gboolean
as_shown_matrix (const AsShownTokens *tokens,
                 const float         *attn,
                 int                  n_layers,
                 int                  n_heads,
                 const AsShownSpec   *spec,
                 float               *out,
                 GError             **error)
{
  if (!as_shown_check (spec, n_layers, n_heads, n_layers, error))
    return FALSE;
  int n = tokens->n_tokens;
  if (tokens->n == 0)
    return TRUE;

  /* Step 1 over all n tokens. */
  gsize nn = (gsize) n * n;
  const float *layer = attn + (gsize) spec->layer * n_heads * nn;   /* [n_heads, n, n] */
  const float *src = layer + (gsize) spec->head * nn;                 /* [n, n] */
  g_autofree float *aggregated = NULL;                                /* [n, n] */
  if (spec->aggregate != AS_SHOWN_HEAD)
    {
      aggregated = g_new (float, nn);
      if (spec->aggregate == AS_SHOWN_MEAN)
        as_aggregate_mean_heads (layer, n_heads, n, aggregated);
      else if (spec->aggregate == AS_SHOWN_MAX)
        as_aggregate_max_heads (layer, n_heads, n, aggregated);
      else
        as_aggregate_rollout_last (attn, spec->layer + 1, n_heads, n, aggregated);
      src = aggregated;
    }

  /* Step 2. */
  g_autofree float *merged = NULL;   /* [n_words, n_words] */
  int units = n;
  if (tokens->words != NULL)
    {
      units = tokens->words->n_words;
      merged = g_new (float, (gsize) units * units);
      as_word_map_merge (tokens->words, src, merged);
      src = merged;
    }

  /* Steps 3 and 4. */
  gboolean renormalise = spec->renormalise && tokens->dropped && spec->aggregate != AS_SHOWN_MAX;
  as_aggregate_keep_tokens (src, units, tokens->keep, renormalise, out);
  return TRUE;
}

AsShown *
as_shown_compute (const AsAnalysis *a,
                  const char        *text_a,
                  const char        *text_b,
                  const AsShownSpec *spec,
                  GError           **error)
{
  if (!as_shown_check (spec, a->n_layers, a->n_heads, a->n_layers, error))
    return NULL;
  AsShown *shown = g_new0 (AsShown, 1);
  shown->tokens = as_shown_tokens_new (a->encoding, a->n, text_a, text_b, spec);
  int m = shown->tokens->n;
  if (m == 0 && a->n > 0)
    {
      g_set_error (error, AS_SHOWN_ERROR, AS_SHOWN_ERROR_INVALID, "the input has no sentence %s",
                   spec->sentence == AS_SHOWN_SENTENCE_B ? "B" : "A");
      as_shown_free (shown);
      return NULL;
    }
  shown->values = g_new (float, MAX ((gsize) m * m, 1));
  as_shown_matrix (shown->tokens, a->attn, a->n_layers, a->n_heads, spec, shown->values, NULL);
  return shown;
}

void
as_shown_free (AsShown *shown)
{
  if (shown == NULL)
    return;
  as_shown_tokens_free (shown->tokens);
  g_free (shown->values);
  g_free (shown);
}
