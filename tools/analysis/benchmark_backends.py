"""Inference speed of PyTorch eager against onnxruntime for one model, side by side in one process.

    python tools/analysis/benchmark_backends.py CONFIG [--size 480 640] [--iters 10] [--warmup 2] [--threads 2]
        [--int8 [--calib-images a.jpg ...]] [--out report.json]

The config's model (CLIP with random weights of the configured architecture: the cost does not depend on the
values) is exported with ``mmclipdepth.apis.export_onnx`` (static shape, the config's flip TTA) into a
temporary folder, after the export's own parity check. Then one normalised input of ``--size`` runs through
both, one call of each per round, in alternating order (a changing machine load hits both alike): PyTorch
``model.inference`` under ``torch.no_grad`` in eval mode (text features cached), and the onnxruntime session.
Reported: median seconds per image, images/s and the ratio; the largest relative depth difference of the two.
With ``--int8`` the exported model is also quantised (``mmclipdepth.apis.onnx_quantize.quantize_int8``, calibrated on
``--calib-images``, default: the bundled real NYU frames) and timed in the same rounds; its depth deviation from
fp32 onnxruntime is measured on the distinct bundled real frames of ``--size`` (each frame's max |int8 - fp32| /
max |fp32| and mean |int8 - fp32| / fp32), each marked as a calibration image or held out.
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
import time

import numpy as np


def _digest(path):
    import hashlib
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--size', type=int, nargs=2, default=[480, 640], metavar=('H', 'W'))
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=None, help='torch and onnxruntime intra-op threads')
    p.add_argument('--int8', action='store_true', help='also time the int8 (static, QDQ) quantised model')
    p.add_argument('--calib-images', nargs='+', default=None,
                   help='int8 calibration images (default: the bundled real NYU frames)')
    p.add_argument('--out', default=None)
    args = p.parse_args(argv)
    import cv2
    import torch
    from mmengine.config import Config

    import mmclipdepth  # noqa: F401
    from mmclipdepth.apis import OnnxDepthModel, export_onnx, init_depth_model
    from mmclipdepth.utils import set_clip_pretrained_none
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    set_clip_pretrained_none(cfg.model)
    torch.manual_seed(0)
    model = init_depth_model(cfg, allow_untrained=True)
    h, w = args.size
    work = tempfile.mkdtemp(prefix='mmclipdepth_backends_')
    image = osp.join(work, 'input.png')
    rng = np.random.default_rng(0)
    cv2.imwrite(image, cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3))
    onnx_path = osp.join(work, 'model.onnx')
    meta = export_onnx(model, onnx_path, [image])
    runtime = OnnxDepthModel(onnx_path, threads=args.threads)
    from mmclipdepth.apis.onnx_depth_model import normalised_input
    x = normalised_input(model, image)
    metas = [dict(img_shape=tuple(x.shape[-2:]), ori_shape=tuple(x.shape[-2:]), pad_shape=tuple(x.shape[-2:]))]
    x_np = x.numpy()

    def eager():
        with torch.no_grad():
            return model.inference(x, metas)

    def ort():
        return runtime.run(x_np)

    times = dict(eager=[], onnxruntime=[])
    steps = dict(eager=eager, onnxruntime=ort)
    int8_report = None
    if args.int8:
        import glob
        from mmclipdepth.apis.onnx_quantize import int8_path, quantize_int8
        repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        frames = sorted(glob.glob(osp.join(repo, 'tests', 'data', 'nyu', '**', 'rgb_*.jpg'), recursive=True))
        frames = [f for f in frames if list(normalised_input(model, f).shape[-2:]) == [h, w]]
        seen = set()  # the same frame may be bundled twice (official test split and the sync tree)
        frames = [f for f in frames if not (_digest(f) in seen or seen.add(_digest(f)))]
        calib = args.calib_images or frames
        quantize_int8(onnx_path, calib)
        runtime8 = OnnxDepthModel(int8_path(onnx_path), threads=args.threads)
        deviation = []
        for f in frames:
            xf = normalised_input(model, f).numpy()
            a, b = runtime.run(xf), runtime8.run(xf)
            deviation.append(dict(image=osp.relpath(f, repo), calibration=any(_digest(c) == _digest(f) for c in calib),
                                  max_rel_diff=float(np.abs(b - a).max() / np.abs(a).max()),
                                  mean_abs_rel=float(np.mean(np.abs(b - a) / np.abs(a)))))
        int8_report = dict(calibration_images=[osp.relpath(c, repo) for c in calib], frames=deviation,
                           size_mb=dict(fp32=sum(os.path.getsize(f) for f in (onnx_path, onnx_path + '.data')
                                                 if osp.isfile(f)) / 1e6,  # the exporter's weights file too
                                        int8=os.path.getsize(int8_path(onnx_path)) / 1e6))
        times['onnxruntime_int8'] = []
        steps['onnxruntime_int8'] = lambda: runtime8.run(x_np)
    keys = list(steps)
    for rnd in range(args.warmup + args.iters):
        for key in (keys if rnd % 2 == 0 else keys[::-1]):
            t = time.perf_counter()
            steps[key]()
            if rnd >= args.warmup:
                times[key].append(time.perf_counter() - t)
    a = eager().numpy()
    b = ort()
    med = {k: float(np.median(v)) for k, v in times.items()}
    report = dict(config=args.config, size=args.size, flip_tta=meta['flip_tta'], iters=args.iters,
                  warmup=args.warmup, threads=torch.get_num_threads(), cpu_count=os.cpu_count(),
                  seconds_per_image=med, images_per_s={k: 1.0 / v for k, v in med.items()},
                  onnxruntime_over_eager=med['eager'] / med['onnxruntime'],
                  max_rel_diff=float(np.abs(a - b).max() / np.abs(a).max()), times=times,
                  export_parity=meta['parity']['max_rel_diff'])
    if int8_report is not None:
        int8_report['int8_over_fp32_onnxruntime'] = med['onnxruntime'] / med['onnxruntime_int8']
        report['int8'] = int8_report
    for key in keys:
        print(f'{key}: {med[key]:.3f} s/image, {1.0 / med[key]:.3f} images/s')
    print(f'onnxruntime / eager: {report["onnxruntime_over_eager"]:.2f}x faster; max relative depth difference '
          f'{report["max_rel_diff"]:.2g}')
    if int8_report is not None:
        print(f'int8 / fp32 onnxruntime: {int8_report["int8_over_fp32_onnxruntime"]:.2f}x faster; depth deviation '
              'on the bundled frames (max rel, mean abs rel): ' + ', '.join(
                  f'{d["image"]}{" (calibration)" if d["calibration"] else " (held out)"} {d["max_rel_diff"]:.3g} '
                  f'{d["mean_abs_rel"]:.3g}' for d in int8_report['frames']))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
