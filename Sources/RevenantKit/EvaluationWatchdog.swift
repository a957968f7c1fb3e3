import Glibc
import GuestMemory
import Personality
import PerlReplay

/// Bounds each --when/--print evaluation of the fast Perl-level replay (--timeout): the shim in
/// replay mode keeps the statement it evaluates at in its introspection block's `evaluating` word
/// (GuestAgents/include/revenant_perl_introspect.h), and this thread looks at it every 50 ms. One
/// evaluation that stays past the limit ends the command: `onTimeout` gets the statement number
/// and must not return (the guest may be computing, or the VMM sleeping for it: nothing else stops
/// it). The thread parks between looks; it costs the guest two stores per evaluation.
package final class EvaluationWatchdog: @unchecked Sendable {
    private let channel: ChannelPort
    private let memory: AddressSpace
    private let limit: UInt64
    private let onTimeout: (Int) -> Never
    private var thread = pthread_t()
    private var running = true
    private var lock = pthread_mutex_t()

    package init(channel: ChannelPort, memory: AddressSpace, seconds: Double, onTimeout: @escaping (Int) -> Never) {
        self.channel = channel
        self.memory = memory
        limit = UInt64(min(seconds, 1e9) * 1e9)
        self.onTimeout = onTimeout
        pthread_mutex_init(&lock, nil)
    }

    package func start() {
        let box = Unmanaged.passRetained(self)
        pthread_create(
            &thread, nil,
            { arg in
                let watchdog = Unmanaged<EvaluationWatchdog>.fromOpaque(arg!).takeRetainedValue()
                watchdog.watch()
                return nil
            }, box.toOpaque())
    }

    package func stop() {
        pthread_mutex_lock(&lock)
        running = false
        pthread_mutex_unlock(&lock)
        pthread_join(thread, nil)
    }

    private var isRunning: Bool {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return running
    }

    private func watch() {
        var seen: UInt64 = 0, since = monotonicNanos()
        while isRunning {
            usleep(50_000)
            guard let block = channel.introspectAddress(),
                let value = try? memory.load(
                    UInt64.self,
                    at: block + PerlLayout.evaluatingOffset)
            else { continue }
            let now = monotonicNanos()
            if value != seen {
                (seen, since) = (value, now)
            } else if value != 0, now - since >= limit {
                onTimeout(Int(value - 1))
            }
        }
    }
}
