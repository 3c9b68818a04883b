# Variant: several backbone levels (raw RN50 stages 1-3 at strides 4/8/16 + the CLIP map at stride 32),
# FPN-style top-down fusion to stride 4, then two deconvolution blocks to full resolution.
_base_ = ['./nyu_mirror64_deconv.py']
model = dict(
    backbone=dict(extra_levels=(1, 2, 3)),
    decode_head=dict(in_channels=[256, 512, 1024, 1024], in_index=[0, 1, 2, 3], deconv_channels=(128, 64)))
