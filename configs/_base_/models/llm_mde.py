# LLM-MDE, faithful to the authors' code (docs/llm_mde.md): ViT-B/16 + LoRA (q, v; r 160, alpha 320), dropping the
# last patch token; cross-modal reprogramming (1000 prototypes, 24 heads x 768, values from the key
# projection) + residual MLP; adaptive prompts from RGB extreme positions and the first image's class word;
# a frozen bert-base-uncased for tokenizer + word embeddings and a second bert-base-uncased whose q/k/v are
# fresh LoRA linears (r 32, loralib alpha 1); adaptation head with unscaled sigmoid; SILog (0.85, x10, gt>0.1).
# Hub names as in the authors' code (the hub cache is keyed by them): google-bert/bert-base-uncased,
# openai-community/gpt2; a local folder (save_pretrained) works too.
# The options and their corrected values: docs/llm_mde.md.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],  # ImageNet, 0-255 units (the code: ToTensor /255 + Normalize)
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=1,  # pad a batch to its largest image (NYU frames are all 480x640: no padding)
    pad_val=0,
    seg_pad_val=0)  # padded depth = invalid
model = dict(
    type='LLMDepthEstimator',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='LoRAViT',
        model_name='vit_base_patch16_224',
        pretrained=True,  # hub cache (or download); or '/path/to/model.safetensors'
        lora_rank=160,
        lora_alpha=320,
        lora_targets=('q', 'v'),
        token_select='drop_last_patch',
        input_size=224),
    language_model=dict(
        type='HFLanguageModel',
        embed_model='google-bert/bert-base-uncased',  # tokenizer + frozen word-embedding table (30522 x 768)
        decoder_model='google-bert/bert-base-uncased',  # the second, full 12-layer BERT
        qkv='fresh_lora',
        lora_rank=32,
        lora_alpha=1,  # loralib's default: LoRA scale 1/32
        train_fresh_base=True,
        use_attention_mask=False),
    reprogramming=dict(
        type='CrossModalReprogramming',
        num_prototypes=1000,
        num_heads=24,
        d_keys=768,
        attention_dropout=0.1,
        value_from='key'),
    language_to_depth=dict(type='LanguageToDepthMLP', reduction=4),
    prompt_generator=dict(
        type='AdaptivePromptGenerator',
        stats_source='rgb_positions',
        class_from='first_image',
        separator='',
        stats_dtype='input',  # the authors compute the statistics in the model's dtype (no float32 cast)
        input_size=224),
    decode_head=dict(
        type='LLMMDEAdaptationHead',
        in_channels=768,
        num_tokens=310,
        scale_by_max_depth=False,
        max_depth=10.0,
        clamp_at_eval=False,
        loss_decode=dict(type='SILogLoss', lambd=0.85, scale=10.0, min_depth=0.1,
                         variance_eps=1e-6)),  # the authors clamp the variance at 1e-6 (tools/utils.py)
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
