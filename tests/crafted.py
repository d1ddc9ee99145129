"""Issue 10's crafted shapes, built one way for the tests and the benchmark: inputs made to make a
naive reader quadratic or to believe its length fields."""

from __future__ import annotations

from hprofbuilder import Heap


def mismatched(n: int) -> bytes:
    """``n`` classes whose instances carry 12 bytes of data where their fields say 4."""
    h = Heap()
    obj = h.klass("java.lang.Object")
    for i in range(n):
        h.instance(h.klass(f"m.C{i}", obj, (("f", 10),), 4), bytes(12))
    return h.bytes()


def chain(n: int, every: bool) -> bytes:
    """A superclass chain ``n`` deep, one reference field per level; an instance of the deepest
    class (``every``: of every class, with all the fields of its chain)."""
    h = Heap()
    prev = h.klass("java.lang.Object")
    for i in range(n):
        prev = h.klass(f"d.C{i}", prev, (("r", 2),), 8)
        if every or i == n - 1:
            h.instance(prev, bytes(8 * (i + 1)) if every else bytes(8))
    return h.bytes()


def cycle() -> bytes:
    """evil.A extends evil.B extends evil.A."""
    h = Heap()
    a, b = h.new_id(), h.new_id()
    h.klass("evil.A", b, (("f", 10),), 4, cid=a)
    h.klass("evil.B", a, (("g", 10),), 4, cid=b)
    h.instance(a, bytes(8))
    return h.bytes()


def array_classes(n: int) -> bytes:
    """``n`` distinct object-array classes, one empty array of each, none named."""
    h = Heap()
    h.klass("java.lang.Object")
    for i in range(n):
        h.obj_array(0x10000000 + 16 * i, [])
    return h.bytes()


def buckets(n: int) -> bytes:
    """A debug=1 goroutine profile with ``n`` buckets, each its own stack."""
    out = [f"goroutine profile: total {n}"]
    for i in range(n):
        out += [f"1 @ 0x{0x400000 + i:x} 0x47f4ce", f"#\t0x{0x400000 + i:x}\tmain.worker{i}+0x1a\t/src/main.go:{i + 1}",
                "#\t0x47f4cd\truntime.chanrecv1+0x11\t/usr/local/go/src/runtime/chan.go:489", ""]
    return ("\n".join(out) + "\n").encode()
