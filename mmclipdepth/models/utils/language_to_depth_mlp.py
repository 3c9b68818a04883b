"""The residual MLP after cross-modal reprogramming (authors' ``Language2Depth``, docs/llm_mde.md)."""
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

__all__ = ['LanguageToDepthMLP']


def _bottleneck(c: int, r: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(c, c // r, bias=False), nn.ReLU(inplace=True),
                         nn.Linear(c // r, c, bias=False), nn.ReLU(inplace=True))


@MODELS.register_module()
class LanguageToDepthMLP(BaseModule):
    """``x + f2(f1(x))``, each ``f`` = Linear(C -> C/r) - ReLU - Linear(C/r -> C) - ReLU, no biases (768 -> 192 -> 768).

    ``channels`` may be left None for ``LLMDepthEstimator`` to fill in (the LLM width).
    """

    def __init__(self, channels: int = None, reduction: int = 4, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if channels is None or channels % reduction:
            raise ValueError(f'LanguageToDepthMLP: channels={channels!r} must be an int divisible by '
                             f'reduction={reduction}')
        self.l2p_l1 = _bottleneck(channels, reduction)
        self.l2p_l2 = _bottleneck(channels, reduction)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.l2p_l2(self.l2p_l1(x))
