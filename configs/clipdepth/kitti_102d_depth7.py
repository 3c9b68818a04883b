# Auty et al. Table 4: '102d' template, depth-7 depth tokens, linear bins, KITTI.
_base_ = ['../_base_/clipdepth_kitti.py']
model = dict(decode_head=dict(text_encoder=dict(template='102d', depth_tokens='depth-7'), bins='linear'))
