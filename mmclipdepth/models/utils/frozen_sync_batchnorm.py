"""Batch statistics of a frozen BatchNorm pooled over every process (CPU/gloo and CUDA alike), and exact on a
channels-last input.

``torch.nn.SyncBatchNorm`` needs CUDA and is built for training the normalised layer; CLIP's trunk here is
frozen and runs without autograd, yet in the faithful ``bn_mode='train'`` its BatchNorm layers use batch
statistics and update their running statistics. With N processes x batch b those statistics must be those of
the whole N*b batch for training to equal one process (what ``sync_bn`` in ``CLIPPromptBackbone`` is for).

On a channels-last (NHWC) input torch's CPU kernel sums each channel's ~N*H*W values in plain float32 (one
running sum per thread), so its batch mean and variance are ~1e-5 relative off (the NCHW kernel, which the
authors' code runs, accumulates in float64: ~4e-8), and train-mode BatchNorm amplifies that ~10x into the
learned-token gradients (docs/fidelity.md). :func:`channels_last_batch_stats` gives NCHW-grade statistics on
the NHWC memory at the native kernel's speed.
"""
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = ['FrozenSyncBatchNorm2d', 'convert_frozen_sync_bn', 'channels_last_batch_stats']

#: rows per block of the blocked statistics (each float32 running sum spans at most this many values)
BLOCK_ROWS = 1024


def _is_nhwc(x: torch.Tensor) -> bool:
    return (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
            and x.dtype in (torch.float32, torch.float64))


def channels_last_batch_stats(x: torch.Tensor, block_rows: int = BLOCK_ROWS):
    """Per-channel batch mean and biased variance (float64) of a channels-last (N, C, H, W) tensor.

    The NHWC memory is the matrix (R, C), R = N*H*W. Its first ``k * block_rows`` rows are viewed as the
    (block_rows, k*C) matrix whose column j*C + c holds channel c of pixels j, j + k, ...: torch's own
    statistics kernel (``batch_norm_update_stats``, one pass for the mean, one for the centred squares, no
    output written) then gives k blocks of ``block_rows`` values per channel, each summed in float32 over at
    most ``block_rows`` values; the < k leftover rows are reduced in float64. The blocks are merged in float64
    with the pairwise formula of Chan et al. (1979): mean = sum n_j m_j / n,
    n var = sum n_j v_j + sum n_j (m_j - mean)^2.
    """
    n_img, c, h, w = x.shape
    rows = x.detach().permute(0, 2, 3, 1).reshape(-1, c)  # a view of the NHWC memory
    r = rows.shape[0]
    k = r // block_rows
    if k < 2:  # small: float64 outright
        var, mean = torch.var_mean(rows.double(), dim=0, correction=0)
        return mean, var
    body = rows[:k * block_rows].reshape(block_rows, k * c)
    m, v = torch.batch_norm_update_stats(body, None, None, 0.0)
    m, v = m.double().view(k, c), v.double().view(k, c)
    mean = m.mean(0)
    m2 = block_rows * (v.sum(0) + ((m - mean) ** 2).sum(0))
    n = k * block_rows
    rest = rows[n:]
    if rest.shape[0]:
        rv, rm = torch.var_mean(rest.double(), dim=0, correction=0)
        nr = rest.shape[0]
        d = rm - mean
        mean = mean + d * (nr / (n + nr))
        m2 = m2 + nr * rv + d * d * (n * nr / (n + nr))
        n += nr
    return mean, m2 / n


class FrozenSyncBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` (same parameters and buffers) whose training-mode statistics are all-reduced.

    Per channel: sum x and sum x^2 (float64) and the count are summed over processes; normalisation uses the
    biased variance, the running variance is updated with the unbiased one (momentum as configured), as
    ``nn.BatchNorm2d`` does on one process. Outside training, or on one process, it is ``nn.BatchNorm2d``.
    Forward only: no gradient flows through the pooled statistics (the trunk is frozen).

    ``sync`` (True): pool over processes (False: each process its own batch). ``exact_nhwc`` (True): on one
    process (or without ``sync``), a channels-last float input in training mode with no gradient to carry gets
    its statistics from :func:`channels_last_batch_stats` (as exact as torch's NCHW kernel) instead of torch's
    float32 NHWC kernel; normalisation and the running-statistics update are ``nn.BatchNorm2d``'s.
    """
    sync = True
    exact_nhwc = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = (self.training and self.sync and dist.is_available() and dist.is_initialized()
                  and dist.get_world_size() > 1)
        if not pooled:
            if (self.training and self.exact_nhwc and _is_nhwc(x)
                    and not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))):
                return self._exact_nhwc_forward(x)
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

    def _exact_nhwc_forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, var = channels_last_batch_stats(x)
        n = x.numel() / x.shape[1]
        if self.track_running_stats:  # nn.BatchNorm2d's update: momentum (or cumulative), unbiased variance
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * (n / max(n - 1, 1))
                self.running_mean.mul_(1 - m).add_(m * mean.to(self.running_mean.dtype))
                self.running_var.mul_(1 - m).add_(m * unbiased.to(self.running_var.dtype))
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
