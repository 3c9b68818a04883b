"""Cost of a multi-variant (sweep) training step against one single-variant step, side by side in one run.

    python tools/analysis/benchmark_sweep.py SWEEP_CONFIG [--batch 16] [--size 416 544] [--iters 2]
        [--warmup 1] [--copies 1] [--rounds 2] [--device cpu|cuda] [--clip JSON] [--out report.json]

Both steps are the real ``train_step`` of the models the configs build (the sweep's first variant alone
in its own config, and the sweep), with their own optim wrappers (AdamW, clipping), on one synthetic batch;
CLIP is the configured architecture with random weights (the cost does not depend on the values). Each
path runs in its own child processes, alternating (``--rounds``), so its peak resident memory is its own and
a changing machine load hits both alike; the median over every timed step of a path is reported.
``--copies N`` repeats the sweep's heads N times (e.g. the 14 distinct NYU variants of Auty Tables 3-7
twice: 28 heads).
``--clip '{"model_name": ...}'`` replaces every CLIP dict of both models (e.g. a tiny architecture for a smoke
run). On ``--device cuda`` the peak memory is also the GPU's (``torch.cuda.max_memory_allocated``).
Reported: median wall time per step, peak RSS, the ratio sweep / single, and K x single / sweep (a lower
bound of the saving over K solo runs: the first variant is the cheapest of the paper's).
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)  # benchmarks/ (development code at the repository root, not installed)


def _batch(batch, size, min_depth, max_depth):
    """A training batch as the data loader gives it: uint8 images, data samples from ``make_batch``."""
    import torch
    from benchmarks.equivalence import make_batch
    _, samples = make_batch(batch, size, min_depth, max_depth, seed=0, invalid_fraction=0.0)
    g = torch.Generator().manual_seed(0)
    return dict(inputs=[torch.randint(0, 256, (3, *size), dtype=torch.uint8, generator=g) for _ in range(batch)],
                data_samples=samples)


def _child(args):
    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    import mmclipdepth  # noqa: F401
    from mmclipdepth.utils import set_clip_pretrained_none
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.child == 'single':
        first = next(iter(cfg.variant_configs.values()))
        cfg = Config.fromfile(first)
    elif args.copies > 1:
        heads = cfg.model.decode_heads
        cfg.model.decode_heads = {f'{n}_{i}': heads[n] for i in range(args.copies) for n in heads}
        variants = cfg.optim_wrapper.variants
        cfg.optim_wrapper.variants = {f'{n}_{i}': variants[n] for i in range(args.copies) for n in variants}
        cfg.model.primary = None
    set_clip_pretrained_none(cfg.model)
    if args.clip:
        cfg.model.clip = dict(json.loads(args.clip))
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(args.device).train()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    head = model.decode_head
    data = _batch(args.batch, args.size, head.min_depth, head.max_depth)
    cuda = args.device.startswith('cuda')
    walls = []
    for i in range(args.warmup + args.iters):
        t = time.perf_counter()
        model.train_step(data, wrapper)
        if cuda:
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - t)
    walls = walls[args.warmup:]
    return dict(path=args.child, heads=len(getattr(model, 'decode_heads', [0])), step_s=sorted(walls)[len(walls) // 2],
                steps_s=walls, peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                peak_gpu_mib=torch.cuda.max_memory_allocated() / 2**20 if cuda else None)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='a sweep config (configs/*/sweeps/*.py)')
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--size', type=int, nargs=2, default=[416, 544], metavar=('H', 'W'))
    p.add_argument('--iters', type=int, default=2)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--copies', type=int, default=1, help="repeat the sweep's heads this many times")
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--rounds', type=int, default=2, help='alternating single / sweep processes per path')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--clip', default=None, help='JSON dict replacing every CLIP config of both models')
    p.add_argument('--out', default=None)
    p.add_argument('--child', choices=['single', 'sweep'], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print('RESULT ' + json.dumps(_child(args)))
        return 0
    runs = {'single': [], 'sweep': []}
    for rnd in range(args.rounds):  # alternating processes: a changing machine load hits both paths alike
        for path in (('single', 'sweep') if rnd % 2 == 0 else ('sweep', 'single')):
            cmd = [sys.executable, osp.abspath(__file__), args.config, '--child', path, '--batch', str(args.batch),
                   '--size', *map(str, args.size), '--iters', str(args.iters), '--warmup', str(args.warmup),
                   '--copies', str(args.copies), '--device', args.device] + (
                       ['--threads', str(args.threads)] if args.threads else []) + (
                       ['--clip', args.clip] if args.clip else [])
            run = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS='ignore'))
            line = [ln for ln in run.stdout.splitlines() if ln.startswith('RESULT ')]
            if run.returncode or not line:
                sys.exit(f'error: the {path} measurement failed:\n{run.stderr[-3000:]}')
            r = json.loads(line[-1][7:])
            runs[path].append(r)
            print(f"round {rnd + 1} {path}: {r['heads']} head(s), {r['step_s']:.2f} s/step, "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)
    results = {}
    for path, rs in runs.items():
        steps = sorted(s for r in rs for s in r['steps_s'])
        results[path] = dict(rs[0], step_s=steps[len(steps) // 2], steps_s=steps,
                             peak_rss_mib=max(r['peak_rss_mib'] for r in rs),
                             peak_gpu_mib=max((r['peak_gpu_mib'] or 0) for r in rs) or None)
    single, sweep = results['single'], results['sweep']
    k = sweep['heads']
    report = dict(config=args.config, batch=args.batch, size=args.size, iters=args.iters, warmup=args.warmup,
                  cpu_count=os.cpu_count(), results=results, sweep_over_single=sweep['step_s'] / single['step_s'],
                  k_solo_over_sweep=k * single['step_s'] / sweep['step_s'],
                  memory_ratio=sweep['peak_rss_mib'] / single['peak_rss_mib'])
    print(f"{k} variants: sweep step = {report['sweep_over_single']:.2f} x one single-variant step; "
          f"{report['k_solo_over_sweep']:.1f} x faster than {k} solo runs (lower bound); peak memory "
          f"{report['memory_ratio']:.2f} x")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
