"""Convert a checkpoint between the full form (frozen CLIP included) and the small form (only what training
changes; the frozen weights are restored from the configured CLIP, whose digest is checked on load).

    python tools/model_converters/checkpoint_size.py CONFIG CHECKPOINT OUT --to small|full [--cfg-options ...]

``--to small`` needs only the checkpoint; ``--to full`` builds the config's model (its CLIP weights: the hub
cache or a local file, as configured), loads the small checkpoint into it (digest-checked) and writes every
tensor. The rest of the checkpoint (meta, optimiser, schedulers, message hub) is kept as it is.
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import Config, DictAction

import mmclipdepth  # noqa: F401
from mmclipdepth._compat import safe_torch_load
from mmclipdepth.apis import build_model_for_checkpoint
from mmclipdepth.engine.hooks.safe_checkpoint_hook import small_state_dict
from mmclipdepth.fileio.atomic_local_backend import atomic_write
from mmclipdepth.utils import checkpoint_state_dict


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('out')
    p.add_argument('--to', choices=['small', 'full'], required=True)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    if not osp.isfile(args.checkpoint):
        p.error(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    raw = safe_torch_load(args.checkpoint, map_location='cpu')
    state = checkpoint_state_dict(raw)
    model, _ = build_model_for_checkpoint(cfg, args.checkpoint)  # as the runner builds it (seeded random CLIP)
    if args.to == 'small':
        model.load_state_dict(state, strict=False)  # the checkpoint check runs (shapes, bins, range, digest)
        new_state = small_state_dict(model, state)
    else:
        missing, _ = model.load_state_dict(state, strict=False)  # completes a small checkpoint, digest-checked
        new_state = type(state)((k, v.detach().cpu()) for k, v in model.state_dict().items())
    out = dict(raw) if isinstance(raw, dict) and 'state_dict' in raw else {}
    out['state_dict'] = new_state
    import io
    buf = io.BytesIO()
    torch.save(out, buf)
    atomic_write(buf.getvalue(), args.out)
    print(f'wrote {args.out} ({args.to}: {len(new_state)} tensors, {osp.getsize(args.out) / 2 ** 20:.2f} MiB)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
