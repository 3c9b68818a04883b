"""mmseg's DepthEstimator with its ``slide`` dispatch fixed and a whole-image flip TTA mode."""
from typing import List

import torch
from mmengine.config import ConfigDict
from mmseg.models.segmentors import DepthEstimator
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.clip_loader import shared_clip_scope

__all__ = ['CLIPDepthEstimator']

_MODES = ('whole', 'whole_flip', 'slide', 'slide_flip')


@MODELS.register_module()
class CLIPDepthEstimator(DepthEstimator):
    """Depth estimator for any backbone + depth decode head.

    ``test_cfg.mode``: ``whole``; ``whole_flip`` (Auty et al.'s and DepthCLIP's TTA, DepthCLIP ``eval.py`` ``validate``: predict the image and its
    horizontal mirror, mirror back and average *at the head's output resolution*, then upsample);
    ``slide`` / ``slide_flip`` (mmseg's windows; mmseg 1.2.2 overwrote ``slide`` results with whole-image
    inference, fixed here). The backbone and head are built inside ``shared_clip_scope`` so a CLIP image tower
    and text tower with identical arguments come from one instance (weights loaded once).
    """

    def __init__(self, *args, **kwargs):
        for key in ('train_cfg', 'test_cfg'):
            if isinstance(kwargs.get(key), dict):
                kwargs[key] = ConfigDict(kwargs[key])  # mmseg reads e.g. test_cfg.stride as attributes
        with shared_clip_scope():
            super().__init__(*args, **kwargs)
        mode = self.test_cfg.get('mode', 'whole') if self.test_cfg else 'whole'
        if mode not in _MODES:
            raise ValueError(f'test_cfg.mode must be one of {_MODES}, got {mode!r}')

    def train_step(self, data, optim_wrapper):
        """mmengine's train step; with no trainable parameter only the forward pass runs (the human-word
        controls of Auty et al. Table 3 still update CLIP's BatchNorm statistics in faithful ``bn_mode='train'``,
        docs/fidelity.md)."""
        if any(p.requires_grad for p in self.parameters()):
            return super().train_step(data, optim_wrapper)
        with optim_wrapper.optim_context(self), torch.no_grad():
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode='loss')
        _, log_vars = self.parse_losses(losses)
        return log_vars

    def whole_flip_inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        n = inputs.shape[0]
        feats = self.extract_feat(torch.cat([inputs, inputs.flip(dims=(3, ))]), batch_img_metas * 2)
        low = self.decode_head.forward(feats)
        low = (low[:n] + low[n:].flip(dims=(3, ))) / 2
        return self.decode_head.predict_by_feat(low, batch_img_metas)

    def postprocess_result(self, depth: Tensor, data_samples=None):
        """mmseg's postprocessing (remove padding, undo flips, resize to ``ori_shape``), except for samples
        whose image was cropped alone (``img_crop_box``, see ``ImageOnlyCrop``): their prediction is pasted at
        the box into a zero ``ori_shape`` frame, as DepthCLIP's evaluation does; the metric ignores the rest."""
        if data_samples is None or not any('img_crop_box' in ds.metainfo for ds in data_samples):
            return super().postprocess_result(depth, data_samples)
        from mmengine.structures import PixelData
        plain = [i for i, ds in enumerate(data_samples) if 'img_crop_box' not in ds.metainfo]
        if plain:
            super().postprocess_result(depth[plain], [data_samples[i] for i in plain])
        for i, ds in enumerate(data_samples):
            meta = ds.metainfo
            if 'img_crop_box' not in meta:
                continue
            left, top, right, bottom = meta['img_crop_box']
            pl, pr, pt, pb = meta.get('img_padding_size', meta.get('padding_size', [0] * 4))
            h, w = depth.shape[-2:]
            d = depth[i, :, pt:h - pb, pl:w - pr]
            if tuple(d.shape[-2:]) != (bottom - top, right - left):
                raise ValueError(f'prediction of {meta.get("img_path")!r} is {tuple(d.shape[-2:])}, '
                                 f'img_crop_box {meta["img_crop_box"]} needs {(bottom - top, right - left)}')
            frame = d.new_zeros((d.shape[0], ) + tuple(meta['ori_shape'][:2]))
            frame[:, top:bottom, left:right] = d
            ds.set_data({'pred_depth_map': PixelData(data=frame)})
        return data_samples

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        mode = self.test_cfg.get('mode', 'whole') if self.test_cfg else 'whole'
        if mode not in _MODES:
            raise ValueError(f'test_cfg.mode must be one of {_MODES}, got {mode!r}')
        if mode in ('slide', 'slide_flip'):
            # mmseg's window loop overwrites img_shape in the metas it is given: hand it copies
            metas = [dict(m) for m in batch_img_metas]
            if mode == 'slide':
                return self.slide_inference(inputs, metas)
            return self.slide_flip_inference(inputs, metas)
        if mode == 'whole_flip':
            return self.whole_flip_inference(inputs, batch_img_metas)
        return self.whole_inference(inputs, batch_img_metas)
