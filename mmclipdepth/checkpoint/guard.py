"""One check for every checkpoint that reaches a depth model, whichever path loads it.

mmengine (``load_from``, ``--resume``, ``tools/test.py``), ``torch.nn.Module.load_state_dict`` and
``init_depth_model`` all end in the model's ``_load_from_state_dict``; the estimators register
:func:`check_incoming_state` as a load-state-dict pre-hook there, so a checkpoint is checked before any of it
is copied in:

- every learnable parameter must be present with the model's shape, and no tensor may have another shape
  (mmengine's non-strict loading would otherwise skip it with a log line and evaluate random tokens);
- a checkpoint that carries frozen weights (a full one) must carry every model tensor but the
  config-derived ones;
- config-derived buffers (``config_buffers`` of a module, e.g. the bin centres and the depth range) are
  recomputed from the config, never taken from a checkpoint: a checkpoint whose saved values disagree is
  refused, naming both (a KITTI checkpoint in an NYU config, ``bins='log'`` over a linear checkpoint);
- a small checkpoint (frozen parameters left out, ``SafeCheckpointHook(save_frozen=False)``) must carry the
  ``clip_digest`` of the configured CLIP, and is then completed with those frozen weights;
- its identity (:mod:`.identity`) must match the fingerprint of the config the model was built from, listing
  every differing key; a checkpoint without one loads with a warning saying what could not be checked;
- no tensor the model does not have (a mirror checkpoint in a no-mirror config) and no non-finite value in
  a learnable parameter or buffer.
"""
from typing import Dict, List, Optional

import torch
from torch import Tensor, nn

__all__ = ['CheckpointMismatchError', 'check_incoming_state', 'describe_source', 'describe_values']


from .identity import (IDENTITY_KEY, CheckpointIdentityError, CheckpointMismatchError, compare_fingerprints,
                       model_fingerprint, warn_unchecked)


def describe_source(state_dict: Optional[dict] = None, local_metadata: Optional[dict] = None) -> str:
    """The file a state dict was read from (:func:`.reader.checkpoint_source_of`: recorded by the reader in
    the state dict's ``_metadata``, which a pre-hook receives as ``local_metadata``), for messages."""
    from .reader import checkpoint_source_of
    name = checkpoint_source_of(state_dict or {}, local_metadata)
    return repr(name) if name else 'the given state dict'


def describe_values(t: Tensor) -> str:
    t = t.detach().float().flatten().cpu()
    if t.numel() == 0:
        return 'empty'
    if t.numel() <= 3:
        return '[' + ', '.join(f'{v:.6g}' for v in t.tolist()) + ']'
    return f'{t.numel()} values {t[0].item():.6g} .. {t[-1].item():.6g}'


def _config_buffer_keys(model: nn.Module) -> Dict[str, Tensor]:
    out = {}
    for name, module in model.named_modules():
        for buf in getattr(module, 'config_buffers', ()):
            value = getattr(module, buf, None)
            if isinstance(value, Tensor):
                out[(name + '.' if name else '') + buf] = value
    return out


def check_incoming_state(model: nn.Module, state_dict: dict, prefix: str = '',
                         source: Optional[str] = None) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state_dict`` fits ``model`` (see the module docstring)."""
    source = source or describe_source(state_dict)
    ident = None
    for key in (prefix + IDENTITY_KEY, IDENTITY_KEY):
        if key in state_dict:
            ident = state_dict.pop(key)
    build_cfg = getattr(model, 'build_cfg', None)
    if isinstance(ident, dict) and ident.get('fingerprint') and build_cfg is not None:
        diff = compare_fingerprints(ident['fingerprint'], model_fingerprint(build_cfg))
        if diff:
            raise CheckpointIdentityError(
                f'checkpoint {source} was trained with another model config than this one ({len(diff)} '
                f'setting(s) differ): ' + '; '.join(diff[:8]) + (' ...' if len(diff) > 8 else '')
                + '. Use the config it was trained with'
                + (f' (variant {ident.get("variant")!r})' if ident.get('variant') else '') + '.')
    elif not isinstance(ident, dict):
        warn_unchecked(source)
    state = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    own = model.state_dict(keep_vars=True)
    unexpected = [k for k in state if k not in own]
    if unexpected:
        raise CheckpointMismatchError(
            f'checkpoint {source} holds {len(unexpected)} tensor(s) this model does not have '
            f'{unexpected[:6]}{" ..." if len(unexpected) > 6 else ""}: it was trained with another config or '
            'variant (their values would be dropped silently).')
    trained = set(n for n, p in model.named_parameters(remove_duplicate=False) if p.requires_grad) | \
        set(n for n, _ in model.named_buffers(remove_duplicate=False))
    nonfinite = [k for k in state if k in trained and isinstance(state[k], Tensor) and state[k].is_floating_point()
                 and state[k].numel() and not bool(torch.isfinite(state[k]).all())
                 and bool(torch.isfinite(own[k].detach()).all())]  # a buffer that is -inf by design stays allowed
    if nonfinite:
        raise CheckpointMismatchError(
            f'checkpoint {source} holds non-finite (NaN / inf) values in {nonfinite[:6]}: the run that wrote it '
            'diverged; depth from it would be constant. Use an earlier checkpoint.')
    # every name a tensor has in the state dict (a tower shared by several modules has several)
    learnable = [n for n, p in model.named_parameters(remove_duplicate=False) if p.requires_grad]
    frozen = [n for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad]
    missing = [n for n in learnable if n not in state]
    wrong: List[str] = []
    for key, value in state.items():
        mine = own.get(key)
        if isinstance(mine, Tensor) and isinstance(value, Tensor) and tuple(mine.shape) != tuple(value.shape):
            wrong.append(f'{key}: checkpoint {tuple(value.shape)} vs model {tuple(mine.shape)}')
    if missing or wrong:
        raise CheckpointMismatchError(
            f'checkpoint {source} does not fit the model built from the config (trained with another config or '
            f'variant?): {len(missing)} learnable parameter(s) missing {missing[:6]}'
            f'{" ..." if len(missing) > 6 else ""}; {len(wrong)} shape mismatch(es) {wrong[:6]}'
            f'{" ..." if len(wrong) > 6 else ""}.')
    carries_frozen = any(k in state for k in frozen)
    if carries_frozen:  # a full checkpoint: the weights the model was built with are all replaced
        config_keys = set(_config_buffer_keys(model))
        lacking = [k for k in own if k not in state and k not in config_keys and k not in learnable]
        if lacking:
            raise CheckpointMismatchError(
                f'checkpoint {source} carries frozen weights but lacks {len(lacking)} other model tensor(s) '
                f'{lacking[:6]}{" ..." if len(lacking) > 6 else ""}: it does not belong to this config.')
    bad = []
    for key, value in _config_buffer_keys(model).items():
        saved = state.get(key)
        if not isinstance(saved, Tensor):
            continue
        if key.endswith('clip_digest') and carries_frozen:
            continue  # a full checkpoint brings its own CLIP weights (and their digest)
        same = saved.shape == value.shape and torch.allclose(saved.detach().double().cpu(),
                                                             value.detach().double().cpu(), rtol=1e-6, atol=0)
        if not same:
            bad.append(f'{key}: checkpoint {describe_values(saved)}, config {describe_values(value)}')
    if bad:
        raise CheckpointMismatchError(
            f'checkpoint {source} was trained with other config-derived values than this config: '
            + '; '.join(bad) + '. These values come from the config (bins, depth range, the digest of the '
            'configured CLIP weights) and are never taken from a checkpoint: use the config the checkpoint was '
            'trained with (a different clip_digest means other frozen CLIP weights than it was trained on).')
    digests = [k for k in _config_buffer_keys(model) if k.endswith('clip_digest')]
    if frozen and not carries_frozen and digests:
        if not all(k in state for k in digests):
            raise CheckpointMismatchError(
                f'checkpoint {source} carries neither the frozen CLIP weights nor the clip_digest of the CLIP it '
                'was trained with, so the frozen weights cannot be restored safely; use a full checkpoint or one '
                'saved by SafeCheckpointHook(save_frozen=False).')
        # a small checkpoint (only what training changes): complete it with the configured frozen weights,
        # which the clip_digest check above has just shown to be the ones it was trained with
        for name in frozen:
            state_dict[prefix + name] = own[name].detach()
