"""The CLIP depth estimator: any backbone + depth decode head, with a CLIP text tower checked against the image
tower (test modes, checks and post-processing: ``BaseDepthEstimator``)."""
from typing import Optional

from mmengine.config import ConfigDict
from mmseg.registry import MODELS

from ..utils.model_clip import hand_out_clip
from .base_depth_estimator import BaseDepthEstimator

__all__ = ['CLIPDepthEstimator']


@MODELS.register_module()
class CLIPDepthEstimator(BaseDepthEstimator):
    """Depth estimator for any backbone + depth decode head (DepthCLIP, Auty et al., CLIP2Depth, mirror configs).

    Test modes (``test_cfg.mode``: ``whole``, ``whole_flip``, ``slide``, ``slide_flip``), the weights and input
    checks, training without trainable parameters and the post-processing are ``BaseDepthEstimator``'s. A text
    tower whose width differs from the image tower's without a projection between them is refused at build time.

    ``clip=dict(model_name, pretrained, arch_cfg, cache_dir, quick_gelu)``: the model's one CLIP, built once and
    handed to every part that takes it (image tower, text tower); ``model.clip.pretrained`` sets its weights.
    ``clip_model`` is that instance (not a submodule: its towers are registered in the parts that use them).
    """

    def __init__(self, backbone: dict, decode_head: dict, *args, clip: Optional[dict] = None, **kwargs):
        for key in ('train_cfg', 'test_cfg'):
            if isinstance(kwargs.get(key), dict):
                kwargs[key] = ConfigDict(kwargs[key])  # mmseg reads e.g. test_cfg.stride as attributes
        parts = dict(backbone=backbone, decode_head=decode_head,
                     **{k: kwargs[k] for k in ('neck', 'auxiliary_head') if kwargs.get(k) is not None})
        parts, clip_model, self_clip = hand_out_clip(parts, clip)
        kwargs.update({k: v for k, v in parts.items() if k in ('neck', 'auxiliary_head')})
        super().__init__(parts['backbone'], parts['decode_head'], *args, **kwargs)
        self._keep_clip(clip_model, self_clip)
        self._finish_init()

    def _keep_clip(self, clip_model, clip: Optional[dict]):
        # kept outside the module tree (each tower is registered once, in the part that uses it)
        self.__dict__['clip_model'] = clip_model
        self.clip = clip

    def _check_parts(self):
        self._check_towers()

    def _check_towers(self, head=None):
        """Image features and text features must live in one space: refuse, at build time, a backbone whose
        feature width differs from the text tower's when the head has no projection between them."""
        head = self.decode_head if head is None else head
        text = getattr(head, 'text_encoder', None)
        core = getattr(text, 'core', None)
        width = getattr(self.backbone, 'out_channels', None)
        if core is None or not isinstance(width, int) or getattr(head, 'proj', True) is not None:
            return  # no text tower, unknown width, or a projection between the two
        if width != core.embed_dim:
            raise ValueError(
                f'the image tower ({type(self.backbone).__name__}) gives {width}-d features but the text tower of '
                f'{type(text).__name__} gives {core.embed_dim}-d ones: build both from the same clip=dict(...), or '
                f'set decode_head.in_channels={width} to add a trainable projection.')
