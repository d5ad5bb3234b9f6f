# Generates the small torch/numpy-written test resources under npp-plugin/src/test/resources/io.
# Run once by hand with Debian's python3-torch 1.13 / python3-numpy; tests never need Python.
import torch, numpy as np, collections, argparse, io
torch.manual_seed(0)
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
sd = collections.OrderedDict()
sd['half'] = torch.tensor([1.0, -2.5, 65504.0, 6e-8], dtype=torch.float16)
sd['bf16'] = torch.tensor([1.0, -3.0, 1e30], dtype=torch.bfloat16)
sd['int8'] = torch.tensor([-128, -1, 0, 127], dtype=torch.int8)
sd['uint8'] = torch.tensor([0, 200, 255], dtype=torch.uint8)
sd['bool'] = torch.tensor([True, False, True])
sd['int16'] = torch.tensor([-32768, 7], dtype=torch.int16)
sd['int32'] = torch.tensor([[1, -2], [3, 2**31 - 1]], dtype=torch.int32)
sd['int64'] = torch.tensor([-(2**62), 5], dtype=torch.int64)
sd['double'] = torch.tensor([3.141592653589793], dtype=torch.float64)
sd['transposed'] = base.t()            # stride (1, 6): non-contiguous
sd['sliced'] = base[1:3, ::2]          # offset 6, stride (6, 2)
sd['row'] = base[2]                    # offset 12, contiguous view of a shared storage
sd['expanded'] = torch.tensor([7.0, 8.0]).unsqueeze(0).expand(3, 2)  # stride (0, 1)
sd['scalar'] = torch.tensor(2.5)
sd['empty'] = torch.zeros(0, 3)
sd['param'] = torch.nn.Parameter(torch.tensor([0.5, 0.25]))
sd['module.net.weight'] = torch.ones(2)
ns = argparse.Namespace(lr=1e-4, name='x', layers=[1, 2], betas=(0.9, 0.95))
torch.save({'model': sd, 'steps': 5, 'args': ns, 'ema': collections.OrderedDict(w=torch.zeros(2)),
            'extra': {'set': {1, 2}, 'bytes': b'ab\x00', 'big': 2**70, 'neg': -5}}, 'dtypes-views.pt')
torch.save({'model': sd}, 'legacy.pt', _use_new_zipfile_serialization=False)
np.save('bool.npy', np.array([[True, False], [False, True]]))
np.save('half.npy', np.array([1.0, -2.5, 65504.0], dtype=np.float16))
np.save('fortran.npy', np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.savez_compressed('compressed.npz', arr_0=np.arange(60, dtype=np.uint8).reshape(5, 4, 3), labels=np.array([1, 2, 3, 4, 5]))
np.savez('plain.npz', np.arange(12, dtype=np.int32).reshape(3, 4), np.linspace(0, 1, 5))
import torch, collections
d = collections.defaultdict(list); d['a'].append(1); d['b'] = [2, 3]
c = collections.Counter('aab')
torch.save({'dd': d, 'counter': c, 'model': collections.OrderedDict(w=torch.ones(1))}, 'containers.pt')
# Plain pickles of protocols 0 and 4 (text opcodes; FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE, sets, bytes)
import pickle, collections
value = {'k\u00e9\u2192': [1, 2.5, 'x', True, None, (1, 2), 10**20, -3, -(2**40)],
         'od': collections.OrderedDict(a=1), 'set': {7}, 'bytes': b'\x00\xff', 'shared': None}
value['shared'] = value['k\u00e9\u2192']  # memo reference to the same list
for proto in (0, 4):
    with open('plain-p%d.pkl' % proto, 'wb') as f:
        pickle.dump(value, f, protocol=proto)
