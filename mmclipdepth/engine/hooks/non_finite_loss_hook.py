"""Stop training at the first non-finite loss or learned weight, before anything is saved."""
import math

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

__all__ = ['NonFiniteLossHook', 'NonFiniteLossError']


class NonFiniteLossError(FloatingPointError):
    """Training produced a non-finite loss or learned weight (``tools/train.py`` exits non-zero with it)."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """After every training iteration: when a logged loss (``loss``, ``loss_*``, ``*/loss*``) is NaN or inf, or a
    trainable parameter or saved floating-point buffer (BatchNorm statistics) is, raise :class:`NonFiniteLossError` naming the iteration, the epoch, the losses and the
    parameters. Its priority is above the checkpoint and logger hooks', so nothing non-finite is ever saved.

    Under ``GuardedAmpOptimWrapper`` (``tools/train.py --amp``) a non-finite loss is not an error: the wrapper
    skipped that step and left the weights unchanged (it warns and logs the count); a non-finite weight still is.
    """

    priority = 'ABOVE_NORMAL'

    @staticmethod
    def _guarded(runner) -> bool:
        from mmengine.optim import OptimWrapperDict
        from mmclipdepth.engine.optimizers.guarded_amp_optim_wrapper import GuardedAmpOptimWrapper
        wrapper = getattr(runner, 'optim_wrapper', None)
        wrappers = wrapper.optim_wrappers.values() if isinstance(wrapper, OptimWrapperDict) else [wrapper]
        return all(isinstance(w, GuardedAmpOptimWrapper) for w in wrappers)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        bad = {}
        for key, value in (outputs or {}).items():
            if 'loss' not in key.split('/')[-1]:
                continue
            v = float(value.detach().float().mean()) if isinstance(value, torch.Tensor) else float(value)
            if not math.isfinite(v):
                bad[key] = v
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        params += [(f'{m}.{n}' if m else n, b) for m, mod in model.named_modules() for n, b in mod._buffers.items()
                   if b is not None and b.is_floating_point() and n not in mod._non_persistent_buffers_set]
        bad_params = []
        if params and not bool(torch.stack([torch.isfinite(p.detach()).all() for _, p in params]).all()):
            bad_params = [n for n, p in params if not bool(torch.isfinite(p.detach()).all())]
        where = f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, batch {batch_idx + 1})'
        if bad and not bad_params and self._guarded(runner):
            return  # the AMP guard skipped this step; it has warned and counted
        if bad or bad_params:
            what = []
            if bad:
                what.append('non-finite loss ' + ', '.join(f'{k}={v}' for k, v in bad.items()))
            if bad_params:
                what.append(f'non-finite trainable parameter(s) / saved buffer(s) {bad_params[:8]}'
                            + (f' and {len(bad_params) - 8} more' if len(bad_params) > 8 else ''))
            msg = (f'training stopped at {where}: ' + '; '.join(what) + '. Nothing of this iteration was saved. '
                   'Check the learning rate, the input data and the initial weights; with tools/train.py --amp a '
                   'non-finite step is skipped instead.')
            raise NonFiniteLossError(msg)
