"""matcalc's generated gradient of a batch loss, run data-parallel: JAX across devices, PyTorch
across processes.  The recipe of the README, checked against the single-device result.

    python benchmarks/data_parallel.py [--check] [--torch] [--no-jax] [--devices 4] [--batch 4096]

JAX: the loss sums over the batch rows, so its gradient is the sum of the shards' gradients.
(1) ``jax.jit`` of the generated function with the batch arrays sharded by rows
(``NamedSharding(mesh, P("batch", None))``) and the parameters replicated: XLA partitions
the matrix products and adds the all-reduce itself; (2) ``shard_map``: each device runs the
generated function on its rows, ``jax.lax.psum`` adds the gradients.  On a CPU the devices
are simulated with ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (set here before
jax is imported).  PyTorch (``--torch``): 2 processes (gloo), each runs the generated
function on its half of the batch, ``all_reduce`` sums the gradients.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

PROGRAM = "H = tanh(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2"
SHAPES = {"X": ("n", "d"), "W1": ("d", "h"), "b1": (1, "h"), "W2": ("h", "k"), "b2": (1, "k"), "Y": ("n", "k")}
BATCH = ("X", "Y")   # the arrays whose rows are the samples
TOL = 1e-10


def point(n: int, d: int = 16, h: int = 32, k: int = 4, seed: int = 0) -> dict:
    import numpy as np
    rng = np.random.default_rng(seed)
    sizes = {"n": n, "d": d, "h": h, "k": k}
    return {name: 0.5 * rng.standard_normal(tuple(sizes.get(s, s) for s in shape))
            for name, shape in SHAPES.items()}


def rel(a, b) -> float:
    import numpy as np
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def run_jax(devices: int, batch: int) -> float:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={devices}").strip()
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    jax.config.update("jax_enable_x64", True)
    import matcalc

    d = matcalc.derive(PROGRAM, shapes=SHAPES)
    grad = d.to_jax()
    arrays = {k: jnp.asarray(v) for k, v in point(batch).items()}
    single = jax.jit(grad)(**arrays)                       # one device
    mesh = Mesh(np.array(jax.devices()[:devices]), ("batch",))
    rows, whole = NamedSharding(mesh, P("batch", None)), NamedSharding(mesh, P())
    placed = {k: jax.device_put(v, rows if k in BATCH else whole) for k, v in arrays.items()}
    sharded = jax.jit(grad)(**placed)                      # (1) XLA partitions the products
    names = list(arrays)

    def per_device(*local):                                # (2) shards' gradients, summed
        g = grad(**dict(zip(names, local)))
        return {k: (v if k in BATCH else jax.lax.psum(v, "batch")) for k, v in g.items()}
    specs = tuple(P("batch", None) if k in BATCH else P() for k in names)
    out_specs = {k: (P("batch", None) if k in BATCH else P()) for k in d.wrt}
    mapped = jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=specs, out_specs=out_specs))
    summed = mapped(*[placed[k] for k in names])
    worst = max(max(rel(sharded[k], single[k]), rel(summed[k], single[k])) for k in single)
    print(f"jax {jax.__version__}: devices: {len(jax.devices())}, batch {batch}, "
          f"shards of {batch // devices} rows on {sharded['W1'].sharding}")
    print(f"  jit with sharded batch and shard_map + psum vs one device: max rel diff {worst:.1e} "
          + ("(equal)" if worst <= TOL else "(DIFFERENT)"))
    for label, fn, args in (("one device", jax.jit(grad), arrays), ("sharded jit", jax.jit(grad), placed)):
        jax.block_until_ready(fn(**args))
        t0 = time.perf_counter()
        for _ in range(20):
            jax.block_until_ready(fn(**args))
        print(f"  {label}: {(time.perf_counter() - t0) / 20 * 1e3:.2f} ms per gradient")
    return worst


def _torch_worker(rank: int, world: int, batch: int, port: int, queue) -> None:
    import torch
    import torch.distributed as dist
    import matcalc
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    grad = matcalc.derive(PROGRAM, shapes=SHAPES).to_torch()
    arrays = {k: torch.tensor(v) for k, v in point(batch).items()}
    rows = batch // world
    local = {k: (v[rank * rows:(rank + 1) * rows] if k in BATCH else v) for k, v in arrays.items()}
    g = grad(**local)
    for k in g:
        if k not in BATCH:
            dist.all_reduce(g[k], op=dist.ReduceOp.SUM)
    if rank == 0:
        full = grad(**arrays)
        queue.put(max(rel(g[k].numpy(), full[k].numpy()) for k in full if k not in BATCH))
    dist.destroy_process_group()


def run_torch(batch: int, world: int = 2) -> float:
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    mp.start_processes(_torch_worker, args=(world, batch, port, queue), nprocs=world, start_method="spawn")
    worst = queue.get(timeout=60)
    print(f"torch.distributed (gloo, {world} processes): all-reduced gradient vs one process: "
          f"max rel diff {worst:.1e} " + ("(equal)" if worst <= TOL else "(DIFFERENT)"))
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 unless the results are equal")
    ap.add_argument("--torch", action="store_true", help="also run the torch.distributed recipe")
    ap.add_argument("--no-jax", action="store_true", help="skip the JAX recipe")
    ap.add_argument("--devices", type=int, default=4)
    ap.add_argument("--batch", type=int, default=4096)
    args = ap.parse_args()
    worst = 0.0 if args.no_jax else run_jax(args.devices, args.batch)
    if args.torch:
        worst = max(worst, run_torch(args.batch))
    return 1 if args.check and worst > TOL else 0


if __name__ == "__main__":
    sys.exit(main())
