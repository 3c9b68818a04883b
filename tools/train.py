"""Train a depth model: ``python tools/train.py CONFIG [--work-dir DIR] [--resume] [--cfg-options k=v]``.

Distributed: ``torchrun --nproc_per_node=N tools/train.py CONFIG --launcher pytorch`` (or tools/dist_train.sh).
"""
import argparse
import os

from mmengine.config import DictAction

import mmclipdepth  # noqa: F401  (registers components; compat shims first)
from mmclipdepth.utils import build_runner, load_runner_config
from mmclipdepth.utils.weights import exit_on_missing_weights


def parse_args():
    parser = argparse.ArgumentParser(description='Train a depth estimator')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', action='store_true', default=False,
                        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument('--overwrite-checkpoints', action='store_true', default=False,
                        help='start a new run in a work dir that holds checkpoints of an earlier run, replacing them '
                        '(without it such a run is refused: docs/reliability.md)')
    parser.add_argument('--amp', action='store_true', default=False, help='enable automatic mixed precision')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, e.g. model.backbone.bn_mode=eval')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _check_last_checkpoint(work_dir):
    """--resume reads ``work_dir/last_checkpoint``: name the problem when it is empty or points nowhere."""
    pointer = os.path.join(work_dir, 'last_checkpoint')
    if not os.path.isfile(pointer):
        return  # mmengine starts from scratch (and says so)
    with open(pointer) as f:
        target = f.read().strip()
    if not target:
        raise SystemExit(f'error: --resume: {pointer} is empty (a run killed while writing it, or written by hand): '
                         'put the path of one of the run\'s checkpoints in it, or start without --resume.')
    if not os.path.isfile(target):
        raise SystemExit(f'error: --resume: {pointer} names {target!r}, which does not exist.')


def main():
    args = parse_args()
    cfg = load_runner_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    if args.amp:  # mmseg's --amp; a sweep (MultiVariantDepthEstimator) has one optim wrapper per variant
        wrappers = cfg.optim_wrapper.get('variants', {'': cfg.optim_wrapper})
        for wrapper in wrappers.values():
            wrapper.type = 'GuardedAmpOptimWrapper'  # AmpOptimWrapper + skips non-finite steps; CPU too
            wrapper.loss_scale = 'dynamic'
    cfg.resume = args.resume or cfg.get('resume', False)
    if args.overwrite_checkpoints:
        cfg.default_hooks.checkpoint.overwrite = True
    if cfg.resume and cfg.get('load_from') is None:
        _check_last_checkpoint(cfg.work_dir)
    with exit_on_missing_weights(cfg, 'tools/train.py'):
        runner = build_runner(cfg)  # as mmseg's tools/train.py: RUNNERS.build when runner_type is set
    runner.train()


if __name__ == '__main__':
    main()
