# Hypersim test (indoor): zero-shot test set (docs/zero_shot.md). Protocol: ZoeDepth
# DATASETS_CONFIG['hypersim_test']: eigen crop, min_depth_eval 1e-3, max_depth_eval 80 (its max_depth, the model
# range, is 10).
# Use with any model config: python tools/test.py CONFIG CKPT --test-set
# configs/_base_/datasets/zero_shot/hypersim.py
# (data_root: --cfg-options test_dataloader.dataset.data_root=...) or tools/analysis/zero_shot_eval.py.
zero_shot = dict(name='hypersim', title='Hypersim test (indoor)', crop='eigen_box', min_depth=0.001, max_depth=80,
                 source=("ZoeDepth DATASETS_CONFIG['hypersim_test']: eigen crop, min_depth_eval 1e-3, max_depth_eval"
                         " 80 (its max_depth, the model range, is 10)"))
zero_shot_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadReleaseDepth'),
    dict(type='PackSegInputs', meta_keys=('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                                          'scale_factor', 'flip', 'flip_direction', 'focal', 'dataset', 'kb_crop')),
]
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='HyperSimDataset',
        data_root='data/hypersim',
        split_file=None,
        test_mode=True,
        pipeline=zero_shot_pipeline))
# one metric per way of relating the prediction to the ground truth, each under its own prefix
test_evaluator = [
    dict(type='DepthEvalMetric', crop='eigen_box', min_depth=0.001, max_depth=80,
         alignment=alignment, prefix=alignment)
    for alignment in ('metric', 'median', 'lsq_depth', 'lsq_disparity')
]
