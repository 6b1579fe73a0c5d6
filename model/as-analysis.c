/* as-analysis.c — the refcounted analysis result (see as-analysis.h). */
#include "as-analysis.h"

#include <sys/mman.h>

#include "as-mlm-head.h"

G_DEFINE_BOXED_TYPE (AsAnalysis, as_analysis, as_analysis_ref, as_analysis_unref)

AsAnalysis *
as_analysis_new (void)
{
  return g_atomic_rc_box_new0 (AsAnalysis);
}

AsAnalysis *
as_analysis_ref (AsAnalysis *analysis)
{
  return g_atomic_rc_box_acquire (analysis);
}

/* The attention block is by far the largest allocation of an analysis
 * (75 MB for a 6-layer, 12-head model at 512 tokens) and it is written once,
 * front to back, as the layers come. Fresh anonymous memory is faulted in a
 * 4 KiB page at a time; asking for 2 MiB pages cuts those faults 512-fold,
 * which measured about a tenth of a 512-token forward. Small blocks stay on
 * the heap. */
#define HUGE_PAGE_BYTES  ((gsize) 2 << 20)

/* The last block given back, kept for the next analysis: typing re-analyses
 * the same length over and over, and a block already faulted in saves the
 * kernel zeroing it again (at 512 tokens, about a tenth of a forward). One
 * block at most, and only reused for a request of at least half its size,
 * so what is kept is bounded by the largest analysis recently shown. */
static GMutex spare_lock;
static void  *spare_block;
static gsize  spare_bytes;

static void *
take_spare (gsize  bytes,
            gsize *mapped)
{
  void *block = NULL;
  g_mutex_lock (&spare_lock);
  if (spare_block != NULL && spare_bytes >= bytes && spare_bytes / 2 <= bytes)
    {
      block = spare_block;
      *mapped = spare_bytes;
      spare_block = NULL;
      spare_bytes = 0;
    }
  g_mutex_unlock (&spare_lock);
  return block;
}

/* The newest block is kept: the next request is most likely its length. */
static void
give_back (void  *block,
           gsize  mapped)
{
  g_mutex_lock (&spare_lock);
  void *drop = spare_block;
  gsize drop_bytes = spare_bytes;
  spare_block = block;
  spare_bytes = mapped;
  g_mutex_unlock (&spare_lock);
  if (drop != NULL)
    munmap (drop, drop_bytes);
}

gboolean
as_analysis_alloc_attention (AsAnalysis *a)
{
  g_return_val_if_fail (a->attn == NULL, FALSE);
  gsize bytes = (gsize) a->n_layers * a->n_heads * a->n * a->n * sizeof (float);
  if (bytes < 2 * HUGE_PAGE_BYTES)
    {
      a->attn = g_try_malloc (MAX (bytes, 1));
      return a->attn != NULL;
    }
#ifdef MADV_HUGEPAGE
  gsize mapped = (bytes + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
  a->attn = take_spare (bytes, &a->attn_mapped);
  if (a->attn != NULL)
    return TRUE;
  /* Map a huge page more than needed and trim both ends so the block
   * starts on a 2 MiB boundary, where the kernel can back it with huge
   * pages. */
  char *raw = mmap (NULL, mapped + HUGE_PAGE_BYTES, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED)
    return FALSE;
  char *start = (char *) (((guintptr) raw + HUGE_PAGE_BYTES - 1) & ~(guintptr) (HUGE_PAGE_BYTES - 1));
  if (start > raw)
    munmap (raw, start - raw);
  gsize tail = (raw + mapped + HUGE_PAGE_BYTES) - (start + mapped);
  if (tail > 0)
    munmap (start + mapped, tail);
  /* Advice only: where huge pages are off the block works as it is. */
  madvise (start, mapped, MADV_HUGEPAGE);
  a->attn = (float *) start;
  a->attn_mapped = mapped;
  return TRUE;
#else
  a->attn = g_try_malloc (bytes);
  return a->attn != NULL;
#endif
}

static void
as_analysis_clear (AsAnalysis *a)
{
  g_free (a->model_name);
  g_free (a->model_dir);
  g_free (a->text_a);
  g_free (a->text_b);
  g_clear_pointer (&a->encoding, as_encoding_free);
  if (a->attn_mapped > 0)
    give_back (a->attn, a->attn_mapped);
  else
    g_free (a->attn);
  g_free (a->final_hidden);
  g_free (a->next_logits);
  for (int i = 0; i < AS_ANALYSIS_NEXT_TOP; i++)
    g_free (a->next_labels[i]);
  g_clear_pointer (&a->mlm, as_mlm_fill_free);
}

void
as_analysis_unref (AsAnalysis *analysis)
{
  /* NULL is accepted, as by the free functions of the engine's other
   * results, so an error path can drop whatever it has. */
  if (analysis == NULL)
    return;
  g_atomic_rc_box_release_full (analysis, (GDestroyNotify) as_analysis_clear);
}
