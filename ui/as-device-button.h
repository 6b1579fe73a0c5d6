/* as-device-button.h — the header bar's "where the engine runs" button.
 *
 * Says CPU or GPU, opens the device menu, and in its tooltip names the
 * backend and, in plain words, why the GPU is not used when it was wanted.
 * The tooltip stays away while the menu is open, so it never covers it.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-worker.h"

G_BEGIN_DECLS

#define AS_TYPE_DEVICE_BUTTON (as_device_button_get_type ())
G_DECLARE_FINAL_TYPE (AsDeviceButton, as_device_button, AS, DEVICE_BUTTON, GtkWidget)

GtkWidget  *as_device_button_new          (void);

/* Follows WORKER's backend from now on (loads and switches to the CPU). */
void        as_device_button_set_worker   (AsDeviceButton *self,
                                           AsWorker       *worker);
/* The menu it opens. */
void        as_device_button_set_menu_model (AsDeviceButton *self,
                                             GMenuModel     *model);

/* What the tooltip says: the engine with its kernels and threads (the
 * details the status line leaves out), and why not the GPU if so. */
const char *as_device_button_get_tooltip_text (AsDeviceButton *self);

/* One line a user understands for FALLBACK (an AsGpuError, as from
 * as_worker_get_backend_fallback), e.g. "No NVIDIA GPU driver found —
 * using the CPU"; NULL for -1. */
const char *as_device_fallback_summary    (int             fallback);

G_END_DECLS
