import ArgumentParser

// Checks of the launcher's commands' arguments, which ArgumentParser runs before a command
// (`validate()`): an empty path would reach the file system as "" and come back as
// "revenant: : No such file or directory".

/// A path argument must name something.
package func requirePath(_ value: String, _ name: String) throws {
    if value.isEmpty { throw ValidationError("\(name): an empty path") }
}

extension Record {
    package func validate() throws { try requirePath(output, "-o") }
}

extension ReplayCommand {
    package func validate() throws {
        try requirePath(trace, "TRACE")
        if followTimeout != nil && !follow { throw ValidationError("--follow-timeout needs --follow") }
        if let t = followTimeout, !(0...86400).contains(t) {
            throw ValidationError("--follow-timeout: 0 to 86400 seconds")
        }
    }
}

extension SandboxOptions {
    package func validate() throws {
        for p in readWrite { try requirePath(p, "--rw") }
        for p in readOnly { try requirePath(p, "--ro") }
        guard (1...4096).contains(maxProcesses) else { throw ValidationError("--max-processes: 1 to 4096") }
    }
}
