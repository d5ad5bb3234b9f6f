# Generates PIL reference vectors for the crop/resize tests (run once by hand with Debian's python3-pil).
import random, json
from PIL import Image
random.seed(7)
def rand_img(w, h):
    im = Image.new('RGB', (w, h))
    # smooth-ish content plus noise so that every filter tap matters
    im.putdata([((x*7+y*3+random.randint(0,60))%256, (x*x+y*11+random.randint(0,40))%256, random.randint(0,255)) for y in range(h) for x in range(w)])
    return im
def center_crop_arr(pil_image, image_size):
    while min(*pil_image.size) >= 2 * image_size:
        pil_image = pil_image.resize(tuple(x // 2 for x in pil_image.size), resample=Image.BOX)
    scale = image_size / min(*pil_image.size)
    pil_image = pil_image.resize(tuple(round(x * scale) for x in pil_image.size), resample=Image.BICUBIC)
    w, h = pil_image.size
    cy = (h - image_size) // 2; cx = (w - image_size) // 2
    return pil_image.crop((cx, cy, cx + image_size, cy + image_size))
cases = [(67, 45, 16), (28, 28, 32), (50, 50, 24), (20, 31, 16), (131, 70, 33)]
for w, h, s in cases:
    im = rand_img(w, h)
    im.save(f'in_{w}x{h}.png')
    center_crop_arr(im, s).save(f'adm_{w}x{h}_to_{s}.png')
# plain resizes in both directions
im = Image.open('in_67x45.png')
im.resize((23, 50), Image.BICUBIC).save('bicubic_67x45_to_23x50.png')
im.resize((33, 22), Image.BOX).save('box_67x45_to_33x22.png')
# odd formats and their PIL RGB conversion
g = Image.new('L', (9, 7)); g.putdata([(i*37) % 256 for i in range(63)]); g.save('odd_grey.png')
p = rand_img(9, 7).convert('P', palette=Image.ADAPTIVE, colors=16); p.save('odd_palette.png'); p.convert('RGB').save('odd_palette_rgb.png')
a = rand_img(9, 7).convert('RGBA'); a.putalpha(100); a.save('odd_rgba.png'); a.convert('RGB').save('odd_rgba_rgb.png')
i16 = Image.new('I;16', (9, 7)); i16.putdata([i * 1000 for i in range(63)]); i16.save('odd_grey16.png')
c = Image.new('RGB', (16, 16)); c.putdata([(200 if x < 8 else 30, 100 if y < 8 else 220, 50) for y in range(16) for x in range(16)])
c.convert('CMYK').save('odd_cmyk.jpg', quality=95)
Image.open('odd_cmyk.jpg').convert('RGB').save('odd_cmyk_rgb.png')
# JPEG decoding: PIL's (libjpeg) RGB result of a 4:2:0 colour JPEG and a greyscale JPEG
random.seed(3)
im = Image.new('RGB', (97, 61))
im.putdata([((x*5+random.randint(0,50)) % 256, (y*7+random.randint(0,30)) % 256, (x*y) % 256) for y in range(61) for x in range(97)])
im.save('jpeg_420_q75.jpg', quality=75, subsampling=2)
Image.open('jpeg_420_q75.jpg').convert('RGB').save('jpeg_420_q75_pil.png')
g = Image.new('L', (33, 20)); g.putdata([(i*13) % 256 for i in range(660)]); g.save('jpeg_grey_q80.jpg', quality=80)
Image.open('jpeg_grey_q80.jpg').convert('RGB').save('jpeg_grey_q80_pil.png')
