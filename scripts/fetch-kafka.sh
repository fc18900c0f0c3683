#!/usr/bin/env bash
# Fetch the jars of an Apache Kafka broker (KRaft, no ZooKeeper) from Maven Central for the
# integration tests: the runtime dependencies of kafka_2.13 plus its SLF4J->log4j2 binding, as
# listed in scripts/kafka-pom.xml, into ${ARROWTAIL_CACHE:-$HOME/.cache/arrowtail}/kafka-<version>/libs.
# Does nothing when that directory is already complete.
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

# A complete fetch leaves this marker; a half-finished one never lands in $dest at all.
if [[ -f "$dest/libs/.complete" && -f "$dest/libs/kafka_2.13-$version.jar" ]]; then
    echo "fetch-kafka: Kafka $version already in $dest/libs"
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
