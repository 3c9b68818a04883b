# CLIP2Depth mirror-size ablation (KITTI): s = 8, 16, 32, 64 and the mirror removed, trained in one run on one
# trunk pass per batch (MultiVariantDepthEstimator); each variant's settings come from its own config.
_base_ = ['../kitti_mirror8_deconv.py']
from mmclipdepth.utils.sweep import sweep_from_configs  # noqa: E402

# sets model, optim_wrapper, param_scheduler, val/test_evaluator, model_wrapper_cfg, variant_configs
globals().update(sweep_from_configs(
    '{{ fileDirname }}/..',
    'kitti_mirror8_deconv',
    'kitti_mirror16_deconv',
    'kitti_mirror32_deconv',
    'kitti_mirror64_deconv',
    'kitti_nomirror_deconv'))
