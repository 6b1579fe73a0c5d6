/* cuda_runtime.h — the CUDA runtime calls the plugin makes, emulated on the CPU.
 *
 * Only for tests: gpu/emu/ builds as-cuda-encoder.cu and as-cuda-decoder.cu
 * with these headers in place of the toolkit's (as C++, by the host
 * compiler) into a plugin that runs on any machine. It checks the plugin's
 * own logic — GEMM shapes and leading dimensions, buffer offsets, layer
 * ping-pong, stream and event order, Q/K/V extraction, the grouped-query
 * batches and the key/value cache, the 16-bit paths — against the
 * reference forwards and the CPU backends where there is no GPU. It cannot check the CUDA kernels themselves (their host
 * stand-ins are in as-cuda-emu.cpp) nor cuBLAS.
 */
#pragma once

#include <stddef.h>

#define CUDART_VERSION 13000

typedef enum {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorStubLibrary = 34,
  cudaErrorInsufficientDriver = 35,
  cudaErrorCallRequiresNewerDriver = 36,
  cudaErrorDevicesUnavailable = 46,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoKernelImageForDevice = 209,
  cudaErrorUnsupportedPtxVersion = 222,
  cudaErrorSystemDriverMismatch = 803,
  cudaErrorCompatNotSupportedOnDevice = 804,
} cudaError_t;

typedef struct EmuStream *cudaStream_t;
typedef struct EmuEvent *cudaEvent_t;

typedef enum {
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
} cudaMemcpyKind;

typedef struct {
  char   name[256];
  int    major, minor;
  size_t totalGlobalMem;
} cudaDeviceProp;

#define cudaStreamNonBlocking  1
#define cudaEventDisableTiming 2
#define cudaHostAllocDefault   0

const char *cudaGetErrorName          (cudaError_t err);
const char *cudaGetErrorString        (cudaError_t err);
cudaError_t cudaGetLastError          (void);
cudaError_t cudaGetDeviceCount        (int *count);
cudaError_t cudaGetDeviceProperties   (cudaDeviceProp *prop, int device);
cudaError_t cudaSetDevice             (int device);
cudaError_t cudaStreamCreateWithFlags (cudaStream_t *stream, unsigned flags);
cudaError_t cudaStreamDestroy         (cudaStream_t stream);
cudaError_t cudaStreamSynchronize     (cudaStream_t stream);
cudaError_t cudaStreamWaitEvent       (cudaStream_t stream, cudaEvent_t event, unsigned flags);
cudaError_t cudaEventCreateWithFlags  (cudaEvent_t *event, unsigned flags);
cudaError_t cudaEventDestroy          (cudaEvent_t event);
cudaError_t cudaEventRecord           (cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventSynchronize      (cudaEvent_t event);
cudaError_t cudaMemGetInfo            (size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMalloc                (void **ptr, size_t bytes);
cudaError_t cudaFree                  (void *ptr);
cudaError_t cudaHostAlloc             (void **ptr, size_t bytes, unsigned flags);
cudaError_t cudaFreeHost              (void *ptr);
cudaError_t cudaMemcpyAsync           (void *dst, const void *src, size_t bytes,
                                       cudaMemcpyKind kind, cudaStream_t stream);
cudaError_t cudaMemcpy2DAsync         (void *dst, size_t dpitch, const void *src, size_t spitch,
                                       size_t width, size_t height, cudaMemcpyKind kind,
                                       cudaStream_t stream);
