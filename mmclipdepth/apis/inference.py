"""Inference API: build a depth model from a config (+ checkpoint) and predict metric depth for images.

``init_depth_model`` / ``inference_depth`` mirror mmseg's ``init_model`` / ``inference_model`` for the
mmseg 1.x depth contract (``pred_depth_map`` in metres at ``ori_shape``), with the test-time
augmentation of the config (``model.test_cfg.mode``, e.g. Auty et al.'s ``whole_flip``, docs/fidelity.md).
"""
import copy
import logging
import os
import os.path as osp
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.logging import print_log
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
from mmseg.registry import MODELS

from ..checkpoint.state import (checkpoint_keys, checkpoint_state_dict, holds_clip_weights,
                                   set_clip_pretrained_none)
from ..utils.weights import explain_missing_weights

__all__ = ['init_depth_model', 'inference_depth', 'build_inference_pipeline', 'build_model_for_checkpoint',
           'ANNOTATION_TRANSFORMS']

ImageInput = Union[str, os.PathLike, np.ndarray]

#: Transforms dropped from the test pipeline for inference: they load (or need) ground truth.
ANNOTATION_TRANSFORMS = ('LoadDepthPNG', 'LoadFolderDepth', 'LoadDepthAnnotation', 'LoadAnnotations',
                         'LoadBiomedicalAnnotation')
#: Transforms that may start a pipeline by loading the RGB image.
_IMAGE_LOADERS = ('LoadImageFromFile', 'LoadImageFromFileStrict', 'LoadImageFromNDArray')


def _load_config(config: Union[str, Path, Config], cfg_options: Optional[dict]) -> Config:
    if isinstance(config, (str, Path)):
        if not osp.isfile(str(config)):
            raise FileNotFoundError(f'config file {str(config)!r} does not exist')
        cfg = Config.fromfile(str(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError(f'config must be a file path or an mmengine Config, got {type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise KeyError(f'config {getattr(cfg, "filename", None)!r} has no `model`')
    return cfg


def build_inference_pipeline(cfg: Config, from_ndarray: bool = False) -> List[dict]:
    """The config's test pipeline without the ground-truth transforms (``ANNOTATION_TRANSFORMS``).

    Source: ``cfg.test_dataloader.dataset.pipeline`` (else ``cfg.test_pipeline``, else
    ``[LoadImageFromFileStrict, PackSegInputs]``); mmcv's ``LoadImageFromFile`` becomes
    ``LoadImageFromFileStrict`` with the same decoding backend (pixel limit, depth-map and corrupt-file refusals,
    ``mmclipdepth.fileio.image_decoder``). Everything else is kept as configured, so KITTI's
    ``KBCrop`` (which needs only the image) still crops a raw frame to 352x1216, while NYU's test
    pipeline has no crop. With ``from_ndarray`` the image loader becomes ``LoadImageFromNDArray``.
    """
    pipeline = None
    loader = cfg.get('test_dataloader') or {}
    dataset = loader.get('dataset') if isinstance(loader, dict) else None
    if isinstance(dataset, dict):
        pipeline = dataset.get('pipeline')
    if pipeline is None:
        pipeline = cfg.get('test_pipeline')
    if pipeline is None:
        pipeline = [dict(type='LoadImageFromFileStrict'), dict(type='PackSegInputs')]
    pipeline = [copy.deepcopy(dict(t)) for t in pipeline
                if not (isinstance(t, dict) and t.get('type') in ANNOTATION_TRANSFORMS)]
    if not pipeline or pipeline[0].get('type') not in _IMAGE_LOADERS:
        first = pipeline[0].get('type') if pipeline else None
        raise ValueError(f'the test pipeline must start with one of {_IMAGE_LOADERS}, got {first!r}')
    if pipeline[0].get('type') == 'LoadImageFromFile':  # every photo goes through the one strict decoder
        pipeline[0] = dict(pipeline[0], type='LoadImageFromFileStrict',
                           imdecode_backend=pipeline[0].get('imdecode_backend', 'cv2'))  # mmcv's default backend
    if from_ndarray:
        pipeline[0] = dict(type='LoadImageFromNDArray')
    return pipeline


def build_model_for_checkpoint(cfg: Config, checkpoint: Optional[str]):
    """Build ``cfg.model`` as ``tools/train.py`` / ``tools/test.py`` do. When the checkpoint carries the frozen
    CLIP weights, CLIP is built with random weights (no download: the checkpoint overwrites them). A config
    with a random CLIP (``pretrained=None``, e.g. the quickstart) is built under the config's
    ``randomness.seed``, as mmengine's Runner builds it, so its digest matches the small checkpoint's (the
    caller's random state is restored). Returns ``(model, clip_from_checkpoint)``."""
    from ..datasets.samplers.per_sample_seed_sampler import seeded_rng
    model_cfg = copy.deepcopy(cfg.model)
    clip_from_ckpt = checkpoint is not None and holds_clip_weights(checkpoint_keys(checkpoint)) \
        and set_clip_pretrained_none(model_cfg) > 0
    if clip_from_ckpt:
        return MODELS.build(model_cfg), True
    seed = (cfg.get('randomness') or {}).get('seed')
    if seed is not None and _has_random_clip(model_cfg):
        with seeded_rng(int(seed)):
            return MODELS.build(model_cfg), False
    return MODELS.build(model_cfg), False


def _has_random_clip(node) -> bool:
    if isinstance(node, dict):
        return any((k == 'clip' and isinstance(v, dict) and v.get('pretrained') is None) or _has_random_clip(v)
                   for k, v in node.items())
    if isinstance(node, (list, tuple)):
        return any(_has_random_clip(v) for v in node)
    return False


def init_depth_model(config: Union[str, Path, Config],
                     checkpoint: Optional[str] = None,
                     device: str = 'cpu',
                     cfg_options: Optional[dict] = None,
                     allow_untrained: bool = False,
                     untrained_option: str = 'allow_untrained=True') -> torch.nn.Module:
    """Build the depth model of ``config``, load ``checkpoint`` and put it in eval mode on ``device``.

    Args:
        config: config file path or ``mmengine.Config``.
        checkpoint: an mmengine checkpoint (``tools/train.py`` output). ``None`` is right for zero-shot
            configs (DepthCLIP: nothing is trained); a config with learnable parameters refuses to run without
            one unless ``allow_untrained=True``.
        device: ``'cpu'``, ``'cuda:0'``, ...
        cfg_options: overrides merged into the config (``Config.merge_from_dict`` keys).
        allow_untrained: evaluate the initial values of the learnable parameters on purpose.
        untrained_option: how the refusal names that switch (the demos: their ``--allow-untrained`` flag).

    The checkpoint goes through the model's checkpoint check (``mmclipdepth.checkpoint``):
    every learnable parameter present with the right shape, config-derived values (bins, depth range) equal
    to the config's, else ``CheckpointMismatchError`` naming the file. Checkpoints written by
    ``tools/train.py`` with ``save_frozen=True`` contain the frozen CLIP weights too; then CLIP is built with
    random weights and filled from the checkpoint (no download), which must then hold every model tensor.

    The model gets ``model.cfg`` (the merged config) and ``model.inference_pipeline_cfg`` (the test
    pipeline without ground-truth loading, see ``build_inference_pipeline``).
    """
    cfg = _load_config(config, cfg_options)
    ckpt_state = None
    if checkpoint is not None:
        checkpoint = osp.expanduser(str(checkpoint))
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint file {checkpoint!r} does not exist (zero-shot configs '
                                    'need no checkpoint: omit it)')
        raw = _load_checkpoint(checkpoint, map_location='cpu')
        try:
            ckpt_state = checkpoint_state_dict(raw)
        except ValueError as e:
            raise ValueError(f'checkpoint {checkpoint!r}: {e}') from None
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    with explain_missing_weights(cfg):
        model, clip_from_ckpt = build_model_for_checkpoint(cfg, checkpoint)

    if ckpt_state is not None:
        _load_checkpoint_to_model(model, ckpt_state, strict=False)  # the model's checkpoint check runs here
        print_log(f'Loaded checkpoint {checkpoint}' + (' (CLIP weights included)' if clip_from_ckpt else ''),
                  logger='current')
    else:
        learnable = [n for n, p in model.named_parameters() if p.requires_grad]
        if learnable and not allow_untrained:
            raise ValueError(
                f'init_depth_model: config {getattr(cfg, "filename", None)!r} has {len(learnable)} learnable '
                f'parameter tensor(s) ({", ".join(learnable[:3])}) and no checkpoint was given: predictions would '
                'come from random initial values. Pass the checkpoint written by tools/train.py, or '
                f'{untrained_option} to evaluate the initial values on purpose.')
        if learnable:
            msg = (f'init_depth_model: evaluating {len(learnable)} learnable parameter tensor(s) at their RANDOM '
                   f'initial values ({untrained_option}).')
            warnings.warn(msg, stacklevel=2)
            print_log(msg, logger='current', level=logging.WARNING)
            if model.test_cfg is None:
                from mmengine.config import ConfigDict
                model.test_cfg = ConfigDict()
            model.test_cfg['allow_untrained'] = True

    model.cfg = cfg
    model.inference_pipeline_cfg = build_inference_pipeline(cfg)
    model._inference_pipelines = {}
    model.to(device)
    model.eval()
    return model


def _pipeline(model, from_ndarray: bool) -> Compose:
    cache = getattr(model, '_inference_pipelines', None)
    if cache is None:
        cache = model._inference_pipelines = {}
    if from_ndarray not in cache:
        if getattr(model, 'inference_pipeline_cfg', None) is not None:
            steps = copy.deepcopy(model.inference_pipeline_cfg)
            if from_ndarray:
                steps[0] = dict(type='LoadImageFromNDArray')
        elif getattr(model, 'cfg', None) is not None:
            steps = build_inference_pipeline(model.cfg, from_ndarray)
        else:
            raise ValueError('model has no `cfg`: build it with init_depth_model')
        scope = model.cfg.get('default_scope', 'mmseg') if getattr(model, 'cfg', None) else 'mmseg'
        with DefaultScope.overwrite_default_scope(scope):
            cache[from_ndarray] = Compose(steps)
    return cache[from_ndarray]


def _min_input_size(model) -> int:
    """The model's ``min_input_size`` (``BaseDepthEstimator``'s, ``OnnxDepthModel``'s), else its backbone's."""
    need = getattr(model, 'min_input_size', None)
    if need is None:
        need = getattr(getattr(model, 'backbone', None), 'min_input_size', None)
    return int(need or 1)


def _prepare(model, image: ImageInput, index: int) -> dict:
    """Run the inference pipeline on one input, checking what the model can take.

    Arrays must be ``uint8`` BGR ``HxWx3`` (``cv2.imread``) or ``uint8`` grey ``HxW``; float, 16-bit and empty
    arrays are refused (a float image in [0, 1] would otherwise become an all-black input and a 16-bit one
    overflow). After the pipeline each side must be at least the model's ``min_input_size`` (the stride of a
    ResNet CLIP, 32 px)."""
    if isinstance(image, (str, os.PathLike)):
        name = os.fspath(image)
        if not osp.isfile(name):
            raise FileNotFoundError(f'image file {name!r} does not exist')
        data = _pipeline(model, False)(dict(img_path=name))
    elif isinstance(image, np.ndarray):
        name = f'array #{index}'
        img = image
        if img.dtype != np.uint8:
            hint = (' (a float image in [0, 1]: pass (img * 255).round().astype(np.uint8))'
                    if img.dtype.kind == 'f' else '')
            raise ValueError(f'image {name}: expected a uint8 BGR array as cv2.imread returns, got dtype {img.dtype}'
                             f'{hint}')
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'image {name}: expected an HxWx3 BGR (or HxW grey) array, got shape {image.shape}')
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError(f'image {name} is empty (shape {image.shape})')
        data = _pipeline(model, True)(dict(img=np.ascontiguousarray(img)))
    else:
        raise TypeError(f'image #{index}: expected a file path or a numpy array, got {type(image).__name__}')
    need = _min_input_size(model)
    h, w = data['inputs'].shape[-2:]
    if h < need or w < need:
        raise ValueError(f'image {name!r} is {h}x{w} px after the pipeline; this model needs at least '
                         f'{need}x{need} (the output stride of its image trunk)')
    return data


def inference_depth(model: torch.nn.Module,
                    images: Union[ImageInput, Sequence[ImageInput]],
                    batch_size: int = 1,
                    return_samples: bool = False):
    """Predict metric depth for one image or a list of images.

    Args:
        model: from ``init_depth_model``.
        images: a path, a uint8 BGR ``HxWx3`` array (as ``cv2.imread``; uint8 ``HxW`` grey is accepted), or a
            list of them. Other dtypes, empty arrays and images smaller than the model's ``min_input_size``
            (32 px for a ResNet CLIP) raise ``ValueError`` naming the image.
        batch_size: images per forward pass; only images of equal size (after the pipeline) share one.
        return_samples: return the ``SegDataSample`` (with ``pred_depth_map`` and the metainfo, e.g.
            ``kb_crop`` = (top, left) of the KITTI crop) instead of the array.

    Returns:
        ``np.float32`` ``HxW`` depth in metres (or a list, for a list input). The test-time augmentation
        is the config's ``model.test_cfg.mode`` (``whole_flip``: image and mirror averaged). The size is
        the input image's after the inference pipeline: the full frame for NYU-style configs, the
        352x1216 KB crop (bottom-centre) for KITTI configs, whose ``KBCrop`` still applies (docs/fidelity.md).
    """
    single = not isinstance(images, (list, tuple))
    items = [images] if single else list(images)
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    outputs = [None] * len(items)
    for start in range(0, len(items), batch_size):
        chunk = [(i, _prepare(model, items[i], i)) for i in range(start, min(start + batch_size, len(items)))]
        groups = OrderedDict()
        for i, data in chunk:  # padding would shift the mirrored image in flip TTA: equal sizes only
            groups.setdefault(tuple(data['inputs'].shape), []).append((i, data))
        for group in groups.values():
            batch = dict(inputs=[d['inputs'] for _, d in group],
                         data_samples=[d['data_samples'] for _, d in group])
            with torch.no_grad():
                samples = model.test_step(batch)
            for (i, _), sample in zip(group, samples):
                outputs[i] = sample if return_samples else \
                    sample.pred_depth_map.data[0].detach().cpu().numpy().astype(np.float32)
    return outputs[0] if single else outputs
