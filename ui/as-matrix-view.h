/* as-matrix-view.h — the matrix a view shows, derived from a head's attention.
 *
 * Plain GLib: which tokens are visible (hiding [CLS]/[SEP]), the rows
 * renormalised over the visible keys, and max-pooling for thumbnails smaller
 * than the matrix (so a one-token-wide stripe survives the shrink, which
 * nearest-neighbour sampling would drop).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* OUT[r, c] = M[visible[r], visible[c]] for an N x N matrix M; with RENORM,
 * each row of OUT is divided by its sum (rows that sum to 0 stay 0). */
void as_matrix_extract  (const float *m,
                         int          n,
                         const int   *visible,
                         int          n_visible,
                         gboolean     renorm,
                         float       *out);

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
