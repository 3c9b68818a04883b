"""mmseg's DepthEstimator with its ``slide`` dispatch fixed and a whole-image flip TTA mode."""
from typing import List, Optional

import torch
from mmengine.config import ConfigDict
from mmseg.models.segmentors import DepthEstimator
from mmseg.registry import MODELS
from torch import Tensor

from ...checkpoint.guard import check_incoming_state, last_checkpoint_source
from ..utils.model_clip import hand_out_clip

__all__ = ['CLIPDepthEstimator']

_MODES = ('whole', 'whole_flip', 'slide', 'slide_flip')


@MODELS.register_module()
class CLIPDepthEstimator(DepthEstimator):
    """Depth estimator for any backbone + depth decode head.

    ``test_cfg.mode``: ``whole``; ``whole_flip`` (Auty et al.'s and DepthCLIP's TTA, DepthCLIP ``eval.py`` ``validate``: predict the image and its
    horizontal mirror, mirror back and average *at the head's output resolution*, then upsample);
    ``slide`` / ``slide_flip`` (mmseg's windows; mmseg 1.2.2 overwrote ``slide`` results with whole-image
    inference, fixed here).

    ``clip=dict(model_name, pretrained, arch_cfg, cache_dir, quick_gelu)``: the model's one CLIP, built once and
    handed to every part that takes it (image tower, text tower); ``model.clip.pretrained`` sets its weights.
    ``clip_model`` is that instance (not a submodule: its towers are registered in the parts that use them).
    """

    def __new__(cls, *args, **kwargs):
        # the config the model is built from (the registry passes every setting as a keyword), for the
        # checkpoint identity (mmclipdepth.checkpoint.identity): set before any subclass __init__ edits it
        obj = super().__new__(cls)
        import copy
        obj.__dict__['build_cfg'] = dict(type=cls.__name__, **copy.deepcopy(kwargs)) if not args else None
        return obj

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

    def _finish_init(self):
        """Checks and hooks every estimator of this family sets up once its parts are built."""
        mode = self.test_cfg.get('mode', 'whole') if self.test_cfg else 'whole'
        if mode not in _MODES:
            raise ValueError(f'test_cfg.mode must be one of {_MODES}, got {mode!r}')
        self._check_towers()
        #: where the learnable weights come from: None (initialisation), 'checkpoint ...' or 'training'
        self.weights_source = None
        self.register_load_state_dict_pre_hook(self._check_checkpoint)

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

    # ---------------------------------------------------------------------------------- weights checks
    @staticmethod
    def _check_checkpoint(module, state_dict, prefix, *args):
        """Every path that loads weights ends here (mmengine's loaders and ``load_state_dict`` alike)."""
        source = last_checkpoint_source(state_dict)
        check_incoming_state(module, state_dict, prefix, source=source)
        module.weights_source = f'checkpoint {source}'

    def check_weights_ready(self):
        """Refuse to evaluate learnable parameters that were neither loaded nor trained (random tokens would
        print confident metrics), unless ``test_cfg.allow_untrained=True`` says it is meant."""
        if self.training or self.weights_source is not None:
            return
        learnable = [n for n, p in self.named_parameters() if p.requires_grad]
        if not learnable or (self.test_cfg and self.test_cfg.get('allow_untrained', False)):
            return
        raise RuntimeError(
            f'{type(self).__name__} has {len(learnable)} learnable parameter tensor(s) ({", ".join(learnable[:3])}'
            f'{", ..." if len(learnable) > 3 else ""}) but no checkpoint was loaded and nothing was trained: its '
            'predictions would come from random initial values. Pass the checkpoint written by tools/train.py '
            '(tools/test.py CONFIG CHECKPOINT, load_from=..., init_depth_model(config, checkpoint)), or set '
            'model.test_cfg.allow_untrained=True to evaluate the initial values on purpose.')

    def check_input_size(self, inputs: Tensor, data_samples=None):
        """The image trunk needs ``min_input_size`` px per side (RN CLIP: its stride 32)."""
        need = getattr(self.backbone, 'min_input_size', None)
        if need is None:
            return
        h, w = inputs.shape[-2:]
        if h < need or w < need:
            names = [ds.metainfo.get('img_path', f'#{i}') for i, ds in enumerate(data_samples or [])] or ['input']
            raise ValueError(f'image {names[0]!r}{" (and the rest of its batch)" if len(names) > 1 else ""} is '
                             f'{h}x{w} px after the pipeline; {type(self.backbone).__name__} needs at least '
                             f'{need}x{need} (its output stride).')

    def predict(self, inputs: Tensor, data_samples=None):
        self.check_weights_ready()
        self.check_input_size(inputs, data_samples)
        return super().predict(inputs, data_samples)

    def loss(self, inputs: Tensor, data_samples):
        if self.training and self.weights_source is None:
            self.weights_source = 'training'  # every training path (DDP wrappers too) ends in loss()
        self.check_input_size(inputs, data_samples)
        return super().loss(inputs, data_samples)

    def parse_losses(self, losses):
        """mmengine's loss parsing; the *logged* values are averaged over processes (the loss that is
        back-propagated is untouched), so the log shows the whole batch, not rank 0's share."""
        loss, log_vars = super().parse_losses(losses)
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1 and log_vars:
            keys = list(log_vars)
            values = torch.tensor([float(log_vars[k]) for k in keys], dtype=torch.float64)
            dist.all_reduce(values)
            values /= dist.get_world_size()
            log_vars = type(log_vars)((k, loss.new_tensor(v.item())) for k, v in zip(keys, values))
        return loss, log_vars

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

    @staticmethod
    def head_depth(head, feats, batch_img_metas: List[dict], flip: bool) -> Tensor:
        """``head``'s depth at the input size from trunk features; with ``flip`` the features are of the batch
        followed by its mirror, averaged at the head's resolution (``whole_flip``)."""
        low = head.forward(feats)
        if flip:
            n = low.shape[0] // 2
            low = (low[:n] + low[n:].flip(dims=(3, ))) / 2
        return head.predict_by_feat(low, batch_img_metas)

    def whole_flip_inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        feats = self.extract_feat(torch.cat([inputs, inputs.flip(dims=(3, ))]), batch_img_metas * 2)
        return self.head_depth(self.decode_head, feats, batch_img_metas, flip=True)

    def postprocess_result(self, depth: Tensor, data_samples=None):
        """mmseg's postprocessing (remove padding, undo flips, resize to ``ori_shape``), except for samples
        whose image was cropped alone (``img_crop_box``, see ``ImageOnlyCrop``): their prediction is pasted at
        the box into a zero ``ori_shape`` frame, as DepthCLIP's evaluation does; the metric ignores the rest."""
        # (DepthEstimator's method named, not super(): an exported model's runner reuses this with only an
        # ``align_corners`` attribute, see mmclipdepth.apis.OnnxDepthModel)
        if data_samples is None or not any('img_crop_box' in ds.metainfo for ds in data_samples):
            return DepthEstimator.postprocess_result(self, depth, data_samples)
        from mmengine.structures import PixelData
        plain = [i for i, ds in enumerate(data_samples) if 'img_crop_box' not in ds.metainfo]
        if plain:
            DepthEstimator.postprocess_result(self, depth[plain], [data_samples[i] for i in plain])
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
