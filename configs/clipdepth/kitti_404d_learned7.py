# Auty et al. Table 5: '404d' template, learned-7 depth tokens, linear bins, KITTI.
_base_ = ['../_base_/clipdepth_kitti.py']
model = dict(decode_head=dict(text_encoder=dict(template='404d', depth_tokens='learned-7'), bins='linear'))
