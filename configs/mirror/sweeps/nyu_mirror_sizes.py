# CLIP2Depth mirror-size ablation (NYU): s = 8, 16, 32, 64 and the mirror removed, trained in one run on one trunk
# pass per batch (MultiVariantDepthEstimator); each variant's settings come from its own config.
_base_ = ['../nyu_mirror8_deconv.py']
from mmclipdepth.utils.sweep import sweep_from_configs  # noqa: E402

# sets model, optim_wrapper, param_scheduler, val/test_evaluator, model_wrapper_cfg, variant_configs
globals().update(sweep_from_configs(
    '{{ fileDirname }}/..',
    'nyu_mirror8_deconv',
    'nyu_mirror16_deconv',
    'nyu_mirror32_deconv',
    'nyu_mirror64_deconv',
    'nyu_nomirror_deconv'))
