# DepthCLIP / Auty et al. model (docs/fidelity.md): frozen CLIP RN50, learnable-token prompts, bin-weighted head.
# CLIP is set once, at model.clip: the estimator builds it once and hands it to the image tower and the text tower
# (one key sets the weights: --cfg-options model.clip.pretrained=/path/to/RN50.pt).
clip = dict(model_name='RN50', pretrained='openai', arch_cfg=None, cache_dir=None,
            quick_gelu=True)  # OpenAI CLIP's text activation (a mismatch with the weights is an error)
# ImageNet normalisation is what the authors' code uses (faithful); CLIP's own is
# mean=[122.770938, 116.7460125, 104.09373615], std=[68.5005327, 66.6321579, 70.32316305].
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=32,  # all protocol sizes (416x544, 480x640, 352x704, 352x1216) are multiples: no padding
    pad_val=0,
    seg_pad_val=0)
model = dict(
    type='CLIPDepthEstimator',
    data_preprocessor=data_preprocessor,
    clip=clip,
    # channels_last / share_prefix: the same maths as the authors' layout, equal up to float rounding, ~1.6x
    # faster per training step (docs/performance.md); False / False is the bit-closest to their code
    backbone=dict(type='CLIPPromptBackbone', feature_mode='raw_layer4', bn_mode='train',
                  channels_last=True),
    decode_head=dict(
        type='BinWeightedDepthHead',
        text_encoder=dict(
            type='LearnableTokenTextEncoder',
            template='baseline',
            object_token='word',
            depth_tokens='learned-7',
            init_std=0.02,
            text_norm='auty_frobenius',
            share_prefix=True),
        bins='linear',
        min_depth=1e-3,
        max_depth=10.0,  # KITTI configs set 80
        logit_scale=100.0,
        temperature=0.1,
        align_corners=True,
        loss_decode=dict(type='SILogLoss', lambd=0.85, scale=10.0, min_depth=1e-3)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole_flip'))
