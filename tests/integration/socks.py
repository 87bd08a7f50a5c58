"""A minimal SOCKS5 client (RFC 1928/1929) for tests that need the raw reply
codes, which curl does not show."""
import ipaddress
import socket
import struct

TIMEOUT_S = 30


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"proxy closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def _addr(host):
    try:
        ip = ipaddress.ip_address(host)
        return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
    except ValueError:
        name = host.encode()
        return b"\x03" + bytes([len(name)]) + name


def negotiate(sock, user=None, password=None):
    """Returns the chosen method; raises if auth fails (status != 0)."""
    methods = b"\x02" if user is not None else b"\x00"
    sock.sendall(b"\x05\x01" + methods)
    ver, method = _recv_exact(sock, 2)
    if method == 0x02:
        u, p = user.encode(), password.encode()
        sock.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
        _, status = _recv_exact(sock, 2)
        if status != 0:
            raise PermissionError(f"auth status {status}")
    return method


def read_reply(sock):
    ver, rep, rsv, atyp = _recv_exact(sock, 4)
    if atyp == 1:
        addr = socket.inet_ntop(socket.AF_INET, _recv_exact(sock, 4))
    elif atyp == 4:
        addr = socket.inet_ntop(socket.AF_INET6, _recv_exact(sock, 16))
    else:
        addr = _recv_exact(sock, _recv_exact(sock, 1)[0]).decode()
    port = struct.unpack("!H", _recv_exact(sock, 2))[0]
    return rep, addr, port


def connect(proxy, host, port, user=None, password=None, timeout=TIMEOUT_S):
    """CONNECT through the proxy: returns (reply code, socket or None)."""
    sock = socket.create_connection(proxy, timeout=timeout)
    if negotiate(sock, user, password) == 0xFF:
        sock.close()
        return 0xFF, None
    sock.sendall(b"\x05\x01\x00" + _addr(host) + struct.pack("!H", port))
    rep, _, _ = read_reply(sock)
    if rep != 0:
        sock.close()
        return rep, None
    return rep, sock


def udp_associate(proxy, user=None, password=None, timeout=TIMEOUT_S):
    """Returns (control socket, relay address)."""
    ctl = socket.create_connection(proxy, timeout=timeout)
    negotiate(ctl, user, password)
    ctl.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
    rep, addr, port = read_reply(ctl)
    if rep != 0:
        raise ConnectionError(f"UDP ASSOCIATE refused: {rep:#x}")
    return ctl, (addr, port)


def udp_wrap(host, port, data):
    return b"\x00\x00\x00" + _addr(host) + struct.pack("!H", port) + data


def udp_unwrap(datagram):
    atyp = datagram[3]
    off = 4 + (4 if atyp == 1 else 16 if atyp == 4 else 1 + datagram[4])
    return datagram[off + 2:]
