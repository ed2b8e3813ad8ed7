"""Rewrite the trailer of a file in our WAL archive, for tests that need
a file the current wal-push would not write.

  wal-trailer.py rename SRC DST NAME   the trailer names NAME (format 2)
  wal-trailer.py format1 SRC DST       a format 2 file as format 1 (no
                                       name: frame size 32, version 1)

The trailer's last 4 bytes are the CRC-32C of the bytes before them
(see common/walfile.h); it is recomputed."""
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def main(argv):
    op, src, dst = argv[1], argv[2], argv[3]
    f = open(src, 'rb').read()
    if op == 'rename':
        t = bytearray(f[-80:])
        t[36:76] = argv[4].encode().ljust(40, b'\0')
        t[76:80] = struct.pack('<I', crc32c(bytes(t[:76])))
        out = f[:-80] + bytes(t)
    elif op == 'format1':
        t = bytearray(f[-80:-44])
        t[4:8] = struct.pack('<I', 32)
        t[12:16] = struct.pack('<I', 1)
        out = f[:-80] + bytes(t) + struct.pack('<I', crc32c(bytes(t)))
    else:
        sys.exit('wal-trailer.py: unknown operation ' + op)
    open(dst, 'wb').write(out)


main(sys.argv)
