# Auty et al. Table 3/4: 'baseline' template, depth-7 depth tokens, linear bins, NYU. Nothing learnable: training only updates CLIP BatchNorm statistics (faithful).
_base_ = ['../_base_/clipdepth_nyu.py']
model = dict(decode_head=dict(text_encoder=dict(template='baseline', depth_tokens='depth-7'), bins='linear'))
