"""One CLIP per depth model: build it from the model-level ``clip=dict(...)`` and hand it to every part that takes one.

A part takes CLIP when its class accepts ``clip_model`` (``CLIPPromptBackbone``, ``LearnableTokenTextEncoder``,
``MirrorTextEncoder``, ...). Inside a depth estimator such a part gets the estimator's ``clip`` dict (for its
tokenizer) and the one built instance; a ``clip`` key of its own is refused with where it moved, so one key
(``model.clip.pretrained``) always sets the weights of every tower.
"""
import copy
import inspect
from typing import Dict, List, Optional, Tuple

from mmseg.registry import MODELS
from torch import nn

from .clip_loader import load_clip

__all__ = ['DEFAULT_CLIP', 'hand_out_clip']

#: what a part builds when nothing is configured (OpenAI's RN50, as DepthCLIP and Auty et al.)
DEFAULT_CLIP = dict(model_name='RN50', pretrained='openai')


def _takes_clip(cfg: dict) -> bool:
    kind = cfg.get('type')
    cls = MODELS.get(kind) if isinstance(kind, str) else kind
    if not inspect.isclass(cls):
        return False
    return 'clip_model' in inspect.signature(cls.__init__).parameters


def _find_parts(node, path: str, out: List[Tuple[str, dict]]):
    """Every config dict (with a ``type``) under ``node`` whose class takes ``clip_model``, with its dotted path."""
    if isinstance(node, dict):
        if 'type' in node and _takes_clip(node):
            out.append((path, node))
        for key, value in node.items():
            _find_parts(value, f'{path}.{key}', out)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _find_parts(value, f'{path}.{i}', out)


def hand_out_clip(parts: Dict[str, Optional[dict]], clip: Optional[dict]
                  ) -> Tuple[Dict[str, Optional[dict]], Optional[nn.Module], Optional[dict]]:
    """Copies of ``parts`` (``{'backbone': cfg, 'decode_head': cfg, ...}``) in which every part that takes CLIP
    gets ``clip`` and the instance built from it; also returns the instance and the ``clip`` dict used (None,
    None when no part takes CLIP).

    Raises ``ValueError`` naming the key when a part sets its own ``clip`` (it moved to ``model.clip``), or
    when ``model.clip`` is set but no part uses CLIP.
    """
    parts = {name: copy.deepcopy(cfg) for name, cfg in parts.items()}
    found: List[Tuple[str, dict]] = []
    for name, cfg in parts.items():
        _find_parts(cfg, f'model.{name}', found)
    own = [path for path, cfg in found if 'clip' in cfg]
    if own:
        users = ', '.join(path for path, _ in found)
        raise ValueError(
            f'{", ".join(p + ".clip" for p in own)}: CLIP is configured once per model now. Move that dict to '
            f'model.clip and delete it here: the estimator builds CLIP once and hands it to {users}. One key '
            'then sets the weights of every tower, e.g. --cfg-options model.clip.pretrained=/path/to/RN50.pt')
    if not found:
        if clip is not None:
            raise ValueError(f'model.clip={clip!r} is set but no part of this model takes CLIP (no backbone, '
                             'neck or head here accepts clip_model): delete model.clip.')
        return parts, None, None
    clip = dict(DEFAULT_CLIP if clip is None else clip)
    clip_model = load_clip(**clip)
    for _, cfg in found:
        cfg['clip'] = dict(clip)
        cfg['clip_model'] = clip_model
    return parts, clip_model, clip
