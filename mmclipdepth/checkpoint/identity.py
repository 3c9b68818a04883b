"""What a checkpoint is: the fingerprint of the model config that produced it, and digests of its tensors.

Every checkpoint the project writes carries, in its state dict under :data:`IDENTITY_KEY`, a plain dict
(strings, numbers, lists: nothing that unpickles to code):

- ``fingerprint``: ``{dotted key: value}`` of every model-config setting that changes numbers
  (``model.backbone.feature_mode: 'raw_layer4'``). Left out: speed-only options documented as the same maths
  (``channels_last``, ``share_prefix``, any ``*cache*`` key), where weights come from (``pretrained``,
  ``init_cfg`` - the frozen weights are checked by their digest instead) and the evaluation settings
  (``test_cfg``, ``train_cfg``), which a user may change for a trained model.
- ``variant`` (the config's name), ``depth_range`` (the dataset's ``min_depth`` / ``max_depth``, where the
  config names one).
- ``digests``: ``{tensor name: sha256 of its bytes}`` for every saved tensor, and ``trained``: the names of
  the tensors training changes (learnable parameters and buffers), which must be finite.
"""
import difflib
import hashlib
import re
import warnings
from typing import Dict, Iterable, List, Optional

import torch

__all__ = ['IDENTITY_KEY', 'CheckpointMismatchError', 'CheckpointIdentityError', 'model_fingerprint', 'stamp', 'verify_tensors',
           'compare_fingerprints', 'tensor_digest', 'nearest']

IDENTITY_KEY = '_mmclipdepth_identity'
FORMAT = 1
#: options documented as the same maths at another speed or memory (docs/performance.md)
SPEED_ONLY = ('channels_last', 'share_prefix')
#: where weights come from, and evaluation-time settings: not what a checkpoint is
NOT_IDENTITY = ('pretrained', 'from_checkpoint', 'init_cfg', 'test_cfg', 'train_cfg', 'allow_untrained', 'cache_dir')


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model built from the config."""


class CheckpointIdentityError(CheckpointMismatchError):
    """A checkpoint is not what its config describes, or its tensors were altered."""


def _skip(key: str) -> bool:
    return key in SPEED_ONLY or key in NOT_IDENTITY or 'cache' in key.lower()


def _canon(value):
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return float(f'{value:.12g}')
    return repr(value)


def _flatten(node, prefix: str, out: Dict[str, object]) -> None:
    if isinstance(node, dict):
        for key in sorted(node, key=str):
            if _skip(str(key)):
                continue
            _flatten(node[key], f'{prefix}.{key}', out)
    else:
        out[prefix] = _canon(node)


def model_fingerprint(model_cfg: dict) -> Dict[str, object]:
    """``{'model.<dotted key>': value}`` of the settings of ``model_cfg`` that change numbers."""
    out: Dict[str, object] = {}
    _flatten(dict(model_cfg), 'model', out)
    return out


def tensor_digest(t: torch.Tensor) -> str:
    t = t.detach().cpu().contiguous()
    data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b''
    return hashlib.sha256(str(t.dtype).encode() + str(tuple(t.shape)).encode() + data).hexdigest()[:24]


def stamp(state: dict, model=None, fingerprint: Optional[dict] = None, variant: Optional[str] = None,
          depth_range=None, trained: Optional[Iterable[str]] = None) -> dict:
    """Return ``state`` (a new dict of the same type) with its identity entry: the fingerprint (``model``'s
    build config unless given), digests of every tensor, and the trained tensors' names."""
    state = type(state)((k, v) for k, v in state.items() if k != IDENTITY_KEY)
    if fingerprint is None and model is not None and getattr(model, 'build_cfg', None) is not None:
        fingerprint = model_fingerprint(model.build_cfg)
    if trained is None and model is not None:
        # learnable parameters, and the buffers that are finite now (a mask of -inf is a legitimate buffer)
        learnable = {n for n, p in model.named_parameters(remove_duplicate=False) if p.requires_grad}
        buffers = {n for n, _ in model.named_buffers(remove_duplicate=False)}
        trained = [k for k, v in state.items() if k in learnable or (
            k in buffers and isinstance(v, torch.Tensor) and not _nonfinite(k, v))]
    state[IDENTITY_KEY] = dict(
        format=FORMAT, fingerprint=fingerprint, variant=variant,
        depth_range=[float(v) for v in depth_range] if depth_range is not None else None,
        digests={k: tensor_digest(v) for k, v in state.items() if isinstance(v, torch.Tensor)},
        trained=sorted(k for k in (trained or ()) if isinstance(state.get(k), torch.Tensor)))
    return state


def _state_of(obj):
    if isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict):
        return obj['state_dict']
    return obj if isinstance(obj, dict) else None


def _nonfinite(name: str, t: torch.Tensor) -> bool:
    return t.is_floating_point() and t.numel() > 0 and not bool(torch.isfinite(t).all())


def verify_tensors(obj, filename: str) -> None:
    """Check a loaded checkpoint against its identity entry, if it has one: every tensor's digest (a flipped
    bit is refused, naming the tensor) and every trained tensor finite."""
    state = _state_of(obj)
    ident = state.get(IDENTITY_KEY) if state is not None else None
    if not isinstance(ident, dict):
        return
    digests = ident.get('digests') or {}
    stripped = {(k[7:] if k.startswith('module.') else k): v for k, v in state.items()}
    missing = [k for k in digests if k not in stripped]
    changed = [k for k, d in digests.items() if k in stripped and isinstance(stripped[k], torch.Tensor)
               and tensor_digest(stripped[k]) != d]
    if missing or changed:
        raise CheckpointIdentityError(
            f'checkpoint {filename!r} was altered after it was saved: '
            + (f'tensor(s) {changed[:6]} do not match their saved digest (bit rot, a bad copy, an edit)'
               if changed else '')
            + ('; ' if changed and missing else '')
            + (f'tensor(s) {missing[:6]} recorded at save are gone' if missing else '')
            + '. Use another copy of the checkpoint.')
    bad = [k for k in ident.get('trained') or () if isinstance(stripped.get(k), torch.Tensor)
           and _nonfinite(k, stripped[k])]
    if bad:
        raise CheckpointIdentityError(
            f'checkpoint {filename!r} holds non-finite (NaN / inf) trained tensor(s) {bad[:6]}: the run that wrote '
            'it diverged; predictions from it would be constant. Use an earlier checkpoint.')


def nearest(key: str, known: Iterable[str]) -> Optional[str]:
    found = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return found[0] if found else None


_TOWER_CLIP = re.compile(r'^model\.(?:[^.]+\.)+clip\.(.+)$')


def _model_level_clip(saved: dict) -> dict:
    """A fingerprint written when CLIP was configured per tower (``model.backbone.clip.*``,
    ``model.decode_head.text_encoder.clip.*``, all the same dict) in today's form (``model.clip.*``)."""
    if any(k.startswith('model.clip.') for k in saved):
        return saved
    out = {}
    for key, value in saved.items():
        m = _TOWER_CLIP.match(key)
        out['model.clip.' + m.group(1) if m else key] = value
    return out


def compare_fingerprints(saved: dict, current: dict) -> List[str]:
    """The differing keys, each as ``key: saved (checkpoint) vs current (config)``."""
    saved = _model_level_clip(saved)
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key, '<absent>'), current.get(key, '<absent>')
        if a != b:
            out.append(f'{key}: {a} (checkpoint) vs {b} (config)')
    return out


def warn_unchecked(source: str) -> None:
    warnings.warn(
        f'checkpoint {source} carries no identity (written by an older version or elsewhere): the model config '
        'it was trained with and the integrity of its tensors could not be checked; only the tensor names, '
        'shapes, config-derived values and finiteness were. Re-save it with '
        'tools/model_converters/checkpoint_size.py to add one.', stacklevel=3)
