/// Work the runners do on a timer beside the task queue, such as firing schedules. The runner
/// of every instance calls it each poll interval, so it must make itself happen once (with row
/// locks, as the task queue does).
public protocol TimedDuty: Sendable {
    var name: String { get }
    /// Does what is due now; `owner` names the runner for history.
    func run(_ session: Session, owner: String) throws
}
