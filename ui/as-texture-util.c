/* as-texture-util.c */
#include "as-texture-util.h"

GdkTexture *
as_texture_new_for_surface (cairo_surface_t *surface)
{
  g_return_val_if_fail (cairo_surface_get_type (surface) == CAIRO_SURFACE_TYPE_IMAGE, NULL);

  cairo_surface_flush (surface);
  int width = cairo_image_surface_get_width (surface);
  int height = cairo_image_surface_get_height (surface);
  int stride = cairo_image_surface_get_stride (surface);
  guint8 *data = cairo_image_surface_get_data (surface);

  /* RGB24 leaves the alpha byte undefined; GDK would read it as alpha. */
  if (cairo_image_surface_get_format (surface) == CAIRO_FORMAT_RGB24)
    {
      for (int y = 0; y < height; y++)
        {
          guint32 *row = (guint32 *) (data + (gsize) y * stride);
          for (int x = 0; x < width; x++)
            row[x] |= 0xff000000u;
        }
      cairo_surface_mark_dirty (surface);
    }

  /* GDK_MEMORY_DEFAULT is Cairo's ARGB32 layout (premultiplied, native
   * endian), so the pixels are shared, not copied. */
  GBytes *bytes = g_bytes_new_with_free_func (data, (gsize) stride * height,
                                              (GDestroyNotify) cairo_surface_destroy,
                                              cairo_surface_reference (surface));
  GdkTexture *texture = gdk_memory_texture_new (width, height, GDK_MEMORY_DEFAULT, bytes, stride);
  g_bytes_unref (bytes);
  return texture;
}
