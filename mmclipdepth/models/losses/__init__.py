from .silog_loss import SILogLoss

__all__ = ['SILogLoss']
