"""No code from outside runs, and no file from outside exhausts the machine (docs/security.md).

Each door is tried as an attacker would: the web page through Gradio's client and its upload route against a
demo served on loopback, an ONNX sidecar with code in it, crafted HDF5 files, split files with ``../``
entries, a work dir holding a ``.py``. Each asserts the clear refusal and that nothing ran (a marker file is
absent); memory-hungry inputs are read in a subprocess under ``resource.setrlimit(RLIMIT_AS)``, so a failure
cannot take the machine down.
"""
import importlib.util
import json
import os
import os.path as osp
import socket
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from conftest import DATA, REPO
from tiny_configs import dump_tiny_config

SAMPLE = osp.join(DATA, 'nyu', 'official_splits', 'test', 'basement', 'rgb_00100.jpg')
PY = sys.executable
ENV = dict(os.environ, PYTHONPATH=REPO)


def _module(path, name):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png_declaring(path, width, height):
    """A valid PNG header declaring ``width`` x ``height`` RGB with a tiny (short) pixel stream: a pixel bomb."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(b'\0' * 4096)) + chunk(b'IEND', b''))
    return str(path)


def _garbled_jpeg(folder) -> str:
    """The sample JPEG with 500 bytes in its middle replaced by random ones (cv2.imdecode decodes it)."""
    data = bytearray(open(SAMPLE, 'rb').read())
    n = len(data) // 2
    data[n:n + 500] = np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes()
    path = osp.join(str(folder), 'garbled.jpg')
    with open(path, 'wb') as f:
        f.write(bytes(data))
    return path


def _limited(setup: str, code: str, gib: float = 2.0):
    """Run ``setup`` (imports) in a fresh Python, then cap its address space at what it holds plus ``gib`` GiB
    and run ``code``: an input that is decoded in full instead of refused exceeds the cap (MemoryError)."""
    cap = ('import resource\nwith open("/proc/self/statm") as f:\n    held = int(f.read().split()[0]) * '
           f'resource.getpagesize()\nresource.setrlimit(resource.RLIMIT_AS, (held + {int(gib * (1 << 30))}, '
           'resource.RLIM_INFINITY))\n')
    return subprocess.run([PY, '-c', setup + '\n' + cap + code], capture_output=True, text=True, env=ENV,
                          timeout=180)


# ------------------------------------------------------------------------------------------------- web demo
@pytest.fixture(scope='module')
def zero_shot(tmp_path_factory):
    return dump_tiny_config('clipdepth/nyu_depthclip_zeroshot.py', tmp_path_factory.mktemp('sec'))


@pytest.fixture(scope='module')
def served(zero_shot, tmp_path_factory):
    """The web demo offering one model, served on loopback with a 200 KB upload limit; yields (url, service)."""
    pytest.importorskip('gradio')
    pytest.importorskip('gradio_client')
    web = _module('demo/web_demo.py', 'web_demo_sec')
    service = web.DepthService(max_side=2000, out_root=str(tmp_path_factory.mktemp('server')), choices=[zero_shot],
                               max_pixels=4_000_000)
    demo = web.build_demo([], service)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    demo.queue().launch(server_name='127.0.0.1', server_port=port, prevent_thread_lock=True, quiet=True,
                        max_file_size='200kb')
    try:
        yield f'http://127.0.0.1:{port}/', service, web
    finally:
        demo.close()


def _upload(url, path):
    import httpx
    with open(path, 'rb') as f:
        r = httpx.post(url + 'gradio_api/upload', files=[('files', (osp.basename(path), f))], timeout=60)
    return r


def test_web_page_runs_no_uploaded_config_and_names_no_server_file(served, tmp_path):
    from gradio_client import Client, handle_file
    url, service, web = served
    marker = tmp_path / 'marker'
    evil_py = tmp_path / 'evil.py'
    evil_py.write_text(f'import pathlib\npathlib.Path({str(marker)!r}).write_text("ran")\nmodel = dict(type="x")\n')
    evil_yaml = tmp_path / 'evil.yaml'
    evil_yaml.write_text(f'model: !!python/object/apply:os.system ["touch {marker}"]\n')
    client = Client(url, verbose=False)
    for evil in (evil_py, evil_yaml):
        r = _upload(url, str(evil))
        assert r.status_code == 200, r.text
        server_path = r.json()[0]
        assert osp.isfile(server_path)  # the attacker knows where the file is ...
        with pytest.raises(Exception) as info:  # ... and names it as the model: refused, never read
            client.predict(server_path, '', handle_file(SAMPLE), 500.0, api_name='/run')
        assert 'offered' in str(info.value) or 'not in the list of choices' in str(info.value), str(info.value)
        assert 'has no `model`' not in str(info.value)
        assert not marker.exists()
    # the checkpoint box takes no server path: the same message whether the file exists or not
    messages = set()
    for path in ('/etc/passwd', '/no/such/file.pth'):
        with pytest.raises(Exception) as info:
            client.predict(service.choices and list(service.choices)[0], path, handle_file(SAMPLE), 500.0,
                           api_name='/run')
        messages.add(str(info.value))
    assert len(messages) == 1 and 'takes no checkpoint paths' in messages.pop()


def test_web_uploads_are_images_within_limits(served, tmp_path):
    from gradio_client import Client, handle_file
    url, service, web = served
    client = Client(url, verbose=False)
    bomb = _png_declaring(tmp_path / 'bomb.png', 30000, 30000)  # a few hundred bytes
    with pytest.raises(Exception, match='above the limit of 4000000 px'):
        client.predict(list(service.choices)[0], '', handle_file(bomb), 500.0, api_name='/run')
    depth16 = str(tmp_path / 'depth16.png')
    import cv2
    cv2.imwrite(depth16, np.full((64, 64), 1234, np.uint16))
    with pytest.raises(Exception, match='depth16.png: a single-channel 16-bit image'):
        client.predict(list(service.choices)[0], '', handle_file(depth16), 500.0, api_name='/run')
    # docs/reliability.md case 6: a JPEG with garbled middle bytes, which cv2.imdecode accepted, is refused as the API does
    with pytest.raises(Exception, match='garbled.jpg: corrupt or truncated image'):
        client.predict(list(service.choices)[0], '', handle_file(_garbled_jpeg(tmp_path)), 500.0, api_name='/run')
    big = tmp_path / 'big.jpg'
    big.write_bytes(os.urandom(300 * 1024))  # above the served 200 KB max_file_size
    r = _upload(url, str(big))
    assert r.status_code == 413, (r.status_code, r.text)
    # a good upload works, and the outputs of older requests are removed (keep_outputs)
    for _ in range(service.keep_outputs + 2):
        client.predict(list(service.choices)[0], '', handle_file(SAMPLE), 500.0, api_name='/run')
    assert len(os.listdir(service.out_root)) == service.keep_outputs


def test_web_cache_is_keyed_by_the_normalised_choice(zero_shot, tmp_path):
    web = _module('demo/web_demo.py', 'web_demo_sec2')
    offered = web.DepthService(out_root=str(tmp_path / 'a'), choices=[zero_shot])
    folder, name = osp.split(zero_shot)
    for variant in (osp.join(folder, '.', name), osp.join(folder, '..', osp.basename(folder), name)):
        with pytest.raises(web.DemoError, match='choose one of the offered models'):
            offered.model(variant)
    assert len(offered._models) == 0
    local = web.DepthService(out_root=str(tmp_path / 'b'), local_paths=True, cache_size=2)
    for variant in (zero_shot, osp.join(folder, '.', name), osp.join(folder, '.', '.', name)):
        local.model(variant)
    assert len(local._models) == 1  # three spellings, one model loaded
    with pytest.raises(web.DemoError) as info:
        local.model(str(tmp_path / 'missing.py'))
    assert str(info.value) == web.SERVER_FILE_PROBLEM and 'missing' not in str(info.value)


_SERVER = """
import importlib.util, json, resource, sys, threading
spec = importlib.util.spec_from_file_location('web_demo', 'demo/web_demo.py')
web = importlib.util.module_from_spec(spec)
spec.loader.exec_module(web)
import gradio  # noqa: F401 - every import before the cap
from mmclipdepth.apis import load_depth_model  # noqa: F401
args = json.loads(sys.argv[1])
service = web.DepthService(max_side=2000, out_root=args['out'], choices=[args['config']], local_paths=True,
                           max_pixels=4_000_000, cache_size=2)
demo = web.build_demo([], service)
held = [int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmSize')][0]
cap = held + args['cap']
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
demo.queue().launch(server_name='127.0.0.1', server_port=args['port'], prevent_thread_lock=True, quiet=True,
                    max_file_size='200kb')
print('READY', cap, flush=True)
threading.Event().wait()
"""


def _status_mb(pid, field):
    with open(f'/proc/{pid}/status') as f:
        return [int(ln.split()[1]) / 1024 for ln in f if ln.startswith(field + ':')][0]


def test_web_memory_is_bounded_under_path_variants_bombs_and_big_uploads(tmp_path):
    """The demo served in its own process, its address space capped at its imports + 3 GiB, with
    ``--local-paths`` on loopback (the one mode that takes typed paths) and a model of ~300 MB (a tiny CLIP with
    a 1024-wide text tower: 76 M parameters). Through Gradio's client: the config and eight spellings of it
    (``./``, ``//``, ``dir/../dir``, relative), a PNG declaring 30000x30000, an upload over the size limit.
    Bounds: the first request loads the model (the resident set grows by > 200 MB, so a second load would
    show); the eight spellings then add < 100 MB (one model, not nine: ten loads would take ~5 GB), and
    the peak stays < 1 GiB above the resident set after the first request (the bomb would decode 2.7 GB)."""
    pytest.importorskip('gradio')
    from gradio_client import Client, handle_file
    import copy
    from conftest import TINY_CLIP
    from tiny_configs import tiny_config
    clip = copy.deepcopy(dict(TINY_CLIP))
    clip['arch_cfg'] = dict(clip['arch_cfg'], text_cfg=dict(context_length=77, vocab_size=49408, width=1024,
                                                            heads=8, layers=2))
    cfg = tiny_config('clipdepth/nyu_depthclip_zeroshot.py')
    cfg.model.clip = clip
    folder = tmp_path / 'cfgs'
    folder.mkdir()
    config = str(folder / 'heavy.py')
    cfg.dump(config)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    args = dict(out=str(tmp_path / 'out'), config=config, port=port, cap=3 << 30)
    server = subprocess.Popen([PY, '-c', _SERVER, json.dumps(args)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(ENV, MALLOC_ARENA_MAX='2'))
    try:
        line = server.stdout.readline()
        assert line.startswith('READY'), server.stderr.read()[-3000:]
        client = Client(f'http://127.0.0.1:{port}/', verbose=False)
        before = _status_mb(server.pid, 'VmRSS')
        client.predict(config, '', handle_file(SAMPLE), 500.0, api_name='/run')
        first = _status_mb(server.pid, 'VmRSS')
        assert first - before > 200, (before, first)  # the model is big enough for a second copy to show
        variants = [osp.join(str(folder), '.', 'heavy.py'), str(folder) + '//heavy.py',
                    osp.join(str(folder), '..', 'cfgs', 'heavy.py'), osp.join(str(folder), '.', '.', 'heavy.py'),
                    str(folder) + '/./../cfgs/./heavy.py', osp.relpath(config, REPO), ' ' + config + ' ',
                    str(tmp_path) + '//cfgs//heavy.py']
        for variant in variants:
            client.predict(variant, '', handle_file(SAMPLE), 500.0, api_name='/run')
        after = _status_mb(server.pid, 'VmRSS')
        assert after - first < 100, (before, first, after)
        bomb = _png_declaring(tmp_path / 'bomb.png', 30000, 30000)
        with pytest.raises(Exception, match='bomb.png: the image declares 30000x30000'):
            client.predict(config, '', handle_file(bomb), 500.0, api_name='/run')
        big = tmp_path / 'big.jpg'
        big.write_bytes(os.urandom(300 * 1024))
        assert _upload(f'http://127.0.0.1:{port}/', str(big)).status_code == 413
        peak = _status_mb(server.pid, 'VmHWM')
        assert peak - first < 1024, (first, peak)
        print(f'server resident set: {before:.0f} MB served, {first:.0f} after the first request, {after:.0f} '
              f'after {len(variants)} spellings, peak {peak:.0f}')
        assert server.poll() is None  # still serving
    finally:
        server.kill()
        server.wait()


def test_local_paths_flag_is_refused_off_loopback():
    r = subprocess.run([PY, 'demo/web_demo.py', '--local-paths', '--host', '0.0.0.0'], cwd=REPO, env=ENV,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and 'only served on loopback' in r.stderr and '0.0.0.0' in r.stderr


# ------------------------------------------------------------------------------------------------- images
def test_one_strict_decoder_for_the_api_and_image_demo(tmp_path, zero_shot, monkeypatch):
    import cv2
    depth16 = str(tmp_path / 'depth16.png')
    cv2.imwrite(depth16, np.full((64, 64), 1234, np.uint16))
    r = subprocess.run([PY, 'demo/image_demo.py', zero_shot, depth16, '--out-dir', str(tmp_path / 'out')],
                       cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and 'depth16.png' in r.stderr and 'single-channel 16-bit' in r.stderr, r.stderr[-1500:]
    from mmclipdepth.apis import inference_depth, init_depth_model
    from mmclipdepth.fileio import ImageDecodeError
    model = init_depth_model(zero_shot)
    with pytest.raises(ImageDecodeError, match='depth16.png.*single-channel 16-bit'):  # docs/reliability.md case 5, the API
        inference_depth(model, depth16)
    with pytest.raises(ImageDecodeError, match='garbled.jpg.*corrupt'):
        inference_depth(model, _garbled_jpeg(tmp_path))
    monkeypatch.setenv('MMCLIPDEPTH_MAX_PIXELS', str(640 * 480 - 1))  # the sample is 640x480: one pixel over
    with pytest.raises(ImageDecodeError, match='rgb_00100.jpg.*640x480 = 307200 px, above the limit of 307199'):
        inference_depth(model, SAMPLE)


# ------------------------------------------------------------------------------------------------- ONNX
def _onnx_files(tmp_path, graph=False, **meta):
    """A data-only sidecar for ``tmp_path/model.onnx`` (written here unless ``graph``: it exists already)."""
    from mmclipdepth.apis.onnx_depth_model import FORMAT, _sha256, sidecar_path
    onnx = tmp_path / 'model.onnx'
    if not graph:
        onnx.write_bytes(b'not really a graph, but its digest is what the sidecar must name')
    base = dict(format=FORMAT, graph_sha256=_sha256(str(onnx)), input=dict(size=None, min_size=32),
                align_corners=False, default_scope='mmseg', data_preprocessor=dict(type='SegDataPreProcessor'),
                inference_pipeline=[dict(type='LoadImageFromFileStrict'), dict(type='PackSegInputs')])
    base.update(meta)
    with open(sidecar_path(str(onnx)), 'w') as f:
        json.dump(base, f)
    return str(onnx)


def test_onnx_sidecar_code_never_runs(tmp_path):
    from mmclipdepth.apis import OnnxDepthModel
    marker = tmp_path / 'marker'
    code = f'import pathlib; pathlib.Path({str(marker)!r}).write_text("ran")\nmodel = dict()\n'
    onnx = _onnx_files(tmp_path, format='mmclipdepth-onnx/1', config_text=code)
    with pytest.raises(ValueError, match='model.json: an old sidecar .* re-export the model'):
        OnnxDepthModel(onnx)
    onnx = _onnx_files(tmp_path, config_text=code)  # the new format with code added: refused the same way
    with pytest.raises(ValueError, match='re-export'):
        OnnxDepthModel(onnx)
    assert not marker.exists()
    onnx = _onnx_files(tmp_path, inference_pipeline=[dict(type='os.system'), dict(type='PackSegInputs')])
    with pytest.raises(ValueError, match=r"inference_pipeline\[0\].type = 'os.system' is not a bare"):
        OnnxDepthModel(onnx)
    # registered names, but not what a sidecar may build: a model as the preprocessor (it would read weight files
    # or download at build time), a second loader, a network backend, a model in the pipeline
    loader = dict(type='LoadImageFromFileStrict')
    for meta, refused in (
            (dict(data_preprocessor=dict(type='CLIPDepthEstimator')), "data_preprocessor.type = 'CLIPDepthEstimator' "
             'is not a registered data preprocessor'),
            (dict(inference_pipeline=[loader, dict(type='LoadDepthPNG'), dict(type='PackSegInputs')]),
             r"inference_pipeline\[1\].type = 'LoadDepthPNG': only the first transform loads a file"),
            (dict(inference_pipeline=[dict(loader, backend_args=dict(backend='http')), dict(type='PackSegInputs')]),
             r"inference_pipeline\[0\].backend_args = .*http.*only the local disk"),
            (dict(inference_pipeline=[loader, dict(type='CLIPDepthEstimator')]),
             r"inference_pipeline\[1\].type = 'CLIPDepthEstimator' is not a registered transform")):
        with pytest.raises(ValueError, match=refused):
            OnnxDepthModel(_onnx_files(tmp_path, **meta))


def test_onnx_sidecar_of_another_graph_is_refused(tmp_path):
    from mmclipdepth.apis import OnnxDepthModel
    onnx = _onnx_files(tmp_path, graph_sha256='0' * 64)
    with pytest.raises(ValueError, match='model.json describes another graph'):
        OnnxDepthModel(onnx)


def test_onnx_external_data_outside_the_model_folder_is_refused(tmp_path):
    """A graph whose initializer names external data ``../secret.bin`` or an absolute path, with a matching
    data-only sidecar: onnxruntime refuses to open it (held: keep it so); data beside the model is read."""
    onnx = pytest.importorskip('onnx')
    from onnx import TensorProto, helper
    from mmclipdepth.apis import OnnxDepthModel
    secret = tmp_path / 'secret.bin'
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    folder = tmp_path / 'shared'
    folder.mkdir()
    (folder / 'w.bin').write_bytes(np.ones(4, np.float32).tobytes())
    for location, refused in (('../secret.bin', 'escapes model directory'), (str(secret), 'Absolute path'),
                              ('w.bin', None)):
        w = TensorProto(name='w', data_type=TensorProto.FLOAT, dims=[1, 1, 1, 4])
        w.data_location = TensorProto.EXTERNAL
        for key, value in (('location', location), ('offset', '0'), ('length', '16')):
            w.external_data.add(key=key, value=value)
        graph = helper.make_graph([helper.make_node('Add', ['image', 'w'], ['depth'])], 'g',
                                  [helper.make_tensor_value_info('image', TensorProto.FLOAT, [1, 1, 1, 4])],
                                  [helper.make_tensor_value_info('depth', TensorProto.FLOAT, [1, 1, 1, 4])], [w])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)]), str(folder / 'model.onnx'))
        path = _onnx_files(folder, graph=True)
        if refused is None:
            model = OnnxDepthModel(path)
            np.testing.assert_array_equal(model.run(np.zeros((1, 1, 1, 4), np.float32)), np.ones((1, 1, 1, 4)))
        else:
            with pytest.raises(Exception, match=refused):
                OnnxDepthModel(path)


def test_export_onnx_checks_its_output_path_first(tmp_path, capsys):
    tool = _module('tools/deployment/export_onnx.py', 'export_onnx_sec')
    out = tmp_path / 'new' / 'dir' / 'm.onnx'
    tool.check_output_path(str(out))
    assert out.parent.is_dir() and os.listdir(out.parent) == []
    blocker = tmp_path / 'afile'
    blocker.write_text('x')
    # the tool's own entry point (in-process: the subprocess start alone is ~25 s here); the config is not even
    # read, so the refusal comes before any export work
    assert tool.main(['configs/no/such.py', '--out', str(blocker / 'm.onnx')]) == 1
    err = capsys.readouterr().err
    assert 'afile' in err and 'is a file, not a folder' in err and 'such.py' not in err, err


# ------------------------------------------------------------------------------------------------- HDF5
def test_hdf5_links_external_storage_and_huge_shapes_are_refused(tmp_path):
    h5py = pytest.importorskip('h5py')
    from mmclipdepth.datasets.transforms.load_release_depth import read_hdf5_depth
    secret = tmp_path / 'secret.bin'
    secret.write_bytes(np.arange(16, dtype=np.float32).tobytes())
    other = tmp_path / 'other.h5'
    with h5py.File(other, 'w') as f:
        f['dataset'] = np.ones((4, 4), np.float32)
    cases = {}
    with h5py.File(tmp_path / 'link.h5', 'w') as f:
        f['dataset'] = h5py.ExternalLink(str(other), 'dataset')
    cases['link.h5'] = 'ExternalLink'
    with h5py.File(tmp_path / 'external.h5', 'w') as f:
        f.create_dataset('dataset', (4, 4), np.float32, external=[(str(secret), 0, 64)])
    cases['external.h5'] = 'keeps its data in external files'
    with h5py.File(tmp_path / 'virtual.h5', 'w') as f:
        layout = h5py.VirtualLayout(shape=(4, 4), dtype=np.float32)
        layout[:] = h5py.VirtualSource(str(other), 'dataset', shape=(4, 4))
        f.create_virtual_dataset('dataset', layout)
    cases['virtual.h5'] = 'virtual dataset'
    for name, why in cases.items():
        with pytest.raises(ValueError, match=why) as info:
            read_hdf5_depth(str(tmp_path / name))
        assert name in str(info.value)
    assert np.array_equal(read_hdf5_depth(str(other)), np.ones((4, 4), np.float32))


def test_bombs_are_refused_from_their_headers_under_a_memory_cap(tmp_path):
    """A PNG declaring 40000x40000 (4.8 GB as RGB) and an HDF5 of 1.4 KB-class declaring 40000x40000 float64
    (12.8 GB): both refused from what they declare, in a process capped at its imports + 2 GiB."""
    h5py = pytest.importorskip('h5py')
    bomb = _png_declaring(tmp_path / 'bomb.png', 40000, 40000)
    huge = tmp_path / 'huge.h5'
    with h5py.File(huge, 'w') as f:
        f.create_dataset('dataset', (40000, 40000), np.float64, chunks=(1000, 1000), compression='gzip')
    assert osp.getsize(huge) < 100_000
    r = _limited('from mmclipdepth.fileio import read_image\n'
                 'from mmclipdepth.datasets.transforms.load_release_depth import read_hdf5_depth',
                 'for call in (lambda: read_image(%r), lambda: read_hdf5_depth(%r)):\n'
                 '    try:\n        call()\n    except ValueError as e:\n        print(e)\n' % (bomb, str(huge)))
    assert r.returncode == 0, r.stderr[-1500:]
    lines = r.stdout.splitlines()
    assert 'bomb.png' in lines[0] and 'declares 40000x40000 = 1600000000 px' in lines[0], lines
    assert 'huge.h5' in lines[1] and 'declares 40000x40000 values' in lines[1], lines


# ------------------------------------------------------------------------------------------------- data lists
def test_split_entries_outside_data_root_are_refused(tmp_path):
    from mmclipdepth.datasets import NYUDepthV2Dataset
    (tmp_path / 'sync').mkdir()
    split = tmp_path / 'list.txt'
    split.write_text('basement/rgb_1.jpg basement/d_1.png 518.8\n../../../../etc/passwd_x basement/d_2.png 518.8\n')
    with pytest.raises(ValueError, match=r"'../../../../etc/passwd_x' \(.*list.txt', line 2\) points outside"):
        NYUDepthV2Dataset(data_root=str(tmp_path), split='train', split_file=str(split))
    # the zero-shot releases' own lists: iBims' imagelist.txt and Hypersim's split CSV (scene names are paths)
    from mmengine.config import Config
    from mmseg.registry import DATASETS
    zs = osp.join(REPO, 'configs', '_base_', 'datasets', 'zero_shot')
    ibims = tmp_path / 'ibims'
    ibims.mkdir()
    (ibims / 'imagelist.txt').write_text('corridor_01\n../../../../etc/passwd_x\n')
    spec = dict(Config.fromfile(osp.join(zs, 'ibims.py')).test_dataloader.dataset.to_dict(), data_root=str(ibims))
    with pytest.raises(ValueError, match=r"'rgb/../../../../etc/passwd_x.png' \(.*imagelist.txt', line 2\) "
                                         'points outside data_root'):
        DATASETS.build(spec)
    hyp = tmp_path / 'hypersim'
    hyp.mkdir()
    (hyp / 'split.csv').write_text('scene_name,camera_name,frame_id,included_in_public_release,'
                                   'split_partition_name\n../../../../tmp,cam_00,0,True,test\n')
    spec = dict(Config.fromfile(osp.join(zs, 'hypersim.py')).test_dataloader.dataset.to_dict(), data_root=str(hyp),
                split_file=str(hyp / 'split.csv'))
    with pytest.raises(ValueError, match=r"'../../../../tmp/images/.*' \(.*split.csv', line 2\) points outside"):
        DATASETS.build(spec)


def test_paper_table_reads_a_work_dir_without_running_it(tmp_path):
    marker = tmp_path / 'marker'
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'sweep.py').write_text(f'import pathlib\npathlib.Path({str(marker)!r}).write_text("ran")\n'
                                   "model = dict(type='MultiVariantDepthEstimator', decode_heads=dict(a=dict()))\n")
    r = subprocess.run([PY, 'tools/analysis/paper_table.py', str(work)], cwd=REPO, env=ENV, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and 'sweep.py, line 1: not a plain assignment' in r.stderr and '--config' in r.stderr
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------- video
def test_video_frames_are_limited_by_default(tmp_path):
    import cv2
    video = _module('demo/video_demo.py', 'video_demo_sec')
    assert video.parse_args(['c.py', 'in.mp4', '--out-dir', 'o']).max_frames == video.DEFAULT_MAX_FRAMES == 300
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f'{i}.png'), np.full((40, 40, 3), i, np.uint8))
    frames, _, _ = video.read_frames(str(folder), max_frames=2)
    assert [int(f[0, 0, 0]) for f in frames] == [0, 1]
    clip = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*'MJPG'), 5.0, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 60 * i, np.uint8))
    writer.release()
    with pytest.raises(ValueError, match='clip.avi.*64x48 = 3072 px, above the limit of 3000'):
        video.read_frames(clip, max_pixels=3000)
    assert len(video.read_frames(clip, max_frames=2)[0]) == 2
