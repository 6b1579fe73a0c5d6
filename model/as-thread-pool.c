/* as-thread-pool.c — workers 1 .. n-1 beside the caller (thread 0), woken by
 * bumping a word they wait on. */
#include "as-thread-pool.h"

struct _AsThreadPool {
  GMutex        lock;
  GCond         cond;
  int           sleepers;     /* threads in g_cond_wait (atomic) */
  GThread     **workers;      /* [capacity - 1] */
  int           capacity;     /* threads including the caller */
  int           size;         /* threads in the current pass */
  int           job;          /* bumped to start a pass (atomic) */
  int           arrived;      /* at the current barrier (atomic) */
  int           phase;        /* bumped when a barrier opens (atomic) */
  int           finished;     /* workers done with the pass (atomic) */
  int           done;         /* bumped when all are done (atomic) */
  gboolean      quit;
  AsThreadFunc  func;         /* the current pass */
  gpointer      data;
};

/* How long a thread spins on a word before it sleeps (a pause is ~65 cycles
 * on Zen 2/3, ~140 on Skylake: 40 to 100 us): long enough to cover the
 * usual imbalance between threads at a barrier and the gap between the
 * back-to-back passes of a forward (a Llama layer runs ten; sleeping and
 * waking there cost SmolLM2's 128-token pass about 5%, measured with
 * 256), short enough that on a busy machine a waiting thread soon gives
 * its core to the one it waits for. */
#define SPIN_LIMIT 2048

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

/* Returns once *WORD differs from OLD. */
static void
pool_wait (AsThreadPool *p,
           const int    *word,
           int           old)
{
  for (int spin = 0; spin < SPIN_LIMIT; spin++)
    {
      if (g_atomic_int_get (word) != old)
        return;
      cpu_relax ();
    }
  g_mutex_lock (&p->lock);
  g_atomic_int_inc (&p->sleepers);
  /* A waker bumps the word before it reads sleepers (both sequentially
   * consistent), so either it sees us here or we see its new value. */
  while (g_atomic_int_get (word) == old)
    g_cond_wait (&p->cond, &p->lock);
  g_atomic_int_add (&p->sleepers, -1);
  g_mutex_unlock (&p->lock);
}

/* Bumps *WORD and wakes whoever sleeps on it. */
static void
pool_bump (AsThreadPool *p,
           int          *word)
{
  g_atomic_int_inc (word);
  if (g_atomic_int_get (&p->sleepers) > 0)
    {
      g_mutex_lock (&p->lock);
      g_cond_broadcast (&p->cond);
      g_mutex_unlock (&p->lock);
    }
}

void
as_thread_pool_barrier (AsThreadPool *p)
{
  if (p->size == 1)
    return;
  int phase = g_atomic_int_get (&p->phase);
  if (g_atomic_int_add (&p->arrived, 1) == p->size - 1)
    {
      g_atomic_int_set (&p->arrived, 0);
      pool_bump (p, &p->phase);
      return;
    }
  pool_wait (p, &p->phase, phase);
}

int
as_thread_pool_size (AsThreadPool *p)
{
  return p->size;
}

typedef struct {
  AsThreadPool *pool;
  int           index;   /* 1 .. capacity-1 */
  int           job;     /* the last job started before this worker */
} WorkerStart;

static gpointer
worker_main (gpointer data)
{
  WorkerStart *start = data;
  AsThreadPool *p = start->pool;
  const int index = start->index;
  int job = start->job;
  g_free (start);

  for (;;)
    {
      pool_wait (p, &p->job, job);
      job = g_atomic_int_get (&p->job);
      if (g_atomic_int_get (&p->quit))
        return NULL;
      if (index < p->size)
        p->func (p->data, index);
      /* Every worker reports, the idle ones too, so the caller changes
       * the pass and its size for the next job only once nobody reads them.
       * After this the caller may free the pass's data: nothing below
       * touches it. */
      if (g_atomic_int_add (&p->finished, 1) == p->capacity - 2)
        pool_bump (p, &p->done);
    }
}

AsThreadPool *
as_thread_pool_new (void)
{
  AsThreadPool *p = g_new0 (AsThreadPool, 1);
  g_mutex_init (&p->lock);
  g_cond_init (&p->cond);
  p->capacity = 1;
  return p;
}

int
as_thread_pool_reserve (AsThreadPool *p,
                        int           threads)
{
  threads = CLAMP (threads, 1, AS_THREAD_POOL_MAX_THREADS);
  if (threads <= p->capacity)
    return threads;
  p->workers = g_renew (GThread *, p->workers, threads - 1);
  for (int i = p->capacity; i < threads; i++)
    {
      WorkerStart *start = g_new (WorkerStart, 1);
      *start = (WorkerStart) { p, i, g_atomic_int_get (&p->job) };
      GError *error = NULL;
      p->workers[i - 1] = g_thread_try_new ("attnscope-cpu", worker_main, start, &error);
      if (p->workers[i - 1] == NULL)
        {
          /* No more threads: run with what we have. */
          g_clear_error (&error);
          g_free (start);
          break;
        }
      p->capacity = i + 1;
    }
  return MIN (threads, p->capacity);
}

void
as_thread_pool_run (AsThreadPool *p,
                    int           n_threads,
                    AsThreadFunc  func,
                    gpointer      data)
{
  /* No worker reads size, func or data between passes (see worker_main). */
  p->size = n_threads;
  if (n_threads == 1)
    {
      func (data, 0);
      return;
    }
  int done = g_atomic_int_get (&p->done);
  p->func = func;
  p->data = data;
  g_atomic_int_set (&p->finished, 0);
  pool_bump (p, &p->job);
  func (data, 0);
  pool_wait (p, &p->done, done);
}

void
as_thread_pool_free (AsThreadPool *p)
{
  if (p == NULL)
    return;
  g_atomic_int_set (&p->quit, TRUE);
  pool_bump (p, &p->job);
  for (int i = 1; i < p->capacity; i++)
    g_thread_join (p->workers[i - 1]);
  g_free (p->workers);
  g_mutex_clear (&p->lock);
  g_cond_clear (&p->cond);
  g_free (p);
}
