/* as-stats-table.h — every head's statistics as a sortable table.
 *
 * One row per (layer, head) of the analysis on screen: entropy, attention to
 * [CLS], [SEP] and punctuation, to the token itself, the previous and next
 * token, mean distance, confidence and the pattern label (as-head-stats.h
 * has the definitions; computed on the full matrices, [CLS]/[SEP] included,
 * whatever the view hides). Every column sorts; selecting a row selects that
 * head in the view state and the selected head's row follows the state. Rows
 * fill in as layers stream in; nothing is computed while the table is not
 * on screen.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-stats-cache.h"
#include "as-view-state.h"

G_BEGIN_DECLS

#define AS_TYPE_STATS_TABLE (as_stats_table_get_type ())
G_DECLARE_FINAL_TYPE (AsStatsTable, as_stats_table, AS, STATS_TABLE, GtkWidget)

GtkWidget   *as_stats_table_new            (void);
AsViewState *as_stats_table_get_view_state (AsStatsTable *self);
void         as_stats_table_set_view_state (AsStatsTable *self,
                                            AsViewState  *state);

/* For tests: the rows in their current (sorted) order. */
GtkSingleSelection *as_stats_table_get_selection (AsStatsTable *self);
/* Row POSITION's head and statistics; FALSE while its layer is pending. */
gboolean     as_stats_table_get_row        (AsStatsTable *self,
                                            guint         position,
                                            int          *layer,
                                            int          *head,
                                            AsHeadStats  *stats);
/* Sorts like a click on STAT's column header (AS_STAT_NONE: the layer
 * column, which orders by layer then head). */
void         as_stats_table_sort           (AsStatsTable *self,
                                            AsStatId      stat,
                                            GtkSortType   order);
/* The text of row POSITION's STAT cell, as drawn (g_free). */
char        *as_stats_table_cell_text      (AsStatsTable *self,
                                            guint         position,
                                            AsStatId      stat);

G_END_DECLS
