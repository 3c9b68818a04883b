# DDAD (outdoor): zero-shot test set (docs/zero_shot.md). Protocol: ZoeDepth DATASETS_CONFIG['ddad']: garg crop,
# min_depth_eval 1e-3, max_depth_eval 80 (ZoeDepth resizes the image to its network input; here it runs at the
# native size, no KB crop).
# Use with any model config: python tools/test.py CONFIG CKPT --test-set configs/_base_/datasets/zero_shot/ddad.py
# (data_root: --cfg-options test_dataloader.dataset.data_root=...) or tools/analysis/zero_shot_eval.py.
zero_shot = dict(name='ddad', title='DDAD (outdoor)', crop='garg', min_depth=0.001, max_depth=80,
                 source=("ZoeDepth DATASETS_CONFIG['ddad']: garg crop, min_depth_eval 1e-3, max_depth_eval 80 "
                         "(ZoeDepth resizes the image to its network input; here it runs at the native size, no KB "
                         "crop)"))
zero_shot_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadReleaseDepth'),
    dict(type='PackSegInputs', meta_keys=('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                                          'scale_factor', 'flip', 'flip_direction', 'focal', 'dataset', 'kb_crop')),
]
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='DDADDataset', data_root='data/ddad/ddad_val', test_mode=True, pipeline=zero_shot_pipeline))
# one metric per way of relating the prediction to the ground truth, each under its own prefix
test_evaluator = [
    dict(type='DepthEvalMetric', crop='garg', min_depth=0.001, max_depth=80, alignment=alignment, prefix=alignment)
    for alignment in ('metric', 'median', 'lsq_depth', 'lsq_disparity')
]
