"""tools/analysis/prompt_robustness.py on the bundled NYU samples with a tiny CLIP (JSON, table, plots), and
the perturbations against hand-computed values."""
import importlib.util
import json
import math
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, tiny_runner_cfg
from mmclipdepth.apis import prompt_perturbations as P

FAMILIES = ['synonym', 'typo', 'word_order', 'case_punct', 'paraphrase', 'gaussian_noise']
IMAGE = ['img_noise', 'img_jpeg']
TOOL = osp.join(REPO, 'tools/analysis/prompt_robustness.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('prompt_robustness', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _samples_cfg(config, tmp_path, name):
    cfg = tiny_runner_cfg(config, work_dir=str(tmp_path / 'w'))
    cfg.test_dataloader.dataset.split_file = 'splits/nyu_train_samples.txt'  # 3 frames (sync layout)
    cfg.test_dataloader.dataset.split = 'train'
    path = str(tmp_path / name)
    cfg.dump(path)
    return path


def test_prompt_robustness_tool_on_word_prompts(tmp_path):
    """Five word families and two image corruptions through the command line: JSON, table, one PNG per family,
    the skipped family with its reason, the protocol stamp with the config fingerprint."""
    from mmengine.config import Config
    from mmclipdepth.checkpoint.identity import model_fingerprint
    cfg_path = _samples_cfg('configs/clipdepth/nyu_baseline_depth7.py', tmp_path, 'words.py')
    out = tmp_path / 'pr'
    run = subprocess.run([sys.executable, TOOL, cfg_path, '--out-dir', str(out), '--families', *FAMILIES, *IMAGE,
                          '--strengths', '0', '1', '3', '--severities', '1', '5'],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    rec = json.load(open(out / 'prompt_robustness.json'))
    assert rec['images'] == 3 and rec['seed'] == 0 and rec['prompt_kind'] == 'clip_words'
    assert 'learned or random token vectors' in rec['skipped']['gaussian_noise']
    rows = {(r['family'], r['strength']): r for r in rec['settings']}
    assert sorted(rows) == sorted([(f, s) for f in FAMILIES[:-1] for s in (0.0, 1.0, 3.0)]
                                  + [(f, s) for f in IMAGE for s in (1.0, 5.0)])
    base = rec['baseline']
    for r in rec['settings']:
        for k, v in r['metrics'].items():
            assert r['delta'][k] == v - base[k]
    # strength 0 leaves the prompts as they were: the replayed image features give the unperturbed numbers
    # (the text tower runs without the shared-prefix split here: equal up to float32 rounding, ~1e-6 relative)
    for fam in ('synonym', 'typo', 'word_order'):
        for k in ('abs_rel', 'rmse', 'd1'):
            assert abs(rows[(fam, 0.0)]['delta'][k]) <= 1e-5 * max(1.0, abs(base[k])), (fam, k)
    assert rows[('case_punct', 3.0)]['prompts'][0] == 'THIS OBJECT APPEARS TO BE VERY CLOSE.'  # depth-7, bin 0
    assert rows[('paraphrase', 1.0)]['prompts'][6] == 'This object seems to be very distant'
    assert rows[('synonym', 1.0)]['prompts'][0] != 'This object appears to be very close'
    assert any(abs(rows[(f, s)]['delta']['abs_rel']) > 0 for f in FAMILIES[:-1] for s in (1.0, 3.0))
    # the image side is not replayed for corruptions: the trunk sees the corrupted pixels
    assert all(rows[(f, 5.0)]['kind'] == 'image' and rows[(f, 5.0)]['delta']['rmse'] != 0 for f in IMAGE)
    table = open(out / 'prompt_robustness.md').read()
    assert table.count('\n| ') == 1 + 15 + 4 and 'skipped `gaussian_noise`' in table and 'protocol:' in table
    for fam in FAMILIES[:-1] + IMAGE:
        assert Image.open(out / f'{fam}.png').size[0] > 100
    assert not (out / 'gaussian_noise.png').exists()
    cost = rec['cost']
    assert (cost['prompt_settings'], cost['image_settings']) == (15, 4) and cost['prompt_ratio'] > 1
    stamp = rec['protocol']
    assert stamp['dataset'] == 'NYUDepthV2Dataset' and stamp['tta'] == 'whole_flip'
    assert stamp['config_fingerprint'] == json.loads(json.dumps(model_fingerprint(Config.fromfile(cfg_path).model)))


def test_prompt_robustness_is_deterministic_on_learned_tokens(tmp_path):
    """Auty's learned-7 tokens (random init): four vector families and fog; two runs with the same arguments
    write the same record (all but the timings)."""
    cfg_path = _samples_cfg('configs/clipdepth/nyu_baseline_learned7.py', tmp_path, 'learned.py')
    args = ['--families', 'gaussian_noise', 'token_dropout', 'bin_swap', 'nearest_word', 'img_fog', 'synonym',
            '--strengths', '1', '--severities', '3', '--allow-untrained']
    first = subprocess.run([sys.executable, TOOL, cfg_path, '--out-dir', str(tmp_path / 'a'), *args],
                           capture_output=True, text=True, timeout=900, cwd=REPO)
    assert first.returncode == 0, first.stderr[-3000:]
    assert _load_tool().main([cfg_path, '--out-dir', str(tmp_path / 'b'), *args]) == 0
    a, b = (json.load(open(tmp_path / d / 'prompt_robustness.json')) for d in 'ab')
    assert a['prompt_kind'] == 'tokens' and 'human words' in a['skipped']['synonym']
    assert [r['family'] for r in a['settings']] == ['gaussian_noise', 'token_dropout', 'bin_swap', 'nearest_word',
                                                    'img_fog']
    assert all(r['delta']['abs_rel'] != 0 for r in a['settings'])
    for rec in (a, b):
        rec.pop('cost')
        rec['protocol'].pop('config_fingerprint')  # (equal too; popped for a short diff)
    assert a == b
    for fam in ('gaussian_noise', 'token_dropout', 'bin_swap', 'nearest_word', 'img_fog'):
        assert (tmp_path / 'a' / f'{fam}.png').is_file()


def test_mirror_and_llm_mde_families_and_perturbed_adaptive_prompts():
    """Which families apply to CLIP2Depth's mirror and to LLM-MDE (the rest skipped with the reason); a mirror
    perturbation leaves the mirror as it was; LLM-MDE's generated prompts are perturbed, seeded, and reach the
    language model."""
    from mmseg.registry import MODELS
    from test_llm_mde import tiny_model_cfg as llm_cfg
    tool = _load_tool()
    cfg = tiny_runner_cfg('configs/mirror/nyu_mirror8_deconv.py')
    cfg.model.decode_head.in_channels = 128
    mirror = MODELS.build(cfg.model).eval()
    run, skipped = tool.applicable(mirror)
    assert run == ['gaussian_noise', 'token_dropout', 'nearest_word']
    assert 'no depth bins' in skipped['bin_swap'] and 'the mirror matrix' in skipped['synonym']
    assert 'not requested' in skipped['img_fog']
    enc = mirror.decode_head.text_encoder
    before = enc.mirror.detach().clone()
    with torch.no_grad():
        clean = enc.encode()
        noisy, _ = tool.perturbed_text(enc, 'gaussian_noise', 0.5, 0, None)
        again, _ = tool.perturbed_text(enc, 'gaussian_noise', 0.5, 0, None)
    assert torch.equal(enc.mirror, before) and torch.equal(noisy, again) and not torch.allclose(noisy, clean)

    llm = MODELS.build(llm_cfg()).eval()
    run, skipped = tool.applicable(llm)
    assert run == ['synonym', 'word_order', 'typo', 'case_punct']
    assert 'no template' in skipped['paraphrase'] and 'no template' in skipped['random_words']
    assert "LLM-MDE's prompt is words" in skipped['gaussian_noise']
    img = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    gen = llm.prompt_generator
    plain = gen(img)
    with torch.no_grad():
        feats = llm.extract_feat(img)[0]
        outs = []
        for _ in range(2):
            wrapped = tool.PerturbedPromptGenerator(gen.forward, 'typo', 0.3, 7)
            gen.forward = wrapped
            try:
                outs.append((wrapped(img), llm.extract_feat(img)[0]))
            finally:
                del gen.forward
    (texts, perturbed), (texts2, perturbed2) = outs
    assert texts == texts2 and texts != plain and len(texts[0]) > 20
    assert torch.equal(perturbed, perturbed2)
    # the language model read the perturbed prompt (a typo changes its token count, or at least its tokens)
    assert perturbed.shape != feats.shape or not torch.allclose(perturbed, feats)
    assert gen(img) == plain  # the class's forward is back


def test_image_corruptions_by_hand():
    import cv2
    from mmclipdepth.apis import image_corruptions as C
    rng = np.random.default_rng(0)
    x = rng.random((24, 32, 3)).astype(np.float32)
    # brightness against an HSV round trip (OpenCV's float HSV: V in [0, 1])
    for sev, c in zip(range(1, 6), (0.1, 0.2, 0.3, 0.4, 0.5)):
        hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
        hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
        ref = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        np.testing.assert_allclose(C.brightness(x, sev), ref, atol=1e-5)
    grey = np.full((200, 200, 3), 0.5, np.float32)
    for sev, sigma in zip((1, 5), (0.08, 0.38)):
        # N(0, sigma) clipped at +-0.5 (k = 0.5 / sigma): Var = sigma^2 (1 - 2 Q(k) - 2 k phi(k)) + 2 (0.5)^2 Q(k)
        k = 0.5 / sigma
        q, phi = 0.5 * math.erfc(k / math.sqrt(2)), math.exp(-k * k / 2) / math.sqrt(2 * math.pi)
        expected = math.sqrt(sigma ** 2 * (1 - 2 * q - 2 * k * phi) + 2 * 0.25 * q)
        std = float((C.noise(grey, sev, np.random.default_rng(1)) - 0.5).std())
        assert abs(std / expected - 1) < 0.02, (sev, std, expected)  # 120000 samples: ~0.2 % sampling error
    assert np.allclose(C.blur(grey, 5), 0.5, atol=1e-6)  # a normalised kernel keeps a constant image
    assert abs(C.disk_kernel(10, 0.5).sum() - 1) < 1e-6
    for name in C.CORRUPTIONS:
        a = C.corrupt((x * 255).astype(np.uint8), name, 3, np.random.default_rng(2))
        b = C.corrupt((x * 255).astype(np.uint8), name, 3, np.random.default_rng(2))
        assert a.dtype == np.uint8 and a.shape == x.shape and np.array_equal(a, b), name  # seeded
    errs = [np.abs(C.jpeg(x, s) - x).mean() for s in (1, 5)]
    assert errs[1] > errs[0] > 0  # quality 25 -> 7
    assert C.dark(x, 5, rng).mean() < C.dark(x, 1, rng).mean() < x.mean()
    assert C.fog(x, 5, np.random.default_rng(0)).std() < x.std()  # fog lowers contrast
    with pytest.raises(ValueError, match='severity must be an integer in 1..5, got 6'):
        C.noise(x, 6, rng)


def test_perturbations_by_hand():
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    assert P.case_and_punctuation('This object is close', 1) == 'This object is close.'
    assert P.synonym_swap('very close', 0.0, rng()) == 'very close'
    assert P.synonym_swap('very close', 1.0, rng()).split()[-1] in P.SYNONYMS['close']
    assert sorted(P.shuffle_words('a b c d', 1.0, rng()).split()) == ['a', 'b', 'c', 'd']
    assert P.char_typos('close', 0.0, rng()) == 'close'
    assert P.char_typos('close', 0.5, rng()) == P.char_typos('close', 0.5, rng())  # seeded: reproducible
    assert P.random_depth_words(['very close', 'far'], 1.0, rng())[0].count(' ') == 1  # as many words
    vecs = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    assert torch.equal(P.drop_tokens(vecs, 1.0, rng()), torch.zeros(3, 2))
    swapped = P.swap_bins(vecs, 1.0, rng())
    assert sorted(map(tuple, swapped.tolist())) == sorted(map(tuple, vecs.tolist())) and not torch.equal(swapped, vecs)
    table = torch.tensor([[0.0, 1.0], [1.0, 0.1]])
    # nearest by cosine: (3,4) -> (0,1)? cos = 0.8; -> (1,0.1): (3+0.4)/5/1.005 = 0.677 -> (0,1)
    assert torch.allclose(P.toward_nearest_word(vecs, table, 1.0)[0], table[0])
    assert torch.allclose(P.toward_nearest_word(vecs, table, 0.5)[0], torch.tensor([1.5, 2.5]))
    noisy = P.gaussian_noise(torch.ones(2000, 512), 0.5, torch.Generator().manual_seed(0))
    # |noise| ~ 0.5 |v| = 0.5 * sqrt(512): the mean over 2000 vectors within 2 % of it
    ratio = ((noisy - 1).norm(dim=1) / torch.ones(512).norm()).mean()
    assert abs(float(ratio) - 0.5) < 0.01
