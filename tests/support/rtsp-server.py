#!/usr/bin/python3
"""A real RTSP test camera: GStreamer's RTSP server streaming video files as H.264, looped forever.

Run with Debian's own /usr/bin/python3 (python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good,
-ugly for x264enc, gstreamer1.0-libav for the file's codec). Usage:

    /usr/bin/python3 rtsp-server.py --port 0 [--mount vtest=/path/to/file.avi ...] [--fps 10]

Prints `READY rtsp://127.0.0.1:PORT/<mount>` (one line per mount, the last one is followed by
`READY-ALL`) on stdout once it listens.

Why the decoding runs in its own pipeline instead of inside the RTSP media: a media pipeline that
reaches the end of the file sends EOS to every client and cannot simply seek back while clients are
attached. Here one "producer" pipeline per mount decodes the file at its native rate (appsink
sync=true) and seeks back to the start at the end; the shared RTSP media takes the raw frames from an
appsrc that timestamps them itself, so the stream time keeps running across loops. The producer plays
only while a client is attached (a 2-core box runs several of these during benches).
"""

import argparse
import ctypes
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtspServer  # noqa: E402

DEFAULT_FILE = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


class Producer:
    """Decodes one file to raw I420 frames at its native rate, forever, for whoever is attached."""

    def __init__(self, name, path, trace=False):
        self.name = name
        self.trace = trace
        self.sinks = set()  # appsrc elements of the prepared medias of this mount
        self.pipeline = Gst.parse_launch(
            f'filesrc location="{path}" ! decodebin ! videoconvert ! video/x-raw,format=I420 '
            "! appsink name=out sync=true max-buffers=2 drop=true emit-signals=true"
        )
        self.appsink = self.pipeline.get_by_name("out")
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)
        # Preroll once to learn the caps (size, framerate) the RTSP media announces.
        self.pipeline.set_state(Gst.State.PAUSED)
        ok, _, _ = self.pipeline.get_state(10 * Gst.SECOND)
        if ok == Gst.StateChangeReturn.FAILURE:
            raise RuntimeError(f"cannot decode {path}")
        sample = self.appsink.emit("pull-preroll")
        if sample is None:
            raise RuntimeError(f"no video frames in {path}")
        self.caps = sample.get_caps()
        self.appsink.connect("new-sample", self.on_sample)

    def on_message(self, _bus, msg):
        if msg.type == Gst.MessageType.EOS:
            # Loop: a flushing seek back to the start; the appsrc side re-timestamps, so clients see no jump.
            self.pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        elif msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(f"ERROR {self.name}: {err.message} ({dbg})", file=sys.stderr, flush=True)

    def on_sample(self, sink):
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.OK
        if self.trace and self.sinks:
            # For latency measurements: when (wall clock) which frame of the file went to the encoder.
            dur = sample.get_buffer().duration
            pts = sample.get_buffer().pts
            index = round(pts / dur) if dur and dur != Gst.CLOCK_TIME_NONE else -1
            print(f"PUSH {self.name} {time.time() * 1000:.1f} {index}", flush=True)
        for src in list(self.sinks):
            buf = sample.get_buffer().copy()
            # appsrc do-timestamp stamps it with the media's running time.
            buf.pts = Gst.CLOCK_TIME_NONE
            buf.dts = Gst.CLOCK_TIME_NONE
            buf.duration = Gst.CLOCK_TIME_NONE
            src.emit("push-buffer", buf)
        return Gst.FlowReturn.OK

    def attach(self, src):
        self.sinks.add(src)
        self.pipeline.set_state(Gst.State.PLAYING)

    def detach(self, src):
        self.sinks.discard(src)
        if not self.sinks:
            self.pipeline.set_state(Gst.State.PAUSED)


class Factory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, producer, key_int):
        super().__init__()
        self.producer = producer
        self.set_shared(True)  # N clients on one mount share one encoder
        caps = producer.caps.to_string()
        self.set_launch(
            f'( appsrc name=src is-live=true do-timestamp=true format=time caps="{caps}" '
            "! queue max-size-buffers=4 leaky=downstream ! videoconvert "
            # threads=1: one slice per picture. With zerolatency's sliced threads (several slices per picture)
            # and SPS/PPS before every IDR, ffmpeg cut each key picture in two and first handed out a
            # half-decoded one (vtest: a smeared top-left every 5th frame); one slice, or config-interval=1, avoids it.
            f"! x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max={key_int} bitrate=1500 "
            "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
        self.connect("media-configure", self.on_configure)

    def on_configure(self, _factory, media):
        src = media.get_element().get_by_name("src")
        self.producer.attach(src)
        media.connect("unprepared", lambda _m: self.producer.detach(src))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0: any free port (printed in the READY line)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--mount", action="append", default=[], help="name=file, repeatable (default vtest=vtest.avi)")
    ap.add_argument("--key-int", type=int, default=5, help="frames between key frames (small: a reconnect starts fast)")
    ap.add_argument("--trace", action="store_true", help="print `PUSH <mount> <wall ms> <frame index>` per frame sent")
    args = ap.parse_args()

    # Die with the test runner that started us (PR_SET_PDEATHSIG): a crashed vitest must not leave a camera behind.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass
    Gst.init(None)
    mounts = []
    for spec in args.mount or [f"vtest={DEFAULT_FILE}"]:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = "vtest", spec
        mounts.append((name.strip("/"), path))

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    table = server.get_mount_points()
    for name, path in mounts:
        table.add_factory(f"/{name}", Factory(Producer(name, path, args.trace), args.key_int))
    if server.attach(None) == 0:
        print(f"ERROR cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        sys.exit(2)

    port = server.get_bound_port()
    for name, _ in mounts:
        print(f"READY rtsp://{args.host}:{port}/{name}", flush=True)
    print("READY-ALL", flush=True)

    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    loop.run()


if __name__ == "__main__":
    main()
