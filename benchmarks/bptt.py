"""BPTT workloads: matcalc's generated loops against hand-written NumPy, JAX (lax.scan) and PyTorch.

tanh RNN, LSTM and GRU (the templates of ``matcalc derive --model``), squared error per step,
zero initial states, T = 32, B = 64, D = 32, H = 128, K = 10, float64.  The LSTM's hand
baseline is an expert's fused-gate code (one GEMM per step on [Wf Wi Wa Wo], projections and
parameter gradients over all steps at once); a second row compares with per-gate hand code.
The GRU's expert fuses [Wz Wr] the same way.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

import matcalc
from matcalc.recurrent.models import template

SIZES = dict(T=32, B=64, D=32, H=128, K=10)


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _point(model, rng, T, B, D, H, K):
    p = {"x": rng.standard_normal((T, B, D)), "y": rng.standard_normal((T, B, K)),
         "V": rng.standard_normal((H, K)) / np.sqrt(H), "c": np.zeros((1, K))}
    if model == "rnn":
        p.update(Wx=rng.standard_normal((D, H)) / np.sqrt(D), Wh=rng.standard_normal((H, H)) / np.sqrt(H),
                 b=np.zeros((1, H)))
    else:
        for g in "fiao" if model == "lstm" else "zrn":
            p["W" + g] = rng.standard_normal((H, H)) / np.sqrt(H)
            p["U" + g] = rng.standard_normal((D, H)) / np.sqrt(D)
            p["b" + g] = np.zeros((1, H))
    return p


# ------------------------------------------------------------------ hand-written NumPy
def rnn_by_hand(x, y, Wx, Wh, b, V, c):
    """An expert's BPTT for h_t = tanh(x_t Wx + h_{t-1} Wh + b), loss Σ_t ‖h_t V + c − y_t‖²."""
    T = x.shape[0]
    h = np.zeros((x.shape[1], Wh.shape[0]))
    hs, zs = [h], []
    for t in range(T):
        h = np.tanh(x[t] @ Wx + h @ Wh + b)
        hs.append(h)
        zs.append(h @ V + c - y[t])
    dWx, dWh, db, dV, dc = (np.zeros_like(a) for a in (Wx, Wh, b, V, c))
    dh_next = np.zeros_like(h)
    for t in range(T - 1, -1, -1):
        dz = 2.0 * zs[t]
        dV += hs[t + 1].T @ dz
        dc += dz.sum(axis=0, keepdims=True)
        du = (dz @ V.T + dh_next) * (1.0 - hs[t + 1] ** 2)
        dWx += x[t].T @ du
        dWh += hs[t].T @ du
        db += du.sum(axis=0, keepdims=True)
        dh_next = du @ Wh.T
    return {"Wx": dWx, "Wh": dWh, "b": db, "V": dV, "c": dc}


def lstm_by_hand(x, y, Wf, Uf, bf, Wi, Ui, bi, Wa, Ua, ba, Wo, Uo, bo, V, c):
    """An expert's LSTM BPTT (seed 003's gates, corrected), loss Σ_t ‖h_t V + c − y_t‖²."""
    T, B, H = x.shape[0], x.shape[1], Wf.shape[0]
    h, C = np.zeros((B, H)), np.zeros((B, H))
    cache = []
    for t in range(T):
        f = _sig(h @ Wf + x[t] @ Uf + bf)
        i = _sig(h @ Wi + x[t] @ Ui + bi)
        a = np.tanh(h @ Wa + x[t] @ Ua + ba)
        o = _sig(h @ Wo + x[t] @ Uo + bo)
        C_prev, h_prev = C, h
        C = C * f + i * a
        tC = np.tanh(C)
        h = o * tC
        cache.append((h_prev, C_prev, f, i, a, o, tC, h, h @ V + c - y[t]))
    g = {k: np.zeros_like(v) for k, v in dict(Wf=Wf, Uf=Uf, bf=bf, Wi=Wi, Ui=Ui, bi=bi, Wa=Wa, Ua=Ua, ba=ba,
                                              Wo=Wo, Uo=Uo, bo=bo, V=V, c=c).items()}
    dh_next, dC_next = np.zeros((B, H)), np.zeros((B, H))
    for t in range(T - 1, -1, -1):
        h_prev, C_prev, f, i, a, o, tC, h, z = cache[t]
        dz = 2.0 * z
        g["V"] += h.T @ dz
        g["c"] += dz.sum(axis=0, keepdims=True)
        dh = dz @ V.T + dh_next
        dC = dh * o * (1.0 - tC ** 2) + dC_next
        do = dh * tC * o * (1.0 - o)
        da = dC * i * (1.0 - a ** 2)
        di = dC * a * i * (1.0 - i)
        df = dC * C_prev * f * (1.0 - f)
        for k, du in (("f", df), ("i", di), ("a", da), ("o", do)):
            g["W" + k] += h_prev.T @ du
            g["U" + k] += x[t].T @ du
            g["b" + k] += du.sum(axis=0, keepdims=True)
        dh_next = df @ Wf.T + di @ Wi.T + da @ Wa.T + do @ Wo.T
        dC_next = dC * f
    return g


def lstm_fused_by_hand(x, y, Wf, Uf, bf, Wi, Ui, bi, Wa, Ua, ba, Wo, Uo, bo, V, c):
    """An expert's fused-gate LSTM BPTT: one GEMM per step on [Wf Wi Wa Wo] (forward and
    backward), every input projection, output layer and parameter gradient one GEMM over all
    steps outside the loops."""
    T, B, D = x.shape
    H, K = Wf.shape[0], V.shape[1]
    W = np.concatenate([Wf, Wi, Wa, Wo], axis=1)
    XU = (x.reshape(T * B, D) @ np.concatenate([Uf, Ui, Ua, Uo], axis=1)
          + np.concatenate([bf, bi, ba, bo], axis=1)).reshape(T, B, 4 * H)
    hs = np.zeros((T + 1, B, H))
    C = np.zeros((B, H))
    cache = []
    for t in range(T):
        G = XU[t] + hs[t] @ W
        f, i, o = _sig(G[:, :H]), _sig(G[:, H:2 * H]), _sig(G[:, 3 * H:])
        a = np.tanh(G[:, 2 * H:3 * H])
        C_prev, C = C, C * f + i * a
        tC = np.tanh(C)
        hs[t + 1] = o * tC
        cache.append((C_prev, f, i, a, o, tC))
    Hs = hs[1:].reshape(T * B, H)
    dZ = 2.0 * ((Hs @ V + c).reshape(T, B, K) - y)
    dHout = (dZ.reshape(T * B, K) @ V.T).reshape(T, B, H)
    dG = np.empty((T, B, 4 * H))
    dh_next, dC_next = np.zeros((B, H)), np.zeros((B, H))
    for t in range(T - 1, -1, -1):
        C_prev, f, i, a, o, tC = cache[t]
        dh = dHout[t] + dh_next
        dC = dh * o * (1.0 - tC ** 2) + dC_next
        g = dG[t]
        g[:, :H] = dC * C_prev * f * (1.0 - f)
        g[:, H:2 * H] = dC * a * i * (1.0 - i)
        g[:, 2 * H:3 * H] = dC * i * (1.0 - a ** 2)
        g[:, 3 * H:] = dh * tC * o * (1.0 - o)
        dh_next = g @ W.T
        dC_next = dC * f
    dGf = dG.reshape(T * B, 4 * H)
    gW, gU, gb = hs[:-1].reshape(T * B, H).T @ dGf, x.reshape(T * B, D).T @ dGf, dGf.sum(axis=0, keepdims=True)
    out = {"V": Hs.T @ dZ.reshape(T * B, K), "c": dZ.sum(axis=(0, 1))[None, :]}
    for k, gate in enumerate("fiao"):
        cols = slice(k * H, (k + 1) * H)
        out["W" + gate], out["U" + gate], out["b" + gate] = gW[:, cols], gU[:, cols], gb[:, cols]
    return out


def gru_fused_by_hand(x, y, Wz, Uz, bz, Wr, Ur, br, Wn, Un, bn, V, c):
    """An expert's fused-gate GRU BPTT (h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}, n = tanh(x Un + (r ⊙ h) Wn
    + bn)): one GEMM per step on [Wz Wr] (forward and backward) besides the candidate's (r ⊙ h) Wn;
    input projections, output layer and parameter gradients one GEMM over all steps."""
    T, B, D = x.shape
    H, K = Wz.shape[0], V.shape[1]
    Wzr = np.concatenate([Wz, Wr], axis=1)
    XU = (x.reshape(T * B, D) @ np.concatenate([Uz, Ur, Un], axis=1)
          + np.concatenate([bz, br, bn], axis=1)).reshape(T, B, 3 * H)
    hs = np.zeros((T + 1, B, H))
    rhs = np.empty((T, B, H))
    cache = []
    for t in range(T):
        h = hs[t]
        G = XU[t, :, :2 * H] + h @ Wzr
        z, r = _sig(G[:, :H]), _sig(G[:, H:])
        np.multiply(r, h, out=rhs[t])
        n = np.tanh(XU[t, :, 2 * H:] + rhs[t] @ Wn)
        hs[t + 1] = n + z * (h - n)
        cache.append((z, r, n))
    Hs = hs[1:].reshape(T * B, H)
    dZ = 2.0 * ((Hs @ V + c).reshape(T, B, K) - y)
    dHout = (dZ.reshape(T * B, K) @ V.T).reshape(T, B, H)
    dG = np.empty((T, B, 3 * H))
    dh_next = np.zeros((B, H))
    WzrT, WnT = Wzr.T, Wn.T
    for t in range(T - 1, -1, -1):
        z, r, n = cache[t]
        h = hs[t]
        dh = dHout[t] + dh_next
        g = dG[t]
        g[:, 2 * H:] = dh * (1.0 - z) * (1.0 - n * n)
        drh = g[:, 2 * H:] @ WnT
        g[:, :H] = dh * (h - n) * z * (1.0 - z)
        g[:, H:2 * H] = drh * h * r * (1.0 - r)
        dh_next = dh * z + drh * r + g[:, :2 * H] @ WzrT
    dGf = dG.reshape(T * B, 3 * H)
    gWzr = hs[:-1].reshape(T * B, H).T @ dGf[:, :2 * H]
    gWn = rhs.reshape(T * B, H).T @ dGf[:, 2 * H:]
    gU, gb = x.reshape(T * B, D).T @ dGf, dGf.sum(axis=0, keepdims=True)
    out = {"V": Hs.T @ dZ.reshape(T * B, K), "c": dZ.sum(axis=(0, 1))[None, :],
           "Wz": gWzr[:, :H], "Wr": gWzr[:, H:], "Wn": gWn}
    for k, gate in enumerate("zrn"):
        cols = slice(k * H, (k + 1) * H)
        out["U" + gate], out["b" + gate] = gU[:, cols], gb[:, cols]
    return out


def gru_forward(x, y, Wz, Uz, bz, Wr, Ur, br, Wn, Un, bn, V, c):
    h = np.zeros((x.shape[1], Wz.shape[0]))
    total = 0.0
    for t in range(x.shape[0]):
        z = _sig(x[t] @ Uz + h @ Wz + bz)
        r = _sig(x[t] @ Ur + h @ Wr + br)
        n = np.tanh(x[t] @ Un + (r * h) @ Wn + bn)
        h = (1.0 - z) * n + z * h
        q = h @ V + c - y[t]
        total += float(np.vdot(q, q))
    return total


def rnn_forward(x, y, Wx, Wh, b, V, c):
    h, total = np.zeros((x.shape[1], Wh.shape[0])), 0.0
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ Wx + h @ Wh + b)
        r = h @ V + c - y[t]
        total += float(np.vdot(r, r))
    return total


def lstm_forward(x, y, Wf, Uf, bf, Wi, Ui, bi, Wa, Ua, ba, Wo, Uo, bo, V, c):
    h = C = np.zeros((x.shape[1], Wf.shape[0]))
    total = 0.0
    for t in range(x.shape[0]):
        f = _sig(h @ Wf + x[t] @ Uf + bf)
        i = _sig(h @ Wi + x[t] @ Ui + bi)
        a = np.tanh(h @ Wa + x[t] @ Ua + ba)
        o = _sig(h @ Wo + x[t] @ Uo + bo)
        C = C * f + i * a
        h = o * np.tanh(C)
        r = h @ V + c - y[t]
        total += float(np.vdot(r, r))
    return total


# ------------------------------------------------------------------ JAX and PyTorch
def _jax_loss(model, jax):
    jnp = jax.numpy

    def cell(p, carry, inputs):
        x, y = inputs
        if model == "rnn":
            h = jnp.tanh(x @ p["Wx"] + carry[0] @ p["Wh"] + p["b"])
            new = (h,)
        elif model == "gru":
            h = carry[0]
            z = jax.nn.sigmoid(x @ p["Uz"] + h @ p["Wz"] + p["bz"])
            r = jax.nn.sigmoid(x @ p["Ur"] + h @ p["Wr"] + p["br"])
            n = jnp.tanh(x @ p["Un"] + (r * h) @ p["Wn"] + p["bn"])
            h = (1.0 - z) * n + z * h
            new = (h,)
        else:
            h, C = carry
            f = jax.nn.sigmoid(h @ p["Wf"] + x @ p["Uf"] + p["bf"])
            i = jax.nn.sigmoid(h @ p["Wi"] + x @ p["Ui"] + p["bi"])
            a = jnp.tanh(h @ p["Wa"] + x @ p["Ua"] + p["ba"])
            o = jax.nn.sigmoid(h @ p["Wo"] + x @ p["Uo"] + p["bo"])
            C = C * f + i * a
            h = o * jnp.tanh(C)
            new = (h, C)
        return new, jnp.sum((h @ p["V"] + p["c"] - y) ** 2)

    def loss(p, x, y):
        B, H = x.shape[1], p["V"].shape[0]
        init = (jnp.zeros((B, H)),) if model != "lstm" else (jnp.zeros((B, H)), jnp.zeros((B, H)))
        _, losses = jax.lax.scan(lambda carry, xy: cell(p, carry, xy), init, (x, y))
        return jnp.sum(losses)
    return loss


def _torch_loss(model, torch):
    def loss(p, x, y):
        B, H = x.shape[1], p["V"].shape[0]
        h = torch.zeros((B, H), dtype=x.dtype)
        C = torch.zeros((B, H), dtype=x.dtype)
        total = 0.0
        for t in range(x.shape[0]):
            if model == "rnn":
                h = torch.tanh(x[t] @ p["Wx"] + h @ p["Wh"] + p["b"])
            elif model == "gru":
                z = torch.sigmoid(x[t] @ p["Uz"] + h @ p["Wz"] + p["bz"])
                r = torch.sigmoid(x[t] @ p["Ur"] + h @ p["Wr"] + p["br"])
                n = torch.tanh(x[t] @ p["Un"] + (r * h) @ p["Wn"] + p["bn"])
                h = (1.0 - z) * n + z * h
            else:
                f = torch.sigmoid(h @ p["Wf"] + x[t] @ p["Uf"] + p["bf"])
                i = torch.sigmoid(h @ p["Wi"] + x[t] @ p["Ui"] + p["bi"])
                a = torch.tanh(h @ p["Wa"] + x[t] @ p["Ua"] + p["ba"])
                o = torch.sigmoid(h @ p["Wo"] + x[t] @ p["Uo"] + p["bo"])
                C = C * f + i * a
                h = o * torch.tanh(C)
            total = total + ((h @ p["V"] + p["c"] - y[t]) ** 2).sum()
        return total
    return loss


def _paired(median_times) -> dict:
    """generated / hand per interleaved round of the last ``median_times`` call, by CPU and by
    wall time: {clock: (median, lower quartile, upper quartile)}; and the generated code's
    CPU / wall time (above 1: its BLAS calls ran on more than one thread)."""
    samples = getattr(median_times, "samples", {})
    out = {}
    for k, clock in enumerate(("cpu", "wall")):
        ratios = sorted(g[k] / h[k] for g, h in zip(samples.get("generated", []), samples.get("hand", [])) if h[k] > 0)
        if ratios:
            q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
            out[clock] = (statistics.median(ratios), q[0], q[2])
    rounds = samples.get("generated", [])
    if rounds:
        out["cpu_per_wall"] = sorted(c / w for c, w in rounds)[len(rounds) // 2]
    return out


def rows(repeats, median_times, jax=None, torch=None, sizes=None):
    sizes = sizes or SIZES
    out = []
    for model in ("rnn", "lstm", "lstm, per-gate hand", "gru"):
        per_gate = model.endswith("hand")
        model = model.split(",")[0]
        rng = np.random.default_rng(0)
        point = _point(model, rng, **sizes)
        expr, shapes, labels = template(model, "squared", "zeros")
        t0 = time.perf_counter()
        d = matcalc.derive(expr, shapes=shapes, sum_to_one=labels)
        generated = d.to_numpy()
        derive_s = time.perf_counter() - t0
        hand = rnn_by_hand if model == "rnn" else lstm_by_hand if per_gate else \
            gru_fused_by_hand if model == "gru" else lstm_fused_by_hand
        got, want = generated(**point), hand(**point)
        for k in want:
            assert np.allclose(got[k], want[k], rtol=1e-9, atol=1e-9), f"{model}: generated {k} disagrees"
        forward = {"rnn": rnn_forward, "lstm": lstm_forward, "gru": gru_forward}[model]
        fns = {"generated": lambda: generated(**point),
               "hand": lambda: hand(**point),
               "forward": lambda: forward(**point)}
        times = median_times(fns, repeats)   # the NumPy implementations, interleaved
        times["paired"] = _paired(median_times)
        params = {k: v for k, v in point.items() if k not in ("x", "y")}
        if per_gate:
            out.append(("lstm BPTT, per-gate hand (h Wf, h Wi, … separately)", derive_s, times))
            continue
        if jax is not None:
            jnp = jax.numpy
            grad = jax.jit(jax.grad(_jax_loss(model, jax)))
            pj = {k: jnp.asarray(v) for k, v in params.items()}
            xj, yj = jnp.asarray(point["x"]), jnp.asarray(point["y"])
            gj = grad(pj, xj, yj)
            assert all(np.allclose(np.asarray(gj[k]), want[k], rtol=1e-8, atol=1e-8) for k in want)
            times.update(median_times({"jax": lambda: jax.block_until_ready(grad(pj, xj, yj))}, repeats))
        if torch is not None:
            tloss = _torch_loss(model, torch)
            xt, yt = torch.from_numpy(point["x"]), torch.from_numpy(point["y"])

            def run():
                pt = {k: torch.from_numpy(v).requires_grad_() for k, v in params.items()}
                tloss(pt, xt, yt).backward()
                return pt
            pt = run()
            assert all(np.allclose(pt[k].grad.numpy(), want[k], rtol=1e-8, atol=1e-8) for k in want)
            times.update(median_times({"torch": run}, repeats))
        s = sizes
        expert = " (fused-gate expert)" if model in ("lstm", "gru") else ""
        out.append((f"{model} BPTT T={s['T']} B={s['B']} D={s['D']} H={s['H']}{expert}", derive_s, times))
    return out
