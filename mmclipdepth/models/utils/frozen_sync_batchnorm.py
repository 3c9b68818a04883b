"""Batch statistics of a frozen BatchNorm pooled over every process (CPU/gloo and CUDA alike).

``torch.nn.SyncBatchNorm`` needs CUDA and is built for training the normalised layer; CLIP's trunk here is
frozen and runs without autograd, yet in the faithful ``bn_mode='train'`` its BatchNorm layers use batch
statistics and update their running statistics. With N processes x batch b those statistics must be those of
the whole N*b batch for training to equal one process (what ``sync_bn`` in ``CLIPPromptBackbone`` is for).
"""
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = ['FrozenSyncBatchNorm2d', 'convert_frozen_sync_bn']


class FrozenSyncBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` (same parameters and buffers) whose training-mode statistics are all-reduced.

    Per channel: sum x and sum x^2 (float64) and the count are summed over processes; normalisation uses the
    biased variance, the running variance is updated with the unbiased one (momentum as configured), as
    ``nn.BatchNorm2d`` does on one process. Outside training, or on one process, it is ``nn.BatchNorm2d``.
    Forward only: no gradient flows through the pooled statistics (the trunk is frozen).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return super().forward(x)
        xd = x.detach().double()
        stats = torch.cat([xd.sum(dim=(0, 2, 3)), (xd * xd).sum(dim=(0, 2, 3)),
                           xd.new_tensor([x.numel() / x.shape[1]])])
        dist.all_reduce(stats)
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.to(self.running_mean.dtype))
                self.running_var.mul_(1 - m).add_(m * (var * n / (n - 1).clamp_min(1)).to(self.running_var.dtype))
        return F.batch_norm(x, mean.to(x.dtype), var.to(x.dtype), self.weight, self.bias, training=False,
                            momentum=0.0, eps=self.eps)


def convert_frozen_sync_bn(module: nn.Module) -> int:
    """Switch every plain ``nn.BatchNorm2d`` under ``module`` to :class:`FrozenSyncBatchNorm2d` in place (the
    class only: parameters, buffers and state-dict keys stay). Returns how many were switched."""
    count = 0
    for m in module.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = FrozenSyncBatchNorm2d
            count += 1
    return count
