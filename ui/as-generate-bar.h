/* as-generate-bar.h — how Generate chooses its tokens.
 *
 * Beside the Generate button, for a decoder: the temperature (0 is greedy,
 * the most likely token every time), top-k and top-p (0 and 1 switch them
 * off), the seed of the draws and the number of tokens to write. The values
 * are kept for the rest of the session: a new window starts with the last
 * ones set.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-sampler.h"

G_BEGIN_DECLS

#define AS_TYPE_GENERATE_BAR (as_generate_bar_get_type ())
G_DECLARE_FINAL_TYPE (AsGenerateBar, as_generate_bar, AS, GENERATE_BAR, GtkWidget)

typedef enum {
  AS_GENERATE_TEMPERATURE,
  AS_GENERATE_TOP_K,
  AS_GENERATE_TOP_P,
  AS_GENERATE_SEED,
  AS_GENERATE_LIMIT,
  AS_GENERATE_N_CONTROLS
} AsGenerateControl;

GtkWidget     *as_generate_bar_new         (void);
/* The sampling options the controls say now (valid by construction). */
void           as_generate_bar_get_sampling (AsGenerateBar          *self,
                                            AsSamplerOptions       *sampling);
/* The number of tokens to generate, 1 or more. */
int            as_generate_bar_get_limit   (AsGenerateBar          *self);
/* The spin button of one control, for tests that type into it. */
GtkSpinButton *as_generate_bar_get_control (AsGenerateBar          *self,
                                            AsGenerateControl       control);

G_END_DECLS
