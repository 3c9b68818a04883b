"""Warn, once per epoch with a count, about training batches that had no valid ground-truth pixel."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

__all__ = ['EmptyTargetWarningHook']


@HOOKS.register_module()
class EmptyTargetWarningHook(Hook):
    """Such a batch gives a loss of 0 and no gradient (``SILogLoss``), so a wrong ``depth_scale``, depth range
    or ground-truth path would otherwise train nothing in silence. Reads the ``empty_batches`` counters of the
    model's losses after every training epoch (and at the end of iteration-based training) and resets them."""

    priority = 'LOW'

    def _report(self, runner, when: str):
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        count = 0
        for module in model.modules():
            if hasattr(module, 'empty_batches'):
                count += int(module.empty_batches)
                module.empty_batches = 0
        if count:
            print_log(f'{count} training batch(es) {when} had no valid ground-truth pixel (loss 0, no gradient): '
                      'check the dataset\'s depth_scale, the depth range (min_depth / max_depth) and the '
                      'ground-truth paths.', logger='current', level=30)

    def after_train_epoch(self, runner) -> None:
        self._report(runner, f'in epoch {runner.epoch}')

    def after_train(self, runner) -> None:
        self._report(runner, 'since the last report')
