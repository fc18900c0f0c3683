#!/usr/bin/env bash
# Fetch a schema registry for the Avro tests from Maven Central: the Apicurio Registry server
# (its `all` tar.gz, a Quarkus application run as `java -jar quarkus-run.jar`, Java 21 or newer)
# into ${ARROWTAIL_CACHE:-$HOME/.cache/arrowtail}/apicurio-registry-<version>/, and Apicurio's
# Kafka Connect converter with its runtime dependencies into
# .../apicurio-converter-<version>/apicurio-converter/ (the parent is an entry for a Connect
# worker's plugin.path). Versions are in scripts/registry-pom.xml.
# Does nothing for a directory that is already complete.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/registry-pom.xml"
registry="$(sed -n 's|.*<registry.version>\(.*\)</registry.version>.*|\1|p' "$pom")"
converter="$(sed -n 's|.*<converter.version>\(.*\)</converter.version>.*|\1|p' "$pom")"
if [[ -z "$registry" || -z "$converter" ]]; then
    echo "fetch-registry: no <registry.version> or <converter.version> in $pom" >&2
    exit 1
fi
cache="${ARROWTAIL_CACHE:-$HOME/.cache/arrowtail}"
rdest="$cache/apicurio-registry-$registry"
cdest="$cache/apicurio-converter-$converter"

if [[ -f "$rdest/.complete" && -f "$cdest/.complete" ]]; then
    echo "fetch-registry: Apicurio Registry $registry and converter $converter already in $cache"
    exit 0
fi
if ! command -v mvn >/dev/null; then
    echo "fetch-registry: 'mvn' is required" >&2
    exit 1
fi

mkdir -p "$cache"
work="$(mktemp -d "$cache/.registry-fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp "$pom" "$work/pom.xml"

if [[ ! -f "$rdest/.complete" ]]; then
    echo "fetch-registry: resolving Apicurio Registry $registry from Maven Central"
    (cd "$work" && mvn -q -B -Dstyle.color=never dependency:copy \
        "-Dartifact=io.apicurio:apicurio-registry-app:$registry:tar.gz:all" -DoutputDirectory=archive)
    mkdir -p "$work/registry"
    tar -xzf "$work/archive/apicurio-registry-app-$registry-all.tar.gz" -C "$work/registry"
    # The archive holds one top folder with quarkus-run.jar (its name varies between releases).
    run_jar="$(find "$work/registry" -maxdepth 3 -name quarkus-run.jar | head -n 1)"
    if [[ -z "$run_jar" ]]; then
        echo "fetch-registry: no quarkus-run.jar in the Apicurio Registry archive" >&2
        exit 1
    fi
    app="$(dirname "$run_jar")"
    touch "$app/.complete"
    rm -rf "$rdest"
    mv "$app" "$rdest"
    echo "fetch-registry: Apicurio Registry in $rdest"
fi

if [[ ! -f "$cdest/.complete" ]]; then
    echo "fetch-registry: resolving Apicurio's Kafka Connect converter $converter from Maven Central"
    (cd "$work" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory=converter)
    if ! compgen -G "$work/converter/apicurio-registry-utils-converter-*.jar" >/dev/null; then
        echo "fetch-registry: the converter is missing after the Maven run" >&2
        exit 1
    fi
    mkdir -p "$work/plugins"
    mv "$work/converter" "$work/plugins/apicurio-converter"
    touch "$work/plugins/.complete"
    rm -rf "$cdest"
    mv "$work/plugins" "$cdest"
    echo "fetch-registry: $(find "$cdest" -name '*.jar' | wc -l) converter jars in $cdest"
fi
