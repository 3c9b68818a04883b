# Auty et al. Table 4/5: '404d' template, depth-7 depth tokens, linear bins, NYU.
_base_ = ['../_base_/clipdepth_nyu.py']
model = dict(decode_head=dict(text_encoder=dict(template='404d', depth_tokens='depth-7'), bins='linear'))
