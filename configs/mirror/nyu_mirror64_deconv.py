# CLIP2Depth on NYU Depth v2 (docs/mirror.md): mirror s=64, FiLM on dense CLIP RN50 features, 5-block
# deconvolution decoder, SILog, 25 epochs; range [0.001, 10] m, Eigen crop in the metric.
_base_ = ['../_base_/models/mirror_rn50.py', '../_base_/datasets/nyu.py',
          '../_base_/schedules/mirror_25ep.py', '../_base_/default_runtime.py']
