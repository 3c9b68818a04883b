# Auty et al. Table 3: 'baseline' template, size-7 depth tokens, linear bins, NYU. Nothing learnable: training only updates CLIP BatchNorm statistics (faithful).
_base_ = ['../_base_/clipdepth_nyu.py']
model = dict(decode_head=dict(text_encoder=dict(template='baseline', depth_tokens='size-7'), bins='linear'))
