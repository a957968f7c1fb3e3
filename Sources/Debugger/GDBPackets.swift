import Glibc
import LinuxABI
import Machine

/// The packets gdb sends to a stopped program, and their answers (Docs/gdb.md "Packets").
extension GDBServer {
    /// Answer packets until one resumes the program (its resume), or gdb goes away (.abort).
    func servePackets() -> DebugResume {
        while let packet = connection.receive() {
            if packet == [0x03] { continue }  // an interrupt while stopped: nothing runs
            if let resume = handle(String(decoding: packet, as: UTF8.self)) { return resume }
        }
        quit = true
        return .abort
    }

    /// After the run's end (W/X sent): gdb may still go backwards, or leave. The plan of the
    /// next replay; nil when gdb is done.
    func serveAfterEnd(_ final: String) -> Plan? {
        if gdbWaiting {
            connection.send(final)
            gdbWaiting = false
        }
        lastStop = final
        while let packet = connection.receive() {
            let text = String(decoding: packet, as: UTF8.self)
            if packet == [0x03] { continue }
            if text == "bc" || text == "bs" || text.hasPrefix("D") || text == "k" || text == "vKill" || text == "?"
                || text.hasPrefix("qRcmd,")
            {
                // Going back from the end: from a checkpoint (this process then ends), else a replay.
                _ = handle(text)
                if let restart { return restart }
                if quit { return nil }
                continue
            }
            if text.hasPrefix("qSupported") || text.hasPrefix("vFile:") || text.hasPrefix("qXfer") {
                _ = handle(text)
                continue
            }
            connection.send("E01")
        }
        return nil
    }

    /// One packet; a resume when it lets the program go on.
    func handle(_ p: String) -> DebugResume? {
        let machine = session?.machine
        switch p {
        case "?":
            connection.send(lastStop)
        case _ where p.hasPrefix("qSupported"):
            connection.send(
                "PacketSize=4000;qXfer:features:read+;qXfer:auxv:read+;qXfer:exec-file:read+;"
                    + "swbreak+;ReverseStep+;ReverseContinue+;QStartNoAckMode+;QCatchSyscalls+")
        case "QStartNoAckMode":
            connection.send("OK")
            connection.acknowledging = false
        case _ where p.hasPrefix("H"), "QThreadEvents:0", "QThreadEvents:1":
            connection.send("OK")
        case "qC": connection.send("QC" + tid)
        case "qfThreadInfo": connection.send("m" + tid)
        case "qsThreadInfo": connection.send("l")
        case "qAttached": connection.send("1")
        case _ where p.hasPrefix("qSymbol"): connection.send("OK")
        case _ where p.hasPrefix("T"): connection.send("OK")  // thread alive
        case _ where p.hasPrefix("qXfer:"): transfer(p)
        case _ where p.hasPrefix("qRcmd,"): return monitor(p)
        case _ where p.hasPrefix("QCatchSyscalls:"): catchSyscalls(p)
        case _ where p.hasPrefix("vFile:"): hostFile(p)
        case "g":
            guard let r = machine?.programRegisters() else { return error("no program to read registers from") }
            connection.send(RemoteConnection.hex(AMD64Registers.bytes(r)))
        case _ where p.hasPrefix("p"):
            guard let n = Int(p.dropFirst(), radix: 16), let r = machine?.programRegisters(),
                let bytes = AMD64Registers.register(n, of: r)
            else { return error(nil) }
            connection.send(RemoteConnection.hex(bytes))
        case _ where p.hasPrefix("m"):
            readMemory(p.dropFirst(), machine)
        case _ where p.hasPrefix("G") || p.hasPrefix("P"):
            return error("a replay's registers cannot be changed (it would no longer be the recording)")
        case _ where p.hasPrefix("M") || p.hasPrefix("X"):
            return error("a replay's memory cannot be changed (it would no longer be the recording)")
        case _ where p.hasPrefix("Z0,") || p.hasPrefix("z0,") || p.hasPrefix("Z1,") || p.hasPrefix("z1,"):
            breakpoint(p)  // a hardware breakpoint (hbreak) is one more int3 here
        case _ where p.hasPrefix("Z3,") || p.hasPrefix("Z4,"):
            console(
                "revenant gdb: read and access watchpoints (rwatch, awatch) are not offered: the VMM sees writes only\n"
            )
            connection.send("")
        case _ where p.hasPrefix("Z2,") || p.hasPrefix("z2,"):
            watchpoint(p)
        case _ where p.hasPrefix("c") || p.hasPrefix("C"):
            // C SIG: a signal cannot be given to a recording; it goes on as recorded.
            stepping = false
            gdbWaiting = true
            noteResume()
            return .proceed
        case _ where p.hasPrefix("s") || p.hasPrefix("S"):
            stepping = true
            gdbWaiting = true
            noteResume()
            return .step
        case "bc":
            stepping = false
            gdbWaiting = true
            return goBack(Plan(target: position, purpose: .lastHitBefore))
        case "bs":
            stepping = false
            gdbWaiting = true
            guard let plan = reverseStep(from: position) else {
                lastStop = begin
                connection.send(lastStop)
                gdbWaiting = false
                return nil
            }
            return goBack(plan)
        case "k", "vKill":
            if p == "vKill" { connection.send("OK") }
            quit = true
            return .abort
        case _ where p.hasPrefix("D"):
            connection.send("OK")
            quit = true
            return .abort
        default:
            connection.send("")  // not supported: gdb does without it
        }
        return nil
    }

    /// An error reply; `why` also as one line for the user (gdb shows only a number).
    func error(_ why: String?) -> DebugResume? {
        if let why { console("revenant gdb: \(why)\n") }
        connection.send("E01")
        return nil
    }

    /// The plan that goes one instruction back from `p`; nil at the program's start.
    func reverseStep(from p: ReplayPosition) -> Plan? {
        if let back = p.stepBack() { return Plan(target: back, purpose: .report(stepReply)) }
        let start = startPosition
        guard p != start, start.leads(to: p) else { return nil }
        // At a plain return (not the first of the program's), the instruction before is the
        // `syscall` that made the call, arrived at once after the return before (its execution
        // ends that stretch), or a few steps after a rewritten site's start, arrived at once
        // too: no single steps through the stretch before.
        if p.path.isEmpty, p.returns > start.returns, p == position, lastReturnPlain,
            let pc = session?.machine.programCounter(),
            let call = session?.machine.callInstruction(returningTo: pc)
        {
            let arrival = ReplayPosition(returns: p.returns - 1, path: [.arrive(call.address, count: 1)])
            // At a rewritten site, single steps from its start to the return (a few instructions).
            return Plan(target: arrival, purpose: call.rewritten ? .stepBefore(p) : .callBefore)
        }
        var from = p
        if from.path.isEmpty {
            // The return before, or the start when that return is not after it.
            let back = ReplayPosition(returns: from.returns - 1)
            from = back != start && back.leads(to: start) ? start : back
        } else {
            from.path.removeLast()
        }
        return Plan(target: from, purpose: .stepBefore(p))
    }

    func readMemory(_ args: Substring, _ machine: GuestMachine?) {
        let parts = args.split(separator: ",")
        guard parts.count == 2, let address = UInt64(parts[0], radix: 16), let count = Int(parts[1], radix: 16),
            let machine
        else { return connection.send("E01") }
        let n = min(count, 0x1000)
        if let bytes = machine.programBytes(at: address, count: n) {
            return connection.send(RemoteConnection.hex(bytes))
        }
        // Partly mapped: as much as can be read from the start.
        var got: [UInt8] = []
        while got.count < n, let b = machine.programBytes(at: address + UInt64(got.count), count: 1) { got += b }
        connection.send(got.isEmpty ? "E14" : RemoteConnection.hex(got))
    }

    func breakpoint(_ p: String) {
        let parts = p.dropFirst(3).split(separator: ",")
        guard let first = parts.first, let address = UInt64(first, radix: 16) else { return connection.send("E01") }
        let machine = session?.machine
        if p.hasPrefix("Z") {
            if !gdbBreakpoints.contains(address) && !ownBreakpoints.contains(address) {
                guard machine?.insertBreakpoint(at: address) != false else { return connection.send("E01") }
            }
            ownBreakpoints.remove(address)
            gdbBreakpoints.insert(address)
        } else {
            if gdbBreakpoints.remove(address) != nil { machine?.removeBreakpoint(at: address) }
        }
        connection.send("OK")
    }

    /// `monitor CMD` (qRcmd): its output as O packets, then OK. `goto` answers once there.
    func monitor(_ p: String) -> DebugResume? {
        let command = RemoteConnection.bytes(fromHex: p.dropFirst("qRcmd,".count)).map {
            String(decoding: $0, as: UTF8.self).split(separator: " ").joined(separator: " ")
        }
        switch command {
        case "where": return monitorReply(whereText)
        case let c? where c.hasPrefix("goto "): return goto(String(c.dropFirst(5)))
        default:
            return monitorReply(
                "monitor where: the position at every level (event, Perl statement, SQL statement, machine)\n"
                    + "monitor goto POS: go there (Docs/positions.md: event:E[@ADDR:K][+N], perl:FILE:LINE[:K], "
                    + "sql:N, start, end); then maintenance flush register-cache, as gdb keeps what it read\n")
        }
    }

    /// Z2/z2,ADDR,LENGTH: a write watchpoint (rwatch and awatch, Z3 and Z4, are not offered: the
    /// VMM cannot see reads, and gdb says so).
    func watchpoint(_ p: String) {
        let parts = p.dropFirst(3).split(separator: ",")
        guard parts.count >= 2, let address = UInt64(parts[0], radix: 16), let length = Int(parts[1], radix: 16),
            (1...4096).contains(length)
        else { return connection.send("E01") }
        if p.hasPrefix("Z") { watchpoints[address] = length } else { watchpoints[address] = nil }
        connection.send("OK")
    }

    /// qXfer:OBJECT:read:ANNEX:OFFSET,LENGTH: the target description, the auxiliary vector, the
    /// program's path.
    func transfer(_ p: String) {
        let fields = p.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 5, fields[2] == "read" else { return connection.send("") }
        let range = fields[4].split(separator: ",")
        guard range.count == 2, let offset = Int(range[0], radix: 16), let length = Int(range[1], radix: 16) else {
            return connection.send("E01")
        }
        let data: [UInt8]
        switch fields[1] {
        case "features" where fields[3] == "target.xml": data = Array(AMD64Registers.targetXML.utf8)
        case "auxv": data = auxv
        case "exec-file": data = programPath
        default: return connection.send("E00")
        }
        guard offset <= data.count else { return connection.send("E01") }
        let end = min(data.count, offset + length)
        connection.send(Array((end == data.count ? "l" : "m").utf8) + data[offset..<end])
    }
}
