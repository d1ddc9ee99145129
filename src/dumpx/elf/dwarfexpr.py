"""A bounded DWARF expression evaluator for CFA rules and variable locations.

It never loops more than ``MAX_STEPS`` operations and never grows its stack past ``MAX_STACK``;
what it cannot know (an unrecovered register, uncaptured memory) is reported as ``Unknown``
with the reason, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_STEPS = 10_000
MAX_STACK = 1_000
M64 = (1 << 64) - 1


class Unknown(Exception):
    """The expression needs something the dump does not hold; ``reason`` says what."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass
class Location:
    kind: str            # "memory", "register", "value", "implicit", "optimized out"
    value: int | bytes | None = None
    partial: bool = False


def _leb(b: bytes, pos: int, signed: bool) -> tuple[int, int]:
    v = shift = 0
    while True:
        if pos >= len(b):
            raise Unknown("expression ends inside a LEB128 number")
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            if signed and c & 0x40:
                v -= 1 << shift
            return v, pos
        if shift > 70:
            raise Unknown("LEB128 number longer than 10 bytes")


def _uleb(b: bytes, pos: int) -> tuple[int, int]:
    return _leb(b, pos, False)


def _sleb(b: bytes, pos: int) -> tuple[int, int]:
    return _leb(b, pos, True)


def _fixed(b: bytes, pos: int, n: int, signed: bool = False) -> tuple[int, int]:
    if pos + n > len(b):
        raise Unknown("expression ends inside an operand")
    return int.from_bytes(b[pos:pos + n], "little", signed=signed), pos + n


def evaluate(expr: bytes, reg, mem, *, initial=(), frame_base=None, cfa=None, entry_value=None,
             addr_size: int = 8) -> Location:
    """Evaluate ``expr``.

    ``reg(n)`` returns register n's value (raise Unknown if not recovered); ``mem(addr, size)``
    returns an int read from memory; ``frame_base()``/``cfa()`` give those addresses;
    ``entry_value(sub_expression)`` evaluates a DW_OP_entry_value operand in the caller.
    """
    st: list[int] = list(initial)
    pos = 0
    steps = 0
    result_kind = "memory"
    while pos < len(expr):
        steps += 1
        if steps > MAX_STEPS:
            raise Unknown(f"expression ran more than {MAX_STEPS} operations")
        if len(st) > MAX_STACK:
            raise Unknown("expression stack grew past its bound")
        op = expr[pos]
        pos += 1
        if 0x30 <= op <= 0x4F:
            st.append(op - 0x30)
        elif 0x50 <= op <= 0x6F or op == 0x90:
            if op == 0x90:
                r, pos = _uleb(expr, pos)
            else:
                r = op - 0x50
            if pos < len(expr) and expr[pos] == 0x93:
                return Location("register", r, partial=True)
            return Location("register", r)
        elif 0x70 <= op <= 0x8F or op == 0x92:
            if op == 0x92:
                r, pos = _uleb(expr, pos)
            else:
                r = op - 0x70
            off, pos = _sleb(expr, pos)
            st.append((reg(r) + off) & M64)
        elif op == 0x03:
            v, pos = _fixed(expr, pos, addr_size)
            st.append(v)
        elif op == 0x06:
            st.append(mem(_pop(st), addr_size))
        elif op == 0x94:
            n, pos = _fixed(expr, pos, 1)
            st.append(mem(_pop(st), n))
        elif op in (0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F):
            n = {0x08: 1, 0x09: 1, 0x0A: 2, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8, 0x0F: 8}[op]
            v, pos = _fixed(expr, pos, n, signed=bool(op & 1))
            st.append(v & M64)
        elif op == 0x10:
            v, pos = _uleb(expr, pos)
            st.append(v & M64)
        elif op == 0x11:
            v, pos = _sleb(expr, pos)
            st.append(v & M64)
        elif op == 0x12:
            st.append(_peek(st, 0))
        elif op == 0x13:
            _pop(st)
        elif op == 0x14:
            st.append(_peek(st, 1))
        elif op == 0x15:
            n, pos = _fixed(expr, pos, 1)
            st.append(_peek(st, n))
        elif op == 0x16:
            a, b = _pop(st), _pop(st)
            st += [a, b]
        elif op == 0x17:
            a, b, c = _pop(st), _pop(st), _pop(st)
            st += [a, c, b]
        elif op == 0x19:
            v = _signed(_pop(st))
            st.append(abs(v) & M64)
        elif op in (0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x21, 0x22, 0x24, 0x25, 0x26, 0x27,
                    0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E):
            b, a = _pop(st), _pop(st)
            st.append(_binary(op, a, b))
        elif op == 0x1F:
            st.append((-_pop(st)) & M64)
        elif op == 0x20:
            st.append((~_pop(st)) & M64)
        elif op == 0x23:
            v, pos = _uleb(expr, pos)
            st.append((_pop(st) + v) & M64)
        elif op == 0x28:
            off, pos = _fixed(expr, pos, 2, signed=True)
            if _pop(st):
                pos += off
                if not 0 <= pos <= len(expr):
                    raise Unknown("DW_OP_bra out of the expression")
        elif op == 0x2F:
            off, pos = _fixed(expr, pos, 2, signed=True)
            pos += off
            if not 0 <= pos <= len(expr):
                raise Unknown("DW_OP_skip out of the expression")
        elif op == 0x91:
            off, pos = _sleb(expr, pos)
            if frame_base is None:
                raise Unknown("DW_OP_fbreg without a frame base")
            st.append((frame_base() + off) & M64)
        elif op == 0x9C:
            if cfa is None:
                raise Unknown("DW_OP_call_frame_cfa without a CFA")
            st.append(cfa())
        elif op == 0x9E:
            n, pos = _uleb(expr, pos)
            if pos + n > len(expr):
                raise Unknown("DW_OP_implicit_value past the expression")
            return Location("implicit", bytes(expr[pos:pos + n]))
        elif op == 0x9F:
            result_kind = "value"
        elif op in (0xA3, 0xF3):
            n, pos = _uleb(expr, pos)
            if pos + n > len(expr):
                raise Unknown("DW_OP_entry_value past the expression")
            if entry_value is None:
                raise Unknown("DW_OP_entry_value: the value at entry is not known")
            st.append(entry_value(bytes(expr[pos:pos + n])) & M64)
            pos += n
        elif op == 0x93:
            _uleb(expr, pos)
            return Location(result_kind, _peek(st, 0) if st else None, partial=True)
        elif op == 0x96:
            pass
        else:
            raise Unknown(f"DWARF operation 0x{op:02x} is not evaluated")
    if not st:
        return Location("optimized out")
    return Location(result_kind, st[-1])


def _pop(st):
    if not st:
        raise Unknown("expression stack underflow")
    return st.pop()


def _peek(st, k):
    if k >= len(st):
        raise Unknown("expression stack underflow")
    return st[-1 - k]


def _signed(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def _binary(op: int, a: int, b: int) -> int:
    if op == 0x1A:
        return a & b
    if op == 0x1B:
        if b == 0:
            raise Unknown("division by zero")
        return int(_signed(a) / _signed(b)) & M64
    if op == 0x1C:
        return (a - b) & M64
    if op == 0x1D:
        if b == 0:
            raise Unknown("modulo by zero")
        return a % b
    if op == 0x1E:
        return (a * b) & M64
    if op == 0x21:
        return a | b
    if op == 0x22:
        return (a + b) & M64
    if op == 0x24:
        return (a << b) & M64 if b < 64 else 0
    if op == 0x25:
        return a >> b if b < 64 else 0
    if op == 0x26:
        return (_signed(a) >> min(b, 63)) & M64
    if op == 0x27:
        return a ^ b
    sa, sb = _signed(a), _signed(b)
    return int({0x29: sa == sb, 0x2A: sa >= sb, 0x2B: sa > sb, 0x2C: sa <= sb, 0x2D: sa < sb,
                0x2E: sa != sb}[op])
