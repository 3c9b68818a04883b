# DIODE indoor: zero-shot test set (docs/zero_shot.md). Protocol: ZoeDepth DATASETS_CONFIG['diode_indoor']: eigen
# crop, min_depth_eval 1e-3, max_depth_eval 10.
# Use with any model config: python tools/test.py CONFIG CKPT --test-set
# configs/_base_/datasets/zero_shot/diode_indoor.py
# (data_root: --cfg-options test_dataloader.dataset.data_root=...) or tools/analysis/zero_shot_eval.py.
zero_shot = dict(name='diode_indoor', title='DIODE indoor', crop='eigen_box', min_depth=0.001, max_depth=10,
                 source=("ZoeDepth DATASETS_CONFIG['diode_indoor']: eigen crop, min_depth_eval 1e-3, "
                         "max_depth_eval 10"))
zero_shot_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadReleaseDepth'),
    dict(type='PackSegInputs', meta_keys=('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                                          'scale_factor', 'flip', 'flip_direction', 'focal', 'dataset', 'kb_crop')),
]
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='DIODEDataset',
        data_root='data/diode',
        scene_type='indoors',
        split='val',
        test_mode=True,
        pipeline=zero_shot_pipeline))
# one metric per way of relating the prediction to the ground truth, each under its own prefix
test_evaluator = [
    dict(type='DepthEvalMetric', crop='eigen_box', min_depth=0.001, max_depth=10,
         alignment=alignment, prefix=alignment)
    for alignment in ('metric', 'median', 'lsq_depth', 'lsq_disparity')
]
