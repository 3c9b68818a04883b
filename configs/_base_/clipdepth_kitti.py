# Auty et al. on KITTI Eigen: RN50 CLIP, range [0.001, 80] m, KB crop, 352x704 crops, 25 epochs.
_base_ = ['./models/clipdepth_rn50.py', './datasets/kitti.py', './schedules/auty_25ep.py',
          './default_runtime.py']
model = dict(decode_head=dict(max_depth=80.0))
