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
#include "as-head-view.h"
#include "as-heatmap-render.h"
#include "as-export-dialog.h"
#include "as-figure.h"
#include "as-trace.h"

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
/* Runs the main loop for MS milliseconds. Only to pace input the way a
 * person would (typing speed, pauses between edits): never to wait for
 * something before checking it (gui_test_wait_for does that). */
void       gui_test_pace         (guint           ms);
/* Runs the main loop until COND (DATA) holds; fails the test, naming WHAT
 * (and leaving a screenshot), when it does not within TIMEOUT_MS. */
void       gui_test_wait_for     (gboolean      (*cond) (gpointer),
                                  gpointer        data,
                                  guint           timeout_ms,
                                  const char     *what);
/* Until WIDGET (mapped) has painted N more frames: what it shows now is on
 * screen. */
void       gui_test_wait_frames  (GtkWidget      *widget,
                                  guint           n);
/* gui_test_wait_for (COND, DATA, TIMEOUT_S seconds), then a frame more of
 * every visible toplevel so the views paint what changed. */
void       gui_test_wait_until   (gboolean      (*cond) (gpointer),
                                  gpointer        data,
                                  guint           timeout_s);

/* The title of the toast WINDOW shows now (not one hiding or queued), as
 * on screen, or NULL. */
const char *gui_test_visible_toast (GtkWidget    *window);
/* Until no toast is on screen (those shown and queued have timed out): a
 * toast that comes next shows at once. */
void       gui_test_wait_no_toast (GtkWidget     *window);
/* Until the toast on screen says TEXT. A toast waits for the one before to
 * time out (4 s, 8 s with a button), so this allows for a queue. */
void       gui_test_wait_toast    (GtkWidget     *window,
                                   const char    *text);
/* The same for a toast starting with PREFIX; returns its text (g_free). */
char      *gui_test_wait_toast_prefix (GtkWidget  *window,
                                       const char *prefix);
/* The same for a toast that contains PART. */
char      *gui_test_wait_toast_containing (GtkWidget  *window,
                                           const char *part);

/* The head view's heatmap as the widget draws it: the view state's matrix
 * (as_view_state_extract_shown) laid out by as_heatmap_render at the
 * widget's size, below its aggregate bar. */
typedef struct {
  int              n;          /* rows (= columns) */
  float           *values;     /* n x n, row-major */
  AsHeatmapSpec    spec;
  AsHeatmapLayout  layout;
  double           top;        /* the heatmap's top in the widget */
} GuiTestHeatmap;

/* NULL while there is nothing to draw (no analysis, layer not there). */
GuiTestHeatmap *gui_test_head_heatmap      (AsWindow       *window);
void            gui_test_heatmap_free      (GuiTestHeatmap *h);
/* The centre of cell (ROW, COL), in head view coordinates. */
void            gui_test_heatmap_cell_center (const GuiTestHeatmap *h,
                                              int             row,
                                              int             col,
                                              double         *x,
                                              double         *y);
/* The tooltip the head view gives the pointer at (X, Y) (its cell by the
 * layout, as_heatmap_hit_test, then as_head_view_describe_cell), or NULL
 * outside the cells or while nothing is drawn (g_free). */
char           *gui_test_head_tooltip_at   (AsWindow       *window,
                                            const GuiTestHeatmap *h,
                                            double          x,
                                            double          y);
/* The tooltip that cell (ROW, COL) should have for value V. */
char           *gui_test_head_tooltip_for  (AsWindow       *window,
                                            int             row,
                                            int             col,
                                            float           v);
/* How many rows the head view has on screen, read through its tooltips
 * (as_head_view_describe_cell); 0 while it shows no heatmap. */
int             gui_test_head_rows_shown   (AsHeadView     *head_view);
/* Until the head view has N rows on screen. */
void            gui_test_wait_head_rows    (AsWindow       *window,
                                            int             n);
/* Until the head view has drawn the view state's matrix: as many rows, and
 * at the corners and the middle the tooltips of the state's values. */
void            gui_test_wait_head_current (AsWindow       *window);
/* Until WINDOW has the analysis of its current text on screen and no model
 * load is pending. */
void       gui_test_wait_idle    (AsWindow       *window,
                                  guint           timeout_s);

/* What the views draw, from as-trace's draw log (each view reports its
 * draws to it: as-trace.h). gui_test_draws_start switches the log on and
 * returns where it is now; gui_test_draws_stop puts the switch back (calls
 * nest). */
guint      gui_test_draws_start  (void);
void       gui_test_draws_stop   (void);
/* The last draw VIEW reported since the log was at FROM (into *DRAW);
 * FALSE when none. */
gboolean   gui_test_last_draw    (guint           from,
                                  char            view,
                                  AsTraceDraw    *draw);
/* WIDGET and every widget under it repainted, with the log on: the draw
 * VIEW reported then (into *DRAW), FALSE when none (WIDGET not shown, or
 * nothing to draw). */
gboolean   gui_test_redraw       (GtkWidget      *widget,
                                  char            view,
                                  AsTraceDraw    *draw);
/* The lines LINES_VIEW has on screen, as its draw counted them: it is
 * repainted, and the test fails when it reports no draw. */
guint      gui_test_lines_drawn  (GtkWidget      *lines_view);

/* The first visible toplevel of TYPE, or NULL; waiting for one to be on
 * screen, mapped and painted once (asserting it comes within TIMEOUT_S). */
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

/* A real click of mouse BUTTON (1 left, 3 right) at (X, Y) of WIDGET, as
 * gui_test_send_keys sends keys. */
gboolean   gui_test_click_at      (GtkWidget     *widget,
                                   double         x,
                                   double         y,
                                   int            button);
/* The file chooser dialog that opens within TIMEOUT_S seconds. */
GtkFileChooser *gui_test_wait_chooser (guint           timeout_s);
/* Picks PATH in CHOOSER as a person does (selected once its folder is
 * listed) and accepts it. */
void       gui_test_pick_file     (GtkFileChooser *chooser,
                                   const char     *path);
/* Removes DIR and everything in it (a suite's scratch folder). */
void       gui_test_remove_tree   (const char     *dir);
/* Runs ARGV (a program on PATH) to its end, the main loop running; asserts
 * that it succeeded. */
void       gui_test_run_sync      (const char * const *argv);

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

/* ---- figures: exporting and comparing ---------------------------------- */

/* Saves WINDOW's state as VIEW to PATH through the window's export path
 * (as_export_save_async), the main loop running meanwhile. */
gboolean    gui_test_export_now     (AsWindow      *window,
                                     AsFigureView   view,
                                     gboolean       annotate,
                                     const char    *path,
                                     GError       **error);
/* What WINDOW's state should export for VIEW, by the renderer itself
 * (as_export_options_from_state, then as_figure_save), as DIR/NAME. */
char       *gui_test_reference_figure (AsWindow    *window,
                                       AsFigureView view,
                                       gboolean     annotate,
                                       const char  *dir,
                                       const char  *name);
/* Largest per-channel difference between two images of the same size
 * (asserted), as textures or PNG files. */
int         gui_test_texture_difference (GdkTexture *a,
                                         GdkTexture *b);
int         gui_test_png_difference     (const char *a,
                                         const char *b);
/* The image on WIDGET's clipboard (NULL when there is none). */
GdkTexture *gui_test_clipboard_texture  (GtkWidget  *widget);

/* The artifacts folder ($AS_TEST_ARTIFACTS, else ./artifacts), created. */
char      *gui_test_artifacts_dir  (void);
/* The X screen's top-left 1400 x 900 (the window) as NAME in DIR (NULL:
 * the artifacts folder), with ImageMagick's import; nothing without it. */
void       gui_test_capture_screen (const char *dir,
                                    const char *name);

G_END_DECLS
