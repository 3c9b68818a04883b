"""Turns any mmseg decode head (FCN, UPerNet, ...) into a depth head."""
import torch
from mmseg.registry import MODELS

from .base_depth_head import BaseDepthHead

__all__ = ['DepthAdapterHead']


@MODELS.register_module()
class DepthAdapterHead(BaseDepthHead):
    """``depth = max_depth * sigmoid(head(feats))`` with ``head`` any mmseg decode head built with one
    output channel, so mmseg's decoders can sit on ``CLIPPromptBackbone`` (or any backbone) for depth.
    The wrapped head's own segmentation loss is unused; ``loss_decode`` (SILog) applies.
    """

    def __init__(self, head: dict, max_depth: float = 10.0, min_depth: float = 1e-3, **kwargs):
        super().__init__(min_depth=min_depth, max_depth=max_depth, **kwargs)
        head = dict(head)
        head.update(num_classes=1, out_channels=1, threshold=0.5)
        self.head = MODELS.build(head)
        self.in_index = self.head.in_index

    def forward(self, inputs) -> torch.Tensor:
        return torch.sigmoid(self.head.forward(inputs)) * self.max_depth
