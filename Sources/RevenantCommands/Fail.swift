import Glibc
import Sessions

/// The command's end with one line on stderr (a message that spans lines is joined into one).
/// Only the executable ends the process: the library throws `CLIError` instead.
package func fail(_ message: String, code: Int32) -> Never {
    let line = message.split(whereSeparator: \.isNewline).joined(separator: " ")
    FileHandleStderr.write("revenant: \(line)\n")
    exit(code)
}
