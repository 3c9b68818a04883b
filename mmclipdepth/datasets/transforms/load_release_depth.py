"""Ground-truth depth of the zero-shot test sets, decoded as each release documents it (docs/zero_shot.md)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ._utils import source_of

__all__ = ['LoadReleaseDepth', 'decode_release_depth', 'distance_to_planar_depth', 'DEPTH_FORMATS']

DEPTH_FORMATS = ('png_mm', 'png_cm', 'png_sunrgbd', 'png_ibims', 'npy', 'npy_diode', 'hdf5_distance')


def _png16(path: str) -> np.ndarray:
    import cv2
    d = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if d is None:
        raise ValueError(f'depth map {path!r} is not a readable image')
    if d.dtype != np.uint16 or d.ndim != 2:
        raise ValueError(f'depth map {path!r} is {d.dtype} with shape {d.shape}; the release stores a single-channel '
                         '16-bit PNG')
    return d


def distance_to_planar_depth(distance: np.ndarray, focal: float) -> np.ndarray:
    """Distance to the camera centre -> planar depth for a pinhole camera with the principal point at the
    frame centre: ``z = dist * f / ||(u - (W-1)/2, v - (H-1)/2, f)||`` (ZoeDepth's
    ``hypersim_distance_to_depth``, generalised from 1024x768)."""
    h, w = distance.shape
    u = np.linspace(-0.5 * w + 0.5, 0.5 * w - 0.5, w, dtype=np.float32)[None, :]
    v = np.linspace(-0.5 * h + 0.5, 0.5 * h - 0.5, h, dtype=np.float32)[:, None]
    norm = np.sqrt(u ** 2 + v ** 2 + np.float32(focal) ** 2)
    return (distance.astype(np.float32) / norm * np.float32(focal)).astype(np.float32)


def decode_release_depth(fmt: str, path: str, masks: dict = None, focal: float = None) -> np.ndarray:
    """float32 HxW metres, 0 where the release marks the depth invalid."""
    masks = masks or {}
    if fmt == 'png_mm':
        depth = _png16(path).astype(np.float32) / 1000.0
    elif fmt == 'png_cm':
        depth = _png16(path).astype(np.float32) / 100.0
    elif fmt == 'png_sunrgbd':  # read3dPoints.m: bitor(bitshift(d, -3), bitshift(d, 16 - 3)) / 1000
        d = _png16(path)
        depth = ((d >> 3) | (d << 13)).astype(np.float32) / 1000.0
    elif fmt == 'png_ibims':
        depth = _png16(path).astype(np.float32) * np.float32(50.0 / 65535.0)
        for key in ('invalid', 'transparent'):
            if key in masks:
                import cv2
                m = cv2.imread(masks[key], cv2.IMREAD_UNCHANGED)
                if m is None or m.shape[:2] != depth.shape:
                    raise ValueError(f'mask {masks[key]!r} is unreadable or not {depth.shape[0]}x{depth.shape[1]}')
                depth[(m if m.ndim == 2 else m[..., 0]) == 0] = 0
    elif fmt in ('npy', 'npy_diode'):
        try:
            depth = np.load(path).astype(np.float32)
        except (ValueError, OSError) as e:
            raise ValueError(f'depth map {path!r} is not a readable .npy file: {e}') from e
        if depth.ndim == 3 and depth.shape[2] == 1:
            depth = depth[..., 0]
        if depth.ndim != 2:
            raise ValueError(f'depth map {path!r} has shape {depth.shape}, expected HxW or HxWx1')
        if 'valid' in masks:
            m = np.load(masks['valid'])
            if m.shape[:2] != depth.shape:
                raise ValueError(f'mask {masks["valid"]!r} is {m.shape}, the depth {depth.shape}')
            depth[np.asarray(m).reshape(depth.shape) == 0] = 0
    elif fmt == 'hdf5_distance':
        import h5py
        try:
            with h5py.File(path, 'r') as f:
                if 'dataset' not in f:
                    raise ValueError(f'{path!r} has no HDF5 dataset "dataset" (keys {list(f)})')
                distance = np.asarray(f['dataset'], dtype=np.float32)
        except OSError as e:
            raise ValueError(f'depth map {path!r} is not a readable HDF5 file: {e}') from e
        if focal is None:
            raise ValueError(f'{path!r}: distance-to-camera maps need the focal length to become planar depth')
        depth = distance_to_planar_depth(distance, focal)
    else:
        raise ValueError(f'unknown depth_format {fmt!r}; expected one of {DEPTH_FORMATS}')
    depth[~np.isfinite(depth)] = 0
    return depth


@TRANSFORMS.register_module()
class LoadReleaseDepth(BaseTransform):
    """``results['depth_map_path']`` -> ``results['gt_depth_map']`` (float32 HxW metres, 0 = invalid), decoded by
    ``results['depth_format']`` (set by the zero-shot datasets; see ``decode_release_depth``), with the
    release's masks (``results['mask_paths']``) applied. Like ``LoadDepthPNG``: appended to ``seg_fields``, and
    a depth map of another size than the loaded image is an error naming both files."""

    def __init__(self, check_size: bool = True):
        super().__init__()
        self.check_size = check_size

    def transform(self, results: dict) -> dict:
        fmt = results.get('depth_format')
        if fmt is None:
            raise KeyError(f'LoadReleaseDepth: the sample has no depth_format (use a zero-shot dataset): '
                           f'{source_of(results, "depth_map_path")}')
        try:
            depth = decode_release_depth(fmt, results['depth_map_path'], results.get('mask_paths'),
                                         results.get('focal'))
        except ValueError as e:
            raise ValueError(f'{e} ({source_of(results, "depth_map_path")})') from e
        img = results.get('img')
        if self.check_size and img is not None and depth.shape != img.shape[:2]:
            raise ValueError(f'depth map is {depth.shape[0]}x{depth.shape[1]} but its image is '
                             f'{img.shape[0]}x{img.shape[1]}: depth {results["depth_map_path"]!r}, image '
                             f'{results.get("img_path")!r}')
        results['gt_depth_map'] = depth
        seg_fields = results.setdefault('seg_fields', [])
        if 'gt_depth_map' not in seg_fields:
            seg_fields.append('gt_depth_map')
        return results
