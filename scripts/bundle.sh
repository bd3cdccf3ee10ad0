#!/usr/bin/env bash
# Builds a self-contained bundle for a machine with a GPU and nothing else: the application jar, a jlink'd Java
# runtime holding only the modules Cramjet uses, and the `cramjet` launcher, in build/bundle/ (ignored by git),
# plus build/cramjet-bundle.tar.gz. Fails if the bundle folder exceeds 45 MiB (what may be sent to a GPU machine at once is 64 MiB, working tree and data included). See docs/CUDA.md for how to use it.
# Usage: scripts/bundle.sh            (JAVA_HOME or the launcher's search must find a JDK 25; needs Maven)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
limit=$((45 * 1024 * 1024))

if [ -z "${JAVA_HOME:-}" ] || [ ! -x "$JAVA_HOME/bin/jlink" ]; then
  for c in /usr/lib/jvm/*25*; do [ -x "$c/bin/jlink" ] && JAVA_HOME=$c && break; done
fi
[ -x "${JAVA_HOME:-}/bin/jlink" ] || { echo "bundle: need a JDK 25 with jlink (set JAVA_HOME)" >&2; exit 2; }
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
command -v mvn >/dev/null || { echo "bundle: Maven (mvn) is needed to build the jar" >&2; exit 2; }

echo "bundle: building the jar…"
mvn -B -q -Dstyle.color=never -DskipTests package
jar=target/cramjet.jar

# The modules the code needs, as jdeps sees them (jdk.httpserver among them: `cramjet serve` runs on the JDK's own
# HTTP server), plus the incubator Vector API the launcher adds at run time (jdeps cannot see a module that is only
# named on the command line).
modules=$(jdeps --multi-release 25 --ignore-missing-deps --print-module-deps --add-modules jdk.incubator.vector "$jar")
modules="$modules,jdk.incubator.vector"
# java.desktop (AWT, ImageIO) only draws the PNG charts and is a sixth of the runtime (about 10 MiB with its
# native libraries); without it a report says so and keeps every number (report.Report.plotsMissing), so the
# bundle stays well under what can be sent to a GPU machine at once.
modules=$(echo "$modules" | tr , '\n' | grep -vx java.desktop | paste -sd, -)
case ",$modules," in *,jdk.httpserver,*) ;; *) echo "bundle: jdeps did not list jdk.httpserver, which serve needs" >&2; exit 1 ;; esac
echo "bundle: modules $modules"

out=build/bundle
rm -rf "$out"
mkdir -p "$out"
jlink --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --compress=zip-9 \
      --output "$out/runtime"
# The JDK ships libjvm.so with its full symbol table (about 5 MB); the dynamic symbols the JVM needs stay.
if command -v strip >/dev/null; then
  find "$out/runtime" -name '*.so' -exec strip --strip-unneeded {} +
fi
cp "$jar" "$out/cramjet.jar"
cp cramjet "$out/cramjet"
chmod +x "$out/cramjet"
cp docs/CUDA.md "$out/README-CUDA.md"

size=$(du -sb "$out" | cut -f1)
tar -C build -czf build/cramjet-bundle.tar.gz bundle
packed=$(stat -c %s build/cramjet-bundle.tar.gz)
awk -v s="$size" -v p="$packed" -v o="$out" 'BEGIN { printf "bundle: %s is %.1f MiB (%.1f MiB as build/cramjet-bundle.tar.gz)\n", o, s / 1048576, p / 1048576 }'
"$out/cramjet" help >/dev/null || { echo "bundle: the bundled launcher does not start" >&2; exit 1; }
if [ "$size" -gt "$limit" ]; then
  echo "bundle: larger than the 45 MiB limit" >&2
  exit 1
fi
