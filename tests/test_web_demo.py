"""demo/web_demo.py: the service on its own, and the page driven in a real headless Chromium (Playwright, the
system browser). With ``CI`` set a missing browser or package fails the test; elsewhere it is skipped."""
import importlib.util
import os
import os.path as osp
import shutil
import socket

import cv2
import numpy as np
import pytest

from conftest import DATA, REPO
from test_apis_demo import read_ply
from tiny_configs import dump_tiny_config

SAMPLE = osp.join(DATA, 'nyu', 'official_splits', 'test', 'basement', 'rgb_00100.jpg')
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


def _need(what: str, ok: bool):
    if ok:
        return
    if os.environ.get('CI'):
        pytest.fail(f'{what} is missing; .ci/run installs it (the browser test must run in CI)')
    pytest.skip(f'{what} is not installed (pip install -e .[demo]; apt-get install chromium)')


def _web_demo():
    spec = importlib.util.spec_from_file_location('web_demo', osp.join(REPO, 'demo', 'web_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def zero_shot(tmp_path_factory):
    return dump_tiny_config('clipdepth/nyu_depthclip_zeroshot.py', tmp_path_factory.mktemp('web'))


def test_service_outputs_and_bad_uploads(tmp_path, zero_shot):
    web = _web_demo()
    service = web.DepthService(max_side=1000, out_root=str(tmp_path), choices=[zero_shot])
    r = service.predict(zero_shot, '', SAMPLE, 518.8579)
    depth = np.load(r['files']['npy'])
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    png = cv2.imread(r['files']['png16'], cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and np.abs(png / 1000.0 - depth).max() <= 0.0005 + 1e-6
    assert len(read_ply(r['files']['ply'])) == int(np.isfinite(depth).sum())
    assert open(r['files']['glb'], 'rb').read(4) == b'glTF'
    assert r['colour'].shape[0] == 480 and r['colour'].shape[1] > 640  # the colour bar on the right
    text = tmp_path / 'notes.png'
    text.write_text('hello')
    with pytest.raises(web.DemoError, match='not an image'):
        service.predict(zero_shot, '', str(text), 500.0)
    small = str(tmp_path / 'small.png')
    cv2.imwrite(small, np.zeros((16, 24, 3), np.uint8))
    with pytest.raises(web.DemoError, match='needs at least 32 px'):
        service.predict(zero_shot, '', small, 500.0)
    big = str(tmp_path / 'big.png')
    cv2.imwrite(big, np.zeros((40, 1200, 3), np.uint8))
    with pytest.raises(web.DemoError, match='at most 1000 px'):
        service.predict(zero_shot, '', big, 500.0)
    # a checkpoint path, or a model the operator did not offer, is refused without touching the file
    with pytest.raises(web.DemoError, match='takes no checkpoint paths'):
        service.predict(zero_shot, str(tmp_path / 'missing.pth'), SAMPLE, 500.0)
    with pytest.raises(web.DemoError, match='choose one of the offered models'):
        service.predict(str(tmp_path / 'other.py'), '', SAMPLE, 500.0)


def test_operator_cfg_options_reach_every_offered_config(tmp_path, zero_shot):
    web = _web_demo()
    service = web.DepthService(out_root=str(tmp_path), choices=[zero_shot],
                               cfg_options={'model.decode_head.max_depth': 3.5})
    assert service.model(zero_shot).decode_head.max_depth == 3.5  # the tiny config's own is 10


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_browser_uploads_an_image_and_downloads_the_results(tmp_path, zero_shot):
    _need('gradio', importlib.util.find_spec('gradio') is not None)
    _need('playwright', importlib.util.find_spec('playwright') is not None)
    _need('the chromium browser', CHROMIUM is not None)
    from playwright.sync_api import sync_playwright
    web = _web_demo()
    demo = web.build_demo([zero_shot], web.DepthService(max_side=2000, out_root=str(tmp_path / 'server')))
    port = _free_port()
    demo.queue().launch(server_name='127.0.0.1', server_port=port, prevent_thread_lock=True, quiet=True)
    small = str(tmp_path / 'small.png')
    cv2.imwrite(small, np.zeros((16, 16, 3), np.uint8))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync'])
            page = browser.new_page(viewport=dict(width=1400, height=1000))
            page.goto(f'http://127.0.0.1:{port}/', wait_until='networkidle', timeout=120000)
            page.locator('#image input[type=file]').set_input_files(SAMPLE)
            page.wait_for_timeout(1000)
            page.locator('#run').click()
            try:
                page.locator('#depth img').wait_for(state='visible', timeout=120000)
            except Exception:
                page.screenshot(path=str(tmp_path / 'failed.png'), full_page=True)
                raise
            page.locator('#npy a').first.wait_for(state='visible', timeout=60000)
            page.screenshot(path=str(tmp_path / 'result.png'), full_page=True)
            size = page.locator('#depth img').evaluate('img => [img.naturalWidth, img.naturalHeight]')
            assert size[1] == 480 and size[0] > 640, size  # the coloured depth and its colour bar
            assert 'depth' in page.locator('#summary').inner_text() and 'm,' in page.locator('#summary').inner_text()
            files = {}
            for key in ('png16', 'npy', 'ply'):
                with page.expect_download(timeout=60000) as info:
                    page.locator(f'#{key} a').first.click()
                files[key] = str(tmp_path / info.value.suggested_filename)
                info.value.save_as(files[key])
            depth = np.load(files['npy'])
            assert depth.shape == (480, 640) and depth.dtype == np.float32 and np.isfinite(depth).all()
            png = cv2.imread(files['png16'], cv2.IMREAD_UNCHANGED)
            assert png.shape == (480, 640) and png.dtype == np.uint16
            assert np.abs(png / 1000.0 - depth).max() <= 0.0005 + 1e-6
            cloud = read_ply(files['ply'])
            assert len(cloud) == 480 * 640 and np.allclose(cloud['z'], depth.ravel(), rtol=1e-6)
            # a bad upload: a message in the page, no stack trace
            page.locator('#image button[aria-label="Clear"]').first.click() if page.locator(
                '#image button[aria-label="Clear"]').count() else None
            page.locator('#image input[type=file]').set_input_files(small)
            page.wait_for_timeout(1000)
            page.locator('#run').click()
            page.get_by_text('needs at least 32 px').first.wait_for(state='visible', timeout=120000)
            page.wait_for_timeout(12000)  # Gradio's toasts close after 10 s by default; this one stays
            assert page.get_by_text('needs at least 32 px').first.is_visible()
            assert 'Traceback' not in page.content()
            page.screenshot(path=str(tmp_path / 'error.png'), full_page=True)
            browser.close()
    finally:
        demo.close()
