"""Scale-invariant log loss in the AdaBins form used by Auty et al. (Auty & Mikolajczyk 2023, Eq. 2; their ``losses/SILogLoss.py``)."""
from typing import Optional

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

__all__ = ['SILogLoss']


def _world_size() -> int:
    import torch.distributed as dist
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


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
    Under distributed training (``sync_across_ranks=True``) the sums are pooled over every process before the
    square root, so the loss is that of the whole batch, as in one process.
    """

    def __init__(self,
                 lambd: float = 0.85,
                 scale: float = 10.0,
                 min_depth: float = 1e-3,
                 max_depth: Optional[float] = None,
                 loss_weight: float = 1.0,
                 variance_eps: float = 0.0,
                 sync_across_ranks: bool = True,
                 loss_name: str = 'loss_silog'):
        super().__init__()
        self.sync_across_ranks = bool(sync_across_ranks)
        #: training batches (per process) without a valid ground-truth pixel, read by EmptyTargetWarningHook
        self.empty_batches = 0
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
        if self.sync_across_ranks and self.training and _world_size() > 1:
            return self._forward_synced(pred, target, valid)
        if not bool(valid.any()):
            self.empty_batches += 1
            return pred.sum() * 0.0
        g = torch.log(pred[valid]) - torch.log(target[valid])
        var = (g * g).mean() - self.lambd * g.mean() ** 2
        return self.loss_weight * self.scale * torch.sqrt(var.clamp_min(self.variance_eps))

    def _forward_synced(self, pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        """The loss of the whole distributed batch: sum g, sum g^2 and the count all-reduced (differentiably)
        before the square root, so N processes x batch b give the loss - and, after DDP's gradient average, the
        gradient - of one process x batch N*b."""
        from torch.distributed.nn.functional import all_reduce
        g = torch.log(pred[valid]) - torch.log(target[valid])
        if g.numel() == 0:
            self.empty_batches += 1
        sums = torch.stack([g.sum(), (g * g).sum(), g.new_tensor(float(g.numel()))])
        sums = all_reduce(sums)
        n = sums[2].detach()
        if float(n) == 0:
            return pred.sum() * 0.0 + sums.sum() * 0.0
        mean = sums[0] / n
        var = sums[1] / n - self.lambd * mean ** 2
        return self.loss_weight * self.scale * torch.sqrt(var.clamp_min(self.variance_eps))

    @property
    def loss_name(self) -> str:
        return self._loss_name
