/* as-colormap.c — the colour maps as 256-entry lookup tables.
 *
 * The tables are generated once from matplotlib's data by
 * tools/make-colormaps.py; everything here is a lookup, so painting a
 * 512 x 512 matrix costs one table read per cell.
 */
#include "as-colormap.h"

#include <math.h>

#include "as-colormap-data.h"

static const struct {
  const char   *name;
  const guint8 *lut;
} colormaps[AS_N_COLORMAPS] = {
  [AS_COLORMAP_VIRIDIS] = { "viridis", as_colormap_viridis_data },
  [AS_COLORMAP_MAGMA] = { "magma", as_colormap_magma_data },
  [AS_COLORMAP_BLUES] = { "blues", as_colormap_blues_data },
  [AS_COLORMAP_GREYS] = { "greys", as_colormap_greys_data },
};

static AsColormapId
valid_id (AsColormapId id)
{
  return (guint) id < AS_N_COLORMAPS ? id : AS_COLORMAP_VIRIDIS;
}

const guint8 *
as_colormap_lut (AsColormapId id)
{
  return colormaps[valid_id (id)].lut;
}

const char *
as_colormap_name (AsColormapId id)
{
  return colormaps[valid_id (id)].name;
}

int
as_colormap_from_name (const char *name)
{
  if (name == NULL)
    return -1;
  for (int i = 0; i < AS_N_COLORMAPS; i++)
    if (g_ascii_strcasecmp (name, colormaps[i].name) == 0)
      return i;
  /* matplotlib's spelling, which people will type from habit. */
  if (g_ascii_strcasecmp (name, "grays") == 0 || g_ascii_strcasecmp (name, "gray") == 0 ||
      g_ascii_strcasecmp (name, "grey") == 0)
    return AS_COLORMAP_GREYS;
  return -1;
}

int
as_colormap_index (float v,
                   float vmin,
                   float vmax)
{
  if (!(vmax > vmin) || isnan (v))
    return 0;
  float t = (v - vmin) / (vmax - vmin);
  if (t <= 0.f)
    return 0;
  if (t >= 1.f)
    return 255;
  return (int) (t * 255.f + 0.5f);
}

guint32
as_colormap_argb (AsColormapId id,
                  float        v,
                  float        vmin,
                  float        vmax)
{
  const guint8 *rgb = as_colormap_lut (id) + 3 * as_colormap_index (v, vmin, vmax);
  return 0xff000000u | ((guint32) rgb[0] << 16) | ((guint32) rgb[1] << 8) | rgb[2];
}

void
as_colormap_argb_table (AsColormapId id,
                        guint32      table[256])
{
  const guint8 *lut = as_colormap_lut (id);
  for (int i = 0; i < 256; i++)
    table[i] = 0xff000000u | ((guint32) lut[3 * i] << 16) | ((guint32) lut[3 * i + 1] << 8) | lut[3 * i + 2];
}

gboolean
as_colormap_is_light (AsColormapId id,
                      int          index)
{
  const guint8 *rgb = as_colormap_lut (id) + 3 * CLAMP (index, 0, 255);
  /* Relative luminance (sRGB weights, gamma ignored) is enough to pick
   * black or white text over a cell. */
  double y = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
  return y > 140.0;
}
