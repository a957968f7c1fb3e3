#!/usr/bin/env python3
"""Writes Sources/LinuxABI/SyscallNames.swift from the installed <asm/unistd_64.h>."""
import re
src = open('/usr/include/x86_64-linux-gnu/asm/unistd_64.h').read()
items = re.findall(r'#define __NR_(\w+) (\d+)', src)
lines = ["// Generated from <asm/unistd_64.h> (linux-libc-dev); the x86-64 syscall numbers by name.",
         "// Regenerate with Scripts/gen-syscall-names.py when the headers grow.",
         "public enum SyscallNames {",
         "    public static let byNumber: [Int: String] = ["]
lines += [f'        {v}: "{n}",' for n, v in items]
lines += ["    ]",
          "    public static let byName: [String: Int] = Dictionary(uniqueKeysWithValues: byNumber.map { ($1, $0) })",
          "}"]
open('Sources/LinuxABI/SyscallNames.swift', 'w').write("\n".join(lines) + "\n")
