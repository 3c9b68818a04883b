# LLM-MDE schedule as the authors' code runs it (docs/llm_mde.md): AdamW lr 1e-4 (their --weight_decay 1e-4 and
# --adam_eps 1e-3 are parsed but never passed, so torch's defaults 0.01 / 1e-8 apply), polynomial decay
# (power 0.9, to 0.1 lr) per iteration, 50 epochs, validation every epoch, early stopping after 5 epochs
# without a lower validation SILog loss (NormalizedDeltaMetric's silog_loss, so the evaluator must include it;
# the best-checkpoint hook is in configs/_base_/llm_mde_nyu.py since default_runtime.py owns default_hooks).
max_epochs = 50
lr = 1e-4
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.1 * lr, power=0.9, begin=0, end=max_epochs, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    dict(type='EarlyStoppingHook', monitor='norm_delta/silog_loss', rule='less', min_delta=0.0,
         patience=5),
]
