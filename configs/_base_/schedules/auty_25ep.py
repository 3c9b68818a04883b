# Auty et al. (docs/fidelity.md "Training"): only the learnable tokens train. AdamW lr 3.57e-4, wd 0.1, grad-norm
# clip 0.1, one-cycle per iteration on lr and beta1 (0.85-0.95), 25 epochs (batch 16 in the dataset config).
max_epochs = 25
lr = 3.57e-4
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='FrozenAwareOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.95, 0.999), weight_decay=0.1),
    clip_grad=dict(max_norm=0.1, norm_type=2),
)
param_scheduler = [
    dict(type='OneCycleLR', eta_max=lr, total_steps=max_epochs, pct_start=0.3, anneal_strategy='cos',
         div_factor=25.0, final_div_factor=100.0, by_epoch=True, convert_to_iter_based=True),
    dict(type='OneCycleMomentum', base_momentum=0.85, max_momentum=0.95, total_steps=max_epochs,
         pct_start=0.3, anneal_strategy='cos', by_epoch=True, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
