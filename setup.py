"""mmclipdepth: monocular depth estimation with frozen vision-language models (OpenMMLab plugin)."""
from setuptools import find_packages, setup

setup(
    name='mmclipdepth',
    version='0.1.0',
    description='Monocular depth estimation with frozen vision-language models for '
    'mmengine + mmsegmentation 1.x (DepthCLIP, Auty et al., CLIP2Depth, LLM-MDE)',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    include_package_data=True,
    package_data={'mmclipdepth': ['datasets/splits/*.txt', 'datasets/splits/*/*.txt',
                                  'datasets/splits/*LICENSE*', 'datasets/splits/*.md']},
    python_requires='>=3.9',
    # mmcv is deliberately absent: requirements.txt installs mmcv-lite, and a machine that already
    # has full mmcv keeps it (pip install -e . alone).
    install_requires=[
        'torch==2.14.1',
        'torchvision==0.29.1',
        'open_clip_torch==3.3.0',
        'mmengine==0.10.7',
        'mmsegmentation==1.2.2',
        'ftfy',
        'regex',
        'setuptools<81',
        'numpy',
        'timm',
        'transformers',
        'peft',
    ],
    extras_require={'tests': ['pytest']},
)
