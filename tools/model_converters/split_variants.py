"""Split a multi-variant (sweep) checkpoint into ordinary single-variant checkpoints.

    python tools/model_converters/split_variants.py SWEEP_CONFIG CHECKPOINT --out-dir DIR [--variants a b]
        [--cfg-options KEY=VALUE ...]     (the overrides the sweep was trained with, e.g. its CLIP weights)

For each variant ``name`` of the sweep (``MultiVariantDepthEstimator``) it writes ``DIR/<name>.pth``: the
shared trunk's tensors (its BatchNorm statistics included) and that variant's head, renamed ``decode_head.*``,
with the sweep checkpoint's meta plus ``variant`` and ``sweep_checkpoint``. The result is a checkpoint of the
variant's own config (``variant_configs`` of the sweep, printed), loaded by ``tools/test.py``, the API and the
demo with the usual checks (bins, depth range, CLIP digest). Optimiser and scheduler states are not carried:
a split checkpoint is for evaluation and inference (resume the sweep itself to keep training).
"""
import argparse
import copy
import pickle
import os
import os.path as osp
import sys
from collections import OrderedDict

from mmengine.config import Config, DictAction

import mmclipdepth  # noqa: F401
from mmclipdepth.checkpoint import (IDENTITY_KEY, CheckpointMismatchError, CorruptCheckpointError, model_fingerprint,
                                    safe_torch_load, save_checkpoint, stamp)
from mmclipdepth.utils import checkpoint_state_dict


def split_state(state: dict, variants) -> 'OrderedDict[str, OrderedDict]':
    """{variant: single-variant state dict} of a ``MultiVariantDepthEstimator`` state dict."""
    out = OrderedDict((name, OrderedDict()) for name in variants)
    found = set()
    for key, value in state.items():
        if key.startswith('decode_heads.'):
            name, rest = key[len('decode_heads.'):].split('.', 1)
            found.add(name)
            if name in out:
                out[name]['decode_head.' + rest] = value
        else:
            for sd in out.values():
                sd[key] = value
    lacking = [n for n in variants if n not in found]
    if lacking:
        raise KeyError(f'the checkpoint has no head for the variant(s) {lacking} (it has {sorted(found)})')
    return out


def variant_model_cfg(sweep_model: dict, name: str) -> dict:
    """The single-variant model config of head ``name`` of a sweep's model config (what its own config
    builds): the shared trunk and preprocessor, that head, a ``CLIPDepthEstimator``."""
    out = {k: v for k, v in dict(sweep_model).items() if k not in ('decode_heads', 'primary')}
    out['type'] = 'CLIPDepthEstimator'
    out['decode_head'] = sweep_model['decode_heads'][name]
    return out


def stale_frozen_copies(cfg, state: dict) -> list:
    """Frozen tensors a *small* sweep checkpoint (``save_frozen=False``: no frozen trunk weights) still holds.

    Versions before the fix saved the text tower that the heads of a sweep share under every head's name but
    the first, so a split part carried part of the frozen weights and was refused as an incomplete full
    checkpoint. The frozen names come from the sweep model itself (built with random CLIP weights: nothing is
    loaded or downloaded), under every name a shared tensor has."""
    from mmseg.registry import MODELS

    from mmclipdepth.checkpoint import holds_clip_weights, set_clip_pretrained_none
    if holds_clip_weights(state) or not any('.text_encoder.core.' in k for k in state):
        return []  # a full checkpoint (the parts are full too), or nothing frozen left in a small one
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model_cfg = copy.deepcopy(cfg.model)
    set_clip_pretrained_none(model_cfg)
    model = MODELS.build(model_cfg)
    frozen = {n for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}
    return [k for k in state if k in frozen]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='the sweep config the checkpoint was trained with')
    p.add_argument('checkpoint')
    p.add_argument('--out-dir', required=True)
    p.add_argument('--variants', nargs='+', help='only these variants (default: all)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='the --cfg-options the sweep was trained with (tools/train.py), e.g. the CLIP weights: the '
                        'checkpoint is checked against the config they give')
    args = p.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if cfg.model.get('type') != 'MultiVariantDepthEstimator':
        sys.exit(f'error: {args.config} is not a sweep config (model.type is {cfg.model.get("type")!r}, '
                 "expected 'MultiVariantDepthEstimator')")
    names = list(cfg.model.decode_heads)
    wanted = args.variants or names
    unknown = [n for n in wanted if n not in names]
    if unknown:
        sys.exit(f'error: {unknown} are not variants of {args.config} (its variants: {names})')
    if not osp.isfile(args.checkpoint):
        sys.exit(f'error: checkpoint {args.checkpoint!r} does not exist')
    try:  # digests verified on read
        raw = safe_torch_load(args.checkpoint, map_location='cpu')
    except (CheckpointMismatchError, CorruptCheckpointError, pickle.UnpicklingError) as e:
        sys.exit(f'error: {e}')
    full = checkpoint_state_dict(raw)
    ident = full.pop(IDENTITY_KEY, None) or {}
    if ident.get('fingerprint'):
        from mmclipdepth.checkpoint.identity import compare_fingerprints
        diff = compare_fingerprints(ident['fingerprint'], model_fingerprint(cfg.model))
        if diff:
            sys.exit(f'error: checkpoint {args.checkpoint!r} was trained with another sweep config than '
                     f'{args.config}: ' + '; '.join(diff[:8]))
    trained = set(ident.get('trained') or ())
    stale = stale_frozen_copies(cfg, full)
    if stale:  # a small sweep checkpoint of an older version: its parts stay small (checked by the CLIP digest)
        print(f'note: leaving out {len(stale)} frozen tensor(s) the sweep checkpoint carried under a second name '
              f'({stale[0]}, ...); each part is completed from the configured CLIP when it is loaded')
        full = OrderedDict((k, v) for k, v in full.items() if k not in stale)
    try:
        states = split_state(full, wanted)
    except KeyError as e:
        sys.exit(f'error: {args.checkpoint}: {e.args[0]}')
    meta = dict(raw.get('meta', {})) if isinstance(raw, dict) else {}
    sources = cfg.get('variant_configs', {})
    os.makedirs(args.out_dir, exist_ok=True)
    for name, state in states.items():
        part_trained = [k for k in state if k in trained or (k.startswith('decode_head.')
                                                             and f'decode_heads.{name}.{k[12:]}' in trained)]
        state = stamp(state, fingerprint=model_fingerprint(variant_model_cfg(cfg.model, name)), variant=name,
                      depth_range=ident.get('depth_range'), trained=part_trained)
        out = dict(state_dict=state, meta=dict(meta, variant=name, sweep_checkpoint=osp.abspath(args.checkpoint)))
        path = osp.join(args.out_dir, name + '.pth')
        save_checkpoint(out, path)
        print(f'{path}  (config: {sources.get(name, "the variant config")})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
