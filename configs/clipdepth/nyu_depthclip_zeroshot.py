# DepthCLIP zero-shot (Zhang et al. 2022) under the field's protocol (Auty et al.'s evaluation): full
# 480x640 frame, flip TTA, Eigen crop rows 45:471 cols 41:601, valid 1e-3 < gt <= 10. 'This object is {depth}'
# with DepthCLIP's 7 words, fixed bins [1.0 ... 3.0] m, per-prompt L2, temperature 0.1. Nothing to train:
#   python tools/test.py configs/clipdepth/nyu_depthclip_zeroshot.py
# DepthCLIP's own protocol (its published numbers): nyu_depthclip_zeroshot_protocol.py.
_base_ = ['../_base_/clipdepth_nyu.py']
model = dict(
    decode_head=dict(
        text_encoder=dict(template='depthclip', depth_tokens='depthclip', text_norm='depthclip'),
        bins='depthclip'))
