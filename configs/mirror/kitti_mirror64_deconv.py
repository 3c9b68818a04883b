# CLIP2Depth on KITTI Eigen (docs/mirror.md): mirror s=64, range [0.001, 80] m, KB crop, Garg crop in the metric.
_base_ = ['../_base_/models/mirror_rn50.py', '../_base_/datasets/kitti.py',
          '../_base_/schedules/mirror_25ep.py', '../_base_/default_runtime.py']
model = dict(decode_head=dict(max_depth=80.0))
