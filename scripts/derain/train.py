"""Trains and evaluates the de-raining experiment end to end, bounded in time (default 280 s on one
H100; `--smoke` runs a toy-sized version on the CPU in seconds).

  1. data: clean images (data/derain/clean + scikit-image's bundled samples), streak-model rain
     (light / heavy / hazy), scene splits, references (scripts/derain/rain.py);
  2. bases: the guided-filter prior de-rainer (numpy), a PReNet-style CNN and a tiny
     Restormer-style transformer (both trained here on rainy → clean crops, L1);
  3. the reference-guided filter and the reference-free refiner (same size), trained on the outputs
     of all three bases with a recipe of RECIPES (default: per-crop log-MSE + ½·log(1 − SSIM), the
     reference cropped around the image crop, and a training scene with no second view shown itself
     displaced as the reference); with --bases-from DIR the bases are loaded, not trained, and the
     whole budget goes to these two;
  4. the quality table (PSNR/SSIM per base × {alone, +filter, +refiner} × {light, heavy, hazy})
     in bench/results' JSON shape, weights as safetensors, parity tensors for Tessera's check,
     a figure, and torch eager / torch.compile timings of the filter at 512² and 1024².

Run on the GPU machine from the repository root (the committed bases, the budget to the filter):
  python3 scripts/derain/train.py --out models/derain --bases-from models/derain --budget-s 250
Toy run anywhere with torch: python3 scripts/derain/train.py --smoke --out SMOKE_DIR
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rain  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from models import PReNet, RefFilter, TinyRestormer  # noqa: E402

SEED = 20261207
SETTINGS = ('light', 'heavy', 'hazy')
BASES = ('prior', 'prenet', 'transformer')
# in the wheel's legacy data folder (no download is ever attempted: a fetch could wait on the network)
SKIMAGE_SAMPLES = ('astronaut', 'chelsea', 'coffee', 'rocket', 'hubble_deep_field', 'immunohistochemistry')


class Clock:
    def __init__(self, budget):
        self.t0, self.budget = time.time(), budget
        self.marks = {}

    def elapsed(self):
        return time.time() - self.t0

    def left(self):
        return self.budget - self.elapsed()

    def mark(self, what, since):
        self.marks[what] = round(time.time() - since, 2)
        print(f'[{self.elapsed():6.1f}s] {what}: {self.marks[what]:.1f}s', flush=True)


# ---------------------------------------------------------------- data


def downscale(img, side):
    s = side / max(img.shape[:2])
    if s >= 1:
        return img.astype(np.float32)
    size = (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s)))
    try:
        import cv2

        return cv2.resize(img.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    except ImportError:  # the --smoke run on a machine without OpenCV
        from PIL import Image

        u8 = Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
        return np.asarray(u8.resize(size, Image.LANCZOS), dtype=np.float32) / 255.0


def skimage_images(side):
    """scikit-image's samples that ship inside the wheel (no download); missing ones are listed."""
    try:
        from skimage import data
    except ImportError:
        print('scikit-image not installed: no samples from it')
        return {}
    out, missing = {}, []
    for name in SKIMAGE_SAMPLES:
        try:
            im = getattr(data, name)()
            if im.ndim == 3 and im.shape[2] >= 3:
                out[f'{name.replace("_", "")}_0'] = downscale(im[..., :3] / 255.0, side)
        except Exception as e:  # a sample that needs a download raises; say so and go on
            missing.append(f'{name} ({type(e).__name__})')
    try:
        left, right, _ = data.stereo_motorcycle()
        out['motorcycle_0'] = downscale(left / 255.0, side)
        out['motorcycle_1'] = downscale(right / 255.0, side)
    except Exception as e:
        missing.append(f'stereo_motorcycle ({type(e).__name__})')
    print(f'scikit-image samples: {sorted(out)}; not available: {missing or "none"}')
    return out


def build_data(args, clock):
    t = time.time()
    side = 64 if args.smoke else 256
    images = {k: downscale(v, side) for k, v in rain.load_png_dir(args.data).items()}
    if not args.no_skimage:
        images.update(skimage_images(side))
    names = sorted(images)
    if args.smoke:
        names = [n for n in names if rain.scene_of(n) in ('aloe', 'fruits', 'baboon', 'building', 'home', 'apple')]
    train, test = rain.split_by_scene(names)
    refs = rain.pick_references(names, images, names)
    # what the quality table rests on, checked here and listed in the result's `checks`
    assert not {rain.scene_of(n) for n in train} & {rain.scene_of(n) for n in test}, 'a scene on both sides'
    assert all(refs[n] != n for n in names), 'an image is its own reference'
    assert all(not np.array_equal(images[refs[n]], images[n]) for n in test), 'a reference equals its ground truth'
    rng = np.random.default_rng(SEED)
    samples = 1 if args.smoke else 3
    train_set = [(rain.add_rain(images[n], s, rng), images[n], n, s) for n in train for s in SETTINGS for _ in range(samples)]
    test_rng = np.random.default_rng(SEED + 1)
    test_set = [(rain.add_rain(images[n], s, test_rng), images[n], n, s) for n in test for s in SETTINGS]
    print(f'{len(names)} clean images ({len(train)} train, {len(test)} test scenes-split); '
          f'{len(train_set)} rainy training images, {len(test_set)} test images')
    print('test references: ' + ', '.join(f'{n}→{refs[n]}' for n in test))
    clock.mark('data', t)
    return images, refs, train_set, test_set


def to_t(img, dev):
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0).to(dev)


def to_np(t):
    return t.squeeze(0).permute(1, 2, 0).clamp(0, 1).detach().cpu().numpy()


def random_crop(rng, tensors, size):
    _, _, h, w = tensors[0].shape
    size = min(size, h, w)
    y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    return [t[..., y:y + size, x:x + size] for t in tensors]


# ---------------------------------------------------------------- losses


def _window(size, sigma, dev):
    g = torch.exp(-((torch.arange(size, device=dev) - size // 2) ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, size, size).contiguous()


def _ssim_parts(x, y, win):
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    f = lambda z: F.conv2d(z, win, groups=3)
    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    return ((2 * mx * my + c1) / (mx * mx + my * my + c1) * cs).mean(), cs.mean()


def ms_ssim(x, y, scales=3):
    weights = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333][:scales], device=x.device)
    weights = weights / weights.sum()
    win = _window(7, 1.5, x.device)
    out = 1.0
    for i in range(scales):
        s, cs = _ssim_parts(x, y, win)
        if i == scales - 1:
            out = out * s.clamp(min=1e-6) ** weights[i]
        else:
            out = out * cs.clamp(min=1e-6) ** weights[i]
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return out


def log_mse(pred, target):
    """Mean over the crops of log(MSE): PSNR averaged in dB, so a crop the base already got nearly
    right weighs as much as a badly rained one (a plain MSE or L1 is ruled by the heavy sets)."""
    return torch.log(((pred - target) ** 2).mean(dim=(1, 2, 3)) + 1e-5).mean()


def worse_than_before(pred, target, before):
    """Mean over the crops of how far log(MSE) rose above the filter's input's: zero where the
    filter helped or did nothing, so only crops it made worse pull it back towards the identity."""
    crop_log = lambda z: torch.log(((z - target) ** 2).mean(dim=(1, 2, 3)) + 1e-5)
    return F.relu(crop_log(pred) - crop_log(before).detach()).mean()


def log_dssim(pred, target):
    """Mean over the crops of log(1 − SSIM) (7×7 Gaussian window): SSIM's counterpart of log_mse."""
    win = _window(7, 1.5, pred.device)
    f = lambda z: F.conv2d(z, win, groups=3)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = f(pred), f(target)
    sxx, syy, sxy = f(pred * pred) - mx * mx, f(target * target) - my * my, f(pred * target) - mx * my
    ssim = (2 * mx * my + c1) * (2 * sxy + c2) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return torch.log(1 - ssim.mean(dim=(1, 2, 3)) + 1e-4).mean()


# How the filter and the refiner are trained. loss: weights of L1, 1 − MS-SSIM, log-MSE and log(1 − SSIM);
# out_scale: the residual branch's scale while training (folded into the weights after);
# ref_at: where the reference crop is taken, 'random' or 'same' (centred on the image crop, which
# for a second view or frame holds the corresponding content); tone: the share of image crops
# given a random global tone error (tone_shift); view: for training scenes with no second view, the
# reference crop is the clean scene displaced by 8–32 px (shifted_view) instead of another scene;
# no_harm: the weight of worse_than_before (crops the filter made worse than its input, in log-MSE).
RECIPES = {
    'first': dict(loss=(0.16, 0.84, 0.0, 0.0), out_scale=1.0, ref_at='random', lr=1e-3),
    'l1': dict(loss=(0.84, 0.16, 0.0, 0.0), out_scale=1.0, ref_at='random', lr=1e-3),
    'logmse': dict(loss=(0.0, 0.0, 1.0, 0.0), out_scale=1.0, ref_at='random', lr=1e-3),
    'same-ref': dict(loss=(0.84, 0.16, 0.0, 0.0), out_scale=1.0, ref_at='same', lr=1e-3),
    'logmse-scaled-same': dict(loss=(0.0, 0.0, 1.0, 0.0), out_scale=0.1, ref_at='same', lr=1e-3),
    'logmse-same': dict(loss=(0.0, 0.0, 1.0, 0.0), out_scale=1.0, ref_at='same', lr=1e-3),
    'logmse-logssim-same': dict(loss=(0.0, 0.0, 1.0, 0.5), out_scale=1.0, ref_at='same', lr=1e-3),
    'logmse-logssim-same-slow': dict(loss=(0.0, 0.0, 1.0, 0.5), out_scale=1.0, ref_at='same', lr=3e-4),
    'logmse-logssim-view': dict(loss=(0.0, 0.0, 1.0, 0.5), out_scale=1.0, ref_at='same', lr=1e-3, view=True),
    'logmse-logssim-view-noharm': dict(loss=(0.0, 0.0, 1.0, 0.5), out_scale=1.0, ref_at='same', lr=1e-3, view=True,
                                       no_harm=4.0),
    'logmse-logssim-same-tone': dict(loss=(0.0, 0.0, 1.0, 0.5), out_scale=1.0, ref_at='same', lr=1e-3, tone=0.5),
}


def filter_loss(recipe):
    w_l1, w_ms, w_log, w_logs = recipe['loss']
    w_harm = recipe.get('no_harm', 0.0)

    def fn(pred, target, before):
        loss = 0.0
        if w_harm:
            loss = loss + w_harm * worse_than_before(pred, target, before)
        if w_l1:
            loss = loss + w_l1 * F.l1_loss(pred, target)
        if w_ms:
            loss = loss + w_ms * (1 - ms_ssim(pred, target))
        if w_log:
            loss = loss + w_log * log_mse(pred, target)
        if w_logs:
            loss = loss + w_logs * log_dssim(pred, target)
        return loss
    return fn


def make_filter(recipe, reference):
    return RefFilter(reference=reference, out_scale=recipe['out_scale'])


# ---------------------------------------------------------------- training


def train_loop(name, model, batch_fn, loss_fn, seconds, lr, clock):
    t = time.time()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    model.train()
    step, losses = 0, []
    while time.time() - t < seconds:
        frac = (time.time() - t) / seconds
        for g in opt.param_groups:
            g['lr'] = lr * 0.5 * (1 + np.cos(np.pi * min(frac, 1.0)))
        inputs, target = batch_fn()
        loss = loss_fn(model(*inputs), target, inputs[0])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        step += 1
    model.eval()
    tail = np.mean(losses[-20:]) if losses else float('nan')
    print(f'{name}: {step} steps, final loss {tail:.4f}')
    clock.mark(f'train {name}', t)
    return {'steps': step, 'final_loss': float(tail)}


def base_batches(train_gpu, rng, crop, batch):
    def fn():
        picks = rng.integers(0, len(train_gpu), batch)
        pairs = [random_crop(rng, list(train_gpu[i]), crop) for i in picks]
        size = min(p[0].shape[-1] for p in pairs), min(p[0].shape[-2] for p in pairs)
        pairs = [[t[..., :size[1], :size[0]] for t in p] for p in pairs]
        return (torch.cat([p[0] for p in pairs]),), torch.cat([p[1] for p in pairs])
    return fn


def filter_samples(train_set, outs, refs, dev):
    """(base output, clean, reference name, whether the reference shows the same scene) for every
    base on every rainy training image."""
    return [(to_t(outs[base][i], dev), to_t(clean, dev), refs[name], rain.scene_of(refs[name]) == rain.scene_of(name))
            for i, (_, clean, name, _) in enumerate(train_set) for base in BASES]


def shifted_view(rng, lo=8, hi=32):
    """A random displacement of at least lo and at most hi pixels on each axis, either sign: how far
    a second view or frame moves the content under a crop."""
    return [int(rng.integers(lo, hi + 1) * rng.choice((-1, 1))) for _ in range(2)]


def crop_at(t, y, x, size):
    """A size² crop of t centred on (y, x), shifted to lie inside."""
    _, _, h, w = t.shape
    size = min(size, h, w)
    y0 = int(np.clip(y - size // 2, 0, h - size))
    x0 = int(np.clip(x - size // 2, 0, w - size))
    return t[..., y0:y0 + size, x0:x0 + size]


def tone_shift(x, rng):
    """A random global gain and offset per channel: the tone errors a base makes on scenes unlike its
    training ones (darkening by up to a fifth), which the reference, showing the scene's true tone,
    can correct."""
    gain = np.exp(rng.normal(0, 0.1) + rng.normal(0, 0.03, 3))
    offset = rng.normal(0, 0.02, 3)
    g = torch.tensor(gain, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    o = torch.tensor(offset, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * g + o).clamp(0, 1)


def filter_batches(triples, ref_imgs, rng, crop, ref_crop, batch, reference, recipe=RECIPES['first']):
    def fn():
        picks = rng.integers(0, len(triples), batch)
        xs, ys, rs = [], [], []
        for i in picks:
            out, clean, ref_name, same_scene = triples[i]
            _, _, h, w = out.shape
            c = min(crop, h, w)
            y0, x0 = rng.integers(0, h - c + 1), rng.integers(0, w - c + 1)
            x = out[..., y0:y0 + c, x0:x0 + c]
            if rng.random() < recipe.get('tone', 0.0):
                x = tone_shift(x, rng)
            xs.append(x)
            ys.append(clean[..., y0:y0 + c, x0:x0 + c])
            if recipe.get('view') and not same_scene:
                # a single-view training scene: its reference would be another scene, so the filter
                # would learn that the reference is unrelated; show it the scene displaced instead, as
                # the test scenes' second views show it (never pixel-aligned with the ground truth)
                dy, dx = shifted_view(rng)
                rs.append(crop_at(clean, y0 + c // 2 + dy, x0 + c // 2 + dx, ref_crop))
            elif recipe['ref_at'] == 'same':
                rs.append(crop_at(ref_imgs[ref_name], y0 + c // 2, x0 + c // 2, ref_crop))
            else:
                rs.append(random_crop(rng, [ref_imgs[ref_name]], ref_crop)[0])
        c = min(x.shape[-1] for x in xs), min(x.shape[-2] for x in xs)
        rc = min(r.shape[-1] for r in rs), min(r.shape[-2] for r in rs)
        x = torch.cat([t[..., :c[1], :c[0]] for t in xs])
        y = torch.cat([t[..., :c[1], :c[0]] for t in ys])
        r = torch.cat([t[..., :rc[1], :rc[0]] for t in rs])
        return ((x, r) if reference else (x,)), y
    return fn


@torch.no_grad()
def run_base(base, model, rainy, dev):
    if base == 'prior':
        return rain.prior_derain(rainy)
    return to_np(model(to_t(rainy, dev)))


# ---------------------------------------------------------------- evaluation and export


def ssim_np(a, b):
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=1.0))


@torch.no_grad()
def evaluate(test_set, base_models, filt, refiner, images, refs, dev, clock):
    t = time.time()
    acc = {}
    keep = None
    for rainy, clean, name, setting in test_set:
        ref = to_t(images[refs[name]], dev)
        acc.setdefault(('rainy', setting, 'input'), []).append((rain.psnr(rainy, clean), ssim_np(rainy, clean)))
        for base in BASES:
            out = run_base(base, base_models.get(base), rainy, dev)
            x = to_t(out, dev)
            variants = {'alone': out, 'filter': to_np(filt(x, ref)), 'refiner': to_np(refiner(x))}
            for v, img in variants.items():
                acc.setdefault((base, setting, v), []).append((rain.psnr(img, clean), ssim_np(img, clean)))
            if keep is None and base == 'prenet' and setting == 'heavy':
                keep = dict(rainy=rainy, base=out, refined=variants['filter'], reference=images[refs[name]],
                            clean=clean, name=name)
    table = {f'{b}/{s}/{v}': {'psnr': float(np.mean([p for p, _ in r])), 'ssim': float(np.mean([q for _, q in r])),
                              'images': len(r)} for (b, s, v), r in sorted(acc.items())}
    clock.mark('evaluate', t)
    return table, keep


def quality_rows(table):
    rows = []
    for base in BASES:
        for s in SETTINGS:
            alone = table[f'{base}/{s}/alone']
            for v in ('filter', 'refiner'):
                got = table[f'{base}/{s}/{v}']
                for metric, key in (('PSNR dB', 'psnr'), ('SSIM', 'ssim')):
                    rows.append({'case': f'{base} {s} +{v}', 'metric': metric, 'higherIsBetter': True,
                                 'ours': round(got[key], 4), 'anchor': round(alone[key], 4),
                                 'anchorName': f'{base} alone', 'ratio': round(got[key] / alone[key], 5),
                                 'limit': None, 'limitName': None, 'gain': round(got[key] - alone[key], 4)})
    return rows


def print_table(table):
    print(f'{"base":12s} {"set":6s} {"alone":>14s} {"+filter":>14s} {"+refiner":>14s}')
    for base in BASES:
        for s in SETTINGS:
            cells = [table[f'{base}/{s}/{v}'] for v in ('alone', 'filter', 'refiner')]
            print(f'{base:12s} {s:6s} ' + ' '.join(f'{c["psnr"]:6.2f}/{c["ssim"]:.4f}' for c in cells))
    for s in SETTINGS:
        c = table[f'rainy/{s}/input']
        print(f'{"rainy input":12s} {s:6s} {c["psnr"]:6.2f}/{c["ssim"]:.4f}')


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file; parsed here where the safetensors package is missing."""
    import struct

    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop('__metadata__', {}) or {}
    try:
        from safetensors.torch import load_file

        return load_file(path), meta
    except ImportError:
        body = raw[8 + n:]
        assert all(h['dtype'] == 'F32' for h in header.values()), f'{path}: only F32 tensors are read here'
        return {k: torch.from_numpy(np.frombuffer(body[a:b], dtype='<f4').copy()).reshape(h['shape'])
                for k, h in header.items() for a, b in [h['data_offsets']]}, meta


def load_base(name, directory, dev):
    """A trained base from DIR/<name>.safetensors, rebuilt from the metadata it was saved with."""
    sd, meta = read_safetensors(os.path.join(directory, f'{name}.safetensors'))
    if name == 'prenet':
        model = PReNet(int(meta['channels']), int(meta['iters']), int(meta['blocks']))
    else:
        model = TinyRestormer(int(meta['channels']), tuple(int(h) for h in meta['heads'].split(',')))
    model.load_state_dict(sd)
    print(f'{name}: loaded from {directory}')
    return model.to(dev).eval()


def save_file(tensors, path, metadata=None):
    """safetensors.torch.save_file; written here (float32 only) where the package is missing."""
    try:
        from safetensors.torch import save_file as save
    except ImportError:
        save = None
    if save is not None:
        return save(tensors, path, metadata=metadata)
    import struct

    header, blobs, at = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].detach().float().contiguous().cpu().numpy().astype('<f4')
        header[k] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [at, at + t.nbytes]}
        blobs.append(t.tobytes())
        at += t.nbytes
    if metadata:
        header['__metadata__'] = metadata
    head = json.dumps(header, separators=(',', ':')).encode()
    head += b' ' * (-len(head) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(head)) + head + b''.join(blobs))


def save_weights(model, path, metadata=None):
    sd = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(sd, path, metadata=metadata)
    print(f'wrote {path} ({os.path.getsize(path) / 1e3:.0f} kB)')


@torch.no_grad()
def save_parity(filt, refiner, base_models, keep, dev, path):
    """A real test case in NHWC float32 (as Tessera takes it) with PyTorch's fp32 outputs."""
    # crops keep the committed file small: 150×130 of the image (odd sizes on purpose), 120×140 of the reference
    x, r = to_t(keep['base'][:150, :130], dev), to_t(keep['reference'][:120, :140], dev)
    nhwc = lambda t: t.permute(0, 2, 3, 1).contiguous().float().cpu()
    g = torch.Generator().manual_seed(SEED)
    # a second case far from the training images, at sizes no stride divides evenly
    noise = torch.rand(1, 3, 95, 83, generator=g).to(dev)
    noise_ref = torch.rand(1, 3, 61, 101, generator=g).to(dev)
    rainy = to_t(keep['rainy'][:150, :130], dev)
    save_file({'x': nhwc(x), 'ref': nhwc(r), 'y_filter': nhwc(filt(x, r)), 'y_refiner': nhwc(refiner(x)),
               'rainy': nhwc(rainy), 'y_prenet': nhwc(base_models['prenet'](rainy)),
               'y_transformer': nhwc(base_models['transformer'](rainy)),
               'x_noise': nhwc(noise), 'ref_noise': nhwc(noise_ref), 'y_noise_filter': nhwc(filt(noise, noise_ref))},
              path, metadata={'case': keep['name'], 'note': 'prenet output on heavy rain; noise: uniform in [0, 1)'})
    print(f'wrote {path}')


def save_figure(keep, path):
    from PIL import Image

    tiles = [keep[k] for k in ('rainy', 'base', 'refined', 'reference', 'clean')]
    h = max(t.shape[0] for t in tiles)
    strip = np.concatenate([np.pad(t, ((0, h - t.shape[0]), (0, 4), (0, 0)), constant_values=1) for t in tiles], 1)
    Image.fromarray((np.clip(strip, 0, 1) * 255).round().astype(np.uint8)).save(path)
    print(f'wrote {path} (rainy | PReNet | +filter | reference | ground truth: {keep["name"]} heavy)')


def time_filter(filt, dev, sizes, compile_too, clock, reserve):
    """Median ms of the filter at size² (reference the same size), fp32, batch 1, CUDA events."""
    rows = {}
    variants = [('eager', filt)]
    if compile_too:
        variants.append(('torch.compile', torch.compile(filt)))
    for label, fn in variants:
        for s in sizes:
            if clock.left() < reserve:
                print(f'skipping {label} at {s}²: budget spent')
                continue
            x, r = torch.rand(1, 3, s, s, device=dev), torch.rand(1, 3, s, s, device=dev)
            with torch.no_grad():
                for _ in range(3):
                    fn(x, r)
                if dev.type == 'cuda':
                    torch.cuda.synchronize()
                times = []
                for _ in range(10 if dev.type == 'cuda' else 2):
                    if dev.type == 'cuda':
                        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        a.record()
                        fn(x, r)
                        b.record()
                        torch.cuda.synchronize()
                        times.append(a.elapsed_time(b))
                    else:
                        t0 = time.time()
                        fn(x, r)
                        times.append((time.time() - t0) * 1e3)
            rows[f'{label} {s}x{s}'] = float(np.median(times))
            print(f'filter {label} {s}x{s}: {rows[f"{label} {s}x{s}"]:.3f} ms')
    return rows


def git_commit():
    try:
        return subprocess.check_output(['git', 'rev-parse', '--short', 'HEAD'], stderr=subprocess.DEVNULL).decode().strip()
    except Exception:
        return 'unknown'


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='models/derain')
    ap.add_argument('--data', default='data/derain/clean')
    ap.add_argument('--results', default='bench/results')
    ap.add_argument('--budget-s', type=float, default=280.0, help='wall-clock budget of the whole run')
    ap.add_argument('--smoke', action='store_true', help='toy sizes on the CPU, a few seconds per stage')
    ap.add_argument('--no-skimage', action='store_true')
    ap.add_argument('--bases-from', metavar='DIR', help='load the PReNet and transformer bases from DIR instead of '
                    'training them (their safetensors, as this script writes them)')
    ap.add_argument('--folds-from', metavar='DIR', help='train the filter on out-of-fold base outputs: the bases '
                    'trained on each half of the training scenes, loaded from DIR/<base>-fold<k>.safetensors '
                    '(scripts/derain/folds.py); a missing one is trained for --fold-seconds and saved there')
    ap.add_argument('--fold-seconds', type=float, default=30.0)
    ap.add_argument('--recipe', default='logmse-logssim-view', choices=sorted(RECIPES),
                    help='how the filter and refiner train (docs/notes/2026-12-07-derain-recipe.md compares them)')
    args = ap.parse_args()
    if args.smoke:
        args.budget_s = min(args.budget_s, 60.0)
    clock = Clock(args.budget_s)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    dev = torch.device('cuda' if torch.cuda.is_available() and not args.smoke else 'cpu')
    # fp32 everywhere: Tessera computes in f32, and the parity check needs PyTorch's exact fp32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    os.makedirs(args.out, exist_ok=True)
    card = torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'cpu'
    print(f'seed {SEED}; device {card}; torch {torch.__version__}; budget {args.budget_s:.0f}s')

    images, refs, train_set, test_set = build_data(args, clock)
    crop, batch = (32, 4) if args.smoke else (64, 16)
    train_gpu = [(to_t(r, dev), to_t(c, dev)) for r, c, _, _ in train_set]

    # timing, evaluation and export need about this much at the end
    reserve = 8.0 if args.smoke else 90.0
    stats = {}
    if args.bases_from:
        # trained once and committed: the whole budget goes to the filter and the refiner
        base_models = {name: load_base(name, args.bases_from, dev) for name in ('prenet', 'transformer')}
    else:
        share = max(1.0, (clock.left() - reserve - (2 if args.smoke else 25)) / 4)
        base_models = {'prenet': PReNet().to(dev), 'transformer': TinyRestormer().to(dev)}
        for name, model in base_models.items():
            stats[name] = train_loop(name, model, base_batches(train_gpu, rng, crop, batch),
                                         lambda pred, target, _: F.l1_loss(pred, target), share, 2e-3,
                                     clock)

    t = time.time()
    ref_imgs = {n: to_t(images[n], dev) for n in set(refs.values())}
    outs = {base: [run_base(base, base_models.get(base), rainy, dev) for rainy, *_ in train_set] for base in BASES}
    if args.folds_from:
        from folds import fold_bases, out_of_fold_outputs, scene_folds

        folds = scene_folds(train_set)
        fold_models = fold_bases(train_set, folds, args.fold_seconds, args.folds_from, dev, clock)
        outs = out_of_fold_outputs(train_set, folds, fold_models, outs, dev)
    triples = filter_samples(train_set, outs, refs, dev)
    clock.mark('base outputs for the filter', t)

    recipe = RECIPES[args.recipe]
    print(f'filter recipe {args.recipe}: {recipe}')
    filt = make_filter(recipe, reference=True).to(dev)
    refiner = make_filter(recipe, reference=False).to(dev)
    fcrop, rcrop = (32, 48) if args.smoke else (96, 128)
    share = max(1.0, (clock.left() - reserve) / 2)
    for name, model in (('filter', filt), ('refiner', refiner)):
        batches = filter_batches(triples, ref_imgs, rng, fcrop, rcrop, batch // 2 or 1, model.reference, recipe)
        stats[name] = train_loop(name, model, batches, filter_loss(recipe), share, recipe['lr'], clock)
        model.fold_out_scale()

    table, keep = evaluate(test_set, base_models, filt, refiner, images, refs, dev, clock)
    print_table(table)
    improved = all(table[f'{b}/{s}/filter']['psnr'] > table[f'{b}/{s}/alone']['psnr'] for b in BASES for s in SETTINGS)
    print(f'the filter improves every base on every set (PSNR): {improved}')

    save_weights(filt, os.path.join(args.out, 'filter.safetensors'), filt.metadata())
    save_weights(refiner, os.path.join(args.out, 'refiner.safetensors'), refiner.metadata())
    for name, model in base_models.items():
        save_weights(model, os.path.join(args.out, f'{name}.safetensors'),
                     model.metadata() if hasattr(model, 'metadata') else None)
    save_parity(filt, refiner, base_models, keep, dev, os.path.join(args.out, 'parity.safetensors'))
    save_figure(keep, os.path.join(args.out, 'figure.png'))
    if not args.smoke and os.path.isdir('docs'):
        save_figure(keep, os.path.join('docs', 'derain-figure.png'))

    sizes = (64,) if args.smoke else (512, 1024)
    timings = time_filter(filt, dev, sizes, not args.smoke, clock, reserve=15.0)

    date = datetime.date.today().isoformat()
    short = 'cpu' if dev.type == 'cpu' else ''.join(c for c in card.split()[1].lower() if c.isalnum())
    checks = ['train and test scenes disjoint', 'no test image is its own reference, nor equal to it',
              'PSNR/SSIM against the clean ground truth of each test image (skimage.metrics SSIM, data range 1)']
    assert all(np.isfinite(v['psnr']) and np.isfinite(v['ssim']) for v in table.values()), 'a metric is not finite'
    checks.append('every PSNR and SSIM finite')
    trained_on = f'out-of-fold base outputs ({args.folds_from})' if args.folds_from else "the bases' outputs on their own training scenes"
    report = {'bench': 'derain-quality', 'card': card, 'date': date, 'commit': git_commit(), 'checks': checks,
              'notes': (f'seed {SEED}; filter recipe {args.recipe} {recipe}; bases '
                        f'{"loaded from " + args.bases_from if args.bases_from else "trained here"}; '
                        f'filter trained on {trained_on}; '
                        f'{len(test_set)} test images ({len(test_set) // 3} per set), scene split '
                        f'{list(rain.TEST_SCENES)}; ratio = with ÷ without; gain in dB or SSIM; '
                        f'filter improves every base on every set: {improved}' + ('; SMOKE RUN' if args.smoke else '')),
              'rows': quality_rows(table), 'table': table, 'training': stats, 'timings_ms': timings,
              'stages_s': clock.marks, 'improvesEverywhere': improved}
    os.makedirs(args.results, exist_ok=True)
    qpath = os.path.join(args.results, f'derain-quality-{date}-{short}.json')
    with open(qpath, 'w') as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(args.out, 'torch-timings.json'), 'w') as f:
        # bench/results.ts readAnchors' shape: figures usable only by a bench of the same run (BENCH_RUN_ID)
        json.dump({'card': card, 'runId': os.environ.get('BENCH_RUN_ID'), 'date': date,
                   'dtype': 'float32 (TF32 off)', 'batch': 1, 'unit': 'ms', 'cases': timings}, f, indent=1)
    print(f'wrote {qpath}; total {clock.elapsed():.1f}s of {args.budget_s:.0f}s')


if __name__ == '__main__':
    main()
