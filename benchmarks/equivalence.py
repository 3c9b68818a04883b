"""The package's training step against the authors' (``authors_step``): same weights, same batch; the speed-up
options of the package's path; model and batch builders for such comparisons (tests and the benchmark)."""
import contextlib
import copy
import warnings
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from .authors_step import ReferencePrompts, clip_grad_flags, clip_of, reference_autograd, reference_loss

__all__ = ['SPEEDUPS', 'set_speedups', 'speedups_enabled', 'prepare_model_cfg', 'build_model', 'make_batch',
           'learnable_params', 'optimised_loss', 'check_equivalence', 'assert_equivalent',
           'float64_envelope', 'reference_backward_chunked', 'ENVELOPE_VARIANTS', 'rel_diff']

#: opt-in speed-ups of the optimised path (same maths, equal up to float rounding): name -> (module, attribute)
SPEEDUPS = {
    'channels_last': ('backbone', 'channels_last'),  # CLIPPromptBackbone: NHWC trunk (oneDNN, no reorders)
    'share_prefix': ('decode_head.text_encoder', 'share_prefix'),  # common prompt start encoded once
    # torch's float32 NHWC BatchNorm statistics instead of the exact blocked ones (faster, ~14x the rounding)
    'native_nhwc_bn': ('backbone', 'native_nhwc_bn'),
}


def set_speedups(model: nn.Module, names: Sequence[str], on: bool = True) -> dict:
    """Switch the named ``SPEEDUPS`` on (or off) on a built model; returns the previous values."""
    previous = {}
    for name in names:
        if name not in SPEEDUPS:
            raise ValueError(f'unknown speed-up {name!r}; expected one of {sorted(SPEEDUPS)}')
        path, attr = SPEEDUPS[name]
        module = model
        for part in path.split('.'):
            module = getattr(module, part)
        if not hasattr(module, attr):
            raise ValueError(f'{type(module).__name__} has no {attr!r} option (speed-up {name!r})')
        previous[name] = getattr(module, attr)
        setattr(module, attr, on if not isinstance(on, dict) else on[name])
    return previous


@contextlib.contextmanager
def speedups_enabled(model: nn.Module, names: Sequence[str]):
    """The named ``SPEEDUPS`` on while inside, previous values restored after."""
    previous = set_speedups(model, names, True)
    try:
        yield model
    finally:
        set_speedups(model, list(previous), previous)



# ----------------------------------------------------------------------------------------------- building
def prepare_model_cfg(model_cfg: dict, num_bins: Optional[int] = None, pretrained='none') -> dict:
    """A copy of ``model_cfg`` with ``depth_tokens='learned-N'``, the CLIP weights overridden and
    ``test_cfg.allow_untrained=True`` (the tokens are random on purpose).

    ``pretrained``: ``'none'`` (random weights, the default for timing), ``'config'`` (keep the config's) or a
    tag / checkpoint path.
    """
    cfg = copy.deepcopy(model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else dict(model_cfg))
    head = cfg.get('decode_head') or {}
    text = head.get('text_encoder')
    if head.get('type') != 'BinWeightedDepthHead' or not isinstance(text, dict):
        raise ValueError('the benchmark needs a model with decode_head.type=BinWeightedDepthHead and a '
                         f"text_encoder dict, got decode_head.type={head.get('type')!r}")
    if num_bins is not None:
        if int(num_bins) < 1:
            raise ValueError(f'--bins must be >= 1, got {num_bins}')
        text['depth_tokens'] = f'learned-{int(num_bins)}'
        if not isinstance(head.get('bins', 'linear'), str) or head.get('bins', 'linear') == 'depthclip':
            head['bins'] = 'linear'  # a fixed list of centres cannot follow N
    if pretrained != 'config':
        value = None if pretrained in (None, 'none', 'None') else pretrained
        if isinstance(cfg.get('clip'), dict):
            cfg['clip']['pretrained'] = value
    # timing measures randomly initialised tokens on purpose: the estimator's untrained-weights refusal is off
    cfg['test_cfg'] = dict(cfg.get('test_cfg') or {}, allow_untrained=True)
    return cfg


def build_model(model_cfg: dict, seed: int = 0, device: str = 'cpu') -> nn.Module:
    """Build the estimator with a fixed seed (random CLIP weights and tokens are reproducible), train mode."""
    import mmclipdepth  # noqa: F401  (registers the components)
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*RANDOMLY INITIALISED.*')
        model = MODELS.build(model_cfg)
    return model.to(device).train()


def make_batch(batch: int, size: Sequence[int], min_depth: float, max_depth: float, seed: int = 0,
               device='cpu', invalid_fraction: float = 0.1):
    """Normalised random images (B, 3, H, W) and data samples with ``gt_depth_map`` in (min, max] metres,
    ``invalid_fraction`` of the pixels set to 0 (invalid)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    h, w = int(size[0]), int(size[1])
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, 3, h, w, generator=gen)
    depth = min_depth + (max_depth - min_depth) * (0.02 + 0.98 * torch.rand(batch, 1, h, w, generator=gen))
    depth[torch.rand(batch, 1, h, w, generator=gen) < invalid_fraction] = 0
    samples = []
    for i in range(batch):
        s = SegDataSample()
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), flip=False,
                            padding_size=[0, 0, 0, 0]))
        s.gt_depth_map = PixelData(data=depth[i].to(device))
        samples.append(s)
    return inputs.to(device), samples


def learnable_params(model: nn.Module) -> Dict[str, Tensor]:
    """Every trainable parameter (the learned tokens), by name."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ValueError('the model has no trainable parameter (use learned-N depth tokens)')
    return params


def optimised_loss(model: nn.Module, inputs: Tensor, data_samples) -> Tensor:
    """The package's training loss (``CLIPDepthEstimator.loss`` + mmengine's loss parsing)."""
    loss, _ = model.parse_losses(model.loss(inputs, data_samples))
    return loss



# ----------------------------------------------------------------------------------------------- equivalence
def rel_diff(a: Tensor, b: Tensor) -> float:
    """``||a - b|| / ||b||`` in float64 (``||a - b||`` when ``b`` is zero)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (a - b).norm().item()


def check_equivalence(model: nn.Module, inputs: Tensor, data_samples, prompts: Optional[ReferencePrompts] = None,
                      clip_grads: str = 'text', keep_reference_grads: bool = False) -> dict:
    """Loss and token gradients of the optimised and the reference path on one batch, same weights.

    BatchNorm buffers are restored after each path (train-mode BN updates its running statistics).
    Returns ``loss_optimised``, ``loss_reference``, ``loss_rel_diff``, ``grad_rel_diff`` (per parameter,
    ``||g_opt - g_ref|| / ||g_ref||``) and ``max_rel_diff``. With ``keep_reference_grads`` the reference
    gradients stay in ``.grad`` (so an optimiser step can follow).
    """
    prompts = prompts or ReferencePrompts(model)
    params = learnable_params(model)
    saved = {n: b.detach().clone() for n, b in model.named_buffers()}

    def restore():
        with torch.no_grad():
            for n, b in model.named_buffers():
                b.copy_(saved[n])

    for p in params.values():
        p.grad = None
    loss_o = optimised_loss(model, inputs, data_samples)
    loss_o.backward()
    grads_o = {n: p.grad.detach().clone() for n, p in params.items()}
    for p in params.values():
        p.grad = None
    restore()
    with reference_autograd(model, clip_grads):
        loss_r = reference_loss(model, inputs, data_samples, prompts, clip_grads)
        loss_r.backward()
    grads_r = {n: p.grad.detach().clone() for n, p in params.items()}
    if not keep_reference_grads:
        for p in params.values():
            p.grad = None
    restore()
    grad_rel = {n: rel_diff(grads_o[n], grads_r[n]) for n in params}
    loss_rel = abs(loss_o.item() - loss_r.item()) / max(abs(loss_r.item()), 1e-30)
    return dict(loss_optimised=loss_o.item(), loss_reference=loss_r.item(), loss_rel_diff=loss_rel,
                grad_rel_diff=grad_rel, grad_norm={n: g.norm().item() for n, g in grads_r.items()},
                max_rel_diff=max([loss_rel] + list(grad_rel.values())))


def assert_equivalent(result: dict, rtol: float = 1e-5):
    """Raise AssertionError naming the quantity when the two paths differ by more than ``rtol`` (relative)."""
    bad = []
    if not result['loss_rel_diff'] <= rtol:
        bad.append(f"loss {result['loss_optimised']!r} vs reference {result['loss_reference']!r} "
                   f"(rel diff {result['loss_rel_diff']:.3g})")
    bad += [f'grad of {n}: rel diff {d:.3g}' for n, d in result['grad_rel_diff'].items() if not d <= rtol]
    if bad:
        raise AssertionError(f'optimised and reference paths differ by more than {rtol:g}: ' + '; '.join(bad))


# ----------------------------------------------------------------------------------------------- float64 envelope
def reference_backward_chunked(model: nn.Module, inputs: Tensor, data_samples, prompts: ReferencePrompts,
                               chunk: int) -> Tensor:
    """Back-propagate the authors' loss into the learned tokens with the text tower run ``chunk`` prompts at a
    time; returns the (detached) loss. Memory: one chunk's autograd graph instead of all N prompts x 77 positions.

    The same operations as the authors' step, rearranged: (1) the text tower's output for every prompt, without
    autograd, chunk by chunk; (2) that (N, C) output as a leaf: normalisation, head and SILog loss, backward ->
    the loss gradient with respect to each prompt's tower output (and to any learned tensor used after the tower);
    (3) per chunk, the tower again with autograd, back-propagated with its rows of that gradient. Each prompt's
    tower output depends on its own sequence only, so the gradients are those of the whole step (float rounding
    aside: per-row matrix products may be blocked differently for a smaller chunk). CLIP's weights do not
    require grad (the authors' step also computes the text tower's weight gradients, which no optimiser uses;
    they do not enter the token gradients), and the image trunk runs without autograd, as in the authors' step.
    """
    from .authors_step import reference_text_normalise, reference_text_tower_output
    clip, text_encoder = clip_of(model), model.decode_head.text_encoder
    chunks = torch.arange(prompts.ids.shape[0], device=prompts.ids.device).split(int(chunk))
    with clip_grad_flags(model, lambda p: False):  # every CLIP weight frozen
        with torch.no_grad():
            raw = torch.cat([reference_text_tower_output(clip, text_encoder, prompts, i) for i in chunks])
        raw.requires_grad_(True)
        loss = reference_loss(model, inputs, data_samples, prompts, 'text',
                              text=reference_text_normalise(raw, prompts))
        loss.backward()
        g_raw = raw.grad
        del raw
        for i in chunks:
            reference_text_tower_output(clip, text_encoder, prompts, i).backward(g_raw[i])
    return loss.detach()


def _token_grads(model: nn.Module, backward, params: Dict[str, Tensor], restore) -> Dict[str, Tensor]:
    """``backward()`` back-propagates one step's loss; returns the learned tokens' gradients (float64 copies)
    and restores the BatchNorm buffers."""
    import gc
    for p in params.values():
        p.grad = None
    backward()
    grads = {n: p.grad.detach().double().clone() for n, p in params.items()}
    for p in params.values():
        p.grad = None
    restore()
    gc.collect()
    return grads


#: the paths float64_envelope measures by default (``ours_float64`` is added unless ``ours_float64=False``)
ENVELOPE_VARIANTS = {'ours_nchw': [], 'ours_channels_last': ['channels_last'],
                     'ours_channels_last_native_bn': ['channels_last', 'native_nhwc_bn']}


def float64_envelope(model: nn.Module, inputs: Tensor, data_samples,
                     variants: Optional[Dict[str, Sequence[str]]] = None, clip_grads: str = 'text',
                     text_chunk: Optional[int] = None, ours_float64: bool = True, log=None) -> dict:
    """Learned-token gradients of the authors' float32 step and of the package's float32 paths, each against the
    authors' step in float64 (exact maths), same weights and batch: ``||g - g64|| / ||g64||`` over all tokens.

    ``variants``: name -> ``SPEEDUPS`` switched on for the package's path (default ``ENVELOPE_VARIANTS``: the
    NCHW trunk, the channels-last trunk with its exact BatchNorm statistics, and with torch's native NHWC
    statistics). ``text_chunk``: run the authors' step (float64 and float32 alike) through
    :func:`reference_backward_chunked` with that many prompts per chunk (for 256 prompts x 77 positions, whose
    full autograd graph takes ~12 GB in float32, twice that in float64); None: the authors' step as it is
    (``reference_autograd(clip_grads)``). ``ours_float64``: also the package's path in float64. The model
    (float32, train mode) is briefly converted to float64 and back (float32 -> float64 -> float32 is exact);
    BatchNorm buffers are restored after each path. ``log``: called with a line after each path. Returns
    ``{'authors_float32': d, <variant>: d, ..., 'ours_float64': d}``.
    """
    import time
    if variants is None:
        variants = ENVELOPE_VARIANTS
    prompts = ReferencePrompts(model)
    params = learnable_params(model)
    saved = {n: b.detach().clone() for n, b in model.named_buffers()}
    previous = set_speedups(model, list(SPEEDUPS), False)
    state = {}

    def restore():
        with torch.no_grad():
            for n, b in model.named_buffers():
                b.copy_(saved[n].to(b.dtype))

    def reference():
        if text_chunk:
            reference_backward_chunked(model, state['inputs'], data_samples, prompts, text_chunk)
        else:
            with reference_autograd(model, clip_grads):
                reference_loss(model, state['inputs'], data_samples, prompts, clip_grads).backward()

    def ours():
        optimised_loss(model, state['inputs'], data_samples).backward()

    def with_dtype(dtype):
        for s in data_samples:
            s.gt_depth_map.data = s.gt_depth_map.data.to(dtype)
        model.to(dtype)
        state['inputs'] = inputs.to(dtype)

    def timed(name, fn):
        t = time.perf_counter()
        g = _token_grads(model, fn, params, restore)
        if log is not None:
            log(f'[float64_envelope] {name} done in {time.perf_counter() - t:.0f}s')
        return g

    grads = {}
    try:
        with_dtype(torch.float64)
        g64 = timed('authors_float64', reference)
        if ours_float64:
            grads['ours_float64'] = timed('ours_float64', ours)
        with_dtype(torch.float32)
        grads['authors_float32'] = timed('authors_float32', reference)
        for name, names in variants.items():
            set_speedups(model, list(SPEEDUPS), False)
            set_speedups(model, names)
            grads[name] = timed(name, ours)
    finally:
        model.to(torch.float32)
        with_dtype(torch.float32)
        restore()
        set_speedups(model, list(previous), previous)

    def dist(g):
        num = sum(float((g[n] - g64[n]).norm() ** 2) for n in g64) ** 0.5
        den = sum(float(g64[n].norm() ** 2) for n in g64) ** 0.5
        return num / den

    order = ['authors_float32', *variants, 'ours_float64']
    return {name: dist(grads[name]) for name in order if name in grads}
