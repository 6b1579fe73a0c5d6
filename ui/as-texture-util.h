/* as-texture-util.h — Cairo image surfaces as GdkTextures.
 *
 * The renderer draws into Cairo image surfaces; GTK 4.8 shows images best as
 * textures drawn at exactly their pixel size (no filtering at all), so the
 * views render at device pixels and hand the pixels over without a copy.
 */
#pragma once

#include <cairo.h>
#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Takes a reference on SURFACE (an ARGB32 or RGB24 image surface). */
GdkTexture *as_texture_new_for_surface (cairo_surface_t *surface);

G_END_DECLS
