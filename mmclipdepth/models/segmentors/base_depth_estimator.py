"""What every depth estimator of this package shares: mmseg's DepthEstimator with its ``slide`` dispatch fixed,
a whole-image flip TTA mode, the weights and input-size checks and the frozen-model training step."""
import copy
from typing import List

import torch
from mmseg.models.segmentors import DepthEstimator
from torch import Tensor

from ...checkpoint.guard import check_incoming_state, describe_source
from ..utils.depth_postprocess import flip_average, postprocess_depth

__all__ = ['BaseDepthEstimator', 'TEST_MODES']

#: ``test_cfg.mode`` values
TEST_MODES = ('whole', 'whole_flip', 'slide', 'slide_flip')


class BaseDepthEstimator(DepthEstimator):
    """The family base of ``CLIPDepthEstimator`` (and ``MultiVariantDepthEstimator``) and ``LLMDepthEstimator``
    (not registered: build one of those).

    ``test_cfg.mode``: ``whole``; ``whole_flip`` (Auty et al.'s and DepthCLIP's TTA, DepthCLIP ``eval.py``
    ``validate``: predict the image and its horizontal mirror, mirror back and average *at the head's output
    resolution*, then upsample: ``flip_average``); ``slide`` / ``slide_flip`` (mmseg's windows; mmseg 1.2.2
    overwrote ``slide`` results with whole-image inference, fixed here). Predictions are post-processed by
    ``postprocess_depth`` (padding removed, flips undone, resized to ``ori_shape``, ``img_crop_box`` pasted).

    Checks: a test mode from ``TEST_MODES`` (at build time), every loaded checkpoint (a load-state-dict
    pre-hook, ``mmclipdepth.checkpoint.guard``), learnable parameters loaded or trained before evaluation
    (``check_weights_ready``), inputs at least the backbone's ``min_input_size`` (``check_input_size``).
    A subclass's ``__init__`` builds its parts, then calls ``_finish_init()``.
    """

    def __new__(cls, *args, **kwargs):
        # the config the model is built from (the registry passes every setting as a keyword), for the
        # checkpoint identity (mmclipdepth.checkpoint.identity): set before any subclass __init__ edits it
        obj = super().__new__(cls)
        obj.__dict__['build_cfg'] = dict(type=cls.__name__, **copy.deepcopy(kwargs)) if not args else None
        return obj

    def _finish_init(self):
        """Checks and hooks every estimator of this family sets up once its parts are built."""
        mode = self.test_cfg.get('mode', 'whole') if self.test_cfg else 'whole'
        if mode not in TEST_MODES:
            raise ValueError(f'test_cfg.mode must be one of {TEST_MODES}, got {mode!r}')
        self._check_parts()
        #: where the learnable weights come from: None (initialisation), 'checkpoint ...' or 'training'
        self.weights_source = None
        self.register_load_state_dict_pre_hook(self._check_checkpoint)

    def _check_parts(self):
        """Build-time checks of how the parts fit together (a subclass's; none here)."""

    @property
    def min_input_size(self) -> int:
        """The smallest image side the image trunk takes (its ``min_input_size``, e.g. a ResNet CLIP's stride
        32; 1 when it names none)."""
        return int(getattr(self.backbone, 'min_input_size', None) or 1)

    # ---------------------------------------------------------------------------------- weights checks
    @staticmethod
    def _check_checkpoint(module, state_dict, prefix, local_metadata=None, *args):
        """Every path that loads weights ends here (mmengine's loaders and ``load_state_dict`` alike). The file
        the state dict came from arrives in ``local_metadata`` (the reader records it in the state dict's
        ``_metadata``; torch and mmengine hand the root entry to this pre-hook)."""
        source = describe_source(state_dict, local_metadata)
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

    # ---------------------------------------------------------------------------------- training
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

    # ---------------------------------------------------------------------------------- inference
    def predict(self, inputs: Tensor, data_samples=None):
        self.check_weights_ready()
        self.check_input_size(inputs, data_samples)
        return super().predict(inputs, data_samples)

    @staticmethod
    def head_depth(head, feats, batch_img_metas: List[dict], flip: bool) -> Tensor:
        """``head``'s depth at the input size from trunk features; with ``flip`` the features are of the batch
        followed by its mirror, averaged at the head's resolution (``whole_flip``, ``flip_average``)."""
        low = head.forward(feats)
        if flip:
            low = flip_average(low, low.shape[0] // 2)
        return head.predict_by_feat(low, batch_img_metas)

    def whole_flip_inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        feats = self.extract_feat(torch.cat([inputs, inputs.flip(dims=(3, ))]), batch_img_metas * 2)
        return self.head_depth(self.decode_head, feats, batch_img_metas, flip=True)

    def postprocess_result(self, depth: Tensor, data_samples=None):
        """``postprocess_depth`` with the head's ``align_corners``: mmseg's postprocessing (remove padding, undo
        flips, resize to ``ori_shape``), except for samples whose image was cropped alone (``img_crop_box``,
        see ``ImageOnlyCrop``): their prediction is pasted at the box into a zero ``ori_shape`` frame."""
        return postprocess_depth(depth, data_samples, self.align_corners)

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        mode = self.test_cfg.get('mode', 'whole') if self.test_cfg else 'whole'
        if mode not in TEST_MODES:
            raise ValueError(f'test_cfg.mode must be one of {TEST_MODES}, got {mode!r}')
        if mode in ('slide', 'slide_flip'):
            # mmseg's window loop overwrites img_shape in the metas it is given: hand it copies
            metas = [dict(m) for m in batch_img_metas]
            if mode == 'slide':
                return self.slide_inference(inputs, metas)
            return self.slide_flip_inference(inputs, metas)
        if mode == 'whole_flip':
            return self.whole_flip_inference(inputs, batch_img_metas)
        return self.whole_inference(inputs, batch_img_metas)
