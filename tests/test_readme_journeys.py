"""The README is the test: every shell command block of README.md (and every recipe of docs/variants.md) runs here
as typed, through subprocess, in a scratch folder that looks like a fresh clone (configs/, tools/, demo/, tests/
linked), chained as the README chains them: quickstart; train -> test -> image demo (.pth and .onnx) -> ONNX
export -> video demo; sweep -> paper table -> split -> test and demo on a split part; zero-shot evaluation on
fixture trees; the Python API snippet.

Only offline substitutions are appended to a command, never edits of it:
- CLIP: a tiny random open_clip model folder given through the real weights path
  (``--cfg-options <every clip>.model_name=local-dir:DIR <every clip>.pretrained=None``; conftest.local_clip_dir);
- data: the bundled samples of tests/data/nyu (configs/_base_/datasets/nyu_samples.py's keys), batch 2, no worker
  processes, and fixture trees in each zero-shot release's layout at the configs' default data roots;
- time: 2 epochs (single variant; the quickstart: 2 of its 6) or 1 (the sweep, the recipes) instead of 25, so the
  README's ``epoch_25.pth`` is read as the last epoch's checkpoint (``train_cfg.max_epochs`` appended, the path
  substituted); the paper schedule's length is not what these tests check;
- the README's placeholders (CONFIG, CKPT, photos, clip.mp4, ...) name the files the chain made.

A block the test cannot run offline is marked in README.md right before it with
``<!-- journey: skip (reason) -->`` (the whole block) or ``<!-- journey: skip `COMMAND PREFIX` (reason) -->``
(its lines starting so); each such command is reported as a skip with that reason. A command that is neither run
here nor marked fails ``test_every_readme_command_is_run_or_marked``.
"""
import glob
import json
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys

import pytest
from mmengine.config import Config

from conftest import CHILD_THREADS, REPO, TINY_CLIP_ARCH, TINY_VIT_ARCH
from helpers.local_clip import make_local_clip_dir

README = osp.join(REPO, 'README.md')
VARIANTS_MD = osp.join(REPO, 'docs', 'variants.md')
SHELL_LANGS = ('', 'bash', 'shell', 'sh', 'console')
FENCE = re.compile(r'^```([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$', re.M | re.S)
SKIP = re.compile(r'<!--\s*journey:\s*skip\s+(?:`([^`]+)`\s+)?\((.+?)\)\s*-->', re.S)
TIMEOUT = 900


def _commands(block: str):
    """The commands of a shell block: continuation lines joined, comments and extra blanks removed."""
    out, cur = [], ''
    for line in block.splitlines():
        cur += line
        if cur.rstrip().endswith('\\'):
            cur = cur.rstrip()[:-1] + ' '
            continue
        cmd = re.sub(r'\s+#.*$', '', cur.strip()) if not cur.strip().startswith('#') else ''
        cur = ''
        if cmd:
            out.append(' '.join(cmd.split()))
    return out


def readme_commands(path=README):
    """[(command, skip reason or None)] of every shell block of ``path``, in order."""
    text = open(path, encoding='utf-8').read()
    out, prev_end = [], 0
    for m in FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        between = text[prev_end:m.start()]
        prev_end = m.end()
        if lang not in SHELL_LANGS:
            continue
        # markers apply to the block right after them: only the text after the previous block's last paragraph
        marks = SKIP.findall(between)
        for cmd in _commands(body):
            reason = None
            for prefix, why in marks:
                if not prefix or cmd.startswith(' '.join(prefix.split())):
                    reason = ' '.join(why.split())
            out.append((cmd, reason))
    return out


# every README command this module runs (the test that runs it is named beside it)
RUN = {
    'bash tools/quickstart.sh work_dirs/quickstart': 'test_quickstart',
    'python tools/train.py configs/clipdepth/nyu_404d_learned7.py': 'trained',
    'python tools/train.py configs/clipdepth/nyu_404d_learned7.py --resume': 'test_resume_after_the_run',
    'python tools/test.py configs/clipdepth/nyu_404d_learned7.py work_dirs/nyu_404d_learned7/epoch_25.pth':
        'test_test_the_trained_checkpoint',
    'python tools/test.py configs/clipdepth/nyu_depthclip_zeroshot.py': 'test_zero_shot_config_needs_no_checkpoint',
    'python tools/test.py CONFIG CKPT --out preds/ --show-dir vis/': 'test_test_out_and_show_dir',
    "python demo/image_demo.py CONFIG CKPT 'photos/*.jpg' --out-dir out/ --colorbar --focal 518.9":
        'test_image_demo_checkpoint',
    'python tools/train.py configs/clipdepth/sweeps/nyu_auty_tables3to7.py': 'sweep',
    'python tools/analysis/paper_table.py work_dirs/nyu_auty_tables3to7': 'test_paper_table',
    'python tools/model_converters/split_variants.py configs/clipdepth/sweeps/nyu_auty_tables3to7.py '
    'work_dirs/nyu_auty_tables3to7/epoch_25.pth --out-dir ckpts/': 'split',
    'python tools/deployment/export_onnx.py CONFIG CKPT --out model.onnx': 'onnx',
    'python demo/image_demo.py model.onnx photo.jpg --out-dir out/': 'test_image_demo_onnx',
    'python demo/video_demo.py CONFIG CKPT clip.mp4 --out-dir out/': 'test_video_demo',
    'python tools/analysis/zero_shot_eval.py CONFIG CKPT --datasets sunrgbd ibims diode_indoor hypersim diml_indoor':
        'test_zero_shot_eval',
    'python tools/test.py CONFIG CKPT --test-set configs/_base_/datasets/zero_shot/ibims.py':
        'test_test_set_ibims',
}


def readme_cmd(cmd):
    """``cmd`` as the README types it (it must be there: a test never runs a command the README lost)."""
    assert cmd in [c for c, _ in readme_commands()], f'README.md no longer has the command {cmd!r}'
    return cmd


def test_every_readme_command_is_run_or_marked():
    cmds = readme_commands()
    assert len(cmds) >= len(RUN)
    unknown = [c for c, why in cmds if why is None and c not in RUN]
    assert not unknown, ('README.md command(s) neither run by tests/test_readme_journeys.py nor marked '
                         f'<!-- journey: skip (reason) --> before their block: {unknown}')
    stale = [c for c in RUN if c not in [x for x, _ in cmds]]
    assert not stale, f'tests/test_readme_journeys.py runs command(s) README.md no longer has: {stale}'
    marked_and_run = [c for c, why in cmds if why is not None and c in RUN]
    assert not marked_and_run, f'marked as skipped but run: {marked_and_run}'


def test_skip_markers_are_parsed(tmp_path):
    md = tmp_path / 'R.md'
    md.write_text('<!-- journey: skip (needs a GPU) -->\n```bash\npython a.py  # one\n```\n\n'
                  '<!-- journey: skip `pip install` (installs) -->\n```\npip install x && y\npython b.py \\\n'
                  '    --flag\n```\n```python\nnot_shell()\n```\n```bash\npython c.py\n```\n')
    assert readme_commands(str(md)) == [('python a.py', 'needs a GPU'), ('pip install x && y', 'installs'),
                                        ('python b.py --flag', None), ('python c.py', None)]


@pytest.mark.parametrize('cmd,reason', [pytest.param(c, w, id=c[:60]) for c, w in readme_commands() if w])
def test_marked_command_is_skipped_with_its_reason(cmd, reason):
    pytest.skip(f'README.md marks it: {reason}')


# ------------------------------------------------------------------------------------------------ the scratch clone
def _clip_paths(node, prefix='model'):
    """Dotted paths of every ``clip`` dict of a model config (one per tower; a sweep has one per head)."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == 'clip' and isinstance(v, dict):
                out.append((f'{prefix}.{k}', v))
            else:
                out += _clip_paths(v, f'{prefix}.{k}')
    return out


class Journey:
    def __init__(self, root, clip_dir, vit_dir):
        self.root, self.clip_dir, self.vit_dir = root, clip_dir, vit_dir
        self.env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
                        HF_HUB_OFFLINE='1', PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'],
                        OMP_NUM_THREADS=CHILD_THREADS, MPLBACKEND='Agg')
        self.env.pop('CUDA_VISIBLE_DEVICES', None)

    def clip_opts(self, config):
        """``--cfg-options`` pairs pointing every CLIP of ``config`` at the tiny local model folder (a ViT
        folder for ViT CLIPs)."""
        cfg = Config.fromfile(osp.join(self.root, config))
        out = []
        for path, clip in _clip_paths(cfg.model.to_dict()):
            folder = self.vit_dir if 'ViT' in str(clip.get('model_name')) else self.clip_dir
            out += [f'{path}.model_name=local-dir:{folder}', f'{path}.pretrained=None']
        assert out, f'{config} has no clip to substitute'
        return out

    @staticmethod
    def data_opts(train=True):
        nyu = osp.join(REPO, 'tests', 'data', 'nyu')
        out = []
        for key, split in (('train_dataloader', 'train'), ('val_dataloader', 'test'), ('test_dataloader', 'test')):
            if key == 'train_dataloader' and not train:
                continue
            out += [f'{key}.dataset.data_root={nyu}', f'{key}.dataset.split_file=splits/nyu_{split}_samples.txt',
                    f'{key}.num_workers=0', f'{key}.persistent_workers=False']
        return out + (['train_dataloader.batch_size=2'] if train else [])

    def run(self, cmd, subs=None, cfg_options=(), extra=(), expect_rc=0, split_part=False):
        """Run the README's ``cmd`` in the scratch clone: placeholders replaced (whole words), ``extra`` arguments
        and ``--cfg-options`` appended."""
        for k, v in (subs or {}).items():  # placeholders as whole words; paths and file names as typed
            new = re.sub(rf'(?<![\w/.-]){re.escape(k)}(?![\w/.-])', v, cmd) if k.isupper() else cmd.replace(k, v)
            assert new != cmd, f'{k!r} is not in `{cmd}`'
            cmd = new
        tail = list(extra) + (['--cfg-options', *cfg_options] if cfg_options else [])
        full = cmd + (' ' + shlex.join(tail) if tail else '')
        p = subprocess.run(['bash', '-c', full], cwd=self.root, env=self.env, capture_output=True, text=True,
                           timeout=TIMEOUT)
        if p.returncode != expect_rc:
            pytest.fail(f'`{full}` exited {p.returncode} (expected {expect_rc}):\n--- stdout\n{p.stdout[-4000:]}'
                        f'\n--- stderr\n{p.stderr[-6000:]}')
        return p

    def path(self, *parts):
        return osp.join(self.root, *parts)


def _frames():
    return sorted(glob.glob(osp.join(REPO, 'tests', 'data', 'nyu', 'sync', '*', 'rgb_*.jpg')))


@pytest.fixture(scope='module')
def journey(tmp_path_factory, local_clip_dir):
    root = str(tmp_path_factory.mktemp('clone'))
    for name in ('tools', 'demo', 'tests', 'mmclipdepth'):
        os.symlink(osp.join(REPO, name), osp.join(root, name))
    os.makedirs(osp.join(root, 'configs'))  # real folder: docs/variants.md's recipes are written beside the configs
    for name in os.listdir(osp.join(REPO, 'configs')):
        os.symlink(osp.join(REPO, 'configs', name), osp.join(root, 'configs', name))
    vit_dir, _ = make_local_clip_dir(str(tmp_path_factory.mktemp('tiny_vit')), TINY_VIT_ARCH, quick_gelu=True)
    j = Journey(root, local_clip_dir, vit_dir)
    # the README's placeholders for the user's own files: bundled frames
    frames = _frames()
    os.makedirs(j.path('photos'))
    for i, f in enumerate(frames):
        shutil.copy(f, j.path('photos', f'photo_{i}.jpg'))
    shutil.copy(frames[0], j.path('photo.jpg'))
    shutil.copy(frames[0], j.path('kitchen.jpg'))
    import cv2
    imgs = [cv2.imread(f) for f in frames]
    h, w = imgs[0].shape[:2]
    vw = cv2.VideoWriter(j.path('clip.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 5, (w, h))
    for im in imgs + imgs[::-1]:
        vw.write(cv2.resize(im, (w, h)))
    vw.release()
    assert osp.getsize(j.path('clip.mp4')) > 0
    return j


# ---------------------------------------------------------------------------------------------------- quickstart
def test_quickstart(journey):
    cfg = 'configs/quickstart/nyu_samples_learned7.py'
    # 2 of the quickstart's 6 epochs (its --cfg-options go to tools/train.py, as the script's header says):
    # validation and the last checkpoint still come at the last epoch
    journey.run(readme_cmd('bash tools/quickstart.sh work_dirs/quickstart'),
                cfg_options=journey.clip_opts(cfg) + ['train_cfg.max_epochs=2'])
    qs = journey.path('work_dirs', 'quickstart')
    metrics = json.load(open(osp.join(qs, 'metrics.json')))
    assert 'abs_rel' in json.dumps(metrics)
    assert len(glob.glob(osp.join(qs, 'depth', '*.npy'))) == len(_frames())
    assert glob.glob(osp.join(qs, 'depth', '*.ply')) and glob.glob(osp.join(qs, 'depth', '*.png'))


# ------------------------------------------------------------------------------------ train -> test -> demos -> ONNX
TRAIN_CFG = 'configs/clipdepth/nyu_404d_learned7.py'
TRAIN_EPOCHS = 2  # of 2 iterations (3 frames, batch 2)
TRAIN_CKPT = f'work_dirs/nyu_404d_learned7/epoch_{TRAIN_EPOCHS}.pth'  # the README's epoch_25.pth
SHORT = {'epoch_25.pth': f'epoch_{TRAIN_EPOCHS}.pth'}


@pytest.fixture(scope='module')
def trained(journey):
    """The README's training command on the bundled frames, validated at its end."""
    p = journey.run(readme_cmd('python tools/train.py configs/clipdepth/nyu_404d_learned7.py'),
                    cfg_options=journey.clip_opts(TRAIN_CFG) + journey.data_opts()
                    + [f'train_cfg.max_epochs={TRAIN_EPOCHS}'])
    assert osp.isfile(journey.path(TRAIN_CKPT)), p.stdout[-2000:]
    assert 'Epoch(val)' in p.stdout + p.stderr
    return dict(CONFIG=TRAIN_CFG, CKPT=TRAIN_CKPT)


def test_resume_after_the_run(journey, trained):
    before = open(journey.path(TRAIN_CKPT), 'rb').read()
    p = journey.run(readme_cmd('python tools/train.py configs/clipdepth/nyu_404d_learned7.py --resume'),
                    cfg_options=journey.clip_opts(TRAIN_CFG) + journey.data_opts()
                    + [f'train_cfg.max_epochs={TRAIN_EPOCHS}'])
    assert 'resumed' in (p.stdout + p.stderr).lower()
    assert open(journey.path(TRAIN_CKPT), 'rb').read() == before  # nothing left to train: the last epoch is done


def test_test_the_trained_checkpoint(journey, trained):
    p = journey.run(readme_cmd('python tools/test.py configs/clipdepth/nyu_404d_learned7.py '
                               'work_dirs/nyu_404d_learned7/epoch_25.pth'), subs=SHORT,
                    cfg_options=journey.clip_opts(TRAIN_CFG) + journey.data_opts(train=False))
    assert 'abs_rel' in p.stdout + p.stderr


def test_zero_shot_config_needs_no_checkpoint(journey):
    cfg = 'configs/clipdepth/nyu_depthclip_zeroshot.py'
    p = journey.run(readme_cmd(f'python tools/test.py {cfg}'),
                    cfg_options=journey.clip_opts(cfg) + journey.data_opts(train=False))
    assert 'abs_rel' in p.stdout + p.stderr


def test_test_out_and_show_dir(journey, trained):
    journey.run(readme_cmd('python tools/test.py CONFIG CKPT --out preds/ --show-dir vis/'), subs=trained,
                cfg_options=journey.clip_opts(TRAIN_CFG) + journey.data_opts(train=False))
    assert glob.glob(journey.path('preds', '**', '*.npy'), recursive=True)
    assert glob.glob(journey.path('work_dirs', 'nyu_404d_learned7', '**', 'vis', '**', '*.png'), recursive=True) \
        or glob.glob(journey.path('**', 'vis', '**', '*.png'), recursive=True)


def test_image_demo_checkpoint(journey, trained):
    out = journey.path('out_pth')
    journey.run(readme_cmd("python demo/image_demo.py CONFIG CKPT 'photos/*.jpg' --out-dir out/ --colorbar "
                           '--focal 518.9'), subs=dict(trained, **{'out/': 'out_pth/'}),
                cfg_options=journey.clip_opts(TRAIN_CFG))
    assert len(glob.glob(osp.join(out, '*.npy'))) == len(_frames())
    assert glob.glob(osp.join(out, '*.ply'))


@pytest.fixture(scope='module')
def onnx(journey, trained):
    journey.run(readme_cmd('python tools/deployment/export_onnx.py CONFIG CKPT --out model.onnx'), subs=trained,
                cfg_options=journey.clip_opts(TRAIN_CFG))
    assert osp.isfile(journey.path('model.onnx'))
    return journey.path('model.onnx')


def test_image_demo_onnx(journey, onnx):
    journey.run(readme_cmd('python demo/image_demo.py model.onnx photo.jpg --out-dir out/'),
                subs={'out/': 'out_onnx/'})
    assert glob.glob(journey.path('out_onnx', '*.npy'))


def test_video_demo(journey, trained):
    journey.run(readme_cmd('python demo/video_demo.py CONFIG CKPT clip.mp4 --out-dir out/'),
                subs=dict(trained, **{'out/': 'out_video/'}), cfg_options=journey.clip_opts(TRAIN_CFG))
    assert glob.glob(journey.path('out_video', '*_depth.mp4'))
    flicker = json.load(open(glob.glob(journey.path('out_video', '*_flicker.json'))[0]))
    assert flicker
    assert glob.glob(journey.path('out_video', '*_flicker.png')), 'the README promises a flicker figure'


# ------------------------------------------------------------------------------------- sweep -> table -> split
SWEEP_CFG = 'configs/clipdepth/sweeps/nyu_auty_tables3to7.py'


SWEEP_SHORT = {'epoch_25.pth': 'epoch_1.pth'}


@pytest.fixture(scope='module')
def sweep(journey):
    journey.run(readme_cmd(f'python tools/train.py {SWEEP_CFG}'),
                cfg_options=journey.clip_opts(SWEEP_CFG) + journey.data_opts() + ['train_cfg.max_epochs=1'])
    assert osp.isfile(journey.path('work_dirs', 'nyu_auty_tables3to7', 'epoch_1.pth'))
    return journey.path('work_dirs', 'nyu_auty_tables3to7')


def test_paper_table(journey, sweep):
    journey.run(readme_cmd('python tools/analysis/paper_table.py work_dirs/nyu_auty_tables3to7'))
    table = open(osp.join(sweep, 'paper_table.md')).read()
    assert 'nyu_baseline_learned7' in table or 'learned-7' in table


@pytest.fixture(scope='module')
def split(journey, sweep):
    cmd = readme_cmd('python tools/model_converters/split_variants.py configs/clipdepth/sweeps/nyu_auty_tables3to7.py '
                     'work_dirs/nyu_auty_tables3to7/epoch_25.pth --out-dir ckpts/')
    journey.run(cmd, subs=SWEEP_SHORT, cfg_options=journey.clip_opts(SWEEP_CFG))
    parts = sorted(glob.glob(journey.path('ckpts', '*.pth')))
    assert len(parts) == len(Config.fromfile(journey.path(SWEEP_CFG)).model.decode_heads)
    return journey.path('ckpts')


def test_split_part_tests_and_demos(journey, split):
    cfg = 'configs/clipdepth/nyu_baseline_learned7.py'
    subs = dict(CONFIG=cfg, CKPT='ckpts/nyu_baseline_learned7.pth')
    journey.run(readme_cmd('python tools/test.py CONFIG CKPT --out preds/ --show-dir vis/'),
                subs=dict(subs, **{'preds/': 'preds_split/', 'vis/': 'vis_split/'}),
                cfg_options=journey.clip_opts(cfg) + journey.data_opts(train=False), split_part=True)
    journey.run(readme_cmd("python demo/image_demo.py CONFIG CKPT 'photos/*.jpg' --out-dir out/ --colorbar "
                           '--focal 518.9'), subs=dict(subs, **{'out/': 'out_split/'}),
                cfg_options=journey.clip_opts(cfg), split_part=True)
    assert len(glob.glob(journey.path('out_split', '*.npy'))) == len(_frames())


def test_python_api_snippet(journey, split):
    """The README's Python API snippet with a split part as its checkpoint and a bundled frame as kitchen.jpg;
    the only substitution: the tiny local CLIP through ``cfg_options``."""
    text = open(README, encoding='utf-8').read()
    code = re.search(r'<!-- snippet: python -->\s*```python\n(.*?)```', text, re.S).group(1)
    assert 'init_depth_model(' in code
    cfg = 'configs/clipdepth/nyu_baseline_learned7.py'
    ckpt = re.search(r"init_depth_model\('[^']+', '([^']+)'\)", code).group(1)
    os.makedirs(journey.path(osp.dirname(ckpt)), exist_ok=True)
    shutil.copy(journey.path('ckpts', 'nyu_baseline_learned7.pth'), journey.path(ckpt))
    opts = dict(o.split('=', 1) for o in journey.clip_opts(cfg))
    opts = {k: (None if v == 'None' else v) for k, v in opts.items()}
    code = re.sub(r"(init_depth_model\('[^']+', '[^']+')\)", rf'\1, cfg_options={opts!r})', code)
    code += ('\nimport numpy as np\nassert depth.dtype == np.float32 and depth.ndim == 2, (depth.dtype, depth.shape)\n'
             'assert np.isfinite(depth).all() and (depth > 0).all()\nprint("API OK", depth.shape)\n')
    script = journey.path('api_snippet.py')
    open(script, 'w').write(code)
    p = journey.run('python api_snippet.py', split_part=True)
    assert 'API OK (480, 640)' in p.stdout


# ---------------------------------------------------------------------------------------------------- zero-shot
@pytest.fixture(scope='module')
def zero_shot_trees(journey):
    """Fixture trees in each release's layout, at the zero-shot configs' default data roots (data/...)."""
    from helpers.zero_shot_fixtures import make
    made = {}
    for name in ('sunrgbd', 'ibims', 'diode_indoor', 'hypersim', 'diml_indoor'):
        default = Config.fromfile(journey.path('configs/_base_/datasets/zero_shot', name + '.py')) \
            .test_dataloader.dataset.data_root
        built, _ = make(name, journey.path('zs_trees', name))
        dest = journey.path(default)
        if not osp.exists(dest):
            os.makedirs(osp.dirname(dest), exist_ok=True)
            os.symlink(built, dest)
        made[name] = dest
    return made


def test_zero_shot_eval(journey, trained, zero_shot_trees):
    p = journey.run(readme_cmd('python tools/analysis/zero_shot_eval.py CONFIG CKPT --datasets sunrgbd ibims '
                               'diode_indoor hypersim diml_indoor'), subs=trained,
                    cfg_options=journey.clip_opts(TRAIN_CFG) + ['test_dataloader.num_workers=0'])
    table = open(journey.path('work_dirs', 'zero_shot', 'zero_shot.md')).read()
    for name in zero_shot_trees:
        assert f'| {name} |' in table, (name, table)
    assert 'missing' not in table, p.stderr[-2000:]


def test_test_set_ibims(journey, trained, zero_shot_trees):
    p = journey.run(readme_cmd('python tools/test.py CONFIG CKPT --test-set configs/_base_/datasets/zero_shot/'
                               'ibims.py'), subs=trained,
                    cfg_options=journey.clip_opts(TRAIN_CFG) + ['test_dataloader.num_workers=0'])
    for scaling in ('metric', 'median', 'lsq_depth', 'lsq_disparity'):
        assert f'{scaling}/abs_rel' in p.stdout + p.stderr


# ------------------------------------------------------------------------------------- docs/variants.md recipes
def _recipes():
    text = open(VARIANTS_MD, encoding='utf-8').read()
    return re.findall(r'<!-- snippet: config -->\s*```python\n(.*?)```', text, re.S)


@pytest.mark.parametrize('index', range(len(_recipes())))
def test_variants_recipe_trains_on_the_bundled_samples(journey, index):
    """Each recipe of docs/variants.md as written, in configs/variants/, trained one epoch with tools/train.py
    on the bundled frames (batch 2) and validated. Offline substitutions only: the tiny CLIP folder, and a tiny
    CLIP's channel counts where a recipe states RN50's."""
    code = _recipes()[index]
    os.makedirs(journey.path('configs', 'variants'), exist_ok=True)
    rel = f'configs/variants/recipe_{index}.py'
    open(journey.path(rel), 'w').write(code)
    opts = journey.clip_opts(rel) + journey.data_opts() + ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1']
    cfg = Config.fromfile(journey.path(rel))
    head = cfg.model.decode_head.get('head') or {}
    if head.get('type') == 'UPerHead':  # RN50's layer1-3 + CLIP feature widths -> the tiny CLIP's
        w = TINY_CLIP_ARCH['vision_cfg']['width']
        opts.append(f'model.decode_head.head.in_channels=[{w * 4},{w * 8},{w * 16},{TINY_CLIP_ARCH["embed_dim"]}]')
    p = journey.run(f'python tools/train.py {rel}', cfg_options=opts)
    assert 'abs_rel' in p.stdout + p.stderr
    assert glob.glob(journey.path('work_dirs', f'recipe_{index}', 'epoch_1.pth'))
