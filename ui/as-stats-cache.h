/* as-stats-cache.h — head statistics as the views show them.
 *
 * No GTK (GLib, GIO and the engine's headers only), so it is testable
 * headless:
 *
 *  - AsStatId names one column of the statistics table / one choice of the
 *    grid's "Colour by": its label, its value in an AsHeadStats, how it is
 *    printed (2–3 decimals), and its colour.
 *  - Continuous statistics are coloured by their position between the
 *    smallest and largest value over all heads on screen (min-max, so heads
 *    that look alike get the same colour whatever the statistic's unit);
 *    the pattern label gets a categorical palette.
 *  - AsStatsCache holds the statistics of every head of the analysis on
 *    screen, computed off the main thread layer by layer as layers arrive,
 *    and only while some view holds it (512 tokens cost ~70 ms per layer).
 *    One cache per AsViewState is shared by the grid and the table.
 */
#pragma once

#include <glib-object.h>

#include "as-head-stats.h"
#include "as-view-state.h"

G_BEGIN_DECLS

typedef enum {
  AS_STAT_NONE,
  AS_STAT_ENTROPY,
  AS_STAT_TO_CLS,
  AS_STAT_TO_SEP,
  AS_STAT_TO_PUNCT,
  AS_STAT_SELF,
  AS_STAT_PREV,
  AS_STAT_NEXT,
  AS_STAT_DISTANCE,
  AS_STAT_CONFIDENCE,
  AS_STAT_SINK,
  AS_STAT_PATTERN,
  AS_N_STATS
} AsStatId;

/* "Entropy", "To [CLS]", … ("None" for AS_STAT_NONE). */
const char *as_stat_label          (AsStatId           id);
/* A column header: "[CLS]", "Punct.", "Dist.", … */
const char *as_stat_short_label    (AsStatId           id);
/* The value shown for ID: the AsHeadStats field, or for AS_STAT_PATTERN the
 * AsPattern number (as_head_stats_pattern). NaN for AS_STAT_NONE. */
double      as_stat_value          (const AsHeadStats *stats,
                                    AsStatId           id);
gboolean    as_stat_is_categorical (AsStatId           id);
/* Printed as in the table: 3 decimals, 2 for distance (in tokens), the
 * label's name for the pattern. Writes into BUF (at least 32 bytes). */
const char *as_stat_format         (AsStatId           id,
                                    double             value,
                                    char              *buf,
                                    gsize              len);

/* Smallest and largest finite value of ID over N stats; FALSE when none. */
gboolean    as_stat_range          (const AsHeadStats *stats,
                                    int                n,
                                    AsStatId           id,
                                    double            *lo,
                                    double            *hi);
/* (V - LO) / (HI - LO) clamped to 0..1; 0.5 when the range is empty (all
 * heads equal) and NaN for a non-finite V. */
double      as_stat_normalise      (double             v,
                                    double             lo,
                                    double             hi);
/* The ramp colour at T in 0..1 (blue, low, through yellow to red, high):
 * saturated at both ends so a frame of it shows on a light and a dark
 * background alike. */
void        as_stat_ramp_colour    (double             t,
                                    double             rgb[3]);
/* The colour of one value: the ramp over LO..HI, or the pattern's own
 * colour for AS_STAT_PATTERN (LO and HI ignored). FALSE for a value that has
 * no colour (NaN, AS_STAT_NONE). */
gboolean    as_stat_colour         (AsStatId           id,
                                    double             value,
                                    double             lo,
                                    double             hi,
                                    double             rgb[3]);
void        as_pattern_colour      (AsPattern          pattern,
                                    double             rgb[3]);
/* A colour per head for the lines view, distinct for the first 16 heads. */
void        as_head_colour         (int                head,
                                    double             rgb[3]);

/* ---- the cache ---------------------------------------------------------- */

#define AS_TYPE_STATS_CACHE (as_stats_cache_get_type ())
G_DECLARE_FINAL_TYPE (AsStatsCache, as_stats_cache, AS, STATS_CACHE, GObject)

/* A cache following STATE's analysis. Views share the one the state owns:
 * as_view_state_get_stats_cache(). */
AsStatsCache      *as_stats_cache_new         (AsViewState  *state);
/* While held (a count), missing layers are computed as they arrive. */
void               as_stats_cache_hold        (AsStatsCache *self);
void               as_stats_cache_release     (AsStatsCache *self);
/* [n_layers, n_heads] stats of the analysis on screen; layers
 * 0..*LAYERS_DONE-1 are valid. NULL before an analysis. ::updated is
 * emitted whenever LAYERS_DONE grows or the analysis changes. */
const AsHeadStats *as_stats_cache_get         (AsStatsCache *self,
                                               int          *n_layers,
                                               int          *n_heads,
                                               int          *layers_done);

G_END_DECLS
