# What every zero-shot test set (zero_shot/*.py, docs/zero_shot.md) shares: the loader and the test pipeline
# (the release's depth decoded by LoadReleaseDepth). Each set adds its dataset and its metrics.
zero_shot_meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor',
                       'flip', 'flip_direction', 'focal', 'dataset', 'kb_crop')
zero_shot_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadReleaseDepth'),
    dict(type='PackSegInputs', meta_keys=zero_shot_meta_keys),
]
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(test_mode=True, pipeline=zero_shot_pipeline))
