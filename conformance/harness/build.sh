#!/usr/bin/env bash
# Builds conformance/harness/harness.elf reproducibly and prints its sha256:
# no debug info, no build id, no paths or timestamps (the output does not depend
# on the directory it is built in).
#   ./build.sh           rebuild harness.elf
#   ./build.sh --check   rebuild into a temporary file and compare it byte for byte
#                        with the committed harness.elf (exit 1 if they differ)
set -euo pipefail
cd "$(dirname "$0")"
CC=${CC:-riscv64-unknown-elf-gcc}
export LC_ALL=C SOURCE_DATE_EPOCH=0
out=harness.elf.tmp.$$
trap 'rm -f "$out"' EXIT
"$CC" -march=rv64imac_zicsr_zifencei -mabi=lp64 -mcmodel=medany \
  -nostdlib -nostartfiles -ffreestanding -fno-builtin -static \
  -O2 -g0 -Wall -Wextra -Werror \
  -fno-pic -fno-asynchronous-unwind-tables -fno-unwind-tables \
  -ffile-prefix-map="$PWD"=. \
  -Wl,--build-id=none -Wl,-T,link.ld -Wl,--no-warn-rwx-segments \
  -o "$out" harness.S harness.c
if [ "${1:-}" = --check ]; then
  sha256sum "$out" | sed "s/$out/harness.elf (rebuilt)/"
  sha256sum harness.elf
  if cmp -s "$out" harness.elf; then echo "harness.elf is up to date"; else echo "harness.elf differs from its sources: run conformance/harness/build.sh" >&2; exit 1; fi
else
  mv "$out" harness.elf
  sha256sum harness.elf
fi
