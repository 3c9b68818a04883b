# Auty et al. Table 3: 'baseline' template, random-7 depth tokens, linear bins, KITTI. Nothing learnable: training only updates CLIP BatchNorm statistics (faithful).
_base_ = ['../_base_/clipdepth_kitti.py']
model = dict(decode_head=dict(text_encoder=dict(template='baseline', depth_tokens='random-7'), bins='linear'))
