"""The one strict image decoder of every path that takes a photo (the API's ``LoadImageFromFileStrict``,
``demo/image_demo.py``, ``demo/video_demo.py`` frames, the web demo's uploads).

Before anything is decoded the header is read (Pillow opens lazily: only the size and mode are parsed) and
refused when

- the pixel count is above ``max_pixels`` (default ``DEFAULT_MAX_PIXELS``, or the environment variable
  ``MMCLIPDEPTH_MAX_PIXELS``): a 109 KB PNG may declare 30000x30000 px, and a 10000x10000 image takes
  ~11 GB through even a tiny CLIP;
- the image is single-channel 16/32-bit (Pillow modes ``I;16*``, ``I``, ``F``): a depth map, not a photo.

Decoding is Pillow's (as BTS / AdaBins) with truncated files refused (``ImageFile.LOAD_TRUNCATED_IMAGES`` off),
so a garbled or cut JPEG is an error, not a photo with grey blocks. Every error names the file.
"""
import io
import os
from typing import Optional

import numpy as np

__all__ = ['ImageDecodeError', 'DEFAULT_MAX_PIXELS', 'max_pixels_default', 'check_image_header', 'decode_image',
           'read_image']

#: 32 megapixels (e.g. 8000x4000): through the CLIP-prompt models ~110 bytes per input pixel were measured for
#: a tiny CLIP (10000x10000 -> 11 GB), so the default keeps one image under ~4 GB of a 24 GB, 2-core machine.
DEFAULT_MAX_PIXELS = 32_000_000

#: Pillow modes of single-channel images wider than 8 bits: depth maps, not photos
DEPTH_MODES = ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N', 'F')


class ImageDecodeError(ValueError):
    """A file given as a photo is not one (not an image, corrupt, a depth map, or above the pixel limit)."""


def max_pixels_default() -> int:
    """``MMCLIPDEPTH_MAX_PIXELS`` when set (a positive integer), else ``DEFAULT_MAX_PIXELS``."""
    value = os.environ.get('MMCLIPDEPTH_MAX_PIXELS')
    if not value:
        return DEFAULT_MAX_PIXELS
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n <= 0:
        raise ValueError(f'MMCLIPDEPTH_MAX_PIXELS={value!r}: expected a positive integer (pixels per image)')
    return n


def check_image_header(data: bytes, name: str, max_pixels: Optional[int] = None, allow_depth: bool = False):
    """Read the header of ``data`` (no pixel is decoded); return ``(width, height, mode)`` or ``None`` when
    Pillow does not know the format. Raises ``ImageDecodeError`` naming ``name`` for an image above
    ``max_pixels`` or (unless ``allow_depth``) a single-channel 16/32-bit one."""
    from PIL import Image, UnidentifiedImageError
    limit = max_pixels_default() if max_pixels is None else int(max_pixels)
    bomb, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # the limit below is ours, with the file named
    try:
        with Image.open(io.BytesIO(data)) as im:
            (w, h), mode = im.size, im.mode
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = bomb
    if w * h > limit:
        raise ImageDecodeError(f'{name}: the image declares {w}x{h} = {w * h} px, above the limit of {limit} px '
                               '(set MMCLIPDEPTH_MAX_PIXELS or max_pixels to allow more); nothing was decoded')
    if not allow_depth and mode in DEPTH_MODES:
        raise ImageDecodeError(f'{name}: a single-channel {"32-bit" if mode in ("I", "F") else "16-bit"} image '
                               f'(mode {mode}), a depth map rather than a photo; give the RGB image')
    return w, h, mode


def decode_image(data: bytes, name: str, max_pixels: Optional[int] = None, channel_order: str = 'bgr',
                 flag: str = 'color', backend: str = 'pillow') -> np.ndarray:
    """Bytes of one photo -> uint8 ``HxWx3`` array (BGR unless ``channel_order='rgb'``), after
    ``check_image_header``; corrupt, truncated or unknown files raise ``ImageDecodeError`` naming ``name``."""
    import mmcv
    from PIL import Image, ImageFile
    if not data:
        raise ImageDecodeError(f'{name}: empty file (0 bytes), not an image')
    header = check_image_header(data, name, max_pixels)
    if header is None and backend == 'pillow':
        raise ImageDecodeError(f'{name}: not an image Pillow can read (JPEG, PNG, BMP, TIFF, WebP, ...)')
    truncated_flag, bomb = ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    Image.MAX_IMAGE_PIXELS = max(int(bomb or 0), header[0] * header[1] + 1) if header else bomb  # checked above
    try:
        img = mmcv.imfrombytes(data, flag=flag, channel_order=channel_order, backend=backend)
    except Exception as e:  # noqa: BLE001 - PIL: UnidentifiedImageError / OSError('truncated'); cv2: error
        raise ImageDecodeError(f'{name}: corrupt or truncated image ({type(e).__name__}: {e})') from e
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = truncated_flag, bomb
    if img is None or img.size == 0:
        raise ImageDecodeError(f'{name}: the image could not be decoded')
    return img


def read_image(path: str, max_pixels: Optional[int] = None, channel_order: str = 'bgr') -> np.ndarray:
    """``decode_image`` on a file (``FileNotFoundError`` naming a missing one)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'image file {path!r} does not exist')
    with open(path, 'rb') as f:
        data = f.read()
    return decode_image(data, repr(path), max_pixels, channel_order)
