"""Security and size limits of the compositor, in one place.

Every number here bounds memory or time a single request can claim. Inside the
compositor pixels are float32 RGBA, 16 bytes a pixel, so 100 megapixels of
artwork is 1.6 GB once decoded at full size; shrink-on-load keeps most
artwork far below that.
"""

# Artwork whose header claims more pixels than this is refused before decoding
# (decompression bombs: a few kilobytes of PNG can claim gigapixels).
MAX_ARTWORK_PIXELS = 100_000_000

# A smart object's content box (what artwork is placed into) and print files.
MAX_CONTENT_PIXELS = 100_000_000
MAX_CONTENT_SIDE = 30_000

# Exported images: the requested width (the height follows the aspect ratio).
MIN_OUTPUT_WIDTH = 100
MAX_OUTPUT_WIDTH = 10_000
MAX_OUTPUT_PIXELS = 100_000_000

# Print files: dots per inch a caller may ask for.
MIN_PRINT_DPI = 1
MAX_PRINT_DPI = 2400

# Decoded artwork kept per worker process (see artwork.load_artwork).
ARTWORK_CACHE_BYTES = 512 * 1024 * 1024

# Compiled render plans a worker keeps in memory (bytes of their arrays), then
# on local disk (bytes of the files); see `compositor.plancache`.
PLAN_CACHE_BYTES = 2 * 1024 ** 3
PLAN_DISK_CACHE_BYTES = 20 * 1024 ** 3
