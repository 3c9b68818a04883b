# Auty et al. Table 4 (KITTI): learned context tokens with depth-7 words, every variant trained in one run on one
# trunk pass per batch (MultiVariantDepthEstimator). Each variant's head, optimiser, schedule, loss and metrics
# come from its own config in configs/clipdepth/; results: python tools/analysis/paper_table.py WORK_DIR
_base_ = ['../kitti_baseline_depth7.py', '../../_base_/sweeps/auty_published.py']
from mmclipdepth.utils.sweep import sweep_from_configs  # noqa: E402

# sets model, optim_wrapper, param_scheduler, val/test_evaluator, model_wrapper_cfg, variant_configs
globals().update(sweep_from_configs(
    '{{ fileDirname }}/..',
    'kitti_baseline_depth7',
    'kitti_101d_depth7',
    'kitti_102d_depth7',
    'kitti_404d_depth7'))
