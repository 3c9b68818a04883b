# Mirror size ablation: s=8 learnable tokens instead of 64 (KITTI).
_base_ = ['./kitti_mirror64_deconv.py']
model = dict(decode_head=dict(text_encoder=dict(num_tokens=8)))
