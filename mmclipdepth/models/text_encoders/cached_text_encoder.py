"""Base for text encoders whose features depend only on their own tensors (no image input)."""
import itertools
from typing import List

import torch
from torch import Tensor, nn

__all__ = ['CachedTextEncoder']


class CachedTextEncoder(nn.Module):
    """``forward()`` returns ``encode()``, cached while nothing it depends on can change.

    Recomputed with autograd whenever a learnable tensor requires grad and grad is enabled (training);
    otherwise (eval, ``torch.no_grad``, nothing learnable) the last result is reused while the storage and
    in-place version counter of every parameter and buffer are unchanged, so an optimiser step,
    ``load_state_dict`` or ``.to()`` refreshes it. Subclasses implement ``encode`` and
    ``learnable_tensors`` and set ``self.use_cache``. Not registered.
    """

    use_cache: bool = True

    def encode(self) -> Tensor:
        raise NotImplementedError

    def learnable_tensors(self) -> List[Tensor]:
        raise NotImplementedError

    def _key(self):
        return tuple((t.data_ptr(), t._version, t.dtype, t.device)
                     for t in itertools.chain(self.parameters(), self.buffers()))

    def forward(self) -> Tensor:
        grad_possible = torch.is_grad_enabled() and any(t.requires_grad for t in self.learnable_tensors())
        if grad_possible or not self.use_cache:
            self.__dict__['_cache_key'] = None
            return self.encode()
        key = self._key()
        if key != self.__dict__.get('_cache_key'):
            with torch.no_grad():
                self.__dict__['_cache_value'] = self.encode()
            self.__dict__['_cache_key'] = key
        return self.__dict__['_cache_value']
