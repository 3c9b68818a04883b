"""RGB loading with errors that name the file and its split-file line."""
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from mmseg.registry import TRANSFORMS

from ...fileio.image_decoder import ImageDecodeError, decode_image
from ._utils import source_of


@TRANSFORMS.register_module()
class LoadImageFromFileStrict(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` (uint8 BGR HxWx3) with clear errors.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that does not
    decode (corrupt or truncated PNG/JPEG); both name the file and its split-file line.

    Decoding defaults to Pillow (``imdecode_backend='pillow'``), as in BTS/AdaBins (PIL), and
    Pillow refuses truncated files (``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off while
    decoding). The header is checked first (``mmclipdepth.fileio.image_decoder``): an image above
    ``max_pixels`` (default ``DEFAULT_MAX_PIXELS`` / ``MMCLIPDEPTH_MAX_PIXELS``) or a single-channel 16/32-bit
    one (a depth map) is refused before decoding. Other arguments are those of ``mmcv.transforms.LoadImageFromFile``.
    """

    def __init__(self, imdecode_backend: str = 'pillow', max_pixels=None, **kwargs) -> None:
        super().__init__(imdecode_backend=imdecode_backend, **kwargs)
        self.max_pixels = max_pixels

    def transform(self, results: dict) -> dict:
        filename = results['img_path']
        try:
            img_bytes = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError as e:
            raise FileNotFoundError(f'RGB image not found: {source_of(results)}') from e
        if not img_bytes:
            raise ValueError(f'RGB image is empty (0 bytes): {source_of(results)}')
        try:  # the header (pixel count, depth-map modes) is checked before decoding
            img = decode_image(img_bytes, f'RGB image {source_of(results)}', self.max_pixels,
                               flag=self.color_type, backend=self.imdecode_backend)
        except ImageDecodeError as e:
            raise ImageDecodeError(str(e)) from None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
