# Ablation "mirror removed" (NYU): no text encoder, FiLM is the identity; the same decoder and schedule,
# so the difference to nyu_mirror64_deconv.py measures what the text encoder contributes.
_base_ = ['./nyu_mirror64_deconv.py']
model = dict(decode_head=dict(use_mirror=False, text_encoder=None))
