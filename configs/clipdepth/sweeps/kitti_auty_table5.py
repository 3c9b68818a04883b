# Auty et al. Table 5 (KITTI): learned context and learned depth tokens, every variant trained in one run on one
# trunk pass per batch (MultiVariantDepthEstimator). Each variant's head, optimiser, schedule, loss and metrics
# come from its own config in configs/clipdepth/; results: python tools/analysis/paper_table.py WORK_DIR
_base_ = ['../kitti_baseline_learned7.py', '../../_base_/sweeps/auty_published.py']
from mmclipdepth.utils.sweep import sweep_from_configs  # noqa: E402

# sets model, optim_wrapper, param_scheduler, val/test_evaluator, model_wrapper_cfg, variant_configs
globals().update(sweep_from_configs(
    '{{ fileDirname }}/..',
    'kitti_baseline_learned7',
    'kitti_404d_depth7',
    'kitti_404d_learned7'))
