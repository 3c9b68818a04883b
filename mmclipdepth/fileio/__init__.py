from .atomic_local_backend import AtomicLocalBackend
from .image_decoder import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image, read_image

__all__ = ['AtomicLocalBackend', 'DEFAULT_MAX_PIXELS', 'ImageDecodeError', 'decode_image', 'read_image']
