# Auty et al. Table 6/7: 'baseline' template, learned-7 depth tokens, log bins, NYU.
_base_ = ['../_base_/clipdepth_nyu.py']
model = dict(decode_head=dict(text_encoder=dict(template='baseline', depth_tokens='learned-7'), bins='log'))
