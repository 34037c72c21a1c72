"""A raw Redis (RESP) and memcached client with known hits and misses, for
the capture test. Usage: kv_client.py redis|memcached PORT"""
import socket
import sys


def read_until(s, pred):
    buf = b""
    while not pred(buf):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def redis(port):
    s = socket.create_connection(("127.0.0.1", port))

    def cmd(*args):
        return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)

    # 1 SET, 2 GET hits, 3 GET misses, 1 MGET (2 hits, 2 misses): one by one
    s.sendall(cmd(b"SET", b"k1", b"v1"))
    read_until(s, lambda b: b.endswith(b"\r\n"))
    s.sendall(cmd(b"SET", b"k2", b"v2"))
    read_until(s, lambda b: b.endswith(b"\r\n"))
    for key in (b"k1", b"k2", b"x1", b"x2", b"x3"):
        s.sendall(cmd(b"GET", key))
        read_until(s, lambda b: b.startswith(b"$-1\r\n") or b.count(b"\r\n") >= 2)
    s.sendall(cmd(b"MGET", b"k1", b"x1", b"k2", b"x2"))
    read_until(s, lambda b: b.count(b"\r\n") >= 7)
    # pipelined: 3 GETs (1 hit, 2 misses) in one write
    s.sendall(cmd(b"GET", b"k1") + cmd(b"GET", b"x4") + cmd(b"GET", b"x5"))
    read_until(s, lambda b: b.count(b"\r\n") >= 4)
    s.close()


def memcached(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"set a 0 0 2\r\nva\r\n")
    read_until(s, lambda b: b.endswith(b"STORED\r\n"))
    s.sendall(b"set b 0 0 2\r\nvb\r\n")
    read_until(s, lambda b: b.endswith(b"STORED\r\n"))
    for key in (b"a", b"b", b"zz"):  # 2 hits, 1 miss
        s.sendall(b"get %s\r\n" % key)
        read_until(s, lambda b: b.endswith(b"END\r\n"))
    s.sendall(b"get a zz b yy\r\n")  # 2 hits, 2 misses
    read_until(s, lambda b: b.endswith(b"END\r\n"))
    s.sendall(b"get a\r\nget nope\r\n")  # pipelined: 1 hit, 1 miss
    read_until(s, lambda b: b.count(b"END\r\n") >= 2)
    s.close()


{"redis": redis, "memcached": memcached}[sys.argv[1]](int(sys.argv[2]))
