"""A training hook that makes one batch non-finite (custom_imports of the non-finite-loss tests)."""
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class PoisonBatchHook(Hook):
    """Before training iteration ``at_iter`` (1-based), the batch's first image becomes NaN (as a float tensor,
    which the data preprocessor takes as it is): that step's loss and gradients are non-finite."""
    priority = 'HIGHEST'

    def __init__(self, at_iter: int):
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at_iter:
            data_batch['inputs'][0] = torch.full(data_batch['inputs'][0].shape, float('nan'))
