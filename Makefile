# Revenant — record/replay of Linux programs in a deterministic KVM virtual machine.
#   make demo    install what is missing (apt), build, and show what works so far
#   make test    the whole test suite (KVM tests skip loudly without /dev/kvm;
#                REVENANT_REQUIRE_KVM=1 makes that a failure, as .ci/run does)
#   make bench   benchmarks (interleaved rounds; writes bench-results/)
#   make docs    regenerate the syscall names (from the system's headers) and Docs/syscalls.md
#   make shims   build the guest shims (Shims/perl) into .build/shims, where revenant finds them

SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

# Build and test dependencies from Debian (the code needs liblz4-dev and libcapstone-dev, perl/sqlite
# headers for the shims; tests and benchmarks use the rest; clang-format checks the C in `make lint`).
APT_PACKAGES := liblz4-dev pkg-config libperl-dev libsqlite3-dev linux-libc-dev sqlite3 libdbd-sqlite3-perl \
                perl gcc make hyperfine valgrind strace qemu-user clang-format libcapstone-dev gdb \
                python3 python3-jsonschema

# The hand-written C that .clang-format governs: the shims, the guest agents' channel, headers and
# stub accessors (not stub.S), the Swift packages' C targets. Shim.xs is left out (XS, not C).
C_FORMAT_FILES := $(wildcard GuestAgents/channel/*.c GuestAgents/include/*.h GuestAgents/stub/*.c \
                    Shims/*/*.c Shims/*/*.h Sources/C*/*.c Sources/C*/*.h Sources/C*/include/*.h)

# One build configuration everywhere (a clean release build takes minutes on 2 cores). Both
# executables are linked as static PIEs (Package.swift reads REVENANT_LINK), which glibc starts only
# without a RUNPATH: hence --disable-local-rpath (Docs/machine.md "Start-up").
export REVENANT_LINK := static-pie
SWIFT_CONFIG := -c release --disable-local-rpath
BIN := .build/release/revenant

.PHONY: all deps build shims lint test demo bench docs clean format

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The tests are built with the same configuration as the binary (no second, testable build).
# `make build` installs nothing: `make deps` (or demo, test) does.
build: shims
	swift build $(SWIFT_CONFIG) --build-tests

# The shims run inside the guest: the Perl XS module, built against the installed perl, and the
# SQLite LD_PRELOAD library; both out of the source tree, where revenant looks for them.
shims:
	bash Shims/perl/build.sh .build/shims/perl
	bash Shims/sqlite/build.sh .build/shims/sqlite

# The checked-in formatter configurations hold: .swift-format (swift-format, 120 columns) for the
# Swift, .clang-format (clang-format) for the C.
lint:
	swift format lint --strict -r Sources Tests Package.swift
	clang-format --dry-run --Werror $(C_FORMAT_FILES)

test: deps lint build
	bash Shims/perl/build.sh .build/shims/perl --test
	bash Shims/sqlite/build.sh .build/shims/sqlite --test
	swift test $(SWIFT_CONFIG) --skip-build 2>&1 | tee .build/test.log; exit $${PIPESTATUS[0]}

demo: deps build
	@bash Scripts/demo.sh $(BIN)

bench: deps build
	@python3 Scripts/bench.py $(BIN)

docs:
	python3 Scripts/gen-syscall-names.py
	$(MAKE) build
	$(BIN) syscalls --markdown > Docs/syscalls.md

# Apply the formatter (then `make lint` holds).
format:
	swift format format -i -r Sources Tests Package.swift
	clang-format -i $(C_FORMAT_FILES)

clean:
	rm -rf .build bench-results
