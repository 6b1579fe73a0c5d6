/* llama-test-util.h — what the Llama suites share: the fixtures written by
 * tools/make-llama-goldens.py (tests/data/llama/) and where the SmolLM2
 * GGUF is.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* NAME in tests/data/llama/ (AS_TEST_DATA). */
char  *llama_fixture_path  (const char *name);

/* A little-endian float32 fixture of exactly COUNT values (g_free). */
float *llama_read_floats   (const char *name,
                            gsize       count);

/* The SmolLM2-135M-Instruct Q4_1 GGUF: ATTNSCOPE_GGUF, else beside the
 * default model (ATTNSCOPE_MODEL_DIR); NULL when neither is set. */
char  *llama_smollm2_path  (void);

G_END_DECLS
