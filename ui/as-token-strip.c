/* as-token-strip.c — flowed token pills, drawn from cached layouts. A
 * token's context menu (right-click, or Menu / Shift+F10 on the selected
 * one) offers the window's token actions: masking it (win.mask-token). */
#include "as-token-strip.h"

#include <glib/gi18n.h>

#include "as-shown.h"
#include "as-trace.h"

#define PAD_X      6
#define PAD_Y      3
#define WORD_GAP   6
#define PIECE_GAP  1
#define LINE_GAP   4

struct _AsTokenStrip
{
  GtkWidget    parent_instance;

  AsViewState *state;
  GPtrArray   *layouts;      /* PangoLayout per token */
  int          text_height;  /* one line of text */
  GArray      *rects;        /* graphene_rect_t per token, for the allocated width */
  int          hover;        /* token under the pointer, -1 */
  int          alloc_width;  /* last allocated width */
  guint        resize_id;
  GtkPopover  *menu;         /* the context menu, made when first asked for */
};

G_DEFINE_FINAL_TYPE (AsTokenStrip, as_token_strip, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_VIEW_STATE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static const AsEncoding *
get_encoding (AsTokenStrip *self)
{
  AsAnalysis *a = self->state != NULL ? as_view_state_get_analysis (self->state) : NULL;
  return a != NULL ? a->encoding : NULL;
}

static void
rebuild_layouts (AsTokenStrip *self)
{
  g_ptr_array_set_size (self->layouts, 0);
  self->text_height = 0;

  const AsEncoding *enc = get_encoding (self);
  if (enc == NULL)
    return;

  for (int i = 0; i < enc->n_tokens; i++)
    {
      const AsToken *t = &enc->tokens[i];
      /* A token of spaces or a line break gets a visible label, not an
       * empty pill. */
      g_autofree char *shown = as_shown_display_text (t->text);
      PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), shown);
      if (t->is_continuation && g_str_has_prefix (t->text, "##"))
        {
          /* Mark the piece as a piece, but keep the text as the model has it. */
          PangoAttrList *attrs = pango_attr_list_new ();
          PangoAttribute *dim = pango_attr_foreground_alpha_new (0x6000);
          dim->start_index = 0;
          dim->end_index = 2;
          pango_attr_list_insert (attrs, dim);
          pango_layout_set_attributes (layout, attrs);
          pango_attr_list_unref (attrs);
        }
      int h;
      pango_layout_get_pixel_size (layout, NULL, &h);
      self->text_height = MAX (self->text_height, h);
      g_ptr_array_add (self->layouts, layout);
    }
}

/* Places the pills for WIDTH; fills RECTS when not NULL. Returns the height. */
static int
flow (AsTokenStrip *self,
      int           width,
      GArray       *rects)
{
  const AsEncoding *enc = get_encoding (self);
  if (rects != NULL)
    g_array_set_size (rects, 0);
  if (enc == NULL || self->layouts->len == 0)
    return 0;

  int pill_h = self->text_height + 2 * PAD_Y;
  int x = 0, y = 0;
  for (guint i = 0; i < self->layouts->len; i++)
    {
      int w;
      pango_layout_get_pixel_size (g_ptr_array_index (self->layouts, i), &w, NULL);
      w += 2 * PAD_X;
      int gap = i == 0 ? 0 : enc->tokens[i].is_continuation ? PIECE_GAP : WORD_GAP;
      if (x > 0 && x + gap + w > width)
        {
          x = 0;
          y += pill_h + LINE_GAP;
          gap = 0;
        }
      x += gap;
      if (rects != NULL)
        {
          graphene_rect_t r = GRAPHENE_RECT_INIT (x, y, w, pill_h);
          g_array_append_val (rects, r);
        }
      x += w;
    }
  return y + pill_h;
}

static GtkSizeRequestMode
as_token_strip_get_request_mode (GtkWidget *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

static void
as_token_strip_measure (GtkWidget      *widget,
                        GtkOrientation  orientation,
                        int             for_size,
                        int            *minimum,
                        int            *natural,
                        int            *minimum_baseline,
                        int            *natural_baseline)
{
  AsTokenStrip *self = AS_TOKEN_STRIP (widget);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      /* Narrow is fine: pills wrap. */
      *minimum = 100;
      *natural = 400;
    }
  else
    {
      /* Without a width (the scrolled window around us asks that way),
       * answer for the width we were last given, else one line. */
      int line = (self->text_height > 0 ? self->text_height : 17) + 2 * PAD_Y;
      int width = for_size >= 0 ? for_size : self->alloc_width;
      int h = width > 0 ? flow (self, width, NULL) : line;
      *minimum = *natural = MAX (h, line);
    }
}

static gboolean
resize_later (gpointer data)
{
  AsTokenStrip *self = data;
  self->resize_id = 0;
  gtk_widget_queue_resize (GTK_WIDGET (self));
  return G_SOURCE_REMOVE;
}

static void
as_token_strip_size_allocate (GtkWidget *widget,
                              int        width,
                              int        height,
                              int        baseline)
{
  AsTokenStrip *self = AS_TOKEN_STRIP (widget);
  int old_width = self->alloc_width;
  self->alloc_width = width;
  int needed = flow (self, width, self->rects);
  /* A new width may need another number of lines: measure again, after
   * this allocation is done. */
  if (width != old_width && needed != (old_width > 0 ? flow (self, old_width, NULL) : -1) &&
      self->resize_id == 0)
    self->resize_id = g_idle_add (resize_later, self);
  if (self->menu != NULL)
    gtk_popover_present (self->menu);
}

static void
lookup_color (GtkWidget  *widget,
              const char *name,
              GdkRGBA    *out,
              const char *fallback)
{
  GtkStyleContext *ctx = gtk_widget_get_style_context (widget);
  if (!gtk_style_context_lookup_color (ctx, name, out))
    gdk_rgba_parse (out, fallback);
}

static void
as_token_strip_snapshot (GtkWidget   *widget,
                         GtkSnapshot *snapshot)
{
  AsTokenStrip *self = AS_TOKEN_STRIP (widget);
  const AsEncoding *enc = get_encoding (self);
  if (enc == NULL || self->rects->len != self->layouts->len)
    return;

  GdkRGBA fg, accent_bg, accent_fg;
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  lookup_color (widget, "accent_bg_color", &accent_bg, "#3584e4");
  lookup_color (widget, "accent_fg_color", &accent_fg, "#ffffff");

  int selected = as_view_state_get_token (self->state);

  for (guint i = 0; i < self->rects->len; i++)
    {
      const AsToken *t = &enc->tokens[i];
      const graphene_rect_t *r = &g_array_index (self->rects, graphene_rect_t, i);
      GskRoundedRect rr;
      gsk_rounded_rect_init_from_rect (&rr, r, 5);

      GdkRGBA bg = fg, text = fg;
      bg.alpha = i == (guint) self->hover ? 0.16 : 0.07;
      if (t->is_special)
        {
          bg = accent_bg;
          bg.alpha = 0.22;
        }
      if ((int) i == selected)
        {
          bg = accent_bg;
          text = accent_fg;
        }
      /* Dimmed exactly when the views leave the token out (the one rule of
       * as-shown, which keeps [MASK], for example). */
      gboolean dimmed = as_view_state_visible_index (self->state, (int) i) < 0;
      if (dimmed)
        gtk_snapshot_push_opacity (snapshot, 0.35);

      gtk_snapshot_push_rounded_clip (snapshot, &rr);
      gtk_snapshot_append_color (snapshot, &bg, r);
      /* a token the model wrote: a bar along its pill's foot */
      if (as_view_state_token_is_generated (self->state, (int) i))
        {
          GdkRGBA bar = (int) i == selected ? accent_fg : accent_bg;
          gtk_snapshot_append_color (snapshot, &bar,
                                     &GRAPHENE_RECT_INIT (r->origin.x, r->origin.y + r->size.height - 3,
                                                          r->size.width, 3));
        }
      gtk_snapshot_pop (snapshot);

      gtk_snapshot_save (snapshot);
      gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (r->origin.x + PAD_X, r->origin.y + PAD_Y));
      gtk_snapshot_append_layout (snapshot, g_ptr_array_index (self->layouts, i), &text);
      gtk_snapshot_restore (snapshot);

      if (dimmed)
        gtk_snapshot_pop (snapshot);
    }

  as_trace_drawn ('t', as_view_state_get_analysis (self->state)->generation, 0, 0, enc->n_tokens);
}

static int
token_at (AsTokenStrip *self,
          double        x,
          double        y)
{
  for (guint i = 0; i < self->rects->len; i++)
    if (graphene_rect_contains_point (&g_array_index (self->rects, graphene_rect_t, i),
                                      &GRAPHENE_POINT_INIT (x, y)))
      return i;
  return -1;
}

static void
on_pressed (GtkGestureClick *gesture,
            int              n_press,
            double           x,
            double           y,
            AsTokenStrip    *self)
{
  int token = token_at (self, x, y);
  if (self->state == NULL)
    return;
  gtk_widget_grab_focus (GTK_WIDGET (self));
  /* Clicking the selected token again clears the highlight. */
  if (token == as_view_state_get_token (self->state))
    token = -1;
  as_view_state_set_token (self->state, token);
}

gboolean
as_token_strip_get_token_rect (AsTokenStrip    *self,
                               int              i,
                               graphene_rect_t *rect)
{
  g_return_val_if_fail (AS_IS_TOKEN_STRIP (self), FALSE);
  if (i < 0 || i >= (int) self->rects->len)
    return FALSE;
  *rect = g_array_index (self->rects, graphene_rect_t, i);
  return TRUE;
}

char *
as_token_strip_describe_token (AsTokenStrip *self,
                               int           i)
{
  g_return_val_if_fail (AS_IS_TOKEN_STRIP (self), NULL);
  const AsEncoding *enc = get_encoding (self);
  if (enc == NULL || i < 0 || i >= enc->n_tokens)
    return NULL;
  /* Counted from 1, as layers and heads are. */
  const AsToken *t = &enc->tokens[i];
  if (t->start < 0)
    return g_strdup_printf (_("#%d “%s”  id %d, added by the tokenizer"), i + 1, t->text, t->id);
  g_autofree char *where = g_strdup_printf (t->is_continuation ? _("#%d “%s”  id %d, sentence %s, bytes %d–%d, word piece")
                                                               : _("#%d “%s”  id %d, sentence %s, bytes %d–%d"),
                                            i + 1, t->text, t->id, t->sequence == 1 ? "B" : "A", t->start, t->end);
  if (as_view_state_token_is_generated (self->state, i))
    return g_strdup_printf (_("%s, written by the model"), where);
  return g_steal_pointer (&where);
}

/* Selects TOKEN and opens the context menu at its pill. */
static void
popup_menu_at (AsTokenStrip *self,
               int           token)
{
  if (self->state == NULL || token < 0 || token >= (int) self->rects->len)
    return;
  as_view_state_set_token (self->state, token);
  if (self->menu == NULL)
    {
      g_autoptr(GMenu) model = g_menu_new ();
      g_menu_append (model, _("_Mask This Token"), "win.mask-token");
      g_menu_append (model, _("_Unmask"), "win.unmask-token");
      self->menu = GTK_POPOVER (gtk_popover_menu_new_from_model (G_MENU_MODEL (model)));
      gtk_popover_set_has_arrow (self->menu, FALSE);
      gtk_widget_set_parent (GTK_WIDGET (self->menu), GTK_WIDGET (self));
    }
  const graphene_rect_t *r = &g_array_index (self->rects, graphene_rect_t, token);
  GdkRectangle at = { (int) r->origin.x, (int) r->origin.y, (int) r->size.width, (int) r->size.height };
  gtk_popover_set_pointing_to (self->menu, &at);
  gtk_popover_popup (self->menu);
}

static void
on_secondary_pressed (GtkGestureClick *gesture,
                      int              n_press,
                      double           x,
                      double           y,
                      AsTokenStrip    *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self));
  popup_menu_at (self, token_at (self, x, y));
}

static void
popup_menu_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  AsTokenStrip *self = AS_TOKEN_STRIP (widget);
  if (self->state != NULL)
    popup_menu_at (self, as_view_state_get_token (self->state));
}

static void
on_motion (GtkEventControllerMotion *motion,
           double                    x,
           double                    y,
           AsTokenStrip             *self)
{
  int token = token_at (self, x, y);
  if (token != self->hover)
    {
      self->hover = token;
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
}

static void
on_leave (GtkEventControllerMotion *motion,
          AsTokenStrip             *self)
{
  self->hover = -1;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static gboolean
on_query_tooltip (GtkWidget    *widget,
                  int           x,
                  int           y,
                  gboolean      keyboard,
                  GtkTooltip   *tooltip,
                  AsTokenStrip *self)
{
  const AsEncoding *enc = get_encoding (self);
  int i = token_at (self, x, y);
  /* No tooltip over the token's own context menu. */
  if (enc == NULL || i < 0 || (self->menu != NULL && gtk_widget_get_visible (GTK_WIDGET (self->menu))))
    return FALSE;

  g_autofree char *text = as_token_strip_describe_token (self, i);
  gtk_tooltip_set_text (tooltip, text);
  const graphene_rect_t *r = &g_array_index (self->rects, graphene_rect_t, i);
  gtk_tooltip_set_tip_area (tooltip, &(GdkRectangle) { r->origin.x, r->origin.y, r->size.width, r->size.height });
  return TRUE;
}

static void
move_token (GtkWidget  *widget,
            const char *action_name,
            GVariant   *parameter)
{
  AsTokenStrip *self = AS_TOKEN_STRIP (widget);
  const AsEncoding *enc = get_encoding (self);
  if (enc == NULL)
    return;
  int step = g_variant_get_int32 (parameter);
  int token = as_view_state_get_token (self->state);
  token = token < 0 ? (step > 0 ? 0 : enc->n_tokens - 1) : CLAMP (token + step, 0, enc->n_tokens - 1);
  as_view_state_set_token (self->state, token);
}

static void
update_accessible (AsTokenStrip *self)
{
  const AsEncoding *enc = get_encoding (self);
  GString *s = g_string_new (_("Tokens:"));
  for (int i = 0; enc != NULL && i < enc->n_tokens && i < 200; i++)
    g_string_append_printf (s, " %s", enc->tokens[i].text);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, s->str, -1);
  g_string_free (s, TRUE);
}

static void
on_analysis_changed (AsTokenStrip *self)
{
  rebuild_layouts (self);
  self->hover = -1;
  update_accessible (self);
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

static void
as_token_strip_css_changed (GtkWidget         *widget,
                            GtkCssStyleChange *change)
{
  GTK_WIDGET_CLASS (as_token_strip_parent_class)->css_changed (widget, change);
  /* Fonts may have changed: layouts carry their own context. */
  rebuild_layouts (AS_TOKEN_STRIP (widget));
  gtk_widget_queue_resize (widget);
}

AsViewState *
as_token_strip_get_view_state (AsTokenStrip *self)
{
  g_return_val_if_fail (AS_IS_TOKEN_STRIP (self), NULL);
  return self->state;
}

void
as_token_strip_set_view_state (AsTokenStrip *self,
                               AsViewState  *state)
{
  g_return_if_fail (AS_IS_TOKEN_STRIP (self));

  if (self->state == state)
    return;
  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_set_object (&self->state, state);
  if (state != NULL)
    {
      g_signal_connect_swapped (state, "notify::analysis", G_CALLBACK (on_analysis_changed), self);
      g_signal_connect_swapped (state, "notify::token", G_CALLBACK (gtk_widget_queue_draw), self);
      g_signal_connect_swapped (state, "notify::hide-special", G_CALLBACK (gtk_widget_queue_draw), self);
      g_signal_connect_swapped (state, "notify::generated-from", G_CALLBACK (gtk_widget_queue_draw), self);
    }
  on_analysis_changed (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VIEW_STATE]);
}

static void
as_token_strip_dispose (GObject *object)
{
  AsTokenStrip *self = AS_TOKEN_STRIP (object);

  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_clear_object (&self->state);
  g_clear_handle_id (&self->resize_id, g_source_remove);
  if (self->menu != NULL)
    gtk_widget_unparent (GTK_WIDGET (g_steal_pointer (&self->menu)));

  G_OBJECT_CLASS (as_token_strip_parent_class)->dispose (object);
}

static void
as_token_strip_finalize (GObject *object)
{
  AsTokenStrip *self = AS_TOKEN_STRIP (object);

  g_ptr_array_unref (self->layouts);
  g_array_unref (self->rects);

  G_OBJECT_CLASS (as_token_strip_parent_class)->finalize (object);
}

static void
as_token_strip_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  AsTokenStrip *self = AS_TOKEN_STRIP (object);

  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      g_value_set_object (value, self->state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_token_strip_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  AsTokenStrip *self = AS_TOKEN_STRIP (object);

  switch (prop_id)
    {
    case PROP_VIEW_STATE:
      as_token_strip_set_view_state (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
as_token_strip_class_init (AsTokenStripClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = as_token_strip_dispose;
  object_class->finalize = as_token_strip_finalize;
  object_class->get_property = as_token_strip_get_property;
  object_class->set_property = as_token_strip_set_property;

  widget_class->get_request_mode = as_token_strip_get_request_mode;
  widget_class->measure = as_token_strip_measure;
  widget_class->size_allocate = as_token_strip_size_allocate;
  widget_class->snapshot = as_token_strip_snapshot;
  widget_class->css_changed = as_token_strip_css_changed;

  properties[PROP_VIEW_STATE] =
    g_param_spec_object ("view-state", NULL, NULL, AS_TYPE_VIEW_STATE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_install_action (widget_class, "token-strip.move", "i", move_token);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Left, 0, "token-strip.move", "i", -1);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Right, 0, "token-strip.move", "i", 1);
  gtk_widget_class_install_action (widget_class, "token-strip.menu", NULL, popup_menu_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Menu, 0, "token-strip.menu", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F10, GDK_SHIFT_MASK, "token-strip.menu", NULL);

  gtk_widget_class_set_css_name (widget_class, "tokenstrip");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
as_token_strip_init (AsTokenStrip *self)
{
  self->layouts = g_ptr_array_new_with_free_func (g_object_unref);
  self->rects = g_array_new (FALSE, FALSE, sizeof (graphene_rect_t));
  self->hover = -1;

  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  g_signal_connect (self, "query-tooltip", G_CALLBACK (on_query_tooltip), self);

  GtkGesture *click = gtk_gesture_click_new ();
  g_signal_connect (click, "pressed", G_CALLBACK (on_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));
  GtkGesture *secondary = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (secondary), GDK_BUTTON_SECONDARY);
  g_signal_connect (secondary, "pressed", G_CALLBACK (on_secondary_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (secondary));

  GtkEventController *motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (motion, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);
}
