from .empty_target_warning_hook import EmptyTargetWarningHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .safe_checkpoint_hook import SafeCheckpointHook

__all__ = ['SafeCheckpointHook', 'EmptyTargetWarningHook', 'NonFiniteLossHook', 'NonFiniteLossError']
