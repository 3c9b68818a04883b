"""Measuring the training step (the package's path, its speed-ups and the authors' step, ``benchmarks.equivalence``
and ``benchmarks.authors_step``) and inference, in one process: step times, peak memory, the equivalence check
on the first step, interleaved paths (``tools/analysis/benchmark.py``; results: docs/performance.md)."""
import contextlib
from typing import Sequence

import torch
from torch import Tensor, nn

from .authors_step import ReferencePrompts, clear_clip_grads, reference_autograd, reference_loss
from .equivalence import check_equivalence, learnable_params, optimised_loss, speedups_enabled
from .precision import PRECISIONS, precision_context
from .timing import memory_peak, memory_start, profile_step, summary, timed

__all__ = ['measure_training', 'measure_inference', 'measure_interleaved', 'variant_name']


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
    base = memory_start(device)
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
            clear_clip_grads(model)
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
        result['equivalence'], w, c = timed(check_step, device)
        result['check_step_wall_s'], result['check_step_cpu_s'] = w, c
        if warmup > 0:  # the check step stands in for one warm-up step; never for a timed one
            n_steps -= 1
            warmup -= 1
    step = ref_step if path == 'reference' else opt_step
    for _ in range(n_steps):
        _, w, c = timed(step, device)
        walls.append(w), cpus.append(c)
    result.update(summary(walls, cpus, warmup))
    result.update(memory_peak(device))
    result['base_bytes'] = base
    if profile:
        result['profile'] = profile_step(step, device)
    return result


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
                _, w, c = timed(runs[k], device)
                walls[k].append(w), cpus[k].append(c)
    test_cfg['mode'] = old_mode
    out = {k: summary(walls[k], cpus[k], warmup) for k in keys}
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
            _, w, c = timed(steps[k], device)
            walls[k].append(w), cpus[k].append(c)
    return {k: summary(walls[k], cpus[k], warmup) for k in keys}
