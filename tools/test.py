"""Evaluate a depth model: ``python tools/test.py CONFIG [CHECKPOINT] [--work-dir DIR] [--out DIR] [--test-set F]``.

CHECKPOINT may be omitted for zero-shot configs (e.g. configs/clipdepth/nyu_depthclip_zeroshot.py); a config
with learnable parameters refuses to evaluate without one unless ``--allow-untrained``. A checkpoint that
carries the frozen CLIP weights (what tools/train.py writes) needs no CLIP download.
Distributed: ``torchrun --nproc_per_node=N tools/test.py CONFIG CKPT --launcher pytorch``.
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction

import mmclipdepth  # noqa: F401
from mmclipdepth.utils import (build_runner, checkpoint_keys, holds_clip_weights, load_runner_config,
                               set_clip_pretrained_none)
from mmclipdepth.utils.weights import exit_on_missing_weights


def parse_args():
    parser = argparse.ArgumentParser(description='Test (evaluate) a depth estimator')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint file (omit for zero-shot configs that train nothing)')
    parser.add_argument('--work-dir', help='directory for logs and metric files')
    parser.add_argument('--out', help='directory to save the predicted depth maps as .npy')
    parser.add_argument('--show-dir', help='directory to save painted predictions')
    parser.add_argument('--test-set', help='evaluate on this dataset config instead of the config\'s test set '
                        '(e.g. configs/_base_/datasets/zero_shot/ibims.py: docs/zero_shot.md)')
    parser.add_argument('--allow-untrained', action='store_true',
                        help='evaluate the initial (random) values of learnable parameters on purpose')
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
    cfg = load_runner_config(args.config, args.cfg_options, args.launcher, args.work_dir, args.test_set)
    if args.test_set:  # only the test loop runs
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.load_from = args.checkpoint
    # only the test loop runs: without a training loop mmengine never builds the training set (mmseg's
    # SegVisualizationHook reads runner.iter under --show-dir, which built it: the training data had to exist)
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
    if args.allow_untrained:
        cfg.model.setdefault('test_cfg', {})['allow_untrained'] = True
    if args.checkpoint is not None and holds_clip_weights(checkpoint_keys(args.checkpoint)):
        set_clip_pretrained_none(cfg.model)  # the checkpoint overwrites CLIP: nothing to download
    if args.show_dir:
        vis = cfg.default_hooks.visualization
        vis.draw = True
        vis.interval = 1
        cfg.visualizer.save_dir = args.show_dir
    if args.out:
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(cfg.test_evaluator, dict) \
            else list(cfg.test_evaluator)
        cfg.test_evaluator.append(dict(type='DumpDepthResults', out_dir=args.out))
    with exit_on_missing_weights(cfg, 'tools/test.py'):
        runner = build_runner(cfg)
    metrics = runner.test()
    _write_stamped_metrics(cfg, args.checkpoint, metrics)
    scores = {k: v for k, v in (metrics or {}).items() if isinstance(v, float) and not k.endswith('nonfinite_pred')}
    nan_keys = [k for k, v in scores.items() if v != v]
    if nan_keys and len(nan_keys) == len(scores):
        raise SystemExit(f'tools/test.py: every metric is NaN ({", ".join(nan_keys)}): no image had a valid '
                         'ground-truth pixel or every prediction was non-finite (see the warnings above)')


def _write_stamped_metrics(cfg, checkpoint, metrics):
    """``<work_dir>/metrics.json``: the metrics and the protocol that produced them (mmclipdepth.utils.protocol)."""
    from mmengine.dist import is_main_process
    from mmclipdepth.utils.protocol import protocol_stamp, write_metrics_json
    if is_main_process() and metrics is not None:
        path = write_metrics_json(osp.join(cfg.work_dir, 'metrics.json'), metrics, protocol_stamp(cfg, checkpoint))
        print(f'metrics and their protocol: {path}')


if __name__ == '__main__':
    main()
