"""Mixed precision that never lets a non-finite loss or gradient reach the learned weights (``tools/train.py --amp``)."""
from contextlib import contextmanager
from typing import Optional, Union

import torch
from mmengine.dist import all_reduce
from mmengine.logging import MessageHub, print_log
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

__all__ = ['GuardedAmpOptimWrapper']


@OPTIM_WRAPPERS.register_module()
class GuardedAmpOptimWrapper(OptimWrapper):
    """mmengine's ``AmpOptimWrapper`` (autocast + ``torch.amp.GradScaler``) on CUDA *and* CPU, with a guard.

    After the backward pass the gradients are unscaled; when the loss or any gradient is non-finite (on any
    process: the verdict is all-reduced, so every rank skips together) the optimiser step is skipped, the
    gradients are dropped, the loss scale is lowered as ``GradScaler`` does, and a warning names the count.
    The count of skipped steps is logged as ``amp_skipped_steps`` (``train/amp_skipped_steps`` in the message
    hub) and kept in the checkpoint. ``NonFiniteLossHook`` reads it and does not stop training for a skipped step.

    Args:
        loss_scale: ``'dynamic'``, a float (initial scale) or a dict of ``GradScaler`` arguments.
        dtype: autocast dtype (``'float16'``, ``'bfloat16'``, ...); default: autocast's (fp16 on CUDA, bf16 on CPU).
        **kwargs: :class:`mmengine.optim.OptimWrapper` arguments.
    """

    def __init__(self, loss_scale: Union[str, float, dict] = 'dynamic', dtype: Optional[Union[str, torch.dtype]] = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.device_type = 'cuda' if torch.cuda.is_available() else 'cpu'
        if loss_scale == 'dynamic':
            scaler_args = {}
        elif isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool):
            scaler_args = dict(init_scale=float(loss_scale))
        elif isinstance(loss_scale, dict):
            scaler_args = dict(loss_scale)
        else:
            raise TypeError(f"GuardedAmpOptimWrapper: loss_scale must be 'dynamic', a float or a dict, got {loss_scale!r}")
        self.loss_scaler = torch.amp.GradScaler(self.device_type, **scaler_args)
        if isinstance(dtype, str):
            if dtype not in ('float16', 'bfloat16', 'float32', 'float64'):
                raise ValueError(f'GuardedAmpOptimWrapper: dtype must be float16, bfloat16, float32 or float64, '
                                 f'got {dtype!r}')
            dtype = getattr(torch, dtype)
        self.cast_dtype = dtype
        self.skipped_steps = 0
        self._loss_finite = True
        self._buffers = []  # (buffer, copy before the forward pass) of the model trained in optim_context

    def backward(self, loss: torch.Tensor, **kwargs):
        self._loss_finite = self._loss_finite and bool(torch.isfinite(loss.detach()).all())
        self.loss_scaler.scale(loss).backward(**kwargs)
        self._inner_count += 1

    def _grads_finite(self) -> bool:
        grads = [p.grad for group in self.optimizer.param_groups for p in group['params'] if p.grad is not None]
        if not grads:
            return True
        return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())

    def step(self, **kwargs):
        self.loss_scaler.unscale_(self.optimizer)
        ok = torch.tensor([1.0 if self._loss_finite and self._grads_finite() else 0.0])
        if torch.cuda.is_available():
            ok = ok.cuda()
        all_reduce(ok, op='min')  # no-op without distributed training; otherwise every rank skips together
        self._loss_finite = True
        self._buffers, buffers = [], self._buffers
        if float(ok) < 1:
            self.skipped_steps += 1
            self.loss_scaler.update(self.loss_scaler.get_scale() * self.loss_scaler.get_backoff_factor())
            self.optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():  # BatchNorm statistics updated by the bad batch's forward pass are put back
                for buf, saved in buffers:
                    buf.copy_(saved)
            hub = MessageHub.get_current_instance()
            print_log(f'GuardedAmpOptimWrapper: non-finite loss or gradient at iteration {hub.get_info("iter", -1) + 1}:'
                      f' the step is skipped (the learned weights are unchanged), loss scale now '
                      f'{self.loss_scaler.get_scale():g}; {self.skipped_steps} step(s) skipped so far',
                      logger='current', level=30)
        else:
            if self.clip_grad_kwargs:
                self._clip_grad()
            self.loss_scaler.step(self.optimizer, **kwargs)
            self.loss_scaler.update()
        MessageHub.get_current_instance().update_scalar('train/amp_skipped_steps', self.skipped_steps)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state['loss_scaler'] = self.loss_scaler.state_dict()
        state['amp_skipped_steps'] = self.skipped_steps
        return state

    def load_state_dict(self, state_dict: dict):
        state_dict = dict(state_dict)
        if 'loss_scaler' in state_dict:
            self.loss_scaler.load_state_dict(state_dict.pop('loss_scaler'))
        self.skipped_steps = int(state_dict.pop('amp_skipped_steps', 0))
        if 'base_param_settings' in state_dict:
            self.base_param_settings = state_dict.pop('base_param_settings')
        self.optimizer.load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        from mmengine.runner.amp import autocast
        self._buffers = [(b, b.detach().clone()) for b in model.buffers() if b.is_floating_point()]
        with super().optim_context(model), autocast(device_type=self.device_type, dtype=self.cast_dtype):
            yield
