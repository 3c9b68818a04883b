"""Convert a checkpoint between the full form (frozen CLIP included) and the small form (only what training
changes; the frozen weights are restored from the configured CLIP, whose digest is checked on load).

    python tools/model_converters/checkpoint_size.py CONFIG CHECKPOINT OUT --to small|full [--cfg-options ...]
    python tools/model_converters/checkpoint_size.py CONFIG --init OUT [--to small|full]

``--init`` writes the model of a config with nothing to train (e.g. DepthCLIP zero-shot) as built, so tools
that require a checkpoint argument - mmseg's own ``tools/test.py`` - can run it; a config with learnable
parameters is refused (its initial values would pass for a trained checkpoint).

``--to small`` needs only the checkpoint; ``--to full`` builds the config's model (its CLIP weights: the hub
cache or a local file, as configured), loads the small checkpoint into it (digest-checked) and writes every
tensor. The rest of the checkpoint (meta, optimiser, schedulers, message hub) is kept as it is.
"""
import argparse
import pickle
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction

import mmclipdepth  # noqa: F401
from mmclipdepth.apis import build_model_for_checkpoint
from mmclipdepth.checkpoint import (IDENTITY_KEY, CheckpointMismatchError, CorruptCheckpointError, atomic_write,
                                    safe_torch_load, small_state_dict, stamp)
from mmclipdepth.utils import checkpoint_state_dict


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?', help='the checkpoint to convert (omit with --init)')
    p.add_argument('out', nargs='?')
    p.add_argument('--init', metavar='OUT', help="write the config's model as built to OUT")
    p.add_argument('--to', choices=['small', 'full'], default=None)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    if args.init:
        if args.checkpoint is not None:
            p.error('--init takes no CHECKPOINT')
        return _init(args)
    if args.checkpoint is None or args.out is None or args.to is None:
        p.error('CHECKPOINT, OUT and --to are required (or use --init OUT)')
    if not osp.isfile(args.checkpoint):
        p.error(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    try:  # the reader verifies the tensor digests; the model's check verifies identity, shapes, bins, range
        raw = safe_torch_load(args.checkpoint, map_location='cpu')
        state = checkpoint_state_dict(raw)
        ident = state.get(IDENTITY_KEY) if isinstance(state.get(IDENTITY_KEY), dict) else {}
        model, _ = build_model_for_checkpoint(cfg, args.checkpoint)  # as the runner builds it (seeded random CLIP)
        if args.to == 'small':
            model.load_state_dict(state, strict=False)
            new_state = small_state_dict(model, state)
        else:
            model.load_state_dict(state, strict=False)  # completes a small checkpoint, digest-checked
            new_state = type(state)((k, v.detach().cpu()) for k, v in model.state_dict().items())
    except (CheckpointMismatchError, CorruptCheckpointError, pickle.UnpicklingError) as e:
        sys.exit(f'error: {e}')
    new_state = stamp(new_state, model, variant=ident.get('variant') or osp.splitext(osp.basename(args.config))[0],
                      depth_range=ident.get('depth_range'))
    out = dict(raw) if isinstance(raw, dict) and 'state_dict' in raw else {}
    out['state_dict'] = new_state
    import io
    buf = io.BytesIO()
    torch.save(out, buf)
    atomic_write(buf.getvalue(), args.out)
    print(f'wrote {args.out} ({args.to}: {len(new_state)} tensors, {osp.getsize(args.out) / 2 ** 20:.2f} MiB)')
    return 0


def _init(args):
    """The config's model as built (small unless --to full), in mmengine's checkpoint layout."""
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model, _ = build_model_for_checkpoint(cfg, None)
    learnable = [n for n, p in model.named_parameters() if p.requires_grad]
    if learnable:
        sys.exit(f'error: {args.config} has {len(learnable)} learnable parameter tensor(s) ({", ".join(learnable[:3])}); '
                 'a checkpoint of their initial values would pass for a trained one. --init is for configs with '
                 'nothing to train (e.g. DepthCLIP zero-shot).')
    state = model.state_dict()
    if args.to != 'full':
        state = small_state_dict(model, state)
    state = stamp(state, model, variant=osp.splitext(osp.basename(args.config))[0])
    import io
    buf = io.BytesIO()
    torch.save(dict(state_dict=state, meta=dict(init_from_config=osp.basename(args.config))), buf)
    atomic_write(buf.getvalue(), args.init)
    print(f'wrote {args.init} (the model of {args.config} as built: {len(state)} tensors)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
