/* encoder-test-util.h — what the encoder suites share: the golden fixtures,
 * random models that stress the numerics, and running a backend with every
 * layer kept.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "as-analysis.h"
#include "as-backend.h"
#include "as-model.h"
#include "as-safetensors.h"

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

/* The golden fixtures, made by tools/make-goldens.py: the inputs of
 * $AS_TEST_DATA/attention-goldens.json, each naming a safetensors file that
 * holds transformers' eager attention [layers, heads, rows, n] and final
 * hidden state [rows, hidden] for the token rows "rows". goldens_load reads
 * them once (aborting when it cannot) and returns the inputs; goldens_free
 * lets them go. */
JsonArray     *goldens_load  (void);
void           goldens_free  (void);

/* Golden input K: its ids, type ids (g_free both) and length; returns its
 * JSON object ("name", "file", "a_base64", "b_base64", "truncated"). */
JsonObject    *golden_input  (guint              k,
                              int              **ids,
                              int              **types,
                              int               *n);

/* The safetensors file of INPUT; fails the test when it cannot be opened.
 * as_safetensors_free () it. */
AsSafetensors *golden_open   (JsonObject        *input);

/* Tensor NAME of ST as floats (COUNT of them); fails the test when it is
 * missing. g_free the result. */
float         *golden_tensor (AsSafetensors     *st,
                              const char        *name,
                              gsize             *count);

/* Largest |A's attention - transformers'| over the rows golden file ST
 * keeps, every layer and head; the same for the final hidden state (A must
 * have one). Fail the test when the shapes do not match. */
double   golden_attention_diff (const AsAnalysis *a,
                                AsSafetensors    *st);
double   golden_hidden_diff    (const AsAnalysis *a,
                                AsSafetensors    *st);

/* Largest |row sum - 1| over A's attention. */
double   max_row_sum_error     (const AsAnalysis *a);

G_END_DECLS
