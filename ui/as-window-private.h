/* as-window-private.h — what as-window.c and its companion files share.
 *
 * The window's instance struct, and the few helpers the files that make up
 * the window call across: as-window.c (the entries, the worker, the views)
 * and as-window-sessions.c (saving and opening sessions). Not for other
 * widgets: they go through as-window.h.
 */
#pragma once

#include "as-window.h"

#include "as-ablation-view.h"
#include "as-device-button.h"
#include "as-generate-bar.h"
#include "as-lens-view.h"
#include "as-mlm-view.h"
#include "as-session.h"
#include "as-token-strip.h"

G_BEGIN_DECLS

struct _AsWindow
{
  AdwApplicationWindow  parent_instance;

  /* Template widgets */
  AdwWindowTitle       *window_title;
  GtkSpinner           *spinner;
  AsDeviceButton       *device_button;
  GMenuModel           *device_menu;
  GtkRevealer          *progress_revealer;
  GtkProgressBar       *progress;
  AdwToastOverlay      *toast_overlay;
  GtkStack             *stack;
  GtkStack             *content_stack;   /* the views, or failure_page */
  AdwStatusPage        *failure_page;
  AdwStatusPage        *empty_page;
  GtkEntry             *entry_a;
  GtkEntry             *entry_b;
  AsGenerateBar        *generate_bar;
  GtkButton            *generate_button;
  guint                 generation;     /* the worker's generation under way, 0: none */
  AsTokenStrip         *token_strip;
  GtkLabel             *status_label;
  GtkDropDown          *colormap_dropdown;
  GtkLabel             *grid_caption;
  GtkDropDown          *colour_by_dropdown;
  AsModelGrid          *model_grid;
  GtkLabel             *head_title;
  GtkLabel             *head_caption;
  AsHeadView           *head_view;
  GtkStack             *detail_stack;
  /* Pages of detail_stack, each filled from code by its view's owner. */
  GtkBox               *lines_page;
  GtkBox               *stats_page;
  GtkBox               *teach_page;
  GtkBox               *compare_page;
  GtkBox               *next_page;
  AsLensView           *lens_view;
  GtkBox               *mlm_page;
  AsMlmView            *mlm_view;
  GtkBox               *ablate_page;
  AsAblationView       *ablation_view;
  GMenu                *recent_section;
  GMenu                *recent_section_menu;
  AsSession            *pending_session; /* opened, waiting for its model and analysis */
  gboolean              session_texts_set; /* its texts and options are in, its selection not yet */
  char                 *session_path;    /* the session last saved or opened */

  AsWorker             *worker;
  AsViewState          *state;
  guint                 debounce_id;
  gint64                last_forward_us; /* compute time of the last finished analysis */
  gboolean              have_model;
  gboolean              first_load;
  gboolean              device_changed;  /* the next load is a device switch */
  gboolean              was_truncated;   /* the text on screen lost tokens */
  char                 *failure;         /* why the current text shows nothing */
  guint                 failed_generation;
  gulong                after_paint_id;
  GdkFrameClock        *frame_clock;
};

/* as-window.c */

void            _as_window_toast               (AsWindow   *self,
                                                const char *text);
/* The recent models and sessions, in both menus that list them. */
void            _as_window_rebuild_recent_menu (AsWindow   *self);

/* What a chooser does with the path the user accepted: NULL when the pick
 * is not a local file. */
typedef void (*AsWindowPathChosenFunc) (AsWindow   *self,
                                        const char *path);

/* A modal chooser for ACTION, opening in the folder of NEAR (a file or
 * folder; NULL: the chooser's default), whose accepted path goes to
 * CHOSEN once _as_window_show_path_chooser shows it. */
GtkFileChooser *_as_window_path_chooser_new    (AsWindow               *self,
                                                const char             *title,
                                                GtkFileChooserAction    action,
                                                const char             *accept,
                                                const char             *near,
                                                AsWindowPathChosenFunc  chosen);
/* A filter named NAME: files ending in .SUFFIX, or of MIME_TYPE, or all
 * files when both are NULL. */
void            _as_window_add_chooser_filter  (GtkFileChooser *chooser,
                                                const char     *name,
                                                const char     *suffix,
                                                const char     *mime_type);
void            _as_window_show_path_chooser   (GtkFileChooser *chooser);

/* as-window-sessions.c */

/* Installs the session actions: "win.save-session", "win.open-session" and
 * "win.open-recent-session" (a path). */
void            as_window_sessions_class_init     (AsWindowClass *klass);
/* Appends the recent sessions to MENU, as a section of their own. */
void            as_window_sessions_append_recent  (GMenu         *menu);
/* A model is in: sessions can be saved, and one being opened goes on with
 * its texts, options and page. */
void            as_window_sessions_model_loaded   (AsWindow      *self);
/* An analysis finished or failed: a session being opened takes its
 * selection and teaching step once the window is idle. */
void            as_window_sessions_analysis_done  (AsWindow      *self);

G_END_DECLS
