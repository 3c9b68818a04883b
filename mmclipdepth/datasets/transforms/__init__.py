from .cut_depth_paste import CutDepthPaste
from .depth_border_mask import DepthBorderMask
from .flip_test_time_aug import FlipTestTimeAug
from .image_only_crop import ImageOnlyCrop
from .kb_crop import KBCrop
from .load_depth_png import LoadDepthPNG
from .load_folder_depth import LoadFolderDepth
from .load_image_strict import LoadImageFromFileStrict
from .load_release_depth import LoadReleaseDepth
from .nyu_border_crop import NYUBorderCrop
from .random_depth_rotate import RandomDepthRotate
from .random_gamma_brightness_color import RandomGammaBrightnessColor

__all__ = ['CutDepthPaste', 'DepthBorderMask', 'FlipTestTimeAug', 'ImageOnlyCrop', 'KBCrop', 'LoadDepthPNG', 'LoadFolderDepth', 'LoadImageFromFileStrict', 'LoadReleaseDepth',
           'NYUBorderCrop', 'RandomDepthRotate', 'RandomGammaBrightnessColor']
