"""Depth ground-truth loading: 16-bit PNG -> float32 metres (docs/fidelity.md: NYU /1000, KITTI /256)."""
import io
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from PIL import Image, ImageFile
from mmseg.registry import TRANSFORMS

from ._utils import source_of

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_COLOUR_TYPES = {0: 'greyscale', 2: 'RGB', 3: 'palette', 4: 'greyscale+alpha', 6: 'RGBA'}


@TRANSFORMS.register_module()
class LoadDepthPNG(BaseTransform):
    """Load ``results['depth_map_path']`` into ``results['gt_depth_map']`` (float32 HxW metres).

    metres = PNG value / ``depth_scale`` (0 stays 0 = invalid). The map is appended to
    ``results['seg_fields']`` so mmcv/mmseg geometric transforms move it with the image (mmseg's
    ``LoadDepthAnnotation`` contract), and ``depth_rescale_factor = 1 / depth_scale`` is recorded.

    Checks, each raising an error that names the file and its split-file line:
    missing file (``FileNotFoundError``); not a PNG, wrong bit depth (an 8-bit PNG where 16-bit is
    expected), not single-channel, corrupt or truncated data, and a depth map whose size differs
    from the already loaded ``results['img']`` (``ValueError``).

    Args:
        depth_scale (float, optional): PNG units per metre (1000 NYU, 256 KITTI). ``None`` takes
            ``results['depth_scale']``, which the depth datasets put in every sample.
        bit_depth (int, optional): required PNG bit depth (16); ``None`` accepts any.
        check_size (bool): require the depth map to have the image's HxW when ``img`` is loaded.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self,
                 depth_scale: Optional[float] = None,
                 bit_depth: Optional[int] = 16,
                 check_size: bool = True,
                 backend_args: Optional[dict] = None) -> None:
        super().__init__()
        if depth_scale is not None and not depth_scale > 0:
            raise ValueError(f'depth_scale must be > 0, got {depth_scale!r}')
        self.depth_scale = depth_scale
        self.bit_depth = bit_depth
        self.check_size = check_size
        self.backend_args = backend_args.copy() if backend_args else None

    def _decode(self, data: bytes, results: dict) -> np.ndarray:
        src = source_of(results, 'depth_map_path')
        if len(data) < 26 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b'IHDR':
            raise ValueError(f'depth map is not a PNG file (corrupt or wrong format): {src}')
        bits, colour = data[24], data[25]
        if self.bit_depth is not None and bits != self.bit_depth:
            raise ValueError(f'depth map is a {bits}-bit PNG, expected {self.bit_depth}-bit '
                             f'(raw uint16 depth, not a visualisation): {src}')
        if colour != 0:
            raise ValueError(f'depth map PNG is {_PNG_COLOUR_TYPES.get(colour, colour)}, expected '
                             f'single-channel greyscale: {src}')
        truncated_flag = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            with Image.open(io.BytesIO(data)) as im:
                depth = np.array(im)
        except Exception as e:
            raise ValueError(f'depth map is corrupt or truncated ({type(e).__name__}: {e}): '
                             f'{src}') from e
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = truncated_flag
        if depth.ndim != 2:
            raise ValueError(f'depth map decoded to shape {depth.shape}, expected HxW: {src}')
        return depth

    def transform(self, results: dict) -> dict:
        path = results['depth_map_path']
        scale = self.depth_scale if self.depth_scale is not None else results.get('depth_scale')
        if scale is None:
            raise KeyError(f'LoadDepthPNG: no depth_scale given and none in the sample: '
                           f'{source_of(results, "depth_map_path")}')
        try:
            data = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f'depth map not found: {source_of(results, "depth_map_path")}') from e
        depth = self._decode(data, results)
        img = results.get('img')
        if self.check_size and img is not None and depth.shape != img.shape[:2]:
            raise ValueError(
                f'depth map is {depth.shape[0]}x{depth.shape[1]} but its image is '
                f'{img.shape[0]}x{img.shape[1]} (HxW): depth '
                f'{source_of(results, "depth_map_path")}, image {results.get("img_path")!r}')
        depth = depth.astype(np.float32) / np.float32(scale)
        results['gt_depth_map'] = depth
        seg_fields = results.setdefault('seg_fields', [])
        if 'gt_depth_map' not in seg_fields:
            seg_fields.append('gt_depth_map')
        results['depth_rescale_factor'] = 1.0 / float(scale)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(depth_scale={self.depth_scale}, '
                f'bit_depth={self.bit_depth}, check_size={self.check_size})')
