"""The momentum half of PyTorch's OneCycleLR (mmengine's OneCycle schedules only the learning rate)."""
import math

from mmengine.optim.scheduler.momentum_scheduler import MomentumSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmseg.registry import PARAM_SCHEDULERS

__all__ = ['OneCycleMomentum']


@PARAM_SCHEDULERS.register_module()
class OneCycleMomentum(MomentumSchedulerMixin, _ParamScheduler):
    """Cycles momentum (SGD) or beta1 (Adam/AdamW) inversely to the one-cycle learning rate.

    ``max_momentum -> base_momentum`` over the first ``pct_start`` of ``total_steps``, then back to
    ``max_momentum`` (cosine or linear), exactly as ``torch.optim.lr_scheduler.OneCycleLR(cycle_momentum=
    True)``. Use beside mmengine's ``OneCycleLR`` with the same ``total_steps``/``pct_start`` (Auty et al.:
    0.85-0.95, docs/fidelity.md "Training").
    """

    def __init__(self, optimizer, base_momentum: float = 0.85, max_momentum: float = 0.95,
                 total_steps=None, pct_start: float = 0.3, anneal_strategy: str = 'cos', begin: int = 0,
                 end: int = INF, last_step: int = -1, by_epoch: bool = True, verbose: bool = False):
        if anneal_strategy not in ('cos', 'linear'):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        if not 0.0 <= pct_start <= 1.0:
            raise ValueError(f'pct_start must be in [0, 1], got {pct_start}')
        self.total_steps = total_steps if total_steps is not None else end - begin
        if not isinstance(self.total_steps, int) or self.total_steps <= 0:
            raise ValueError(f'total_steps must be a positive int, got {self.total_steps}')
        self.base_momentum, self.max_momentum = base_momentum, max_momentum
        self.pct_start = pct_start
        self.anneal_strategy = anneal_strategy
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step, by_epoch=by_epoch,
                         verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, begin=0, end=INF, total_steps=None, by_epoch=True,
                              epoch_length=None, **kwargs):
        """Epoch-based config -> iteration-based scheduler (``convert_to_iter_based=True``)."""
        assert by_epoch and epoch_length
        begin = int(begin * epoch_length)
        end = end if end == INF else int(end * epoch_length)
        total_steps = None if total_steps is None else total_steps * epoch_length
        return cls(*args, begin=begin, end=end, total_steps=total_steps, by_epoch=False, **kwargs)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == 'cos':
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _get_value(self):
        step = self.last_step
        if step > self.total_steps:
            raise ValueError(f'OneCycleMomentum stepped {step + 1} times; total_steps is {self.total_steps}')
        warm_end = float(self.pct_start * self.total_steps) - 1
        if step <= warm_end:
            value = self._anneal(self.max_momentum, self.base_momentum, step / warm_end)
        else:
            value = self._anneal(self.base_momentum, self.max_momentum,
                                 (step - warm_end) / (self.total_steps - 1 - warm_end))
        return [value for _ in self.optimizer.param_groups]
