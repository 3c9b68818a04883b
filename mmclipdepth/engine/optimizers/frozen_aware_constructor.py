"""Optimiser constructor that also accepts models with nothing to train (human-word prompt controls)."""
import torch
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.logging import print_log
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = ['FrozenAwareOptimWrapperConstructor']


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class FrozenAwareOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, restricted to parameters that require grad.

    Auty et al.'s human-word rows (Table 3, e.g. ``baseline`` + ``depth-7``) have no learnable token, yet their
    "training" still changes the numbers: CLIP's BatchNorm statistics keep updating (``bn_mode='train'``,
    docs/fidelity.md). With nothing trainable the optimiser gets one empty placeholder parameter (so schedulers and
    checkpoints work) and ``BaseDepthEstimator.train_step`` skips backward and step.
    """

    def __call__(self, model):
        if any(p.requires_grad for p in model.parameters()):
            return super().__call__(model)
        print_log('No trainable parameter: training only runs forward passes (BatchNorm statistics update '
                  "when bn_mode='train'); the optimiser holds an empty placeholder.", logger='current')
        holder = torch.nn.Module()
        holder.placeholder = torch.nn.Parameter(torch.zeros(0))
        return super().__call__(holder)
