/* gui-test-util.h — what every app suite under Xvfb shares: the real
 * application and window on the default model, the same model loaded
 * directly as the reference the window is checked against, and ways to let
 * the main loop run until something is true.
 */
#pragma once

#include <gtk/gtk.h>

#include "as-application.h"
#include "as-backend.h"
#include "as-model.h"
#include "as-window.h"

G_BEGIN_DECLS

/* g_test_init, then makes any GLib/GTK warning or critical fail the running
 * test (and stop it), then gtk_init_check. FALSE without a display (the
 * caller prints the TAP skip). */
gboolean   gui_test_init         (int            *argc,
                                  char         ***argv);
/* The same without gtk_init_check, for suites with tests that need no
 * display. */
void       gui_test_init_strict  (int            *argc,
                                  char         ***argv);

/* Loads the default model as *MODEL with a CPU backend *BACKEND (both NULL
 * when it is not downloaded), registers a non-unique application (its
 * startup installs resources, actions and accelerators) and returns its
 * window, opening the default model and shown. Call after gtk_init_check. */
AsWindow  *gui_test_start        (AsApplication **app,
                                  AsModel       **model,
                                  AsBackend     **backend);
void       gui_test_stop         (AsApplication  *app,
                                  AsWindow       *window,
                                  AsModel        *model,
                                  AsBackend      *backend);

/* FALSE, and the current test skipped with the reason, without a model. */
gboolean   gui_test_have_model   (AsModel        *model);

/* A GSourceFunc that sets the gboolean FLAG points to. */
gboolean   gui_test_flag_timeout (gpointer        flag);
/* Runs the main loop for MS milliseconds. */
void       gui_test_spin         (guint           ms);
/* Runs the main loop until COND (DATA) holds (asserting it does within
 * TIMEOUT_S), then a few frames more so the views paint what changed. */
void       gui_test_wait_until   (gboolean      (*cond) (gpointer),
                                  gpointer        data,
                                  guint           timeout_s);
/* Until WINDOW has the analysis of its current text on screen and no model
 * load is pending. */
void       gui_test_wait_idle    (AsWindow       *window,
                                  guint           timeout_s);

/* The first visible toplevel of TYPE, or NULL; waiting for one (asserting
 * it comes within TIMEOUT_S). */
GtkWindow *gui_test_find_toplevel (GType          type);
GtkWindow *gui_test_wait_toplevel (GType          type,
                                   guint          timeout_s);
/* Presses ACCEL in WINDOW (gui_test_press) and waits until WINDOW is
 * closed (hidden or destroyed). */
void       gui_test_press_to_close (GtkWindow    *window,
                                    const char   *accel,
                                    guint         timeout_s);

/* Real key events, the way a person makes them: WINDOW gets the X input
 * focus, then xdotool presses KEYS through the XTEST extension (its "key"
 * syntax: "ctrl+e", "alt+Down Page_Up"). The main loop runs meanwhile; the
 * caller waits for what the keys should cause. gui_test_type_keys types
 * TEXT the same way. Both FALSE (with the test skipped) without xdotool or
 * an X11 display. */
gboolean   gui_test_have_xdotool  (void);
gboolean   gui_test_send_keys     (GtkWindow     *window,
                                   const char    *keys);
gboolean   gui_test_type_keys     (GtkWindow     *window,
                                   const char    *text);

/* Presses ACCEL, in GTK's syntax ("<Control>e", "Page_Up",
 * "<Control>question"), with gui_test_send_keys. */
gboolean   gui_test_press         (GtkWindow     *window,
                                   const char    *accel);

/* Menus as a person uses them: one item of a menu button's menu (its
 * popover's button for it, NULL while the item hides itself; the action,
 * the target or NULL, the label). */
typedef struct {
  GtkWidget     *widget;
  GtkMenuButton *menu_button;
  char          *action;
  GVariant      *target;
  char          *label;
} GuiTestMenuItem;

/* Every item with an action of every menu button under ROOT, submenus
 * included (a GPtrArray of GuiTestMenuItem, freed with it). */
GPtrArray *gui_test_list_menu_items    (GtkWidget       *root);
/* Opens ITEM's menu, asserts the item is enabled, and clicks it. */
void       gui_test_click_menu_item    (GuiTestMenuItem *item);
/* The same for the item of ACTION with TARGET (NULL: none; a floating
 * TARGET is consumed). */
void       gui_test_activate_menu_item (GtkWidget       *root,
                                        const char      *action,
                                        GVariant        *target);
/* A radio or check item's tick, as drawn. */
gboolean   gui_test_menu_item_ticked   (GtkWidget   *item);
/* The first widget of TYPE under ROOT (ROOT included) whose "label"
 * property (when it has one) is LABEL, or NULL; LABEL NULL: any. */
GtkWidget *gui_test_find_widget        (GtkWidget   *root,
                                        GType        type,
                                        const char  *label);

/* Another program under test (the real attnscope), on the same X server. */
typedef struct {
  GPid     pid;
  gboolean exited;
  int      status;   /* wait status, once EXITED */
} GuiTestChild;

/* Starts ARGV with the test's environment plus ENV ("NAME=value" strings,
 * NULL-terminated; may be NULL). */
GuiTestChild *gui_test_child_spawn   (const char * const *argv,
                                      const char * const *env);
/* Until it exits (TRUE) or TIMEOUT_S pass (FALSE); the main loop runs. */
gboolean      gui_test_child_wait    (GuiTestChild *child,
                                      guint         timeout_s);
/* The X id of its visible window titled TITLE, once there is one, or NULL
 * after TIMEOUT_S. */
char         *gui_test_child_window  (GuiTestChild *child,
                                      const char   *title,
                                      guint         timeout_s);
/* Focuses X window XID and presses KEYS (xdotool syntax) through XTEST. */
void          gui_test_send_keys_to  (const char   *xid,
                                      const char   *keys);
/* Kills it if it still runs, and frees CHILD. */
void          gui_test_child_free    (GuiTestChild *child);

/* The artifacts folder ($AS_TEST_ARTIFACTS, else ./artifacts), created. */
char      *gui_test_artifacts_dir  (void);
/* The X screen's top-left 1400 x 900 (the window) as NAME in DIR (NULL:
 * the artifacts folder), with ImageMagick's import; nothing without it. */
void       gui_test_capture_screen (const char *dir,
                                    const char *name);

G_END_DECLS
