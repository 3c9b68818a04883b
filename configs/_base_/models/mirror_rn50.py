# CLIP2Depth ("CLIP Can Understand Depth", Kim et al. 2024; docs/mirror.md): frozen CLIP RN50 (image and text
# towers, one instance set at model.clip), a learnable mirror prompt (s x 512) through the frozen text path -> one
# conditioning vector -> FiLM on the dense CLIP features -> compact deconvolution decoder -> sigmoid * max.
# The paper publishes no code: every unknown below is a config option (docs/mirror.md).
clip = dict(model_name='RN50', pretrained='openai', arch_cfg=None, cache_dir=None,
            quick_gelu=True)  # OpenAI CLIP's text activation (a mismatch with the weights is an error)
# (depth range written inline: the dataset bases define min_depth / max_depth and mmengine refuses
# duplicate top-level names among bases)
# ImageNet normalisation as in the rest of the package (Auty et al.'s code); CLIP's own statistics are
# mean=[122.770938, 116.7460125, 104.09373615], std=[68.5005327, 66.6321579, 70.32316305].
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    # training batches are stacked by mmseg's stack_batch, which needs size or size_divisor: pad to a
    # multiple of the encoder stride (the crops 416x544 / 352x704 already are; padded depth 0 = invalid)
    size_divisor=32,
    pad_val=0,
    seg_pad_val=0)
model = dict(
    type='CLIPDepthEstimator',
    data_preprocessor=data_preprocessor,
    clip=clip,
    backbone=dict(
        type='CLIPPromptBackbone',
        # 'dense_attnpool': per-position value/output projections of the attention pool, i.e. dense
        # features in the joint space the mirror vector lives in, built from all 2048 layer4 channels;
        # 'raw_layer4' (DepthCLIP/Auty) keeps only every other layer4 channel.
        feature_mode='dense_attnpool',
        # 'eval': CLIP's BatchNorm uses its pretrained running statistics in training too. The decoder
        # then learns on exactly the features it sees at test time (batch 1), independent of batch
        # composition, and CLIP stays untouched ("without fine-tuning its original alignment"). The
        # faithful-to-Auty 'train' mode would drift the statistics and feed the decoder batch-statistics
        # features in training but running-statistics features at test.
        bn_mode='eval',
        extra_levels=()),
    decode_head=dict(
        type='MirrorDepthHead',
        in_channels=1024,  # RN50 joint embedding width
        in_index=-1,
        channels=256,
        text_encoder=dict(
            type='MirrorTextEncoder', num_tokens=64, init_std=0.02,
            normalize=True),
        use_mirror=True,
        film_position='features',
        # stride 32 -> 5 stride-2 transposed convs -> full input resolution (416x544, 480x640, 352x1216)
        deconv_channels=(256, 128, 64, 32, 16),
        deconv_kernel=4,
        norm_cfg=dict(type='BN', requires_grad=True),
        act_cfg=dict(type='ReLU'),
        min_depth=1e-3,
        max_depth=10.0,
        align_corners=False,
        loss_decode=dict(type='SILogLoss', lambd=0.85, scale=10.0, min_depth=1e-3)),
    train_cfg=dict(),
    # the head already predicts at full resolution; 'whole_flip' also works (averages the prediction and
    # the mirrored prediction at the head's output size) and is exact when H and W are multiples of 32.
    test_cfg=dict(mode='whole'))
