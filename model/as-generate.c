/* as-generate.c — the generation loop over an AsDecoder. */
#include "as-generate.h"

#include <string.h>

#include "as-attention.h"
#include "as-bpe.h"
#include "as-decode.h"
#include "as-error.h"

void
as_generate_options_init (AsGenerateOptions *options,
                          const AsModel     *model)
{
  memset (options, 0, sizeof *options);
  as_sampler_options_init (&options->sampling);
  options->max_tokens = 64;
  options->eos_id = model->tokenizer != NULL ? as_tokenizer_get_eos_id (model->tokenizer) : -1;
  options->n_top = 5;
}

gboolean
as_generate_options_check (const AsGenerateOptions *options,
                           GError                 **error)
{
  if (!as_sampler_options_check (&options->sampling, error))
    return FALSE;
  if (options->max_tokens < 1)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "max-tokens %d: at least one token must be asked for", options->max_tokens);
      return FALSE;
    }
  if (options->n_top < 0 || options->n_top > AS_GENERATE_MAX_TOP)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "%d top tokens asked for per step; 0 to %d can be shown",
                   options->n_top, AS_GENERATE_MAX_TOP);
      return FALSE;
    }
  return TRUE;
}

const char *
as_generate_stop_to_string (AsGenerateStop stop)
{
  switch (stop)
    {
    case AS_GENERATE_STOP_EOS:
      return "eos";
    case AS_GENERATE_STOP_LENGTH:
      return "length";
    case AS_GENERATE_STOP_CONTEXT:
      return "context";
    }
  return "unknown";
}

/* ---- text pieces --------------------------------------------------------------- */

/* The generated text so far, handed out as it becomes whole: the ids are
 * decoded together (a character may span tokens), and a decoding that
 * ends in U+FFFD waits for the next token unless it is the last. */
typedef struct {
  AsBpe   *bpe;       /* NULL: no tokenizer, no text */
  GArray  *ids;       /* int: generated ids but the end-of-sequence one */
  gsize    given;     /* bytes of the decoding handed out */
  char    *piece;     /* the last piece */
} TextPieces;

static gboolean
ends_unfinished (const char *text,
                 gsize       len)
{
  return len >= 3 && memcmp (text + len - 3, "\xef\xbf\xbd", 3) == 0;
}

static const char *
text_piece (TextPieces *tp,
            int         id,
            gboolean    is_eos,
            gboolean    last)
{
  if (tp->bpe == NULL)
    return NULL;
  if (!is_eos)
    g_array_append_val (tp->ids, id);
  g_free (tp->piece);
  g_autofree char *all = as_bpe_decode (tp->bpe, (const int *) tp->ids->data, tp->ids->len, FALSE);
  gsize len = strlen (all);
  if ((!last && ends_unfinished (all, len)) || len < tp->given)
    {
      tp->piece = g_strdup ("");
      return tp->piece;
    }
  tp->piece = g_strdup (all + tp->given);
  tp->given = len;
  return tp->piece;
}

/* ---- rows ---------------------------------------------------------------------- */

/* The prompt pass's layer callback: the caller's, then the last token's
 * row of each head to ON_ROW. */
typedef struct {
  const AsGenerateOptions *options;
  int                      n;        /* prompt tokens */
  int                      n_heads;
  float                   *row;      /* [n_heads, n] */
} PromptLayers;

static gboolean
prompt_on_layer (int          layer,
                 const float *attn,
                 const float *hidden,
                 gpointer     user_data)
{
  PromptLayers *pl = user_data;
  const AsGenerateOptions *o = pl->options;
  if (o->on_prompt_layer != NULL && !o->on_prompt_layer (layer, attn, hidden, o->user_data))
    return FALSE;
  if (o->on_row == NULL)
    return TRUE;
  const gsize n = pl->n;
  for (int h = 0; h < pl->n_heads; h++)
    memcpy (pl->row + h * n, attn + (h * n + n - 1) * n, sizeof (float) * n);
  return o->on_row (layer, pl->row, pl->n, o->user_data);
}

/* ---- the loop ------------------------------------------------------------------ */

static gboolean
run_prompt (AsDecoder               *decoder,
            const AsModel           *model,
            const int               *prompt,
            int                      n_prompt,
            const AsGenerateOptions *options,
            float                   *logits,
            GError                 **error)
{
  const int n_heads = model->config->n_heads;
  g_autofree float *row = options->on_row != NULL ? g_new (float, (gsize) n_heads * n_prompt) : NULL;
  PromptLayers pl = { options, n_prompt, n_heads, row };
  gboolean streamed = options->on_row != NULL || options->on_prompt_layer != NULL;
  AsForwardRequest request = {
    .ids = prompt,
    .n = n_prompt,
    .on_layer = streamed ? prompt_on_layer : NULL,
    .user_data = &pl,
    .cancel = options->cancel,
    .ablate = options->ablate,
    .n_ablate = options->n_ablate,
  };
  return as_decoder_prompt (decoder, &request, logits, error);
}

static gboolean
check_cancel (const gint *cancel,
              GError    **error)
{
  if (cancel == NULL || !g_atomic_int_get (cancel))
    return TRUE;
  g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED, "cancelled");
  return FALSE;
}

/* The last chosen token through the model too, for ON_LAST. */
static gboolean
run_last (AsDecoder               *decoder,
          int                      id,
          const AsGenerateOptions *options,
          float                   *logits,
          GError                 **error)
{
  if (!check_cancel (options->cancel, error) ||
      !as_decoder_step (decoder, id, options->on_row, options->user_data, options->cancel,
                        logits, error))
    return FALSE;
  if (options->on_last (logits, as_decoder_get_length (decoder), options->user_data))
    return TRUE;
  g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED, "stopped by the caller");
  return FALSE;
}

gboolean
as_generate (AsBackend               *backend,
             const int               *prompt,
             int                      n_prompt,
             const AsGenerateOptions *options,
             AsGenerateStop          *stop,
             int                    **ids,
             int                     *n_ids,
             GError                 **error)
{
  const AsModel *model = backend->model;
  const AsConfig *c = model->config;
  if (!as_generate_options_check (options, error))
    return FALSE;
  if (n_prompt < 1 || n_prompt > c->max_positions)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "a prompt of %d tokens; this model takes 1 to %d", n_prompt, c->max_positions);
      return FALSE;
    }
  /* The last chosen token is never run, so it needs no position. A long
   * limit ends where the positions or the attention budget do; a prompt
   * beyond them is refused by the decoder. */
  int room = MAX (as_attention_max_tokens (c), n_prompt);
  int reserve = options->on_last != NULL ? 1 : 0;   /* a position for the last token */
  int capacity = (int) MIN ((gint64) n_prompt + options->max_tokens - 1 + reserve, (gint64) room);
  g_autoptr(AsDecoder) decoder = as_decoder_new_with_weights (backend, capacity,
                                                              options->weights, error);
  if (decoder == NULL)
    return FALSE;
  if (options->on_start != NULL)
    options->on_start (decoder, options->user_data);
  g_autoptr(AsSampler) sampler = as_sampler_new (&options->sampling, c->vocab_size, error);
  if (sampler == NULL)
    return FALSE;

  g_autofree float *logits = g_new (float, c->vocab_size);  /* [vocab] */
  int top_ids[AS_GENERATE_MAX_TOP];
  float top_probs[AS_GENERATE_MAX_TOP];
  int n_top = MIN (options->n_top, c->vocab_size);
  g_autoptr(GArray) out = g_array_new (FALSE, FALSE, sizeof (int));
  TextPieces tp = {
    .bpe = model->tokenizer != NULL ? as_tokenizer_get_bpe (model->tokenizer) : NULL,
    .ids = g_array_new (FALSE, FALSE, sizeof (int)),
  };
  AsGenerateStop why = AS_GENERATE_STOP_LENGTH;
  gboolean ok = run_prompt (decoder, model, prompt, n_prompt, options, logits, error);
  for (int i = 0; ok; i++)
    {
      int id = as_sampler_pick (sampler, logits);
      g_array_append_val (out, id);
      gboolean is_eos = id == options->eos_id;
      gboolean full = as_decoder_get_length (decoder) + reserve >= capacity;
      gboolean last = is_eos || i + 1 >= options->max_tokens || full;
      if (n_top > 0)
        as_sampler_top_k (logits, c->vocab_size, n_top, top_ids, top_probs);
      AsGenerateStep step = {
        .index = i,
        .id = id,
        .is_eos = is_eos,
        .text = text_piece (&tp, id, is_eos, last),
        .n_top = n_top,
        .top_ids = top_ids,
        .top_probs = top_probs,
        .logits = logits,
      };
      if (options->on_step != NULL && !options->on_step (&step, options->user_data))
        {
          g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_CANCELLED, "stopped by the caller");
          ok = FALSE;
          break;
        }
      if (last)
        {
          why = is_eos ? AS_GENERATE_STOP_EOS
              : i + 1 >= options->max_tokens ? AS_GENERATE_STOP_LENGTH
              : AS_GENERATE_STOP_CONTEXT;
          ok = is_eos || options->on_last == NULL || as_decoder_get_length (decoder) >= capacity ||
               run_last (decoder, id, options, logits, error);
          break;
        }
      ok = check_cancel (options->cancel, error) &&
           as_decoder_step (decoder, id, options->on_row, options->user_data, options->cancel,
                            logits, error);
    }
  g_array_unref (tp.ids);
  g_free (tp.piece);
  if (!ok)
    return FALSE;
  if (stop != NULL)
    *stop = why;
  if (n_ids != NULL)
    *n_ids = out->len;
  if (ids != NULL)
    *ids = (int *) g_array_free (g_steal_pointer (&out), FALSE);
  return TRUE;
}

static gboolean
append_text (const AsGenerateStep *step,
             gpointer              user_data)
{
  if (step->text != NULL && !step->is_eos)
    g_string_append (user_data, step->text);
  return TRUE;
}

char *
as_generate_text (AsBackend               *backend,
                  const int               *prompt,
                  int                      n_prompt,
                  const AsGenerateOptions *options,
                  GError                 **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  AsGenerateOptions o = *options;
  o.on_start = NULL;
  o.on_prompt_layer = NULL;
  o.on_row = NULL;
  o.on_last = NULL;
  o.on_step = append_text;
  o.user_data = text;
  if (!as_generate (backend, prompt, n_prompt, &o, NULL, NULL, NULL, error))
    return NULL;
  return g_string_free (g_steal_pointer (&text), FALSE);
}
