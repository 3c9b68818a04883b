"""The CLIP depth estimator: any backbone + depth decode head, with a CLIP text tower checked against the image
tower (test modes, checks and post-processing: ``BaseDepthEstimator``)."""
from mmengine.config import ConfigDict
from mmseg.registry import MODELS

from ..utils.clip_loader import shared_clip_scope
from .base_depth_estimator import BaseDepthEstimator

__all__ = ['CLIPDepthEstimator']


@MODELS.register_module()
class CLIPDepthEstimator(BaseDepthEstimator):
    """Depth estimator for any backbone + depth decode head (DepthCLIP, Auty et al., CLIP2Depth, mirror configs).

    Test modes (``test_cfg.mode``: ``whole``, ``whole_flip``, ``slide``, ``slide_flip``), the weights and input
    checks, training without trainable parameters and the post-processing are ``BaseDepthEstimator``'s. The
    backbone and head are built inside ``shared_clip_scope`` so a CLIP image tower and text tower with
    identical arguments come from one instance (weights loaded once); a text tower whose width differs from the
    image tower's without a projection between them is refused at build time.
    """

    def __new__(cls, *args, **kwargs):
        # the config the model is built from (the registry passes every setting as a keyword), for the
        # checkpoint identity (mmclipdepth.checkpoint.identity): set before any subclass __init__ edits it
        obj = super().__new__(cls)
        import copy
        obj.__dict__['build_cfg'] = dict(type=cls.__name__, **copy.deepcopy(kwargs)) if not args else None
        return obj

    def __init__(self, *args, **kwargs):
        for key in ('train_cfg', 'test_cfg'):
            if isinstance(kwargs.get(key), dict):
                kwargs[key] = ConfigDict(kwargs[key])  # mmseg reads e.g. test_cfg.stride as attributes
        with shared_clip_scope():
            super().__init__(*args, **kwargs)
        self._finish_init()

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
