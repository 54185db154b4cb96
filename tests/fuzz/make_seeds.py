#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ (run once; the seeds are committed).

Usage: tests/fuzz/make_seeds.py WIRE_CAPTURES_DIR REDIS_PORT
Sources: tests/data, config/, the MONITOR captures of Python Lightbus in WIRE_CAPTURES_DIR
(commands replayed against a throw-away redis-server on 127.0.0.1:REDIS_PORT, whose raw
RESP replies become the redis_reply seeds), plus a few hand-written edge cases.
"""
import json
import os
import re
import socket
import sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
corpus = os.path.join(root, "tests", "fuzz", "corpus")
data = os.path.join(root, "tests", "data")


def write(target, name, payload):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(payload, str):
        payload = payload.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(payload)


def unrepr(s):
    """Undoes Redis's sdscatrepr quoting of one MONITOR argument (without the quotes)."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            n = s[i + 1]
            if n == "x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out += {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b"}.get(n, n.encode())
            i += 2
            continue
        out += c.encode()
        i += 1
    return bytes(out)


def monitor_commands(path):
    """Yields the argument lists of every MONITOR line of a capture."""
    for line in open(path, encoding="utf-8"):
        m = re.match(r'^\d+\.\d+ \[\d+ [^\]]+\] (.*)$', line.rstrip("\n"))
        if m:
            yield [unrepr(a) for a in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))]


def resp_command(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def main():
    captures, port = sys.argv[1], int(sys.argv[2])
    cap = lambda name: os.path.join(captures, name)

    # -- rpc_blob: call and result blobs -------------------------------------------------
    for name in sorted(os.listdir(data)):
        if name.startswith("rpc-"):
            write("rpc_blob", name, open(os.path.join(data, name), "rb").read())
    n = 0
    for f in ("02-rpc-success.txt", "03-rpc-remote-error.txt", "05-rpc-unserved-timeout.txt"):
        for args in monitor_commands(cap(f)):
            if args[0] in (b"RPUSH", b"LPUSH"):
                n += 1
                write("rpc_blob", "capture-%s-%d.json" % (args[0].decode().lower(), n), args[2])
    write("rpc_blob", "edge-numbers.json",
          '{"kwargs": {"a": NaN, "b": Infinity, "c": -Infinity, "d": 18446744073709551616, '
          '"e": -0.0, "f": 1e-05, "g": 1.7976931348623157e+308}, "metadata": {"api_name": "store", '
          '"id": "x", "procedure_name": "get_price", "return_path": '
          '"redis+key://store.get_price:result:x"}}')
    write("rpc_blob", "edge-strings.json",
          '{"kwargs": {"s": "\\udcff \\ud83d\\ude00 \\u00e9 \\u0000"}, "metadata": {"api_name": '
          '"a", "id": "1", "procedure_name": "p", "return_path": "redis+key://a.p:result:1"}}')

    # -- event_fields: name NUL value NUL ... ------------------------------------------
    def fields_seed(pairs):
        return b"\0".join(x for p in pairs for x in p)

    ev = json.load(open(os.path.join(data, "event-user-registered.fields.json")))
    write("event_fields", "event-user-registered",
          fields_seed([(a.encode(), b.encode()) for a, b in ev["fields"]]))
    n = 0
    for f in ("04-event-fire-consume-ack.txt", "06-event-reclaim.txt",
              "11-worker-startup-shutdown-state-plugin.txt"):
        for args in monitor_commands(cap(f)):
            if args[0] == b"XADD":
                star = args.index(b"*")
                pairs = list(zip(args[star + 1::2], args[star + 2::2]))
                n += 1
                write("event_fields", "capture-xadd-%d" % n, fields_seed(pairs))
    write("event_fields", "noop-entry", b"\0")
    write("event_fields", "edge-values",
          fields_seed([(b"id", b"1"), (b"api_name", b"a"), (b"event_name", b"e"),
                       (b"version", b"2"), (b":nan", b"NaN"), (b":big", b"18446744073709551616"),
                       (b":s", b'"\\udcff"'), (b":", b"[]")]))

    # -- redis_reply: raw RESP replies of the commands Lightbus sends --------------------
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(2)

    def reply_of(args):
        sock.sendall(resp_command(args))
        buf = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return buf
            if not chunk:
                return buf
            buf += chunk
            sock.settimeout(0.2)

    replayed = [[b"FLUSHALL"], [b"PING"]]
    for f in ("01-worker-startup.txt", "02-rpc-success.txt", "04-event-fire-consume-ack.txt",
              "06-event-reclaim.txt"):
        for args in monitor_commands(cap(f)):
            if args[0] in (b"SELECT", b"BLPOP", b"XREADGROUP") and b"BLOCK" in args:
                continue
            if args[0] == b"BLPOP":
                continue
            replayed.append(args)
    replayed += [
        [b"XREADGROUP", b"GROUP", b"anchor_worker-user_registered_recorder", b"worker1",
         b"COUNT", b"10", b"STREAMS", b"auth.*:stream", b"0"],
        [b"XGROUP", b"CREATE", b"auth.*:stream", b"fuzz", b"0"],
        [b"XREADGROUP", b"GROUP", b"fuzz", b"c1", b"COUNT", b"10", b"STREAMS", b"auth.*:stream",
         b">"],
        [b"XRANGE", b"auth.*:stream", b"-", b"+"],
        [b"XPENDING", b"auth.*:stream", b"fuzz", b"-", b"+", b"100"],
        [b"XPENDING", b"auth.*:stream", b"fuzz"],
        [b"XINFO", b"STREAM", b"auth.*:stream"],
        [b"XINFO", b"GROUPS", b"auth.*:stream"],
        [b"XINFO", b"CONSUMERS", b"auth.*:stream", b"fuzz"],
        [b"XCLAIM", b"auth.*:stream", b"fuzz", b"c2", b"0", b"0-1"],
        [b"RPUSH", b"auth:rpc_queue", open(os.path.join(data, "rpc-call-check-password.json"),
                                           "rb").read()],
        [b"BLPOP", b"auth:rpc_queue", b"1"],
        [b"BLPOP", b"nothing", b"0.01"],
        [b"XGROUP", b"CREATE", b"auth.*:stream", b"fuzz", b"0"],
        [b"XPENDING", b"missing", b"g", b"-", b"+", b"10"],
        [b"GET", b"missing"],
        [b"MGET", b"schema:auth", b"missing"],
    ]
    everything = b""
    seen = set()
    for i, args in enumerate(replayed):
        r = reply_of(args)
        everything += r
        if r in seen:
            continue
        seen.add(r)
        write("redis_reply", "%02d-%s" % (i, args[0].decode().lower()), r)
    write("redis_reply", "pipeline-all", everything)
    sock.close()
    write("redis_reply", "edge-nested", b"*2\r\n*1\r\n*0\r\n$-1\r\n")
    write("redis_reply", "edge-nil-array", b"*-1\r\n")
    write("redis_reply", "edge-error", b"-NOGROUP No such key 'x' or consumer group 'g'\r\n")

    # -- config: YAML and JSON configs -------------------------------------------------
    for name in sorted(os.listdir(data)):
        if name.startswith("lightbus-") and name.endswith(".yaml"):
            write("config", name, open(os.path.join(data, name), "rb").read())
    for name in ("lightbus.yaml", "lightbus.json"):
        write("config", "example-" + name, open(os.path.join(root, "config", name), "rb").read())
    write("config", "empty.yaml", b"")
    write("config", "minimal.json", b'{"bus": {"schema": {"ttl": 2}}, "apis": {"default": {}}}')

    # -- json_writer: JSON documents -----------------------------------------------------
    for name in sorted(os.listdir(data)):
        if name.endswith(".json"):
            write("json_writer", name, open(os.path.join(data, name), "rb").read())
    write("json_writer", "edge-numbers.json",
          b'[0, -1, 18446744073709551615, -9223372036854775808, 1e16, 1e-05, 0.0001, -0.0, '
          b'5e-324, 1.7976931348623157e+308, 123456789012345678901234567890, 1.5, 0.1]')
    write("json_writer", "edge-strings.json",
          b'["\\u00e9\\ud83d\\ude00", "\\u0000\\u001f\\u007f", "\\"\\\\\\/\\b\\f\\n\\r\\t", '
          b'{"\\u00e9": 1, "e": 2, "": 3}]')


if __name__ == "__main__":
    main()
