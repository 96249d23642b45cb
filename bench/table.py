#!/usr/bin/python3
"""`make bench`: dalenet vs PyTorch on the same work, measured in one run, as one table.

Each workload runs in its own process (bench/workloads.cpp for dalenet, bench/torch_workloads.py
for PyTorch) so its peak resident memory (getrusage of the child) is its own. Times are medians
over epochs or repeats, excluding data loading. GFLOP/s count the dense multiply-adds of the work
(x2); "of peak" divides by the best GEMM rate measured in this same run (Eigen's or the library's
own GEMM path through dalenet_bench, or OpenBLAS through torch.mm at every thread pair). The PyTorch peer is Debian's python3-torch on OpenBLAS (libopenblas0-pthread),
never the reference BLAS: the script refuses to run otherwise.

"allocations per step": heap allocations per steady-state training batch or PGD step of dalenet
(counted in workloads.cpp by interposing malloc; inference rows do not count them).

Usage: bench/table.py [--build build] [--threads N] [--data DIR] [--markdown FILE] [--quick]
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"  # Debian's python, where python3-torch lives


def run_measured(cmd, work, env=None):
    """Runs cmd in a child; returns (its last JSON line, its peak RSS in MiB from wait4 on that
    child alone). stdout/stderr go to files in `work`; `env` adds environment variables (a value of
    None removes the variable)."""
    out_path, err_path = os.path.join(work, "out"), os.path.join(work, "err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        child_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}  # None: unset
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=child_env)
        _, status, usage = os.wait4(p.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed ({code}):\n{open(err_path).read()[-2000:]}")
    return json.loads(open(out_path).read().strip().splitlines()[-1]), usage.ru_maxrss / 1024.0


CORETYPE = {}  # {"OPENBLAS_CORETYPE": kernel} for the peer, or {} for OpenBLAS's own detection


def blas_env(threads):
    return {"OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), **CORETYPE}


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def choose_coretype(pt, data, threads, work, forced=None):
    """OpenBLAS picks its GEMM kernel from the CPU model; on a CPU newer than its tables (this
    project's Intel machine, family 6 model 207, with Debian's OpenBLAS 0.3.21) it falls back to
    "Prescott" (SSE3) and runs 4-7x below its AVX-512 kernel. The peer gets the fastest of OpenBLAS's
    own choice, the kernels the CPU's flags support and a kernel named by the caller's
    OPENBLAS_CORETYPE (some machines set one for every process), by torch.mm's GEMM rate at 1 torch
    thread; `forced` (--peer-coretype) skips the choice. Returns (detected core, chosen core, rates)."""
    if forced:
        return None, forced, {}
    flags = cpu_flags()
    candidates = [None]
    if {"avx2", "fma"} <= flags:
        candidates += ["Haswell"]
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= flags:
        candidates += ["SkylakeX"]
    caller = os.environ.get("OPENBLAS_CORETYPE")
    if caller and caller not in candidates:
        candidates += [caller]
    rates, detected = {}, None
    for c in candidates:
        # None: no OPENBLAS_CORETYPE in the child at all, so that OpenBLAS detects the CPU itself.
        env = {**blas_env(threads), "OPENBLAS_VERBOSE": "2", "OPENBLAS_CORETYPE": c}
        q, _ = run_measured(pt + ["gemm", "--data", data, "--threads", "1"], work, env)
        core = re.search(r"Core: (\S+)", open(os.path.join(work, "err")).read())
        if c is None and core:
            detected = core.group(1)
        rates[c or "auto"] = max(q["gflops"].values())
    best = max(rates, key=rates.get)
    return detected, (detected if best == "auto" else best), rates


def gemm_rates(build, threads):
    # Medians of 5 repetitions of >= 1 s each, the repetitions of all kernels run in a random
    # interleaved order: single short runs of these kernels varied by 2x on the shared 2-vCPU
    # machine, and with each kernel's repetitions back to back a burst of noise from the host
    # slowed one kernel's median alone (the dense pass, whose work does not depend on the silent
    # fraction, came out at 1.46-3.90 ms across the silent fractions of one run).
    out = subprocess.run([f"{build}/bench/dalenet_bench", "--benchmark_filter=BM_Gemm|BM_SilentProjection",
                          "--benchmark_min_time=1", "--benchmark_repetitions=5",
                          "--benchmark_enable_random_interleaving=true",
                          "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": str(threads)}).stdout
    res = [b for b in json.loads(out)["benchmarks"] if b.get("aggregate_name") == "median"]
    gemm = {b["run_name"]: b["GFLOP/s"] for b in res if b["name"].startswith("BM_Gemm")}
    silent = {}  # (batch, silent %) -> {(kernel, pass): ms}
    for b in res:
        m = re.match(r"BM_SilentProjection/(\d+)/(\d)/(\d)/(\d+)/", b["run_name"])
        if m:
            silent.setdefault((int(m.group(4)), int(m.group(1))), {})[
                ("sparse" if m.group(2) == "1" else "dense",
                 "gradient" if m.group(3) == "1" else "forward")] = b["real_time"] / 1e6
    return gemm, silent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--data", default=os.environ.get("DALENET_DATA", os.path.expanduser("~/.cache/dalenet")))
    ap.add_argument("--markdown", help="also write the tables as Markdown to this file")
    ap.add_argument("--peer-coretype", metavar="KERNEL",
                    help="run the peer on this OpenBLAS kernel (OPENBLAS_CORETYPE, e.g. SkylakeX) instead of the "
                         "fastest one measured")
    ap.add_argument("--quick", action="store_true", help="1 epoch / 1 repeat per workload (a smoke run)")
    a = ap.parse_args()
    # The PyTorch peer rebuilds model files with this build's Python module (dalenet.to_torch).
    os.environ["PYTHONPATH"] = os.path.join(os.path.abspath(a.build), "python") + (
        os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    work = tempfile.mkdtemp(prefix="dalenet-bench-")
    try:
        torch_cfg = subprocess.run([PY, "-c", "import torch; print(torch.__config__.show())"],
                                   capture_output=True, text=True)
        if torch_cfg.returncode != 0:
            sys.exit("bench: python3-torch missing (run: bash scripts/install-deps.sh --with-torch)")
        libs = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        if "libopenblas" not in libs:
            sys.exit("bench: the PyTorch peer would run on the reference BLAS; install libopenblas0-pthread "
                     "(scripts/install-deps.sh --with-torch)")
        E = "1" if a.quick else "3"
        R = "1" if a.quick else "3"
        T = str(a.threads)
        dn = [f"{a.build}/bench/dalenet_workloads"]
        pt = [PY, os.path.join(HERE, "torch_workloads.py")]
        cfg = lambda name: os.path.join(ROOT, "experiments", name)  # noqa: E731
        print("== OpenBLAS kernel for the peer", file=sys.stderr)
        detected, chosen, core_rates = choose_coretype(pt, a.data, a.threads, work, a.peer_coretype)
        # None unsets a caller's OPENBLAS_CORETYPE in the peer's processes: OpenBLAS's own choice won.
        CORETYPE["OPENBLAS_CORETYPE"] = chosen if chosen != detected else None
        print(f"== GEMM peak and sparse kernels (dalenet_bench, {T} threads)", file=sys.stderr)
        gemm, silent = gemm_rates(a.build, a.threads)
        peak = max(gemm.values())
        peer_gemm = {}
        for t in range(1, a.threads + 1):
            for b in range(1, a.threads + 1):
                q, _ = run_measured(pt + ["gemm", "--data", a.data, "--threads", str(t)], work, blas_env(b))
                for shape, rate in q["gflops"].items():
                    peer_gemm[f"{shape} ({t}/{b})"] = rate
        # The machine's peak is the best GEMM rate either library reached in this run.
        peak = max(peak, max(peer_gemm.values()))
        rows = []

        def row(name, dcmd, pcmd):
            print(f"== {name}: dalenet", file=sys.stderr)
            d, dm = run_measured(dcmd, work)
            print(f"== {name}: PyTorch", file=sys.stderr)
            # The same-threads peer: torch.set_num_threads(T) and OpenBLAS capped at T too (its
            # own pool ignores set_num_threads).
            p, pm = run_measured(pcmd, work, blas_env(a.threads))
            ds, ps = statistics.median(d["seconds"]), statistics.median(p["seconds"])
            # PyTorch's best configuration on this machine: every (torch threads, OpenBLAS
            # threads) pair up to T. With both at T, OpenBLAS's spinning pool competes with torch's
            # own threads, and PyTorch is often faster with fewer of one or the other.
            best_s, best_t = ps, (a.threads, a.threads)
            assert pcmd[-2] == "--threads"
            for t in range(1, a.threads + 1):
                for b in range(1, a.threads + 1):
                    if (t, b) == (a.threads, a.threads):
                        continue
                    print(f"== {name}: PyTorch, torch {t} / OpenBLAS {b} thread(s)", file=sys.stderr)
                    q, _ = run_measured(pcmd[:-1] + [str(t)], work, blas_env(b))
                    if statistics.median(q["seconds"]) < best_s:
                        best_s, best_t = statistics.median(q["seconds"]), (t, b)
            rows.append({"workload": name, "dalenet_s": ds, "pytorch_s": ps, "ratio": ds / ps,
                         "pytorch_best_s": best_s, "pytorch_best_threads": best_t, "ratio_best": ds / best_s,
                         "gflops": d["flop"] / ds / 1e9, "gflops_pytorch": d["flop"] / ps / 1e9,
                         "of_peak": d["flop"] / ds / 1e9 / peak, "dalenet_mib": dm, "pytorch_mib": pm,
                         "allocs": d.get("allocations_per_batch"),
                         "check": {k: (d.get(k), p.get(k)) for k in ("test_accuracy", "robust_accuracy") if k in d}})

        bp_model = os.path.join(work, "bp", "model.safetensors")
        bio_model = os.path.join(work, "bio", "model.safetensors")
        row("BP epoch 784-1000-10, batch 128",
            dn + ["bp_epoch", "--config", cfg("bp_mnist.toml"), "--epochs", E, "--threads", T, "--out",
                  os.path.join(work, "bp")],
            pt + ["bp_epoch", "--data", a.data, "--epochs", E, "--threads", T])
        row("bio-rule epoch N_E=1000, batch 100",
            dn + ["bio_epoch", "--config", cfg("bio_mnist.toml"), "--epochs", "1" if a.quick else "2", "--threads",
                  T, "--out", os.path.join(work, "bio")],
            pt + ["bio_epoch", "--data", a.data, "--epochs", "1" if a.quick else "2", "--threads", T])
        for label, model in [("BP", bp_model), ("bio", bio_model)]:
            row(f"PGD-100 on 1000 images, {label} model",
                dn + ["pgd", "--model", model, "--repeats", R, "--threads", T],
                pt + ["pgd", "--data", a.data, "--model", model, "--repeats", R, "--threads", T])
            row(f"inference 10 000 images, {label} model",
                dn + ["inference", "--model", model, "--repeats", R, "--threads", T],
                pt + ["inference", "--data", a.data, "--model", model, "--repeats", R, "--threads", T])
        # The BP model's PGD row runs the incremental ReLU path (src/eval/relu_iterates.hpp); the
        # same attack on dalenet's dense path (a full forward and backward pass per step, as the
        # peer runs it) is measured too, so the table shows what each part of the ratio comes from.
        print("== PGD-100, BP model: dalenet's dense path", file=sys.stderr)
        dense_pgd, _ = run_measured(dn + ["pgd", "--model", bp_model, "--repeats", R, "--threads", T,
                                          "--dense-iterates"], work)
        pgd_bp = next(r for r in rows if r["workload"] == "PGD-100 on 1000 images, BP model")
        dense_pgd_s = statistics.median(dense_pgd["seconds"])
        # The whole attack ladder on the bio model over the MNIST grid: the carried schedule against
        # the exhaustive one (AttackSchedule), same work otherwise, same process kind.
        print("== full attack of the bio model: carried vs exhaustive schedule", file=sys.stderr)
        sched, _ = run_measured(dn + ["attack_schedule", "--model", bio_model, "--source", bp_model, "--n",
                                      "100" if a.quick else "500", "--square-queries", "500" if a.quick else "5000",
                                      "--threads", T], work)
        print("== Square attack on the bio model: incremental candidates vs a full pass per query", file=sys.stderr)
        square, _ = run_measured(dn + ["square_paths", "--model", bio_model, "--n", "100" if a.quick else "500",
                                       "--square-queries", "500" if a.quick else "5000", "--threads", T], work)
        # Thread scaling of dalenet itself: 1 thread vs the run's thread count, same work.
        scaling = []
        if a.threads > 1:
            for label, w, extra in [("inference, BP", "inference", ["--model", bp_model, "--repeats", R]),
                                    ("PGD-100, BP", "pgd", ["--model", bp_model, "--repeats", R])]:
                print(f"== thread scaling: {label}", file=sys.stderr)
                one, _ = run_measured(dn + [w] + extra + ["--threads", "1"], work)
                many, _ = run_measured(dn + [w] + extra + ["--threads", T], work)
                scaling.append((label, statistics.median(one["seconds"]), statistics.median(many["seconds"]),
                                one.get("test_accuracy", one.get("robust_accuracy")),
                                many.get("test_accuracy", many.get("robust_accuracy"))))

        lines = []
        w = lines.append
        w(f"dalenet vs PyTorch (Debian python3-torch on OpenBLAS), {T} threads (PyTorch s: torch and OpenBLAS at "
          f"{T} threads; *best*: its fastest of every torch/OpenBLAS thread pair up to {T}), medians over "
          f"{'1' if a.quick else '3'} epochs/repeats (bio: {'1' if a.quick else '2'} epochs); "
          f"GEMM peak {peak:.0f} GFLOP/s (the best GEMM rate of Eigen, dalenet's GEMM path or OpenBLAS in this run)")
        w("")
        w("| workload | dalenet s | PyTorch s | ratio | PyTorch best s (torch/BLAS threads) | ratio to best | GFLOP/s | "
          "PyTorch GFLOP/s | of peak | peak MiB dalenet | peak MiB PyTorch | dalenet allocations per step | "
          "check (dalenet / PyTorch) |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in rows:
            chk = "; ".join(f"{k} {v[0]:.4f} / {v[1]:.4f}" for k, v in r["check"].items() if v[0] is not None and v[1] is not None)
            w(f"| {r['workload']} | {r['dalenet_s']:.3f} | {r['pytorch_s']:.3f} | {r['ratio']:.2f} | "
              f"{r['pytorch_best_s']:.3f} ({r['pytorch_best_threads'][0]}/{r['pytorch_best_threads'][1]}) | "
              f"**{r['ratio_best']:.2f}** | {r['gflops']:.1f} | "
              f"{r['gflops_pytorch']:.1f} | {100 * r['of_peak']:.0f} % | {r['dalenet_mib']:.0f} | {r['pytorch_mib']:.0f} | "
              f"{'–' if r['allocs'] is None else format(r['allocs'], '.0f')} | {chk} |")
        w("")
        w(f"PGD-100 on the BP model, dalenet's dense path (`dalenet_workloads pgd --dense-iterates`: a full "
          f"forward and backward pass per step, as the peer does): {dense_pgd_s:.3f} s, ratio to PyTorch's best "
          f"{dense_pgd_s / pgd_bp['pytorch_best_s']:.2f}, robust_accuracy {dense_pgd.get('robust_accuracy', float('nan')):.4f}; "
          f"the incremental path (the row above) takes {pgd_bp['dalenet_s'] / dense_pgd_s:.2f} of its time")
        w("")
        sc, se = sched["seconds_carried"], sched["seconds_exhaustive"]
        w(f"Full attack of the bio model (`dalenet_workloads attack_schedule`: PGD-CE and PGD-margin 100 steps × 5 "
          f"restarts, FGSM, transfer from the BP model, Gaussian, Square {'500' if a.quick else '5000'} queries, "
          f"salt-and-pepper, the convergence check; MNIST ε grid {sched['eps']}; {sched['n']} stratified test images): "
          f"carried schedule {sc:.1f} s, exhaustive {se:.1f} s, ratio **{sc / se:.2f}**; examples attacked "
          f"{sched['examples_attacked_carried']} vs {sched['examples_attacked_exhaustive']}; per-example robust masks "
          f"{'identical' if sched['same_masks'] else 'DIFFERENT'} at every ε; robust accuracy "
          + ", ".join(f"{e:g}: {100 * r:.1f} %" for e, r in zip(sched["eps"], sched["robust_accuracy_carried"])))
        w("")
        w(f"Square attack on the bio model (`dalenet_workloads square_paths`, {'500' if a.quick else '5000'} queries, "
          f"{square['n']} stratified MNIST test images): candidates through PatchLogits (the window's columns of the "
          f"first projection, then the rest of the network) vs a full forward pass per query: "
          + ", ".join(f"ε {e:g}: {si:.1f} s vs {sf:.1f} s (**{si / sf:.2f}**), robust {ri} vs {rf}"
                      for e, si, sf, ri, rf in zip(square["eps"], square["seconds_incremental"],
                                                   square["seconds_full_pass"], square["robust_incremental"],
                                                   square["robust_full_pass"]))
          + f"; robust examples {'identical' if square['same_robust'] else 'differ where margins tie within rounding'}")
        w("")
        caller = os.environ.get("OPENBLAS_CORETYPE")
        peer_kernel = chosen or "OpenBLAS's own choice"
        w(f"OpenBLAS kernel of the peer: {peer_kernel} (OpenBLAS's own detection: "
          f"{detected or 'not probed'}; "
          + (f"the caller's OPENBLAS_CORETYPE={caller} was a candidate; " if caller and not a.peer_coretype else "") +
          "torch.mm GEMM rate by kernel, best shape, 1 torch thread: " +
          (", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in core_rates.items()) or "not probed: --peer-coretype") + ")")
        w("")
        w("GEMM of the peer (torch.mm on OpenBLAS, torch/BLAS threads): " + ", ".join(
            f"{k}: {v:.1f} GFLOP/s" for k, v in peer_gemm.items()))
        w("")
        w("GEMM (dalenet_bench; m/k/n, threads first; Eigen: Eigen's `C = A * B`; dalenet: the library's own "
          "path, split_rows_product, dalenet's kernel on AVX-512 builds): " + ", ".join(
              f"{'dalenet' if k.startswith('BM_GemmLibrary') else 'Eigen'} "
              f"{k.replace('BM_GemmLibrary/', '').replace('BM_Gemm/', '').replace('/real_time', '')}: "
              f"{v:.1f} GFLOP/s" for k, v in sorted(gemm.items())))
        w("")
        w("Sparse vs dense execution of a 784 -> 2000 log-normalised projection (the 2000 -> 10 output projection "
          "dense in both), forward alone and forward + input gradient, at batch 100 (a training batch) and "
          "1000 (the batch of evaluate, logits_for and the attacks, the passes that run sparse) (ms per pass, "
          "median of 5 repetitions run in a random interleaved order; dalenet_bench BM_SilentProjection):")
        w("")
        w("| batch | silent % | forward: dense ms | sparse ms | speed-up | forward + gradient: dense ms | sparse ms | speed-up |")
        w("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for batch, s in sorted(silent):
            v = silent[(batch, s)]
            cells = []
            for pass_ in ("forward", "gradient"):
                dn_, sp_ = v[("dense", pass_)], v[("sparse", pass_)]
                cells.append(f"{dn_:.2f} | {sp_:.2f} | {dn_ / sp_:.1f}×")
            w(f"| {batch} | {s} | " + " | ".join(cells) + " |")
        if scaling:
            w("")
            w(f"Thread scaling (dalenet): | workload | 1 thread s | {T} threads s | speed-up | same result |")
            w("|---|---:|---:|---:|---|")
            for label, s1, sn, r1, rn in scaling:
                w(f"| {label} | {s1:.3f} | {sn:.3f} | {s1 / sn:.2f}× | {'yes' if r1 == rn else 'NO'} |")
        text = "\n".join(lines)
        print(text)
        if a.markdown:
            tmp = a.markdown + ".tmp"
            with open(tmp, "w") as f:
                f.write(text + "\n")
            os.replace(tmp, a.markdown)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
