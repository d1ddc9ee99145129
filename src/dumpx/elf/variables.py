"""Parameters and locals of a frame from DWARF, and what is left of the ones gdb calls
``<optimized out>``: where the variable lives at this pc (location lists, registers, the frame
base, entry values), its value where the dump holds it, and otherwise the evidence that remains —
the ABI register it arrived in, the caller's call-site value, the pc ranges where it is live."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import DumpError
from .dwarfexpr import Unknown, evaluate

X86_64_ARGS = [5, 4, 1, 2, 8, 9]          # rdi, rsi, rdx, rcx, r8, r9 (integer class)
AARCH64_ARGS = list(range(8))             # x0..x7
MAX_ENTRY_DEPTH = 4


@dataclass
class Variable:
    name: str
    kind: str                    # "parameter" or "local"
    type: str
    size: int | None
    state: str                   # "read", "optimized out", "unavailable"
    location: str | None = None  # where it lives at this pc
    value: int | None = None
    address: int | None = None
    why: str | None = None
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def text(self) -> str:
        if self.state == "read":
            v = f"0x{self.value:x}" if self.value is not None else f"at 0x{self.address:x}"
            src = self.evidence.get("entry value from")
            return f"{self.name} = {v}  ({self.type}; {self.location}{'; from ' + src if src else ''})"
        ev = "; ".join(f"{k}: {v}" for k, v in self.evidence.items())
        return f"{self.name} = <{self.state}>  ({self.type}; {self.why or ''}{'; ' + ev if ev else ''})"


def _ref(die, attr: str):
    """The DIE an attribute refers to, or None (absent, or a reference the DWARF cannot resolve)."""
    if attr not in die.attributes:
        return None
    try:
        return die.get_DIE_from_attribute(attr)
    except Exception:
        return None


def _type(die, depth=0) -> tuple[str, int | None]:
    if die is None or depth > 16:
        return "?", None
    t = die.tag
    name = die.attributes.get("DW_AT_name")
    name = name.value.decode("utf-8", "backslashreplace") if name is not None else None
    size = die.attributes.get("DW_AT_byte_size")
    size = size.value if size is not None else None
    inner = _ref(die, "DW_AT_type")
    if t == "DW_TAG_pointer_type" or t == "DW_TAG_reference_type":
        n, _ = _type(inner, depth + 1) if inner is not None else ("void", None)
        return f"{n} *", size or 8
    if t in ("DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_typedef", "DW_TAG_restrict_type",
             "DW_TAG_atomic_type"):
        n, s = _type(inner, depth + 1) if inner is not None else ("void", None)
        if t == "DW_TAG_typedef" and name:
            return name, s
        return n, s
    if t == "DW_TAG_structure_type":
        return f"struct {name or '?'}", size
    if t == "DW_TAG_array_type":
        n, _ = _type(inner, depth + 1)
        return f"{n}[]", size
    return name or t.replace("DW_TAG_", ""), size


def _location(image, die, attr_name: str):
    """The attribute's location: (expression bytes, None) for a single expression, or (None,
    [(lo, hi, expression)]) for a location list in file addresses; (None, []) when absent."""
    from elftools.dwarf.locationlists import BaseAddressEntry, LocationExpr, LocationParser
    attr = die.attributes.get(attr_name)
    if attr is None:
        return None, []
    parser = LocationParser(image.dwarf().location_lists())
    try:
        loc = parser.parse_from_attribute(attr, die.cu.header["version"], die)
    except Exception as e:
        raise Unknown(f"location of {attr_name} unreadable ({type(e).__name__})")
    if isinstance(loc, LocationExpr):
        return bytes(loc.loc_expr), None
    top = die.cu.get_top_DIE()
    base = top.attributes["DW_AT_low_pc"].value if "DW_AT_low_pc" in top.attributes else 0
    entries = []
    for e in loc:
        if isinstance(e, BaseAddressEntry):
            base = e.base_address
            continue
        lo, hi = (e.begin_offset, e.end_offset) if getattr(e, "is_absolute", False) else \
            (base + e.begin_offset, base + e.end_offset)
        entries.append((lo, hi, bytes(e.loc_expr)))
    return None, entries


def _expr_at(image, die, attr_name: str, fpc: int):
    """(expression bytes, live ranges) of a location attribute at file pc ``fpc``: the bytes are
    None when no entry covers the pc (optimized out there)."""
    single, entries = _location(image, die, attr_name)
    if entries is None:
        return single, None
    hit = next((ex for lo, hi, ex in entries if lo <= fpc < hi), None)
    return hit, [(lo, hi) for lo, hi, _ in entries]


def _describe(expr: bytes, names) -> str:
    if not expr:
        return "empty"
    op = expr[0]
    if 0x50 <= op <= 0x6F:
        return f"register {names(op - 0x50)}"
    if op == 0x91:
        return "on the stack (frame base relative)"
    if 0x70 <= op <= 0x8F:
        return f"memory at {names(op - 0x70)} + offset"
    if op in (0xA3, 0xF3):
        return "its value at function entry (DW_OP_entry_value)"
    if expr[-1:] == b"\x9f":
        return "a computed value"
    return f"DWARF expression ({len(expr)} bytes)"


class FrameVariables:
    """Reads the variables of the frames of one backtrace."""

    def __init__(self, unwinder, backtrace):
        self.u = unwinder
        self.core = unwinder.core
        self.bt = backtrace
        self.physical = [f for f in backtrace.frames if not f.inlined]
        self.arg_regs = X86_64_ARGS if self.core.machine == "x86-64" else AARCH64_ARGS
        self.problems: list[str] = []
        self.entry_source: str | None = None     # the call site the last entry value was read from

    def _regname(self, n: int) -> str:
        return self.u._name(n)

    def _physical_of(self, f):
        for g in self.bt.frames[f.index:]:
            if not g.inlined:
                return g
        return f

    def _caller_of(self, phys):
        k = next((i for i, g in enumerate(self.physical) if g is phys), None)
        if k is None or k + 1 >= len(self.physical):
            return None
        return self.physical[k + 1]

    def _ctx(self, phys, frame_base_die=None, depth: int = 0):
        """(reg, mem, frame_base, cfa, entry_value) callables for evaluating in frame ``phys``."""
        names = self.u.names
        regs = {names.index(k): v for k, v in phys.registers.items() if k in names}

        def reg(n):
            if n not in regs:
                raise Unknown(f"{self._regname(n)} is not recovered for frame #{phys.index} "
                              f"({'caller-saved: no CFI rule says it survived the call' if phys.index else 'not in the core'})")
            return regs[n]

        def cfa():
            if phys.cfa is None:
                raise Unknown(f"frame #{phys.index} has no CFA")
            return phys.cfa

        m = self.u.module_at(phys.pc)
        fpc = (phys.pc if phys.exact else phys.pc - 1) - (m.bias if m else 0)

        def frame_base():
            if frame_base_die is None:
                raise Unknown("no DW_AT_frame_base")
            expr, _ = _expr_at(m.debug, frame_base_die, "DW_AT_frame_base", fpc)
            if expr is None:
                raise Unknown("the frame base has no location at this pc")
            loc = evaluate(expr, reg, self.u._mem, cfa=cfa)
            if loc.kind == "register":
                return reg(loc.value)
            return loc.value

        def entry_value(sub: bytes):
            return self._entry_value(phys, sub, depth)

        return reg, self.u._mem, frame_base, cfa, entry_value

    def _entry_value(self, phys, sub: bytes, depth: int) -> int:
        if depth >= MAX_ENTRY_DEPTH:
            raise Unknown("entry values nested too deep")
        if not sub or not (0x50 <= sub[0] <= 0x6F or sub[0] == 0x90):
            raise Unknown("an entry value of something other than a register")
        regno = sub[0] - 0x50 if sub[0] != 0x90 else sub[1]
        caller = self._caller_of(phys)
        if caller is None:
            raise Unknown("no caller frame for the entry value")
        got = self._call_site(caller)
        if got is None:
            raise Unknown(f"no DW_TAG_call_site at the return address 0x{caller.pc:x} in the caller")
        site, origin, target_expr = got
        callee = _base_name(phys.function)
        if origin is None:
            how = self._indirect_call_to(phys, caller, target_expr)
            if how is None:
                raise Unknown(f"the call at 0x{caller.pc:x} is indirect and its target cannot be read: nothing says it "
                              f"called {callee}, so its values cannot be taken for {callee}'s entry")
        elif callee and origin != callee:
            raise Unknown(f"the caller's call at 0x{caller.pc:x} is to {origin}, not {callee}: a tail call came "
                          f"between, so that call site's values are not {callee}'s")
        else:
            how = f"the call at 0x{caller.pc:x} in {caller.function or '??'} (DW_AT_call_origin {origin})"
        val = site.get(regno)
        if val is None:
            raise Unknown(f"the caller's call site does not record {self._regname(regno)}")
        cm = self.u.module_at(caller.pc)
        outer = cm.debug.scope_dies(caller.pc - 1 - cm.bias)
        fb_die = outer[0] if outer else None
        reg, mem, fb, cfa, ev = self._ctx(caller, fb_die, depth + 1)
        loc = evaluate(val, reg, mem, frame_base=fb, cfa=cfa, entry_value=ev)
        if loc.kind == "register":
            out = reg(loc.value)
        elif loc.kind in ("value", "memory"):
            out = loc.value
        else:
            raise Unknown(f"call-site value is {loc.kind}")
        self.entry_source = how
        return out

    def _indirect_call_to(self, phys, caller, target_expr: bytes | None) -> str | None:
        """How the indirect call at ``caller.pc`` is known to have entered ``phys``'s function, or
        None. The target is read in the caller's frame — from DW_AT_call_target, else from the call
        instruction itself (``call *disp(%rip)`` or through a register the caller's frame recovers)
        — and must be the entry of the function ``phys`` is in: then no tail call came between
        (gdb refuses these, printing ``<optimized out>``). A target read from memory is read as the
        dump holds it, which the evidence says."""
        if phys.function_offset is None:
            return None
        entry = phys.pc - phys.function_offset
        cm = self.u.module_at(caller.pc)
        outer = cm.debug.scope_dies(caller.pc - 1 - cm.bias) if cm is not None and cm.debug is not None else []
        reg, mem, fb, cfa, _ = self._ctx(caller, outer[0] if outer else None, MAX_ENTRY_DEPTH)
        found = []
        if target_expr and target_expr != b"\x60":       # clang writes DW_OP_reg16 (rip) for call *sym(%rip)
            try:
                loc = evaluate(target_expr, reg, mem, frame_base=fb, cfa=cfa)
                t = reg(loc.value) if loc.kind == "register" else loc.value if loc.kind in ("value", "memory") else None
            except (Unknown, DumpError):
                t = None
            if isinstance(t, int):
                found.append((t, f"DW_AT_call_target ({_describe(target_expr, self._regname)}) evaluated in "
                                 f"frame #{caller.index}"))
        if self.core.machine == "x86-64":
            found.extend(self._decoded_call(caller, reg, mem))
        if not found or any(t != found[0][0] for t, _ in found):
            return None
        if found[0][0] != entry:
            raise Unknown(f"the indirect call at 0x{caller.pc:x} went to 0x{found[0][0]:x} ({found[0][1]}), not to "
                          f"{phys.function} at 0x{entry:x} (a tail call or a PLT stub came between), so its values "
                          f"are not known to be {_base_name(phys.function)}'s")
        return f"the indirect call at 0x{caller.pc:x} in {caller.function or '??'}, whose target {found[0][1]} is 0x{entry:x}, {phys.function}'s entry"

    def _decoded_call(self, caller, reg, mem) -> list[tuple[int, str]]:
        """Targets of the x86-64 call instructions that can end at return address ``caller.pc``.
        Every decoding the bytes allow is tried (a byte before ``FF /2`` may be a REX prefix or the
        end of the previous instruction); a decoding whose target is not code is not the call that
        ran (it would have faulted there), and one that cannot be evaluated makes the whole read
        fail (an empty list), so an ambiguous byte sequence is never resolved by guessing."""
        ret = caller.pc
        code = self.u._text(ret - 7, 7)
        if code is None or len(code) != 7:
            return []
        out: list[tuple[int, str]] = []
        enc = [0, 2, 1, 3, 7, 6, 4, 5]          # x86 register encoding -> DWARF number
        if code[1] == 0xFF and code[2] == 0x15:
            slot = (ret + int.from_bytes(code[3:7], "little", signed=True)) & ((1 << 64) - 1)
            try:
                out.append((mem(slot, 8), f"read through `call *0x{slot:x}` (FF 15) from memory at 0x{slot:x} as the dump holds it"))
            except Unknown:
                return []
        if code[2] == 0xE8:
            t = (ret + int.from_bytes(code[3:7], "little", signed=True)) & ((1 << 64) - 1)
            out.append((t, f"of the direct call `call 0x{t:x}` (E8)"))
        for at, mod, disp_n in ((6, 0xC0, 0), (6, 0x00, 0), (5, 0x40, 1), (2, 0x80, 4)):  # ModRM index, mod, disp bytes
            m = code[at]
            if code[at - 1] != 0xFF or (m & 0xF8) != (mod | 0x10) or (mod != 0xC0 and (m & 7) == 4) \
                    or (mod == 0 and (m & 7) == 5):
                continue
            disp = int.from_bytes(code[at + 1:at + 1 + disp_n], "little", signed=True)
            rexes = [0] + ([code[at - 2]] if at >= 2 and 0x40 <= code[at - 2] <= 0x4F else [])
            for rex in rexes:
                n = 8 + (m & 7) if rex & 1 else enc[m & 7]
                r = self._regname(n)
                try:
                    v = reg(n)
                    if mod == 0xC0:
                        out.append((v, f"read from {r} in frame #{caller.index} (`call *%{r}`)"))
                        continue
                    a = (v + disp) & ((1 << 64) - 1)
                    out.append((mem(a, 8), f"read through `call *{disp:#x}(%{r})` from memory at 0x{a:x} as the dump holds it"))
                except Unknown:
                    return []
        return [(t, how) for t, how in out if self.u.is_code(t)]

    def _call_site(self, caller) -> tuple[dict[int, bytes], str | None, bytes | None] | None:
        """({argument register: DW_AT_call_value expression}, name of the called function or None for
        an indirect call, DW_AT_call_target expression or None) of the call whose return address is
        caller.pc."""
        m = self.u.module_at(caller.pc)
        if m is None or m.debug is None:
            return None
        ret = caller.pc - m.bias
        for die in m.debug.scope_dies(ret - 1)[:1]:
            for d in _walk(die):
                if d.tag not in ("DW_TAG_call_site", "DW_TAG_GNU_call_site"):
                    continue
                a = d.attributes.get("DW_AT_call_return_pc") or d.attributes.get("DW_AT_low_pc")
                if a is None or a.value != ret:
                    continue
                origin = None
                for key in ("DW_AT_call_origin", "DW_AT_abstract_origin"):
                    if key in d.attributes:
                        try:
                            from .image import _die_name
                            origin = _base_name(_die_name(d.get_DIE_from_attribute(key)))
                        except Exception:
                            origin = None
                        break
                tgt = d.attributes.get("DW_AT_call_target") or d.attributes.get("DW_AT_GNU_call_site_target")
                target_expr = bytes(tgt.value) if tgt is not None and isinstance(tgt.value, list) else None
                out = {}
                for p in d.iter_children():
                    if p.tag not in ("DW_TAG_call_site_parameter", "DW_TAG_GNU_call_site_parameter"):
                        continue
                    loc = p.attributes.get("DW_AT_location")
                    val = p.attributes.get("DW_AT_call_value") or p.attributes.get("DW_AT_GNU_call_site_value")
                    if loc is None or val is None or not loc.value:
                        continue
                    op = loc.value[0]
                    if 0x50 <= op <= 0x6F:
                        out[op - 0x50] = bytes(val.value)
                return out, origin, target_expr
        return None

    def _last_register(self, m, d, fpc, ranges):
        """(register, end) of the last location-list entry before ``fpc`` that is a plain register."""
        try:
            _, entries = _location(m.debug, d, "DW_AT_location")
        except Unknown:
            return None
        best = None
        for lo, hi, ex in entries or []:
            if hi <= fpc and len(ex) == 1 and 0x50 <= ex[0] <= 0x6F and (best is None or hi > best[1]):
                best = (ex[0] - 0x50, hi)
        return best

    def variables(self, f) -> list[Variable]:
        """The parameters and locals visible in frame ``f`` at its pc (its own scope and the lexical
        blocks inside it that contain the pc)."""
        m = self.u.module_at(f.pc)
        if m is None or m.debug is None or f.build != "verified" or getattr(f, "scope", None) is None:
            return []
        phys = self._physical_of(f)
        fpc = (f.pc if phys.exact else f.pc - 1) - m.bias
        try:
            dies = m.debug.scope_dies(fpc)
        except DumpError as e:
            self.problems.append(str(e))
            return []
        outer = next((d for d in dies if d.tag == "DW_TAG_subprogram"), None)
        mine = next((d for d in dies if d.offset == f.scope), None)
        if mine is None:
            return []
        k = dies.index(mine)
        blocks = [mine] + [d for d in dies[k + 1:] if d.tag == "DW_TAG_lexical_block"]
        reg, mem, fb, cfa, ev = self._ctx(phys, outer)
        out = []
        arg_index = 0
        for scope in blocks:
            try:
                children = list(scope.iter_children())
            except Exception as e:                              # pyelftools on damaged DWARF
                self.problems.append(f"{m.path}: DWARF unreadable under DIE 0x{scope.offset:x} ({type(e).__name__})")
                continue
            for d in children:
                if d.tag not in ("DW_TAG_formal_parameter", "DW_TAG_variable"):
                    continue
                param = d.tag == "DW_TAG_formal_parameter"
                try:
                    v = self._one(m, d, fpc, param, arg_index if param else None, reg, mem, fb, cfa, ev, phys)
                except (DumpError, Unknown, Exception) as e:     # pyelftools on damaged DWARF
                    v = Variable("?", "parameter" if param else "local", "?", None, "unavailable",
                                 why=f"DWARF unreadable ({type(e).__name__}: {e})")
                if param:
                    arg_index += 1
                if v is not None:
                    out.append(v)
        return out

    def _one(self, m, d, fpc, param, arg_index, reg, mem, fb, cfa, ev, phys) -> Variable | None:
        from .image import _die_name
        name = _die_name(d)
        src = _ref(d, "DW_AT_abstract_origin") or d
        tname, size = _type(_ref(src, "DW_AT_type"))
        var = Variable(name, "parameter" if param else "local", tname, size, "unavailable")
        if "DW_AT_const_value" in d.attributes:
            cv = d.attributes["DW_AT_const_value"].value
            if isinstance(cv, int):
                var.state, var.value, var.location = "read", cv, "a constant (DW_AT_const_value)"
                return var
        try:
            expr, ranges = _expr_at(m.debug, d, "DW_AT_location", fpc)
        except Unknown as e:
            var.why = e.reason
            return var
        if expr is None or expr == b"":
            var.state = "optimized out"
            var.why = "no location at this pc" if ranges else "no location at all"
            if ranges:
                var.evidence["live at"] = ", ".join(f"0x{lo + m.bias:x}-0x{hi + m.bias:x}" for lo, hi in ranges[:6])
                last = self._last_register(m, d, fpc, ranges)
                if last is not None:
                    r, end = last
                    try:
                        now = reg(r)
                        var.evidence["last held in"] = (f"{self._regname(r)} until 0x{end + m.bias:x}; {self._regname(r)} "
                                                        f"now holds 0x{now:x} (its value, unless the code since wrote {self._regname(r)})")
                    except Unknown:
                        var.evidence["last held in"] = f"{self._regname(r)} until 0x{end + m.bias:x} (not recovered in this frame)"
            if param and arg_index is not None and arg_index < len(self.arg_regs):
                r = self.arg_regs[arg_index]
                var.evidence["arrived in"] = f"{self._regname(r)} (ABI argument {arg_index + 1})"
                try:
                    var.evidence["caller's call-site value"] = f"0x{self._entry_value(phys, bytes([0x50 + r]), 0):x} (at entry, from {self.entry_source})"
                except Unknown as e:
                    var.evidence["caller's call-site value"] = f"unknown: {e.reason}"
            var.evidence["next step"] = "rebuild the same commit at -O0 -g to see it"
            return var
        var.location = _describe(expr, self._regname)
        self.entry_source = None
        try:
            loc = evaluate(expr, reg, mem, frame_base=fb, cfa=cfa, entry_value=ev)
        except (Unknown, DumpError) as e:
            var.why = getattr(e, "reason", str(e))
            if expr[:1] in (b"\xa3", b"\xf3"):
                var.state = "optimized out"
            return var
        n = min(size or 8, 8)
        mask = (1 << (8 * n)) - 1
        try:
            if loc.kind == "register":
                var.value = reg(loc.value) & mask
            elif loc.kind == "memory":
                var.address = loc.value
                if size is not None and size <= 8:
                    var.value = mem(loc.value, n)
            elif loc.kind == "value":
                var.value = loc.value & mask
            elif loc.kind == "implicit":
                var.value = int.from_bytes(loc.value[:8], "little")
            else:
                var.state, var.why = "optimized out", "the location expression is empty here"
                return var
        except (Unknown, DumpError) as e:
            var.why = getattr(e, "reason", str(e))
            if loc.kind == "register":
                self._register_lead(var, loc.value, phys)
            return var
        var.state = "read"
        if self.entry_source:
            var.evidence["entry value from"] = self.entry_source
        return var

    def _register_lead(self, var: Variable, regno: int, phys) -> None:
        """The variable lives in a register this frame cannot recover (caller-saved): what the
        nearest callee frame holds in it, stated as a lead (it is the value unless a callee wrote it;
        GCC's -fipa-ra keeps values in caller-saved registers across calls it can see into)."""
        name = self._regname(regno)
        k = next((i for i, g in enumerate(self.physical) if g is phys), None)
        for g in reversed(self.physical[:k] if k else []):
            if name in g.registers:
                var.evidence[f"{name} in frame #{g.index}"] = (
                    f"0x{g.registers[name]:x} (the value, unless a call between wrote {name})")
                return


def _base_name(name: str | None) -> str | None:
    """A function's name without parameters or glibc's internal prefixes, for comparing a call
    site's target with the frame it reached (``__GI_raise`` and ``raise`` are one function)."""
    if not name:
        return None
    import re
    return re.sub(r"^(__GI_)?_*", "", name.split("(", 1)[0])


def _walk(die, limit: int = 100_000):
    """Every DIE under ``die``, iteratively (no recursion the DWARF could deepen)."""
    stack = [die]
    n = 0
    while stack and n < limit:
        d = stack.pop()
        n += 1
        yield d
        kids = list(d.iter_children())
        stack.extend(reversed(kids))
