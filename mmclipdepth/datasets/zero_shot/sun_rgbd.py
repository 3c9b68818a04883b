"""SUN RGB-D (Song et al., CVPR 2015), as its release ships it."""
import os.path as osp

import numpy as np
from mmseg.registry import DATASETS

from ..zero_shot_depth_dataset import ZeroShotDepthDataset


def read_intrinsics(path: str):
    """(fx, fy, cx, cy) from a 3x3 camera matrix written as text (SUN RGB-D ``intrinsics.txt``, iBims calib)."""
    k = np.loadtxt(path, dtype=np.float64).reshape(-1)
    if k.size < 9:
        raise ValueError(f'{path}: expected a 3x3 camera matrix, got {k.size} numbers')
    return float(k[0]), float(k[4]), float(k[2]), float(k[5])


@DATASETS.register_module()
class SUNRGBDDataset(ZeroShotDepthDataset):
    """SUN RGB-D: ``<sensor>/<source>/.../<sequence>/image/<name>.jpg`` with ``<sequence>/depth_bfx/<name>.png``
    (``depth_folder``; ``'depth'`` for the raw maps) and ``<sequence>/intrinsics.txt``. The release's PNGs hold
    depth in mm with the bits rotated by 3 (the SUN RGB-D toolbox's ``read3dPoints.m``:
    ``bitor(bitshift(d, -3), bitshift(d, 16 - 3)) / 1000``; ``depth_format='png_sunrgbd'``).
    ``layout='zoedepth'`` reads ZoeDepth's repackaged test set instead: ``rgb/rgb/<n>.jpg`` and
    ``gt/gt/<n>.png`` in plain millimetres. The 5050 test images are ``alltest`` of the toolbox's
    ``allsplit.mat``: list their RGB paths in ``split_file``.
    """
    NAME = 'sunrgbd'

    def __init__(self, layout: str = 'release', depth_folder: str = 'depth_bfx', **kwargs):
        if layout not in ('release', 'zoedepth'):
            raise ValueError(f"SUNRGBDDataset: layout must be 'release' or 'zoedepth', got {layout!r}")
        if depth_folder not in ('depth_bfx', 'depth'):
            raise ValueError(f"SUNRGBDDataset: depth_folder must be 'depth_bfx' or 'depth', got {depth_folder!r}")
        self.layout, self.depth_folder = layout, depth_folder
        if layout == 'release':
            self.PATTERN, self.DEPTH_FORMAT = '**/image/*.jpg', 'png_sunrgbd'
            self.LAYOUT = f'<sensor>/<source>/.../<sequence>/{{image/<n>.jpg, {depth_folder}/<n>.png, intrinsics.txt}}'
        else:
            self.PATTERN, self.DEPTH_FORMAT = 'rgb/rgb/*.jpg', 'png_mm'
            self.LAYOUT = 'rgb/rgb/<n>.jpg, gt/gt/<n>.png (ZoeDepth\'s repackaging, millimetres)'
        super().__init__(**kwargs)

    def depth_path_of(self, rgb: str) -> str:
        if self.layout == 'zoedepth':
            return rgb.replace('rgb/rgb', 'gt/gt', 1)[:-4] + '.png'
        seq = osp.dirname(osp.dirname(rgb))
        return osp.join(seq, self.depth_folder, osp.splitext(osp.basename(rgb))[0] + '.png')

    def extras(self, rgb: str) -> dict:
        if self.layout == 'zoedepth':
            return {}
        calib = osp.join(self.data_root, osp.dirname(osp.dirname(rgb)), 'intrinsics.txt')
        if not osp.isfile(calib):
            return {}
        fx, fy, cx, cy = read_intrinsics(calib)
        return dict(focal=fx, intrinsics=[fx, fy, cx, cy])
