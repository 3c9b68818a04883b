from .empty_target_warning_hook import EmptyTargetWarningHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook

__all__ = ['EmptyTargetWarningHook', 'NonFiniteLossHook', 'NonFiniteLossError']
