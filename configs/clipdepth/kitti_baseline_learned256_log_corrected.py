# Corrected variant of kitti_baseline_learned256_log (not a paper row): dense attention-pool features,
# frozen BatchNorm, CLIP's own image normalisation.
_base_ = ['./kitti_baseline_learned256_log.py']
model = dict(
    data_preprocessor=dict(mean=[122.770938, 116.7460125, 104.09373615],
                           std=[68.5005327, 66.6321579, 70.32316305]),
    backbone=dict(feature_mode='dense_attnpool', bn_mode='eval'))
