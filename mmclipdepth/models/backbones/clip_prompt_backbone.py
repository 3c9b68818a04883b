"""Frozen CLIP image tower giving dense per-position features in (or near) CLIP's joint space."""
import contextlib
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.clip_loader import clip_parameters_digest, load_clip
from ..utils.frozen_sync_batchnorm import FrozenSyncBatchNorm2d, convert_frozen_sync_bn

__all__ = ['CLIPPromptBackbone']

_TRUNK_DTYPES = {None: None, 'fp16': torch.float16, 'bf16': torch.bfloat16}


@MODELS.register_module()
class CLIPPromptBackbone(BaseModule):
    """Dense CLIP image features at stride 32 (ResNet) or the patch size (ViT), for any input size.

    ResNet CLIP (``RN50`` default):

    - ``feature_mode='raw_layer4'`` (faithful, DepthCLIP ``monoclip.py`` / Auty et al. ``modules/DepthCLIP.py``): the raw ``layer4``
      output (attention pool unused), L2-normalised per position over its 2048 channels, then reduced to the
      text width by nearest-neighbour interpolation along the channel axis (RN50: keep the even channels),
      *not* renormalised.
    - ``feature_mode='dense_attnpool'`` (corrected, MaskCLIP-style): per-position value and output projections
      of the attention pool (with its positional embedding resized to the grid), L2-normalised: features in
      the true joint space.

    ViT CLIP: per-patch tokens through ``ln_post`` and ``proj`` (positional embedding resized), L2-normalised.

    ``bn_mode='train'`` (faithful: Auty's code never puts CLIP in eval, so BatchNorm uses batch statistics
    and updates its running statistics while training) or ``'eval'`` (truly frozen). The tower is frozen;
    when none of its parameters requires grad it runs under ``torch.no_grad()`` (no autograd graph).
    ``extra_levels`` (subset of 1, 2, 3) prepends the raw outputs of those ResNet stages to the outputs.
    ``sync_bn`` (default True): with ``bn_mode='train'`` under N processes the BatchNorm batch statistics are
    pooled over all of them (``FrozenSyncBatchNorm2d``), so N x batch b equals one process x batch N*b; one
    process is unaffected.
    ``trunk_dtype`` (``'fp16'`` / ``'bf16'``, ResNet only; None = fp32, the faithful value): the trunk runs under
    ``torch.autocast`` in that dtype, features return as fp32 (DepthCLIP's GPU evaluation ran CLIP in fp16).
    ``channels_last=True`` (the default; ResNet only) runs the trunk on a channels-last (NHWC) copy of the input:
    the same maths, about 1.5x faster per training step on CPU (oneDNN needs no layout reorders around every
    conv; docs/performance.md). Its train-mode BatchNorm statistics are computed as exactly as the NCHW kernel's
    (``FrozenSyncBatchNorm2d``, blocked float32 sums merged in float64), so the learned-token gradients stay
    as close to the authors' float64 step as their own float32 step is (docs/fidelity.md).
    ``native_nhwc_bn=True`` uses torch's own channels-last statistics instead (plain float32 sums over N*H*W
    values per channel: gradients ~14x further from float64 than the authors' own float32; kept to measure).
    Returns a tuple of (N, C, h, w) maps; the last is the CLIP feature map (h = floor(H / 32) for RN).

    ``clip``: ``load_clip`` arguments, used when the backbone is built on its own; inside a
    ``CLIPDepthEstimator`` CLIP is set once at ``model.clip`` and the built instance arrives as ``clip_model``.
    """
    #: recomputed from the configured CLIP and checked against a checkpoint (mmclipdepth.checkpoint.guard)
    config_buffers = ('clip_digest', )

    def __init__(self,
                 clip: dict = dict(model_name='RN50', pretrained='openai'),
                 feature_mode: str = 'raw_layer4',
                 bn_mode: str = 'train',
                 extra_levels: Sequence[int] = (),
                 channels_last: bool = True,
                 trunk_dtype: Optional[str] = None,
                 sync_bn: bool = True,
                 native_nhwc_bn: bool = False,
                 clip_model: Optional[torch.nn.Module] = None,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if bn_mode not in ('train', 'eval'):
            raise ValueError(f"bn_mode must be 'train' (faithful) or 'eval', got {bn_mode!r}")
        # inside a depth estimator: the instance it built from its model-level ``clip`` (shared with the text
        # tower); built alone (e.g. in mmseg's DepthEstimator): from this backbone's own ``clip`` dict
        clip_model = clip_model if clip_model is not None else load_clip(**clip)
        self.visual = clip_model.visual
        self.visual.requires_grad_(False)
        self.embed_dim = clip_model.text_projection.shape[1] if isinstance(
            clip_model.text_projection, torch.nn.Parameter) else clip_model.visual.output_dim
        self.is_resnet = hasattr(self.visual, 'layer4')
        modes = ('raw_layer4', 'dense_attnpool') if self.is_resnet else ('tokens', )
        if self.is_resnet and feature_mode not in modes:
            raise ValueError(f'feature_mode for a ResNet CLIP must be one of {modes}, got {feature_mode!r}')
        if not self.is_resnet:
            if extra_levels:
                raise ValueError('extra_levels is only available for ResNet CLIP models')
            feature_mode = 'tokens'
        self.feature_mode = feature_mode
        self.bn_mode = bn_mode
        self.extra_levels = tuple(extra_levels)
        if any(lv not in (1, 2, 3) for lv in self.extra_levels):
            raise ValueError(f'extra_levels must be a subset of (1, 2, 3), got {extra_levels!r}')
        self.out_channels = self.embed_dim
        #: smallest input side that gives a feature map (RN: the stride 32; ViT: the patch size)
        self.min_input_size = 32 if self.is_resnet else int(self.visual.conv1.kernel_size[0])
        self.channels_last = bool(channels_last)
        if trunk_dtype not in _TRUNK_DTYPES:
            raise ValueError(f'trunk_dtype must be one of {sorted(k for k in _TRUNK_DTYPES if k)} or None, '
                             f'got {trunk_dtype!r}')
        self.trunk_dtype = trunk_dtype
        # bn_mode='train' under N processes: batch statistics of the whole distributed batch (see
        # FrozenSyncBatchNorm2d); a no-op on one process
        # and, on a channels-last trunk, exact batch statistics (FrozenSyncBatchNorm2d.exact_nhwc)
        if bn_mode == 'train':
            convert_frozen_sync_bn(self.visual)
            for m in self.visual.modules():
                if isinstance(m, FrozenSyncBatchNorm2d):
                    m.sync = bool(sync_bn)
        self.sync_bn = bool(sync_bn)
        self.native_nhwc_bn = native_nhwc_bn
        # identity of the frozen CLIP this model is built on (SHA-256 of its parameters): saved with every
        # checkpoint and checked on load, so a small checkpoint (frozen weights left out) is never completed
        # with other CLIP weights
        self.register_buffer('clip_digest', clip_parameters_digest(clip_model))

    @property
    def native_nhwc_bn(self) -> bool:
        """torch's float32 channels-last BatchNorm statistics instead of the exact ones (train mode only)."""
        return self._native_nhwc_bn

    @native_nhwc_bn.setter
    def native_nhwc_bn(self, value: bool):
        self._native_nhwc_bn = bool(value)
        for m in self.visual.modules():
            if isinstance(m, FrozenSyncBatchNorm2d):
                m.exact_nhwc = not self._native_nhwc_bn

    def init_weights(self):
        # CLIP weights come from load_clip; never re-initialise them.
        pass

    def train(self, mode: bool = True):
        super().train(mode)
        if self.bn_mode == 'eval':
            self.visual.eval()
        return self

    # ------------------------------------------------------------------ ResNet
    def _resnet(self, x: Tensor):
        v = self.visual
        x = x.to(v.conv1.weight.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        levels = []
        dtype = _TRUNK_DTYPES[self.trunk_dtype]
        amp = (torch.autocast(device_type=x.device.type, dtype=dtype) if dtype is not None
               else contextlib.nullcontext())
        with amp:
            x = v.stem(x)
            for i, layer in enumerate((v.layer1, v.layer2, v.layer3, v.layer4), start=1):
                x = layer(x)
                if i in self.extra_levels:
                    levels.append(x)
        if dtype is not None:  # back to the weights' dtype (fp32) for the features and the head
            levels = [lv.to(v.conv1.weight.dtype) for lv in levels]
            x = x.to(v.conv1.weight.dtype)
        if self.feature_mode == 'raw_layer4':
            feat = self.raw_layer4_features(x)
        else:
            feat = self._dense_attnpool(x)
        return levels + [feat]

    def raw_layer4_features(self, x: Tensor) -> Tensor:
        """DepthCLIP: L2 over channels per position, then nearest interpolation of channels to C."""
        n, c, h, w = x.shape
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)  # (an all-zero vector stays 0, not NaN)
        x = x.permute(0, 2, 3, 1).reshape(n, h * w, c)
        x = F.interpolate(x, size=self.embed_dim, mode='nearest')
        return x.reshape(n, h, w, self.embed_dim).permute(0, 3, 1, 2).contiguous()

    def _dense_attnpool(self, x: Tensor) -> Tensor:
        pool = self.visual.attnpool
        n, c, h, w = x.shape
        pos = pool.positional_embedding[1:]
        side = int(round(pos.shape[0] ** 0.5))
        pos = pos.reshape(1, side, side, c).permute(0, 3, 1, 2)
        if (side, side) != (h, w):
            pos = F.interpolate(pos, size=(h, w), mode='bicubic', align_corners=False)
        x = x + pos.to(x.dtype)
        x = x.flatten(2).transpose(1, 2)  # N, hw, C
        x = pool.c_proj(pool.v_proj(x))
        x = x / x.norm(dim=-1, keepdim=True)
        return x.transpose(1, 2).reshape(n, -1, h, w)

    # ------------------------------------------------------------------ ViT
    def _vit(self, x: Tensor):
        v = self.visual
        x = v.conv1(x.to(v.conv1.weight.dtype))
        n, c, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)
        cls_pos, patch_pos = v.positional_embedding[:1], v.positional_embedding[1:]
        side = int(round(patch_pos.shape[0] ** 0.5))
        if (side, side) != (h, w):
            patch_pos = F.interpolate(patch_pos.reshape(1, side, side, c).permute(0, 3, 1, 2), size=(h, w),
                                      mode='bicubic', align_corners=False).flatten(2).transpose(1, 2)[0]
        x = torch.cat([v.class_embedding.to(x.dtype).expand(n, 1, c), x], dim=1)
        x = x + torch.cat([cls_pos, patch_pos], 0).to(x.dtype)
        x = v.ln_pre(x)
        x = v.transformer(x)
        x = v.ln_post(x[:, 1:])
        if v.proj is not None:
            x = x @ v.proj
        x = x / x.norm(dim=-1, keepdim=True)
        return [x.transpose(1, 2).reshape(n, -1, h, w)]

    def forward(self, x: Tensor):
        run = self._resnet if self.is_resnet else self._vit
        if any(p.requires_grad for p in self.visual.parameters()):
            return tuple(run(x))
        with torch.no_grad():
            return tuple(run(x))
