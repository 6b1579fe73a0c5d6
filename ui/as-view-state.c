/* as-view-state.c — the shared selection and display options. */
#include "as-view-state.h"

#include "as-matrix-view.h"

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

  int          *visible;     /* indices into the encoding */
  int           n_visible;
  char        **labels;      /* [n_visible + 1], NULL-terminated */
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
  PROP_HIDE_SPECIAL,
  PROP_RENORMALISE,
  PROP_FIT_SCALE,
  PROP_DARK,
  N_PROPS
};

enum {
  LAYER_ADDED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void
update_visible (AsViewState *self)
{
  g_clear_pointer (&self->visible, g_free);
  g_clear_pointer (&self->labels, g_strfreev);
  self->n_visible = 0;
  if (self->analysis == NULL)
    return;

  const AsEncoding *enc = self->analysis->encoding;
  self->visible = g_new (int, MAX (enc->n_tokens, 1));
  self->labels = g_new0 (char *, enc->n_tokens + 1);
  for (int i = 0; i < enc->n_tokens; i++)
    {
      const AsToken *t = &enc->tokens[i];
      /* Hiding everything would leave nothing to show. */
      if (self->hide_special && t->is_special && enc->n_tokens > 2)
        continue;
      self->visible[self->n_visible] = i;
      self->labels[self->n_visible] = g_strdup (t->text);
      self->n_visible++;
    }
}

static void
as_view_state_finalize (GObject *object)
{
  AsViewState *self = AS_VIEW_STATE (object);

  g_clear_pointer (&self->analysis, as_analysis_unref);
  g_free (self->visible);
  g_strfreev (self->labels);

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
    case PROP_HIDE_SPECIAL: g_value_set_boolean (value, self->hide_special); break;
    case PROP_RENORMALISE:  g_value_set_boolean (value, self->renormalise); break;
    case PROP_FIT_SCALE:    g_value_set_boolean (value, self->fit_scale); break;
    case PROP_DARK:         g_value_set_boolean (value, self->dark); break;
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
    case PROP_HIDE_SPECIAL: as_view_state_set_hide_special (self, g_value_get_boolean (value)); break;
    case PROP_RENORMALISE:  as_view_state_set_renormalise (self, g_value_get_boolean (value)); break;
    case PROP_FIT_SCALE:    as_view_state_set_fit_scale (self, g_value_get_boolean (value)); break;
    case PROP_DARK:         as_view_state_set_dark (self, g_value_get_boolean (value)); break;
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
  properties[PROP_HIDE_SPECIAL] = g_param_spec_boolean ("hide-special", NULL, NULL, FALSE, rw);
  properties[PROP_RENORMALISE] = g_param_spec_boolean ("renormalise", NULL, NULL, FALSE, rw);
  properties[PROP_FIT_SCALE] = g_param_spec_boolean ("fit-scale", NULL, NULL, FALSE, rw);
  properties[PROP_DARK] = g_param_spec_boolean ("dark", NULL, NULL, FALSE, rw);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* ::layer-added (layer): LAYER of the current analysis may now be drawn. */
  signals[LAYER_ADDED] =
    g_signal_new ("layer-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

static void
as_view_state_init (AsViewState *self)
{
  self->token = -1;
  self->colormap = AS_COLORMAP_VIRIDIS;
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

const int *
as_view_state_get_visible (AsViewState *self,
                           int         *n_visible)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), NULL);
  if (n_visible != NULL)
    *n_visible = self->n_visible;
  return self->visible;
}

const char * const *
as_view_state_get_labels (AsViewState *self)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), NULL);
  return (const char * const *) self->labels;
}

int
as_view_state_visible_index (AsViewState *self,
                             int          token)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), -1);

  if (token < 0)
    return -1;
  /* VISIBLE is sorted: binary search. */
  int lo = 0, hi = self->n_visible - 1;
  while (lo <= hi)
    {
      int mid = (lo + hi) / 2;
      if (self->visible[mid] == token)
        return mid;
      if (self->visible[mid] < token)
        lo = mid + 1;
      else
        hi = mid - 1;
    }
  return -1;
}

gboolean
as_view_state_extract (AsViewState *self,
                       int          layer,
                       int          head,
                       float       *out)
{
  g_return_val_if_fail (AS_IS_VIEW_STATE (self), FALSE);

  AsAnalysis *a = self->analysis;
  if (a == NULL || layer < 0 || layer >= self->layers_ready || head < 0 || head >= a->n_heads)
    return FALSE;
  as_matrix_extract (as_analysis_head (a, layer, head), a->n,
                     self->visible, self->n_visible,
                     self->hide_special && self->renormalise, out);
  return TRUE;
}
