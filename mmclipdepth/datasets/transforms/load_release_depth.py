"""Ground-truth depth of the zero-shot test sets, decoded as each release documents it (docs/zero_shot.md)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ._utils import source_of

__all__ = ['LoadReleaseDepth', 'decode_release_depth', 'distance_to_planar_depth', 'DEPTH_FORMATS',
           'PLAUSIBLE_MEDIAN_DEPTH', 'check_depth_units']

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


#: the largest HDF5 depth map read (Hypersim's are 768x1024): a 1.4 KB file may declare 40000x40000
HDF5_MAX_PIXELS = 16_000_000


def read_hdf5_depth(path: str, key: str = 'dataset', max_pixels: int = HDF5_MAX_PIXELS) -> np.ndarray:
    """The 2-D float dataset ``key`` of an HDF5 file, read only when it is a plain dataset stored in the file:
    external links (``h5py.ExternalLink``), soft links, external raw storage (``/etc/passwd`` as depth) and
    virtual datasets are refused, and the declared shape is checked against ``max_pixels`` before reading."""
    import h5py
    try:
        with h5py.File(path, 'r') as f:
            link = f.get(key, getlink=True)
            if link is None:
                raise ValueError(f'{path!r} has no HDF5 dataset {key!r} (keys {list(f)})')
            if not isinstance(link, h5py.HardLink):
                raise ValueError(f'{path!r}: {key!r} is a {type(link).__name__} (to another file or object), not a '
                                 'dataset stored in this file: refused')
            ds = f[key]
            if not isinstance(ds, h5py.Dataset):
                raise ValueError(f'{path!r}: {key!r} is a {type(ds).__name__}, not a dataset')
            if ds.is_virtual:
                raise ValueError(f'{path!r}: {key!r} is a virtual dataset (its data lives in other files): refused')
            if ds.external:
                raise ValueError(f'{path!r}: {key!r} keeps its data in external files {[e[0] for e in ds.external]}: '
                                 'refused')
            shape = tuple(ds.shape)
            if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 1):
                raise ValueError(f'{path!r}: {key!r} has shape {shape}, expected HxW (or HxWx1)')
            if shape[0] * shape[1] > max_pixels:
                raise ValueError(f'{path!r}: {key!r} declares {shape[0]}x{shape[1]} values, above the limit of '
                                 f'{max_pixels}: not read')
            if ds.dtype.kind not in 'fiu':
                raise ValueError(f'{path!r}: {key!r} has dtype {ds.dtype}, expected numbers')
            data = ds[()]
    except OSError as e:
        raise ValueError(f'depth map {path!r} is not a readable HDF5 file: {e}') from e
    return np.asarray(data, dtype=np.float32).reshape(shape[:2])


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
        distance = read_hdf5_depth(path)
        if focal is None:
            raise ValueError(f'{path!r}: distance-to-camera maps need the focal length to become planar depth')
        depth = distance_to_planar_depth(distance, focal)
    else:
        raise ValueError(f'unknown depth_format {fmt!r}; expected one of {DEPTH_FORMATS}')
    depth[~np.isfinite(depth)] = 0
    return depth


#: Range (metres) the median valid depth of one frame of each set must fall in: the release's sensor range
#: (docs/zero_shot.md, "Units"). A frame outside it was almost surely stored in another unit than the release's.
PLAUSIBLE_MEDIAN_DEPTH = {
    'diode_indoors': (0.6, 50.0), 'diode_outdoor': (0.6, 350.0),  # DIODE's FARO scanner: 0.6 m up to 350 m
    'ddad': (0.5, 250.0),  # Luminar lidar, up to 250 m
    'diml_indoor': (0.5, 10.0), 'diml_outdoor': (0.5, 100.0),  # Kinect v2 from 0.5 m; ZED stereo outdoors
    'sunrgbd': (0.3, 10.0),  # Kinect v1/v2, RealSense, Xtion
    'ibims': (0.1, 50.0),  # the encoding's full scale is 50 m
    'hypersim': (0.05, 200.0), 'vkitti2': (0.5, 655.35),  # 655.35 m: VKITTI2's sky / far plane
}
#: metres per stored unit of each encoding (png_ibims: 50 m full scale, not a unit)
_BASE_UNIT = {'png_mm': 1e-3, 'png_cm': 1e-2, 'png_sunrgbd': 1e-3, 'npy': 1.0, 'npy_diode': 1.0, 'hdf5_distance': 1.0}
_UNIT_NAMES = {1.0: 'metres', 0.1: 'decimetres', 0.01: 'centimetres', 0.001: 'millimetres', 10.0: 'decametres',
               0.0001: 'tenths of a millimetre'}


def check_depth_units(depth: np.ndarray, dataset: str, fmt: str, path: str) -> None:
    """ValueError naming the file, the median and the likely unit error when the median valid (> 0) depth of a
    frame of ``dataset`` is outside ``PLAUSIBLE_MEDIAN_DEPTH[dataset]``; sets without a range pass."""
    if dataset not in PLAUSIBLE_MEDIAN_DEPTH:
        return
    valid = depth[depth > 0]
    if valid.size == 0:
        return
    lo, hi = PLAUSIBLE_MEDIAN_DEPTH[dataset]
    med = float(np.median(valid))
    if lo <= med <= hi:
        return
    fits = [f for f in (1000.0, 100.0, 10.0, 0.1, 0.01, 0.001) if lo <= med / f <= hi]
    mid = np.sqrt(lo * min(hi, 20.0))  # a typical median of the set (geometric middle, far end capped)
    hint = ''
    if fits:
        f = min(fits, key=lambda x: abs(np.log(med / x / mid)))
        hint = f'; the values look {f if f > 1 else 1 / f:g}x too {"large" if f > 1 else "small"}'
        if fmt in _BASE_UNIT:  # the file's real unit: the release's unit divided by that factor
            unit = round(_BASE_UNIT[fmt] / f, 10)
            hint += f': the file is likely in {_UNIT_NAMES.get(unit, f"units of {unit:g} m")}'
        hint += f' (median {med / f:.4g} m after dividing by {f:g})'
    raise ValueError(f'depth map {path!r}: median valid depth {med:.4g} m decoded as {fmt!r} is outside {dataset}\'s '
                     f'documented range [{lo:g}, {hi:g}] m{hint}; the release stores {_FORMAT_UNITS.get(fmt, fmt)}')


_FORMAT_UNITS = {'png_mm': 'uint16 millimetres', 'png_cm': 'uint16 centimetres', 'npy': 'float metres',
                 'npy_diode': 'float metres', 'png_sunrgbd': 'uint16 millimetres (bit-rotated by 3)',
                 'png_ibims': 'uint16 of 50 m full scale', 'hdf5_distance': 'float metres (distance to the camera)'}


@TRANSFORMS.register_module()
class LoadReleaseDepth(BaseTransform):
    """``results['depth_map_path']`` -> ``results['gt_depth_map']`` (float32 HxW metres, 0 = invalid), decoded by
    ``results['depth_format']`` (set by the zero-shot datasets; see ``decode_release_depth``), with the
    release's masks (``results['mask_paths']``) applied. Like ``LoadDepthPNG``: appended to ``seg_fields``, and
    a depth map of another size than the loaded image is an error naming both files. A frame whose median valid
    depth is outside the set's range (``PLAUSIBLE_MEDIAN_DEPTH``) is an error naming the likely unit."""

    def __init__(self, check_size: bool = True, check_units: bool = True):
        super().__init__()
        self.check_size = check_size
        self.check_units = check_units  # the median valid depth within the set's range (check_depth_units)

    def transform(self, results: dict) -> dict:
        fmt = results.get('depth_format')
        if fmt is None:
            raise KeyError(f'LoadReleaseDepth: the sample has no depth_format (use a zero-shot dataset): '
                           f'{source_of(results, "depth_map_path")}')
        try:
            depth = decode_release_depth(fmt, results['depth_map_path'], results.get('mask_paths'),
                                         results.get('focal'))
            if self.check_units:
                check_depth_units(depth, results.get('dataset', ''), fmt, results['depth_map_path'])
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
