import Foundation
import GuestMemory
import LinuxABI
import Personality
import XCTest

/// A personality over a fresh 128 MiB address space, as the syscall-level tests use it: the host
/// read-only, `root` writable and the working directory, a heap at the program's start (1 MiB,
/// mapped) and an mmap area under the stack, as a loaded program would have.
func makeTestPersonality(
    root: URL, nondeterminism: Nondeterminism = HostNondeterminism(),
    diagnostic: @escaping (String) -> Void = { _ in }
) throws -> LinuxPersonality {
    let space = try AddressSpace(layout: GuestLayout(memory: 128 << 20))
    let config = PersonalityConfig(
        mounts: [
            Mount(guest: "/", host: "/", writable: false),
            Mount(guest: ByteString(root.path), host: ByteString(root.path), writable: true),
        ],
        cwd: ByteString(root.path), programPath: "/usr/bin/perl", network: false, diagnostic: diagnostic)
    let p = LinuxPersonality(memory: space, config: config, nondeterminism: nondeterminism)
    p.mmapTop = space.layout.end - (8 << 20)
    p.setBreak(space.layout.programStart + (1 << 20))
    XCTAssertEqual(space.map(start: space.layout.programStart, length: 1 << 20, prot: 3, backing: .anonymous), 0)
    return p
}

/// Run `body` with this thread's SIGCHLD disposition and mask put back afterwards: a personality
/// that serves a fork watches for its children's ends (SIGCHLD blocked, as in a VMM).
func preservingSIGCHLD<T>(_ body: () throws -> T) rethrows -> T {
    var saved = sigaction()
    sigaction(SIGCHLD, nil, &saved)
    var mask = sigset_t()
    pthread_sigmask(SIG_SETMASK, nil, &mask)
    defer {
        sigaction(SIGCHLD, &saved, nil)
        pthread_sigmask(SIG_SETMASK, &mask, nil)
    }
    return try body()
}
