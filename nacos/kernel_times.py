"""Where a built network's time goes: its kernels, each timed alone, against the whole.

A tuning record times each kernel alone, hot in cache; the network runs them one after another,
with the VM's calls, allocations and copies between them and a colder cache. The VM's instrument
hook (`VirtualMachine.set_instrument`, called before and after every call) finds each call of
one run with its real arguments; each is then timed alone, called again and again with them.
The kernels are not timed in place: with a Python hook between calls the thread pool's workers
fall asleep, and MobileNetV2's kernels summed 43 ms in place against 34 ms end to end.
"Outside the kernels" is the end-to-end median minus the kernels' sum: VM overhead, allocation,
and what a kernel loses to a cold cache in the network. Measured on MobileNetV2 (224x224, 2
threads, the shipped x86 records): 17.2 ms end to end, 12.0 ms in its 54 kernel calls, 5.2 ms
(30 %) outside them, with 127 VM builtin calls; the compiled VM (`exec_mode="compiled"`) ran
16.7 ms against the bytecode VM's 16.4 ms in one process, so the VM's dispatch is not the gap.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

BUILTIN_PREFIX = "vm.builtin."


@dataclass
class KernelTimes:
    end_to_end_ms: float  # median of whole-network runs
    kernels_ms: float  # sum over the calls of one run of each call's median time alone
    calls: int  # kernel calls per run
    builtin_calls: int  # the VM's own builtin calls per run (allocation, shape checks)
    per_kernel_ms: dict[str, float] = field(default_factory=dict)  # name -> its calls' times summed

    @property
    def outside_kernels_ms(self) -> float:
        return self.end_to_end_ms - self.kernels_ms

    def heaviest(self, n: int = 10) -> list[tuple[str, float]]:
        return sorted(self.per_kernel_ms.items(), key=lambda kv: -kv[1])[:n]


def measure(vm, inputs: list[np.ndarray], repeat: int = 30, number: int = 10, entry: str = "main") -> KernelTimes:
    """The network's median time and every kernel call's median time alone (`number` calls per
    sample, `repeat` samples); the hook is removed afterwards."""
    import tvm

    from .compiler import time_ms

    end_to_end = time_ms(vm, inputs, repeat=repeat)["median_ms"]
    args = [tvm.runtime.tensor(x) for x in inputs]
    calls: list[tuple[str, object, tuple]] = []
    builtins = 0

    def instrument(func, symbol, before, ret, *call_args):
        nonlocal builtins
        if before:
            if symbol.startswith(BUILTIN_PREFIX):
                builtins += 1
            else:
                calls.append((symbol, func, call_args))  # the arguments stay alive with the list
        return 0  # VMInstrumentReturnKind.NO_OP: run the call as usual

    vm.set_instrument(instrument)
    try:
        vm[entry](*args)
    finally:
        vm.set_instrument(None)
    per_kernel: dict[str, float] = defaultdict(float)
    for symbol, func, call_args in calls:
        per_kernel[symbol] += alone_ms(func, call_args, repeat=max(3, repeat // 5), number=number)
    return KernelTimes(end_to_end_ms=end_to_end, kernels_ms=sum(per_kernel.values()), calls=len(calls),
                       builtin_calls=builtins, per_kernel_ms=dict(per_kernel))


def alone_ms(func, args: tuple, repeat: int, number: int) -> float:
    """Median over `repeat` samples of one call's time, each sample `number` calls in a row."""
    func(*args)  # warm the cache and the thread pool
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func(*args)
        samples.append((time.perf_counter() - start) / number)
    return float(np.median(samples)) * 1e3
