# Auty et al. Tables 3-7 (KITTI): every NYU/KITTI variant of Tables 3-7, every variant trained in one run on one
# trunk pass per batch (MultiVariantDepthEstimator). Each variant's head, optimiser, schedule, loss and metrics
# come from its own config in configs/clipdepth/; results: python tools/analysis/paper_table.py WORK_DIR
_base_ = ['../kitti_baseline_colour7.py', '../../_base_/sweeps/auty_published.py']
from mmclipdepth.utils.sweep import sweep_from_configs  # noqa: E402

# sets model, optim_wrapper, param_scheduler, val/test_evaluator, model_wrapper_cfg, variant_configs
globals().update(sweep_from_configs(
    '{{ fileDirname }}/..',
    'kitti_baseline_colour7',
    'kitti_baseline_size7',
    'kitti_baseline_depth7',
    'kitti_baseline_random7',
    'kitti_baseline_randtxt7',
    'kitti_baseline_learned7',
    'kitti_101d_depth7',
    'kitti_102d_depth7',
    'kitti_404d_depth7',
    'kitti_404d_learned7',
    'kitti_baseline_learned7_log',
    'kitti_baseline_learned20',
    'kitti_baseline_learned20_log',
    'kitti_baseline_learned256_log'))
