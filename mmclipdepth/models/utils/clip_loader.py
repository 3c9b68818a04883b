"""Build (and share) open_clip CLIP models: by name + pretrained tag / local file, or from an arch dict.

``load_clip`` is the one place CLIP weights are created. Inside ``shared_clip_scope()`` (entered by
``CLIPDepthEstimator`` while it builds its backbone and head) identical arguments return the *same*
instance, so the image tower used by the backbone and the text tower used by the head come from one load.
"""
import contextlib
import json
import os
import os.path as osp
import warnings
from typing import Optional

import open_clip
import torch
from mmengine.logging import MMLogger, print_log

__all__ = ['load_clip', 'shared_clip_scope', 'build_clip_tokenizer']

_SCOPE_STACK = []

_HOW_TO_SUPPLY = (
    'No network is needed if the weights are supplied one of these ways: (1) run once with network '
    'access so open_clip stores them in the hub cache (HF_HOME / ~/.cache/huggingface, or `cache_dir`), '
    'then use them offline with HF_HUB_OFFLINE=1; (2) download the checkpoint file elsewhere (e.g. '
    'OpenAI RN50.pt or open_clip_pytorch_model.bin) and set `pretrained=\'/path/to/file\'`; '
    '(3) `pretrained=None` for random weights (tests/benchmarks only).')


@contextlib.contextmanager
def shared_clip_scope():
    """Within this context ``load_clip`` returns one shared instance per distinct argument set."""
    _SCOPE_STACK.append({})
    try:
        yield
    finally:
        _SCOPE_STACK.pop()


def _looks_like_path(pretrained: str) -> bool:
    return (os.sep in pretrained or pretrained.startswith('~')
            or pretrained.endswith(('.pt', '.pth', '.bin', '.safetensors')))


def _build(model_name: str, pretrained: Optional[str], arch_cfg: Optional[dict],
           cache_dir: Optional[str], force_quick_gelu: bool) -> torch.nn.Module:
    if arch_cfg is not None:
        cfg = dict(arch_cfg)
        if force_quick_gelu:
            cfg['quick_gelu'] = True
        try:
            model = open_clip.model.CLIP(**cfg)
        except TypeError as e:
            raise ValueError(f'CLIP arch_cfg {arch_cfg!r} is not a valid open_clip CLIP config: {e}') from e
    elif model_name not in open_clip.list_models():
        raise ValueError(f'Unknown open_clip model_name {model_name!r}; expected one of '
                         f'open_clip.list_models() (e.g. RN50, RN101, ViT-B-16) or an arch_cfg dict.')
    if pretrained is None:
        msg = (f'CLIP {model_name if arch_cfg is None else "(custom arch_cfg)"} is RANDOMLY INITIALISED '
               '(pretrained=None): depth predictions are meaningless except for tests and timing. '
               + _HOW_TO_SUPPLY)
        warnings.warn(msg, stacklevel=3)
        print_log(msg, logger='current', level=30)
        if arch_cfg is None:
            model = open_clip.create_model(model_name, pretrained=None, force_quick_gelu=force_quick_gelu)
        return model.float()

    if _looks_like_path(pretrained):
        path = osp.expanduser(pretrained)
        if not osp.isfile(path):
            raise FileNotFoundError(f'CLIP pretrained checkpoint file {pretrained!r} does not exist. '
                                    + _HOW_TO_SUPPLY)
        if arch_cfg is not None:
            open_clip.load_checkpoint(model, path)
            return model.float()
        try:
            return open_clip.create_model(model_name, pretrained=path, cache_dir=cache_dir,
                                          force_quick_gelu=force_quick_gelu).float()
        except Exception as e:  # noqa: BLE001 - re-raised with the file named
            raise RuntimeError(f'Could not load CLIP {model_name} weights from {path!r}: {e}') from e

    if arch_cfg is not None:
        raise ValueError(f'pretrained={pretrained!r} is a tag, which needs a named model; with arch_cfg '
                         'pass a local checkpoint path instead.')
    tags = open_clip.list_pretrained_tags_by_model(model_name)
    if pretrained not in tags:
        raise ValueError(f'open_clip has no pretrained tag {pretrained!r} for {model_name}; '
                         f'available: {tags}, or a local checkpoint path.')
    try:
        model = open_clip.create_model(model_name, pretrained=pretrained, cache_dir=cache_dir,
                                       force_quick_gelu=force_quick_gelu)
    except Exception as e:  # noqa: BLE001 - hub/network errors come in many types
        raise RuntimeError(f'Could not obtain CLIP weights {model_name}/{pretrained} (offline and not in the '
                           f'hub cache?): {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}. '
                           + _HOW_TO_SUPPLY) from e
    MMLogger.get_current_instance().info(f'Loaded CLIP {model_name} weights {pretrained!r}')
    return model.float()


def load_clip(model_name: str = 'RN50',
              pretrained: Optional[str] = None,
              arch_cfg: Optional[dict] = None,
              cache_dir: Optional[str] = None,
              force_quick_gelu: bool = False) -> torch.nn.Module:
    """Return an fp32 open_clip ``CLIP`` model (shared within ``shared_clip_scope``).

    Args:
        model_name: open_clip model name (``RN50``, ``ViT-B-16``, ...). Ignored when ``arch_cfg`` is given.
        pretrained: open_clip tag (``'openai'``), a local checkpoint path, or None (random init, warns).
        arch_cfg: ``dict(embed_dim, vision_cfg, text_cfg, ...)`` for a custom (e.g. tiny) CLIP.
        cache_dir: download / hub cache directory.
    """
    key = json.dumps([model_name, pretrained, arch_cfg, cache_dir, force_quick_gelu],
                     sort_keys=True, default=str)
    cache = _SCOPE_STACK[-1] if _SCOPE_STACK else None
    if cache is not None and key in cache:
        return cache[key]
    model = _build(model_name, pretrained, arch_cfg, cache_dir, force_quick_gelu)
    model.requires_grad_(False)
    if cache is not None:
        cache[key] = model
    return model


def build_clip_tokenizer(model_name: str = 'RN50', arch_cfg: Optional[dict] = None):
    """CLIP's BPE tokenizer (ships inside open_clip, works offline)."""
    if arch_cfg is not None:
        ctx = (arch_cfg.get('text_cfg') or {}).get('context_length', 77)
        return open_clip.tokenizer.SimpleTokenizer(context_length=ctx)
    return open_clip.get_tokenizer(model_name)
