"""Ready for the GPU (issue 26): what a CUDA machine would hit, checked on the CPU, on the meta
device (where reading a tensor's value raises) and in fp16/bf16 autocast."""
import math
import threading
import tracemalloc

import numpy as np
import pytest
import torch

import artgan
from artgan import batches, training
from artgan.toolkit import precision
from artgan.toolkit.augment import ADA_EVERY
from artgan.toolkit.averaging import update_average
from artgan.batches import BatchSampler
from artgan_plugins.stylegan2 import model as stylegan2
from artgan_plugins.dcgan import DCGAN
from artgan_plugins.stylegan2 import StyleGAN2
from test_training import metrics, train

SMALL_SG2 = dict(capacity=1 / 32, z_dim=16, w_dim=16, mapping_layers=2)


def tiny_stylegan2(device="cpu", chosen="fp32", **options):
    context = artgan.Context(resolution=32, device=device, precision=chosen)
    return StyleGAN2(StyleGAN2.Options(**{**SMALL_SG2, **options}), context)


# ------------------------------------------------------------------ 6: no host syncs in a step

@pytest.fixture
def device_tensors_from_host_numbers(monkeypatch):
    """The calls of torch.tensor that build a tensor on a device other than the CPU (on a GPU,
    each is a blocking copy from host memory)."""
    built = []
    plain = torch.tensor

    def spy(*args, **kwargs):
        device = kwargs.get("device")
        if device is not None and torch.device(device).type != "cpu":
            built.append(args)
        return plain(*args, **kwargs)

    monkeypatch.setattr(torch, "tensor", spy)
    return built


@pytest.mark.parametrize("model", ["stylegan2", "dcgan"])
def test_a_training_step_never_reads_a_device_tensor_on_the_host(model, device_tensors_from_host_numbers):
    # On the meta device tensors have shapes but no values: .item(), .tolist(), .cpu(), bool()
    # and float() of one raise, so steps that run there make no host sync on a GPU either.
    torch.manual_seed(0)
    meta = artgan.Context(resolution=32, device="meta")
    if model == "dcgan":
        gan = DCGAN(DCGAN.Options(g_width=8, d_width=8, z_dim=16, r1_gamma=1.0, r1_every=2, aug="ada",
                                  ada_speed=8), meta)
    else:  # every penalty, style mixing, and ADA adjusting p (which then augments every batch)
        gan = StyleGAN2(StyleGAN2.Options(**SMALL_SG2, r1_every=2, pl_every=2, ada_speed=8), meta)
    real = torch.empty(4, 3, 32, 32, device="meta")
    reported = {}
    for _ in range(ADA_EVERY + 2):  # the last two augmented, with p adjusted on the device
        reported.update(gan.train_step(real))
    assert gan.augment.active  # the augmented steps ran too
    assert {"loss_d", "loss_g", "r1", "aug_p", "ada_rt"} | ({"pl"} if model == "stylegan2" else set()) == reported.keys()
    assert all(value.device.type == "meta" for value in reported.values())  # left for the trainer to read
    assert device_tensors_from_host_numbers == []  # D's blur filter is a buffer, built once


def test_the_trainer_reads_losses_every_metrics_every_steps(tmp_path, monkeypatch):
    reads = []
    plain = artgan.distributed.mean_all
    monkeypatch.setattr(artgan.distributed, "mean_all", lambda values: reads.append(len(values)) or plain(values))
    run = train(tmp_path, "train.steps=12", "train.metrics_every=4", "train.checkpoint_every=6",
                "train.snapshot_every=100")
    # steps 4, 6 (a checkpoint must not keep a diverged model), 8 and 12: one read for several steps
    assert len(reads) == 4
    assert [row["step"] for row in metrics(run)] == [4, 8, 12]
    assert all(math.isfinite(row["loss_d"]) and row["images_per_s"] > 0 for row in metrics(run))


def test_the_blur_filter_is_not_saved():
    model = tiny_stylegan2()
    assert not any("blur" in name for name in model.state_dict()["discriminator"])


# --------------------------------------------------------- 4: fp16 with mbstd_group = 1 trains

def test_fp16_with_groups_of_one_keeps_its_loss_scale_and_moves_d():
    # single-photo.toml and black-square.toml: one picture copied, no spread for mbstd to see
    torch.manual_seed(0)
    gan = tiny_stylegan2(chosen="fp16", mbstd_group=1, aug="none", r1_every=4, pl_every=4)
    start_scale = gan.precision.scaler.get_scale()
    before = [p.detach().clone() for p in gan.discriminator.parameters()]
    real = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1)).expand(4, -1, -1, -1) * 2 - 1
    for _ in range(4):
        losses = gan.train_step(real.contiguous())
    assert all(math.isfinite(float(value)) for value in losses.values())
    # an overflowing step halves the scale and is skipped: four steps would leave 1/16 of it
    assert gan.precision.scaler.get_scale() >= start_scale / 2
    moved = [not torch.equal(a, b) for a, b in zip(before, gan.discriminator.parameters())]
    assert sum(moved) > len(moved) // 2


# ------------------------------------------------- 9: reduced precision all through stylegan2's G

@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_every_layer_of_g_outputs_the_autocast_dtype(dtype):
    model = tiny_stylegan2()
    seen = []
    layers = [m for m in model.generator.modules() if isinstance(m, (stylegan2.StyleLayer, stylegan2.SynthesisBlock))]
    hooks = [m.register_forward_hook(lambda m, i, out: seen.append(out if torch.is_tensor(out) else out[1]))
             for m in layers]
    with torch.autocast("cpu", dtype=dtype):
        images = model.synthesis(model.generator.styles(torch.randn(2, 16)))
    for hook in hooks:
        hook.remove()
    assert len(seen) == len(layers) and {t.dtype for t in seen} == {dtype} and images.dtype == dtype


# ------------------------------------------------------------- 1 and 10: precision, TF32, lock

@pytest.mark.parametrize("capability, chosen", [((6, 0), "fp16"), ((7, 0), "fp16"), ((7, 5), "fp16"),
                                                ((8, 0), "bf16"), ((8, 9), "bf16"), ((9, 0), "bf16")])
def test_auto_precision_on_cuda_follows_the_compute_capability(monkeypatch, capability, chosen):
    # P100, V100 and T4 can store bfloat16 (is_bf16_supported says yes) but cuDNN has no bf16
    # convolutions for them
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert precision.choose("auto", "cuda:0") == chosen
    assert precision.lock_entries("cuda:0")["cuda_capability"] == f"{capability[0]}.{capability[1]}"
    assert precision.lock_entries("cpu") == {}


def test_tf32_is_enabled_from_ampere_on(monkeypatch):
    matmul, conv = torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision
    try:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
        assert not precision.allow_tf32("cuda:0") and not precision.lock_entries("cuda:0")["tf32"]
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
        assert precision.allow_tf32("cuda:0") and precision.lock_entries("cuda:0")["tf32"]
        assert not precision.allow_tf32("cpu")
    finally:
        torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = matmul, conv


def test_the_average_moves_all_weights_at_once_as_a_loop_would():
    torch.manual_seed(0)
    average, live = tiny_stylegan2().generator, tiny_stylegan2().generator
    expected = [a.detach().lerp(b, 0.1) for a, b in zip(average.parameters(), live.parameters())]
    update_average(average, live, 0.9)
    assert all(torch.equal(a, e) for a, e in zip(average.parameters(), expected))


def test_the_averaged_g_takes_the_channels_last_layout_too(tmp_path):
    run = train(tmp_path, "train.steps=1", "train.channels_last=true")
    weights = [p for p in run.model.generator_ema.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)


# ------------------------------------------------------------ 5: compile with double backward

def test_compile_with_r1_is_refused_before_training(tmp_path):
    with pytest.raises(artgan.ArtganError, match=r"tiny.toml: train.compile = true cannot train with model.r1_gamma: "
                                                 r".*set train.compile = false, or turn them off \(--set model.r1_gamma=0\)"):
        train(tmp_path, "train.compile=true", "model.r1_gamma=1")
    assert not (tmp_path / "runs" / "tiny").exists()  # nothing written (but the run folder's lock file)
    assert train(tmp_path, "train.compile=true", "train.steps=0").step == 0  # without R1 it is allowed


def test_stylegan2_names_its_penalties_that_take_a_gradient_of_a_gradient():
    assert tiny_stylegan2().double_backward() == ["r1_gamma", "pl_weight"]
    assert tiny_stylegan2(pl_weight=0).double_backward() == ["r1_gamma"]
    assert tiny_stylegan2(r1_gamma=0, pl_weight=0).double_backward() == []


# ------------------------------------------------- 7 and 8: the dataset on the device, or streamed

def packed(tmp_path, count=64, side=32):
    images = np.random.default_rng(0).integers(0, 256, (count, side, side, 3), dtype=np.uint8)
    path = tmp_path / "images.u8"
    images.tofile(path)
    return np.memmap(path, np.uint8, "r", shape=images.shape), images


def test_the_dataset_goes_onto_the_device_a_chunk_at_a_time(tmp_path, monkeypatch):
    mapped, images = packed(tmp_path, count=256)  # 768 KB
    monkeypatch.setattr(batches, "CHUNK_BYTES", 64 << 10)
    tracemalloc.start()
    resident = batches.copy_to_device(mapped, "cpu")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert torch.equal(resident, torch.from_numpy(images).permute(0, 3, 1, 2))
    assert peak < 3 * (64 << 10)  # a chunk or two in host memory, never the whole array (768 KB)


def test_the_dataset_leaves_room_on_the_gpu_for_what_training_adds(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10 << 30, 16 << 30))  # 10 GB free
    assert batches.resident_limit("cuda:0") == (10 << 30) // 4
    assert batches.resident_limit("cuda:0", reserved=6 << 30) == (4 << 30) // 4
    run = train(tmp_path, "train.steps=0")
    weights = [p for net in (run.model.generator, run.model.discriminator) for p in net.parameters()]
    # gradients and Adam's two moments of the weights that train; the averaged G trains none
    assert training._training_bytes(run.model) == 3 * sum(p.numel() * 4 for p in weights)


def test_a_dataset_the_device_has_no_room_for_is_streamed(tmp_path, monkeypatch):
    mapped, _ = packed(tmp_path)
    reference = BatchSampler(mapped, 8, seed=1, device="cpu", in_memory=True)

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(torch, "empty", out_of_memory)
    fallen_back = BatchSampler(mapped, 8, seed=1, device="cpu", in_memory=True)
    monkeypatch.undo()
    assert isinstance(fallen_back.images, np.memmap)
    for _ in range(3):
        assert torch.equal(fallen_back.next(), reference.next())


def test_streamed_batches_are_read_one_ahead_in_another_thread(tmp_path, monkeypatch):
    mapped, _ = packed(tmp_path)
    readers = []
    plain = BatchSampler._read
    monkeypatch.setattr(BatchSampler, "_read",
                        lambda self, mine: readers.append(threading.current_thread().name) or plain(self, mine))
    streamed = BatchSampler(mapped, 8, seed=1, device="cpu", in_memory=False)
    resident = BatchSampler(mapped, 8, seed=1, device="cpu", in_memory=True)
    for _ in range(12):  # across epochs: 64 images in batches of 8
        assert torch.equal(streamed.next(), resident.next())
    streamed._ahead[1].result()  # the read ahead of the 13th batch may still be starting in its thread
    assert len(readers) == 13 and all(name.startswith("artgan-batches") for name in readers)  # one ahead
    # a resume continues with the batch after the last one handed out, not the one read ahead
    again = BatchSampler(mapped, 8, seed=99, device="cpu", in_memory=False)
    again.load_state_dict(streamed.state_dict())
    assert torch.equal(again.next(), resident.next())
