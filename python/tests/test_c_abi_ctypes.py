"""The C ABI itself, driven through ctypes with its own declarations (not the
package's): every function of include/mavftp.h, blocking and _async, against
our server. It loads the library the installed package bundles, so it checks
the very file users get. (Part of the package's pytest suite; it is a plain
unittest module, so `python -m unittest` runs it too.)
"""

import ctypes as C
import os
import socket
import tempfile
import threading
import unittest

import mavftp

LIB = C.CDLL(mavftp.LIBRARY_PATH)

SUCCESS, NEXT, TIMEOUT, FILE_EXISTS, FILE_DOES_NOT_EXIST, INVALID_PARAMETER = 1, 2, 3, 6, 7, 9
NO_SYSTEM = 12


class Progress(C.Structure):
    _fields_ = [("bytes_transferred", C.c_uint32), ("total_bytes", C.c_uint32)]


class SigningStats(C.Structure):
    _fields_ = [(name, C.c_uint64) for name in (
        "frames_signed", "accepted_signed", "accepted_unsigned", "dropped", "unsigned_frames",
        "bad_signature", "replay", "stale_stream", "too_many_streams")]


class Entry(C.Structure):
    _fields_ = [("name", C.c_char_p), ("type", C.c_uint32),
                ("size_bytes", C.c_uint64), ("modification_time_s", C.c_uint64)]


class List(C.Structure):
    _fields_ = [("dirs", C.POINTER(C.c_char_p)), ("dirs_len", C.c_size_t),
                ("files", C.POINTER(C.c_char_p)), ("files_len", C.c_size_t),
                ("entries", C.POINTER(Entry)), ("entries_len", C.c_size_t)]


PROGRESS_CB = C.CFUNCTYPE(None, C.c_int32, Progress, C.c_void_p)
RESULT_CB = C.CFUNCTYPE(None, C.c_int32, C.c_void_p)
LIST_CB = C.CFUNCTYPE(None, C.c_int32, C.POINTER(List), C.c_void_p)
BOOL_CB = C.CFUNCTYPE(None, C.c_int32, C.c_bool, C.c_void_p)

P = C.c_void_p
S = C.c_char_p
for name, args in {
    "mavftp_link_open": [S, C.c_uint8, C.c_uint8, C.POINTER(P)],
    "mavftp_link_feed": [P, C.c_char_p, C.c_size_t],
    "mavftp_link_first_heard_system": [P, C.POINTER(C.c_uint8)],
    "mavftp_link_last_heard": [P, C.c_uint8, C.c_uint8, C.POINTER(C.c_uint64)],
    "mavftp_link_set_signing": [P, C.c_char_p, C.c_size_t, C.c_uint8, C.c_bool],
    "mavftp_link_clear_signing": [P],
    "mavftp_link_signing_stats": [P, C.POINTER(SigningStats)],
    "mavftp_server_new": [P, S, C.POINTER(P)],
    "mavftp_server_set_read_only": [P, C.c_bool],
    "mavftp_server_set_link_rate": [P, C.c_uint32],
    "mavftp_client_new": [P, C.c_uint8, C.c_uint8, C.POINTER(P)],
    "mavftp_client_set_target_compid": [P, C.c_uint32],
    "mavftp_client_set_timeout": [P, C.c_uint32, C.c_uint32],
    "mavftp_client_set_window_caps": [P, C.c_uint32, C.c_uint32],
    "mavftp_client_cancel": [P],
    "mavftp_client_download": [P, S, S, C.c_bool, PROGRESS_CB, P],
    "mavftp_client_download_async": [P, S, S, C.c_bool, PROGRESS_CB, P],
    "mavftp_client_upload": [P, S, S, PROGRESS_CB, P],
    "mavftp_client_upload_async": [P, S, S, PROGRESS_CB, P],
    "mavftp_client_list_directory": [P, S, C.POINTER(C.POINTER(List))],
    "mavftp_client_list_directory_async": [P, S, LIST_CB, P],
    "mavftp_client_create_directory": [P, S],
    "mavftp_client_create_directory_async": [P, S, RESULT_CB, P],
    "mavftp_client_remove_directory": [P, S],
    "mavftp_client_remove_directory_async": [P, S, RESULT_CB, P],
    "mavftp_client_remove_file": [P, S],
    "mavftp_client_remove_file_async": [P, S, RESULT_CB, P],
    "mavftp_client_rename": [P, S, S],
    "mavftp_client_rename_async": [P, S, S, RESULT_CB, P],
    "mavftp_client_are_files_identical": [P, S, S, C.POINTER(C.c_bool)],
    "mavftp_client_are_files_identical_async": [P, S, S, BOOL_CB, P],
}.items():
    fn = getattr(LIB, name)
    fn.argtypes = args
    fn.restype = C.c_int32
for name, args in {"mavftp_link_free": [P], "mavftp_server_free": [P],
                   "mavftp_client_free": [P], "mavftp_list_free": [C.POINTER(List)]}.items():
    fn = getattr(LIB, name)
    fn.argtypes = args
    fn.restype = None
LIB.mavftp_result_str.argtypes = [C.c_int32]
LIB.mavftp_result_str.restype = S
LIB.mavftp_version.argtypes = []
LIB.mavftp_version.restype = S
LIB.mavftp_client_last_error.argtypes = [P]
LIB.mavftp_client_last_error.restype = S
LIB.mavftp_last_error.argtypes = []
LIB.mavftp_last_error.restype = S


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pattern(n, seed):
    return bytes((i * 131 + seed * 7 + (i >> 8)) & 0xFF for i in range(n))


class Waiter:
    """Collects one async operation's callbacks."""

    def __init__(self):
        self.event = threading.Event()
        self.result = None
        self.value = None
        self.next_calls = 0
        self.finals = 0

    def wait(self, test):
        test.assertTrue(self.event.wait(60), "callback never came")
        return self.result

    def final(self, result, value=None):
        self.result, self.value = result, value
        self.finals += 1
        self.event.set()


class NoPeer(unittest.TestCase):
    def test_result_str_for_every_value_and_unknown(self):
        self.assertEqual(LIB.mavftp_result_str(1), b"success")
        self.assertEqual(LIB.mavftp_result_str(13), b"cancelled")
        self.assertEqual(LIB.mavftp_result_str(99), b"unknown result")
        for r in range(0, 14):
            self.assertTrue(LIB.mavftp_result_str(r))

    def test_version_is_semver(self):
        self.assertEqual(len(LIB.mavftp_version().split(b".")), 3)

    def test_calls_without_a_client_keep_their_detail_in_the_thread(self):
        out = P()
        self.assertEqual(LIB.mavftp_link_open(b"nonsense://x", 0, 0, C.byref(out)), INVALID_PARAMETER)
        self.assertIn(b"nonsense://x", LIB.mavftp_last_error())
        self.assertEqual(LIB.mavftp_server_set_read_only(None, True), INVALID_PARAMETER)
        self.assertEqual(LIB.mavftp_last_error(), b"server is NULL")

    def test_null_arguments_are_invalid_parameter(self):
        out = P()
        self.assertEqual(LIB.mavftp_link_open(None, 0, 0, C.byref(out)), INVALID_PARAMETER)
        self.assertEqual(LIB.mavftp_client_new(None, 1, 1, C.byref(out)), INVALID_PARAMETER)
        self.assertEqual(LIB.mavftp_client_cancel(None), INVALID_PARAMETER)
        sysid, ms = C.c_uint8(7), C.c_uint64(7)
        self.assertEqual(LIB.mavftp_link_first_heard_system(None, C.byref(sysid)), INVALID_PARAMETER)
        self.assertEqual(LIB.mavftp_link_last_heard(None, 1, 1, C.byref(ms)), INVALID_PARAMETER)
        self.assertEqual((sysid.value, ms.value), (7, 7))
        stats = SigningStats()
        self.assertEqual(LIB.mavftp_link_set_signing(None, bytes(32), 32, 0, True), INVALID_PARAMETER)
        self.assertEqual(LIB.mavftp_link_clear_signing(None), INVALID_PARAMETER)
        self.assertEqual(LIB.mavftp_link_signing_stats(None, C.byref(stats)), INVALID_PARAMETER)
        LIB.mavftp_client_free(None)
        LIB.mavftp_link_free(None)
        LIB.mavftp_list_free(None)


class AgainstOurServer(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = os.path.join(self.tmp.name, "root")
        self.local = os.path.join(self.tmp.name, "local")
        os.mkdir(self.root)
        os.mkdir(self.local)
        port = free_port()
        self.slink, self.clink, self.server, self.client = P(), P(), P(), P()
        self.assertEqual(LIB.mavftp_link_open(f"udpin://127.0.0.1:{port}".encode(), 1, 1,
                                              C.byref(self.slink)), SUCCESS)
        self.assertEqual(LIB.mavftp_server_new(self.slink, self.root.encode(),
                                               C.byref(self.server)), SUCCESS)
        self.assertEqual(LIB.mavftp_link_open(f"udpout://127.0.0.1:{port}".encode(), 0, 0,
                                              C.byref(self.clink)), SUCCESS)
        self.assertEqual(LIB.mavftp_client_new(self.clink, 1, 1, C.byref(self.client)), SUCCESS)
        self.assertEqual(LIB.mavftp_client_set_timeout(self.client, 200, 5), SUCCESS)
        heard = C.c_uint8()
        for _ in range(300):  # the server's heartbeat, once it has heard ours
            if LIB.mavftp_link_first_heard_system(self.clink, C.byref(heard)) == SUCCESS:
                break
            threading.Event().wait(0.01)
        self.assertEqual(heard.value, 1)
        ms = C.c_uint64()
        self.assertEqual(LIB.mavftp_link_last_heard(self.clink, 1, 1, C.byref(ms)), SUCCESS)
        self.assertLess(ms.value, 5000)
        self.assertEqual(LIB.mavftp_link_last_heard(self.clink, 1, 77, C.byref(ms)), NO_SYSTEM)
        self.assertEqual(LIB.mavftp_client_set_window_caps(self.client, 0, 16), SUCCESS)
        self.keep = []  # ctypes callbacks must outlive their calls

    def tearDown(self):
        LIB.mavftp_client_free(self.client)
        LIB.mavftp_server_free(self.server)
        LIB.mavftp_link_free(self.clink)
        LIB.mavftp_link_free(self.slink)
        self.tmp.cleanup()

    def progress_cb(self, waiter):
        def cb(result, progress, _user):
            if result == NEXT:
                waiter.next_calls += 1
            else:
                waiter.final(result)
        f = PROGRESS_CB(cb)
        self.keep.append(f)
        return f

    def result_cb(self, waiter):
        f = RESULT_CB(lambda r, _u: waiter.final(r))
        self.keep.append(f)
        return f

    def test_signing_required_by_the_server(self):
        key = bytes(range(32))
        self.assertEqual(LIB.mavftp_link_set_signing(self.slink, key, 31, 1, True), INVALID_PARAMETER)
        self.assertEqual(LIB.mavftp_link_set_signing(self.slink, key, 32, 1, True), SUCCESS)
        self.assertEqual(LIB.mavftp_link_set_signing(self.clink, key, 32, 2, True), SUCCESS)
        self.assertEqual(LIB.mavftp_client_create_directory(self.client, b"/signed"), SUCCESS)
        self.assertTrue(os.path.isdir(os.path.join(self.root, "signed")))
        self.assertEqual(LIB.mavftp_link_clear_signing(self.clink), SUCCESS)
        self.assertEqual(LIB.mavftp_client_set_timeout(self.client, 100, 1), SUCCESS)
        self.assertEqual(LIB.mavftp_client_create_directory(self.client, b"/unsigned"), TIMEOUT)
        self.assertFalse(os.path.exists(os.path.join(self.root, "unsigned")))
        stats = SigningStats()
        self.assertEqual(LIB.mavftp_link_signing_stats(self.slink, C.byref(stats)), SUCCESS)
        self.assertGreater(stats.accepted_signed, 0)
        self.assertGreater(stats.dropped, 0)
        self.assertEqual(stats.dropped, stats.unsigned_frames)

    def test_every_operation_byte_for_byte(self):
        c = self.client
        for n in (0, 1, 239, 240, 1_000_000):
            data = pattern(n, n % 97)
            with open(os.path.join(self.root, f"f{n}.bin"), "wb") as f:
                f.write(data)
            for burst in (False, True):
                w = Waiter()
                self.assertEqual(LIB.mavftp_client_download(c, f"/f{n}.bin".encode(), self.local.encode(),
                                                            burst, self.progress_cb(w), None), SUCCESS)
                self.assertEqual(w.finals, 1)
                with open(os.path.join(self.local, f"f{n}.bin"), "rb") as f:
                    self.assertEqual(f.read(), data)
                os.remove(os.path.join(self.local, f"f{n}.bin"))
            w = Waiter()
            self.assertEqual(LIB.mavftp_client_download_async(c, f"/f{n}.bin".encode(), self.local.encode(),
                                                              True, self.progress_cb(w), None), SUCCESS)
            self.assertEqual(w.wait(self), SUCCESS)
            with open(os.path.join(self.local, f"f{n}.bin"), "rb") as f:
                self.assertEqual(f.read(), data)

        self.assertEqual(LIB.mavftp_client_create_directory(c, b"/up"), SUCCESS)
        self.assertEqual(LIB.mavftp_client_create_directory(c, b"/up"), FILE_EXISTS)
        w = Waiter()
        self.assertEqual(LIB.mavftp_client_create_directory_async(c, b"/d2", self.result_cb(w), None), SUCCESS)
        self.assertEqual(w.wait(self), SUCCESS)
        for n in (0, 1, 239, 240, 1_000_000):
            src = os.path.join(self.local, f"u{n}.bin")
            data = pattern(n, 3)
            with open(src, "wb") as f:
                f.write(data)
            w = Waiter()
            self.assertEqual(LIB.mavftp_client_upload(c, src.encode(), b"/up", self.progress_cb(w), None), SUCCESS)
            with open(os.path.join(self.root, "up", f"u{n}.bin"), "rb") as f:
                self.assertEqual(f.read(), data)
            os.remove(os.path.join(self.root, "up", f"u{n}.bin"))
            w = Waiter()
            self.assertEqual(LIB.mavftp_client_upload_async(c, src.encode(), b"/up", self.progress_cb(w), None),
                             SUCCESS)
            self.assertEqual(w.wait(self), SUCCESS)
            with open(os.path.join(self.root, "up", f"u{n}.bin"), "rb") as f:
                self.assertEqual(f.read(), data)
            same = C.c_bool(False)
            self.assertEqual(LIB.mavftp_client_are_files_identical(c, src.encode(), f"/up/u{n}.bin".encode(),
                                                                   C.byref(same)), SUCCESS)
            self.assertTrue(same.value)
            w = Waiter()
            cb = BOOL_CB(lambda r, v, _u: w.final(r, v))
            self.keep.append(cb)
            self.assertEqual(LIB.mavftp_client_are_files_identical_async(c, src.encode(), b"/f1.bin", cb, None),
                             SUCCESS)
            self.assertEqual(w.wait(self), SUCCESS)
            self.assertFalse(w.value)  # /f1.bin has other bytes than any upload

        lst = C.POINTER(List)()
        self.assertEqual(LIB.mavftp_client_list_directory(c, b"/", C.byref(lst)), SUCCESS)
        dirs = [lst.contents.dirs[i] for i in range(lst.contents.dirs_len)]
        files = [lst.contents.files[i] for i in range(lst.contents.files_len)]
        self.assertEqual(dirs, [b"d2", b"up"])
        self.assertEqual(files, sorted(f"f{n}.bin".encode() for n in (0, 1, 239, 240, 1_000_000)))
        sizes = {lst.contents.entries[i].name: lst.contents.entries[i].size_bytes
                 for i in range(lst.contents.entries_len)}
        self.assertEqual(sizes[b"f1000000.bin"], 1_000_000)
        LIB.mavftp_list_free(lst)
        w = Waiter()
        names = []

        def on_list(r, l, _u):
            if r == SUCCESS:
                names.extend(l.contents.entries[i].name for i in range(l.contents.entries_len))
            w.final(r)
        cb = LIST_CB(on_list)
        self.keep.append(cb)
        self.assertEqual(LIB.mavftp_client_list_directory_async(c, b"/up", cb, None), SUCCESS)
        self.assertEqual(w.wait(self), SUCCESS)
        self.assertEqual(len(names), 5)

        self.assertEqual(LIB.mavftp_client_rename(c, b"/f1.bin", b"/g1.bin"), SUCCESS)
        w = Waiter()
        self.assertEqual(LIB.mavftp_client_rename_async(c, b"/g1.bin", b"/h1.bin", self.result_cb(w), None), SUCCESS)
        self.assertEqual(w.wait(self), SUCCESS)
        self.assertTrue(os.path.exists(os.path.join(self.root, "h1.bin")))
        self.assertEqual(LIB.mavftp_client_remove_file(c, b"/h1.bin"), SUCCESS)
        self.assertEqual(LIB.mavftp_client_remove_file(c, b"/h1.bin"), FILE_DOES_NOT_EXIST)
        self.assertTrue(LIB.mavftp_client_last_error(c))
        w = Waiter()
        self.assertEqual(LIB.mavftp_client_remove_file_async(c, b"/f0.bin", self.result_cb(w), None), SUCCESS)
        self.assertEqual(w.wait(self), SUCCESS)
        self.assertEqual(LIB.mavftp_client_remove_directory(c, b"/d2"), SUCCESS)
        os.mkdir(os.path.join(self.root, "d3"))
        w = Waiter()
        self.assertEqual(LIB.mavftp_client_remove_directory_async(c, b"/d3", self.result_cb(w), None), SUCCESS)
        self.assertEqual(w.wait(self), SUCCESS)
        self.assertFalse(os.path.exists(os.path.join(self.root, "d3")))
        self.assertEqual(LIB.mavftp_client_set_target_compid(c, 256), INVALID_PARAMETER)
        self.assertEqual(LIB.mavftp_client_set_target_compid(c, 1), SUCCESS)
        self.assertEqual(LIB.mavftp_client_create_directory(c, b"/" + b"a" * 238), INVALID_PARAMETER)
        self.assertEqual(LIB.mavftp_client_create_directory(c, b"/bad\xc3\x28"), INVALID_PARAMETER)
        self.assertEqual(LIB.mavftp_client_cancel(c), SUCCESS)
        self.assertEqual(LIB.mavftp_server_set_read_only(self.server, True), SUCCESS)
        self.assertEqual(LIB.mavftp_server_set_link_rate(None, 1000), INVALID_PARAMETER)
        self.assertEqual(LIB.mavftp_server_set_link_rate(self.server, 3000000), SUCCESS)


if __name__ == "__main__":
    unittest.main()
