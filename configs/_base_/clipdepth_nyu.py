# Auty et al. / DepthCLIP on NYU Depth v2: RN50 CLIP, range [0.001, 10] m, 416x544 crops, 25 epochs.
_base_ = ['./models/clipdepth_rn50.py', './datasets/nyu.py', './schedules/auty_25ep.py',
          './default_runtime.py']
