"""Inference speed of PyTorch eager against onnxruntime for one model, side by side in one process.

    python tools/analysis/benchmark_backends.py CONFIG [--size 480 640] [--iters 10] [--warmup 2] [--threads 2]
        [--out report.json]

The config's model (CLIP with random weights of the configured architecture: the cost does not depend on the
values) is exported with ``mmclipdepth.apis.export_onnx`` (static shape, the config's flip TTA) into a
temporary folder, after the export's own parity check. Then one normalised input of ``--size`` runs through
both, one call of each per round, in alternating order (a changing machine load hits both alike): PyTorch
``model.inference`` under ``torch.no_grad`` in eval mode (text features cached), and the onnxruntime session.
Reported: median seconds per image, images/s and the ratio; the largest relative depth difference of the two.
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
import time

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--size', type=int, nargs=2, default=[480, 640], metavar=('H', 'W'))
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=None, help='torch and onnxruntime intra-op threads')
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
    for key in keys:
        print(f'{key}: {med[key]:.3f} s/image, {1.0 / med[key]:.3f} images/s')
    print(f'onnxruntime / eager: {report["onnxruntime_over_eager"]:.2f}x faster; max relative depth difference '
          f'{report["max_rel_diff"]:.2g}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
