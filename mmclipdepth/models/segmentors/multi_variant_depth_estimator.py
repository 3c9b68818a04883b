"""One frozen trunk, K named depth heads trained side by side: a whole paper table in one run."""
import contextlib
import re
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
from mmengine.optim import OptimWrapperDict
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from ..utils.model_clip import hand_out_clip
from .clip_depth_estimator import CLIPDepthEstimator

__all__ = ['MultiVariantDepthEstimator', 'variant_pred_key']

_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


def variant_pred_key(name: str) -> str:
    """The data-sample field that holds variant ``name``'s prediction."""
    return f'pred_depth_map_{name}'


class _RNGStream:
    """A private copy of torch's global generator states (CPU, and CUDA when initialised)."""

    def __init__(self, like: Optional['_RNGStream'] = None):
        if like is not None:  # a copy of another stream
            self.cpu, self.cuda = like.cpu.clone(), like.cuda
            return
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None

    @contextlib.contextmanager
    def active(self):
        outer = _RNGStream()
        torch.set_rng_state(self.cpu)
        if self.cuda is not None and torch.cuda.is_initialized():
            torch.cuda.set_rng_state_all(self.cuda)
        try:
            yield
        finally:
            inner = _RNGStream()
            self.cpu, self.cuda = inner.cpu, inner.cuda if inner.cuda is not None else self.cuda
            torch.set_rng_state(outer.cpu)
            if outer.cuda is not None:
                torch.cuda.set_rng_state_all(outer.cuda)


def _words_between(before: Tensor, after: Tensor, limit: int = 4096) -> Optional[int]:
    """How many 32-bit outputs of torch's CPU Mersenne twister lead from state ``before`` to ``after`` (None if
    not within ``limit``, or if they differ otherwise, e.g. in a cached normal sample)."""
    g = torch.Generator()
    g.set_state(before)
    for m in range(limit + 1):
        if torch.equal(g.get_state(), after):
            return m
        torch.randint(0, 2 ** 16, (1, ), generator=g)  # a range below 2**32 takes exactly one output
    return None


@MODELS.register_module()
class MultiVariantDepthEstimator(CLIPDepthEstimator):
    """A :class:`CLIPDepthEstimator` with one backbone and K named decode heads (``decode_heads``).

    Training runs the backbone once per batch (its train-mode BatchNorm statistics update once, as in each
    solo run) and every head on the shared features; head ``name`` is updated by ``optim_wrapper[name]``
    (an mmengine ``OptimWrapperDict``, built by ``MultiVariantOptimWrapperConstructor``) with its own
    optimiser, clipping and schedule. Each head is built, initialised and run in its own copy of torch's
    random stream, started where its solo run's would be, so with frozen trunk features (which no head
    changes) every variant trains exactly as it would alone. Evaluation predicts with every head (the
    trunk once per image for ``whole``/``whole_flip``; per head for the sliding modes) and stores head
    ``name``'s depth as ``pred_depth_map_<name>``; ``pred_depth_map`` is the ``primary`` head's (default:
    the first). Use ``mmclipdepth.utils.sweep.sweep_from_configs`` to build one from existing leaf configs
    and ``tools/model_converters/split_variants.py`` to split a checkpoint into single-variant ones.
    """

    def __init__(self,
                 backbone: dict,
                 decode_heads: Dict[str, dict],
                 primary: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg=None,
                 clip: Optional[dict] = None):
        from mmengine.config import ConfigDict
        if not isinstance(decode_heads, dict) or not decode_heads:
            raise ValueError('decode_heads must be a non-empty dict {variant name: head config}, got '
                             f'{decode_heads!r}')
        bad = [n for n in decode_heads if not (isinstance(n, str) and _NAME.fullmatch(n))]
        if bad:
            raise ValueError(f'variant names must be Python identifiers (they become module and metric '
                             f'names), got {bad}')
        primary = next(iter(decode_heads)) if primary is None else primary
        if primary not in decode_heads:
            raise ValueError(f'primary={primary!r} is not one of the variants {list(decode_heads)}')
        BaseSegmentor.__init__(self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.train_cfg = ConfigDict(train_cfg) if isinstance(train_cfg, dict) else train_cfg
        self.test_cfg = ConfigDict(test_cfg) if isinstance(test_cfg, dict) else test_cfg
        self.primary = primary
        self._active = primary
        self._streams: Dict[str, _RNGStream] = {}
        heads = OrderedDict()
        # one CLIP for the backbone and every variant's text tower
        parts, clip_model, self_clip = hand_out_clip(
            dict(backbone=backbone, **{f'decode_heads.{name}': cfg for name, cfg in decode_heads.items()}), clip)
        self._keep_clip(clip_model, self_clip)
        self.backbone = MODELS.build(parts['backbone'])
        start = _RNGStream()  # where a solo run builds its head: right after its backbone
        for name in decode_heads:
            stream = _RNGStream(like=start)
            with stream.active():
                heads[name] = MODELS.build(parts[f'decode_heads.{name}'])
            self._streams[name] = stream
        self.decode_heads = nn.ModuleDict(heads)
        for head in heads.values():
            self._check_towers(head)
        self._finish_init()
        self._built_rng = torch.get_rng_state()  # global stream when the model is done (see init_weights)

    # the active variant's head stands in for mmseg's single ``decode_head`` (never registered twice)
    @property
    def decode_head(self):
        return self.decode_heads[self._active]

    @property
    def align_corners(self):
        return self.decode_head.align_corners

    @property
    def variants(self) -> List[str]:
        return list(self.decode_heads)

    @contextlib.contextmanager
    def variant(self, name: str):
        """Make ``name`` the active head (``decode_head``) and run in its own random stream."""
        if name not in self.decode_heads:
            raise KeyError(f'no variant {name!r}; the variants are {self.variants}')
        previous, self._active = self._active, name
        try:
            with self._streams[name].active():
                yield self.decode_heads[name]
        finally:
            self._active = previous

    def init_weights(self):
        """Initialise every head as its solo run would: mmengine's runner initialises weights after drawing from
        the global stream itself (e.g. a data loader's base seed), so each head's stream is first advanced by
        as many outputs as the global stream moved since the model was built."""
        self.backbone.init_weights()
        moved = _words_between(self._built_rng, torch.get_rng_state())
        if moved is None:
            from mmengine.logging import print_log
            print_log('MultiVariantDepthEstimator: the global random stream moved in a way that cannot be '
                      'replayed since the model was built; randomly initialised head weights will differ from '
                      'their solo runs (learnable tokens drawn at build time do not).', logger='current',
                      level=30)
        for name in self.decode_heads:
            with self.variant(name) as head:
                if moved:
                    torch.randint(0, 2 ** 16, (moved, ))  # `moved` outputs, one each
                head.init_weights()
        self._built_rng = torch.get_rng_state()

    # ---------------------------------------------------------------------------------- training
    def loss(self, inputs: Tensor, data_samples):
        """Losses of every variant on one trunk pass, keys prefixed ``<name>/`` (logging; training goes
        through :meth:`train_step`, which updates each variant with its own optimiser)."""
        if self.weights_source is None:
            self.weights_source = 'training'
        self.check_input_size(inputs, data_samples)
        feats = self.extract_feat(inputs)
        losses = dict()
        for name in self.decode_heads:
            with self.variant(name) as head:
                for key, value in head.loss(feats, data_samples, self.train_cfg).items():
                    losses[f'{name}/{key}'] = value
        return losses

    def train_step(self, data, optim_wrapper):
        if not isinstance(optim_wrapper, OptimWrapperDict):
            raise TypeError(
                f'{type(self).__name__} trains each variant with its own optimiser: optim_wrapper must be an '
                f"OptimWrapperDict (optim_wrapper=dict(constructor='MultiVariantOptimWrapperConstructor', "
                f'variants=...), as sweep_from_configs writes), got {type(optim_wrapper).__name__}')
        missing = [n for n in self.decode_heads if n not in optim_wrapper.optim_wrappers]
        if missing:
            raise KeyError(f'optim_wrapper has no optimiser for the variant(s) {missing} '
                           f'(it has {list(optim_wrapper.optim_wrappers)})')
        if self.weights_source is None:
            self.weights_source = 'training'
        first = optim_wrapper[self.primary]
        with first.optim_context(self):  # autocast of an AmpOptimWrapper covers the trunk as in a solo run
            data = self.data_preprocessor(data, True)
            inputs, samples = data['inputs'], data['data_samples']
            self.check_input_size(inputs, samples)
            feats = self.extract_feat(inputs)  # once for all variants: BatchNorm statistics update once
        log_vars = OrderedDict()
        for name in self.decode_heads:
            wrapper = optim_wrapper[name]
            with self.variant(name) as head:
                trainable = [p for p in head.parameters() if p.requires_grad]
                with wrapper.optim_context(head), (contextlib.nullcontext() if trainable else torch.no_grad()):
                    losses = head.loss(feats, samples, self.train_cfg)
                loss, parsed = self.parse_losses(losses)
                if trainable:
                    self._update(wrapper, loss, trainable)
            for key, value in parsed.items():
                log_vars[f'{name}/{key}'] = value
        return log_vars

    @staticmethod
    def _update(wrapper, loss: Tensor, params: List[Tensor]):
        """``OptimWrapper.update_params`` with the gradients averaged over processes before the step (the
        heads are not under torch's DDP: ``MultiVariantDataParallel`` only broadcasts and delegates)."""
        import torch.distributed as dist
        wrapper.backward(wrapper.scale_loss(loss))
        if not wrapper.should_update():
            return
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            world = dist.get_world_size()
            for p in params:
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= world
        wrapper.step()
        wrapper.zero_grad()

    # ---------------------------------------------------------------------------------- inference
    def inference_variants(self, inputs: Tensor, batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """Depth of every variant, (N, 1, H, W) each, at the input size."""
        mode = self.test_cfg.get('mode', 'whole') if self.test_cfg else 'whole'
        out = OrderedDict()
        if mode in ('slide', 'slide_flip'):  # mmseg's window loop runs the trunk per window and head
            for name in self.decode_heads:
                with self.variant(name):
                    out[name] = super().inference(inputs, batch_img_metas)
            return out
        flip = mode == 'whole_flip'
        feats = self.extract_feat(torch.cat([inputs, inputs.flip(dims=(3, ))]) if flip else inputs)
        for name in self.decode_heads:  # the trunk once, every head on its features
            with self.variant(name) as head:
                out[name] = self.head_depth(head, feats, batch_img_metas, flip)
        return out

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        with self.variant(self._active):
            return super().inference(inputs, batch_img_metas)

    def predict(self, inputs: Tensor, data_samples=None):
        self.check_weights_ready()
        self.check_input_size(inputs, data_samples)
        if data_samples is None:
            shape = tuple(inputs.shape[2:])
            data_samples = [SegDataSample(metainfo=dict(ori_shape=shape, img_shape=shape, pad_shape=shape,
                                                        padding_size=[0, 0, 0, 0]))
                            for _ in range(inputs.shape[0])]
        metas = [ds.metainfo for ds in data_samples]
        depths = self.inference_variants(inputs, metas)
        for name, depth in depths.items():
            with self.variant(name):
                self.postprocess_result(depth, data_samples)
            for ds in data_samples:
                ds.set_field(PixelData(data=ds.pred_depth_map.data), variant_pred_key(name), field_type='data')
        for ds in data_samples:
            ds.set_data({'pred_depth_map': PixelData(data=ds.get(variant_pred_key(self.primary)).data)})
        return data_samples

    def _forward(self, inputs: Tensor, data_samples=None):
        feats = self.extract_feat(inputs)
        return {name: self.decode_heads[name].forward(feats) for name in self.decode_heads}
