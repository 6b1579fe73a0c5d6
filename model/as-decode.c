/* as-decode.c — the decoder loop over a backend's key/value cache, or over
 * whole reruns where the backend has none. */
#include "as-decode.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "as-architecture.h"
#include "as-attention.h"
#include "as-error.h"
#include "as-lm-head.h"
#include "as-block-gemv.h"
#include "as-thread-pool.h"

struct _AsDecoder {
  AsBackend *backend;        /* not owned */
  int        capacity;
  int       *ids;            /* [capacity] the tokens so far */
  int        n;              /* how many */
  gpointer   cache;          /* the backend's key/value cache; NULL: reruns */
  gboolean   broken;         /* a cached step failed half way: the cache is not trusted */
  float     *final_hidden;   /* [capacity, hidden]: a rerun's; [hidden] is what a step reads */
  AsDecodeWeights weights;  /* what the steps read: never AUTO */
  gsize      step_bytes;     /* bytes of weights a step reads, layers and output embedding */
  AsBlockMatrix *lm_blocks;  /* [vocab, hidden] the output embedding as blocks; NULL: fp32 */
  AsThreadPool *pool;        /* shares lm_blocks' rows: as many threads as the backend's */
  int        threads;
  const float *lm_x;         /* [hidden] the block logits' input while the pool shares them */
  float     *lm_out;         /* [vocab] their output */
  AsHeadAblation *ablate;    /* [n_ablate] the prompt's heads to ablate, which a rerun
                              * step ablates too (a cache keeps its own) */
  int        n_ablate;
};

static const char *const weights_names[] = {
  [AS_DECODE_WEIGHTS_AUTO] = "auto",
  [AS_DECODE_WEIGHTS_FP32] = "fp32",
  [AS_DECODE_WEIGHTS_FILE] = "file",
  [AS_DECODE_WEIGHTS_INT8] = "int8",
};

const char *
as_decode_weights_to_string (AsDecodeWeights weights)
{
  return (guint) weights < G_N_ELEMENTS (weights_names) ? weights_names[weights] : "?";
}

gboolean
as_decode_weights_from_string (const char      *name,
                               AsDecodeWeights *weights)
{
  for (guint i = 0; i < G_N_ELEMENTS (weights_names); i++)
    if (g_strcmp0 (name, weights_names[i]) == 0)
      {
        *weights = (AsDecodeWeights) i;
        return TRUE;
      }
  return FALSE;
}

/* Bytes of fp32 weights a step reads: every layer's products and the
 * output embedding. */
static gsize
fp32_step_bytes (const AsModel *model)
{
  const AsConfig *c = model->config;
  const gsize hid = c->hidden, inter = c->intermediate;
  const gsize kv = c->n_kv_heads > 0 ? (gsize) c->n_kv_heads * c->head_dim : hid;
  const gsize ffn = model->arch->ffn_products > 0 ? model->arch->ffn_products : 2;
  const gsize per_layer = hid * (hid + 2 * kv) + hid * hid + ffn * hid * inter;
  return 4 * (c->n_layers * per_layer + (gsize) c->vocab_size * hid);
}

/* A decoder whose steps read fp32 weights. */
static AsDecoder *
decoder_new_fp32 (AsBackend *backend,
                  int        capacity,
                  GError   **error)
{
  const AsModel *model = backend->model;
  const AsConfig *c = model->config;
  if (!model->arch->causal || !as_lm_head_available (model))
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s is not a decoder: it has no language-model head to generate with",
                   model->arch->name);
      return NULL;
    }
  if (capacity < 1 || capacity > c->max_positions)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "%d tokens asked for; this model takes 1 to %d", capacity, c->max_positions);
      return NULL;
    }
  if (!as_attention_check_budget (c, capacity, error))
    return NULL;

  AsDecoder *self = g_new0 (AsDecoder, 1);
  self->backend = backend;
  self->capacity = capacity;
  self->ids = g_new0 (int, capacity);
  self->final_hidden = g_new0 (float, (gsize) capacity * c->hidden);
  if (backend->vtable->decode_new != NULL)
    {
      self->cache = backend->vtable->decode_new (backend, capacity, error);
      if (self->cache == NULL)
        {
          as_decoder_free (self);
          return NULL;
        }
    }
  return self;
}

AsDecoder *
as_decoder_new (AsBackend *backend,
                int        capacity,
                GError   **error)
{
  return as_decoder_new_with_weights (backend, capacity, AS_DECODE_WEIGHTS_AUTO, error);
}

AsDecoder *
as_decoder_new_with_weights (AsBackend       *backend,
                             int              capacity,
                             AsDecodeWeights  weights,
                             GError         **error)
{
  AsDecoder *self = decoder_new_fp32 (backend, capacity, error);
  if (self == NULL)
    return NULL;
  const AsModel *model = backend->model;
  self->weights = AS_DECODE_WEIGHTS_FP32;
  self->step_bytes = fp32_step_bytes (model);
  const gboolean blocks = self->cache != NULL && backend->vtable->decode_blocks != NULL;
  if (weights == AS_DECODE_WEIGHTS_FP32 || (weights == AS_DECODE_WEIGHTS_AUTO && !blocks))
    return self;
  if (!blocks)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                   "%s weights: the %s backend of %s decodes with fp32 weights only",
                   as_decode_weights_to_string (weights), backend->vtable->name, model->arch->name);
      as_decoder_free (self);
      return NULL;
    }
  const AsDecodeWeights asked = weights == AS_DECODE_WEIGHTS_AUTO ? AS_DECODE_WEIGHTS_FILE : weights;
  gsize layer_bytes = 0;
  GError *local = NULL;
  if (!backend->vtable->decode_blocks (backend, self->cache, asked, &layer_bytes, &self->lm_blocks,
                                       &local))
    {
      as_decoder_free (self);
      /* auto promised only exactness: without the memory for the blocks
       * (the fp32 copies are there already) it decodes from those */
      if (weights == AS_DECODE_WEIGHTS_AUTO)
        {
          g_error_free (local);
          return as_decoder_new_with_weights (backend, capacity, AS_DECODE_WEIGHTS_FP32, error);
        }
      g_propagate_error (error, local);
      return NULL;
    }
  const AsConfig *c = model->config;
  const gsize lm_fp32 = (gsize) 4 * c->vocab_size * c->hidden;
  const gsize step_bytes = layer_bytes + (self->lm_blocks != NULL
                                          ? as_block_matrix_bytes (self->lm_blocks) : lm_fp32);
  /* A file with no tensor in a block type: its steps read fp32 after all. */
  if (asked == AS_DECODE_WEIGHTS_FILE && step_bytes == self->step_bytes)
    {
      if (weights == AS_DECODE_WEIGHTS_FILE)
        {
          g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_UNSUPPORTED,
                       "file weights: %s holds no weight as Q8_0, Q4_0 or Q4_1 blocks to read "
                       "as they are", model->name);
          as_decoder_free (self);
          return NULL;
        }
      return self;
    }
  self->weights = asked;
  self->step_bytes = step_bytes;
  if (self->lm_blocks != NULL)
    {
      /* OpenBLAS's count, as the CPU backends take */
      self->pool = as_thread_pool_new ();
      self->threads = as_thread_pool_reserve (self->pool, CLAMP (openblas_get_num_threads (), 1,
                                                                 AS_THREAD_POOL_MAX_THREADS));
    }
  return self;
}

/* Thread T's share of the block logits. */
static void
share_block_logits (gpointer data,
                    int      t)
{
  AsDecoder *self = data;
  as_block_gemv_share (self->lm_blocks, self->lm_x, NULL, self->lm_out, t, self->threads);
}

/* LOGITS from the last token's final hidden state, refused when not finite
 * (weights that overflow float32 on this input). */
static gboolean
last_logits (AsDecoder   *self,
             const float *final_hidden,
             float       *logits,
             GError     **error)
{
  const AsModel *model = self->backend->model;
  if (self->lm_blocks != NULL)
    {
      self->lm_x = final_hidden;
      self->lm_out = logits;
      as_thread_pool_run (self->pool, self->threads, share_block_logits, self);
    }
  else
    as_lm_head_logits (model, final_hidden, 1, logits);
  for (int i = 0; i < model->config->vocab_size; i++)
    if (!isfinite (logits[i]))
      {
        g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_NOT_FINITE,
                             "the next-token logits are not finite (NaN or infinity): "
                             "this model's weights overflow 32-bit floats on this input");
        return FALSE;
      }
  return TRUE;
}

/* Runs the whole model on the tokens so far (no cache), the layers to
 * REQUEST's callback, leaving every token's final hidden state. */
static gboolean
rerun (AsDecoder              *self,
       const AsForwardRequest *request,
       GError                **error)
{
  return as_backend_forward (self->backend, request, self->final_hidden, error);
}

gboolean
as_decoder_prompt (AsDecoder              *self,
                   const AsForwardRequest *request,
                   float                  *logits,
                   GError                **error)
{
  const int H = self->backend->model->config->hidden;
  if (self->n != 0)
    {
      g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                           "the prompt was already run: append tokens one at a time");
      return FALSE;
    }
  if (request->n < 1 || request->n > self->capacity)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "a prompt of %d tokens; this decoder holds 1 to %d", request->n, self->capacity);
      return FALSE;
    }
  if (!as_backend_check_request (self->backend->model, request, error))
    return FALSE;

  const float *last;
  if (self->cache != NULL)
    {
      if (!self->backend->vtable->decode_prompt (self->backend, self->cache, request,
                                                 self->final_hidden, error))
        return FALSE;
      last = self->final_hidden;
    }
  else
    {
      if (!rerun (self, request, error))
        return FALSE;
      last = self->final_hidden + (gsize) (request->n - 1) * H;
    }
  memcpy (self->ids, request->ids, sizeof (int) * request->n);
  self->n = request->n;
  self->ablate = g_memdup2 (request->ablate, sizeof (AsHeadAblation) * request->n_ablate);
  self->n_ablate = request->n_ablate;
  return last_logits (self, last, logits, error);
}

/* A rerun's layer callback: hands on the last token's row of each head. */
typedef struct {
  AsRowFunc on_row;
  gpointer  user_data;
  int       n;         /* tokens in the rerun */
  int       n_heads;
  float    *row;       /* [n_heads, n] */
} LastRow;

static gboolean
last_row_on_layer (int          layer,
                   const float *attn,
                   const float *hidden,
                   gpointer     user_data)
{
  LastRow *lr = user_data;
  const gsize n = lr->n;
  for (int h = 0; h < lr->n_heads; h++)
    memcpy (lr->row + h * n, attn + (h * n + n - 1) * n, sizeof (float) * n);
  return lr->on_row (layer, lr->row, lr->n, lr->user_data);
}

gboolean
as_decoder_step (AsDecoder  *self,
                 int         token,
                 AsRowFunc   on_row,
                 gpointer    user_data,
                 const gint *cancel,
                 float      *logits,
                 GError    **error)
{
  const AsConfig *c = self->backend->model->config;
  if (self->n == 0)
    {
      g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                           "no prompt yet: run one before appending tokens");
      return FALSE;
    }
  if (self->n >= self->capacity)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "the context is full (%d tokens)", self->capacity);
      return FALSE;
    }
  if (self->broken)
    {
      g_set_error_literal (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                           "an earlier step stopped half way: start again from the prompt");
      return FALSE;
    }
  if (token < 0 || token >= c->vocab_size)
    {
      g_set_error (error, AS_MODEL_ERROR, AS_MODEL_ERROR_INPUT,
                   "token id %d out of range (vocab %d)", token, c->vocab_size);
      return FALSE;
    }

  const float *last;
  if (self->cache != NULL)
    {
      if (!self->backend->vtable->decode_step (self->backend, self->cache, token, on_row,
                                               user_data, cancel, self->final_hidden, error))
        {
          self->broken = TRUE;
          return FALSE;
        }
      last = self->final_hidden;
      self->ids[self->n++] = token;
    }
  else
    {
      self->ids[self->n] = token;
      const int n = self->n + 1;
      g_autofree float *row = on_row != NULL ? g_new (float, (gsize) c->n_heads * n) : NULL;
      LastRow lr = { on_row, user_data, n, c->n_heads, row };
      AsForwardRequest request = {
        .ids = self->ids,
        .type_ids = NULL,
        .n = n,
        .on_layer = on_row != NULL ? last_row_on_layer : NULL,
        .user_data = &lr,
        .cancel = cancel,
        .ablate = self->ablate,
        .n_ablate = self->n_ablate,
      };
      if (!rerun (self, &request, error))
        return FALSE;
      self->n = n;
      last = self->final_hidden + (gsize) (n - 1) * c->hidden;
    }
  return last_logits (self, last, logits, error);
}

int
as_decoder_get_length (AsDecoder *self)
{
  return self->n;
}

const int *
as_decoder_get_ids (AsDecoder *self)
{
  return self->ids;
}

int
as_decoder_get_capacity (AsDecoder *self)
{
  return self->capacity;
}

gboolean
as_decoder_is_cached (AsDecoder *self)
{
  return self->cache != NULL;
}

AsDecodeWeights
as_decoder_get_weights (AsDecoder *self)
{
  return self->weights;
}

gsize
as_decoder_get_step_weight_bytes (AsDecoder *self)
{
  return self->step_bytes;
}

void
as_decoder_free (AsDecoder *self)
{
  if (self == NULL)
    return;
  if (self->cache != NULL)
    self->backend->vtable->decode_free (self->backend, self->cache);
  g_free (self->ids);
  g_free (self->ablate);
  g_free (self->final_hidden);
  as_block_matrix_free (self->lm_blocks);
  if (self->pool != NULL)
    as_thread_pool_free (self->pool);
  g_free (self);
}
