# DepthCLIP zero-shot under DepthCLIP's own evaluation (its eval.py / calculate_error.py / datasets_list.py),
# the protocol of its published NYU numbers: the 416x544 centre of the frame (PIL box (60, 56, 604, 472)) is
# the input (13x17 grid), flip TTA averaged at 13x17, bilinear align_corners=True to 416x544, the prediction
# pasted back into the 480x640 GT frame; valid: rows 45:471, cols 46:601, 1e-3 < gt < 10 (strict), pred > 1e-3.
# DepthCLIP ran CLIP in fp16 on its GPU (about 2e-4 relative in depth): add
#   --cfg-options model.backbone.trunk_dtype=fp16   (autocast of the image trunk; fp32 here by default).
_base_ = ['./nyu_depthclip_zeroshot.py']
meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction', 'focal', 'scene', 'scene_type', 'split_file', 'split_line', 'img_crop_box')
test_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadDepthPNG', depth_scale=1000.0),
    dict(type='ImageOnlyCrop', box=(60, 56, 604, 472)),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='DepthEvalMetric', crop='depthclip_nyu', min_depth=1e-3, max_depth=10.0,
                     max_inclusive=False, min_pred=1e-3)
test_evaluator = val_evaluator
# mmseg's --tta: the same crop box, then the image and its mirror (FlipTestTimeAug)
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug', meta_keys=meta_keys)]
