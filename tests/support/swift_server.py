#!/usr/bin/python3
# A throw-away single-node OpenStack Swift with the s3api and tempauth middleware, for tests that
# need a real S3-compatible server on loopback (issue 6).
#
#   swift_server.py DIR        writes configs and one-replica rings under DIR, starts the proxy,
#                              account, container and object servers (workers = 0: one process
#                              each), prints "READY <proxy port>" once S3 answers, and runs until
#                              SIGTERM/SIGINT, then stops the servers. When DIR already holds a
#                              set-up (ports.json) it is started again as it was: same ports, same
#                              data (a restart after a kill).
#   swift_server.py --serve CONF SECTION   (internal) runs one server.
#
# Fault injection: the proxy pipeline starts with a filter that reads DIR/faults.json,
#   {"count": N, "status": 500, "match": "partNumber=3"}
# and answers the next N requests whose "METHOD PATH?QUERY" contains `match` ("" matches all)
# with `status` and an S3 error body, without passing them on; it counts down in the file and
# removes it at zero. Write the file atomically (temp file, rename).
#
# Credentials: access key "test:tester", secret "testing", region "us-east-1".
# Must run under Debian's /usr/bin/python3, which has the swift modules (python3-swift).
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ACCESS_KEY = "test:tester"
SECRET_KEY = "testing"


FAULT_FILE = "faults.json"


class FaultFilter:
    """Answers requests named in the fault file with an error instead of passing them on."""

    def __init__(self, app, path):
        self.app = app
        self.path = path

    def __call__(self, env, start_response):
        # The proxy is one eventlet process: no other request runs between this read and the
        # write below (plain file I/O does not yield), so the count is exact.
        try:
            with open(self.path) as f:
                spec = json.load(f)
        except (OSError, ValueError):
            return self.app(env, start_response)
        target = "%s %s?%s" % (env.get("REQUEST_METHOD", ""), env.get("PATH_INFO", ""),
                               env.get("QUERY_STRING", ""))
        count = int(spec.get("count", 0))
        if count <= 0 or spec.get("match", "") not in target:
            return self.app(env, start_response)
        spec["count"] = count - 1
        if spec["count"] <= 0:
            os.unlink(self.path)
        else:
            tmp = self.path + ".filter"
            with open(tmp, "w") as f:
                json.dump(spec, f)
            os.rename(tmp, self.path)
        # Read the request body so the client's upload ends normally (100-continue, keep-alive).
        length = int(env.get("CONTENT_LENGTH") or 0)
        while length > 0:
            chunk = env["wsgi.input"].read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)
        status = int(spec.get("status", 500))
        import http

        body = (b"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>InjectedFault</Code>"
                b"<Message>fault injected by the test</Message></Error>")
        if env.get("REQUEST_METHOD") == "HEAD":
            body = b""
        start_response("%d %s" % (status, http.HTTPStatus(status).phrase),
                       [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        return [body]


def filter_factory(global_conf, **local_conf):
    path = local_conf["fault_file"]
    return lambda app: FaultFilter(app, path)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def server_conf(swift_dir, devices, port, user, pipeline, extra):
    return f"""[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = 0
mount_check = false
devices = {devices}
swift_dir = {swift_dir}
user = {user}
log_level = WARNING
disable_fallocate = true
fallocate_reserve = 0

[pipeline:main]
pipeline = {pipeline}

{extra}
"""


def write_setup(base):
    import pwd

    from swift.common.ring import RingBuilder

    user = pwd.getpwuid(os.getuid()).pw_name
    devices = os.path.join(base, "devices")
    os.makedirs(os.path.join(devices, "sdb1"), exist_ok=True)
    with open(os.path.join(base, "swift.conf"), "w") as f:
        f.write("[swift-hash]\nswift_hash_path_suffix = sgtest\nswift_hash_path_prefix = sgtest\n"
                "[storage-policy:0]\nname = gold\ndefault = yes\n")
    ports = {name: free_port() for name in ("proxy", "account", "container", "object")}
    for name in ("account", "container", "object"):
        builder = RingBuilder(6, 1, 1)
        builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                         "port": ports[name], "device": "sdb1", "weight": 100})
        builder.rebalance()
        builder.get_ring().save(os.path.join(base, f"{name}.ring.gz"))
    confs = {}
    for name in ("account", "container", "object"):
        confs[name] = server_conf(base, devices, ports[name], user, f"{name}-server",
                                  f"[app:{name}-server]\nuse = egg:swift#{name}\n")
    proxy_extra = f"""[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:faults]
paste.filter_factory = swift_server:filter_factory
fault_file = {os.path.join(base, FAULT_FILE)}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

# tempauth insists on a memcache client object; none needs to be running (a refused connection
# is a cache miss), so point it at a port nobody listens on.
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{free_port()}

[filter:slo]
use = egg:swift#slo

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = {SECRET_KEY} .admin
"""
    confs["proxy"] = server_conf(
        base, devices, ports["proxy"], user,
        "faults catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth "
        "copy slo proxy-logging proxy-server", proxy_extra)
    paths = {}
    for name, text in confs.items():
        paths[name] = os.path.join(base, f"{name}-server.conf")
        with open(paths[name], "w") as f:
            f.write(text)
    with open(os.path.join(base, "ports.json.tmp"), "w") as f:
        json.dump({"ports": ports, "paths": paths}, f)
    os.rename(os.path.join(base, "ports.json.tmp"), os.path.join(base, "ports.json"))
    return ports, paths


def load_setup(base):
    with open(os.path.join(base, "ports.json")) as f:
        saved = json.load(f)
    return saved["ports"], saved["paths"]


def die_with_parent():
    # Swift's servers setsid() themselves, so a signal to the launcher's process group misses
    # them; ask the kernel to stop each one when its parent goes away instead.
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:
        sys.exit(1)


def serve(conf, section):
    die_with_parent()
    from swift.common.utils import set_swift_dir
    from swift.common.wsgi import run_wsgi

    set_swift_dir(os.path.dirname(conf))
    sys.exit(run_wsgi(conf, section))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) != 2:
        print("usage: swift_server.py DIR", file=sys.stderr)
        sys.exit(2)
    base = os.path.abspath(sys.argv[1])
    os.makedirs(base, exist_ok=True)
    if os.path.exists(os.path.join(base, "ports.json")):
        ports, paths = load_setup(base)
    else:
        ports, paths = write_setup(base)
    children = []
    log = open(os.path.join(base, "servers.log"), "ab")

    def stop(*_):
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.time() + 5
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for name in ("account", "container", "object", "proxy"):
        children.append(subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", paths[name], f"{name}-server"],
            stdout=log, stderr=log))
    url = f"http://127.0.0.1:{ports['proxy']}/healthcheck"
    deadline = time.time() + 60
    while True:
        for child in children:
            if child.poll() is not None:
                print(f"FAILED a server exited with {child.returncode}; see {base}/servers.log",
                      flush=True)
                stop()
        # Ready when the account, container and object servers accept connections (else the
        # proxy answers the first requests with 503) and the proxy's healthcheck says OK.
        if all(listening(ports[name]) for name in ("account", "container", "object")):
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
        if time.time() > deadline:
            print("FAILED proxy did not answer within 60 s", flush=True)
            stop()
        time.sleep(0.05)
    print(f"READY {ports['proxy']}", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
