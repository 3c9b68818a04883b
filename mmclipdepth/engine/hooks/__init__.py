from .empty_target_warning_hook import EmptyTargetWarningHook

__all__ = ['EmptyTargetWarningHook']
