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
from mmengine.logging import MMLogger, print_log
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
from mmseg.registry import MODELS

__all__ = ['init_depth_model', 'inference_depth', 'build_inference_pipeline',
           'ANNOTATION_TRANSFORMS']

ImageInput = Union[str, os.PathLike, np.ndarray]

#: Transforms dropped from the test pipeline for inference: they load (or need) ground truth.
ANNOTATION_TRANSFORMS = ('LoadDepthPNG', 'LoadDepthAnnotation', 'LoadAnnotations',
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
    ``[LoadImageFromFileStrict, PackSegInputs]``). Everything else is kept as configured, so KITTI's
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
    if from_ndarray:
        pipeline[0] = dict(type='LoadImageFromNDArray')
    return pipeline


def _set_clip_pretrained_none(node) -> int:
    """Set ``pretrained=None`` in every ``clip=dict(...)`` of a model config; return how many."""
    count = 0
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'clip' and isinstance(value, dict) and 'pretrained' in value:
                value['pretrained'] = None
                count += 1
            else:
                count += _set_clip_pretrained_none(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _set_clip_pretrained_none(value)
    return count


def _state_dict_of(checkpoint) -> dict:
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError('checkpoint holds no state dict')
    return OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in state.items())


def init_depth_model(config: Union[str, Path, Config],
                     checkpoint: Optional[str] = None,
                     device: str = 'cpu',
                     cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build the depth model of ``config``, load ``checkpoint`` and put it in eval mode on ``device``.

    Args:
        config: config file path or ``mmengine.Config``.
        checkpoint: an mmengine checkpoint (``tools/train.py`` output). ``None`` is right for zero-shot
            configs (DepthCLIP: nothing is trained); for a config with learnable tokens it warns, since
            the tokens keep their random initialisation.
        device: ``'cpu'``, ``'cuda:0'``, ...
        cfg_options: overrides merged into the config (``Config.merge_from_dict`` keys).

    The checkpoint is loaded with mmengine's ``load_checkpoint`` path (torch ``weights_only`` with the
    allow-list of ``mmclipdepth._compat``). Every learnable parameter of the model must be in it with
    the right shape (``ValueError`` otherwise: e.g. a learned-20 checkpoint for a learned-7 config).
    Checkpoints written by ``tools/train.py`` contain the frozen CLIP weights (and the BatchNorm
    statistics of ``bn_mode='train'``) too; when they do, the CLIP towers are built with random weights
    and filled from the checkpoint, so no CLIP download is needed (every model key must then be present).

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
            ckpt_state = _state_dict_of(raw)
        except ValueError as e:
            raise ValueError(f'checkpoint {checkpoint!r}: {e}') from None
    init_default_scope(cfg.get('default_scope', 'mmseg'))

    model_cfg = copy.deepcopy(cfg.model)
    clip_from_ckpt = ckpt_state is not None and any(k.startswith('backbone.visual.') for k in ckpt_state) \
        and any(k.endswith('token_embedding.weight') for k in ckpt_state)
    if clip_from_ckpt and _set_clip_pretrained_none(model_cfg):
        # the checkpoint overwrites every CLIP weight: skip the (possibly online) pretrained load
        loggers = [MMLogger.get_current_instance(), logging.getLogger()]  # mmengine's, open_clip's (root)
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings('ignore', message='.*RANDOMLY INITIALISED.*')
                model = MODELS.build(model_cfg)
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
    else:
        clip_from_ckpt = False
        model = MODELS.build(model_cfg)

    learnable = OrderedDict((n, p) for n, p in model.named_parameters() if p.requires_grad)
    if ckpt_state is not None:
        model_state = model.state_dict()
        required = model_state if clip_from_ckpt else learnable
        missing = [k for k in required if k not in ckpt_state]
        wrong = [f'{k}: checkpoint {tuple(ckpt_state[k].shape)} vs model {tuple(v.shape)}'
                 for k, v in required.items()
                 if k in ckpt_state and hasattr(ckpt_state[k], 'shape')
                 and tuple(ckpt_state[k].shape) != tuple(v.shape)]
        if missing or wrong:
            what = 'model key' if clip_from_ckpt else 'learnable parameter'
            raise ValueError(
                f'checkpoint {checkpoint!r} does not match config {getattr(cfg, "filename", None)!r} '
                f'(trained with another config?): missing {what}s {missing[:8]}'
                f'{" ..." if len(missing) > 8 else ""}; shape mismatches {wrong[:8]}')
        _load_checkpoint_to_model(model, ckpt_state, strict=False)
        print_log(f'Loaded checkpoint {checkpoint}' + (' (CLIP weights included)' if clip_from_ckpt else ''),
                  logger='current')
    elif learnable:
        msg = (f'init_depth_model: no checkpoint given, but the config has {len(learnable)} learnable '
               f'parameter tensor(s) ({", ".join(list(learnable)[:4])}...): they keep their RANDOM '
               'initialisation. Pass the checkpoint written by tools/train.py.')
        warnings.warn(msg, stacklevel=2)
        print_log(msg, logger='current', level=logging.WARNING)

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


def _prepare(model, image: ImageInput, index: int) -> dict:
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not osp.isfile(path):
            raise FileNotFoundError(f'image file {path!r} does not exist')
        return _pipeline(model, False)(dict(img_path=path))
    if isinstance(image, np.ndarray):
        img = image
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'image #{index}: expected an HxWx3 BGR (or HxW grey) array, got shape '
                             f'{image.shape}')
        return _pipeline(model, True)(dict(img=np.ascontiguousarray(img)))
    raise TypeError(f'image #{index}: expected a file path or a numpy array, got {type(image).__name__}')


def inference_depth(model: torch.nn.Module,
                    images: Union[ImageInput, Sequence[ImageInput]],
                    batch_size: int = 1,
                    return_samples: bool = False):
    """Predict metric depth for one image or a list of images.

    Args:
        model: from ``init_depth_model``.
        images: a path, a uint8 BGR ``HxWx3`` array (as ``cv2.imread``), or a list of them.
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
