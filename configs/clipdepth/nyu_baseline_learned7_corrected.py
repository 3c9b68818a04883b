# Corrected variant of nyu_baseline_learned7 (not a paper row): features in CLIP's true joint space
# (dense attention-pool value path), BatchNorm truly frozen, CLIP's own image normalisation.
_base_ = ['./nyu_baseline_learned7.py']
model = dict(
    data_preprocessor=dict(mean=[122.770938, 116.7460125, 104.09373615],
                           std=[68.5005327, 66.6321579, 70.32316305]),
    backbone=dict(feature_mode='dense_attnpool', bn_mode='eval'))
