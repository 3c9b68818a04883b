"""Predict metric depth for images and write depth images, 16-bit PNGs, .npy files and point clouds.

    python demo/image_demo.py CONFIG [CHECKPOINT] INPUT --out-dir DIR [--device cpu] [--colorbar]
    python demo/image_demo.py MODEL.onnx INPUT --out-dir DIR ...     (exported: tools/deployment/export_onnx.py)
        [--cmap magma_r] [--vmin M --vmax M] [--intrinsics FX FY CX CY | --focal F] [--png-scale 1000]

INPUT is an image file, a folder (its image files, not recursive) or a quoted glob
('data/nyu/**/rgb_*.jpg'). CHECKPOINT is the ``tools/train.py`` output; omit it for zero-shot configs
(configs/clipdepth/nyu_depthclip_zeroshot.py). Per image ``NAME`` (file stem; parent folders are prefixed
when stems repeat) the demo writes to DIR:

- ``NAME_depth.png``: the depth coloured with a perceptual matplotlib colormap (``--cmap``, default
  ``magma_r``: near bright, far dark) over [--vmin, --vmax] (default: this image's predicted range);
  ``--colorbar`` adds a colour bar in metres.
- ``NAME_depth_mm.png``: uint16, ``round(depth * 1000)`` millimetres (0 = invalid), as NYU's ground truth;
  ``--png-scale 256`` writes KITTI's convention instead (``NAME_depth_x256.png``), since millimetres
  saturate at 65.535 m.
- ``NAME_depth.npy``: float32 metres.
- ``NAME.ply`` with ``--intrinsics fx fy cx cy`` (pixels, of the input image) or ``--focal F`` (fx = fy = F,
  principal point at the input image's centre ((W-1)/2, (H-1)/2)): one vertex per valid pixel, camera frame
  x right, y down, z forward, metres, coloured with the image's RGB (binary little-endian PLY; ``--ply-ascii``).

In a folder or pattern run, 16/32-bit single-channel files (depth maps beside the photos) are skipped with a
warning naming them, and an image that fails is reported and the rest processed (``--stop-on-error`` stops
instead); the exit status is 1 if any image failed. A config with learnable parameters needs its checkpoint
(``--allow-untrained`` runs the initial values on purpose).

The prediction covers the frame after the config's test pipeline: the full image for NYU-style configs,
the 352x1216 bottom-centre KB crop for KITTI configs (the principal point is shifted by the crop).
Test-time augmentation follows the config (``model.test_cfg.mode``; ``--cfg-options model.test_cfg.mode=whole``
turns the flip off).
"""
import argparse
import glob
import os
import os.path as osp
import sys
from typing import List, Optional

import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Monocular depth demo: depth images, 16-bit PNGs, .npy, .ply')
    parser.add_argument('config', help='config file, or an exported MODEL.onnx (its MODEL.json beside it)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint file from tools/train.py (omit for zero-shot configs)')
    parser.add_argument('--allow-untrained', action='store_true',
                        help='run a config with learnable parameters without a checkpoint (random values)')
    parser.add_argument('input', help='image file, folder, or glob pattern (quote it)')
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--stop-on-error', action='store_true',
                        help='stop at the first image that fails (default: report it and carry on)')
    parser.add_argument('--device', default='cpu', help="'cpu', 'cuda:0', ...")
    parser.add_argument('--cmap', default='magma_r', help='matplotlib colormap (default magma_r: near bright)')
    parser.add_argument('--colorbar', action='store_true', help='add a colour bar in metres to NAME_depth.png')
    parser.add_argument('--vmin', type=float, default=None, help='colour range minimum, metres')
    parser.add_argument('--vmax', type=float, default=None, help='colour range maximum, metres')
    cam = parser.add_mutually_exclusive_group()
    cam.add_argument('--intrinsics', type=float, nargs=4, metavar=('FX', 'FY', 'CX', 'CY'),
                     help='pinhole intrinsics of the input images (pixels): writes NAME.ply')
    cam.add_argument('--focal', type=float, default=None,
                     help='focal length in pixels, principal point at the image centre: writes NAME.ply')
    parser.add_argument('--ply-ascii', action='store_true', help='ASCII PLY instead of binary little-endian')
    parser.add_argument('--png-scale', type=float, default=1000.0,
                        help='16-bit PNG value per metre (1000 = millimetres, default; 256 = KITTI)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.test_cfg.mode=whole')
    return parser.parse_args(argv)


def collect_images(spec: str) -> List[str]:
    """A file, the image files of a folder (sorted, not recursive), or the files matching a glob."""
    if osp.isdir(spec):
        files = sorted(osp.join(spec, f) for f in os.listdir(spec) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise FileNotFoundError(f'no image files ({", ".join(IMAGE_EXTENSIONS)}) in folder {spec!r}')
        return files
    if osp.isfile(spec):
        return [spec]
    if glob.has_magic(spec):
        files = sorted(f for f in glob.glob(spec, recursive=True) if osp.isfile(f))
        if not files:
            raise FileNotFoundError(f'no file matches the pattern {spec!r}')
        return files
    raise FileNotFoundError(f'input {spec!r} is neither an image file, a folder nor a glob pattern that matches')


def output_names(files: List[str]) -> List[str]:
    """File stems; where stems repeat, prefixed by as many parent folders as needed to be unique."""
    parts = [osp.normpath(osp.abspath(f)).split(os.sep) for f in files]
    depth = 1
    while True:
        names = ['__'.join(p[-depth:-1] + [osp.splitext(p[-1])[0]]) for p in parts]
        if len(set(names)) == len(names) or depth > max(len(p) for p in parts):
            return names
        depth += 1


def depth_like(path: str) -> Optional[str]:
    """Why a file looks like a depth map rather than a photo (16/32-bit single channel), else None."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            mode = im.mode
    except Exception:  # noqa: BLE001 - unreadable files are reported when they are processed
        return None
    if mode in ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N', 'F'):
        return f'a single-channel {"32-bit" if mode in ("I", "F") else "16-bit"} image (mode {mode}): a depth map?'
    return None


def _read_rgb(path: str) -> np.ndarray:
    """RGB uint8 through the strict image decoder of the inference pipeline (``mmclipdepth.fileio.read_image``)."""
    from mmclipdepth.fileio import read_image
    return read_image(path, channel_order='rgb')


def run(args) -> List[dict]:
    """Process every input image; return per image its output paths and depth statistics."""
    from mmengine.utils import ProgressBar

    from mmclipdepth.apis import (backproject_depth, colorize_depth, depth_to_png16, image_for_prediction,
                                  inference_depth, intrinsics_for_prediction, load_depth_model,
                                  render_depth_colorbar, write_ply)
    from mmclipdepth.apis.depth_outputs import imwrite_rgb

    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file {args.checkpoint!r} does not exist (zero-shot configs need '
                                'no checkpoint: omit it)')
    if args.png_scale <= 0:
        raise ValueError(f'--png-scale must be positive, got {args.png_scale}')
    files = collect_images(args.input)
    many = len(files) > 1 or osp.isdir(args.input)
    skipped = []
    if many:  # a folder / pattern: depth maps next to the photos (NYU, KITTI layouts) are not inputs
        for path in list(files):
            why = depth_like(path)
            if why is not None:
                print(f'warning: skipping {path}: {why}', file=sys.stderr)
                skipped.append(path)
                files.remove(path)
        if not files:
            raise FileNotFoundError(f'no photo among the inputs {args.input!r}: {len(skipped)} depth-like file(s) '
                                    'skipped')
    names = output_names(files)
    os.makedirs(args.out_dir, exist_ok=True)
    if args.config.endswith('.onnx'):  # an exported model (tools/deployment/export_onnx.py), run by onnxruntime
        model = load_depth_model(args.config, args.checkpoint)
    else:
        model = load_depth_model(args.config, args.checkpoint, device=args.device, cfg_options=args.cfg_options,
                                 allow_untrained=args.allow_untrained, untrained_option='--allow-untrained')

    import cv2
    png_suffix = '_depth_mm.png' if args.png_scale == 1000 else f'_depth_x{args.png_scale:g}.png'
    summary, failed = [], []
    bar = ProgressBar(len(files))
    for path, name in zip(files, names):
        try:
            sample = inference_depth(model, path, return_samples=True)
        except (ValueError, OSError) as e:
            err = e if path in str(e) else ValueError(f'could not process image {path!r}: {e}')
            if not many or args.stop_on_error:
                raise err from e
            print(f'\nerror: {err} (carrying on with the other images)', file=sys.stderr)
            failed.append((path, str(err)))
            bar.update()
            continue
        depth = sample.pred_depth_map.data[0].detach().cpu().numpy().astype(np.float32)
        out = dict(image=path, npy=osp.join(args.out_dir, name + '_depth.npy'),
                   color=osp.join(args.out_dir, name + '_depth.png'),
                   png16=osp.join(args.out_dir, name + png_suffix))
        np.save(out['npy'], depth)
        if args.colorbar:
            rgb = render_depth_colorbar(depth, args.vmin, args.vmax, args.cmap)
        else:
            rgb = colorize_depth(depth, args.vmin, args.vmax, args.cmap)
        imwrite_rgb(out['color'], rgb)
        png, saturated = depth_to_png16(depth, args.png_scale)
        if not cv2.imwrite(out['png16'], png):
            raise OSError(f'could not write {out["png16"]!r}')
        if saturated:
            print(f'\nwarning: {saturated} pixels of {path} exceed {65535 / args.png_scale:.3f} m and saturate '
                  f'in {out["png16"]} (use --png-scale 256)', file=sys.stderr)
        if args.intrinsics is not None or args.focal is not None:
            image = _read_rgb(path)
            crop = sample.metainfo.get('kb_crop')
            if args.intrinsics is not None:
                intr = args.intrinsics
            else:
                h0, w0 = image.shape[:2]
                intr = (args.focal, args.focal, (w0 - 1) / 2.0, (h0 - 1) / 2.0)
            fx, fy, cx, cy = intrinsics_for_prediction(intr, crop)
            try:
                image = image_for_prediction(image, depth.shape, crop)
            except ValueError as e:
                raise ValueError(f'{path}: {e}; cannot colour the point cloud') from e
            points, flat = backproject_depth(depth, (fx, fy, cx, cy))
            out['ply'] = osp.join(args.out_dir, name + '.ply')
            write_ply(out['ply'], points, image.reshape(-1, 3)[flat], binary=not args.ply_ascii)
            out['vertices'] = len(points)
        valid = depth[np.isfinite(depth) & (depth > 0)]
        out.update(shape=depth.shape, min=float(valid.min()) if valid.size else float('nan'),
                   median=float(np.median(valid)) if valid.size else float('nan'),
                   max=float(valid.max()) if valid.size else float('nan'))
        summary.append(out)
        bar.update()
    print()
    for s in summary:
        print(f'{s["image"]}: {s["shape"][0]}x{s["shape"][1]}, depth min {s["min"]:.3f} m, median '
              f'{s["median"]:.3f} m, max {s["max"]:.3f} m'
              + (f', {s["vertices"]} points' if 'vertices' in s else ''))
    if failed:
        print(f'{len(failed)} of {len(files)} image(s) failed: ' + '; '.join(p for p, _ in failed), file=sys.stderr)
    if skipped:
        print(f'{len(skipped)} depth-like file(s) skipped: ' + '; '.join(skipped), file=sys.stderr)
    args.failed = failed
    print(f'wrote {len(summary)} x ({"NAME_depth.png, NAME" + png_suffix + ", NAME_depth.npy"}'
          f'{", NAME.ply" if args.intrinsics is not None or args.focal is not None else ""}) to {args.out_dir}')
    return summary


def main(argv: Optional[List[str]] = None):
    args = parse_args(argv)
    try:
        summary = run(args)
    except (FileNotFoundError, ValueError) as e:
        if argv is not None:  # called from Python (tests): keep the exception
            raise
        sys.exit(f'error: {e}')
    if getattr(args, 'failed', None) and argv is None:
        sys.exit(1)  # every other image was written; the failures were listed
    return summary


if __name__ == '__main__':
    main()
