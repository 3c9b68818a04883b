"""Tiny trees of the zero-shot test sets in each release's layout and encoding, with known depth in metres.

``make(name, root)`` writes two frames of dataset ``name`` under ``root`` and returns ``(data_root, expected)``:
``expected`` maps each RGB file (absolute) to the depth (float32 metres, 0 = invalid) the loader must return,
computed here from the integer values written, independently of the package's decoders.
"""
import json
import os
import os.path as osp

import cv2
import numpy as np

SIZES = dict(sunrgbd=(480, 640), ibims=(480, 640), diode_indoor=(480, 640), diode_outdoor=(480, 640),
             hypersim=(480, 640), diml_indoor=(480, 640), diml_outdoor=(480, 640), vkitti2=(375, 1242),
             ddad=(480, 640))
NAMES = tuple(SIZES)


def _rgb(path, h, w, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    assert cv2.imwrite(path, img)


def _metres(h, w, seed, lo=0.5, hi=7.5):
    """A smooth depth map in metres (float64) with a known range."""
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    return lo + (hi - lo) * (0.5 * u / (w - 1) + 0.3 * v / (h - 1) + 0.2 * (seed % 2))


def _png16(path, values):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, values.astype(np.uint16))


def make(name: str, root: str):
    h, w = SIZES[name]
    expected = {}
    if name == 'sunrgbd':
        data_root = osp.join(root, 'SUNRGBD')
        for i in range(2):
            seq = osp.join(data_root, 'kv1', 'NYUdata', f'NYU{i + 1:04d}')
            rgb = osp.join(seq, 'image', f'NYU{i + 1:04d}.jpg')
            _rgb(rgb, h, w, i)
            mm = np.round(_metres(h, w, i) * 1000).astype(np.uint32)
            mm[:5] = 0
            stored = ((mm << 3) | (mm >> 13)) & 0xFFFF  # the release rotates the 16 bits left by 3
            _png16(osp.join(seq, 'depth_bfx', f'NYU{i + 1:04d}.png'), stored)
            np.savetxt(osp.join(seq, 'intrinsics.txt'), [[518.857901, 0, 284.582449], [0, 519.469611, 208.736166],
                                                         [0, 0, 1]])
            expected[rgb] = (mm / 1000.0).astype(np.float32)
    elif name == 'ibims':
        data_root = osp.join(root, 'ibims1_core_raw')
        names = ['corridor_01', 'office_02']
        os.makedirs(data_root, exist_ok=True)
        with open(osp.join(data_root, 'imagelist.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
        for i, n in enumerate(names):
            rgb = osp.join(data_root, 'rgb', n + '.png')
            _rgb(rgb, h, w, i)
            raw = np.round(_metres(h, w, i) / 50.0 * 65535).astype(np.uint16)
            _png16(osp.join(data_root, 'depth', n + '.png'), raw)
            invalid = np.full((h, w), 255, np.uint8)
            invalid[:10] = 0
            transp = np.full((h, w), 255, np.uint8)
            transp[:, :7] = 0
            for folder, m in (('mask_invalid', invalid), ('mask_transp', transp)):
                os.makedirs(osp.join(data_root, folder), exist_ok=True)
                cv2.imwrite(osp.join(data_root, folder, n + '.png'), m)
            os.makedirs(osp.join(data_root, 'calib'), exist_ok=True)
            np.savetxt(osp.join(data_root, 'calib', n + '.txt'), [[559.6, 0, 320], [0, 559.6, 240], [0, 0, 1]])
            d = (raw.astype(np.float64) * 50.0 / 65535).astype(np.float32)
            d[:10] = 0
            d[:, :7] = 0
            expected[rgb] = d
    elif name in ('diode_indoor', 'diode_outdoor'):
        data_root = osp.join(root, 'diode')
        kind = 'indoors' if name == 'diode_indoor' else 'outdoor'
        for i in range(2):
            scan = osp.join(data_root, 'val', kind, f'scene_{i:05d}', 'scan_00001')
            stem = osp.join(scan, f'{i:05d}_00001_{kind}_000_010')
            _rgb(stem + '.png', h, w, i)
            d = _metres(h, w, i, 0.6, 9.0 if kind == 'indoors' else 60.0).astype(np.float32)
            mask = np.ones((h, w), np.float32)
            mask[-8:] = 0
            np.save(stem + '_depth.npy', d[..., None])
            np.save(stem + '_depth_mask.npy', mask)
            e = d.copy()
            e[-8:] = 0
            expected[stem + '.png'] = e
    elif name == 'hypersim':
        import h5py
        data_root = osp.join(root, 'hypersim')
        focal = 886.81
        for i in range(2):
            scene = osp.join(data_root, f'ai_001_00{i + 1}', 'images')
            rgb = osp.join(scene, 'scene_cam_00_final_preview', f'frame.{i:04d}.tonemap.jpg')
            _rgb(rgb, h, w, i)
            planar = _metres(h, w, i).astype(np.float32)
            v, u = np.mgrid[0:h, 0:w].astype(np.float64)
            ray = np.sqrt((u - (w - 1) / 2) ** 2 + (v - (h - 1) / 2) ** 2 + focal ** 2) / focal
            distance = (planar * ray).astype(np.float16)  # what the release stores: float16 distance
            distance[0, :4] = np.nan  # the release's holes
            os.makedirs(osp.join(scene, 'scene_cam_00_geometry_hdf5'), exist_ok=True)
            with h5py.File(osp.join(scene, 'scene_cam_00_geometry_hdf5', f'frame.{i:04d}.depth_meters.hdf5'),
                           'w') as f:
                f.create_dataset('dataset', data=distance)
            e = (distance.astype(np.float64) / ray).astype(np.float32)
            e[0, :4] = 0
            expected[rgb] = e
    elif name == 'diml_indoor':
        data_root = osp.join(root, 'diml_indoor_test')
        for i in range(2):
            scene = osp.join(data_root, 'LR', f'scene{i}')
            rgb = osp.join(scene, 'color', f'1111_{i:02d}_c.png')
            _rgb(rgb, h, w, i)
            mm = np.round(_metres(h, w, i) * 1000).astype(np.uint16)
            _png16(osp.join(scene, 'depth_filled', f'1111_{i:02d}_depth_filled.png'), mm)
            expected[rgb] = (mm / 1000.0).astype(np.float32)
    elif name == 'diml_outdoor':
        data_root = osp.join(root, 'diml_outdoor_test')
        for i in range(2):
            scene = osp.join(data_root, f'scene{i}')
            rgb = osp.join(scene, 'outleft', f'{i:04d}.png')
            _rgb(rgb, h, w, i)
            mm = np.round(_metres(h, w, i, 3.0, 50.0) * 1000).astype(np.uint16)
            mm[:20] = 0
            _png16(osp.join(scene, 'depthmap', f'{i:04d}.png'), mm)
            expected[rgb] = (mm / 1000.0).astype(np.float32)
    elif name == 'vkitti2':
        data_root = osp.join(root, 'vkitti2')
        var = osp.join(data_root, 'Scene01', 'clone')
        os.makedirs(var, exist_ok=True)
        with open(osp.join(var, 'intrinsic.txt'), 'w') as f:
            f.write('frame cameraID K[0,0] K[1,1] K[0,2] K[1,2]\n')
            for i in range(2):
                for c in (0, 1):
                    f.write(f'{i} {c} 725.0087 725.0087 620.5 187\n')
        for i in range(2):
            rgb = osp.join(var, 'frames', 'rgb', 'Camera_0', f'rgb_{i:05d}.jpg')
            _rgb(rgb, h, w, i)
            cm = np.round(_metres(h, w, i, 2.0, 70.0) * 100).astype(np.uint16)
            cm[:30] = 65535  # sky
            _png16(osp.join(var, 'frames', 'depth', 'Camera_0', f'depth_{i:05d}.png'), cm)
            expected[rgb] = (cm / 100.0).astype(np.float32)
    elif name == 'ddad':
        data_root = osp.join(root, 'ddad', 'ddad_val')
        for i in range(2):
            rgb = osp.join(data_root, f'{i:06d}_rgb.png')
            _rgb(rgb, h, w, i)
            d = _metres(h, w, i, 3.0, 70.0).astype(np.float32)
            d[::3] = 0  # no lidar return
            np.save(osp.join(data_root, f'{i:06d}_depth.npy'), d)
            expected[rgb] = d
    else:
        raise KeyError(name)
    return data_root, expected


if __name__ == '__main__':  # python tests/helpers/zero_shot_fixtures.py OUT: write every tree (to look at)
    import sys
    out = sys.argv[1]
    print(json.dumps({n: make(n, osp.join(out, n))[0] for n in NAMES}, indent=1))
