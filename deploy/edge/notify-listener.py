#!/usr/bin/python3
"""A stand-in for systemd's notify socket, for tests and for debugging sd_notify on a bench.

    notify-listener.py /run/test/notify.sock     # or @abstract-name
    NOTIFY_SOCKET=/run/test/notify.sock WATCHDOG_USEC=30000000 store-edge edge -c store.yaml

Binds an AF_UNIX datagram socket (a path, or an abstract name given as @name), turns on
SO_PASSCRED and prints each datagram as one JSON line: the sender pid from SCM_CREDENTIALS, the
receive time and the VAR=VALUE lines. It closes the fds that come with BARRIER=1, as systemd does,
so systemd-notify returns.
"""
import array, json, os, socket, struct, sys, time

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\0' + path[1:] if path.startswith('@') else path)
print(json.dumps({"listening": path}), flush=True)
while True:
    data, anc, flags, _ = s.recvmsg(65536, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(4 * 16))
    pid = None
    for level, typ, cdata in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', cdata[:12])[0]
        elif level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds = array.array('i')
            fds.frombytes(cdata[:len(cdata) - len(cdata) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps({"pid": pid, "t": time.time(), "lines": data.decode('utf-8', 'replace').split('\n')}), flush=True)
