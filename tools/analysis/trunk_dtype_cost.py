"""What a low-precision frozen trunk (``backbone.trunk_dtype``) costs in parity, and gains in time, on this device.

    python tools/analysis/trunk_dtype_cost.py CONFIG [--batch 2] [--size 416 544] [--dtypes bf16 fp16]
        [--device cpu] [--iters 3] [--out report.json]

The config's model (random weights of the configured CLIP architecture) and one synthetic batch: for fp32 (the
faithful setting) and each dtype, the training loss (train mode, BatchNorm statistics restored after each
run) and the eval-mode depth, with the median time of the trunk's forward. Reported: relative difference of
the loss and the largest relative depth difference against fp32, and the time ratio. A dtype the device's
autocast does not support is reported as such.
"""
import argparse
import json
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)  # benchmarks/ (development code at the repository root, not installed)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--size', type=int, nargs=2, default=[416, 544], metavar=('H', 'W'))
    p.add_argument('--dtypes', nargs='+', default=['bf16', 'fp16'], choices=['bf16', 'fp16'])
    p.add_argument('--device', default='cpu')
    p.add_argument('--iters', type=int, default=3)
    p.add_argument('--out', default=None)
    args = p.parse_args(argv)
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmclipdepth  # noqa: F401
    from benchmarks.equivalence import make_batch
    from mmclipdepth.utils import set_clip_pretrained_none
    cfg = Config.fromfile(args.config)
    set_clip_pretrained_none(cfg.model)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(args.device)
    head = model.decode_head
    inputs, samples = make_batch(args.batch, args.size, head.min_depth, head.max_depth, seed=1, device=args.device)
    buffers = {k: v.detach().clone() for k, v in model.named_buffers() if 'running' in k or 'num_batches' in k}

    def restore():  # BatchNorm statistics as built (train mode moves them)
        with torch.no_grad():
            for k, v in model.named_buffers():
                if k in buffers:
                    v.copy_(buffers[k])

    def run(dtype):
        model.backbone.trunk_dtype = dtype
        restore()
        model.train()
        with torch.no_grad():
            loss = sum(v for k, v in model.loss(inputs, samples).items() if 'loss' in k).item()
        restore()
        model.eval()
        model.test_cfg['allow_untrained'] = True
        with torch.no_grad():
            depth = model.inference(inputs, [s.metainfo for s in samples])
            times = []
            for _ in range(args.iters):
                t = time.perf_counter()
                model.backbone(inputs)
                times.append(time.perf_counter() - t)
        return loss, depth.float(), sorted(times)[len(times) // 2]

    base_loss, base_depth, base_time = run(None)
    rows = [dict(trunk_dtype='fp32', loss=base_loss, trunk_s=base_time)]
    for name in args.dtypes:
        try:
            loss, depth, t = run(name)
        except RuntimeError as e:
            rows.append(dict(trunk_dtype=name, unsupported=str(e)[:300]))
            continue
        rows.append(dict(trunk_dtype=name, loss=loss, loss_rel_diff=abs(loss - base_loss) / abs(base_loss),
                         depth_max_rel_diff=float(((depth - base_depth).abs().max() / base_depth.abs().max())),
                         trunk_s=t, fp32_over_this=base_time / t))
    model.backbone.trunk_dtype = None
    for r in rows:
        print(r)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, batch=args.batch, size=args.size, device=args.device, rows=rows), f,
                      indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
