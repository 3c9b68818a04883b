# CLIP2Depth schedule. The paper's optimiser settings are not known to us (docs/mirror.md), so this keeps Auty
# et al.'s recipe (AdamW, lr 3.57e-4, one-cycle on lr and beta1, 25 epochs, batch from the dataset config)
# and changes only what was tuned for a few thousand prompt-token parameters and would throttle a
# multi-million-parameter decoder: gradient-norm clipping 0.1 -> 1.0 and weight decay 0.1 -> 0.01 (none
# on normalisation layers and biases). Every value is a config option.
_base_ = ['./auty_25ep.py']
optim_wrapper = dict(
    optimizer=dict(weight_decay=0.01),
    clip_grad=dict(max_norm=1.0, norm_type=2),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
