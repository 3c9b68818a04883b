# LLM-MDE with the code's plain bugs corrected (docs/llm_mde.md): CLS dropped instead of the last patch,
# separate value projection, standard LoRA on BERT's pretrained q/k/v, attention mask over padding,
# depth statistics of a coarse estimate and a per-image class, spaced prompt, output scaled to metres.
_base_ = ['../_base_/llm_mde_nyu.py']
model = dict(
    backbone=dict(token_select='drop_cls'),
    language_model=dict(qkv='peft_lora', lora_rank=32, lora_alpha=32, use_attention_mask=True),
    reprogramming=dict(value_from='value'),
    prompt_generator=dict(stats_source='coarse_depth', class_from='per_image', separator=' '),
    decode_head=dict(scale_by_max_depth=True, clamp_at_eval=True))
meta_keys = {{_base_.meta_keys}}
train_pipeline = [  # as the faithful one, with the paste rectangle on the right axes
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadDepthPNG', depth_scale=1000.0),
    dict(type='DepthBorderMask', box=(43, 45, 608, 472)),
    dict(type='RandomDepthRotate', degree=2.5, prob=1.0),
    dict(type='CutDepthPaste', prob=1.0, swap_axes=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomGammaBrightnessColor', prob=0.5, gamma_range=(0.9, 1.1), brightness_range=(0.75, 1.25),
         color_range=(0.9, 1.1)),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_evaluator = [
    dict(type='DepthEvalMetric', crop='eigen', min_depth=1e-3, max_depth=10.0),
    dict(type='NormalizedDeltaMetric', valid_only=True, with_silog=True),
]
test_evaluator = val_evaluator
