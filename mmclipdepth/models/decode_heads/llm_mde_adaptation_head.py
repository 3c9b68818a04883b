"""LLM-MDE adaptation head: decoder tokens -> (3, 32, 32) map -> 3 UpsampleBN blocks -> sigmoid (docs/llm_mde.md)."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor, nn

from .base_depth_head import BaseDepthHead

__all__ = ['LLMMDEAdaptationHead']


class UpsampleBN(nn.Module):
    """Upsample ``x`` (bilinear, align_corners=True) to ``skip``'s size, concat, (conv3x3-BN-LeakyReLU) x 2."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self._net = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, 1, 1), nn.BatchNorm2d(out_channels), nn.LeakyReLU(),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1), nn.BatchNorm2d(out_channels), nn.LeakyReLU())

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        up = F.interpolate(x, size=skip.shape[-2:], mode='bilinear', align_corners=True)
        return self._net(torch.cat([up, skip], dim=1))


@MODELS.register_module()
class LLMMDEAdaptationHead(BaseDepthHead):
    """The authors' adaptation head (``mapping_layer4/5`` + ``Language2DepthDecoder``, docs/llm_mde.md).

    ``forward((tokens (N, L, D), image (N, 3, H, W)))``: the first ``num_tokens`` (310) tokens ->
    ``Linear(num_tokens -> map_channels)`` over the token axis -> ``Linear(D -> map_size^2)`` -> an
    (N, 3, 32, 32) map ``m``; ``u1 = UpBN(m, image)``, ``u2 = UpBN(m, u1)``, ``u3 = UpBN(m, u2)`` (``m`` is
    upsampled to the *image* resolution and concatenated each time; 12, 24, 36 channels) -> conv3x3 -> 1
    channel -> sigmoid, at the input image's resolution. The code never scales the sigmoid by the maximum
    depth (``scale_by_max_depth=False``, faithful: predictions in (0, 1) trained against metres with the
    SILog loss); ``True`` returns ``max_depth * sigmoid`` (corrected). With fewer than ``num_tokens``
    tokens (short prompt) the code fails; here the sequence is zero-padded. ``image`` is the normalised
    network input (what the code concatenates). Loss: SILog, lambda 0.85, x10, on gt > 0.1 (docs/llm_mde.md).
    """

    def __init__(self,
                 in_channels: int = 768,
                 num_tokens: int = 310,
                 map_channels: int = 3,
                 map_size: int = 32,
                 image_channels: int = 3,
                 up_channels: Sequence[int] = (12, 24, 36),
                 scale_by_max_depth: bool = False,
                 min_depth: float = 1e-3,
                 max_depth: float = 10.0,
                 align_corners: bool = True,
                 clamp_at_eval: bool = False,
                 loss_decode=dict(type='SILogLoss', lambd=0.85, scale=10.0, min_depth=0.1),
                 init_cfg=None):
        super().__init__(in_channels=in_channels, min_depth=min_depth, max_depth=max_depth,
                         align_corners=align_corners, clamp_at_eval=clamp_at_eval, loss_decode=loss_decode,
                         init_cfg=init_cfg)
        if len(up_channels) != 3:
            raise ValueError(f'LLMMDEAdaptationHead: up_channels needs 3 entries, got {tuple(up_channels)}')
        self.num_tokens, self.map_channels, self.map_size = num_tokens, map_channels, map_size
        self.scale_by_max_depth = scale_by_max_depth
        self.token_proj = nn.Linear(num_tokens, map_channels)
        self.feat_proj = nn.Linear(in_channels, map_size * map_size)
        c1, c2, c3 = up_channels
        self.up1 = UpsampleBN(map_channels + image_channels, c1)
        self.up2 = UpsampleBN(map_channels + c1, c2)
        self.up3 = UpsampleBN(map_channels + c2, c3)
        self.conv3 = nn.Conv2d(c3, 1, 3, 1, 1)

    def forward(self, inputs: Tuple[Tensor, Tensor]) -> Tensor:
        tokens, image = inputs
        n, length, _ = tokens.shape
        if length < self.num_tokens:
            tokens = F.pad(tokens, (0, 0, 0, self.num_tokens - length))
        tokens = tokens[:, :self.num_tokens]
        m = self.token_proj(tokens.transpose(1, 2)).transpose(1, 2)  # (N, map_channels, D)
        m = self.feat_proj(m).reshape(n, self.map_channels, self.map_size, self.map_size)
        image = image.to(m.dtype)
        x = self.up1(m, image)
        x = self.up2(m, x)
        x = self.up3(m, x)
        depth = torch.sigmoid(self.conv3(x))
        return depth * self.max_depth if self.scale_by_max_depth else depth
