"""Benchmark the prompt-learning training step and inference against the authors' reference path.

    python tools/analysis/benchmark.py CONFIG [--bins N ...] [--batch B] [--size H W] [--iters K] [--warmup W]
        [--reference] [--reference-batch-for N=b ...] [--pretrained none] [--out JSON] [--device cpu|cuda]

For each N in --bins the model is built from CONFIG with ``depth_tokens='learned-N'`` (random CLIP weights unless
--pretrained says otherwise) and, each in a fresh process (so peak memory is that measurement's own):

* the optimised training step (the package's path) - median step time after warm-up, peak memory;
* with --reference, the authors' training step (77 positions, no text cache, no autograd through the frozen
  image trunk, text-tower weight gradients computed, BN as configured) on the same weights and batch, after asserting that both give the same loss and token
  gradients (relative difference <= --rtol);
* inference: ``model.predict`` images/s in ``whole`` and ``whole_flip`` modes against the bare CLIP image
  trunk (stem .. layer4) on the same input;
* with --speedups, the optimised path again with those opt-in speed-ups (each checked against the reference);
* with --interleave, all paths timed in one process, one step of each in turn (fair when the load changes).

``--reference-batch-for 256=4`` measures the reference for N=256 at batch 4 only (it would need too much memory
at the full batch) and extrapolates to the full batch with the batch increment measured at the other N
(see ``benchmarks.runner.extrapolate_reference``); such rows are labelled "extrapolated".
Prints markdown tables and writes the JSON report (--out). Exit status 1 when an equivalence check fails.
"""
import argparse
import json
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)  # benchmarks/ (development code at the repository root, not installed)
from benchmarks.report import format_table  # noqa: E402
from benchmarks.runner import run_benchmark  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config', help='model config (e.g. configs/clipdepth/nyu_baseline_learned7.py)')
    p.add_argument('--bins', type=int, nargs='+', default=None,
                   help="number(s) of learned depth tokens: sets depth_tokens='learned-N' (default: the config's)")
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--size', type=int, nargs=2, default=[416, 544], metavar=('H', 'W'))
    p.add_argument('--iters', type=int, default=3, help='timed steps (median reported)')
    p.add_argument('--warmup', type=int, default=1, help='untimed steps first')
    p.add_argument('--reference', action='store_true', help="also measure the authors' reference path")
    p.add_argument('--reference-batch-for', nargs='+', default=[], metavar='N=b',
                   help='measure the reference for N bins at batch b and extrapolate to --batch')
    p.add_argument('--clip-grads', choices=['text', 'all', 'input'], default='text',
                   help="reference autograd: 'text' = the authors' step (no graph through the image trunk; text "
                        "tower weights require grad), 'all' = autograd through the trunk too (NOT the authors' "
                        "step), 'input' = frozen CLIP, the input requires grad")
    p.add_argument('--pretrained', default='none',
                   help="'none' (random CLIP weights, default), 'config' (the config's) or a tag / local path")
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--threads', type=int, default=None, help='torch.set_num_threads in each measurement')
    p.add_argument('--no-inference', action='store_true', help='skip the inference timing')
    p.add_argument('--no-train', action='store_true', help='skip the training-step timing')
    p.add_argument('--inference-mode', action='store_true', help='time inference under torch.inference_mode')
    p.add_argument('--variant', nargs='+', action='append', default=[], dest='extra_variants',
                   choices=['channels_last', 'share_prefix', 'native_nhwc_bn'], metavar='SPEEDUP',
                   help='one more optimised path with these speed-ups (repeatable), e.g. --variant channels_last '
                        "share_prefix native_nhwc_bn for torch's float32 NHWC BatchNorm statistics")
    p.add_argument('--speedups', nargs='+', default=[], choices=['channels_last', 'share_prefix'],
                   help='also measure the optimised path with these opt-in speed-ups (same maths, equal up to '
                        'float rounding; each is checked against the reference too); inference uses them')
    p.add_argument('--interleave', action='store_true',
                   help='also time all paths in one process, alternating steps (fair on a shared machine)')
    p.add_argument('--omp-passive', action='store_true',
                   help='OMP_WAIT_POLICY=PASSIVE in the measuring processes (robust timings on a shared CPU: '
                        'spinning OpenMP threads collapse when another process takes a core)')
    p.add_argument('--profile', action='store_true',
                   help='profile one extra training step per measurement (torch.profiler; top ops in the JSON)')
    p.add_argument('--rtol', type=float, default=1e-5, help='equivalence tolerance (relative)')
    p.add_argument('--mem-limit-gb', type=float, default=None,
                   help='kill a measurement whose RSS exceeds this (protects a shared machine)')
    p.add_argument('--out', default=None, help='write the JSON report here')
    args = p.parse_args(argv)
    if not osp.isfile(args.config):
        p.error(f'config file {args.config} does not exist')
    ref_batch = {}
    for item in args.reference_batch_for:
        try:
            n, b = item.split('=')
            ref_batch[int(n)] = int(b)
        except ValueError:
            p.error(f'--reference-batch-for expects N=b (e.g. 256=4), got {item!r}')
    args.reference_batch_for = ref_batch
    if args.device == 'cuda':
        import torch
        if not torch.cuda.is_available():
            p.error('--device cuda but torch.cuda.is_available() is False')
    return args


def main(argv=None):
    args = parse_args(argv)
    report = run_benchmark(
        args.config, bins=args.bins or [None], batch=args.batch, size=args.size, iters=args.iters,
        warmup=args.warmup, reference=args.reference, pretrained=args.pretrained, device=args.device,
        reference_batch_for=args.reference_batch_for, inference=not args.no_inference, train=not args.no_train,
        clip_grads=args.clip_grads, rtol=args.rtol, mem_limit_gb=args.mem_limit_gb, threads=args.threads,
        inference_mode=args.inference_mode, profile=args.profile, speedups=args.speedups, interleave=args.interleave,
        extra_variants=args.extra_variants,
        env=dict(OMP_WAIT_POLICY='PASSIVE') if args.omp_passive else None, log=lambda s: print(s, flush=True))
    report['command'] = 'python tools/analysis/benchmark.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    print(format_table(report))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)
        print(f'wrote {args.out}')
    if report.get('equivalence_failures'):
        print('EQUIVALENCE CHECK FAILED: ' + '; '.join(report['equivalence_failures']), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
