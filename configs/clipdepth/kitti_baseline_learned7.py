# Auty et al. Table 3/5/6: 'baseline' template, learned-7 depth tokens, linear bins, KITTI.
_base_ = ['../_base_/clipdepth_kitti.py']
model = dict(decode_head=dict(text_encoder=dict(template='baseline', depth_tokens='learned-7'), bins='linear'))
