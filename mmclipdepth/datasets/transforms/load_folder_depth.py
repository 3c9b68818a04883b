"""Depth of a user's folder dataset (:class:`DepthFolderDataset`): 16-bit PNG with a scale or ``.npy`` metres."""
import os.path as osp
import warnings

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from .load_release_depth import _png16, decode_release_depth


@TRANSFORMS.register_module()
class LoadFolderDepth(BaseTransform):
    """``results['depth_map_path']`` -> ``results['gt_depth_map']`` (float32 HxW metres, 0 = invalid).

    ``.npy``: metres as stored (HxW or HxWx1). ``.png``: single-channel 16-bit, metres = value /
    ``results['depth_scale']`` (or ``depth_scale`` here). Appended to ``seg_fields``; a depth map of another
    size than the loaded image is an error naming both files. A map with no pixel in
    ``(min_depth, max_depth]`` (the sample's evaluation range) is warned about with its file and scale: that is
    almost always a wrong ``depth_scale``.
    """

    def __init__(self, depth_scale: float = None, check_size: bool = True):
        super().__init__()
        if depth_scale is not None and not depth_scale > 0:
            raise ValueError(f'LoadFolderDepth: depth_scale must be > 0, got {depth_scale!r}')
        self.depth_scale = depth_scale
        self.check_size = check_size

    def transform(self, results: dict) -> dict:
        path = results['depth_map_path']
        if not osp.isfile(path):
            raise FileNotFoundError(f'depth map {path!r} does not exist (image {results.get("img_path")!r})')
        scale = self.depth_scale or results.get('depth_scale')
        if path.lower().endswith('.npy'):
            depth = decode_release_depth('npy', path)
            scale = None
        else:
            if not scale:
                raise KeyError(f'LoadFolderDepth: {path!r} is a PNG but the sample has no depth_scale '
                               '(PNG units per metre, e.g. 1000 for millimetres)')
            depth = _png16(path).astype(np.float32) / np.float32(scale)
        img = results.get('img')
        if self.check_size and img is not None and depth.shape != img.shape[:2]:
            raise ValueError(f'depth map is {depth.shape[0]}x{depth.shape[1]} but its image is '
                             f'{img.shape[0]}x{img.shape[1]}: depth {path!r}, image {results.get("img_path")!r}')
        lo, hi = results.get('min_depth'), results.get('max_depth')
        if lo is not None and hi is not None and not ((depth > lo) & (depth <= hi)).any():
            finite = depth[np.isfinite(depth)]
            warnings.warn(f'{path}: no pixel lies in the evaluation range ({lo}, {hi}] m '
                          f'(depth_scale={scale}; values {finite.min() if finite.size else "none"}..'
                          f'{finite.max() if finite.size else "none"} m): is depth_scale right?')
        results['gt_depth_map'] = depth
        seg_fields = results.setdefault('seg_fields', [])
        if 'gt_depth_map' not in seg_fields:
            seg_fields.append('gt_depth_map')
        return results
