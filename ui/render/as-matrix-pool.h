/* as-matrix-pool.h — max-pooling for thumbnails smaller than the matrix.
 *
 * Plain GLib, shared by the model grid and the CLI's render benchmark. The
 * maximum (not a sample) keeps a one-token-wide stripe visible after the
 * shrink, which nearest-neighbour sampling would drop.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Resamples a ROWS x COLS matrix to OUT_ROWS x OUT_COLS: each output cell
 * takes the maximum of the input cells it covers (downscale), or the one
 * cell it falls in (upscale). */
void as_matrix_pool_max (const float *m,
                         int          rows,
                         int          cols,
                         int          out_rows,
                         int          out_cols,
                         float       *out);

G_END_DECLS
