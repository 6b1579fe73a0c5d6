/* as-analysis.c — the refcounted analysis result (see as-analysis.h). */
#include "as-analysis.h"

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

static void
as_analysis_clear (AsAnalysis *a)
{
  g_free (a->model_name);
  g_free (a->model_dir);
  g_free (a->text_a);
  g_free (a->text_b);
  g_clear_pointer (&a->encoding, as_encoding_free);
  g_free (a->attn);
  g_free (a->final_hidden);
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
