# Auty et al. Table 6: 'baseline' template, learned-20 depth tokens, linear bins, NYU.
_base_ = ['../_base_/clipdepth_nyu.py']
model = dict(decode_head=dict(text_encoder=dict(template='baseline', depth_tokens='learned-20'), bins='linear'))
