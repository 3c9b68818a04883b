"""Writing predicted depth maps: colour images (with a metre colour bar), 16-bit PNGs, point clouds."""
import os.path as osp
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = ['colorize_depth', 'render_depth_colorbar', 'depth_to_png16', 'backproject_depth', 'write_ply',
           'intrinsics_for_prediction', 'write_glb_points', 'image_for_prediction']


def _range(depth: np.ndarray, vmin: Optional[float], vmax: Optional[float]) -> Tuple[float, float]:
    valid = depth[np.isfinite(depth) & (depth > 0)]
    lo = float(valid.min()) if vmin is None and valid.size else (vmin if vmin is not None else 0.0)
    hi = float(valid.max()) if vmax is None and valid.size else (vmax if vmax is not None else 1.0)
    if hi <= lo:
        hi = lo + 1e-6
    return lo, hi


def colorize_depth(depth: np.ndarray, vmin: Optional[float] = None, vmax: Optional[float] = None,
                   cmap: str = 'magma_r') -> np.ndarray:
    """Depth (HxW, metres) -> RGB uint8 (HxWx3) through a matplotlib colormap over [vmin, vmax]
    (default: the valid depth range of this map); non-finite or non-positive depth is black."""
    import matplotlib
    colormap = matplotlib.colormaps[cmap]
    lo, hi = _range(depth, vmin, vmax)
    norm = np.clip((np.nan_to_num(depth, nan=lo) - lo) / (hi - lo), 0, 1)
    rgb = (colormap(norm)[..., :3] * 255.0 + 0.5).astype(np.uint8)
    rgb[~(np.isfinite(depth) & (depth > 0))] = 0
    return rgb


def render_depth_colorbar(depth: np.ndarray, vmin: Optional[float] = None, vmax: Optional[float] = None,
                          cmap: str = 'magma_r', label: str = 'depth (m)') -> np.ndarray:
    """``colorize_depth`` at full resolution with a vertical colour bar in metres on its right -> RGB."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    lo, hi = _range(depth, vmin, vmax)
    rgb = colorize_depth(depth, lo, hi, cmap)
    h, w = depth.shape
    bar_w = 90
    height = max(h, 160)
    dpi = 100
    fig = Figure(figsize=((w + bar_w) / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    total_w = w + bar_w
    ax = fig.add_axes([0, (height - h) / height, w / total_w, h / height])
    ax.imshow(rgb, interpolation='nearest', aspect='auto')
    ax.set_axis_off()
    cax = fig.add_axes([(w + 8) / total_w, 0.05, 14 / total_w, 0.9])
    bar = fig.colorbar(ScalarMappable(norm=Normalize(lo, hi), cmap=cmap), cax=cax)
    bar.set_label(label, fontsize=9)
    bar.ax.tick_params(labelsize=8)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def depth_to_png16(depth: np.ndarray, scale: float = 1000.0) -> Tuple[np.ndarray, int]:
    """Depth (metres) -> uint16 ``round(depth * scale)`` (scale 1000: millimetres, as NYU's PNGs; 256: KITTI's
    convention). Non-finite / non-positive -> 0 (invalid). Returns the image and the number of pixels that
    saturated at 65535 (depth > 65535 / scale metres)."""
    d = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float64) * scale
    saturated = int((d > 65535).sum())
    return np.clip(np.rint(d), 0, 65535).astype(np.uint16), saturated


def intrinsics_for_prediction(intrinsics: Sequence[float], crop_offset: Optional[Sequence[int]] = None):
    """(fx, fy, cx, cy) of the input image -> those of the predicted frame: the principal point moves by the
    (top, left) offset of a crop done by the inference pipeline (KITTI's KB crop); focal lengths stay."""
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    if crop_offset is not None:
        top, left = crop_offset
        cx, cy = cx - left, cy - top
    return fx, fy, cx, cy


def image_for_prediction(image: np.ndarray, depth_shape, crop_offset: Optional[Sequence[int]] = None,
                         resize: bool = False) -> np.ndarray:
    """The part of ``image`` (HxW[xC]) a prediction of ``depth_shape`` covers: the inference pipeline's crop at
    ``crop_offset`` (top, left; KITTI's KB crop), then, with ``resize``, scaled (area) to the prediction's size;
    without ``resize`` another size is a ``ValueError``."""
    h, w = int(depth_shape[0]), int(depth_shape[1])
    if crop_offset is not None:
        top, left = crop_offset
        image = image[top:top + h, left:left + w]
    if image.shape[:2] != (h, w):
        if not resize:
            raise ValueError(f'the prediction is {h}x{w} but the image is {image.shape[0]}x{image.shape[1]} and the '
                             'pipeline reported no crop offset (kb_crop)')
        image = cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=cv2.INTER_AREA)
    return image


def backproject_depth(depth: np.ndarray, intrinsics: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """Pinhole back-projection of every valid pixel (finite depth > 0), camera frame x right, y down,
    z forward: ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy``, ``z = depth[v, u]`` with ``u`` the column
    and ``v`` the row index (pixel centres at integer coordinates, OpenCV convention).
    Returns (points (M, 3) float32, row-major flat indices (M,) of the pixels used)."""
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    h, w = depth.shape
    valid = np.isfinite(depth) & (depth > 0)
    v, u = np.nonzero(valid)
    z = depth[v, u].astype(np.float64)
    pts = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=1).astype(np.float32)
    return pts, v * w + u


def write_ply(path: str, points: np.ndarray, colors: np.ndarray, binary: bool = True) -> None:
    """Write a coloured point cloud: vertices ``x y z`` (float32) and ``red green blue`` (uint8);
    binary little-endian (default) or ASCII PLY."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
    if len(points) != len(colors):
        raise ValueError(f'{len(points)} points but {len(colors)} colours')
    header = ('ply\n'
              f'format {"binary_little_endian" if binary else "ascii"} 1.0\n'
              'comment mmclipdepth predicted depth; camera frame x right, y down, z forward (metres)\n'
              f'element vertex {len(points)}\n'
              'property float x\nproperty float y\nproperty float z\n'
              'property uchar red\nproperty uchar green\nproperty uchar blue\n'
              'end_header\n')
    with open(path, 'wb') as f:
        f.write(header.encode('ascii'))
        if binary:
            rec = np.empty(len(points), dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('r', 'u1'),
                                                ('g', 'u1'), ('b', 'u1')])
            rec['x'], rec['y'], rec['z'] = points[:, 0], points[:, 1], points[:, 2]
            rec['r'], rec['g'], rec['b'] = colors[:, 0], colors[:, 1], colors[:, 2]
            f.write(rec.tobytes())
        else:
            lines = [f'{x:.6g} {y:.6g} {z:.6g} {r} {g} {b}'
                     for (x, y, z), (r, g, b) in zip(points.tolist(), colors.tolist())]
            f.write(('\n'.join(lines) + ('\n' if lines else '')).encode('ascii'))


def write_glb_points(path: str, points: np.ndarray, colors: np.ndarray) -> None:
    """Write a coloured point cloud as binary glTF 2.0 (``.glb``, one primitive in POINTS mode, RGBA vertex
    colours), which web viewers (the Gradio demo's 3D view) display. Camera-frame points (x right, y down,
    z forward) are turned into glTF's frame (y up, looking down -z): (x, -y, -z)."""
    import json
    import struct
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3) * np.array([1, -1, -1], np.float32)
    colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
    if len(points) != len(colors) or not len(points):
        raise ValueError(f'{len(points)} points and {len(colors)} colours: need as many, at least one')
    rgba = np.concatenate([colors, np.full((len(colors), 1), 255, np.uint8)], 1)
    pos, col = points.tobytes(), rgba.tobytes()
    gltf = dict(
        asset=dict(version='2.0', generator='mmclipdepth'), scene=0, scenes=[dict(nodes=[0])],
        nodes=[dict(mesh=0)], meshes=[dict(primitives=[dict(attributes=dict(POSITION=0, COLOR_0=1), mode=0)])],
        buffers=[dict(byteLength=len(pos) + len(col))],
        bufferViews=[dict(buffer=0, byteOffset=0, byteLength=len(pos)),
                     dict(buffer=0, byteOffset=len(pos), byteLength=len(col))],
        accessors=[dict(bufferView=0, componentType=5126, count=len(points), type='VEC3',
                        min=points.min(0).tolist(), max=points.max(0).tolist()),
                   dict(bufferView=1, componentType=5121, normalized=True, count=len(points), type='VEC4')])
    text = json.dumps(gltf, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 4)
    binary = pos + col
    binary += b'\0' * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    with open(path, 'wb') as f:
        f.write(struct.pack('<III', 0x46546C67, 2, total))
        f.write(struct.pack('<II', len(text), 0x4E4F534A) + text)
        f.write(struct.pack('<II', len(binary), 0x004E4942) + binary)


def imwrite_rgb(path: str, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image with OpenCV (which expects BGR); raise if it fails."""
    ok = cv2.imwrite(path, np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f'could not write {path!r} (folder {osp.dirname(path)!r} writable?)')
