"""RGB loading with errors that name the file and its split-file line."""
import numpy as np
import mmcv
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from PIL import ImageFile
from mmseg.registry import TRANSFORMS

from ._utils import source_of


@TRANSFORMS.register_module()
class LoadImageFromFileStrict(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` (uint8 BGR HxWx3) with clear errors.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that does not
    decode (corrupt or truncated PNG/JPEG); both name the file and its split-file line.

    Decoding defaults to Pillow (``imdecode_backend='pillow'``), as in BTS/AdaBins (PIL), and
    Pillow refuses truncated files (``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off while
    decoding). Other arguments are those of ``mmcv.transforms.LoadImageFromFile``.
    """

    def __init__(self, imdecode_backend: str = 'pillow', **kwargs) -> None:
        super().__init__(imdecode_backend=imdecode_backend, **kwargs)

    def transform(self, results: dict) -> dict:
        filename = results['img_path']
        try:
            img_bytes = fileio.get(filename, backend_args=self.backend_args)
        except FileNotFoundError as e:
            raise FileNotFoundError(f'RGB image not found: {source_of(results)}') from e
        if not img_bytes:
            raise ValueError(f'RGB image is empty (0 bytes): {source_of(results)}')
        truncated_flag = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                                   backend=self.imdecode_backend)
        except Exception as e:  # PIL: UnidentifiedImageError / OSError('truncated'); cv2: error
            raise ValueError(f'RGB image is corrupt or truncated ({type(e).__name__}: {e}): '
                             f'{source_of(results)}') from e
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = truncated_flag
        if img is None or img.size == 0:
            raise ValueError(f'RGB image could not be decoded: {source_of(results)}')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
