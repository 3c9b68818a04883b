"""CLIP2Depth decoder: mirror-conditioned FiLM + compact deconvolution stack (Kim et al. 2024, docs/mirror.md)."""
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmengine.logging import print_log
from mmseg.registry import MODELS
from torch import Tensor, nn

from .base_depth_head import BaseDepthHead

__all__ = ['FiLM', 'MirrorDepthHead']

_FILM_POSITIONS = ('features', 'decoder')


class FiLM(nn.Module):
    """Feature-wise linear modulation ``x * (1 + gamma) + beta`` with ``(gamma, beta) = W t + b``.

    ``t`` (1 or N, cond_dim) is the conditioning vector; gamma and beta are per channel, shared by every
    position. ``W`` and ``b`` start at zero, so the module starts as the identity (and stays the identity
    until the conditioning path receives gradient).
    """

    def __init__(self, cond_dim: int, num_channels: int):
        super().__init__()
        self.num_channels = num_channels
        self.linear = nn.Linear(cond_dim, 2 * num_channels)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        if x.shape[1] != self.num_channels:
            raise ValueError(f'FiLM expects {self.num_channels} channels, got {x.shape[1]}')
        gamma, beta = self.linear(cond.to(x.dtype)).chunk(2, dim=-1)
        return x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]


@MODELS.register_module()
class MirrorDepthHead(BaseDepthHead):
    """Depth = ``max_depth * sigmoid(deconv_stack(fuse(FiLM(features, mirror))))`` at full resolution.

    1. ``text_encoder`` (a :class:`MirrorTextEncoder`) gives one conditioning vector ``t`` (1, C).
    2. FiLM (per-channel gamma, beta = linear(t), zero-initialised -> identity at the start) modulates
       either the dense CLIP features (``film_position='features'``: the last selected level, its
       ``in_channels``) or the fused decoder map (``'decoder'``: ``channels``).
    3. Levels (``in_index``: one index or a list, coarse-to-fine order does not matter; e.g. the raw
       ResNet stages of ``CLIPPromptBackbone(extra_levels=(1, 2, 3))`` plus the CLIP map): a 1x1 lateral
       conv per level to ``channels``, then FPN-style top-down fusion (bilinear upsampling of the coarser
       sum to the next finer level, then add) down to the finest selected level.
    4. ``len(deconv_channels)`` blocks ``ConvTranspose2d(k=deconv_kernel, stride 2) -> norm -> act``, each
       doubling the resolution (5 blocks from stride 32 reach the input size exactly when it is a multiple
       of 32: NYU 480x640, KITTI 352x1216 / 352x704), a 3x3 conv to one channel, ``sigmoid * max_depth``
       (floored at 1e-6 so the log in SILog stays finite). Inputs that are not multiples of the stride are
       handled by the base class's bilinear resize to the image / ground-truth size.

    ``use_mirror=False`` is the ablation without the mirror: no text encoder is built and FiLM is the
    identity (Kim et al.'s "mirror removed"). The trainable parameter count is logged at build time.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]] = 1024,
                 in_index: Union[int, Sequence[int]] = -1,
                 channels: int = 256,
                 text_encoder: Optional[dict] = dict(type='MirrorTextEncoder'),
                 use_mirror: bool = True,
                 film_position: str = 'features',
                 deconv_channels: Sequence[int] = (256, 128, 64, 32, 16),
                 deconv_kernel: int = 4,
                 norm_cfg: Optional[dict] = dict(type='BN', requires_grad=True),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 min_depth: float = 1e-3,
                 max_depth: float = 10.0,
                 align_corners: bool = False,
                 **kwargs):
        super().__init__(in_channels=in_channels, in_index=in_index, min_depth=min_depth,
                         max_depth=max_depth, align_corners=align_corners, **kwargs)
        multi = not isinstance(in_index, int)
        if multi != (not isinstance(in_channels, int)) or (
                multi and len(in_index) != len(in_channels)):
            raise ValueError(f'MirrorDepthHead: in_index {in_index!r} and in_channels {in_channels!r} must '
                             'both be ints or lists of the same length')
        if multi and len(in_index) == 0:
            raise ValueError('MirrorDepthHead: in_index is an empty list')
        if film_position not in _FILM_POSITIONS:
            raise ValueError(f'film_position must be one of {_FILM_POSITIONS}, got {film_position!r}')
        deconv_channels = list(deconv_channels)
        if any(int(c) < 1 for c in deconv_channels):
            raise ValueError(f'deconv_channels must be positive ints, got {deconv_channels!r}')
        if deconv_kernel < 2:
            raise ValueError(f'deconv_kernel must be >= 2 (stride-2 transposed conv), got {deconv_kernel}')
        self.level_channels = list(in_channels) if multi else [in_channels]
        self.channels = channels
        self.use_mirror = use_mirror
        self.film_position = film_position

        if use_mirror:
            if text_encoder is None:
                raise ValueError('MirrorDepthHead: use_mirror=True needs a text_encoder config '
                                 "(e.g. dict(type='MirrorTextEncoder', clip=..., num_tokens=64))")
            self.text_encoder = MODELS.build(text_encoder)
            cond_dim = self.text_encoder.embed_dim
            film_ch = self.level_channels[-1] if film_position == 'features' else channels
            self.film = FiLM(cond_dim, film_ch)
        else:
            self.text_encoder = None
            self.film = None

        self.laterals = nn.ModuleList(
            ConvModule(c, channels, 1, norm_cfg=norm_cfg, act_cfg=None) for c in self.level_channels)
        blocks = []
        prev = channels
        pad, out_pad = (deconv_kernel - 1) // 2, deconv_kernel % 2
        for c in deconv_channels:
            layers = [nn.ConvTranspose2d(prev, c, deconv_kernel, stride=2, padding=pad,
                                         output_padding=out_pad, bias=norm_cfg is None)]
            if norm_cfg is not None:
                layers.append(build_norm_layer(norm_cfg, c)[1])
            if act_cfg is not None:
                layers.append(build_activation_layer(act_cfg))
            blocks.append(nn.Sequential(*layers))
            prev = c
        self.deconvs = nn.Sequential(*blocks)
        self.depth_conv = nn.Conv2d(prev, 1, 3, padding=1)
        self.upsample_factor = 2 ** len(deconv_channels)
        self._warned_size = False
        self.log_parameter_count()

    # ------------------------------------------------------------------ bookkeeping
    def parameter_counts(self) -> dict:
        """Trainable parameters per part: mirror, film, decoder, total."""
        def count(module):
            return sum(p.numel() for p in module.parameters() if p.requires_grad) if module is not None else 0
        mirror = count(self.text_encoder)
        film = count(self.film)
        total = count(self)
        return dict(mirror=mirror, film=film, decoder=total - mirror - film, total=total)

    def log_parameter_count(self):
        c = self.parameter_counts()
        s = self.text_encoder.num_tokens if self.text_encoder is not None else 0
        print_log(f'MirrorDepthHead: {c["total"]:,} trainable parameters (mirror s={s}: {c["mirror"]:,}, '
                  f'FiLM: {c["film"]:,}, decoder: {c["decoder"]:,}); use_mirror={self.use_mirror}',
                  logger='current')

    def init_weights(self):
        super().init_weights()  # ConvModule laterals: kaiming
        for m in self.deconvs.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if self.film is not None:
            self.film.reset_parameters()

    # ------------------------------------------------------------------ forward
    def condition(self) -> Optional[Tensor]:
        """The mirror's conditioning vector (1, C), or None without the mirror."""
        return self.text_encoder() if self.text_encoder is not None else None

    def forward(self, inputs) -> Tensor:
        feats = self._select(inputs)
        feats = [feats] if isinstance(feats, Tensor) else list(feats)
        if len(feats) != len(self.laterals):
            raise ValueError(f'MirrorDepthHead expects {len(self.laterals)} feature levels (in_index='
                             f'{self.in_index!r}), got {len(feats)}')
        for f, c in zip(feats, self.level_channels):
            if f.shape[1] != c:
                raise ValueError(f'MirrorDepthHead: a feature level has {f.shape[1]} channels but '
                                 f'in_channels says {c}')
        cond = self.condition()
        if cond is not None and self.film_position == 'features':
            feats[-1] = self.film(feats[-1], cond)
        # top-down fusion from the coarsest to the finest level
        order = sorted(range(len(feats)), key=lambda i: feats[i].shape[-2] * feats[i].shape[-1])
        x = self.laterals[order[0]](feats[order[0]])
        for i in order[1:]:
            lat = self.laterals[i](feats[i])
            x = lat + F.interpolate(x, size=lat.shape[-2:], mode='bilinear', align_corners=self.align_corners)
        if cond is not None and self.film_position == 'decoder':
            x = self.film(x, cond)
        x = self.depth_conv(self.deconvs(x))
        return (torch.sigmoid(x) * self.max_depth).clamp_min(1e-6)

    def loss_by_feat(self, pred_depth_map: Tensor, batch_data_samples) -> dict:
        gt_h, gt_w = batch_data_samples[0].gt_depth_map.data.shape[-2:]
        h, w = pred_depth_map.shape[-2:]
        if not self._warned_size and (2 * h <= gt_h or 2 * w <= gt_w):
            self._warned_size = True
            print_log(f'MirrorDepthHead: the decoder output {(h, w)} is less than half the ground truth '
                      f'{(gt_h, gt_w)}; add deconvolution blocks (deconv_channels) so the stack reaches '
                      'full resolution', logger='current', level=30)
        return super().loss_by_feat(pred_depth_map, batch_data_samples)
