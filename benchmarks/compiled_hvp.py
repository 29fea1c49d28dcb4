"""Compiled Hessian-vector products (inductor) vs eager double backward, one run (issue 16).

Question: how much of a float64 double-backward HVP is autograd and kernel overhead that a
compiler would remove, and does the compile time pay for one full Hessian?

Steps, on the rattled P1 SrTiO3 2x2x2 of ``hessian_vs_fd.py`` (40 atoms, SevenNet-0, under
4096 edges so the convolutions are unchunked):

1. eager: setup (forward + first backward, ``create_graph=True``) and HVPs; a force call;
2. trace forward + gradient + one HVP into one aten graph (``make_fx``) and split it into a
   *setup* graph (the nodes that do not depend on the vector) and a *product* graph (the
   rest; its inputs are the setup nodes it reads, what autograd would have saved);
3. replay both graphs (no autograd engine), then compile the product graph with inductor
   (C++ kernels: the tensor products' elementwise ``mul``/``sum`` fused) and time it.

``--dynamic`` traces with symbolic shapes (atoms and edges) and compiles with
``torch.compile(dynamic=True)``: one trace and one compile serve every cell under the
chunking threshold (checked on a second, 20-atom cell). Prints the times, the error of
every replay against eager (must be ~1e-14) and the full Hessian (3N products) each way
against phonopy's 2 x 3N displaced force calls. Not a feature of the package: see
benchmarks/README.md for why (trace and compile cost about a minute per process even with
inductor's on-disk cache, minutes on a first compile). Usage::

    .venv/bin/python benchmarks/compiled_hvp.py [--dtype float64] [--threads 1]
        [--no-compile] [--dynamic]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.fx as fx
from hessian_vs_fd import benchmark_cells
from torch.fx.experimental.proxy_tensor import make_fx

from ase_symbreak.hessian import allocator
from ase_symbreak.hessian.graph import neighbor_list
from ase_symbreak.models import registry
from ase_symbreak.models import sevennet as sevennet_module
from ase_symbreak.structures import cubic_perovskite


def _traceable_one_hot(self, index: torch.Tensor) -> torch.Tensor:
    """sevenn's one-hot as rows of the identity: ``F.one_hot`` checks its indices with
    ``.item()``, which a graph trace cannot do (the calculator checks species before)."""
    return torch.eye(self.num_classes, dtype=self.dtype)[index]


def split_by_dependence(gm: fx.GraphModule, vector: fx.Node) -> tuple[fx.GraphModule, ...]:
    """(setup, product): nodes independent of ``vector`` and the rest, joined by the
    setup nodes the product graph reads (the setup graph's outputs, its inputs)."""
    graph = gm.graph
    dependent = {vector}
    for node in graph.nodes:
        if node.op not in ("placeholder", "get_attr", "output") and any(
            a in dependent for a in node.all_input_nodes
        ):
            dependent.add(node)
    output = next(n for n in graph.nodes if n.op == "output")
    boundary = [
        n
        for n in graph.nodes
        if n not in dependent
        and n.op not in ("get_attr", "output")
        and any(u in dependent or u is output for u in n.users)
    ]
    setup_graph, env = fx.Graph(), {}
    for node in graph.nodes:
        if node not in dependent and node.op != "output":
            env[node] = setup_graph.node_copy(node, lambda a: env[a])
    setup_graph.output(tuple(env[b] for b in boundary))
    product_graph, env = fx.Graph(), {}
    for b in boundary:
        env[b] = product_graph.placeholder(f"saved_{b.name}")
    env[vector] = product_graph.placeholder("vector")
    for node in graph.nodes:
        if node.op == "get_attr" or (node in dependent and node is not vector):
            env[node] = product_graph.node_copy(node, lambda a: env[a])
    product_graph.output(fx.node.map_arg(output.args[0], lambda a: env[a]))
    modules = []
    for g in (setup_graph, product_graph):
        module = fx.GraphModule(gm, g)
        module.graph.eliminate_dead_code()
        module.recompile()
        modules.append(module)
    return tuple(modules)


def best(fn, repeat: int = 3) -> tuple[object, float]:
    """``(result, seconds)`` of the fastest of ``repeat`` calls."""
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, min(times)


def graph_inputs(model, atoms, dtype: torch.dtype) -> list[torch.Tensor]:
    """(positions, numbers, edge_src, edge_dst, edge shift vectors, a random vector u)."""
    nl = neighbor_list(atoms, model.cutoff)
    cell = torch.tensor(atoms.cell.array, dtype=dtype)
    return [
        torch.tensor(atoms.positions, dtype=dtype),
        torch.as_tensor(atoms.numbers, dtype=torch.int64),
        torch.as_tensor(nl.edge_src),
        torch.as_tensor(nl.edge_dst),
        torch.as_tensor(nl.shifts, dtype=dtype) @ cell,
        torch.tensor(np.random.default_rng(0).normal(size=(len(atoms), 3)), dtype=dtype),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-compile", action="store_true", help="replay only, no inductor")
    parser.add_argument(
        "--dynamic",
        action="store_true",
        help="symbolic shapes: one trace and one compile for every cell (checked on a 2nd)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    allocator.keep_freed_memory()
    dtype = getattr(torch, args.dtype)
    sevennet_module._OneHot.embed = _traceable_one_hot
    model = registry.load("7net-0", dtype).eval()
    _, atoms = benchmark_cells()
    other = cubic_perovskite(3.9).repeat((2, 2, 1))
    other.rattle(0.03, seed=3)
    n = len(atoms)
    inputs = graph_inputs(model, atoms, dtype)
    print(
        f"{n} atoms, {len(inputs[2])} edges, {args.dtype}, threads {torch.get_num_threads()}, "
        f"{'dynamic' if args.dynamic else 'static'} shapes, "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    def energy(pos, numbers, src, dst, shifts) -> torch.Tensor:
        return model(numbers, src, dst, pos[dst] - pos[src] + shifts).sum()

    def setup_and_product(pos, numbers, src, dst, shifts, u) -> torch.Tensor:
        pos = pos.detach().requires_grad_(True)
        e = energy(pos, numbers, src, dst, shifts)
        (gradient,) = torch.autograd.grad(e, pos, create_graph=True)
        return torch.autograd.grad(gradient, pos, u, retain_graph=True)[0]

    def force_call() -> torch.Tensor:
        pos = inputs[0].detach().requires_grad_(True)
        return torch.autograd.grad(energy(pos, *inputs[1:5]), pos)[0]

    force_call()
    _, t_force = best(force_call)
    pos = inputs[0].detach().requires_grad_(True)
    start = time.perf_counter()
    (gradient,) = torch.autograd.grad(energy(pos, *inputs[1:5]), pos, create_graph=True)
    t_setup = time.perf_counter() - start
    reference, t_eager = best(
        lambda: torch.autograd.grad(gradient, pos, inputs[5], retain_graph=True)[0]
    )
    start = time.perf_counter()
    if args.dynamic:
        traced = make_fx(setup_and_product, tracing_mode="symbolic", _allow_non_fake_inputs=True)(
            *inputs
        )
    else:
        traced = make_fx(setup_and_product)(*inputs)
    t_trace = time.perf_counter() - start
    placeholders = [node for node in traced.graph.nodes if node.op == "placeholder"]
    setup, product = split_by_dependence(traced, placeholders[-1])
    saved, t_replay_setup = best(lambda: setup(*inputs[:5]), repeat=2)
    saved_mb = sum(t.numel() * t.element_size() for t in saved if torch.is_tensor(t)) / 1e6
    replayed, t_replay = best(lambda: product(*saved, inputs[5]))
    rows = [
        ("force call (forward + backward)", t_force, None),
        ("eager setup (forward + first backward, create_graph)", t_setup, None),
        ("eager HVP (double backward)", t_eager, 0.0),
        ("make_fx trace of setup + HVP", t_trace, None),
        (f"replayed setup graph ({saved_mb:.0f} MB saved for the products)", t_replay_setup, None),
        ("replayed product graph", t_replay, float((replayed - reference).abs().max())),
    ]
    t_compiled = t_compile = None
    if not args.no_compile:
        start = time.perf_counter()
        if args.dynamic:
            compiled = torch.compile(product, dynamic=True)
            compiled(*saved, inputs[5])
        else:
            from torch._inductor.compile_fx import compile_fx

            compiled = compile_fx(product, [*saved, inputs[5]])
        t_compile = time.perf_counter() - start
        out, t_compiled = best(lambda: compiled(*saved, inputs[5]), repeat=4)
        rows += [
            ("inductor compile of the product graph (with a first call)", t_compile, None),
            ("compiled product graph", t_compiled, float((out - reference).abs().max())),
        ]
        if args.dynamic:  # the same trace and compile on another cell, no recompilation
            more = graph_inputs(model, other, dtype)
            expected = setup_and_product(*more)
            saved_other = setup(*more[:5])
            out, t_other = best(lambda: compiled(*saved_other, more[5]))
            rows.append(
                (
                    f"same compiled graph, {len(other)}-atom cell",
                    t_other,
                    float((out - expected).abs().max()),
                ),
            )
    for name, seconds, error in rows:
        err = "" if error is None else f"  max |H u - eager| = {error:.1e}"
        print(f"{name:<62s} {seconds:8.2f} s{err}")
    n_rows = 3 * n
    fd = 2 * n_rows * t_force
    eager = t_setup + n_rows * t_eager
    print(f"\nfull Hessian, {n_rows} products; phonopy FD = {2 * n_rows} force calls = {fd:.0f} s")
    print(f"  eager:                      {eager:7.0f} s   FD/exact = {fd / eager:.2f}")
    replay = t_trace + t_replay_setup + n_rows * t_replay
    print(f"  traced, replayed:           {replay:7.0f} s   FD/exact = {fd / replay:.2f}")
    if t_compiled is not None:
        first = t_trace + t_compile + t_replay_setup + n_rows * t_compiled
        warm = t_replay_setup + n_rows * t_compiled
        print(f"  compiled, trace + compile:  {first:7.0f} s   FD/exact = {fd / first:.2f}")
        print(f"  compiled, both amortised:   {warm:7.0f} s   FD/exact = {fd / warm:.2f}")


if __name__ == "__main__":
    main()
