"""Depth for a video (or a folder of frames): a side-by-side RGB | depth video and a flicker figure.

    python demo/video_demo.py CONFIG [CHECKPOINT] INPUT --out-dir DIR [--batch-size 4] [--range fixed|percentile]
        [--vmin M --vmax M] [--percentiles 2 98] [--save-npy] [--save-png16] [--fps F] [--max-frames N]
    python demo/video_demo.py MODEL.onnx INPUT --out-dir DIR ...     (an exported model, run by onnxruntime)

INPUT: a video file OpenCV can decode (mp4, avi, ...) or a folder of frames (image files, sorted by name).
Frames go through the model ``--batch-size`` at a time. Writes to DIR:

- ``NAME_depth.mp4``: each frame's RGB beside its coloured depth (``--cmap``) and the colour scale in metres
  (``SCALE_WIDTH`` px on the right), at the input's frame rate
  (``--fps`` for a folder, default 10). The colour range is one for the whole clip, so colours do not
  flicker on their own: ``--range fixed`` uses ``[--vmin, --vmax]`` (default: the model's depth range),
  ``--range percentile`` the ``--percentiles`` of every predicted depth of the clip. The range used is
  printed and saved.
- with ``--save-npy`` / ``--save-png16``: ``frames/NAME_000123_depth.npy`` (float32 metres) /
  ``_depth_mm.png`` (uint16 millimetres).
- ``NAME_flicker.json``: the ground-truth-free flicker (``mmclipdepth.evaluation.metrics.flicker_metric``:
  median over consecutive frames of the median |d_t - d_{t-1}| / d_t over pixels whose grey level changes
  by at most ``--colour-tol``), the colour range, frame count, size and speed; ``NAME_flicker.png``: the
  flicker of each frame pair over time, with its median.
- At most ``--max-frames`` (300) frames are read by default (the clip is held in memory), and a frame above the
  pixel limit is refused before decoding (docs/security.md).

A KITTI config predicts the 352x1216 KB crop of each frame: the RGB half shows that crop. Unreadable files,
an empty video or folder, frames of different sizes, and frames smaller than the model takes are errors that
name the input; odd frame sizes are padded by one pixel for the video writer (said in the output).
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm')


#: frames read by default: the whole clip and its depths are held in memory for the colour range and flicker
DEFAULT_MAX_FRAMES = 300


#: width (px) of the colour scale on the right of each output frame
SCALE_WIDTH = 96


def colour_scale(height: int, lo: float, hi: float, cmap: str) -> np.ndarray:
    """A ``height`` x ``SCALE_WIDTH`` BGR strip: the colour bar of ``[lo, hi]`` metres (far at the top), labelled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    dpi = 100
    fig = Figure(figsize=(SCALE_WIDTH / dpi, height / dpi), dpi=dpi, facecolor='white')
    canvas = FigureCanvasAgg(fig)
    cax = fig.add_axes([8 / SCALE_WIDTH, 0.05, 14 / SCALE_WIDTH, 0.9])
    bar = fig.colorbar(ScalarMappable(norm=Normalize(lo, hi), cmap=cmap), cax=cax)
    bar.set_label('depth (m)', fontsize=8)
    bar.ax.tick_params(labelsize=7)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]
    return np.ascontiguousarray(rgb[:height, :SCALE_WIDTH, ::-1])


def flicker_figure(path: str, pairs, summary: dict, name: str) -> None:
    """``NAME_flicker.png``: the flicker of each consecutive frame pair (pairs without static pixels left out)
    and its median."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6.4, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    t = [i + 1 for i, p in enumerate(pairs) if p is not None]
    v = [p['flicker'] for p in pairs if p is not None]
    ax.plot(t, v, marker='o', markersize=3, linewidth=1, label='frame pair')
    if v:
        ax.axhline(summary['flicker'], color='tab:red', linestyle='--', linewidth=1,
                   label=f'median {summary["flicker"]:.4g}')
    ax.set_xlabel('frame t (pair t-1, t)')
    ax.set_ylabel('median |d_t - d_t-1| / d_t')
    ax.set_title(f'{name}: flicker on static pixels')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description='Depth video: side-by-side RGB | depth, per-frame outputs, flicker')
    p.add_argument('config', help='config file, or an exported MODEL.onnx')
    p.add_argument('checkpoint', nargs='?', default=None, help='checkpoint (omit for zero-shot configs / ONNX)')
    p.add_argument('input', help='video file or folder of frames')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--range', choices=['fixed', 'percentile'], default='percentile', dest='range_mode')
    p.add_argument('--vmin', type=float, default=None)
    p.add_argument('--vmax', type=float, default=None)
    p.add_argument('--percentiles', type=float, nargs=2, default=[2.0, 98.0], metavar=('LOW', 'HIGH'))
    p.add_argument('--cmap', default='magma_r')
    p.add_argument('--save-npy', action='store_true')
    p.add_argument('--save-png16', action='store_true')
    p.add_argument('--fps', type=float, default=None, help='output frame rate (default: the input\'s; 10 for frames)')
    p.add_argument('--max-frames', type=int, default=DEFAULT_MAX_FRAMES,
                   help=f'frames read at most (default {DEFAULT_MAX_FRAMES}: the clip is held in memory, ~2 GB for '
                        '300 1080p frames with their depths); 0 for every frame')
    p.add_argument('--max-pixels', type=int, default=None,
                   help='pixel limit of one frame, checked before decoding (default: '
                        'mmclipdepth.fileio.DEFAULT_MAX_PIXELS or MMCLIPDEPTH_MAX_PIXELS)')
    p.add_argument('--colour-tol', type=float, default=2.0, help='static-pixel grey tolerance for the flicker')
    p.add_argument('--device', default='cpu')
    p.add_argument('--allow-untrained', action='store_true')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def read_frames(path: str, max_frames=None, max_pixels=None):
    """(frames as uint8 BGR arrays, fps or None, name). Errors name the input. Frames of a folder go through the
    strict image decoder (``mmclipdepth.fileio.read_image``); a video's frame size is checked against
    ``max_pixels`` before any frame is decoded. At most ``max_frames`` frames (None or 0: all) are read, and
    a longer input is said so."""
    import cv2
    from mmclipdepth.fileio.image_decoder import max_pixels_default, read_image
    max_frames = max_frames or None
    limit = max_pixels_default() if max_pixels is None else int(max_pixels)
    if osp.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise ValueError(f'folder {path!r} holds no frames ({", ".join(IMAGE_EXTENSIONS)})')
        if max_frames is not None and len(files) > max_frames:
            print(f'{path}: reading the first {max_frames} of {len(files)} frames (--max-frames; 0 for all)',
                  file=sys.stderr)
        frames = [read_image(osp.join(path, f), limit) for f in files[:max_frames]]
        return frames, None, osp.basename(osp.normpath(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'input {path!r} is neither a video file nor a folder of frames')
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError(f'could not open video {path!r} (not a video OpenCV can decode)')
    fps = cap.get(cv2.CAP_PROP_FPS) or None
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if w * h > limit:
        cap.release()
        raise ValueError(f'video {path!r}: frames of {w}x{h} = {w * h} px, above the limit of {limit} px '
                         '(--max-pixels / MMCLIPDEPTH_MAX_PIXELS); nothing was decoded')
    frames = []
    while max_frames is None or len(frames) < max_frames:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    if max_frames is not None and len(frames) == max_frames and cap.grab():
        print(f'{path}: read the first {max_frames} frames (--max-frames; 0 for all)', file=sys.stderr)
    cap.release()
    if not frames:
        raise ValueError(f'video {path!r} has no decodable frame')
    return frames, fps, osp.splitext(osp.basename(path))[0]


def run(args) -> dict:
    import cv2
    from mmengine.utils import ProgressBar

    from mmclipdepth.apis import (colorize_depth, depth_to_png16, image_for_prediction, inference_depth,
                                  load_depth_model)
    from mmclipdepth.evaluation.metrics.flicker_metric import pair_flicker, summarise_flicker, to_grey

    if args.batch_size < 1:
        raise ValueError(f'--batch-size must be >= 1, got {args.batch_size}')
    frames, fps, name = read_frames(args.input, args.max_frames, args.max_pixels)
    sizes = {f.shape for f in frames}
    if len(sizes) > 1:
        first = frames[0].shape
        odd = next(i for i, f in enumerate(frames) if f.shape != first)
        raise ValueError(f'{args.input}: frame {odd} is {frames[odd].shape[1]}x{frames[odd].shape[0]} but frame 0 is '
                         f'{first[1]}x{first[0]}: every frame of a clip must have one size')
    os.makedirs(args.out_dir, exist_ok=True)
    if args.config.endswith('.onnx'):
        model = load_depth_model(args.config, args.checkpoint)
    else:
        model = load_depth_model(args.config, args.checkpoint, device=args.device, cfg_options=args.cfg_options,
                                 allow_untrained=args.allow_untrained, untrained_option='--allow-untrained')
    bar = ProgressBar(len(frames))  # shows frames per second
    start = time.perf_counter()
    depths, crops = [], []
    for i in range(0, len(frames), args.batch_size):
        chunk = frames[i:i + args.batch_size]
        try:
            samples = inference_depth(model, list(chunk), batch_size=args.batch_size, return_samples=True)
        except ValueError as e:
            raise ValueError(f'{args.input}, frames {i}-{i + len(chunk) - 1}: {e}') from e
        for s in samples:
            depths.append(s.pred_depth_map.data[0].detach().cpu().numpy().astype(np.float32))
            crops.append(s.metainfo.get('kb_crop'))
            bar.update()
    seconds = time.perf_counter() - start
    sys.stdout.write('\n')
    if args.range_mode == 'fixed':
        head_range = getattr(getattr(model, 'decode_head', None), 'min_depth', None)
        lo = args.vmin if args.vmin is not None else (head_range if head_range is not None else
                                                       model.meta['output']['min_depth'])
        hi = args.vmax if args.vmax is not None else (model.decode_head.max_depth if hasattr(model, 'decode_head')
                                                       else model.meta['output']['max_depth'])
    else:
        stack = np.concatenate([d[np.isfinite(d)].ravel() for d in depths])
        lo, hi = (float(v) for v in np.percentile(stack, args.percentiles))
    if not hi > lo:
        raise ValueError(f'colour range [{lo}, {hi}] is empty')
    rgb_views, greys = [], []
    for img, depth, crop in zip(frames, depths, crops):
        img = image_for_prediction(img, depth.shape, crop, resize=True)
        rgb_views.append(img)
        greys.append(to_grey(img))
    h, w = depths[0].shape
    out_w, out_h = 2 * w + (2 * w) % 2 + SCALE_WIDTH, h + h % 2
    scale = colour_scale(h, lo, hi, args.cmap)
    padded = (out_w, out_h) != (2 * w + SCALE_WIDTH, h)
    video = osp.join(args.out_dir, f'{name}_depth.mp4')
    out_fps = float(args.fps or fps or 10.0)
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), out_fps, (out_w, out_h))
    if not writer.isOpened():
        raise OSError(f'could not open {video!r} for writing (OpenCV without an mp4v encoder?)')
    frame_dir = osp.join(args.out_dir, 'frames')
    if args.save_npy or args.save_png16:
        os.makedirs(frame_dir, exist_ok=True)
    for t, (img, depth) in enumerate(zip(rgb_views, depths)):
        colour = cv2.cvtColor(colorize_depth(depth, lo, hi, args.cmap), cv2.COLOR_RGB2BGR)
        canvas = np.zeros((out_h, out_w, 3), np.uint8)
        canvas[:h, :w] = img
        canvas[:h, w:2 * w] = colour
        canvas[:h, out_w - SCALE_WIDTH:] = scale
        writer.write(canvas)
        stem = osp.join(frame_dir, f'{name}_{t:06d}')
        if args.save_npy:
            np.save(stem + '_depth.npy', depth)
        if args.save_png16:
            png, _ = depth_to_png16(depth, 1000.0)
            cv2.imwrite(stem + '_depth_mm.png', png)
    writer.release()
    pairs = [pair_flicker(depths[t - 1], depths[t], greys[t - 1], greys[t], args.colour_tol)
             for t in range(1, len(depths))]
    report = dict(input=args.input, video=video, frames=len(depths), size=[h, w], fps=out_fps,
                  colour_range=dict(mode=args.range_mode, vmin=lo, vmax=hi,
                                    percentiles=list(args.percentiles) if args.range_mode == 'percentile' else None),
                  padded_to_even=padded, seconds=seconds, frames_per_second=len(depths) / max(seconds, 1e-9),
                  colour_tol=args.colour_tol, **summarise_flicker(pairs))
    with open(osp.join(args.out_dir, f'{name}_flicker.json'), 'w') as f:
        json.dump(report, f, indent=1)
    flicker_figure(osp.join(args.out_dir, f'{name}_flicker.png'), pairs, report, name)
    print(f'wrote {video}: {len(depths)} frames {w}x{h} | depth{" (padded to even size)" if padded else ""}, '
          f'colour range {lo:.3f}-{hi:.3f} m ({args.range_mode}), {report["frames_per_second"]:.2f} frames/s')
    print(f'flicker (median |d_t - d_t-1| / d_t on static pixels, median over {report["pairs"]} pairs): '
          f'{report["flicker"]:.4g}')
    return report


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
