"""The benchmark's runs: each measurement (``benchmarks.measure``) in a fresh Python process (so peak memory is
that measurement's own, and a watcher can stop one that outgrows ``--mem-limit-gb``), the reference at a smaller
batch extrapolated to the full one, and the JSON report (``tools/analysis/benchmark.py``)."""
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from typing import Dict, Optional, Sequence

import torch

from .equivalence import SPEEDUPS, build_model, make_batch, prepare_model_cfg, set_speedups
from .measure import measure_inference, measure_interleaved, measure_training, variant_name
from .report import format_line
from .timing import machine_info

__all__ = ['load_model_cfg', 'run_child', 'spawn', 'child_main', 'extrapolate_reference', 'run_benchmark']

#: the repository root: the measuring process imports ``benchmarks`` from here (it is not installed)
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_model_cfg(config: str) -> dict:
    from mmengine.config import Config
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file {config!r} does not exist')
    cfg = Config.fromfile(config)
    if 'model' not in cfg:
        raise ValueError(f'config {config!r} has no `model`')
    return cfg.model


def run_child(spec: dict) -> dict:
    """One measurement in this process (called in a fresh subprocess by ``run_benchmark``)."""
    if spec.get('threads'):
        torch.set_num_threads(int(spec['threads']))
    device = spec.get('device', 'cpu')
    model_cfg = prepare_model_cfg(spec['model_cfg'], spec.get('bins'), spec.get('pretrained', 'none'))
    model = build_model(model_cfg, seed=spec.get('seed', 0), device=device)
    # the plain path is measured with every speed-up off (the configs default to channels_last + share_prefix);
    # the named ones are then switched on
    set_speedups(model, list(SPEEDUPS), False)
    set_speedups(model, spec.get('speedups', ()))
    head = model.decode_head
    inputs, samples = make_batch(spec['batch'], spec['size'], head.min_depth, head.max_depth,
                                 seed=spec.get('seed', 0) + 1, device=device)
    fingerprint = sum(float(p.detach().double().abs().sum()) for p in model.parameters())
    out = dict(kind=spec['kind'], bins=spec.get('bins'), batch=spec['batch'], threads=torch.get_num_threads(),
               weights_fingerprint=fingerprint, speedups=list(spec.get('speedups', ())),
               num_bins=head.text_encoder.num_bins)
    if spec['kind'] == 'interleaved':
        out['paths'] = measure_interleaved(model, inputs, samples, spec['paths'], spec['iters'], spec['warmup'],
                                           spec.get('clip_grads', 'text'), device=device)
    elif spec['kind'] == 'train':
        out.update(measure_training(model, inputs, samples, spec['path'], spec['iters'], spec['warmup'],
                                    spec.get('clip_grads', 'text'), check=spec.get('check', False), device=device,
                                    profile=spec.get('profile', False),
                                    check_variants=spec.get('check_variants', ((), ))))
    else:
        out.update(measure_inference(model, inputs, samples, spec['iters'], spec['warmup'], device,
                                     spec.get('inference_mode', False), spec.get('variants', ((), ))))
    return out


def _watch_rss(proc, limit_bytes, state):
    """Kill ``proc`` if its RSS exceeds ``limit_bytes`` (protects a shared machine)."""
    path = f'/proc/{proc.pid}/status'
    while proc.poll() is None:
        try:
            with open(path) as f:
                rss = next((int(line.split()[1]) * 1024 for line in f if line.startswith('VmRSS:')), 0)
        except (OSError, StopIteration):
            rss = 0
        state['max_rss'] = max(state.get('max_rss', 0), rss)
        if limit_bytes and rss > limit_bytes:
            state['killed'] = True
            proc.kill()
            return
        time.sleep(0.2)


def spawn(spec: dict, mem_limit_gb: Optional[float] = None, log=print, env: Optional[dict] = None) -> dict:
    """Run ``run_child(spec)`` in a fresh Python process; returns its result dict (or an ``error``)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = dict(spec, out_file=osp.join(tmp, 'result.json'))
        spec_file = osp.join(tmp, 'spec.json')
        with open(spec_file, 'w') as f:
            json.dump(spec, f)
        cmd = [sys.executable, '-c', 'import sys; sys.path.insert(0, sys.argv[1]); '
               'from benchmarks.runner import child_main; child_main(sys.argv[2])', REPO, spec_file]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=dict(os.environ, **(env or {})))
        state = {}
        watcher = threading.Thread(target=_watch_rss, args=(proc, (mem_limit_gb or 0) * 1e9, state), daemon=True)
        watcher.start()
        output = proc.communicate()[0]
        watcher.join()
        if state.get('killed'):
            return dict(error=f'killed: RSS exceeded --mem-limit-gb {mem_limit_gb}', max_rss_seen=state['max_rss'])
        if proc.returncode != 0 or not osp.isfile(spec['out_file']):
            tail = '\n'.join(output.strip().splitlines()[-15:])
            return dict(error=f'measurement process failed (exit {proc.returncode}):\n{tail}')
        with open(spec['out_file']) as f:
            return json.load(f)


def child_main(spec_file):
    warnings.filterwarnings('ignore', message='.*RANDOMLY INITIALISED.*')
    with open(spec_file) as f:
        spec = json.load(f)
    result = run_child(spec)
    with open(spec['out_file'], 'w') as f:
        json.dump(result, f)


def extrapolate_reference(small_n: dict, full_others: Dict[int, dict], small_others: Dict[int, dict],
                          batch: int) -> dict:
    """reference(B, N) ~= reference(b, N) + [reference(B, N0) - reference(b, N0)] for every N0 measured at both.

    The text side of a step does not depend on the batch and the image side does not depend on N (the head's
    per-bin tensors are at stride 32), so the batch increment measured at N0 carries over to N; the spread
    over the N0 tells how well that holds.
    """
    est = dict(path='reference', extrapolated=True, batch=batch, measured_batch=small_n['batch'],
               method='reference(B,N) = reference(b,N) + [reference(B,N0) - reference(b,N0)], mean over N0 = '
                      + ', '.join(str(k) for k in sorted(full_others)), measured=small_n)
    for key in ('wall_s', 'cpu_s', 'peak_bytes'):
        deltas = [full_others[k][key] - small_others[k][key] for k in full_others]
        est[key] = small_n[key] + sum(deltas) / len(deltas)
        est[key + '_batch_increment'] = {str(k): d for k, d in zip(full_others, deltas)}
    return est


def run_benchmark(config, bins: Sequence[Optional[int]] = (None, ), batch: int = 16, size=(416, 544),
                  iters: int = 3, warmup: int = 1, reference: bool = False, pretrained='none', device='cpu',
                  reference_batch_for: Optional[Dict[int, int]] = None, inference: bool = True,
                  train: bool = True, clip_grads: str = 'text', rtol: float = 1e-5,
                  mem_limit_gb: Optional[float] = None, threads: Optional[int] = None,
                  inference_mode: bool = False, profile: bool = False, env: Optional[dict] = None,
                  speedups: Sequence[str] = (), interleave: bool = False, log=print,
                  extra_variants: Sequence[Sequence[str]] = ()) -> dict:
    """Measure every requested (bins, path) in its own process; returns the JSON-able report.

    Paths: ``optimised`` (the config as it is), ``optimised+<speed-ups>`` (when ``speedups`` are given; one more
    path per entry of ``extra_variants``) and,
    with ``reference``, the authors' path, each in its own process (time and peak memory). ``interleave`` adds,
    per N, one process that alternates steps of every path (the reference only where it runs at the full batch)
    for times that a changing machine load cannot bias.
    """
    model_cfg = load_model_cfg(config) if isinstance(config, str) else config
    model_cfg = model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else dict(model_cfg)
    speedups = list(speedups)
    extra_variants = [list(v) for v in extra_variants]
    for name in speedups + [n for v in extra_variants for n in v]:
        if name not in SPEEDUPS:
            raise ValueError(f'unknown speed-up {name!r}; expected one of {sorted(SPEEDUPS)}')
    variants = [[]] + ([speedups] if speedups else []) + extra_variants
    reference_batch_for = {int(k): int(v) for k, v in (reference_batch_for or {}).items()}
    common = dict(model_cfg=model_cfg, size=list(size), iters=iters, warmup=warmup, pretrained=pretrained,
                  device=device, clip_grads=clip_grads, threads=threads, inference_mode=inference_mode,
                  profile=profile)
    report = dict(config=config if isinstance(config, str) else '<dict>', machine=machine_info(device),
                  settings=dict(batch=batch, size=list(size), iters=iters, warmup=warmup, device=device,
                                pretrained=pretrained, clip_grads=clip_grads, rtol=rtol, threads=threads,
                                speedups=speedups, reference_batch_for=reference_batch_for, env=env or {}),
                  rows=[])
    failures = []

    def measure(**kw):
        spec = dict(common, **kw)
        what = kw.get('path', variant_name(kw.get('speedups', ()))) if kw['kind'] == 'train' else ''
        desc = f"{kw['kind']:11s} bins={kw.get('bins')} {what} batch={kw['batch']}"
        log(f'[benchmark] {desc} ... (available memory {_available_gb()} GB, load {_load()})')
        t = time.perf_counter()
        r = spawn(spec, mem_limit_gb, log, env)
        r['load_after'] = _load()
        log(f'[benchmark] {desc} done in {time.perf_counter() - t:.0f}s: '
            + (r['error'] if 'error' in r else format_line(r)))
        return r

    small_ref = {}   # N -> result at the small batch
    for n in bins:
        row = dict(bins=n, paths={})
        if train:
            for names in variants:
                row['paths'][variant_name(names)] = measure(kind='train', bins=n, path='optimised', batch=batch,
                                                            speedups=names)
            if reference:
                b = reference_batch_for.get(n, batch)
                r = measure(kind='train', bins=n, path='reference', batch=b, check=True, check_variants=variants)
                if b != batch and 'error' not in r:
                    small_ref[n] = r
                row['paths']['reference'] = r
                if 'equivalence' in r:
                    row['equivalence'] = {}
                    for name, eq in r['equivalence'].items():
                        row['equivalence'][name] = dict(eq, batch=b, rtol=rtol, passed=eq['max_rel_diff'] <= rtol)
                        if not eq['max_rel_diff'] <= rtol:
                            failures.append(f'bins={n} {name}: max rel diff {eq["max_rel_diff"]:.3g} > {rtol:g}')
        if interleave:
            paths = list(variants)
            if reference and reference_batch_for.get(n, batch) == batch:
                paths.append('reference')
            if len(paths) > 1:
                row['interleaved'] = measure(kind='interleaved', bins=n, batch=batch, paths=paths)
        if inference:
            row['inference'] = measure(kind='inference', bins=n, batch=batch, variants=variants)
        if n is None:
            row['bins'] = next((r.get('num_bins') for r in [*row['paths'].values(), row.get('inference', {})]
                                if r.get('num_bins')), None)
        report['rows'].append(row)

    # reference rows measured at a smaller batch: extrapolate with the batch increment of the other bins
    for n, r in small_ref.items():
        b = r['batch']
        full = {row['bins']: row['paths']['reference'] for row in report['rows']
                if row['bins'] != n and 'reference' in row['paths']
                and row['paths']['reference'].get('batch') == batch and 'error' not in row['paths']['reference']}
        if not full:
            log(f'[benchmark] cannot extrapolate bins={n}: no other bins measured at batch {batch}')
            continue
        small = {n0: measure(kind='train', bins=n0, path='reference', batch=b) for n0 in full}
        small = {k: v for k, v in small.items() if 'error' not in v}
        full = {k: v for k, v in full.items() if k in small}
        if full:
            row = next(row for row in report['rows'] if row['bins'] == n)
            row['paths']['reference'] = extrapolate_reference(r, full, small, batch)
    if failures:
        report['equivalence_failures'] = failures
    return report


def _available_gb():
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return round(int(line.split()[1]) / 1e6, 1)
    except OSError:
        pass
    return None


def _load():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None
