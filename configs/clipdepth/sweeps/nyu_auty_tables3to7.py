# Auty et al. Tables 3-7 (NYU): every NYU/KITTI variant of Tables 3-7, every variant trained in one run on one
# trunk pass per batch (MultiVariantDepthEstimator). Each variant's head, optimiser, schedule, loss and metrics
# come from its own config in configs/clipdepth/; results: python tools/analysis/paper_table.py WORK_DIR
_base_ = ['../nyu_baseline_colour7.py', '../../_base_/sweeps/auty_published.py']
from mmclipdepth.utils.sweep import sweep_from_configs  # noqa: E402

# sets model, optim_wrapper, param_scheduler, val/test_evaluator, model_wrapper_cfg, variant_configs
globals().update(sweep_from_configs(
    '{{ fileDirname }}/..',
    'nyu_baseline_colour7',
    'nyu_baseline_size7',
    'nyu_baseline_depth7',
    'nyu_baseline_random7',
    'nyu_baseline_randtxt7',
    'nyu_baseline_learned7',
    'nyu_101d_depth7',
    'nyu_102d_depth7',
    'nyu_404d_depth7',
    'nyu_404d_learned7',
    'nyu_baseline_learned7_log',
    'nyu_baseline_learned20',
    'nyu_baseline_learned20_log',
    'nyu_baseline_learned256_log'))
