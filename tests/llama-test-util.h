/* llama-test-util.h — what the Llama suites share: the fixtures written by
 * tools/make-llama-goldens.py (tests/data/llama/) and where the SmolLM2
 * GGUF is.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* NAME in tests/data/llama/ (AS_TEST_DATA). */
char  *llama_fixture_path  (const char *name);

/* The little-endian float32 file PATH, exactly COUNT values (g_free). */
float *test_read_floats    (const char *path,
                            gsize       count);
/* The same for NAME in tests/data/llama/. */
float *llama_read_floats   (const char *name,
                            gsize       count);

/* The SmolLM2-135M-Instruct Q4_1 GGUF: as_model_default_decoder_path ()
 * (ATTNSCOPE_GGUF, else beside the default model); it may not exist. */
char  *llama_smollm2_path  (void);
/* That model loaded, or NULL, the test skipped with the reason, when it is
 * not downloaded. */
struct _AsModel *llama_smollm2_load (void);
/* tests/data/llama/tiny.gguf loaded (it must load). */
struct _AsModel *llama_tiny_load    (void);
/* A model of the config.json text CONFIG_JSON (it must parse) with its
 * architecture's random weights from SEED, named LABEL; no tokenizer. */
struct _AsModel *test_random_model  (const char *config_json,
                                     const char *label,
                                     guint32     seed);

G_END_DECLS
