/* as-lm-head.c */
#include "as-lm-head.h"

#include <cblas.h>

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
  /* One row (generation, the app's next-token page): no OpenBLAS thread,
   * since the app forks helpers while it generates. */
  if (n == 1)
    as_fast_gemv_rows (embedding, final_hidden, V, H, logits);
  else
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, V, H, 1.0f, final_hidden, H,
                 embedding, H, 0.0f, logits, V);
}
