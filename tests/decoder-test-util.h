/* decoder-test-util.h — what the decoder suites share: a tiny decoder
 * folder written by tools/make-tiny-decoders.py (tests/data/NAME/) checked
 * against its transformers goldens, and damaged copies of it.
 */
#pragma once

#include <glib.h>

#include "as-architecture.h"

G_BEGIN_DECLS

/* Loads tests/data/FOLDER through as_model_load (its architecture must be
 * ARCH) and checks each case of its cases.json with the reference backend
 * and the "cpu" one:
 * the tokenizer's ids of the sentence equal transformers', every layer's
 * attention within 2e-5, the final hidden state within 1e-4, and the last
 * position's top-10 logits (as_lm_head_logits) the same ids in the same
 * order, their values within 1e-4. */
void  decoder_check_goldens (const char           *folder,
                             const AsArchitecture *arch);
/* The same goldens for FILE of tests/data/FOLDER (a GGUF file of the same
 * weights and tokenizer); FILE NULL is the folder itself. */
void  decoder_check_goldens_of (const char           *folder,
                                const char           *file,
                                const AsArchitecture *arch);

/* A copy of tests/data/FOLDER in a new temporary folder in which FILE's
 * first occurrence of FIND is replaced by REPLACE (FILE must hold it). The
 * caller removes it with decoder_remove_copy. */
char *decoder_damaged_copy  (const char *folder,
                             const char *file,
                             const char *find,
                             const char *replace);
void  decoder_remove_copy   (const char *dir);

/* as_model_load of DIR fails with an error whose message holds MESSAGE. */
void  decoder_assert_refused (const char *dir,
                              const char *message);

G_END_DECLS
