"""Distributed wrapper of a ``MultiVariantDepthEstimator``: same start on every process, then delegate."""
import torch.distributed as dist
from mmseg.registry import MODEL_WRAPPERS
from torch import nn

__all__ = ['MultiVariantDataParallel']


@MODEL_WRAPPERS.register_module()
class MultiVariantDataParallel(nn.Module):
    """``model_wrapper_cfg=dict(type='MultiVariantDataParallel')`` for multi-variant training on N processes.

    torch's DDP syncs gradients of one forward/backward; a multi-variant step runs K heads, each with its own
    optimiser, so the estimator averages each head's gradients over processes itself before its step
    (``MultiVariantDepthEstimator.train_step``). This wrapper broadcasts every parameter and buffer from
    rank 0 once (so all processes start equal) and hands ``train_step`` / ``val_step`` / ``test_step`` to the
    model. The frozen trunk's BatchNorm batch statistics are pooled across processes by its ``sync_bn``.
    """

    def __init__(self, module: nn.Module, **kwargs):
        super().__init__()
        unknown = sorted(set(kwargs) - {'broadcast_buffers', 'find_unused_parameters'})
        if unknown:
            raise TypeError(f'MultiVariantDataParallel got unexpected argument(s) {unknown}')
        self.module = module
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            for tensor in module.state_dict(keep_vars=True).values():
                dist.broadcast(tensor.data, src=0)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def train_step(self, data, optim_wrapper):
        return self.module.train_step(data, optim_wrapper)

    def val_step(self, data):
        return self.module.val_step(data)

    def test_step(self, data):
        return self.module.test_step(data)
