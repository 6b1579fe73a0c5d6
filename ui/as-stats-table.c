/* as-stats-table.c — a GtkColumnView over one row object per head. */
#include "as-stats-table.h"

#include <glib/gi18n.h>
#include <math.h>

/* ---- one row ------------------------------------------------------------ */

#define AS_TYPE_STATS_ROW (as_stats_row_get_type ())
G_DECLARE_FINAL_TYPE (AsStatsRow, as_stats_row, AS, STATS_ROW, GObject)

/* Immutable: a changed head gets a new row, so a bound cell never goes
 * stale and the sort model sees the change as items-changed. */
struct _AsStatsRow
{
  GObject     parent_instance;
  int         layer;
  int         head;
  gboolean    ready;
  AsHeadStats stats;
};

G_DEFINE_FINAL_TYPE (AsStatsRow, as_stats_row, G_TYPE_OBJECT)

static void as_stats_row_class_init (AsStatsRowClass *klass) { }
static void as_stats_row_init (AsStatsRow *self) { }

static AsStatsRow *
as_stats_row_new (int                layer,
                  int                head,
                  const AsHeadStats *stats)
{
  AsStatsRow *row = g_object_new (AS_TYPE_STATS_ROW, NULL);
  row->layer = layer;
  row->head = head;
  row->ready = stats != NULL;
  if (stats != NULL)
    row->stats = *stats;
  return row;
}

/* ---- the table ---------------------------------------------------------- */

/* Column kinds besides the AsStatId ones. */
#define COL_LAYER (-1)
#define COL_HEAD  (-2)

struct _AsStatsTable
{
  GtkWidget           parent_instance;

  AsViewState        *state;
  AsStatsCache       *cache;
  gboolean            held;

  GtkWidget          *caption;
  GtkWidget          *scroller;
  GtkColumnView      *view;
  GtkWidget          *tables;          /* the two views side by side */
  GtkWidget          *frozen_scroller;
  GtkColumnView      *frozen_view;   /* Layer and Head, never scrolled sideways */
  GListStore         *store;        /* AsStatsRow, in layer-major order */
  GtkSortListModel   *sorted;
  GtkSingleSelection *selection;
  GtkColumnViewColumn *columns[AS_N_STATS + 1];  /* [0] layer, [1] head, [stat + 1] */
  int                 shown_done;   /* layers whose rows hold real values */
  gboolean            syncing;      /* selection being set from the state */
};

G_DEFINE_FINAL_TYPE (AsStatsTable, as_stats_table, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_VIEW_STATE, N_PROPS };
static GParamSpec *properties[N_PROPS];

static char *
cell_text (AsStatsRow *row,
           int         kind)
{
  char buf[32];
  /* Layers and heads count from 1 on screen, as in the grid and titles. */
  if (kind == COL_LAYER)
    return g_strdup_printf ("%d", row->layer + 1);
  if (kind == COL_HEAD)
    return g_strdup_printf ("%d", row->head + 1);
  if (!row->ready)
    return g_strdup ("…");
  return g_strdup (as_stat_format (kind, as_stat_value (&row->stats, kind), buf, sizeof buf));
}

static int
compare_int (int a,
             int b)
{
  return (a > b) - (a < b);
}

static int
compare_rows (gconstpointer a,
              gconstpointer b,
              gpointer      data)
{
  const AsStatsRow *x = a, *y = b;
  int kind = GPOINTER_TO_INT (data);
  int c = 0;

  if (kind == COL_HEAD)
    c = compare_int (x->head, y->head);
  else if (kind != COL_LAYER)
    {
      /* Pending rows after real ones; NaN (no value) likewise. */
      double vx = x->ready ? as_stat_value (&x->stats, kind) : NAN;
      double vy = y->ready ? as_stat_value (&y->stats, kind) : NAN;
      gboolean fx = isfinite (vx), fy = isfinite (vy);
      if (fx != fy)
        c = fx ? -1 : 1;
      else if (fx)
        c = (vx > vy) - (vx < vy);
    }
  /* Ties (and the layer column) in layer, head order. */
  if (c == 0)
    c = compare_int (x->layer, y->layer);
  if (c == 0)
    c = compare_int (x->head, y->head);
  return c;
}

static void
setup_cell (GtkSignalListItemFactory *factory,
            GtkListItem              *item,
            gpointer                  data)
{
  int kind = GPOINTER_TO_INT (data);
  GtkWidget *label = gtk_label_new (NULL);
  /* Numbers right-aligned in tabular figures; the pattern name left. */
  gtk_label_set_xalign (GTK_LABEL (label), kind == AS_STAT_PATTERN ? 0.0 : 1.0);
  if (kind != AS_STAT_PATTERN)
    gtk_widget_add_css_class (label, "numeric");
  gtk_list_item_set_child (item, label);
}

static void
bind_cell (GtkSignalListItemFactory *factory,
           GtkListItem              *item,
           gpointer                  data)
{
  AsStatsRow *row = gtk_list_item_get_item (item);
  g_autofree char *text = cell_text (row, GPOINTER_TO_INT (data));
  gtk_label_set_text (GTK_LABEL (gtk_list_item_get_child (item)), text);
}

/* What each header means, for a student meeting the measure for the first
 * time: its tooltip. */
static const char *
column_tooltip (int kind)
{
  switch (kind)
    {
    case COL_LAYER: return _("The layer, counted from 1 at the input.");
    case COL_HEAD: return _("The head within its layer, counted from 1.");
    case AS_STAT_ENTROPY:
      return _("How spread out each token's attention is, averaged over the tokens. In nats "
               "(natural-log units): 0 means all of it on one token; ln n (2.8 for 16 tokens) "
               "means spread evenly over all n.");
    case AS_STAT_TO_CLS: return _("Share of the attention that goes to [CLS], the token added at the start (0 to 1).");
    case AS_STAT_TO_SEP: return _("Share of the attention that goes to [SEP], the separator token(s) at the end (0 to 1).");
    case AS_STAT_TO_PUNCT: return _("Share of the attention that goes to punctuation tokens (0 to 1).");
    case AS_STAT_SELF: return _("Share of the attention a token gives to itself (0 to 1).");
    case AS_STAT_PREV: return _("Share of the attention a token gives to the token just before it (0 to 1).");
    case AS_STAT_NEXT: return _("Share of the attention a token gives to the token just after it (0 to 1).");
    case AS_STAT_DISTANCE: return _("How far away, in tokens, a token looks on average: 0 is itself, 1 a neighbour.");
    case AS_STAT_CONFIDENCE:
      return _("Confidence: each token's largest attention weight, averaged. Near 1: every token "
               "looks at one token; low: attention spread over many.");
    case AS_STAT_SINK:
      return _("Attention sink: the share that goes to the very first token. Many heads park "
               "attention there when nothing else is relevant.");
    case AS_STAT_PATTERN:
      return _("The shape of the heatmap, named after Kovaleva et al. (2019). Vertical: most "
               "attention goes to [CLS]/[SEP] (stripes down the columns). Diagonal: to the "
               "previous or next token (a line beside the diagonal). Block: each sentence of a "
               "pair looks at itself. Heterogeneous: none of these.");
    default: return NULL;
    }
}

static gboolean
on_frozen_scroll (GtkEventControllerScroll *wheel,
                  double                    dx,
                  double                    dy,
                  AsStatsTable             *self)
{
  GtkAdjustment *v = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (self->scroller));
  double step = MAX (gtk_adjustment_get_page_size (v) / 8, 20.0);
  gtk_adjustment_set_value (v, gtk_adjustment_get_value (v) + dy * step);
  return TRUE;
}

/* GTK 4.8 gives column headers no tooltip of their own: the header row is
 * the view's first child, its titles the columns in order. */
static void
set_header_tooltips (GtkColumnView *view,
                     const int     *kinds,
                     int            n)
{
  for (GtkWidget *header = gtk_widget_get_first_child (GTK_WIDGET (view)); header != NULL;
       header = gtk_widget_get_next_sibling (header))
    {
      if (GTK_IS_LIST_VIEW (header))
        continue;
      int i = 0;
      for (GtkWidget *title = gtk_widget_get_first_child (header); title != NULL && i < n;
           title = gtk_widget_get_next_sibling (title), i++)
        {
          const char *tip = column_tooltip (kinds[i]);
          gtk_widget_set_tooltip_text (title, tip);
        }
      return;
    }
}

static GtkColumnViewColumn *
add_column_to (GtkColumnView *view,
               const char    *title,
               int            kind,
               gboolean       sortable)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (setup_cell), GINT_TO_POINTER (kind));
  g_signal_connect (factory, "bind", G_CALLBACK (bind_cell), GINT_TO_POINTER (kind));
  GtkColumnViewColumn *column = gtk_column_view_column_new (title, factory);
  if (sortable)
    {
      GtkSorter *sorter = GTK_SORTER (gtk_custom_sorter_new (compare_rows, GINT_TO_POINTER (kind), NULL));
      gtk_column_view_column_set_sorter (column, sorter);
      g_object_unref (sorter);
    }
  gtk_column_view_append_column (view, column);
  g_object_unref (column);
  return column;
}

static GtkColumnViewColumn *
add_column (AsStatsTable *self,
            const char   *title,
            int           kind)
{
  GtkColumnViewColumn *column = add_column_to (self->view, title, kind, TRUE);
  gtk_column_view_column_set_expand (column, kind == AS_STAT_PATTERN);
  return column;
}

/* ---- following the state ------------------------------------------------ */

static void
scroll_to (AsStatsTable *self,
           guint         position)
{
  /* GTK 4.8 has no gtk_column_view_scroll_to(); the list inside it has the
   * "list.scroll-to-item" action. */
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->view));
       child != NULL; child = gtk_widget_get_next_sibling (child))
    if (GTK_IS_LIST_VIEW (child))
      {
        gtk_widget_activate_action (child, "list.scroll-to-item", "u", position);
        return;
      }
}

static void
sync_selection (AsStatsTable *self)
{
  if (self->state == NULL)
    return;
  int layer = as_view_state_get_layer (self->state);
  int head = as_view_state_get_head (self->state);
  GListModel *model = G_LIST_MODEL (self->sorted);
  guint n = g_list_model_get_n_items (model);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(AsStatsRow) row = g_list_model_get_item (model, i);
      if (row->layer != layer || row->head != head)
        continue;
      if (gtk_single_selection_get_selected (self->selection) != i)
        {
          self->syncing = TRUE;
          gtk_single_selection_set_selected (self->selection, i);
          self->syncing = FALSE;
          if (gtk_widget_get_mapped (GTK_WIDGET (self)))
            scroll_to (self, i);
        }
      return;
    }
}

static void
on_selected (AsStatsTable *self)
{
  if (self->syncing || self->state == NULL)
    return;
  AsStatsRow *row = gtk_single_selection_get_selected_item (self->selection);
  if (row != NULL)
    as_view_state_select (self->state, row->layer, row->head);
  else
    sync_selection (self);   /* rows replaced under the selection */
}

static void
update_caption (AsStatsTable *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  g_autofree char *text = NULL;
  if (a == NULL)
    text = g_strdup ("");
  else
    text = g_strdup_printf (_("All %d heads on this input (%d tokens%s). Click a header to sort, "
                              "a row to show that head; point at a header for what it measures."),
                            a->n_layers * a->n_heads, a->n, a->text_b != NULL ? _(", a pair") : "");
  gtk_label_set_text (GTK_LABEL (self->caption), text);
}

/* Brings the rows in line with the cache: new values for layers that are
 * done, pending rows for a new analysis. */
static void
refresh (AsStatsTable *self)
{
  int nl = 0, nh = 0, done = 0;
  const AsHeadStats *stats = self->cache != NULL
                             ? as_stats_cache_get (self->cache, &nl, &nh, &done) : NULL;
  if (stats == NULL)
    nl = nh = done = 0;

  guint want = (guint) (nl * nh);
  gboolean reshape = g_list_model_get_n_items (G_LIST_MODEL (self->store)) != want;
  if (reshape || done < self->shown_done)
    {
      /* A new analysis: every row pending, in one change. */
      g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func (g_object_unref);
      for (int l = 0; l < nl; l++)
        for (int h = 0; h < nh; h++)
          g_ptr_array_add (rows, as_stats_row_new (l, h, NULL));
      g_list_store_splice (self->store, 0, g_list_model_get_n_items (G_LIST_MODEL (self->store)),
                           rows->pdata, rows->len);
      self->shown_done = 0;
    }
  if (done > self->shown_done)
    {
      g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func (g_object_unref);
      for (int l = self->shown_done; l < done; l++)
        for (int h = 0; h < nh; h++)
          g_ptr_array_add (rows, as_stats_row_new (l, h, &stats[l * nh + h]));
      g_list_store_splice (self->store, self->shown_done * nh, rows->len, rows->pdata, rows->len);
      self->shown_done = done;
    }
  update_caption (self);
  sync_selection (self);
}

/* The statistics are computed only while the table is on screen. */
static void
update_hold (AsStatsTable *self)
{
  gboolean want = self->cache != NULL && gtk_widget_get_mapped (GTK_WIDGET (self));
  if (want == self->held)
    return;
  self->held = want;
  if (want)
    as_stats_cache_hold (self->cache);
  else
    as_stats_cache_release (self->cache);
}

static void
as_stats_table_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (as_stats_table_parent_class)->map (widget);
  update_hold (AS_STATS_TABLE (widget));
  sync_selection (AS_STATS_TABLE (widget));
}

static void
as_stats_table_unmap (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (as_stats_table_parent_class)->unmap (widget);
  update_hold (AS_STATS_TABLE (widget));
}

/* ---- public ------------------------------------------------------------- */

GtkWidget *
as_stats_table_new (void)
{
  return g_object_new (AS_TYPE_STATS_TABLE, NULL);
}

AsViewState *
as_stats_table_get_view_state (AsStatsTable *self)
{
  g_return_val_if_fail (AS_IS_STATS_TABLE (self), NULL);
  return self->state;
}

static void
drop_state (AsStatsTable *self)
{
  if (self->cache != NULL)
    {
      if (self->held)
        as_stats_cache_release (self->cache);
      self->held = FALSE;
      g_signal_handlers_disconnect_by_data (self->cache, self);
      g_clear_object (&self->cache);
    }
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_clear_object (&self->state);
}

void
as_stats_table_set_view_state (AsStatsTable *self,
                               AsViewState  *state)
{
  g_return_if_fail (AS_IS_STATS_TABLE (self));

  if (self->state == state)
    return;
  drop_state (self);
  if (state != NULL)
    {
      self->state = g_object_ref (state);
      self->cache = g_object_ref (as_view_state_get_stats_cache (state));
      g_signal_connect_swapped (self->cache, "updated", G_CALLBACK (refresh), self);
      g_signal_connect_swapped (state, "notify::layer", G_CALLBACK (sync_selection), self);
      g_signal_connect_swapped (state, "notify::head", G_CALLBACK (sync_selection), self);
    }
  update_hold (self);
  refresh (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

static void
as_stats_table_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      g_value_set_object (value, as_stats_table_get_view_state (AS_STATS_TABLE (object)));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_stats_table_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      as_stats_table_set_view_state (AS_STATS_TABLE (object), g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

GtkSingleSelection *
as_stats_table_get_selection (AsStatsTable *self)
{
  g_return_val_if_fail (AS_IS_STATS_TABLE (self), NULL);
  return self->selection;
}

gboolean
as_stats_table_get_row (AsStatsTable *self,
                        guint         position,
                        int          *layer,
                        int          *head,
                        AsHeadStats  *stats)
{
  g_return_val_if_fail (AS_IS_STATS_TABLE (self), FALSE);
  g_autoptr(AsStatsRow) row = g_list_model_get_item (G_LIST_MODEL (self->sorted), position);
  if (row == NULL)
    return FALSE;
  *layer = row->layer;
  *head = row->head;
  if (stats != NULL)
    *stats = row->stats;
  return row->ready;
}

void
as_stats_table_sort (AsStatsTable *self,
                     AsStatId      stat,
                     GtkSortType   order)
{
  g_return_if_fail (AS_IS_STATS_TABLE (self));
  g_return_if_fail ((int) stat >= 0 && stat < AS_N_STATS);
  gtk_column_view_sort_by_column (self->view, self->columns[stat == AS_STAT_NONE ? 0 : stat + 1], order);
}

char *
as_stats_table_cell_text (AsStatsTable *self,
                          guint         position,
                          AsStatId      stat)
{
  g_return_val_if_fail (AS_IS_STATS_TABLE (self), NULL);
  g_autoptr(AsStatsRow) row = g_list_model_get_item (G_LIST_MODEL (self->sorted), position);
  if (row == NULL)
    return NULL;
  return cell_text (row, stat == AS_STAT_NONE ? COL_LAYER : (int) stat);
}

/* ---- GObject ------------------------------------------------------------ */

static void
as_stats_table_dispose (GObject *object)
{
  AsStatsTable *self = AS_STATS_TABLE (object);

  drop_state (self);
  gtk_widget_dispose_template (GTK_WIDGET (self), AS_TYPE_STATS_TABLE);

  G_OBJECT_CLASS (as_stats_table_parent_class)->dispose (object);
}

static void
as_stats_table_class_init (AsStatsTableClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = as_stats_table_dispose;
  object_class->get_property = as_stats_table_get_property;
  object_class->set_property = as_stats_table_set_property;
  /* The one way every view is given its state: this property, or
   * as_stats_table_set_view_state(). */
  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  widget_class->map = as_stats_table_map;
  widget_class->unmap = as_stats_table_unmap;

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "statstable");

  g_type_ensure (AS_TYPE_STATS_ROW);   /* the store's item type, by name */
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/attnscope/AttnScope/as-stats-table.ui");
  gtk_widget_class_bind_template_child (widget_class, AsStatsTable, caption);
  gtk_widget_class_bind_template_child (widget_class, AsStatsTable, scroller);
  gtk_widget_class_bind_template_child (widget_class, AsStatsTable, view);
  gtk_widget_class_bind_template_child (widget_class, AsStatsTable, tables);
  gtk_widget_class_bind_template_child (widget_class, AsStatsTable, frozen_scroller);
  gtk_widget_class_bind_template_child (widget_class, AsStatsTable, frozen_view);
  gtk_widget_class_bind_template_child (widget_class, AsStatsTable, store);
  gtk_widget_class_bind_template_child (widget_class, AsStatsTable, sorted);
  gtk_widget_class_bind_template_child (widget_class, AsStatsTable, selection);
  gtk_widget_class_bind_template_callback (widget_class, on_selected);
}

static void
as_stats_table_init (AsStatsTable *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));
  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 6);

  gtk_widget_init_template (GTK_WIDGET (self));
  /* One column per statistic, after the layer and head. */
  self->columns[0] = add_column (self, _("Layer"), COL_LAYER);
  self->columns[1] = add_column (self, _("Head"), COL_HEAD);
  for (int s = AS_STAT_ENTROPY; s < AS_N_STATS; s++)
    self->columns[s + 1] = add_column (self, as_stat_short_label (s), s);
  int kinds[AS_N_STATS + 1] = { COL_LAYER, COL_HEAD };
  for (int s = AS_STAT_ENTROPY; s < AS_N_STATS; s++)
    kinds[s + 1] = s;
  set_header_tooltips (self->view, kinds, AS_N_STATS + 1);

  /* Layer and Head show in the frozen view; here they stay (hidden) as
   * what the table sorts by when no statistic is chosen. */
  gtk_column_view_column_set_visible (self->columns[0], FALSE);
  gtk_column_view_column_set_visible (self->columns[1], FALSE);
  add_column_to (self->frozen_view, _("Layer"), COL_LAYER, FALSE);
  add_column_to (self->frozen_view, _("Head"), COL_HEAD, FALSE);
  set_header_tooltips (self->frozen_view, kinds, 2);
  /* The two lists scroll together: each keeps its own adjustment (a list
   * configures the one it has). The statistics lead; the frozen list
   * follows them and hands its wheel to them, so the two never pull one
   * position in two directions mid-scroll. */
  g_object_bind_property (gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (self->scroller)), "value",
                          gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (self->frozen_scroller)), "value",
                          G_BINDING_DEFAULT);
  GtkEventController *wheel = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
  gtk_event_controller_set_propagation_phase (wheel, GTK_PHASE_CAPTURE);
  g_signal_connect (wheel, "scroll", G_CALLBACK (on_frozen_scroll), self);
  gtk_widget_add_controller (self->frozen_scroller, wheel);
}
