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
import os.path as osp
import pickle
import sys

from mmengine.config import Config, DictAction

import mmclipdepth  # noqa: F401
from mmclipdepth.apis import build_model_for_checkpoint
from mmclipdepth.checkpoint import (CheckpointMismatchError, CorruptCheckpointError, convert_checkpoint,
                                    initial_checkpoint, safe_torch_load, save_checkpoint)


def _config(args) -> Config:
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return cfg


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
    cfg = _config(args)
    try:  # the reader verifies the tensor digests; the model's check verifies identity, shapes, bins, range
        raw = safe_torch_load(args.checkpoint, map_location='cpu')
        model, _ = build_model_for_checkpoint(cfg, args.checkpoint)  # as the runner builds it (seeded random CLIP)
        out = convert_checkpoint(model, raw, args.to, variant=osp.splitext(osp.basename(args.config))[0])
    except (CheckpointMismatchError, CorruptCheckpointError, pickle.UnpicklingError) as e:
        sys.exit(f'error: {e}')
    save_checkpoint(out, args.out)
    print(f'wrote {args.out} ({args.to}: {len(out["state_dict"])} tensors, '
          f'{osp.getsize(args.out) / 2 ** 20:.2f} MiB)')
    return 0


def _init(args):
    """The config's model as built (small unless --to full), in mmengine's checkpoint layout."""
    cfg = _config(args)
    model, _ = build_model_for_checkpoint(cfg, None)
    try:
        out = initial_checkpoint(model, full=args.to == 'full', variant=osp.splitext(osp.basename(args.config))[0],
                                 config=args.config)
    except ValueError as e:
        sys.exit(f'error: {e}')
    save_checkpoint(out, args.init)
    print(f'wrote {args.init} (the model of {args.config} as built: {len(out["state_dict"])} tensors)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
