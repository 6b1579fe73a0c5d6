/* as-page-tabs.h — the tabs above the detail pages.
 *
 * A row of linked toggle buttons, one per visible page of a GtkStack, each as
 * wide as its title. GtkStackSwitcher makes every button as wide as the
 * widest, which pushes the last pages out of a half-window pane; and pages a
 * model cannot use (the next token for an encoder) are hidden, so their tabs
 * go with them. Titles with underlines give Alt+letter mnemonics.
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define AS_TYPE_PAGE_TABS (as_page_tabs_get_type ())
G_DECLARE_FINAL_TYPE (AsPageTabs, as_page_tabs, AS, PAGE_TABS, GtkWidget)

GtkWidget *as_page_tabs_new       (void);
void       as_page_tabs_set_stack (AsPageTabs *self,
                                   GtkStack   *stack);
GtkStack  *as_page_tabs_get_stack (AsPageTabs *self);

G_END_DECLS
