/* The real decoder source, compiled as C++ against the emulated runtime and
 * cuBLAS headers of this folder (tests only; see cuda_runtime.h). */
#include "../as-cuda-decoder.cu"
