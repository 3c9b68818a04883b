from .one_cycle_momentum import OneCycleMomentum

__all__ = ['OneCycleMomentum']
