"""Benchmark: AdaIN stylisation time at 512x512 and 1920x1080 (issue #7).

Two numbers per size: ``frame`` is one content frame with the style statistics cached (encoder
+ AdaIN + decoder: what a video or a slider drag costs), ``call`` is a whole ``stylize_adain``
call (the style image, at 512 px, encoded as well). On CUDA both networks run in bfloat16 and
channels_last unless ``--dtype float32``; the paper reports 15 FPS at 512x512 on a Pascal Titan X,
the issue's target is >= 100 FPS on an H100.

    python bench/adain.py --sizes 512x512 1920x1080              # GPU: bf16 + channels_last
    OMP_NUM_THREADS=1 python bench/adain.py --device cpu --sizes 512x512 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/<script>.py` from the repo root

from stylegan_lib import hub
from stylegan_lib.adain import load_decoder, style_statistics, stylize_adain, transfer
from stylegan_lib.vgg import build_vgg19

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def timed(fn, device: torch.device, repeats: int) -> tuple[float, float]:
    """Median wall seconds and median process CPU seconds of ``repeats`` calls after one warm-up call.

    On a shared CPU the CPU seconds (all threads of this process) say what the work costs when the
    machine is busy with other jobs; the wall seconds what a user waited.
    """
    fn()
    times, cpu = [], []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return sorted(times)[len(times) // 2], sorted(cpu)[len(cpu) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", default=None, help="decoder folder (default: hub.py)")
    parser.add_argument("--vgg", default=None, help="vgg19-caffe safetensors (default: hub.py)")
    parser.add_argument("--sizes", nargs="+", default=["512x512", "1920x1080"], help="WxH")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=list(DTYPES), default=None, help="default: bfloat16 on CUDA, else float32")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype or ("bfloat16" if device.type == "cuda" else "float32")]
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    # Private copies (not the app's cached modules), so converting the memory format is ours to do.
    decoder, _ = load_decoder(path=args.decoder, device=device, dtype=dtype)
    encoder = build_vgg19(hub.resolve("vgg19-caffe", path=args.vgg), device=device, dtype=dtype)
    decoder, encoder = decoder.to(memory_format=fmt), encoder.to(memory_format=fmt)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    threads = torch.get_num_threads()
    g = torch.Generator().manual_seed(0)
    style = torch.rand(1, 3, 512, 512, generator=g).to(device=device, dtype=dtype)
    with torch.inference_mode():
        stats = style_statistics(encoder, [style.contiguous(memory_format=fmt)], [1.0])
    rows = []
    for spec in args.sizes:
        w, h = map(int, spec.split("x"))
        content = torch.rand(1, 3, h, w, generator=g).to(device=device, dtype=dtype).contiguous(memory_format=fmt)

        def frame(content=content):
            with torch.inference_mode():
                return transfer(decoder, encoder, content, stats).clamp(0, 1)

        def call(content=content, pixels=h * w):
            return stylize_adain(content, style, decoder=decoder, encoder=encoder, device=device, dtype=dtype,
                                 max_pixels=pixels)  # fmt: skip

        (frame_s, frame_cpu_s), (call_s, _) = timed(frame, device, args.repeats), timed(call, device, args.repeats)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        rows.append({"size": spec, "dtype": str(dtype).removeprefix("torch."), "frame_s": round(frame_s, 4),
                     "fps": round(1 / frame_s, 1), "call_s": round(call_s, 4), "frame_cpu_s": round(frame_cpu_s, 3),
                     "peak_gib": round(peak, 2)})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    print(f"\ndevice: {name} ({threads} threads) · torch {torch.__version__} · {time.strftime('%Y-%m-%d')}")
    print("| size | dtype | frame, style cached (s) | FPS | whole call (s) | frame CPU (s) | peak GPU (GiB) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cells = [r["size"], r["dtype"], r["frame_s"], r["fps"], r["call_s"], r["frame_cpu_s"], r["peak_gib"]]
        print("| " + " | ".join(map(str, cells)) + " |")


if __name__ == "__main__":
    main()
