#!/usr/bin/env bash
# Builds conformance/harness/harness.elf reproducibly (no debug info, no build id,
# no absolute paths) and prints its sha256.  CI rebuilds it and compares the bytes
# with the committed file.
set -euo pipefail
cd "$(dirname "$0")"
CC=${CC:-riscv64-unknown-elf-gcc}
export LC_ALL=C SOURCE_DATE_EPOCH=0
"$CC" -march=rv64imac_zicsr_zifencei -mabi=lp64 -mcmodel=medany \
  -nostdlib -nostartfiles -ffreestanding -fno-builtin -static \
  -O2 -g0 -Wall -Wextra -Werror \
  -fno-pic -fno-asynchronous-unwind-tables -fno-unwind-tables \
  -ffile-prefix-map="$PWD"=. \
  -Wl,--build-id=none -Wl,-T,link.ld -Wl,--no-warn-rwx-segments \
  -o harness.elf.tmp harness.S harness.c
mv harness.elf.tmp harness.elf
sha256sum harness.elf
