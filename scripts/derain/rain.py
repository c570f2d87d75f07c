"""Data for the de-raining experiments, numpy only (so it runs and is tested anywhere):
clean images, rain synthesis, fixed splits by scene, references, and the prior-based de-rainer.

Images are float32 H x W x 3 arrays in [0, 1].
"""
import glob
import os

import numpy as np

# Held-out scenes (every view of a scene on one side). Pairs are over-represented so most test
# images have a same-scene reference; two singles test the retrieved-reference path.
TEST_SCENES = ('aloe', 'rubberwhale', 'leuven', 'motorcycle', 'baboon', 'home')

# Streak-model settings in the manner of Rain100L (light: sparse, one direction) and Rain100H
# (heavy: dense, several layers of nearby directions); hazy adds a veiling layer over heavy-ish rain.
RAIN_SETTINGS = {
    'light': dict(layers=1, density=(0.002, 0.005), length=(8, 16), width=(0.6, 1.0), angle=(-15, 15),
                  brightness=(0.5, 0.8), haze=None),
    'heavy': dict(layers=3, density=(0.004, 0.008), length=(16, 32), width=(0.8, 1.6), angle=(-25, 25),
                  brightness=(0.6, 0.9), haze=None),
    'hazy': dict(layers=2, density=(0.004, 0.008), length=(12, 24), width=(0.8, 1.4), angle=(-20, 20),
                 brightness=(0.5, 0.8), haze=(0.6, 1.2)),
}


# ---------------------------------------------------------------- images


def load_png_dir(path):
    """{'<scene>_<view>': image} from data/derain/clean (PNG via Pillow)."""
    from PIL import Image

    out = {}
    for f in sorted(glob.glob(os.path.join(path, '*.png'))):
        out[os.path.basename(f)[:-4]] = np.asarray(Image.open(f).convert('RGB'), dtype=np.float32) / 255.0
    return out


def scene_of(name):
    return name.rsplit('_', 1)[0]


def split_by_scene(names):
    train = [n for n in names if scene_of(n) not in TEST_SCENES]
    test = [n for n in names if scene_of(n) in TEST_SCENES]
    return train, test


# ---------------------------------------------------------------- rain synthesis


def _fft_conv(img, kernel):
    """Same-size 2-D convolution (zero padded) by FFT; img H x W, kernel k x k."""
    h, w = img.shape
    k = kernel.shape[0]
    sh, sw = h + k, w + k
    f = np.fft.rfft2(img, (sh, sw)) * np.fft.rfft2(kernel, (sh, sw))
    full = np.fft.irfft2(f, (sh, sw))
    o = k // 2
    return full[o:o + h, o:o + w]


def streak_kernel(length, angle_deg, width):
    """A motion-blur line of `length` pixels at `angle_deg` from vertical, Gaussian profile `width`."""
    k = int(np.ceil(length)) | 1
    c = k // 2
    yy, xx = np.mgrid[0:k, 0:k] - c
    t = np.deg2rad(angle_deg)
    along = xx * np.sin(t) + yy * np.cos(t)
    across = xx * np.cos(t) - yy * np.sin(t)
    ker = np.exp(-0.5 * (across / width) ** 2) * (np.abs(along) <= length / 2)
    return ker / ker.sum()


def rain_layer(h, w, rng, density, length, width, angle, brightness):
    seeds = (rng.random((h, w)) < density).astype(np.float64) * rng.uniform(0.6, 1.0, (h, w))
    streaks = _fft_conv(seeds, streak_kernel(length, angle, width)) * length
    return np.clip(streaks * brightness, 0, 1)


def add_rain(clean, setting, rng):
    """Rainy image and its rain layer: I = (1 − a)·B + a·A (haze, optional) then + streaks, clipped."""
    s = RAIN_SETTINGS[setting]
    h, w, _ = clean.shape
    u = lambda r: rng.uniform(*r)
    base_angle = u(s['angle'])
    rain = np.zeros((h, w))
    for _ in range(s['layers']):
        rain = np.maximum(rain, rain_layer(h, w, rng, u(s['density']), u(s['length']), u(s['width']),
                                           base_angle + rng.uniform(-5, 5), u(s['brightness'])))
    img = clean.astype(np.float64)
    if s['haze'] is not None:
        # depth grows towards the top of the frame, with smooth noise; transmission t = exp(−β d)
        yy = np.linspace(1, 0, h)[:, None] * np.ones((1, w))
        noise = _fft_conv(rng.random((h, w)), np.ones((15, 15)) / 225)
        depth = 0.7 * yy + 0.3 * (noise - noise.mean()) / (noise.std() + 1e-6) * 0.2 + 0.3
        t = np.exp(-u(s['haze']) * np.clip(depth, 0, 1.5))[..., None]
        airlight = rng.uniform(0.75, 0.95)
        img = img * t + airlight * (1 - t)
    rainy = np.clip(img + rain[..., None], 0, 1)
    return rainy.astype(np.float32)


# ---------------------------------------------------------------- references


def dhash(img, size=8):
    """Difference hash (64 bits) of the luminance, for retrieving a similar clean image."""
    g = img.mean(axis=2)
    h, w = g.shape
    ys = (np.arange(size) * h) // size
    xs = (np.arange(size + 1) * w) // (size + 1)
    small = np.add.reduceat(np.add.reduceat(g, ys, axis=0), xs, axis=1)
    return (small[:, 1:] > small[:, :-1]).reshape(-1)


def pick_references(names, images, pool):
    """For each image: another view of its scene if the pool has one, else the pool image (other
    scene) nearest by dHash Hamming distance. Never the image itself."""
    hashes = {n: dhash(images[n]) for n in pool}
    refs = {}
    for n in names:
        same = [p for p in pool if p != n and scene_of(p) == scene_of(n)]
        if same:
            refs[n] = same[0]
            continue
        others = [p for p in pool if scene_of(p) != scene_of(n)]
        hn = dhash(images[n])
        refs[n] = min(others, key=lambda p: (int(np.sum(hashes[p] != hn)), p))
    return refs


# ---------------------------------------------------------------- prior-based de-rainer


def box(x, r):
    """Mean over a (2r+1)² window, edges by replication (cumulative sums)."""
    p = np.pad(x, ((r + 1, r), (r + 1, r)), mode='edge')
    c = p.cumsum(0).cumsum(1)
    k = 2 * r + 1
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def guided_filter(guide, src, r, eps):
    mg, ms = box(guide, r), box(src, r)
    cov = box(guide * src, r) - mg * ms
    var = box(guide * guide, r) - mg * mg
    a = cov / (var + eps)
    b = ms - a * mg
    return box(a, r) * guide + box(b, r)


def streak_direction(detail):
    """Dominant streak orientation from the structure tensor of the bright detail: rain streaks are
    long and thin, so their gradients point across them. Returns the angle of the streaks."""
    gy, gx = np.gradient(detail)
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    grad_angle = 0.5 * np.arctan2(2 * jxy, jxx - jyy)
    return grad_angle + np.pi / 2


def prior_derain(rainy, r=6, eps=0.02, strength=1.0):
    """Guided-filter layer separation with a streak-direction prior.

    1. A self-guided filter splits the luminance into a base (low frequency) and a detail layer.
    2. The streak direction θ is estimated from the detail's structure tensor.
    3. Rain is the bright detail that is smooth along θ and sharp across it: the detail's
       derivative along θ is small relative to the one across. That ratio weights the detail.
    4. The rain estimate is removed from every channel and the result re-filtered, guided by the
       rain-free base, so edges of the scene come back while streak residue does not.
    """
    img = rainy.astype(np.float64)
    lum = img.mean(axis=2)
    base = guided_filter(lum, lum, r, eps)
    detail = lum - base
    theta = streak_direction(np.maximum(detail, 0))
    gy, gx = np.gradient(detail)
    along = np.abs(gx * np.cos(theta) + gy * np.sin(theta))
    across = np.abs(-gx * np.sin(theta) + gy * np.cos(theta))
    weight = box(across, 1) / (box(across, 1) + box(along, 1) + 1e-4)
    rain = np.clip(detail, 0, None) * np.clip(2 * weight - 0.6, 0, 1) * strength
    out = img - rain[..., None]
    guide = base + np.clip(detail, None, 0)
    refined = np.stack([guided_filter(guide, out[..., c], 2, 1e-3) for c in range(3)], axis=2)
    return np.clip(refined, 0, 1).astype(np.float32)


# ---------------------------------------------------------------- metrics


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float('inf') if mse == 0 else 10 * np.log10(1 / mse)
