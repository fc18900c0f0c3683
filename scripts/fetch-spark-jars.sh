#!/usr/bin/env bash
# Fetch the jars Spark needs to read the lake sinks' tables in the integration tests (Iceberg's
# Spark runtime, Delta's Spark connector and its storage layer, the SQLite JDBC driver for
# pyiceberg's catalog) from Maven Central into ${ARROWTAIL_CACHE:-$HOME/.cache/arrowtail}/spark-jars.
# The versions match pyspark 4.1 (Scala 2.13). Does nothing when they are already there.
set -euo pipefail

artifacts=(
    org.apache.iceberg:iceberg-spark-runtime-4.1_2.13:1.12.0
    io.delta:delta-spark_4.1_2.13:4.4.0
    io.delta:delta-storage:4.4.0
    org.xerial:sqlite-jdbc:3.50.3.0
)
cache="${ARROWTAIL_CACHE:-$HOME/.cache/arrowtail}"
dest="$cache/spark-jars"
if [[ -f "$dest/.complete" ]]; then
    echo "fetch-spark-jars: already in $dest"
    exit 0
fi
command -v mvn >/dev/null || { echo "fetch-spark-jars: Maven (mvn) is required" >&2; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d "$cache/.spark-fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
for artifact in "${artifacts[@]}"; do
    echo "fetch-spark-jars: $artifact"
    mvn -q -B -Dstyle.color=never dependency:copy -Dartifact="$artifact" -DoutputDirectory="$work"
done
touch "$work/.complete"
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "fetch-spark-jars: $(ls "$dest" | wc -l) jars in $dest"
