/* as-view-state.c — the shared selection and display options. */
#include "as-view-state.h"
#include "as-stats-cache.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "as-file-read.h"

struct _AsViewState
{
  GObject       parent_instance;

  AsAnalysis   *analysis;
  int           layers_ready;
  int           layer;
  int           head;
  int           token;
  AsColormapId  colormap;
  gboolean      hide_special;
  gboolean      renormalise;
  gboolean      fit_scale;
  gboolean      dark;
  double        zoom;
  AsShownAggregate aggregate;
  gboolean      words;
  int           generated_from;

  AsShownTokens *tokens;     /* rows as shown, NULL without an analysis */
  int          *visible;     /* [tokens->n] first token of each row */

  /* The last combined matrix (mean, max, rollout): the head view and the
   * lines view ask for the same one, and rollout is a chain of products. */
  float        *cached;      /* [tokens->n, tokens->n] or NULL */
  AsShownAggregate cached_aggregate;
  int           cached_layer;

  GSimpleActionGroup *actions;
  AsStatsCache       *stats_cache;   /* made on first use */
};

G_DEFINE_FINAL_TYPE (AsViewState, as_view_state, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ANALYSIS,
  PROP_LAYERS_READY,
  PROP_LAYER,
  PROP_HEAD,
  PROP_TOKEN,
  PROP_COLORMAP,
  PROP_COLORMAP_NAME,
  PROP_HIDE_SPECIAL,
  PROP_RENORMALISE,
  PROP_FIT_SCALE,
  PROP_DARK,
  PROP_ZOOM,
  PROP_AGGREGATE,
  PROP_WORDS,
  PROP_GENERATED_FROM,
  N_PROPS
};

enum {
  LAYER_ADDED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

GType
as_shown_aggregate_get_type (void)
{
  static gsize type = 0;
  if (g_once_init_enter (&type))
    {
      static const GEnumValue values[] = {
        { AS_SHOWN_HEAD, "AS_SHOWN_HEAD", "head" },
        { AS_SHOWN_MEAN, "AS_SHOWN_MEAN", "mean" },
        { AS_SHOWN_MAX, "AS_SHOWN_MAX", "max" },
        { AS_SHOWN_ROLLOUT, "AS_SHOWN_ROLLOUT", "rollout" },
        { 0, NULL, NULL },
      };
      g_once_init_leave (&type, g_enum_register_static ("AsShownAggregate", values));
    }
  return type;
}

static void
forget_cached (AsViewState *self)
{
  g_clear_pointer (&self->cached, g_free);
}

/* Rows change with the analysis, hide-special and words. */
static void
update_visible (AsViewState *self)
{
  forget_cached (self);
  g_clear_pointer (&self->tokens, as_shown_tokens_free);
  g_clear_pointer (&self->visible, g_free);
  if (self->analysis == NULL)
    return;

  AsShownSpec spec;
  as_view_state_get_spec (self, &spec);
  const AsAnalysis *a = self->analysis;
  self->tokens = as_shown_tokens_new (a->encoding, a->n, a->text_a, a->text_b, &spec);
  self->visible = g_new (int, MAX (self->tokens->n, 1));
  for (int r = 0; r < self->tokens->n; r++)
    self->visible[r] = self->tokens->tokens[self->tokens->first[r]];
}

static void
as_view_state_finalize (GObject *object)
{
  AsViewState *self = AS_VIEW_STATE (object);

  g_clear_pointer (&self->analysis, as_analysis_unref);
  g_clear_pointer (&self->tokens, as_shown_tokens_free);
  g_free (self->visible);
  g_free (self->cached);
  g_clear_object (&self->actions);
  g_clear_object (&self->stats_cache);

  G_OBJECT_CLASS (as_view_state_parent_class)->finalize (object);
}

static void
as_view_state_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  AsViewState *self = AS_VIEW_STATE (object);

  switch (prop_id)
    {
    case PROP_ANALYSIS:     g_value_set_boxed (value, self->analysis); break;
    case PROP_LAYERS_READY: g_value_set_int (value, self->layers_ready); break;
    case PROP_LAYER:        g_value_set_int (value, self->layer); break;
    case PROP_HEAD:         g_value_set_int (value, self->head); break;
    case PROP_TOKEN:        g_value_set_int (value, self->token); break;
    case PROP_COLORMAP:     g_value_set_int (value, self->colormap); break;
    case PROP_COLORMAP_NAME: g_value_set_string (value, as_colormap_name (self->colormap)); break;
    case PROP_HIDE_SPECIAL: g_value_set_boolean (value, self->hide_special); break;
    case PROP_RENORMALISE:  g_value_set_boolean (value, self->renormalise); break;
    case PROP_FIT_SCALE:    g_value_set_boolean (value, self->fit_scale); break;
    case PROP_DARK:         g_value_set_boolean (value, self->dark); break;
    case PROP_ZOOM:         g_value_set_double (value, self->zoom); break;
    case PROP_AGGREGATE:    g_value_set_enum (value, self->aggregate); break;
    case PROP_WORDS:        g_value_set_boolean (value, self->words); break;
    case PROP_GENERATED_FROM: g_value_set_int (value, self->generated_from); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_view_state_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  AsViewState *self = AS_VIEW_STATE (object);

  switch (prop_id)
    {
    case PROP_ANALYSIS:     as_view_state_set_analysis (self, g_value_get_boxed (value)); break;
    case PROP_LAYER:        as_view_state_set_layer (self, g_value_get_int (value)); break;
    case PROP_HEAD:         as_view_state_set_head (self, g_value_get_int (value)); break;
    case PROP_TOKEN:        as_view_state_set_token (self, g_value_get_int (value)); break;
    case PROP_COLORMAP:     as_view_state_set_colormap (self, g_value_get_int (value)); break;
    case PROP_COLORMAP_NAME:
      {
        int id = as_colormap_from_name (g_value_get_string (value));
        if (id >= 0)
          as_view_state_set_colormap (self, id);
      }
      break;
    case PROP_HIDE_SPECIAL: as_view_state_set_hide_special (self, g_value_get_boolean (value)); break;
    case PROP_RENORMALISE:  as_view_state_set_renormalise (self, g_value_get_boolean (value)); break;
    case PROP_FIT_SCALE:    as_view_state_set_fit_scale (self, g_value_get_boolean (value)); break;
    case PROP_DARK:         as_view_state_set_dark (self, g_value_get_boolean (value)); break;
    case PROP_ZOOM:         as_view_state_set_zoom (self, g_value_get_double (value)); break;
    case PROP_AGGREGATE:    as_view_state_set_aggregate (self, g_value_get_enum (value)); break;
    case PROP_WORDS:        as_view_state_set_words (self, g_value_get_boolean (value)); break;
    case PROP_GENERATED_FROM: as_view_state_set_generated_from (self, g_value_get_int (value)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_view_state_class_init (AsViewStateClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = as_view_state_finalize;
  object_class->get_property = as_view_state_get_property;
  object_class->set_property = as_view_state_set_property;

  properties[PROP_ANALYSIS] =
    g_param_spec_boxed ("analysis", NULL, NULL, AS_TYPE_ANALYSIS, rw);
  properties[PROP_LAYERS_READY] =
    g_param_spec_int ("layers-ready", NULL, NULL, 0, G_MAXINT, 0,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_LAYER] = g_param_spec_int ("layer", NULL, NULL, 0, G_MAXINT, 0, rw);
  properties[PROP_HEAD] = g_param_spec_int ("head", NULL, NULL, 0, G_MAXINT, 0, rw);
  properties[PROP_TOKEN] = g_param_spec_int ("token", NULL, NULL, -1, G_MAXINT, -1, rw);
  properties[PROP_COLORMAP] =
    g_param_spec_int ("colormap", NULL, NULL, 0, AS_N_COLORMAPS - 1, AS_COLORMAP_VIRIDIS, rw);
  /* The same by name ("viridis", "magma", ...), for a string-valued
   * property action and menus that name their targets. */
  properties[PROP_COLORMAP_NAME] =
    g_param_spec_string ("colormap-name", NULL, NULL, "viridis", rw);
  properties[PROP_HIDE_SPECIAL] = g_param_spec_boolean ("hide-special", NULL, NULL, FALSE, rw);
  properties[PROP_RENORMALISE] = g_param_spec_boolean ("renormalise", NULL, NULL, FALSE, rw);
  /* Fitted by default: at long inputs a 0 .. 1 scale is a black square. */
  properties[PROP_FIT_SCALE] = g_param_spec_boolean ("fit-scale", NULL, NULL, TRUE, rw);
  properties[PROP_DARK] = g_param_spec_boolean ("dark", NULL, NULL, FALSE, rw);
  properties[PROP_ZOOM] =
    g_param_spec_double ("zoom", NULL, NULL, AS_VIEW_ZOOM_MIN, AS_VIEW_ZOOM_MAX, 1.0, rw);
  properties[PROP_AGGREGATE] =
    g_param_spec_enum ("aggregate", NULL, NULL, AS_TYPE_SHOWN_AGGREGATE, AS_SHOWN_HEAD, rw);
  properties[PROP_WORDS] = g_param_spec_boolean ("words", NULL, NULL, FALSE, rw);
  properties[PROP_GENERATED_FROM] = g_param_spec_int ("generated-from", NULL, NULL, -1, G_MAXINT,
                                                      -1, rw);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* ::layer-added (layer): LAYER of the current analysis may now be drawn. */
  signals[LAYER_ADDED] =
    g_signal_new ("layer-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

/* ---- actions ------------------------------------------------------------ */

/* Plain stateful actions rather than GPropertyAction, which would hold a
 * reference to SELF from an object SELF owns. */
static void
change_aggregate (GSimpleAction *action,
                  GVariant      *value,
                  gpointer       data)
{
  int aggregate = as_shown_aggregate_from_name (g_variant_get_string (value, NULL));
  if (aggregate >= 0)
    as_view_state_set_aggregate (AS_VIEW_STATE (data), aggregate);
}

static void
change_words (GSimpleAction *action,
              GVariant      *value,
              gpointer       data)
{
  as_view_state_set_words (AS_VIEW_STATE (data), g_variant_get_boolean (value));
}

/* "activate" without a parameter toggles a boolean; with one it sets it. */
static void
activate_stateful (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       data)
{
  if (parameter != NULL)
    {
      g_action_change_state (G_ACTION (action), parameter);
      return;
    }
  g_autoptr(GVariant) state = g_action_get_state (G_ACTION (action));
  g_action_change_state (G_ACTION (action), g_variant_new_boolean (!g_variant_get_boolean (state)));
}

static void
sync_actions (AsViewState *self)
{
  GAction *agg = g_action_map_lookup_action (G_ACTION_MAP (self->actions), "aggregate");
  GAction *words = g_action_map_lookup_action (G_ACTION_MAP (self->actions), "words");
  g_simple_action_set_state (G_SIMPLE_ACTION (agg),
                             g_variant_new_string (as_shown_aggregate_name (self->aggregate)));
  g_simple_action_set_state (G_SIMPLE_ACTION (words), g_variant_new_boolean (self->words));
}

static void
as_view_state_init (AsViewState *self)
{
  self->token = -1;
  self->generated_from = -1;
  self->colormap = AS_COLORMAP_VIRIDIS;
  self->fit_scale = TRUE;
  self->zoom = 1.0;

  const GActionEntry entries[] = {
    { "aggregate", activate_stateful, "s", "'head'", change_aggregate, { 0 } },
    { "words", activate_stateful, NULL, "false", change_words, { 0 } },
  };
  self->actions = g_simple_action_group_new ();
  g_action_map_add_action_entries (G_ACTION_MAP (self->actions), entries, G_N_ELEMENTS (entries), self);
}

AsViewState *
as_view_state_new (void)
{
  return g_object_new (AS_TYPE_VIEW_STATE, NULL);
}

AsAnalysis *
as_view_state_get_analysis (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), NULL);
  return self->analysis;
}

void
as_view_state_set_analysis (AsViewState *self,
                            AsAnalysis  *analysis)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  if (self->analysis == analysis)
    return;

  g_object_freeze_notify (G_OBJECT (self));
  /* The highlighted token stays only if the same token is still there:
   * after an edit before it, the index would point at another word. */
  if (self->token >= 0 && self->analysis != NULL && analysis != NULL &&
      (self->token >= analysis->n ||
       g_strcmp0 (self->analysis->encoding->tokens[self->token].text,
                  analysis->encoding->tokens[self->token].text) != 0))
    as_view_state_set_token (self, -1);
  g_clear_pointer (&self->analysis, as_analysis_unref);
  self->analysis = analysis != NULL ? as_analysis_ref (analysis) : NULL;
  update_visible (self);

  int ready = analysis != NULL ? analysis->layers_ready : 0;
  if (ready != self->layers_ready)
    {
      self->layers_ready = ready;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAYERS_READY]);
    }
  if (analysis != NULL)
    {
      /* Keep the selection across edits; clamp it when the shape shrinks
       * (a smaller model, a shorter text). */
      as_view_state_select (self, MIN (self->layer, analysis->n_layers - 1),
                            MIN (self->head, analysis->n_heads - 1));
      if (self->token >= analysis->n)
        as_view_state_set_token (self, -1);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ANALYSIS]);
  g_object_thaw_notify (G_OBJECT (self));
}

int
as_view_state_get_layers_ready (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), 0);
  return self->layers_ready;
}

void
as_view_state_layer_added (AsViewState *self,
                           int          layer)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));
  g_return_if_fail (self->analysis != NULL);

  /* The worker advanced analysis->layers_ready before telling us. */
  self->layers_ready = self->analysis->layers_ready;
  g_signal_emit (self, signals[LAYER_ADDED], 0, layer);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAYERS_READY]);
}

int
as_view_state_get_layer (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), 0);
  return self->layer;
}

void
as_view_state_set_layer (AsViewState *self,
                         int          layer)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));
  as_view_state_select (self, layer, self->head);
}

int
as_view_state_get_head (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), 0);
  return self->head;
}

void
as_view_state_set_head (AsViewState *self,
                        int          head)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));
  as_view_state_select (self, self->layer, head);
}

void
as_view_state_select (AsViewState *self,
                      int          layer,
                      int          head)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  if (self->analysis != NULL)
    {
      layer = CLAMP (layer, 0, self->analysis->n_layers - 1);
      head = CLAMP (head, 0, self->analysis->n_heads - 1);
    }
  layer = MAX (layer, 0);
  head = MAX (head, 0);

  if (layer != self->layer)
    {
      self->layer = layer;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAYER]);
    }
  if (head != self->head)
    {
      self->head = head;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HEAD]);
    }
}

void
as_view_state_move (AsViewState *self,
                    int          dlayer,
                    int          dhead)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));
  as_view_state_select (self, self->layer + dlayer, self->head + dhead);
}

int
as_view_state_get_token (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), -1);
  return self->token;
}

void
as_view_state_set_token (AsViewState *self,
                         int          token)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  if (token < 0 || (self->analysis != NULL && token >= self->analysis->n))
    token = -1;
  if (token == self->token)
    return;
  self->token = token;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOKEN]);
}

AsColormapId
as_view_state_get_colormap (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), AS_COLORMAP_VIRIDIS);
  return self->colormap;
}

void
as_view_state_set_colormap (AsViewState  *self,
                            AsColormapId  colormap)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));
  g_return_if_fail ((int) colormap >= 0 && colormap < AS_N_COLORMAPS);

  if (colormap == self->colormap)
    return;
  self->colormap = colormap;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLORMAP]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLORMAP_NAME]);
}

gboolean
as_view_state_get_hide_special (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), FALSE);
  return self->hide_special;
}

void
as_view_state_set_hide_special (AsViewState *self,
                                gboolean     hide)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  hide = !!hide;
  if (hide == self->hide_special)
    return;
  self->hide_special = hide;
  update_visible (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HIDE_SPECIAL]);
}

gboolean
as_view_state_get_renormalise (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), FALSE);
  return self->renormalise;
}

void
as_view_state_set_renormalise (AsViewState *self,
                               gboolean     renorm)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  renorm = !!renorm;
  if (renorm == self->renormalise)
    return;
  self->renormalise = renorm;
  forget_cached (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RENORMALISE]);
}

gboolean
as_view_state_get_fit_scale (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), FALSE);
  return self->fit_scale;
}

void
as_view_state_set_fit_scale (AsViewState *self,
                             gboolean     fit)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  fit = !!fit;
  if (fit == self->fit_scale)
    return;
  self->fit_scale = fit;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FIT_SCALE]);
}

gboolean
as_view_state_get_dark (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), FALSE);
  return self->dark;
}

void
as_view_state_set_dark (AsViewState *self,
                        gboolean     dark)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  dark = !!dark;
  if (dark == self->dark)
    return;
  self->dark = dark;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DARK]);
}

double
as_view_state_get_zoom (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), 1.0);
  return self->zoom;
}

void
as_view_state_set_zoom (AsViewState *self,
                        double       zoom)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  if (!isfinite (zoom))
    return;
  zoom = CLAMP (zoom, AS_VIEW_ZOOM_MIN, AS_VIEW_ZOOM_MAX);
  if (fabs (zoom - self->zoom) < 1e-6)
    return;
  self->zoom = zoom;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
}

/* The steps a browser takes: even ratios, so in and out come back to 1. */
static const double zoom_steps[] = { 0.5, 0.67, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0 };

void
as_view_state_zoom_step (AsViewState *self,
                         int          direction)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  double next = 1.0;
  if (direction > 0)
    {
      next = zoom_steps[G_N_ELEMENTS (zoom_steps) - 1];
      for (guint i = 0; i < G_N_ELEMENTS (zoom_steps); i++)
        if (zoom_steps[i] > self->zoom + 1e-3)
          {
            next = zoom_steps[i];
            break;
          }
    }
  else if (direction < 0)
    {
      next = zoom_steps[0];
      for (int i = G_N_ELEMENTS (zoom_steps) - 1; i >= 0; i--)
        if (zoom_steps[i] < self->zoom - 1e-3)
          {
            next = zoom_steps[i];
            break;
          }
    }
  as_view_state_set_zoom (self, next);
}

/* ---- remembered settings ------------------------------------------------ */

static char *
settings_path (void)
{
  return g_build_filename (g_get_user_config_dir (), "attnscope", "settings.ini", NULL);
}

static void
save_settings (AsViewState *self)
{
  g_autofree char *path = settings_path ();
  g_autofree char *folder = g_path_get_dirname (path);
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;

  g_key_file_set_double (kf, "view", "zoom", self->zoom);
  gsize length = 0;
  g_autofree char *data = g_key_file_to_data (kf, &length, NULL);
  /* Renamed over the old file, as the recent models are: never half a file,
   * never through whatever sat at the path. */
  if (g_mkdir_with_parents (folder, 0700) != 0 ||
      !g_file_set_contents_full (path, data, (gssize) length, G_FILE_SET_CONTENTS_CONSISTENT,
                                 0600, &error))
    g_debug ("cannot save the view settings to %s: %s", path,
             error != NULL ? error->message : g_strerror (errno));
}

void
as_view_state_remember_settings (AsViewState *self)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  g_autofree char *path = settings_path ();
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;

  /* A missing or unreadable file is the defaults: the app works without it
   * and the next change replaces it. */
  if (g_file_test (path, G_FILE_TEST_EXISTS) &&
      as_file_read_regular (path, AS_FILE_CAP_LIST, &contents, &length, &error) &&
      g_key_file_load_from_data (kf, contents, length, G_KEY_FILE_NONE, &error))
    {
      double zoom = g_key_file_get_double (kf, "view", "zoom", NULL);
      if (zoom > 0)
        as_view_state_set_zoom (self, zoom);
    }
  else if (error != NULL)
    g_message ("ignoring the view settings: %s", error->message);

  g_signal_handlers_disconnect_by_func (self, save_settings, NULL);
  g_signal_connect (self, "notify::zoom", G_CALLBACK (save_settings), NULL);
}

AsShownAggregate
as_view_state_get_aggregate (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), AS_SHOWN_HEAD);
  return self->aggregate;
}

void
as_view_state_set_aggregate (AsViewState      *self,
                             AsShownAggregate  aggregate)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));
  g_return_if_fail ((guint) aggregate < AS_N_SHOWN_AGGREGATES);

  if (aggregate == self->aggregate)
    return;
  self->aggregate = aggregate;
  sync_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_AGGREGATE]);
}

gboolean
as_view_state_get_words (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), FALSE);
  return self->words;
}

void
as_view_state_set_words (AsViewState *self,
                         gboolean     words)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  words = !!words;
  if (words == self->words)
    return;
  self->words = words;
  /* A highlighted piece now belongs to a word: the token stays, its row
   * is the word's. */
  update_visible (self);
  sync_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WORDS]);
}

int
as_view_state_get_generated_from (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), -1);
  return self->generated_from;
}

void
as_view_state_set_generated_from (AsViewState *self,
                                  int          byte)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));

  byte = MAX (byte, -1);
  if (byte == self->generated_from)
    return;
  self->generated_from = byte;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GENERATED_FROM]);
}

gboolean
as_view_state_token_is_generated (AsViewState *self,
                                  int          i)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), FALSE);
  const AsAnalysis *a = self->analysis;
  if (self->generated_from < 0 || a == NULL || a->encoding == NULL ||
      i < 0 || i >= a->encoding->n_tokens)
    return FALSE;
  const AsToken *t = &a->encoding->tokens[i];
  return t->sequence == 0 && t->start >= self->generated_from;
}

AsStatsCache *
as_view_state_get_stats_cache (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), NULL);
  if (self->stats_cache == NULL)
    self->stats_cache = as_stats_cache_new (self);
  return self->stats_cache;
}

GActionGroup *
as_view_state_get_actions (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), NULL);
  return G_ACTION_GROUP (self->actions);
}

void
as_view_state_get_spec (AsViewState *self,
                        AsShownSpec *spec)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));
  as_shown_spec_init (spec);
  spec->aggregate = self->aggregate;
  spec->layer = self->layer;
  spec->head = self->head;
  spec->hide_special = self->hide_special;
  spec->renormalise = self->renormalise;
  spec->words = self->words;
}

const AsShownTokens *
as_view_state_get_tokens (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), NULL);
  return self->tokens;
}

const int *
as_view_state_get_visible (AsViewState *self,
                           int         *n_visible)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), NULL);
  if (n_visible != NULL)
    *n_visible = self->tokens != NULL ? self->tokens->n : 0;
  return self->visible;
}

const char * const *
as_view_state_get_labels (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), NULL);
  return self->tokens != NULL ? (const char * const *) self->tokens->labels : NULL;
}

int
as_view_state_visible_index (AsViewState *self,
                             int          token)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), -1);

  if (self->tokens == NULL || token < 0 || token >= self->tokens->n_tokens)
    return -1;
  return self->tokens->row_of[token];
}

gboolean
as_view_state_extract_shown (AsViewState      *self,
                             AsShownAggregate  aggregate,
                             int               layer,
                             int               head,
                             float            *out)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), FALSE);

  AsAnalysis *a = self->analysis;
  if (a == NULL || self->tokens == NULL || (guint) aggregate >= AS_N_SHOWN_AGGREGATES ||
      layer < 0 || layer >= self->layers_ready || layer >= a->n_layers ||
      (aggregate == AS_SHOWN_HEAD && (head < 0 || head >= a->n_heads)))
    return FALSE;

  AsShownSpec spec;
  as_view_state_get_spec (self, &spec);
  spec.aggregate = aggregate;
  spec.layer = layer;
  spec.head = head;
  gsize bytes = (gsize) self->tokens->n * self->tokens->n * sizeof (float);
  if (aggregate != AS_SHOWN_HEAD && self->cached != NULL &&
      self->cached_aggregate == aggregate && self->cached_layer == layer)
    {
      memcpy (out, self->cached, bytes);
      return TRUE;
    }
  /* Layers 0..layers_ready-1 are in, which is all any of them reads. */
  if (!as_shown_matrix (self->tokens, a->attn, a->n_layers, a->n_heads, &spec, out, NULL))
    return FALSE;
  if (aggregate != AS_SHOWN_HEAD)
    {
      g_free (self->cached);
      self->cached = g_memdup2 (out, bytes);
      self->cached_aggregate = aggregate;
      self->cached_layer = layer;
    }
  return TRUE;
}

gboolean
as_view_state_extract (AsViewState *self,
                       int          layer,
                       int          head,
                       float       *out)
{
  return as_view_state_extract_shown (self, AS_SHOWN_HEAD, layer, head, out);
}

void
as_view_state_head_spec (AsViewState   *self,
                         const float   *values,
                         AsHeatmapSpec *spec)
{
  g_return_if_fail (AS_IS_VIEW_STATE (self));
  int n_vis;
  as_view_state_get_visible (self, &n_vis);
  int sel = as_view_state_visible_index (self, as_view_state_get_token (self));

  as_heatmap_spec_init (spec);
  spec->values = values;
  spec->rows = n_vis;
  spec->cols = n_vis;
  spec->row_labels = as_view_state_get_labels (self);
  spec->col_labels = spec->row_labels;
  spec->vmin = 0;
  spec->vmax = 1;
  AsAnalysis *analysis = as_view_state_get_analysis (self);
  spec->causal = analysis != NULL && analysis->causal;
  spec->colorbar_label = _("attention, full 0 to 1 scale");
  if (as_view_state_get_fit_scale (self) && n_vis > 0)
    {
      spec->vmax = as_heatmap_robust_max (values, n_vis, n_vis, spec->causal);
      spec->colorbar_label = as_heatmap_fit_label (n_vis, n_vis);
    }
  spec->colormap = as_view_state_get_colormap (self);
  spec->cell_mode = AS_CELLS_IMAGE;
  spec->annotate = TRUE;
  spec->colorbar = TRUE;
  spec->dark = as_view_state_get_dark (self);
  spec->highlight_row = sel;
  spec->highlight_col = sel;
}
