"""The de-raining networks in PyTorch (NCHW): the two trained bases (PReNet-style recurrent CNN,
tiny Restormer-style transformer) and the reference-guided filter / reference-free refiner, whose
module names and arithmetic are those of src/models/derain (Tessera runs its safetensors)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def gelu(x):
    return F.gelu(x, approximate='tanh')


def attention(q, k, v):
    """softmax(q·kᵀ/√d)·v over the last two axes; torch ≥ 2.0 fuses it, older torch spells it out."""
    if hasattr(F, 'scaled_dot_product_attention'):
        return F.scaled_dot_product_attention(q, k, v)
    return (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1) @ v


def resize_nearest(x, h, w):
    """out[i, j] = x[⌊i·H/h⌋, ⌊j·W/w⌋] in integers, exactly as Tessera's resize_nearest."""
    H, W = x.shape[-2:]
    iy = (torch.arange(h, device=x.device) * H) // h
    ix = (torch.arange(w, device=x.device) * W) // w
    return x[:, :, iy][:, :, :, ix]


def pad_to(x, m):
    """Reflect-pads H and W up to multiples of m; returns the padded tensor and the original size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode='reflect' if min(h, w) > max(ph, pw) else 'replicate')
    return x, (h, w)


# ---------------------------------------------------------------- the filter (Tessera's graph)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv0 = nn.Conv2d(3, c[0], 3, 1, 1)
        self.conv1 = nn.Conv2d(c[0], c[1], 3, 2, 1)
        self.conv2 = nn.Conv2d(c[1], c[2], 3, 2, 1)

    def forward(self, x):
        s0 = gelu(self.conv0(x))
        s1 = gelu(self.conv1(s0))
        return s0, s1, gelu(self.conv2(s1))


class CrossAttention(nn.Module):
    def __init__(self, c, eps):
        super().__init__()
        self.norm_q = nn.LayerNorm(c, eps=eps)
        self.norm_kv = nn.LayerNorm(c, eps=eps)
        self.q, self.k, self.v, self.o = (nn.Linear(c, c) for _ in range(4))


class Mlp(nn.Module):
    def __init__(self, c, eps):
        super().__init__()
        self.norm = nn.LayerNorm(c, eps=eps)
        self.fc1 = nn.Linear(c, 2 * c)
        self.fc2 = nn.Linear(2 * c, c)


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c[2] + c[1], c[1], 3, 1, 1)
        self.conv0 = nn.Conv2d(c[1] + c[0], c[0], 3, 1, 1)
        self.out = nn.Conv2d(c[0], 3, 3, 1, 1)


class RefFilter(nn.Module):
    """y = x + residual(x, ref). `reference=False` is the refiner: keys and values from x itself."""

    def __init__(self, channels=(16, 32, 64), heads=4, reference=True, eps=1e-5, out_scale=1.0):
        super().__init__()
        self.channels, self.heads, self.reference, self.eps = tuple(channels), heads, reference, eps
        # the residual is out_scale · dec.out(·) while training, so its steps are that much smaller
        # than the other layers'; fold_out_scale() moves it into the weights Tessera reads
        self.out_scale = out_scale
        self.enc = Encoder(channels)
        self.attn = CrossAttention(channels[2], eps)
        self.mlp = Mlp(channels[2], eps)
        self.dec = Decoder(channels)
        # start as the identity: the filter can only learn to improve on its input
        nn.init.zeros_(self.dec.out.weight)
        nn.init.zeros_(self.dec.out.bias)

    def forward(self, x, ref=None):
        s0, s1, fx = self.enc(x)
        fkv = self.enc(ref)[2] if self.reference else fx
        b, c, h, w = fx.shape
        d = c // self.heads
        t = fx.flatten(2).transpose(1, 2)
        kv = self.attn.norm_kv(fkv.flatten(2).transpose(1, 2))
        split = lambda z: z.reshape(b, -1, self.heads, d).transpose(1, 2)
        q = split(self.attn.q(self.attn.norm_q(t)))
        a = attention(q, split(self.attn.k(kv)), split(self.attn.v(kv)))
        t = t + self.attn.o(a.transpose(1, 2).reshape(b, -1, c))
        t = t + self.mlp.fc2(gelu(self.mlp.fc1(self.mlp.norm(t))))
        m = t.transpose(1, 2).reshape(b, c, h, w)
        d1 = gelu(self.dec.conv1(torch.cat([resize_nearest(m, *s1.shape[-2:]), s1], 1)))
        d0 = gelu(self.dec.conv0(torch.cat([resize_nearest(d1, *s0.shape[-2:]), s0], 1)))
        return x + self.out_scale * self.dec.out(d0)

    @torch.no_grad()
    def fold_out_scale(self):
        self.dec.out.weight.mul_(self.out_scale)
        self.dec.out.bias.mul_(self.out_scale)
        self.out_scale = 1.0
        return self

    def metadata(self):
        return {
            'format': 'tessera-derain',
            'channels': ','.join(map(str, self.channels)),
            'heads': str(self.heads),
            'reference': '1' if self.reference else '0',
            'eps': str(self.eps),
        }


# ---------------------------------------------------------------- PReNet-style base


class PReNet(nn.Module):
    """Progressive recurrent network (Ren et al. 2019, reduced): `iters` stages share weights; each
    sees the rainy image and the previous estimate, carries a ConvLSTM state, and predicts the
    de-rained image as a residual over the rainy input."""

    def __init__(self, ch=32, iters=4, blocks=3):
        super().__init__()
        self.ch, self.iters, self.blocks = ch, iters, blocks
        self.inp = nn.Conv2d(6, ch, 3, 1, 1)
        self.gates = nn.Conv2d(2 * ch, 4 * ch, 3, 1, 1)
        self.res = nn.ModuleList(
            nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.ReLU(), nn.Conv2d(ch, ch, 3, 1, 1)) for _ in range(blocks))
        self.out = nn.Conv2d(ch, 3, 3, 1, 1)

    def forward(self, y):
        x = y
        h = c = None
        for _ in range(self.iters):
            z = F.relu(self.inp(torch.cat([y, x], 1)))
            if h is None:
                h = c = torch.zeros_like(z)
            i, f, g, o = self.gates(torch.cat([z, h], 1)).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            z = h
            for blk in self.res:
                z = F.relu(blk(z) + z)
            x = y + self.out(z)
        return x

    def metadata(self):
        """What src/models/derain/prenet.ts reads to rebuild the graph."""
        return {'format': 'tessera-prenet', 'channels': str(self.ch), 'iters': str(self.iters),
                'blocks': str(self.blocks)}


# ---------------------------------------------------------------- tiny Restormer-style base


class ChannelNorm(nn.Module):
    """LayerNorm over channels at every pixel (Restormer's LN)."""

    def __init__(self, c):
        super().__init__()
        self.norm = nn.LayerNorm(c)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class MDTA(nn.Module):
    """Multi-Dconv head transposed attention: attention across channels, linear in pixels."""

    def __init__(self, c, heads):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.dw = nn.Conv2d(3 * c, 3 * c, 3, 1, 1, groups=3 * c)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.dw(self.qkv(x)).chunk(3, 1)
        q, k, v = (t.reshape(b, self.heads, c // self.heads, h * w) for t in (q, k, v))
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        att = (q @ k.transpose(-2, -1) * self.temperature).softmax(-1)
        return self.proj((att @ v).reshape(b, c, h, w))


class GDFN(nn.Module):
    def __init__(self, c, expand=2):
        super().__init__()
        self.inp = nn.Conv2d(c, 2 * expand * c, 1)
        self.dw = nn.Conv2d(2 * expand * c, 2 * expand * c, 3, 1, 1, groups=2 * expand * c)
        self.out = nn.Conv2d(expand * c, c, 1)

    def forward(self, x):
        a, g = self.dw(self.inp(x)).chunk(2, 1)
        return self.out(gelu(a) * g)


class TBlock(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.n1, self.att, self.n2, self.ffn = ChannelNorm(c), MDTA(c, heads), ChannelNorm(c), GDFN(c)

    def forward(self, x):
        x = x + self.att(self.n1(x))
        return x + self.ffn(self.n2(x))


class TinyRestormer(nn.Module):
    """A two-level Restormer (Zamir et al. 2022), reduced: MDTA + GDFN blocks, pixel-shuffle up."""

    def __init__(self, c=24, heads=(1, 2)):
        super().__init__()
        self.c, self.heads = c, tuple(heads)
        self.embed = nn.Conv2d(3, c, 3, 1, 1)
        self.enc1 = TBlock(c, heads[0])
        self.down = nn.Conv2d(c, 2 * c, 3, 2, 1)
        self.mid = nn.Sequential(TBlock(2 * c, heads[1]), TBlock(2 * c, heads[1]))
        self.up = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 1), nn.PixelShuffle(2))
        self.fuse = nn.Conv2d(2 * c, c, 1)
        self.dec1 = TBlock(c, heads[0])
        self.out = nn.Conv2d(c, 3, 3, 1, 1)

    def forward(self, y):
        yp, (h, w) = pad_to(y, 2)
        e = self.enc1(self.embed(yp))
        m = self.mid(self.down(e))
        d = self.dec1(self.fuse(torch.cat([self.up(m), e], 1)))
        return (yp + self.out(d))[..., :h, :w]

    def metadata(self):
        """What src/models/derain/restormer.ts reads to rebuild the graph."""
        return {'format': 'tessera-restormer', 'channels': str(self.c), 'heads': ','.join(map(str, self.heads))}
