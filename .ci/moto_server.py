"""moto_server, with each key's PUTs one at a time.

moto checks a PUT's `If-Match` / `If-None-Match` and then writes, in two steps, on a server
that answers requests on threads: two conditional PUTs of the same key can both pass their
check, where S3 and MinIO decide atomically and refuse one. The service's guarantees (no
change lost between replicas, no share made twice) rest on the latter, and CI once saw two
PATCHes on two replicas both accepted over the same version. As the tests' in-process server
does (`AtomicConditionalPuts` in tests/api/helpers/s3_server.rs), each key's PUTs go one at a
time here; other keys proceed in parallel. A GET needs nothing: moto replaces a key's object
in one assignment, so a read sees the old one or the new one whole.

Usage: the arguments of moto_server (python3 .ci/moto_server.py -H 127.0.0.1 -p 5000).
"""

import sys
import threading
import zlib

from moto.s3.responses import S3Response
from moto.server import main

# A fixed set of locks, a key's by its hash: bounded however many keys the tests write.
_LOCKS = [threading.Lock() for _ in range(256)]
_put_object = S3Response.put_object


def _put_object_one_at_a_time(self):
    key = f"{self.bucket_name}/{self.parse_key_name()}".encode()
    with _LOCKS[zlib.crc32(key) % len(_LOCKS)]:
        return _put_object(self)


S3Response.put_object = _put_object_one_at_a_time

if __name__ == "__main__":
    sys.exit(main())
