/* as-thread-pool.h — the CPU encoder's threads: the caller and workers run
 * one function together and meet at barriers.
 *
 * Waits spin briefly and then sleep, so a pass never waits on a scheduler
 * round trip when every core is free and never burns a core when one is not.
 * One pass runs at a time on a pool; the pool is not for general tasks.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AS_THREAD_POOL_MAX_THREADS 64

typedef struct _AsThreadPool AsThreadPool;

/* Run on thread T (0 = the caller) of the pass. */
typedef void (*AsThreadFunc) (gpointer data,
                              int      t);

AsThreadPool *as_thread_pool_new     (void);
void          as_thread_pool_free    (AsThreadPool *pool);

/* Makes sure THREADS - 1 workers exist; returns how many threads can run
 * (fewer when the system gives no more). */
int           as_thread_pool_reserve (AsThreadPool *pool,
                                      int           threads);

/* Runs FUNC (DATA, t) on threads 0 .. N_THREADS-1 (at most what reserve
 * returned), thread 0 being the caller; returns when all are done. */
void          as_thread_pool_run     (AsThreadPool *pool,
                                      int           n_threads,
                                      AsThreadFunc  func,
                                      gpointer      data);

/* Inside FUNC: returns once every thread of the pass has called it. */
void          as_thread_pool_barrier (AsThreadPool *pool);

/* Inside FUNC: how many threads the pass has. */
int           as_thread_pool_size    (AsThreadPool *pool);

/* Thread T of N_THREADS gets [*begin, *end) of COUNT items. */
static inline void
as_share (int  count,
          int  t,
          int  n_threads,
          int *begin,
          int *end)
{
  *begin = (int) ((gint64) count * t / n_threads);
  *end = (int) ((gint64) count * (t + 1) / n_threads);
}

G_END_DECLS
