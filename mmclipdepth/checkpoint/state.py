"""A checkpoint's state dict and keys, and building a model whose frozen CLIP comes from the checkpoint."""
import os.path as osp
from collections import OrderedDict
from typing import Optional, Set

__all__ = ['checkpoint_state_dict', 'checkpoint_keys', 'holds_clip_weights', 'set_clip_pretrained_none']


def checkpoint_state_dict(checkpoint) -> OrderedDict:
    """The model state of an mmengine checkpoint (``state_dict`` entry, or a bare state dict), ``module.``
    prefixes removed."""
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError('checkpoint holds no state dict')
    out = OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in state.items())
    metadata = getattr(state, '_metadata', None)
    if metadata is not None:  # torch's version entries and the file the reader read it from (for messages)
        out._metadata = metadata
    return out


def checkpoint_keys(path: str) -> Optional[Set[str]]:
    """The model keys of a checkpoint file, read without loading its tensors (memory-mapped)."""
    from .identity import IDENTITY_KEY
    from .reader import safe_torch_load
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file {path!r} does not exist')
    try:
        raw = safe_torch_load(path, map_location='cpu', verify=False, mmap=True)
    except RuntimeError:  # a legacy (not mmap-able) file: read it whole
        raw = safe_torch_load(path, map_location='cpu', verify=False)
    return set(checkpoint_state_dict(raw)) - {IDENTITY_KEY}


def holds_clip_weights(keys) -> bool:
    """Whether a checkpoint carries the frozen CLIP towers (image trunk and token embedding)."""
    keys = set(keys)
    # a weight of the image trunk, not only its BatchNorm statistics (buffers, which small checkpoints keep)
    return any(k.startswith('backbone.visual.') and k.endswith('.weight') for k in keys) and \
        any(k.endswith('token_embedding.weight') for k in keys)


def set_clip_pretrained_none(node) -> int:
    """Set ``pretrained=None, from_checkpoint=True`` in the ``clip=dict(...)`` of a model config (the weights will
    come from the checkpoint: nothing is downloaded, no random-weights warning); return how many were changed."""
    count = 0
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'clip' and isinstance(value, dict) and 'pretrained' in value:
                value['pretrained'] = None
                value['from_checkpoint'] = True
                count += 1
            else:
                count += set_clip_pretrained_none(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += set_clip_pretrained_none(value)
    return count
