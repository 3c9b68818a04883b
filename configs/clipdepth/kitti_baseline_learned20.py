# Auty et al. Table 6: 'baseline' template, learned-20 depth tokens, linear bins, KITTI.
_base_ = ['../_base_/clipdepth_kitti.py']
model = dict(decode_head=dict(text_encoder=dict(template='baseline', depth_tokens='learned-20'), bins='linear'))
