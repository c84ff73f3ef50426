#!/usr/bin/env bash
# Installs libmavftp as a C/C++ library into a prefix:
#   include/mavftp.h, include/mavftp.hpp
#   lib/libmavftp.so.X.Y.Z (SONAME libmavftp.so.X, debug info stripped) and the
#     symlinks libmavftp.so.X and libmavftp.so; lib/.debug/libmavftp.so.X.Y.Z.debug
#     (the debug info, found by gdb through the .gnu_debuglink section)
#   lib/libmavftp.a (debug info stripped)
#   lib/pkgconfig/mavftp.pc
#   lib/cmake/mavftp/mavftpConfig.cmake, mavftpConfigVersion.cmake (mavftp::mavftp)
#
# Usage: packaging/install.sh [--prefix DIR] [--libdir DIR] [--includedir DIR]
#                             [--from DIR] [--no-debug-file]
#   --prefix DIR     where to install (default: $PREFIX, else /usr/local)
#   --libdir DIR     default PREFIX/lib; --includedir DIR default PREFIX/include
#   --from DIR       install the libmavftp.so/.a already built in DIR instead of
#                    running `cargo build --release --lib` (target/release)
#   --no-debug-file  do not install the separate debug file
# Environment: DESTDIR stages the install under another root (packagers: the
# files land in $DESTDIR$PREFIX, while mavftp.pc and the CMake files name
# $PREFIX); CARGO_TARGET_DIR and CARGO as for cargo.
# Needs: cargo, binutils (objcopy, strip, readelf), coreutils.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${PREFIX:-/usr/local}"
libdir=""
includedir=""
from=""
debug_file=1

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --libdir) libdir="${2:?--libdir needs a directory}"; shift 2 ;;
    --libdir=*) libdir="${1#*=}"; shift ;;
    --includedir) includedir="${2:?--includedir needs a directory}"; shift 2 ;;
    --includedir=*) includedir="${1#*=}"; shift ;;
    --from) from="${2:?--from needs a directory}"; shift 2 ;;
    --from=*) from="${1#*=}"; shift ;;
    --no-debug-file) debug_file=0; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
libdir="${libdir:-$prefix/lib}"
includedir="${includedir:-$prefix/include}"
destdir="${DESTDIR:-}"
for dir in "$prefix" "$libdir" "$includedir"; do
  case "$dir" in
    /*) ;;
    *) die "install directories must be absolute: $dir" ;;
  esac
  case "$dir" in
    *'|'*|*'@'*|*$'\n'*) die "unsupported character in $dir" ;;
  esac
done
for tool in objcopy strip readelf realpath; do
  command -v "$tool" >/dev/null || die "$tool not found (binutils/coreutils)"
done

version="$(sed -n 's/^version = "\([0-9][0-9.]*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
IFS=. read -r major minor patch <<<"$version"
[ -n "${patch:-}" ] || die "cannot read the version from Cargo.toml"

if [ -n "$from" ]; then
  built="$from"
else
  target="${CARGO_TARGET_DIR:-$root/target}"
  case "$target" in /*) ;; *) target="$root/$target" ;; esac
  built="$target/release"
  (cd "$root" && "${CARGO:-cargo}" build --release --lib)
fi
for f in libmavftp.so libmavftp.a; do
  [ -f "$built/$f" ] || die "$built/$f is missing (build with: cargo build --release --lib)"
done
soname="libmavftp.so.$major"
readelf -d "$built/libmavftp.so" | grep -q "Library soname: \[$soname\]" \
  || die "$built/libmavftp.so lacks SONAME $soname (build.rs sets it; rebuild)"

real="libmavftp.so.$version"
d_lib="$destdir$libdir"
d_inc="$destdir$includedir"
d_pc="$d_lib/pkgconfig"
d_cmake="$d_lib/cmake/mavftp"
install -d "$d_lib" "$d_inc" "$d_pc" "$d_cmake"

install -m 644 "$root/include/mavftp.h" "$root/include/mavftp.hpp" "$d_inc/"

# Shared library: debug info moved to a separate file, the rest stripped of
# everything a dynamic link does not need.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$built/libmavftp.so" "$tmp/$real"
if [ "$debug_file" = 1 ]; then
  objcopy --only-keep-debug "$tmp/$real" "$tmp/$real.debug"
  strip --strip-unneeded "$tmp/$real"
  objcopy --add-gnu-debuglink="$tmp/$real.debug" "$tmp/$real"
  install -d "$d_lib/.debug"
  install -m 644 "$tmp/$real.debug" "$d_lib/.debug/$real.debug"
else
  strip --strip-unneeded "$tmp/$real"
fi
rm -f "$d_lib/$real" "$d_lib/$soname" "$d_lib/libmavftp.so"
install -m 755 "$tmp/$real" "$d_lib/$real"
ln -s "$real" "$d_lib/$soname"
ln -s "$soname" "$d_lib/libmavftp.so"

cp "$built/libmavftp.a" "$tmp/libmavftp.a"
strip --strip-debug "$tmp/libmavftp.a"
install -m 644 "$tmp/libmavftp.a" "$d_lib/libmavftp.a"

# System libraries libmavftp.a needs (from `rustc --print native-static-libs`).
libs_private="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
cmake_libs_private="gcc_s;util;rt;Threads::Threads;m;dl"

# pkg-config names directories under ${prefix} when they are under it.
pc_dir() {
  case "$1" in
    "$prefix") echo '${prefix}' ;;
    "$prefix"/*) echo "\${prefix}/${1#"$prefix"/}" ;;
    *) echo "$1" ;;
  esac
}
rel() { realpath -m --relative-to="$1" "$2"; }
sizeof_void_p=$(( $(getconf LONG_BIT) / 8 ))

subst() {
  sed -e "s|@PREFIX@|$prefix|g" \
      -e "s|@LIBDIR@|$(pc_dir "$libdir")|g" \
      -e "s|@INCLUDEDIR@|$(pc_dir "$includedir")|g" \
      -e "s|@VERSION@|$version|g" \
      -e "s|@MAJOR@|$major|g" \
      -e "s|@MINOR@|$minor|g" \
      -e "s|@LIBS_PRIVATE@|$libs_private|g" \
      -e "s|@CMAKE_LIBS_PRIVATE@|$cmake_libs_private|g" \
      -e "s|@CMAKE_TO_PREFIX@|$(rel "$libdir/cmake/mavftp" "$prefix")|g" \
      -e "s|@LIBDIR_REL@|$(rel "$prefix" "$libdir")|g" \
      -e "s|@INCLUDEDIR_REL@|$(rel "$prefix" "$includedir")|g" \
      -e "s|@SIZEOF_VOID_P@|$sizeof_void_p|g" \
      "$1"
}
subst "$root/packaging/mavftp.pc.in" > "$tmp/mavftp.pc"
subst "$root/packaging/mavftpConfig.cmake.in" > "$tmp/mavftpConfig.cmake"
subst "$root/packaging/mavftpConfigVersion.cmake.in" > "$tmp/mavftpConfigVersion.cmake"
if grep -q '@[A-Z_]*@' "$tmp/mavftp.pc" "$tmp/mavftpConfig.cmake" "$tmp/mavftpConfigVersion.cmake"; then
  die "a template placeholder was left unreplaced"
fi
install -m 644 "$tmp/mavftp.pc" "$d_pc/mavftp.pc"
install -m 644 "$tmp/mavftpConfig.cmake" "$tmp/mavftpConfigVersion.cmake" "$d_cmake/"

size=$(stat -c %s "$d_lib/$real")
echo "installed mavftp $version into ${destdir}${prefix}:"
echo "  $d_inc/mavftp.h, mavftp.hpp"
echo "  $d_lib/$real ($size bytes, stripped; SONAME $soname) + $soname, libmavftp.so symlinks"
if [ "$debug_file" = 1 ]; then
  echo "  $d_lib/.debug/$real.debug (debug info)"
fi
echo "  $d_lib/libmavftp.a"
echo "  $d_pc/mavftp.pc"
echo "  $d_cmake/mavftpConfig.cmake, mavftpConfigVersion.cmake (target mavftp::mavftp)"
