from .. import _guard  # noqa: F401  (first: refuses a shadowed, empty mmclipdepth package)
from .image_decoder import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image, read_image

__all__ = ['DEFAULT_MAX_PIXELS', 'ImageDecodeError', 'decode_image', 'read_image']
