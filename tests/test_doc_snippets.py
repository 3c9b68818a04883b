"""Every code block of README.md and docs/*.md marked ``<!-- snippet: config -->`` or ``<!-- snippet: python -->``
runs here, with tiny random models, so a snippet cannot drift from the code."""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import DATA, REPO, TINY_CLIP, TINY_CLIP_ARCH, TINY_VIT_ARCH

DOCS = [osp.join(REPO, 'README.md')] + sorted(glob.glob(osp.join(REPO, 'docs', '*.md')))
BLOCK = re.compile(r'<!-- snippet: (config|python) -->\s*```python\n(.*?)```', re.S)


def snippets(kind):
    out = []
    for path in DOCS:
        for i, (k, code) in enumerate(BLOCK.findall(open(path).read())):
            if k == kind:
                out.append(pytest.param(code, id=f'{osp.basename(path)}-{i}'))
    return out


def test_docs_have_snippets():
    assert len(snippets('config')) >= 6 and len(snippets('python')) >= 1


def _tiny(node):
    """Swap every CLIP for the tiny one of the same kind (ViT for ViT names), and scale UPerHead's channels."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if key == 'clip' and isinstance(value, dict):
                vit = 'ViT' in str(value.get('model_name', ''))
                node[key] = dict(TINY_CLIP, arch_cfg=TINY_VIT_ARCH if vit else TINY_CLIP_ARCH)
            elif key == 'head' and isinstance(value, dict) and value.get('type') == 'UPerHead':
                w = TINY_CLIP_ARCH['vision_cfg']['width']
                value['in_channels'] = [w * 4, w * 8, w * 16, TINY_CLIP_ARCH['embed_dim']]
            else:
                _tiny(value)
    elif isinstance(node, list):
        for v in node:
            _tiny(v)


@pytest.mark.parametrize('code', snippets('config'))
def test_config_snippet_builds_and_runs(tmp_path, code):
    code = code.replace("'../_base_/", f"'{REPO}/configs/_base_/")
    path = tmp_path / 'snippet.py'
    path.write_text(code)
    cfg = Config.fromfile(str(path))
    _tiny(cfg.model)
    model = MODELS.build(cfg.model)
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    x = torch.randn(2, 3, 64, 96)
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.set_metainfo(dict(img_shape=(64, 96), ori_shape=(64, 96), pad_shape=(64, 96)))
        s.gt_depth_map = PixelData(data=torch.rand(1, 64, 96) * 5 + 0.5)
        samples.append(s)
    model.train()
    losses = model.loss(x, samples)
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    model.eval()
    model.test_cfg['allow_untrained'] = True
    with torch.no_grad():
        out = model.predict(x, samples)
    assert out[0].pred_depth_map.data.shape == (1, 64, 96)


@pytest.mark.parametrize('code', snippets('python'))
def test_python_snippet_runs(tmp_path, code):
    """Placeholders of the snippets stand for a trained checkpoint and a photo: a tiny one and a bundled frame."""
    cfg = Config.fromfile(osp.join(REPO, 'configs/clipdepth/nyu_baseline_learned7.py'))
    _tiny(cfg.model)
    cfg_path = tmp_path / 'nyu_baseline_learned7.py'
    cfg.dump(str(cfg_path))
    torch.manual_seed(0)
    ckpt = tmp_path / 'epoch_25.pth'
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict(), meta={}), ckpt)
    frame = osp.join(DATA, 'nyu', 'sync', 'basement_0001a', 'rgb_00000.jpg')
    if "OnnxDepthModel('nyu_404d_learned7.onnx')" in code:  # an exported model of the tiny checkpoint
        from mmclipdepth.apis import export_onnx, init_depth_model
        onnx = str(tmp_path / 'nyu_404d_learned7.onnx')
        export_onnx(init_depth_model(str(cfg_path), str(ckpt)), onnx, [frame])
        code = code.replace("'nyu_404d_learned7.onnx'", repr(onnx))
    code = (code.replace("'configs/clipdepth/nyu_baseline_learned7.py'", repr(str(cfg_path)))
                .replace("'work_dirs/nyu/epoch_25.pth'", repr(str(ckpt)))
                .replace("'kitchen.jpg'", repr(frame)))
    scope = {}
    exec(compile(code, 'snippet', 'exec'), scope)
    assert scope['depth'].shape == (480, 640)


def test_image_and_text_towers_of_different_widths_are_refused_at_build():
    cfg = Config.fromfile(osp.join(REPO, 'configs/clipdepth/nyu_baseline_learned7.py'))
    from mmseg.models.backbones import ResNetV1c

    @MODELS.register_module(name='_WidthDeclaringResNet', force=True)
    class _WidthDeclaringResNet(ResNetV1c):  # a backbone that declares its feature width, as CLIPPromptBackbone
        out_channels = 64  # depth 18, base_channels 8: 8 * 8 channels out of the last stage

    cfg.model.clip = dict(TINY_CLIP)  # text tower: 128-d joint space
    # another backbone without decode_head.in_channels (no projection between 64-d and 128-d)
    cfg.model.backbone = dict(type='_WidthDeclaringResNet', depth=18, base_channels=8, out_indices=(3, ))
    with pytest.raises(ValueError, match=r'(?s)_WidthDeclaringResNet\) gives 64-d.*gives 128-d.*in_channels=64'):
        MODELS.build(cfg.model)
    cfg.model.decode_head.in_channels = 64  # with the projection: built
    assert MODELS.build(cfg.model).decode_head.proj is not None
