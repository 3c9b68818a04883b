"""Evaluate a depth model: ``python tools/test.py CONFIG [CHECKPOINT] [--work-dir DIR] [--out DIR]``.

CHECKPOINT may be omitted for zero-shot configs (e.g. configs/clipdepth/nyu_depthclip_zeroshot.py).
Distributed: ``torchrun --nproc_per_node=N tools/test.py CONFIG CKPT --launcher pytorch``.
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.runner import Runner

import mmclipdepth  # noqa: F401
from mmclipdepth.utils import load_runner_config


def parse_args():
    parser = argparse.ArgumentParser(description='Test (evaluate) a depth estimator')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint file (omit for zero-shot configs that train nothing)')
    parser.add_argument('--work-dir', help='directory for logs and metric files')
    parser.add_argument('--out', help='directory to save the predicted depth maps as .npy')
    parser.add_argument('--show-dir', help='directory to save painted predictions')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, e.g. model.test_cfg.mode=whole')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    cfg = load_runner_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        vis = cfg.default_hooks.visualization
        vis.draw = True
        vis.interval = 1
        cfg.visualizer.save_dir = args.show_dir
    if args.out:
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(cfg.test_evaluator, dict) \
            else list(cfg.test_evaluator)
        cfg.test_evaluator.append(dict(type='DumpDepthResults', out_dir=args.out))
    runner = Runner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    main()
