"""Checkpoint forms and writing: small <-> full conversion, a model's initial checkpoint, one atomic save.

The small form carries only what training changes (:func:`.hook.small_state_dict`; the frozen CLIP is restored
from the configured weights, checked by the ``clip_digest``); the full form carries every tensor. Every
written checkpoint is stamped with its identity (:func:`.identity.stamp`) and written atomically
(:func:`.atomic.atomic_write`). ``tools/model_converters/checkpoint_size.py`` and ``split_variants.py`` are
command lines over these.
"""
import io
import os.path as osp
from typing import Optional

import torch

from .atomic import atomic_write
from .hook import small_state_dict
from .identity import IDENTITY_KEY, stamp
from .state import checkpoint_state_dict

__all__ = ['save_checkpoint', 'convert_checkpoint', 'initial_checkpoint']


def save_checkpoint(checkpoint: dict, path: str) -> None:
    """``torch.save`` into memory, then one atomic write (a reader never sees a half-written file)."""
    buf = io.BytesIO()
    torch.save(checkpoint, buf)
    atomic_write(buf.getvalue(), path)


def convert_checkpoint(model, checkpoint: dict, to: str, variant: Optional[str] = None) -> dict:
    """``checkpoint`` (as read by :func:`.reader.safe_torch_load`) in the ``to`` form (``'small'`` or
    ``'full'``) for ``model``, the model built from its config (the runner's way: seeded random CLIP, or the
    configured weights). Its state is loaded into ``model`` first, so the model's check (identity, shapes,
    config-derived values, the ``clip_digest`` of a small one) runs and a small checkpoint is completed with the
    configured frozen weights. The rest (meta, optimiser, schedulers, message hub) is kept as it is; the state
    is re-stamped, keeping the identity's variant and depth range (``variant`` when it has none)."""
    if to not in ('small', 'full'):
        raise ValueError(f"to must be 'small' or 'full', got {to!r}")
    state = checkpoint_state_dict(checkpoint)
    ident = state.get(IDENTITY_KEY) if isinstance(state.get(IDENTITY_KEY), dict) else {}
    model.load_state_dict(state, strict=False)  # the model's check; completes a small checkpoint
    if to == 'small':
        new_state = small_state_dict(model, state)
    else:
        new_state = type(state)((k, v.detach().cpu()) for k, v in model.state_dict().items())
    new_state = stamp(new_state, model, variant=ident.get('variant') or variant,
                      depth_range=ident.get('depth_range'))
    out = dict(checkpoint) if isinstance(checkpoint, dict) and 'state_dict' in checkpoint else {}
    out['state_dict'] = new_state
    return out


def initial_checkpoint(model, full: bool = False, variant: Optional[str] = None, config: Optional[str] = None) -> dict:
    """The checkpoint of ``model`` as built (small unless ``full``), in mmengine's layout; refused for a model
    with learnable parameters (their initial values would pass for a trained checkpoint)."""
    learnable = [n for n, p in model.named_parameters() if p.requires_grad]
    if learnable:
        raise ValueError(f'{config or type(model).__name__} has {len(learnable)} learnable parameter tensor(s) '
                         f'({", ".join(learnable[:3])}); a checkpoint of their initial values would pass for a '
                         'trained one. An initial checkpoint is for configs with nothing to train (e.g. DepthCLIP '
                         'zero-shot).')
    state = model.state_dict()
    if not full:
        state = small_state_dict(model, state)
    state = stamp(state, model, variant=variant)
    return dict(state_dict=state, meta=dict(init_from_config=osp.basename(config)) if config else {})
