/* as-lm-head.c */
#include "as-lm-head.h"

#include "as-architecture.h"
#include "as-vector-math.h"

gboolean
as_lm_head_available (const AsModel *model)
{
  return model->arch->output_embedding != NULL && model->arch->final_norm != NULL;
}

void
as_lm_head_logits (const AsModel *model,
                   const float   *final_hidden,
                   int            n,
                   float         *logits)
{
  g_return_if_fail (as_lm_head_available (model));
  const int H = model->config->hidden, V = model->config->vocab_size;
  const float *embedding = model->arch->output_embedding (model);   /* [V, H] */
  /* On the calling thread, whatever N: generation and the worker's logit
   * lens run while the app may fork helpers, and OpenBLAS's fork handler
   * deadlocks on a product in flight on another thread. The embedding is
   * read once per block of rows (as_fast_gemm_rows), not once per row. */
  as_fast_gemm_rows (embedding, final_hidden, V, H, n, logits);   /* [n, V] */
}
