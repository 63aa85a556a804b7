"""Start, stop and inspect the local Kafka (KRaft) and Cassandra that the project runs on.

Both are real Apache servers, fetched as jars from Maven Central by `mvn` into
`.stack/` (so the second start is offline), configured for loopback and small
heaps, and started in the background. `up` waits until each one answers a real
request (a Kafka metadata request, a CQL `SELECT release_version`); `down` stops
exactly the processes `up` started, by pid.

Usage: scripts/stack up|down [kafka|cassandra]...   scripts/stack status|logs
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sports_prophet.config import settings

KAFKA_VERSION = "4.1.1"
CASSANDRA_VERSION = "5.0.6"
LOG4J_VERSION = "2.24.3"

# JDK 17 module flags from Cassandra 5.0's own conf/jvm17-server.options.
CASSANDRA_JDK17_FLAGS = [
    *(f"--add-exports={m}=ALL-UNNAMED" for m in (
        "java.base/jdk.internal.misc", "java.base/jdk.internal.ref", "java.base/sun.nio.ch",
        "java.management.rmi/com.sun.jmx.remote.internal.rmi", "java.rmi/sun.rmi.registry",
        "java.rmi/sun.rmi.server", "java.sql/java.sql")),
    *(f"--add-opens={m}=ALL-UNNAMED" for m in (
        "java.base/java.lang.module", "java.base/jdk.internal.loader", "java.base/jdk.internal.ref",
        "java.base/jdk.internal.reflect", "java.base/jdk.internal.math", "java.base/jdk.internal.module",
        "java.base/jdk.internal.util.jar", "jdk.management/com.sun.management.internal",
        "java.base/sun.nio.ch", "java.base/java.io", "java.base/java.nio", "java.base/java.util.concurrent",
        "java.base/java.util", "java.base/java.util.concurrent.atomic", "java.base/java.lang",
        "java.base/java.math", "java.base/java.lang.reflect", "java.base/java.net")),
]


class StackError(RuntimeError):
    """A failure whose message already says what to do about it."""


@dataclass(frozen=True)
class Service:
    """One JVM server of the stack: where it lives, how it starts, how we know it answers."""

    name: str
    version: str
    artifacts: tuple[str, ...]          # groupId:artifactId:version
    ports: tuple[int, ...]
    write_config: Callable[["Service"], list[str]]   # writes config files, returns the java command
    probe: Callable[[], str]            # raises when not answering, returns a one-line description
    start_timeout: float

    @property
    def home(self) -> Path:
        return settings.stack_dir / self.name

    @property
    def lib(self) -> Path:
        return settings.jars_dir / f"{self.name}-{self.version}"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def log(self) -> Path:
        return settings.stack_dir / "logs" / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name}.pid"


def say(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- fetching jars

POM_TEMPLATE = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sports-prophet.stack</groupId><artifactId>{name}</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def fetch_jars(service: Service) -> None:
    """Copy the service's jars and their dependencies from Maven Central, once."""
    marker = service.lib / f".complete-{service.version}"
    if marker.exists():
        return
    if shutil.which("mvn") is None:
        raise StackError("Maven is not installed: run `apt-get install -y maven`")
    say(f"==> fetching {service.name} {service.version} jars from Maven Central (first start only)")
    service.lib.mkdir(parents=True, exist_ok=True)
    deps = "\n".join(
        "    <dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version></dependency>"
        .format(*coord.split(":")) for coord in service.artifacts)
    pom = settings.jars_dir / f"{service.name}-pom.xml"
    pom.write_text(POM_TEMPLATE.format(name=service.name, deps=deps))
    shutil.rmtree(service.lib, ignore_errors=True)
    result = subprocess.run(
        ["mvn", "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={service.lib}"],
        capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise StackError(
            f"Maven could not fetch the {service.name} jars. Is Maven Central reachable "
            f"(check proxy settings in ~/.m2/settings.xml)? Maven said:\n{tail}")
    marker.touch()


# ---------------------------------------------------------------- Kafka

def kafka_config(service: Service) -> list[str]:
    host, port = settings.kafka_host_port
    ctl = settings.kafka_controller_port
    props = service.home / "server.properties"
    props.write_text(f"""# written by scripts/stack; edits are overwritten
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{ctl}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{ctl}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={service.data}
num.partitions={settings.topic_partitions}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=4194304
log.retention.hours=168
""")
    (service.home / "log4j2.yaml").write_text("""Configuration:
  Appenders:
    Console: {name: STDOUT, PatternLayout: {pattern: "[%d] %p %m (%c)%n"}}
  Loggers:
    Root: {level: INFO, AppenderRef: [{ref: STDOUT}]}
    Logger:
      - {name: kafka, level: WARN}
      - {name: org.apache.kafka, level: WARN}
      - {name: kafka.server.KafkaRaftServer, level: INFO}
""")
    java_base = ["java", f"-Xmx{settings.kafka_heap}", "-Xms128m", "-XX:+UseG1GC",
                 f"-Dlog4j2.configurationFile={service.home / 'log4j2.yaml'}",
                 "-cp", f"{service.lib}/*"]
    if not (service.data / "meta.properties").exists():
        say("==> formatting Kafka's KRaft storage (first start only)")
        service.data.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [*java_base, "kafka.tools.StorageTool", "format", f"--cluster-id={uuid_for_kafka()}", "-c", str(props)],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage in {service.data} failed (exit {result.returncode}):\n"
                             f"{(result.stdout + result.stderr)[-2000:]}")
    return [*java_base, "kafka.Kafka", str(props)]


def uuid_for_kafka() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what `random-uuid` prints).

    Like Kafka's own, never one that starts with "-": a command line would take it for an option."""
    import base64
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def probe_kafka() -> str:
    from aiokafka import AIOKafkaClient

    async def metadata() -> str:
        client = AIOKafkaClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=3000)
        try:
            await client.bootstrap()
            meta = await client.fetch_all_metadata()
            if not meta.brokers():
                raise ConnectionError("no brokers in metadata yet")
            return f"{len(meta.brokers())} broker, {len(meta.topics())} topics"
        finally:
            await client.close()

    return asyncio.run(metadata())


# ---------------------------------------------------------------- Cassandra

def cassandra_config(service: Service) -> list[str]:
    host = settings.cassandra_contact_points[0]
    d = service.data
    yaml = service.home / "cassandra.yaml"
    yaml.write_text(f"""# written by scripts/stack; edits are overwritten
cluster_name: sports_prophet
num_tokens: 16
allocate_tokens_for_local_replication_factor: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_directory: {d}/commitlog
data_file_directories: [{d}/data]
saved_caches_directory: {d}/saved_caches
hints_directory: {d}/hints
cdc_raw_directory: {d}/cdc_raw
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{host}:{settings.cassandra_storage_port}"
listen_address: {host}
rpc_address: {host}
storage_port: {settings.cassandra_storage_port}
native_transport_port: {settings.cassandra_port}
start_native_transport: true
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
concurrent_reads: 8
concurrent_writes: 16
concurrent_compactors: 1
disk_access_mode: mmap_index_only
""")
    (service.home / "logback.xml").write_text(
        '<configuration><appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">'
        '<encoder><pattern>%-5level [%thread] %date{ISO8601} %msg%n</pattern></encoder></appender>'
        '<root level="INFO"><appender-ref ref="OUT"/></root></configuration>\n')
    return ["java", f"-Xmx{settings.cassandra_heap}", f"-Xms{settings.cassandra_heap}", "-XX:+UseG1GC",
            "-Djdk.attach.allowAttachSelf=true", "-Djava.net.preferIPv4Stack=true",
            *CASSANDRA_JDK17_FLAGS,
            f"-Dcassandra.config=file://{yaml}", "-Dcassandra-foreground=yes",
            f"-Dcassandra.storagedir={d}", f"-Dlogback.configurationFile={service.home / 'logback.xml'}",
            f"-Dcassandra.jmx.local.port={settings.cassandra_jmx_port}",
            "-Dcassandra.skip_wait_for_gossip_to_settle=0", "-Dcassandra.ring_delay_ms=1000",
            "-cp", f"{service.lib}/*", "org.apache.cassandra.service.CassandraDaemon"]


def probe_cassandra() -> str:
    from cassandra.cluster import Cluster

    cluster = Cluster(settings.cassandra_contact_points, port=settings.cassandra_port,
                      connect_timeout=3, control_connection_timeout=3)
    try:
        session = cluster.connect()
        row = session.execute("SELECT release_version FROM system.local", timeout=5).one()
        return f"Cassandra {row.release_version}"
    finally:
        cluster.shutdown()


KAFKA = Service(
    name="kafka", version=KAFKA_VERSION,
    artifacts=(f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
               f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}"),
    ports=(settings.kafka_host_port[1], settings.kafka_controller_port),
    write_config=kafka_config, probe=probe_kafka, start_timeout=90)
CASSANDRA = Service(
    name="cassandra", version=CASSANDRA_VERSION,
    artifacts=(f"org.apache.cassandra:cassandra-all:{CASSANDRA_VERSION}",),
    ports=(settings.cassandra_port, settings.cassandra_storage_port, settings.cassandra_jmx_port),
    write_config=cassandra_config, probe=probe_cassandra, start_timeout=180)
SERVICES = (KAFKA, CASSANDRA)


# ---------------------------------------------------------------- processes

def running_pid(service: Service) -> int | None:
    """The pid from our pid file, if that process is alive and is really this stack's server."""
    try:
        pid = int(service.pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid if str(service.home).encode() in cmdline else None


def alive(pid: int) -> bool:
    """Whether the process runs (an exited child of ours lingers as a zombie until reaped).
    Checked by state, not by command line: the java launcher may re-exec itself as it starts."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start(service: Service) -> None:
    if running_pid(service):
        say(f"    {service.name}: already running (pid {running_pid(service)})")
        return
    for port in service.ports:
        deadline = time.monotonic() + 15          # a server stopped a moment ago may still hold it
        while port_taken(port) and time.monotonic() < deadline:
            time.sleep(0.5)
        if port_taken(port):
            raise StackError(
                f"port {port} (for {service.name}) is taken by another process: find it with "
                f"`ss -ltnp 'sport = :{port}'` and stop it, or choose other ports (see README, Settings)")
    if shutil.which("java") is None:
        raise StackError("no Java found: run `apt-get install -y openjdk-17-jdk-headless`")
    fetch_jars(service)
    service.home.mkdir(parents=True, exist_ok=True)
    command = service.write_config(service)
    service.log.parent.mkdir(parents=True, exist_ok=True)
    with open(service.log, "ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=service.home, start_new_session=True)
    service.pid_file.write_text(str(proc.pid))
    say(f"==> started {service.name} {service.version} (pid {proc.pid}), log: {service.log}")


def wait_ready(service: Service) -> None:
    deadline = time.monotonic() + service.start_timeout
    started = time.monotonic()
    last_error = ""
    pid = int(service.pid_file.read_text())
    while time.monotonic() < deadline:
        if not alive(pid):
            tail = "\n".join(service.log.read_text(errors="replace").splitlines()[-20:])
            raise StackError(f"{service.name} exited during start-up; last lines of {service.log}:\n{tail}")
        try:
            detail = service.probe()
            say(f"    {service.name}: ready after {time.monotonic() - started:.0f}s ({detail})")
            return
        except Exception as exc:  # not answering yet: keep waiting, show progress
            last_error = f"{type(exc).__name__}: {exc}"
        say(f"    waiting for {service.name} to answer ... {time.monotonic() - started:.0f}s")
        time.sleep(2)
    raise StackError(f"{service.name} did not answer within {service.start_timeout:.0f}s "
                     f"(last error: {last_error}); see {service.log}")


def stop(service: Service) -> None:
    pid = running_pid(service)
    if pid is None:
        say(f"    {service.name}: not running")
        service.pid_file.unlink(missing_ok=True)
        return
    say(f"==> stopping {service.name} (pid {pid})")
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.5)
    if Path(f"/proc/{pid}").exists():
        say(f"    {service.name} did not stop in 45s: killing it")
        os.killpg(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists():
            time.sleep(0.2)
    service.pid_file.unlink(missing_ok=True)


def chosen(names: list[str]) -> list[Service]:
    """The services named (all when none is), in start order."""
    unknown = set(names) - {s.name for s in SERVICES}
    if unknown:
        raise StackError(f"unknown service {', '.join(sorted(unknown))}: choose from "
                         f"{', '.join(s.name for s in SERVICES)}")
    return [s for s in SERVICES if not names or s.name in names]


def up(names: list[str] = []) -> None:  # noqa: B006 — never mutated
    services = chosen(names)
    for service in services:   # start both JVMs first, so they boot in parallel
        start(service)
    for service in services:
        wait_ready(service)
    from cql.apply import apply_schema
    apply_schema()
    say(f"==> stack up: Kafka at {settings.kafka_bootstrap}, Cassandra at "
        f"{settings.cassandra_contact_points[0]}:{settings.cassandra_port}; logs in {settings.stack_dir / 'logs'}")


def down(names: list[str] = []) -> None:  # noqa: B006 — never mutated
    for service in reversed(chosen(names)):
        stop(service)


def status() -> int:
    healthy = True
    for service in SERVICES:
        pid = running_pid(service)
        if pid is None:
            say(f"{service.name:10} stopped")
            healthy = False
            continue
        try:
            detail = service.probe()
        except Exception as exc:
            detail, healthy = f"not answering ({type(exc).__name__}: {exc})", False
        say(f"{service.name:10} pid {pid:<8} {detail}   log: {service.log}")
    return 0 if healthy else 1


def main(argv: list[str] | None = None) -> int:
    # The probes fail on purpose while a server boots; the clients' own logs of that are noise.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "status"
    try:
        if command == "up":
            up(args[1:])
        elif command == "down":
            down(args[1:])
        elif command == "status":
            return status()
        elif command == "logs":
            for service in SERVICES:
                say(f"{service.name}: {service.log}")
        else:
            say(__doc__.strip().splitlines()[-1])
            return 2
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
