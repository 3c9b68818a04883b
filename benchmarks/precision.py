"""Training-step precisions (fp32, TF32, AMP bf16 / fp16) and how far each is from fp32 on the same weights and
batch (``tools/analysis/gpu_report.py``)."""
import contextlib
from typing import Optional

import torch
from torch import Tensor, nn

from .equivalence import learnable_params, optimised_loss, rel_diff

__all__ = ['PRECISIONS', 'precision_unsupported', 'precision_context', 'precision_deviation']


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


def precision_deviation(model: nn.Module, inputs: Tensor, data_samples, precision: str, device='cpu') -> dict:
    """Loss and token gradients of the package's step under ``precision`` against fp32, same weights and batch
    (BatchNorm buffers restored after each): ``loss_rel_diff``, ``grad_rel_diff`` per parameter
    (``||g_p - g_fp32|| / ||g_fp32||``), ``max_rel_diff`` (inf when any of them is not finite). fp16 gradients
    are computed with loss scaling as a GradScaler step would: from 2**16, halved while the scaled gradients
    overflow (``loss_scale``: the scale that gave finite ones, ``overflow_backoffs``: how many halvings)."""
    import math

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
    grad_rel = {n: rel_diff(grads_p[n], grads32[n]) for n in params}
    loss_rel = abs(loss_p.item() - loss32.item()) / max(abs(loss32.item()), 1e-30)
    values = [loss_rel] + list(grad_rel.values())
    out = dict(loss_fp32=loss32.item(), loss=loss_p.item(), loss_rel_diff=loss_rel, grad_rel_diff=grad_rel,
               max_rel_diff=max(values) if all(math.isfinite(v) for v in values) else math.inf,
               finite=finite(loss_p, grads_p))
    if PRECISIONS[precision][2]:
        out.update(loss_scale=scale, overflow_backoffs=backoffs)
    return out

