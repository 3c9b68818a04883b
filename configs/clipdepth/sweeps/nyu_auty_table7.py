# Auty et al. Table 7 (NYU): number of log-uniform bins, every variant trained in one run on one trunk pass per
# batch (MultiVariantDepthEstimator). Each variant's head, optimiser, schedule, loss and metrics come from its own
# config in configs/clipdepth/; results: python tools/analysis/paper_table.py WORK_DIR
_base_ = ['../nyu_baseline_learned7_log.py', '../../_base_/sweeps/auty_published.py']
from mmclipdepth.utils.sweep import sweep_from_configs  # noqa: E402

# sets model, optim_wrapper, param_scheduler, val/test_evaluator, model_wrapper_cfg, variant_configs
globals().update(sweep_from_configs(
    '{{ fileDirname }}/..',
    'nyu_baseline_learned7_log',
    'nyu_baseline_learned20_log',
    'nyu_baseline_learned256_log'))
