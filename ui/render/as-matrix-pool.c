/* as-matrix-pool.c — max-pooling a matrix to a thumbnail. */
#include "as-matrix-pool.h"

/* First input index covered by output index I of OUT_LEN over LEN inputs. */
static inline int
span_start (int i,
            int len,
            int out_len)
{
  return (int) ((gint64) i * len / out_len);
}

void
as_matrix_pool_max (const float *m,
                    int          rows,
                    int          cols,
                    int          out_rows,
                    int          out_cols,
                    float       *out)
{
  for (int orow = 0; orow < out_rows; orow++)
    {
      int r0 = span_start (orow, rows, out_rows);
      int r1 = MAX (span_start (orow + 1, rows, out_rows), r0 + 1);
      for (int ocol = 0; ocol < out_cols; ocol++)
        {
          int c0 = span_start (ocol, cols, out_cols);
          int c1 = MAX (span_start (ocol + 1, cols, out_cols), c0 + 1);
          float best = m[(gsize) r0 * cols + c0];
          for (int r = r0; r < r1; r++)
            {
              const float *row = m + (gsize) r * cols;
              for (int c = c0; c < c1; c++)
                best = MAX (best, row[c]);
            }
          out[(gsize) orow * out_cols + ocol] = best;
        }
    }
}
