"""Prepares the clean photographs of data/derain/clean from Debian's opencv-doc package.

Run here (not on the GPU machine), from the repository root, with Debian's python3-pil:
    PKGS=$(mktemp -d) && cd $PKGS && apt-get download opencv-doc \
      && dpkg-deb -x opencv-doc_*.deb x && cd - \
      && python3 scripts/derain/prepare_data.py $PKGS/x/usr/share/doc/opencv-doc/examples/data
Scenes with two views (stereo pair, two video frames, two viewpoints or lightings) give the
references; single images are scenes of their own. Every image is downscaled so its longer side
is MAX_SIDE pixels (Lanczos) and written as 8-bit RGB PNG.
"""
import os
import sys

from PIL import Image

MAX_SIDE = 256
# scene -> source files (same scene, different view or frame)
SCENES = {
    'aloe': ['aloeL.jpg', 'aloeR.jpg'],
    'basketball': ['basketball1.png', 'basketball2.png'],
    'rubberwhale': ['rubberwhale1.png', 'rubberwhale2.png'],
    'graf': ['graf1.png', 'graf3.png'],
    'leuven': ['leuvenA.jpg', 'leuvenB.jpg'],
    'aero': ['aero1.jpg', 'aero3.jpg'],
    'suzanne': ['Blender_Suzanne1.jpg', 'Blender_Suzanne2.jpg'],
    'baboon': ['baboon.jpg'],
    'fruits': ['fruits.jpg'],
    'building': ['building.jpg'],
    'butterfly': ['butterfly.jpg'],
    'home': ['home.jpg'],
    'messi': ['messi5.jpg'],
    'orange': ['orange.jpg'],
    'apple': ['apple.jpg'],
    'board': ['board.jpg'],
    'smarties': ['smarties.png'],
    'chicky': ['chicky_512.png'],
    'squirrel': ['squirrel_cls.jpg'],
}


def main(src: str, dst: str = 'data/derain/clean') -> None:
    os.makedirs(dst, exist_ok=True)
    total = 0
    for scene, files in SCENES.items():
        for view, name in enumerate(files):
            im = Image.open(os.path.join(src, name)).convert('RGB')
            scale = MAX_SIDE / max(im.size)
            if scale < 1:
                im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
            out = os.path.join(dst, f'{scene}_{view}.png')
            im.save(out, optimize=True)
            total += os.path.getsize(out)
            print(f'{out}: {im.width}x{im.height} from {name}')
    print(f'{total / 1e6:.2f} MB in {dst}')


if __name__ == '__main__':
    main(*sys.argv[1:])
