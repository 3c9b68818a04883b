from .empty_target_warning_hook import EmptyTargetWarningHook
from .safe_checkpoint_hook import SafeCheckpointHook

__all__ = ['SafeCheckpointHook', 'EmptyTargetWarningHook']
