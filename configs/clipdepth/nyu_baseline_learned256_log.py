# Auty et al. Table 7: 'baseline' template, learned-256 depth tokens, log bins, NYU.
_base_ = ['../_base_/clipdepth_nyu.py']
model = dict(decode_head=dict(text_encoder=dict(template='baseline', depth_tokens='learned-256'), bins='log'))
