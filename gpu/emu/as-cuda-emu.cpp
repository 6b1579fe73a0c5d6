/* as-cuda-emu.cpp — a CPU stand-in for the CUDA runtime, cuBLAS and the
 * plugin's kernels, so tests can run the plugin's host logic without a GPU.
 *
 * Work queued on a stream is deferred, as on a device: nothing runs at the
 * call, only when something waits for it (stream or event synchronisation, a
 * stream waiting on an event recorded on another). One stream can be made
 * eager (runs as soon as nothing blocks it) with AS_CUDA_EMU_EAGER=compute or
 * copy (default copy: the first stream an encoder or decoder creates is its
 * compute stream, the second its copy stream); a missing event wait then shows up as
 * data copied before it was computed. Fresh allocations are filled with NaN
 * bytes, so reading anything never written shows up too.
 *
 * GEMMs go to OpenBLAS with cuBLAS's (column-major) arguments; fp16 / bf16
 * operands are widened first and TF32 is imitated by rounding operands to 10
 * mantissa bits. The kernels are plain loops around the reference forward's
 * element-wise maths (model/as-elementwise.h), not the CUDA code.
 */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "../as-cuda-kernels.h"
#include "../../model/as-elementwise.h"

struct EmuStream;

struct EmuEvent {
  long enqueued = 0;    /* records queued so far */
  long completed = 0;   /* the latest record that has run */
  std::vector<std::pair<long, EmuStream *>> owners;   /* record number -> stream */
};

struct EmuOp {
  std::function<void ()> fn;
  EmuEvent *record = nullptr;   /* a record op */
  long      gen = 0;
  EmuEvent *wait = nullptr;     /* a wait op: until WAIT has completed TARGET */
  long      target = 0;
};

struct EmuStream {
  std::deque<EmuOp> queue;
  bool eager = false;
};

struct EmuBlas {
  cudaStream_t stream = nullptr;
};

static std::vector<EmuStream *> streams;
static int streams_created;

static void run_until (EmuStream *s, EmuEvent *event, long gen);

/* Runs the op at the front of S. A wait that is not satisfied blocks unless
 * FORCE, in which case the stream owning the record runs first. */
static bool
step (EmuStream *s,
      bool       force)
{
  if (s->queue.empty ())
    return false;
  EmuOp &front = s->queue.front ();
  if (front.wait != nullptr && front.wait->completed < front.target)
    {
      if (!force)
        return false;
      EmuEvent *event = front.wait;
      long target = front.target;
      for (auto &owner : event->owners)
        if (owner.first == target)
          run_until (owner.second, event, target);
      if (event->completed < target)
        {
          fprintf (stderr, "as-cuda-emu: a wait can never be satisfied\n");
          abort ();
        }
      return true;   /* the front may have run meanwhile: look again */
    }
  EmuOp op = front;
  s->queue.pop_front ();
  if (op.fn)
    op.fn ();
  if (op.record != nullptr && op.record->completed < op.gen)
    op.record->completed = op.gen;
  return true;
}

static void
pump_eager (void)
{
  static bool busy;
  if (busy)
    return;
  busy = true;
  bool progress = true;
  while (progress)
    {
      progress = false;
      for (EmuStream *s : streams)
        if (s->eager)
          while (step (s, false))
            progress = true;
    }
  busy = false;
}

/* Runs S until EVENT completed GEN, or (EVENT NULL) until S is empty. */
static void
run_until (EmuStream *s,
           EmuEvent  *event,
           long       gen)
{
  while (event == nullptr ? !s->queue.empty () : event->completed < gen)
    if (!step (s, true))
      break;
  pump_eager ();
}

static void
enqueue (cudaStream_t           s,
         std::function<void ()> fn)
{
  EmuOp op;
  op.fn = std::move (fn);
  s->queue.push_back (op);
  pump_eager ();
}

/* ------------------------------------------------------------------------ */
/* Runtime                                                                   */

const char *
cudaGetErrorName (cudaError_t err)
{
  static char buf[48];
  snprintf (buf, sizeof buf, "cudaError(%d)", (int) err);
  return buf;
}

const char *
cudaGetErrorString (cudaError_t err)
{
  return err == cudaErrorMemoryAllocation ? "out of memory" : "emulated error";
}

cudaError_t cudaGetLastError (void) { return cudaSuccess; }
cudaError_t cudaSetDevice (int) { return cudaSuccess; }

cudaError_t
cudaGetDeviceCount (int *count)
{
  *count = 1;
  return cudaSuccess;
}

cudaError_t
cudaGetDeviceProperties (cudaDeviceProp *prop,
                         int)
{
  memset (prop, 0, sizeof *prop);
  snprintf (prop->name, sizeof prop->name, "CUDA emulator on the CPU (tests only)");
  prop->major = 9;
  prop->minor = 0;
  prop->totalGlobalMem = (size_t) 16 << 30;
  return cudaSuccess;
}

cudaError_t
cudaMemGetInfo (size_t *free_bytes,
                size_t *total_bytes)
{
  *free_bytes = (size_t) 15 << 30;
  *total_bytes = (size_t) 16 << 30;
  return cudaSuccess;
}

cudaError_t
cudaStreamCreateWithFlags (cudaStream_t *stream,
                           unsigned)
{
  const char *policy = getenv ("AS_CUDA_EMU_EAGER");
  if (policy == nullptr)
    policy = "copy";
  const bool is_copy = streams_created++ % 2 == 1;
  *stream = new EmuStream;
  (*stream)->eager = strcmp (policy, is_copy ? "copy" : "compute") == 0;
  streams.push_back (*stream);
  return cudaSuccess;
}

cudaError_t
cudaStreamDestroy (cudaStream_t stream)
{
  run_until (stream, nullptr, 0);
  for (size_t i = 0; i < streams.size (); i++)
    if (streams[i] == stream)
      {
        streams.erase (streams.begin () + (long) i);
        break;
      }
  delete stream;
  return cudaSuccess;
}

cudaError_t
cudaStreamSynchronize (cudaStream_t stream)
{
  run_until (stream, nullptr, 0);
  return cudaSuccess;
}

cudaError_t
cudaStreamWaitEvent (cudaStream_t stream,
                     cudaEvent_t  event,
                     unsigned)
{
  EmuOp op;
  op.wait = event;
  op.target = event->enqueued;   /* the latest record at the time of the call */
  stream->queue.push_back (op);
  pump_eager ();
  return cudaSuccess;
}

cudaError_t
cudaEventCreateWithFlags (cudaEvent_t *event,
                          unsigned)
{
  *event = new EmuEvent;
  return cudaSuccess;
}

cudaError_t
cudaEventDestroy (cudaEvent_t event)
{
  delete event;
  return cudaSuccess;
}

cudaError_t
cudaEventRecord (cudaEvent_t  event,
                 cudaStream_t stream)
{
  EmuOp op;
  op.record = event;
  op.gen = ++event->enqueued;
  event->owners.push_back ({ op.gen, stream });
  stream->queue.push_back (op);
  pump_eager ();
  return cudaSuccess;
}

cudaError_t
cudaEventSynchronize (cudaEvent_t event)
{
  const long target = event->enqueued;
  for (auto &owner : event->owners)
    if (owner.first == target)
      run_until (owner.second, event, target);
  return cudaSuccess;
}

cudaError_t
cudaMalloc (void  **ptr,
            size_t  bytes)
{
  size_t rounded = (bytes + 255) / 256 * 256;
  *ptr = aligned_alloc (256, rounded > 0 ? rounded : 256);
  if (*ptr == nullptr)
    return cudaErrorMemoryAllocation;
  memset (*ptr, 0xff, bytes);   /* NaN until written */
  return cudaSuccess;
}

cudaError_t
cudaFree (void *ptr)
{
  free (ptr);
  return cudaSuccess;
}

cudaError_t
cudaHostAlloc (void     **ptr,
               size_t     bytes,
               unsigned)
{
  return cudaMalloc (ptr, bytes);
}

cudaError_t
cudaFreeHost (void *ptr)
{
  free (ptr);
  return cudaSuccess;
}

cudaError_t
cudaMemcpyAsync (void           *dst,
                 const void     *src,
                 size_t          bytes,
                 cudaMemcpyKind,
                 cudaStream_t    stream)
{
  enqueue (stream, [=] { memcpy (dst, src, bytes); });
  return cudaSuccess;
}

cudaError_t
cudaMemcpy2DAsync (void           *dst,
                   size_t          dpitch,
                   const void     *src,
                   size_t          spitch,
                   size_t          width,
                   size_t          height,
                   cudaMemcpyKind,
                   cudaStream_t    stream)
{
  enqueue (stream, [=] {
    for (size_t r = 0; r < height; r++)
      memcpy ((char *) dst + r * dpitch, (const char *) src + r * spitch, width);
  });
  return cudaSuccess;
}

/* ------------------------------------------------------------------------ */
/* cuBLAS                                                                    */

cublasStatus_t
cublasCreate (cublasHandle_t *handle)
{
  *handle = new EmuBlas;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasDestroy (cublasHandle_t handle)
{
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasSetStream (cublasHandle_t handle,
                 cudaStream_t   stream)
{
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode (cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetWorkspace (cublasHandle_t, void *, size_t) { return CUBLAS_STATUS_SUCCESS; }
const char *cublasGetStatusString (cublasStatus_t) { return "emulated cuBLAS status"; }

static float
bf16_to_float (uint16_t v)
{
  uint32_t u = (uint32_t) v << 16;
  float f;
  memcpy (&f, &u, sizeof f);
  return f;
}

static float
round_to_tf32 (float f)
{
  uint32_t u;
  memcpy (&u, &f, sizeof u);
  u = (u + 0x1000u) & ~0x1fffu;   /* keep 10 mantissa bits */
  memcpy (&f, &u, sizeof f);
  return f;
}

static std::vector<float>
widen (const void     *p,
       cudaDataType_t  type,
       size_t          count,
       bool            tf32)
{
  std::vector<float> out (count);
  for (size_t i = 0; i < count; i++)
    {
      float v = type == CUDA_R_32F ? ((const float *) p)[i]
              : type == CUDA_R_16F ? (float) ((const _Float16 *) p)[i]
              : bf16_to_float (((const uint16_t *) p)[i]);
      out[i] = tf32 ? round_to_tf32 (v) : v;
    }
  return out;
}

static size_t
type_size (cudaDataType_t type)
{
  return type == CUDA_R_32F ? 4 : 2;
}

static void
gemm_one (cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
          const void *a, cudaDataType_t type, int lda, const void *b, int ldb,
          float beta, float *c, int ldc, bool tf32)
{
  /* The elements each operand spans, column-major. */
  size_t a_count = ta == CUBLAS_OP_N ? (size_t) lda * (k - 1) + m : (size_t) lda * (m - 1) + k;
  size_t b_count = tb == CUBLAS_OP_N ? (size_t) ldb * (n - 1) + k : (size_t) ldb * (k - 1) + n;
  std::vector<float> A = widen (a, type, a_count, tf32), B = widen (b, type, b_count, tf32);
  cblas_sgemm (CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
               tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, m, n, k,
               alpha, A.data (), lda, B.data (), ldb, beta, c, ldc);
}

static bool
gemm_args_ok (cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
              cudaDataType_t a_type, int lda, cudaDataType_t b_type, int ldb,
              cudaDataType_t c_type, int ldc)
{
  /* cuBLAS's own argument checks. */
  return c_type == CUDA_R_32F && a_type == b_type && m > 0 && n > 0 && k > 0 &&
         lda >= (ta == CUBLAS_OP_N ? m : k) && ldb >= (tb == CUBLAS_OP_N ? k : n) && ldc >= m;
}

cublasStatus_t
cublasGemmEx (cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
              const void *alpha, const void *a, cudaDataType_t a_type, int lda,
              const void *b, cudaDataType_t b_type, int ldb,
              const void *beta, void *c, cudaDataType_t c_type, int ldc,
              cublasComputeType_t compute, cublasGemmAlgo_t)
{
  if (!gemm_args_ok (ta, tb, m, n, k, a_type, lda, b_type, ldb, c_type, ldc))
    return CUBLAS_STATUS_INVALID_VALUE;
  const float al = *(const float *) alpha, be = *(const float *) beta;
  const bool tf32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  enqueue (handle->stream, [=] {
    gemm_one (ta, tb, m, n, k, al, a, a_type, lda, b, ldb, be, (float *) c, ldc, tf32);
  });
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasGemmStridedBatchedEx (cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb,
                            int m, int n, int k, const void *alpha,
                            const void *a, cudaDataType_t a_type, int lda, long long stride_a,
                            const void *b, cudaDataType_t b_type, int ldb, long long stride_b,
                            const void *beta, void *c, cudaDataType_t c_type, int ldc,
                            long long stride_c, int batch,
                            cublasComputeType_t compute, cublasGemmAlgo_t)
{
  if (!gemm_args_ok (ta, tb, m, n, k, a_type, lda, b_type, ldb, c_type, ldc) || batch < 1)
    return CUBLAS_STATUS_INVALID_VALUE;
  const float al = *(const float *) alpha, be = *(const float *) beta;
  const bool tf32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  const size_t es = type_size (a_type);
  enqueue (handle->stream, [=] {
    for (int i = 0; i < batch; i++)
      gemm_one (ta, tb, m, n, k, al,
                (const char *) a + (size_t) (i * stride_a) * es, a_type, lda,
                (const char *) b + (size_t) (i * stride_b) * es, ldb,
                be, (float *) c + i * stride_c, ldc, tf32);
  });
  return CUBLAS_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Kernels: the reference forward's element-wise maths                       */

cudaError_t
as_cuda_embed (float *x, const int *ids, const int *type_ids, const float *word_emb,
               const float *pos_emb, const float *type_emb, int n, int hidden, cudaStream_t stream)
{
  enqueue (stream, [=] {
    for (int i = 0; i < n; i++)
      for (int j = 0; j < hidden; j++)
        x[(size_t) i * hidden + j] = word_emb[(size_t) ids[i] * hidden + j]
                                     + pos_emb[(size_t) i * hidden + j]
                                     + type_emb[(size_t) type_ids[i] * hidden + j];
  });
  return cudaSuccess;
}

cudaError_t
as_cuda_add_layer_norm (float *out, const float *a, const float *bias, const float *residual,
                        const float *g, const float *b, int rows, int dim, float eps,
                        cudaStream_t stream)
{
  if (dim > AS_CUDA_MAX_LN_DIM)
    return cudaErrorInvalidValue;
  enqueue (stream, [=] {
    std::vector<float> row ((size_t) dim);
    for (int i = 0; i < rows; i++)
      {
        const size_t base = (size_t) i * dim;
        for (int j = 0; j < dim; j++)
          {
            float v = a[base + j];
            if (bias != nullptr)
              v += bias[j];
            if (residual != nullptr)
              v += residual[base + j];
            row[j] = v;
          }
        as_layer_norm_row (out + base, row.data (), g, b, dim, eps);
      }
  });
  return cudaSuccess;
}

cudaError_t
as_cuda_add_bias (float *x, const float *bias, int rows, int dim, cudaStream_t stream)
{
  enqueue (stream, [=] {
    for (size_t i = 0; i < (size_t) rows * dim; i++)
      x[i] += bias[i % (size_t) dim];
  });
  return cudaSuccess;
}

cudaError_t
as_cuda_add_bias_gelu (float *x, const float *bias, int rows, int dim, int tanh_form,
                       cudaStream_t stream)
{
  enqueue (stream, [=] {
    for (size_t i = 0; i < (size_t) rows * dim; i++)
      {
        const float v = bias != nullptr ? x[i] + bias[i % (size_t) dim] : x[i];
        x[i] = tanh_form ? as_gelu_new (v) : as_gelu (v);
      }
  });
  return cudaSuccess;
}

cudaError_t
as_cuda_softmax_rows (float *p, int heads, int n, int causal, cudaStream_t stream)
{
  enqueue (stream, [=] {
    for (int r = 0; r < heads * n; r++)
      as_softmax_row (p + (size_t) r * n, n, causal ? r % n + 1 : n);
  });
  return cudaSuccess;
}

cudaError_t
as_cuda_softmax_causal (float *p, int heads, int n_queries, int n_keys, int pos0,
                        cudaStream_t stream)
{
  enqueue (stream, [=] {
    for (int r = 0; r < heads * n_queries; r++)
      {
        const int seen = pos0 + r % n_queries + 1;
        as_softmax_row (p + (size_t) r * n_keys, n_keys, seen < n_keys ? seen : n_keys);
      }
  });
  return cudaSuccess;
}

cudaError_t
as_cuda_embed_rows (float *x, const int *ids, const float *table, const float *pos_table,
                    int pos0, int n, int hidden, cudaStream_t stream)
{
  enqueue (stream, [=] {
    for (int i = 0; i < n; i++)
      for (int j = 0; j < hidden; j++)
        x[(size_t) i * hidden + j] = pos_table == nullptr
                                     ? table[(size_t) ids[i] * hidden + j]
                                     : table[(size_t) ids[i] * hidden + j]
                                       + pos_table[(size_t) (pos0 + i) * hidden + j];
  });
  return cudaSuccess;
}

cudaError_t
as_cuda_rms_norm (float *out, const float *in, const float *g, int rows, int dim, float eps,
                  cudaStream_t stream)
{
  enqueue (stream, [=] {
    for (int i = 0; i < rows; i++)
      as_rms_norm_row (out + (size_t) i * dim, in + (size_t) i * dim, g, dim, eps);
  });
  return cudaSuccess;
}

/* The kernel's loop itself: it reads the inverse frequencies the plugin
 * uploaded, which as_rope_head would recompute. */
cudaError_t
as_cuda_rope (float *x, int rows, int heads, int d, int ld, int pos0, const float *inv_freq,
              cudaStream_t stream)
{
  enqueue (stream, [=] {
    const int half = d / 2;
    for (int i = 0; i < rows; i++)
      for (int h = 0; h < heads; h++)
        for (int j = 0; j < half; j++)
          {
            float *head = x + (size_t) i * ld + (size_t) h * d;   /* [d] */
            const float angle = inv_freq[j] * (float) (pos0 + i);
            const float c = cosf (angle), s = sinf (angle);
            const float x1 = head[j], x2 = head[j + half];
            head[j] = x1 * c - x2 * s;
            head[j + half] = x2 * c + x1 * s;
          }
  });
  return cudaSuccess;
}

cudaError_t
as_cuda_swiglu (float *out, const float *gu, int rows, int f, cudaStream_t stream)
{
  enqueue (stream, [=] {
    for (int r = 0; r < rows; r++)
      for (int j = 0; j < f; j++)
        out[(size_t) r * f + j] = as_silu (gu[(size_t) r * 2 * f + j]) * gu[(size_t) r * 2 * f + f + j];
  });
  return cudaSuccess;
}

cudaError_t
as_cuda_add (float *out, const float *a, const float *b, size_t count, cudaStream_t stream)
{
  enqueue (stream, [=] {
    for (size_t i = 0; i < count; i++)
      out[i] = a[i] + b[i];
  });
  return cudaSuccess;
}

cudaError_t
as_cuda_convert (void *dst, const float *src, size_t count, AsGpuPrecision to, cudaStream_t stream)
{
  if (to != AS_GPU_PRECISION_FP16 && to != AS_GPU_PRECISION_BF16)
    return cudaErrorInvalidValue;
  enqueue (stream, [=] {
    for (size_t i = 0; i < count; i++)
      if (to == AS_GPU_PRECISION_FP16)
        ((_Float16 *) dst)[i] = (_Float16) src[i];
      else
        {
          uint32_t u;
          memcpy (&u, &src[i], sizeof u);
          u += 0x7fffu + ((u >> 16) & 1u);   /* round to nearest even */
          ((uint16_t *) dst)[i] = (uint16_t) (u >> 16);
        }
  });
  return cudaSuccess;
}
