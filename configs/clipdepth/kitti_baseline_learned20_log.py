# Auty et al. Table 6/7: 'baseline' template, learned-20 depth tokens, log bins, KITTI.
_base_ = ['../_base_/clipdepth_kitti.py']
model = dict(decode_head=dict(text_encoder=dict(template='baseline', depth_tokens='learned-20'), bins='log'))
