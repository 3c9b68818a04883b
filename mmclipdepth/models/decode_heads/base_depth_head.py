"""Shared plumbing of the depth decode heads (the mmseg 1.x depth contract of ``VPDDepthHead`` and ``DepthEstimator``)."""
from typing import List, Sequence, Union

import torch
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor, nn

__all__ = ['BaseDepthHead']


class BaseDepthHead(BaseDecodeHead):
    """Base for heads whose ``forward(feats)`` returns depth in metres, (N, 1, h, w).

    ``loss_by_feat`` resizes the prediction bilinearly (``align_corners``) to the ground truth and applies
    ``loss_decode``; ``predict_by_feat`` resizes to the input image and, outside training, clamps to
    ``[min_depth, max_depth]`` (NaN -> min, +-inf -> max). Not registered: subclass it.
    """
    num_classes = 1
    out_channels = 1
    #: buffers recomputed from the config and checked against (never taken from) a checkpoint
    config_buffers = ('depth_range', )

    def __init__(self,
                 in_channels: Union[int, Sequence[int]] = -1,
                 in_index: Union[int, Sequence[int]] = -1,
                 min_depth: float = 1e-3,
                 max_depth: float = 10.0,
                 align_corners: bool = True,
                 clamp_at_eval: bool = True,
                 loss_decode: Union[dict, Sequence[dict]] = dict(type='SILogLoss'),
                 init_cfg=None):
        # BaseDecodeHead.__init__ builds segmentation-only layers (conv_seg, dropout); skip it as
        # mmseg's own VPDDepthHead does.
        super(BaseDecodeHead, self).__init__(init_cfg=init_cfg)
        if not 0 < min_depth < max_depth:
            raise ValueError(f'need 0 < min_depth < max_depth, got min_depth={min_depth}, max_depth={max_depth}')
        self.in_channels = in_channels
        self.in_index = in_index
        self.input_transform = None
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        # saved with the weights so a checkpoint records the range it was trained for (checked on load)
        self.register_buffer('depth_range', torch.tensor([self.min_depth, self.max_depth], dtype=torch.float32))
        self.align_corners = align_corners
        self.clamp_at_eval = clamp_at_eval
        self.ignore_index = 255
        if isinstance(loss_decode, dict):
            self.loss_decode = MODELS.build(loss_decode)
        elif isinstance(loss_decode, (list, tuple)):
            self.loss_decode = nn.ModuleList([MODELS.build(cfg) for cfg in loss_decode])
        else:
            raise TypeError(f'loss_decode must be a dict or a sequence of dicts, got {type(loss_decode)}')

    def _select(self, inputs):
        if isinstance(inputs, Tensor):
            return inputs
        if isinstance(self.in_index, int):
            return inputs[self.in_index]
        return [inputs[i] for i in self.in_index]

    def clamp(self, depth: Tensor) -> Tensor:
        """Clamp to [min_depth, max_depth]; NaN -> min_depth, +-inf -> max_depth (docs/fidelity.md)."""
        depth = torch.nan_to_num(depth, nan=self.min_depth, posinf=self.max_depth, neginf=self.max_depth)
        return depth.clamp(self.min_depth, self.max_depth)

    @staticmethod
    def _stack_batch_gt(batch_data_samples: SampleList) -> Tensor:
        return torch.stack([ds.gt_depth_map.data for ds in batch_data_samples], dim=0)

    def loss_by_feat(self, pred_depth_map: Tensor, batch_data_samples: SampleList) -> dict:
        gt = self._stack_batch_gt(batch_data_samples).to(pred_depth_map)
        pred = resize(pred_depth_map, size=gt.shape[2:], mode='bilinear', align_corners=self.align_corners,
                      warning=False)
        losses = dict()
        loss_modules = self.loss_decode if isinstance(self.loss_decode, nn.ModuleList) else [self.loss_decode]
        for loss_module in loss_modules:
            value = loss_module(pred, gt)
            losses[loss_module.loss_name] = losses.get(loss_module.loss_name, 0) + value
        return losses

    def predict_by_feat(self, depth: Tensor, batch_img_metas: List[dict]) -> Tensor:
        meta = batch_img_metas[0]
        if isinstance(meta.get('img_shape'), torch.Size):
            size = meta['img_shape']
        elif 'pad_shape' in meta:
            size = meta['pad_shape'][:2]
        else:
            size = meta['img_shape']
        clamp = self.clamp_at_eval and not self.training
        if clamp:  # before upsampling too, so a NaN does not spread to its neighbours
            depth = self.clamp(depth)
        depth = resize(depth, size=tuple(size), mode='bilinear', align_corners=self.align_corners,
                       warning=False)
        return self.clamp(depth) if clamp else depth
