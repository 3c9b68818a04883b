"""LLM-MDE components (docs/llm_mde.md) with tiny models built through the real timm / transformers / peft classes."""
import copy
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import BaseDataset
from mmseg.registry import DATASETS, MODELS

from mmclipdepth.datasets import CrossSceneDataset, KShotSceneDataset, OnePerSceneTypeDataset
from mmclipdepth.evaluation.metrics import NormalizedDeltaMetric
from mmclipdepth.models.backbones.lora_vit import LoRAViT
from mmclipdepth.models.text_encoders.hf_language_model import HFLanguageModel
from mmclipdepth.models.utils.adaptive_prompt_generator import AdaptivePromptGenerator

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOK_DIR = osp.join(REPO, 'tests', 'data', 'llm_mde', 'tiny_bert_tokenizer')
GPT2_TOK_DIR = osp.join(REPO, 'tests', 'data', 'llm_mde', 'tiny_gpt2_tokenizer')
BERT_TOK = dict(type='BertTokenizer', name_or_path=TOK_DIR)
VOCAB = 83  # lines of tiny_bert_tokenizer/vocab.txt
TINY_BERT = dict(model_type='bert', vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64)
TINY_VIT = dict(model_name='vit_tiny_patch16_224', pretrained=False,
                model_kwargs=dict(img_size=32, patch_size=8, embed_dim=24, depth=2, num_heads=2),
                lora_rank=4, lora_alpha=8, input_size=32)
FAITHFUL_PROMPT_HEAD = (
    "<|start_prompt|>Dataset description: Monocular depth estimation is the process of inferring the distance "
    "of objects in a scene from a single 2D image.Task description: estimate the photo's depthInput statistics:")


def tiny_model_cfg(**overrides):
    cfg = dict(
        type='LLMDepthEstimator',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, size_divisor=1, pad_val=0,
                               seg_pad_val=0),
        backbone=dict(type='LoRAViT', **TINY_VIT),
        language_model=dict(type='HFLanguageModel', embed_model=TINY_BERT, decoder_model=TINY_BERT,
                            tokenizer=BERT_TOK, qkv='fresh_lora', lora_rank=4, lora_alpha=1),
        reprogramming=dict(type='CrossModalReprogramming', num_prototypes=16, num_heads=2, d_keys=24),
        prompt_generator=dict(type='AdaptivePromptGenerator', input_size=32),
        decode_head=dict(type='LLMMDEAdaptationHead', in_channels=32, num_tokens=150, map_size=8,
                         up_channels=(4, 4, 4),
                         loss_decode=dict(type='SILogLoss', lambd=0.85, scale=10.0, min_depth=0.1)),
        test_cfg=dict(mode='whole'))
    for key, value in overrides.items():
        if value is None:
            cfg[key] = None
        else:
            cfg[key] = {**cfg[key], **value} if isinstance(cfg.get(key), dict) else value
    return cfg


# ----------------------------------------------------------------------------------------------- LoRA ViT
def test_lora_vit_is_the_authors_qv_update_and_trains_only_lora(tmp_path):
    import timm
    torch.manual_seed(0)
    plain = timm.create_model('vit_tiny_patch16_224', pretrained=False, num_classes=0, **TINY_VIT['model_kwargs'])
    path = str(tmp_path / 'vit.pth')
    torch.save(plain.state_dict(), path)
    vit = LoRAViT(**{**TINY_VIT, 'pretrained': path})  # loads exactly these weights from a local file
    plain.eval(), vit.eval()
    x = torch.randn(2, 3, 40, 56)
    ref = plain.forward_features(F.interpolate(x, size=(32, 32), mode='bilinear', align_corners=False))
    # B = 0 at init: identical to the base model; 'drop_last_patch' keeps CLS and drops the last patch.
    assert ref.shape == (2, 17, 24)
    torch.testing.assert_close(vit(x)[0], ref[:, :-1])
    vit.token_select = 'drop_cls'
    torch.testing.assert_close(vit(x)[0], ref[:, 1:])

    trainable = sorted(n for n, p in vit.named_parameters() if p.requires_grad)
    assert trainable == sorted(f'vit.blocks.{i}.attn.qkv.{t}.lora_{m}.default.weight'
                               for i in range(2) for t in 'qv' for m in 'AB')
    # With non-zero LoRA weights the fused output is W x + [s B_q A_q x, 0, s B_v A_v x], s = alpha / r = 2,
    # computed here from the *original* fused weight (the authors' _LoRA_qkv_timm formula).
    blk = vit.vit.blocks[0].attn.qkv
    with torch.no_grad():
        for name, p in vit.named_parameters():
            if 'lora_' in name:
                p.normal_()
    t = torch.randn(3, 5, 24)
    w, b = plain.blocks[0].attn.qkv.weight, plain.blocks[0].attn.qkv.bias
    aq, bq = blk.q.lora_A['default'].weight, blk.q.lora_B['default'].weight
    av, bv = blk.v.lora_A['default'].weight, blk.v.lora_B['default'].weight
    expected = t @ w.t() + b
    expected[..., :24] += 2 * (t @ aq.t() @ bq.t())
    expected[..., 48:] += 2 * (t @ av.t() @ bv.t())
    torch.testing.assert_close(blk(t), expected)

    # One optimiser step: LoRA moves, every base weight stays; mmengine's init_weights changes nothing.
    base = {k: v.clone() for k, v in vit.state_dict().items() if 'lora_' not in k}
    lora = {k: v.clone() for k, v in vit.state_dict().items() if 'lora_' in k}
    vit.train()
    opt = torch.optim.AdamW([p for p in vit.parameters() if p.requires_grad], lr=1e-2)
    vit(x)[0].pow(2).mean().backward()
    opt.step()
    vit.init_weights()
    state = vit.state_dict()
    assert all(torch.equal(state[k], v) for k, v in base.items())
    assert all(not torch.equal(state[k], v) for k, v in lora.items())


def test_lora_vit_missing_weights_say_how_to_supply(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'not in the hub cache.*pretrained='):
        LoRAViT(**{**TINY_VIT, 'pretrained': True, 'local_files_only': True, 'cache_dir': str(tmp_path)})
    with pytest.raises(FileNotFoundError, match=r'missing\.safetensors.*is not a file'):
        LoRAViT(**{**TINY_VIT, 'pretrained': str(tmp_path / 'missing.safetensors')})
    with pytest.raises(ValueError, match='token_select'):
        LoRAViT(**{**TINY_VIT, 'token_select': 'drop_first'})


# -------------------------------------------------------------------------------------------- reprogramming
def _manual_reprogramming(m, x, table, values):
    """Eq. 1 written out: prototypes, per-head softmax(Q K^T / sqrt(d)) V, concat, output projection."""
    proto = (table.t() @ m.mapping_layer.weight.t() + m.mapping_layer.bias).t()  # (S, D)
    q = x @ m.query_projection.weight.t() + m.query_projection.bias
    k = proto @ m.key_projection.weight.t() + m.key_projection.bias
    proj = m.key_projection if values == 'key' else m.value_projection
    v = proto @ proj.weight.t() + proj.bias
    heads = []
    for h in range(m.num_heads):
        sl = slice(h * m.d_keys, (h + 1) * m.d_keys)
        att = torch.softmax(q[..., sl] @ k[:, sl].t() / math.sqrt(m.d_keys), dim=-1)
        heads.append(att @ v[:, sl])
    return torch.cat(heads, -1) @ m.out_projection.weight.t() + m.out_projection.bias


def test_reprogramming_shapes_and_value_option():
    torch.manual_seed(0)
    kw = dict(type='CrossModalReprogramming', d_model=24, d_llm=32, vocab_size=50, num_prototypes=10, num_heads=3,
              d_keys=24)
    by_key = MODELS.build(dict(kw, value_from='key')).eval()
    by_value = MODELS.build(dict(kw, value_from='value')).eval()
    assert by_key.value_projection is None
    by_value.load_state_dict(by_key.state_dict(), strict=False)  # same shared weights, own value projection
    x, table = torch.randn(2, 7, 24), torch.randn(50, 32)
    out_k, out_v = by_key(x, table), by_value(x, table)
    assert out_k.shape == out_v.shape == (2, 7, 32)
    assert by_key.prototypes(table).shape == (10, 32)
    torch.testing.assert_close(out_k, _manual_reprogramming(by_key, x, table, 'key'), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out_v, _manual_reprogramming(by_value, x, table, 'value'), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(out_k, out_v)


def test_residual_mlp_is_x_plus_two_bottlenecks():
    torch.manual_seed(0)
    mlp = MODELS.build(dict(type='LanguageToDepthMLP', channels=32, reduction=4))
    x = torch.randn(2, 5, 32)
    f = [mlp.l2p_l1[0].weight, mlp.l2p_l1[2].weight, mlp.l2p_l2[0].weight, mlp.l2p_l2[2].weight]
    assert f[0].shape == (8, 32) and all(m.bias is None for m in (mlp.l2p_l1[0], mlp.l2p_l2[2]))
    h = torch.relu(torch.relu(x @ f[0].t()) @ f[1].t())
    torch.testing.assert_close(mlp(x), x + torch.relu(torch.relu(h @ f[2].t()) @ f[3].t()))


# ------------------------------------------------------------------------------------------------- prompts
# Three 3x3 channels with 27 distinct values; positions worked out by hand in the comments.
_A = [[4, 26, 9], [5, 12, 20], [11, 17, 13]]
_B = [[1, 15, 22], [6, 24, 3], [8, 18, 25]]
_C = [[0, 14, 19], [7, 21, 16], [2, 23, 27]]


def test_prompt_text_for_a_known_image():
    img = 1.6 + 0.01 * torch.tensor([[_A, _B, _C]], dtype=torch.float32)  # (1, 3, 3, 3), minimum 1.6
    gen = AdaptivePromptGenerator(input_size=None)
    # row argmax (x): A 1,2,1  B 2,1,2  C 2,1,2 -> max x = min = 1; row argmin: A 0,0,0 B 0,2,0 C 0,0,0 -> min x 2
    # row median index: A 2,1,2 B 1,0,1 C 1,2,1 -> median 1.  column argmax (y): A 2,0,1 B 2,1,2 C 1,2,2 -> 0;
    # column argmin: A 0,1,0 B 0,0,1 C 0,0,1 -> 1; column median index: A 1,2,2 B 1,2,0 C 2,1,0 -> 1.
    # All values distinct -> "most frequent" = smallest = 1.6 -> (1.5, 2.0] -> 'close'.
    expected = (FAITHFUL_PROMPT_HEAD + 'min value on the x axis 2,min value on the y axis 1,max value on the x axis 1,'
                'max value on the y axis 0,median value on the x axis 1,median value on the y axis 1,'
                'the depth class of input is close<|<end_prompt>|>')
    assert gen(img) == [expected]
    # The class comes from the batch's first image (faithful) or from each image; +1 m shifts 1.6 to 2.6 ('far').
    batch = torch.cat([img, img + 1.0])
    assert [p.rsplit(' ', 1)[-1] for p in gen(batch)] == ['close<|<end_prompt>|>'] * 2
    per_image = AdaptivePromptGenerator(input_size=None, class_from='per_image', separator=' ')
    texts = per_image(batch)
    assert [p.rsplit(' ', 1)[-1] for p in texts] == ['close<|<end_prompt>|>', 'far<|<end_prompt>|>']
    assert 'single 2D image. Task description: estimate the photo\'s depth Input statistics: min value' in texts[0]
    # bucketize(right=False) against DepthCLIP's bins; ties in the mode go to the smallest value.
    assert gen.most_frequent_value(torch.tensor([3.0, 1.0, 3.0, 2.0, 1.0])) == 1.0
    assert [gen.class_word(v) for v in (0.2, 1.0, 1.01, 2.25, 3.0, 7.0)] == [
        'giant', 'giant', 'extremely close', 'not in distance', 'unseen', 'unseen']
    # coarse-depth statistics (corrected mode): depth values in metres and the median's class.
    depth_gen = AdaptivePromptGenerator(input_size=None, stats_source='coarse_depth', class_from='per_image')
    coarse = torch.tensor([[[[0.5, 2.2], [4.0, 9.0]]]])
    assert depth_gen(img, coarse) == [FAITHFUL_PROMPT_HEAD + 'min depth 0.50 m,max depth 9.00 m,median depth 2.20 m,'
                                      'the depth class of input is not in distance<|<end_prompt>|>']
    assert depth_gen(img) == [FAITHFUL_PROMPT_HEAD + 'unknown,the depth class of input is unknown<|<end_prompt>|>']


def test_prompt_is_tokenised_by_the_llm_tokenizer():
    lm = HFLanguageModel(embed_model=TINY_BERT, decoder_model=TINY_BERT, tokenizer=BERT_TOK)
    ids, mask = lm.tokenize(['<|start_prompt|>Dataset description: depthInput 203,', 'far'])
    tokens = lm.tokenizer.convert_ids_to_tokens(ids[0])
    assert tokens == ['[CLS]', '<', '|', 'start', '_', 'prompt', '|', '>', 'dataset', 'description', ':', 'depth',
                      '##input', '2', '##0', '##3', ',', '[SEP]']
    assert lm.tokenizer.convert_ids_to_tokens(ids[1])[:3] == ['[CLS]', 'far', '[SEP]']
    assert ids[1, 3:].eq(lm.tokenizer.pad_token_id).all() and mask[1].tolist() == [1] * 3 + [0] * 15
    assert lm.embed(ids).shape == (2, 18, 32)


# ---------------------------------------------------------------------------------------------------- LLM
@pytest.fixture(scope='module')
def saved_bert(tmp_path_factory):
    from transformers import BertConfig, BertModel
    torch.manual_seed(1)
    kw = {k: v for k, v in TINY_BERT.items() if k != 'model_type'}
    model = BertModel(BertConfig(**kw)).eval()
    path = str(tmp_path_factory.mktemp('tiny_bert'))
    model.save_pretrained(path)
    return path, model


def test_llm_fresh_lora_replaces_qkv_and_freezes_the_rest(saved_bert):
    path, ref = saved_bert
    lm = HFLanguageModel(embed_model=path, decoder_model=path, tokenizer=BERT_TOK, qkv='fresh_lora', lora_rank=4,
                         lora_alpha=1)
    torch.testing.assert_close(lm.word_embeddings, ref.get_input_embeddings().weight)
    assert not lm.word_embeddings.requires_grad
    dec, ref_state = lm.decoder.state_dict(), ref.state_dict()
    for name, p in lm.decoder.named_parameters():
        is_qkv = any(f'.{t}.' in name for t in ('query', 'key', 'value'))
        assert p.requires_grad == is_qkv, name  # fresh base weights train too (the code's requires_grad loop)
        if not is_qkv:
            assert torch.equal(dec[name], ref_state[name]), name
    q = lm.decoder.encoder.layer[0].attention.self.query
    assert q.scaling['default'] == pytest.approx(1 / 4)  # loralib alpha 1 / r
    assert not torch.allclose(q.base_layer.weight, ref.encoder.layer[0].attention.self.query.weight)


def test_llm_peft_lora_keeps_pretrained_qkv_and_output(saved_bert):
    path, ref = saved_bert
    lm = HFLanguageModel(embed_model=path, decoder_model=path, tokenizer=BERT_TOK, qkv='peft_lora', lora_rank=4,
                         lora_alpha=4).eval()
    trainable = {n for n, p in lm.named_parameters() if p.requires_grad}
    assert trainable and all('lora_' in n for n in trainable)
    assert len(trainable) == 2 * 3 * 2  # 2 layers x q/k/v x (A, B)
    emb = torch.randn(2, 6, 32)
    torch.testing.assert_close(lm(emb), ref(inputs_embeds=emb).last_hidden_state)  # B = 0 at init
    frozen = lm(emb, attention_mask=torch.ones(2, 6, dtype=torch.long))
    masked = HFLanguageModel(embed_model=path, decoder_model=path, tokenizer=BERT_TOK, qkv='frozen',
                             use_attention_mask=True).eval()
    mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3])
    assert torch.allclose(masked(emb, mask)[0], frozen[0], atol=1e-5)
    assert not torch.allclose(masked(emb, mask)[1], frozen[1], atol=1e-3)


def test_llm_gpt2_embeddings_with_bert_decoder_and_missing_models(tmp_path):
    gpt2 = dict(model_type='gpt2', vocab_size=257, n_embd=32, n_layer=1, n_head=2, bos_token_id=256,
                eos_token_id=256)
    lm = HFLanguageModel(embed_model=gpt2, decoder_model=TINY_BERT,
                         tokenizer=dict(type='GPT2TokenizerFast', name_or_path=GPT2_TOK_DIR))
    assert lm.word_embeddings.shape == (257, 32)
    assert lm.tokenizer.pad_token == '<|endoftext|>'  # the code: pad = EOS when the tokenizer has one
    ids, _ = lm.tokenize(['ab', 'a'])
    assert ids.tolist() == [[64, 65], [64, 256]]
    with pytest.raises(FileNotFoundError, match='does not exist'):
        HFLanguageModel(embed_model=str(tmp_path / 'nope'), decoder_model=TINY_BERT, tokenizer=BERT_TOK)
    with pytest.raises(FileNotFoundError, match='HF_HUB_OFFLINE'):
        HFLanguageModel(embed_model='bert-base-uncased', local_files_only=True, cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match='model_type'):
        HFLanguageModel(embed_model=dict(hidden_size=32), tokenizer=BERT_TOK)
    with pytest.raises(ValueError, match='tokenizer has 83 tokens'):
        HFLanguageModel(embed_model={**TINY_BERT, 'vocab_size': 40}, decoder_model=TINY_BERT, tokenizer=BERT_TOK)


# --------------------------------------------------------------------------------------------------- head
def test_adaptation_head_shapes_tokens_and_scaling():
    torch.manual_seed(0)
    kw = dict(type='LLMMDEAdaptationHead', in_channels=32, num_tokens=10, map_size=4)
    head = MODELS.build(kw).eval()
    scaled = MODELS.build(dict(kw, scale_by_max_depth=True, max_depth=10.0)).eval()
    scaled.load_state_dict(head.state_dict())
    tokens, img = torch.randn(2, 12, 32), torch.randn(2, 3, 20, 28)
    out = head((tokens, img))
    assert out.shape == (2, 1, 20, 28) and out.min() > 0 and out.max() < 1
    torch.testing.assert_close(scaled((tokens, img)), 10.0 * out)
    changed = tokens.clone()
    changed[:, 10:] += 5  # tokens beyond num_tokens are ignored
    torch.testing.assert_close(head((changed, img)), out)
    short = head((tokens[:, :7], img))  # a shorter sequence is zero-padded
    torch.testing.assert_close(short, head((torch.cat([tokens[:, :7], torch.zeros(2, 3, 32)], 1), img)))


# ------------------------------------------------------------------------------------------- whole model
def _batch(model, n=2, h=24, w=32):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    torch.manual_seed(0)
    samples = []
    for _ in range(n):
        ds = SegDataSample()
        ds.gt_depth_map = PixelData(data=torch.rand(1, h, w) * 5 + 0.2)
        ds.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), padding_size=[0, 0, 0, 0]))
        samples.append(ds)
    imgs = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8) for _ in range(n)]
    return model.data_preprocessor(dict(inputs=imgs, data_samples=samples), True)


def test_llm_depth_estimator_trains_only_what_it_should():
    model = MODELS.build(tiny_model_cfg())
    model.init_weights()
    data = _batch(model)
    feats, img = model.extract_feat(data['inputs'])
    n_prompt = model.language_model.tokenize(model.prompt_generator(data['inputs']))[0].shape[1]
    assert feats.shape == (2, n_prompt + 16, 32) and img is data['inputs']  # [prompt ; 16 ViT tokens]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    expect_prefix = ('reprogramming.', 'language_to_depth.', 'decode_head.')
    for n in trainable:
        assert (n.startswith(expect_prefix) or ('backbone.' in n and 'lora_' in n)
                or ('language_model.decoder.encoder.layer' in n and '.attention.self.' in n)), n
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = model(**data, mode='loss')
    assert set(losses) == {'decode.loss_silog'} and torch.isfinite(losses['decode.loss_silog'])
    losses['decode.loss_silog'].backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if n in trainable)
    opt.step()
    after = model.state_dict()
    params = dict(model.named_parameters())
    for k, v in before.items():
        if k in params and not params[k].requires_grad:
            assert torch.equal(after[k], v), k
    model.eval()
    preds = model(**data, mode='predict')
    assert preds[0].pred_depth_map.data.shape == (1, 24, 32)


def test_llm_depth_estimator_without_prompt_and_with_coarse_depth():
    no_prompt = MODELS.build(tiny_model_cfg(prompt_generator=None, decode_head=dict(num_tokens=16)))
    data = _batch(no_prompt)
    feats, _ = no_prompt.extract_feat(data['inputs'])
    assert feats.shape == (2, 16, 32)  # the code's prompt=False path: head on the reprogrammed ViT tokens
    corrected = MODELS.build(tiny_model_cfg(
        prompt_generator=dict(stats_source='coarse_depth', class_from='per_image', separator=' '),
        decode_head=dict(scale_by_max_depth=True), reprogramming=dict(value_from='value'),
        backbone=dict(token_select='drop_cls')))
    corrected.train()
    seen = []
    gen = corrected.prompt_generator
    orig = gen.forward
    gen.forward = lambda img, coarse_depth=None: seen.append(coarse_depth) or orig(img, coarse_depth)
    losses = corrected(**data, mode='loss')
    assert torch.isfinite(losses['decode.loss_silog'])
    assert seen[0] is None and seen[1].shape == (2, 1, 24, 32) and corrected.decode_head.training


# ------------------------------------------------------------------------------------------- protocols
class _Scenes(BaseDataset):
    """In-memory dataset: 5 'bedroom', 3 'kitchen', 1 'foyer' samples."""

    def __init__(self, **kwargs):
        super().__init__(serialize_data=False, **kwargs)

    def load_data_list(self):
        types = ['bedroom'] * 5 + ['kitchen'] * 3 + ['foyer']
        return [dict(img_path=f'{i}.jpg', scene_type=t) for i, t in enumerate(types)]


def _types(ds):
    return [ds.get_data_info(i)['scene_type'] for i in range(len(ds))]


def test_k_shot_picks_exactly_k_per_scene_type_deterministically():
    base = _Scenes()
    two = KShotSceneDataset(base, shots=2, seed=3)
    types = _types(two)
    assert sorted(types) == ['bedroom', 'bedroom', 'foyer', 'kitchen', 'kitchen']  # foyer has only 1
    assert two.indices == KShotSceneDataset(_Scenes(), shots=2, seed=3).indices
    assert len({tuple(KShotSceneDataset(base, shots=2, seed=s).indices) for s in range(6)}) > 1
    one = KShotSceneDataset(base, shots=1, seed=3)
    assert sorted(_types(one)) == ['bedroom', 'foyer', 'kitchen'] and set(one.indices) <= set(two.indices)
    assert len(two) == 5 and two[0]['img_path'] == f'{two.indices[0]}.jpg'
    with pytest.raises(ValueError, match=r'foyer \(1\)'):
        KShotSceneDataset(base, shots=2, short_policy='error')
    per_type = OnePerSceneTypeDataset(base, seed=0)
    assert sorted(_types(per_type)) == ['bedroom', 'foyer', 'kitchen']
    with pytest.raises(ValueError, match="no 'scene'"):
        KShotSceneDataset(base, shots=1, group_by='scene')


def test_zero_shot_splits_never_share_a_scene_type():
    base = _Scenes()
    train = CrossSceneDataset(base, scene_types=['bedroom'])
    test = CrossSceneDataset(base, scene_types=['kitchen', 'foyer'], exclude_scene_types=['bedroom'])
    assert set(_types(train)) == {'bedroom'} and len(train) == 5
    assert set(_types(test)) == {'kitchen', 'foyer'} and len(test) == 4
    assert not set(train.scene_types()) & set(test.scene_types())
    assert set(_types(CrossSceneDataset(base, exclude_scene_types=['bedroom']))) == {'kitchen', 'foyer'}
    with pytest.raises(ValueError, match='both included and excluded'):
        CrossSceneDataset(base, scene_types=['bedroom'], exclude_scene_types=['bedroom'])
    with pytest.raises(ValueError, match=r"\['dining room'\] are not in the dataset"):
        CrossSceneDataset(base, scene_types=['dining room'])


# ---------------------------------------------------------------------------------------------- transforms
def test_depth_border_mask_and_cut_depth_paste():
    import numpy as np
    from mmseg.registry import TRANSFORMS
    img = np.full((480, 640, 3), 7, np.uint8)
    res = TRANSFORMS.build(dict(type='DepthBorderMask'))(dict(img=img, gt_depth_map=np.ones((480, 640), np.float32)))
    d = res['gt_depth_map']
    assert d[45:472, 43:608].all() and d.sum() == 427 * 565 and (res['img'] == 7).all()
    with pytest.raises(ValueError, match='DepthBorderMask needs an image of at least 472x608'):
        TRANSFORMS.build(dict(type='DepthBorderMask'))(dict(img=img[:100], gt_depth_map=d[:100]))
    # H 6, W 8, draws a=.25 b=.5 c=.5 d=.5: l = int(2) = 2, u = int(3) = 3, w = int(6 * .5 * .75) = 2,
    # h = int(3 * .5 * .75) = 1. The code pastes rows l:l+h = 2:3, columns u:u+w = 3:5 (swapped axes).
    depth = np.arange(48, dtype=np.float32).reshape(6, 8) / 10
    for swap, rows, cols in ((True, slice(2, 3), slice(3, 5)), (False, slice(3, 4), slice(2, 4))):
        t = TRANSFORMS.build(dict(type='CutDepthPaste', swap_axes=swap))
        t._draw = lambda: np.array([0.25, 0.5, 0.5, 0.5])
        out = t(dict(img=np.full((6, 8, 3), 9, np.uint8), gt_depth_map=depth))['img']
        expected = np.full((6, 8, 3), 9, np.float32)
        expected[rows, cols, :] = depth[rows, cols, None] * 255
        assert out.dtype == np.float32 and np.array_equal(out, expected)


# ------------------------------------------------------------------------------------------------- metric
def test_normalized_delta_metric_hand_computed():
    pred1, gt1 = torch.tensor([[[1., 2.], [3., 5.]]]), torch.tensor([[[0., 1.8], [3., 4.]]])
    pred2, gt2 = torch.full((1, 2, 2), 2.0), torch.tensor([[[1., 2.], [3., 4.]]])
    samples = [dict(pred_depth_map=dict(data=p), gt_depth_map=dict(data=g), img_path=f'{i}')
               for i, (p, g) in enumerate([(pred1, gt1), (pred2, gt2)])]
    # Image 1, all pixels: pred -> [0, .25, .5, 1], gt -> [0, .45, .75, 1], floor 1e-3 ->
    # ratios 1, 1.8, 1.5, 1 -> d1 .5, d2 .75, d3 1. Image 2: constant prediction (the code's 0/0) -> 0.
    metric = NormalizedDeltaMetric()
    metric.process(None, samples)
    res = metric.evaluate(2)
    d = [0.5 / 2, 0.75 / 2, 1.0 / 2]
    assert res['norm_delta/d1'] == pytest.approx(d[0]) and res['norm_delta/d2'] == pytest.approx(d[1])
    assert res['norm_delta/d3'] == pytest.approx(d[2])
    # Validation SILog on gt > 0.1: image 1 logs ln(2/1.8), 0, ln(5/4); image 2 ln 2, 0, ln(2/3), ln(1/2).
    def silog(ds):
        m = sum(ds) / len(ds)
        return 10 * math.sqrt(max(sum(x * x for x in ds) / len(ds) - 0.85 * m * m, 1e-6))
    s1 = silog([math.log(2 / 1.8), 0.0, math.log(5 / 4)])
    s2 = silog([math.log(2), 0.0, math.log(2 / 3), math.log(0.5)])
    assert res['norm_delta/silog_loss'] == pytest.approx((s1 + s2) / 2)
    # valid_only: pixels gt > 0.1 only: pred [0, 1/3, 1], gt [0, 1.2/2.2, 1] -> ratios 1, 1.636, 1.
    valid = NormalizedDeltaMetric(valid_only=True, with_silog=False)
    valid.process(None, samples[:1])
    res = valid.evaluate(1)
    assert (res['norm_delta/d1'], res['norm_delta/d2'], res['norm_delta/d3']) == pytest.approx((2 / 3, 2 / 3, 1.0))
    with pytest.raises(ValueError, match='differ in size'):
        NormalizedDeltaMetric().process(None, [dict(pred_depth_map=dict(data=pred1), img_path='x.jpg',
                                                    gt_depth_map=dict(data=torch.zeros(1, 3, 3)))])


# -------------------------------------------------------------------------------- configs and the runner
def _tiny_sized(model_cfg):
    """A config's model with every option kept and only the sizes / weights swapped for tiny random ones."""
    tiny = tiny_model_cfg()
    m = copy.deepcopy(model_cfg)
    m.backbone.update({k: v for k, v in TINY_VIT.items() if k != 'model_name'})
    lm = dict(embed_model=TINY_BERT, decoder_model=TINY_BERT, tokenizer=BERT_TOK, lora_rank=4)
    if 'gpt2' in m.language_model.embed_model:
        lm.update(embed_model=dict(model_type='gpt2', vocab_size=257, n_embd=32, n_layer=1, n_head=2),
                  tokenizer=dict(type='GPT2TokenizerFast', name_or_path=GPT2_TOK_DIR))
    m.language_model.update(lm)
    m.reprogramming.update({k: tiny['reprogramming'][k] for k in ('num_prototypes', 'num_heads', 'd_keys')})
    m.prompt_generator.update(input_size=32)
    m.decode_head.update(in_channels=32, num_tokens=150, map_size=8, up_channels=(4, 4, 4))
    return m


def test_every_llm_mde_config_builds_model_and_protocol_datasets():
    import glob
    from collections import Counter
    from mmengine.config import Config
    files = sorted(glob.glob(osp.join(REPO, 'configs', 'llm_mde', '[!_]*.py')))
    assert len(files) == 12
    sizes, built_models, inner_cache = {}, set(), {}
    for f in files:
        cfg = Config.fromfile(f)
        assert cfg.train_dataloader.batch_size == 32
        assert any(e['type'] == 'NormalizedDeltaMetric' for e in cfg.val_evaluator)
        key = repr(cfg.model.to_dict())
        if key not in built_models:  # the protocol configs share nyu_bert.py's model
            built_models.add(key)
            assert isinstance(MODELS.build(_tiny_sized(cfg.model)).backbone, LoRAViT)
        # The real split files (795 official train / 654 test lines) over the bundled folder tree.
        datasets = []
        for loader in (cfg.train_dataloader, cfg.val_dataloader):
            ds_cfg = copy.deepcopy(loader.dataset)
            inner = ds_cfg.get('dataset', ds_cfg)
            inner.update(data_root=osp.join(REPO, 'tests', 'data', 'nyu'), pipeline=[])
            key = inner.split
            if key not in inner_cache:
                inner_cache[key] = DATASETS.build(inner)
            if 'dataset' in ds_cfg:
                ds_cfg.dataset = inner_cache[key]
                datasets.append(DATASETS.build(ds_cfg))
            else:
                datasets.append(inner_cache[key])
        train, val = datasets
        sizes[osp.basename(f)] = (len(train), Counter(_types(train)), len(val), set(_types(val)))
    assert sizes['nyu_bert.py'][0] == 795 and sizes['nyu_bert.py'][2] == 654
    assert sizes['nyu_gpt2.py'][0] == sizes['nyu_bert_corrected.py'][0] == 795
    for k, n in ((1, 27), (2, 54), (3, 79), (4, 100)):  # 6 scene types have fewer than 4 images
        n_train, counts, _, _ = sizes[f'nyu_bert_{k}shot.py']
        assert n_train == n and len(counts) == 27 and max(counts.values()) == k
    assert sizes['nyu_bert_one_per_scene.py'][0] == 27 and set(sizes['nyu_bert_one_per_scene.py'][1].values()) == {1}
    for scene, n_test in (('bathroom', 58), ('dining_room', 55), ('kitchen', 106), ('living_room', 107)):
        n_train, counts, n_val, val_types = sizes[f'nyu_bert_zeroshot_bedroom_to_{scene}.py']
        assert (n_train, set(counts), n_val, val_types) == (192, {'bedroom'}, n_test, {scene})


def test_two_iterations_train_and_test_on_bundled_samples(tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'llm_mde', 'nyu_bert.py'))
    samples = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'nyu_samples.py'))
    tiny = tiny_model_cfg()
    for key in ('backbone', 'language_model', 'reprogramming', 'prompt_generator'):
        cfg.model[key] = tiny[key]
    cfg.model.decode_head.update(in_channels=32, num_tokens=150, map_size=8, up_channels=(4, 4, 4))
    # The real LLM-MDE training pipeline, then a downscale so the tiny run stays fast on 2 CPU cores.
    pipeline = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    pipeline.insert(-1, dict(type='Resize', scale=(80, 60), keep_ratio=False))
    cfg.train_dataloader = dict(samples.train_dataloader, batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.pipeline = pipeline
    cfg.val_dataloader = cfg.test_dataloader = dict(samples.val_dataloader, num_workers=0, persistent_workers=False)
    cfg.train_cfg.max_epochs = 1  # 3 samples, batch 2 -> 2 iterations, then validation
    cfg.work_dir = str(tmp_path)
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook', draw=False)
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    metrics = runner.test()
    for key in ('d1', 'abs_rel', 'norm_delta/d1', 'norm_delta/silog_loss'):
        assert math.isfinite(metrics[key]), key
    assert osp.isfile(osp.join(str(tmp_path), 'epoch_1.pth'))
