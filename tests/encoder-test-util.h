/* encoder-test-util.h — what the encoder suites share: random models that
 * stress the numerics, and running a backend with every layer kept.
 */
#pragma once

#include "as-backend.h"
#include "as-model.h"

G_BEGIN_DECLS

typedef struct {
  int layers;
  int heads;
  int hidden;      /* a multiple of heads */
  int ffn;
  int vocab;
  int positions;
} StressShape;

/* Uniform random weights of SHAPE, large enough (SCALE about 1 to 2) to make
 * attention peaked and GELU reach its tails, unlike the std-0.02 weights of
 * as_model_new_random (). No tokenizer; as_model_free () frees it. */
AsModel *stress_model_new (const StressShape *shape,
                           guint32            seed,
                           double             scale);

/* Ids and type ids for N tokens of MODEL: random ids, sentence B from the
 * middle on. g_free both. */
void     stress_input     (const AsModel     *model,
                           GRand             *rand,
                           int                n,
                           int              **ids,
                           int              **types);

/* Runs BACKEND on REQ (its on_layer and user_data are replaced) and returns
 * every layer's attention [layers, heads, n, n]; fills HIDDEN [n, hidden]
 * when not NULL. Fails the test on an error. g_free the result. */
float   *forward_all      (AsBackend              *backend,
                           const AsForwardRequest *req,
                           float                  *hidden);

double   max_abs_diff     (const float *a,
                           const float *b,
                           gsize        count);

G_END_DECLS
