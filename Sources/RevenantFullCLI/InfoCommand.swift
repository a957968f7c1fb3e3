import ArgumentParser
import RevenantCommands
import CKVM
import Glibc
import KVM
import LinuxABI
import Machine
import RevenantKit

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: CommandAbstract.info,
        discussion: """
            With a TRACE (from `revenant record`) it describes the recorded run: program, duration, events by kind, \
            sizes, blobs, trap strategy and CPU signature.
            """
    )

    @Argument(help: "A trace directory: describe the recorded run instead.")
    var trace: String?
    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if let trace { try requirePath(trace, "TRACE") }
    }

    func run() throws {
        if let trace { return try describeTrace(trace, json: json) }
        let (strategy, hypervisor) = TrapStrategy.probe()
        let sig = CPUSignature.captureHost()
        var kvmState = "usable"
        var memslots: Int32 = 0
        do {
            let kvm = try KVMSystem()
            memslots = kvm.checkExtension(KVM_CAP_NR_MEMSLOTS)
        } catch { kvmState = "unavailable: \(error)" }
        if json {
            let leaves = sig.leaves.map { l in
                "{\"leaf\":\(l.leaf),\"subleaf\":\(l.subleaf),"
                    + "\"eax\":\(l.eax),\"ebx\":\(l.ebx),\"ecx\":\(l.ecx),\"edx\":\(l.edx)}"
            }.joined(separator: ",")
            print(
                "{\"kvm\":\"\(kvmState)\",\"hypervisor\":\"\(hypervisor)\",\"trap_strategy\":\"\(strategy.rawValue)\","
                    + "\"memslots\":\(memslots),\"cpu_vendor\":\"\(sig.vendor)\",\"cpu_brand\":\"\(sig.brand)\","
                    + "\"cpuid\":[\(leaves)]}"
            )
            return
        }
        let determinism =
            strategy == .pvmUserStub
            ? "CPUID and RDTSC run natively (PVM cannot trap them): replay needs the same CPU signature"
            : "CPUID fixed, RDTSC trapped (planned)"
        let implemented = SyscallTable.entries.filter { $0.status != .unsupported }.count
        print(
            """
            /dev/kvm:       \(kvmState)\(memslots > 0 ? " (\(memslots) memory slots)" : "")
            hypervisor:     \(hypervisor)
            trap strategy:  \(strategy.rawValue)\(strategy == .ring0Sysret ? " (untested on hardware)" : "")
            CPU:            \(sig.vendor), \(sig.brand)
            CPU features:   \(sig.features.joined(separator: " "))
            determinism:    \(determinism)
            syscalls:       \(implemented) implemented (revenant syscalls)
            """)
    }
}

struct Syscalls: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "syscalls",
        abstract: CommandAbstract.syscalls)
    @Flag(help: "Print Docs/syscalls.md.")
    var markdown = false

    func run() throws {
        if markdown {
            print(SyscallTable.markdown(), terminator: "")
            return
        }
        for e in SyscallTable.entries.sorted(by: { $0.number < $1.number }) {
            let number = String(e.number).padding(4), name = e.name.padding(18)
            let status = e.status.rawValue.padding(12), replayClass = e.replayClass.rawValue.padding(17)
            let replay = e.replay.rawValue.padding(10)
            print("\(number) \(name) \(status) \(replayClass) \(replay) \(e.notes)")
        }
    }
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
