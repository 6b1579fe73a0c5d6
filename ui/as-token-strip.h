/* as-token-strip.h — the tokens as the model sees them, one pill each.
 *
 * Word pieces ("##ing") hang on to the piece before them with their "##"
 * dimmed; [CLS]/[SEP] are tinted. Clicking a pill (or Left/Right when focused)
 * selects the token, which the other views highlight. Drawn in one snapshot
 * from cached Pango layouts: 512 tokens cost no widgets.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-view-state.h"

G_BEGIN_DECLS

#define AS_TYPE_TOKEN_STRIP (as_token_strip_get_type ())
G_DECLARE_FINAL_TYPE (AsTokenStrip, as_token_strip, AS, TOKEN_STRIP, GtkWidget)

AsViewState *as_token_strip_get_view_state (AsTokenStrip *self);
void         as_token_strip_set_view_state (AsTokenStrip *self,
                                            AsViewState  *state);
/* Where token I's pill is drawn, in the strip's coordinates; FALSE when
 * there is no such pill. */
gboolean     as_token_strip_get_token_rect (AsTokenStrip    *self,
                                            int              i,
                                            graphene_rect_t *rect);
/* What token I's tooltip says: its position (counted from 1), text, id and
 * where it comes from; NULL when there is no such token (g_free). */
char        *as_token_strip_describe_token (AsTokenStrip    *self,
                                            int              i);

G_END_DECLS
