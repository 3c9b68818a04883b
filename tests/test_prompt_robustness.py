"""tools/analysis/prompt_robustness.py on the bundled NYU samples with a tiny CLIP (JSON, table, plots), and
the perturbations against hand-computed values."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

from conftest import REPO, tiny_runner_cfg
from mmclipdepth.apis import prompt_perturbations as P

FAMILIES = ['synonym', 'typo', 'word_order', 'case_punct', 'paraphrase', 'gaussian_noise']


def test_prompt_robustness_tool_on_word_prompts(tmp_path):
    cfg = tiny_runner_cfg('configs/clipdepth/nyu_baseline_depth7.py', work_dir=str(tmp_path / 'w'))
    cfg.test_dataloader.dataset.split_file = 'splits/nyu_train_samples.txt'  # 3 frames (sync layout)
    cfg.test_dataloader.dataset.split = 'train'
    cfg_path = str(tmp_path / 'words.py')
    cfg.dump(cfg_path)
    out = tmp_path / 'pr'
    run = subprocess.run([sys.executable, osp.join(REPO, 'tools/analysis/prompt_robustness.py'), cfg_path,
                          '--out-dir', str(out), '--families', *FAMILIES, '--strengths', '0', '1', '3'],
                         capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    rec = json.load(open(out / 'prompt_robustness.json'))
    assert rec['images'] == 3 and rec['seed'] == 0
    assert 'learned or random token vectors' in rec['skipped']['gaussian_noise']
    rows = {(r['family'], r['strength']): r for r in rec['settings']}
    assert sorted(rows) == sorted((f, s) for f in FAMILIES[:-1] for s in (0.0, 1.0, 3.0))
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
    table = open(out / 'prompt_robustness.md').read()
    assert table.count('\n| ') == 1 + 15 and 'skipped `gaussian_noise`' in table and 'protocol:' in table
    for fam in FAMILIES[:-1]:
        assert Image.open(out / f'{fam}.png').size[0] > 100
    assert not (out / 'gaussian_noise.png').exists()
    assert rec['cost']['settings'] == 15 and rec['cost']['ratio'] > 1
    assert rec['protocol']['crop'] == 'eigen_box' or rec['protocol']['dataset'] == 'NYUDepthV2Dataset'


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
