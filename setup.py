"""mmclipdepth: monocular depth estimation with frozen vision-language models (OpenMMLab plugin)."""
from setuptools import find_packages, setup

setup(
    name='mmclipdepth',
    version='0.5.0',
    license='Apache-2.0',
    description='Monocular depth estimation with frozen vision-language models for '
    'mmengine + mmsegmentation 1.x (DepthCLIP, Auty et al., CLIP2Depth, LLM-MDE)',
    # the package only: benchmarks/ (references, the benchmark harness), tests/, tools/ and configs/ stay in the repo
    packages=find_packages(include=('mmclipdepth', 'mmclipdepth.*')),
    include_package_data=True,
    package_data={'mmclipdepth': ['datasets/splits/*.txt', 'datasets/splits/*/*.txt',
                                  'datasets/splits/*LICENSE*', 'datasets/splits/*.md']},
    python_requires='>=3.9',
    # Ranges, as OpenMMLab packages declare them, so `pip install -e .` keeps an existing supported stack;
    # requirements.txt pins the exact stack the test suite runs on (docs/install.md says which versions
    # were tested). mmcv is deliberately absent: requirements.txt installs mmcv-lite, and a machine that
    # already has full mmcv (2.0.0rc4 <= mmcv < 2.2.0, as mmseg 1.2 asserts) keeps it.
    install_requires=[
        'torch>=2.9,<2.15',
        'torchvision>=0.24,<0.30',
        'open_clip_torch>=3.0,<4',
        'mmengine>=0.10.4,<0.11',
        'mmsegmentation>=1.2.2,<1.3',
        'ftfy',
        'regex',
        'setuptools<81',
        'numpy',
        'timm',
        'transformers',
        'peft',
        'h5py',
    ],
    extras_require={
        'tests': ['pytest', 'pytest-xdist'],
        # tools/deployment/export_onnx.py, mmclipdepth.apis.OnnxDepthModel
        'deploy': ['onnx', 'onnxruntime', 'onnxscript'],
        # demo/web_demo.py, and its browser test (with the system's chromium)
        'demo': ['gradio>=5,<7', 'playwright'],
    },
)
