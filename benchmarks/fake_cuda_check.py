"""Does training ever mix a CPU tensor into CUDA work, or wait on the GPU inside a step? Checked
without a GPU, on torch's fake CUDA device.

Needs a CUDA build of torch (PyPI's default on Linux, `torch.backends.cuda.is_built()`), not a
GPU: under torch's FakeTensorMode, tensors on "cuda" carry shapes, dtypes and devices but no
data, and an operation that meets tensors on two devices raises, as it would on a GPU. Each
model runs `train_step` (R1, path length, ADA's adjustments and the averaged G included: 17
steps) and `sample` on "cuda" in fp32 and fp16. What the fake device cannot do is stood in for:

- back-propagation (the autograd engine needs a real CUDA context) gives zero gradients to every
  weight, so the optimisers and fp16's loss scaler still run;
- reading a value on the host (`.item()`, `float()`, `int()`) gives 0.5 or 1; each read of a CUDA
  tensor inside a step or a sample is listed (on a GPU, each one stalls the queue);
- `Module.to` and `copy.deepcopy` of a module remake its tensors in the one fake mode.

torch turns autocast off where no GPU is: fp16 runs the loss scaler's path in float32 layers.

    python benchmarks/fake_cuda_check.py        # every model and precision; exit 1 if any failed

Each configuration runs in a process of its own. This is a check of devices and host reads, not
of numbers: the first real GPU run is still benchmarks/gpu_check.py.
"""
from __future__ import annotations

import copy
import subprocess
import sys
import traceback

import torch

import artgan
from artgan_plugins.dcgan import DCGAN
from artgan_plugins.stylegan2 import StyleGAN2

CONFIGURATIONS = {
    "dcgan, R1, instance noise, D shown saturation and brightness": (DCGAN, dict(
        g_width=8, d_width=8, z_dim=16, r1_gamma=0.1, instance_noise=(0.0, 0.1), d_saturation=True,
        d_brightness=True)),
    "dcgan, ADA": (DCGAN, dict(g_width=8, d_width=8, z_dim=16, aug="ada", aug_p=0.2)),
    "stylegan2, ADA, R1, path length": (StyleGAN2, dict(capacity=1 / 32, z_dim=16, w_dim=16, mapping_layers=2)),
    "stylegan2, fixed augmentation": (StyleGAN2, dict(capacity=1 / 32, z_dim=16, w_dim=16, mapping_layers=2,
                                                      aug="fixed", aug_p=0.5)),
}
PRECISIONS = ("fp32", "fp16")
STEPS = 17  # past every lazy penalty's and ADA's interval (4, 16)


class FakeCuda:
    """The stand-ins for what the fake device cannot do (see the module's docstring), and the
    host reads of CUDA tensors seen while they are on."""

    def __init__(self):
        from torch._subclasses.fake_tensor import FakeTensorMode

        self.mode = FakeTensorMode()
        self.weights: list[torch.nn.Parameter] = []  # what a backward pass gives zero gradients
        self.reads: dict[str, str] = {}  # where a CUDA tensor was read on the host -> its line
        plain_to, plain_deepcopy = torch.nn.Module.to, copy.deepcopy

        def backward(tensor, *args, **kwargs):
            for weight in self.weights:
                if weight.requires_grad:
                    weight.grad = torch.zeros_like(weight)

        def grad(outputs, inputs, *args, **kwargs):
            inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
            return tuple(torch.zeros_like(tensor) for tensor in inputs)

        def to(module, *args, **kwargs):
            if not (args and isinstance(args[0], (str, torch.device))):
                return plain_to(module, *args, **kwargs)
            return remade(module, lambda tensor: tensor.detach().to(args[0]))

        def deepcopy(value, memo=None):
            result = plain_deepcopy(value, memo)
            if not isinstance(result, torch.nn.Module):
                return result
            return remade(result, lambda t: torch.empty(t.shape, dtype=t.dtype, device=t.device))

        def read(tensor):
            if tensor.device.type == "cuda":
                ours = [frame for frame in traceback.extract_stack()[:-2] if "site-packages" not in frame.filename]
                if ours:
                    self.reads[f"{ours[-1].filename}:{ours[-1].lineno}"] = ours[-1].line
            return 0.5 if tensor.dtype.is_floating_point else 1

        self.patches = [(torch.Tensor, "backward", backward), (torch.autograd, "grad", grad),
                        (torch.nn.Module, "to", to), (copy, "deepcopy", deepcopy),
                        (torch.Tensor, "item", read), (torch.Tensor, "__float__", lambda t: float(read(t))),
                        (torch.Tensor, "__int__", lambda t: int(read(t)))]

    def __enter__(self):
        self.plain = [(owner, name, getattr(owner, name)) for owner, name, _ in self.patches]
        for owner, name, stand_in in self.patches:
            setattr(owner, name, stand_in)
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.mode.__exit__(*exc)
        for owner, name, plain in self.plain:
            setattr(owner, name, plain)


def remade(module: torch.nn.Module, make) -> torch.nn.Module:
    """``module`` with each parameter and buffer replaced by ``make(tensor)``."""
    for part in module.modules():
        for key, weight in part._parameters.items():
            if weight is not None:
                part._parameters[key] = torch.nn.Parameter(make(weight), weight.requires_grad)
        for key, buffer in part._buffers.items():
            if buffer is not None:
                part._buffers[key] = make(buffer)
    return module


def check(name: str, precision: str) -> tuple[dict[str, str], dict[str, str]]:
    """Train and sample configuration ``name`` on the fake CUDA device; the host reads of CUDA
    tensors in the steps (none is best) and in the sample. Raises what a GPU would raise."""
    cls, options = CONFIGURATIONS[name]
    with FakeCuda() as fake:
        model = cls(cls.Options(**options), artgan.Context(resolution=32, device="cuda", precision=precision))
        fake.weights = [w for network in (model.generator, model.discriminator) for w in network.parameters()]
        model.wrap(lambda network: network)
        real = torch.rand(8, 3, 32, 32, device="cuda") * 2 - 1
        for _ in range(STEPS):
            model.train_step(real)
        in_steps, fake.reads = fake.reads, {}
        images = model.sample(torch.randn(4, model.z_dim, device="cuda"), truncation=0.7)
        if images.device.type != "cuda":
            raise AssertionError(f"samples came back on {images.device}")
        return in_steps, fake.reads


def main() -> None:
    if len(sys.argv) == 3:  # one configuration, in a process of its own
        for phase, reads in zip(("steps", "sample"), check(sys.argv[1], sys.argv[2])):
            print(f"{phase}: " + ("; ".join(f"host read at {where}: {line}" for where, line in reads.items())
                                   or "no host reads"), end="  " if phase == "steps" else "\n")
        return
    if not torch.backends.cuda.is_built():
        print(f"torch {torch.__version__} has no CUDA build: nothing to check (PyPI's torch for Linux has)")
        return
    print(f"torch {torch.__version__}, fake CUDA device; {STEPS} training steps and a sample each")
    failed = 0
    for name in CONFIGURATIONS:
        for precision in PRECISIONS:
            done = subprocess.run([sys.executable, "-W", "ignore", __file__, name, precision],
                                  capture_output=True, text=True)
            said = (done.stdout.strip() or done.stderr.strip()).splitlines()
            failed += done.returncode != 0
            print(f"{'ok    ' if done.returncode == 0 else 'FAILED'} {name}, {precision}: "
                  f"{said[-1] if said else f'exit status {done.returncode}'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
