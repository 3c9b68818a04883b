# DepthCLIP zero-shot (Zhang et al. 2022): 'This object is {depth}' with 7 human depth words, fixed bins
# [1.0 ... 3.0] m, per-prompt L2 text normalisation, temperature 0.1. Nothing to train:
#   python tools/test.py configs/clipdepth/nyu_depthclip_zeroshot.py
_base_ = ['../_base_/clipdepth_nyu.py']
model = dict(
    decode_head=dict(
        text_encoder=dict(template='depthclip', depth_tokens='depthclip', text_norm='depthclip'),
        bins='depthclip'),
    test_cfg=dict(mode='whole'))
