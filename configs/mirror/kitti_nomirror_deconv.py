# Ablation "mirror removed" (KITTI): no text encoder, FiLM is the identity.
_base_ = ['./kitti_mirror64_deconv.py']
model = dict(decode_head=dict(use_mirror=False, text_encoder=None))
