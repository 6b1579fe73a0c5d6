/* as-colormap.h — colour maps as 256-entry lookup tables. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  AS_COLORMAP_VIRIDIS,   /* perceptually uniform default */
  AS_COLORMAP_MAGMA,     /* perceptually uniform, dark to light */
  AS_COLORMAP_BLUES,     /* white to dark blue, prints well */
  AS_COLORMAP_GREYS,     /* greyscale */
  AS_N_COLORMAPS
} AsColormapId;

/* 256 RGB triples, entry i for value i/255. */
const guint8 *as_colormap_lut      (AsColormapId id);
const char   *as_colormap_name     (AsColormapId id);   /* "viridis" … */
/* -1 for an unknown name. */
int           as_colormap_from_name (const char  *name);
/* Packed 0xAARRGGBB (Cairo ARGB32, opaque) for V clamped to [vmin, vmax]. */
guint32       as_colormap_argb     (AsColormapId id,
                                    float        v,
                                    float        vmin,
                                    float        vmax);

/* Table index 0..255 for V clamped to [vmin, vmax] (0 for NaN or an empty
 * range), rounded to the nearest entry. */
int           as_colormap_index    (float        v,
                                    float        vmin,
                                    float        vmax);
/* All 256 entries packed as as_colormap_argb() packs them. */
void          as_colormap_argb_table (AsColormapId id,
                                      guint32      table[256]);
/* TRUE when entry INDEX is light enough that text over it should be dark. */
gboolean      as_colormap_is_light (AsColormapId id,
                                    int          index);

G_END_DECLS
