#!/usr/bin/env bash
# Apache Kafka (the real broker, from Maven Central) for CI and integration tests.
#
#   bash deploy/kafka.sh fetch    # mvn copies kafka_2.13 + logging jars into .run/kafka/libs (once)
#   bash deploy/kafka.sh start    # single-node KRaft broker+controller, prints + writes .run/kafka.env
#   bash deploy/kafka.sh stop     # stop it and wait for it to exit
#   bash deploy/kafka.sh wipe     # stop, delete all data, start empty ("broker loses everything")
#   bash deploy/kafka.sh status
#
# `start` prints `export YIPANQI_TEST_KAFKA=127.0.0.1:19092` on stdout; all other
# output goes to stderr. Everything lives under .run/kafka/ (gitignored):
#   libs/  jars          data/  log.dirs (KRaft metadata + topics)
#   logs/  server.log + stdout of the JVM      server.properties, log4j.properties, kafka.pid
# Needs only Java 17 and Maven (jars are cached in ~/.m2 between fetches).
# Another broker beside it (a benchmark's): YIPANQI_KAFKA_STATE=dir YIPANQI_KAFKA_PORT=… YIPANQI_KAFKA_CONTROLLER_PORT=…
# (YIPANQI_KAFKA_HEAP, default 512m).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$ROOT/.run"
KDIR="$RUN/kafka"
LIBS="$KDIR/libs"
# YIPANQI_KAFKA_STATE: another broker's own directory (data, logs, config, pid, env file), e.g. a benchmark's
# throwaway broker beside the test broker; the jars stay shared in $LIBS.
STATE="${YIPANQI_KAFKA_STATE:-$KDIR}"
DATA="$STATE/data"
LOGS="$STATE/logs"
CONF="$STATE/server.properties"
LOG4J="$STATE/log4j.properties"
PIDFILE="$STATE/kafka.pid"
if [[ -n "${YIPANQI_KAFKA_STATE:-}" ]]; then ENVFILE="$STATE/kafka.env"; else ENVFILE="$RUN/kafka.env"; fi
POM="$ROOT/deploy/kafka/pom.xml"

HOST=127.0.0.1
PORT="${YIPANQI_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${YIPANQI_KAFKA_CONTROLLER_PORT:-19093}"
HEAP="${YIPANQI_KAFKA_HEAP:-512m}"
START_TIMEOUT="${YIPANQI_KAFKA_START_TIMEOUT:-60}"

log() { echo "kafka.sh: $*" >&2; }

kafka_version() {
    sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1
}

# Marker written only after a successful copy, so an interrupted fetch is retried.
fetched_marker() { echo "$LIBS/.fetched-$(kafka_version)"; }

cmd_fetch() {
    if [[ -f "$(fetched_marker)" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || { log "mvn not found (apt-get install maven)"; return 1; }
    log "fetching Apache Kafka $(kafka_version) jars into $LIBS (Maven Central)"
    rm -rf "$LIBS"
    mkdir -p "$LIBS"
    local t0=$SECONDS
    if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DoutputDirectory="$LIBS" >"$KDIR/fetch.log" 2>&1; then
        log "maven failed (see $KDIR/fetch.log):"
        tail -n 30 "$KDIR/fetch.log" >&2
        return 1
    fi
    ls "$LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 || { log "fetch finished but kafka_2.13 jar is missing"; return 1; }
    touch "$(fetched_marker)"
    log "fetched $(ls "$LIBS"/*.jar | wc -l) jars in $((SECONDS - t0))s"
}

pid_alive() {
    # Alive *and* really our broker (guards against a recycled pid).
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $CONF"
}

port_open() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

emit() {
    mkdir -p "$RUN"
    printf 'export YIPANQI_TEST_KAFKA=%s:%s\n' "$HOST" "$PORT" >"$ENVFILE.tmp"
    mv "$ENVFILE.tmp" "$ENVFILE"
    cat "$ENVFILE"
}

java_opts() {
    # Same JVM settings for the storage tool and the broker.
    JAVA_OPTS=(-Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
        -Djava.awt.headless=true
        -Dlog4j.configuration="file:$LOG4J" -Dkafka.logs.dir="$LOGS"
        -cp "$LIBS/*")
}

java_cmd() {
    java_opts
    java "${JAVA_OPTS[@]}" "$@"
}

write_config() {
    mkdir -p "$DATA" "$LOGS"
    cat >"$CONF" <<EOF
# Written by deploy/kafka.sh on every start; edit the script, not this file.
# Single node, KRaft, broker and controller in one process.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA

# One node: every replication factor is 1.
auto.create.topics.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0

# Development broker: keep everything (events must not age out under a test run).
log.retention.ms=-1
log.segment.bytes=104857600
num.network.threads=2
num.io.threads=4
EOF
    cat >"$LOG4J" <<'EOF'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
log4j.logger.state.change.logger=WARN
EOF
}

format_once() {
    # KRaft needs meta.properties in log.dirs before the first start.
    if [[ -f "$DATA/meta.properties" ]]; then
        return 0
    fi
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>>"$LOGS/storage-tool.log" | tail -n1)"
    [[ -n "$cluster_id" ]] || { log "StorageTool random-uuid failed"; cat "$LOGS/storage-tool.log" >&2; return 1; }
    log "formatting $DATA (cluster id $cluster_id)"
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$CONF" >>"$LOGS/storage-tool.log" 2>&1 \
        || { log "StorageTool format failed:"; tail -n 20 "$LOGS/storage-tool.log" >&2; return 1; }
}

started_since() {
    # Not `tail | grep -q`: under `set -o pipefail` grep's early exit gives tail a SIGPIPE and the pipeline fails
    # whenever much was logged after the line, so a busy broker was never seen as ready (and was then stopped).
    local f
    for f in "$LOGS/server.log" "$LOGS/server.log.1"; do
        [[ -f "$f" ]] || continue
        if awk -v since="$1" 'substr($0, 2, 19) >= since && /Kafka Server started/ { found = 1; exit } END { exit !found }' "$f"; then
            return 0
        fi
    done
    return 1
}

show_failure() {
    log "--- tail of $LOGS/server.log ---"
    tail -n 40 "$LOGS/server.log" >&2 2>/dev/null || true
    log "--- tail of $LOGS/kafka.out ---"
    tail -n 20 "$LOGS/kafka.out" >&2 2>/dev/null || true
}

cmd_start() {
    if pid_alive && port_open "$PORT"; then
        emit
        return 0
    fi
    if pid_alive; then
        log "broker process $(cat "$PIDFILE") is up but $HOST:$PORT does not answer; restarting it"
        cmd_stop
    fi
    if port_open "$PORT"; then
        log "$HOST:$PORT is already taken by another process (not ours); refusing to start"
        return 1
    fi
    cmd_fetch
    command -v java >/dev/null || { log "java not found (Java 17 needed)"; return 1; }
    write_config
    format_once

    # Ready = "Kafka Server started" logged after this moment. A timestamp rather than a line number, because
    # log4j may roll server.log over while the broker starts (busy clients make it log a lot).
    local since
    since="$(date '+%Y-%m-%d %H:%M:%S')"
    log "starting Apache Kafka $(kafka_version) on $HOST:$PORT (controller $CONTROLLER_PORT)"
    # setsid: the broker must outlive the shell (and process group) that started it.
    # The child records its own pid, which stays the JVM's pid after exec.
    rm -f "$PIDFILE"
    java_opts
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" java "${JAVA_OPTS[@]}" kafka.Kafka "$CONF" \
        </dev/null >>"$LOGS/kafka.out" 2>&1 &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s "$PIDFILE" ]] && break
        sleep 0.1
    done

    # Ready = port answers and the server logged that start-up finished.
    local deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! pid_alive; then
            log "broker exited during start-up"
            show_failure
            return 1
        fi
        if port_open "$PORT" && started_since "$since"; then
            log "ready after $((SECONDS - deadline + START_TIMEOUT))s (pid $(cat "$PIDFILE"))"
            emit
            return 0
        fi
        sleep 0.5
    done
    log "broker not ready after ${START_TIMEOUT}s"
    show_failure
    cmd_stop
    return 1
}

cmd_stop() {
    if ! pid_alive; then
        rm -f "$PIDFILE"
        log "not running"
        return 0
    fi
    local pid
    pid="$(cat "$PIDFILE")"
    log "stopping broker (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 60; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "still alive after 30s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
    # The listener can linger for a moment after exit; wait for the port to close.
    for ((i = 0; i < 20; i++)); do
        port_open "$PORT" || break
        sleep 0.25
    done
    rm -f "$PIDFILE"
}

cmd_wipe() {
    cmd_stop
    log "deleting $DATA"
    rm -rf "$DATA"
    cmd_start
}

cmd_status() {
    if pid_alive && port_open "$PORT"; then
        echo "running: Apache Kafka $(kafka_version), pid $(cat "$PIDFILE"), $HOST:$PORT"
    elif pid_alive; then
        echo "starting or unhealthy: pid $(cat "$PIDFILE"), $HOST:$PORT not answering"
        return 1
    else
        echo "stopped"
        return 3
    fi
}

case "${1:-}" in
    fetch) cmd_fetch ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    wipe) cmd_wipe ;;
    status) cmd_status ;;
    *) echo "usage: $0 fetch|start|stop|wipe|status" >&2; exit 2 ;;
esac
