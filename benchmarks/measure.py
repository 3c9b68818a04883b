"""Measuring harness of ``tools/analysis/benchmark.py``: training-step and inference timings, peak memory in
fresh processes, interleaved measurements, the report and its tables (results: docs/performance.md). The paths
it compares are in ``mmclipdepth.testing`` (``equivalence``: the package's step and its speed-ups;
``authors_step``: the authors' step)."""
import contextlib
import copy
import json
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmclipdepth.testing.authors_step import ReferencePrompts, _clear_clip_grads, _clip_of, reference_autograd, reference_loss
from mmclipdepth.testing.equivalence import (SPEEDUPS, assert_equivalent, build_model, check_equivalence,
                                             learnable_params, make_batch, optimised_loss, prepare_model_cfg,
                                             set_speedups, speedups_enabled)

# ----------------------------------------------------------------------------------------------- measuring
def _sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def _rss_bytes() -> int:
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except OSError:
        return 0


def _peak_rss_bytes() -> int:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    scale = 1 if sys.platform == 'darwin' else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _timed(fn, device):
    _sync(device)
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - t, time.process_time() - c


def _summary(walls, cpus, skip):
    w, c = walls[skip:], cpus[skip:]
    return dict(wall_s=statistics.median(w) if w else None, cpu_s=statistics.median(c) if c else None,
                wall_all_s=[round(x, 3) for x in walls], cpu_all_s=[round(x, 3) for x in cpus], timed=len(w))


def _memory_start(device):
    if str(device).startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    return _rss_bytes()


def _memory_peak(device):
    if str(device).startswith('cuda'):
        return dict(peak_bytes=torch.cuda.max_memory_allocated(), kind='cuda max_memory_allocated')
    return dict(peak_bytes=_peak_rss_bytes(), kind='peak RSS (VmHWM) of the measuring process')


#: training-step precisions: name -> (autocast dtype or None, TF32 matmul/cuDNN, loss scaling)
PRECISIONS = dict(fp32=(None, False, False), tf32=(None, True, False), bf16=(torch.bfloat16, False, False),
                  fp16=(torch.float16, False, True))


def precision_unsupported(precision: str, device) -> Optional[str]:
    """Why ``precision`` cannot run on ``device`` (None when it can)."""
    if precision not in PRECISIONS:
        raise ValueError(f'unknown precision {precision!r}; expected one of {sorted(PRECISIONS)}')
    cuda = str(device).startswith('cuda')
    if precision == 'tf32':
        if not cuda:
            return 'TF32 is a CUDA tensor-core mode (Ampere or newer); not on ' + str(device)
        if torch.cuda.get_device_capability()[0] < 8:
            return f'TF32 needs compute capability >= 8.0, {torch.cuda.get_device_name()} has ' \
                   f'{torch.cuda.get_device_capability()}'
    if precision == 'bf16' and cuda and not torch.cuda.is_bf16_supported():
        return f'{torch.cuda.get_device_name()} does not support bfloat16'
    return None


@contextlib.contextmanager
def precision_context(precision: str, device):
    """Autocast (bf16 / fp16) or the TF32 switches of ``PRECISIONS`` while inside; previous state after."""
    dtype, tf32, _ = PRECISIONS[precision]
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    try:
        with (torch.autocast(str(device).split(':')[0], dtype=dtype) if dtype is not None
              else contextlib.nullcontext()):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def measure_training(model: nn.Module, inputs: Tensor, data_samples, path: str, iters: int = 3, warmup: int = 1,
                     clip_grads: str = 'text', check: bool = False, lr: float = 3.57e-4, max_norm: float = 0.1,
                     device='cpu', profile: bool = False, check_variants: Sequence[Sequence[str]] = ((), ),
                     precision: str = 'fp32') -> dict:
    """Time ``warmup + iters`` training steps of one path; peak memory over them.

    A step: forward + SILog loss + backward + grad-norm clip + AdamW step (only the learned tokens are in the
    optimiser). With ``check`` (reference path) the first warm-up step is ``check_equivalence`` (optimised and
    reference loss and gradients on this batch; once per entry of ``check_variants``, a list of ``SPEEDUPS``
    switched on for the optimised side), followed by the optimiser step on the reference gradients.
    ``precision`` (``PRECISIONS``): the forward and backward under autocast / TF32; fp16 with a ``GradScaler``
    (loss scaling, gradients unscaled before clipping).
    """
    if check and precision != 'fp32':
        raise ValueError(f'the equivalence check runs in fp32, got precision={precision!r} (see precision_deviation)')
    base = _memory_start(device)
    params = learnable_params(model)
    opt = torch.optim.AdamW(params.values(), lr=lr, betas=(0.95, 0.999), weight_decay=0.1)
    prompts = ReferencePrompts(model) if path == 'reference' else None
    walls, cpus, result = [], [], dict(path=path, precision=precision)
    scaler = torch.amp.GradScaler(str(device).split(':')[0]) if PRECISIONS[precision][2] else None

    def backward(loss):
        (scaler.scale(loss) if scaler is not None else loss).backward()

    def finish_step():
        if scaler is not None:
            scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)

    def opt_step():
        with precision_context(precision, device):
            loss = optimised_loss(model, inputs, data_samples)
        backward(loss)
        finish_step()

    def ref_step():
        with reference_autograd(model, clip_grads):
            with precision_context(precision, device):
                loss = reference_loss(model, inputs, data_samples, prompts, clip_grads)
            backward(loss)
            _clear_clip_grads(model)
        finish_step()

    n_steps = warmup + iters
    if check and path == 'reference':
        def check_step():
            results = {}
            for i, names in enumerate(check_variants):
                with speedups_enabled(model, names):
                    results[variant_name(names)] = check_equivalence(
                        model, inputs, data_samples, prompts, clip_grads,
                        keep_reference_grads=i == len(check_variants) - 1)
            finish_step()
            return results
        result['equivalence'], w, c = _timed(check_step, device)
        result['check_step_wall_s'], result['check_step_cpu_s'] = w, c
        n_steps -= 1
        warmup = max(0, warmup - 1)
    step = ref_step if path == 'reference' else opt_step
    for _ in range(n_steps):
        _, w, c = _timed(step, device)
        walls.append(w), cpus.append(c)
    result.update(_summary(walls, cpus, warmup))
    result.update(_memory_peak(device))
    result['base_bytes'] = base
    if profile:
        result['profile'] = profile_step(step, device)
    return result


def precision_deviation(model: nn.Module, inputs: Tensor, data_samples, precision: str, device='cpu') -> dict:
    """Loss and token gradients of the package's step under ``precision`` against fp32, same weights and batch
    (BatchNorm buffers restored after each): ``loss_rel_diff``, ``grad_rel_diff`` per parameter
    (``||g_p - g_fp32|| / ||g_fp32||``), ``max_rel_diff`` (inf when any of them is not finite). fp16 gradients
    are computed with loss scaling as a GradScaler step would: from 2**16, halved while the scaled gradients
    overflow (``loss_scale``: the scale that gave finite ones, ``overflow_backoffs``: how many halvings)."""
    import math

    from mmclipdepth.testing.equivalence import _rel
    params = learnable_params(model)
    saved = {n: b.detach().clone() for n, b in model.named_buffers()}

    def run(p, scale):
        for t in params.values():
            t.grad = None
        with precision_context(p, device):
            loss = optimised_loss(model, inputs, data_samples)
        (loss.float() * scale).backward()
        grads = {n: t.grad.detach().float() / scale for n, t in params.items()}
        for t in params.values():
            t.grad = None
        with torch.no_grad():
            for n, b in model.named_buffers():
                b.copy_(saved[n])
        return loss.detach().float(), grads

    def finite(loss, grads):
        return bool(torch.isfinite(loss)) and all(bool(torch.isfinite(g).all()) for g in grads.values())

    loss32, grads32 = run('fp32', 1.0)
    scale, backoffs = (2.0 ** 16 if PRECISIONS[precision][2] else 1.0), 0
    loss_p, grads_p = run(precision, scale)
    while PRECISIONS[precision][2] and not finite(loss_p, grads_p) and scale > 1.0:
        scale, backoffs = scale / 2, backoffs + 1  # GradScaler's backoff factor on an overflowing step
        loss_p, grads_p = run(precision, scale)
    grad_rel = {n: _rel(grads_p[n], grads32[n]) for n in params}
    loss_rel = abs(loss_p.item() - loss32.item()) / max(abs(loss32.item()), 1e-30)
    values = [loss_rel] + list(grad_rel.values())
    out = dict(loss_fp32=loss32.item(), loss=loss_p.item(), loss_rel_diff=loss_rel, grad_rel_diff=grad_rel,
               max_rel_diff=max(values) if all(math.isfinite(v) for v in values) else math.inf,
               finite=finite(loss_p, grads_p))
    if PRECISIONS[precision][2]:
        out.update(loss_scale=scale, overflow_backoffs=backoffs)
    return out


#: operator families for the profile summary (self time): image trunk, text transformer, the rest
_OP_FAMILIES = (
    ('image trunk (conv, batch norm, pool, relu)', ('conv', 'batch_norm', 'pool', 'relu', 'clamp_min')),
    ('matmul (text transformer, head, backward)', ('addmm', 'mm', 'bmm', 'linear', 'matmul', 'einsum',
                                                   'attention', 'softmax', 'gelu', 'layer_norm', 'baddbmm')),
)


def profile_step(step, device='cpu', rows: int = 20) -> dict:
    """One more step under ``torch.profiler``: the top operators by self time and the share of each family."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if str(device).startswith('cuda') else [])
    with profile(activities=acts) as prof:
        step()
        _sync(device)
    events = prof.key_averages()
    cuda = str(device).startswith('cuda')
    key = 'self_cuda_time_total' if cuda else 'self_cpu_time_total'
    tot = sum(getattr(e, key, 0) for e in events) or 1
    fam = {name: 0.0 for name, _ in _OP_FAMILIES}
    fam['other'] = 0.0
    for e in events:
        t = getattr(e, key, 0)
        lname = e.key.lower()
        for name, words in _OP_FAMILIES:
            if any(w in lname for w in words):
                fam[name] += t
                break
        else:
            fam['other'] += t
    top = sorted(events, key=lambda e: getattr(e, key, 0), reverse=True)[:rows]
    return dict(total_self_s=tot / 1e6, family_share={k: v / tot for k, v in fam.items()},
                top=[dict(op=e.key, self_s=getattr(e, key, 0) / 1e6, calls=e.count) for e in top])


def variant_name(names: Sequence[str]) -> str:
    return 'optimised' + ''.join('+' + n for n in names)


def _bare_trunk(visual: nn.Module, x: Tensor) -> Tensor:
    x = visual.stem(x)
    return visual.layer4(visual.layer3(visual.layer2(visual.layer1(x))))


def measure_inference(model: nn.Module, inputs: Tensor, data_samples, iters: int = 3, warmup: int = 1,
                      device='cpu', inference_mode: bool = False,
                      variants: Sequence[Sequence[str]] = ((), )) -> dict:
    """Images/s of ``model.predict`` in ``whole`` and ``whole_flip`` test modes (for each variant: a list of
    ``SPEEDUPS``) and of the bare CLIP image trunk (stem .. layer4, no attention pool; also on a channels-last
    input when a variant uses channels_last) on the same input, eval mode, under ``no_grad`` (mmengine's test
    loop). All runs are interleaved, in rotating order, per repetition, so a change in machine load hits them
    alike. Text features come from the encoder's cache. ``inference_mode`` adds ``whole`` runs under
    ``torch.inference_mode``."""
    model.eval()
    visual = model.backbone.visual
    test_cfg = model.test_cfg
    old_mode = test_cfg.get('mode', 'whole')
    n = inputs.shape[0]
    runs = dict(trunk=lambda: _bare_trunk(visual, inputs))
    if any('channels_last' in v for v in variants):
        inputs_cl = inputs.contiguous(memory_format=torch.channels_last)
        runs['trunk_channels_last'] = lambda: _bare_trunk(visual, inputs_cl)

    def predict(names, mode, ctx=contextlib.nullcontext):
        def run():
            test_cfg['mode'] = mode
            with speedups_enabled(model, names), ctx():
                return model.predict(inputs, data_samples)
        return run

    for names in variants:
        v = variant_name(names)
        runs[f'whole:{v}'] = predict(names, 'whole')
        runs[f'whole_flip:{v}'] = predict(names, 'whole_flip')
        if inference_mode:
            runs[f'whole_inference_mode:{v}'] = predict(names, 'whole', torch.inference_mode)
    keys = list(runs)
    walls = {k: [] for k in keys}
    cpus = {k: [] for k in keys}
    with torch.no_grad():
        for rep in range(warmup + iters):
            for k in keys[rep % len(keys):] + keys[:rep % len(keys)]:
                _, w, c = _timed(runs[k], device)
                walls[k].append(w), cpus[k].append(c)
    test_cfg['mode'] = old_mode
    out = {k: _summary(walls[k], cpus[k], warmup) for k in keys}
    for k in keys:
        out[k]['images_per_s'] = n / out[k]['wall_s']
    ratios = {}
    for names in variants:
        v = variant_name(names)
        for trunk in ('trunk', 'trunk_channels_last'):
            if trunk not in out:
                continue
            t = out[trunk]
            # flip TTA runs the trunk on 2B images: its floor is twice the bare trunk
            ratios[f'{v} / {trunk}'] = dict(
                whole_wall=out[f'whole:{v}']['wall_s'] / t['wall_s'], whole_cpu=out[f'whole:{v}']['cpu_s'] / t['cpu_s'],
                flip_wall=out[f'whole_flip:{v}']['wall_s'] / (2 * t['wall_s']),
                flip_cpu=out[f'whole_flip:{v}']['cpu_s'] / (2 * t['cpu_s']))
    out['ratios'] = ratios
    return out


def measure_interleaved(model: nn.Module, inputs: Tensor, data_samples, paths: Sequence, iters: int = 3,
                        warmup: int = 1, clip_grads: str = 'text', lr: float = 3.57e-4, max_norm: float = 0.1,
                        device='cpu') -> dict:
    """Training-step times of several paths in one process, one step of each per round, in rotating order, so
    that a changing machine load hits them alike (the fair way to compare times on a shared machine; peak memory
    needs a process per path, ``measure_training``). ``paths``: lists of ``SPEEDUPS`` (optimised variants) and/or
    ``'reference'``."""
    params = learnable_params(model)
    opt = torch.optim.AdamW(params.values(), lr=lr, betas=(0.95, 0.999), weight_decay=0.1)
    prompts = ReferencePrompts(model) if 'reference' in paths else None

    def make(path):
        def step():
            if path == 'reference':
                with reference_autograd(model, clip_grads):
                    reference_loss(model, inputs, data_samples, prompts, clip_grads).backward()
            else:
                with speedups_enabled(model, path):
                    optimised_loss(model, inputs, data_samples).backward()
            torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    steps = {(p if p == 'reference' else variant_name(p)): make(p) for p in paths}
    keys = list(steps)
    walls = {k: [] for k in keys}
    cpus = {k: [] for k in keys}
    for rnd in range(warmup + iters):
        for k in keys[rnd % len(keys):] + keys[:rnd % len(keys)]:
            _, w, c = _timed(steps[k], device)
            walls[k].append(w), cpus[k].append(c)
    return {k: _summary(walls[k], cpus[k], warmup) for k in keys}


# ----------------------------------------------------------------------------------------------- subprocesses
def _load_model_cfg(config: str) -> dict:
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
        cmd = [sys.executable, osp.abspath(__file__), '--child', spec_file]
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


def _child_main(spec_file):
    warnings.filterwarnings('ignore', message='.*RANDOMLY INITIALISED.*')
    with open(spec_file) as f:
        spec = json.load(f)
    result = run_child(spec)
    with open(spec['out_file'], 'w') as f:
        json.dump(result, f)


# ----------------------------------------------------------------------------------------------- orchestration
def machine_info(device='cpu') -> dict:
    info = dict(platform=platform.platform(), python=platform.python_version(), torch=torch.__version__,
                cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads())
    try:
        with open('/proc/cpuinfo') as f:
            info['cpu'] = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), '')
        with open('/proc/meminfo') as f:
            info['mem_total_gb'] = round(int(f.readline().split()[1]) / 1e6, 1)
    except OSError:
        pass
    if str(device).startswith('cuda') and torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    return info


def _extrapolate(small_n: dict, full_others: Dict[int, dict], small_others: Dict[int, dict], batch: int) -> dict:
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
    model_cfg = _load_model_cfg(config) if isinstance(config, str) else config
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
            + (r['error'] if 'error' in r else _one_line(r)))
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
            row['paths']['reference'] = _extrapolate(r, full, small, batch)
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


def _one_line(r):
    if r.get('kind') == 'inference':
        return ', '.join(f"{k} {v['images_per_s']:.3f} img/s" for k, v in r.items()
                         if isinstance(v, dict) and 'images_per_s' in v)
    if r.get('kind') == 'interleaved':
        return ', '.join(f"{k} {v['wall_s']:.2f}s wall / {v['cpu_s']:.2f}s cpu" for k, v in r['paths'].items())
    s = f"step {r['wall_s']:.2f}s wall / {r['cpu_s']:.2f}s cpu, peak {r['peak_bytes'] / 1e9:.2f} GB"
    for name, eq in (r.get('equivalence') or {}).items():
        s += f", {name} vs reference: max rel diff {eq['max_rel_diff']:.2e}"
    return s


def format_table(report: dict) -> str:
    """Markdown tables (training step per process, interleaved step times, inference) from ``run_benchmark``."""
    lines = ['| bins | path | batch | step wall s (median) | step CPU s (median) | peak memory GiB | '
             'reference / this: time (wall, CPU) | reference / this: memory | vs reference: max rel diff |',
             '|---|---|---|---|---|---|---|---|---|']
    for row in report['rows']:
        paths = row.get('paths', {})
        ref = paths.get('reference')
        ref_ok = ref is not None and 'error' not in ref
        for name, r in paths.items():
            if 'error' in r:
                lines.append(f"| {row['bins']} | {name} | {r.get('batch', '')} | {r['error'].splitlines()[0]} "
                             '| | | | | |')
                continue
            batch = r['batch'] if not r.get('extrapolated') else \
                f"{r['batch']} (extrapolated from {r['measured_batch']})"
            cols = ['', '', '']
            if name != 'reference' and ref_ok:
                cols[0] = f"{ref['wall_s'] / r['wall_s']:.2f}x, {ref['cpu_s'] / r['cpu_s']:.2f}x"
                cols[1] = f"{ref['peak_bytes'] / r['peak_bytes']:.2f}x"
            eq = (row.get('equivalence') or {}).get(name)
            if eq is not None:
                cols[2] = f"{eq['max_rel_diff']:.1e} (batch {eq['batch']})"
            lines.append(f"| {row['bins']} | {name} | {batch} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
                         f"{r['peak_bytes'] / 2**30:.2f} | " + ' | '.join(cols) + ' |')
    if not any(row.get('paths') for row in report['rows']):
        lines = []
    inter = [row for row in report['rows'] if 'interleaved' in row]
    if inter:
        lines += ['' if lines else '', '| bins | path (steps interleaved in one process) | step wall s | step CPU s | '
                  'reference / this (wall, CPU) | optimised / this (wall, CPU) |', '|---|---|---|---|---|---|']
        for row in inter:
            r = row['interleaved']
            if 'error' in r:
                lines.append(f"| {row['bins']} | {r['error'].splitlines()[0]} | | | | |")
                continue
            ref, base = r['paths'].get('reference'), r['paths'].get('optimised')
            for name, t in r['paths'].items():
                rr = f"{ref['wall_s'] / t['wall_s']:.2f}x, {ref['cpu_s'] / t['cpu_s']:.2f}x" if ref else ''
                bb = f"{base['wall_s'] / t['wall_s']:.2f}x, {base['cpu_s'] / t['cpu_s']:.2f}x" if base else ''
                lines.append(f"| {row['bins']} | {name} | {t['wall_s']:.2f} | {t['cpu_s']:.2f} | {rr} | {bb} |")
    inf = [row for row in report['rows'] if 'inference' in row]
    if inf:
        lines += ['', '| bins | run | img/s | time / bare trunk (wall, CPU) | time / channels-last trunk (wall, CPU) |',
                  '|---|---|---|---|---|']
        for row in inf:
            r = row['inference']
            if 'error' in r:
                lines.append(f"| {row['bins']} | {r['error'].splitlines()[0]} | | | |")
                continue
            for k, v in r.items():
                if not isinstance(v, dict) or 'images_per_s' not in v:
                    continue
                cols = []
                for trunk in ('trunk', 'trunk_channels_last'):
                    t = r.get(trunk)
                    if t is None:
                        cols.append('')
                        continue
                    f = 2 if k.startswith('whole_flip') else 1  # flip runs the trunk on 2B images
                    cols.append(f"{v['wall_s'] / (f * t['wall_s']):.3f}, {v['cpu_s'] / (f * t['cpu_s']):.3f}"
                                + (' (vs 2x)' if f == 2 else ''))
                lines.append(f"| {row['bins']} | {k} | {v['images_per_s']:.3f} | " + ' | '.join(cols) + ' |')
    return '\n'.join(lines)


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--child':
        _child_main(sys.argv[2])
    else:
        sys.exit('usage: python tools/analysis/benchmark.py CONFIG ... (this module is its harness)')

