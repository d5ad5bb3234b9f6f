# Writes the reference outputs under this folder by running the UPSTREAM LlamaGen code (its GPT and VQ
# modules, unchanged) under PyTorch 1.13 on CPU, for settings other than the llamagen-tiny fixture (npp-plugin/src/test/resources/fixtures/llamagen-tiny):
# another grid (8x8, 6x6 with patch side 3), head dim 64, ffn_dim_multiplier, rope_base, norm_eps, and
# tokenizers with three levels, one residual block, channel changes and no L2-normalised codebook; and
# extract_codes_c2i's image pipeline on a small image folder of mixed modes and formats.
# Run once by hand: python3 generate.py /path/to/LlamaGen-checkout   (Debian's python3-torch 1.13).
# Tests never run Python; UpstreamCrossCheckTest reads what this writes.
import sys, os, json, argparse, collections, math
import numpy as np
import torch
import torch.nn.functional as F

UP = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))

# PyTorch 1.13 has no F.scaled_dot_product_attention (upstream targets 2.x): its math definition.
def sdpa(q, k, v, attn_mask=None, is_causal=False, dropout_p=0.0):
    L, S = q.size(-2), k.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if is_causal:
        scores = scores.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(), float('-inf'))
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float('-inf'))
    return torch.softmax(scores, dim=-1) @ v
F.scaled_dot_product_attention = sdpa

sys.path.insert(0, UP)
sys.path.insert(0, os.path.join(UP, 'autoregressive/models'))
sys.path.insert(0, os.path.join(UP, 'tokenizer/tokenizer_image'))
import gpt as G
import vq_model as Q
sys.path.insert(0, os.path.join(UP, 'dataset'))
from augmentation import center_crop_arr
from PIL import Image


def gpt_case(out, cfg, seed):
    out = os.path.join(HERE, out)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    args = G.ModelArgs(**cfg, token_dropout_p=0., resid_dropout_p=0., ffn_dropout_p=0., class_dropout_prob=0.1)
    model = G.Transformer(args)
    with torch.no_grad():
        model.output.weight.normal_(0, 0.3)
        for n, p in model.named_parameters():
            if n.endswith('norm.weight'):
                p.copy_(1 + 0.1 * torch.randn_like(p))
    model.eval()
    sd = model.state_dict()
    sd = collections.OrderedDict((k, v) for k, v in sd.items() if 'freqs' not in k and 'cache' not in k)
    torch.save({'model': sd, 'steps': 3, 'args': argparse.Namespace(gpt_model='custom', lr=1e-4)}, out + '/gpt.pt')
    json.dump(cfg, open(out + '/gpt-config.json', 'w'), indent=1)

    V, C, T = cfg['vocab_size'], cfg['num_classes'], cfg['block_size']
    Gs = int(round(T ** 0.5)); hd = cfg['dim'] // cfg['n_head']
    B = 3
    tokens = torch.randint(0, V, (B, T))
    labels = torch.tensor([0, C - 1, C])  # C: the null class
    np.save(out + '/tokens.npy', tokens.numpy().astype(np.int64))
    np.save(out + '/labels.npy', labels.numpy().astype(np.int64))

    with torch.no_grad():
        # teacher-forced logits, eval mode, as the fixture defines them
        logits, _ = model(tokens[:, :-1], labels, input_pos=torch.arange(T))
        np.save(out + '/logits.npy', logits.float().numpy())

        def npp_loss(tok, lab, p):
            Gp = Gs // p
            emb = model.tok_embeddings(tok).view(tok.shape[0], Gp, p, Gp, p, -1).permute(0, 1, 3, 2, 4, 5)
            patches = emb.reshape(tok.shape[0], Gp * Gp, p * p, -1).mean(2)
            h = torch.cat([model.cls_embedding(lab, train=False), patches[:, :-1]], 1)
            freqs = G.precompute_freqs_cis_2d(Gp, hd, cfg.get('rope_base', 10000), 1)[:Gp * Gp]
            for layer in model.layers:
                h = layer(h, freqs, None, None)
            z = model.output(model.norm(h)).float()
            logp = torch.log_softmax(z, -1)  # [B, L, V]
            tgt = tok.view(tok.shape[0], Gp, p, Gp, p).permute(0, 1, 3, 2, 4).reshape(tok.shape[0], Gp * Gp, p * p)
            return -logp.gather(2, tgt).mean().item()

        sides = [p for p in range(1, Gs + 1) if Gs % p == 0]
        losses = {('loss_patch_side_%d' % p): npp_loss(tokens, labels, p) for p in sides}
        # p = 1 must equal plain CE on the teacher-forced logits
        ce = F.cross_entropy(logits.reshape(-1, V), tokens.reshape(-1)).item()
        assert abs(ce - losses['loss_patch_side_1']) < 1e-5 * abs(ce), (ce, losses)
        json.dump(losses, open(out + '/losses.json', 'w'), indent=1)

        # greedy generation with a KV cache, following upstream generate()
        def generate(cond, cfg_scale, cfg_interval=-1):
            cond_combined = torch.cat([cond, torch.full_like(cond, C)]) if cfg_scale > 1.0 else cond
            model.setup_caches(max_batch_size=cond_combined.shape[0], max_seq_length=1 + T, dtype=torch.float32)
            def pick(lg):
                top2 = torch.topk(lg[:, -1, :], k=2, dim=-1)[0]
                margins.append((top2[:, 0] - top2[:, 1]).min().item())  # float noise must not flip argmax
                return torch.topk(F.softmax(lg[:, -1, :], -1), k=1, dim=-1)[1]
            def guide(lg, flag=True):
                if cfg_scale > 1.0:
                    c, u = torch.split(lg, len(lg) // 2, dim=0)
                    return u + (c - u) * cfg_scale if flag else c
                return lg
            lg, _ = model(None, cond_combined, torch.arange(0, 1))
            tok = pick(guide(lg)); seq = [tok]
            pos = torch.tensor([1], dtype=torch.long)
            for i in range(T - 1):
                flag = not (cfg_interval > -1 and i > cfg_interval)
                x = torch.cat([tok, tok]) if cfg_scale > 1.0 else tok
                lg, _ = model(x, None, pos)
                tok = pick(guide(lg, flag)).view(-1, 1); seq.append(tok)
                pos += 1
            return torch.cat(seq, 1)
        classes = torch.tensor([1, 0, C - 1])
        np.save(out + '/classes.npy', classes.numpy())
        for name, s, ci in [('greedy-cfg1', 1.0, -1), ('greedy-cfg2', 2.0, -1), ('greedy-cfg3-int5', 3.0, 5),
                            ('greedy-cfg0.5', 0.5, -1)]:
            margins = []
            np.save(out + '/%s.npy' % name, generate(classes, s, ci).numpy().astype(np.int64))
            print(out, name, 'smallest top-1/top-2 logit margin', min(margins))


def vq_model(cfg):
    args = Q.ModelArgs(codebook_size=cfg['codebook_size'], codebook_embed_dim=cfg['codebook_embed_dim'],
                       codebook_l2_norm=cfg['codebook_l2_norm'], encoder_ch_mult=cfg['ch_mult'],
                       decoder_ch_mult=cfg['ch_mult'], z_channels=cfg['z_channels'])
    m = Q.VQModel(args)  # upstream's VQModel fixes ch and num_res_blocks: rebuild its halves with ours
    m.encoder = Q.Encoder(ch=cfg['ch'], ch_mult=cfg['ch_mult'], num_res_blocks=cfg['num_res_blocks'], z_channels=cfg['z_channels'])
    m.decoder = Q.Decoder(ch=cfg['ch'], ch_mult=cfg['ch_mult'], num_res_blocks=cfg['num_res_blocks'], z_channels=cfg['z_channels'])
    return m


def vq_case(out, cfg, size, seed):
    out = os.path.join(HERE, out)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    m = vq_model(cfg)
    with torch.no_grad():
        for n, p in m.named_parameters():  # random, non-trivial norms and biases
            if n.endswith('bias') or ('norm' in n and n.endswith('weight')):
                p.add_(0.1 * torch.randn_like(p))
        m.quantize.embedding.weight.normal_(0, 1)
    m.eval()
    torch.save({'model': m.state_dict()}, out + '/vq.pt')
    json.dump(cfg, open(out + '/vq-config.json', 'w'), indent=1)
    x = torch.rand(3, 3, size, size) * 2 - 1
    np.save(out + '/images.npy', x.numpy())
    with torch.no_grad():
        h = m.quant_conv(m.encoder(x))
        _, _, (_, _, idx) = m.quantize(h)
        b, _, gh, gw = h.shape
        codes = idx.view(b, gh * gw)
        np.save(out + '/codes.npy', codes.numpy().astype(np.int64))
        dec = m.decode_code(codes.reshape(-1), shape=(b, cfg['codebook_embed_dim'], gh, gw))
        np.save(out + '/decoded.npy', dec.numpy())
        # nearest-code margin, to know whether float noise can flip a code
        z = torch.einsum('bchw->bhwc', h).reshape(-1, cfg['codebook_embed_dim'])
        e = m.quantize.embedding.weight
        if cfg['codebook_l2_norm']:
            z = torch.nn.functional.normalize(z, dim=-1); e = torch.nn.functional.normalize(e, dim=-1)
        d = torch.cdist(z, e) ** 2
        s = d.sort(1)[0]
        print(out, 'codes', tuple(codes.shape), 'smallest nearest-code margin', (s[:, 1] - s[:, 0]).min().item())


gpt_case('gpt-8x8', {"dim": 64, "n_layer": 2, "n_head": 4, "vocab_size": 300, "num_classes": 7, "block_size": 64,
                     "multiple_of": 32, "ffn_dim_multiplier": 1.3, "norm_eps": 1e-6, "rope_base": 500,
                     "cls_token_num": 1}, 1)
gpt_case('gpt-6x6', {"dim": 128, "n_layer": 1, "n_head": 2, "vocab_size": 200, "num_classes": 20, "block_size": 36,
                     "multiple_of": 8}, 2)
vq_case('vq-3-levels', {"codebook_size": 50, "codebook_embed_dim": 4, "ch": 32, "ch_mult": [1, 1, 1], "z_channels": 16,
                        "num_res_blocks": 1, "codebook_l2_norm": True}, 24, 1)
vq_case('vq-no-l2', {"codebook_size": 30, "codebook_embed_dim": 8, "ch": 32, "ch_mult": [2, 1], "z_channels": 16,
                     "num_res_blocks": 1, "codebook_l2_norm": False}, 12, 2)


def extract_case(out, vq_dir, size, crop_range):
    """extract_codes_c2i.py: ImageFolder (sorted classes and files, converted to RGB), center_crop_arr, then
    torchvision's TenCrop (five crops of the image, five of its mirror) or the centre crop and its flip,
    ToTensor + Normalize(0.5, 0.5), VQ encode; file i = i-th image of the listing."""
    out = os.path.join(HERE, out)
    rng = np.random.default_rng(0)
    files = {'zebra/1.png': ('RGB', 40, 30), 'zebra/0.jpg': ('RGB', 64, 48), 'ant/q.png': ('L', 100, 37),
             'ant/r.png': ('RGBA', 31, 31), 'ant/p.png': ('P', 57, 80)}
    for f, (mode, w, h) in files.items():
        os.makedirs(os.path.join(out, 'images', os.path.dirname(f)), exist_ok=True)
        c = {'RGB': 3, 'L': 1, 'RGBA': 4, 'P': 3}[mode]
        a = (rng.random((h // 4 + 2, w // 4 + 2, c)) * 255).astype(np.uint8).squeeze()
        im = Image.fromarray(np.array(Image.fromarray(a).resize((w, h), Image.BILINEAR)))
        if mode == 'P':
            im = im.convert('P', palette=Image.ADAPTIVE)
        im.save(os.path.join(out, 'images', f), quality=95)
    m = vq_model(json.load(open(os.path.join(HERE, vq_dir, 'vq-config.json'))))
    m.load_state_dict(torch.load(os.path.join(HERE, vq_dir, 'vq.pt'))['model'])
    m.eval()

    def five(img, s):
        w, h = img.size
        t, l = int(round((h - s) / 2.0)), int(round((w - s) / 2.0))
        return [img.crop((0, 0, s, s)), img.crop((w - s, 0, w, s)), img.crop((0, h - s, s, h)),
                img.crop((w - s, h - s, w, h)), img.crop((l, t, l + s, t + s))]

    def tensor(img):
        return torch.from_numpy(np.array(img, dtype=np.float32)).permute(2, 0, 1) / 255.0 * 2 - 1

    root = os.path.join(out, 'images')
    items = [(os.path.join(root, c, f), i) for i, c in enumerate(sorted(os.listdir(root)))
             for f in sorted(os.listdir(os.path.join(root, c)))]
    for kind in ('ten-crop', 'flip'):
        d = os.path.join(out, kind)
        os.makedirs(d + '/imagenet%d_codes' % size, exist_ok=True)
        os.makedirs(d + '/imagenet%d_labels' % size, exist_ok=True)
        for k, (f, y) in enumerate(items):
            img = Image.open(f).convert('RGB')
            if kind == 'ten-crop':
                img = center_crop_arr(img, int(size * crop_range))
                x = torch.stack([tensor(c) for c in five(img, size) + five(img.transpose(Image.FLIP_LEFT_RIGHT), size)])
            else:
                x = tensor(center_crop_arr(img, size))[None]
                x = torch.cat([x, torch.flip(x, dims=[-1])])
            with torch.no_grad():
                _, _, (_, _, idx) = m.encode(x)
            np.save(d + '/imagenet%d_codes/%d.npy' % (size, k), idx.reshape(1, x.shape[0], -1).numpy().astype(np.int64))
            np.save(d + '/imagenet%d_labels/%d.npy' % (size, k), np.array([y], dtype=np.int64))


extract_case('extract', 'vq-3-levels', 24, 1.1)
