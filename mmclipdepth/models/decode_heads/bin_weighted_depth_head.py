"""Depth as the softmax-weighted sum of bin centres over image-prompt similarities (DepthCLIP, Auty)."""
import math
from typing import Optional, Sequence, Union

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

from .base_depth_head import BaseDepthHead

__all__ = ['BinWeightedDepthHead', 'bin_centres']

DEPTHCLIP_BINS = [1.0, 1.5, 2.0, 2.25, 2.5, 2.75, 3.0]


def bin_centres(kind: Union[str, Sequence[float]], num_bins: int, min_depth: float,
                max_depth: float) -> Tensor:
    """Bin centres (docs/fidelity.md "Head and bins"): ``linear`` min + (i + .5)(max - min)/N, ``log`` the same in log
    space, ``depthclip`` DepthCLIP's fixed list, or an explicit list."""
    # Python floats in the authors' operation order (min + i*w + w/2; e ** (...)), then float32, so the
    # centres match theirs bit for bit
    if isinstance(kind, str):
        if kind == 'linear':
            w = (max_depth - min_depth) / num_bins
            values = [min_depth + i * w + w / 2 for i in range(num_bins)]
        elif kind == 'log':
            lo = math.log(min_depth)
            w = (math.log(max_depth) - lo) / num_bins
            values = [math.e ** (lo + i * w + w / 2) for i in range(num_bins)]
        elif kind == 'depthclip':
            values = list(DEPTHCLIP_BINS)
        else:
            raise ValueError(f"bin_centres must be 'linear', 'log', 'depthclip' or a list, got {kind!r}")
    elif isinstance(kind, (list, tuple)):
        values = [float(v) for v in kind]
    else:
        raise ValueError(
            f"decode_head.bins must be 'linear', 'log', 'depthclip' or a list of {num_bins} bin centres in metres, "
            f'got {kind!r} ({type(kind).__name__}); the number of bins is the number of depth prompts of the text '
            'encoder, not a setting of bins')
    c = torch.tensor(values, dtype=torch.float32)
    if c.numel() != num_bins:
        raise ValueError(f'{c.numel()} bin centres ({kind!r}) but the text encoder has {num_bins} prompts')
    return c


@MODELS.register_module()
class BinWeightedDepthHead(BaseDepthHead):
    """``depth = sum_i softmax_i(logit_scale * <f, t_i> / temperature) * c_i`` per position.

    ``f`` the dense image feature (stride 32 for RN CLIP), ``t_i`` the text feature of bin i's prompt from
    the owned ``text_encoder`` (``LearnableTokenTextEncoder``), ``c_i`` the bin centres (DepthCLIP Eq. 1-2;
    Auty et al. §3: logit scale 100, temperature 0.1). Output stays at the feature resolution; the loss and
    evaluation upsample it bilinearly with ``align_corners=True``. ``projection=True`` (or an
    ``in_channels`` that differs from the text width) adds a trainable 1x1 conv + per-position L2 so the head
    can sit on any backbone (e.g. an mmseg ResNet).
    """
    config_buffers = BaseDepthHead.config_buffers + ('bin_centres', )

    def __init__(self,
                 text_encoder: dict,
                 bins: Union[str, Sequence[float]] = 'linear',
                 min_depth: float = 1e-3,
                 max_depth: float = 10.0,
                 logit_scale: float = 100.0,
                 temperature: float = 0.1,
                 in_channels: Optional[int] = None,
                 projection: bool = False,
                 normalize_features: Optional[bool] = None,
                 **kwargs):
        super().__init__(in_channels=in_channels if in_channels is not None else -1, min_depth=min_depth,
                         max_depth=max_depth, **kwargs)
        self.text_encoder = MODELS.build(text_encoder)
        embed_dim = self.text_encoder.core.embed_dim
        num_bins = self.text_encoder.num_bins
        self.register_buffer('bin_centres', bin_centres(bins, num_bins, min_depth, max_depth))
        self.bins = bins
        self.logit_scale = float(logit_scale)
        self.temperature = float(temperature)
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        needs_proj = projection or (in_channels is not None and in_channels != embed_dim)
        self.proj = nn.Conv2d(in_channels, embed_dim, 1) if needs_proj else None
        self.normalize_features = needs_proj if normalize_features is None else normalize_features

    def init_weights(self):
        # only the optional projection is ours to initialise; CLIP and the tokens are set at build time
        if self.proj is not None:
            nn.init.normal_(self.proj.weight, std=0.01)
            nn.init.zeros_(self.proj.bias)

    def forward(self, inputs) -> Tensor:
        feat = self._select(inputs)
        if self.proj is not None:
            feat = self.proj(feat)
        if self.normalize_features:
            feat = feat / feat.norm(dim=1, keepdim=True)
        text = self.text_encoder()  # (N_bins, C)
        if feat.shape[1] != text.shape[1]:
            raise ValueError(f'image features have {feat.shape[1]} channels but text features {text.shape[1]}; '
                             f'set in_channels={feat.shape[1]} (adds a 1x1 projection)')
        # same operation order as the authors' code (docs/fidelity.md), so fp32 results match to the last digit
        n, c, h, w = feat.shape
        logits = self.logit_scale * (feat.flatten(2).transpose(1, 2) @ text.to(feat.dtype).t())  # N, hw, K
        logits = logits.permute(0, 2, 1).reshape(n, -1, h, w) / self.temperature
        prob = logits.softmax(dim=1)
        return (prob * self.bin_centres.to(prob.dtype).view(1, -1, 1, 1)).sum(1, keepdim=True)
