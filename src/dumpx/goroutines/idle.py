"""Go's symbol syntax, and the one list of waits that are idle by design.

A goroutine parked in one of these is doing its job (a keep-alive connection waiting for the next
response, an accept loop, a signal loop, the runtime's own workers), so it is neither stuck nor the
evidence of a missing counterpart. The goroutine that wrote the dump is listed too: it is busy
writing, not a producer. Extend ``IDLE_BY_DESIGN`` (function prefixes, matched against every frame)
when a library's background loop shows up as a false stuck set.
"""

from __future__ import annotations

import re

from .model import package, short_name  # noqa: F401  (Go's symbol syntax, re-exported)

IDLE_BY_DESIGN: dict[str, str] = {
    # net/http client keep-alive connections and server connections between requests
    "net/http.(*persistConn).readLoop": "HTTP client keep-alive connection waiting for a response",
    "net/http.(*persistConn).writeLoop": "HTTP client keep-alive connection waiting for a request",
    "net/http.(*connReader).backgroundRead": "HTTP server connection between requests",
    "net/http.(*conn).serve": "HTTP server connection between requests",
    "net/http.(*Server).Serve": "HTTP server accept loop",
    "net/http.(*http2ClientConn).readLoop": "HTTP/2 client connection read loop",
    "net/http.(*http2serverConn).serve": "HTTP/2 server connection",
    "net.(*TCPListener).Accept": "accept loop",
    "net.(*UnixListener).Accept": "accept loop",
    "os/signal.loop": "os/signal delivery loop",
    "os/signal.signal_recv": "os/signal delivery loop",
    "database/sql.(*DB).connectionOpener": "database/sql connection pool opener",
    "database/sql.(*DB).connectionCleaner": "database/sql connection pool cleaner",
    "google.golang.org/grpc/internal/transport.(*http2Client).reader": "gRPC client transport reader",
    "google.golang.org/grpc/internal/transport.(*controlBuffer).get": "gRPC transport control buffer",
    "google.golang.org/grpc.(*ccBalancerWrapper).watcher": "gRPC balancer watcher",
    "github.com/golang/glog.(*loggingT).flushDaemon": "glog flush daemon",
    "k8s.io/klog/v2.(*flushDaemon).run": "klog flush daemon",
    "go.opencensus.io/stats/view.(*worker).start": "OpenCensus stats worker",
    # the runtime's own goroutines (GOTRACEBACK=system shows them)
    "runtime.forcegchelper": "runtime GC helper",
    "runtime.bgsweep": "runtime background sweeper",
    "runtime.bgscavenge": "runtime background scavenger",
    "runtime.runfinq": "runtime finalizer goroutine",
    "runtime.gcBgMarkWorker": "runtime GC mark worker",
    "runtime.(*traceAdvancerState).start": "runtime trace advancer",
    "runtime.unique_runtime_registerUniqueMapCleanup": "runtime unique map cleanup",
}

DUMP_WRITERS = ("runtime/pprof.writeGoroutineStacks", "runtime/pprof.writeRuntimeProfile",
                "runtime/pprof.writeGoroutine", "runtime.Stack", "runtime/debug.Stack",
                "runtime/debug.PrintStack", "net/http/pprof.handler.ServeHTTP", "runtime.sigtrampgo")

SLEEP = "time.Sleep"


def idle_reason(functions) -> str | None:
    """Why a stack is idle by design, or None. A goroutine in ``time.Sleep`` counts as a ticker or
    backoff loop (the readings that skip it say how many they skipped)."""
    if SLEEP in functions:
        return "sleeping in time.Sleep (a ticker or backoff loop)"
    for f in functions:
        m = _IDLE_RX.match(f)
        if m:
            return IDLE_BY_DESIGN[m.group(1)]
    return None


_IDLE_RX = re.compile("^(" + "|".join(re.escape(k) for k in sorted(IDLE_BY_DESIGN, key=len, reverse=True))
                      + r")(?:\.|$)")


def is_dump_writer(functions) -> bool:
    return any(f in DUMP_WRITERS or f.startswith("runtime/pprof.write") for f in functions)


def expect_matcher(spec: str):
    """How ``--expect`` matches: ``re:PATTERN`` is a regular expression on the full name; a
    package-qualified name (``main.handler``, ``notify.(*Consumer).run``) matches exactly; an
    unqualified one (``handler``, ``(*Consumer).run``) matches that name in any package."""
    if spec.startswith("re:"):
        rx = re.compile(spec[3:])
        return lambda f: rx.search(f) is not None
    if "." in spec and not spec.startswith("("):
        return lambda f: f == spec
    return lambda f: short_name(f) == spec
