#!/usr/bin/env bash
# Fetch the jars of an Apache Kafka broker (KRaft, no ZooKeeper) from Maven Central for the
# integration tests: the runtime dependencies of kafka_2.13 plus its SLF4J->log4j2 binding, as
# listed in scripts/kafka-pom.xml, into ${ARROWTAIL_CACHE:-$HOME/.cache/arrowtail}/kafka-<version>/libs;
# then a standalone Kafka Connect worker and Debezium's JDBC sink, PostgreSQL and MariaDB connectors
# (scripts/connect-pom.xml) into .../connect-<version>/{libs,plugins}. Does nothing for a directory that is already complete.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/kafka-pom.xml"
version="$(sed -n 's|.*<kafka.version>\(.*\)</kafka.version>.*|\1|p' "$pom")"
if [[ -z "$version" ]]; then
    echo "fetch-kafka: no <kafka.version> in $pom" >&2
    exit 1
fi
cache="${ARROWTAIL_CACHE:-$HOME/.cache/arrowtail}"
dest="$cache/kafka-$version"

fetch_connect() {
    local cpom="$here/connect-pom.xml" cversion dbz cdest cwork archive
    cversion="$(sed -n 's|.*<kafka.version>\(.*\)</kafka.version>.*|\1|p' "$cpom")"
    dbz="$(sed -n 's|.*<debezium.version>\(.*\)</debezium.version>.*|\1|p' "$cpom")"
    cdest="$cache/connect-$cversion"
    # The JDBC sink reads arrowtail's topics; the PostgreSQL and MariaDB source connectors
    # capture the same changes for the golden comparison with Debezium's own events.
    local connectors=(jdbc postgres mariadb) c complete=1
    for c in "${connectors[@]}"; do
        [[ -f "$cdest/plugins/debezium-connector-$c/debezium-connector-$c-$dbz.jar" ]] || complete=0
    done
    if [[ -f "$cdest/.complete" && $complete == 1 ]]; then
        echo "fetch-kafka: Kafka Connect $cversion and Debezium $dbz connectors already in $cdest"
        return 0
    fi
    mkdir -p "$cache"
    cwork="$(mktemp -d "$cache/.connect-fetch.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$cwork'" RETURN
    cp "$cpom" "$cwork/pom.xml"
    echo "fetch-kafka: resolving Kafka Connect $cversion and Debezium $dbz connectors from Maven Central"
    (cd "$cwork" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=libs)
    # The released plugin archive, as Debezium ships it: its own Jackson and drivers, which a
    # folder assembled from the connector's Maven dependencies would clash with.
    mkdir -p "$cwork/plugins"
    for c in "${connectors[@]}"; do
        (cd "$cwork" && mvn -q -B -Dstyle.color=never dependency:copy \
            "-Dartifact=io.debezium:debezium-connector-$c:$dbz:tar.gz:plugin" -DoutputDirectory=archive)
        archive="$cwork/archive/debezium-connector-$c-$dbz-plugin.tar.gz"
        tar -xzf "$archive" -C "$cwork/plugins"
        if [[ ! -f "$cwork/plugins/debezium-connector-$c/debezium-connector-$c-$dbz.jar" ]]; then
            echo "fetch-kafka: Debezium's $c connector is missing after the Maven run" >&2
            return 1
        fi
    done
    if [[ ! -f "$cwork/libs/connect-runtime-$cversion.jar" ]]; then
        echo "fetch-kafka: the Connect worker is missing after the Maven run" >&2
        return 1
    fi
    rm -rf "$cwork/archive" "$cwork/pom.xml"
    touch "$cwork/.complete"
    rm -rf "$cdest"
    mv "$cwork" "$cdest"
    echo "fetch-kafka: Kafka Connect in $cdest/libs, Debezium connectors in $cdest/plugins"
}

# A complete fetch leaves this marker; a half-finished one never lands in $dest at all.
if [[ -f "$dest/libs/.complete" && -f "$dest/libs/kafka_2.13-$version.jar" ]]; then
    echo "fetch-kafka: Kafka $version already in $dest/libs"
    fetch_connect
    exit 0
fi

for tool in mvn java; do
    if ! command -v "$tool" >/dev/null; then
        echo "fetch-kafka: '$tool' is required (Java 17 and Maven)" >&2
        exit 1
    fi
done

mkdir -p "$cache"
work="$(mktemp -d "$cache/.kafka-fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$pom" "$work/pom.xml"
echo "fetch-kafka: resolving Kafka $version from Maven Central"
(cd "$work" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=libs)
if [[ ! -f "$work/libs/kafka_2.13-$version.jar" ]]; then
    echo "fetch-kafka: kafka_2.13-$version.jar missing after the Maven run" >&2
    exit 1
fi
touch "$work/libs/.complete"
rm -rf "$dest"
mkdir -p "$dest"
mv "$work/libs" "$dest/libs"
echo "fetch-kafka: $(find "$dest/libs" -name '*.jar' | wc -l) jars in $dest/libs"
fetch_connect
