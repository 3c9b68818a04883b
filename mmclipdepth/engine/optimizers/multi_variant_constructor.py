"""One optimiser wrapper per variant of a ``MultiVariantDepthEstimator``, as an mmengine ``OptimWrapperDict``."""
import copy

from mmengine.optim import OptimWrapperDict
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = ['MultiVariantOptimWrapperConstructor']


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MultiVariantOptimWrapperConstructor:
    """``optim_wrapper=dict(constructor='MultiVariantOptimWrapperConstructor', variants={name: cfg})``.

    ``cfg`` is the variant's own single-variant ``optim_wrapper`` (its ``constructor`` included, default
    ``FrozenAwareOptimWrapperConstructor``), built over that variant's head only, so its optimiser, weight
    decay, gradient clipping and parameter groups are exactly those of its solo run. Keys of the returned
    ``OptimWrapperDict`` are the variant names (``param_scheduler`` may be a dict with the same keys).
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg=None):
        variants = optim_wrapper_cfg.get('variants')
        extra = sorted(set(optim_wrapper_cfg) - {'variants'})
        if not isinstance(variants, dict) or not variants or extra:
            raise ValueError('MultiVariantOptimWrapperConstructor takes optim_wrapper=dict(constructor=..., '
                             f'variants={{name: optim_wrapper config}}); got keys {sorted(optim_wrapper_cfg)}')
        if paramwise_cfg is not None:
            raise ValueError('set paramwise_cfg inside each variant\'s optim_wrapper config')
        self.variants = copy.deepcopy(dict(variants))

    def __call__(self, model) -> OptimWrapperDict:
        model = getattr(model, 'module', model)
        heads = getattr(model, 'decode_heads', None)
        if heads is None:
            raise TypeError(f'MultiVariantOptimWrapperConstructor needs a MultiVariantDepthEstimator, got '
                            f'{type(model).__name__}')
        if set(self.variants) != set(heads):
            raise KeyError(f'optim_wrapper variants {sorted(self.variants)} differ from the model\'s decode_heads '
                           f'{sorted(heads)}')
        wrappers = {}
        for name in heads:
            cfg = copy.deepcopy(self.variants[name])
            constructor = cfg.pop('constructor', 'FrozenAwareOptimWrapperConstructor')
            paramwise = cfg.pop('paramwise_cfg', None)
            build = OPTIM_WRAPPER_CONSTRUCTORS.build(
                dict(type=constructor, optim_wrapper_cfg=cfg, paramwise_cfg=paramwise))
            wrapper = build(heads[name])
            if hasattr(wrapper, 'grad_name'):  # logged as <name>/grad_norm, not one average over the variants
                wrapper.grad_name = f'{name}/{wrapper.grad_name}'
            wrappers[name] = wrapper
        return OptimWrapperDict(**wrappers)
