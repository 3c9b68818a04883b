# LLM-MDE on NYU Depth v2 (docs/llm_mde.md): trained on the 795 official labelled pairs, full 480x640 frames, batch 32,
# validated (and early-stopped, as the code does) on the 654 test frames; both the field's metric protocol
# and the code's min-max normalised deltas are reported.
_base_ = ['./models/llm_mde.py', './datasets/nyu.py', './schedules/llm_mde.py', './default_runtime.py']

meta_keys = {{_base_.meta_keys}}
# The code at input_height 480: GT zeroed outside rows 45:472 / cols 43:608 (image kept whole), rotation
# U(-2.5, 2.5) deg, CutDepth-style paste of the depth into the image (every sample), horizontal flip p=0.5,
# gamma/brightness/colour p=0.5 (clipped to [0, 1] in the code's units, which also clips the pasted depth).
train_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadDepthPNG', depth_scale=1000.0),
    dict(type='DepthBorderMask', box=(43, 45, 608, 472)),
    dict(type='RandomDepthRotate', degree=2.5, prob=1.0),
    dict(type='CutDepthPaste', prob=1.0, swap_axes=True),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomGammaBrightnessColor', prob=0.5, gamma_range=(0.9, 1.1), brightness_range=(0.75, 1.25),
         color_range=(0.9, 1.1)),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=32,
    dataset=dict(split='official_train', pipeline=train_pipeline))
val_evaluator = [
    dict(type='DepthEvalMetric', crop='eigen', min_depth=1e-3, max_depth=10.0),
    dict(type='NormalizedDeltaMetric', valid_only=False, with_silog=True),
]
test_evaluator = val_evaluator
# Keep the best checkpoint by the code's validation loss (early stopping: schedules/llm_mde.py).
default_hooks = dict(
    # save_frozen: the LLM-MDE towers have no weights digest to check a small checkpoint against
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=1, save_last=True,
                    save_frozen=True,
                    save_best='norm_delta/silog_loss', rule='less'))
