/* as-teach-text.c — the words of the teaching view.
 *
 * Every step's title and plain-language line, its formula, and the details
 * that say what its numbers are, built from an AsTeachTextInput that the
 * view fills from what it holds. Pure functions: no widgets, nothing kept.
 */
#include "as-teach-text.h"

#include <glib/gi18n.h>

/* Each step's title and its one line for a student, jargon explained
 * where it first appears. */
static const struct {
  const char *title;
  const char *plain;
} step_info[AS_N_TEACH_STEPS] = {
  { N_("The input: token + position (+ segment) embeddings → LayerNorm"),
    N_("Each token starts as a list of numbers (a vector, its embedding) looked up in a table; "
    "numbers for its position are added, and LayerNorm rescales the sum to a standard size.") },
  { N_("The query vector q"),
    N_("Attention lets each token gather information from the others. First the token makes "
    "a query q: what is it looking for?") },
  { N_("The key vectors k"),
    N_("Every token also makes a key k: a label saying what it offers.") },
  { N_("Raw scores q · k"),
    N_("How well does each key match the query? Multiply them number by number and add up (the dot product).") },
  { N_("Scaling by 1/√d"),
    N_("The scores are shrunk by the same factor so that no score is huge just because vectors are long.") },
  { N_("The mask M"),
    N_("A mask hides tokens that must not be looked at, by setting their score to −∞ (minus infinity).") },
  { N_("Softmax: the attention weights"),
    N_("Softmax turns the scores into weights between 0 and 1 that add up to 1: how much attention each token gets.") },
  { N_("Weighted sum of the value vectors"),
    N_("The head's answer z mixes every token's value vector v, each weighted by its attention.") },
  { N_("All heads: concatenate z and project with W_O"),
    N_("Every head of the layer answers in parallel; their answers are put side by side and mixed "
    "by one more learned matrix, W_O.") },
  { N_("Residual and LayerNorm"),
    N_("The attention result is added to the token's own vector (a residual connection: nothing is "
    "lost), then normalised again.") },
  { N_("The feed-forward network"),
    N_("Each token then goes on its own through a small two-layer network (the FFN): widen, keep the "
    "useful parts with a bend (the activation), narrow again.") },
  { N_("Second residual and LayerNorm: the layer's output"),
    N_("The FFN's result is added to the vector once more and normalised: the layer's output, "
    "which the next layer reads.") },
  { N_("Masks: padding vs causal"),
    N_("Sentences of different lengths are run together by padding the short one; a mask hides the "
    "padding, just as a causal mask hides later tokens.") },
};

/* ---- helpers -------------------------------------------------------------- */

/* The text of token I of the analysis, "?" outside it (borrowed). */
static const char *
token_text (const AsTeachTextInput *in,
            int                     i)
{
  const AsAnalysis *a = in->analysis;
  if (a == NULL || i < 0 || i >= a->n)
    return "?";
  return a->encoding->tokens[i].text;
}

/* The step's title and plain-language line (translated, static). A
 * pre-norm model with RoPE (a Llama) builds its input and adds its
 * residuals differently: its own words for those steps. */
static void
step_words (const AsTeachTextInput *in,
            const char            **title,
            const char            **plain_line)
{
  const AsLayerTrace *t = in->trace;
  gboolean rope = t != NULL && t->position_embed == NULL, pre = t != NULL && t->pre_norm;
  const char *title_text = _(step_info[in->step].title), *plain = _(step_info[in->step].plain);
  if (in->step == AS_TEACH_STEP_EMBED && rope)
    plain = _("Each token starts as a list of numbers (a vector, its embedding) looked up in a table. "
            "This model adds no position numbers here: it marks positions later, by turning q and k.");
  else if (in->step == AS_TEACH_STEP_RESIDUAL && pre)
    {
      title_text = _("Residual: x + attention");
      plain = _("The attention result is added to the token's own vector (a residual connection: nothing "
              "is lost). This model normalises what goes into each part, not the sum.");
    }
  else if (in->step == AS_TEACH_STEP_LAYER_OUT && pre)
    {
      title_text = _("Second residual: the layer's output");
      plain = _("The FFN's result is added to the vector once more: the layer's output, which the next "
              "layer reads.");
    }
  *title = title_text;
  *plain_line = plain;
}

/* ---- the formula ---------------------------------------------------------- */

/* The formula of a step past the attention: the layer's own, post-norm
 * (BERT) or pre-norm (Llama) as the trace says, else as a decoder or an
 * encoder usually is. */
static char *
layer_formula (const AsTeachTextInput *in)
{
  const AsAnalysis *a = in->analysis;
  const AsLayerTrace *t = in->trace;
  gboolean pre = t != NULL ? t->pre_norm : (a != NULL && a->causal);
  gboolean swiglu = t != NULL ? t->ffn == AS_TRACE_FFN_SWIGLU : pre;
  const char *norm = t != NULL ? (t->norm == AS_TRACE_NORM_RMS ? "RMSNorm" : "LayerNorm")
                               : (pre ? "RMSNorm" : "LayerNorm");
  int heads = t != NULL ? t->n_heads : a != NULL ? a->n_heads : 0;
  switch (in->step)
    {
    case AS_TEACH_STEP_EMBED:
      if (t != NULL && t->position_embed == NULL)
        return g_strdup (_("x<sup>(0)</sup> = E<sub>token</sub>     <small>(positions: RoPE turns q and k)</small>"));
      /* Translators: %s is “ + E<sub>segment</sub>” or nothing. */
      return g_strdup_printf (_("x<sup>(0)</sup> = LayerNorm(E<sub>token</sub> + E<sub>position</sub>%s)"),
                              t == NULL || t->type_embed != NULL ? _(" + E<sub>segment</sub>") : "");
    case AS_TEACH_STEP_HEADS:
      return g_strdup_printf ("MultiHead(x) = Concat(z<sub>1</sub>, …, z<sub>%d</sub>) W<sub>O</sub>%s",
                              heads, pre ? "" : " + b<sub>O</sub>");
    case AS_TEACH_STEP_RESIDUAL:
      return pre ? g_strdup_printf ("h = x + MultiHead(%s(x))", norm)
                 : g_strdup_printf ("h = %s(x + MultiHead(x))", norm);
    case AS_TEACH_STEP_FFN:
      return swiglu ? g_strdup ("FFN(h) = (SiLU(h W<sub>gate</sub>) ⊙ h W<sub>up</sub>) W<sub>down</sub>")
                    : g_strdup ("FFN(h) = GELU(h W<sub>1</sub> + b<sub>1</sub>) W<sub>2</sub> + b<sub>2</sub>");
    case AS_TEACH_STEP_LAYER_OUT:
      return pre ? g_strdup_printf (_("output = h + FFN(%s(h))"), norm)
                 : g_strdup_printf (_("output = %s(h + FFN(h))"), norm);
    case AS_TEACH_STEP_PADDING:
      return g_strdup (_("M<sub>ij</sub> = −∞ for [PAD] keys j, or for j &gt; i"));
    default:
      g_return_val_if_reached (g_strdup (""));
    }
}

/* softmax( Q Kᵀ / √d + M ) V, the part for the current step on a marker
 * background so the whole class sees where we are. */
static char *
attention_formula (const AsTeachTextInput *in)
{
  const char *on = in->dark ? "<span background=\"#f6d32d\" foreground=\"#000000\">"
                            : "<span background=\"#f9e27d\" foreground=\"#000000\">";
  const char *off = "<span>";
  AsTeachStep s = in->step;
#define PART(cond) ((cond) ? on : off)
  char *markup = g_strdup_printf (
    "%ssoftmax(</span> %sQ</span>%s</span>%sK<sup>T</sup></span> %s/ √d</span> %s+ M</span> %s)</span> %sV</span>",
    PART (s == AS_TEACH_STEP_SOFTMAX),
    PART (s == AS_TEACH_STEP_QUERY || s == AS_TEACH_STEP_SCORES),
    PART (s == AS_TEACH_STEP_SCORES),
    PART (s == AS_TEACH_STEP_KEYS || s == AS_TEACH_STEP_SCORES),
    PART (s == AS_TEACH_STEP_SCALE),
    PART (s == AS_TEACH_STEP_MASK),
    PART (s == AS_TEACH_STEP_SOFTMAX),
    PART (s == AS_TEACH_STEP_OUTPUT));
#undef PART
  return markup;
}

/* ---- the details ---------------------------------------------------------- */

/* What a step past the attention says, in detail, on the trace's numbers. */
static char *
layer_text (const AsTeachTextInput *in)
{
  const AsAnalysis *a = in->analysis;
  int layer = in->layer + 1, head = in->head + 1;
  if (in->step == AS_TEACH_STEP_PADDING && a->causal)
    return g_strdup (_("This model is a decoder: it always uses the causal mask on the left, so each token "
                     "sees only itself and the tokens before it. When sentences of different lengths are "
                     "run as one batch, the padding keys are hidden with −∞ the same way, on top of it."));
  if (in->trace_error != NULL)
    return g_strdup_printf (_("Could not compute the layer: %s"), in->trace_error);
  if (!in->trace_current)
    return g_strdup_printf (_("Computing every stage of layer %d…"), layer);
  const AsLayerTrace *t = in->trace;
  int i = CLAMP (in->query, 0, t->n - 1);
  const char *tok = token_text (in, i);
  const char *norm = t->norm == AS_TRACE_NORM_RMS ? "RMSNorm" : "LayerNorm";
  switch (in->step)
    {
    case AS_TEACH_STEP_EMBED:
      {
        g_autofree char *pos = t->position_embed == NULL
          ? g_strdup_printf (_("No position vector is added: RoPE turns q and k by position in every layer "
                             "(step %d shows it)."), AS_TEACH_STEP_KEYS + 1)
          /* Translators: %s is “, and the segment vector that tells sentence A from B” or nothing. */
          : g_strdup_printf (_("The position table's vector for position %d is added%s."), i + 1,
                             t->type_embed != NULL ? _(", and the segment vector that tells sentence A from B") : "");
        g_autofree char *reads = layer == 1
          ? g_strdup (_("This is what layer 1, the one selected, reads."))
          : g_strdup_printf (_("This is what layer 1 reads; layer %d, the one selected, reads the output "
                             "of the layers before it."), layer);
        /* Translators: the two %s at the end are the sentences about the position vector and about
         * the layer that reads the sum. */
        return g_strdup_printf (_("“%s” is token %d of %d (vocabulary id %d): its row of the word-embedding "
                                "table, %d numbers. %s %s"),
                                tok, i + 1, t->n, a->encoding->tokens[i].id, t->hidden, pos, reads);
      }
    case AS_TEACH_STEP_HEADS:
      return g_strdup_printf (
        _("Layer %d has %d heads of %d numbers each. Their z vectors for “%s” are put side by side "
        "(%d numbers) and multiplied by W_O (%d × %d), giving attn_out: %d numbers, the size of the "
        "token's vector again. Head %d's z is the z of step %d."),
        layer, t->n_heads, t->head_dim, tok, t->n_heads * t->head_dim, t->n_heads * t->head_dim,
        t->hidden, t->hidden, head, AS_TEACH_STEP_OUTPUT + 1);
    case AS_TEACH_STEP_RESIDUAL:
      return t->pre_norm
        ? g_strdup_printf (_("This model normalises before attention: attention read %s(x) (x divided by "
                           "its root mean square, times a learned scale), and attn_out is added to x "
                           "itself. The running sum x is called the residual stream."), norm)
        : g_strdup_printf (_("attn_out is added to x, the vector the layer started from; %s then brings "
                           "the sum back to mean 0 and spread 1 (the standard deviation), before a "
                           "learned scale γ and shift β. Adding lets each layer make a small change "
                           "without losing what came before."), norm);
    case AS_TEACH_STEP_FFN:
      return t->ffn == AS_TRACE_FFN_SWIGLU
        ? g_strdup_printf (_("The FFN widens %s(h) from %d to %d numbers twice (W_gate and W_up), "
                           "multiplies SiLU(gate) by up, and narrows back to %d (W_down). It works on "
                           "each token alone; most of a layer's parameters are here."),
                           norm, t->hidden, t->intermediate, t->hidden)
        : g_strdup_printf (_("The FFN widens h from %d to %d numbers (W₁), applies GELU to each, and narrows "
                           "back to %d (W₂). It works on each token alone; most of a layer's parameters "
                           "are here."), t->hidden, t->intermediate, t->hidden);
    case AS_TEACH_STEP_LAYER_OUT:
      /* Translators: %s is the sentence about FFN(h) being added to h. */
      return g_strdup_printf (_("%s The cosine similarity compares directions: 1 = the same, 0 = unrelated."),
                              t->pre_norm ? _("FFN(h) is added to h: that sum is the layer's output.")
                                          : _("FFN(h) is added to h and LayerNorm rescales the sum: the "
                                            "layer's output."));
    case AS_TEACH_STEP_PADDING:
      {
        const AsPaddingDemo *p = in->padding;
        if (p == NULL)
          return g_strdup_printf (_("No padding demonstration: %s"),
                                  in->padding_error != NULL ? in->padding_error : _("none computed"));
        return g_strdup_printf (
          _("The sentence (%d tokens) and “%s” (%d) as one batch of %d: the key mask gives the [PAD] "
          "keys −∞, so they get exactly 0 weight and head %d sees what it sees alone. (Type another "
          "sentence in the Compare tab to change the second one.)"),
          p->n_seq[0], in->padding_text, p->n_seq[1], p->n, head);
      }
    default:
      g_return_val_if_reached (g_strdup (""));
    }
}

/* ---- public --------------------------------------------------------------- */

char *
as_teach_text_title (const AsTeachTextInput *in)
{
  g_return_val_if_fail (in != NULL, NULL);
  g_return_val_if_fail (in->step < AS_N_TEACH_STEPS, NULL);
  const char *title_text, *plain;
  step_words (in, &title_text, &plain);
  return g_strdup_printf ("%d. %s", in->step + 1, title_text);
}

const char *
as_teach_text_plain (const AsTeachTextInput *in)
{
  g_return_val_if_fail (in != NULL, NULL);
  g_return_val_if_fail (in->step < AS_N_TEACH_STEPS, NULL);
  const char *title_text, *plain;
  step_words (in, &title_text, &plain);
  return plain;
}

char *
as_teach_text_formula (const AsTeachTextInput *in)
{
  g_return_val_if_fail (in != NULL, NULL);
  g_return_val_if_fail (in->step < AS_N_TEACH_STEPS, NULL);
  return as_teach_step_is_attention (in->step) ? attention_formula (in) : layer_formula (in);
}

/* The attention steps speak of Q, K, V and the steps' numbers, the others
 * of the trace's; a note follows when long inputs show only some keys. */
char *
as_teach_text_details (const AsTeachTextInput *in)
{
  g_return_val_if_fail (in != NULL, NULL);
  const AsAnalysis *a = in->analysis;
  char *text = NULL;
  if (a == NULL)
    text = g_strdup (_("Type a sentence to begin."));
  else if (!as_teach_step_is_attention (in->step))
    text = layer_text (in);
  else if (in->error != NULL)
    text = g_strdup_printf (_("Could not compute Q, K and V: %s"), in->error);
  else if (in->steps == NULL)
    text = g_strdup (_("Computing Q, K and V for this layer…"));
  else
    {
      const AsAttentionSteps *st = in->steps;
      /* Counted from 1, as the grid's L/H labels and the figure titles. */
      int layer = in->layer + 1, head = in->head + 1;
      const char *tok = token_text (in, st->query);
      switch (in->step)
        {
        case AS_TEACH_STEP_QUERY:
          text = g_strdup_printf (_("Layer %d, head %d. The token “%s” asks a question: its query "
                                  "vector q has d = %d numbers (its slice of Q = X W_Q + b_Q). "
                                  "Blue is negative, red positive."), layer, head, tok, st->head_dim);
          break;
        case AS_TEACH_STEP_KEYS:
          text = g_strdup_printf (_("Every token j offers a key vector k_j (its row of K = X W_K + b_K), "
                                  "also %d numbers. Tokens whose key points the same way as q will score high."),
                                  st->head_dim);
          if (in->n_kv_heads < in->n_heads)
            {
              /* Grouped-query attention: K and V come from a shared head. */
              int group = in->n_heads / in->n_kv_heads, kv = (head - 1) / group;
              /* Translators: the first %s is the step's text so far. */
              char *more = g_strdup_printf (_("%s This model shares keys and values: head %d reads key/value "
                                            "head %d, with heads %d–%d, so these k_j (and the v_j of step %d) "
                                            "are the same for all %d."), text, head, kv + 1, kv * group + 1,
                                            (kv + 1) * group, AS_TEACH_STEP_OUTPUT + 1, group);
              g_free (text);
              text = more;
            }
          if (in->rope)
            {
              /* Translators: the first %s is the step's text so far. */
              char *more = g_strdup_printf (_("%s They are shown after RoPE, the rotation that tells the model "
                                            "where each token is: below, q of “%s” and k of “%s” before and "
                                            "after it."), text, tok, token_text (in, in->rope_key));
              g_free (text);
              text = more;
            }
          break;
        case AS_TEACH_STEP_SCORES:
          text = g_strdup_printf (_("The score of “%s” for each token is the dot product q · k_j: "
                                  "multiply the %d pairs of numbers and add them up."), tok, st->head_dim);
          break;
        case AS_TEACH_STEP_SCALE:
          text = g_strdup_printf (_("Dot products grow with d, so every score is multiplied by 1/√d "
                                  "= 1/√%d = %.4g. Softmax of huge scores would put all weight on one token."),
                                  st->head_dim, st->scale);
          break;
        case AS_TEACH_STEP_MASK:
          if (a->causal)
            {
              int hidden = 0;
              for (int j = 0; j < st->n; j++)
                hidden += st->masked[j];
              /* Translators: the %s after “token” is an English plural ending, “s” or nothing. */
              text = g_strdup_printf (_("This model is a decoder, and this is its own causal mask: it writes "
                                      "one token at a time, so “%s” may not look at the %d token%s after it: "
                                      "M = −∞ there (exactly 0 weight after the softmax), M = 0 for itself "
                                      "and the tokens before."), tok, hidden, hidden == 1 ? "" : "s");
              break;
            }
          text = in->causal
                 ? g_strdup_printf (_("Causal mask (demonstration): tokens after “%s” get M = −∞, so they "
                                    "will receive exactly 0 weight. Earlier tokens get M = 0."), tok)
                 : g_strdup (_("M is added to the scores to hide keys. One input has no padding and "
                             "BERT reads in both directions, so M = 0 everywhere here."));
          break;
        case AS_TEACH_STEP_SOFTMAX:
          text = g_strdup_printf (_("p_j = exp(s_j − m) / Σ exp(s_k − m), with m = %.4g the largest score "
                                  "(subtracting it changes nothing but avoids overflow). The weights are "
                                  "positive and add up to 1."), st->max);
          break;
        case AS_TEACH_STEP_OUTPUT:
          text = g_strdup_printf (_("The head's output for “%s” is Σ p_j v_j: each token's value vector, "
                                  "weighted by its attention. The top strip is the output z (%d numbers); "
                                  "below it, each token's share p_j v_j."), tok, st->head_dim);
          break;
        default:
          g_assert_not_reached ();
        }
    }
  if (in->steps != NULL && in->n_rows < in->steps->n && in->step != AS_TEACH_STEP_QUERY &&
      as_teach_step_is_attention (in->step))
    {
      /* Translators: %s is the step's text so far. */
      char *more = g_strdup_printf (_("%s (Showing the %d keys with the largest weights of %d tokens.)"),
                                    text, in->n_rows, in->steps->n);
      g_free (text);
      text = more;
    }
  return text;
}
