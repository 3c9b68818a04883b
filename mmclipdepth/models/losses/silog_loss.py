"""Scale-invariant log loss in the AdaBins form used by Auty et al. (Auty & Mikolajczyk 2023, Eq. 2; their ``losses/SILogLoss.py``)."""
from typing import Optional

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

__all__ = ['SILogLoss']


@MODELS.register_module()
class SILogLoss(nn.Module):
    """``scale * sqrt(mean(g^2) - lambd * mean(g)^2)``, ``g = log pred - log gt`` over valid pixels.

    Pooled over all valid pixels of the batch (valid: ``gt > min_depth`` and, if set, ``gt <= max_depth``,
    finite). Auty et al. print ``10 sqrt(1/K sum g^2 + 0.15/K^2 (sum g)^2)`` (Eq. 2), but their code - which
    produced the numbers - uses lambd = 0.85 as here; LLM-MDE uses the same form with ``min_depth=0.1``.
    This is *not* mmseg's ``SiLogLoss`` (lambd 0.5, no scale, averaged per image). A batch without a valid
    pixel gives 0 with a valid (zero) gradient. The variance is clamped at ``variance_eps`` before the square
    root: 0 by default (only a negative rounding residue is removed); LLM-MDE's training code clamps at 1e-6
    (``tools/utils.py``, ``silog_loss``), which changes the loss once it falls below 10 * sqrt(1e-6) = 0.01.
    """

    def __init__(self,
                 lambd: float = 0.85,
                 scale: float = 10.0,
                 min_depth: float = 1e-3,
                 max_depth: Optional[float] = None,
                 loss_weight: float = 1.0,
                 variance_eps: float = 0.0,
                 loss_name: str = 'loss_silog'):
        super().__init__()
        if variance_eps < 0:
            raise ValueError(f'SILogLoss: variance_eps must be >= 0, got {variance_eps}')
        self.variance_eps = float(variance_eps)
        self.lambd = lambd
        self.scale = scale
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, pred: Tensor, target: Tensor, **kwargs) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(f'SILogLoss: prediction shape {tuple(pred.shape)} != target shape '
                             f'{tuple(target.shape)}; resize the prediction to the ground truth first.')
        valid = torch.isfinite(target) & (target > self.min_depth)
        if self.max_depth is not None:
            valid &= target <= self.max_depth
        if not bool(valid.any()):
            return pred.sum() * 0.0
        g = torch.log(pred[valid]) - torch.log(target[valid])
        var = (g * g).mean() - self.lambd * g.mean() ** 2
        return self.loss_weight * self.scale * torch.sqrt(var.clamp_min(self.variance_eps))

    @property
    def loss_name(self) -> str:
        return self._loss_name
