"""Checks of the numpy data code (python3 + numpy, no torch): run `python3 scripts/derain/test_rain.py`."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import rain  # noqa: E402

SEED = 1234
print(f'seed {SEED}')
rng = np.random.default_rng(SEED)
# a smooth synthetic scene (gradients and flat shapes): rain is the only fine detail in it
yy, xx = np.mgrid[0:64, 0:80] / 80.0
clean = np.stack([0.2 + 0.4 * xx, 0.3 + 0.3 * yy, 0.5 - 0.2 * xx * yy], axis=2)
clean[10:30, 15:40] = (0.7, 0.2, 0.1)
clean[40:60, 50:70] = (0.1, 0.5, 0.3)
clean = clean.astype(np.float32)

# box filter against a direct window mean (edges replicated)
x = rng.random((9, 11))
r = 2
pad = np.pad(x, r, mode='edge')
direct = np.array([[pad[i:i + 5, j:j + 5].mean() for j in range(11)] for i in range(9)])
assert np.allclose(rain.box(x, r), direct), 'box filter'

# the streak kernel points where asked: vertical streak -> energy in the middle column
k = rain.streak_kernel(9, 0.0, 0.7)
cols = k.sum(axis=0)
assert cols.argmax() == 4 and cols[4] > 0.5 and cols[0] < 1e-3, 'vertical streak kernel'
assert abs(k.sum() - 1) < 1e-9

for setting in rain.RAIN_SETTINGS:
    rainy = rain.add_rain(clean, setting, np.random.default_rng(SEED))
    assert rainy.shape == clean.shape and rainy.dtype == np.float32
    assert 0 <= rainy.min() and rainy.max() <= 1
    p = rain.psnr(rainy, clean)
    print(f'{setting}: rainy PSNR {p:.2f} dB')
    assert 8 < p < 40, f'{setting} rain too weak or too strong: {p}'
light = rain.psnr(rain.add_rain(clean, 'light', np.random.default_rng(SEED)), clean)
heavy = rain.psnr(rain.add_rain(clean, 'heavy', np.random.default_rng(SEED)), clean)
assert heavy < light, 'heavy rain must degrade more than light'

# the streak direction estimate recovers a known angle (degrees from vertical)
for angle in (-20.0, 0.0, 15.0):
    layer = rain.rain_layer(128, 128, np.random.default_rng(SEED), 0.01, 20, 0.8, angle, 0.8)
    theta = rain.streak_direction(layer)
    got = np.rad2deg(theta) % 180
    want = (90 + angle) % 180  # an angle from vertical is 90 − angle from the x axis, mirrored by image y
    err = min(abs(got - want), 180 - abs(got - want), abs(got - (90 - angle) % 180), 180 - abs(got - (90 - angle) % 180))
    print(f'streak angle {angle}: estimated {got:.1f} (error {err:.1f} deg)')
    assert err < 8, 'streak direction'

# the prior de-rainer removes rain on average
gains = []
for s in range(3):
    rainy = rain.add_rain(clean, 'light', np.random.default_rng(SEED + s))
    gains.append(rain.psnr(rain.prior_derain(rainy), clean) - rain.psnr(rainy, clean))
print(f'prior de-rainer PSNR gains on light rain: {np.round(gains, 2)}')
assert np.mean(gains) > 0, 'the prior de-rainer must improve light rain'

# references: same scene when there is one, else nearest other scene, never itself
imgs = {'a_0': clean, 'a_1': clean[::-1].copy(), 'b_0': clean * 0.5, 'c_0': 1 - clean}
refs = rain.pick_references(['a_0', 'b_0'], imgs, list(imgs))
assert refs['a_0'] == 'a_1' and refs['b_0'] not in ('b_0',), refs
print('references', refs)

# splits keep scenes whole
train, test = rain.split_by_scene(['aloe_0', 'aloe_1', 'fruits_0'])
assert test == ['aloe_0', 'aloe_1'] and train == ['fruits_0']

here = os.path.join(os.path.dirname(__file__), '..', '..', 'data', 'derain', 'clean')
if os.path.isdir(here):
    try:
        images = rain.load_png_dir(here)
        tr, te = rain.split_by_scene(list(images))
        print(f'data/derain/clean: {len(images)} images, {len(tr)} train / {len(te)} test')
        assert tr and te
    except ImportError:
        print('Pillow missing: data/derain/clean not loaded')
print('ok')
